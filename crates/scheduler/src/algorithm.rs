//! One scheduling decision: PreFilter, Filter over (a share of) the nodes, PreScore, Score and
//! the pick of the best node. Pure: reads the cache, changes nothing.

use std::collections::{BTreeMap, HashSet};

use crate::cache::Cache;
use crate::framework::{Code, CycleState, Profile, Status};
use crate::node_info::NodeInfo;
use crate::pod_info::PodInfo;

/// Below this many nodes every node is looked at.
const MIN_FEASIBLE_NODES_TO_FIND: usize = 100;
const MIN_FEASIBLE_NODES_PERCENTAGE: i64 = 5;

/// Why no node fits, node by node.
#[derive(Debug, Clone, Default)]
pub struct Diagnosis {
    /// (index into `Cache::infos`, the rejection) for every node evaluated.
    pub statuses: Vec<(usize, Status)>,
    pub rejected_by: HashSet<&'static str>,
    /// A PreFilter rejection, which applies to every node.
    pub pre_filter_msg: String,
    /// What preemption found.
    pub post_filter_msg: String,
}

#[derive(Debug, Clone)]
pub struct FitError {
    pub num_all_nodes: usize,
    pub diagnosis: Diagnosis,
}

impl FitError {
    /// Upstream's wording: `0/5 nodes are available: 2 Insufficient cpu, 3 node(s) had
    /// untolerated taint {dedicated: gpu}. preemption: …`.
    pub fn message(&self) -> String {
        if self.num_all_nodes == 0 && self.diagnosis.pre_filter_msg.is_empty() {
            return "no nodes available to schedule pods".to_string();
        }
        let mut msg = format!("0/{} nodes are available:", self.num_all_nodes);
        if !self.diagnosis.pre_filter_msg.is_empty() {
            msg.push_str(&format!(" {}.", self.diagnosis.pre_filter_msg));
        } else {
            let hist = histogram(self.diagnosis.statuses.iter().flat_map(|(_, s)| s.reasons.iter().cloned()));
            if !hist.is_empty() {
                msg.push_str(&format!(" {}.", hist.join(", ")));
            }
        }
        if !self.diagnosis.post_filter_msg.is_empty() {
            msg.push_str(&format!(" {}", self.diagnosis.post_filter_msg));
        }
        msg
    }
}

/// `"<count> <reason>"` per distinct reason, sorted as strings (as upstream does).
pub fn histogram(reasons: impl Iterator<Item = String>) -> Vec<String> {
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for r in reasons {
        *counts.entry(r).or_default() += 1;
    }
    let mut out: Vec<String> = counts.into_iter().map(|(r, n)| format!("{n} {r}")).collect();
    out.sort();
    out
}

pub enum Outcome {
    Fit { node: String, evaluated: usize, feasible: usize },
    NoFit(FitError),
    Error(String),
}

/// How many feasible nodes are enough before scoring (upstream's numFeasibleNodesToFind).
pub fn num_feasible_nodes_to_find(percentage: u32, all: usize) -> usize {
    if all < MIN_FEASIBLE_NODES_TO_FIND || percentage >= 100 {
        return all;
    }
    let mut pct = percentage as i64;
    if pct == 0 {
        pct = (50 - all as i64 / 125).max(MIN_FEASIBLE_NODES_PERCENTAGE);
    }
    ((all as i64 * pct / 100) as usize).max(MIN_FEASIBLE_NODES_TO_FIND)
}

pub struct Algorithm {
    /// Where the next search starts, so successive pods look at different nodes first.
    next_start: usize,
    rng: u64,
}

impl Default for Algorithm {
    fn default() -> Self {
        let seed =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(1);
        Algorithm { next_start: 0, rng: (seed as u64) | 1 }
    }
}

impl Algorithm {
    fn random(&mut self) -> u64 {
        // xorshift64: tie-breaks need no cryptographic randomness.
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        self.rng
    }

    pub fn schedule(&mut self, profile: &Profile, pod: &PodInfo, cache: &Cache) -> (Outcome, CycleState) {
        let mut state = CycleState::default();
        let all = cache.node_count();
        let no_fit = |diagnosis| Outcome::NoFit(FitError { num_all_nodes: all, diagnosis });
        if all == 0 {
            return (no_fit(Diagnosis::default()), state);
        }
        for p in &profile.pre_filter {
            let s = p.pre_filter(&mut state, pod, cache);
            match s.code {
                Code::Success => {}
                Code::Skip => profile.skip_filter(&mut state, p.name()),
                Code::Error => return (Outcome::Error(s.reasons.join(", ")), state),
                Code::Unschedulable | Code::UnschedulableAndUnresolvable => {
                    let mut d = Diagnosis { pre_filter_msg: s.reasons.join(", "), ..Default::default() };
                    d.rejected_by.insert(p.name());
                    let s = s.with_plugin(p.name());
                    d.statuses = cache
                        .infos()
                        .iter()
                        .enumerate()
                        .filter(|(_, n)| n.node.is_some())
                        .map(|(i, _)| (i, s.clone()))
                        .collect();
                    return (no_fit(d), state);
                }
            }
        }

        // A node preemption nominated is tried first: the room made there is for this pod.
        if !pod.nominated_node_name.is_empty()
            && let Some(node) = cache.node(&pod.nominated_node_name)
            && profile.run_filters_with_nominated(&state, pod, node, cache).is_success()
        {
            return (Outcome::Fit { node: pod.nominated_node_name.clone(), evaluated: 1, feasible: 1 }, state);
        }

        let (feasible, diagnosis, evaluated) = self.find_feasible(profile, &state, pod, cache);
        if feasible.is_empty() {
            return (no_fit(diagnosis), state);
        }
        let nodes: Vec<&NodeInfo> = feasible.iter().map(|i| &cache.infos()[*i]).collect();
        let feasible_count = nodes.len();
        if nodes.len() == 1 {
            return (Outcome::Fit { node: nodes[0].name().to_string(), evaluated, feasible: 1 }, state);
        }
        let totals = match self.score(profile, &mut state, pod, &nodes, cache) {
            Ok(t) => t,
            Err(e) => return (Outcome::Error(e), state),
        };
        let best = self.select(&totals);
        (Outcome::Fit { node: nodes[best].name().to_string(), evaluated, feasible: feasible_count }, state)
    }

