//! A StatefulSet pod's identity: its name `<set>-<ordinal>`, the labels that say who it is,
//! hostname and subdomain, and the claims `<template>-<set>-<ordinal>` mounted in it. Pods are
//! made here from a set (at one revision) and checked here against it.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, PersistentVolumeClaimVolumeSource, Pod, Volume};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use crate::cached_pod::CachedPod;
use crate::history::HASH_LABEL;
use crate::{owner, pods};

/// The label naming the pod itself (so a Service can select one replica).
pub const POD_NAME_LABEL: &str = "statefulset.kubernetes.io/pod-name";
/// The label carrying the ordinal.
pub const POD_INDEX_LABEL: &str = "apps.kubernetes.io/pod-index";

pub fn set_name(set: &StatefulSet) -> &str {
    set.metadata.name.as_deref().unwrap_or_default()
}

pub fn replicas(set: &StatefulSet) -> i32 {
    set.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1).max(0)
}

/// `spec.ordinals.start`: the ordinal of the first replica.
pub fn start_ordinal(set: &StatefulSet) -> i32 {
    set.spec.as_ref().and_then(|s| s.ordinals.as_ref()).and_then(|o| o.start).unwrap_or(0).max(0)
}

/// One past the last replica's ordinal.
pub fn end_ordinal(set: &StatefulSet) -> i32 {
    start_ordinal(set) + replicas(set)
}

/// The parent name and ordinal in a pod name `<parent>-<ordinal>`.
pub fn parent_and_ordinal(name: &str) -> Option<(&str, i32)> {
    let (parent, ordinal) = name.rsplit_once('-')?;
    if ordinal.is_empty() || !ordinal.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((parent, ordinal.parse().ok()?))
}

/// The pod's ordinal, if its name has one.
pub fn ordinal(pod: &CachedPod) -> Option<i32> {
    ordinal_of(&pod.metadata)
}

/// The ordinal in the name of the pod with metadata `meta`.
pub fn ordinal_of(meta: &ObjectMeta) -> Option<i32> {
    parent_and_ordinal(meta.name.as_deref().unwrap_or_default()).map(|(_, o)| o)
}

/// Whether the pod's name makes it one of the set's (whatever its ordinal).
pub fn is_member(set: &StatefulSet, pod: &CachedPod) -> bool {
    parent_and_ordinal(pod.metadata.name.as_deref().unwrap_or_default()).is_some_and(|(p, _)| p == set_name(set))
}

/// Whether the set wants a pod with ordinal `o` now.
pub fn in_range(set: &StatefulSet, o: i32) -> bool {
    o >= start_ordinal(set) && o < end_ordinal(set)
}

pub fn pod_name(set: &StatefulSet, ordinal: i32) -> String {
    format!("{}-{ordinal}", set_name(set))
}

/// The revision (a ControllerRevision name) the pod was made from.
pub fn revision(pod: &ObjectMeta) -> &str {
    pod.labels.as_ref().and_then(|l| l.get(HASH_LABEL)).map(String::as_str).unwrap_or_default()
}

/// The claims the pod with `ordinal` uses, by volume (template) name: named
/// `<template>-<set>-<ordinal>`, labelled with the template's labels and the set's
/// `matchLabels`.
pub fn claims(set: &StatefulSet, ordinal: i32) -> Vec<(String, PersistentVolumeClaim)> {
    let spec = set.spec.as_ref();
    let templates = spec.and_then(|s| s.volume_claim_templates.as_deref()).unwrap_or_default();
    let match_labels = spec.and_then(|s| s.selector.match_labels.as_ref());
    templates
        .iter()
        .map(|t| {
            let volume = t.metadata.name.clone().unwrap_or_default();
            let mut labels = t.metadata.labels.clone().unwrap_or_default();
            labels.extend(match_labels.into_iter().flatten().map(|(k, v)| (k.clone(), v.clone())));
            let claim = PersistentVolumeClaim {
                metadata: ObjectMeta {
                    name: Some(format!("{volume}-{}-{ordinal}", set_name(set))),
                    namespace: set.metadata.namespace.clone(),
                    labels: Some(labels),
                    annotations: t.metadata.annotations.clone(),
                    ..Default::default()
                },
                spec: t.spec.clone(),
                status: None,
            };
            (volume, claim)
        })
        .collect()
}

