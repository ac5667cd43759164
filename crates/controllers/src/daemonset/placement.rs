//! Daemon pods and their nodes: the pod template at a revision (daemon tolerations, revision
//! labels), the node affinity that pins a pod to one node for the default scheduler
//! (upstream's `ReplaceDaemonSetPodNodeNameNodeAffinity`), which node a pod is for, and per
//! node what to create or delete (upstream's `podsShouldBeOnNode`).

use std::cmp::Ordering;
use std::sync::Arc;

use jiff::Timestamp;
use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::core::v1::{
    Affinity, NodeAffinity, NodeSelector, NodeSelectorRequirement, NodeSelectorTerm, PodTemplateSpec,
};

use super::eligibility::{Fit, add_daemon_tolerations};
use crate::cached_pod::CachedPod;
use crate::history::HASH_LABEL;
use crate::pods;

/// The DaemonSet annotation the API server keeps: how often the template changed.
pub const TEMPLATE_GENERATION_ANNOTATION: &str = "deprecated.daemonset.template.generation";
/// The pod label with the template generation the pod was made from.
pub const TEMPLATE_GENERATION_LABEL: &str = "pod-template-generation";

pub fn template_generation(ds: &DaemonSet) -> Option<i64> {
    ds.metadata.annotations.as_ref()?.get(TEMPLATE_GENERATION_ANNOTATION)?.parse().ok()
}

/// The template daemon pods are made from at revision `hash`.
pub fn pod_template(ds: &DaemonSet, hash: &str) -> PodTemplateSpec {
    let mut t = ds.spec.as_ref().map(|s| s.template.clone()).unwrap_or_default();
    add_daemon_tolerations(t.spec.get_or_insert_with(Default::default));
    let labels = t.metadata.get_or_insert_with(Default::default).labels.get_or_insert_with(Default::default);
    if let Some(g) = template_generation(ds) {
        labels.insert(TEMPLATE_GENERATION_LABEL.into(), g.to_string());
    }
    if !hash.is_empty() {
        labels.insert(HASH_LABEL.into(), hash.into());
    }
    t
}

/// `affinity` with its required node affinity replaced by "the node named `node`".
pub fn pin_to_node(affinity: Option<Affinity>, node: &str) -> Affinity {
    let term = NodeSelectorTerm {
        match_fields: Some(vec![NodeSelectorRequirement {
            key: "metadata.name".into(),
            operator: "In".into(),
            values: Some(vec![node.into()]),
        }]),
        match_expressions: None,
    };
    let mut affinity = affinity.unwrap_or_default();
    let na = affinity.node_affinity.get_or_insert_with(NodeAffinity::default);
    let required = na.required_during_scheduling_ignored_during_execution.get_or_insert_with(NodeSelector::default);
    required.node_selector_terms = vec![term];
    affinity
}

/// The node a daemon pod is for: where it runs, or (not yet scheduled) the node its affinity
/// pins it to.
pub fn target_node(pod: &CachedPod) -> Option<String> {
    let spec = pod.spec.as_ref()?;
    if let Some(n) = spec.node_name.as_ref().filter(|n| !n.is_empty()) {
        return Some(n.clone());
    }
    let terms = &spec
        .affinity
        .as_ref()?
        .node_affinity
        .as_ref()?
        .required_during_scheduling_ignored_during_execution
        .as_ref()?
        .node_selector_terms;
    terms.iter().flat_map(|t| t.match_fields.iter().flatten()).find_map(|r| {
        let values = r.values.as_deref().unwrap_or_default();
        (r.key == "metadata.name" && r.operator == "In" && values.len() == 1).then(|| values[0].clone())
    })
}

/// Whether the pod is at revision `hash` (or, for pods from before revisions, at the
/// template generation).
pub fn is_updated(pod: &CachedPod, hash: &str, generation: Option<i64>) -> bool {
    let label = |k: &str| pod.metadata.labels.as_ref().and_then(|l| l.get(k)).map(String::as_str);
    let by_generation = generation.is_some_and(|g| label(TEMPLATE_GENERATION_LABEL) == Some(g.to_string().as_str()));
    let by_hash = !hash.is_empty() && label(HASH_LABEL) == Some(hash);
    by_hash || by_generation
}

/// Scheduled pods first, then the oldest, then by name (upstream's
/// `podByCreationTimestampAndPhase`).
pub fn oldest_first(a: &Arc<CachedPod>, b: &Arc<CachedPod>) -> Ordering {
    let created = |p: &CachedPod| p.metadata.creation_timestamp.as_ref().map(|t| t.0);
    pods::is_scheduled(b)
        .cmp(&pods::is_scheduled(a))
        .then_with(|| created(a).cmp(&created(b)))
        .then_with(|| a.metadata.name.cmp(&b.metadata.name))
}

/// What to do on one node.
#[derive(Debug, Default)]
pub struct NodeWork {
    /// The node needs a daemon pod.
    pub create: bool,
    pub delete: Vec<Arc<CachedPod>>,
    /// Failed pods among `delete` (each gets a FailedDaemonPod event).
    pub failed: Vec<Arc<CachedPod>>,
}

