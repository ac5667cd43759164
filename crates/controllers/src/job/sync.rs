//! One Job's sync (upstream's syncJob): claim its pods, count what finished, decide whether
//! the Job has failed or succeeded, otherwise let [`super::manage`] create or delete pods,
//! then hand over to [`super::tracking`] to write status.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::batch::v1::{Job, JobCondition, JobStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{Api, Patch, PatchParams};
use skiff_runtime::Next;

use super::conditions::{self, FAILURE_TARGET, SUCCESS_CRITERIA_MET, SUSPENDED};
use super::indexes::{self, INDEX_FAILURE_COUNT, INDEX_IGNORED_FAILURE_COUNT, Intervals};
use super::job_pods::{self, TRACKING_FINALIZER, has_tracking_finalizer, is_failed};
use super::{COMPONENT, Controller, backoff, failure_policy, success_policy};
use crate::cached_pod::CachedPod;
use crate::error::{Error, Result};
use crate::owner::{controller_of, controller_ref, release_patch};
use crate::{pods, selector};

/// What one sync knows about its Job (upstream's syncJobCtx).
pub struct State {
    pub job: Job,
    /// Every pod the Job controls, finished or not.
    pub pods: Vec<Arc<CachedPod>>,
    pub active: Vec<Arc<CachedPod>>,
    pub ready: i32,
    pub terminating: i32,
    pub succeeded: i32,
    pub failed: i32,
    /// The uncounted lists as the sync found them.
    pub uncounted_succeeded: HashSet<String>,
    pub uncounted_failed: HashSet<String>,
    /// Pods whose finalizer removal is in flight.
    pub expected_rm: HashSet<String>,
    /// The condition the Job is heading for, if its outcome is decided.
    pub finished: Option<JobCondition>,
    pub prev_succeeded_indexes: Intervals,
    pub succeeded_indexes: Intervals,
    pub failed_indexes: Option<Intervals>,
    /// Per index, the failed pod kept until its replacement exists (per-index back-off).
    pub delayed_deletion: HashMap<i32, Arc<CachedPod>>,
    pub backoff: backoff::Record,
    /// When to look again regardless of changes.
    pub requeue: Option<Duration>,
}

impl State {
    pub fn status(&self) -> &JobStatus {
        self.job.status.as_ref().expect("status is set at the start of a sync")
    }

    pub fn status_mut(&mut self) -> &mut JobStatus {
        self.job.status.get_or_insert_with(Default::default)
    }

    pub fn completions(&self) -> i32 {
        self.job.spec.as_ref().and_then(|s| s.completions).unwrap_or(0)
    }

    pub fn per_index(&self) -> Option<i32> {
        self.job.spec.as_ref().and_then(|s| s.backoff_limit_per_index)
    }

    pub fn suspended(&self) -> bool {
        self.job.spec.as_ref().and_then(|s| s.suspend).unwrap_or(false)
    }

    pub fn requeue_after(&mut self, d: Duration) {
        self.requeue = Some(self.requeue.map_or(d, |r| r.min(d)));
    }

    /// Whether the finalizer of `pod` may go now: the Job is being deleted or decided, the
    /// pod succeeded, or it failed and need not wait for its index's replacement.
    pub fn can_remove_finalizer(&self, pod: &CachedPod, failed: bool) -> bool {
        if self.job.metadata.deletion_timestamp.is_some() || self.finished.is_some() || pods::phase(pod) == "Succeeded"
        {
            return true;
        }
        if !failed {
            return false;
        }
        if self.per_index().is_some()
            && let Some(ix) = indexes::completion_index(pod)
            && let Some(kept) = self.delayed_deletion.get(&ix)
        {
            return kept.metadata.uid != pod.metadata.uid;
        }
        true
    }

    /// Add the terminal condition if nothing is left uncounted or terminating; whether it
    /// was added.
    pub fn enact_finished(&mut self) -> bool {
        let Some(c) = self.finished.clone() else { return false };
        let u = self.status().uncounted_terminated_pods.clone().unwrap_or_default();
        if u.succeeded.is_some_and(|l| !l.is_empty()) || u.failed.is_some_and(|l| !l.is_empty()) || self.terminating > 0
        {
            return false;
        }
        let now = Timestamp::now();
        let st = self.status_mut();
        let list = st.conditions.get_or_insert_with(Vec::new);
        conditions::ensure(list, &c.type_, "True", r(&c.reason), r(&c.message), now);
        if c.type_ == conditions::COMPLETE {
            st.completion_time = c.last_transition_time.clone();
        }
        true
    }