/// The pod for `ordinal` made from `set`'s template, with its identity and claims.
pub fn new_pod(set: &StatefulSet, ordinal: i32, revision: &str) -> Pod {
    let template = set.spec.as_ref().map(|s| s.template.clone()).unwrap_or_default();
    let namespace = set.metadata.namespace.as_deref().unwrap_or("default");
    let name = pod_name(set, ordinal);
    let mut pod = pods::from_template(&template, namespace, Some(name.clone()), "", owner::controller_ref(set));
    let labels = pod.metadata.labels.get_or_insert_with(BTreeMap::new);
    labels.insert(POD_NAME_LABEL.into(), name.clone());
    labels.insert(POD_INDEX_LABEL.into(), ordinal.to_string());
    labels.insert(HASH_LABEL.into(), revision.to_string());
    let spec = pod.spec.get_or_insert_with(Default::default);
    // Hostname and subdomain are set once, at creation: they are immutable.
    spec.hostname = Some(name);
    spec.subdomain = set.spec.as_ref().and_then(|s| s.service_name.clone()).filter(|s| !s.is_empty());
    mount_claims(set, ordinal, &mut pod);
    pod
}

/// Put a volume for each claim first in the pod's volumes, replacing any of the same name.
fn mount_claims(set: &StatefulSet, ordinal: i32, pod: &mut Pod) {
    let claims = claims(set, ordinal);
    let spec = pod.spec.get_or_insert_with(Default::default);
    let mut volumes: Vec<Volume> = claims
        .iter()
        .map(|(volume, claim)| Volume {
            name: volume.clone(),
            persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource {
                claim_name: claim.metadata.name.clone().unwrap_or_default(),
                read_only: None,
            }),
            ..Default::default()
        })
        .collect();
    for v in spec.volumes.take().into_iter().flatten() {
        if !claims.iter().any(|(name, _)| *name == v.name) {
            volumes.push(v);
        }
    }
    spec.volumes = (!volumes.is_empty()).then_some(volumes);
}

/// Name, namespace and identity labels agree with the set and the pod's ordinal.
pub fn identity_matches(set: &StatefulSet, pod: &CachedPod) -> bool {
    let Some(o) = ordinal(pod) else { return false };
    let labels = pod.metadata.labels.as_ref();
    let label = |k: &str| labels.and_then(|l| l.get(k)).map(String::as_str);
    let name = pod_name(set, o);
    is_member(set, pod)
        && pod.metadata.namespace == set.metadata.namespace
        && label(POD_NAME_LABEL) == Some(name.as_str())
        && label(POD_INDEX_LABEL) == Some(o.to_string().as_str())
}

/// Every claim template has its volume in the pod, naming the right claim.
pub fn storage_matches(set: &StatefulSet, pod: &CachedPod) -> bool {
    let Some(o) = ordinal(pod) else { return false };
    let volumes = pod.spec.as_ref().and_then(|s| s.volumes.as_deref()).unwrap_or_default();
    claims(set, o).iter().all(|(volume, claim)| {
        volumes.iter().any(|v| {
            v.name == *volume
                && v.persistent_volume_claim.as_ref().map(|c| &c.claim_name) == claim.metadata.name.as_ref()
        })
    })
}

/// The merge patch that restores a drifted pod's identity labels. Volumes are immutable in
/// a pod, so storage cannot be fixed this way.
pub fn identity_patch(set: &StatefulSet, pod: &CachedPod) -> serde_json::Value {
    let Some(o) = ordinal(pod) else { return serde_json::json!({}) };
    serde_json::json!({"metadata": {"labels": {POD_NAME_LABEL: pod_name(set, o), POD_INDEX_LABEL: o.to_string()}}})
}

#[cfg(test)]
pub(crate) mod tests {
    use serde_json::json;

