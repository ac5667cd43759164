//! DefaultPreemption (the PostFilter): when no node fits, find the node where evicting the
//! fewest and least important pods makes room, respecting PodDisruptionBudgets where possible.
//! The caller nominates the pod to that node and deletes the victims.

use std::sync::Arc;

use crate::algorithm::{Diagnosis, histogram};
use crate::cache::{Budget, Cache};
use crate::framework::{Code, CycleState, Profile, Status};
use crate::node_info::NodeInfo;
use crate::pod_info::PodInfo;

const MIN_CANDIDATE_NODES_PERCENTAGE: usize = 10;
const MIN_CANDIDATE_NODES_ABSOLUTE: usize = 100;

#[derive(Debug, Clone)]
pub struct Candidate {
    pub node: String,
    /// Most important first.
    pub victims: Vec<Arc<PodInfo>>,
    pub pdb_violations: usize,
}

/// What preemption decided.
pub enum Decision {
    /// Evict `victims` from `node`, and nominate the pod there.
    Preempt(Candidate),
    /// Preemption cannot help; the message goes into the FailedScheduling event.
    NotHelpful(String),
}

/// Most important first: higher priority, then the pod that started earlier (upstream's
/// `MoreImportantPod`).
fn by_importance(a: &Arc<PodInfo>, b: &Arc<PodInfo>) -> std::cmp::Ordering {
    (b.priority, a.start_time).cmp(&(a.priority, b.start_time))
}

pub fn preempt(
    profile: &Profile,
    state: &CycleState,
    pod: &PodInfo,
    cache: &Cache,
    diagnosis: &Diagnosis,
    offset: usize,
) -> Decision {
    let spec = pod.spec();
    if spec.and_then(|s| s.preemption_policy.as_deref()) == Some("Never") {
        return Decision::NotHelpful("preemption: not eligible due to preemptionPolicy=Never.".into());
    }
    if !pod.nominated_node_name.is_empty()
        && let Some(node) = cache.node(&pod.nominated_node_name)
        && node.pods.iter().any(|p| p.terminating && p.priority < pod.priority)
    {
        return Decision::NotHelpful("preemption: not eligible due to a terminating pod on the nominated node.".into());
    }

    let all = cache.node_count();
    let mut reasons: Vec<String> = Vec::new();
    let mut potential = Vec::new();
    for (i, s) in &diagnosis.statuses {
        if s.code == Code::UnschedulableAndUnresolvable {
            reasons.push("Preemption is not helpful for scheduling".into());
        } else {
            potential.push(*i);
        }
    }
    let wanted = (all * MIN_CANDIDATE_NODES_PERCENTAGE / 100).max(MIN_CANDIDATE_NODES_ABSOLUTE).min(all.max(1));
    let mut candidates: Vec<Candidate> = Vec::new();
    let n = potential.len();
    for k in 0..n {
        let i = potential[(offset + k) % n];
        let node = &cache.infos()[i];
        match select_victims(profile, state, pod, node, cache) {
            Ok(c) => candidates.push(c),
            Err(s) => reasons.extend(s.reasons),
        }
        let non_violating = candidates.iter().filter(|c| c.pdb_violations == 0).count();
        if non_violating > 0 && candidates.len() >= wanted {
            break;
        }
    }
    match pick(candidates) {
        Some(c) => Decision::Preempt(c),
        None => Decision::NotHelpful(format!(
            "preemption: 0/{all} nodes are available: {}.",
            histogram(reasons.into_iter()).join(", ")
        )),
    }
}

