//! A node and the pods on it, with the sums the filters and scores read.

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Node, Taint};

use crate::pod_info::{HostPort, PodInfo};
use crate::resource::Resource;

/// An image a node holds, as its status lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageState {
    pub names: Vec<String>,
    pub size: i64,
}

/// What the scheduler reads of a Node.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeData {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub taints: Vec<Taint>,
    pub unschedulable: bool,
    pub allocatable: Resource,
    pub images: Vec<ImageState>,
}

impl NodeData {
    pub fn new(node: &Node) -> NodeData {
        let spec = node.spec.as_ref();
        let status = node.status.as_ref();
        NodeData {
            name: node.metadata.name.clone().unwrap_or_default(),
            labels: node.metadata.labels.clone().unwrap_or_default(),
            taints: spec.and_then(|s| s.taints.clone()).unwrap_or_default(),
            unschedulable: spec.and_then(|s| s.unschedulable).unwrap_or(false),
            allocatable: status
                .and_then(|s| s.allocatable.as_ref().or(s.capacity.as_ref()))
                .map(Resource::from_list)
                .unwrap_or_default(),
            images: status
                .and_then(|s| s.images.as_ref())
                .map(|imgs| {
                    imgs.iter()
                        .map(|i| ImageState {
                            names: i.names.clone().unwrap_or_default(),
                            size: i.size_bytes.unwrap_or(0),
                        })
                        .collect()
                })
                .unwrap_or_default(),
        }
    }

    pub fn label(&self, key: &str) -> Option<&str> {
        self.labels.get(key).map(String::as_str)
    }
}

/// A node with its pods. A NodeInfo without `node` holds pods bound to a node the scheduler has
/// not seen (yet, or any more).
#[derive(Debug, Clone, Default)]
pub struct NodeInfo {
    pub node: Option<Arc<NodeData>>,
    pub pods: Vec<Arc<PodInfo>>,
    pub requested: Resource,
    /// cpu and memory requested, counting defaults for containers that ask for none.
    pub non_zero: (i64, i64),
    pub used_ports: Vec<HostPort>,
    /// Pods here with any pod (anti-)affinity, and with required anti-affinity.
    pub with_affinity: usize,
    pub with_required_anti_affinity: usize,
}

impl NodeInfo {
    pub fn name(&self) -> &str {
        self.node.as_ref().map(|n| n.name.as_str()).unwrap_or("")
    }

    pub fn data(&self) -> &NodeData {
        self.node.as_ref().expect("only nodes the scheduler knows are evaluated")
    }

    pub fn add_pod(&mut self, pod: Arc<PodInfo>) {
        self.requested.add(&pod.requests);
        self.non_zero.0 += pod.non_zero.0;
        self.non_zero.1 += pod.non_zero.1;
        self.used_ports.extend(pod.host_ports.iter().cloned());
        if pod.has_affinity() {
            self.with_affinity += 1;
        }
        if !pod.required_anti_affinity.is_empty() {
            self.with_required_anti_affinity += 1;
        }
        self.pods.push(pod);
    }

    /// Remove the pod with `uid`; returns it if it was here.
    pub fn remove_pod(&mut self, uid: &str) -> Option<Arc<PodInfo>> {
        let i = self.pods.iter().position(|p| p.uid == uid)?;
        let pod = self.pods.swap_remove(i);
        self.requested.sub(&pod.requests);
        self.non_zero.0 -= pod.non_zero.0;
        self.non_zero.1 -= pod.non_zero.1;
        for hp in &pod.host_ports {
            if let Some(j) = self.used_ports.iter().position(|u| u == hp) {
                self.used_ports.swap_remove(j);
            }
        }
        if pod.has_affinity() {
            self.with_affinity -= 1;
        }
        if !pod.required_anti_affinity.is_empty() {
            self.with_required_anti_affinity -= 1;
        }
        Some(pod)
    }
}
