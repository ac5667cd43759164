//! Pods left with the tracking finalizer by a Job that is gone, finished or no longer their
//! controller: the finalizer is removed so they can be deleted.

use std::sync::Arc;

use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, Patch, PatchParams};
use skiff_runtime::{Next, split_key};

use super::job_pods::{TRACKING_FINALIZER, has_tracking_finalizer};
use super::{Controller, is_finished};
use crate::error::{Result, ignore_not_found};
use crate::owner::controller_of;

/// The strategic merge patch that drops the tracking finalizer.
pub fn remove_finalizer_patch() -> Patch<serde_json::Value> {
    Patch::Strategic(serde_json::json!({
        "metadata": { "$deleteFromPrimitiveList/finalizers": [TRACKING_FINALIZER] }
    }))
}

impl Controller {
    pub(super) async fn sync_orphan(self: Arc<Self>, key: String) -> Result<Next> {
        let Some(pod) = self.pods.get(&key) else { return Ok(Next::Wait) };
        if !has_tracking_finalizer(&pod) {
            return Ok(Next::Wait);
        }
        if let Some(r) = controller_of(&pod.metadata) {
            if r.kind != "Job" || r.api_version != "batch/v1" {
                // Not ours to touch.
                return Ok(Next::Wait);
            }
            if self.owner(&pod).is_some_and(|j| !is_finished(&j)) {
                // Its Job is alive and will count it.
                return Ok(Next::Wait);
            }
        }
        let (ns, name) = split_key(&key);
        let api: Api<Pod> = Api::namespaced(self.ctx.client.clone(), ns);
        ignore_not_found(api.patch(name, &PatchParams::default(), &remove_finalizer_patch()).await)?;
        Ok(Next::Wait)
    }
}
