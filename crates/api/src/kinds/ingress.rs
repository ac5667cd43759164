//! Ingresses and IngressClasses (networking.k8s.io/v1): rules or a default backend, hosts that
//! are DNS names (wildcards allowed), typed absolute paths, one backend kind per backend; an
//! IngressClass names its controller and a parameters reference scoped sensibly.

use k8s_openapi::api::networking::v1::{Ingress, IngressBackend, IngressClass, IngressStatus};

use crate::field_errors::{FieldError, FieldErrors, FieldPath};
use crate::kinds::common::{
    IMMUTABLE_MSG, dns1035_label, dns1123_label, dns1123_subdomain, invalid_repr, ip, parse_ip, s,
};
use crate::names;
use crate::strategy::KindRules;

const PATH_TYPES: &[&str] = &["Exact", "ImplementationSpecific", "Prefix"];

impl KindRules for Ingress {
    fn prepare_for_create(&mut self) {
        self.status = Some(IngressStatus::default());
    }

    fn validate(&self) -> FieldErrors {
        let mut errs = FieldErrors::new();
        let spec = self.spec.clone().unwrap_or_default();
        let p = FieldPath::new("spec");
        let rules = spec.rules.clone().unwrap_or_default();
        if rules.is_empty() && spec.default_backend.is_none() {
            let repr =
                if spec.rules.is_none() { "[]networking.IngressRule(nil)" } else { "[]networking.IngressRule{}" };
            errs.push(invalid_repr(&p.child("rules"), repr, "either `defaultBackend` or `rules` must be specified"));
        }
        if let Some(b) = &spec.default_backend {
            backend(&mut errs, b, &p.child("defaultBackend"));
        }
        for (i, r) in rules.iter().enumerate() {
            let rp = p.child("rules").index(i);
            let host = s(&r.host);
            if !host.is_empty() {
                host_name(&mut errs, host, &rp.child("host"));
            }
            if let Some(http) = &r.http {
                let pp = rp.child("http").child("paths");
                if http.paths.is_empty() {
                    errs.push(FieldError::required(&pp, ""));
                }
                for (j, path) in http.paths.iter().enumerate() {
                    let ip_ = pp.index(j);
                    let value = s(&path.path);
                    match path.path_type.as_str() {
                        "" => errs.push(FieldError::required(&ip_.child("pathType"), "pathType must be specified")),
                        "Exact" | "Prefix" => {
                            if !value.starts_with('/') {
                                errs.push(FieldError::invalid(&ip_.child("path"), value, "must be an absolute path"));
                            }
                            for seq in ["//", "/./", "/../", "%2f", "%2F"] {
                                if value.contains(seq) {
                                    errs.push(FieldError::invalid(
                                        &ip_.child("path"),
                                        value,
                                        format!("must not contain '{seq}'"),
                                    ));
                                }
                            }
                            for suffix in ["/..", "/."] {
                                if value.ends_with(suffix) {
                                    errs.push(FieldError::invalid(
                                        &ip_.child("path"),
                                        value,
                                        format!("cannot end with '{suffix}'"),
                                    ));
                                }
                            }
                        }
                        "ImplementationSpecific" => {
                            if !value.is_empty() && !value.starts_with('/') {
                                errs.push(FieldError::invalid(&ip_.child("path"), value, "must be an absolute path"));
                            }
                        }
                        other => errs.push(FieldError::not_supported(&ip_.child("pathType"), other, PATH_TYPES)),
                    }
                    backend(&mut errs, &path.backend, &ip_.child("backend"));
                }
            }
        }
        for (i, tls) in spec.tls.iter().flatten().enumerate() {
            let tp = p.child("tls").index(i);
            for (j, h) in tls.hosts.iter().flatten().enumerate() {
                host_name(&mut errs, h, &tp.child("hosts").index(j));
            }
            if !s(&tls.secret_name).is_empty() {
                dns1123_subdomain(&mut errs, s(&tls.secret_name), &tp.child("secretName"));
            }
        }
        if let Some(c) = &spec.ingress_class_name {
            dns1123_subdomain(&mut errs, c, &p.child("ingressClassName"));
        }
        errs
    }

