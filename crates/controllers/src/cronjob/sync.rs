//! One CronJob's sync (upstream's syncCronJob): reconcile the active list with the Jobs
//! that exist, then, unless suspended or being deleted, start the most recent missed run if
//! it is within the starting deadline and the concurrency policy allows; finally trim the
//! history and write status. Returns when to look again (just after the next run).

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use kube::api::{Api, PostParams};
use skiff_runtime::Next;

use super::schedule::{self, Cron};
use super::{COMPONENT, Controller, timezone};
use crate::context::reference;
use crate::error::{Error, Result};
use crate::job::is_finished;
use crate::owner::{CONTROLLER_UID_INDEX, controller_ref, is_controlled_by};

/// The scheduled time of a Job, in the CronJob's zone, RFC 3339.
pub const SCHEDULED_TIMESTAMP: &str = "batch.kubernetes.io/cronjob-scheduled-timestamp";
/// More missed runs than this earns a warning.
const TOO_MANY_MISSED: i64 = 100;

impl Controller {
    pub(super) async fn sync(self: Arc<Self>, key: String) -> Result<Next> {
        // Before the Job cache is loaded every CronJob would look idle.
        self.cronjobs.synced().await;
        self.jobs.synced().await;
        let Some(shared) = self.cronjobs.get(&key) else { return Ok(Next::Wait) };
        let uid = shared.metadata.uid.clone().unwrap_or_default();
        let jobs: Vec<Arc<Job>> = self
            .jobs
            .by_index(CONTROLLER_UID_INDEX, &uid)
            .into_iter()
            .filter(|j| j.metadata.namespace == shared.metadata.namespace)
            .collect();
        let mut cj = (*shared).clone();
        cj.status.get_or_insert_with(Default::default);
        let (requeue, mut changed, result) = match self.sync_cronjob(&mut cj, &jobs).await {
            Ok((r, c)) => (r, c, Ok(())),
            Err((c, e)) => (None, c, Err(e)),
        };
        if cj.metadata.deletion_timestamp.is_none() {
            changed |= self.clean_up_history(&mut cj, &jobs).await;
        }
        if changed {
            let ns = cj.metadata.namespace.as_deref().unwrap_or("default");
            let api: Api<CronJob> = Api::namespaced(self.ctx.client.clone(), ns);
            let name = cj.metadata.name.clone().unwrap_or_default();
            api.replace_status(&name, &PostParams::default(), &cj).await?;
        }
        result?;
        Ok(requeue.map_or(Next::Wait, Next::After))
    }

