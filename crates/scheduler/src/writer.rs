//! Writes the scheduler makes besides bindings: pod conditions and nominations, events, and
//! preemption's evictions. They run as tasks on the runtime so the scheduling loop never
//! waits on the API; events are dropped, as upstream's broadcaster drops them, when too many
//! are queued.

use std::sync::Arc;

use k8s_openapi::api::core::v1::{ObjectReference, Pod};
use kube::api::{Api, DeleteParams, Patch, PatchParams, Preconditions};
use serde_json::json;
use tokio::runtime::Handle;
use tokio::sync::Semaphore;

use crate::pod_info::PodInfo;
use skiff_runtime::events::Recorder;

/// Events waiting to be written before new ones are dropped.
const MAX_QUEUED_EVENTS: usize = 1000;
/// Concurrent writes of each kind.
const CONCURRENCY: usize = 16;

#[derive(Clone)]
pub struct Writer {
    client: kube::Client,
    rt: Handle,
    recorder: Arc<Recorder>,
    scheduler_name: String,
    queued_events: Arc<Semaphore>,
    writing_events: Arc<Semaphore>,
    writing: Arc<Semaphore>,
}

fn reference(pod: &PodInfo) -> ObjectReference {
    ObjectReference {
        api_version: Some("v1".into()),
        kind: Some("Pod".into()),
        namespace: Some(pod.namespace.clone()),
        name: Some(pod.name.clone()),
        uid: Some(pod.uid.clone()),
        ..Default::default()
    }
}

impl Writer {
    pub fn new(client: kube::Client, rt: Handle, scheduler_name: &str) -> Writer {
        Writer {
            recorder: Arc::new(Recorder::new(client.clone(), scheduler_name, "Scheduling")),
            client,
            rt,
            scheduler_name: scheduler_name.to_string(),
            queued_events: Arc::new(Semaphore::new(MAX_QUEUED_EVENTS)),
            writing_events: Arc::new(Semaphore::new(CONCURRENCY)),
            writing: Arc::new(Semaphore::new(CONCURRENCY * 4)),
        }
    }

    pub fn runtime(&self) -> &Handle {
        &self.rt
    }

    /// Record an event about `pod` (`warning` for FailedScheduling).
    pub fn event(&self, pod: &PodInfo, warning: bool, reason: &str, note: String) {
        let Ok(queued) = self.queued_events.clone().try_acquire_owned() else {
            tracing::debug!(pod = %pod.key(), reason, "event queue full; event dropped");
            return;
        };
        let reference = reference(pod);
        let reason = reason.to_string();
        let recorder = self.recorder.clone();
        let writing = self.writing_events.clone();
        self.rt.spawn(async move {
            let _queued = queued;
            let _writing = writing.acquire().await;
            if let Err(e) = recorder.publish(&reference, warning, &reason, &note).await {
                tracing::debug!(error = %e, "writing an event failed");
            }
        });
    }

    /// Set `PodScheduled=False` with the reason and message, and the nominated node if
    /// preemption chose one (`Some("")` clears it). Skipped when the pod already says so.
    pub fn unschedulable(&self, pod: &PodInfo, reason: &str, message: &str, nominated: Option<&str>) {
        let current = pod.pod.as_ref().and_then(|p| p.status.as_ref());
        let same_condition = current.and_then(|s| s.conditions.as_ref()).is_some_and(|cs| {
            cs.iter().any(|c| {
                c.type_ == "PodScheduled"
                    && c.status == "False"
                    && c.reason.as_deref() == Some(reason)
                    && c.message.as_deref() == Some(message)
            })
        });
        let same_nomination =
            nominated.is_none_or(|n| current.and_then(|s| s.nominated_node_name.as_deref()).unwrap_or("") == n);
        if same_condition && same_nomination {
            return;
        }
        let mut status = json!({"conditions": [{
            "type": "PodScheduled",
            "status": "False",
            "reason": reason,
            "message": message,
            "lastProbeTime": null,
            "lastTransitionTime": skiff_api::time::now_rfc3339(),
        }]});
        if let Some(n) = nominated {
            status["nominatedNodeName"] = if n.is_empty() { json!(null) } else { json!(n) };
        }
        self.patch_status(pod, json!({ "status": status }));
    }

    /// Clear a nomination preemption no longer stands behind.
    pub fn clear_nomination(&self, pod: &PodInfo) {
        self.patch_status(pod, json!({"status": {"nominatedNodeName": null}}));
    }

    fn patch_status(&self, pod: &PodInfo, patch: serde_json::Value) {
        let api: Api<Pod> = Api::namespaced(self.client.clone(), &pod.namespace);
        let name = pod.name.clone();
        let writing = self.writing.clone();
        self.rt.spawn(async move {
            let _w = writing.acquire().await;
            if let Err(e) = api.patch_status(&name, &PatchParams::default(), &Patch::Strategic(patch)).await {
                tracing::debug!(pod = %name, error = %e, "updating the pod's scheduling status failed");
            }
        });
    }

    /// Evict a victim of preemption: mark why, tell its owner, delete it with its grace period.
    pub fn preempt(&self, victim: &PodInfo, preemptor: &PodInfo, node: &str) {
        self.event(victim, false, "Preempted", format!("Preempted by pod {} on node {node}", preemptor.uid));
        let api: Api<Pod> = Api::namespaced(self.client.clone(), &victim.namespace);
        let (name, uid) = (victim.name.clone(), victim.uid.clone());
        let message = format!("{}: preempting to accommodate a higher priority pod", self.scheduler_name);
        let writing = self.writing.clone();
        self.rt.spawn(async move {
            let _w = writing.acquire().await;
            let condition = json!({"status": {"conditions": [{
                "type": "DisruptionTarget",
                "status": "True",
                "reason": "PreemptionByScheduler",
                "message": message,
                "lastTransitionTime": skiff_api::time::now_rfc3339(),
            }]}});
            let _ = api.patch_status(&name, &PatchParams::default(), &Patch::Strategic(condition)).await;
            let dp = DeleteParams {
                preconditions: Some(Preconditions { uid: Some(uid), resource_version: None }),
                ..DeleteParams::default()
            };
            if let Err(e) = api.delete(&name, &dp).await {
                tracing::debug!(pod = %name, error = %e, "deleting a preemption victim failed");
            }
        });
    }
}
