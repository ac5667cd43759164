//! Validation of containers (regular, init and ephemeral), as upstream's `validateContainers`,
//! `validateInitContainers`, `validateContainerCommon` and the probe/lifecycle/env/mount checks.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::{
    Container, ContainerPort, EnvFromSource, EnvVar, LifecycleHandler, ObjectFieldSelector, Probe,
    ResourceFieldSelector, Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::field_errors::{FieldError, FieldErrors, FieldPath};
use crate::kinds::common::{
    dns1123_label, dns1123_subdomain, enum_required, nonnegative, port_num_or_name, qualified_name, s,
};
use crate::kinds::pod_spec::resources::validate_container_resources;
use crate::kinds::pod_spec::security::validate_security_context;
use crate::kinds::pod_spec::volumes::{local_descending_path, path_no_backsteps};
use crate::names;
use crate::quantity::Quantity;

/// What container validation needs to know about the rest of the pod spec.
pub struct Ctx<'a> {
    /// Volumes that passed validation, by name.
    pub volumes: &'a BTreeMap<String, &'a Volume>,
    pub claim_names: &'a BTreeSet<String>,
    pub grace_period: Option<i64>,
    pub restart_policy: &'a str,
    pub host_users: bool,
}

const ENV_FIELD_PATHS: &[&str] = &[
    "metadata.name",
    "metadata.namespace",
    "metadata.uid",
    "spec.nodeName",
    "spec.serviceAccountName",
    "status.hostIP",
    "status.hostIPs",
    "status.podIP",
    "status.podIPs",
];
pub const RESOURCE_FIELD_PATHS: &[&str] = &[
    "limits.cpu",
    "limits.ephemeral-storage",
    "limits.memory",
    "requests.cpu",
    "requests.ephemeral-storage",
    "requests.memory",
];

/// Regular containers: at least one, unique names, probes and lifecycle allowed.
pub fn validate_containers(errs: &mut FieldErrors, containers: &[Container], ctx: &Ctx<'_>, path: &FieldPath) {
    if containers.is_empty() {
        errs.push(FieldError::required(path, ""));
        return;
    }
    let mut names = BTreeSet::new();
    for (i, c) in containers.iter().enumerate() {
        let p = path.index(i);
        validate_container_common(errs, c, ctx, &p);
        if !names.insert(c.name.as_str()) {
            errs.push(FieldError::duplicate(&p.child("name"), c.name.as_str()));
        }
        validate_probes_and_lifecycle(errs, c, ctx, &p);
        if c.restart_policy.is_some() {
            errs.push(FieldError::forbidden(&p.child("restartPolicy"), "may not be set for non-init containers"));
        }
    }
    host_port_conflicts(errs, containers.iter(), path);
}

/// Init containers: names unique across regular and init containers; probes and lifecycle only
/// for restartable (sidecar) ones.
pub fn validate_init_containers(
    errs: &mut FieldErrors,
    inits: &[Container],
    regular: &[Container],
    ctx: &Ctx<'_>,
    path: &FieldPath,
) {
    let mut names: BTreeSet<&str> = regular.iter().map(|c| c.name.as_str()).collect();
    for (i, c) in inits.iter().enumerate() {
        let p = path.index(i);
        validate_container_common(errs, c, ctx, &p);
        let mut restart_always = false;
        if let Some(rp) = &c.restart_policy {
            if rp != "Always" {
                errs.push(FieldError::not_supported(&p.child("restartPolicy"), rp.as_str(), &["Always"]));
            }
            restart_always = rp == "Always";
        }
        if names.contains(c.name.as_str()) {
            errs.push(FieldError::duplicate(&p.child("name"), c.name.as_str()));
        } else if !c.name.is_empty() {
            names.insert(c.name.as_str());
        }
        // Init containers run one at a time, so only ports within one can conflict.
        host_port_conflicts(errs, std::iter::once(c), path);
        if restart_always {
            validate_probes_and_lifecycle(errs, c, ctx, &p);
        } else {
            const MSG: &str = "may not be set for init containers without restartPolicy=Always";
            for (set, field) in [
                (c.lifecycle.is_some(), "lifecycle"),
                (c.liveness_probe.is_some(), "livenessProbe"),
                (c.readiness_probe.is_some(), "readinessProbe"),
                (c.startup_probe.is_some(), "startupProbe"),
            ] {
                if set {
                    errs.push(FieldError::forbidden(&p.child(field), MSG));
                }
            }
        }
    }
}

