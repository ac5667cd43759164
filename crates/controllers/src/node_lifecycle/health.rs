//! Deciding a node's health from what its agent last posted: when nothing (lease renewal or
//! Ready heartbeat) changed for the grace period, its conditions become Unknown; the
//! taints then follow its Ready condition.

use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Node, NodeCondition, Taint};

/// How long a node may go without a sign of life (upstream's --node-monitor-grace-period).
pub const GRACE_PERIOD: Duration = Duration::from_secs(40);
pub const NOT_READY: &str = "node.kubernetes.io/not-ready";
pub const UNREACHABLE: &str = "node.kubernetes.io/unreachable";
pub const UNSCHEDULABLE: &str = "node.kubernetes.io/unschedulable";
/// The conditions an agent reports, set Unknown together.
const CONDITIONS: [&str; 4] = ["Ready", "MemoryPressure", "DiskPressure", "PIDPressure"];

/// What was last seen of a node, and when it last changed (by our clock).
#[derive(Debug, Clone)]
pub struct Seen {
    pub signature: (Option<String>, Option<String>),
    pub probed: Instant,
}

/// Lease renewTime and the Ready condition's lastHeartbeatTime: either changing is a sign of
/// life.
pub fn signature(node: &Node, lease_renewed: Option<String>) -> (Option<String>, Option<String>) {
    let heartbeat = condition(node, "Ready").and_then(|c| c.last_heartbeat_time.as_ref()).map(|t| t.0.to_string());
    (lease_renewed, heartbeat)
}

pub fn condition<'a>(node: &'a Node, kind: &str) -> Option<&'a NodeCondition> {
    node.status.as_ref()?.conditions.as_ref()?.iter().find(|c| c.type_ == kind)
}

/// The Ready condition's status ("True", "False", "Unknown"); a node that never posted one
/// counts as Unknown.
pub fn ready_status(node: &Node) -> &str {
    condition(node, "Ready").map(|c| c.status.as_str()).unwrap_or("Unknown")
}

/// The conditions to write for a node silent for longer than the grace period, or `None`
/// when they already say Unknown.
pub fn unknown_conditions(node: &Node, now: &str) -> Option<Vec<serde_json::Value>> {
    let mut changed = false;
    let mut out = Vec::new();
    for kind in CONDITIONS {
        let cond = condition(node, kind);
        if cond.is_some_and(|c| c.status == "Unknown") {
            continue;
        }
        changed = true;
        let (reason, message) = match cond {
            Some(_) => ("NodeStatusUnknown", "Kubelet stopped posting node status."),
            None => ("NodeStatusNeverUpdated", "Kubelet never posted node status."),
        };
        let heartbeat = cond.and_then(|c| c.last_heartbeat_time.as_ref()).map(|t| t.0.to_string());
        out.push(serde_json::json!({
            "type": kind,
            "status": "Unknown",
            "reason": reason,
            "message": message,
            "lastHeartbeatTime": heartbeat.unwrap_or_else(|| now.to_string()),
            "lastTransitionTime": now,
        }));
    }
    changed.then_some(out)
}

/// The node's taints with ours set from its Ready condition and `spec.unschedulable`:
/// `not-ready` for False, `unreachable` for Unknown (both NoSchedule and NoExecute), none
/// for True. Taints of ours that stay keep their `timeAdded`. `None` when nothing changes.
pub fn wanted_taints(node: &Node, now: &str) -> Option<Vec<Taint>> {
    let current: Vec<Taint> = node.spec.as_ref().and_then(|s| s.taints.clone()).unwrap_or_default();
    let mut want: Vec<(&str, &str)> = match ready_status(node) {
        "True" => vec![],
        "False" => vec![(NOT_READY, "NoSchedule"), (NOT_READY, "NoExecute")],
        _ => vec![(UNREACHABLE, "NoSchedule"), (UNREACHABLE, "NoExecute")],
    };
    if node.spec.as_ref().and_then(|s| s.unschedulable) == Some(true) {
        want.push((UNSCHEDULABLE, "NoSchedule"));
    }
    let ours = |t: &Taint| [NOT_READY, UNREACHABLE, UNSCHEDULABLE].contains(&t.key.as_str());
    let mut out: Vec<Taint> = current.iter().filter(|t| !ours(t)).cloned().collect();
    for (key, effect) in &want {
        let kept = current.iter().find(|t| t.key == *key && t.effect == *effect).cloned();
        out.push(kept.unwrap_or_else(|| Taint {
            key: key.to_string(),
            effect: effect.to_string(),
            value: None,
            time_added: now.parse().ok().map(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time),
        }));
    }
    let same = out.len() == current.len()
        && out.iter().all(|t| current.iter().any(|c| c.key == t.key && c.effect == t.effect));
    (!same).then_some(out)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const NOW: &str = "2026-11-22T10:00:00Z";

    fn node(v: serde_json::Value) -> Node {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn a_silent_node_has_every_condition_set_unknown_once() {
        let n = node(json!({"status": {"conditions": [
            {"type": "Ready", "status": "True", "lastHeartbeatTime": "2026-11-22T09:00:00Z"},
            {"type": "MemoryPressure", "status": "False"}]}}));
        let conds = unknown_conditions(&n, NOW).unwrap();
        assert_eq!(conds.len(), 4);
        assert_eq!(conds[0]["reason"], "NodeStatusUnknown");
        assert_eq!(conds[0]["message"], "Kubelet stopped posting node status.");
        assert_eq!(conds[0]["lastHeartbeatTime"], "2026-11-22T09:00:00Z");
        assert_eq!(conds[2]["reason"], "NodeStatusNeverUpdated");
        let all_unknown = node(
            json!({"status": {"conditions": CONDITIONS.iter().map(|t| json!({"type": t, "status": "Unknown"})).collect::<Vec<_>>()}}),
        );
        assert!(unknown_conditions(&all_unknown, NOW).is_none());
    }

    #[test]
    fn taints_follow_the_ready_condition_and_keep_others() {
        let unknown = node(json!({
            "spec": {"taints": [{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}]},
            "status": {"conditions": [{"type": "Ready", "status": "Unknown"}]}}));
        let t = wanted_taints(&unknown, NOW).unwrap();
        let keys: Vec<_> = t.iter().map(|t| format!("{}:{}", t.key, t.effect)).collect();
        assert_eq!(
            keys,
            [
                "dedicated:NoSchedule",
                "node.kubernetes.io/unreachable:NoSchedule",
                "node.kubernetes.io/unreachable:NoExecute"
            ]
        );
        assert!(t[2].time_added.is_some());

        let mut tainted = unknown.clone();
        tainted.spec.as_mut().unwrap().taints = Some(t);
        assert!(wanted_taints(&tainted, NOW).is_none(), "already right");
        tainted.status.as_mut().unwrap().conditions.as_mut().unwrap()[0].status = "True".into();
        let back = wanted_taints(&tainted, NOW).unwrap();
        assert_eq!(back.len(), 1);
        assert_eq!(back[0].key, "dedicated");

        let cordoned = node(
            json!({"spec": {"unschedulable": true}, "status": {"conditions": [{"type": "Ready", "status": "True"}]}}),
        );
        assert_eq!(wanted_taints(&cordoned, NOW).unwrap()[0].key, UNSCHEDULABLE);
    }
}
