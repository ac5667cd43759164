//! Defaults of a pod spec, as upstream's `SetDefaults_PodSpec`, `SetDefaults_Container` and the
//! declarative (`+default`) markers of `k8s.io/api/core/v1` apply them.
//!
//! Everything here applies to every pod spec (pods and all workload templates); what upstream
//! applies to `Pod` objects only is in [`default_pod_only`].

use k8s_openapi::api::core::v1::{
    Container, EphemeralContainer, HTTPGetAction, Lifecycle, LifecycleHandler, PersistentVolumeClaimSpec,
    PodSecurityContext, PodSpec, Probe, Volume,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity as ApiQuantity;

use crate::kinds::common::{default_str, default_to};
use crate::kinds::resource_names::{self, canonicalize};

const DEFAULT_TERMINATION_GRACE_PERIOD: i64 = 30;
/// 0644, the mode of files projected from secrets, config maps and the downward API.
const DEFAULT_FILE_MODE: i32 = 0o644;

/// Defaults every pod spec gets, wherever it is embedded.
pub fn default_pod_spec(spec: &mut PodSpec) {
    default_str(&mut spec.dns_policy, "ClusterFirst");
    default_str(&mut spec.restart_policy, "Always");
    default_to(&mut spec.security_context, PodSecurityContext::default());
    default_to(&mut spec.termination_grace_period_seconds, DEFAULT_TERMINATION_GRACE_PERIOD);
    default_str(&mut spec.scheduler_name, "default-scheduler");

    // `serviceAccount` is a deprecated alias of `serviceAccountName`; upstream reads the old one
    // when the new one is empty and always writes the new one back into the old one.
    if spec.service_account_name.as_deref().is_none_or(str::is_empty)
        && let Some(old) = spec.service_account.clone().filter(|s| !s.is_empty())
    {
        spec.service_account_name = Some(old);
    }
    if spec.service_account_name.as_deref().is_some_and(|s| !s.is_empty()) {
        spec.service_account = spec.service_account_name.clone();
    }

    for c in &mut spec.containers {
        default_container(c);
    }
    for c in spec.init_containers.iter_mut().flatten() {
        default_container(c);
    }
    for ec in spec.ephemeral_containers.iter_mut().flatten() {
        let mut c = ephemeral_as_container(ec);
        default_container(&mut c);
        *ec = container_as_ephemeral(c, ec.target_container_name.take());
    }
    for v in spec.volumes.iter_mut().flatten() {
        default_volume(v);
    }
    resource_names::default_list(&mut spec.overhead);
    if let Some(r) = &mut spec.resources {
        resource_names::default_list(&mut r.limits);
        resource_names::default_list(&mut r.requests);
    }
}

/// Defaults upstream applies to `Pod` objects only (not to templates, so that changing them does
/// not roll every workload).
pub fn default_pod_only(spec: &mut PodSpec) {
    let inits = spec.init_containers.iter_mut().flatten();
    for c in spec.containers.iter_mut().chain(inits) {
        // Requests default to limits when only limits are given.
        let Some(r) = &mut c.resources else { continue };
        let Some(limits) = &r.limits else { continue };
        let requests = r.requests.get_or_insert_with(Default::default);
        for (k, v) in limits {
            requests.entry(k.clone()).or_insert_with(|| v.clone());
        }
    }
    default_to(&mut spec.enable_service_links, true);
    if spec.host_network == Some(true) {
        // With host networking every container port is a host port.
        let inits = spec.init_containers.iter_mut().flatten();
        for c in spec.containers.iter_mut().chain(inits) {
            for p in c.ports.iter_mut().flatten() {
                if p.host_port.unwrap_or(0) == 0 {
                    p.host_port = Some(p.container_port);
                }
            }
        }
    }
}

/// `SetDefaults_Container` plus the defaults of everything inside a container.
pub fn default_container(c: &mut Container) {
    if c.image_pull_policy.as_deref().is_none_or(str::is_empty) {
        let always = image_tag(c.image.as_deref().unwrap_or("")).as_deref() == Some("latest");
        c.image_pull_policy = Some(if always { "Always" } else { "IfNotPresent" }.to_string());
    }
    default_str(&mut c.termination_message_path, "/dev/termination-log");
    default_str(&mut c.termination_message_policy, "File");
    for p in c.ports.iter_mut().flatten() {
        default_str(&mut p.protocol, "TCP");
    }
    for e in c.env.iter_mut().flatten() {
        let Some(from) = &mut e.value_from else { continue };
        if let Some(f) = &mut from.field_ref {
            default_str(&mut f.api_version, "v1");
        }
        if let Some(r) = &mut from.resource_field_ref {
            default_divisor(&mut r.divisor);
        }
    }
    for probe in [&mut c.liveness_probe, &mut c.readiness_probe, &mut c.startup_probe].into_iter().flatten() {
        default_probe(probe);
    }
    if let Some(l) = &mut c.lifecycle {
        default_lifecycle(l);
    }
    // A Go struct field: always serialized, `{}` when empty.
    let r = c.resources.get_or_insert_with(Default::default);
    resource_names::default_list(&mut r.limits);
    resource_names::default_list(&mut r.requests);
}

fn default_probe(p: &mut Probe) {
    default_nonzero(&mut p.timeout_seconds, 1);
    default_nonzero(&mut p.period_seconds, 10);
    default_nonzero(&mut p.success_threshold, 1);
    default_nonzero(&mut p.failure_threshold, 3);
    if let Some(h) = &mut p.http_get {
        default_http_get(h);
    }
    if let Some(g) = &mut p.grpc {
        default_to(&mut g.service, String::new());
    }
}

fn default_lifecycle(l: &mut Lifecycle) {
    for h in [&mut l.post_start, &mut l.pre_stop].into_iter().flatten() {
        default_handler(h);
    }
}

fn default_handler(h: &mut LifecycleHandler) {
    if let Some(g) = &mut h.http_get {
        default_http_get(g);
    }
}

fn default_http_get(h: &mut HTTPGetAction) {
    default_str(&mut h.path, "/");
    default_str(&mut h.scheme, "HTTP");
}

/// Go ints default when zero as well as when absent.
fn default_nonzero(v: &mut Option<i32>, value: i32) {
    if v.unwrap_or(0) == 0 {
        *v = Some(value);
    }
}

/// A divisor is a Go struct field: absent reads back as `"0"`.
fn default_divisor(d: &mut Option<ApiQuantity>) {
    match d {
        None => *d = Some(ApiQuantity("0".to_string())),
        Some(q) => canonicalize(q),
    }
}

/// `SetDefaults_Volume` and the defaults of the volume sources.
pub fn default_volume(v: &mut Volume) {
    let has_source = v.aws_elastic_block_store.is_some()
        || v.azure_disk.is_some()
        || v.azure_file.is_some()
        || v.cephfs.is_some()
        || v.cinder.is_some()
        || v.config_map.is_some()
        || v.csi.is_some()
        || v.downward_api.is_some()
        || v.empty_dir.is_some()
        || v.ephemeral.is_some()
        || v.fc.is_some()
        || v.flex_volume.is_some()
        || v.flocker.is_some()
        || v.gce_persistent_disk.is_some()
        || v.git_repo.is_some()
        || v.glusterfs.is_some()
        || v.host_path.is_some()
        || v.image.is_some()
        || v.iscsi.is_some()
        || v.nfs.is_some()
        || v.persistent_volume_claim.is_some()
        || v.photon_persistent_disk.is_some()
        || v.portworx_volume.is_some()
        || v.projected.is_some()
        || v.quobyte.is_some()
        || v.rbd.is_some()
        || v.scale_io.is_some()
        || v.secret.is_some()
        || v.storageos.is_some()
        || v.vsphere_volume.is_some();
    if !has_source {
        v.empty_dir = Some(Default::default());
    }
    if let Some(e) = &mut v.empty_dir
        && let Some(q) = &mut e.size_limit
    {
        canonicalize(q);
    }
    if let Some(h) = &mut v.host_path {
        default_to(&mut h.type_, String::new());
    }
    if let Some(s) = &mut v.secret {
        default_to(&mut s.default_mode, DEFAULT_FILE_MODE);
    }
    if let Some(c) = &mut v.config_map {
        default_to(&mut c.default_mode, DEFAULT_FILE_MODE);
    }
    if let Some(d) = &mut v.downward_api {
        default_to(&mut d.default_mode, DEFAULT_FILE_MODE);
        for f in d.items.iter_mut().flatten() {
            if let Some(r) = &mut f.field_ref {
                default_str(&mut r.api_version, "v1");
            }
            if let Some(r) = &mut f.resource_field_ref {
                default_divisor(&mut r.divisor);
            }
        }
    }
    if let Some(p) = &mut v.projected {
        default_to(&mut p.default_mode, DEFAULT_FILE_MODE);
        for src in p.sources.iter_mut().flatten() {
            if let Some(t) = &mut src.service_account_token {
                default_to(&mut t.expiration_seconds, 3600);
            }
            if let Some(d) = &mut src.downward_api {
                for f in d.items.iter_mut().flatten() {
                    if let Some(r) = &mut f.field_ref {
                        default_str(&mut r.api_version, "v1");
                    }
                    if let Some(r) = &mut f.resource_field_ref {
                        default_divisor(&mut r.divisor);
                    }
                }
            }
        }
    }
    if let Some(t) = v.ephemeral.as_mut().and_then(|e| e.volume_claim_template.as_mut()) {
        default_claim_spec(&mut t.spec);
    }
}

/// `SetDefaults_PersistentVolumeClaimSpec` and the resource-list defaults inside it.
pub fn default_claim_spec(spec: &mut PersistentVolumeClaimSpec) {
    default_str(&mut spec.volume_mode, "Filesystem");
    if let Some(r) = &mut spec.resources {
        resource_names::default_list(&mut r.limits);
        resource_names::default_list(&mut r.requests);
    }
}

/// The tag of an image reference, `latest` when there is neither tag nor digest, `None` when
/// the reference does not parse (upstream then assumes `IfNotPresent`).
pub fn image_tag(image: &str) -> Option<String> {
    if image.is_empty() {
        return None;
    }
    let (name, digest) = match image.split_once('@') {
        Some((n, d)) => (n, Some(d)),
        None => (image, None),
    };
    let last_slash = name.rfind('/').map_or(0, |i| i + 1);
    let (repo, tag) = match name[last_slash..].rfind(':') {
        Some(i) => (&name[..last_slash + i], Some(&name[last_slash + i + 1..])),
        None => (name, None),
    };
    if !valid_repository(repo) || tag.is_some_and(|t| !valid_tag(t)) || digest.is_some_and(|d| !d.contains(':')) {
        return None;
    }
    match (tag, digest) {
        (Some(t), _) => Some(t.to_string()),
        (None, Some(_)) => Some(String::new()),
        (None, None) => Some("latest".to_string()),
    }
}

/// Docker reference grammar, loosely: an optional `host[:port]/`, then lowercase path components.
fn valid_repository(repo: &str) -> bool {
    if repo.is_empty() {
        return false;
    }
    let mut parts: Vec<&str> = repo.split('/').collect();
    let first = parts[0];
    let has_domain = parts.len() > 1
        && (first.contains('.')
            || first.contains(':')
            || first == "localhost"
            || first.chars().any(|c| c.is_ascii_uppercase()));
    if has_domain {
        let (host, port) = match first.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (first, None),
        };
        if host.is_empty() || !host.chars().all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-') {
            return false;
        }
        if port.is_some_and(|p| p.is_empty() || !p.chars().all(|c| c.is_ascii_digit())) {
            return false;
        }
        parts.remove(0);
    }
    parts.iter().all(|p| {
        !p.is_empty()
            && p.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-'))
            && p.starts_with(|c: char| c.is_ascii_alphanumeric())
            && p.ends_with(|c: char| c.is_ascii_alphanumeric())
    })
}

