//! Pods as workload controllers see them (active, ready, available) and the creation and
//! deletion of pods from a template, with upstream's events.

use jiff::Timestamp;
use k8s_openapi::api::core::v1::{Pod, PodTemplateSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::Resource;
use kube::api::{Api, DeleteParams, PostParams, Preconditions};

use crate::cached_pod::CachedPod;
use crate::context::Context;
use crate::error::{Result, ignore_not_found};

/// Neither finished nor being deleted.
pub fn is_active(pod: &CachedPod) -> bool {
    pod.metadata.deletion_timestamp.is_none() && !is_finished(pod)
}

/// Phase Succeeded or Failed.
pub fn is_finished(pod: &CachedPod) -> bool {
    matches!(phase(pod), "Succeeded" | "Failed")
}

pub fn phase(pod: &CachedPod) -> &str {
    pod.status.as_ref().and_then(|s| s.phase.as_deref()).unwrap_or("")
}

/// Whether the pod has been given a node.
pub fn is_scheduled(pod: &CachedPod) -> bool {
    pod.spec.as_ref().and_then(|s| s.node_name.as_deref()).is_some_and(|n| !n.is_empty())
}

/// The Ready condition is True.
pub fn is_ready(pod: &CachedPod) -> bool {
    ready_since(pod).is_some()
}

/// When the Ready condition last turned True, if it is True.
pub fn ready_since(pod: &CachedPod) -> Option<Timestamp> {
    let conds = pod.status.as_ref()?.conditions.as_ref()?;
    let ready = conds.iter().find(|c| c.type_ == "Ready" && c.status == "True")?;
    Some(ready.last_transition_time.as_ref().map(|t| t.0).unwrap_or(Timestamp::UNIX_EPOCH))
}

/// Ready for at least `min_ready_seconds` at `now`.
pub fn is_available(pod: &CachedPod, min_ready_seconds: i32, now: Timestamp) -> bool {
    match ready_since(pod) {
        None => false,
        Some(_) if min_ready_seconds <= 0 => true,
        Some(since) => since.as_second() + i64::from(min_ready_seconds) <= now.as_second(),
    }
}

/// Sum of the restart counts of the pod's containers.
pub fn restarts(pod: &CachedPod) -> i32 {
    let statuses = pod.status.as_ref().and_then(|s| s.container_statuses.as_ref());
    statuses.map(|c| c.iter().map(|s| s.restart_count).sum()).unwrap_or(0)
}

/// A pod made from `template` for `owner`: the template's labels, annotations and spec,
/// named `generate_name` + random suffix unless `name` is given.
pub fn from_template(
    template: &PodTemplateSpec,
    namespace: &str,
    name: Option<String>,
    generate_name: &str,
    owner: OwnerReference,
) -> Pod {
    let meta = template.metadata.clone().unwrap_or_default();
    Pod {
        metadata: ObjectMeta {
            name: name.clone(),
            generate_name: name.is_none().then(|| generate_name.to_string()),
            namespace: Some(namespace.to_string()),
            labels: meta.labels,
            annotations: meta.annotations,
            finalizers: meta.finalizers,
            owner_references: Some(vec![owner]),
            ..Default::default()
        },
        spec: template.spec.clone(),
        status: None,
    }
}

/// Create `pod` for `owner`, recording SuccessfulCreate or FailedCreate on the owner.
pub async fn create<K: Resource<DynamicType = ()>>(
    ctx: &Context,
    component: &str,
    owner: &K,
    pod: &Pod,
) -> Result<Pod> {
    let namespace = pod.metadata.namespace.as_deref().unwrap_or("default");
    let api: Api<Pod> = Api::namespaced(ctx.client.clone(), namespace);
    match api.create(&PostParams::default(), pod).await {
        Ok(created) => {
            let name = created.metadata.name.as_deref().unwrap_or_default();
            ctx.event(component, owner, false, "SuccessfulCreate", &format!("Created pod: {name}"));
            Ok(created)
        }
        Err(e) => {
            ctx.event(component, owner, true, "FailedCreate", &format!("Error creating: {}", api_message(&e)));
            Err(e.into())
        }
    }
}

/// Delete `pod` (with its uid as precondition) for `owner`, recording SuccessfulDelete or
/// FailedDelete. A pod already gone counts as deleted.
pub async fn delete<K: Resource<DynamicType = ()>>(
    ctx: &Context,
    component: &str,
    owner: &K,
    pod: &CachedPod,
) -> Result<()> {
    let namespace = pod.metadata.namespace.as_deref().unwrap_or("default");
    let name = pod.metadata.name.as_deref().unwrap_or_default();
    let api: Api<Pod> = Api::namespaced(ctx.client.clone(), namespace);
    let params = DeleteParams {
        preconditions: Some(Preconditions { uid: pod.metadata.uid.clone(), resource_version: None }),
        ..Default::default()
    };
    match ignore_not_found(api.delete(name, &params).await) {
        Ok(_) => {
            ctx.event(component, owner, false, "SuccessfulDelete", &format!("Deleted pod: {name}"));
            Ok(())
        }
        Err(e) => {
            ctx.event(component, owner, true, "FailedDelete", &format!("Error deleting: {e}"));
            Err(e)
        }
    }
}

/// The message of an API error (the Status message), else the error's text.
pub fn api_message(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(s) => s.message.clone(),
        e => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn pod(v: serde_json::Value) -> CachedPod {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn availability_counts_min_ready_seconds_from_the_ready_transition() {
        let p = pod(json!({"status": {"phase": "Running", "conditions": [
            {"type": "Ready", "status": "True", "lastTransitionTime": "2026-01-01T00:00:00Z"}]}}));
        let now: Timestamp = "2026-01-01T00:00:10Z".parse().unwrap();
        assert!(is_ready(&p));
        assert!(is_available(&p, 0, now));
        assert!(is_available(&p, 10, now));
        assert!(!is_available(&p, 11, now));
        let not_ready = pod(json!({"status": {"conditions": [{"type": "Ready", "status": "False"}]}}));
        assert!(!is_available(&not_ready, 0, now));
    }

    #[test]
    fn finished_and_terminating_pods_are_not_active() {
        assert!(is_active(&pod(json!({"status": {"phase": "Running"}}))));
        assert!(!is_active(&pod(json!({"status": {"phase": "Succeeded"}}))));
        assert!(!is_active(&pod(json!({"metadata": {"deletionTimestamp": "2026-01-01T00:00:00Z"}}))));
    }
}
