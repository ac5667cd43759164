//! The StatefulSet controller (upstream's `pkg/controller/statefulset`): pods with stable
//! names `<set>-<ordinal>`, made in order and removed in reverse order, each with its own
//! claims; template changes roll out from the highest ordinal down to the partition, tracked
//! by ControllerRevisions.
//!
//! Start at [`start`] (handlers and workers) and [`sync`]; the decisions are in [`control`],
//! the pod identity in [`identity`], revisions in [`revisions`], claims in [`claims`], and
//! the status in [`status`].

pub mod claims;
pub mod control;
pub mod identity;
pub mod revisions;
pub mod status;

use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::api::apps::v1::{ControllerRevision, StatefulSet};
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Pod};
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams, Preconditions};
use skiff_runtime::{Change, Informer, Next, WorkQueue, key_of, run_workers};

use crate::cached_pod::CachedPod;
use crate::context::Context;
use crate::error::{Error, Result, ignore_not_found};
use crate::owner::{self, CONTROLLER_UID_INDEX};
use crate::pods::api_message;
use crate::selector;
use claims::COMPONENT;
use control::Step;

const WORKERS: usize = 5;
/// How soon to look again when a claim of an earlier pod is still on its way out.
const STALE_CLAIM_RETRY: Duration = Duration::from_secs(1);

struct Controller {
    ctx: Context,
    sets: Informer<StatefulSet>,
    pods: Informer<CachedPod>,
    revisions: Informer<ControllerRevision>,
    claims: Informer<PersistentVolumeClaim>,
}

/// Register the handlers and start the workers.
pub fn start(ctx: &Context) {
    let c = Arc::new(Controller {
        ctx: ctx.clone(),
        sets: ctx.informers.get(),
        pods: ctx.informers.get(),
        revisions: ctx.informers.get(),
        claims: ctx.informers.get(),
    });
    c.pods.add_index(CONTROLLER_UID_INDEX, |p: &CachedPod| owner::controller_uid(&p.metadata));
    let queue: WorkQueue<String> = WorkQueue::new();

    let q = queue.clone();
    c.sets.on_change(move |change| q.add(key_of(&**change.object())));

    let (q, this) = (queue.clone(), c.clone());
    c.pods.on_change(move |change| {
        let pods = match change {
            Change::Updated { old, new } => vec![old.clone(), new.clone()],
            other => vec![other.object().clone()],
        };
        for pod in pods {
            for key in this.sets_of(&pod) {
                q.add(key);
            }
        }
    });

    let this = c.clone();
    run_workers(
        "statefulset",
        queue,
        WORKERS,
        move |key: String| {
            let this = this.clone();
            async move { this.sync(&key).await }
        },
        ctx.shutdown.clone(),
    );
}

impl Controller {
    /// The keys of the sets a pod belongs to: its controller, or for an orphan every set
    /// whose selector matches (one of them may adopt it).
    fn sets_of(&self, pod: &CachedPod) -> Vec<String> {
        let namespace = pod.metadata.namespace.as_deref().unwrap_or_default();
        if let Some(r) = owner::controller_of(&pod.metadata) {
            let owned = r.kind == "StatefulSet"
                && self.sets.get_named(namespace, &r.name).is_some_and(|s| s.metadata.uid.as_deref() == Some(&r.uid));
            return if owned { vec![format!("{namespace}/{}", r.name)] } else { Vec::new() };
        }
        selector::selecting(&self.sets, &pod.metadata, |s| selector::parse(s.spec.as_ref().map(|s| &s.selector)))
    }

