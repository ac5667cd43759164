//! Services: upstream's `SetDefaults_Service`, the cluster-IP bookkeeping of the service registry
//! (`clusterIP`/`clusterIPs` kept in sync, allocated values carried over when a client omits
//! them, type-dependent fields dropped on a type change) and `ValidateService(Update)`.
//!
//! Allocation itself (picking a cluster IP or node port) is the API server's job; skiff is a
//! single-stack IPv4 cluster, so IP families default to `IPv4`, policy `SingleStack`.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::{
    ClientIPConfig, LoadBalancerStatus, Service, ServiceSpec, ServiceStatus, SessionAffinityConfig,
};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::field_errors::{FieldError, FieldErrorType, FieldErrors, FieldPath};
use crate::kinds::common::{
    cidr, default_str, dns1123_label, dns1123_subdomain, go_quote, go_string_slice, invalid_repr, ip, labels,
    port_num_or_name, qualified_name, s,
};
use crate::kinds::endpoints::non_special_ip;
use crate::names;
use crate::strategy::KindRules;

const MAX_AFFINITY_SECONDS: i32 = 86400;
const TYPES: &[&str] = &["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"];

fn type_of(spec: &ServiceSpec) -> &str {
    s(&spec.type_)
}

fn needs_cluster_ip(spec: &ServiceSpec) -> bool {
    type_of(spec) != "ExternalName"
}

fn needs_node_port(spec: &ServiceSpec) -> bool {
    matches!(type_of(spec), "NodePort" | "LoadBalancer")
}

fn needs_health_check(spec: &ServiceSpec) -> bool {
    type_of(spec) == "LoadBalancer" && s(&spec.external_traffic_policy) == "Local"
}

/// Reachable from outside the cluster: NodePort, LoadBalancer, or ClusterIP with external IPs.
fn externally_accessible(spec: &ServiceSpec) -> bool {
    matches!(type_of(spec), "NodePort" | "LoadBalancer")
        || (type_of(spec) == "ClusterIP" && spec.external_ips.as_ref().is_some_and(|e| !e.is_empty()))
}

fn is_headless(spec: &ServiceSpec) -> bool {
    spec.cluster_ips.as_deref() == Some(&["None".to_string()][..])
}

fn cluster_ips(spec: &ServiceSpec) -> &[String] {
    spec.cluster_ips.as_deref().unwrap_or_default()
}

fn families(spec: &ServiceSpec) -> &[String] {
    spec.ip_families.as_deref().unwrap_or_default()
}

impl KindRules for Service {
    fn prepare_for_create(&mut self) {
        self.status = Some(ServiceStatus { load_balancer: Some(LoadBalancerStatus::default()), ..Default::default() });
        let spec = self.spec.get_or_insert_with(Default::default);
        // A client that sets only the singular field gets the plural one initialised.
        if !s(&spec.cluster_ip).is_empty() && cluster_ips(spec).is_empty() {
            spec.cluster_ips = Some(vec![s(&spec.cluster_ip).to_string()]);
        }
    }

    fn prepare_for_update(&mut self, old: &Self) {
        let old_spec = old.spec.clone().unwrap_or_default();
        let spec = self.spec.get_or_insert_with(Default::default);
        // Type and traffic-policy defaults first: the carry-over below depends on them.
        default_service_spec(spec);
        patch_allocated_values(spec, &old_spec);
        normalize_cluster_ips(spec, &old_spec);
        drop_type_dependent_fields(spec, &old_spec);
        if type_of(spec) != "LoadBalancer"
            && let Some(st) = &mut self.status
        {
            st.load_balancer = Some(LoadBalancerStatus::default());
        }
    }

    fn default_fields(&mut self) {
        let spec = self.spec.get_or_insert_with(Default::default);
        default_service_spec(spec);
        // What the allocator fills in on a single-stack IPv4 cluster.
        if needs_cluster_ip(spec) {
            if spec.ip_family_policy.is_none() {
                let headless_selectorless = is_headless(spec) && spec.selector.as_ref().is_none_or(BTreeMap::is_empty);
                let policy = if headless_selectorless { "RequireDualStack" } else { "SingleStack" };
                spec.ip_family_policy = Some(policy.to_string());
            }
            if families(spec).is_empty() {
                spec.ip_families = Some(vec!["IPv4".to_string()]);
            }
        }
        if let Some(lb) = self.status.as_mut().and_then(|st| st.load_balancer.as_mut())
            && type_of(spec) == "LoadBalancer"
        {
            for ing in lb.ingress.iter_mut().flatten() {
                if !s(&ing.ip).is_empty() && ing.ip_mode.is_none() {
                    ing.ip_mode = Some("VIP".to_string());
                }
            }
        }
    }

