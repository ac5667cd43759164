//! The scheduling framework: one small trait per extension point, as upstream's. A plugin is a
//! struct implementing the points it needs; a [`Profile`] lists the plugins per point.
//!
//! Scheduling cycle (synchronous, on the scheduling loop): QueueSort → PreFilter → Filter (per
//! node) → PostFilter (when no node fits: preemption) → PreScore → Score → NormalizeScore →
//! Reserve → Permit. Binding cycle (asynchronous): PreBind → Bind; a failure there runs
//! Unreserve.

mod state;
mod status;

use std::sync::Arc;

use futures::future::BoxFuture;

pub use state::{CycleState, StateData};
pub use status::{Code, Status};

use crate::cache::Cache;
use crate::node_info::NodeInfo;
use crate::pod_info::PodInfo;

/// The best score a Score plugin gives a node (after normalising).
pub const MAX_NODE_SCORE: i64 = 100;

/// Upstream's `DefaultNormalizeScore`: scale so the best is MAX_NODE_SCORE; `reverse` makes the
/// lowest raw score the best.
pub fn default_normalize(scores: &mut [i64], reverse: bool) {
    let max = scores.iter().copied().max().unwrap_or(0);
    for s in scores.iter_mut() {
        *s = match (max, reverse) {
            (0, true) => MAX_NODE_SCORE,
            (0, false) => 0,
            (m, false) => *s * MAX_NODE_SCORE / m,
            (m, true) => MAX_NODE_SCORE - *s * MAX_NODE_SCORE / m,
        };
    }
}

pub trait PreFilterPlugin: Send + Sync {
    fn name(&self) -> &'static str;
    /// Compute what Filter needs; Skip to skip this plugin's Filter for the pod.
    fn pre_filter(&self, state: &mut CycleState, pod: &PodInfo, cache: &Cache) -> Status;
    /// Preemption added `other` to `node`: update the cycle state (PreFilterExtensions).
    fn add_pod(&self, _state: &mut CycleState, _pod: &PodInfo, _other: &PodInfo, _node: &NodeInfo) {}
    /// Preemption removed `other` from `node`.
    fn remove_pod(&self, _state: &mut CycleState, _pod: &PodInfo, _other: &PodInfo, _node: &NodeInfo) {}
}

pub trait FilterPlugin: Send + Sync {
    fn name(&self) -> &'static str;
    fn filter(&self, state: &CycleState, pod: &PodInfo, node: &NodeInfo, cache: &Cache) -> Status;
}

pub trait PreScorePlugin: Send + Sync {
    fn name(&self) -> &'static str;
    /// `nodes` are the feasible nodes; Skip to skip this plugin's Score.
    fn pre_score(&self, state: &mut CycleState, pod: &PodInfo, nodes: &[&NodeInfo], cache: &Cache) -> Status;
}

pub trait ScorePlugin: Send + Sync {
    fn name(&self) -> &'static str;
    fn score(&self, state: &CycleState, pod: &PodInfo, node: &NodeInfo, cache: &Cache) -> i64;
    /// Bring the raw scores of all feasible nodes (`scores[i]` is `nodes[i]`'s) into
    /// 0..=MAX_NODE_SCORE.
    fn normalize(&self, _state: &CycleState, _pod: &PodInfo, _nodes: &[&NodeInfo], _scores: &mut [i64]) {}
}

pub trait ReservePlugin: Send + Sync {
    fn name(&self) -> &'static str;
    fn reserve(&self, state: &mut CycleState, pod: &PodInfo, node: &str) -> Status;
    fn unreserve(&self, state: &mut CycleState, pod: &PodInfo, node: &str);
}

pub trait PermitPlugin: Send + Sync {
    fn name(&self) -> &'static str;
    /// Success to allow, a rejection to deny. (Waiting permits are not supported yet.)
    fn permit(&self, state: &CycleState, pod: &PodInfo, node: &str) -> Status;
}