fn valid_tag(tag: &str) -> bool {
    !tag.is_empty()
        && tag.len() <= 128
        && tag.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_')
        && tag.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

/// An ephemeral container has a container's fields plus a target; convert to reuse container
/// rules.
pub fn ephemeral_as_container(ec: &EphemeralContainer) -> Container {
    let mut v = serde_json::to_value(ec).unwrap_or_default();
    if let Some(m) = v.as_object_mut() {
        m.remove("targetContainerName");
    }
    serde_json::from_value(v).unwrap_or_default()
}

fn container_as_ephemeral(c: Container, target: Option<String>) -> EphemeralContainer {
    let mut ec: EphemeralContainer = serde_json::to_value(c).and_then(serde_json::from_value).unwrap_or_default();
    ec.target_container_name = target;
    ec
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_tags() {
        assert_eq!(image_tag("nginx").as_deref(), Some("latest"));
        assert_eq!(image_tag("nginx:latest").as_deref(), Some("latest"));
        assert_eq!(image_tag("nginx:1.25").as_deref(), Some("1.25"));
        assert_eq!(image_tag("localhost:5000/app").as_deref(), Some("latest"));
        assert_eq!(image_tag("registry.io:5000/team/app:v2").as_deref(), Some("v2"));
        assert_eq!(image_tag("nginx@sha256:abc").as_deref(), Some(""));
        assert_eq!(image_tag("Nginx"), None);
        assert_eq!(image_tag(""), None);
    }

    #[test]
    fn container_defaults() {
        let mut c = Container { name: "c".into(), image: Some("nginx:1.2".into()), ..Default::default() };
        default_container(&mut c);
        assert_eq!(c.image_pull_policy.as_deref(), Some("IfNotPresent"));
        assert_eq!(c.termination_message_path.as_deref(), Some("/dev/termination-log"));
        assert_eq!(c.termination_message_policy.as_deref(), Some("File"));
        assert!(c.resources.is_some());
    }
}
