//! What the scheduler keeps of a pod: a compact summary for pods already on nodes (100,000 of
//! them must fit in little memory), plus the whole object for pods still waiting.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Pod, PodAffinityTerm, PodSpec, WeightedPodAffinityTerm};
use skiff_api::selector::label::{LabelSelector, Op, Requirement};

use crate::resource::{Resource, pod_non_zero_requests, pod_requests};

/// A host port a pod's container binds on its node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPort {
    pub ip: String,
    pub protocol: String,
    pub port: i32,
}

impl HostPort {
    /// Two bindings clash on the same port and protocol unless both name different addresses.
    pub fn conflicts(&self, o: &HostPort) -> bool {
        let wildcard = |ip: &str| ip.is_empty() || ip == "0.0.0.0" || ip == "::";
        self.port == o.port && self.protocol == o.protocol && (wildcard(&self.ip) || wildcard(&o.ip) || self.ip == o.ip)
    }
}

/// A pod (anti-)affinity term with its namespaces resolved and match label keys folded into
/// its selector.
#[derive(Debug, Clone)]
pub struct AffinityTerm {
    /// Namespaces named outright (the pod's own when the term names none and has no selector).
    pub namespaces: BTreeSet<String>,
    /// `namespaceSelector`; an empty selector means every namespace.
    pub namespace_selector: Option<LabelSelector>,
    pub selector: LabelSelector,
    pub topology_key: String,
}

impl AffinityTerm {
    fn new(term: &PodAffinityTerm, pod_ns: &str, pod_labels: &BTreeMap<String, String>) -> Option<AffinityTerm> {
        let to_value = |s| serde_json::to_value(s).unwrap_or_default();
        // A term without a selector matches no pod.
        let mut selector = match &term.label_selector {
            Some(s) => LabelSelector::from_structured(&to_value(s)).ok().flatten()?,
            None => LabelSelector::nothing(),
        };
        for (keys, op) in [(&term.match_label_keys, Op::In), (&term.mismatch_label_keys, Op::NotIn)] {
            for key in keys.iter().flatten() {
                if let Some(v) = pod_labels.get(key) {
                    let values = [v.clone()].into();
                    selector.requirements.push(Requirement { key: key.clone(), op: op.clone(), values });
                }
            }
        }
        let namespace_selector = match &term.namespace_selector {
            Some(s) => LabelSelector::from_structured(&to_value(s)).ok().flatten(),
            None => None,
        };
        let mut namespaces: BTreeSet<String> = term.namespaces.iter().flatten().cloned().collect();
        if namespaces.is_empty() && namespace_selector.is_none() {
            namespaces.insert(pod_ns.to_string());
        }
        Some(AffinityTerm { namespaces, namespace_selector, selector, topology_key: term.topology_key.clone() })
    }

    /// Whether `pod` (living in a namespace labelled `ns_labels`) is one this term selects.
    pub fn matches(&self, pod: &PodInfo, ns_labels: Option<&BTreeMap<String, String>>) -> bool {
        let in_namespace = self.namespaces.contains(&pod.namespace)
            || self
                .namespace_selector
                .as_ref()
                .is_some_and(|s| s.matches(|k| ns_labels.and_then(|l| l.get(k)).map(String::as_str)));
        in_namespace && self.selector.matches(|k| pod.labels.get(k).map(String::as_str))
    }
}

#[derive(Debug, Clone)]
pub struct WeightedTerm {
    pub weight: i32,
    pub term: AffinityTerm,
}

#[derive(Debug, Clone, Default)]
pub struct PodInfo {
    pub uid: String,
    pub namespace: String,
    pub name: String,
    pub labels: BTreeMap<String, String>,
    /// `spec.nodeName`: where the pod runs, or is assumed to run.
    pub node_name: String,
    pub nominated_node_name: String,
    pub priority: i32,
    pub requests: Resource,
    /// cpu and memory with defaults for containers that ask for none.
    pub non_zero: (i64, i64),
    pub host_ports: Vec<HostPort>,
    pub terminating: bool,
    /// Seconds since the epoch the pod started (or was created), for preemption's tie-break.
    pub start_time: i64,
    pub required_affinity: Vec<AffinityTerm>,
    pub required_anti_affinity: Vec<AffinityTerm>,
    pub preferred_affinity: Vec<WeightedTerm>,
    pub preferred_anti_affinity: Vec<WeightedTerm>,
    /// The whole pod, kept only while it waits to be scheduled.
    pub pod: Option<Arc<Pod>>,
}