pub trait PreBindPlugin: Send + Sync {
    fn name(&self) -> &'static str;
    fn pre_bind(&self, pod: Arc<PodInfo>, node: String) -> BoxFuture<'static, Status>;
}

pub trait BindPlugin: Send + Sync {
    fn name(&self) -> &'static str;
    /// Bind the pod; Skip lets the next Bind plugin do it.
    fn bind(&self, pod: Arc<PodInfo>, node: String) -> BoxFuture<'static, Status>;
}

/// The plugins of one scheduler, by extension point, with score weights.
#[derive(Clone)]
pub struct Profile {
    pub scheduler_name: String,
    pub pre_filter: Vec<Arc<dyn PreFilterPlugin>>,
    pub filter: Vec<Arc<dyn FilterPlugin>>,
    pub pre_score: Vec<Arc<dyn PreScorePlugin>>,
    pub score: Vec<(Arc<dyn ScorePlugin>, i64)>,
    pub reserve: Vec<Arc<dyn ReservePlugin>>,
    pub permit: Vec<Arc<dyn PermitPlugin>>,
    pub pre_bind: Vec<Arc<dyn PreBindPlugin>>,
    pub bind: Vec<Arc<dyn BindPlugin>>,
    /// Share of nodes to look at before settling for the feasible ones found (0 = adaptive,
    /// as upstream's percentageOfNodesToScore).
    pub percentage_of_nodes_to_score: u32,
}

impl Profile {
    /// Skip the Filter of `plugin` for this cycle (its PreFilter said Skip).
    pub fn skip_filter(&self, state: &mut CycleState, plugin: &'static str) {
        state.skip_filter.push(plugin);
        for (i, p) in self.filter.iter().enumerate() {
            if p.name() == plugin && i < 64 {
                state.skipped_filters |= 1 << i;
            }
        }
    }

    /// Run every Filter not skipped; the first rejection decides.
    pub fn run_filters(&self, state: &CycleState, pod: &PodInfo, node: &NodeInfo, cache: &Cache) -> Status {
        for (i, p) in self.filter.iter().enumerate() {
            if i < 64 && state.skipped_filters & (1 << i) != 0 {
                continue;
            }
            let s = p.filter(state, pod, node, cache);
            if !s.is_success() {
                return s.with_plugin(p.name());
            }
        }
        Status::success()
    }

    pub fn run_add_pod(&self, state: &mut CycleState, pod: &PodInfo, other: &PodInfo, node: &NodeInfo) {
        for p in &self.pre_filter {
            if !state.skip_filter.contains(&p.name()) {
                p.add_pod(state, pod, other, node);
            }
        }
    }

    pub fn run_remove_pod(&self, state: &mut CycleState, pod: &PodInfo, other: &PodInfo, node: &NodeInfo) {
        for p in &self.pre_filter {
            if !state.skip_filter.contains(&p.name()) {
                p.remove_pod(state, pod, other, node);
            }
        }
    }

    /// Filters with the waiting pods nominated to this node that matter at least as much as
    /// `pod` counted as if they were there (so preemption's room is not taken by others).
    pub fn run_filters_with_nominated(
        &self,
        state: &CycleState,
        pod: &PodInfo,
        node: &NodeInfo,
        cache: &Cache,
    ) -> Status {
        if !cache.has_nominations() {
            return self.run_filters(state, pod, node, cache);
        }
        let nominated: Vec<&Arc<PodInfo>> =
            cache.nominated(node.name()).iter().filter(|n| n.uid != pod.uid && n.priority >= pod.priority).collect();
        if nominated.is_empty() {
            return self.run_filters(state, pod, node, cache);
        }
        let mut node = node.clone();
        let mut state = state.clone();
        for n in nominated {
            let placed = Arc::new(n.on_node(node.name()));
            node.add_pod(placed.clone());
            self.run_add_pod(&mut state, pod, &placed, &node);
        }
        self.run_filters(&state, pod, &node, cache)
    }
}