    fn validate(&self) -> FieldErrors {
        let mut errs = FieldErrors::new();
        validate_service(&mut errs, self);
        errs
    }

    fn validate_update(&self, old: &Self) -> FieldErrors {
        let mut errs = FieldErrors::new();
        let (new, old_spec) = (self.spec.clone().unwrap_or_default(), old.spec.clone().unwrap_or_default());
        upgrade_downgrade_cluster_ips(&mut errs, &new, &old_spec);
        upgrade_downgrade_families(&mut errs, &new, &old_spec);
        let lbc = FieldPath::new("spec").child("loadBalancerClass");
        if type_of(&new) == "LoadBalancer"
            && type_of(&old_spec) == "LoadBalancer"
            && new.load_balancer_class != old_spec.load_balancer_class
        {
            errs.push(FieldError::invalid(
                &lbc,
                new.load_balancer_class.clone().map_or(serde_json::Value::Null, Into::into),
                "may not change once set",
            ));
        }
        if needs_health_check(&old_spec)
            && needs_health_check(&new)
            && new.health_check_node_port != old_spec.health_check_node_port
        {
            errs.push(FieldError::forbidden(
                &FieldPath::new("spec").child("healthCheckNodePort"),
                "field is immutable",
            ));
        }
        errs.extend(self.validate());
        errs
    }

    fn validate_status_update(&self, _old: &Self) -> FieldErrors {
        let mut errs = FieldErrors::new();
        let spec = self.spec.clone().unwrap_or_default();
        let ing_path = FieldPath::new("status").child("loadBalancer").child("ingress");
        let ingress = self
            .status
            .as_ref()
            .and_then(|st| st.load_balancer.as_ref())
            .and_then(|lb| lb.ingress.clone())
            .unwrap_or_default();
        if type_of(&spec) != "LoadBalancer" && !ingress.is_empty() {
            errs.push(FieldError::forbidden(&ing_path, "may only be used when `spec.type` is 'LoadBalancer'"));
            return errs;
        }
        for (i, ing) in ingress.iter().enumerate() {
            let p = ing_path.index(i);
            if !s(&ing.ip).is_empty() {
                ip(&mut errs, s(&ing.ip), &p.child("ip"));
            }
            match (&ing.ip_mode, s(&ing.ip).is_empty()) {
                (Some(_), true) => {
                    errs.push(FieldError::forbidden(&p.child("ipMode"), "may not be specified when `ip` is not set"))
                }
                (Some(m), false) if m != "Proxy" && m != "VIP" => {
                    errs.push(FieldError::not_supported(&p.child("ipMode"), m.as_str(), &["Proxy", "VIP"]))
                }
                _ => {}
            }
            let host = s(&ing.hostname);
            if !host.is_empty() {
                dns1123_subdomain(&mut errs, host, &p.child("hostname"));
                if crate::kinds::common::parse_ip(host).is_some() {
                    errs.push(FieldError::invalid(&p.child("hostname"), host, "must be a DNS name, not an IP address"));
                }
            }
        }
        errs
    }
}

/// `SetDefaults_Service`.
fn default_service_spec(spec: &mut ServiceSpec) {
    default_str(&mut spec.session_affinity, "None");
    if s(&spec.session_affinity) == "None" {
        spec.session_affinity_config = None;
    }
    if s(&spec.session_affinity) == "ClientIP" {
        let missing = spec
            .session_affinity_config
            .as_ref()
            .and_then(|c| c.client_ip.as_ref())
            .and_then(|c| c.timeout_seconds)
            .is_none();
        if missing {
            spec.session_affinity_config =
                Some(SessionAffinityConfig { client_ip: Some(ClientIPConfig { timeout_seconds: Some(10800) }) });
        }
    }
    default_str(&mut spec.type_, "ClusterIP");
    for p in spec.ports.iter_mut().flatten() {
        default_str(&mut p.protocol, "TCP");
        let unset = match &p.target_port {
            None => true,
            Some(IntOrString::Int(0)) => true,
            Some(IntOrString::String(t)) => t.is_empty(),
            Some(IntOrString::Int(_)) => false,
        };
        if unset {
            p.target_port = Some(IntOrString::Int(p.port));
        }
    }
    if externally_accessible(spec) {
        default_str(&mut spec.external_traffic_policy, "Cluster");
    }
    if spec.internal_traffic_policy.is_none() && matches!(type_of(spec), "NodePort" | "LoadBalancer" | "ClusterIP") {
        spec.internal_traffic_policy = Some("Cluster".to_string());
    }
    if type_of(spec) == "LoadBalancer" && spec.allocate_load_balancer_node_ports.is_none() {
        spec.allocate_load_balancer_node_ports = Some(true);
    }
}

