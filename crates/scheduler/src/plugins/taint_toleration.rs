//! TaintToleration: NoSchedule and NoExecute taints repel pods that do not tolerate them;
//! PreferNoSchedule taints lower a node's score.

use k8s_openapi::api::core::v1::Toleration;

use crate::cache::Cache;
use crate::framework::{CycleState, FilterPlugin, PreScorePlugin, ScorePlugin, Status, default_normalize};
use crate::node_info::NodeInfo;
use crate::plugins::helpers::{tolerated, untolerated};
use crate::pod_info::PodInfo;

pub const NAME: &str = "TaintToleration";

pub struct TaintToleration;

fn tolerations(pod: &PodInfo) -> &[Toleration] {
    pod.spec().and_then(|s| s.tolerations.as_deref()).unwrap_or(&[])
}

impl FilterPlugin for TaintToleration {
    fn name(&self) -> &'static str {
        NAME
    }

    fn filter(&self, _: &CycleState, pod: &PodInfo, node: &NodeInfo, _: &Cache) -> Status {
        match untolerated(&node.data().taints, tolerations(pod), &["NoSchedule", "NoExecute"]) {
            None => Status::success(),
            Some(t) => Status::unresolvable(format!(
                "node(s) had untolerated taint {{{}: {}}}",
                t.key,
                t.value.as_deref().unwrap_or("")
            )),
        }
    }
}

/// Tolerations that can cover PreferNoSchedule taints.
#[derive(Clone)]
struct Preferred(Vec<Toleration>);

impl PreScorePlugin for TaintToleration {
    fn name(&self) -> &'static str {
        NAME
    }

    fn pre_score(&self, state: &mut CycleState, pod: &PodInfo, _: &[&NodeInfo], _: &Cache) -> Status {
        let t = tolerations(pod)
            .iter()
            .filter(|t| matches!(t.effect.as_deref(), None | Some("") | Some("PreferNoSchedule")))
            .cloned()
            .collect();
        state.write(NAME, Preferred(t));
        Status::success()
    }
}

impl ScorePlugin for TaintToleration {
    fn name(&self) -> &'static str {
        NAME
    }

    fn score(&self, state: &CycleState, _: &PodInfo, node: &NodeInfo, _: &Cache) -> i64 {
        let empty = Preferred(Vec::new());
        let tols = state.read::<Preferred>(NAME).unwrap_or(&empty);
        node.data().taints.iter().filter(|t| t.effect == "PreferNoSchedule" && !tolerated(&tols.0, t)).count() as i64
    }

    fn normalize(&self, _: &CycleState, _: &PodInfo, _: &[&NodeInfo], scores: &mut [i64]) {
        default_normalize(scores, true);
    }
}
