//! Per-kind defaulting and validation ([`crate::strategy::KindRules`]), as upstream's
//! `pkg/apis/<group>/v1/defaults.go` and `pkg/apis/<group>/validation` do.
//!
//! One file per kind (or per small group of kinds); kinds listed in `no_rules!` below have no
//! rules of their own yet beyond the generic metadata checks.

use k8s_openapi::api as k8s;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1 as apiextensions;

use crate::strategy::KindRules;

macro_rules! no_rules {
    ($($t:ty),* $(,)?) => { $(impl KindRules for $t {})* };
}

no_rules!(
    k8s::core::v1::ConfigMap,
    k8s::core::v1::Endpoints,
    k8s::core::v1::Event,
    k8s::core::v1::LimitRange,
    k8s::core::v1::Namespace,
    k8s::core::v1::Node,
    k8s::core::v1::PersistentVolumeClaim,
    k8s::core::v1::PersistentVolume,
    k8s::core::v1::Pod,
    k8s::core::v1::PodTemplate,
    k8s::core::v1::ReplicationController,
    k8s::core::v1::ResourceQuota,
    k8s::core::v1::Secret,
    k8s::core::v1::ServiceAccount,
    k8s::core::v1::Service,
    k8s::apps::v1::ControllerRevision,
    k8s::apps::v1::DaemonSet,
    k8s::apps::v1::Deployment,
    k8s::apps::v1::ReplicaSet,
    k8s::apps::v1::StatefulSet,
    k8s::autoscaling::v2::HorizontalPodAutoscaler,
    k8s::batch::v1::CronJob,
    k8s::batch::v1::Job,
    k8s::coordination::v1::Lease,
    k8s::discovery::v1::EndpointSlice,
    k8s::events::v1::Event,
    k8s::networking::v1::IngressClass,
    k8s::networking::v1::Ingress,
    k8s::networking::v1::NetworkPolicy,
    k8s::node::v1::RuntimeClass,
    k8s::policy::v1::PodDisruptionBudget,
    k8s::rbac::v1::ClusterRoleBinding,
    k8s::rbac::v1::ClusterRole,
    k8s::rbac::v1::RoleBinding,
    k8s::rbac::v1::Role,
    k8s::scheduling::v1::PriorityClass,
    k8s::storage::v1::StorageClass,
    apiextensions::CustomResourceDefinition,
);