/// Values the API server allocated and a client (e.g. `kubectl replace` of a manifest) left out
/// are kept, as upstream's `patchAllocatedValues`.
fn patch_allocated_values(spec: &mut ServiceSpec, old: &ServiceSpec) {
    if needs_cluster_ip(old) && needs_cluster_ip(spec) {
        if s(&spec.cluster_ip).is_empty() {
            spec.cluster_ip = old.cluster_ip.clone();
        }
        if cluster_ips(spec).is_empty() && !cluster_ips(old).is_empty() {
            spec.cluster_ips = old.cluster_ips.clone();
        }
        if families(spec).is_empty() && spec.cluster_ips == old.cluster_ips {
            spec.ip_families = old.ip_families.clone();
        }
        if spec.ip_family_policy.is_none() && spec.cluster_ips == old.cluster_ips {
            spec.ip_family_policy = old.ip_family_policy.clone();
        }
    }
    if needs_node_port(old) && needs_node_port(spec) {
        let node_ports = |s: &ServiceSpec| -> BTreeSet<i32> {
            s.ports.iter().flatten().filter_map(|p| p.node_port).filter(|&n| n != 0).collect()
        };
        let used: BTreeSet<i32> = node_ports(old).intersection(&node_ports(spec)).copied().collect();
        let by_name: BTreeMap<String, i32> =
            old.ports.iter().flatten().map(|p| (s(&p.name).to_string(), p.node_port.unwrap_or(0))).collect();
        for p in spec.ports.iter_mut().flatten() {
            if p.node_port.unwrap_or(0) == 0 {
                let old_np = by_name.get(s(&p.name)).copied().unwrap_or(0);
                if old_np != 0 && !used.contains(&old_np) {
                    p.node_port = Some(old_np);
                }
            }
        }
    }
    if needs_health_check(old) && needs_health_check(spec) && spec.health_check_node_port.unwrap_or(0) == 0 {
        spec.health_check_node_port = old.health_check_node_port;
    }
}

/// Keep `clusterIP` and `clusterIPs` in sync for clients that manage only one of them.
fn normalize_cluster_ips(spec: &mut ServiceSpec, old: &ServiceSpec) {
    if !cluster_ips(old).is_empty() && cluster_ips(spec).is_empty() && old.cluster_ip == spec.cluster_ip {
        spec.cluster_ips = old.cluster_ips.clone();
    }
    if s(&old.cluster_ip) != s(&spec.cluster_ip) {
        let same_ips = cluster_ips(old) == cluster_ips(spec);
        if !s(&old.cluster_ip).is_empty() && s(&spec.cluster_ip).is_empty() {
            if same_ips {
                spec.cluster_ips = None;
            }
        } else if same_ips {
            spec.cluster_ips = Some(vec![s(&spec.cluster_ip).to_string()]);
        }
    }
}

/// Fields that no longer apply after a type change, and that the client did not itself change,
/// are dropped (upstream's `dropTypeDependentFields`).
fn drop_type_dependent_fields(spec: &mut ServiceSpec, old: &ServiceSpec) {
    if needs_cluster_ip(old) && !needs_cluster_ip(spec) {
        if cluster_ips(old) == cluster_ips(spec) && s(&old.cluster_ip) == s(&spec.cluster_ip) {
            spec.cluster_ip = None;
            spec.cluster_ips = None;
        }
        if families(old) == families(spec) {
            spec.ip_families = None;
        }
        if old.ip_family_policy == spec.ip_family_policy {
            spec.ip_family_policy = None;
        }
    }
    let node_ports = |s: &ServiceSpec| s.ports.iter().flatten().map(|p| p.node_port.unwrap_or(0)).collect::<Vec<_>>();
    if needs_node_port(old) && !needs_node_port(spec) && node_ports(old) == node_ports(spec) {
        for p in spec.ports.iter_mut().flatten() {
            p.node_port = None;
        }
    }
    if needs_health_check(old) && !needs_health_check(spec) && old.health_check_node_port == spec.health_check_node_port
    {
        spec.health_check_node_port = None;
    }
    if type_of(old) == "LoadBalancer" && type_of(spec) != "LoadBalancer" {
        if spec.allocate_load_balancer_node_ports.is_some()
            && spec.allocate_load_balancer_node_ports == old.allocate_load_balancer_node_ports
        {
            spec.allocate_load_balancer_node_ports = None;
        }
        if spec.load_balancer_class == old.load_balancer_class {
            spec.load_balancer_class = None;
        }
    }
    if externally_accessible(old)
        && !externally_accessible(spec)
        && spec.external_traffic_policy == old.external_traffic_policy
    {
        spec.external_traffic_policy = None;
    }
}

