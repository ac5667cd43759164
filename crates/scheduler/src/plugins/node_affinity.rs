//! NodeAffinity: `spec.nodeSelector` and required node affinity must hold; preferred terms add
//! their weights to the nodes they match.

use crate::cache::Cache;
use crate::framework::{
    CycleState, FilterPlugin, PreFilterPlugin, PreScorePlugin, ScorePlugin, Status, default_normalize,
};
use crate::node_info::NodeInfo;
use crate::plugins::helpers::{required_node_affinity_matches, term_matches};
use crate::pod_info::PodInfo;

pub const NAME: &str = "NodeAffinity";

pub struct NodeAffinity;

fn preferred(pod: &PodInfo) -> &[k8s_openapi::api::core::v1::PreferredSchedulingTerm] {
    pod.spec()
        .and_then(|s| s.affinity.as_ref())
        .and_then(|a| a.node_affinity.as_ref())
        .and_then(|na| na.preferred_during_scheduling_ignored_during_execution.as_deref())
        .unwrap_or(&[])
}

impl PreFilterPlugin for NodeAffinity {
    fn name(&self) -> &'static str {
        NAME
    }

    fn pre_filter(&self, _: &mut CycleState, pod: &PodInfo, _: &Cache) -> Status {
        let Some(spec) = pod.spec() else { return Status::skip() };
        let required = spec
            .affinity
            .as_ref()
            .and_then(|a| a.node_affinity.as_ref())
            .is_some_and(|na| na.required_during_scheduling_ignored_during_execution.is_some());
        if spec.node_selector.as_ref().is_none_or(|s| s.is_empty()) && !required {
            return Status::skip();
        }
        Status::success()
    }
}

impl FilterPlugin for NodeAffinity {
    fn name(&self) -> &'static str {
        NAME
    }

    fn filter(&self, _: &CycleState, pod: &PodInfo, node: &NodeInfo, _: &Cache) -> Status {
        match pod.spec() {
            Some(spec) if !required_node_affinity_matches(spec, node.data()) => {
                Status::unresolvable("node(s) didn't match Pod's node affinity/selector")
            }
            _ => Status::success(),
        }
    }
}

impl PreScorePlugin for NodeAffinity {
    fn name(&self) -> &'static str {
        NAME
    }

    fn pre_score(&self, _: &mut CycleState, pod: &PodInfo, _: &[&NodeInfo], _: &Cache) -> Status {
        if preferred(pod).is_empty() { Status::skip() } else { Status::success() }
    }
}

impl ScorePlugin for NodeAffinity {
    fn name(&self) -> &'static str {
        NAME
    }

    fn score(&self, _: &CycleState, pod: &PodInfo, node: &NodeInfo, _: &Cache) -> i64 {
        preferred(pod)
            .iter()
            .filter(|t| t.weight != 0 && term_matches(&t.preference, node.data()))
            .map(|t| t.weight as i64)
            .sum()
    }

    fn normalize(&self, _: &CycleState, _: &PodInfo, _: &[&NodeInfo], scores: &mut [i64]) {
        default_normalize(scores, false);
    }
}
