//! The delay before a Job replaces failed pods: 10 s after the first failure since the last
//! success, doubling per failure, at most 6 minutes (upstream's pod failure back-off). Kept
//! in memory per Job, as upstream keeps it.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use jiff::Timestamp;

use crate::cached_pod::CachedPod;

pub const DEFAULT_BACKOFF: Duration = Duration::from_secs(10);
pub const MAX_BACKOFF: Duration = Duration::from_secs(360);

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Record {
    pub failures_after_last_success: i32,
    pub last_failure: Option<Timestamp>,
}

#[derive(Default)]
pub struct Store {
    records: Mutex<HashMap<String, Record>>,
}

impl Store {
    /// The record `key` would have once `succeeded` and `failed` (newly finished pods) count.
    pub fn next(&self, key: &str, succeeded: &[&CachedPod], failed: &[&CachedPod]) -> Record {
        let old = self.lock().get(key).cloned().unwrap_or_default();
        let mut failed_at: Vec<Timestamp> = failed.iter().map(|p| finished_at(p)).collect();
        failed_at.sort();
        let last_success = succeeded.iter().map(|p| finished_at(p)).max();
        match last_success {
            None if failed_at.is_empty() => old,
            None => Record {
                failures_after_last_success: old.failures_after_last_success + failed_at.len() as i32,
                last_failure: failed_at.last().copied(),
            },
            Some(success) => {
                let after: Vec<&Timestamp> = failed_at.iter().filter(|t| **t > success).collect();
                Record { failures_after_last_success: after.len() as i32, last_failure: after.last().map(|t| **t) }
            }
        }
    }

    pub fn save(&self, key: &str, record: Record) {
        self.lock().insert(key.to_string(), record);
    }

    pub fn remove(&self, key: &str) {
        self.lock().remove(key);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Record>> {
        self.records.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// How long to wait before creating pods after `failures` failures, the last at `last`.
pub fn remaining(failures: i32, last: Option<Timestamp>, now: Timestamp) -> Duration {
    let Some(last) = last.filter(|_| failures > 0) else { return Duration::ZERO };
    let mut delay = DEFAULT_BACKOFF;
    for _ in 1..failures {
        delay = delay.saturating_mul(2);
        if delay >= MAX_BACKOFF {
            delay = MAX_BACKOFF;
            break;
        }
    }
    let elapsed = Duration::try_from(now.duration_since(last)).unwrap_or(Duration::ZERO);
    delay.saturating_sub(elapsed)
}

/// When the pod finished: the last container exit, else Ready turning False, else its
/// deletion (less the grace period), else its creation.
pub fn finished_at(pod: &CachedPod) -> Timestamp {
    let status = pod.status.as_ref();
    let containers = status.and_then(|s| s.container_statuses.as_deref()).unwrap_or_default();
    let exits: Option<Vec<Timestamp>> =
        containers.iter().map(|c| c.state.as_ref()?.terminated.as_ref()?.finished_at.as_ref().map(|t| t.0)).collect();
    if let Some(t) = exits.and_then(|e| e.into_iter().max()) {
        return t;
    }
    let ready_false = status
        .and_then(|s| s.conditions.as_ref())
        .and_then(|c| c.iter().find(|c| c.type_ == "Ready" && c.status == "False"))
        .and_then(|c| c.last_transition_time.as_ref());
    if let Some(t) = ready_false {
        return t.0;
    }
    if let Some(d) = &pod.metadata.deletion_timestamp {
        let grace = pod.metadata.deletion_grace_period_seconds.unwrap_or(0);
        return d.0 - jiff::SignedDuration::from_secs(grace);
    }
    pod.metadata.creation_timestamp.as_ref().map(|t| t.0).unwrap_or(Timestamp::UNIX_EPOCH)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn back_off_doubles_per_failure_up_to_six_minutes() {
        let t0: Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
        let at = |s: i64| t0 + jiff::SignedDuration::from_secs(s);
        assert_eq!(remaining(0, Some(t0), at(1)), Duration::ZERO);
        assert_eq!(remaining(1, Some(t0), at(4)), Duration::from_secs(6));
        assert_eq!(remaining(3, Some(t0), at(0)), Duration::from_secs(40));
        assert_eq!(remaining(20, Some(t0), at(60)), Duration::from_secs(300));
        assert_eq!(remaining(1, Some(t0), at(11)), Duration::ZERO);
    }
}
