//! The TTL-after-finished controller: deletes a finished Job (Complete or Failed) once
//! `ttlSecondsAfterFinished` has passed since it finished, in the foreground so its pods
//! go first. The decision is checked again on a fresh read before deleting, and the delete
//! is conditional on that read's resourceVersion, so a Job changed meanwhile is not lost.

use std::sync::Arc;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::batch::v1::Job;
use kube::api::{Api, DeleteParams, Preconditions, PropagationPolicy};
use skiff_runtime::{Change, Informer, Next, WorkQueue, key_of, run_workers, split_key};

use crate::context::Context;
use crate::error::{Result, ignore_not_found};
use crate::job::is_finished;

const COMPONENT: &str = "ttl-after-finished-controller";
const WORKERS: usize = 5;

pub fn start(ctx: &Context) {
    let jobs = ctx.informers.get::<Job>();
    let c = Arc::new(Controller { ctx: ctx.clone(), jobs: jobs.clone(), queue: WorkQueue::new() });
    let this = c.clone();
    jobs.on_change(move |change| {
        if let Change::Added(j) | Change::Updated { new: j, .. } = change
            && needs_cleanup(j)
        {
            this.queue.add(key_of(&**j));
        }
    });
    let this = c.clone();
    run_workers(COMPONENT, c.queue.clone(), WORKERS, move |key| this.clone().sync(key), ctx.shutdown.clone());
}

struct Controller {
    ctx: Context,
    jobs: Informer<Job>,
    queue: WorkQueue<String>,
}

/// A finished Job with a TTL that is not already being deleted.
fn needs_cleanup(job: &Job) -> bool {
    let ttl = job.spec.as_ref().and_then(|s| s.ttl_seconds_after_finished);
    ttl.is_some() && job.metadata.deletion_timestamp.is_none() && is_finished(job)
}

/// When the Job's TTL expires: its finish time (the terminal condition's transition, else
/// completionTime) plus the TTL.
pub fn expires_at(job: &Job) -> Option<Timestamp> {
    let ttl = job.spec.as_ref()?.ttl_seconds_after_finished?;
    let status = job.status.as_ref()?;
    let terminal = status
        .conditions
        .iter()
        .flatten()
        .find(|c| c.status == "True" && (c.type_ == "Complete" || c.type_ == "Failed"))?;
    let finished = terminal.last_transition_time.as_ref().or(status.completion_time.as_ref())?.0;
    Some(finished + SignedDuration::from_secs(i64::from(ttl)))
}

/// Time left before `job` expires at `now`: none if it does not need cleaning up.
fn time_left(job: &Job, now: Timestamp) -> Option<Duration> {
    if !needs_cleanup(job) {
        return None;
    }
    let at = expires_at(job)?;
    Some(Duration::try_from(at.duration_since(now)).unwrap_or(Duration::ZERO))
}

impl Controller {
    async fn sync(self: Arc<Self>, key: String) -> Result<Next> {
        let Some(job) = self.jobs.get(&key) else { return Ok(Next::Wait) };
        let now = Timestamp::now();
        match time_left(&job, now) {
            None => return Ok(Next::Wait),
            Some(left) if !left.is_zero() => return Ok(Next::After(left)),
            Some(_) => {}
        }
        // The cache may be stale (the TTL changed, the Job was re-created): decide again on
        // what the API says now.
        let (ns, name) = split_key(&key);
        let api: Api<Job> = Api::namespaced(self.ctx.client.clone(), ns);
        let Some(fresh) = ignore_not_found(api.get(name).await)? else { return Ok(Next::Wait) };
        match time_left(&fresh, Timestamp::now()) {
            None => return Ok(Next::Wait),
            Some(left) if !left.is_zero() => return Ok(Next::After(left)),
            Some(_) => {}
        }
        let params = DeleteParams {
            propagation_policy: Some(PropagationPolicy::Foreground),
            preconditions: Some(Preconditions { uid: None, resource_version: fresh.metadata.resource_version.clone() }),
            ..Default::default()
        };
        tracing::debug!(job = %key, "deleting a Job whose ttlSecondsAfterFinished expired");
        ignore_not_found(api.delete(name, &params).await)?;
        Ok(Next::Wait)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn job(ttl: Option<i32>, cond: Option<(&str, &str)>) -> Job {
        let conds: Vec<_> = cond
            .into_iter()
            .map(|(t, s)| json!({"type": t, "status": s, "lastTransitionTime": "2026-01-01T00:00:00Z"}))
            .collect();
        serde_json::from_value(json!({
            "metadata": {"name": "j"},
            "spec": {"ttlSecondsAfterFinished": ttl, "template": {}},
            "status": {"conditions": conds},
        }))
        .unwrap()
    }

    #[test]
    fn only_finished_jobs_with_a_ttl_expire() {
        let t = |s: &str| s.parse::<Timestamp>().unwrap();
        let done = job(Some(30), Some(("Complete", "True")));
        assert_eq!(expires_at(&done), Some(t("2026-01-01T00:00:30Z")));
        assert_eq!(time_left(&done, t("2026-01-01T00:00:10Z")), Some(Duration::from_secs(20)));
        assert_eq!(time_left(&done, t("2026-01-01T00:01:00Z")), Some(Duration::ZERO));
        assert_eq!(time_left(&job(Some(0), Some(("Failed", "True"))), t("2026-01-01T00:00:00Z")), Some(Duration::ZERO));
        assert_eq!(time_left(&job(None, Some(("Complete", "True"))), t("2026-01-02T00:00:00Z")), None);
        assert_eq!(time_left(&job(Some(0), Some(("Complete", "False"))), t("2026-01-02T00:00:00Z")), None);
        assert_eq!(time_left(&job(Some(0), None), t("2026-01-02T00:00:00Z")), None);
    }
}
