//! System metadata: what the server sets on create and carries over on update, whatever the
//! client sent (upstream's `rest.BeforeCreate` / `rest.BeforeUpdate`).

use serde_json::{Map, Value};
use skiff_api::ApiError;
use skiff_api::object::{self, meta_mut};
use skiff_api::resources::ResourceInfo;

/// Characters upstream uses for generated name suffixes (no vowels, no look-alikes).
const NAME_ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
const GENERATED_SUFFIX_LEN: usize = 5;

/// `generateName` + 5 random characters.
pub fn generate_name(prefix: &str) -> String {
    let random = uuid::Uuid::new_v4();
    let suffix: String = random.as_bytes()[..GENERATED_SUFFIX_LEN]
        .iter()
        .map(|b| NAME_ALPHABET[*b as usize % NAME_ALPHABET.len()] as char)
        .collect();
    // Upstream keeps the whole name within 63 characters.
    let max_prefix = 63 - GENERATED_SUFFIX_LEN;
    let prefix = if prefix.len() > max_prefix { &prefix[..max_prefix] } else { prefix };
    format!("{prefix}{suffix}")
}

/// Fill what the server owns on a new object.
pub fn prepare_create(info: &ResourceInfo, obj: &mut Value, namespace: &str) -> Result<(), ApiError> {
    if !object::resource_version(obj).is_empty() {
        return Err(ApiError::bad_request("resourceVersion should not be set on objects to be created"));
    }
    let name_missing = object::name(obj).is_empty();
    let generate = object::generate_name(obj).to_string();
    let m = meta_mut(obj);
    if name_missing && !generate.is_empty() {
        m.insert("name".into(), generate_name(&generate).into());
    }
    if info.namespaced {
        m.insert("namespace".into(), namespace.into());
    } else {
        m.remove("namespace");
    }
    m.insert("uid".into(), uuid::Uuid::new_v4().to_string().into());
    m.insert("creationTimestamp".into(), skiff_api::time::now_rfc3339().into());
    for field in ["deletionTimestamp", "deletionGracePeriodSeconds", "resourceVersion", "selfLink"] {
        m.remove(field);
    }
    if info.tracks_generation {
        m.insert("generation".into(), 1.into());
    } else {
        m.remove("generation");
    }
    Ok(())
}

/// Carry over what clients may not change on an update of the main resource.
pub fn prepare_update(info: &ResourceInfo, new: &mut Value, old: &Value) {
    let old_meta = object::meta(old).cloned().unwrap_or_default();
    let m = meta_mut(new);
    for field in ["creationTimestamp", "deletionTimestamp", "generation"] {
        copy_field(m, &old_meta, field);
    }
    if m.get("uid").and_then(Value::as_str).unwrap_or("").is_empty() {
        copy_field(m, &old_meta, "uid");
    }
    if !m.contains_key("deletionGracePeriodSeconds") {
        copy_field(m, &old_meta, "deletionGracePeriodSeconds");
    }
    if !m.contains_key("managedFields") {
        copy_field(m, &old_meta, "managedFields");
    }
    m.remove("resourceVersion");
    m.remove("selfLink");
    if info.has_status() {
        copy_top(new, old, "status");
    }
    if info.tracks_generation && object::spec_part(new) != object::spec_part(old) {
        let g = object::generation(old) + 1;
        meta_mut(new).insert("generation".into(), g.into());
    }
}

/// A status update changes status only: everything else comes from the stored object.
pub fn prepare_status_update(new: &Value, old: &Value) -> Value {
    let mut out = old.clone();
    copy_top(&mut out, new, "status");
    if let Some(mf) = object::meta(new).and_then(|m| m.get("managedFields")) {
        meta_mut(&mut out).insert("managedFields".into(), mf.clone());
    }
    meta_mut(&mut out).remove("resourceVersion");
    out
}

fn copy_field(m: &mut Map<String, Value>, from: &Map<String, Value>, field: &str) {
    match from.get(field) {
        Some(v) => {
            m.insert(field.into(), v.clone());
        }
        None => {
            m.remove(field);
        }
    }
}

/// Set (or remove) a top-level field of `to` to what `from` has.
fn copy_top(to: &mut Value, from: &Value, field: &str) {
    let Some(to) = to.as_object_mut() else { return };
    match from.get(field) {
        Some(v) => {
            to.insert(field.into(), v.clone());
        }
        None => {
            to.remove(field);
        }
    }
}

/// Whether an update changes nothing but the resourceVersion, so the write can be skipped as
/// upstream does. (Field ownership counts: applying an unchanged configuration as a new manager
/// is a change. The ownership engine leaves timestamps alone when nothing else changed.)
pub fn is_noop(new: &Value, old: &Value) -> bool {
    let strip = |v: &Value| {
        let mut v = v.clone();
        meta_mut(&mut v).remove("resourceVersion");
        v
    };
    strip(new) == strip(old)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use skiff_api::registry;

    #[test]
    fn create_fills_system_fields() {
        let info = registry().get("apps", "v1", "deployments").unwrap();
        let mut o = json!({"metadata": {"generateName": "web-", "namespace": "x", "uid": "mine"}});
        prepare_create(info, &mut o, "default").unwrap();
        assert!(object::name(&o).starts_with("web-"));
        assert_eq!(object::name(&o).len(), 9);
        assert_eq!(object::namespace(&o), "default");
        assert_ne!(object::uid(&o), "mine");
        assert_eq!(object::generation(&o), 1);
        let mut with_rv = json!({"metadata": {"name": "a", "resourceVersion": "5"}});
        assert_eq!(prepare_create(info, &mut with_rv, "d").unwrap_err().code, 400);
    }

    #[test]
    fn update_keeps_status_and_bumps_generation_on_spec_change() {
        let info = registry().get("apps", "v1", "deployments").unwrap();
        let old = json!({"metadata": {"name": "a", "uid": "u", "generation": 2, "creationTimestamp": "t"},
            "spec": {"replicas": 1}, "status": {"replicas": 1}});
        let mut new = json!({"metadata": {"name": "a", "labels": {"x": "y"}}, "spec": {"replicas": 1}, "status": {"replicas": 9}});
        prepare_update(info, &mut new, &old);
        assert_eq!(new["status"]["replicas"], 1);
        assert_eq!(object::generation(&new), 2, "metadata-only change keeps generation");
        assert_eq!(object::uid(&new), "u");
        let mut new = json!({"metadata": {"name": "a"}, "spec": {"replicas": 3}});
        prepare_update(info, &mut new, &old);
        assert_eq!(object::generation(&new), 3);
    }

    #[test]
    fn status_update_takes_only_status() {
        let old = json!({"metadata": {"name": "a", "labels": {"k": "v"}}, "spec": {"x": 1}, "status": {"s": 1}});
        let new = json!({"metadata": {"name": "a", "labels": {}}, "spec": {"x": 2}, "status": {"s": 2}});
        let out = prepare_status_update(&new, &old);
        assert_eq!(out["spec"]["x"], 1);
        assert_eq!(out["status"]["s"], 2);
        assert_eq!(out["metadata"]["labels"]["k"], "v");
    }
}
