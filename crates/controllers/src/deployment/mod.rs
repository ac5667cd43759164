//! The Deployment controller: rolls a Deployment's pod template out through ReplicaSets it
//! owns (one per template, named `<deployment>-<pod-template-hash>`), by RollingUpdate or
//! Recreate, keeps their revisions for `kubectl rollout history`/`undo`, scales them
//! proportionally when the Deployment is resized mid-rollout, and reports the status and
//! conditions `kubectl rollout status` reads. It writes Deployments' status and
//! ReplicaSets only; the ReplicaSet controller makes the pods.
//!
//! Start at `Controller::sync` (upstream `syncDeployment`) below. Then: `claim`
//! (adopting and releasing sets), `new_rs` (finding or creating the set of the current
//! template, revisions), `rolling` and `recreate` (the strategies), `scale`
//! (proportional scaling, used while paused too), `progress` (status writes) over the
//! pure `status`, `history` (revisionHistoryLimit), and the pure helpers `strategy`,
//! `annotations`, `template`.

mod annotations;
mod claim;
mod history;
mod new_rs;
mod progress;
mod recreate;
mod rolling;
mod scale;
mod status;
mod strategy;
mod template;

use std::sync::Arc;

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use skiff_runtime::{Change, Informer, Next, WorkQueue, key_of, run_workers};

use crate::cached_pod::CachedPod;
use crate::context::Context;
use crate::error::{Error, Result};
use crate::owner::{CONTROLLER_UID_INDEX, controller_of, controller_uid};
use crate::{pods, selector};

/// The component name on events, as upstream's.
const COMPONENT: &str = "deployment-controller";
/// Deployments synced at once (upstream's --concurrent-deployment-syncs).
const WORKERS: usize = 5;

pub fn start(ctx: &Context) {
    let deployments = ctx.informers.get::<Deployment>();
    let sets = ctx.informers.get::<ReplicaSet>();
    let pods = ctx.informers.get::<CachedPod>();
    crate::owner::index_for_claims(&sets);
    pods.add_index(CONTROLLER_UID_INDEX, |p: &CachedPod| controller_uid(&p.metadata));
    let c = Arc::new(Controller { ctx: ctx.clone(), deployments, sets, pods, queue: WorkQueue::new() });
    let this = c.clone();
    c.deployments.on_change(move |change| this.queue.add(key_of(&**change.object())));
    let this = c.clone();
    c.sets.on_change(move |change| this.set_changed(change));
    let this = c.clone();
    c.pods.on_change(move |change| this.pod_changed(change));
    let this = c.clone();
    run_workers("deployment", c.queue.clone(), WORKERS, move |key| this.clone().sync(key), ctx.shutdown.clone());
}

struct Controller {
    ctx: Context,
    deployments: Informer<Deployment>,
    sets: Informer<ReplicaSet>,
    pods: Informer<CachedPod>,
    queue: WorkQueue<String>,
}

