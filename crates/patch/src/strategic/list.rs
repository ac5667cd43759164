//! Merging lists under strategic merge patch, and the order of the result.
//!
//! Lists with the `merge` strategy merge: items of a keyed list are matched by the merge key and
//! merged, scalar lists are unioned. The result is ordered like upstream: items mentioned in the
//! patch (or in its `$setElementOrder`) follow that order, items only on the server keep their
//! relative order and are slotted back between them by their old positions.

use serde_json::{Map, Value};

use super::directives::{self, PATCH, SET_ELEMENT_ORDER};
use super::merge_map;
use crate::PatchError;
use crate::schema::Node;

/// Merges a patch list into an existing list of the field `field`: by key or as a set when the
/// field's strategy is `merge`, otherwise the patch list replaces the original.
pub(super) fn merge_list_field(original: Vec<Value>, patch: Vec<Value>, field: Node) -> Result<Vec<Value>, PatchError> {
    if field.patch_strategy().merge {
        let items = field.items().unwrap_or_else(Node::any);
        merge_slice(original, patch, field.merge_key(), items)
    } else {
        Ok(patch.into_iter().filter_map(directives::clean).collect())
    }
}

/// The JSON type of list items, which upstream requires to be the same throughout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ItemKind {
    Null,
    Bool,
    Number,
    String,
    Map,
}

fn item_kind(original: &[Value], patch: &[Value]) -> Result<ItemKind, PatchError> {
    let mut kind = None;
    for v in original.iter().chain(patch) {
        let k = match v {
            Value::Null => ItemKind::Null,
            Value::Bool(_) => ItemKind::Bool,
            Value::Number(_) => ItemKind::Number,
            Value::String(_) => ItemKind::String,
            Value::Object(_) => ItemKind::Map,
            Value::Array(_) => return Err(PatchError::Unprocessable("lists of lists are not supported".into())),
        };
        match kind {
            None => kind = Some(k),
            Some(prev) if prev != k => {
                return Err(PatchError::Failed(format!(
                    "list element types are not identical: [{} {}]",
                    directives::go(&Value::Array(original.to_vec())),
                    directives::go(&Value::Array(patch.to_vec()))
                )));
            }
            Some(_) => {}
        }
    }
    Ok(kind.unwrap_or(ItemKind::Null))
}

/// upstream `mergeSlice`: merges `patch` into `original` for a list with the merge strategy.
pub(super) fn merge_slice(
    original: Vec<Value>,
    patch: Vec<Value>,
    merge_key: Option<&str>,
    items: Node,
) -> Result<Vec<Value>, PatchError> {
    if original.is_empty() && patch.is_empty() {
        return Ok(original);
    }
    if item_kind(&original, &patch)? != ItemKind::Map {
        // A set of scalars: the union, each value once.
        let mut merged: Vec<Value> = Vec::with_capacity(original.len() + patch.len());
        for v in original.iter().chain(&patch) {
            if !merged.contains(v) {
                merged.push(v.clone());
            }
        }
        let (in_patch, server_only) = partition(merged, &patch, None)?;
        return normalize_order(in_patch, server_only, &patch, &original, None);
    }
    let Some(key) = merge_key else {
        return Err(PatchError::Failed("cannot merge lists without merge key for type map".into()));
    };
    let (original, patch) = apply_special_items(original, patch, key, items)?;
    let server_order = original.clone();
    let mut merged = original;
    for item in &patch {
        let Value::Object(item) = item else { continue };
        let key_value = item.get(key).ok_or_else(|| directives::no_merge_key(item, key))?;
        let found = merged.iter().position(|o| o.get(key) == Some(key_value));
        match found {
            Some(i) => {
                let Value::Object(existing) = std::mem::take(&mut merged[i]) else { unreachable!("items are maps") };
                merged[i] = Value::Object(merge_map(existing, item.clone(), items)?);
            }
            None => merged.push(Value::Object(merge_map(Map::new(), item.clone(), items)?)),
        }
    }
    let (in_patch, server_only) = partition(merged, &patch, Some(key))?;
    normalize_order(in_patch, server_only, &patch, &server_order, Some(key))
}

