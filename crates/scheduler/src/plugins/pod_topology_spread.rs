//! PodTopologySpread: keep matching pods evenly spread over topology domains (zones, hosts…).
//! `DoNotSchedule` constraints filter nodes whose domain would exceed `maxSkew`;
//! `ScheduleAnyway` constraints score nodes with fewer matching pods higher.

use std::collections::HashSet;

use k8s_openapi::api::core::v1::{PodSpec, TopologySpreadConstraint};
use skiff_api::selector::label::{LabelSelector, Op, Requirement};

use crate::cache::Cache;
use crate::fnv::FnvMap;
use crate::framework::{
    CycleState, FilterPlugin, MAX_NODE_SCORE, PreFilterPlugin, PreScorePlugin, ScorePlugin, Status,
};
use crate::node_info::{NodeData, NodeInfo};
use crate::plugins::helpers::{required_node_affinity_matches, untolerated};
use crate::pod_info::PodInfo;

pub const NAME: &str = "PodTopologySpread";
const HOSTNAME: &str = "kubernetes.io/hostname";

#[derive(Debug, Clone)]
struct Constraint {
    max_skew: i64,
    key: String,
    selector: LabelSelector,
    min_domains: i64,
    honor_affinity: bool,
    honor_taints: bool,
}

fn constraints(pod: &PodInfo, hard: bool) -> Vec<Constraint> {
    let want = if hard { "DoNotSchedule" } else { "ScheduleAnyway" };
    let Some(spec) = pod.spec() else { return Vec::new() };
    spec.topology_spread_constraints
        .iter()
        .flatten()
        .filter(|c| c.when_unsatisfiable == want)
        .map(|c| constraint(c, pod))
        .collect()
}

fn constraint(c: &TopologySpreadConstraint, pod: &PodInfo) -> Constraint {
    let mut selector = match &c.label_selector {
        Some(s) => LabelSelector::from_structured(&serde_json::to_value(s).unwrap_or_default())
            .ok()
            .flatten()
            .unwrap_or_else(LabelSelector::nothing),
        None => LabelSelector::nothing(),
    };
    for key in c.match_label_keys.iter().flatten() {
        if let Some(v) = pod.labels.get(key) {
            selector.requirements.push(Requirement { key: key.clone(), op: Op::In, values: [v.clone()].into() });
        }
    }
    Constraint {
        max_skew: c.max_skew as i64,
        key: c.topology_key.clone(),
        selector,
        min_domains: c.min_domains.unwrap_or(1) as i64,
        honor_affinity: c.node_affinity_policy.as_deref() != Some("Ignore"),
        honor_taints: c.node_taints_policy.as_deref() == Some("Honor"),
    }
}

/// Whether `node` takes part in counting for `c` (node inclusion policies).
fn counts_for(c: &Constraint, spec: Option<&PodSpec>, node: &NodeData) -> bool {
    let Some(spec) = spec else { return true };
    if c.honor_affinity && !required_node_affinity_matches(spec, node) {
        return false;
    }
    if c.honor_taints {
        let tolerations = spec.tolerations.as_deref().unwrap_or(&[]);
        if untolerated(&node.taints, tolerations, &["NoSchedule", "NoExecute"]).is_some() {
            return false;
        }
    }
    true
}

fn has_all_keys(node: &NodeData, cs: &[Constraint]) -> bool {
    cs.iter().all(|c| node.labels.contains_key(&c.key))
}

fn matching_pods(node: &NodeInfo, c: &Constraint, namespace: &str) -> i64 {
    node.pods.iter().filter(|p| counts_pod(p, c, namespace)).count() as i64
}

fn counts_pod(p: &PodInfo, c: &Constraint, namespace: &str) -> bool {
    !p.terminating && p.namespace == namespace && c.selector.matches(|k| p.labels.get(k).map(String::as_str))
}

/// Matching pods per domain for each hard constraint, and each constraint's smallest count.
#[derive(Clone)]
struct FilterState {
    constraints: Vec<Constraint>,
    counts: Vec<FnvMap<String, i64>>,
    min: Vec<i64>,
}

impl FilterState {
    fn recompute_min(&mut self, i: usize) {
        let c = &self.constraints[i];
        let counts = &self.counts[i];
        self.min[i] =
            if (counts.len() as i64) < c.min_domains { 0 } else { counts.values().copied().min().unwrap_or(0) };
    }

    fn update(&mut self, pod: &PodInfo, other: &PodInfo, node: &NodeInfo, delta: i64) {
        let data = node.data();
        if !has_all_keys(data, &self.constraints) {
            return;
        }
        for i in 0..self.constraints.len() {
            let c = &self.constraints[i];
            if !counts_for(c, pod.spec(), data) || !counts_pod(other, c, &pod.namespace) {
                continue;
            }
            let v = &data.labels[&c.key];
            *self.counts[i].entry(v.clone()).or_default() += delta;
            self.recompute_min(i);
        }
    }
}

pub struct PodTopologySpread;

