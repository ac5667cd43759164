//! The Recreate strategy (upstream `rolloutRecreate`): scale every old ReplicaSet to zero,
//! wait until none of their pods runs any more, and only then create (or grow) the new
//! set to the full size, so old and new pods never run side by side.

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use skiff_runtime::Next;

use super::strategy::{self, rs_replicas, rs_status_replicas};
use super::{Controller, status};
use crate::cached_pod::CachedPod;
use crate::error::Result;
use crate::owner::CONTROLLER_UID_INDEX;
use crate::pods;

impl Controller {
    pub(super) async fn rollout_recreate(&self, d: &mut Deployment, sets: &mut Vec<ReplicaSet>) -> Result<Next> {
        // Not created yet: scaling up must wait for the old pods to go.
        let (mut new_rs, mut old) = self.get_all_and_sync_revision(d, sets, false).await?;
        let mut scaled_down = false;
        for rs in old.iter_mut().filter(|rs| rs_replicas(rs) > 0) {
            let (scaled, written) = self.scale_and_record(rs, 0, d).await?;
            *rs = written;
            scaled_down |= scaled;
        }
        if scaled_down || self.old_pods_running(new_rs.as_ref(), &old) {
            let all: Vec<&ReplicaSet> = old.iter().chain(new_rs.as_ref()).collect();
            return self.sync_rollout_status(d, &all, new_rs.as_ref()).await;
        }
        if new_rs.is_none() {
            (new_rs, old) = self.get_all_and_sync_revision(d, sets, true).await?;
        }
        if let Some(rs) = new_rs.as_mut() {
            *rs = self.scale_and_record(rs, strategy::replicas(d), d).await?.1;
        }
        if status::complete(d, &d.status.clone().unwrap_or_default()) {
            self.cleanup_deployment(&old, d).await?;
        }
        let all: Vec<&ReplicaSet> = old.iter().chain(new_rs.as_ref()).collect();
        self.sync_rollout_status(d, &all, new_rs.as_ref()).await
    }

    /// Whether an old set still reports pods, or a pod of one has not finished.
    fn old_pods_running(&self, new_rs: Option<&ReplicaSet>, old: &[ReplicaSet]) -> bool {
        if old.iter().map(rs_status_replicas).sum::<i32>() > 0 {
            return true;
        }
        let new_uid = new_rs.and_then(|rs| rs.metadata.uid.as_deref());
        old.iter().filter_map(|rs| rs.metadata.uid.as_deref()).filter(|uid| Some(*uid) != new_uid).any(|uid| {
            self.pods
                .by_index(CONTROLLER_UID_INDEX, uid)
                .iter()
                .any(|p: &std::sync::Arc<CachedPod>| !pods::is_finished(p))
        })
    }
}