    /// Filter nodes round-robin from where the last search stopped until enough fit.
    fn find_feasible(
        &mut self,
        profile: &Profile,
        state: &CycleState,
        pod: &PodInfo,
        cache: &Cache,
    ) -> (Vec<usize>, Diagnosis, usize) {
        let infos = cache.infos();
        let want = num_feasible_nodes_to_find(profile.percentage_of_nodes_to_score, cache.node_count());
        let mut feasible = Vec::new();
        let mut diagnosis = Diagnosis::default();
        let mut processed = 0;
        let len = infos.len();
        for k in 0..len {
            let i = (self.next_start + k) % len;
            let node = &infos[i];
            if node.node.is_none() {
                continue;
            }
            processed = k + 1;
            let s = profile.run_filters_with_nominated(state, pod, node, cache);
            if s.is_success() {
                feasible.push(i);
                if feasible.len() >= want {
                    break;
                }
            } else {
                diagnosis.rejected_by.insert(s.plugin);
                diagnosis.statuses.push((i, s));
            }
        }
        if len > 0 {
            self.next_start = (self.next_start + processed) % len;
        }
        (feasible, diagnosis, processed)
    }

    /// Weighted sum of every Score plugin's normalised score, per node.
    fn score(
        &mut self,
        profile: &Profile,
        state: &mut CycleState,
        pod: &PodInfo,
        nodes: &[&NodeInfo],
        cache: &Cache,
    ) -> Result<Vec<i64>, String> {
        for p in &profile.pre_score {
            let s = p.pre_score(state, pod, nodes, cache);
            match s.code {
                Code::Skip => state.skip_score.push(p.name()),
                Code::Success => {}
                _ => return Err(s.reasons.join(", ")),
            }
        }
        let mut totals = vec![0i64; nodes.len()];
        let mut scores = vec![0i64; nodes.len()];
        for (p, weight) in &profile.score {
            if state.skip_score.contains(&p.name()) {
                continue;
            }
            for (i, n) in nodes.iter().enumerate() {
                scores[i] = p.score(state, pod, n, cache);
            }
            p.normalize(state, pod, nodes, &mut scores);
            for (t, s) in totals.iter_mut().zip(&scores) {
                *t += s * weight;
            }
        }
        Ok(totals)
    }

    /// The highest total; ties are broken at random so equal nodes share the load.
    fn select(&mut self, totals: &[i64]) -> usize {
        let mut best = 0;
        let mut ties = 1u64;
        for i in 1..totals.len() {
            if totals[i] > totals[best] {
                best = i;
                ties = 1;
            } else if totals[i] == totals[best] {
                ties += 1;
                if self.random().is_multiple_of(ties) {
                    best = i;
                }
            }
        }
        best
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn feasible_nodes_to_find_follows_upstream() {
        assert_eq!(num_feasible_nodes_to_find(0, 50), 50);
        assert_eq!(num_feasible_nodes_to_find(0, 500), 230);
        assert_eq!(num_feasible_nodes_to_find(0, 5000), 500);
        assert_eq!(num_feasible_nodes_to_find(0, 100_000), 5000);
        assert_eq!(num_feasible_nodes_to_find(100, 5000), 5000);
        assert_eq!(num_feasible_nodes_to_find(1, 5000), 100);
    }

    #[test]
    fn fit_error_reads_like_upstream() {
        let st = |r: &str| Status::unschedulable(r);
        let e = FitError {
            num_all_nodes: 5,
            diagnosis: Diagnosis {
                statuses: vec![
                    (0, st("Insufficient cpu")),
                    (1, st("Insufficient cpu")),
                    (2, st("Insufficient cpu")),
                    (3, st("node(s) had untolerated taint {dedicated: gpu}")),
                    (4, st("node(s) had untolerated taint {dedicated: gpu}")),
                ],
                post_filter_msg: "preemption: 0/5 nodes are available: 5 Preemption is not helpful for scheduling."
                    .into(),
                ..Default::default()
            },
        };
        assert_eq!(
            e.message(),
            "0/5 nodes are available: 2 node(s) had untolerated taint {dedicated: gpu}, 3 Insufficient cpu. \
             preemption: 0/5 nodes are available: 5 Preemption is not helpful for scheduling."
        );
        let none = FitError { num_all_nodes: 0, diagnosis: Diagnosis::default() };
        assert_eq!(none.message(), "no nodes available to schedule pods");
    }
}
