//! Walking values with their schema the way structured-merge-diff does: which fields a value
//! sets (`to_field_set`), which fields differ between two values (`compare`), and naming list
//! items by their keys.

use serde_json::{Map, Value};

use super::fieldset::{FieldSet, PathElement};
use crate::schema::{Kind, ListType, Node};

/// How a value at some place is merged and owned.
pub(super) enum Shape<'a> {
    /// Owned and replaced as a whole: scalars, atomic lists and maps, free-form lists.
    Leaf,
    /// A struct or granular map: owned field by field.
    Fields,
    /// A set (items named by value) or a list map (items named by key fields).
    List(ListKeys, Node<'a>),
}

pub(super) enum ListKeys {
    Set,
    Map(Vec<String>),
}

/// The shape of the place `node` describes, given a value found there (which decides for places
/// without schema: objects are granular maps, everything else is a leaf).
pub(super) fn shape<'a>(node: Node<'a>, sample: Option<&Value>) -> Shape<'a> {
    match node.kind() {
        Kind::Scalar | Kind::IntOrString => Shape::Leaf,
        Kind::Array => match (node.list_type(), node.items()) {
            (ListType::Set, Some(items)) => Shape::List(ListKeys::Set, items),
            (ListType::Map(keys), Some(items)) => Shape::List(ListKeys::Map(keys), items),
            _ => Shape::Leaf,
        },
        Kind::Object | Kind::Map if node.is_atomic_map() => Shape::Leaf,
        Kind::Object | Kind::Map => Shape::Fields,
        Kind::Any => match sample {
            Some(Value::Object(_)) => Shape::Fields,
            _ => Shape::Leaf,
        },
    }
}

/// A field of a `Fields`-shaped place.
pub(super) struct Child<'a> {
    pub node: Node<'a>,
    /// A property the schema names (as opposed to a map key or an unknown field).
    pub declared: bool,
    /// Whether a comparison counts the field itself (not only what is below it) as added or
    /// removed when it appears or disappears. See [`compare`].
    pub tracked_itself: bool,
}

pub(super) fn child<'a>(parent: Node<'a>, name: &str) -> Child<'a> {
    let Some(node) = parent.property(name) else {
        let node =
            if parent.kind() == Kind::Object { Node::any() } else { parent.map_values().unwrap_or_else(Node::any) };
        return Child { node, declared: false, tracked_itself: true };
    };
    // Upstream compares Go objects, where a required list or map and any non-pointer struct
    // serialize even when empty, so appearing or disappearing never marks them themselves.
    // Pointers cannot be told from non-pointers in the schema; built-in structs are taken as
    // non-pointers (true for spec, template, metadata, resources...).
    let builtin = parent.definition().is_some_and(|d| d.starts_with("io.k8s."));
    let go_zero_present = builtin && (parent.is_required(name) || node.kind() == Kind::Object);
    Child { node, declared: true, tracked_itself: !go_zero_present }
}

/// The path element naming a list item: its key fields (or their schema defaults) for list
/// maps, its value for sets.
pub(super) fn item_element(keys: &ListKeys, item: &Value, items: Node) -> Result<PathElement, String> {
    match keys {
        ListKeys::Set => Ok(PathElement::value(item)),
        ListKeys::Map(names) => {
            let Value::Object(map) = item else {
                return Err("associative list with keys may only have map elements".into());
            };
            let mut fields = Vec::with_capacity(names.len());
            for name in names {
                let v = match map.get(name) {
                    Some(v) => v.clone(),
                    None => items.property(name).and_then(|p| p.ext("default").cloned()).ok_or_else(|| {
                        format!("associative list with keys has an element that omits key field {name:?} (and doesn't have default value)")
                    })?,
                };
                fields.push((name.clone(), v));
            }
            Ok(PathElement::key(fields))
        }
    }
}

/// The items of a list by their path elements, first occurrence winning. Items that cannot be
/// named are named by index, so a stored object with odd content never fails a write.
pub(super) fn index_items<'v>(keys: &ListKeys, list: &'v [Value], items: Node) -> Vec<(PathElement, &'v Value)> {
    let mut out: Vec<(PathElement, &Value)> = Vec::with_capacity(list.len());
    for (i, item) in list.iter().enumerate() {
        let pe = item_element(keys, item, items).unwrap_or(PathElement::Index(i));
        if !out.iter().any(|(p, _)| *p == pe) {
            out.push((pe, item));
        }
    }
    out
}

