//! The scheduler's view of the cluster: nodes with the pods on them (including pods assumed
//! onto a node whose binding has not landed yet), namespaces' labels, pod disruption budgets
//! and pods nominated to nodes by preemption.
//!
//! Only the scheduling loop touches the cache, so it needs no locks and is itself the snapshot a
//! scheduling cycle reads.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use skiff_api::selector::label::LabelSelector;

use crate::node_info::{NodeData, NodeInfo};
use crate::pod_info::PodInfo;

/// A PodDisruptionBudget as preemption reads it.
#[derive(Debug, Clone)]
pub struct Budget {
    pub namespace: String,
    pub name: String,
    pub selector: LabelSelector,
    pub disruptions_allowed: i32,
    /// Pods already being evicted under this budget (status.disruptedPods).
    pub disrupted: Vec<String>,
}

#[derive(Debug, Default)]
pub struct Cache {
    infos: Vec<NodeInfo>,
    index: HashMap<String, usize>,
    /// Entries of `infos` with a node (the rest hold pods of unknown nodes).
    live: usize,
    /// Every pod on a node, by uid, and whether it is only assumed there.
    pods: HashMap<String, (Arc<PodInfo>, bool)>,
    pub namespaces: HashMap<String, BTreeMap<String, String>>,
    /// How many nodes hold each image name, for ImageLocality's spread factor.
    image_nodes: HashMap<String, usize>,
    /// Waiting pods that preemption nominated to a node, by node.
    nominated: HashMap<String, Vec<Arc<PodInfo>>>,
    pub budgets: Vec<Budget>,
    /// Pods on nodes with any pod (anti-)affinity, and with required anti-affinity: when there
    /// are none, the affinity plugins skip their cluster-wide passes.
    with_affinity: usize,
    with_required_anti_affinity: usize,
}

impl Cache {
    /// Nodes the scheduler can place pods on.
    pub fn node_count(&self) -> usize {
        self.live
    }

    /// All entries, known nodes or not, in a stable order; callers skip entries without `node`.
    pub fn infos(&self) -> &[NodeInfo] {
        &self.infos
    }

    pub fn nodes(&self) -> impl Iterator<Item = &NodeInfo> {
        self.infos.iter().filter(|i| i.node.is_some())
    }

    pub fn node(&self, name: &str) -> Option<&NodeInfo> {
        self.index.get(name).map(|i| &self.infos[*i]).filter(|i| i.node.is_some())
    }

    pub fn nodes_with_image(&self, image: &str) -> usize {
        self.image_nodes.get(image).copied().unwrap_or(0)
    }

    fn slot(&mut self, name: &str) -> &mut NodeInfo {
        let i = match self.index.get(name) {
            Some(i) => *i,
            None => {
                self.infos.push(NodeInfo::default());
                self.index.insert(name.to_string(), self.infos.len() - 1);
                self.infos.len() - 1
            }
        };
        &mut self.infos[i]
    }

    /// Add or update a node; returns whether anything scheduling reads changed.
    pub fn set_node(&mut self, data: NodeData) -> bool {
        let name = data.name.clone();
        let old = self.slot(&name).node.clone();
        if old.as_deref() == Some(&data) {
            return false;
        }
        if let Some(old) = &old {
            self.count_images(old, -1);
        } else {
            self.live += 1;
        }
        self.count_images(&data, 1);
        self.slot(&name).node = Some(Arc::new(data));
        true
    }

    fn count_images(&mut self, node: &NodeData, delta: isize) {
        for img in &node.images {
            for n in &img.names {
                let e = self.image_nodes.entry(n.clone()).or_default();
                *e = e.saturating_add_signed(delta);
            }
        }
    }

    pub fn remove_node(&mut self, name: &str) {
        let Some(&i) = self.index.get(name) else { return };
        if let Some(old) = self.infos[i].node.take() {
            self.count_images(&old, -1);
            self.live -= 1;
        }
        if self.infos[i].pods.is_empty() {
            self.drop_slot(i);
        }
    }

    fn drop_slot(&mut self, i: usize) {
        let name = self.index.iter().find(|(_, v)| **v == i).map(|(k, _)| k.clone());
        if let Some(name) = name {
            self.index.remove(&name);
        }
        self.infos.swap_remove(i);
        if i < self.infos.len() {
            // The last entry moved into slot i.
            let moved = self.infos[i].name().to_string();
            let moved =
                if moved.is_empty() { self.infos[i].pods.first().map(|p| p.node_name.clone()) } else { Some(moved) };
            if let Some(m) = moved {
                self.index.insert(m, i);
            }
        }
    }

    pub fn is_assumed(&self, uid: &str) -> bool {
        self.pods.get(uid).is_some_and(|(_, assumed)| *assumed)
    }

    pub fn pod(&self, uid: &str) -> Option<&Arc<PodInfo>> {
        self.pods.get(uid).map(|(p, _)| p)
    }

