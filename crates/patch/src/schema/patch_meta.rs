//! The Kubernetes merge extensions of the built-in types, which k8s-openapi's schemas lack.
//!
//! These are facts of the Kubernetes API: the Go struct tags `patchStrategy`/`patchMergeKey` and
//! the `+listType`/`+listMapKey`/`+mapType`/`+structType` markers of `k8s.io/api` and
//! `k8s.io/apimachinery`, which upstream's OpenAPI generator turns into
//! `x-kubernetes-patch-strategy`, `x-kubernetes-patch-merge-key`, `x-kubernetes-list-type`,
//! `x-kubernetes-list-map-keys` and `x-kubernetes-map-type`. Strategic merge patch reads the first
//! two, server-side apply the rest.
//!
//! Lists without an entry are atomic, which is also what upstream assumes for a list with no
//! marker; atomic entries are listed anyway where upstream marks them, so the served documents say
//! the same as upstream's.

use serde_json::{Map, Value, json};

/// `x-kubernetes-list-type` and, for maps, the key fields.
#[derive(Clone, Copy)]
enum List {
    Atomic,
    Set,
    Map(&'static [&'static str]),
}

/// The extensions of one field (or, with an empty property name, of a whole definition).
#[derive(Clone, Copy)]
pub(super) struct Meta {
    strategy: Option<&'static str>,
    merge_key: Option<&'static str>,
    list: Option<List>,
    map_type: Option<&'static str>,
    /// A default that server-side apply needs: keys of list maps that clients may omit.
    default: Option<&'static str>,
}

const NONE: Meta = Meta { strategy: None, merge_key: None, list: None, map_type: None, default: None };