    /// Pods not yet counted (finalizer on, not in the uncounted list, a valid index) for
    /// which `filter` holds.
    fn new_finished(&self, uncounted: &HashSet<String>, filter: impl Fn(&CachedPod) -> bool) -> Vec<Arc<CachedPod>> {
        let indexed = indexes::is_indexed(&self.job);
        self.pods
            .iter()
            .filter(|p| {
                let uid = p.metadata.uid.clone().unwrap_or_default();
                has_tracking_finalizer(p)
                    && !uncounted.contains(&uid)
                    && !self.expected_rm.contains(&uid)
                    && (!indexed || indexes::valid_index(p, self.completions()).is_some())
                    && filter(p)
            })
            .cloned()
            .collect()
    }
}

fn r(s: &Option<String>) -> &str {
    s.as_deref().unwrap_or_default()
}

impl Controller {
    pub(super) async fn sync(self: Arc<Self>, key: String) -> Result<Next> {
        // Before the pod cache is loaded every Job would look podless and start more.
        self.jobs.synced().await;
        self.pods.synced().await;
        let Some(shared) = self.jobs.get(&key) else {
            self.expectations.forget(&key);
            self.finalizers.forget(&key);
            self.backoff.remove(&key);
            return Ok(Next::Wait);
        };
        if conditions::is_finished(&shared) {
            self.backoff.remove(&key);
            return Ok(Next::Wait);
        }
        let spec = shared.spec.clone().unwrap_or_default();
        if spec.managed_by.as_deref().is_some_and(|m| m != "kubernetes.io/job-controller") {
            return Ok(Next::Wait);
        }
        if !matches!(spec.completion_mode.as_deref(), None | Some("NonIndexed") | Some("Indexed")) {
            let note = "Skipped Job sync because completion mode is unknown";
            self.ctx.event(COMPONENT, &*shared, true, "UnknownCompletionMode", note);
            return Ok(Next::Wait);
        }
        let mut job = (*shared).clone();
        let status = job.status.get_or_insert_with(Default::default);
        let uncounted = status.uncounted_terminated_pods.get_or_insert_with(Default::default).clone();
        // Read the expectations before the pods: a pod seen after this read is counted
        // next time, never twice.
        let satisfied = self.expectations.satisfied(&key);
        let pods = self.claim(&job).await?;
        let active: Vec<Arc<CachedPod>> = pods.iter().filter(|p| pods::is_active(p)).cloned().collect();
        let mut s = State {
            ready: active.iter().filter(|p| pods::is_ready(p)).count() as i32,
            terminating: pods.iter().filter(|p| job_pods::is_terminating(p)).count() as i32,
            active,
            pods,
            job,
            succeeded: 0,
            failed: 0,
            uncounted_succeeded: uncounted.succeeded.unwrap_or_default().into_iter().collect(),
            uncounted_failed: uncounted.failed.unwrap_or_default().into_iter().collect(),
            expected_rm: self.finalizers.expected(&key),
            finished: None,
            prev_succeeded_indexes: Intervals::default(),
            succeeded_indexes: Intervals::default(),
            failed_indexes: None,
            delayed_deletion: HashMap::new(),
            backoff: backoff::Record::default(),
            requeue: None,
        };
        self.decide(&key, &mut s, satisfied).await
    }