impl Controller {
    /// One Deployment's reconcile (upstream `syncDeployment`).
    async fn sync(self: Arc<Self>, key: String) -> Result<Next> {
        // A sync before every cache is loaded would miss sets and create a new one.
        self.deployments.synced().await;
        self.sets.synced().await;
        self.pods.synced().await;
        let Some(cached) = self.deployments.get(&key) else { return Ok(Next::Wait) };
        let mut d = (*cached).clone();
        let spec_selector = d.spec.as_ref().map(|s| &s.selector);
        if spec_selector.is_none_or(|s| {
            s.match_labels.as_ref().is_none_or(|l| l.is_empty())
                && s.match_expressions.as_ref().is_none_or(|e| e.is_empty())
        }) {
            self.ctx.event(
                COMPONENT,
                &d,
                true,
                "SelectingAll",
                "This deployment is selecting all pods. A non-empty selector is required.",
            );
            self.observe_generation(&mut d).await?;
            return Ok(Next::Wait);
        }
        let sel = match selector::parse(spec_selector) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(key, error = %e, "not syncing a deployment with a bad selector");
                return Ok(Next::Wait);
            }
        };
        let mut sets = self.claim(&d, &sel).await?;
        if d.metadata.deletion_timestamp.is_some() {
            return self.sync_status_only(&mut d, &mut sets).await;
        }
        self.check_paused_conditions(&mut d).await?;
        if strategy::is_paused(&d) || self.is_scaling_event(&mut d, &mut sets).await? {
            return self.sync_scale(&mut d, &mut sets).await;
        }
        match strategy::strategy_type(&d) {
            strategy::RECREATE => self.rollout_recreate(&mut d, &mut sets).await,
            strategy::ROLLING_UPDATE => self.rollout_rolling(&mut d, &mut sets).await,
            other => Err(Error::Invalid(format!("deployment strategy {other:?} isn't supported"))),
        }
    }

    /// The key of the Deployment controlling `rs`, if it is cached.
    fn owner_key(&self, rs: &ReplicaSet) -> Option<String> {
        let r = controller_of(&rs.metadata)?;
        if r.kind != "Deployment" {
            return None;
        }
        let ns = rs.metadata.namespace.as_deref().unwrap_or_default();
        let d = self.deployments.get_named(ns, &r.name)?;
        (d.metadata.uid.as_deref() == Some(r.uid.as_str())).then(|| key_of(&*d))
    }

    /// Deployments in the set's namespace whose selector matches it (for orphans).
    fn matching_deployments(&self, rs: &ReplicaSet) -> Vec<String> {
        selector::selecting(&self.deployments, &rs.metadata, |d| selector::parse(d.spec.as_ref().map(|s| &s.selector)))
    }

    fn set_changed(&self, change: &Change<ReplicaSet>) {
        match change {
            Change::Added(rs) => match self.owner_key(rs) {
                Some(key) => self.queue.add(key),
                None if controller_of(&rs.metadata).is_none() => {
                    self.matching_deployments(rs).into_iter().for_each(|k| self.queue.add(k))
                }
                None => {}
            },
            Change::Updated { old, new } => {
                if old.metadata.resource_version == new.metadata.resource_version {
                    return;
                }
                let (old_owner, new_owner) = (self.owner_key(old), self.owner_key(new));
                if old_owner != new_owner
                    && let Some(k) = old_owner
                {
                    self.queue.add(k);
                }
                match new_owner {
                    Some(k) => self.queue.add(k),
                    None if controller_of(&new.metadata).is_none()
                        && (old.metadata.labels != new.metadata.labels || controller_of(&old.metadata).is_some()) =>
                    {
                        self.matching_deployments(new).into_iter().for_each(|k| self.queue.add(k))
                    }
                    None => {}
                }
            }
            Change::Deleted(rs) => {
                if let Some(key) = self.owner_key(rs) {
                    self.queue.add(key);
                }
            }
        }
    }

    /// Recreate waits for the old pods to be gone: a pod of one of its sets disappearing
    /// (or finishing) may let it go on.
    fn pod_changed(&self, change: &Change<CachedPod>) {
        let pod = match change {
            Change::Deleted(p) => p,
            Change::Updated { old, new } if !pods::is_finished(old) && pods::is_finished(new) => new,
            _ => return,
        };
        let Some(r) = controller_of(&pod.metadata).filter(|r| r.kind == "ReplicaSet") else { return };
        let ns = pod.metadata.namespace.as_deref().unwrap_or_default();
        let Some(rs) = self.sets.get_named(ns, &r.name).filter(|rs| rs.metadata.uid.as_deref() == Some(r.uid.as_str()))
        else {
            return;
        };
        if let Some(key) = self.owner_key(&rs)
            && self.deployments.get(&key).is_some_and(|d| strategy::strategy_type(&d) == strategy::RECREATE)
        {
            self.queue.add(key);
        }
    }
}

fn name_of<K: kube::Resource>(obj: &K) -> &str {
    obj.meta().name.as_deref().unwrap_or_default()
}

fn namespace_of<K: kube::Resource>(obj: &K) -> &str {
    obj.meta().namespace.as_deref().unwrap_or("default")
}
