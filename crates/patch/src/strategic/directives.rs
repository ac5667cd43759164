//! The `$`-directives of strategic merge patch and the error texts around them.
//!
//! kubectl's three-way patches carry `$setElementOrder/<list>` for every merged list they touch,
//! `$deleteFromPrimitiveList/<list>` for removed scalars, `$retainKeys` for fields with the
//! retainKeys strategy and `$patch: delete|replace` in maps and list items.

use serde_json::{Map, Value};

use crate::PatchError;

pub(super) const PATCH: &str = "$patch";
pub(super) const RETAIN_KEYS: &str = "$retainKeys";
pub(super) const SET_ELEMENT_ORDER: &str = "$setElementOrder";
pub(super) const DELETE_FROM_PRIMITIVE_LIST: &str = "$deleteFromPrimitiveList";

/// `$patch` in a map.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum MapDirective {
    /// Use the patch map as it is instead of merging.
    Replace,
    /// Clear the map.
    Delete,
}

/// Reads the `$patch` directive of a map. `merge` and unknown values are rejected as upstream
/// does in maps.
pub(super) fn map_directive(patch: &Map<String, Value>) -> Result<Option<MapDirective>, PatchError> {
    match patch.get(PATCH) {
        None => Ok(None),
        Some(Value::String(s)) if s == "replace" => Ok(Some(MapDirective::Replace)),
        Some(Value::String(s)) if s == "delete" => Ok(Some(MapDirective::Delete)),
        Some(other) => Err(bad_patch_type(other, patch)),
    }
}

pub(super) fn bad_patch_type(directive: &Value, map: &Map<String, Value>) -> PatchError {
    PatchError::Failed(format!("unknown patch type: {} in map: {}", go(directive), go_map(map)))
}

pub(super) fn no_merge_key(map: &Map<String, Value>, key: &str) -> PatchError {
    PatchError::Failed(format!("map: {} does not contain declared merge key: {key}", go_map(map)))
}

pub(super) fn bad_set_element_order() -> PatchError {
    PatchError::BadRequest("invalid patch format of setElementOrder list".into())
}

pub(super) fn bad_primitive_list() -> PatchError {
    PatchError::BadRequest("invalid patch format of primitive list".into())
}

/// For `$setElementOrder/<field>`-style keys: `Ok(None)` when `key` does not start with
/// `prefix`, the field name when it does, an error when the rest is not `/<field>`.
pub(super) fn directive_field<'k>(key: &'k str, prefix: &str) -> Result<Option<&'k str>, PatchError> {
    let Some(rest) = key.strip_prefix(prefix) else { return Ok(None) };
    match rest.strip_prefix('/') {
        Some(field) => Ok(Some(field)),
        None if prefix == SET_ELEMENT_ORDER => Err(bad_set_element_order()),
        None => Err(bad_primitive_list()),
    }
}

/// `$retainKeys`: removes the keys of `original` that are not listed, after checking every
/// field the patch sets is listed.
pub(super) fn apply_retain_keys(
    original: &mut Map<String, Value>,
    patch: &mut Map<String, Value>,
) -> Result<(), PatchError> {
    let Some(retain) = patch.shift_remove(RETAIN_KEYS) else { return Ok(()) };
    let Value::Array(retain) = retain else {
        return Err(PatchError::BadRequest("invalid patch format of retainKeys".into()));
    };
    let listed = |k: &str| retain.iter().any(|r| r.as_str() == Some(k));
    for (k, v) in patch.iter() {
        if v.is_null() || k.starts_with(DELETE_FROM_PRIMITIVE_LIST) || k.starts_with(SET_ELEMENT_ORDER) {
            continue;
        }
        if !listed(k) {
            return Err(PatchError::Unprocessable("patch content doesn't match retainKeys list".into()));
        }
    }
    original.retain(|k, _| listed(k));
    Ok(())
}

/// A patch value as stored: directives stripped, null map entries dropped (the API server
/// applies patches ignoring unmatched nulls), maps marked `$patch: delete` gone (`None`).
pub(super) fn clean(v: Value) -> Option<Value> {
    match v {
        Value::Object(map) => {
            if map.get(PATCH).and_then(Value::as_str) == Some("delete") {
                return None;
            }
            Some(Value::Object(clean_map(map)))
        }
        Value::Array(items) => Some(Value::Array(items.into_iter().filter_map(clean).collect())),
        other => Some(other),
    }
}

pub(super) fn clean_map(map: Map<String, Value>) -> Map<String, Value> {
    map.into_iter()
        .filter(|(k, v)| !v.is_null() && !is_directive(k))
        .filter_map(|(k, v)| clean(v).map(|v| (k, v)))
        .collect()
}

fn is_directive(key: &str) -> bool {
    key == PATCH
        || key == RETAIN_KEYS
        || key.starts_with(SET_ELEMENT_ORDER)
        || key.starts_with(DELETE_FROM_PRIMITIVE_LIST)
}

/// A value as Go's `%v` prints the `interface{}` it decodes to, for upstream's error texts
/// (`map[image:nginx name:web]`).
pub(super) fn go(v: &Value) -> String {
    match v {
        Value::Null => "<nil>".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => match n.as_f64() {
            Some(f) if f.fract() == 0.0 && f.abs() < 1e21 => format!("{}", f as i64),
            Some(f) => f.to_string(),
            None => n.to_string(),
        },
        Value::String(s) => s.clone(),
        Value::Array(items) => format!("[{}]", items.iter().map(go).collect::<Vec<_>>().join(" ")),
        Value::Object(map) => go_map(map),
    }
}

fn go_map(map: &Map<String, Value>) -> String {
    let mut entries: Vec<(&String, &Value)> = map.iter().collect();
    entries.sort_by(|a, b| a.0.cmp(b.0));
    let inner: Vec<String> = entries.into_iter().map(|(k, v)| format!("{k}:{}", go(v))).collect();
    format!("map[{}]", inner.join(" "))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn go_formatting() {
        assert_eq!(go(&json!({"name": "web", "image": "nginx", "port": 80})), "map[image:nginx name:web port:80]");
        assert_eq!(go(&json!(["a", 1.5, null, true])), "[a 1.5 <nil> true]");
    }

    #[test]
    fn clean_strips_directives_and_nulls() {
        let v = json!({"$patch": "replace", "a": null, "b": [{"$patch": "delete", "name": "x"}, {"name": "y"}],
            "$setElementOrder/b": [], "$retainKeys": ["b"], "c": {"$deleteFromPrimitiveList/d": ["1"], "e": 1}});
        assert_eq!(clean(v), Some(json!({"b": [{"name": "y"}], "c": {"e": 1}})));
        assert_eq!(clean(json!({"$patch": "delete"})), None);
    }

    #[test]
    fn directive_fields() {
        assert_eq!(directive_field("$setElementOrder/containers", SET_ELEMENT_ORDER).unwrap(), Some("containers"));
        assert_eq!(directive_field("containers", SET_ELEMENT_ORDER).unwrap(), None);
        assert_eq!(directive_field("$setElementOrderX", SET_ELEMENT_ORDER).unwrap_err().code(), 400);
        assert_eq!(directive_field("$deleteFromPrimitiveList", DELETE_FROM_PRIMITIVE_LIST).unwrap_err().code(), 400);
    }
}