impl PodInfo {
    /// Summarise `pod`; `keep_object` keeps the whole object (for pods waiting in the queue).
    pub fn new(pod: Pod, keep_object: bool) -> PodInfo {
        let meta = &pod.metadata;
        let no_spec = PodSpec::default();
        let spec = pod.spec.as_ref().unwrap_or(&no_spec);
        let status = pod.status.as_ref();
        let namespace = meta.namespace.clone().unwrap_or_default();
        let labels = meta.labels.clone().unwrap_or_default();
        let mut info = PodInfo {
            uid: meta.uid.clone().unwrap_or_default(),
            name: meta.name.clone().unwrap_or_default(),
            node_name: spec.node_name.clone().unwrap_or_default(),
            nominated_node_name: status.and_then(|s| s.nominated_node_name.clone()).unwrap_or_default(),
            priority: spec.priority.unwrap_or(0),
            requests: pod_requests(spec),
            non_zero: pod_non_zero_requests(spec),
            host_ports: host_ports(spec),
            terminating: meta.deletion_timestamp.is_some(),
            start_time: status
                .and_then(|s| s.start_time.as_ref())
                .or(meta.creation_timestamp.as_ref())
                .map(|t| t.0.as_second())
                .unwrap_or(0),
            ..PodInfo::default()
        };
        if let Some(pa) = spec.affinity.as_ref().and_then(|a| a.pod_affinity.as_ref()) {
            info.required_affinity =
                terms(&pa.required_during_scheduling_ignored_during_execution, &namespace, &labels);
            info.preferred_affinity =
                weighted(&pa.preferred_during_scheduling_ignored_during_execution, &namespace, &labels);
        }
        if let Some(pa) = spec.affinity.as_ref().and_then(|a| a.pod_anti_affinity.as_ref()) {
            info.required_anti_affinity =
                terms(&pa.required_during_scheduling_ignored_during_execution, &namespace, &labels);
            info.preferred_anti_affinity =
                weighted(&pa.preferred_during_scheduling_ignored_during_execution, &namespace, &labels);
        }
        info.namespace = namespace;
        info.labels = labels;
        if keep_object {
            info.pod = Some(Arc::new(pod));
        }
        info
    }

    pub fn spec(&self) -> Option<&PodSpec> {
        self.pod.as_ref().and_then(|p| p.spec.as_ref())
    }

    pub fn has_affinity(&self) -> bool {
        !self.required_affinity.is_empty()
            || !self.required_anti_affinity.is_empty()
            || !self.preferred_affinity.is_empty()
            || !self.preferred_anti_affinity.is_empty()
    }

    /// `namespace/name`, as events and logs name pods.
    pub fn key(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }

    /// Same pod placed on `node` (for assuming it there before the binding lands).
    pub fn on_node(&self, node: &str) -> PodInfo {
        PodInfo { node_name: node.to_string(), pod: None, ..self.clone() }
    }
}

fn terms(t: &Option<Vec<PodAffinityTerm>>, ns: &str, labels: &BTreeMap<String, String>) -> Vec<AffinityTerm> {
    t.iter().flatten().filter_map(|t| AffinityTerm::new(t, ns, labels)).collect()
}

fn weighted(
    t: &Option<Vec<WeightedPodAffinityTerm>>,
    ns: &str,
    labels: &BTreeMap<String, String>,
) -> Vec<WeightedTerm> {
    t.iter()
        .flatten()
        .filter_map(|w| {
            Some(WeightedTerm { weight: w.weight, term: AffinityTerm::new(&w.pod_affinity_term, ns, labels)? })
        })
        .collect()
}

/// Host ports of the containers and of sidecars (restartable init containers), which run
/// alongside them.
fn host_ports(spec: &PodSpec) -> Vec<HostPort> {
    let sidecars = spec.init_containers.iter().flatten().filter(|c| c.restart_policy.as_deref() == Some("Always"));
    spec.containers
        .iter()
        .chain(sidecars)
        .flat_map(|c| c.ports.iter().flatten())
        .filter(|p| p.host_port.is_some_and(|h| h > 0))
        .map(|p| HostPort {
            ip: p.host_ip.clone().unwrap_or_default(),
            protocol: p.protocol.clone().unwrap_or_else(|| "TCP".into()),
            port: p.host_port.unwrap_or(0),
        })
        .collect()
}