    async fn sync(&self, key: &str) -> Result<Next> {
        // Deciding on a partial cache would create pods that exist already.
        self.pods.synced().await;
        self.revisions.synced().await;
        self.claims.synced().await;
        let Some(set) = self.sets.get(key) else { return Ok(Next::Wait) };
        let sel = match selector::parse(set.spec.as_ref().map(|s| &s.selector)) {
            Ok(s) => s,
            // A bad selector will not get better by retrying.
            Err(e) => {
                tracing::info!(statefulset = key, error = %e, "ignoring a StatefulSet with an invalid selector");
                return Ok(Next::Wait);
            }
        };
        let revisions = revisions::list(&self.ctx, &set).await?;
        let pods = self.claim_pods(&set, &sel).await?;
        let (current, update, collision_count) = revisions::current_and_update(&self.ctx, &set, &revisions).await?;
        let current_set = revisions::apply(&set, &current)?;
        let update_set = revisions::apply(&set, &update)?;
        let current_name = current.metadata.name.clone().unwrap_or_default();
        let update_name = update.metadata.name.clone().unwrap_or_default();
        let rev = control::Revisions {
            current_set: &current_set,
            update_set: &update_set,
            current: &current_name,
            update: &update_name,
        };
        let now = Timestamp::now();
        let steps = control::plan(&set, &pods, &rev, now);
        let outcome = self.execute(&set, &update_set, steps).await;

        let counts = control::counts(&set, &pods, &current_name, &update_name, now);
        let written = status::write(&self.ctx, &set, &counts, &current_name, &update_name, collision_count).await;
        let live = [current_name.as_str(), update_name.as_str()];
        let truncated = revisions::truncate(&self.ctx, &set, &pods, &revisions, &live).await;
        let next = outcome?;
        written?;
        truncated?;
        // Pods turn available on their own after minReadySeconds: look again then.
        let min_ready = set.spec.as_ref().and_then(|s| s.min_ready_seconds).unwrap_or(0);
        if min_ready > 0 && counts.available != identity::replicas(&set) && next == Next::Wait {
            return Ok(Next::After(Duration::from_secs(min_ready as u64)));
        }
        Ok(next)
    }

    /// The set's pods: those it controls that still match (others are released), and orphans
    /// it adopts. Only pods named `<set>-<ordinal>` belong to a StatefulSet.
    async fn claim_pods(
        &self,
        set: &StatefulSet,
        sel: &skiff_api::selector::label::LabelSelector,
    ) -> Result<Vec<Arc<CachedPod>>> {
        let namespace = set.metadata.namespace.as_deref().unwrap_or_default();
        let uid = set.metadata.uid.as_deref().unwrap_or_default();
        let api: Api<CachedPod> = Api::namespaced(self.ctx.client.clone(), namespace);
        let deleting = set.metadata.deletion_timestamp.is_some();
        let mut out = Vec::new();
        for pod in self.pods.list_namespace(namespace) {
            let wanted = identity::is_member(set, &pod) && selector::matches(sel, pod.metadata.labels.as_ref());
            let name = pod.metadata.name.as_deref().unwrap_or_default();
            let pod_uid = pod.metadata.uid.as_deref().unwrap_or_default();
            match owner::controller_of(&pod.metadata) {
                Some(r) if r.uid == uid => {
                    if wanted {
                        out.push(pod);
                    } else if !deleting {
                        let patch = Patch::Strategic(owner::release_patch(uid, pod_uid));
                        ignore_not_found(api.patch(name, &PatchParams::default(), &patch).await)?;
                    }
                }
                None if wanted && !deleting && pod.metadata.deletion_timestamp.is_none() => {
                    let patch = Patch::Strategic(owner::adopt_patch(&owner::controller_ref(set), pod_uid));
                    if let Some(p) = ignore_not_found(api.patch(name, &PatchParams::default(), &patch).await)? {
                        out.push(Arc::new(p));
                    }
                }
                _ => {}
            }
        }
        Ok(out)
    }

    /// Carry out the steps in order, stopping at the first error.
    async fn execute(&self, set: &StatefulSet, update_set: &StatefulSet, steps: Vec<Step>) -> Result<Next> {
        for step in steps {
            match step {
                Step::Create(pod) => {
                    if claims::any_stale(&self.ctx, set, &pod.metadata) {
                        return Ok(Next::After(STALE_CLAIM_RETRY));
                    }
                    self.create(set, &pod).await?;
                }
                Step::Recreate { pod, failed } => {
                    let (ns, name) = (set.metadata.namespace.as_deref().unwrap_or_default(), identity::set_name(set));
                    let pod_name = pod.metadata.name.as_deref().unwrap_or_default();
                    let (reason, what) = if failed {
                        ("RecreatingFailedPod", "failed")
                    } else {
                        ("RecreatingTerminatedPod", "terminated")
                    };
                    let note = format!("StatefulSet {ns}/{name} is recreating {what} Pod {pod_name}");
                    self.ctx.event(COMPONENT, set, failed, reason, &note);
                    self.delete(set, &pod).await?;
                }
                Step::CreateMissingClaims(pod) => claims::create_missing(&self.ctx, set, &pod.metadata).await?,
                Step::FixIdentity(pod) => self.update_identity(set, &pod).await?,
                Step::SyncClaims(pod) => claims::sync_owners(&self.ctx, update_set, &pod.metadata).await?,
                Step::ScaleDown(pod) | Step::Update(pod) => self.delete(set, &pod).await?,
            }
        }
        Ok(Next::Wait)
    }

