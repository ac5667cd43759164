//! The RollingUpdate strategy of DaemonSets (upstream's `rollingUpdate`), without IO. Without
//! surge, old pods are deleted while fewer than `maxUnavailable` nodes lack an available pod
//! (the regular sync then creates the new ones). With `maxSurge`, a new pod is created beside
//! the old one on up to `maxSurge` nodes, and the old pod goes once the new one is available.

use std::collections::BTreeMap;
use std::sync::Arc;

use jiff::Timestamp;
use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::placement::is_updated;
use crate::cached_pod::CachedPod;
use crate::pods;

/// An int-or-percent as a count of `total`, percentages rounded up or down.
pub fn scaled(v: &IntOrString, total: i32, round_up: bool) -> i32 {
    match v {
        IntOrString::Int(n) => *n,
        IntOrString::String(s) => {
            let pct: i64 = s.trim_end_matches('%').parse().unwrap_or(0);
            let x = pct * i64::from(total);
            let v = if round_up { (x + 99).div_euclid(100) } else { x.div_euclid(100) };
            v as i32
        }
    }
}

/// (maxSurge, maxUnavailable) for `desired` nodes; both zero means one unavailable.
pub fn limits(ds: &DaemonSet, desired: i32) -> (i32, i32) {
    let ru = ds.spec.as_ref().and_then(|s| s.update_strategy.as_ref()).and_then(|u| u.rolling_update.as_ref());
    let surge = ru.and_then(|r| r.max_surge.as_ref()).map(|v| scaled(v, desired, true)).unwrap_or(0);
    let unavailable = ru.and_then(|r| r.max_unavailable.as_ref()).map(|v| scaled(v, desired, true)).unwrap_or(1);
    if desired > 0 && surge == 0 && unavailable == 0 { (0, 1) } else { (surge, unavailable) }
}

/// Whether the set may run two pods on a node during an update.
pub fn allows_surge(ds: &DaemonSet) -> bool {
    let is_rolling =
        ds.spec.as_ref().and_then(|s| s.update_strategy.as_ref()).and_then(|u| u.type_.as_deref()) != Some("OnDelete");
    is_rolling && limits(ds, 1).0 > 0
}

/// A node's pod at the current revision and its pod at an older one.
type NewAndOld<'a> = (Option<&'a Arc<CachedPod>>, Option<&'a Arc<CachedPod>>);

/// The node's one new and one old pod (not being deleted); `None` when there are more, which
/// the regular sync prunes first.
fn new_and_old<'a>(pods: &'a [Arc<CachedPod>], hash: &str, generation: Option<i64>) -> Option<NewAndOld<'a>> {
    let (mut new, mut old) = (None, None);
    for p in pods.iter().filter(|p| p.metadata.deletion_timestamp.is_none()) {
        let slot = if is_updated(p, hash, generation) { &mut new } else { &mut old };
        if slot.is_some() {
            return None;
        }
        *slot = Some(p);
    }
    Some((new, old))
}

/// What the rolling update wants: pods to delete and nodes to create a new pod on.
#[derive(Debug, Default, PartialEq)]
pub struct Plan {
    pub delete: Vec<Arc<CachedPod>>,
    pub create_on: Vec<String>,
}

