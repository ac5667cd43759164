//! A typed, read-only view of one place in a schema, for the merge engines.
//!
//! A field's schema has two layers: the schema written at the place of use (a property, list
//! items, map values), which carries per-field extensions such as the patch strategy and the
//! description, and the definition it refers to through `$ref`/`allOf`, which carries the
//! structure and type-level extensions (`x-kubernetes-map-type: atomic` on `LabelSelector`). A
//! [`Node`] keeps both and answers from the outer one first, so callers never see `$ref`.

use std::sync::LazyLock;

use serde_json::{Map, Value};

use super::REF_PREFIX;

static EMPTY: LazyLock<Map<String, Value>> = LazyLock::new(Map::new);

/// What shape of value a schema describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A struct: named properties.
    Object,
    /// String-keyed map with uniform values (`additionalProperties`).
    Map,
    Array,
    /// string, integer, number or boolean.
    Scalar,
    /// IntOrString (or Quantity): a scalar of either type.
    IntOrString,
    /// No type information: free-form JSON (RawExtension, unknown fields).
    Any,
}

/// How a list is merged and owned (`x-kubernetes-list-type`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListType {
    /// Replaced as a whole.
    Atomic,
    /// Scalars, merged by value.
    Set,
    /// Objects, merged by the values of these keys.
    Map(Vec<String>),
}

/// The parsed `x-kubernetes-patch-strategy` of a field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PatchStrategy {
    pub merge: bool,
    pub retain_keys: bool,
    pub replace: bool,
}

/// One place in a schema. Cheap to copy.
#[derive(Clone, Copy)]
pub struct Node<'a> {
    defs: &'a Map<String, Value>,
    /// The schema as written where it is used.
    outer: &'a Map<String, Value>,
    /// `outer` with `$ref` and single-element `allOf` followed.
    inner: &'a Map<String, Value>,
    /// The definition name when the node is a definition itself (a root).
    name: Option<&'a str>,
}

impl std::fmt::Debug for Node<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Node({:?}, {:?})", self.kind(), self.definition().unwrap_or("-"))
    }
}

impl<'a> Node<'a> {
    /// A node for `schema`, resolving `$ref`s against `defs` (a `components.schemas` map). Also
    /// how custom resources' schemas can be walked with the same engines.
    pub fn new(schema: &'a Value, defs: &'a Map<String, Value>) -> Self {
        let outer = schema.as_object().unwrap_or(&EMPTY);
        Node { defs, outer, inner: resolve(outer, defs), name: None }
    }

    /// The node of the definition `name` itself.
    pub(super) fn named(schema: &'a Value, defs: &'a Map<String, Value>, name: &'a str) -> Self {
        Node { name: Some(name), ..Node::new(schema, defs) }
    }

    /// The node of a value with no schema: everything is [`Kind::Any`], maps merge granularly
    /// and lists are atomic.
    pub fn any() -> Self {
        Node { defs: &EMPTY, outer: &EMPTY, inner: &EMPTY, name: None }
    }

