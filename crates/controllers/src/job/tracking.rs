//! Counting finished pods exactly once (upstream's trackJobStatusAndRemoveFinalizers): a
//! finished pod's uid is first written to `status.uncountedTerminatedPods` (or, for Indexed
//! Jobs, its index to `completedIndexes`), then its finalizer is removed, then it moves from
//! the uncounted list to `succeeded`/`failed`. Finalizer removals not yet seen by the
//! informer are remembered so a stale cache does not count a pod twice. The terminal
//! condition is written once nothing is uncounted and no pod is terminating.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use futures::future::join_all;
use jiff::Timestamp;
use k8s_openapi::api::batch::v1::{Job, JobStatus};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, PatchParams, PostParams};

use super::conditions::{self, COMPLETE, FAILED, FAILURE_TARGET, SUCCESS_CRITERIA_MET};
use super::indexes::{self, completion_index};
use super::job_pods::{has_tracking_finalizer, is_failed};
use super::orphans::remove_finalizer_patch;
use super::sync::State;
use super::{COMPONENT, Controller, failure_policy};
use crate::cached_pod::CachedPod;
use crate::error::{Error, Result};
use crate::pods;

/// Most pods in the uncounted lists at once (keeps the status small, bounds one sync).
const MAX_UNCOUNTED: usize = 500;

/// Per Job, the uids of pods whose finalizer removal was sent but not yet observed.
#[derive(Default)]
pub struct FinalizerExpectations {
    by_key: Mutex<HashMap<String, HashSet<String>>>,
}

impl FinalizerExpectations {
    pub fn expect(&self, key: &str, uids: impl IntoIterator<Item = String>) {
        self.lock().entry(key.to_string()).or_default().extend(uids);
    }

    pub fn observed(&self, key: &str, uid: &str) {
        let mut m = self.lock();
        if let Some(set) = m.get_mut(key) {
            set.remove(uid);
            if set.is_empty() {
                m.remove(key);
            }
        }
    }

    pub fn expected(&self, key: &str) -> HashSet<String> {
        self.lock().get(key).cloned().unwrap_or_default()
    }