/// Checks every kind of container shares.
pub fn validate_container_common(errs: &mut FieldErrors, c: &Container, ctx: &Ctx<'_>, path: &FieldPath) {
    if c.name.is_empty() {
        errs.push(FieldError::required(&path.child("name"), ""));
    } else {
        dns1123_label(errs, &c.name, &path.child("name"));
    }
    if s(&c.image).is_empty() {
        errs.push(FieldError::required(&path.child("image"), ""));
    }
    match s(&c.termination_message_policy) {
        "File" | "FallbackToLogsOnError" => {}
        "" => errs.push(FieldError::required(&path.child("terminationMessagePolicy"), "")),
        other => errs.push(FieldError::not_supported(
            &path.child("terminationMessagePolicy"),
            other,
            &["File", "FallbackToLogsOnError"],
        )),
    }
    validate_ports(errs, c.ports.as_deref().unwrap_or_default(), &path.child("ports"));
    validate_env(errs, c.env.as_deref().unwrap_or_default(), &path.child("env"));
    validate_env_from(errs, c.env_from.as_deref().unwrap_or_default(), &path.child("envFrom"));
    validate_mounts(errs, c, ctx, &path.child("volumeMounts"));
    validate_devices(errs, c, ctx, &path.child("volumeDevices"));
    enum_required(errs, s(&c.image_pull_policy), &["Always", "IfNotPresent", "Never"], &path.child("imagePullPolicy"));
    validate_container_resources(errs, c.resources.as_ref(), ctx.claim_names, &path.child("resources"));
    validate_resize_policy(errs, c, ctx, &path.child("resizePolicy"));
    validate_security_context(errs, c.security_context.as_ref(), ctx.host_users, &path.child("securityContext"));
}

fn validate_probes_and_lifecycle(errs: &mut FieldErrors, c: &Container, ctx: &Ctx<'_>, path: &FieldPath) {
    if let Some(l) = &c.lifecycle {
        let lp = path.child("lifecycle");
        if let Some(h) = &l.post_start {
            validate_lifecycle_handler(errs, h, ctx.grace_period, &lp.child("postStart"));
        }
        if let Some(h) = &l.pre_stop {
            validate_lifecycle_handler(errs, h, ctx.grace_period, &lp.child("preStop"));
        }
    }
    if let Some(p) = &c.liveness_probe {
        let pp = path.child("livenessProbe");
        validate_probe(errs, p, &pp);
        if p.success_threshold.unwrap_or(0) != 1 {
            errs.push(FieldError::invalid(
                &pp.child("successThreshold"),
                p.success_threshold.unwrap_or(0),
                "must be 1",
            ));
        }
    }
    if let Some(p) = &c.readiness_probe {
        let pp = path.child("readinessProbe");
        validate_probe(errs, p, &pp);
        if let Some(t) = p.termination_grace_period_seconds {
            errs.push(FieldError::invalid(
                &pp.child("terminationGracePeriodSeconds"),
                t,
                "must not be set for readinessProbes",
            ));
        }
    }
    if let Some(p) = &c.startup_probe {
        let pp = path.child("startupProbe");
        validate_probe(errs, p, &pp);
        if p.success_threshold.unwrap_or(0) != 1 {
            errs.push(FieldError::invalid(
                &pp.child("successThreshold"),
                p.success_threshold.unwrap_or(0),
                "must be 1",
            ));
        }
    }
}

fn validate_probe(errs: &mut FieldErrors, p: &Probe, path: &FieldPath) {
    let mut handlers = Handlers { path, errs, count: 0 };
    if let Some(e) = &p.exec
        && handlers.take("exec")
        && e.command.as_ref().is_none_or(Vec::is_empty)
    {
        handlers.errs.push(FieldError::required(&path.child("exec").child("command"), ""));
    }
    if let Some(h) = &p.http_get
        && handlers.take("httpGet")
    {
        validate_http_get(handlers.errs, h, &path.child("httpGet"));
    }
    if let Some(t) = &p.tcp_socket
        && handlers.take("tcpSocket")
    {
        port_num_or_name(handlers.errs, &t.port, &path.child("tcpSocket").child("port"));
    }
    if let Some(g) = &p.grpc
        && handlers.take("grpc")
    {
        port_num_or_name(handlers.errs, &IntOrString::Int(g.port), &path.child("grpc").child("port"));
    }
    handlers.finish();
    for (v, f) in [
        (p.initial_delay_seconds, "initialDelaySeconds"),
        (p.timeout_seconds, "timeoutSeconds"),
        (p.period_seconds, "periodSeconds"),
        (p.success_threshold, "successThreshold"),
        (p.failure_threshold, "failureThreshold"),
    ] {
        nonnegative(errs, i64::from(v.unwrap_or(0)), &path.child(f));
    }
    if let Some(t) = p.termination_grace_period_seconds
        && t <= 0
    {
        errs.push(FieldError::invalid(&path.child("terminationGracePeriodSeconds"), t, "must be greater than 0"));
    }
}

