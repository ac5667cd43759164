//! The pod spec shared by pods, pod templates and every workload template: defaults and
//! validation as upstream's `ValidatePodSpec` and `ValidatePodTemplateSpec`.
//!
//! Split by concern: [`defaults`], [`container`] (containers, probes, env, mounts), [`volumes`],
//! [`resources`] (requests/limits, QoS), [`scheduling`] (affinity, tolerations, spread) and
//! [`security`] (security contexts, DNS config).

pub mod container;
pub mod defaults;
pub mod resources;
pub mod scheduling;
pub mod security;
pub mod volumes;

use std::collections::BTreeSet;

use k8s_openapi::api::core::v1::{PodSpec, PodTemplateSpec, ResourceRequirements};

use crate::field_errors::{FieldError, FieldErrors, FieldPath};
use crate::kinds::common::{
    annotations, dns1123_label, dns1123_subdomain, inclusive_range, ip, labels, qualified_name, s,
};
use container::{Ctx, validate_container_common, validate_containers, validate_init_containers};
pub use defaults::{default_pod_only, default_pod_spec};

/// Where a pod spec sits: in a `Pod` (stricter) or in a template.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpecOf<'a> {
    /// A pod; carries its name, used to check generated ephemeral claim names.
    Pod(&'a str),
    Template,
}

/// Upstream's `ValidatePodSpec`.
pub fn validate_pod_spec(errs: &mut FieldErrors, spec: &PodSpec, of: SpecOf<'_>, path: &FieldPath) {
    let grace = spec.termination_grace_period_seconds;
    if grace.is_none() {
        errs.push(FieldError::required(&path.child("terminationGracePeriodSeconds"), ""));
    }
    let sc = spec.security_context.as_ref();
    let host_users = spec.host_users.unwrap_or(true);
    let pod_name = match of {
        SpecOf::Pod(n) => Some(n),
        SpecOf::Template => None,
    };
    let volumes =
        volumes::validate_volumes(errs, spec.volumes.as_deref().unwrap_or_default(), pod_name, &path.child("volumes"));
    let claim_names = validate_resource_claims(errs, spec, &path.child("resourceClaims"));
    let restart_policy = s(&spec.restart_policy);
    let ctx = Ctx { volumes: &volumes, claim_names: &claim_names, grace_period: grace, restart_policy, host_users };
    validate_containers(errs, &spec.containers, &ctx, &path.child("containers"));
    let inits = spec.init_containers.as_deref().unwrap_or_default();
    validate_init_containers(errs, inits, &spec.containers, &ctx, &path.child("initContainers"));
    validate_ephemeral_containers(errs, spec, &ctx, &path.child("ephemeralContainers"));

    let host_network = spec.host_network == Some(true);
    if host_network {
        for (i, c) in spec.containers.iter().enumerate() {
            for (j, p) in c.ports.iter().flatten().enumerate() {
                let hp = p.host_port.unwrap_or(0);
                if (matches!(of, SpecOf::Pod(_)) || hp != 0) && hp != p.container_port {
                    errs.push(FieldError::invalid(
                        &path.child("containers").index(i).child("ports").index(j).child("hostPort"),
                        hp,
                        "must match `containerPort` when `hostNetwork` is true",
                    ));
                }
            }
        }
    }
    match restart_policy {
        "Always" | "OnFailure" | "Never" => {}
        "" => errs.push(FieldError::required(&path.child("restartPolicy"), "")),
        other => {
            errs.push(FieldError::not_supported(&path.child("restartPolicy"), other, &["Always", "OnFailure", "Never"]))
        }
    }
    let dns_policy = s(&spec.dns_policy);
    match dns_policy {
        "ClusterFirstWithHostNet" | "ClusterFirst" | "Default" | "None" => {}
        "" => errs.push(FieldError::required(&path.child("dnsPolicy"), "")),
        other => errs.push(FieldError::not_supported(
            &path.child("dnsPolicy"),
            other,
            &["ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"],
        )),
    }
    labels(errs, spec.node_selector.as_ref(), &path.child("nodeSelector"));
    security::validate_pod_security_context(
        errs,
        sc,
        host_network,
        spec.host_ipc == Some(true),
        spec.host_pid == Some(true),
        spec.share_process_namespace,
        &path.child("securityContext"),
    );
    scheduling::validate_affinity(errs, spec.affinity.as_ref(), &path.child("affinity"));
    security::validate_dns_config(errs, spec.dns_config.as_ref(), dns_policy, &path.child("dnsConfig"));
    for (i, g) in spec.readiness_gates.iter().flatten().enumerate() {
        qualified_name(errs, &g.condition_type, &path.child("readinessGates").index(i).child("conditionType"));
    }
    scheduling::validate_scheduling_gates(
        errs,
        spec.scheduling_gates.as_deref().unwrap_or_default(),
        &path.child("schedulingGates"),
    );
    scheduling::validate_topology_spread(
        errs,
        spec.topology_spread_constraints.as_deref().unwrap_or_default(),
        &path.child("topologySpreadConstraints"),
    );
    if spec.host_users == Some(false) {
        // User namespaces do not combine with the host's namespaces.
        for (set, field) in [
            (host_network, "hostNetwork"),
            (spec.host_pid == Some(true), "HostPID"),
            (spec.host_ipc == Some(true), "HostIPC"),
        ] {
            if set {
                errs.push(FieldError::forbidden(&path.child(field), "when `pod.Spec.HostUsers` is false"));
            }
        }
    }
    for (v, field) in [(&spec.service_account_name, "serviceAccountName"), (&spec.node_name, "nodeName")] {
        if !s(v).is_empty() {
            dns1123_subdomain(errs, s(v), &path.child(field));
        }
    }
    if let Some(v) = spec.active_deadline_seconds
        && !(1..=i64::from(i32::MAX)).contains(&v)
    {
        errs.push(FieldError::invalid(
            &path.child("activeDeadlineSeconds"),
            v,
            inclusive_range(1, i64::from(i32::MAX)),
        ));
    }
    for (v, field) in [(&spec.hostname, "hostname"), (&spec.subdomain, "subdomain")] {
        if !s(v).is_empty() {
            dns1123_label(errs, s(v), &path.child(field));
        }
    }
    scheduling::validate_tolerations(errs, spec.tolerations.as_deref().unwrap_or_default(), &path.child("tolerations"));
    for (i, a) in spec.host_aliases.iter().flatten().enumerate() {
        let ap = path.child("hostAliases").index(i);
        ip(errs, &a.ip, &ap.child("ip"));
        for (j, h) in a.hostnames.iter().flatten().enumerate() {
            dns1123_subdomain(errs, h, &ap.child("hostnames").index(j));
        }
    }
    if !s(&spec.priority_class_name).is_empty() {
        dns1123_subdomain(errs, s(&spec.priority_class_name), &path.child("priorityClassName"));
    }
    if let Some(rc) = &spec.runtime_class_name {
        dns1123_subdomain(errs, rc, &path.child("runtimeClassName"));
    }
    if let Some(pp) = &spec.preemption_policy {
        match pp.as_str() {
            "PreemptLowerPriority" | "Never" => {}
            "" => errs.push(FieldError::required(&path.child("preemptionPolicy"), "")),
            other => errs.push(FieldError::not_supported(
                &path.child("preemptionPolicy"),
                other,
                &["PreemptLowerPriority", "Never"],
            )),
        }
    }
    if let Some(o) = &spec.overhead {
        let r = ResourceRequirements { limits: Some(o.clone()), ..Default::default() };
        resources::validate_container_resources(errs, Some(&r), &claim_names, &path.child("overhead"));
    }
    validate_os(errs, spec, path);
}

