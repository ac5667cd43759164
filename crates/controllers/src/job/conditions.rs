//! Job conditions: making them, finding them, and whether a Job has finished.

use jiff::Timestamp;
use k8s_openapi::api::batch::v1::{Job, JobCondition};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

pub const COMPLETE: &str = "Complete";
pub const FAILED: &str = "Failed";
pub const FAILURE_TARGET: &str = "FailureTarget";
pub const SUCCESS_CRITERIA_MET: &str = "SuccessCriteriaMet";
pub const SUSPENDED: &str = "Suspended";

/// A True condition stamped `now`.
pub fn new(type_: &str, reason: &str, message: &str, now: Timestamp) -> JobCondition {
    JobCondition {
        type_: type_.to_string(),
        status: "True".to_string(),
        reason: Some(reason.to_string()),
        message: Some(message.to_string()),
        last_probe_time: Some(Time(now)),
        last_transition_time: Some(Time(now)),
    }
}

pub fn find<'a>(job: &'a Job, type_: &str) -> Option<&'a JobCondition> {
    job.status.as_ref()?.conditions.as_ref()?.iter().find(|c| c.type_ == type_)
}

/// The condition of `type_` if it is True.
pub fn find_true<'a>(job: &'a Job, type_: &str) -> Option<&'a JobCondition> {
    find(job, type_).filter(|c| c.status == "True")
}

/// Complete or Failed, whichever is True.
pub fn finished(job: &Job) -> Option<&JobCondition> {
    find_true(job, COMPLETE).or_else(|| find_true(job, FAILED))
}

pub fn is_finished(job: &Job) -> bool {
    finished(job).is_some()
}

/// Set the condition of `type_` to `status`/`reason`/`message` (a False one is never
/// added, only updated); whether anything changed.
pub fn ensure(
    list: &mut Vec<JobCondition>,
    type_: &str,
    status: &str,
    reason: &str,
    message: &str,
    now: Timestamp,
) -> bool {
    let mut c = new(type_, reason, message, now);
    c.status = status.to_string();
    if let Some(existing) = list.iter_mut().find(|x| x.type_ == type_) {
        let same = existing.status == status
            && existing.reason.as_deref() == Some(reason)
            && existing.message.as_deref() == Some(message);
        if same {
            return false;
        }
        *existing = c;
        return true;
    }
    if status == "False" {
        return false;
    }
    list.push(c);
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_false_condition_is_updated_but_never_added() {
        let now = Timestamp::UNIX_EPOCH;
        let mut list = Vec::new();
        assert!(!ensure(&mut list, SUSPENDED, "False", "JobResumed", "Job resumed", now));
        assert!(ensure(&mut list, SUSPENDED, "True", "JobSuspended", "Job suspended", now));
        assert!(!ensure(&mut list, SUSPENDED, "True", "JobSuspended", "Job suspended", now));
        assert!(ensure(&mut list, SUSPENDED, "False", "JobResumed", "Job resumed", now));
        assert_eq!(list.len(), 1);
        assert_eq!(list[0].status, "False");
    }
}
