//! Creating and deleting a Job's pods (upstream's manageJob): `min(parallelism, remaining
//! completions)` active, none while suspended, replacements only after the failure
//! back-off, and for Indexed Jobs one pod per pending index.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use futures::future::join_all;
use jiff::Timestamp;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;

use super::indexes::{self, Intervals};
use super::job_pods::{self, only_replace_failed};
use super::sync::State;
use super::{BATCH, COMPONENT, Controller, backoff};
use crate::cached_pod::CachedPod;
use crate::error::{Error, Result};
use crate::pods;

/// Most pods created or deleted in one sync.
const MAX_PER_SYNC: usize = 500;

impl Controller {
    /// Create or delete pods; the number active afterwards, and the first error.
    pub(super) async fn manage(&self, key: &str, s: &mut State) -> (i32, Result<()>) {
        let mut active = s.active.len() as i32;
        let spec = s.job.spec.clone().unwrap_or_default();
        if s.suspended() {
            let victims = job_pods::for_removal(&s.job, &s.active, s.active.len());
            let (ready, removed, result) = self.delete_job_pods(key, &s.job, &victims).await;
            s.terminating += removed;
            s.ready -= ready;
            return (active - removed, result);
        }
        let parallelism = spec.parallelism.unwrap_or(1);
        let want = match spec.completions {
            None if s.succeeded > 0 => active,
            None => parallelism,
            Some(n) => (n - s.succeeded).clamp(0, parallelism),
        };
        let at_least = (active - want).max(0) as usize;
        let mut victims = job_pods::for_removal(&s.job, &s.active, at_least);
        victims.truncate(MAX_PER_SYNC);
        if !victims.is_empty() {
            // Deleting and creating in one sync would fight; deletion goes first.
            let (ready, removed, result) = self.delete_job_pods(key, &s.job, &victims).await;
            s.terminating += removed;
            s.ready -= ready;
            return (active - removed, result);
        }
        let terminating = if only_replace_failed(&s.job) { s.terminating } else { 0 };
        let diff = want - terminating - active;
        if diff <= 0 {
            return (active, Ok(()));
        }
        let now = Timestamp::now();
        if s.per_index().is_none() {
            let wait = backoff::remaining(s.backoff.failures_after_last_success, s.backoff.last_failure, now);
            if !wait.is_zero() {
                s.requeue_after(wait.max(BATCH));
                return (active, Ok(()));
            }
        }
        let mut count = (diff as usize).min(MAX_PER_SYNC);
        let mut to_create: Vec<Option<i32>> = vec![None; count];
        if indexes::is_indexed(&s.job) {
            let mut wanted = indexes::first_pending(&taken_indexes(s), count, s.completions());
            if s.per_index().is_some() {
                let (ready_now, wait) = per_index_ready(s, &wanted, now);
                if ready_now.is_empty() {
                    if let Some(w) = wait {
                        s.requeue_after(w.max(BATCH));
                    }
                    return (active, Ok(()));
                }
                wanted = ready_now;
            }
            count = wanted.len();
            to_create = wanted.into_iter().map(Some).collect();
        }
        let created = self.create_pods(key, s, &to_create).await;
        let failed = count - created.0;
        active += (count - failed) as i32;
        (active, created.1)
    }

    /// Create one pod per entry (its completion index, if any) in batches of 1, 2, 4, …
    /// so that pods that cannot be created fail after one call; how many were created.
    async fn create_pods(&self, key: &str, s: &State, to_create: &[Option<i32>]) -> (usize, Result<()>) {
        self.expectations.expect(key, to_create.len() as i64, 0);
        let mut done = 0;
        let mut created = 0;
        let mut batch = 1;
        while done < to_create.len() {
            let chunk = &to_create[done..(done + batch).min(to_create.len())];
            let pods: Vec<Pod> = chunk
                .iter()
                .map(|ix| job_pods::new_pod(&s.job, *ix, ix.and_then(|i| s.delayed_deletion.get(&i)).map(|p| &**p)))
                .collect();
            let results = join_all(pods.iter().map(|p| pods::create(&self.ctx, COMPONENT, &s.job, p))).await;
            done += chunk.len();
            let failed = results.iter().filter(|r| r.is_err()).count();
            created += chunk.len() - failed;
            if failed > 0 {
                // Neither the failed nor the untried creations will be observed.
                for _ in 0..failed + (to_create.len() - done) {
                    self.expectations.creation_observed(key);
                }
                let err = results.into_iter().find_map(|r| r.err()).expect("a failed create");
                return (created, Err(err));
            }
            batch *= 2;
        }
        (created, Ok(()))
    }