/// `spec.os`: linux or windows, and no options of the other OS.
fn validate_os(errs: &mut FieldErrors, spec: &PodSpec, path: &FieldPath) {
    let Some(os) = &spec.os else { return };
    let op = path.child("os");
    if os.name.is_empty() {
        errs.push(FieldError::required(&op.child("name"), "cannot be empty"));
        return;
    }
    match os.name.as_str() {
        "linux" => {
            if spec.security_context.as_ref().is_some_and(|sc| sc.windows_options.is_some()) {
                errs.push(FieldError::forbidden(
                    &path.child("securityContext").child("windowsOptions"),
                    "windows options cannot be set for a linux pod",
                ));
            }
            for (cp, c) in all_containers(spec, path) {
                if c.security_context.as_ref().is_some_and(|sc| sc.windows_options.is_some()) {
                    errs.push(FieldError::forbidden(
                        &cp.child("securityContext").child("windowsOptions"),
                        "windows options cannot be set for a linux pod",
                    ));
                }
            }
        }
        "windows" => {
            const MSG: &str = "cannot be set for a windows pod";
            if let Some(sc) = &spec.security_context {
                let sp = path.child("securityContext");
                for (set, field) in [
                    (sc.app_armor_profile.is_some(), "appArmorProfile"),
                    (sc.se_linux_options.is_some(), "seLinuxOptions"),
                    (sc.seccomp_profile.is_some(), "seccompProfile"),
                    (sc.fs_group.is_some(), "fsGroup"),
                    (sc.fs_group_change_policy.is_some(), "fsGroupChangePolicy"),
                    (sc.sysctls.as_ref().is_some_and(|s| !s.is_empty()), "sysctls"),
                    (sc.run_as_user.is_some(), "runAsUser"),
                    (sc.run_as_group.is_some(), "runAsGroup"),
                    (sc.supplemental_groups.is_some(), "supplementalGroups"),
                    (sc.supplemental_groups_policy.is_some(), "supplementalGroupsPolicy"),
                    (sc.se_linux_change_policy.is_some(), "seLinuxChangePolicy"),
                ] {
                    if set {
                        errs.push(FieldError::forbidden(&sp.child(field), MSG));
                    }
                }
            }
            for (set, field) in [
                (spec.host_users.is_some(), "hostUsers"),
                (spec.host_pid == Some(true), "hostPID"),
                (spec.host_ipc == Some(true), "hostIPC"),
                (spec.share_process_namespace.is_some(), "shareProcessNamespace"),
            ] {
                if set {
                    errs.push(FieldError::forbidden(&path.child(field), MSG));
                }
            }
            for (cp, c) in all_containers(spec, path) {
                let Some(sc) = &c.security_context else { continue };
                let sp = cp.child("securityContext");
                for (set, field) in [
                    (sc.app_armor_profile.is_some(), "appArmorProfile"),
                    (sc.se_linux_options.is_some(), "seLinuxOptions"),
                    (sc.seccomp_profile.is_some(), "seccompProfile"),
                    (sc.capabilities.is_some(), "capabilities"),
                    (sc.read_only_root_filesystem.is_some(), "readOnlyRootFilesystem"),
                    (sc.privileged.is_some(), "privileged"),
                    (sc.allow_privilege_escalation.is_some(), "allowPrivilegeEscalation"),
                    (sc.proc_mount.is_some(), "procMount"),
                    (sc.run_as_user.is_some(), "runAsUser"),
                    (sc.run_as_group.is_some(), "runAsGroup"),
                ] {
                    if set {
                        errs.push(FieldError::forbidden(&sp.child(field), MSG));
                    }
                }
            }
        }
        other => errs.push(FieldError::not_supported(&op, other, &["linux", "windows"])),
    }
}