    pub fn forget(&self, key: &str) {
        self.lock().remove(key);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, HashSet<String>>> {
        self.by_key.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn uid(pod: &CachedPod) -> String {
    pod.metadata.uid.clone().unwrap_or_default()
}

impl Controller {
    /// Count finished pods, remove their finalizers, and write the status (and the
    /// terminal condition once it is due).
    pub(super) async fn track(&self, key: &str, s: &mut State, mut needs_flush: bool) -> Result<()> {
        let indexed = indexes::is_indexed(&s.job);
        let completions = s.completions();
        if indexed {
            s.pods.sort_by_key(|p| completion_index(p).unwrap_or(-1));
        }
        let mut with_finalizer: HashSet<String> = s
            .pods
            .iter()
            .filter(|p| has_tracking_finalizer(p) && !s.expected_rm.contains(&uid(p)))
            .map(|p| uid(p))
            .collect();
        if clean_uncounted(s.status_mut(), &with_finalizer) {
            needs_flush = true;
        }
        let policy = s.job.spec.as_ref().and_then(|sp| sp.pod_failure_policy.clone());
        let mut to_remove: Vec<Arc<CachedPod>> = Vec::new();
        let mut new_indexes: Vec<i32> = Vec::new();
        let mut reached_max = false;
        let pods = s.pods.clone();
        for pod in &pods {
            let pod_uid = uid(pod);
            if !has_tracking_finalizer(pod) || s.expected_rm.contains(&pod_uid) {
                continue;
            }
            let failed = is_failed(pod, &s.job);
            if !s.can_remove_finalizer(pod, failed) {
                continue;
            }
            to_remove.push(pod.clone());
            let job_failing = s.finished.as_ref().is_some_and(|c| c.type_ != SUCCESS_CRITERIA_MET);
            if pods::phase(pod) == "Succeeded" && !s.uncounted_failed.contains(&pod_uid) {
                if indexed {
                    if let Some(ix) = indexes::valid_index(pod, completions)
                        && !s.prev_succeeded_indexes.has(ix)
                    {
                        new_indexes.push(ix);
                        needs_flush = true;
                    }
                } else if !s.uncounted_succeeded.contains(&pod_uid) {
                    uncounted(s.status_mut()).succeeded.get_or_insert_with(Vec::new).push(pod_uid.clone());
                    needs_flush = true;
                }
            } else if failed || job_failing {
                // Once the Job is failing, every pod not yet finished counts as failed.
                let valid = !indexed || indexes::valid_index(pod, completions).is_some();
                if !s.uncounted_failed.contains(&pod_uid)
                    && valid
                    && failure_policy::evaluate(policy.as_ref(), pod).counts
                {
                    uncounted(s.status_mut()).failed.get_or_insert_with(Vec::new).push(pod_uid.clone());
                    needs_flush = true;
                }
            }
            let u = uncounted(s.status_mut());
            let listed = u.succeeded.as_ref().map_or(0, Vec::len) + u.failed.as_ref().map_or(0, Vec::len);
            if new_indexes.len() + listed >= MAX_UNCOUNTED {
                // The status update re-queues the Job for the rest.
                reached_max = true;
                break;
            }
        }
        if indexed {
            new_indexes.sort_unstable();
            new_indexes.dedup();
            s.succeeded_indexes = s.succeeded_indexes.with_indexes(&new_indexes);
            let done = s.succeeded_indexes.to_string();
            let total = s.succeeded_indexes.total();
            let failed = s.failed_indexes.as_ref().map(ToString::to_string);
            let st = s.status_mut();
            if st.completed_indexes.as_deref().unwrap_or_default() != done {
                needs_flush = true;
            }
            if st.failed_indexes != failed {
                needs_flush = true;
            }
            st.succeeded = Some(total);
            st.completed_indexes = Some(done);
            st.failed_indexes = failed;
        }
        // Interim conditions are written before finalizers go, so the outcome survives.
        if let Some(c) = s.finished.clone() {
            let now = Timestamp::now();
            if c.type_ == FAILURE_TARGET {
                s.status_mut().conditions.get_or_insert_with(Vec::new).push(c.clone());
                needs_flush = true;
                s.finished = Some(conditions::new(FAILED, r(&c.reason), r(&c.message), now));
            } else if c.type_ == SUCCESS_CRITERIA_MET {
                if conditions::find_true(&s.job, SUCCESS_CRITERIA_MET).is_none() {
                    s.status_mut().conditions.get_or_insert_with(Vec::new).push(c.clone());
                    needs_flush = true;
                }
                s.finished = Some(conditions::new(COMPLETE, r(&c.reason), r(&c.message), now));
            }
        }
        let flushed = self.flush_and_remove_finalizers(key, s, &to_remove, &mut with_finalizer, needs_flush).await;
        needs_flush = flushed?;
        let finished = !reached_max && s.enact_finished();
        if finished || needs_flush {
            s.job = self.write_status(&s.job).await?;
            if finished {
                self.record_finished(s);
            }
        }
        Ok(())
    }

    /// Write pending status, remove finalizers, then move the pods whose finalizer is gone
    /// from the uncounted lists to the counters. Whether status is left to write.
    async fn flush_and_remove_finalizers(
        &self,
        key: &str,
        s: &mut State,
        to_remove: &[Arc<CachedPod>],
        with_finalizer: &mut HashSet<String>,
        mut needs_flush: bool,
    ) -> Result<bool> {
        if needs_flush {
            s.job = self.write_status(&s.job).await?;
            self.backoff.save(key, s.backoff.clone());
            needs_flush = false;
        }
        let mut rm_error: Option<Error> = None;
        if !to_remove.is_empty() {
            self.finalizers.expect(key, to_remove.iter().map(|p| uid(p)));
            let results = join_all(to_remove.iter().map(|p| self.remove_finalizer(p))).await;
            for (pod, r) in to_remove.iter().zip(results) {
                match r {
                    Ok(()) => {
                        with_finalizer.remove(&uid(pod));
                    }
                    Err(e) => {
                        self.finalizers.observed(key, &uid(pod));
                        rm_error.get_or_insert(e);
                    }
                }
            }
        }
        if clean_uncounted(s.status_mut(), with_finalizer) {
            needs_flush = true;
        }
        if let Some(e) = rm_error {
            if needs_flush {
                s.job = self.write_status(&s.job).await?;
            }
            return Err(e);
        }
        Ok(needs_flush)
    }

    async fn remove_finalizer(&self, pod: &CachedPod) -> Result<()> {
        let ns = pod.metadata.namespace.as_deref().unwrap_or("default");
        let name = pod.metadata.name.as_deref().unwrap_or_default();
        let api: Api<Pod> = Api::namespaced(self.ctx.client.clone(), ns);
        match api.patch(name, &PatchParams::default(), &remove_finalizer_patch()).await {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Replace the Job's status (optimistic: a stale Job fails with a conflict and the
    /// retry sees the newer one).
    pub(super) async fn write_status(&self, job: &Job) -> Result<Job> {
        let ns = job.metadata.namespace.as_deref().unwrap_or("default");
        let name = job.metadata.name.as_deref().unwrap_or_default();
        let api: Api<Job> = Api::namespaced(self.ctx.client.clone(), ns);
        Ok(api.replace_status(name, &PostParams::default(), job).await?)
    }

    fn record_finished(&self, s: &State) {
        let Some(c) = &s.finished else { return };
        if c.type_ == COMPLETE {
            let succeeded = s.status().succeeded.unwrap_or(0);
            if s.job.spec.as_ref().and_then(|sp| sp.completions).is_some_and(|n| succeeded > n) {
                let note = "Too many succeeded pods running after completion count reached";
                self.ctx.event(COMPONENT, &s.job, true, "TooManySucceededPods", note);
            }
            self.ctx.event(COMPONENT, &s.job, false, "Completed", "Job completed");
        } else {
            self.ctx.event(COMPONENT, &s.job, true, r(&c.reason), r(&c.message));
        }
    }
}

fn r(s: &Option<String>) -> &str {
    s.as_deref().unwrap_or_default()
}

fn uncounted(st: &mut JobStatus) -> &mut k8s_openapi::api::batch::v1::UncountedTerminatedPods {
    st.uncounted_terminated_pods.get_or_insert_with(Default::default)
}

/// Move uncounted pods whose finalizer is gone to the counters; whether anything moved.
pub fn clean_uncounted(st: &mut JobStatus, with_finalizer: &HashSet<String>) -> bool {
    let u = st.uncounted_terminated_pods.get_or_insert_with(Default::default);
    let mut moved = (0, 0);
    for (list, n) in [(&mut u.succeeded, &mut moved.0), (&mut u.failed, &mut moved.1)] {
        if let Some(l) = list {
            let before = l.len();
            l.retain(|uid| with_finalizer.contains(uid));
            *n = (before - l.len()) as i32;
        }
    }
    if moved == (0, 0) {
        return false;
    }
    st.succeeded = Some(st.succeeded.unwrap_or(0) + moved.0);
    st.failed = Some(st.failed.unwrap_or(0) + moved.1);
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uncounted_pods_move_to_the_counters_once_their_finalizer_is_gone() {
        let mut st = JobStatus {
            succeeded: Some(1),
            uncounted_terminated_pods: Some(k8s_openapi::api::batch::v1::UncountedTerminatedPods {
                succeeded: Some(vec!["a".into(), "b".into()]),
                failed: Some(vec!["c".into()]),
            }),
            ..Default::default()
        };
        let still: HashSet<String> = ["b".to_string()].into();
        assert!(clean_uncounted(&mut st, &still));
        assert_eq!((st.succeeded, st.failed), (Some(2), Some(1)));
        assert_eq!(st.uncounted_terminated_pods.as_ref().unwrap().succeeded.as_deref(), Some(&["b".to_string()][..]));
        assert!(!clean_uncounted(&mut st, &still));
        let e = FinalizerExpectations::default();
        e.expect("k", ["x".to_string()]);
        assert!(e.expected("k").contains("x"));
        e.observed("k", "x");
        assert!(e.expected("k").is_empty());
    }
}
