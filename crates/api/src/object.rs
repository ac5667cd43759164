//! Accessors for objects held as JSON.
//!
//! The API server keeps objects as `serde_json::Value` so that one code path serves every kind;
//! these helpers read and write the common `metadata` fields without a typed round trip.

use serde_json::{Map, Value};

/// The `metadata` map, if the object has one.
pub fn meta(obj: &Value) -> Option<&Map<String, Value>> {
    obj.get("metadata")?.as_object()
}

/// The `metadata` map, created if missing (or replaced if it was not an object).
pub fn meta_mut(obj: &mut Value) -> &mut Map<String, Value> {
    let root = ensure_object(obj);
    let m = root.entry("metadata").or_insert_with(|| Value::Object(Map::new()));
    ensure_object(m)
}

fn ensure_object(v: &mut Value) -> &mut Map<String, Value> {
    if !v.is_object() {
        *v = Value::Object(Map::new());
    }
    match v {
        Value::Object(m) => m,
        _ => unreachable!("just made an object"),
    }
}

fn meta_str<'a>(obj: &'a Value, field: &str) -> &'a str {
    meta(obj).and_then(|m| m.get(field)).and_then(Value::as_str).unwrap_or("")
}

pub fn name(obj: &Value) -> &str {
    meta_str(obj, "name")
}

pub fn generate_name(obj: &Value) -> &str {
    meta_str(obj, "generateName")
}

pub fn namespace(obj: &Value) -> &str {
    meta_str(obj, "namespace")
}

pub fn uid(obj: &Value) -> &str {
    meta_str(obj, "uid")
}

pub fn resource_version(obj: &Value) -> &str {
    meta_str(obj, "resourceVersion")
}

pub fn deletion_timestamp(obj: &Value) -> Option<&str> {
    meta(obj)?.get("deletionTimestamp")?.as_str()
}

pub fn generation(obj: &Value) -> i64 {
    meta(obj).and_then(|m| m.get("generation")).and_then(Value::as_i64).unwrap_or(0)
}

/// A string-to-string map under metadata (`labels`, `annotations`).
pub fn string_map<'a>(obj: &'a Value, field: &str) -> impl Iterator<Item = (&'a str, &'a str)> {
    meta(obj)
        .and_then(|m| m.get(field))
        .and_then(Value::as_object)
        .into_iter()
        .flat_map(|m| m.iter().filter_map(|(k, v)| Some((k.as_str(), v.as_str()?))))
}

pub fn labels(obj: &Value) -> impl Iterator<Item = (&str, &str)> {
    string_map(obj, "labels")
}

pub fn label<'a>(obj: &'a Value, key: &str) -> Option<&'a str> {
    meta(obj)?.get("labels")?.get(key)?.as_str()
}

pub fn annotation<'a>(obj: &'a Value, key: &str) -> Option<&'a str> {
    meta(obj)?.get("annotations")?.get(key)?.as_str()
}

pub fn finalizers(obj: &Value) -> Vec<String> {
    meta(obj)
        .and_then(|m| m.get("finalizers"))
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_string)).collect())
        .unwrap_or_default()
}

pub fn set_str(obj: &mut Value, field: &str, value: &str) {
    meta_mut(obj).insert(field.to_string(), Value::String(value.to_string()));
}

pub fn remove(obj: &mut Value, field: &str) {
    meta_mut(obj).remove(field);
}

/// Follow a dotted path (`spec.nodeName`) through nested objects.
pub fn path<'a>(obj: &'a Value, dotted: &str) -> Option<&'a Value> {
    dotted.split('.').try_fold(obj, |v, part| v.get(part))
}

/// The value at a dotted path rendered as a field-selector value: strings as they are, numbers
/// and booleans printed, missing fields as the empty string.
pub fn field_string(obj: &Value, dotted: &str) -> String {
    match path(obj, dotted) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Bool(b)) => b.to_string(),
        Some(Value::Number(n)) => n.to_string(),
        _ => String::new(),
    }
}

/// Everything but `apiVersion`, `kind`, `metadata` and `status`: what a generation bump tracks.
pub fn spec_part(obj: &Value) -> Vec<(&String, &Value)> {
    obj.as_object()
        .map(|m| {
            m.iter().filter(|(k, _)| !matches!(k.as_str(), "apiVersion" | "kind" | "metadata" | "status")).collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_metadata() {
        let o = json!({"metadata": {"name": "a", "namespace": "ns", "labels": {"x": "y"}, "generation": 3}});
        assert_eq!(name(&o), "a");
        assert_eq!(namespace(&o), "ns");
        assert_eq!(label(&o, "x"), Some("y"));
        assert_eq!(generation(&o), 3);
        assert_eq!(labels(&o).count(), 1);
    }

    #[test]
    fn writes_metadata_even_when_missing() {
        let mut o = json!({"kind": "ConfigMap"});
        set_str(&mut o, "name", "b");
        assert_eq!(name(&o), "b");
    }

    #[test]
    fn field_strings() {
        let o = json!({"spec": {"nodeName": "n1", "unschedulable": true, "replicas": 3}});
        assert_eq!(field_string(&o, "spec.nodeName"), "n1");
        assert_eq!(field_string(&o, "spec.unschedulable"), "true");
        assert_eq!(field_string(&o, "spec.replicas"), "3");
        assert_eq!(field_string(&o, "status.phase"), "");
    }
}