fn validate_service(errs: &mut FieldErrors, svc: &Service) {
    let spec = svc.spec.clone().unwrap_or_default();
    let sp = FieldPath::new("spec");
    let annotations = svc.metadata.annotations.clone().unwrap_or_default();
    const MODE: &str = "service.kubernetes.io/topology-mode";
    const HINTS: &str = "service.kubernetes.io/topology-aware-hints";
    if let (Some(mode), Some(hints)) = (annotations.get(MODE), annotations.get(HINTS))
        && mode != hints
    {
        errs.push(FieldError::invalid(
            &FieldPath::new("metadata").child("annotations").key(MODE),
            mode.as_str(),
            format!("must match annotations[{HINTS}] when both are specified"),
        ));
    }
    let headless = is_headless(&spec);
    let ty = type_of(&spec);
    let ports = spec.ports.clone().unwrap_or_default();
    if ports.is_empty() && !headless && ty != "ExternalName" {
        errs.push(FieldError::required(&sp.child("ports"), ""));
    }
    match ty {
        "LoadBalancer" | "NodePort" if headless => {
            errs.push(FieldError::invalid(
                &sp.child("clusterIPs").index(0),
                "None",
                format!("may not be set to 'None' for {ty} services"),
            ));
        }
        "ExternalName" => {
            if !cluster_ips(&spec).is_empty() {
                errs.push(FieldError::forbidden(&sp.child("clusterIPs"), "may not be set for ExternalName services"));
            }
            if !families(&spec).is_empty() {
                errs.push(FieldError::forbidden(&sp.child("ipFamilies"), "may not be set for ExternalName services"));
            }
            if spec.ip_family_policy.is_some() {
                errs.push(FieldError::forbidden(
                    &sp.child("ipFamilyPolicy"),
                    "may not be set for ExternalName services",
                ));
            }
            let cname = s(&spec.external_name).strip_suffix('.').unwrap_or(s(&spec.external_name));
            if cname.is_empty() {
                errs.push(FieldError::required(&sp.child("externalName"), ""));
            } else {
                dns1123_subdomain(errs, cname, &sp.child("externalName"));
            }
        }
        _ => {}
    }
    let mut port_names = BTreeSet::new();
    for (i, p) in ports.iter().enumerate() {
        let pp = sp.child("ports").index(i);
        let name = s(&p.name);
        if ports.len() > 1 && name.is_empty() {
            errs.push(FieldError::required(&pp.child("name"), ""));
        } else if !name.is_empty() {
            dns1123_label(errs, name, &pp.child("name"));
            if !port_names.insert(name) {
                errs.push(FieldError::duplicate(&pp.child("name"), name));
            }
        }
        for m in names::is_valid_port_num(i64::from(p.port)) {
            errs.push(FieldError::invalid(&pp.child("port"), p.port, m));
        }
        crate::kinds::common::enum_required(errs, s(&p.protocol), &["SCTP", "TCP", "UDP"], &pp.child("protocol"));
        port_num_or_name(errs, p.target_port.as_ref().unwrap_or(&IntOrString::Int(0)), &pp.child("targetPort"));
        if let Some(ap) = &p.app_protocol {
            qualified_name(errs, ap, &pp.child("appProtocol"));
        }
    }
    if spec.selector.is_some() {
        labels(errs, spec.selector.as_ref(), &sp.child("selector"));
    }
    match s(&spec.session_affinity) {
        "" => errs.push(FieldError::required(&sp.child("sessionAffinity"), "")),
        "ClientIP" => {
            let cp = sp.child("sessionAffinityConfig");
            match &spec.session_affinity_config {
                None => errs.push(FieldError::required(&cp, "when session affinity type is ClientIP")),
                Some(c) => match &c.client_ip {
                    None => {
                        errs.push(FieldError::required(&cp.child("clientIP"), "when session affinity type is ClientIP"))
                    }
                    Some(ci) => match ci.timeout_seconds {
                        None => errs.push(FieldError::required(
                            &cp.child("clientIP").child("timeoutSeconds"),
                            "when session affinity type is ClientIP",
                        )),
                        Some(t) if t <= 0 || t > MAX_AFFINITY_SECONDS => errs.push(FieldError::invalid(
                            &cp.child("clientIP").child("timeoutSeconds"),
                            t,
                            format!("must be greater than 0 and less than {MAX_AFFINITY_SECONDS}"),
                        )),
                        Some(_) => {}
                    },
                },
            }
        }
        "None" => {
            if spec.session_affinity_config.is_some() {
                errs.push(FieldError::forbidden(
                    &sp.child("sessionAffinityConfig"),
                    "must not be set when session affinity is None",
                ));
            }
        }
        other => errs.push(FieldError::not_supported(&sp.child("sessionAffinity"), other, &["ClientIP", "None"])),
    }
    validate_cluster_ips_and_families(errs, &spec);
    for (i, e) in spec.external_ips.iter().flatten().enumerate() {
        let p = sp.child("externalIPs").index(i);
        let before = errs.len();
        ip(errs, e, &p);
        if errs.len() == before {
            non_special_ip(errs, e, &p);
        }
    }
    crate::kinds::common::enum_required(errs, ty, TYPES, &sp.child("type"));
    if ty == "ClusterIP" {
        for (i, p) in ports.iter().enumerate() {
            if p.node_port.unwrap_or(0) != 0 {
                errs.push(FieldError::forbidden(
                    &sp.child("ports").index(i).child("nodePort"),
                    "may not be used when `type` is 'ClusterIP'",
                ));
            }
        }
    }
    let mut node_ports = BTreeSet::new();
    for (i, p) in ports.iter().enumerate() {
        let np = p.node_port.unwrap_or(0);
        if np != 0 && !node_ports.insert((s(&p.protocol), np)) {
            errs.push(FieldError::duplicate(&sp.child("ports").index(i).child("nodePort"), np));
        }
    }
    let mut seen = BTreeSet::new();
    for (i, p) in ports.iter().enumerate() {
        if !seen.insert((s(&p.protocol), p.port)) {
            let repr = format!(
                "core.ServicePort{{Name:\"\", Protocol:{}, AppProtocol:(*string)(nil), Port:{}, TargetPort:intstr.IntOrString{{Type:0, IntVal:0, StrVal:\"\"}}, NodePort:0}}",
                go_quote(s(&p.protocol)),
                p.port
            );
            errs.push(FieldError {
                kind: FieldErrorType::Duplicate,
                field: sp.child("ports").index(i),
                value: None,
                detail: repr,
            });
        }
    }
    let ranges = spec.load_balancer_source_ranges.clone().unwrap_or_default();
    if !ranges.is_empty() {
        let rp = sp.child("LoadBalancerSourceRanges");
        if ty != "LoadBalancer" {
            errs.push(FieldError::forbidden(&rp, "may only be used when `type` is 'LoadBalancer'"));
        }
        for (i, r) in ranges.iter().enumerate() {
            cidr(errs, r.trim(), &rp.index(i));
        }
    } else if let Some(v) = annotations.get("service.beta.kubernetes.io/load-balancer-source-ranges") {
        let ap = FieldPath::new("metadata")
            .child("annotations")
            .key("service.beta.kubernetes.io/load-balancer-source-ranges");
        if ty != "LoadBalancer" {
            errs.push(FieldError::forbidden(&ap, "may only be used when `type` is 'LoadBalancer'"));
        }
        let v = v.trim();
        if !v.is_empty() {
            for r in v.split(',') {
                cidr(errs, r.trim(), &ap);
            }
        }
    }
    if spec.allocate_load_balancer_node_ports.is_some() && ty != "LoadBalancer" {
        errs.push(FieldError::forbidden(
            &sp.child("allocateLoadBalancerNodePorts"),
            "may only be used when `type` is 'LoadBalancer'",
        ));
    }
    if ty == "LoadBalancer" && spec.allocate_load_balancer_node_ports.is_none() {
        // Upstream's path has no `spec.` here.
        errs.push(FieldError::required(&FieldPath::new("allocateLoadBalancerNodePorts"), ""));
    }
    let lbc = sp.child("loadBalancerClass");
    match (&spec.load_balancer_class, ty == "LoadBalancer") {
        (Some(c), true) => qualified_name(errs, c, &lbc),
        (Some(_), false) => errs.push(FieldError::forbidden(&lbc, "may only be used when `type` is 'LoadBalancer'")),
        _ => {}
    }
    let etp = s(&spec.external_traffic_policy);
    if !externally_accessible(&spec) {
        if !etp.is_empty() {
            errs.push(FieldError::invalid(
                &sp.child("externalTrafficPolicy"),
                etp,
                "may only be set for externally-accessible services",
            ));
        }
    } else {
        crate::kinds::common::enum_required(errs, etp, &["Cluster", "Local"], &sp.child("externalTrafficPolicy"));
    }
    let hc = spec.health_check_node_port.unwrap_or(0);
    if !needs_health_check(&spec) {
        if hc != 0 {
            errs.push(FieldError::invalid(
                &sp.child("healthCheckNodePort"),
                hc,
                "may only be set when `type` is 'LoadBalancer' and `externalTrafficPolicy` is 'Local'",
            ));
        }
    } else if hc != 0 {
        // 0 means "not allocated yet": allocation is the API server's and may follow admission.
        for m in names::is_valid_port_num(i64::from(hc)) {
            errs.push(FieldError::invalid(&sp.child("healthCheckNodePort"), hc, m));
        }
    }
    match &spec.internal_traffic_policy {
        None if matches!(ty, "NodePort" | "LoadBalancer" | "ClusterIP") => {
            errs.push(FieldError::required(&sp.child("internalTrafficPolicy"), ""));
        }
        Some(p) if p != "Cluster" && p != "Local" => {
            errs.push(FieldError::not_supported(&sp.child("internalTrafficPolicy"), p.as_str(), &["Cluster", "Local"]));
        }
        _ => {}
    }
    if let Some(td) = spec.traffic_distribution.as_deref().filter(|t| *t != "PreferClose") {
        errs.push(FieldError::not_supported(&sp.child("trafficDistribution"), td, &["PreferClose"]));
    }
}

