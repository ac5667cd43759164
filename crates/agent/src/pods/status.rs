//! The pod status the agent reports: phase (kubelet's rules), the conditions it owns,
//! container statuses with state, last state, restart count and ids, and the pod's IPs.

use k8s_openapi::api::core::v1::Pod;
use serde_json::{Value, json};

use super::run::Run;
use super::slot::Slot;

/// Conditions the agent owns; others (PodScheduled, DisruptionTarget, …) are kept as they are.
const OWNED: [&str; 4] = ["PodReadyToStartContainers", "Initialized", "ContainersReady", "Ready"];

pub struct Inputs<'a> {
    pub pod: &'a Pod,
    pub slots: &'a [Slot],
    pub sandbox_ready: bool,
    pub host_ip: &'a str,
    pub pod_ip: Option<&'a str>,
    pub start_time: jiff::Timestamp,
    pub runtime: &'a str,
    /// The phase once the pod is done (kept: a finished pod never runs again).
    pub terminal: Option<&'static str>,
}

fn restart_policy(pod: &Pod) -> &str {
    pod.spec.as_ref().and_then(|s| s.restart_policy.as_deref()).unwrap_or("Always")
}

/// Kubelet's phase: Pending until init containers succeed and every container ran once;
/// Succeeded/Failed when all stopped and none will restart; Running otherwise.
pub fn phase(pod: &Pod, slots: &[Slot]) -> &'static str {
    let policy = restart_policy(pod);
    let inits: Vec<&Slot> = slots.iter().filter(|s| s.init).collect();
    if let Some(pending) = inits.iter().find(|s| !s.succeeded()) {
        let failed = pending.exit_code().is_some_and(|c| c != 0);
        return if failed && policy == "Never" { "Failed" } else { "Pending" };
    }
    let (mut running, mut waiting, mut stopped, mut succeeded) = (0, 0, 0, 0);
    for s in slots.iter().filter(|s| !s.init) {
        match &s.current {
            Some(r) if r.exited.is_none() => running += 1,
            Some(r) => {
                stopped += 1;
                if r.exited.as_ref().is_some_and(|e| e.code == 0) {
                    succeeded += 1;
                }
            }
            None => waiting += 1,
        }
    }
    if waiting > 0 {
        return "Pending";
    }
    if running > 0 {
        return "Running";
    }
    if stopped > 0 {
        if policy == "Always" {
            return "Running";
        }
        if stopped == succeeded {
            return "Succeeded";
        }
        if policy == "Never" {
            return "Failed";
        }
        return "Running";
    }
    "Pending"
}

fn time(t: jiff::Timestamp) -> String {
    skiff_api::time::rfc3339(t.as_second())
}

fn terminated(run: &Run) -> Value {
    let e = run.exited.as_ref().expect("terminated runs have an exit");
    let reason = if e.oom_killed {
        "OOMKilled"
    } else if e.code == 0 {
        "Completed"
    } else {
        "Error"
    };
    let mut t = json!({
        "exitCode": e.code,
        "reason": reason,
        "startedAt": time(run.started.at),
        "finishedAt": time(e.at),
        "containerID": "",
    });
    if let Some(sig) = e.signal {
        t["signal"] = sig.into();
    }
    if let Some(m) = run.termination_message() {
        t["message"] = m.into();
    }
    t
}

fn container_status(slot: &Slot, image_of: &str, runtime: &str) -> Value {
    let id = |r: &Run| format!("{runtime}://{}", r.id);
    let mut state = json!({});
    let mut last = json!({});
    match (&slot.current, &slot.waiting) {
        (Some(r), None) if r.exited.is_none() => state = json!({"running": {"startedAt": time(r.started.at)}}),
        (Some(r), None) => {
            let mut t = terminated(r);
            t["containerID"] = id(r).into();
            state = json!({ "terminated": t });
        }
        (current, waiting) => {
            let (reason, message) = waiting.clone().unwrap_or_else(|| ("ContainerCreating".into(), String::new()));
            let mut w = json!({ "reason": reason });
            if !message.is_empty() {
                w["message"] = message.into();
            }
            state = json!({ "waiting": w });
            if let Some(r) = current.as_ref().filter(|r| r.exited.is_some()) {
                let mut t = terminated(r);
                t["containerID"] = id(r).into();
                last = json!({ "terminated": t });
            }
        }
    }
    if last == json!({})
        && let Some(p) = slot.previous.as_ref().filter(|r| r.exited.is_some())
    {
        let mut t = terminated(p);
        t["containerID"] = id(p).into();
        last = json!({ "terminated": t });
    }
    let running = slot.running() && slot.waiting.is_none();
    let mut s = json!({
        "name": slot.name,
        "state": state,
        "lastState": last,
        "ready": running && slot.started && slot.ready,
        "restartCount": slot.current.as_ref().map_or(0, |r| r.attempt),
        "image": slot.current.as_ref().map_or(image_of, |r| r.image.as_str()),
        "imageID": slot.current.as_ref().map_or("", |r| r.image_id.as_str()),
        "started": running && slot.started,
    });
    if let Some(r) = &slot.current {
        s["containerID"] = id(r).into();
    }
    s
}

