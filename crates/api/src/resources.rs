//! The table of resources skiff serves: names, scope, subresources and per-kind strategy.
//!
//! Everything the API server needs to route a request, list discovery, print a table or validate
//! an object starts from a [`ResourceInfo`] found here by group/version/resource or by kind.

use std::collections::HashMap;
use std::sync::OnceLock;

use k8s_openapi::api as k8s;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1 as apiextensions;

use crate::convert::Conversion;
use crate::status::Qualified;
use crate::strategy::{KindRules, Strategy, Typed};
use crate::table::TablePrinter;

/// Subresources served under `<resource>/<name>/<subresource>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subresource {
    Status,
    Scale,
    Binding,
    Eviction,
    /// `namespaces/<name>/finalize`: writes `spec.finalizers` only.
    Finalize,
    /// `pods/<name>/log`, `exec`, `attach`: streams proxied to the pod's node agent.
    Log,
    Exec,
    Attach,
}

impl Subresource {
    pub fn name(self) -> &'static str {
        match self {
            Subresource::Status => "status",
            Subresource::Scale => "scale",
            Subresource::Binding => "binding",
            Subresource::Eviction => "eviction",
            Subresource::Finalize => "finalize",
            Subresource::Log => "log",
            Subresource::Exec => "exec",
            Subresource::Attach => "attach",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Status, Self::Scale, Self::Binding, Self::Eviction, Self::Finalize, Self::Log, Self::Exec, Self::Attach]
            .into_iter()
            .find(|r| r.name() == s)
    }

    /// (group, version, kind) of the object this subresource reads and writes; `None` means the
    /// parent's own kind.
    pub fn kind(self) -> Option<(&'static str, &'static str, &'static str)> {
        match self {
            Subresource::Status | Subresource::Finalize | Subresource::Log => None,
            Subresource::Scale => Some(("autoscaling", "v1", "Scale")),
            Subresource::Binding => Some(("", "v1", "Binding")),
            Subresource::Eviction => Some(("policy", "v1", "Eviction")),
            Subresource::Exec => Some(("", "v1", "PodExecOptions")),
            Subresource::Attach => Some(("", "v1", "PodAttachOptions")),
        }
    }

    pub fn verbs(self) -> &'static [&'static str] {
        match self {
            Subresource::Status | Subresource::Scale => &["get", "patch", "update"],
            Subresource::Binding | Subresource::Eviction => &["create"],
            Subresource::Finalize => &["update"],
            Subresource::Log => &["get"],
            Subresource::Exec | Subresource::Attach => &["create", "get"],
        }
    }
}

/// Which name syntax a kind's objects must have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameRule {
    Dns1123Subdomain,
    Dns1123Label,
    Dns1035Label,
    PathSegment,
}

/// One served resource.
pub struct ResourceInfo {
    pub group: &'static str,
    pub version: &'static str,
    pub kind: &'static str,
    pub plural: &'static str,
    pub singular: &'static str,
    pub namespaced: bool,
    pub short_names: &'static [&'static str],
    pub categories: &'static [&'static str],
    pub subresources: &'static [Subresource],
    pub name_rule: NameRule,
    /// Whether `metadata.generation` starts at 1 and is bumped on spec changes.
    pub tracks_generation: bool,
    /// Field selector labels beyond metadata.name/namespace: (label, dotted JSON path).
    pub field_labels: &'static [(&'static str, &'static str)],
    pub strategy: &'static dyn Strategy,
    /// The resource whose storage this one shares (`events.k8s.io` events live with core
    /// events), with the conversion between the two shapes.
    pub stored_as: Option<(&'static str, &'static dyn Conversion)>,
}

impl ResourceInfo {
    fn new<T: KindRules + TablePrinter + k8s_openapi::Resource>(plural: &'static str, singular: &'static str) -> Self {
        let strategy: &'static dyn Strategy = Box::leak(Box::new(Typed::<T>::new()));
        ResourceInfo {
            group: T::GROUP,
            version: T::VERSION,
            kind: T::KIND,
            plural,
            singular,
            namespaced: std::any::TypeId::of::<T::Scope>()
                == std::any::TypeId::of::<k8s_openapi::NamespaceResourceScope>(),
            short_names: &[],
            categories: &[],
            subresources: &[],
            name_rule: NameRule::Dns1123Subdomain,
            tracks_generation: false,
            field_labels: &[],
            strategy,
            stored_as: None,
        }
    }

