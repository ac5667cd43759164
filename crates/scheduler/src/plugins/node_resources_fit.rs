//! NodeResourcesFit: the node must have room for the pod's requests (cpu, memory,
//! ephemeral-storage, extended resources, a pod slot); scoring prefers the least allocated
//! nodes by default, or the most allocated, or a requested-to-capacity shape.

use crate::cache::Cache;
use crate::framework::{Code, CycleState, FilterPlugin, MAX_NODE_SCORE, ScorePlugin, Status};
use crate::node_info::NodeInfo;
use crate::pod_info::PodInfo;

pub const NAME: &str = "NodeResourcesFit";

/// A point of the RequestedToCapacityRatio shape: utilisation (0–100) → score (0–10).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShapePoint {
    pub utilization: i64,
    pub score: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Strategy {
    LeastAllocated,
    MostAllocated,
    RequestedToCapacityRatio(Vec<ShapePoint>),
}

pub struct NodeResourcesFit {
    pub strategy: Strategy,
    /// Resources scored, with their weights.
    pub resources: Vec<(String, i64)>,
}

impl Default for NodeResourcesFit {
    fn default() -> Self {
        NodeResourcesFit { strategy: Strategy::LeastAllocated, resources: default_resources() }
    }
}

pub fn default_resources() -> Vec<(String, i64)> {
    vec![("cpu".into(), 1), ("memory".into(), 1)]
}

/// Why the node cannot take the pod: (reason, whether no eviction could ever help).
pub fn insufficient(pod: &PodInfo, node: &NodeInfo) -> Vec<(String, bool)> {
    let alloc = &node.data().allocatable;
    let used = &node.requested;
    let want = &pod.requests;
    let mut out = Vec::new();
    if node.pods.len() as i64 + 1 > alloc.pods {
        out.push(("Too many pods".to_string(), alloc.pods < 1));
    }
    if want.is_zero() {
        return out;
    }
    let mut check = |name: &str, want: i64, alloc: i64, used: i64| {
        if want > 0 && want > alloc - used {
            out.push((format!("Insufficient {name}"), want > alloc));
        }
    };
    check("cpu", want.milli_cpu, alloc.milli_cpu, used.milli_cpu);
    check("memory", want.memory, alloc.memory, used.memory);
    check("ephemeral-storage", want.ephemeral_storage, alloc.ephemeral_storage, used.ephemeral_storage);
    for (name, v) in &want.scalar {
        check(name, *v, alloc.scalar(name), used.scalar(name));
    }
    out
}

impl FilterPlugin for NodeResourcesFit {
    fn name(&self) -> &'static str {
        NAME
    }

    fn filter(&self, _: &CycleState, pod: &PodInfo, node: &NodeInfo, _: &Cache) -> Status {
        let short = insufficient(pod, node);
        if short.is_empty() {
            return Status::success();
        }
        let code = if short.iter().any(|(_, u)| *u) { Code::UnschedulableAndUnresolvable } else { Code::Unschedulable };
        Status { code, reasons: short.into_iter().map(|(r, _)| r).collect(), plugin: "" }
    }
}

/// (requested with the pod, allocatable) of a resource on a node; `non_zero` counts the
/// defaults of containers that ask for no cpu or memory, as spreading scores do.
pub fn usage(name: &str, pod: &PodInfo, node: &NodeInfo, non_zero: bool) -> (i64, i64) {
    let alloc = &node.data().allocatable;
    match name {
        "cpu" if non_zero => (node.non_zero.0 + pod.non_zero.0, alloc.milli_cpu),
        "memory" if non_zero => (node.non_zero.1 + pod.non_zero.1, alloc.memory),
        "cpu" => (node.requested.milli_cpu + pod.requests.milli_cpu, alloc.milli_cpu),
        "memory" => (node.requested.memory + pod.requests.memory, alloc.memory),
        "ephemeral-storage" => {
            (node.requested.ephemeral_storage + pod.requests.ephemeral_storage, alloc.ephemeral_storage)
        }
        other => (node.requested.scalar(other) + pod.requests.scalar(other), alloc.scalar(other)),
    }
}

fn least_requested(requested: i64, capacity: i64) -> i64 {
    if capacity == 0 || requested > capacity { 0 } else { (capacity - requested) * MAX_NODE_SCORE / capacity }
}

fn most_requested(requested: i64, capacity: i64) -> i64 {
    if capacity == 0 { 0 } else { requested.min(capacity) * MAX_NODE_SCORE / capacity }
}

