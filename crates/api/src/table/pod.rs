//! The pod printer: READY, STATUS and RESTARTS summarize the container statuses the way
//! upstream's `printPod` does, so `kubectl get pods` reads the same.

use std::collections::HashMap;

use k8s_openapi::api::core::v1::{Container, ContainerStateTerminated, ContainerStatus, Pod, PodStatus};
use serde_json::Value;

use super::cells::{NONE, name, opt, secs};
use super::{AGE, Column, NAME, TablePrinter, age_cell};

impl TablePrinter for Pod {
    fn columns() -> &'static [Column] {
        const COLUMNS: &[Column] = &[
            NAME,
            Column::new("Ready", "string", "Ready containers out of all (sidecars included)."),
            Column::new("Status", "string", "The aggregate status of the pod and its containers."),
            Column::new("Restarts", "string", "Container restarts, with how long ago the last one was."),
            AGE,
            Column::new("IP", "string", "The pod's primary IP address.").wide(),
            Column::new("Node", "string", "The node the pod is bound to.").wide(),
            Column::new("Nominated Node", "string", "The node the pod may be placed on after preemption.").wide(),
            Column::new("Readiness Gates", "string", "Readiness gates that are true, out of all.").wide(),
        ];
        COLUMNS
    }

    fn row(&self, object: &Value, now: i64) -> Vec<Value> {
        let s = summarize(self);
        let status = self.status.clone().unwrap_or_default();
        let spec = self.spec.clone().unwrap_or_default();
        let ip = status.pod_ips.as_deref().and_then(<[_]>::first).map_or("", |p| p.ip.as_str());
        vec![
            name(&self.metadata),
            format!("{}/{}", s.ready, s.total).into(),
            s.reason.into(),
            restarts_cell(s.restarts, s.last_restart, now).into(),
            age_cell(object, now),
            or_none_str(ip).into(),
            or_none_str(opt(&spec.node_name)).into(),
            or_none_str(opt(&status.nominated_node_name)).into(),
            readiness_gates(self).into(),
        ]
    }
}

fn or_none_str(s: &str) -> &str {
    if s.is_empty() { NONE } else { s }
}

/// What the READY, STATUS and RESTARTS cells are computed from.
struct Summary {
    ready: usize,
    total: usize,
    reason: String,
    restarts: i64,
    /// When a counted container last terminated, in epoch seconds.
    last_restart: Option<i64>,
}

/// Restart counts and the latest restart time over a set of container statuses.
#[derive(Default, Clone, Copy)]
struct Restarts {
    count: i64,
    last: Option<i64>,
}

impl Restarts {
    fn add(&mut self, c: &ContainerStatus) {
        self.count += i64::from(c.restart_count);
        let finished = c.last_state.as_ref().and_then(|s| s.terminated.as_ref()).and_then(|t| t.finished_at.as_ref());
        if let Some(t) = finished.map(secs) {
            self.last = Some(self.last.map_or(t, |l| l.max(t)));
        }
    }
}

/// Init containers with `restartPolicy: Always` are sidecars: they keep running next to the
/// app containers and count towards READY.
fn is_sidecar(c: Option<&Container>) -> bool {
    c.and_then(|c| c.restart_policy.as_deref()) == Some("Always")
}

fn is_ready(status: &PodStatus) -> bool {
    status.conditions.iter().flatten().any(|c| c.type_ == "Ready" && c.status == "True")
}

/// Only the first Initialized condition counts, as upstream reads it.
fn is_initialized(status: &PodStatus) -> bool {
    status.conditions.iter().flatten().find(|c| c.type_ == "Initialized").is_some_and(|c| c.status == "True")
}

