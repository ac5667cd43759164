//! The Job controller (upstream's pkg/controller/job): runs a Job's pods to `completions`
//! successes, `parallelism` at a time, until it succeeds or fails (backoffLimit, per-index
//! limits, activeDeadlineSeconds, podFailurePolicy), and reports status.
//!
//! Pods carry the `batch.kubernetes.io/job-tracking` finalizer until the Job has counted
//! them: a finished pod goes to `status.uncountedTerminatedPods`, its finalizer is removed,
//! then it moves to `succeeded`/`failed` ([`tracking`]). Start reading at [`sync`], which
//! decides, and [`manage`], which creates and deletes pods.

mod backoff;
mod conditions;
mod failure_policy;
mod indexes;
mod job_pods;
mod manage;
mod orphans;
mod success_policy;
mod sync;
mod tracking;

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::batch::v1::Job;
use skiff_runtime::{Change, Informer, WorkQueue, key_of, run_workers};

pub use conditions::is_finished;

use crate::cached_pod::CachedPod;
use crate::context::Context;
use crate::expectations::Expectations;
use crate::owner::{CONTROLLER_UID_INDEX, controller_of};

/// Event source, as upstream names it.
const COMPONENT: &str = "job-controller";
/// Jobs synced at once (upstream's --concurrent-job-syncs).
const WORKERS: usize = 5;
/// Pod events and status updates are batched: a Job is synced at most this often for them.
const BATCH: Duration = Duration::from_secs(1);

pub fn start(ctx: &Context) {
    let jobs = ctx.informers.get::<Job>();
    let pods = ctx.informers.get::<CachedPod>();
    crate::owner::index_for_claims(&pods);
    let c = Arc::new(Controller {
        ctx: ctx.clone(),
        jobs: jobs.clone(),
        pods: pods.clone(),
        queue: WorkQueue::new(),
        orphans: WorkQueue::new(),
        expectations: Expectations::default(),
        finalizers: tracking::FinalizerExpectations::default(),
        backoff: backoff::Store::default(),
    });
    let this = c.clone();
    jobs.on_change(move |change| this.job_changed(change));
    let this = c.clone();
    pods.on_change(move |change| this.pod_changed(change));
    let this = c.clone();
    run_workers(COMPONENT, c.queue.clone(), WORKERS, move |key| this.clone().sync(key), ctx.shutdown.clone());
    let this = c.clone();
    run_workers("job-orphans", c.orphans.clone(), 1, move |key| this.clone().sync_orphan(key), ctx.shutdown.clone());
}

struct Controller {
    ctx: Context,
    jobs: Informer<Job>,
    pods: Informer<CachedPod>,
    queue: WorkQueue<String>,
    /// Pods whose tracking finalizer no live Job will remove.
    orphans: WorkQueue<String>,
    expectations: Expectations,
    finalizers: tracking::FinalizerExpectations,
    backoff: backoff::Store,
}

impl Controller {
    fn job_changed(&self, change: &Change<Job>) {
        match change {
            Change::Added(job) => self.queue.add(key_of(&**job)),
            Change::Updated { old, new } => {
                let key = key_of(&**new);
                if old.metadata.generation == new.metadata.generation {
                    self.queue.add_after(key.clone(), BATCH);
                } else {
                    self.queue.add(key.clone());
                }
                // A finished Job's pods must not keep their finalizers (a backstop).
                if is_finished(new) {
                    self.release_finalizers(new);
                }
                let ads = |j: &Job| j.spec.as_ref().and_then(|s| s.active_deadline_seconds);
                let start = new.status.as_ref().and_then(|s| s.start_time.as_ref());
                if let (Some(start), Some(secs)) = (start, ads(new))
                    && ads(old) != Some(secs)
                {
                    let passed = jiff::Timestamp::now().duration_since(start.0);
                    let left = jiff::SignedDuration::from_secs(secs) - passed;
                    self.queue.add_after(key, Duration::try_from(left).unwrap_or(Duration::ZERO));
                }
            }
            Change::Deleted(job) => {
                let key = key_of(&**job);
                self.expectations.forget(&key);
                self.queue.add(key);
                self.release_finalizers(job);
            }
        }
    }