    fn short(mut self, names: &'static [&'static str]) -> Self {
        self.short_names = names;
        self
    }

    fn in_all(mut self) -> Self {
        self.categories = &["all"];
        self
    }

    fn sub(mut self, subs: &'static [Subresource]) -> Self {
        self.subresources = subs;
        self
    }

    fn names(mut self, rule: NameRule) -> Self {
        self.name_rule = rule;
        self
    }

    fn generation(mut self) -> Self {
        self.tracks_generation = true;
        self
    }

    fn fields(mut self, labels: &'static [(&'static str, &'static str)]) -> Self {
        self.field_labels = labels;
        self
    }

    /// `apps/v1`, or `v1` for the core group.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() { self.version.to_string() } else { format!("{}/{}", self.group, self.version) }
    }

    pub fn list_kind(&self) -> String {
        format!("{}List", self.kind)
    }

    pub fn has_subresource(&self, s: Subresource) -> bool {
        self.subresources.contains(&s)
    }

    pub fn has_status(&self) -> bool {
        self.has_subresource(Subresource::Status)
    }

    /// `deployments.apps`, for NotFound/AlreadyExists/Conflict messages.
    pub fn qualified_resource(&self) -> Qualified {
        Qualified::new(self.group, self.plural)
    }

    /// `Deployment.apps`, for Invalid messages.
    pub fn qualified_kind(&self) -> Qualified {
        Qualified::new(self.group, self.kind)
    }

    /// The storage prefix of this resource: `/registry/<resource>/`.
    pub fn storage_resource(&self) -> &'static str {
        match self.stored_as {
            Some((r, _)) => r,
            None => self.plural,
        }
    }

    /// The value a field label has on an object, or `None` when the kind does not support it.
    pub fn field_path(&self, label: &str) -> Option<&'static str> {
        match label {
            "metadata.name" => Some("metadata.name"),
            "metadata.namespace" => Some("metadata.namespace"),
            _ => self.field_labels.iter().find(|(l, _)| *l == label).map(|(_, p)| *p),
        }
    }
}

impl std::fmt::Debug for ResourceInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ResourceInfo({}/{} {})", self.group, self.version, self.plural)
    }
}

/// All served resources with lookups by path and by kind.
pub struct Registry {
    resources: Vec<ResourceInfo>,
    by_path: HashMap<(&'static str, &'static str, &'static str), usize>,
    by_kind: HashMap<(&'static str, &'static str, &'static str), usize>,
}

impl Registry {
    pub fn all(&self) -> &[ResourceInfo] {
        &self.resources
    }

    /// By group, version and plural resource name (as in a URL).
    pub fn get(&self, group: &str, version: &str, plural: &str) -> Option<&ResourceInfo> {
        self.by_path.get(&(group, version, plural)).map(|&i| &self.resources[i])
    }

    /// By group, version and kind.
    pub fn by_kind(&self, group: &str, version: &str, kind: &str) -> Option<&ResourceInfo> {
        self.by_kind.get(&(group, version, kind)).map(|&i| &self.resources[i])
    }

    /// The group/versions served, core first, in discovery order.
    pub fn group_versions(&self) -> Vec<(&'static str, &'static str)> {
        let mut seen = Vec::new();
        for r in &self.resources {
            if !seen.contains(&(r.group, r.version)) {
                seen.push((r.group, r.version));
            }
        }
        seen
    }

    /// The resources of one group/version, in table order.
    pub fn in_group_version<'a>(
        &'a self,
        group: &'a str,
        version: &'a str,
    ) -> impl Iterator<Item = &'a ResourceInfo> + 'a {
        self.resources.iter().filter(move |r| r.group == group && r.version == version)
    }
}

/// The process-wide resource table.
pub fn registry() -> &'static Registry {
    static REGISTRY: OnceLock<Registry> = OnceLock::new();
    REGISTRY.get_or_init(|| {
        let resources = built_in();
        let mut by_path = HashMap::new();
        let mut by_kind = HashMap::new();
        for (i, r) in resources.iter().enumerate() {
            by_path.insert((r.group, r.version, r.plural), i);
            by_kind.insert((r.group, r.version, r.kind), i);
        }
        Registry { resources, by_path, by_kind }
    })
}

use NameRule::*;
use Subresource::*;

const POD_FIELDS: &[(&str, &str)] = &[
    ("spec.nodeName", "spec.nodeName"),
    ("spec.restartPolicy", "spec.restartPolicy"),
    ("spec.schedulerName", "spec.schedulerName"),
    ("spec.serviceAccountName", "spec.serviceAccountName"),
    ("spec.hostNetwork", "spec.hostNetwork"),
    ("status.phase", "status.phase"),
    ("status.podIP", "status.podIP"),
    ("status.nominatedNodeName", "status.nominatedNodeName"),
];