    async fn decide(&self, key: &str, s: &mut State, satisfied: bool) -> Result<Next> {
        let now = Timestamp::now();
        let spec = s.job.spec.clone().unwrap_or_default();
        let policy = spec.pod_failure_policy.as_ref();
        let mut active = s.active.len() as i32;
        let new_succeeded = s.new_finished(&s.uncounted_succeeded, |p| pods::phase(p) == "Succeeded");
        let new_failed = s.new_finished(&s.uncounted_failed, |p| is_failed(p, &s.job));
        let counted_failures = new_failed.iter().filter(|p| failure_policy::evaluate(policy, p).counts).count();
        s.succeeded =
            s.status().succeeded.unwrap_or(0) + new_succeeded.len() as i32 + s.uncounted_succeeded.len() as i32;
        s.failed = s.status().failed.unwrap_or(0) + counted_failures as i32 + s.uncounted_failed.len() as i32;
        if s.status().start_time.is_none() && !s.suspended() {
            s.status_mut().start_time = Some(Time(now));
        }
        let succ_refs: Vec<&CachedPod> = new_succeeded.iter().map(|p| &**p).collect();
        let fail_refs: Vec<&CachedPod> = new_failed.iter().map(|p| &**p).collect();
        s.backoff = self.backoff.next(key, &succ_refs, &fail_refs);

        s.finished = conditions::find_true(&s.job, SUCCESS_CRITERIA_MET).cloned();
        if s.finished.is_none() {
            if let Some(target) = conditions::find_true(&s.job, FAILURE_TARGET) {
                s.finished = Some(conditions::new(conditions::FAILED, r(&target.reason), r(&target.message), now));
            } else if let Some(msg) = fail_job_message(&s.job, &s.pods) {
                s.finished = Some(conditions::new(FAILURE_TARGET, "PodFailurePolicy", &msg, now));
            }
        }
        if s.finished.is_none() {
            let backoff_limit = spec.backoff_limit.unwrap_or(6);
            if s.failed > backoff_limit || past_backoff_limit_on_failure(&s.job, &s.pods) {
                let msg = "Job has reached the specified backoff limit";
                s.finished = Some(conditions::new(FAILURE_TARGET, "BackoffLimitExceeded", msg, now));
            } else if let Some(left) = deadline_left(s, now) {
                if left.is_zero() {
                    let msg = "Job was active longer than specified deadline";
                    s.finished = Some(conditions::new(FAILURE_TARGET, "DeadlineExceeded", msg, now));
                } else {
                    s.requeue_after(left);
                }
            }
        }
        if indexes::is_indexed(&s.job) {
            self.decide_indexes(s, now);
        }

        let mut suspend_changed = false;
        let mut manage_result = Ok(());
        if s.finished.is_some() {
            let (deleted_ready, deleted, result) = self.delete_active(&s.job, &s.active).await;
            if deleted != active || !satisfied {
                // Not final while pods remain or the cache may miss some.
                s.finished = None;
            }
            active -= deleted;
            s.terminating += deleted;
            s.ready -= deleted_ready;
            manage_result = result;
        } else {
            let mut managed = false;
            if satisfied && s.job.metadata.deletion_timestamp.is_none() {
                let (a, result) = self.manage(key, s).await;
                active = a;
                manage_result = result;
                managed = true;
            }
            let complete = match spec.completions {
                None => s.succeeded > 0 && active == 0,
                Some(n) => s.succeeded >= n && active == 0,
            };
            if complete {
                let msg = "Reached expected number of succeeded pods";
                s.finished = Some(conditions::new(SUCCESS_CRITERIA_MET, "CompletionsReached", msg, now));
            } else if managed {
                suspend_changed = self.note_suspension(s, now);
            }
        }
        let st = s.status();
        let needs_update = suspend_changed
            || Some(active) != st.active.or(Some(0))
            || Some(s.ready) != st.ready
            || Some(s.terminating) != st.terminating;
        let (ready, terminating) = (s.ready, s.terminating);
        let st = s.status_mut();
        st.active = Some(active);
        st.ready = Some(ready);
        st.terminating = Some(terminating);
        self.track(key, s, needs_update).await?;
        manage_result?;
        Ok(s.requeue.map_or(Next::Wait, Next::After))
    }

