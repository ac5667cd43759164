//! A Deployment's status computed from its ReplicaSets: the counts, the Available
//! condition, and the Progressing condition that `kubectl rollout status` reads (progress,
//! completion, and the progress deadline). Pure; `super::progress` writes the result.

use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::api::apps::v1::{Deployment, DeploymentCondition, DeploymentStatus, ReplicaSet};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use super::strategy::{self, rs_ready, rs_status_replicas, total_available, total_replicas};

pub const AVAILABLE: &str = "Available";
pub const PROGRESSING: &str = "Progressing";
pub const REPLICA_FAILURE: &str = "ReplicaFailure";

// Reasons, as upstream's deployment util names them.
pub const MINIMUM_REPLICAS_AVAILABLE: &str = "MinimumReplicasAvailable";
pub const MINIMUM_REPLICAS_UNAVAILABLE: &str = "MinimumReplicasUnavailable";
pub const NEW_RS_CREATED: &str = "NewReplicaSetCreated";
pub const FOUND_NEW_RS: &str = "FoundNewReplicaSet";
pub const RS_UPDATED: &str = "ReplicaSetUpdated";
pub const NEW_RS_AVAILABLE: &str = "NewReplicaSetAvailable";
pub const TIMED_OUT: &str = "ProgressDeadlineExceeded";
pub const PAUSED: &str = "DeploymentPaused";
pub const RESUMED: &str = "DeploymentResumed";
pub const FAILED_RS_CREATE: &str = "ReplicaSetCreateError";

/// Now, to the second: conditions are stored with second precision, so comparing with
/// what was read back stays exact.
pub fn now() -> Timestamp {
    Timestamp::from_second(Timestamp::now().as_second()).unwrap_or(Timestamp::UNIX_EPOCH)
}

pub fn new_condition(type_: &str, status: &str, reason: &str, message: String, at: Timestamp) -> DeploymentCondition {
    DeploymentCondition {
        type_: type_.into(),
        status: status.into(),
        reason: Some(reason.into()),
        message: Some(message),
        last_update_time: Some(Time(at)),
        last_transition_time: Some(Time(at)),
    }
}

pub fn condition<'a>(status: &'a DeploymentStatus, type_: &str) -> Option<&'a DeploymentCondition> {
    status.conditions.as_ref()?.iter().find(|c| c.type_ == type_)
}

pub fn reason(c: &DeploymentCondition) -> &str {
    c.reason.as_deref().unwrap_or_default()
}

/// Upstream's `SetDeploymentCondition`: a condition with the same status and reason is left
/// as it is; one with the same status keeps its transition time.
pub fn set_condition(status: &mut DeploymentStatus, mut cond: DeploymentCondition) {
    if let Some(current) = condition(status, &cond.type_) {
        if current.status == cond.status && current.reason == cond.reason {
            return;
        }
        if current.status == cond.status {
            cond.last_transition_time = current.last_transition_time.clone();
        }
    }
    remove_condition(status, &cond.type_);
    status.conditions.get_or_insert_with(Vec::new).push(cond);
}

pub fn remove_condition(status: &mut DeploymentStatus, type_: &str) {
    if let Some(c) = &mut status.conditions {
        c.retain(|c| c.type_ != type_);
    }
}

/// Whether the Deployment has a progress deadline (upstream treats MaxInt32 as none).
pub fn has_progress_deadline(d: &Deployment) -> bool {
    progress_deadline(d).is_some()
}

fn progress_deadline(d: &Deployment) -> Option<i32> {
    d.spec.as_ref()?.progress_deadline_seconds.filter(|s| *s != i32::MAX)
}

/// Zero counts are omitted upstream (`omitempty`).
fn count(n: i32) -> Option<i32> {
    (n != 0).then_some(n)
}