    /// The definition name this node resolves to (through a `$ref`, or as a root).
    pub fn definition(&self) -> Option<&'a str> {
        if self.name.is_some() {
            return self.name;
        }
        let mut cur = self.outer;
        for _ in 0..8 {
            if let Some(name) = cur.get("$ref").and_then(Value::as_str).and_then(|r| r.strip_prefix(REF_PREFIX)) {
                return Some(name);
            }
            cur = single_all_of(cur)?;
        }
        None
    }

    /// The raw schema at the place of use.
    pub fn schema(&self) -> &'a Map<String, Value> {
        self.outer
    }

    pub fn kind(&self) -> Kind {
        // `oneOf` without a type is how v3 documents write IntOrString and Quantity; with a
        // type (CRD validation) it is just a constraint.
        if self.ext("x-kubernetes-int-or-string") == Some(&Value::Bool(true))
            || self.inner.get("format").and_then(Value::as_str) == Some("int-or-string")
            || (self.inner.contains_key("oneOf") && !self.inner.contains_key("type"))
        {
            return Kind::IntOrString;
        }
        match self.inner.get("type").and_then(Value::as_str) {
            Some("array") => Kind::Array,
            Some("object") => {
                if self.inner.contains_key("properties") {
                    Kind::Object
                } else if matches!(self.inner.get("additionalProperties"), Some(Value::Object(_))) {
                    Kind::Map
                } else {
                    Kind::Any
                }
            }
            Some("string" | "integer" | "number" | "boolean") => Kind::Scalar,
            _ => Kind::Any,
        }
    }

    /// The schema of a struct field; `None` when the schema lists properties and this is not one
    /// of them (and unknown fields are not preserved). Map values answer for any key.
    pub fn field(&self, name: &str) -> Option<Node<'a>> {
        if let Some(prop) = self.inner.get("properties").and_then(|p| p.get(name)) {
            return Some(Node::new(prop, self.defs));
        }
        if let Some(values) = self.map_values() {
            return Some(values);
        }
        if self.kind() == Kind::Any || self.preserves_unknown_fields() {
            return Some(self.with_no_schema());
        }
        None
    }

    /// A declared property of a struct (unlike [`Node::field`], never map values or `Any`).
    pub fn property(&self, name: &str) -> Option<Node<'a>> {
        self.inner.get("properties").and_then(|p| p.get(name)).map(|prop| Node::new(prop, self.defs))
    }

    /// Whether a struct lists `name` as required.
    pub fn is_required(&self, name: &str) -> bool {
        self.inner.get("required").and_then(Value::as_array).is_some_and(|r| r.iter().any(|v| v.as_str() == Some(name)))
    }

    /// The names of a struct's properties, in schema order.
    pub fn field_names(&self) -> impl Iterator<Item = &'a str> + 'a {
        self.inner.get("properties").and_then(Value::as_object).into_iter().flat_map(|p| p.keys().map(String::as_str))
    }

    /// The schema of list items.
    pub fn items(&self) -> Option<Node<'a>> {
        match self.inner.get("items") {
            Some(items) => Some(Node::new(items, self.defs)),
            None if self.kind() == Kind::Any => Some(self.with_no_schema()),
            None => None,
        }
    }

    /// The schema of map values (`additionalProperties`).
    pub fn map_values(&self) -> Option<Node<'a>> {
        match self.inner.get("additionalProperties") {
            Some(v @ Value::Object(_)) => Some(Node::new(v, self.defs)),
            Some(Value::Bool(true)) => Some(self.with_no_schema()),
            _ => None,
        }
    }

    /// Looks an extension up where it is used first, then on the definition.
    pub fn ext(&self, name: &str) -> Option<&'a Value> {
        self.outer.get(name).or_else(|| self.inner.get(name))
    }

    pub fn description(&self) -> Option<&'a str> {
        self.ext("description").and_then(Value::as_str)
    }

    pub fn preserves_unknown_fields(&self) -> bool {
        self.ext("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true))
    }

    /// The list type, with structured-merge-diff's fallback for lists without
    /// `x-kubernetes-list-type`: a merge-key patch strategy means a map keyed by the merge key, a
    /// merge strategy without key a set, anything else atomic.
    pub fn list_type(&self) -> ListType {
        match self.ext("x-kubernetes-list-type").and_then(Value::as_str) {
            Some("set") => return ListType::Set,
            Some("atomic") => return ListType::Atomic,
            Some("map") => {
                let keys: Vec<String> = self
                    .ext("x-kubernetes-list-map-keys")
                    .and_then(Value::as_array)
                    .map(|a| a.iter().filter_map(Value::as_str).map(str::to_string).collect())
                    .unwrap_or_default();
                if !keys.is_empty() {
                    return ListType::Map(keys);
                }
            }
            _ => {}
        }
        if self.patch_strategy().merge {
            return match self.merge_key() {
                Some(key) => ListType::Map(vec![key.to_string()]),
                None => ListType::Set,
            };
        }
        ListType::Atomic
    }

    /// The `x-kubernetes-patch-strategy` of this field (strategic merge patch).
    pub fn patch_strategy(&self) -> PatchStrategy {
        let mut s = PatchStrategy::default();
        if let Some(v) = self.ext("x-kubernetes-patch-strategy").and_then(Value::as_str) {
            for part in v.split(',') {
                match part.trim() {
                    "merge" => s.merge = true,
                    "retainKeys" => s.retain_keys = true,
                    "replace" => s.replace = true,
                    _ => {}
                }
            }
        }
        s
    }

    /// The `x-kubernetes-patch-merge-key` of this list field.
    pub fn merge_key(&self) -> Option<&'a str> {
        self.ext("x-kubernetes-patch-merge-key").and_then(Value::as_str)
    }

    /// Whether this map or struct is owned and replaced as a whole
    /// (`x-kubernetes-map-type: atomic`).
    pub fn is_atomic_map(&self) -> bool {
        self.ext("x-kubernetes-map-type").and_then(Value::as_str) == Some("atomic")
    }

    /// `x-kubernetes-group-version-kind` entries as (group, version, kind).
    pub fn group_version_kinds(&self) -> Vec<(&'a str, &'a str, &'a str)> {
        let Some(Value::Array(list)) = self.inner.get("x-kubernetes-group-version-kind") else { return Vec::new() };
        list.iter()
            .filter_map(|e| Some((e.get("group")?.as_str()?, e.get("version")?.as_str()?, e.get("kind")?.as_str()?)))
            .collect()
    }

    fn with_no_schema(&self) -> Node<'a> {
        Node { defs: self.defs, outer: &EMPTY, inner: &EMPTY, name: None }
    }
}

fn single_all_of(schema: &Map<String, Value>) -> Option<&Map<String, Value>> {
    match schema.get("allOf") {
        Some(Value::Array(list)) if list.len() == 1 => list[0].as_object(),
        _ => None,
    }
}

/// Follows `$ref` and single-element `allOf` (how OpenAPI v3 attaches a description to a
/// reference) to the schema that has the structure.
fn resolve<'a>(mut schema: &'a Map<String, Value>, defs: &'a Map<String, Value>) -> &'a Map<String, Value> {
    // Bounded: a definition that is only a reference to itself would otherwise loop.
    for _ in 0..16 {
        if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
            let name = r.strip_prefix(REF_PREFIX).unwrap_or(r);
            match defs.get(name).and_then(Value::as_object) {
                Some(target) => schema = target,
                None => return &EMPTY,
            }
        } else if let Some(inner) = single_all_of(schema) {
            schema = inner;
        } else {
            break;
        }
    }
    schema
}