/// Merged by `key` under strategic merge patch; a list map keyed by `keys` for apply.
const fn keyed(key: &'static str, keys: &'static [&'static str]) -> Meta {
    Meta { strategy: Some("merge"), merge_key: Some(key), list: Some(List::Map(keys)), ..NONE }
}

/// Like [`keyed`], and items are replaced whole (`retainKeys`) when merged.
const fn keyed_retain(key: &'static str, keys: &'static [&'static str]) -> Meta {
    Meta { strategy: Some("merge,retainKeys"), merge_key: Some(key), list: Some(List::Map(keys)), ..NONE }
}

/// Merged by `key` under strategic merge patch but atomic for apply.
const fn keyed_atomic(key: &'static str) -> Meta {
    Meta { strategy: Some("merge"), merge_key: Some(key), list: Some(List::Atomic), ..NONE }
}

/// Scalars merged as a set under both.
const fn merge_set() -> Meta {
    Meta { strategy: Some("merge"), list: Some(List::Set), ..NONE }
}

const fn atomic() -> Meta {
    Meta { list: Some(List::Atomic), ..NONE }
}

const fn set() -> Meta {
    Meta { list: Some(List::Set), ..NONE }
}

/// A list map for apply only (no strategic merge key: replaced by strategic merge patch).
const fn list_map(keys: &'static [&'static str]) -> Meta {
    Meta { list: Some(List::Map(keys)), ..NONE }
}

const fn retain_keys() -> Meta {
    Meta { strategy: Some("retainKeys"), ..NONE }
}

/// A map or struct owned and replaced as a whole.
const fn atomic_map() -> Meta {
    Meta { map_type: Some("atomic"), ..NONE }
}

/// Overrides an atomic struct type back to per-field ownership at one use.
const fn granular_map() -> Meta {
    Meta { map_type: Some("granular"), ..NONE }
}

const fn default_str(value: &'static str) -> Meta {
    Meta { default: Some(value), ..NONE }
}

const NAME: &[&str] = &["name"];
const TYPE: &[&str] = &["type"];
const IP: &[&str] = &["ip"];

macro_rules! core {
    ($n:literal) => {
        concat!("io.k8s.api.core.v1.", $n)
    };
}
macro_rules! apps {
    ($n:literal) => {
        concat!("io.k8s.api.apps.v1.", $n)
    };
}
macro_rules! batch {
    ($n:literal) => {
        concat!("io.k8s.api.batch.v1.", $n)
    };
}
macro_rules! autoscaling {
    ($n:literal) => {
        concat!("io.k8s.api.autoscaling.v2.", $n)
    };
}
macro_rules! networking {
    ($n:literal) => {
        concat!("io.k8s.api.networking.v1.", $n)
    };
}
macro_rules! discovery {
    ($n:literal) => {
        concat!("io.k8s.api.discovery.v1.", $n)
    };
}
macro_rules! rbac {
    ($n:literal) => {
        concat!("io.k8s.api.rbac.v1.", $n)
    };
}
macro_rules! meta {
    ($n:literal) => {
        concat!("io.k8s.apimachinery.pkg.apis.meta.v1.", $n)
    };
}
macro_rules! apiext {
    ($n:literal) => {
        concat!("io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.", $n)
    };
}

/// (definition, property, extensions). An empty property applies to the definition itself
/// (`+structType=atomic`).
pub(super) const FIELDS: &[(&str, &str, Meta)] = &[
    // --- core/v1: pods and containers
    (core!("PodSpec"), "volumes", keyed_retain("name", NAME)),
    (core!("PodSpec"), "initContainers", keyed("name", NAME)),
    (core!("PodSpec"), "containers", keyed("name", NAME)),
    (core!("PodSpec"), "ephemeralContainers", keyed("name", NAME)),
    (core!("PodSpec"), "imagePullSecrets", keyed("name", NAME)),
    (core!("PodSpec"), "hostAliases", keyed("ip", IP)),
    (core!("PodSpec"), "topologySpreadConstraints", keyed("topologyKey", &["topologyKey", "whenUnsatisfiable"])),
    (core!("PodSpec"), "schedulingGates", keyed("name", NAME)),
    (core!("PodSpec"), "resourceClaims", keyed_retain("name", NAME)),
    (core!("PodSpec"), "tolerations", atomic()),
    (core!("PodSpec"), "readinessGates", atomic()),
    (core!("PodSpec"), "nodeSelector", atomic_map()),
    (core!("Container"), "ports", keyed("containerPort", &["containerPort", "protocol"])),
    (core!("Container"), "env", keyed("name", NAME)),
    (core!("Container"), "envFrom", atomic()),
    (core!("Container"), "volumeMounts", keyed("mountPath", &["mountPath"])),
    (core!("Container"), "volumeDevices", keyed("devicePath", &["devicePath"])),
    (core!("Container"), "resizePolicy", atomic()),
    (core!("Container"), "command", atomic()),
    (core!("Container"), "args", atomic()),
    (core!("EphemeralContainer"), "ports", keyed("containerPort", &["containerPort", "protocol"])),
    (core!("EphemeralContainer"), "env", keyed("name", NAME)),
    (core!("EphemeralContainer"), "envFrom", atomic()),
    (core!("EphemeralContainer"), "volumeMounts", keyed("mountPath", &["mountPath"])),
    (core!("EphemeralContainer"), "volumeDevices", keyed("devicePath", &["devicePath"])),
    (core!("EphemeralContainer"), "resizePolicy", atomic()),
    (core!("EphemeralContainer"), "command", atomic()),
    (core!("EphemeralContainer"), "args", atomic()),
    (core!("ContainerPort"), "protocol", default_str("TCP")),
    (core!("ResourceRequirements"), "claims", list_map(NAME)),
    (core!("Capabilities"), "add", atomic()),
    (core!("Capabilities"), "drop", atomic()),
    (core!("ExecAction"), "command", atomic()),
    (core!("HTTPGetAction"), "httpHeaders", atomic()),
    (core!("HostAlias"), "hostnames", atomic()),
    (core!("PodDNSConfig"), "nameservers", atomic()),
    (core!("PodDNSConfig"), "searches", atomic()),
    (core!("PodDNSConfig"), "options", atomic()),
    (core!("PodSecurityContext"), "supplementalGroups", atomic()),
    (core!("PodSecurityContext"), "sysctls", atomic()),
    (core!("LinuxContainerUser"), "supplementalGroups", atomic()),
    (core!("TopologySpreadConstraint"), "matchLabelKeys", atomic()),
    (core!("PodStatus"), "conditions", keyed("type", TYPE)),
    (core!("PodStatus"), "podIPs", keyed("ip", IP)),
    (core!("PodStatus"), "hostIPs", keyed_atomic("ip")),
    (core!("PodStatus"), "initContainerStatuses", atomic()),
    (core!("PodStatus"), "containerStatuses", atomic()),
    (core!("PodStatus"), "ephemeralContainerStatuses", atomic()),
    (core!("PodStatus"), "resourceClaimStatuses", keyed_retain("name", NAME)),
    (core!("ContainerStatus"), "volumeMounts", keyed("mountPath", &["mountPath"])),
    (core!("ContainerStatus"), "allocatedResourcesStatus", keyed("name", NAME)),
    (core!("ResourceStatus"), "resources", list_map(&["resourceID"])),
    // --- core/v1: scheduling
    (core!("NodeSelector"), "", atomic_map()),
    (core!("NodeSelector"), "nodeSelectorTerms", atomic()),
    (core!("NodeSelectorTerm"), "", atomic_map()),
    (core!("NodeSelectorTerm"), "matchExpressions", atomic()),
    (core!("NodeSelectorTerm"), "matchFields", atomic()),
    (core!("NodeSelectorRequirement"), "values", atomic()),
    (core!("TopologySelectorTerm"), "", atomic_map()),
    (core!("TopologySelectorTerm"), "matchLabelExpressions", atomic()),
    (core!("TopologySelectorLabelRequirement"), "values", atomic()),
    (core!("NodeAffinity"), "preferredDuringSchedulingIgnoredDuringExecution", atomic()),
    (core!("PodAffinity"), "requiredDuringSchedulingIgnoredDuringExecution", atomic()),
    (core!("PodAffinity"), "preferredDuringSchedulingIgnoredDuringExecution", atomic()),
    (core!("PodAntiAffinity"), "requiredDuringSchedulingIgnoredDuringExecution", atomic()),
    (core!("PodAntiAffinity"), "preferredDuringSchedulingIgnoredDuringExecution", atomic()),
    (core!("PodAffinityTerm"), "namespaces", atomic()),
    (core!("PodAffinityTerm"), "matchLabelKeys", atomic()),
    (core!("PodAffinityTerm"), "mismatchLabelKeys", atomic()),
    // --- core/v1: volumes
    (core!("RBDVolumeSource"), "monitors", atomic()),
    (core!("RBDPersistentVolumeSource"), "monitors", atomic()),
    (core!("CephFSVolumeSource"), "monitors", atomic()),
    (core!("CephFSPersistentVolumeSource"), "monitors", atomic()),
    (core!("ISCSIVolumeSource"), "portals", atomic()),
    (core!("ISCSIPersistentVolumeSource"), "portals", atomic()),
    (core!("FCVolumeSource"), "targetWWNs", atomic()),
    (core!("FCVolumeSource"), "wwids", atomic()),
    (core!("SecretVolumeSource"), "items", atomic()),
    (core!("SecretProjection"), "items", atomic()),
    (core!("ConfigMapVolumeSource"), "items", atomic()),
    (core!("ConfigMapProjection"), "items", atomic()),
    (core!("DownwardAPIVolumeSource"), "items", atomic()),
    (core!("DownwardAPIProjection"), "items", atomic()),
    (core!("ProjectedVolumeSource"), "sources", atomic()),
    (core!("PersistentVolumeSpec"), "accessModes", atomic()),
    (core!("PersistentVolumeSpec"), "mountOptions", atomic()),
    (core!("PersistentVolumeSpec"), "claimRef", granular_map()),
    (core!("PersistentVolumeClaimSpec"), "accessModes", atomic()),
    (core!("PersistentVolumeClaimStatus"), "accessModes", atomic()),
    (core!("PersistentVolumeClaimStatus"), "conditions", keyed("type", TYPE)),
    (core!("PersistentVolumeClaimStatus"), "allocatedResourceStatuses", granular_map()),
    // --- core/v1: workloads, services, nodes, namespaces, quota
    (core!("ReplicationControllerSpec"), "selector", atomic_map()),
    (core!("ReplicationControllerStatus"), "conditions", keyed("type", TYPE)),
    (core!("ServiceSpec"), "ports", keyed("port", &["port", "protocol"])),
    (core!("ServiceSpec"), "selector", atomic_map()),
    (core!("ServiceSpec"), "clusterIPs", atomic()),
    (core!("ServiceSpec"), "externalIPs", atomic()),
    (core!("ServiceSpec"), "ipFamilies", atomic()),
    (core!("ServiceSpec"), "loadBalancerSourceRanges", atomic()),
    (core!("ServicePort"), "protocol", default_str("TCP")),
    (core!("ServiceStatus"), "conditions", keyed("type", TYPE)),
    (core!("LoadBalancerStatus"), "ingress", atomic()),
    (core!("LoadBalancerIngress"), "ports", atomic()),
    (core!("ServiceAccount"), "secrets", keyed("name", NAME)),
    (core!("ServiceAccount"), "imagePullSecrets", atomic()),
    (core!("Endpoints"), "subsets", atomic()),
    (core!("EndpointSubset"), "addresses", atomic()),
    (core!("EndpointSubset"), "notReadyAddresses", atomic()),
    (core!("EndpointSubset"), "ports", atomic()),
    (core!("EndpointAddress"), "", atomic_map()),
    (core!("EndpointPort"), "", atomic_map()),
    (core!("NodeSpec"), "podCIDRs", merge_set()),
    (core!("NodeSpec"), "taints", atomic()),
    (core!("NodeStatus"), "conditions", keyed("type", TYPE)),
    (core!("NodeStatus"), "addresses", keyed("type", TYPE)),
    (core!("NodeStatus"), "images", atomic()),
    (core!("NodeStatus"), "volumesInUse", atomic()),
    (core!("NodeStatus"), "volumesAttached", atomic()),
    (core!("NodeStatus"), "runtimeHandlers", atomic()),
    (core!("ContainerImage"), "names", atomic()),
    (core!("NamespaceSpec"), "finalizers", atomic()),
    (core!("NamespaceStatus"), "conditions", keyed("type", TYPE)),
    (core!("LimitRangeSpec"), "limits", atomic()),
    (core!("ResourceQuotaSpec"), "scopes", atomic()),
    (core!("ScopeSelector"), "", atomic_map()),
    (core!("ScopeSelector"), "matchExpressions", atomic()),
    (core!("ScopedResourceSelectorRequirement"), "values", atomic()),
    // --- core/v1: references and selectors owned as a whole
    (core!("ObjectReference"), "", atomic_map()),
    (core!("LocalObjectReference"), "", atomic_map()),
    (core!("TypedLocalObjectReference"), "", atomic_map()),
    (core!("SecretReference"), "", atomic_map()),
    (core!("ObjectFieldSelector"), "", atomic_map()),
    (core!("ResourceFieldSelector"), "", atomic_map()),
    (core!("ConfigMapKeySelector"), "", atomic_map()),
    (core!("SecretKeySelector"), "", atomic_map()),
    // --- apps/v1
    (apps!("DeploymentSpec"), "strategy", retain_keys()),
    (apps!("DeploymentStatus"), "conditions", keyed("type", TYPE)),
    (apps!("ReplicaSetStatus"), "conditions", keyed("type", TYPE)),
    (apps!("DaemonSetStatus"), "conditions", keyed("type", TYPE)),
    (apps!("StatefulSetStatus"), "conditions", keyed("type", TYPE)),
    (apps!("StatefulSetSpec"), "volumeClaimTemplates", atomic()),
    // --- autoscaling/v2
    (autoscaling!("HorizontalPodAutoscalerSpec"), "metrics", atomic()),
    (autoscaling!("HorizontalPodAutoscalerStatus"), "currentMetrics", atomic()),
    (autoscaling!("HorizontalPodAutoscalerStatus"), "conditions", keyed("type", TYPE)),
    (autoscaling!("HPAScalingRules"), "policies", atomic()),
    // --- batch/v1
    (batch!("JobStatus"), "conditions", keyed_atomic("type")),
    (batch!("CronJobStatus"), "active", atomic()),
    (batch!("PodFailurePolicy"), "rules", atomic()),
    (batch!("PodFailurePolicyRule"), "onPodConditions", atomic()),
    (batch!("PodFailurePolicyOnExitCodesRequirement"), "values", set()),
    (batch!("UncountedTerminatedPods"), "succeeded", set()),
    (batch!("UncountedTerminatedPods"), "failed", set()),
    (batch!("SuccessPolicy"), "rules", atomic()),
    // --- discovery.k8s.io/v1
    (discovery!("EndpointSlice"), "endpoints", atomic()),
    (discovery!("EndpointSlice"), "ports", atomic()),
    (discovery!("Endpoint"), "addresses", set()),
    (discovery!("EndpointHints"), "forZones", atomic()),
    (discovery!("EndpointHints"), "forNodes", atomic()),
    (discovery!("EndpointPort"), "", atomic_map()),
    // --- networking.k8s.io/v1
    (networking!("IngressSpec"), "rules", atomic()),
    (networking!("IngressSpec"), "tls", atomic()),
    (networking!("IngressTLS"), "hosts", atomic()),
    (networking!("HTTPIngressRuleValue"), "paths", atomic()),
    (networking!("IngressLoadBalancerStatus"), "ingress", atomic()),
    (networking!("IngressLoadBalancerIngress"), "ports", atomic()),
    (networking!("NetworkPolicySpec"), "ingress", atomic()),
    (networking!("NetworkPolicySpec"), "egress", atomic()),
    (networking!("NetworkPolicySpec"), "policyTypes", atomic()),
    (networking!("NetworkPolicyIngressRule"), "ports", atomic()),
    (networking!("NetworkPolicyIngressRule"), "from", atomic()),
    (networking!("NetworkPolicyEgressRule"), "ports", atomic()),
    (networking!("NetworkPolicyEgressRule"), "to", atomic()),
    (networking!("IPBlock"), "except", atomic()),
    // --- node.k8s.io/v1
    ("io.k8s.api.node.v1.Scheduling", "nodeSelector", atomic_map()),
    ("io.k8s.api.node.v1.Scheduling", "tolerations", atomic()),
    // --- policy/v1
    ("io.k8s.api.policy.v1.PodDisruptionBudgetStatus", "conditions", keyed("type", TYPE)),
    // --- rbac.authorization.k8s.io/v1
    (rbac!("Role"), "rules", atomic()),
    (rbac!("ClusterRole"), "rules", atomic()),
    (rbac!("RoleBinding"), "subjects", atomic()),
    (rbac!("ClusterRoleBinding"), "subjects", atomic()),
    (rbac!("PolicyRule"), "verbs", atomic()),
    (rbac!("PolicyRule"), "apiGroups", atomic()),
    (rbac!("PolicyRule"), "resources", atomic()),
    (rbac!("PolicyRule"), "resourceNames", atomic()),
    (rbac!("PolicyRule"), "nonResourceURLs", atomic()),
    (rbac!("AggregationRule"), "clusterRoleSelectors", atomic()),
    (rbac!("RoleRef"), "", atomic_map()),
    (rbac!("Subject"), "", atomic_map()),
    // --- storage.k8s.io/v1
    ("io.k8s.api.storage.v1.StorageClass", "mountOptions", atomic()),
    ("io.k8s.api.storage.v1.StorageClass", "allowedTopologies", atomic()),
    // --- apiextensions.k8s.io/v1
    (apiext!("CustomResourceDefinitionSpec"), "versions", atomic()),
    (apiext!("CustomResourceDefinitionStatus"), "conditions", list_map(TYPE)),
    (apiext!("CustomResourceDefinitionStatus"), "storedVersions", atomic()),
    (apiext!("CustomResourceDefinitionNames"), "shortNames", atomic()),
    (apiext!("CustomResourceDefinitionNames"), "categories", atomic()),
    (apiext!("CustomResourceDefinitionVersion"), "additionalPrinterColumns", atomic()),
    (apiext!("CustomResourceDefinitionVersion"), "selectableFields", atomic()),
    (apiext!("WebhookConversion"), "conversionReviewVersions", atomic()),
    (apiext!("JSONSchemaProps"), "x-kubernetes-list-map-keys", atomic()),
    (apiext!("JSONSchemaProps"), "x-kubernetes-validations", keyed("rule", &["rule"])),
    // --- meta/v1
    (meta!("ObjectMeta"), "finalizers", merge_set()),
    (meta!("ObjectMeta"), "ownerReferences", keyed("uid", &["uid"])),
    (meta!("ObjectMeta"), "managedFields", atomic()),
    (meta!("LabelSelector"), "", atomic_map()),
    (meta!("LabelSelector"), "matchExpressions", atomic()),
    (meta!("LabelSelectorRequirement"), "values", atomic()),
    (meta!("OwnerReference"), "", atomic_map()),
    (meta!("StatusDetails"), "causes", atomic()),
    (meta!("DeleteOptions"), "dryRun", atomic()),
];

impl Meta {
    fn write(&self, schema: &mut Map<String, Value>) {
        if let Some(s) = self.strategy {
            schema.insert("x-kubernetes-patch-strategy".into(), s.into());
        }
        if let Some(k) = self.merge_key {
            schema.insert("x-kubernetes-patch-merge-key".into(), k.into());
        }
        match self.list {
            Some(List::Atomic) => {
                schema.insert("x-kubernetes-list-type".into(), "atomic".into());
            }
            Some(List::Set) => {
                schema.insert("x-kubernetes-list-type".into(), "set".into());
            }
            Some(List::Map(keys)) => {
                schema.insert("x-kubernetes-list-type".into(), "map".into());
                schema.insert("x-kubernetes-list-map-keys".into(), json!(keys));
            }
            None => {}
        }
        if let Some(m) = self.map_type {
            schema.insert("x-kubernetes-map-type".into(), m.into());
        }
        if let Some(d) = self.default {
            schema.insert("default".into(), d.into());
        }
    }
}

/// Writes every entry of [`FIELDS`] into the generated definitions. Entries whose definition or
/// property does not exist are skipped; a test checks there are none.
pub(super) fn apply(defs: &mut Map<String, Value>) {
    for (definition, property, meta) in FIELDS {
        if let Some(target) = target_mut(defs, definition, property) {
            meta.write(target);
        }
    }
}

fn target_mut<'a>(
    defs: &'a mut Map<String, Value>,
    definition: &str,
    property: &str,
) -> Option<&'a mut Map<String, Value>> {
    let def = defs.get_mut(definition)?.as_object_mut()?;
    if property.is_empty() {
        return Some(def);
    }
    def.get_mut("properties")?.get_mut(property)?.as_object_mut()
}

#[cfg(test)]
mod tests {
    use super::super::definitions;
    use super::*;

    #[test]
    fn every_entry_names_an_existing_field() {
        let defs = definitions();
        let missing: Vec<_> = FIELDS
            .iter()
            .filter(|(d, p, _)| {
                let Some(def) = defs.get(*d) else { return true };
                !p.is_empty()
                    && def.pointer(&format!("/properties/{}", p.replace('~', "~0").replace('/', "~1"))).is_none()
            })
            .map(|(d, p, _)| format!("{d}.{p}"))
            .collect();
        assert!(missing.is_empty(), "patch metadata for unknown fields: {missing:?}");
    }

    #[test]
    fn entries_are_unique() {
        let mut seen = std::collections::HashSet::new();
        for (d, p, _) in FIELDS {
            assert!(seen.insert((d, p)), "duplicate entry {d}.{p}");
        }
    }
}
