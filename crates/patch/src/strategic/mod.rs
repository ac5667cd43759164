//! Strategic merge patch (`application/strategic-merge-patch+json`), with upstream's semantics
//! (apimachinery `pkg/util/strategicpatch`, applied as the API server does: deletion lists
//! merged, unmatched nulls ignored).
//!
//! Maps merge key by key and `null` deletes a key. Lists follow the field's
//! `x-kubernetes-patch-strategy`: `merge` lists merge by `x-kubernetes-patch-merge-key` (or as a
//! set of scalars), other lists are replaced. Fields without schema merge like JSON merge patch.
//! [`directives`] has the `$`-directives, [`list`] list merging and ordering.

mod directives;
mod list;

use serde_json::{Map, Value};

use crate::PatchError;
use crate::schema::Node;
use directives::{DELETE_FROM_PRIMITIVE_LIST, MapDirective};

/// Applies a strategic merge patch to `original`, whose schema is `schema` (use
/// [`Node::any`] for objects without one: the patch then behaves as a JSON merge patch).
pub fn strategic_merge_patch(original: &Value, patch: &Value, schema: Node) -> Result<Value, PatchError> {
    let Value::Object(patch) = patch else {
        return Err(PatchError::BadRequest("invalid JSON document".into()));
    };
    let original = match original {
        Value::Object(o) => o.clone(),
        _ => Map::new(),
    };
    merge_map(original, patch.clone(), schema).map(Value::Object)
}

/// upstream `mergeMap`: merges the patch map into the original map of type `schema`.
fn merge_map(
    mut original: Map<String, Value>,
    mut patch: Map<String, Value>,
    schema: Node,
) -> Result<Map<String, Value>, PatchError> {
    match directives::map_directive(&patch)? {
        Some(MapDirective::Replace) => return Ok(directives::clean_map(patch)),
        Some(MapDirective::Delete) => return Ok(Map::new()),
        None => {}
    }
    directives::apply_retain_keys(&mut original, &mut patch)?;
    // Lists named by `$setElementOrder` are merged and ordered here and leave the patch.
    list::apply_set_element_orders(&mut original, &mut patch, schema)?;

    for (key, value) in patch {
        if let Some(field) = directives::directive_field(&key, DELETE_FROM_PRIMITIVE_LIST)? {
            list::delete_from_primitive_list(&mut original, field, value)?;
            continue;
        }
        if value.is_null() {
            original.shift_remove(&key);
            continue;
        }
        let field = schema.field(&key).unwrap_or_else(Node::any);
        let existing = original.get_mut(&key).map(Value::take);
        let merged = match (existing, value) {
            (Some(Value::Object(o)), Value::Object(p)) => {
                if field.patch_strategy().replace {
                    Some(Value::Object(directives::clean_map(p)))
                } else {
                    Some(Value::Object(merge_map(o, p, field)?))
                }
            }
            (Some(Value::Array(o)), Value::Array(p)) => Some(Value::Array(list::merge_list_field(o, p, field)?)),
            // Absent, a different type, or a scalar: the patch value, as it would be stored.
            (_, v) => new_value(v, field)?,
        };
        match merged {
            Some(v) => {
                original.insert(key, v);
            }
            None => {
                original.shift_remove(&key);
            }
        }
    }
    Ok(original)
}

/// A patch value for a key the original does not have (or has with another type): merged into
/// nothing, so directives are applied rather than stored. `None` for a map marked
/// `$patch: delete`.
fn new_value(v: Value, field: Node) -> Result<Option<Value>, PatchError> {
    match v {
        Value::Object(p) => match directives::map_directive(&p)? {
            Some(MapDirective::Delete) => Ok(None),
            _ => merge_map(Map::new(), p, field).map(|m| Some(Value::Object(m))),
        },
        Value::Array(p) => list::merge_list_field(Vec::new(), p, field).map(|l| Some(Value::Array(l))),
        other => Ok(Some(other)),
    }
}

#[cfg(test)]
mod tests;