    /// The reconcile proper; when to look again, and whether status changed (also on error).
    async fn sync_cronjob(
        &self,
        cj: &mut CronJob,
        jobs: &[Arc<Job>],
    ) -> std::result::Result<(Option<Duration>, bool), (bool, Error)> {
        let now = Timestamp::now();
        let mut changed = self.reconcile_active(cj, jobs).await.map_err(|e| (false, e))?;
        if cj.metadata.deletion_timestamp.is_some() {
            return Ok((None, changed));
        }
        let spec = cj.spec.clone().unwrap_or_default();
        let tz = match timezone::load(spec.time_zone.as_deref()) {
            Ok(tz) => tz,
            Err(e) => {
                let tz = spec.time_zone.as_deref().unwrap_or_default();
                self.ctx.event(COMPONENT, &*cj, true, "UnknownTimeZone", &format!("invalid timeZone: {tz:?}: {e}"));
                return Ok((None, changed));
            }
        };
        if spec.suspend == Some(true) {
            return Ok((None, changed));
        }
        let cron = match Cron::new(&spec.schedule, tz.clone()) {
            Ok(c) => c,
            Err(e) => {
                let note = format!("unparseable schedule: {:?} : {e}", spec.schedule);
                self.ctx.event(COMPONENT, &*cj, true, "UnparseableSchedule", &note);
                return Ok((None, changed));
            }
        };
        let created = cj.metadata.creation_timestamp.as_ref().map_or(now, |t| t.0);
        let last = cj.status.as_ref().and_then(|s| s.last_schedule_time.as_ref()).map(|t| t.0);
        let until_next = |last: Option<Timestamp>| schedule::until_next(&cron, created, last, now);
        let standing = match schedule::standing(&cron, created, last, spec.starting_deadline_seconds, now) {
            Ok(s) => s,
            Err(e) => {
                let note = format!("invalid schedule: {} : {e}", spec.schedule);
                self.ctx.event(COMPONENT, &*cj, true, "InvalidSchedule", &note);
                return Ok((None, changed));
            }
        };
        let Some(scheduled) = standing.most_recent.filter(|t| *t <= now) else {
            return Ok((until_next(last), changed));
        };
        if standing.missed > TOO_MANY_MISSED {
            let note = format!(
                "too many missed start times: {}. Set or decrease .spec.startingDeadlineSeconds or check clock skew",
                standing.missed
            );
            self.ctx.event(COMPONENT, &*cj, true, "TooManyMissedTimes", &note);
        }
        if let Some(deadline) = spec.starting_deadline_seconds
            && scheduled + jiff::SignedDuration::from_secs(deadline) < now
        {
            let note = format!("Missed scheduled time to start a job: {}", rfc1123z(scheduled));
            self.ctx.event(COMPONENT, &*cj, true, "MissSchedule", &note);
            return Ok((until_next(last), changed));
        }
        let name = job_name(cj, scheduled);
        let active = cj.status.as_ref().and_then(|s| s.active.clone()).unwrap_or_default();
        if active.iter().any(|r| r.name.as_deref() == Some(name.as_str())) || last == Some(scheduled) {
            return Ok((until_next(last), changed));
        }
        let policy = spec.concurrency_policy.as_deref().unwrap_or("Allow");
        if policy == "Forbid" && !active.is_empty() {
            let note = "Not starting job because prior execution is running and concurrency policy is Forbid";
            self.ctx.event(COMPONENT, &*cj, false, "JobAlreadyActive", note);
            return Ok((until_next(last), changed));
        }
        if policy == "Replace" {
            for r in &active {
                let api: Api<Job> =
                    Api::namespaced(self.ctx.client.clone(), r.namespace.as_deref().unwrap_or("default"));
                let job = match api.get(r.name.as_deref().unwrap_or_default()).await {
                    Ok(j) => j,
                    Err(e) => {
                        self.ctx.event(COMPONENT, &*cj, true, "FailedGet", &format!("Get job: {e}"));
                        return Err((changed, e.into()));
                    }
                };
                self.delete_job(cj, &job).await.map_err(|e| (changed, e))?;
                changed = true;
            }
        }
        let job = job_from_template(cj, scheduled, &tz);
        let ns = cj.metadata.namespace.clone().unwrap_or_default();
        let api: Api<Job> = Api::namespaced(self.ctx.client.clone(), &ns);
        let created_job = match api.create(&PostParams::default(), &job).await {
            Ok(j) => {
                let note = format!("Created job {}", j.metadata.name.as_deref().unwrap_or_default());
                self.ctx.event(COMPONENT, &*cj, false, "SuccessfulCreate", &note);
                j
            }
            Err(kube::Error::Api(s)) if s.code == 409 => {
                // Created before, but the status update was lost: adopt it into the list
                // if it is ours and missing; anyone else's is theirs to account for.
                let existing = api.get(&name).await.map_err(|e| (changed, e.into()))?;
                let uid = cj.metadata.uid.clone().unwrap_or_default();
                let listed = active.iter().any(|r| r.uid == existing.metadata.uid);
                if !is_controlled_by(&existing.metadata, &uid) || listed {
                    return Ok((None, changed));
                }
                existing
            }
            Err(e) => {
                let note = format!("Error creating job: {}", crate::pods::api_message(&e));
                self.ctx.event(COMPONENT, &*cj, true, "FailedCreate", &note);
                return Err((changed, e.into()));
            }
        };
        let st = cj.status.get_or_insert_with(Default::default);
        st.active.get_or_insert_with(Vec::new).push(job_reference(&created_job));
        st.last_schedule_time = Some(Time(scheduled));
        Ok((until_next(Some(scheduled)), true))
    }

    /// Drop finished and vanished Jobs from the active list, note successes, and warn
    /// about running Jobs the list does not know. Whether status changed.
    async fn reconcile_active(&self, cj: &mut CronJob, jobs: &[Arc<Job>]) -> Result<bool> {
        let mut changed = false;
        let mut fresh: Option<CronJob> = None;
        let children: HashSet<Option<String>> = jobs.iter().map(|j| j.metadata.uid.clone()).collect();
        for job in jobs {
            let name = job.metadata.name.as_deref().unwrap_or_default();
            let listed = in_active(cj, job);
            if !listed && !is_finished(job) {
                // The list may just be stale: ask the API before complaining.
                if fresh.is_none() {
                    let ns = cj.metadata.namespace.as_deref().unwrap_or("default");
                    let api: Api<CronJob> = Api::namespaced(self.ctx.client.clone(), ns);
                    fresh = Some(api.get(cj.metadata.name.as_deref().unwrap_or_default()).await?);
                }
                if fresh.as_ref().is_some_and(|f| in_active(f, job)) {
                    continue;
                }
                let note = format!("Saw a job that the controller did not create or forgot: {name}");
                self.ctx.event(COMPONENT, &*cj, true, "UnexpectedJob", &note);
            } else if listed && is_finished(job) {
                let condition = finished_type(job);
                if let Some(active) = cj.status.as_mut().and_then(|s| s.active.as_mut()) {
                    active.retain(|r| r.uid != job.metadata.uid);
                }
                let note = format!("Saw completed job: {name}, condition: {condition}");
                self.ctx.event(COMPONENT, &*cj, false, "SawCompletedJob", &note);
                changed = true;
            }
            if finished_type(job) == "Complete"
                && let Some(done) = job.status.as_ref().and_then(|s| s.completion_time.as_ref())
            {
                let st = cj.status.get_or_insert_with(Default::default);
                if st.last_successful_time.as_ref().is_none_or(|t| t.0 < done.0) {
                    st.last_successful_time = Some(done.clone());
                    changed = true;
                }
            }
        }
        let active = cj.status.as_ref().and_then(|s| s.active.clone()).unwrap_or_default();
        for r in active.iter().filter(|r| !children.contains(&r.uid)) {
            // The cache may lag: only the API saying 404 means the Job is gone.
            let api: Api<Job> = Api::namespaced(self.ctx.client.clone(), r.namespace.as_deref().unwrap_or("default"));
            match api.get(r.name.as_deref().unwrap_or_default()).await {
                Err(kube::Error::Api(s)) if s.code == 404 => {
                    let note = format!("Active job went missing: {}", r.name.as_deref().unwrap_or_default());
                    self.ctx.event(COMPONENT, &*cj, false, "MissingJob", &note);
                    if let Some(list) = cj.status.as_mut().and_then(|s| s.active.as_mut()) {
                        list.retain(|x| x.uid != r.uid);
                    }
                    changed = true;
                }
                Err(e) => return Err(e.into()),
                Ok(_) => {}
            }
        }
        Ok(changed)
    }
}

