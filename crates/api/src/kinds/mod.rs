//! Per-kind defaulting, create/update preparation and validation ([`KindRules`]), as upstream's
//! `pkg/apis/<group>/v1/defaults.go`, `pkg/apis/<group>/validation` and the registry strategies
//! (`pkg/registry/<group>/<kind>/strategy.go`) do.
//!
//! One file per kind (or per small family of kinds), plus the concerns they share: [`common`]
//! (small validators and Go-style value rendering), [`resource_names`] (resource lists),
//! [`pod_spec`] (pods and every workload template) and [`workload`] (apps selectors/templates).
//!
//! Messages follow upstream word for word so kubectl users read the same errors. Where upstream
//! prints a whole Go struct as the bad value, skiff prints the value as JSON instead.

use k8s_openapi::api as k8s;

use crate::strategy::KindRules;

// Shared concerns.
pub mod common;
pub mod cron;
pub mod pod_spec;
pub mod resource_names;
pub mod workload;

// core/v1
pub mod config;
pub mod endpoints;
pub mod event;
pub mod limit_range;
pub mod namespace;
pub mod node;
pub mod persistent_volume;
pub mod persistent_volume_claim;
pub mod pod;
pub mod pod_template;
pub mod replication_controller;
pub mod resource_quota;
pub mod service;

// apps/v1
pub mod controller_revision;
pub mod daemon_set;
pub mod deployment;
pub mod replica_set;
pub mod stateful_set;

// batch/v1
pub mod cron_job;
pub mod job;

// Other groups.
pub mod custom_resource_definition;
pub mod horizontal_pod_autoscaler;
pub mod ingress;
pub mod lease;
pub mod network_policy;
pub mod pod_disruption_budget;
pub mod priority_class;
pub mod rbac;
pub mod runtime_class;
pub mod storage_class;

/// ServiceAccounts have no rules beyond the generic metadata checks (upstream's
/// `ValidateServiceAccount` validates metadata only).
impl KindRules for k8s::core::v1::ServiceAccount {}