const EVENT_FIELDS: &[(&str, &str)] = &[
    ("involvedObject.kind", "involvedObject.kind"),
    ("involvedObject.namespace", "involvedObject.namespace"),
    ("involvedObject.name", "involvedObject.name"),
    ("involvedObject.uid", "involvedObject.uid"),
    ("involvedObject.apiVersion", "involvedObject.apiVersion"),
    ("involvedObject.resourceVersion", "involvedObject.resourceVersion"),
    ("involvedObject.fieldPath", "involvedObject.fieldPath"),
    ("reason", "reason"),
    ("reportingComponent", "reportingComponent"),
    ("source", "source.component"),
    ("type", "type"),
];

/// events.k8s.io/v1 names the same stored fields differently; selectors use its names.
const EVENTS_V1_FIELDS: &[(&str, &str)] = &[
    ("regarding.kind", "involvedObject.kind"),
    ("regarding.namespace", "involvedObject.namespace"),
    ("regarding.name", "involvedObject.name"),
    ("regarding.uid", "involvedObject.uid"),
    ("regarding.apiVersion", "involvedObject.apiVersion"),
    ("regarding.resourceVersion", "involvedObject.resourceVersion"),
    ("regarding.fieldPath", "involvedObject.fieldPath"),
    ("reason", "reason"),
    ("reportingController", "reportingComponent"),
    ("type", "type"),
];

