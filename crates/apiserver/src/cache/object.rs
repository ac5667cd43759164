//! One object as the watch cache holds it: the served JSON (with `resourceVersion` set) encoded
//! once and shared by every reader and watcher, plus the labels and field values selectors need.

use bytes::Bytes;
use serde_json::{Map, Value};
use skiff_api::object;
use skiff_api::resources::ResourceInfo;

use super::raw;

#[derive(Debug)]
pub struct CachedObject {
    pub rev: i64,
    pub namespace: Box<str>,
    pub name: Box<str>,
    json: Bytes,
    labels: Box<[(Box<str>, Box<str>)]>,
    /// (JSON path, value) for the field labels of the stored kind.
    fields: Box<[(&'static str, Box<str>)]>,
}

impl CachedObject {
    /// Build from the bytes the store holds (no `resourceVersion`) and the revision that wrote
    /// them. Only the parts selectors need are parsed: the rest stays bytes.
    pub fn from_stored(info: &ResourceInfo, raw: &Bytes, rev: i64) -> Result<Self, String> {
        let Some(json) = splice_resource_version(raw, rev) else {
            // Not the shape we store (no metadata object): parse and encode the slow way.
            let mut v: Value = serde_json::from_slice(raw).map_err(|e| format!("stored object is not JSON: {e}"))?;
            object::set_str(&mut v, "resourceVersion", &rev.to_string());
            let json = Bytes::from(serde_json::to_vec(&v).map_err(|e| e.to_string())?);
            return Ok(Self::with_json(info, &v, json, rev));
        };
        let members = raw::Members::of(raw);
        let labels = match members.find(["metadata", "labels"]).map(serde_json::from_slice::<Map<String, Value>>) {
            Some(Ok(map)) => map
                .into_iter()
                .filter_map(|(k, v)| match v {
                    Value::String(v) => Some((k.into_boxed_str(), v.into_boxed_str())),
                    _ => None,
                })
                .collect(),
            _ => Box::default(),
        };
        let fields = info
            .field_labels
            .iter()
            .map(|(_, path)| (*path, field_text(members.find(path.split('.'))).into_boxed_str()))
            .collect();
        Ok(CachedObject {
            rev,
            namespace: field_text(members.find(["metadata", "namespace"])).into(),
            name: field_text(members.find(["metadata", "name"])).into(),
            json: Bytes::from(json),
            labels,
            fields,
        })
    }

    /// Build from an object already in hand and its encoding with `resourceVersion` set.
    pub fn with_json(info: &ResourceInfo, value: &Value, json: Bytes, rev: i64) -> Self {
        let labels = object::labels(value).map(|(k, v)| (Box::from(k), Box::from(v))).collect();
        let fields = info
            .field_labels
            .iter()
            .map(|(_, path)| (*path, object::field_string(value, path).into_boxed_str()))
            .collect();
        CachedObject {
            rev,
            namespace: object::namespace(value).into(),
            name: object::name(value).into(),
            json,
            labels,
            fields,
        }
    }

    /// The object as served, `resourceVersion` included.
    pub fn json(&self) -> &Bytes {
        &self.json
    }

    /// The `metadata` object as served (bytes of [`Self::json`]).
    pub fn metadata_json(&self) -> &[u8] {
        raw::find(&self.json, ["metadata"]).unwrap_or(b"{}")
    }

    /// The object parsed, for handlers that change it.
    pub fn value(&self) -> Value {
        // The bytes were produced from a parsed value, so they parse.
        serde_json::from_slice(&self.json).unwrap_or(Value::Null)
    }

    pub fn label(&self, key: &str) -> Option<&str> {
        self.labels.iter().find(|(k, _)| &**k == key).map(|(_, v)| &**v)
    }

    /// The value for a field selector label, given the JSON path it maps to.
    pub fn field(&self, path: &str) -> &str {
        match path {
            "metadata.name" => &self.name,
            "metadata.namespace" => &self.namespace,
            _ => self.fields.iter().find(|(p, _)| *p == path).map(|(_, v)| &**v).unwrap_or(""),
        }
    }
}

/// A JSON value found in a document rendered as a field-selector value, as
/// `object::field_string` does for a parsed object.
fn field_text(found: Option<&[u8]>) -> String {
    match found.map(serde_json::from_slice::<Value>) {
        Some(Ok(Value::String(s))) => s,
        Some(Ok(Value::Bool(b))) => b.to_string(),
        Some(Ok(Value::Number(n))) => n.to_string(),
        _ => String::new(),
    }
}

/// Insert `"resourceVersion":"<rev>"` at the start of the top-level `metadata` object of a JSON
/// document, without re-encoding it. `None` if there is no such object.
pub fn splice_resource_version(raw: &[u8], rev: i64) -> Option<Vec<u8>> {
    let at = raw::metadata_body_offset(raw)?;
    let rest_starts_empty = raw[at..].iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'}');
    let field = format!("\"resourceVersion\":\"{rev}\"{}", if rest_starts_empty { "" } else { "," });
    let mut out = Vec::with_capacity(raw.len() + field.len());
    out.extend_from_slice(&raw[..at]);
    out.extend_from_slice(field.as_bytes());
    out.extend_from_slice(&raw[at..]);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn splice(v: &Value) -> Value {
        serde_json::from_slice(&splice_resource_version(&serde_json::to_vec(v).unwrap(), 42).unwrap()).unwrap()
    }

    #[test]
    fn splices_into_metadata() {
        let v = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}, "data": {"x": "}\""}});
        let out = splice(&v);
        assert_eq!(out["metadata"]["resourceVersion"], "42");
        assert_eq!(out["metadata"]["name"], "a");
        assert_eq!(out["data"]["x"], "}\"");
    }

    #[test]
    fn splices_into_empty_metadata_and_after_nested_values() {
        let v = json!({"spec": {"a": [1, {"b": "metadata"}], "c": true}, "metadata": {}});
        assert_eq!(splice(&v)["metadata"]["resourceVersion"], "42");
    }

    #[test]
    fn no_metadata_means_no_splice() {
        assert!(splice_resource_version(br#"{"a":1}"#, 1).is_none());
        assert!(splice_resource_version(br#"{"metadata":null}"#, 1).is_none());
        assert!(splice_resource_version(b"[]", 1).is_none());
    }

    #[test]
    fn extracts_labels_and_fields() {
        let info = skiff_api::registry().get("", "v1", "pods").unwrap();
        let raw = Bytes::from(
            serde_json::to_vec(&json!({"metadata": {"name": "p", "namespace": "d", "labels": {"app": "web"}},
                "spec": {"nodeName": "n1"}, "status": {"phase": "Running"}}))
            .unwrap(),
        );
        let o = CachedObject::from_stored(info, &raw, 7).unwrap();
        assert_eq!(o.label("app"), Some("web"));
        assert_eq!(o.field("spec.nodeName"), "n1");
        assert_eq!(o.field("status.phase"), "Running");
        assert_eq!(o.field("metadata.namespace"), "d");
        assert_eq!(o.value()["metadata"]["resourceVersion"], "7");
    }
}