/// Remove every lower-priority pod from a copy of the node; if the pod then fits, put back as
/// many as still leave room, budget-protected ones first.
fn select_victims(
    profile: &Profile,
    state: &CycleState,
    pod: &PodInfo,
    node: &NodeInfo,
    cache: &Cache,
) -> Result<Candidate, Status> {
    let mut node = node.clone();
    let mut state = state.clone();
    let mut potential: Vec<Arc<PodInfo>> = node.pods.iter().filter(|p| p.priority < pod.priority).cloned().collect();
    if potential.is_empty() {
        return Err(Status::unresolvable("No preemption victims found for incoming pod"));
    }
    for v in &potential {
        node.remove_pod(&v.uid);
        profile.run_remove_pod(&mut state, pod, v, &node);
    }
    let s = profile.run_filters_with_nominated(&state, pod, &node, cache);
    if !s.is_success() {
        return Err(s);
    }
    potential.sort_by(by_importance);
    let (violating, fine) = split_by_budget(&potential, &cache.budgets);
    let mut victims = Vec::new();
    let mut pdb_violations = 0;
    for (group, counts) in [(violating, true), (fine, false)] {
        for v in group {
            node.add_pod(v.clone());
            profile.run_add_pod(&mut state, pod, &v, &node);
            if !profile.run_filters_with_nominated(&state, pod, &node, cache).is_success() {
                node.remove_pod(&v.uid);
                profile.run_remove_pod(&mut state, pod, &v, &node);
                if counts {
                    pdb_violations += 1;
                }
                victims.push(v);
            }
        }
    }
    victims.sort_by(by_importance);
    Ok(Candidate { node: node.name().to_string(), victims, pdb_violations })
}

/// Pods whose eviction would take a budget below zero, and the rest.
fn split_by_budget(pods: &[Arc<PodInfo>], budgets: &[Budget]) -> (Vec<Arc<PodInfo>>, Vec<Arc<PodInfo>>) {
    let mut allowed: Vec<i32> = budgets.iter().map(|b| b.disruptions_allowed).collect();
    let (mut violating, mut fine) = (Vec::new(), Vec::new());
    for p in pods {
        let mut violated = false;
        if !p.labels.is_empty() {
            for (i, b) in budgets.iter().enumerate() {
                if b.namespace != p.namespace
                    || b.selector.is_empty()
                    || !b.selector.matches(|k| p.labels.get(k).map(String::as_str))
                    || b.disrupted.contains(&p.name)
                {
                    continue;
                }
                allowed[i] -= 1;
                if allowed[i] < 0 {
                    violated = true;
                }
            }
        }
        if violated { violating.push(p.clone()) } else { fine.push(p.clone()) }
    }
    (violating, fine)
}

/// Upstream's `pickOneNodeForPreemption`: fewest budget violations, then the lowest
/// highest-priority victim, the lowest priority sum, the fewest victims, the latest start of
/// the most important victims; then the first.
fn pick(candidates: Vec<Candidate>) -> Option<Candidate> {
    let key = |c: &Candidate| {
        let top = c.victims.first().map(|v| v.priority).unwrap_or(i32::MIN);
        let sum: i64 = c.victims.iter().map(|v| v.priority as i64 + i32::MAX as i64 + 1).sum();
        let earliest_top = c.victims.iter().filter(|v| v.priority == top).map(|v| v.start_time).min().unwrap_or(0);
        (c.pdb_violations, top, sum, c.victims.len(), -earliest_top)
    };
    candidates.into_iter().min_by_key(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn victim(name: &str, priority: i32, start: i64) -> Arc<PodInfo> {
        Arc::new(PodInfo { name: name.into(), uid: name.into(), priority, start_time: start, ..Default::default() })
    }

    #[test]
    fn picks_fewest_violations_then_lowest_priorities_then_fewest_victims() {
        let c = |node: &str, victims: Vec<Arc<PodInfo>>, v| Candidate { node: node.into(), victims, pdb_violations: v };
        let best = pick(vec![
            c("violates", vec![victim("a", 0, 0)], 1),
            c("high", vec![victim("b", 5, 0)], 0),
            c("two", vec![victim("c", 1, 0), victim("d", 1, 0)], 0),
            c("one", vec![victim("e", 1, 0)], 0),
        ]);
        assert_eq!(best.unwrap().node, "one");
        let best = pick(vec![c("old", vec![victim("a", 1, 10)], 0), c("young", vec![victim("b", 1, 20)], 0)]);
        assert_eq!(best.unwrap().node, "young", "the more recently started victim is cheaper to lose");
    }
}