    /// Create the pod's claims, then the pod, with upstream's events.
    async fn create(&self, set: &StatefulSet, pod: &Pod) -> Result<()> {
        let pod_name = pod.metadata.name.as_deref().unwrap_or_default();
        let set_name = identity::set_name(set);
        let failed = |e: &str| {
            let note = format!("create Pod {pod_name} in StatefulSet {set_name} failed error: {e}");
            self.ctx.event(COMPONENT, set, true, "FailedCreate", &note);
        };
        if let Err(e) = claims::create_missing(&self.ctx, set, &pod.metadata).await {
            failed(&e.to_string());
            return Err(e);
        }
        let api: Api<Pod> =
            Api::namespaced(self.ctx.client.clone(), set.metadata.namespace.as_deref().unwrap_or_default());
        match api.create(&PostParams::default(), pod).await {
            Ok(created) => {
                let note = format!("create Pod {pod_name} in StatefulSet {set_name} successful");
                self.ctx.event(COMPONENT, set, false, "SuccessfulCreate", &note);
                claims::sync_owners(&self.ctx, set, &created.metadata).await
            }
            // The cache is behind: the pod is there, the next sync sees it.
            Err(kube::Error::Api(s)) if s.code == 409 => Err(Error::Api(kube::Error::Api(s))),
            Err(e) => {
                failed(&api_message(&e));
                Err(e.into())
            }
        }
    }

    async fn delete(&self, set: &StatefulSet, pod: &CachedPod) -> Result<()> {
        let pod_name = pod.metadata.name.as_deref().unwrap_or_default();
        let set_name = identity::set_name(set);
        let api: Api<Pod> =
            Api::namespaced(self.ctx.client.clone(), set.metadata.namespace.as_deref().unwrap_or_default());
        let params = DeleteParams {
            preconditions: Some(Preconditions { uid: pod.metadata.uid.clone(), resource_version: None }),
            ..Default::default()
        };
        match ignore_not_found(api.delete(pod_name, &params).await) {
            Ok(_) => {
                let note = format!("delete Pod {pod_name} in StatefulSet {set_name} successful");
                self.ctx.event(COMPONENT, set, false, "SuccessfulDelete", &note);
                Ok(())
            }
            Err(e) => {
                let note = format!("delete Pod {pod_name} in StatefulSet {set_name} failed error: {e}");
                self.ctx.event(COMPONENT, set, true, "FailedDelete", &note);
                Err(e)
            }
        }
    }

    async fn update_identity(&self, set: &StatefulSet, pod: &CachedPod) -> Result<()> {
        let pod_name = pod.metadata.name.as_deref().unwrap_or_default();
        let set_name = identity::set_name(set);
        let api: Api<Pod> =
            Api::namespaced(self.ctx.client.clone(), set.metadata.namespace.as_deref().unwrap_or_default());
        let patch = Patch::Merge(identity::identity_patch(set, pod));
        match api.patch(pod_name, &PatchParams::default(), &patch).await {
            Ok(_) => {
                let note = format!("update Pod {pod_name} in StatefulSet {set_name} successful");
                self.ctx.event(COMPONENT, set, false, "SuccessfulUpdate", &note);
                Ok(())
            }
            Err(e) => {
                let note = format!("update Pod {pod_name} in StatefulSet {set_name} failed error: {}", api_message(&e));
                self.ctx.event(COMPONENT, set, true, "FailedUpdate", &note);
                Err(e.into())
            }
        }
    }
}