fn built_in() -> Vec<ResourceInfo> {
    use ResourceInfo as R;
    vec![
        // core/v1
        R::new::<k8s::core::v1::ConfigMap>("configmaps", "configmap").short(&["cm"]),
        R::new::<k8s::core::v1::Endpoints>("endpoints", "endpoints").short(&["ep"]),
        R::new::<k8s::core::v1::Event>("events", "event").short(&["ev"]).fields(EVENT_FIELDS),
        R::new::<k8s::core::v1::LimitRange>("limitranges", "limitrange").short(&["limits"]),
        R::new::<k8s::core::v1::Namespace>("namespaces", "namespace")
            .short(&["ns"])
            .sub(&[Status, Finalize])
            .names(Dns1123Label)
            .fields(&[("status.phase", "status.phase")]),
        R::new::<k8s::core::v1::Node>("nodes", "node")
            .short(&["no"])
            .sub(&[Status])
            .fields(&[("spec.unschedulable", "spec.unschedulable")]),
        R::new::<k8s::core::v1::PersistentVolumeClaim>("persistentvolumeclaims", "persistentvolumeclaim")
            .short(&["pvc"])
            .sub(&[Status]),
        R::new::<k8s::core::v1::PersistentVolume>("persistentvolumes", "persistentvolume")
            .short(&["pv"])
            .sub(&[Status]),
        R::new::<k8s::core::v1::Pod>("pods", "pod")
            .short(&["po"])
            .in_all()
            .sub(&[Status, Binding, Eviction, Log, Exec, Attach])
            .fields(POD_FIELDS),
        R::new::<k8s::core::v1::PodTemplate>("podtemplates", "podtemplate"),
        R::new::<k8s::core::v1::ReplicationController>("replicationcontrollers", "replicationcontroller")
            .short(&["rc"])
            .in_all()
            .sub(&[Status, Scale])
            .generation()
            .fields(&[("status.replicas", "status.replicas")]),
        R::new::<k8s::core::v1::ResourceQuota>("resourcequotas", "resourcequota").short(&["quota"]).sub(&[Status]),
        R::new::<k8s::core::v1::Secret>("secrets", "secret").fields(&[("type", "type")]),
        R::new::<k8s::core::v1::ServiceAccount>("serviceaccounts", "serviceaccount").short(&["sa"]),
        R::new::<k8s::core::v1::Service>("services", "service")
            .short(&["svc"])
            .in_all()
            .sub(&[Status])
            .names(Dns1035Label),
        // apps/v1
        R::new::<k8s::apps::v1::ControllerRevision>("controllerrevisions", "controllerrevision"),
        R::new::<k8s::apps::v1::DaemonSet>("daemonsets", "daemonset")
            .short(&["ds"])
            .in_all()
            .sub(&[Status])
            .generation(),
        R::new::<k8s::apps::v1::Deployment>("deployments", "deployment")
            .short(&["deploy"])
            .in_all()
            .sub(&[Status, Scale])
            .generation(),
        R::new::<k8s::apps::v1::ReplicaSet>("replicasets", "replicaset")
            .short(&["rs"])
            .in_all()
            .sub(&[Status, Scale])
            .generation()
            .fields(&[("status.replicas", "status.replicas")]),
        R::new::<k8s::apps::v1::StatefulSet>("statefulsets", "statefulset")
            .short(&["sts"])
            .in_all()
            .sub(&[Status, Scale])
            .generation(),
        // autoscaling/v2
        R::new::<k8s::autoscaling::v2::HorizontalPodAutoscaler>("horizontalpodautoscalers", "horizontalpodautoscaler")
            .short(&["hpa"])
            .in_all()
            .sub(&[Status])
            .generation(),
        // batch/v1
        R::new::<k8s::batch::v1::CronJob>("cronjobs", "cronjob").short(&["cj"]).in_all().sub(&[Status]).generation(),
        R::new::<k8s::batch::v1::Job>("jobs", "job")
            .in_all()
            .sub(&[Status])
            .generation()
            .fields(&[("status.successful", "status.succeeded")]),
        // coordination.k8s.io/v1
        R::new::<k8s::coordination::v1::Lease>("leases", "lease"),
        // discovery.k8s.io/v1
        R::new::<k8s::discovery::v1::EndpointSlice>("endpointslices", "endpointslice"),
        // events.k8s.io/v1, stored with core events
        {
            let mut r = R::new::<k8s::events::v1::Event>("events", "event").fields(EVENTS_V1_FIELDS);
            r.stored_as = Some(("events", &crate::convert::EVENTS_V1));
            r
        },
        // networking.k8s.io/v1
        R::new::<k8s::networking::v1::IngressClass>("ingressclasses", "ingressclass"),
        R::new::<k8s::networking::v1::Ingress>("ingresses", "ingress").short(&["ing"]).sub(&[Status]).generation(),
        R::new::<k8s::networking::v1::NetworkPolicy>("networkpolicies", "networkpolicy")
            .short(&["netpol"])
            .generation(),
        // node.k8s.io/v1
        R::new::<k8s::node::v1::RuntimeClass>("runtimeclasses", "runtimeclass"),
        // policy/v1
        R::new::<k8s::policy::v1::PodDisruptionBudget>("poddisruptionbudgets", "poddisruptionbudget")
            .short(&["pdb"])
            .sub(&[Status])
            .generation(),
        // rbac.authorization.k8s.io/v1
        R::new::<k8s::rbac::v1::ClusterRoleBinding>("clusterrolebindings", "clusterrolebinding").names(PathSegment),
        R::new::<k8s::rbac::v1::ClusterRole>("clusterroles", "clusterrole").names(PathSegment),
        R::new::<k8s::rbac::v1::RoleBinding>("rolebindings", "rolebinding").names(PathSegment),
        R::new::<k8s::rbac::v1::Role>("roles", "role").names(PathSegment),
        // scheduling.k8s.io/v1
        R::new::<k8s::scheduling::v1::PriorityClass>("priorityclasses", "priorityclass").short(&["pc"]),
        // storage.k8s.io/v1
        R::new::<k8s::storage::v1::StorageClass>("storageclasses", "storageclass").short(&["sc"]),
        // apiextensions.k8s.io/v1
        R::new::<apiextensions::CustomResourceDefinition>("customresourcedefinitions", "customresourcedefinition")
            .short(&["crd", "crds"])
            .sub(&[Status])
            .generation(),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_resources_by_path_and_kind() {
        let reg = registry();
        let d = reg.get("apps", "v1", "deployments").unwrap();
        assert_eq!(d.kind, "Deployment");
        assert!(d.namespaced);
        assert!(d.has_subresource(Subresource::Scale));
        assert_eq!(reg.by_kind("", "v1", "Namespace").unwrap().plural, "namespaces");
        assert!(!reg.get("", "v1", "nodes").unwrap().namespaced);
        assert_eq!(reg.get("events.k8s.io", "v1", "events").unwrap().storage_resource(), "events");
    }

    #[test]
    fn short_names_are_unambiguous() {
        // kubectl warns on every use of a short name that two resources declare.
        let mut seen = std::collections::HashMap::new();
        for r in registry().all() {
            for s in r.short_names {
                if let Some(other) = seen.insert(*s, r.plural) {
                    panic!("short name {s} is declared by {other} and {}", r.plural);
                }
            }
        }
    }

    #[test]
    fn core_group_comes_first() {
        assert_eq!(registry().group_versions()[0], ("", "v1"));
    }

    #[test]
    fn plurals_and_kinds_are_unique_per_group_version() {
        let reg = registry();
        for r in reg.all() {
            assert!(std::ptr::eq(reg.get(r.group, r.version, r.plural).unwrap(), r), "{r:?}");
        }
    }
}