/// The status to write (a whole `status` object).
pub fn build(i: &Inputs) -> Value {
    let spec = i.pod.spec.clone().unwrap_or_default();
    let phase = i.terminal.unwrap_or_else(|| phase(i.pod, i.slots));
    let image_of = |name: &str, init: bool| {
        let list = if init { spec.init_containers.as_deref().unwrap_or_default() } else { &spec.containers };
        list.iter().find(|c| c.name == name).and_then(|c| c.image.clone()).unwrap_or_default()
    };
    let statuses = |init: bool| -> Vec<Value> {
        i.slots
            .iter()
            .filter(|s| s.init == init)
            .map(|s| container_status(s, &image_of(&s.name, init), i.runtime))
            .collect()
    };
    let containers = statuses(false);
    let inits = statuses(true);
    let initialized = i.slots.iter().filter(|s| s.init).all(Slot::succeeded);
    let all_ready = containers.iter().all(|c| c["ready"] == true) && !containers.is_empty();
    let done = phase == "Succeeded" || phase == "Failed";
    let now = time(jiff::Timestamp::now());
    let previous = i.pod.status.as_ref().and_then(|s| s.conditions.clone()).unwrap_or_default();
    let cond = |type_: &str, ok: bool, reason: Option<&str>| {
        let status = if ok { "True" } else { "False" };
        let transition = previous
            .iter()
            .find(|c| c.type_ == type_ && c.status == status)
            .and_then(|c| c.last_transition_time.as_ref())
            .map(|t| time(t.0))
            .unwrap_or_else(|| now.clone());
        let mut c = json!({"type": type_, "status": status, "lastProbeTime": null, "lastTransitionTime": transition});
        if let Some(r) = reason.filter(|_| !ok) {
            c["reason"] = r.into();
        }
        c
    };
    let not_ready = |names: Vec<&str>| format!("containers with unready status: [{}]", names.join(" "));
    let unready: Vec<&str> =
        containers.iter().filter(|c| c["ready"] != true).filter_map(|c| c["name"].as_str()).collect();
    let mut conditions: Vec<Value> = previous
        .iter()
        .filter(|c| !OWNED.contains(&c.type_.as_str()))
        .map(|c| serde_json::to_value(c).unwrap_or_default())
        .collect();
    conditions.push(cond("PodReadyToStartContainers", i.sandbox_ready && !done, None));
    let mut init_cond = cond("Initialized", initialized, Some("ContainersNotInitialized"));
    if !initialized {
        let pending: Vec<&str> = i.slots.iter().filter(|s| s.init && !s.succeeded()).map(|s| s.name.as_str()).collect();
        init_cond["message"] = format!("containers with incomplete status: [{}]", pending.join(" ")).into();
    }
    conditions.push(init_cond);
    let ready_reason = if done { "PodCompleted" } else { "ContainersNotReady" };
    let mut ready = cond("Ready", all_ready, Some(ready_reason));
    let mut containers_ready = cond("ContainersReady", all_ready, Some(ready_reason));
    if !all_ready && !done {
        ready["message"] = not_ready(unready.clone()).into();
        containers_ready["message"] = not_ready(unready).into();
    }
    conditions.push(containers_ready);
    conditions.push(ready);

    let mut status = json!({
        "phase": phase,
        "conditions": conditions,
        "hostIP": i.host_ip,
        "hostIPs": [{"ip": i.host_ip}],
        "startTime": time(i.start_time),
        "containerStatuses": containers,
    });
    if !inits.is_empty() {
        status["initContainerStatuses"] = inits.into();
    }
    if let Some(ip) = i.pod_ip.filter(|ip| !ip.is_empty()) {
        status["podIP"] = ip.into();
        status["podIPs"] = json!([{ "ip": ip }]);
    }
    if let Some(qos) = i.pod.status.as_ref().and_then(|s| s.qos_class.clone()) {
        status["qosClass"] = qos.into();
    }
    status
}