    fn validate_status_update(&self, _old: &Self) -> FieldErrors {
        let mut errs = FieldErrors::new();
        let lb = FieldPath::new("status").child("loadBalancer").child("ingress");
        for (i, ing) in
            self.status.iter().flat_map(|s| s.load_balancer.iter()).flat_map(|l| l.ingress.iter().flatten()).enumerate()
        {
            if !s(&ing.ip).is_empty() {
                ip(&mut errs, s(&ing.ip), &lb.index(i).child("ip"));
            }
            let host = s(&ing.hostname);
            if !host.is_empty() {
                dns1123_subdomain(&mut errs, host, &lb.index(i).child("hostname"));
                if parse_ip(host).is_some() {
                    errs.push(FieldError::invalid(
                        &lb.index(i).child("hostname"),
                        host,
                        "must be a DNS name, not an IP address",
                    ));
                }
            }
        }
        errs
    }
}

/// A rule or TLS host: a DNS name, possibly with a leading `*.` wildcard, never an IP.
fn host_name(errs: &mut FieldErrors, host: &str, path: &FieldPath) {
    if parse_ip(host).is_some() {
        errs.push(FieldError::invalid(path, host, "must be a DNS name, not an IP address"));
    }
    if let Some(rest) = host.strip_prefix("*.") {
        if !names::is_dns1123_subdomain(rest).is_empty() {
            errs.push(FieldError::invalid(
                path,
                host,
                "a wildcard DNS-1123 subdomain must start with '*.', followed by a valid DNS subdomain, which must consist of lower case alphanumeric characters, '-' or '.' and end with an alphanumeric character (e.g. '*.example.com', regex used for validation is '\\*\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')",
            ));
        }
    } else {
        dns1123_subdomain(errs, host, path);
    }
}

fn backend(errs: &mut FieldErrors, b: &IngressBackend, path: &FieldPath) {
    match (&b.resource, &b.service) {
        (Some(_), Some(_)) => errs.push(FieldError::invalid(path, "", "cannot set both resource and service backends")),
        (Some(r), None) => {
            let rp = path.child("resource");
            if r.name.is_empty() {
                errs.push(FieldError::required(&rp.child("name"), ""));
            }
            if r.kind.is_empty() {
                errs.push(FieldError::required(&rp.child("kind"), ""));
            }
            if r.api_group.as_deref().is_none_or(str::is_empty) {
                errs.push(FieldError::required(&rp.child("apiGroup"), ""));
            } else {
                dns1123_subdomain(errs, s(&r.api_group), &rp.child("apiGroup"));
            }
        }
        (None, Some(svc)) => {
            let sp = path.child("service");
            if svc.name.is_empty() {
                errs.push(FieldError::required(&sp.child("name"), ""));
            } else {
                dns1035_label(errs, &svc.name, &sp.child("name"));
            }
            let port = svc.port.clone().unwrap_or_default();
            let (name, number) = (s(&port.name), port.number.unwrap_or(0));
            match (!name.is_empty(), number != 0) {
                (true, true) => errs.push(FieldError::invalid(path, "", "cannot set both port name & port number")),
                (true, false) => {
                    for m in names::is_valid_port_name(name) {
                        errs.push(FieldError::invalid(&sp.child("port").child("name"), name, m));
                    }
                }
                (false, true) => {
                    for m in names::is_valid_port_num(i64::from(number)) {
                        errs.push(FieldError::invalid(&sp.child("port").child("number"), number, m));
                    }
                }
                (false, false) => errs.push(FieldError::required(path, "port name or number is required")),
            }
        }
        (None, None) => errs.push(FieldError::invalid(path, "", "resource or service backend is required")),
    }
}

impl KindRules for IngressClass {
    fn default_fields(&mut self) {
        if let Some(p) = self.spec.as_mut().and_then(|s| s.parameters.as_mut()) {
            crate::kinds::common::default_to(&mut p.scope, "Cluster".to_string());
        }
    }