/// Upstream's `ValidateServiceClusterIPsRelatedFields`.
fn validate_cluster_ips_and_families(errs: &mut FieldErrors, spec: &ServiceSpec) {
    if type_of(spec) == "ExternalName" {
        return;
    }
    let sp = FieldPath::new("spec");
    let ips_path = sp.child("clusterIPs");
    let ips = cluster_ips(spec);
    let ips_repr = go_string_slice(spec.cluster_ips.as_deref());
    let cluster_ip = s(&spec.cluster_ip);
    if !cluster_ip.is_empty() {
        if ips.is_empty() {
            errs.push(FieldError::required(&ips_path, ""));
        } else if ips[0] != cluster_ip {
            errs.push(invalid_repr(&ips_path, ips_repr.clone(), "first value must match `clusterIP`"));
        }
    } else if !ips.is_empty() {
        errs.push(invalid_repr(&ips_path, ips_repr.clone(), "must be empty when `clusterIP` is not specified"));
    }
    let mut seen = BTreeSet::new();
    for (i, f) in families(spec).iter().enumerate() {
        let fp = sp.child("ipFamilies").index(i);
        if f != "IPv4" && f != "IPv6" {
            errs.push(FieldError::not_supported(&fp, f.as_str(), &["IPv4", "IPv6"]));
        }
        if !seen.insert(f.as_str()) {
            errs.push(FieldError::duplicate(&fp, f.as_str()));
        }
    }
    if let Some(p) = &spec.ip_family_policy {
        const POLICIES: &[&str] = &["PreferDualStack", "RequireDualStack", "SingleStack"];
        if !POLICIES.contains(&p.as_str()) {
            errs.push(FieldError::not_supported(&sp.child("ipFamilyPolicy"), p.as_str(), POLICIES));
        }
    }
    let mut invalid = false;
    for (i, a) in ips.iter().enumerate() {
        if i == 0 && a == "None" {
            if ips.len() > 1 {
                invalid = true;
                errs.push(invalid_repr(&ips_path, ips_repr.clone(), "'None' must be the first and only value"));
            }
            continue;
        }
        let before = errs.len();
        ip(errs, a, &ips_path.index(i));
        invalid |= errs.len() != before;
    }
    if ips.len() > 2 {
        errs.push(invalid_repr(&ips_path, ips_repr.clone(), "may only hold up to 2 values"));
    }
    if invalid {
        return;
    }
    if ips.len() > 1 {
        let v6 = ips.iter().filter(|a| a.contains(':')).count();
        if v6 != 1 || ips.len() != 2 {
            errs.push(invalid_repr(&ips_path, ips_repr.clone(), "may specify no more than one IP for each IP family"));
        }
    }
    if !is_headless(spec) {
        for (i, (a, f)) in ips.iter().zip(families(spec)).enumerate() {
            let v6 = a.contains(':');
            if f == "IPv4" && v6 {
                errs.push(FieldError::invalid(
                    &ips_path.index(i),
                    a.as_str(),
                    format!("expected an IPv4 value as indicated by `ipFamilies[{i}]`"),
                ));
            }
            if f == "IPv6" && !v6 {
                errs.push(FieldError::invalid(
                    &ips_path.index(i),
                    a.as_str(),
                    format!("expected an IPv6 value as indicated by `ipFamilies[{i}]`"),
                ));
            }
        }
    }
}

