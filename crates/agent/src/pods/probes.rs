//! Startup, liveness and readiness probes of one container run, with kubelet's timing:
//! initialDelaySeconds from the container's start, periodSeconds apart, timeoutSeconds each,
//! successThreshold/failureThreshold consecutive results. Startup gates the other two. Results
//! go to the pod worker, which owns the container's state.

use std::path::PathBuf;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Container, Probe};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use super::actions::{self, Action, Target};
use crate::runtime::Runtime;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Startup,
    Liveness,
    Readiness,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Startup => "Startup",
            Kind::Liveness => "Liveness",
            Kind::Readiness => "Readiness",
        }
    }
}

/// What a probe found, for the worker.
#[derive(Debug)]
pub struct Note {
    pub container: String,
    pub attempt: u32,
    pub kind: Kind,
    pub event: Verdict,
}

#[derive(Debug)]
pub enum Verdict {
    /// The probe passed its success threshold (startup done, or ready).
    Passed,
    /// One failed check (for the Unhealthy event).
    Failed(String),
    /// The failure threshold was reached: not ready, or (startup, liveness) restart.
    Gave(String),
}

struct Timing {
    initial_delay: Duration,
    period: Duration,
    timeout: Duration,
    success: u32,
    failure: u32,
}

fn timing(p: &Probe) -> Timing {
    let secs = |v: Option<i32>, d: i32| Duration::from_secs(v.unwrap_or(d).max(0) as u64);
    Timing {
        initial_delay: secs(p.initial_delay_seconds, 0),
        period: secs(p.period_seconds, 10).max(Duration::from_secs(1)),
        timeout: secs(p.timeout_seconds, 1).max(Duration::from_secs(1)),
        success: p.success_threshold.unwrap_or(1).max(1) as u32,
        failure: p.failure_threshold.unwrap_or(3).max(1) as u32,
    }
}

fn action(p: &Probe, c: &Container) -> Result<Option<Action>, String> {
    Action::of(p.exec.as_ref(), p.http_get.as_ref(), p.tcp_socket.as_ref(), c)
}

/// Everything a run's probes need.
pub struct Spawn {
    pub container: Container,
    pub attempt: u32,
    pub id: String,
    pub runtime: Runtime,
    pub netns: Option<PathBuf>,
    pub started_at: Instant,
    /// Turns false when the run ends: the probes stop.
    pub running: watch::Receiver<bool>,
    pub notes: mpsc::UnboundedSender<Note>,
}

/// Whether the container has any probe (without one it is started and ready at once).
pub fn has(c: &Container, kind: Kind) -> bool {
    match kind {
        Kind::Startup => c.startup_probe.is_some(),
        Kind::Liveness => c.liveness_probe.is_some(),
        Kind::Readiness => c.readiness_probe.is_some(),
    }
}

pub fn spawn(s: Spawn) {
    tokio::spawn(async move {
        let mut running = s.running.clone();
        tokio::select! {
            _ = probe_all(&s) => {}
            _ = running.wait_for(|r| !*r) => {}
        }
    });
}

async fn probe_all(s: &Spawn) {
    let c = &s.container;
    if let Some(p) = &c.startup_probe
        && !probe_loop(s, Kind::Startup, p).await
    {
        return;
    }
    let live = async {
        if let Some(p) = &c.liveness_probe {
            probe_loop(s, Kind::Liveness, p).await;
        }
    };
    let ready = async {
        if let Some(p) = &c.readiness_probe {
            probe_loop(s, Kind::Readiness, p).await;
        }
    };
    tokio::join!(live, ready);
}

/// Probe until the run ends; for startup, until it passes (true) or gives up (false).
/// Liveness stops after giving up too (the worker restarts the container).
async fn probe_loop(s: &Spawn, kind: Kind, p: &Probe) -> bool {
    let send = |event: Verdict| {
        let _ = s.notes.send(Note { container: s.container.name.clone(), attempt: s.attempt, kind, event });
    };
    let t = timing(p);
    let action = match action(p, &s.container) {
        Ok(Some(a)) => a,
        Ok(None) => {
            send(Verdict::Passed);
            return true;
        }
        Err(e) => {
            send(Verdict::Gave(e));
            return false;
        }
    };
    tokio::time::sleep_until(s.started_at + t.initial_delay).await;
    let target = Target { runtime: &s.runtime, container_id: &s.id, netns: s.netns.clone() };
    let (mut successes, mut failures, mut passing) = (0u32, 0u32, None::<bool>);
    loop {
        match actions::run(&action, &target, t.timeout).await {
            Ok(_) => {
                failures = 0;
                successes += 1;
                if successes >= t.success && passing != Some(true) {
                    passing = Some(true);
                    send(Verdict::Passed);
                    if kind == Kind::Startup {
                        return true;
                    }
                }
            }
            Err(why) => {
                successes = 0;
                failures += 1;
                send(Verdict::Failed(why.clone()));
                if failures >= t.failure && passing != Some(false) {
                    passing = Some(false);
                    send(Verdict::Gave(why));
                    if kind != Kind::Readiness {
                        return false;
                    }
                }
            }
        }
        tokio::time::sleep(t.period).await;
    }
}