/// Regular, init and ephemeral containers with their paths.
fn all_containers(spec: &PodSpec, path: &FieldPath) -> Vec<(FieldPath, k8s_openapi::api::core::v1::Container)> {
    let mut out: Vec<(FieldPath, k8s_openapi::api::core::v1::Container)> = Vec::new();
    for (i, c) in spec.init_containers.iter().flatten().enumerate() {
        out.push((path.child("initContainers").index(i), c.clone()));
    }
    for (i, c) in spec.containers.iter().enumerate() {
        out.push((path.child("containers").index(i), c.clone()));
    }
    for (i, c) in spec.ephemeral_containers.iter().flatten().enumerate() {
        out.push((path.child("ephemeralContainers").index(i), defaults::ephemeral_as_container(c)));
    }
    out
}

/// `resourceClaims`: unique DNS-label names, exactly one source each. Returns the names.
fn validate_resource_claims(errs: &mut FieldErrors, spec: &PodSpec, path: &FieldPath) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for (i, c) in spec.resource_claims.iter().flatten().enumerate() {
        let p = path.index(i);
        if c.name.is_empty() {
            errs.push(FieldError::required(&p.child("name"), ""));
        } else if names.contains(&c.name) {
            errs.push(FieldError::duplicate(&p.child("name"), c.name.as_str()));
        } else {
            dns1123_label(errs, &c.name, &p.child("name"));
            names.insert(c.name.clone());
        }
        match (&c.resource_claim_name, &c.resource_claim_template_name) {
            (Some(_), Some(_)) => errs.push(FieldError::invalid(
                &p,
                crate::kinds::common::json(c),
                "at most one of `resourceClaimName` or `resourceClaimTemplateName` may be specified",
            )),
            (None, None) => errs.push(FieldError::invalid(
                &p,
                crate::kinds::common::json(c),
                "must specify one of: `resourceClaimName`, `resourceClaimTemplateName`",
            )),
            _ => {}
        }
        if let Some(n) = &c.resource_claim_name {
            dns1123_subdomain(errs, n, &p.child("resourceClaimName"));
        }
        if let Some(n) = &c.resource_claim_template_name {
            dns1123_subdomain(errs, n, &p.child("resourceClaimTemplateName"));
        }
    }
    names
}