fn summarize(pod: &Pod) -> Summary {
    let spec = pod.spec.clone().unwrap_or_default();
    let status = pod.status.clone().unwrap_or_default();
    let init_specs = spec.init_containers.unwrap_or_default();
    let init_by_name: HashMap<&str, &Container> = init_specs.iter().map(|c| (c.name.as_str(), c)).collect();

    let mut reason = status.reason.clone().filter(|r| !r.is_empty()).unwrap_or_else(|| opt(&status.phase).to_string());
    let gated =
        status.conditions.iter().flatten().any(|c| c.type_ == "PodScheduled" && opt(&c.reason) == "SchedulingGated");
    if gated {
        reason = "SchedulingGated".to_string();
    }

    let total = spec.containers.len() + init_specs.iter().filter(|c| is_sidecar(Some(c))).count();
    let mut ready = 0;
    let mut all = Restarts::default();
    let mut sidecars = Restarts::default();

    // The first init container that has not finished decides an `Init:` status.
    let mut initializing = false;
    for (i, c) in status.init_container_statuses.iter().flatten().enumerate() {
        let sidecar = is_sidecar(init_by_name.get(c.name.as_str()).copied());
        all.add(c);
        if sidecar {
            sidecars.add(c);
        }
        let state = c.state.clone().unwrap_or_default();
        match (&state.terminated, &state.waiting) {
            (Some(t), _) if t.exit_code == 0 => continue,
            _ if sidecar && c.started == Some(true) => {
                ready += usize::from(c.ready);
                continue;
            }
            (Some(t), _) => reason = format!("Init:{}", terminated_reason(t)),
            (None, Some(w)) if !opt(&w.reason).is_empty() && opt(&w.reason) != "PodInitializing" => {
                reason = format!("Init:{}", opt(&w.reason));
            }
            _ => reason = format!("Init:{i}/{}", init_specs.len()),
        }
        initializing = true;
        break;
    }

    let mut restarts = all;
    if !initializing || is_initialized(&status) {
        // Once running, finished init containers no longer count; sidecars still do.
        restarts = sidecars;
        let mut has_running = false;
        // The first app container with a waiting or terminated reason decides the status.
        for c in status.container_statuses.iter().flatten().rev() {
            restarts.add(c);
            let state = c.state.clone().unwrap_or_default();
            let waiting = state.waiting.as_ref().map(|w| opt(&w.reason)).filter(|r| !r.is_empty());
            if let Some(w) = waiting {
                reason = w.to_string();
            } else if let Some(t) = &state.terminated {
                reason = terminated_reason(t);
            } else if c.ready && state.running.is_some() {
                has_running = true;
                ready += 1;
            }
        }
        // A pod whose containers completed but one still runs is not done yet.
        if reason == "Completed" && has_running {
            reason = if is_ready(&status) { "Running" } else { "NotReady" }.to_string();
        }
    }

    if pod.metadata.deletion_timestamp.is_some() {
        if opt(&status.reason) == "NodeLost" {
            reason = "Unknown".to_string();
        } else if !matches!(opt(&status.phase), "Succeeded" | "Failed") {
            reason = "Terminating".to_string();
        }
    }

    Summary { ready, total, reason, restarts: restarts.count, last_restart: restarts.last }
}

/// The container's reason, or `Signal:N` / `ExitCode:N` when it gave none.
fn terminated_reason(t: &ContainerStateTerminated) -> String {
    match (opt(&t.reason), t.signal) {
        ("", Some(sig)) if sig != 0 => format!("Signal:{sig}"),
        ("", _) => format!("ExitCode:{}", t.exit_code),
        (r, _) => r.to_string(),
    }
}

/// `3`, or `3 (5m ago)` when the last restart time is known.
fn restarts_cell(count: i64, last: Option<i64>, now: i64) -> String {
    match last {
        Some(t) if count != 0 => format!("{count} ({} ago)", crate::time::human_duration(now - t)),
        _ => count.to_string(),
    }
}