/// Upstream's `calculateStatus`: counts from the sets, the Available condition, the other
/// conditions carried over.
pub fn calculate(all: &[&ReplicaSet], new_rs: Option<&ReplicaSet>, d: &Deployment, at: Timestamp) -> DeploymentStatus {
    let available = total_available(all.iter().copied());
    let unavailable = (total_replicas(all.iter().copied()) - available).max(0);
    let old = d.status.clone().unwrap_or_default();
    let mut status = DeploymentStatus {
        observed_generation: d.metadata.generation,
        replicas: count(all.iter().map(|rs| rs_status_replicas(rs)).sum()),
        updated_replicas: count(new_rs.map(rs_status_replicas).unwrap_or(0)),
        ready_replicas: count(all.iter().map(|rs| rs_ready(rs)).sum()),
        available_replicas: count(available),
        unavailable_replicas: count(unavailable),
        collision_count: old.collision_count,
        conditions: old.conditions.filter(|c| !c.is_empty()),
        terminating_replicas: None,
    };
    let cond = if available >= strategy::replicas(d) - strategy::max_unavailable(d) {
        new_condition(AVAILABLE, "True", MINIMUM_REPLICAS_AVAILABLE, "Deployment has minimum availability.".into(), at)
    } else {
        new_condition(
            AVAILABLE,
            "False",
            MINIMUM_REPLICAS_UNAVAILABLE,
            "Deployment does not have minimum availability.".into(),
            at,
        )
    };
    set_condition(&mut status, cond);
    status
}

fn counts(s: &DeploymentStatus) -> (i32, i32, i32, i32) {
    (
        s.replicas.unwrap_or(0),
        s.updated_replicas.unwrap_or(0),
        s.ready_replicas.unwrap_or(0),
        s.available_replicas.unwrap_or(0),
    )
}

/// Upstream's `DeploymentComplete`: every replica updated and available, nothing old left,
/// and the latest spec observed.
pub fn complete(d: &Deployment, s: &DeploymentStatus) -> bool {
    let want = strategy::replicas(d);
    let (replicas, updated, _, available) = counts(s);
    updated == want
        && replicas == want
        && available == want
        && s.observed_generation.unwrap_or(0) >= d.metadata.generation.unwrap_or(0)
}

/// Upstream's `DeploymentProgressing`: more updated, ready or available pods than the
/// stored status says, or fewer old ones.
fn progressing(d: &Deployment, new: &DeploymentStatus) -> bool {
    let old = d.status.clone().unwrap_or_default();
    let (o_replicas, o_updated, o_ready, o_available) = counts(&old);
    let (n_replicas, n_updated, n_ready, n_available) = counts(new);
    n_updated > o_updated
        || n_replicas - n_updated < o_replicas - o_updated
        || n_ready > o_ready
        || n_available > o_available
}

/// Upstream's `DeploymentTimedOut`: no progress recorded for longer than the deadline.
fn timed_out(d: &Deployment, s: &DeploymentStatus, now: Timestamp) -> bool {
    let (Some(deadline), Some(c)) = (progress_deadline(d), condition(s, PROGRESSING)) else { return false };
    match reason(c) {
        NEW_RS_AVAILABLE => false,
        TIMED_OUT => true,
        _ => match c.last_update_time.as_ref() {
            Some(t) => t.0.as_second() + i64::from(deadline) < now.as_second(),
            None => false,
        },
    }
}

/// The status a rolling or recreate sync writes (upstream `syncRolloutStatus`): the
/// calculated status with the Progressing condition moved on — completed, progressing (its
/// update time refreshed), or timed out — and the sets' ReplicaFailure surfaced.
pub fn rollout(all: &[&ReplicaSet], new_rs: Option<&ReplicaSet>, d: &Deployment, now: Timestamp) -> DeploymentStatus {
    let mut s = calculate(all, new_rs, d, now);
    if !has_progress_deadline(d) {
        remove_condition(&mut s, PROGRESSING);
    }
    let stored = d.status.clone().unwrap_or_default();
    let current = condition(&stored, PROGRESSING);
    let (replicas, updated, _, _) = counts(&s);
    let finished = replicas == updated && current.is_some_and(|c| reason(c) == NEW_RS_AVAILABLE);
    let name = d.metadata.name.as_deref().unwrap_or_default();
    let rs_name = new_rs.and_then(|rs| rs.metadata.name.as_deref());
    let about = |what: &str| match rs_name {
        Some(rs) => format!("ReplicaSet {rs:?} {what}"),
        None => format!("Deployment {name:?} {what}"),
    };
    if has_progress_deadline(d) && !finished {
        if complete(d, &s) {
            let c = new_condition(PROGRESSING, "True", NEW_RS_AVAILABLE, about("has successfully progressed."), now);
            set_condition(&mut s, c);
        } else if progressing(d, &s) {
            let mut c = new_condition(PROGRESSING, "True", RS_UPDATED, about("is progressing."), now);
            // Same reason again on purpose: progress refreshes the update time, which the
            // deadline counts from; the transition time stays while it stays True.
            if let Some(cur) = current {
                if cur.status == "True" {
                    c.last_transition_time = cur.last_transition_time.clone();
                }
                remove_condition(&mut s, PROGRESSING);
            }
            set_condition(&mut s, c);
        } else if timed_out(d, &s, now) {
            let c = new_condition(PROGRESSING, "False", TIMED_OUT, about("has timed out progressing."), now);
            set_condition(&mut s, c);
        }
    }
    match replica_failure(all, new_rs) {
        Some(c) => set_condition(&mut s, c),
        None => remove_condition(&mut s, REPLICA_FAILURE),
    }
    s
}