    use super::*;

    pub(crate) fn set(v: serde_json::Value) -> StatefulSet {
        let mut base = json!({
            "metadata": {"name": "web", "namespace": "default", "uid": "u1"},
            "spec": {
                "serviceName": "nginx",
                "replicas": 3,
                "selector": {"matchLabels": {"app": "web"}},
                "template": {
                    "metadata": {"labels": {"app": "web"}},
                    "spec": {"containers": [{"name": "c", "image": "nginx"}],
                             "volumes": [{"name": "www", "emptyDir": {}}, {"name": "cache", "emptyDir": {}}]},
                },
                "volumeClaimTemplates": [{"metadata": {"name": "www", "labels": {"tier": "data"}},
                                          "spec": {"accessModes": ["ReadWriteOnce"]}}],
            },
        });
        merge(&mut base, v);
        serde_json::from_value(base).unwrap()
    }

    fn merge(a: &mut serde_json::Value, b: serde_json::Value) {
        match (a, b) {
            (serde_json::Value::Object(a), serde_json::Value::Object(b)) => {
                for (k, v) in b {
                    merge(a.entry(k).or_insert(serde_json::Value::Null), v);
                }
            }
            (a, b) => *a = b,
        }
    }

    #[test]
    fn names_parse_into_parent_and_ordinal() {
        assert_eq!(parent_and_ordinal("web-0"), Some(("web", 0)));
        assert_eq!(parent_and_ordinal("my-web-12"), Some(("my-web", 12)));
        assert_eq!(parent_and_ordinal("web-x"), None);
        assert_eq!(parent_and_ordinal("web"), None);
        assert_eq!(parent_and_ordinal("web-"), None);
    }

    #[test]
    fn a_new_pod_carries_its_identity_and_claims() {
        let s = set(json!({"spec": {"ordinals": {"start": 5}}}));
        assert_eq!((start_ordinal(&s), end_ordinal(&s)), (5, 8));
        let pod = new_pod(&s, 6, "web-abc");
        assert_eq!(pod.metadata.name.as_deref(), Some("web-6"));
        let labels = pod.metadata.labels.as_ref().unwrap();
        assert_eq!(labels[POD_NAME_LABEL], "web-6");
        assert_eq!(labels[POD_INDEX_LABEL], "6");
        assert_eq!(labels[HASH_LABEL], "web-abc");
        assert_eq!(labels["app"], "web");
        let spec = pod.spec.as_ref().unwrap();
        assert_eq!((spec.hostname.as_deref(), spec.subdomain.as_deref()), (Some("web-6"), Some("nginx")));
        let volumes = spec.volumes.as_ref().unwrap();
        let names: Vec<_> = volumes.iter().map(|v| v.name.as_str()).collect();
        assert_eq!(names, ["www", "cache"], "the claim replaces the template's volume of the same name");
        assert_eq!(volumes[0].persistent_volume_claim.as_ref().unwrap().claim_name, "www-web-6");
        let cached = CachedPod::from(&pod);
        assert!(identity_matches(&s, &cached) && storage_matches(&s, &cached) && in_range(&s, 6));
        let (_, claim) = &claims(&s, 6)[0];
        let claim_labels = claim.metadata.labels.as_ref().unwrap();
        assert_eq!((claim_labels["tier"].as_str(), claim_labels["app"].as_str()), ("data", "web"));
    }

    #[test]
    fn a_pod_without_its_labels_has_lost_its_identity() {
        let s = set(json!({}));
        let mut pod = CachedPod::from(&new_pod(&s, 1, "r"));
        pod.metadata.labels.as_mut().unwrap().remove(POD_NAME_LABEL);
        assert!(!identity_matches(&s, &pod));
        let patch = identity_patch(&s, &pod);
        let labels = pod.metadata.labels.get_or_insert_default();
        for (k, v) in patch["metadata"]["labels"].as_object().unwrap() {
            labels.insert(k.clone(), v.as_str().unwrap().into());
        }
        assert!(identity_matches(&s, &pod));
    }
}