fn in_active(cj: &CronJob, job: &Job) -> bool {
    let active = cj.status.as_ref().and_then(|s| s.active.as_ref());
    active.is_some_and(|a| a.iter().any(|r| r.uid == job.metadata.uid))
}

fn finished_type(job: &Job) -> &str {
    let conds = job.status.as_ref().and_then(|s| s.conditions.as_deref()).unwrap_or_default();
    conds
        .iter()
        .find(|c| c.status == "True" && (c.type_ == "Complete" || c.type_ == "Failed"))
        .map_or("", |c| c.type_.as_str())
}

fn job_reference(job: &Job) -> ObjectReference {
    reference(job)
}

/// `<cronjob>-<scheduled time in minutes since the epoch>`: one name per run, so a run is
/// never created twice.
pub fn job_name(cj: &CronJob, scheduled: Timestamp) -> String {
    format!("{}-{}", cj.metadata.name.as_deref().unwrap_or_default(), scheduled.as_second() / 60)
}

/// The Job for the run at `scheduled`: the template's labels, annotations (plus the
/// scheduled time) and spec, controlled by the CronJob.
pub fn job_from_template(cj: &CronJob, scheduled: Timestamp, tz: &jiff::tz::TimeZone) -> Job {
    let template = cj.spec.as_ref().map(|s| s.job_template.clone()).unwrap_or_default();
    let meta = template.metadata.unwrap_or_default();
    let mut annotations = meta.annotations.unwrap_or_default();
    annotations.insert(SCHEDULED_TIMESTAMP.to_string(), rfc3339_in(scheduled, tz));
    Job {
        metadata: ObjectMeta {
            name: Some(job_name(cj, scheduled)),
            namespace: cj.metadata.namespace.clone(),
            labels: meta.labels,
            annotations: Some(annotations),
            owner_references: Some(vec![controller_ref(cj)]),
            ..Default::default()
        },
        spec: template.spec,
        status: None,
    }
}

/// Go's RFC 3339 layout: a `Z` for UTC, else the offset.
fn rfc3339_in(t: Timestamp, tz: &jiff::tz::TimeZone) -> String {
    let z = t.to_zoned(tz.clone());
    if z.offset().seconds() == 0 {
        z.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
    } else {
        z.strftime("%Y-%m-%dT%H:%M:%S%:z").to_string()
    }
}

/// Go's RFC1123Z layout, in UTC.
fn rfc1123z(t: Timestamp) -> String {
    t.to_zoned(jiff::tz::TimeZone::UTC).strftime("%a, %d %b %Y %H:%M:%S +0000").to_string()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn jobs_are_named_and_annotated_for_their_scheduled_time() {
        let cj: CronJob = serde_json::from_value(json!({
            "metadata": {"name": "hello", "namespace": "ns", "uid": "u1"},
            "spec": {"schedule": "*/1 * * * *", "jobTemplate": {
                "metadata": {"labels": {"app": "x"}, "annotations": {"a": "b"}},
                "spec": {"template": {"spec": {"containers": []}}}}},
        }))
        .unwrap();
        let t: Timestamp = "2026-03-01T10:05:00Z".parse().unwrap();
        let ny = timezone::load(Some("America/New_York")).unwrap();
        let job = job_from_template(&cj, t, &ny);
        assert_eq!(job.metadata.name.as_deref(), Some(format!("hello-{}", t.as_second() / 60).as_str()));
        let ann = job.metadata.annotations.unwrap();
        assert_eq!(ann[SCHEDULED_TIMESTAMP], "2026-03-01T05:05:00-05:00");
        assert_eq!(ann["a"], "b");
        assert_eq!(job.metadata.labels.unwrap()["app"], "x");
        let owner = &job.metadata.owner_references.unwrap()[0];
        assert_eq!((owner.kind.as_str(), owner.uid.as_str(), owner.controller), ("CronJob", "u1", Some(true)));
        assert_eq!(rfc3339_in(t, &jiff::tz::TimeZone::UTC), "2026-03-01T10:05:00Z");
        assert_eq!(rfc1123z(t), "Sun, 01 Mar 2026 10:05:00 +0000");
    }
}
