//! The ReplicaSet and ReplicationController controller: keep `replicas` matching, owned,
//! active pods; adopt matching orphans and release pods that stop matching; report status.
//!
//! [`mod@self`] wires informers to the queue; [`sync`] does one set's reconcile ([`crate::rank`]
//! orders pods for deletion); [`workload`] hides the two kinds' differences.

mod status;
mod sync;
mod workload;

use std::sync::Arc;

use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::ReplicationController;
use skiff_runtime::{Change, Informer, WorkQueue, key_of, run_workers};

use crate::cached_pod::CachedPod;
use crate::context::Context;
use crate::expectations::Expectations;
use crate::owner::{controller_of, index_for_claims};
use crate::selector;
pub use workload::Replicated;

/// Sets synced at once (upstream's --concurrent-replicaset-syncs).
const WORKERS: usize = 5;

pub fn start_replicasets(ctx: &Context) {
    start::<ReplicaSet>(ctx);
}

pub fn start_replication_controllers(ctx: &Context) {
    start::<ReplicationController>(ctx);
}

struct Controller<R> {
    ctx: Context,
    sets: Informer<R>,
    pods: Informer<CachedPod>,
    queue: WorkQueue<String>,
    expectations: Expectations,
}

fn start<R: Replicated>(ctx: &Context) {
    let sets = ctx.informers.get::<R>();
    let pods = ctx.informers.get::<CachedPod>();
    index_for_claims(&pods);
    let c = Arc::new(Controller {
        ctx: ctx.clone(),
        sets: sets.clone(),
        pods: pods.clone(),
        queue: WorkQueue::new(),
        expectations: Expectations::default(),
    });
    let this = c.clone();
    sets.on_change(move |change| {
        let key = key_of(&**change.object());
        if let Change::Deleted(_) = change {
            this.expectations.forget(&key);
        }
        this.queue.add(key);
    });
    let this = c.clone();
    pods.on_change(move |change| this.pod_changed(change));
    let this = c.clone();
    run_workers(R::COMPONENT, c.queue.clone(), WORKERS, move |key| this.clone().sync(key), ctx.shutdown.clone());
}

impl<R: Replicated> Controller<R> {
    /// The key of the set of kind `R` controlling `pod`, if any.
    fn owner_key(&self, pod: &CachedPod) -> Option<String> {
        let r = controller_of(&pod.metadata)?;
        if r.kind != R::kind(&()) {
            return None;
        }
        let ns = pod.metadata.namespace.as_deref().unwrap_or_default();
        let set = self.sets.get_named(ns, &r.name)?;
        (set.meta().uid.as_deref() == Some(r.uid.as_str())).then(|| key_of(&*set))
    }

    /// Sets in the pod's namespace whose selector matches it (for orphans).
    fn matching_sets(&self, pod: &CachedPod) -> Vec<String> {
        selector::selecting(&self.sets, &pod.metadata, |s| s.selector())
    }

    fn pod_changed(&self, change: &Change<CachedPod>) {
        match change {
            Change::Added(pod) => {
                if let Some(key) = self.owner_key(pod) {
                    if pod.metadata.deletion_timestamp.is_some() {
                        self.expectations.deletion_of_observed(&key, uid(pod));
                    } else {
                        self.expectations.creation_observed(&key);
                    }
                    self.queue.add(key);
                } else if controller_of(&pod.metadata).is_none() {
                    self.matching_sets(pod).into_iter().for_each(|k| self.queue.add(k));
                }
            }
            Change::Updated { old, new } => {
                let (old_owner, new_owner) = (self.owner_key(old), self.owner_key(new));
                if let Some(key) = &new_owner
                    && new.metadata.deletion_timestamp.is_some()
                {
                    self.expectations.deletion_of_observed(key, uid(new));
                }
                if old_owner != new_owner
                    && let Some(k) = old_owner
                {
                    self.queue.add(k);
                }
                match new_owner {
                    Some(k) => self.queue.add(k),
                    None if controller_of(&new.metadata).is_none() => {
                        self.matching_sets(new).into_iter().for_each(|k| self.queue.add(k));
                    }
                    None => {}
                }
            }
            Change::Deleted(pod) => {
                if let Some(key) = self.owner_key(pod) {
                    self.expectations.deletion_of_observed(&key, uid(pod));
                    self.queue.add(key);
                }
            }
        }
    }
}

fn uid(pod: &CachedPod) -> &str {
    pod.metadata.uid.as_deref().unwrap_or_default()
}