/// The first ReplicaFailure condition of the sets, the new set's first.
fn replica_failure(all: &[&ReplicaSet], new_rs: Option<&ReplicaSet>) -> Option<DeploymentCondition> {
    let failure = |rs: &ReplicaSet| {
        let c = rs.status.as_ref()?.conditions.as_ref()?.iter().find(|c| c.type_ == REPLICA_FAILURE)?.clone();
        Some(DeploymentCondition {
            type_: REPLICA_FAILURE.into(),
            status: c.status,
            reason: c.reason,
            message: c.message,
            last_update_time: c.last_transition_time.clone(),
            last_transition_time: c.last_transition_time,
        })
    };
    new_rs.and_then(failure).or_else(|| all.iter().find_map(|rs| failure(rs)))
}

/// When to look again to see whether a rollout without progress has run out of time
/// (upstream `requeueStuckDeployment`); `None` when there is no deadline to watch.
pub fn recheck_after(d: &Deployment, s: &DeploymentStatus, now: Timestamp) -> Option<Duration> {
    let deadline = progress_deadline(d)?;
    let c = condition(s, PROGRESSING)?;
    if complete(d, s) || reason(c) == TIMED_OUT || reason(c) == NEW_RS_AVAILABLE {
        return None;
    }
    let from = c.last_update_time.as_ref()?.0.as_second();
    // A second past the deadline, since it is checked to the second.
    let secs = (from + i64::from(deadline) + 1 - now.as_second()).max(1);
    Some(Duration::from_secs(secs as u64))
}