/// `1/2`: readiness gates whose condition is true, or `<none>` without gates.
fn readiness_gates(pod: &Pod) -> String {
    let gates = pod.spec.as_ref().and_then(|s| s.readiness_gates.as_deref()).unwrap_or_default();
    if gates.is_empty() {
        return NONE.to_string();
    }
    let conditions = pod.status.as_ref().and_then(|s| s.conditions.as_deref()).unwrap_or_default();
    let true_gates = gates
        .iter()
        .filter(|g| conditions.iter().find(|c| c.type_ == g.condition_type).is_some_and(|c| c.status == "True"))
        .count();
    format!("{true_gates}/{}", gates.len())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const NOW: i64 = 1_700_000_000;

    fn pod(v: Value) -> Pod {
        serde_json::from_value(v).unwrap()
    }

    fn cells(p: &Pod) -> (String, String, String) {
        let row = p.row(&json!({}), NOW);
        let s = |i: usize| row[i].as_str().unwrap().to_string();
        (s(1), s(2), s(3))
    }

    fn two_containers() -> Value {
        json!({"containers": [{"name": "a"}, {"name": "b"}]})
    }

    fn running(name: &str, ready: bool, restarts: i32) -> Value {
        json!({"name": name, "image": "", "imageID": "", "ready": ready, "restartCount": restarts,
               "state": {"running": {"startedAt": "2023-11-14T22:00:00Z"}}})
    }

    #[test]
    fn running_pod_counts_ready_containers() {
        let p = pod(json!({"spec": two_containers(), "status": {"phase": "Running",
            "containerStatuses": [running("a", true, 0), running("b", false, 0)]}}));
        assert_eq!(cells(&p), ("1/2".into(), "Running".into(), "0".into()));
    }

    #[test]
    fn pending_pod_without_statuses() {
        let p = pod(json!({"spec": two_containers(), "status": {"phase": "Pending"}}));
        assert_eq!(cells(&p), ("0/2".into(), "Pending".into(), "0".into()));
        assert_eq!(p.row(&json!({}), NOW)[5..], [json!("<none>"), json!("<none>"), json!("<none>"), json!("<none>")]);
    }

    #[test]
    fn waiting_reason_wins() {
        let p = pod(json!({"spec": two_containers(), "status": {"phase": "Running", "containerStatuses": [
            running("a", true, 0),
            {"name": "b", "image": "", "imageID": "", "ready": false, "restartCount": 4,
             "state": {"waiting": {"reason": "CrashLoopBackOff"}},
             "lastState": {"terminated": {"exitCode": 1, "finishedAt": "2023-11-14T22:08:20Z"}}},
        ]}}));
        // The last restart finished 300s before NOW.
        assert_eq!(cells(&p), ("1/2".into(), "CrashLoopBackOff".into(), "4 (5m ago)".into()));
    }

    #[test]
    fn terminated_without_reason_shows_exit_code_or_signal() {
        let term = |t: Value| {
            pod(json!({"spec": {"containers": [{"name": "a"}]}, "status": {"phase": "Failed", "containerStatuses": [
                {"name": "a", "image": "", "imageID": "", "ready": false, "restartCount": 0, "state": {"terminated": t}},
            ]}}))
        };
        assert_eq!(cells(&term(json!({"exitCode": 2}))).1, "ExitCode:2");
        assert_eq!(cells(&term(json!({"exitCode": 137, "signal": 9}))).1, "Signal:9");
        assert_eq!(cells(&term(json!({"exitCode": 0, "reason": "Completed"}))).1, "Completed");
    }

    #[test]
    fn completed_with_a_running_container_is_running_or_not_ready() {
        let status = |ready: &str| {
            json!({"phase": "Running", "conditions": [{"type": "Ready", "status": ready}], "containerStatuses": [
                running("a", true, 0),
                {"name": "b", "image": "", "imageID": "", "ready": false, "restartCount": 0,
                 "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}},
            ]})
        };
        // Statuses are read last to first, so "a" running comes after "b" completed.
        let p = pod(json!({"spec": two_containers(), "status": status("True")}));
        assert_eq!(cells(&p).1, "Running");
        let p = pod(json!({"spec": two_containers(), "status": status("False")}));
        assert_eq!(cells(&p).1, "NotReady");
    }

    fn init_pod(init_statuses: Value, extra: Value) -> Pod {
        let mut status = json!({"phase": "Pending", "initContainerStatuses": init_statuses,
            "containerStatuses": [{"name": "app", "image": "", "imageID": "", "ready": false, "restartCount": 0,
                                   "state": {"waiting": {"reason": "PodInitializing"}}}]});
        if let Some(extra) = extra.as_object() {
            for (k, v) in extra {
                status[k] = v.clone();
            }
        }
        pod(json!({"spec": {"initContainers": [{"name": "i1"}, {"name": "i2"}], "containers": [{"name": "app"}]},
                   "status": status}))
    }

    fn init_status(name: &str, state: Value, restarts: i32) -> Value {
        json!({"name": name, "image": "", "imageID": "", "ready": false, "restartCount": restarts, "state": state})
    }

    #[test]
    fn init_containers_in_progress() {
        let p = init_pod(
            json!([
                init_status("i1", json!({"terminated": {"exitCode": 0, "reason": "Completed"}}), 0),
                init_status("i2", json!({"running": {}}), 0),
            ]),
            json!({}),
        );
        assert_eq!(cells(&p), ("0/1".into(), "Init:1/2".into(), "0".into()));
    }

    #[test]
    fn init_container_failures() {
        let failed = init_pod(
            json!([init_status("i1", json!({"terminated": {"exitCode": 1, "reason": "Error"}}), 2)]),
            json!({}),
        );
        assert_eq!(cells(&failed), ("0/1".into(), "Init:Error".into(), "2".into()));
        let crashing =
            init_pod(json!([init_status("i1", json!({"waiting": {"reason": "CrashLoopBackOff"}}), 3)]), json!({}));
        assert_eq!(cells(&crashing).1, "Init:CrashLoopBackOff");
        let signalled =
            init_pod(json!([init_status("i1", json!({"terminated": {"exitCode": 137, "signal": 9}}), 0)]), json!({}));
        assert_eq!(cells(&signalled).1, "Init:Signal:9");
    }

    #[test]
    fn init_done_app_waiting_is_pod_initializing() {
        let done = json!({"terminated": {"exitCode": 0, "reason": "Completed"}});
        let p = init_pod(json!([init_status("i1", done.clone(), 1), init_status("i2", done, 0)]), json!({}));
        // Finished init containers' restarts stop counting once the pod is past them.
        assert_eq!(cells(&p), ("0/1".into(), "PodInitializing".into(), "0".into()));
    }

    #[test]
    fn sidecars_count_towards_ready() {
        let p = pod(json!({
            "spec": {"initContainers": [{"name": "proxy", "restartPolicy": "Always"}], "containers": [{"name": "app"}]},
            "status": {"phase": "Running", "conditions": [{"type": "Initialized", "status": "True"}],
                "initContainerStatuses": [{"name": "proxy", "image": "", "imageID": "", "ready": true, "started": true,
                    "restartCount": 1, "state": {"running": {}}}],
                "containerStatuses": [running("app", true, 0)]},
        }));
        assert_eq!(cells(&p), ("2/2".into(), "Running".into(), "1".into()));
    }

    #[test]
    fn deletion_shows_terminating_or_unknown() {
        let mut v = json!({"metadata": {"deletionTimestamp": "2023-11-14T22:00:00Z"},
            "spec": {"containers": [{"name": "a"}]}, "status": {"phase": "Running"}});
        assert_eq!(cells(&pod(v.clone())).1, "Terminating");
        v["status"]["reason"] = json!("NodeLost");
        assert_eq!(cells(&pod(v.clone())).1, "Unknown");
        v["status"] = json!({"phase": "Succeeded"});
        assert_eq!(cells(&pod(v)).1, "Succeeded");
        let lost = pod(json!({"spec": {"containers": []}, "status": {"phase": "Running", "reason": "NodeLost"}}));
        assert_eq!(cells(&lost).1, "NodeLost");
    }

    #[test]
    fn scheduling_gated() {
        let p = pod(json!({"spec": {"containers": [{"name": "a"}]}, "status": {"phase": "Pending",
            "conditions": [{"type": "PodScheduled", "status": "False", "reason": "SchedulingGated"}]}}));
        assert_eq!(cells(&p).1, "SchedulingGated");
    }

    #[test]
    fn wide_cells() {
        let p = pod(json!({
            "spec": {"containers": [{"name": "a"}], "nodeName": "n1",
                     "readinessGates": [{"conditionType": "g1"}, {"conditionType": "g2"}]},
            "status": {"podIPs": [{"ip": "10.1.0.5"}, {"ip": "fd00::5"}], "nominatedNodeName": "n2",
                       "conditions": [{"type": "g1", "status": "True"}, {"type": "g2", "status": "False"}]},
        }));
        assert_eq!(p.row(&json!({}), NOW)[5..], [json!("10.1.0.5"), json!("n1"), json!("n2"), json!("1/2")]);
    }
}
