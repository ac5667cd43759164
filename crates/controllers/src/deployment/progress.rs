//! Writing a Deployment's status and revision: the rollout status after a sync (with the
//! time to look again for the progress deadline), the plain status after scaling, the
//! Paused/Resumed conditions, and the revision annotation.

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::json;
use skiff_runtime::Next;

use super::status::{self, PAUSED, PROGRESSING, RESUMED, TIMED_OUT};
use super::{Controller, annotations, name_of, namespace_of, strategy};
use crate::error::Result;

impl Controller {
    fn deployments_api(&self, d: &Deployment) -> Api<Deployment> {
        Api::namespaced(self.ctx.client.clone(), namespace_of(d))
    }

    /// Write `d`'s status (the resourceVersion guards against a stale read) and take what
    /// the server returns, so later writes of this sync do not conflict with this one.
    pub(super) async fn write_status(&self, d: &mut Deployment) -> Result<()> {
        let written = self.deployments_api(d).replace_status(name_of(d), &PostParams::default(), d).await?;
        d.metadata = written.metadata;
        d.status = written.status;
        Ok(())
    }

    /// Record `revision` on the Deployment. Upstream writes it along with the status; this
    /// API server keeps metadata out of status writes, so it is a patch of its own (which
    /// leaves the generation alone: only spec changes raise it).
    pub(super) async fn write_revision(&self, d: &mut Deployment, revision: i64) -> Result<()> {
        let revision = revision.to_string();
        let current = d.metadata.annotations.as_ref().and_then(|a| a.get(annotations::REVISION));
        if current == Some(&revision) {
            return Ok(());
        }
        let patch = json!({"metadata": {
            "resourceVersion": d.metadata.resource_version,
            "annotations": {annotations::REVISION: revision},
        }});
        let written = self.deployments_api(d).patch(name_of(d), &PatchParams::default(), &Patch::Merge(patch)).await?;
        d.metadata = written.metadata;
        Ok(())
    }

    /// Note that the current generation was seen, for a Deployment that cannot be synced.
    pub(super) async fn observe_generation(&self, d: &mut Deployment) -> Result<()> {
        let status = d.status.get_or_insert_with(Default::default);
        if status.observed_generation.unwrap_or(0) >= d.metadata.generation.unwrap_or(0) {
            return Ok(());
        }
        status.observed_generation = d.metadata.generation;
        self.write_status(d).await
    }

    /// Upstream's `checkPausedConditions`: pausing and resuming show on the Progressing
    /// condition (Unknown), unless the rollout has already timed out.
    pub(super) async fn check_paused_conditions(&self, d: &mut Deployment) -> Result<()> {
        if !status::has_progress_deadline(d) {
            return Ok(());
        }
        let paused = strategy::is_paused(d);
        let st = d.status.get_or_insert_with(Default::default);
        let cond = status::condition(st, PROGRESSING);
        if cond.is_some_and(|c| status::reason(c) == TIMED_OUT) {
            return Ok(());
        }
        let paused_shown = cond.is_some_and(|c| status::reason(c) == PAUSED);
        let now = status::now();
        let cond = match (paused, paused_shown) {
            (true, false) => status::new_condition(PROGRESSING, "Unknown", PAUSED, "Deployment is paused".into(), now),
            (false, true) => {
                status::new_condition(PROGRESSING, "Unknown", RESUMED, "Deployment is resumed".into(), now)
            }
            _ => return Ok(()),
        };
        status::set_condition(st, cond);
        self.write_status(d).await
    }

    /// Write the rollout status (upstream `syncRolloutStatus`); look again when the
    /// progress deadline would pass.
    pub(super) async fn sync_rollout_status(
        &self,
        d: &mut Deployment,
        all: &[&ReplicaSet],
        new_rs: Option<&ReplicaSet>,
    ) -> Result<Next> {
        let now = status::now();
        let wanted = status::rollout(all, new_rs, d, now);
        let next = match status::recheck_after(d, &wanted, now) {
            Some(after) => Next::After(after),
            None => Next::Wait,
        };
        if !status::same(&d.status.clone().unwrap_or_default(), &wanted) {
            d.status = Some(wanted);
            self.write_status(d).await?;
        }
        Ok(next)
    }

    /// Write the counts and Available without judging progress (upstream
    /// `syncDeploymentStatus`, after scaling or while paused).
    pub(super) async fn sync_deployment_status(
        &self,
        d: &mut Deployment,
        all: &[&ReplicaSet],
        new_rs: Option<&ReplicaSet>,
    ) -> Result<Next> {
        let wanted = status::calculate(all, new_rs, d, status::now());
        if !status::same(&d.status.clone().unwrap_or_default(), &wanted) {
            d.status = Some(wanted);
            self.write_status(d).await?;
        }
        Ok(Next::Wait)
    }

    /// A Deployment being deleted only gets its status kept current.
    pub(super) async fn sync_status_only(&self, d: &mut Deployment, sets: &mut Vec<ReplicaSet>) -> Result<Next> {
        let (new_rs, old) = self.get_all_and_sync_revision(d, sets, false).await?;
        let all: Vec<&ReplicaSet> = old.iter().chain(new_rs.as_ref()).collect();
        self.sync_deployment_status(d, &all, new_rs.as_ref()).await
    }
}