    /// Record a pod bound to a node (confirming an assumption, or moving it).
    pub fn pods_with_affinity(&self) -> usize {
        self.with_affinity
    }

    pub fn pods_with_required_anti_affinity(&self) -> usize {
        self.with_required_anti_affinity
    }

    fn count_affinity(&mut self, pod: &PodInfo, delta: isize) {
        if pod.has_affinity() {
            self.with_affinity = self.with_affinity.saturating_add_signed(delta);
        }
        if !pod.required_anti_affinity.is_empty() {
            self.with_required_anti_affinity = self.with_required_anti_affinity.saturating_add_signed(delta);
        }
    }

    pub fn set_pod(&mut self, pod: Arc<PodInfo>) {
        self.remove_pod(&pod.uid);
        self.count_affinity(&pod, 1);
        self.slot(&pod.node_name.clone()).add_pod(pod.clone());
        self.pods.insert(pod.uid.clone(), (pod, false));
    }

    /// Place a pod on its node before the API knows, so the next cycle sees it there.
    pub fn assume(&mut self, pod: Arc<PodInfo>) {
        self.set_pod(pod.clone());
        self.pods.insert(pod.uid.clone(), (pod, true));
    }

    /// Undo [`Cache::assume`] after a failed binding.
    pub fn forget(&mut self, uid: &str) {
        if self.is_assumed(uid) {
            self.remove_pod(uid);
        }
    }

    pub fn remove_pod(&mut self, uid: &str) -> Option<Arc<PodInfo>> {
        let (pod, _) = self.pods.remove(uid)?;
        self.count_affinity(&pod, -1);
        let &i = self.index.get(&pod.node_name)?;
        self.infos[i].remove_pod(uid);
        if self.infos[i].node.is_none() && self.infos[i].pods.is_empty() {
            self.drop_slot(i);
        }
        Some(pod)
    }

    /// Whether any waiting pod is nominated anywhere (most of the time none is).
    pub fn has_nominations(&self) -> bool {
        !self.nominated.is_empty()
    }

    /// Waiting pods nominated to `node`.
    pub fn nominated(&self, node: &str) -> &[Arc<PodInfo>] {
        self.nominated.get(node).map(Vec::as_slice).unwrap_or(&[])
    }

    /// Record (or with an empty node, clear) a waiting pod's nomination.
    pub fn nominate(&mut self, pod: &Arc<PodInfo>, node: &str) {
        self.clear_nomination(&pod.uid);
        if !node.is_empty() {
            self.nominated.entry(node.to_string()).or_default().push(pod.clone());
        }
    }

    pub fn clear_nomination(&mut self, uid: &str) {
        self.nominated.retain(|_, pods| {
            pods.retain(|p| p.uid != uid);
            !pods.is_empty()
        });
    }

    /// Pods on nodes and their nominations, for a full resync after the watch restarted.
    pub fn pod_uids(&self) -> Vec<String> {
        self.pods.keys().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(name: &str) -> NodeData {
        NodeData {
            name: name.into(),
            labels: BTreeMap::new(),
            taints: vec![],
            unschedulable: false,
            allocatable: Default::default(),
            images: vec![],
        }
    }

    fn pod(uid: &str, node: &str) -> Arc<PodInfo> {
        Arc::new(PodInfo { uid: uid.into(), node_name: node.into(), ..Default::default() })
    }

    #[test]
    fn pods_of_an_unknown_node_wait_for_it_without_counting_as_a_node() {
        let mut c = Cache::default();
        c.set_pod(pod("p1", "n1"));
        assert_eq!(c.node_count(), 0);
        assert!(c.node("n1").is_none());
        c.set_node(node("n1"));
        assert_eq!(c.node("n1").unwrap().pods.len(), 1);
        c.remove_node("n1");
        assert_eq!(c.node_count(), 0);
        c.remove_pod("p1");
        assert!(c.infos().is_empty());
    }

    #[test]
    fn removing_a_slot_keeps_the_index_of_the_moved_one() {
        let mut c = Cache::default();
        for n in ["a", "b", "c"] {
            c.set_node(node(n));
        }
        c.remove_node("a");
        assert_eq!(c.node("c").unwrap().name(), "c");
        assert_eq!(c.node("b").unwrap().name(), "b");
        assert_eq!(c.node_count(), 2);
    }

    #[test]
    fn assumed_pods_count_until_forgotten_and_a_confirmation_replaces_them() {
        let mut c = Cache::default();
        c.set_node(node("n"));
        c.assume(pod("p", "n"));
        assert!(c.is_assumed("p"));
        c.set_pod(pod("p", "n"));
        assert!(!c.is_assumed("p"));
        assert_eq!(c.node("n").unwrap().pods.len(), 1);
        c.assume(pod("q", "n"));
        c.forget("q");
        assert_eq!(c.node("n").unwrap().pods.len(), 1);
    }
}