fn validate_ephemeral_containers(errs: &mut FieldErrors, spec: &PodSpec, ctx: &Ctx<'_>, path: &FieldPath) {
    let Some(ecs) = spec.ephemeral_containers.as_ref().filter(|e| !e.is_empty()) else { return };
    let inits = spec.init_containers.iter().flatten();
    let others: BTreeSet<&str> = spec.containers.iter().chain(inits).map(|c| c.name.as_str()).collect();
    let mut all = others.clone();
    const MSG: &str = "cannot be set for an Ephemeral Container";
    for (i, ec) in ecs.iter().enumerate() {
        let p = path.index(i);
        let c = defaults::ephemeral_as_container(ec);
        validate_container_common(errs, &c, ctx, &p);
        image_whitespace(errs, s(&c.image), &p.child("image"));
        if !all.insert(ec.name.as_str()) {
            errs.push(FieldError::duplicate(&p.child("name"), ec.name.as_str()));
        }
        if let Some(t) = ec.target_container_name.as_deref().filter(|t| !t.is_empty())
            && !others.contains(t)
        {
            errs.push(FieldError::not_found(&p.child("targetContainerName"), t));
        }
        let resources_set = c.resources.as_ref().is_some_and(|r| *r != ResourceRequirements::default());
        for (set, field) in [
            (c.ports.is_some(), "ports"),
            (resources_set, "resources"),
            (c.liveness_probe.is_some(), "livenessProbe"),
            (c.readiness_probe.is_some(), "readinessProbe"),
            (c.startup_probe.is_some(), "startupProbe"),
            (c.lifecycle.is_some(), "lifecycle"),
            (c.resize_policy.is_some(), "resizePolicy"),
            (c.restart_policy.is_some(), "restartPolicy"),
        ] {
            if set {
                errs.push(FieldError::forbidden(&p.child(field), MSG));
            }
        }
        for (j, m) in c.volume_mounts.iter().flatten().enumerate() {
            let mp = p.child("volumeMounts").index(j);
            if !s(&m.sub_path).is_empty() {
                errs.push(FieldError::forbidden(&mp.child("subPath"), MSG));
            }
            if !s(&m.sub_path_expr).is_empty() {
                errs.push(FieldError::forbidden(&mp.child("subPathExpr"), MSG));
            }
        }
    }
}

/// Pods (not templates) may not have images with surrounding whitespace.
pub fn image_whitespace(errs: &mut FieldErrors, image: &str, path: &FieldPath) {
    if image.trim() != image {
        errs.push(FieldError::invalid(path, image, "must not have leading or trailing whitespace"));
    }
}

/// Upstream's `ValidatePodTemplateSpec`: template metadata, the spec, no ephemeral containers.
pub fn validate_pod_template_spec(errs: &mut FieldErrors, t: &PodTemplateSpec, path: &FieldPath) {
    let meta = t.metadata.as_ref();
    labels(errs, meta.and_then(|m| m.labels.as_ref()), &path.child("labels"));
    annotations(errs, meta.and_then(|m| m.annotations.as_ref()), &path.child("annotations"));
    pod_specific_annotations(errs, meta.and_then(|m| m.annotations.as_ref()), &path.child("annotations"));
    let spec_path = path.child("spec");
    match &t.spec {
        Some(spec) => {
            validate_pod_spec(errs, spec, SpecOf::Template, &spec_path);
            if spec.ephemeral_containers.as_ref().is_some_and(|e| !e.is_empty()) {
                errs.push(FieldError::forbidden(
                    &spec_path.child("ephemeralContainers"),
                    "ephemeral containers not allowed in pod template",
                ));
            }
        }
        // A missing spec is an empty one: no containers.
        None => validate_pod_spec(errs, &empty_spec(), SpecOf::Template, &spec_path),
    }
}

/// What an absent template spec reads as after defaulting.
pub fn empty_spec() -> PodSpec {
    let mut spec = PodSpec::default();
    default_pod_spec(&mut spec);
    spec
}

/// Annotations with meaning for pods: the deletion cost must be an int32.
pub fn pod_specific_annotations(
    errs: &mut FieldErrors,
    annotations: Option<&std::collections::BTreeMap<String, String>>,
    path: &FieldPath,
) {
    const DELETION_COST: &str = "controller.kubernetes.io/pod-deletion-cost";
    if let Some(v) = annotations.and_then(|a| a.get(DELETION_COST))
        && (v.trim() != v || v.parse::<i32>().is_err())
    {
        errs.push(FieldError::invalid(&path.key(DELETION_COST), v.as_str(), "must be a 32bit integer"));
    }
}

/// Defaults of a pod template: its spec, with an absent spec made present as upstream's struct
/// field would be.
pub fn default_template(t: &mut PodTemplateSpec) {
    let spec = t.spec.get_or_insert_with(Default::default);
    default_pod_spec(spec);
}

/// Drop fields of features that are off by default in 1.33 (upstream's `DropDisabledPodFields`),
/// keeping them when the old object already used them.
pub fn drop_disabled(spec: &mut PodSpec, old: Option<&PodSpec>) {
    // Pod-level resources (alpha in 1.33).
    if old.is_none_or(|o| o.resources.is_none()) {
        spec.resources = None;
    }
    // Image volumes (beta, off by default in 1.33).
    let old_uses_image = old.is_some_and(|o| o.volumes.iter().flatten().any(|v| v.image.is_some()));
    if !old_uses_image && let Some(vols) = &mut spec.volumes {
        vols.retain(|v| v.image.is_none());
    }
}