/// Whether two statuses say the same (an absent count being zero).
pub fn same(a: &DeploymentStatus, b: &DeploymentStatus) -> bool {
    let norm = |s: &DeploymentStatus| {
        let mut s = s.clone();
        for c in [
            &mut s.replicas,
            &mut s.updated_replicas,
            &mut s.ready_replicas,
            &mut s.available_replicas,
            &mut s.unavailable_replicas,
            &mut s.terminating_replicas,
        ] {
            if *c == Some(0) {
                *c = None;
            }
        }
        if s.conditions.as_ref().is_some_and(Vec::is_empty) {
            s.conditions = None;
        }
        s
    };
    norm(a) == norm(b)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::deployment::strategy::tests::{deployment, rs};

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn counts_come_from_the_sets_and_available_follows_max_unavailable() {
        let d = deployment(3, json!(1), json!(0));
        let old = rs("web-a", "2026-01-01T00:00:00Z", 2, 2);
        let new = rs("web-b", "2026-01-01T00:00:01Z", 2, 1);
        let s = calculate(&[&old, &new], Some(&new), &d, at("2026-01-01T00:01:00Z"));
        assert_eq!(
            (s.replicas, s.updated_replicas, s.ready_replicas, s.available_replicas),
            (Some(4), Some(2), Some(3), Some(3))
        );
        assert_eq!(s.unavailable_replicas, Some(1));
        assert_eq!(s.observed_generation, Some(1));
        let avail = condition(&s, AVAILABLE).unwrap();
        assert_eq!((avail.status.as_str(), reason(avail)), ("True", MINIMUM_REPLICAS_AVAILABLE));
        let new = rs("web-b", "2026-01-01T00:00:01Z", 2, 0);
        let s = calculate(&[&old, &new], Some(&new), &d, at("2026-01-01T00:01:00Z"));
        let avail = condition(&s, AVAILABLE).unwrap();
        assert_eq!((avail.status.as_str(), reason(avail)), ("False", MINIMUM_REPLICAS_UNAVAILABLE));
        assert_eq!(avail.message.as_deref(), Some("Deployment does not have minimum availability."));
    }

    #[test]
    fn a_finished_rollout_is_reported_successfully_progressed() {
        let mut d = deployment(3, json!(1), json!(0));
        let new = rs("web-b", "2026-01-01T00:00:01Z", 3, 3);
        let t0 = at("2026-01-01T00:00:00Z");
        d.status = Some(DeploymentStatus {
            conditions: Some(vec![new_condition(PROGRESSING, "True", NEW_RS_CREATED, "x".into(), t0)]),
            ..Default::default()
        });
        let s = rollout(&[&new], Some(&new), &d, at("2026-01-01T00:00:10Z"));
        let p = condition(&s, PROGRESSING).unwrap();
        assert_eq!(reason(p), NEW_RS_AVAILABLE);
        assert_eq!(p.message.as_deref(), Some("ReplicaSet \"web-b\" has successfully progressed."));
        assert_eq!(p.last_transition_time, Some(Time(t0)), "still True: the transition time stays");
        assert!(complete(&d, &s));
        assert_eq!(recheck_after(&d, &s, at("2026-01-01T00:00:10Z")), None);
    }

    #[test]
    fn progress_refreshes_the_update_time_and_its_absence_times_out() {
        let mut d = deployment(3, json!(1), json!(0));
        d.spec.as_mut().unwrap().progress_deadline_seconds = Some(5);
        let t0 = at("2026-01-01T00:00:00Z");
        d.status = Some(DeploymentStatus {
            replicas: Some(1),
            updated_replicas: Some(1),
            conditions: Some(vec![new_condition(PROGRESSING, "True", NEW_RS_CREATED, "x".into(), t0)]),
            ..Default::default()
        });
        let stuck = rs("web-b", "2026-01-01T00:00:01Z", 1, 0);
        // No progress within the deadline: nothing changes, look again after it.
        let s = rollout(&[&stuck], Some(&stuck), &d, at("2026-01-01T00:00:03Z"));
        assert_eq!(reason(condition(&s, PROGRESSING).unwrap()), NEW_RS_CREATED);
        assert_eq!(recheck_after(&d, &s, at("2026-01-01T00:00:03Z")), Some(Duration::from_secs(3)));
        // Past it: timed out, as `kubectl rollout status` reads it.
        let s = rollout(&[&stuck], Some(&stuck), &d, at("2026-01-01T00:00:06Z"));
        let p = condition(&s, PROGRESSING).unwrap();
        assert_eq!((p.status.as_str(), reason(p)), ("False", TIMED_OUT));
        assert_eq!(p.message.as_deref(), Some("ReplicaSet \"web-b\" has timed out progressing."));
        // Progress (a pod became ready) refreshes the condition instead.
        let better = rs("web-b", "2026-01-01T00:00:01Z", 1, 1);
        let t = at("2026-01-01T00:00:06Z");
        let s = rollout(&[&better], Some(&better), &d, t);
        let p = condition(&s, PROGRESSING).unwrap();
        assert_eq!(reason(p), RS_UPDATED);
        assert_eq!((p.last_update_time.clone(), p.last_transition_time.clone()), (Some(Time(t)), Some(Time(t0))));
    }

    #[test]
    fn without_a_deadline_there_is_no_progressing_condition() {
        let mut d = deployment(1, json!(1), json!(0));
        d.spec.as_mut().unwrap().progress_deadline_seconds = Some(i32::MAX);
        let t0 = at("2026-01-01T00:00:00Z");
        d.status = Some(DeploymentStatus {
            conditions: Some(vec![new_condition(PROGRESSING, "True", NEW_RS_CREATED, "x".into(), t0)]),
            ..Default::default()
        });
        let new = rs("web-b", "2026-01-01T00:00:01Z", 1, 1);
        let s = rollout(&[&new], Some(&new), &d, t0);
        assert!(condition(&s, PROGRESSING).is_none());
        assert!(condition(&s, AVAILABLE).is_some());
    }

    #[test]
    fn setting_a_condition_with_the_same_reason_keeps_it() {
        let mut s = DeploymentStatus::default();
        let t0 = at("2026-01-01T00:00:00Z");
        set_condition(&mut s, new_condition(AVAILABLE, "True", MINIMUM_REPLICAS_AVAILABLE, "a".into(), t0));
        set_condition(
            &mut s,
            new_condition(AVAILABLE, "True", MINIMUM_REPLICAS_AVAILABLE, "b".into(), at("2026-01-02T00:00:00Z")),
        );
        assert_eq!(condition(&s, AVAILABLE).unwrap().message.as_deref(), Some("a"));
        let zeros = DeploymentStatus { replicas: Some(0), conditions: Some(vec![]), ..Default::default() };
        assert!(same(&zeros, &DeploymentStatus::default()));
    }
}