/// Cluster IPs may gain or lose a secondary, never change the primary.
fn upgrade_downgrade_cluster_ips(errs: &mut FieldErrors, new: &ServiceSpec, old: &ServiceSpec) {
    if !needs_cluster_ip(new) || !needs_cluster_ip(old) || (is_headless(new) && is_headless(old)) {
        return;
    }
    let (n, o) = (cluster_ips(new), cluster_ips(old));
    let repr = go_string_slice(new.cluster_ips.as_deref());
    let ips_path = FieldPath::new("spec").child("clusterIPs");
    if n.len() == o.len() {
        for (i, a) in o.iter().enumerate() {
            if *a != n[i] {
                errs.push(invalid_repr(&ips_path.index(i), repr.clone(), "may not change once set"));
            }
        }
    } else if o.len() > n.len() {
        if n.is_empty() {
            errs.push(invalid_repr(&ips_path.index(0), repr.clone(), "primary clusterIP can not be unset"));
        }
        if !o.is_empty() && !n.is_empty() && n[0] != o[0] {
            errs.push(invalid_repr(&ips_path.index(0), repr.clone(), "may not change once set"));
        }
        if n.len() == 1 && s(&new.ip_family_policy) != "SingleStack" {
            errs.push(FieldError::invalid(
                &FieldPath::new("spec").child("ipFamilyPolicy"),
                new.ip_family_policy.clone().map_or(serde_json::Value::Null, Into::into),
                "must be set to 'SingleStack' when releasing the secondary clusterIP",
            ));
        }
    } else if !o.is_empty() && n[0] != o[0] {
        errs.push(invalid_repr(&ips_path.index(0), repr, "may not change once set"));
    }
}