fn validate_lifecycle_handler(errs: &mut FieldErrors, h: &LifecycleHandler, grace: Option<i64>, path: &FieldPath) {
    let mut handlers = Handlers { path, errs, count: 0 };
    if let Some(e) = &h.exec
        && handlers.take("exec")
        && e.command.as_ref().is_none_or(Vec::is_empty)
    {
        handlers.errs.push(FieldError::required(&path.child("exec").child("command"), ""));
    }
    if let Some(g) = &h.http_get
        && handlers.take("httpGet")
    {
        validate_http_get(handlers.errs, g, &path.child("httpGet"));
    }
    if let Some(t) = &h.tcp_socket
        && handlers.take("tcpSocket")
    {
        port_num_or_name(handlers.errs, &t.port, &path.child("tcpSocket").child("port"));
    }
    if let Some(sl) = &h.sleep
        && handlers.take("sleep")
        && let Some(g) = grace
        && (sl.seconds < 0 || sl.seconds > g)
    {
        handlers.errs.push(FieldError::invalid(
            &path.child("sleep"),
            sl.seconds,
            format!("must be non-negative and less than terminationGracePeriodSeconds ({g})"),
        ));
    }
    handlers.finish();
}

/// Counts handler types: exactly one of exec/httpGet/tcpSocket/grpc/sleep.
struct Handlers<'a> {
    path: &'a FieldPath,
    errs: &'a mut FieldErrors,
    count: usize,
}

impl Handlers<'_> {
    /// Whether this handler is the first one (and so gets validated).
    fn take(&mut self, field: &str) -> bool {
        if self.count > 0 {
            self.errs.push(FieldError::forbidden(&self.path.child(field), "may not specify more than 1 handler type"));
            return false;
        }
        self.count += 1;
        true
    }

    fn finish(self) {
        if self.count == 0 {
            self.errs.push(FieldError::required(self.path, "must specify a handler type"));
        }
    }
}

fn validate_http_get(errs: &mut FieldErrors, h: &k8s_openapi::api::core::v1::HTTPGetAction, path: &FieldPath) {
    if s(&h.path).is_empty() {
        errs.push(FieldError::required(&path.child("path"), ""));
    }
    port_num_or_name(errs, &h.port, &path.child("port"));
    let scheme = s(&h.scheme);
    if scheme != "HTTP" && scheme != "HTTPS" {
        errs.push(FieldError::not_supported(&path.child("scheme"), scheme, &["HTTP", "HTTPS"]));
    }
    for header in h.http_headers.iter().flatten() {
        let ok = !header.name.is_empty() && header.name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
        if !ok {
            errs.push(FieldError::invalid(
                &path.child("httpHeaders"),
                header.name.as_str(),
                "a valid HTTP header must consist of alphanumeric characters or '-' (e.g. 'X-Header-Name', regex used for validation is '[-A-Za-z0-9]+')",
            ));
        }
    }
}

fn validate_ports(errs: &mut FieldErrors, ports: &[ContainerPort], path: &FieldPath) {
    let mut names = BTreeSet::new();
    for (i, p) in ports.iter().enumerate() {
        let ip = path.index(i);
        let name = s(&p.name);
        if !name.is_empty() {
            let msgs = names::is_valid_port_name(name);
            if !msgs.is_empty() {
                for m in msgs {
                    errs.push(FieldError::invalid(&ip.child("name"), name, m));
                }
            } else if !names.insert(name) {
                errs.push(FieldError::duplicate(&ip.child("name"), name));
            }
        }
        if p.container_port == 0 {
            errs.push(FieldError::required(&ip.child("containerPort"), ""));
        } else {
            for m in names::is_valid_port_num(i64::from(p.container_port)) {
                errs.push(FieldError::invalid(&ip.child("containerPort"), p.container_port, m));
            }
        }
        if let Some(hp) = p.host_port.filter(|&hp| hp != 0) {
            for m in names::is_valid_port_num(i64::from(hp)) {
                errs.push(FieldError::invalid(&ip.child("hostPort"), hp, m));
            }
        }
        enum_required(errs, s(&p.protocol), &["SCTP", "TCP", "UDP"], &ip.child("protocol"));
    }
}