    fn validate(&self) -> FieldErrors {
        let mut errs = FieldErrors::new();
        let spec = self.spec.clone().unwrap_or_default();
        let p = FieldPath::new("spec");
        let controller = s(&spec.controller);
        let cp = p.child("controller");
        if controller.is_empty() {
            errs.push(FieldError::required(&cp, ""));
        } else if controller.len() > 250 {
            errs.push(FieldError::too_long(&cp, 250));
        } else {
            match controller.split_once('/') {
                None => errs.push(FieldError::invalid(
                    &cp,
                    controller,
                    "must be a domain-prefixed path (such as \"acme.io/foo\")",
                )),
                Some((host, _)) => dns1123_subdomain(&mut errs, host, &cp),
            }
        }
        if let Some(params) = &spec.parameters {
            let pp = p.child("parameters");
            if params.kind.is_empty() {
                errs.push(FieldError::required(&pp.child("kind"), ""));
            } else {
                for m in names::is_path_segment_name(&params.kind) {
                    errs.push(FieldError::invalid(&pp.child("kind"), params.kind.as_str(), m));
                }
            }
            if params.name.is_empty() {
                errs.push(FieldError::required(&pp.child("name"), ""));
            } else {
                for m in names::is_path_segment_name(&params.name) {
                    errs.push(FieldError::invalid(&pp.child("name"), params.name.as_str(), m));
                }
            }
            if let Some(g) = params.api_group.as_deref().filter(|g| !g.is_empty()) {
                dns1123_subdomain(&mut errs, g, &pp.child("apiGroup"));
            }
            match params.scope.as_deref() {
                None => errs.push(FieldError::required(&pp.child("scope"), "")),
                Some("Namespace") => match params.namespace.as_deref() {
                    None | Some("") => errs
                        .push(FieldError::required(&pp.child("namespace"), "`parameters.scope` is set to 'Namespace'")),
                    Some(ns) => dns1123_label(&mut errs, ns, &pp.child("namespace")),
                },
                Some("Cluster") => {
                    if params.namespace.is_some() {
                        errs.push(FieldError::forbidden(
                            &pp.child("namespace"),
                            "`parameters.scope` is set to 'Cluster'",
                        ));
                    }
                }
                Some(other) => {
                    errs.push(FieldError::not_supported(&pp.child("scope"), other, &["Cluster", "Namespace"]))
                }
            }
        }
        errs
    }

    fn validate_update(&self, old: &Self) -> FieldErrors {
        let mut errs = self.validate();
        let new_c = self.spec.as_ref().and_then(|s| s.controller.clone());
        let old_c = old.spec.as_ref().and_then(|s| s.controller.clone());
        if new_c != old_c {
            errs.push(FieldError::invalid(
                &FieldPath::new("spec").child("controller"),
                new_c.unwrap_or_default(),
                IMMUTABLE_MSG,
            ));
        }
        errs
    }
}

#[cfg(test)]
mod tests {
    use crate::strategy::Operation;
    use serde_json::{Value, json};

    fn admit(plural: &str, obj: Value) -> Result<Value, String> {
        let info = crate::registry().get("networking.k8s.io", "v1", plural).unwrap();
        info.strategy.admit(info, Operation::Create, obj, None, false).map(|a| a.object).map_err(|e| e.to_string())
    }

    #[test]
    fn ingress_rules() {
        let ok = json!({"metadata": {"name": "i", "namespace": "d"}, "spec": {"rules": [{"host": "*.example.com", "http": {"paths": [
            {"path": "/", "pathType": "Prefix", "backend": {"service": {"name": "web", "port": {"number": 80}}}}]}}]}});
        assert!(admit("ingresses", ok).is_ok());
        let err = admit("ingresses", json!({"metadata": {"name": "i", "namespace": "d"}, "spec": {}})).unwrap_err();
        assert_eq!(
            err,
            "spec.rules: Invalid value: []networking.IngressRule(nil): either `defaultBackend` or `rules` must be specified"
        );
        let bad = json!({"metadata": {"name": "i", "namespace": "d"}, "spec": {"rules": [{"host": "10.0.0.1", "http": {"paths": [
            {"path": "api", "pathType": "Exact", "backend": {"service": {"name": "web"}}}]}}]}});
        let err = admit("ingresses", bad).unwrap_err();
        for want in [
            r#"spec.rules[0].host: Invalid value: "10.0.0.1": must be a DNS name, not an IP address"#,
            r#"spec.rules[0].http.paths[0].path: Invalid value: "api": must be an absolute path"#,
            "spec.rules[0].http.paths[0].backend: Required value: port name or number is required",
        ] {
            assert!(err.contains(want), "missing {want}\n in {err}");
        }
    }

    #[test]
    fn ingress_class() {
        let out = admit(
            "ingressclasses",
            json!({"metadata": {"name": "nginx"}, "spec": {"controller": "k8s.io/ingress-nginx",
            "parameters": {"kind": "IngressParameters", "name": "p", "apiGroup": "k8s.example.com"}}}),
        )
        .unwrap();
        assert_eq!(out["spec"]["parameters"]["scope"], "Cluster");
        let err = admit("ingressclasses", json!({"metadata": {"name": "nginx"}, "spec": {}})).unwrap_err();
        assert_eq!(err, "spec.controller: Required value");
    }
}
