//! RFC 6902 JSON patch (`application/json-patch+json`).
//!
//! Error texts follow evanphx/json-patch v4, the library behind the upstream API server, because
//! clients and tests match on them ("Unable to remove nonexistent key: ...: missing value").

use serde_json::{Map, Value};

use crate::PatchError;

/// Applies a JSON patch (an array of operations) to `doc`, returning the patched document.
pub fn json_patch(doc: &Value, patch: &Value) -> Result<Value, PatchError> {
    let Value::Array(ops) = patch else {
        return Err(PatchError::BadRequest(format!(
            "json: cannot unmarshal {} into Go value of type jsonpatch.Patch",
            json_kind(patch)
        )));
    };
    let mut doc = doc.clone();
    for op in ops {
        let Value::Object(op) = op else {
            return Err(PatchError::BadRequest(format!(
                "json: cannot unmarshal {} into Go value of type jsonpatch.Operation",
                json_kind(op)
            )));
        };
        apply_op(&mut doc, op).map_err(PatchError::Unprocessable)?;
    }
    Ok(doc)
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

const MISSING: &str = "missing value";

fn apply_op(doc: &mut Value, op: &Map<String, Value>) -> Result<(), String> {
    let kind = op.get("op").and_then(Value::as_str).unwrap_or("unknown");
    let path = |field: &str| -> Result<String, String> {
        op.get(field)
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| format!("{kind} operation failed to decode {field}: {MISSING}"))
    };
    let value = || op.get("value").cloned().ok_or_else(|| format!("{kind} operation missing value: {MISSING}"));
    match kind {
        "add" => {
            let p = path("path")?;
            add(doc, &p, value()?)
        }
        "remove" => {
            let p = path("path")?;
            remove(doc, &p).map(drop)
        }
        "replace" => {
            let p = path("path")?;
            replace(doc, &p, value()?)
        }
        "move" => {
            let from = path("from")?;
            let p = path("path")?;
            if p.starts_with(&format!("{from}/")) {
                return Err(format!("move operation does not apply: path {p} is a child of from {from}"));
            }
            let v = remove(doc, &from)
                .map_err(|_| format!("move operation does not apply: doc is missing from path: {from}: {MISSING}"))?;
            add(doc, &p, v).map_err(|e| format!("error in move for path: '{p}': {e}"))
        }
        "copy" => {
            let from = path("from")?;
            let p = path("path")?;
            let v = get(doc, &from)?.cloned().ok_or_else(|| {
                format!("copy operation does not apply: doc is missing from path: \"{from}\": {MISSING}")
            })?;
            add(doc, &p, v).map_err(|e| format!("error in copy for path: '{p}': {e}"))
        }
        "test" => {
            let p = path("path")?;
            let expected = op.get("value").unwrap_or(&Value::Null);
            match get(doc, &p)? {
                Some(actual) if actual == expected => Ok(()),
                None if expected.is_null() => Ok(()),
                _ => Err(format!("testing value {p} failed: test failed")),
            }
        }
        other => Err(format!("Unexpected kind: {other}: unknown object type")),
    }
}

/// Splits a JSON pointer into unescaped tokens (`~1` is `/`, `~0` is `~`).
fn tokens(path: &str) -> Result<Vec<String>, String> {
    if path.is_empty() {
        return Ok(Vec::new());
    }
    let Some(rest) = path.strip_prefix('/') else {
        return Err(format!("JSON pointer must be empty or start with a \"/\": {path}"));
    };
    Ok(rest.split('/').map(|t| t.replace("~1", "/").replace("~0", "~")).collect())
}