/// Two containers may not claim the same protocol/hostIP/hostPort.
fn host_port_conflicts<'a>(errs: &mut FieldErrors, containers: impl Iterator<Item = &'a Container>, path: &FieldPath) {
    let mut seen = BTreeSet::new();
    for (ci, c) in containers.enumerate() {
        for (pi, p) in c.ports.iter().flatten().enumerate() {
            let hp = p.host_port.unwrap_or(0);
            if hp == 0 {
                continue;
            }
            let key = format!("{}/{}/{hp}", s(&p.protocol), s(&p.host_ip));
            if !seen.insert(key.clone()) {
                errs.push(FieldError::duplicate(&path.index(ci).child("ports").index(pi).child("hostPort"), key));
            }
        }
    }
}

/// Relaxed environment variable names (the 1.33 default): printable ASCII other than `=`.
pub fn env_name_problems(name: &str) -> Vec<String> {
    if name.chars().any(|c| !(' '..='~').contains(&c) || c == '=') {
        vec![
            "a valid environment variable name must consist only of printable ASCII characters other than '='"
                .to_string(),
        ]
    } else {
        Vec::new()
    }
}

fn validate_env(errs: &mut FieldErrors, env: &[EnvVar], path: &FieldPath) {
    for (i, e) in env.iter().enumerate() {
        let p = path.index(i);
        if e.name.is_empty() {
            errs.push(FieldError::required(&p.child("name"), ""));
        } else {
            for m in env_name_problems(&e.name) {
                errs.push(FieldError::invalid(&p.child("name"), e.name.as_str(), m));
            }
        }
        let Some(from) = &e.value_from else { continue };
        let fp = p.child("valueFrom");
        let mut sources = 0;
        if let Some(f) = &from.field_ref {
            sources += 1;
            validate_object_field_selector(errs, f, ENV_FIELD_PATHS, &fp.child("fieldRef"));
        }
        if let Some(r) = &from.resource_field_ref {
            sources += 1;
            validate_resource_field_selector(errs, r, false, &fp.child("resourceFieldRef"));
        }
        if let Some(k) = &from.config_map_key_ref {
            sources += 1;
            validate_key_selector(errs, &k.name, &k.key, &fp.child("configMapKeyRef"));
        }
        if let Some(k) = &from.secret_key_ref {
            sources += 1;
            validate_key_selector(errs, &k.name, &k.key, &fp.child("secretKeyRef"));
        }
        if sources == 0 {
            errs.push(FieldError::invalid(
                &fp,
                "",
                "must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`",
            ));
        } else if !s(&e.value).is_empty() {
            errs.push(FieldError::invalid(&fp, "", "may not be specified when `value` is not empty"));
        } else if sources > 1 {
            errs.push(FieldError::invalid(&fp, "", "may not have more than one field specified at a time"));
        }
    }
}

fn validate_key_selector(errs: &mut FieldErrors, name: &str, key: &str, path: &FieldPath) {
    dns1123_subdomain(errs, name, &path.child("name"));
    if key.is_empty() {
        errs.push(FieldError::required(&path.child("key"), ""));
    } else {
        for m in crate::kinds::common::config_key(key) {
            errs.push(FieldError::invalid(&path.child("key"), key, m));
        }
    }
}