/// The rolling update step. `by_node` holds every node with daemon pods and every node that
/// should run one (empty list); `should_run` says which nodes are wanted.
pub fn plan(
    ds: &DaemonSet,
    by_node: &BTreeMap<String, Vec<Arc<CachedPod>>>,
    should_run: &dyn Fn(&str) -> bool,
    hash: &str,
    generation: Option<i64>,
    now: Timestamp,
) -> Plan {
    let desired = by_node.keys().filter(|n| should_run(n)).count() as i32;
    let (max_surge, max_unavailable) = limits(ds, desired);
    let min_ready = ds.spec.as_ref().and_then(|s| s.min_ready_seconds).unwrap_or(0);
    let available = |p: &CachedPod| pods::is_available(p, min_ready, now);
    let mut plan = Plan::default();

    if max_surge == 0 {
        let mut unavailable = 0;
        let mut candidates = Vec::new();
        for pods in by_node.values() {
            match new_and_old(pods, hash, generation) {
                None | Some((None, None)) | Some((Some(_), Some(_))) => unavailable += 1,
                Some((Some(new), None)) => unavailable += i32::from(!available(new)),
                Some((None, Some(old))) if !available(old) => {
                    // An old pod that is down anyway is replaced at once.
                    plan.delete.push(old.clone());
                    unavailable += 1;
                }
                Some((None, Some(old))) => {
                    if unavailable < max_unavailable {
                        candidates.push(old.clone());
                    }
                }
            }
        }
        let room = (max_unavailable - unavailable).clamp(0, candidates.len() as i32) as usize;
        plan.delete.extend(candidates.into_iter().take(room));
        return plan;
    }

    let (mut surging, mut available_nodes) = (0, 0);
    let mut candidates = Vec::new();
    let mut unwanted = Vec::new();
    for (node, pods) in by_node {
        let Some((new, old)) = new_and_old(pods, hash, generation) else {
            surging += 1;
            continue;
        };
        if let Some(p) = old.or(new)
            && available(p)
        {
            available_nodes += 1;
        }
        match (new, old) {
            (_, None) => {}
            (None, Some(old)) if !available(old) => {
                if should_run(node) {
                    plan.create_on.push(node.clone());
                } else {
                    plan.delete.push(old.clone());
                }
            }
            (None, Some(old)) => {
                if !should_run(node) {
                    unwanted.push(old.clone());
                } else if surging < max_surge {
                    candidates.push(node.clone());
                }
            }
            (Some(new), Some(old)) => {
                if available(new) {
                    plan.delete.push(old.clone());
                } else {
                    surging += 1;
                }
            }
        }
    }
    // Pods on nodes no longer wanted go only once enough others are available elsewhere.
    let deletable = (available_nodes - desired).clamp(0, unwanted.len() as i32) as usize;
    plan.delete.extend(unwanted.into_iter().take(deletable));
    let room = (max_surge - surging).clamp(0, candidates.len() as i32) as usize;
    plan.create_on.extend(candidates.into_iter().take(room));
    plan
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::daemonset::eligibility::tests::ds;
    use crate::history::HASH_LABEL;

    fn pod(name: &str, hash: &str, ready: bool) -> Arc<CachedPod> {
        Arc::new(
            serde_json::from_value(json!({
                "metadata": {"name": name, "labels": {HASH_LABEL: hash}},
                "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" },
                           "lastTransitionTime": "2026-01-01T00:00:00Z"}]},
            }))
            .unwrap(),
        )
    }

    fn run(d: &DaemonSet, nodes: &[(&str, Vec<Arc<CachedPod>>)]) -> (Vec<String>, Vec<String>) {
        let by_node: BTreeMap<String, Vec<Arc<CachedPod>>> =
            nodes.iter().map(|(n, p)| (n.to_string(), p.clone())).collect();
        let now = "2026-01-01T01:00:00Z".parse().unwrap();
        let p = plan(d, &by_node, &|_| true, "new", None, now);
        (p.delete.iter().map(|p| p.metadata.name.clone().unwrap()).collect(), p.create_on)
    }

    #[test]
    fn percentages_scale_with_rounding() {
        assert_eq!(scaled(&IntOrString::String("25%".into()), 10, true), 3);
        assert_eq!(scaled(&IntOrString::String("25%".into()), 10, false), 2);
        assert_eq!(scaled(&IntOrString::Int(4), 10, true), 4);
    }

    #[test]
    fn without_surge_old_pods_go_one_unavailable_node_at_a_time() {
        let d = ds(json!({}));
        let nodes = [("a", vec![pod("a1", "old", true)]), ("b", vec![pod("b1", "old", true)])];
        assert_eq!(run(&d, &nodes), (vec!["a1".into()], vec![]));
        // A node waiting for its new pod uses up the budget.
        let nodes = [("a", vec![]), ("b", vec![pod("b1", "old", true)])];
        assert_eq!(run(&d, &nodes), (vec![], vec![]));
        let nodes = [("a", vec![pod("a2", "new", false)]), ("b", vec![pod("b1", "old", true)])];
        assert_eq!(run(&d, &nodes), (vec![], vec![]));
        // Unavailable old pods are replaced regardless.
        let nodes = [("a", vec![pod("a2", "new", false)]), ("b", vec![pod("b1", "old", false)])];
        assert_eq!(run(&d, &nodes), (vec!["b1".into()], vec![]));
    }

    #[test]
    fn with_surge_new_pods_come_first_and_old_ones_go_when_they_are_available() {
        let mut d = ds(json!({}));
        d.spec.as_mut().unwrap().update_strategy = Some(
            serde_json::from_value(
                json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}),
            )
            .unwrap(),
        );
        assert!(allows_surge(&d));
        let nodes = [("a", vec![pod("a1", "old", true)]), ("b", vec![pod("b1", "old", true)])];
        assert_eq!(run(&d, &nodes), (vec![], vec!["a".into()]));
        let nodes = [("a", vec![pod("a1", "old", true), pod("a2", "new", false)]), ("b", vec![pod("b1", "old", true)])];
        assert_eq!(run(&d, &nodes), (vec![], vec![]));
        let nodes = [("a", vec![pod("a1", "old", true), pod("a2", "new", true)]), ("b", vec![pod("b1", "old", true)])];
        assert_eq!(run(&d, &nodes), (vec!["a1".into()], vec!["b".into()]));
    }
}