/// The container that holds the last token of `path`, and that token.
fn parent<'a>(doc: &'a mut Value, path: &str) -> Result<Option<(&'a mut Value, String)>, String> {
    let mut toks = tokens(path)?;
    let Some(last) = toks.pop() else { return Ok(None) };
    let mut cur = doc;
    for t in &toks {
        cur = match cur {
            Value::Object(m) => match m.get_mut(t) {
                Some(v) => v,
                None => return Ok(None),
            },
            Value::Array(a) => match t.parse::<usize>().ok().and_then(|i| a.get_mut(i)) {
                Some(v) => v,
                None => return Ok(None),
            },
            _ => return Ok(None),
        };
    }
    Ok(Some((cur, last)))
}

fn get<'a>(doc: &'a Value, path: &str) -> Result<Option<&'a Value>, String> {
    let mut cur = doc;
    for t in tokens(path)? {
        cur = match cur {
            Value::Object(m) => match m.get(&t) {
                Some(v) => v,
                None => return Ok(None),
            },
            Value::Array(a) => match t.parse::<usize>().ok().and_then(|i| a.get(i)) {
                Some(v) => v,
                None => return Ok(None),
            },
            _ => return Ok(None),
        };
    }
    Ok(Some(cur))
}

/// An array index as json-patch v4 reads it: negative counts from the end.
fn index(token: &str, len: usize, allow_end: bool) -> Result<usize, String> {
    let invalid = || format!("Unable to access invalid index: {token}: invalid index referenced");
    let i: i64 = token.parse().map_err(|_| invalid())?;
    let len_i = len as i64;
    let i = if i < 0 { i + len_i } else { i };
    let max = if allow_end { len_i } else { len_i - 1 };
    if i < 0 || i > max {
        return Err(invalid());
    }
    Ok(i as usize)
}

fn add(doc: &mut Value, path: &str, value: Value) -> Result<(), String> {
    let missing = || format!("add operation does not apply: doc is missing path: \"{path}\": {MISSING}");
    let Some((container, key)) = parent(doc, path)? else {
        if path.is_empty() {
            *doc = value;
            return Ok(());
        }
        return Err(missing());
    };
    match container {
        Value::Object(m) => {
            m.insert(key, value);
            Ok(())
        }
        Value::Array(a) => {
            let i = if key == "-" {
                a.len()
            } else {
                index(&key, a.len(), true).map_err(|e| format!("error in add for path: '{path}': {e}"))?
            };
            a.insert(i, value);
            Ok(())
        }
        _ => Err(missing()),
    }
}

fn remove(doc: &mut Value, path: &str) -> Result<Value, String> {
    let missing = || format!("remove operation does not apply: doc is missing path: \"{path}\": {MISSING}");
    let Some((container, key)) = parent(doc, path)? else { return Err(missing()) };
    match container {
        Value::Object(m) => m.shift_remove(&key).ok_or_else(|| {
            format!("error in remove for path: '{path}': Unable to remove nonexistent key: {key}: {MISSING}")
        }),
        Value::Array(a) => {
            let i = index(&key, a.len(), false).map_err(|e| format!("error in remove for path: '{path}': {e}"))?;
            Ok(a.remove(i))
        }
        _ => Err(missing()),
    }
}

