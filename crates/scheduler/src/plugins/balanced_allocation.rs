//! NodeResourcesBalancedAllocation: prefer nodes where the pod leaves cpu and memory (and any
//! configured resource) used in similar proportions.

use crate::cache::Cache;
use crate::framework::{CycleState, MAX_NODE_SCORE, ScorePlugin};
use crate::node_info::NodeInfo;
use crate::plugins::node_resources_fit::{default_resources, usage};
use crate::pod_info::PodInfo;

pub const NAME: &str = "NodeResourcesBalancedAllocation";

pub struct BalancedAllocation {
    pub resources: Vec<(String, i64)>,
}

impl Default for BalancedAllocation {
    fn default() -> Self {
        BalancedAllocation { resources: default_resources() }
    }
}

impl ScorePlugin for BalancedAllocation {
    fn name(&self) -> &'static str {
        NAME
    }

    fn score(&self, _: &CycleState, pod: &PodInfo, node: &NodeInfo, _: &Cache) -> i64 {
        let fractions: Vec<f64> = self
            .resources
            .iter()
            .filter_map(|(name, _)| {
                let (requested, capacity) = usage(name, pod, node, false);
                (capacity > 0).then(|| (requested as f64 / capacity as f64).min(1.0))
            })
            .collect();
        let std = match fractions.len() {
            0 | 1 => 0.0,
            2 => ((fractions[0] - fractions[1]) / 2.0).abs(),
            n => {
                let mean = fractions.iter().sum::<f64>() / n as f64;
                (fractions.iter().map(|f| (f - mean) * (f - mean)).sum::<f64>() / n as f64).sqrt()
            }
        };
        ((1.0 - std) * MAX_NODE_SCORE as f64) as i64
    }
}