/// Handles list items carrying `$patch`: `delete` removes the original items with that key,
/// `replace` makes the rest of the patch list the whole result. Returns the original and the
/// patch items left to merge.
fn apply_special_items(
    mut original: Vec<Value>,
    patch: Vec<Value>,
    key: &str,
    items: Node,
) -> Result<(Vec<Value>, Vec<Value>), PatchError> {
    let mut plain = Vec::with_capacity(patch.len());
    let mut replace = false;
    for item in patch {
        let Value::Object(map) = &item else { continue };
        match map.get(PATCH) {
            None => plain.push(item),
            Some(Value::String(d)) if d == "delete" => {
                let key_value = map.get(key).ok_or_else(|| directives::no_merge_key(map, key))?;
                original.retain(|o| o.get(key) != Some(key_value));
            }
            Some(Value::String(d)) if d == "replace" => replace = true,
            Some(Value::String(d)) if d == "merge" => {
                return Err(PatchError::Failed("merging lists cannot yet be specified in the patch".into()));
            }
            Some(other) => return Err(directives::bad_patch_type(other, map)),
        }
    }
    if replace {
        let replaced = plain
            .into_iter()
            .map(|item| match item {
                Value::Object(m) => merge_map(Map::new(), m, items).map(Value::Object),
                other => Ok(other),
            })
            .collect::<Result<_, _>>()?;
        return Ok((replaced, Vec::new()));
    }
    Ok((original, plain))
}

/// The identity of an item for ordering: the merge key's value for maps, the item for scalars.
fn identity<'v>(item: &'v Value, key: Option<&str>) -> Option<&'v Value> {
    match key {
        Some(k) => item.as_object().and_then(|m| m.get(k)),
        None => Some(item),
    }
}

fn position(list: &[Value], item: &Value, key: Option<&str>) -> Option<usize> {
    let id = identity(item, key)?;
    list.iter().position(|x| identity(x, key) == Some(id))
}

/// Splits `merged` into the items present in `by` and the others, each in merged order.
fn partition(merged: Vec<Value>, by: &[Value], key: Option<&str>) -> Result<(Vec<Value>, Vec<Value>), PatchError> {
    let mut inside = Vec::new();
    let mut outside = Vec::new();
    for item in merged {
        if let (Some(k), Value::Object(m)) = (key, &item)
            && !m.contains_key(k)
        {
            return Err(directives::no_merge_key(m, k));
        }
        if position(by, &item, key).is_some() {
            inside.push(item);
        } else {
            outside.push(item);
        }
    }
    Ok((inside, outside))
}

/// upstream `normalizeElementOrder`: sorts the patch items by `patch_order` and the server-only
/// items by `server_order`, then interleaves them.
fn normalize_order(
    patch_items: Vec<Value>,
    server_only: Vec<Value>,
    patch_order: &[Value],
    server_order: &[Value],
    key: Option<&str>,
) -> Result<Vec<Value>, PatchError> {
    let patch_items = sort_by(patch_items, patch_order, key);
    let server_only = sort_by(server_only, server_order, key);
    Ok(merge_sorted(server_only, patch_items, server_order, key))
}

/// Stable sort by position in `order`; items not in it go last.
fn sort_by(items: Vec<Value>, order: &[Value], key: Option<&str>) -> Vec<Value> {
    let mut indexed: Vec<(usize, Value)> =
        items.into_iter().map(|v| (position(order, &v, key).unwrap_or(usize::MAX), v)).collect();
    indexed.sort_by_key(|(i, _)| *i);
    indexed.into_iter().map(|(_, v)| v).collect()
}

/// upstream `mergeSortedSlice`: inserts the server-only items (`left`) among the patch items
/// (`right`), keeping both relative orders; a server item goes before a patch item only when
/// both were on the server and it came first there.
fn merge_sorted(left: Vec<Value>, right: Vec<Value>, server_order: &[Value], key: Option<&str>) -> Vec<Value> {
    let mut out = Vec::with_capacity(left.len() + right.len());
    let mut left = left.into_iter().peekable();
    let mut right = right.into_iter().peekable();
    loop {
        let take_left = match (left.peek(), right.peek()) {
            (None, None) => break,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (Some(l), Some(r)) => {
                matches!((position(server_order, l, key), position(server_order, r, key)), (Some(a), Some(b)) if a < b)
            }
        };
        out.extend(if take_left { left.next() } else { right.next() });
    }
    out
}

