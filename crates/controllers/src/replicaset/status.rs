//! A set's status from its pods, written only when it changed.

use std::sync::Arc;

use kube::api::{Api, Patch, PatchParams};
use serde_json::{Value, json};

use super::Replicated;
use crate::cached_pod::CachedPod;
use crate::error::{Error, Result, ignore_not_found};
use crate::{pods, selector};

/// Write the status `owned` gives, with a ReplicaFailure condition while pods cannot be
/// created or deleted.
pub async fn update<R: Replicated>(
    ctx: &crate::Context,
    set: &R,
    owned: &[Arc<CachedPod>],
    manage_error: Option<&Error>,
) -> Result<()> {
    let current = set.status_value();
    let wanted = compute(set, owned, manage_error, &current);
    if same(&current, &wanted) {
        return Ok(());
    }
    let meta = set.meta();
    let api: Api<R> = Api::namespaced(ctx.client.clone(), meta.namespace.as_deref().unwrap_or("default"));
    let name = meta.name.as_deref().unwrap_or_default();
    ignore_not_found(api.patch_status(name, &PatchParams::default(), &Patch::Merge(json!({"status": wanted}))).await)?;
    Ok(())
}

fn compute<R: Replicated>(set: &R, owned: &[Arc<CachedPod>], manage_error: Option<&Error>, current: &Value) -> Value {
    let now = jiff::Timestamp::now();
    let template_labels = set.template().and_then(|t| t.metadata.as_ref()).and_then(|m| m.labels.as_ref());
    let fully_labeled = owned
        .iter()
        .filter(|p| match template_labels {
            Some(l) => selector::matches(&selector::from_map(l), p.metadata.labels.as_ref()),
            None => true,
        })
        .count();
    let ready = owned.iter().filter(|p| pods::is_ready(p)).count();
    let available = owned.iter().filter(|p| pods::is_available(p, set.min_ready_seconds(), now)).count();
    // Zero counts are omitted upstream (omitempty); null removes them in a merge patch.
    let count = |n: usize| if n == 0 { Value::Null } else { json!(n) };
    let mut conditions: Vec<Value> = current
        .get("conditions")
        .and_then(Value::as_array)
        .map(|c| c.iter().filter(|c| c["type"] != "ReplicaFailure").cloned().collect())
        .unwrap_or_default();
    if let Some(e) = manage_error {
        let existing = current
            .get("conditions")
            .and_then(Value::as_array)
            .and_then(|c| c.iter().find(|c| c["type"] == "ReplicaFailure").cloned());
        let reason = if matches!(e, Error::Api(_)) && set.replicas() as usize > owned.len() {
            "FailedCreate"
        } else {
            "FailedDelete"
        };
        conditions.push(existing.unwrap_or_else(|| {
            json!({
                "type": "ReplicaFailure",
                "status": "True",
                "lastTransitionTime": skiff_api::time::now_rfc3339(),
                "reason": reason,
                "message": e.to_string(),
            })
        }));
    }
    json!({
        "replicas": owned.len(),
        "fullyLabeledReplicas": count(fully_labeled),
        "readyReplicas": count(ready),
        "availableReplicas": count(available),
        "observedGeneration": set.meta().generation,
        "conditions": if conditions.is_empty() { Value::Null } else { json!(conditions) },
    })
}

/// Whether the stored status already says what `wanted` says (nulls meaning absent).
fn same(current: &Value, wanted: &Value) -> bool {
    let Some(w) = wanted.as_object() else { return false };
    w.iter().all(|(k, v)| {
        let have = current.get(k).unwrap_or(&Value::Null);
        match (have, v) {
            (Value::Number(a), Value::Number(b)) => a.as_i64() == b.as_i64(),
            (a, b) => a == b,
        }
    })
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::apps::v1::ReplicaSet;

    use super::*;

    fn rs(replicas: i32, min_ready: i32) -> ReplicaSet {
        serde_json::from_value(json!({
            "metadata": {"name": "web", "namespace": "default", "generation": 2},
            "spec": {"replicas": replicas, "minReadySeconds": min_ready, "selector": {"matchLabels": {"app": "web"}},
                     "template": {"metadata": {"labels": {"app": "web", "tier": "front"}}, "spec": {"containers": []}}},
        }))
        .unwrap()
    }

    fn pod(labels: Value, ready_at: Option<&str>) -> Arc<CachedPod> {
        let conditions = ready_at.map(|t| json!([{"type": "Ready", "status": "True", "lastTransitionTime": t}]));
        Arc::new(
            serde_json::from_value(
                json!({"metadata": {"labels": labels}, "status": {"phase": "Running", "conditions": conditions}}),
            )
            .unwrap(),
        )
    }

    #[test]
    fn status_counts_labeled_ready_and_available_pods() {
        let set = rs(3, 0);
        let owned = [
            pod(json!({"app": "web", "tier": "front"}), Some("2026-01-01T00:00:00Z")),
            pod(json!({"app": "web"}), Some("2026-01-01T00:00:00Z")),
            pod(json!({"app": "web", "tier": "front"}), None),
        ];
        let s = compute(&set, &owned, None, &Value::Null);
        assert_eq!(s["replicas"], 3);
        assert_eq!(s["fullyLabeledReplicas"], 2);
        assert_eq!(s["readyReplicas"], 2);
        assert_eq!(s["availableReplicas"], 2);
        assert_eq!(s["observedGeneration"], 2);
        assert!(s["conditions"].is_null());
        let stored = json!({"replicas": 3, "fullyLabeledReplicas": 2, "readyReplicas": 2, "availableReplicas": 2, "observedGeneration": 2});
        assert!(same(&stored, &s));
        assert!(!same(&json!({"replicas": 2}), &s));
    }

    #[test]
    fn a_failed_create_adds_replica_failure() {
        let set = rs(3, 0);
        let err = Error::Invalid("quota exceeded".into());
        let s = compute(&set, &[], Some(&err), &Value::Null);
        assert_eq!(s["conditions"][0]["type"], "ReplicaFailure");
        assert_eq!(s["conditions"][0]["message"], "quota exceeded");
        assert!(s["replicas"] == 0 && s["readyReplicas"].is_null());
    }
}