/// upstream `ToFieldSet`: the fields a value sets. Strict: list items that cannot be named or
/// are named twice are errors (the value is an applied configuration).
pub(super) fn to_field_set(value: &Value, node: Node) -> Result<FieldSet, String> {
    let mut set = FieldSet::new();
    let mut path = Vec::new();
    walk_set(value, node, &mut path, &mut set)?;
    Ok(set)
}

fn walk_set(value: &Value, node: Node, path: &mut Vec<PathElement>, set: &mut FieldSet) -> Result<(), String> {
    if value.is_null() {
        // The parent records an explicit null as set.
        return Ok(());
    }
    match shape(node, Some(value)) {
        Shape::Leaf => set.insert(path),
        Shape::Fields => {
            let Value::Object(map) = value else {
                set.insert(path);
                return Ok(());
            };
            for (k, v) in map {
                let c = child(node, k);
                path.push(PathElement::Field(k.clone()));
                walk_set(v, c.node, path, set)?;
                let empty_map = v.as_object().is_some_and(Map::is_empty);
                if v.is_null() || empty_map || !c.declared {
                    set.insert(path);
                }
                path.pop();
            }
        }
        Shape::List(keys, items) => {
            let Value::Array(list) = value else {
                set.insert(path);
                return Ok(());
            };
            let mut seen = Vec::with_capacity(list.len());
            for (i, item) in list.iter().enumerate() {
                let pe =
                    item_element(&keys, item, items).map_err(|e| format!("{}: element {i}: {e}", display(path)))?;
                if seen.contains(&pe) {
                    return Err(format!("{}: duplicate entries for key {pe}", display(path)));
                }
                seen.push(pe.clone());
                path.push(pe);
                walk_set(item, items, path, set)?;
                set.insert(path);
                path.pop();
            }
        }
    }
    Ok(())
}

fn display(path: &[PathElement]) -> String {
    super::fieldset::path_string(path)
}

/// upstream `Comparison`: what changed from one value to another.
#[derive(Debug, Default)]
pub(super) struct Comparison {
    pub added: FieldSet,
    pub modified: FieldSet,
    pub removed: FieldSet,
}

impl Comparison {
    pub fn changed(&self) -> FieldSet {
        self.added.union(&self.modified)
    }

    pub fn exclude(&mut self, ignored: &FieldSet) {
        self.added = self.added.recursive_difference(ignored);
        self.modified = self.modified.recursive_difference(ignored);
        self.removed = self.removed.recursive_difference(ignored);
    }
}

/// upstream `Compare`: leaves that appear, change or disappear, and the structured places
/// (list items, maps) that appear or disappear as a whole.
pub(super) fn compare(old: Option<&Value>, new: Option<&Value>, node: Node) -> Comparison {
    let mut out = Comparison::default();
    let mut path = Vec::new();
    walk_compare(old, new, node, &mut path, &mut out, false);
    out
}

fn leaf(old: Option<&Value>, new: Option<&Value>, path: &[PathElement], out: &mut Comparison) {
    match (old, new) {
        (None, Some(_)) => out.added.insert(path),
        (Some(_), None) => out.removed.insert(path),
        (Some(a), Some(b)) if a != b => out.modified.insert(path),
        _ => {}
    }
}

