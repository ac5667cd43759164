//! Which pods go first when a controller has too many: upstream's `ActivePods` order,
//! least valuable first (ReplicaSets and Jobs use it).

use std::cmp::Ordering;

use crate::cached_pod::CachedPod;
use crate::pods;

/// Unassigned before assigned; Pending before Unknown before Running; not ready before
/// ready; ready for less time before longer; more restarts before fewer; newer before older.
pub fn deletion_order(a: &CachedPod, b: &CachedPod) -> Ordering {
    let phase_rank = |p: &CachedPod| match pods::phase(p) {
        "Pending" => 0,
        "Unknown" => 1,
        "Running" => 2,
        _ => 0,
    };
    pods::is_scheduled(a)
        .cmp(&pods::is_scheduled(b))
        .then(phase_rank(a).cmp(&phase_rank(b)))
        .then(pods::is_ready(a).cmp(&pods::is_ready(b)))
        // Ready more recently means less time ready: goes first.
        .then_with(|| pods::ready_since(b).cmp(&pods::ready_since(a)))
        .then(pods::restarts(b).cmp(&pods::restarts(a)))
        .then_with(|| created(b).cmp(&created(a)))
}

fn created(p: &CachedPod) -> Option<jiff::Timestamp> {
    p.metadata.creation_timestamp.as_ref().map(|t| t.0)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn pod(name: &str, v: serde_json::Value) -> CachedPod {
        let mut p: CachedPod = serde_json::from_value(v).unwrap();
        p.metadata.name = Some(name.into());
        p
    }

    #[test]
    fn least_valuable_pods_sort_first() {
        let ready = |t: &str| json!({"type": "Ready", "status": "True", "lastTransitionTime": t});
        let mut list = [
            pod(
                "old-ready",
                json!({"spec": {"nodeName": "n", "containers": []}, "status": {"phase": "Running", "conditions": [ready("2026-01-01T00:00:00Z")]}}),
            ),
            pod(
                "new-ready",
                json!({"spec": {"nodeName": "n", "containers": []}, "status": {"phase": "Running", "conditions": [ready("2026-01-02T00:00:00Z")]}}),
            ),
            pod(
                "running-not-ready",
                json!({"spec": {"nodeName": "n", "containers": []}, "status": {"phase": "Running"}}),
            ),
            pod(
                "pending-on-node",
                json!({"spec": {"nodeName": "n", "containers": []}, "status": {"phase": "Pending"}}),
            ),
            pod("unscheduled", json!({"spec": {"containers": []}, "status": {"phase": "Pending"}})),
        ];
        list.sort_by(deletion_order);
        let names: Vec<_> = list.iter().map(|p| p.metadata.name.clone().unwrap()).collect();
        assert_eq!(names, ["unscheduled", "pending-on-node", "running-not-ready", "new-ready", "old-ready"]);
    }
}