/// A downward API field reference (`metadata.name`, `metadata.labels['app']`, ...).
pub fn validate_object_field_selector(
    errs: &mut FieldErrors,
    f: &ObjectFieldSelector,
    allowed: &[&str],
    path: &FieldPath,
) {
    let api_version = s(&f.api_version);
    if api_version.is_empty() {
        errs.push(FieldError::required(&path.child("apiVersion"), ""));
        return;
    }
    if f.field_path.is_empty() {
        errs.push(FieldError::required(&path.child("fieldPath"), ""));
        return;
    }
    let fp = f.field_path.as_str();
    let converted = if api_version != "v1" {
        Err(format!("unsupported pod version: {api_version}"))
    } else if let Some((base, _)) = split_subscript(fp) {
        if base == "metadata.annotations" || base == "metadata.labels" {
            Ok(fp.to_string())
        } else {
            Err(format!("field label does not support subscript: {fp}"))
        }
    } else {
        match fp {
            "spec.host" => Ok("spec.nodeName".to_string()),
            "metadata.annotations"
            | "metadata.labels"
            | "metadata.name"
            | "metadata.namespace"
            | "metadata.uid"
            | "spec.nodeName"
            | "spec.restartPolicy"
            | "spec.serviceAccountName"
            | "spec.schedulerName"
            | "status.phase"
            | "status.hostIP"
            | "status.hostIPs"
            | "status.podIP"
            | "status.podIPs" => Ok(fp.to_string()),
            _ => Err(format!("field label not supported: {fp}")),
        }
    };
    let internal = match converted {
        Ok(p) => p,
        Err(e) => {
            errs.push(FieldError::invalid(&path.child("fieldPath"), fp, format!("error converting fieldPath: {e}")));
            return;
        }
    };
    if let Some((base, sub)) = split_subscript(&internal) {
        match base {
            "metadata.annotations" => qualified_name(errs, &sub.to_lowercase(), path),
            "metadata.labels" => qualified_name(errs, sub, path),
            _ => errs.push(FieldError::invalid(path, base, "does not support subscript")),
        }
    } else if !allowed.contains(&internal.as_str()) {
        errs.push(FieldError::not_supported(&path.child("fieldPath"), internal.as_str(), allowed));
    }
}

/// `metadata.labels['key']` → (`metadata.labels`, `key`).
fn split_subscript(path: &str) -> Option<(&str, &str)> {
    let inner = path.strip_suffix("']")?;
    let (base, sub) = inner.split_once("['")?;
    if base.is_empty() { None } else { Some((base, sub)) }
}

/// A downward API resource reference (`limits.cpu` with a divisor).
pub fn validate_resource_field_selector(
    errs: &mut FieldErrors,
    r: &ResourceFieldSelector,
    volume: bool,
    path: &FieldPath,
) {
    if volume && s(&r.container_name).is_empty() {
        errs.push(FieldError::required(&path.child("containerName"), ""));
    } else if r.resource.is_empty() {
        errs.push(FieldError::required(&path.child("resource"), ""));
    } else if !RESOURCE_FIELD_PATHS.contains(&r.resource.as_str())
        && !r.resource.starts_with("requests.hugepages-")
        && !r.resource.starts_with("limits.hugepages-")
    {
        errs.push(FieldError::not_supported(&path.child("resource"), r.resource.as_str(), RESOURCE_FIELD_PATHS));
    }
    let Some(d) = r.divisor.as_ref().and_then(|d| Quantity::parse(&d.0).ok()) else { return };
    if d.is_zero() {
        return;
    }
    let canonical = d.to_canonical();
    const BYTES: &[&str] = &["1", "1k", "1M", "1G", "1T", "1P", "1E", "1Ki", "1Mi", "1Gi", "1Ti", "1Pi", "1Ei"];
    const BYTES_LIST: &str = "1, 1k, 1M, 1G, 1T, 1P, 1E, 1Ki, 1Mi, 1Gi, 1Ti, 1Pi, 1Ei";
    let res = r.resource.as_str();
    let problem = match res {
        "limits.cpu" | "requests.cpu" if !["1m", "1"].contains(&canonical.as_str()) => {
            Some("only divisor's values 1m and 1 are supported with the cpu resource".to_string())
        }
        "limits.memory" | "requests.memory" if !BYTES.contains(&canonical.as_str()) => {
            Some(format!("only divisor's values {BYTES_LIST} are supported with the memory resource"))
        }
        "limits.ephemeral-storage" | "requests.ephemeral-storage" if !BYTES.contains(&canonical.as_str()) => {
            Some(format!("only divisor's values {BYTES_LIST} are supported with the local ephemeral storage resource"))
        }
        _ if (res.starts_with("requests.hugepages-") || res.starts_with("limits.hugepages-"))
            && !BYTES.contains(&canonical.as_str()) =>
        {
            Some(format!("only divisor's values {BYTES_LIST} are supported with the hugepages resource"))
        }
        _ => None,
    };
    if let Some(m) = problem {
        errs.push(FieldError::invalid(&path.child("divisor"), res, m));
    }
}