/// IP families follow the same rules as cluster IPs (headless services may change them).
fn upgrade_downgrade_families(errs: &mut FieldErrors, new: &ServiceSpec, old: &ServiceSpec) {
    if !needs_cluster_ip(new) || !needs_cluster_ip(old) || is_headless(new) != is_headless(old) || is_headless(new) {
        return;
    }
    let (n, o) = (families(new), families(old));
    let fp = FieldPath::new("spec").child("ipFamilies").index(0);
    let repr = go_string_slice(new.ip_families.as_deref());
    if n.len() == o.len() {
        if n != o {
            errs.push(invalid_repr(&fp, repr, "may not change once set"));
        }
    } else if o.len() > n.len() {
        if cluster_ips(new).is_empty() {
            errs.push(invalid_repr(&fp, repr.clone(), "primary ipFamily can not be unset"));
        }
        if !n.is_empty() && n[0] != o[0] {
            errs.push(invalid_repr(&fp, go_string_slice(new.cluster_ips.as_deref()), "may not change once set"));
        }
        if n.len() == 1 && s(&new.ip_family_policy) != "SingleStack" {
            errs.push(FieldError::invalid(
                &FieldPath::new("spec").child("ipFamilyPolicy"),
                new.ip_family_policy.clone().map_or(serde_json::Value::Null, Into::into),
                "must be set to 'SingleStack' when releasing the secondary ipFamily",
            ));
        }
    } else if !o.is_empty() && !n.is_empty() && n[0] != o[0] {
        errs.push(invalid_repr(&fp, go_string_slice(new.cluster_ips.as_deref()), "may not change once set"));
    }
}

#[cfg(test)]
mod tests {
    use crate::strategy::Operation;
    use serde_json::{Value, json};

    fn admit(op: Operation, obj: Value, old: Option<&Value>) -> Result<Value, String> {
        let info = crate::registry().get("", "v1", "services").unwrap();
        info.strategy.admit(info, op, obj, old, false).map(|a| a.object).map_err(|e| e.to_string())
    }