impl PreFilterPlugin for PodTopologySpread {
    fn name(&self) -> &'static str {
        NAME
    }

    fn pre_filter(&self, state: &mut CycleState, pod: &PodInfo, cache: &Cache) -> Status {
        let cs = constraints(pod, true);
        if cs.is_empty() {
            return Status::skip();
        }
        let mut counts: Vec<FnvMap<String, i64>> = vec![FnvMap::default(); cs.len()];
        let mut values: Vec<&String> = Vec::with_capacity(cs.len());
        for node in cache.nodes() {
            let data = node.data();
            values.clear();
            values.extend(cs.iter().map_while(|c| data.labels.get(&c.key)));
            if values.len() < cs.len() {
                continue;
            }
            for (i, c) in cs.iter().enumerate() {
                if !counts_for(c, pod.spec(), data) {
                    continue;
                }
                let n = if node.pods.is_empty() { 0 } else { matching_pods(node, c, &pod.namespace) };
                match counts[i].get_mut(values[i]) {
                    Some(count) => *count += n,
                    None => {
                        counts[i].insert(values[i].clone(), n);
                    }
                }
            }
        }
        let mut st = FilterState { min: vec![0; cs.len()], constraints: cs, counts };
        for i in 0..st.constraints.len() {
            st.recompute_min(i);
        }
        state.write(NAME, st);
        Status::success()
    }

    fn add_pod(&self, state: &mut CycleState, pod: &PodInfo, other: &PodInfo, node: &NodeInfo) {
        if let Some(st) = state.read_mut::<FilterState>(NAME) {
            st.update(pod, other, node, 1);
        }
    }

    fn remove_pod(&self, state: &mut CycleState, pod: &PodInfo, other: &PodInfo, node: &NodeInfo) {
        if let Some(st) = state.read_mut::<FilterState>(NAME) {
            st.update(pod, other, node, -1);
        }
    }
}

impl FilterPlugin for PodTopologySpread {
    fn name(&self) -> &'static str {
        NAME
    }

    fn filter(&self, state: &CycleState, pod: &PodInfo, node: &NodeInfo, _: &Cache) -> Status {
        let Some(st) = state.read::<FilterState>(NAME) else { return Status::success() };
        let data = node.data();
        for (i, c) in st.constraints.iter().enumerate() {
            let Some(value) = data.labels.get(&c.key) else {
                return Status::unresolvable(
                    "node(s) didn't match pod topology spread constraints (missing required label)",
                );
            };
            let self_match = i64::from(c.selector.matches(|k| pod.labels.get(k).map(String::as_str)));
            let matched = st.counts[i].get(value).copied().unwrap_or(0);
            if matched + self_match - st.min[i] > c.max_skew {
                return Status::unschedulable("node(s) didn't match pod topology spread constraints");
            }
        }
        Status::success()
    }
}

/// Soft constraints with per-domain counts over the cluster and each constraint's weight.
#[derive(Clone)]
struct ScoreState {
    constraints: Vec<Constraint>,
    counts: Vec<FnvMap<String, i64>>,
    weights: Vec<f64>,
    ignored: HashSet<String>,
}

impl PreScorePlugin for PodTopologySpread {
    fn name(&self) -> &'static str {
        NAME
    }

    fn pre_score(&self, state: &mut CycleState, pod: &PodInfo, nodes: &[&NodeInfo], cache: &Cache) -> Status {
        let cs = constraints(pod, false);
        if cs.is_empty() {
            return Status::skip();
        }
        let mut ignored = HashSet::new();
        let mut counts: Vec<FnvMap<String, i64>> = vec![FnvMap::default(); cs.len()];
        let mut sizes = vec![0usize; cs.len()];
        for node in nodes {
            let data = node.data();
            if !has_all_keys(data, &cs) {
                ignored.insert(data.name.clone());
                continue;
            }
            for (i, c) in cs.iter().enumerate() {
                if c.key == HOSTNAME {
                    sizes[i] += 1;
                } else if !counts[i].contains_key(&data.labels[&c.key]) {
                    counts[i].insert(data.labels[&c.key].clone(), 0);
                    sizes[i] += 1;
                }
            }
        }
        // Count matching pods over the whole cluster, in the domains the feasible nodes span.
        for node in cache.nodes() {
            let data = node.data();
            if !has_all_keys(data, &cs) {
                continue;
            }
            for (i, c) in cs.iter().enumerate() {
                if c.key == HOSTNAME || !counts_for(c, pod.spec(), data) {
                    continue;
                }
                if let Some(n) = counts[i].get_mut(&data.labels[&c.key]) {
                    *n += matching_pods(node, c, &pod.namespace);
                }
            }
        }
        let weights = sizes.iter().map(|s| ((*s + 2) as f64).ln()).collect();
        state.write(NAME, ScoreState { constraints: cs, counts, weights, ignored });
        Status::success()
    }
}

impl ScorePlugin for PodTopologySpread {
    fn name(&self) -> &'static str {
        NAME
    }

    fn score(&self, state: &CycleState, pod: &PodInfo, node: &NodeInfo, _: &Cache) -> i64 {
        let Some(st) = state.read::<ScoreState>(NAME) else { return 0 };
        let data = node.data();
        if st.ignored.contains(&data.name) {
            return 0;
        }
        let mut score = 0.0;
        for (i, c) in st.constraints.iter().enumerate() {
            let count = if c.key == HOSTNAME {
                matching_pods(node, c, &pod.namespace)
            } else {
                st.counts[i].get(&data.labels[&c.key]).copied().unwrap_or(0)
            };
            score += count as f64 * st.weights[i] + (c.max_skew - 1) as f64;
        }
        score.round() as i64
    }

    fn normalize(&self, state: &CycleState, _: &PodInfo, nodes: &[&NodeInfo], scores: &mut [i64]) {
        let Some(st) = state.read::<ScoreState>(NAME) else { return };
        let counted = |i: usize| !st.ignored.contains(nodes[i].name());
        let (mut min, mut max) = (i64::MAX, i64::MIN);
        for (i, s) in scores.iter().enumerate() {
            if counted(i) {
                min = min.min(*s);
                max = max.max(*s);
            }
        }
        for (i, s) in scores.iter_mut().enumerate() {
            *s = if !counted(i) {
                0
            } else if max == 0 {
                MAX_NODE_SCORE
            } else {
                MAX_NODE_SCORE * (max + min - *s) / max
            };
        }
    }
}