fn validate_env_from(errs: &mut FieldErrors, list: &[EnvFromSource], path: &FieldPath) {
    for (i, e) in list.iter().enumerate() {
        let p = path.index(i);
        let prefix = s(&e.prefix);
        if !prefix.is_empty() {
            for m in env_name_problems(prefix) {
                errs.push(FieldError::invalid(&p.child("prefix"), prefix, m));
            }
        }
        let mut sources = 0;
        for (name, field) in [
            (e.config_map_ref.as_ref().map(|r| r.name.as_str()), "configMapRef"),
            (e.secret_ref.as_ref().map(|r| r.name.as_str()), "secretRef"),
        ] {
            let Some(name) = name else { continue };
            sources += 1;
            let np = p.child(field).child("name");
            if name.is_empty() {
                errs.push(FieldError::required(&np, ""));
            } else {
                // Prefix form: a trailing `-` is tolerated, as for generated names.
                let check = name.strip_suffix('-').filter(|n| !n.is_empty()).unwrap_or(name);
                for m in names::is_dns1123_subdomain(check) {
                    errs.push(FieldError::invalid(&np, name, m));
                }
            }
        }
        if sources == 0 {
            errs.push(FieldError::invalid(path, "", "must specify one of: `configMapRef` or `secretRef`"));
        } else if sources > 1 {
            errs.push(FieldError::invalid(path, "", "may not have more than one field specified at a time"));
        }
    }
}

fn validate_mounts(errs: &mut FieldErrors, c: &Container, ctx: &Ctx<'_>, path: &FieldPath) {
    let devices: BTreeMap<&str, &str> =
        c.volume_devices.iter().flatten().map(|d| (d.name.as_str(), d.device_path.as_str())).collect();
    let mut mount_points = BTreeSet::new();
    for (i, m) in c.volume_mounts.iter().flatten().enumerate() {
        let p = path.index(i);
        if m.name.is_empty() {
            errs.push(FieldError::required(&p.child("name"), ""));
        }
        if !ctx.volumes.contains_key(&m.name) {
            errs.push(FieldError::not_found(&p.child("name"), m.name.as_str()));
        }
        if m.mount_path.is_empty() {
            errs.push(FieldError::required(&p.child("mountPath"), ""));
        }
        if !mount_points.insert(m.mount_path.as_str()) {
            errs.push(FieldError::invalid(&p.child("mountPath"), m.mount_path.as_str(), "must be unique"));
        }
        if devices.contains_key(m.name.as_str()) {
            errs.push(FieldError::invalid(
                &p.child("name"),
                m.name.as_str(),
                "must not already exist in volumeDevices",
            ));
        }
        if devices.values().any(|d| *d == m.mount_path) {
            errs.push(FieldError::invalid(
                &p.child("mountPath"),
                m.mount_path.as_str(),
                "must not already exist as a path in volumeDevices",
            ));
        }
        if ctx.volumes.get(&m.name).is_some_and(|v| v.image.is_some()) {
            for (v, f) in [(s(&m.sub_path), "subPath"), (s(&m.sub_path_expr), "subPathExpr")] {
                if !v.is_empty() {
                    errs.push(FieldError::invalid(&p.child(f), v, "not allowed in image volume sources"));
                }
            }
        }
        // Upstream reports these two at the list path, not the item's.
        if !s(&m.sub_path).is_empty() {
            local_descending_path(errs, s(&m.sub_path), &path.child("subPath"));
        }
        if !s(&m.sub_path_expr).is_empty() {
            if !s(&m.sub_path).is_empty() {
                errs.push(FieldError::invalid(
                    &p.child("subPathExpr"),
                    s(&m.sub_path_expr),
                    "subPathExpr and subPath are mutually exclusive",
                ));
            }
            local_descending_path(errs, s(&m.sub_path_expr), &path.child("subPathExpr"));
        }
        validate_mount_propagation(errs, m, c, &path.child("mountPropagation"));
        validate_recursive_read_only(errs, m, &path.child("recursiveReadOnly"));
    }
}