    /// Indexed Jobs: succeeded and failed indexes, the per-index failure outcomes, and
    /// the success policy.
    fn decide_indexes(&self, s: &mut State, now: Timestamp) {
        let completions = s.completions();
        let st = s.status();
        s.prev_succeeded_indexes = Intervals::parse(st.completed_indexes.as_deref().unwrap_or_default(), completions);
        let mut new: Vec<i32> = s
            .pods
            .iter()
            .filter(|p| pods::phase(p) == "Succeeded" && has_tracking_finalizer(p))
            .filter_map(|p| indexes::valid_index(p, completions))
            .collect();
        new.sort_unstable();
        new.dedup();
        s.succeeded_indexes = s.prev_succeeded_indexes.with_indexes(&new);
        s.succeeded = s.succeeded_indexes.total();
        let spec = s.job.spec.clone().unwrap_or_default();
        if let Some(limit) = s.per_index() {
            let prev = st_failed_indexes(s, completions);
            let mut newly: Vec<i32> = s
                .pods
                .iter()
                .filter(|p| has_tracking_finalizer(p) && index_failed(&s.job, p, limit))
                .filter_map(|p| indexes::valid_index(p, completions))
                .collect();
            newly.sort_unstable();
            newly.dedup();
            let failed = prev.with_indexes(&newly);
            if s.finished.is_none() {
                if spec.max_failed_indexes.is_some_and(|m| failed.total() > m) {
                    let msg = "Job has exceeded the specified maximal number of failed indexes";
                    s.finished = Some(conditions::new(FAILURE_TARGET, "MaxFailedIndexesExceeded", msg, now));
                } else if failed.total() > 0 && failed.total() + s.succeeded_indexes.total() >= completions {
                    s.finished = Some(conditions::new(FAILURE_TARGET, "FailedIndexes", "Job has failed indexes", now));
                }
            }
            s.failed_indexes = Some(failed);
            s.delayed_deletion = delayed_deletion(s);
        }
        if s.finished.is_none()
            && let Some(msg) = success_policy::matched(spec.success_policy.as_ref(), completions, &s.succeeded_indexes)
        {
            s.finished = Some(conditions::new(SUCCESS_CRITERIA_MET, "SuccessPolicy", &msg, now));
        }
    }

    /// The Suspended condition and its events; whether it changed.
    fn note_suspension(&self, s: &mut State, now: Timestamp) -> bool {
        let suspended = s.suspended();
        let list = s.status_mut().conditions.get_or_insert_with(Vec::new);
        if suspended {
            let changed = conditions::ensure(list, SUSPENDED, "True", "JobSuspended", "Job suspended", now);
            if changed {
                self.ctx.event(COMPONENT, &s.job, false, "Suspended", "Job suspended");
            }
            changed
        } else {
            let changed = conditions::ensure(list, SUSPENDED, "False", "JobResumed", "Job resumed", now);
            if changed {
                self.ctx.event(COMPONENT, &s.job, false, "Resumed", "Job resumed");
                // activeDeadlineSeconds counts time continuously active.
                s.status_mut().start_time = Some(Time(now));
            }
            changed
        }
    }

    /// The pods this Job controls, after adopting matching orphans (with the tracking
    /// finalizer) and releasing owned pods that no longer match.
    async fn claim(&self, job: &Job) -> Result<Vec<Arc<CachedPod>>> {
        let sel = selector::parse(job.spec.as_ref().and_then(|s| s.selector.as_ref()))?;
        let ns = job.metadata.namespace.clone().unwrap_or_default();
        let uid = job.metadata.uid.clone().unwrap_or_default();
        let api: Api<CachedPod> = Api::namespaced(self.ctx.client.clone(), &ns);
        let mut owned = Vec::new();
        for pod in crate::owner::claim_candidates(&self.pods, &ns, &uid) {
            let matches = selector::matches(&sel, pod.metadata.labels.as_ref());
            let name = pod.metadata.name.clone().unwrap_or_default();
            let pod_uid = pod.metadata.uid.clone().unwrap_or_default();
            match controller_of(&pod.metadata) {
                Some(r) if r.uid == uid => {
                    if matches || pod.metadata.deletion_timestamp.is_some() {
                        owned.push(pod);
                    } else {
                        let patch = Patch::Strategic(release_patch(&uid, &pod_uid));
                        gone_ok(api.patch(&name, &PatchParams::default(), &patch).await)?;
                    }
                }
                None if matches
                    && job.metadata.deletion_timestamp.is_none()
                    && pod.metadata.deletion_timestamp.is_none() =>
                {
                    let patch = Patch::Strategic(serde_json::json!({
                        "metadata": {
                            "ownerReferences": [controller_ref(job)],
                            "uid": pod_uid,
                            "finalizers": [TRACKING_FINALIZER],
                        }
                    }));
                    match api.patch(&name, &PatchParams::default(), &patch).await {
                        Ok(adopted) => owned.push(Arc::new(adopted)),
                        Err(kube::Error::Api(e)) if matches!(e.code, 404 | 409 | 422) => {}
                        Err(e) => return Err(e.into()),
                    }
                }
                _ => {}
            }
        }
        Ok(owned)
    }
}