    /// Queue the job's pods that still carry the tracking finalizer for its removal.
    fn release_finalizers(&self, job: &Job) {
        let uid = job.metadata.uid.as_deref().unwrap_or_default();
        for pod in self.pods.by_index(CONTROLLER_UID_INDEX, uid) {
            if job_pods::has_tracking_finalizer(&pod) {
                self.orphans.add(key_of(&*pod));
            }
        }
    }

    /// The key of the Job controlling `pod`, if it is in the cache with that uid.
    fn owner(&self, pod: &CachedPod) -> Option<Arc<Job>> {
        let r = controller_of(&pod.metadata)?;
        if r.kind != "Job" {
            return None;
        }
        let ns = pod.metadata.namespace.as_deref().unwrap_or_default();
        self.jobs.get_named(ns, &r.name).filter(|j| j.metadata.uid.as_deref() == Some(r.uid.as_str()))
    }

    /// Jobs in the pod's namespace whose selector matches it (candidates to adopt it).
    fn matching_jobs(&self, pod: &CachedPod) -> Vec<String> {
        crate::selector::selecting(&self.jobs, &pod.metadata, |j| {
            crate::selector::parse(j.spec.as_ref().and_then(|s| s.selector.as_ref()))
        })
    }

    fn pod_changed(&self, change: &Change<CachedPod>) {
        match change {
            Change::Added(pod) if pod.metadata.deletion_timestamp.is_some() => self.pod_deleted(pod, false),
            Change::Added(pod) => match self.owner(pod) {
                Some(job) => {
                    let key = key_of(&*job);
                    self.expectations.creation_observed(&key);
                    self.queue.add_after(key, BATCH);
                }
                None if controller_of(&pod.metadata).is_none() => {
                    if job_pods::has_tracking_finalizer(pod) {
                        self.orphans.add(key_of(&**pod));
                    }
                    self.matching_jobs(pod).into_iter().for_each(|k| self.queue.add_after(k, BATCH));
                }
                None => {
                    if job_pods::has_tracking_finalizer(pod) {
                        self.orphans.add(key_of(&**pod));
                    }
                }
            },
            Change::Updated { old, new } => self.pod_updated(old, new),
            Change::Deleted(pod) => self.pod_deleted(pod, true),
        }
    }

    fn pod_updated(&self, old: &CachedPod, new: &Arc<CachedPod>) {
        if old.metadata.resource_version == new.metadata.resource_version {
            return;
        }
        if new.metadata.deletion_timestamp.is_some() {
            return self.pod_deleted(new, false);
        }
        let finalizer_gone = !job_pods::has_tracking_finalizer(new);
        let uid = new.metadata.uid.as_deref().unwrap_or_default();
        let ref_changed = controller_of(&old.metadata) != controller_of(&new.metadata);
        if ref_changed && let Some(job) = self.owner(old) {
            let key = key_of(&*job);
            if finalizer_gone {
                self.finalizers.observed(&key, uid);
            }
            self.queue.add_after(key, BATCH);
        }
        if let Some(job) = self.owner(new) {
            let key = key_of(&*job);
            if finalizer_gone {
                self.finalizers.observed(&key, uid);
            }
            self.queue.add_after(key, BATCH);
            return;
        }
        if job_pods::has_tracking_finalizer(new) {
            self.orphans.add(key_of(&**new));
        }
        if controller_of(&new.metadata).is_none() && (ref_changed || old.metadata.labels != new.metadata.labels) {
            self.matching_jobs(new).into_iter().for_each(|k| self.queue.add_after(k, BATCH));
        }
    }

    /// A pod deleted (`gone`) or being deleted.
    fn pod_deleted(&self, pod: &Arc<CachedPod>, gone: bool) {
        let has_finalizer = job_pods::has_tracking_finalizer(pod);
        let job = self.owner(pod);
        let Some(job) = job.filter(|j| !is_finished(j)) else {
            if has_finalizer && !gone {
                self.orphans.add(key_of(&**pod));
            }
            return;
        };
        let key = key_of(&*job);
        let uid = pod.metadata.uid.as_deref().unwrap_or_default();
        self.expectations.deletion_of_observed(&key, uid);
        if gone || !has_finalizer {
            self.finalizers.observed(&key, uid);
        }
        self.queue.add_after(key, BATCH);
    }
}
