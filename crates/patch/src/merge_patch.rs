//! RFC 7386 JSON merge patch (`application/merge-patch+json`): objects merge recursively,
//! `null` deletes, everything else (lists included) replaces.

use serde_json::{Map, Value};

use crate::PatchError;

/// Applies a merge patch to `target`. The patch must be an object, as upstream's
/// `jsonpatch.MergePatch` requires for a document patch.
pub fn merge_patch(target: &Value, patch: &Value) -> Result<Value, PatchError> {
    if !patch.is_object() {
        return Err(PatchError::BadRequest("Invalid JSON Patch".into()));
    }
    Ok(merge_value(target, patch))
}

/// The RFC 7386 algorithm on any value; also used by strategic merge patch for fields without
/// schema.
pub(crate) fn merge_value(target: &Value, patch: &Value) -> Value {
    let Value::Object(patch) = patch else { return patch.clone() };
    let mut out = match target {
        Value::Object(t) => t.clone(),
        _ => Map::new(),
    };
    for (k, v) in patch {
        if v.is_null() {
            out.shift_remove(k);
        } else {
            let merged = merge_value(out.get(k).unwrap_or(&Value::Null), v);
            out.insert(k.clone(), merged);
        }
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// The examples of RFC 7386, appendix A.
    #[test]
    fn rfc_examples() {
        let cases = [
            (json!({"a": "b"}), json!({"a": "c"}), json!({"a": "c"})),
            (json!({"a": "b"}), json!({"b": "c"}), json!({"a": "b", "b": "c"})),
            (json!({"a": "b"}), json!({"a": null}), json!({})),
            (json!({"a": "b", "b": "c"}), json!({"a": null}), json!({"b": "c"})),
            (json!({"a": ["b"]}), json!({"a": "c"}), json!({"a": "c"})),
            (json!({"a": "c"}), json!({"a": ["b"]}), json!({"a": ["b"]})),
            (json!({"a": {"b": "c"}}), json!({"a": {"b": "d", "c": null}}), json!({"a": {"b": "d"}})),
            (json!({"a": [{"b": "c"}]}), json!({"a": [1]}), json!({"a": [1]})),
            (json!(["a", "b"]), json!({"a": "c"}), json!({"a": "c"})),
            (json!({"e": null}), json!({"a": 1}), json!({"e": null, "a": 1})),
            (json!([1, 2]), json!({"a": "b", "c": null}), json!({"a": "b"})),
            (json!({}), json!({"a": {"bb": {"ccc": null}}}), json!({"a": {"bb": {}}})),
        ];
        for (target, patch, want) in cases {
            assert_eq!(merge_patch(&target, &patch).unwrap(), want, "{target} + {patch}");
        }
    }

    #[test]
    fn non_object_patch_is_a_bad_request() {
        let e = merge_patch(&json!({}), &json!([1])).unwrap_err();
        assert_eq!(e.code(), 400);
    }

    #[test]
    fn keeps_key_order_of_the_target() {
        let out = merge_patch(&json!({"a": 1, "b": 2, "c": 3}), &json!({"b": 20, "d": 4})).unwrap();
        assert_eq!(serde_json::to_string(&out).unwrap(), r#"{"a":1,"b":20,"c":3,"d":4}"#);
    }
}
