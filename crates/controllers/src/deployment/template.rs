//! Pod templates as the Deployment controller tells them apart: the `pod-template-hash`
//! that names a template's ReplicaSet and labels its pods, and equality that ignores it.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::PodTemplateSpec;
use serde_json::Value;

/// The label that keeps the pods of a Deployment's ReplicaSets apart.
pub const HASH_LABEL: &str = "pod-template-hash";

/// Upstream's alphabet for hashes in names: no vowels (no words), no look-alikes.
const SAFE_ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

/// A stable hash of `template` (and the collision count, which changes the hash when two
/// templates collide), rendered as upstream renders it: the 32-bit FNV-1a value in decimal,
/// each digit mapped onto a safe alphabet. Upstream hashes Go's dump of the struct; this
/// hashes the canonical JSON, so values differ from upstream's but are as stable.
pub fn compute_hash(template: &PodTemplateSpec, collision_count: Option<i32>) -> String {
    let mut bytes = serde_json::to_vec(&canonical(template)).unwrap_or_default();
    if let Some(c) = collision_count {
        // Upstream writes the count as 8 little-endian bytes, the upper four zero.
        bytes.extend_from_slice(&(c as u32).to_le_bytes());
        bytes.extend_from_slice(&[0; 4]);
    }
    safe_encode(&fnv32a(&bytes).to_string())
}

fn fnv32a(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811c_9dc5_u32, |h, b| (h ^ u32::from(*b)).wrapping_mul(0x0100_0193))
}

fn safe_encode(s: &str) -> String {
    s.bytes().map(|b| SAFE_ALPHABET[usize::from(b) % SAFE_ALPHABET.len()] as char).collect()
}

/// Whether two templates are the same but for the hash label (upstream `EqualIgnoreHash`).
/// Empty maps and lists count as absent: a round trip through the API may turn one into
/// the other, which would otherwise start a rollout of an unchanged template.
pub fn equal_ignore_hash(a: &PodTemplateSpec, b: &PodTemplateSpec) -> bool {
    canonical(a) == canonical(b)
}

/// The template as JSON without the hash label and without empty values.
fn canonical(t: &PodTemplateSpec) -> Value {
    let mut v = serde_json::to_value(t).unwrap_or_default();
    if let Some(labels) = v.pointer_mut("/metadata/labels").and_then(Value::as_object_mut) {
        labels.remove(HASH_LABEL);
    }
    prune(&mut v);
    v
}

/// Remove nulls, empty objects and empty arrays, innermost first; whether `v` itself is
/// now empty.
fn prune(v: &mut Value) -> bool {
    match v {
        Value::Null => true,
        Value::Object(m) => {
            m.retain(|_, child| !prune(child));
            m.is_empty()
        }
        Value::Array(a) => {
            for child in a.iter_mut() {
                prune(child);
            }
            a.is_empty()
        }
        _ => false,
    }
}

/// `template` with the hash label added, for a new ReplicaSet and its pods.
pub fn with_hash_label(template: &PodTemplateSpec, hash: &str) -> PodTemplateSpec {
    let mut t = template.clone();
    let meta = t.metadata.get_or_insert_with(Default::default);
    meta.labels.get_or_insert_with(BTreeMap::new).insert(HASH_LABEL.into(), hash.into());
    t
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn template(image: &str, extra: Value) -> PodTemplateSpec {
        let mut v =
            json!({"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c", "image": image}]}});
        if let (Some(m), Some(e)) = (v["metadata"].as_object_mut(), extra.as_object()) {
            m.extend(e.clone());
        }
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn the_hash_is_stable_safe_and_changes_with_the_template_and_collisions() {
        let t = template("nginx:1.24", json!({}));
        let h = compute_hash(&t, None);
        assert_eq!(h, compute_hash(&t.clone(), None));
        assert!(!h.is_empty() && h.bytes().all(|b| SAFE_ALPHABET.contains(&b)));
        assert_ne!(h, compute_hash(&template("nginx:1.25", json!({})), None));
        assert_ne!(h, compute_hash(&t, Some(1)));
        // A restart annotation is a new template.
        let restarted = template("nginx:1.24", json!({"annotations": {"kubectl.kubernetes.io/restartedAt": "now"}}));
        assert_ne!(h, compute_hash(&restarted, None));
    }

    #[test]
    fn the_hash_label_is_ignored_when_comparing_templates() {
        let t = template("nginx:1.24", json!({}));
        let labeled = with_hash_label(&t, "abc");
        assert_eq!(labeled.metadata.as_ref().unwrap().labels.as_ref().unwrap()[HASH_LABEL], "abc");
        assert!(equal_ignore_hash(&t, &labeled));
        assert_eq!(compute_hash(&t, None), compute_hash(&labeled, None));
        assert!(!equal_ignore_hash(&t, &template("nginx:1.25", json!({}))));
        let with_empty = template("nginx:1.24", json!({"annotations": {}}));
        assert!(equal_ignore_hash(&t, &with_empty));
    }

    #[test]
    fn fnv_matches_the_reference_values() {
        assert_eq!(fnv32a(b""), 0x811c_9dc5);
        assert_eq!(fnv32a(b"a"), 0xe40c_292c);
        assert_eq!(safe_encode("0123456789"), "456789bcdf");
    }
}