    fn svc(spec: Value) -> Value {
        json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": "default"}, "spec": spec})
    }

    #[test]
    fn cluster_ip_defaults() {
        let s =
            admit(Operation::Create, svc(json!({"selector": {"app": "web"}, "ports": [{"port": 80}]})), None).unwrap();
        let spec = &s["spec"];
        assert_eq!(spec["type"], "ClusterIP");
        assert_eq!(spec["sessionAffinity"], "None");
        assert_eq!(spec["ports"][0], json!({"port": 80, "protocol": "TCP", "targetPort": 80}));
        assert_eq!(spec["internalTrafficPolicy"], "Cluster");
        assert_eq!(spec["ipFamilyPolicy"], "SingleStack");
        assert_eq!(spec["ipFamilies"], json!(["IPv4"]));
        assert!(spec.get("externalTrafficPolicy").is_none());
        assert_eq!(s["status"], json!({"loadBalancer": {}}));
    }

    #[test]
    fn node_port_and_load_balancer_defaults() {
        let s = admit(
            Operation::Create,
            svc(json!({"type": "LoadBalancer", "ports": [{"port": 443, "targetPort": "https"}]})),
            None,
        )
        .unwrap();
        assert_eq!(s["spec"]["externalTrafficPolicy"], "Cluster");
        assert_eq!(s["spec"]["allocateLoadBalancerNodePorts"], true);
        assert_eq!(s["spec"]["ports"][0]["targetPort"], "https");
        let s = admit(Operation::Create, svc(json!({"type": "NodePort", "ports": [{"port": 80}]})), None).unwrap();
        assert_eq!(s["spec"]["externalTrafficPolicy"], "Cluster");
    }

    #[test]
    fn port_rules() {
        let err = admit(Operation::Create, svc(json!({"ports": [{"port": 80}, {"port": 80, "name": "b"}]})), None)
            .unwrap_err();
        assert!(err.contains("spec.ports[0].name: Required value"), "{err}");
        assert!(err.contains(r#"spec.ports[1]: Duplicate value: core.ServicePort{Name:"", Protocol:"TCP""#), "{err}");
        let err = admit(Operation::Create, svc(json!({"type": "Funky", "ports": [{"port": 80}]})), None).unwrap_err();
        assert!(err.contains(r#"spec.type: Unsupported value: "Funky": supported values: "ClusterIP", "ExternalName", "LoadBalancer", "NodePort""#), "{err}");
        let err = admit(Operation::Create, svc(json!({})), None).unwrap_err();
        assert_eq!(err, "spec.ports: Required value");
        assert!(admit(Operation::Create, svc(json!({"clusterIP": "None"})), None).is_ok());
        let err = admit(Operation::Create, svc(json!({"ports": [{"port": 80, "nodePort": 30000}]})), None).unwrap_err();
        assert_eq!(err, "spec.ports[0].nodePort: Forbidden: may not be used when `type` is 'ClusterIP'");
    }

    #[test]
    fn cluster_ip_may_not_change() {
        let old =
            admit(Operation::Create, svc(json!({"clusterIP": "10.96.0.10", "ports": [{"port": 80}]})), None).unwrap();
        assert_eq!(old["spec"]["clusterIPs"], json!(["10.96.0.10"]));
        let mut new = old.clone();
        new["spec"]["clusterIP"] = json!("10.96.0.11");
        let err = admit(Operation::Update, new, Some(&old)).unwrap_err();
        assert_eq!(err, r#"spec.clusterIPs[0]: Invalid value: []string{"10.96.0.11"}: may not change once set"#);

        // A manifest without the allocated IP keeps it.
        let mut new = old.clone();
        new["spec"].as_object_mut().unwrap().remove("clusterIP");
        new["spec"].as_object_mut().unwrap().remove("clusterIPs");
        let out = admit(Operation::Update, new, Some(&old)).unwrap();
        assert_eq!(out["spec"]["clusterIP"], "10.96.0.10");
    }

    #[test]
    fn switching_to_external_name_drops_cluster_fields() {
        let old =
            admit(Operation::Create, svc(json!({"clusterIP": "10.96.0.10", "ports": [{"port": 80}]})), None).unwrap();
        let mut new = old.clone();
        new["spec"]["type"] = json!("ExternalName");
        new["spec"]["externalName"] = json!("example.com");
        let out = admit(Operation::Update, new, Some(&old)).unwrap();
        assert!(out["spec"].get("clusterIP").is_none(), "{out}");
        assert!(out["spec"].get("ipFamilies").is_none());
    }
}