fn walk_compare(
    old: Option<&Value>,
    new: Option<&Value>,
    node: Node,
    path: &mut Vec<PathElement>,
    out: &mut Comparison,
    tracked_itself: bool,
) {
    if let (Some(a), Some(b)) = (old, new)
        && a == b
    {
        // Equal subtrees hold no change; comparing values is far cheaper than walking them.
        return;
    }
    match shape(node, new.or(old)) {
        Shape::Leaf => leaf(old, new, path, out),
        Shape::Fields => {
            let (Some(om), Some(nm)) = (as_map(old), as_map(new)) else { return leaf(old, new, path, out) };
            // Empty or missing on both sides: a leaf, so `{}` versus nothing is a change.
            if om.is_none_or(Map::is_empty) && nm.is_none_or(Map::is_empty) {
                return leaf(old, new, path, out);
            }
            let keys = union_keys(om, nm);
            for k in keys {
                if k == "managedFields" && path.len() == 1 && path[0] == PathElement::Field("metadata".into()) {
                    // Ownership itself is not a field anyone owns.
                    continue;
                }
                let c = child(node, &k);
                let (o, n) = (om.and_then(|m| m.get(&k)), nm.and_then(|m| m.get(&k)));
                path.push(PathElement::Field(k));
                walk_compare(o, n, c.node, path, out, c.tracked_itself);
                path.pop();
            }
            mark_self(old, new, path, out, tracked_itself);
        }
        Shape::List(keys, items) => {
            let (Some(ol), Some(nl)) = (as_list(old), as_list(new)) else { return leaf(old, new, path, out) };
            if ol.is_none_or(<[Value]>::is_empty) && nl.is_none_or(<[Value]>::is_empty) {
                return leaf(old, new, path, out);
            }
            let old_items = index_items(&keys, ol.unwrap_or_default(), items);
            let new_items = index_items(&keys, nl.unwrap_or_default(), items);
            for (pe, n) in &new_items {
                let o = old_items.iter().find(|(p, _)| p == pe).map(|(_, v)| *v);
                path.push(pe.clone());
                walk_compare(o, Some(n), items, path, out, true);
                path.pop();
            }
            for (pe, o) in &old_items {
                if !new_items.iter().any(|(p, _)| p == pe) {
                    path.push(pe.clone());
                    walk_compare(Some(o), None, items, path, out, true);
                    path.pop();
                }
            }
            mark_self(old, new, path, out, tracked_itself);
        }
    }
}

fn mark_self(old: Option<&Value>, new: Option<&Value>, path: &[PathElement], out: &mut Comparison, tracked: bool) {
    if !tracked || path.is_empty() {
        return;
    }
    match (old, new) {
        (None, Some(_)) => out.added.insert(path),
        (Some(_), None) => out.removed.insert(path),
        _ => {}
    }
}

/// `Some(None)` for a missing or null value, `Some(Some(map))` for a map, `None` for anything
/// else (a type mismatch, compared as a leaf).
fn as_map(v: Option<&Value>) -> Option<Option<&Map<String, Value>>> {
    match v {
        None | Some(Value::Null) => Some(None),
        Some(Value::Object(m)) => Some(Some(m)),
        Some(_) => None,
    }
}

fn as_list(v: Option<&Value>) -> Option<Option<&[Value]>> {
    match v {
        None | Some(Value::Null) => Some(None),
        Some(Value::Array(a)) => Some(Some(a.as_slice())),
        Some(_) => None,
    }
}

/// Keys of both maps: the old map's order, then keys only the new one has.
pub(super) fn union_keys(a: Option<&Map<String, Value>>, b: Option<&Map<String, Value>>) -> Vec<String> {
    let mut keys: Vec<String> = a.into_iter().flat_map(|m| m.keys().cloned()).collect();
    for k in b.into_iter().flat_map(|m| m.keys()) {
        if a.is_none_or(|m| !m.contains_key(k)) {
            keys.push(k.clone());
        }
    }
    keys
}

/// upstream `EnsureNamedFieldsAreMembers`: struct fields with something below them count as
/// set themselves, so that removing what a manager no longer sets can remove the field whole.
pub(super) fn ensure_named_fields_are_members(set: &FieldSet, node: Node) -> FieldSet {
    let mut out = set.clone();
    ensure(&mut out, node);
    out
}

fn ensure(set: &mut FieldSet, node: Node) {
    let elements: Vec<PathElement> = set.children().map(|(pe, _)| pe.clone()).collect();
    for pe in elements {
        let (child_node, named) = match (&pe, shape(node, None)) {
            (PathElement::Field(name), _) => {
                let c = child(node, name);
                (c.node, c.declared)
            }
            (_, Shape::List(_, items)) => (items, false),
            _ => (Node::any(), false),
        };
        if let Some(c) = set.child_mut(&pe) {
            if named {
                c.set_member();
            }
            ensure(c, child_node);
        }
    }
}
