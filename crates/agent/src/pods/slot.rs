//! A container of the pod spec as the worker tracks it: its current and previous run, why it
//! waits, and its restart back-off (kubelet's CrashLoopBackOff: 10 s doubling to 5 minutes,
//! forgotten after 10 minutes of running).

use std::time::Duration;

use tokio::time::Instant;

use super::run::Run;

pub const BACKOFF_START: Duration = Duration::from_secs(10);
pub const BACKOFF_MAX: Duration = Duration::from_secs(300);
/// A run this long resets the back-off.
pub const BACKOFF_RESET_AFTER: Duration = Duration::from_secs(600);

pub struct Slot {
    pub name: String,
    pub init: bool,
    pub current: Option<Run>,
    pub previous: Option<Run>,
    /// Why the container is not running (reason, message), when it is not.
    pub waiting: Option<(String, String)>,
    pub backoff: Duration,
    /// No new run before this time (back-off).
    pub not_before: Option<Instant>,
    /// The current run ended and its restart time is set.
    pub restart_scheduled: bool,
    /// The current run passed its startup probe (or has none).
    pub started: bool,
    /// The current run passes its readiness probe (or has none).
    pub ready: bool,
    /// The back-off the pending restart waits (what `back-off 10s restarting…` reports).
    pub delay: Duration,
}

impl Slot {
    pub fn new(name: &str, init: bool) -> Slot {
        Slot {
            name: name.to_string(),
            init,
            current: None,
            previous: None,
            waiting: Some(("ContainerCreating".into(), String::new())),
            backoff: Duration::ZERO,
            not_before: None,
            restart_scheduled: false,
            delay: Duration::ZERO,
            started: false,
            ready: false,
        }
    }

    pub fn running(&self) -> bool {
        self.current.as_ref().is_some_and(|r| r.exited.is_none())
    }

    /// The exit code of the current run, if it ended.
    pub fn exit_code(&self) -> Option<i32> {
        self.current.as_ref()?.exited.as_ref().map(|e| e.code)
    }

    pub fn succeeded(&self) -> bool {
        self.exit_code() == Some(0)
    }

    pub fn next_attempt(&self) -> u32 {
        self.current.as_ref().map_or(0, |r| r.attempt + 1)
    }

    /// The run ended and will be restarted: when may the next one start? The first restart is
    /// immediate, later ones wait the doubling back-off, as kubelet's.
    pub fn schedule_restart(&mut self, now: Instant) {
        let ran_long = self.current.as_ref().and_then(|r| {
            let e = r.exited.as_ref()?;
            Some(e.at.duration_since(r.started.at).as_secs() >= BACKOFF_RESET_AFTER.as_secs() as i64)
        });
        if ran_long == Some(true) {
            self.backoff = Duration::ZERO;
        }
        if self.backoff.is_zero() {
            self.not_before = None;
            self.delay = Duration::ZERO;
            self.backoff = BACKOFF_START;
        } else {
            self.not_before = Some(now + self.backoff);
            self.delay = self.backoff;
            self.backoff = (self.backoff * 2).min(BACKOFF_MAX);
        }
    }

    /// Whether the back-off still holds the next run back.
    pub fn backing_off(&self, now: Instant) -> bool {
        self.not_before.is_some_and(|t| t > now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_the_cap() {
        let now = Instant::now();
        let mut s = Slot::new("c", false);
        s.schedule_restart(now);
        assert!(!s.backing_off(now));
        let mut waits = Vec::new();
        for _ in 0..7 {
            s.schedule_restart(now);
            waits.push(s.not_before.unwrap() - now);
        }
        let secs: Vec<u64> = waits.iter().map(|d| d.as_secs()).collect();
        assert_eq!(secs, [10, 20, 40, 80, 160, 300, 300]);
    }
}