fn replace(doc: &mut Value, path: &str, value: Value) -> Result<(), String> {
    if path.is_empty() {
        *doc = value;
        return Ok(());
    }
    let Some((container, key)) = parent(doc, path)? else {
        return Err(format!("replace operation does not apply: doc is missing path: {path}: {MISSING}"));
    };
    match container {
        Value::Object(m) => match m.get_mut(&key) {
            Some(slot) => {
                *slot = value;
                Ok(())
            }
            None => Err(format!("replace operation does not apply: doc is missing key: {path}: {MISSING}")),
        },
        Value::Array(a) => {
            let i = index(&key, a.len(), false).map_err(|e| format!("error in replace for path: '{path}': {e}"))?;
            a[i] = value;
            Ok(())
        }
        _ => Err(format!("replace operation does not apply: doc is missing path: {path}: {MISSING}")),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn patch(doc: Value, ops: Value) -> Result<Value, PatchError> {
        json_patch(&doc, &ops)
    }

    #[test]
    fn add_remove_replace() {
        let doc = json!({"metadata": {"labels": {"a": "1"}}, "spec": {"list": [1, 2]}});
        let out = patch(
            doc,
            json!([
                {"op": "add", "path": "/metadata/labels/b", "value": "2"},
                {"op": "remove", "path": "/metadata/labels/a"},
                {"op": "replace", "path": "/spec/list/0", "value": 10},
                {"op": "add", "path": "/spec/list/-", "value": 3},
                {"op": "add", "path": "/spec/list/1", "value": 5},
            ]),
        )
        .unwrap();
        assert_eq!(out, json!({"metadata": {"labels": {"b": "2"}}, "spec": {"list": [10, 5, 2, 3]}}));
    }

    #[test]
    fn pointer_escapes() {
        let doc = json!({"metadata": {"annotations": {"example.com/x": "1", "a~b": "2"}}});
        let out = patch(
            doc,
            json!([
                {"op": "replace", "path": "/metadata/annotations/example.com~1x", "value": "9"},
                {"op": "remove", "path": "/metadata/annotations/a~0b"},
            ]),
        )
        .unwrap();
        assert_eq!(out, json!({"metadata": {"annotations": {"example.com/x": "9"}}}));
    }

    #[test]
    fn move_copy_test() {
        let doc = json!({"a": {"x": 1}, "b": {}});
        let out = patch(
            doc,
            json!([
                {"op": "test", "path": "/a/x", "value": 1},
                {"op": "copy", "from": "/a/x", "path": "/b/y"},
                {"op": "move", "from": "/a", "path": "/c"},
            ]),
        )
        .unwrap();
        assert_eq!(out, json!({"b": {"y": 1}, "c": {"x": 1}}));
    }

    #[test]
    fn errors_read_like_upstream() {
        let doc = json!({"metadata": {"labels": {}}, "list": [1]});
        let e = patch(doc.clone(), json!([{"op": "remove", "path": "/metadata/labels/x"}])).unwrap_err();
        assert_eq!(
            e,
            PatchError::Unprocessable(
                "error in remove for path: '/metadata/labels/x': Unable to remove nonexistent key: x: missing value"
                    .into()
            )
        );
        let e = patch(doc.clone(), json!([{"op": "add", "path": "/spec/replicas", "value": 1}])).unwrap_err();
        assert_eq!(e.message(), "add operation does not apply: doc is missing path: \"/spec/replicas\": missing value");
        let e = patch(doc.clone(), json!([{"op": "replace", "path": "/metadata/name", "value": "x"}])).unwrap_err();
        assert_eq!(e.message(), "replace operation does not apply: doc is missing key: /metadata/name: missing value");
        let e = patch(doc.clone(), json!([{"op": "test", "path": "/list/0", "value": 2}])).unwrap_err();
        assert_eq!(e.message(), "testing value /list/0 failed: test failed");
        let e = patch(doc.clone(), json!([{"op": "remove", "path": "/list/5"}])).unwrap_err();
        assert!(e.message().contains("Unable to access invalid index: 5"), "{e}");
        assert_eq!(e.code(), 422);
        let e = patch(doc, json!({"op": "add"})).unwrap_err();
        assert_eq!(e.code(), 400);
    }

    #[test]
    fn failed_patch_leaves_input_untouched_and_is_all_or_nothing() {
        let doc = json!({"a": 1});
        assert!(
            patch(doc.clone(), json!([{"op": "add", "path": "/b", "value": 2}, {"op": "remove", "path": "/c"}]))
                .is_err()
        );
        assert_eq!(doc, json!({"a": 1}));
    }

    #[test]
    fn root_replace_and_negative_index() {
        assert_eq!(patch(json!({"a": 1}), json!([{"op": "replace", "path": "", "value": [1]}])).unwrap(), json!([1]));
        assert_eq!(patch(json!([1, 2, 3]), json!([{"op": "remove", "path": "/-1"}])).unwrap(), json!([1, 2]));
    }
}