fn validate_mount_propagation(errs: &mut FieldErrors, m: &VolumeMount, c: &Container, path: &FieldPath) {
    let Some(mp) = &m.mount_propagation else { return };
    const SUPPORTED: &[&str] = &["Bidirectional", "HostToContainer", "None"];
    if !SUPPORTED.contains(&mp.as_str()) {
        errs.push(FieldError::not_supported(path, mp.as_str(), SUPPORTED));
    }
    let privileged = c.security_context.as_ref().and_then(|sc| sc.privileged) == Some(true);
    if mp == "Bidirectional" && !privileged {
        errs.push(FieldError::forbidden(
            path,
            "Bidirectional mount propagation is available only to privileged containers",
        ));
    }
}

fn validate_recursive_read_only(errs: &mut FieldErrors, m: &VolumeMount, path: &FieldPath) {
    let Some(rro) = &m.recursive_read_only else { return };
    match rro.as_str() {
        "Disabled" => {}
        "Enabled" | "IfPossible" => {
            if m.read_only != Some(true) {
                errs.push(FieldError::forbidden(path, "may only be specified when readOnly is true"));
            }
            if m.mount_propagation.as_deref().is_some_and(|p| p != "None") {
                errs.push(FieldError::forbidden(
                    path,
                    "may only be specified when mountPropagation is None or not specified",
                ));
            }
        }
        other => errs.push(FieldError::not_supported(path, other, &["Disabled", "Enabled", "IfPossible"])),
    }
}

fn validate_devices(errs: &mut FieldErrors, c: &Container, ctx: &Ctx<'_>, path: &FieldPath) {
    let mounts: BTreeMap<&str, &str> =
        c.volume_mounts.iter().flatten().map(|m| (m.name.as_str(), m.mount_path.as_str())).collect();
    let (mut paths, mut names) = (BTreeSet::new(), BTreeSet::new());
    for (i, d) in c.volume_devices.iter().flatten().enumerate() {
        let p = path.index(i);
        if d.name.is_empty() {
            errs.push(FieldError::required(&p.child("name"), ""));
        }
        if names.contains(d.name.as_str()) {
            errs.push(FieldError::invalid(&p.child("name"), d.name.as_str(), "must be unique"));
        }
        match ctx.volumes.get(&d.name) {
            Some(v) if v.persistent_volume_claim.is_none() && v.ephemeral.is_none() => errs.push(FieldError::invalid(
                &p.child("name"),
                d.name.as_str(),
                "can only use volume source type of PersistentVolumeClaim or Ephemeral for block mode",
            )),
            Some(_) => {}
            None => errs.push(FieldError::not_found(&p.child("name"), d.name.as_str())),
        }
        if d.device_path.is_empty() {
            errs.push(FieldError::required(&p.child("devicePath"), ""));
        }
        if paths.contains(d.device_path.as_str()) {
            errs.push(FieldError::invalid(&p.child("devicePath"), d.device_path.as_str(), "must be unique"));
        }
        let mut backsteps = FieldErrors::new();
        path_no_backsteps(&mut backsteps, &d.device_path, path);
        if !d.device_path.is_empty() && !backsteps.is_empty() {
            errs.push(FieldError::invalid(
                &p.child("devicePath"),
                d.device_path.as_str(),
                "can not contain backsteps ('..')",
            ));
        } else {
            paths.insert(d.device_path.as_str());
        }
        if mounts.contains_key(d.name.as_str()) {
            errs.push(FieldError::invalid(&p.child("name"), d.name.as_str(), "must not already exist in volumeMounts"));
        }
        if mounts.values().any(|m| *m == d.device_path) {
            errs.push(FieldError::invalid(
                &p.child("devicePath"),
                d.device_path.as_str(),
                "must not already exist as a path in volumeMounts",
            ));
        }
        if !d.name.is_empty() {
            names.insert(d.name.as_str());
        }
    }
}

fn validate_resize_policy(errs: &mut FieldErrors, c: &Container, ctx: &Ctx<'_>, path: &FieldPath) {
    let mut seen = BTreeSet::new();
    for (i, p) in c.resize_policy.iter().flatten().enumerate() {
        if !seen.insert(p.resource_name.as_str()) {
            errs.push(FieldError::duplicate(&path.index(i), p.resource_name.as_str()));
        }
        enum_required(errs, &p.resource_name, &["cpu", "memory"], path);
        enum_required(errs, &p.restart_policy, &["NotRequired", "RestartContainer"], path);
        if ctx.restart_policy == "Never" && p.restart_policy != "NotRequired" {
            errs.push(FieldError::invalid(
                path,
                p.restart_policy.as_str(),
                "must be 'NotRequired' when `restartPolicy` is 'Never'",
            ));
        }
    }
}