/// Upstream's `podsShouldBeOnNode`: create where a pod should run and none is; remove
/// finished pods, surplus pods (keeping the oldest; with surge, one old and one new while the
/// new one becomes available), and every pod where none should run.
pub fn node_work(
    ds: &DaemonSet,
    fit: Fit,
    pods: &[Arc<CachedPod>],
    hash: &str,
    surge: bool,
    now: Timestamp,
) -> NodeWork {
    let mut w = NodeWork::default();
    if fit.should_run && pods.is_empty() {
        w.create = true;
        return w;
    }
    if !fit.should_continue_running {
        w.delete = pods.iter().filter(|p| p.metadata.deletion_timestamp.is_none()).cloned().collect();
        return w;
    }
    let mut running = Vec::new();
    for p in pods.iter().filter(|p| p.metadata.deletion_timestamp.is_none()) {
        match pods::phase(p) {
            "Failed" => {
                w.failed.push(p.clone());
                w.delete.push(p.clone());
            }
            "Succeeded" => w.delete.push(p.clone()),
            _ => running.push(p.clone()),
        }
    }
    running.sort_by(oldest_first);
    if !surge {
        w.delete.extend(running.iter().skip(1).cloned());
        return w;
    }
    if running.len() <= 1 {
        w.create = running.is_empty() && fit.should_run;
        return w;
    }
    // Surging: keep the oldest new pod and the oldest old one; the old one goes once it is
    // not Ready or the new one is available.
    let min_ready = ds.spec.as_ref().and_then(|s| s.min_ready_seconds).unwrap_or(0);
    let (mut oldest_new, mut oldest_old) = (None, None);
    for p in running {
        let is_new = p.metadata.labels.as_ref().and_then(|l| l.get(HASH_LABEL)).map(String::as_str) == Some(hash);
        let slot = if is_new { &mut oldest_new } else { &mut oldest_old };
        if slot.is_none() {
            *slot = Some(p);
        } else {
            w.delete.push(p);
        }
    }
    if let (Some(new), Some(old)) = (oldest_new, oldest_old)
        && (!pods::is_ready(&old) || pods::is_available(&new, min_ready, now))
    {
        w.delete.push(old);
    }
    w
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::cached_pod::CachedPodSpec;
    use crate::daemonset::eligibility::tests::ds;

    fn pod(name: &str, hash: &str, phase: &str, ready: bool, created: &str) -> Arc<CachedPod> {
        Arc::new(
            serde_json::from_value(json!({
                "metadata": {"name": name, "labels": {HASH_LABEL: hash}, "creationTimestamp": created},
                "spec": {"nodeName": "n1", "containers": []},
                "status": {"phase": phase, "conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" },
                           "lastTransitionTime": "2026-01-01T00:00:00Z"}]},
            }))
            .unwrap(),
        )
    }

    const RUN: Fit = Fit { should_run: true, should_continue_running: true };

    fn names(p: &[Arc<CachedPod>]) -> Vec<String> {
        p.iter().map(|p| p.metadata.name.clone().unwrap()).collect()
    }

    fn now() -> Timestamp {
        "2026-01-01T01:00:00Z".parse().unwrap()
    }

    #[test]
    fn pods_are_pinned_to_their_node_by_affinity() {
        let a = pin_to_node(None, "n2");
        let p = CachedPod {
            spec: Some(CachedPodSpec { affinity: Some(Box::new(a.clone())), ..Default::default() }),
            ..Default::default()
        };
        assert_eq!(target_node(&p).as_deref(), Some("n2"));
        // An existing required term is replaced, preferred terms stay.
        let mut b = a.clone();
        b.node_affinity.as_mut().unwrap().preferred_during_scheduling_ignored_during_execution = Some(vec![]);
        let b = pin_to_node(Some(b), "n3");
        let na = b.node_affinity.unwrap();
        assert!(na.preferred_during_scheduling_ignored_during_execution.is_some());
        assert_eq!(na.required_during_scheduling_ignored_during_execution.unwrap().node_selector_terms.len(), 1);
    }

    #[test]
    fn the_template_carries_revision_labels_and_daemon_tolerations() {
        let t = pod_template(&ds(json!({})), "abc");
        let labels = t.metadata.unwrap().labels.unwrap();
        assert_eq!((labels[HASH_LABEL].as_str(), labels[TEMPLATE_GENERATION_LABEL].as_str()), ("abc", "1"));
        assert_eq!(t.spec.unwrap().tolerations.unwrap().len(), 6);
    }

    #[test]
    fn one_pod_per_node_failed_ones_replaced_extra_ones_removed() {
        let d = ds(json!({}));
        assert!(node_work(&d, RUN, &[], "h", false, now()).create);
        let two = [
            pod("b", "h", "Running", true, "2026-01-01T00:00:02Z"),
            pod("a", "h", "Running", true, "2026-01-01T00:00:01Z"),
        ];
        let w = node_work(&d, RUN, &two, "h", false, now());
        assert_eq!(names(&w.delete), ["b"], "the oldest stays");
        let failed = [pod("a", "h", "Failed", false, "2026-01-01T00:00:01Z")];
        let w = node_work(&d, RUN, &failed, "h", false, now());
        assert_eq!((names(&w.delete), w.failed.len(), w.create), (vec!["a".to_string()], 1, false));
        let gone = Fit { should_run: false, should_continue_running: false };
        assert_eq!(names(&node_work(&d, gone, &two, "h", false, now()).delete).len(), 2);
        let keep = Fit { should_run: false, should_continue_running: true };
        let one = [two[1].clone()];
        let w = node_work(&d, keep, &one, "h", false, now());
        assert!(w.delete.is_empty() && !w.create, "NoSchedule does not evict");
    }

    #[test]
    fn with_surge_the_old_pod_goes_once_the_new_one_is_available() {
        let d = ds(json!({}));
        let old = pod("old", "h1", "Running", true, "2026-01-01T00:00:01Z");
        let waiting = pod("new", "h2", "Running", false, "2026-01-01T00:00:02Z");
        assert!(node_work(&d, RUN, &[old.clone(), waiting], "h2", true, now()).delete.is_empty());
        let ready = pod("new", "h2", "Running", true, "2026-01-01T00:00:02Z");
        assert_eq!(names(&node_work(&d, RUN, &[old, ready], "h2", true, now()).delete), ["old"]);
    }
}