/// The shape's score at `utilization`, interpolated between points and scaled to 0–100.
fn shape_score(shape: &[ShapePoint], utilization: i64) -> i64 {
    let scale = MAX_NODE_SCORE / 10;
    let Some(first) = shape.first() else { return 0 };
    if utilization <= first.utilization {
        return first.score * scale;
    }
    for w in shape.windows(2) {
        let (a, b) = (w[0], w[1]);
        if utilization <= b.utilization {
            let s = a.score * scale
                + (b.score - a.score) * scale * (utilization - a.utilization) / (b.utilization - a.utilization);
            return s;
        }
    }
    shape.last().map(|p| p.score * scale).unwrap_or(0)
}

impl ScorePlugin for NodeResourcesFit {
    fn name(&self) -> &'static str {
        NAME
    }

    fn score(&self, _: &CycleState, pod: &PodInfo, node: &NodeInfo, _: &Cache) -> i64 {
        let (mut total, mut weights) = (0i64, 0i64);
        for (name, weight) in &self.resources {
            let (requested, capacity) = usage(name, pod, node, true);
            if capacity == 0 {
                continue;
            }
            let s = match &self.strategy {
                Strategy::LeastAllocated => least_requested(requested, capacity),
                Strategy::MostAllocated => most_requested(requested, capacity),
                Strategy::RequestedToCapacityRatio(shape) => {
                    let util = if requested > capacity { 100 } else { requested * 100 / capacity };
                    shape_score(shape, util)
                }
            };
            total += s * weight;
            weights += weight;
        }
        if weights == 0 {
            return 0;
        }
        match self.strategy {
            Strategy::RequestedToCapacityRatio(_) => (total as f64 / weights as f64).round() as i64,
            _ => total / weights,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node_info::NodeData;
    use crate::resource::Resource;
    use std::sync::Arc;

    fn node(cpu: i64, mem: i64, pods: i64) -> NodeInfo {
        let data = NodeData {
            name: "n".into(),
            labels: Default::default(),
            taints: vec![],
            unschedulable: false,
            allocatable: Resource { milli_cpu: cpu, memory: mem, pods, ..Default::default() },
            images: vec![],
        };
        NodeInfo { node: Some(Arc::new(data)), ..Default::default() }
    }

    fn pod(cpu: i64, mem: i64) -> PodInfo {
        PodInfo {
            requests: Resource { milli_cpu: cpu, memory: mem, ..Default::default() },
            non_zero: (cpu, mem),
            ..Default::default()
        }
    }

    #[test]
    fn reasons_name_each_short_resource_and_oversized_requests_are_unresolvable() {
        let mut n = node(1000, 1 << 30, 1);
        n.add_pod(Arc::new(pod(600, 0)));
        let st = NodeResourcesFit::default().filter(&CycleState::default(), &pod(500, 2 << 30), &n, &Cache::default());
        assert_eq!(st.reasons, ["Too many pods", "Insufficient cpu", "Insufficient memory"]);
        assert_eq!(st.code, Code::UnschedulableAndUnresolvable);
        let mut n = node(1000, 1 << 30, 10);
        n.add_pod(Arc::new(pod(600, 0)));
        let st = NodeResourcesFit::default().filter(&CycleState::default(), &pod(500, 0), &n, &Cache::default());
        assert_eq!(
            (st.code, st.reasons.as_slice()),
            (Code::Unschedulable, ["Insufficient cpu".to_string()].as_slice())
        );
    }

    #[test]
    fn scoring_strategies() {
        let n = node(4000, 4000, 10);
        let p = pod(1000, 3000);
        let score = |s: Strategy| {
            NodeResourcesFit { strategy: s, resources: default_resources() }.score(
                &CycleState::default(),
                &p,
                &n,
                &Cache::default(),
            )
        };
        // cpu 75 free, memory 25 free → 50; most allocated is the mirror image.
        assert_eq!(score(Strategy::LeastAllocated), 50);
        assert_eq!(score(Strategy::MostAllocated), 50);
        let shape = vec![ShapePoint { utilization: 0, score: 0 }, ShapePoint { utilization: 100, score: 10 }];
        // cpu 25 % → 25, memory 75 % → 75.
        assert_eq!(score(Strategy::RequestedToCapacityRatio(shape)), 50);
        let p = pod(1000, 1000);
        let least = NodeResourcesFit::default().score(&CycleState::default(), &p, &n, &Cache::default());
        assert_eq!(least, 75);
    }
}
