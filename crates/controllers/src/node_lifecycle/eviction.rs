//! NoExecute taint eviction (upstream's taint-eviction-controller): a pod on a node with a
//! NoExecute taint it does not tolerate is deleted at once; one it tolerates for
//! `tolerationSeconds` is deleted when that time has passed since the taint was added.

use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::api::core::v1::{Node, Taint};

use skiff_api::scheduling::tolerates;

use crate::cached_pod::CachedPod;

/// When a pod must go because of its node's NoExecute taints.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    Stay,
    Now,
    After(Duration),
}

pub fn verdict(pod: &CachedPod, node: &Node, now: Timestamp) -> Verdict {
    let taints: Vec<&Taint> =
        node.spec.iter().flat_map(|s| s.taints.iter().flatten()).filter(|t| t.effect == "NoExecute").collect();
    if taints.is_empty() {
        return Verdict::Stay;
    }
    let tolerations = pod.spec.as_ref().and_then(|s| s.tolerations.clone()).unwrap_or_default();
    // The earliest time any taint's tolerance runs out.
    let mut deadline: Option<Timestamp> = None;
    for taint in taints {
        let matching: Vec<_> = tolerations.iter().filter(|t| tolerates(t, taint)).collect();
        if matching.is_empty() {
            return Verdict::Now;
        }
        // The shortest toleration wins; one without seconds tolerates forever.
        let Some(seconds) = matching.iter().filter_map(|t| t.toleration_seconds).min() else {
            continue;
        };
        let added = taint.time_added.as_ref().map(|t| t.0).unwrap_or(now);
        let until = added.checked_add(jiff::SignedDuration::from_secs(seconds.max(0))).unwrap_or(added);
        deadline = Some(deadline.map_or(until, |d| d.min(until)));
    }
    match deadline {
        None => Verdict::Stay,
        Some(d) if d <= now => Verdict::Now,
        Some(d) => Verdict::After(Duration::from_millis(d.duration_since(now).as_millis().max(0) as u64)),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn node(taints: serde_json::Value) -> Node {
        serde_json::from_value(json!({"spec": {"taints": taints}})).unwrap()
    }

    fn pod(tolerations: serde_json::Value) -> CachedPod {
        serde_json::from_value(json!({"spec": {"containers": [], "tolerations": tolerations}})).unwrap()
    }

    #[test]
    fn untolerated_no_execute_taints_evict_at_once() {
        let now: Timestamp = "2026-11-22T10:00:00Z".parse().unwrap();
        let n = node(
            json!([{"key": "node.kubernetes.io/unreachable", "effect": "NoExecute", "timeAdded": "2026-11-22T09:59:58Z"}]),
        );
        assert_eq!(verdict(&pod(json!([])), &n, now), Verdict::Now);
        let five = pod(
            json!([{"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 5}]),
        );
        assert_eq!(verdict(&five, &n, now), Verdict::After(Duration::from_secs(3)));
        let forever = pod(json!([{"key": "node.kubernetes.io/unreachable", "operator": "Exists"}]));
        assert_eq!(verdict(&forever, &n, now), Verdict::Stay);
        let expired = pod(json!([{"operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 1}]));
        assert_eq!(verdict(&expired, &n, now), Verdict::Now);
        let no_schedule_only = node(json!([{"key": "x", "effect": "NoSchedule"}]));
        assert_eq!(verdict(&pod(json!([])), &no_schedule_only, now), Verdict::Stay);
    }
}
