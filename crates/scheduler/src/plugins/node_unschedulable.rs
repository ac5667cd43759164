//! NodeUnschedulable: cordoned nodes (`spec.unschedulable`) take only pods that tolerate the
//! `node.kubernetes.io/unschedulable` taint.

use k8s_openapi::api::core::v1::Taint;

use crate::cache::Cache;
use crate::framework::{CycleState, FilterPlugin, Status};
use crate::node_info::NodeInfo;
use crate::plugins::helpers::tolerated;
use crate::pod_info::PodInfo;

pub const NAME: &str = "NodeUnschedulable";

pub struct NodeUnschedulable;

impl FilterPlugin for NodeUnschedulable {
    fn name(&self) -> &'static str {
        NAME
    }

    fn filter(&self, _: &CycleState, pod: &PodInfo, node: &NodeInfo, _: &Cache) -> Status {
        if !node.data().unschedulable {
            return Status::success();
        }
        let taint = Taint {
            key: "node.kubernetes.io/unschedulable".into(),
            effect: "NoSchedule".into(),
            value: None,
            time_added: None,
        };
        let tolerations = pod.spec().and_then(|s| s.tolerations.as_deref()).unwrap_or(&[]);
        if tolerated(tolerations, &taint) {
            Status::success()
        } else {
            Status::unresolvable("node(s) were unschedulable")
        }
    }
}
