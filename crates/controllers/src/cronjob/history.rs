//! Deleting finished Jobs beyond `successfulJobsHistoryLimit` / `failedJobsHistoryLimit`,
//! oldest start first.

use std::sync::Arc;

use k8s_openapi::api::batch::v1::{CronJob, Job};
use kube::api::{Api, DeleteParams};

use super::{COMPONENT, Controller};
use crate::error::{Error, ignore_not_found};
use crate::job::is_finished;

/// Which finished Jobs to delete to keep `limit` (start time order; no start time last).
pub fn oldest_beyond(mut jobs: Vec<Arc<Job>>, limit: i32) -> Vec<Arc<Job>> {
    let keep = limit.max(0) as usize;
    if jobs.len() <= keep {
        return Vec::new();
    }
    let start = |j: &Job| j.status.as_ref().and_then(|s| s.start_time.as_ref()).map(|t| t.0);
    jobs.sort_by(|a, b| match (start(a), start(b)) {
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (Some(_), None) => std::cmp::Ordering::Less,
        (x, y) if x == y => a.metadata.name.cmp(&b.metadata.name),
        (x, y) => x.cmp(&y),
    });
    let excess = jobs.len() - keep;
    jobs.truncate(excess);
    jobs
}

fn outcome(job: &Job) -> Option<&str> {
    if !is_finished(job) {
        return None;
    }
    let conds = job.status.as_ref()?.conditions.as_ref()?;
    conds
        .iter()
        .find(|c| c.status == "True" && (c.type_ == "Complete" || c.type_ == "Failed"))
        .map(|c| c.type_.as_str())
}

impl Controller {
    /// Delete finished Jobs over the limits; whether the status (active list) changed.
    pub(super) async fn clean_up_history(&self, cj: &mut CronJob, jobs: &[Arc<Job>]) -> bool {
        let spec = cj.spec.clone().unwrap_or_default();
        let mut changed = false;
        for (kind, limit) in
            [("Complete", spec.successful_jobs_history_limit), ("Failed", spec.failed_jobs_history_limit)]
        {
            let Some(limit) = limit else { continue };
            let finished: Vec<Arc<Job>> = jobs.iter().filter(|j| outcome(j) == Some(kind)).cloned().collect();
            for job in oldest_beyond(finished, limit) {
                changed |= self.delete_job(cj, &job).await.is_ok();
            }
        }
        changed
    }

    /// Delete a Job of `cj` (in the background: the garbage collector removes its pods) and
    /// drop it from the active list.
    pub(super) async fn delete_job(&self, cj: &mut CronJob, job: &Job) -> Result<(), Error> {
        let ns = job.metadata.namespace.as_deref().unwrap_or("default");
        let name = job.metadata.name.as_deref().unwrap_or_default();
        let api: Api<Job> = Api::namespaced(self.ctx.client.clone(), ns);
        if let Err(e) = ignore_not_found(api.delete(name, &DeleteParams::background()).await) {
            self.ctx.event(COMPONENT, &*cj, true, "FailedDelete", &format!("Deleted job: {e}"));
            return Err(e);
        }
        if let Some(active) = cj.status.as_mut().and_then(|s| s.active.as_mut()) {
            active.retain(|r| r.uid != job.metadata.uid);
        }
        self.ctx.event(COMPONENT, &*cj, false, "SuccessfulDelete", &format!("Deleted job {name}"));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn job(name: &str, start: Option<&str>) -> Arc<Job> {
        Arc::new(serde_json::from_value(json!({"metadata": {"name": name}, "status": {"startTime": start}})).unwrap())
    }

    #[test]
    fn the_oldest_jobs_beyond_the_limit_go() {
        let jobs = vec![
            job("c", Some("2026-01-03T00:00:00Z")),
            job("none", None),
            job("a", Some("2026-01-01T00:00:00Z")),
            job("b", Some("2026-01-02T00:00:00Z")),
        ];
        let names = |v: Vec<Arc<Job>>| v.iter().map(|j| j.metadata.name.clone().unwrap()).collect::<Vec<_>>();
        assert_eq!(names(oldest_beyond(jobs.clone(), 2)), ["a", "b"]);
        assert_eq!(names(oldest_beyond(jobs.clone(), 0)), ["a", "b", "c", "none"]);
        assert!(oldest_beyond(jobs, 4).is_empty());
    }
}
