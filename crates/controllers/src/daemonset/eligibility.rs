//! Which nodes a DaemonSet runs on (upstream's `NodeShouldRunDaemonPod`): the template's
//! `nodeName`, `nodeSelector` and required node affinity must match, and the node's taints
//! must be tolerated, counting the tolerations every daemon pod gets. A node whose NoSchedule
//! taints are not tolerated gets no new pod but keeps a running one; only an untolerated
//! NoExecute taint removes it.

use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::core::v1::{Node, PodSpec, Toleration};

use skiff_api::scheduling::{required_node_affinity_matches, untolerated};

/// The tolerations upstream adds to every daemon pod (`AddOrUpdateDaemonPodTolerations`), so
/// a daemon keeps running through node trouble: (key, effect), operator Exists.
const DAEMON_TOLERATIONS: &[(&str, &str)] = &[
    ("node.kubernetes.io/not-ready", "NoExecute"),
    ("node.kubernetes.io/unreachable", "NoExecute"),
    ("node.kubernetes.io/disk-pressure", "NoSchedule"),
    ("node.kubernetes.io/memory-pressure", "NoSchedule"),
    ("node.kubernetes.io/pid-pressure", "NoSchedule"),
    ("node.kubernetes.io/unschedulable", "NoSchedule"),
];

/// Only for host-network pods: they do not need the pod network.
const NETWORK_UNAVAILABLE: (&str, &str) = ("node.kubernetes.io/network-unavailable", "NoSchedule");

/// Add the daemon tolerations to `spec`, replacing any toleration of the same key, operator,
/// value and effect.
pub fn add_daemon_tolerations(spec: &mut PodSpec) {
    let host_network = spec.host_network == Some(true);
    let extra = host_network.then_some(NETWORK_UNAVAILABLE);
    for (key, effect) in DAEMON_TOLERATIONS.iter().copied().chain(extra) {
        let t = Toleration {
            key: Some(key.into()),
            operator: Some("Exists".into()),
            effect: Some(effect.into()),
            value: None,
            toleration_seconds: None,
        };
        let list = spec.tolerations.get_or_insert_with(Vec::new);
        let same = |o: &Toleration| {
            o.key == t.key
                && o.effect == t.effect
                && o.operator == t.operator
                && o.value.as_deref().unwrap_or("").is_empty()
        };
        match list.iter_mut().find(|o| same(o)) {
            Some(existing) => *existing = t,
            None => list.push(t),
        }
    }
}

/// Whether a daemon pod should be placed on the node, and whether one already there may stay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fit {
    pub should_run: bool,
    pub should_continue_running: bool,
}

/// Upstream's `NodeShouldRunDaemonPod` for `ds` and `node`.
pub fn fit(ds: &DaemonSet, node: &Node) -> Fit {
    let no = Fit { should_run: false, should_continue_running: false };
    let mut spec = ds.spec.as_ref().and_then(|s| s.template.spec.clone()).unwrap_or_default();
    let node_name = node.metadata.name.as_deref().unwrap_or_default();
    if spec.node_name.as_deref().is_some_and(|n| !n.is_empty() && n != node_name) {
        return no;
    }
    if !affinity_matches(&spec, node) {
        return no;
    }
    add_daemon_tolerations(&mut spec);
    let tolerations = spec.tolerations.as_deref().unwrap_or_default();
    let taints = node.spec.as_ref().and_then(|s| s.taints.as_deref()).unwrap_or_default();
    if untolerated(taints, tolerations, &["NoSchedule", "NoExecute"]).is_some() {
        let keeps_running = untolerated(taints, tolerations, &["NoExecute"]).is_none();
        return Fit { should_run: false, should_continue_running: keeps_running };
    }
    Fit { should_run: true, should_continue_running: true }
}