    /// Remove the tracking finalizer, then delete (suspension, too many pods): such pods are
    /// not counted as failures. Ready pods deleted, pods deleted, first error.
    async fn delete_job_pods(&self, key: &str, job: &Job, victims: &[Arc<CachedPod>]) -> (i32, i32, Result<()>) {
        self.expectations.expect_deletions(key, victims.iter().map(|p| p.metadata.uid.clone().unwrap_or_default()));
        let results = join_all(victims.iter().map(|p| async move {
            if job_pods::has_tracking_finalizer(p) {
                self.remove_finalizer_of(p).await?;
            }
            pods::delete(&self.ctx, COMPONENT, job, p).await
        }))
        .await;
        self.tally(key, victims, results)
    }

    /// Delete the active pods of a Job whose outcome is decided, keeping their finalizers so
    /// they are counted as they go.
    pub(super) async fn delete_active(&self, job: &Job, active: &[Arc<CachedPod>]) -> (i32, i32, Result<()>) {
        let results = join_all(active.iter().map(|p| pods::delete(&self.ctx, COMPONENT, job, p))).await;
        self.tally("", active, results)
    }

    fn tally(&self, key: &str, pods: &[Arc<CachedPod>], results: Vec<Result<()>>) -> (i32, i32, Result<()>) {
        let (mut ready, mut deleted, mut first_error) = (0, 0, None);
        for (pod, r) in pods.iter().zip(results) {
            match r {
                Ok(()) => deleted += 1,
                Err(e) => {
                    if !key.is_empty() {
                        self.expectations.deletion_of_observed(key, pod.metadata.uid.as_deref().unwrap_or_default());
                    }
                    first_error.get_or_insert(e);
                }
            }
            if pods::is_ready(pod) {
                ready += 1;
            }
        }
        (ready, deleted, first_error.map_or(Ok(()), Err::<(), Error>))
    }

    async fn remove_finalizer_of(&self, pod: &CachedPod) -> Result<()> {
        let ns = pod.metadata.namespace.as_deref().unwrap_or("default");
        let name = pod.metadata.name.as_deref().unwrap_or_default();
        let api: kube::Api<Pod> = kube::Api::namespaced(self.ctx.client.clone(), ns);
        let patch = super::orphans::remove_finalizer_patch();
        match api.patch(name, &kube::api::PatchParams::default(), &patch).await {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}

/// Indexes not to start again: succeeded, active, failed, and (when only Failed pods are
/// replaced) terminating.
fn taken_indexes(s: &State) -> Intervals {
    let mut ix: BTreeSet<i32> = s.active.iter().filter_map(|p| indexes::completion_index(p)).collect();
    if only_replace_failed(&s.job) {
        ix.extend(s.pods.iter().filter(|p| job_pods::is_terminating(p)).filter_map(|p| indexes::completion_index(p)));
    }
    let list: Vec<i32> = ix.into_iter().collect();
    let mut taken = s.succeeded_indexes.with_indexes(&list);
    if let Some(f) = &s.failed_indexes {
        taken = taken.merge(f);
    }
    taken
}

/// Of `wanted`, the indexes whose own back-off has passed; else the shortest wait.
fn per_index_ready(s: &State, wanted: &[i32], now: Timestamp) -> (Vec<i32>, Option<Duration>) {
    let mut ready = Vec::new();
    let mut wait: Option<Duration> = None;
    for &ix in wanted {
        let left = match s.delayed_deletion.get(&ix) {
            None => Duration::ZERO,
            Some(last) => {
                let failures = indexes::count_annotation(last, indexes::INDEX_FAILURE_COUNT)
                    + indexes::count_annotation(last, indexes::INDEX_IGNORED_FAILURE_COUNT)
                    + 1;
                backoff::remaining(failures, Some(backoff::finished_at(last)), now)
            }
        };
        if left.is_zero() {
            ready.push(ix);
        } else {
            wait = Some(wait.map_or(left, |w| w.min(left)));
        }
    }
    (ready, wait)
}