/// Processes every `$setElementOrder/<list>` of `patch`: merges the list it names (taking it out
/// of `patch`) and orders the result by the directive.
pub(super) fn apply_set_element_orders(
    original: &mut Map<String, Value>,
    patch: &mut Map<String, Value>,
    schema: Node,
) -> Result<(), PatchError> {
    let directive_keys: Vec<String> = patch.keys().filter(|k| k.starts_with(SET_ELEMENT_ORDER)).cloned().collect();
    for directive_key in directive_keys {
        let Some(field_name) = directives::directive_field(&directive_key, SET_ELEMENT_ORDER)? else { continue };
        let field_name = field_name.to_string();
        let Some(Value::Array(order)) = patch.shift_remove(&directive_key) else {
            return Err(directives::bad_set_element_order());
        };
        let field = schema.field(&field_name).unwrap_or_else(Node::any);
        let key = field.merge_key();
        let original_list = match original.get(&field_name) {
            Some(Value::Array(a)) => Some(a.clone()),
            _ => None,
        };
        let patch_list = match patch.get(&field_name) {
            Some(Value::Array(a)) => Some(a.clone()),
            // Not a list (e.g. null): leave it to the main merge.
            Some(_) => continue,
            None => None,
        };
        if let Some(p) = &patch_list {
            validate_order(p, &order, key)?;
        }
        let merged = match (original_list.clone(), patch_list) {
            (Some(o), None) => o,
            (o, Some(p)) => merge_list_field(o.unwrap_or_default(), p, field)?,
            (None, None) => continue,
        };
        let ordered = if field.patch_strategy().merge {
            let (in_order, server_only) = partition(merged, &order, key)?;
            normalize_order(in_order, server_only, &order, &original_list.unwrap_or_default(), key)?
        } else {
            merged
        };
        original.insert(field_name.clone(), Value::Array(ordered));
        patch.shift_remove(&field_name);
    }
    Ok(())
}

/// upstream `validatePatchWithSetOrderList`: the patch list must be a subsequence of the order
/// list (deletions aside).
fn validate_order(patch: &[Value], order: &[Value], key: Option<&str>) -> Result<(), PatchError> {
    if patch.is_empty() || order.is_empty() {
        return Ok(());
    }
    let kept: Vec<&Value> =
        patch.iter().filter(|v| key.is_none() || v.get(PATCH).and_then(Value::as_str) != Some("delete")).collect();
    let (mut p, mut o) = (0, 0);
    while p < kept.len() && o < order.len() {
        if kept[p].get(PATCH).is_some() {
            p += 1;
            continue;
        }
        if let Some(k) = key {
            for v in [kept[p], &order[o]] {
                if let Value::Object(m) = v
                    && !m.contains_key(k)
                {
                    return Err(directives::no_merge_key(m, k));
                }
            }
        }
        if identity(kept[p], key) == identity(&order[o], key) {
            p += 1;
        }
        o += 1;
    }
    if p < kept.len() {
        return Err(PatchError::Failed(format!(
            "The order in patch list:\n{}\n doesn't match {SET_ELEMENT_ORDER} list:\n{}\n",
            directives::go(&Value::Array(patch.to_vec())),
            directives::go(&Value::Array(order.to_vec()))
        )));
    }
    Ok(())
}

/// `$deleteFromPrimitiveList/<list>`: removes the listed values from an existing list.
pub(super) fn delete_from_primitive_list(
    original: &mut Map<String, Value>,
    field: &str,
    values: Value,
) -> Result<(), PatchError> {
    let Value::Array(values) = values else { return Err(directives::bad_primitive_list()) };
    if let Some(Value::Array(current)) = original.get_mut(field) {
        current.retain(|v| !values.contains(v));
    }
    Ok(())
}