/// `nodeSelector` and the required node affinity terms (any of them) hold for the node.
pub fn affinity_matches(spec: &PodSpec, node: &Node) -> bool {
    let labels = node.metadata.labels.as_ref();
    let label = |k: &str| labels.and_then(|l| l.get(k)).map(String::as_str);
    required_node_affinity_matches(spec, label, node.metadata.name.as_deref().unwrap_or_default())
}

#[cfg(test)]
pub(crate) mod tests {
    use serde_json::{Value, json};

    use super::*;

    pub(crate) fn ds(template_spec: Value) -> DaemonSet {
        let mut spec = json!({"containers": [{"name": "c", "image": "agent"}]});
        if let (Value::Object(a), Value::Object(b)) = (&mut spec, template_spec) {
            a.extend(b);
        }
        serde_json::from_value(json!({
            "metadata": {"name": "agent", "namespace": "default", "uid": "ds1", "generation": 1,
                         "annotations": {"deprecated.daemonset.template.generation": "1"}},
            "spec": {"selector": {"matchLabels": {"app": "agent"}},
                     "template": {"metadata": {"labels": {"app": "agent"}}, "spec": spec}},
        }))
        .unwrap()
    }

    pub(crate) fn node(name: &str, labels: Value, taints: Value) -> Node {
        serde_json::from_value(json!({"metadata": {"name": name, "labels": labels}, "spec": {"taints": taints}}))
            .unwrap()
    }

    #[test]
    fn node_selector_and_required_affinity_choose_the_nodes() {
        let plain = node("a", json!({"disk": "ssd"}), json!([]));
        let other = node("b", json!({"disk": "hdd"}), json!([]));
        let d = ds(json!({"nodeSelector": {"disk": "ssd"}}));
        assert!(fit(&d, &plain).should_run);
        assert_eq!(fit(&d, &other), Fit { should_run: false, should_continue_running: false });
        let d = ds(json!({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [{"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["b"]}]}]}}}}));
        assert!(!fit(&d, &plain).should_run);
        assert!(fit(&d, &other).should_run);
        assert!(!fit(&ds(json!({"nodeName": "b"})), &plain).should_run);
    }

    #[test]
    fn taints_keep_new_pods_away_and_only_no_execute_evicts() {
        let d = ds(json!({}));
        let no_schedule = node("a", json!({}), json!([{"key": "dedicated", "value": "db", "effect": "NoSchedule"}]));
        assert_eq!(fit(&d, &no_schedule), Fit { should_run: false, should_continue_running: true });
        let no_execute = node("a", json!({}), json!([{"key": "dedicated", "value": "db", "effect": "NoExecute"}]));
        assert_eq!(fit(&d, &no_execute), Fit { should_run: false, should_continue_running: false });
        let tolerant = ds(json!({"tolerations": [{"key": "dedicated", "operator": "Exists"}]}));
        assert!(fit(&tolerant, &no_execute).should_run);
        // The daemon tolerations cover node trouble.
        let not_ready = node(
            "a",
            json!({}),
            json!([{"key": "node.kubernetes.io/not-ready", "effect": "NoExecute"},
                                                   {"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"}]),
        );
        assert!(fit(&d, &not_ready).should_run);
    }

    #[test]
    fn daemon_tolerations_are_added_once_and_network_only_for_host_network() {
        let mut spec = PodSpec::default();
        add_daemon_tolerations(&mut spec);
        add_daemon_tolerations(&mut spec);
        let keys: Vec<_> = spec.tolerations.iter().flatten().map(|t| t.key.clone().unwrap()).collect();
        assert_eq!(keys.len(), 6);
        assert!(spec.tolerations.iter().flatten().all(|t| t.toleration_seconds.is_none()));
        let mut host = PodSpec { host_network: Some(true), ..Default::default() };
        add_daemon_tolerations(&mut host);
        assert!(host.tolerations.iter().flatten().any(|t| t.key.as_deref() == Some(NETWORK_UNAVAILABLE.0)));
    }
}