fn gone_ok<T>(r: std::result::Result<T, kube::Error>) -> Result<()> {
    match r {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if matches!(s.code, 404 | 409 | 422) => Ok(()),
        Err(e) => Err(Error::Api(e)),
    }
}

fn st_failed_indexes(s: &State, completions: i32) -> Intervals {
    s.status().failed_indexes.as_deref().map(|f| Intervals::parse(f, completions)).unwrap_or_default()
}

/// Whether the failed pod uses up its index: a FailIndex rule, or a counted failure with
/// the index's failures at the limit.
fn index_failed(job: &Job, pod: &CachedPod, limit: i32) -> bool {
    if !is_failed(pod, job) {
        return false;
    }
    let verdict = failure_policy::evaluate(job.spec.as_ref().and_then(|s| s.pod_failure_policy.as_ref()), pod);
    if verdict.action == Some(failure_policy::Action::FailIndex) {
        return true;
    }
    verdict.counts && indexes::count_annotation(pod, INDEX_FAILURE_COUNT) >= limit
}

/// Per index without an active, succeeded or failed outcome, the latest failed pod: its
/// finalizer stays until the replacement (which copies its failure count) exists.
fn delayed_deletion(s: &State) -> HashMap<i32, Arc<CachedPod>> {
    let completions = s.completions();
    let active: HashSet<i32> = s.active.iter().filter_map(|p| indexes::completion_index(p)).collect();
    let failed = s.failed_indexes.clone().unwrap_or_default();
    let mut out: HashMap<i32, Arc<CachedPod>> = HashMap::new();
    for pod in &s.pods {
        let uid = pod.metadata.uid.clone().unwrap_or_default();
        if !has_tracking_finalizer(pod) || s.expected_rm.contains(&uid) || !is_failed(pod, &s.job) {
            continue;
        }
        let Some(ix) = indexes::valid_index(pod, completions) else { continue };
        if s.succeeded_indexes.has(ix) || failed.has(ix) || active.contains(&ix) {
            continue;
        }
        let abs = |p: &CachedPod| {
            indexes::count_annotation(p, INDEX_FAILURE_COUNT)
                + indexes::count_annotation(p, INDEX_IGNORED_FAILURE_COUNT)
        };
        match out.get(&ix) {
            Some(kept) if abs(kept) > abs(pod) || backoff::finished_at(pod) < backoff::finished_at(kept) => {}
            _ => {
                out.insert(ix, pod.clone());
            }
        }
    }
    out
}

/// The message of the first failed pod matching a FailJob rule.
fn fail_job_message(job: &Job, pods: &[Arc<CachedPod>]) -> Option<String> {
    let policy = job.spec.as_ref()?.pod_failure_policy.as_ref()?;
    pods.iter().filter(|p| is_failed(p, job)).find_map(|p| failure_policy::evaluate(Some(policy), p).fail_job_message)
}

/// restartPolicy OnFailure: container restarts of running pods count as failures.
fn past_backoff_limit_on_failure(job: &Job, pods: &[Arc<CachedPod>]) -> bool {
    let spec = job.spec.as_ref();
    let restart = spec.and_then(|s| s.template.spec.as_ref()).and_then(|s| s.restart_policy.as_deref());
    if restart != Some("OnFailure") {
        return false;
    }
    let restarts: i32 = pods
        .iter()
        .filter(|p| matches!(pods::phase(p), "Running" | "Pending"))
        .map(|p| {
            let st = p.status.as_ref();
            let init = st
                .and_then(|s| s.init_container_statuses.as_ref())
                .map_or(0, |c| c.iter().map(|c| c.restart_count).sum());
            init + pods::restarts(p)
        })
        .sum();
    let limit = spec.and_then(|s| s.backoff_limit).unwrap_or(6);
    if limit == 0 { restarts > 0 } else { restarts >= limit }
}

/// Time left before activeDeadlineSeconds passes (zero once it has); none without a
/// deadline, a start, or while suspended.
fn deadline_left(s: &State, now: Timestamp) -> Option<Duration> {
    let secs = s.job.spec.as_ref()?.active_deadline_seconds?;
    let start = s.status().start_time.as_ref()?.0;
    if s.suspended() {
        return None;
    }
    let left = SignedDuration::from_secs(secs) - now.duration_since(start);
    Some(Duration::try_from(left).unwrap_or(Duration::ZERO))
}
