//! The default plugins, one per file, and the default profile that orders and weighs them as
//! upstream's default scheduler configuration does.

pub mod balanced_allocation;
pub mod default_binder;
pub mod helpers;
pub mod image_locality;
pub mod inter_pod_affinity;
pub mod node_affinity;
pub mod node_name;
pub mod node_ports;
pub mod node_resources_fit;
pub mod node_unschedulable;
pub mod pod_topology_spread;
pub mod taint_toleration;

use std::sync::Arc;

use crate::framework::Profile;

pub use node_resources_fit::{ShapePoint, Strategy};

/// The default profile; `strategy` is NodeResourcesFit's scoring strategy.
pub fn default_profile(client: kube::Client, scheduler_name: &str, strategy: Strategy) -> Profile {
    let fit = Arc::new(node_resources_fit::NodeResourcesFit { strategy, ..Default::default() });
    let affinity = Arc::new(node_affinity::NodeAffinity);
    let ports = Arc::new(node_ports::NodePorts);
    let spread = Arc::new(pod_topology_spread::PodTopologySpread);
    let inter = Arc::new(inter_pod_affinity::InterPodAffinity);
    let taints = Arc::new(taint_toleration::TaintToleration);
    let images = Arc::new(image_locality::ImageLocality);
    Profile {
        scheduler_name: scheduler_name.to_string(),
        pre_filter: vec![affinity.clone(), ports.clone(), spread.clone(), inter.clone()],
        // Cheap, decisive checks first: most nodes are rejected before the costly ones run.
        filter: vec![
            Arc::new(node_unschedulable::NodeUnschedulable),
            Arc::new(node_name::NodeName),
            taints.clone(),
            affinity.clone(),
            ports,
            fit.clone(),
            spread.clone(),
            inter.clone(),
        ],
        pre_score: vec![taints.clone(), affinity.clone(), spread.clone(), inter.clone(), images.clone()],
        score: vec![
            (taints, 3),
            (affinity, 2),
            (fit, 1),
            (spread, 2),
            (inter, 2),
            (Arc::new(balanced_allocation::BalancedAllocation::default()), 1),
            (images, 1),
        ],
        reserve: vec![],
        permit: vec![],
        pre_bind: vec![],
        bind: vec![Arc::new(default_binder::DefaultBinder { client })],
        percentage_of_nodes_to_score: 0,
    }
}
