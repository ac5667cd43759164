//! Endpoints (core) and EndpointSlices (discovery.k8s.io): port protocols default to TCP,
//! addresses must be valid non-special IPs, as upstream's `ValidateEndpoints` and
//! `ValidateEndpointSlice`.

use std::collections::BTreeSet;
use std::net::IpAddr;

use k8s_openapi::api::core::v1::{EndpointAddress, Endpoints};
use k8s_openapi::api::discovery::v1::EndpointSlice;

use crate::field_errors::{FieldError, FieldErrors, FieldPath};
use crate::kinds::common::{
    default_str, default_to, dns1123_label, dns1123_subdomain, enum_required, immutable, ip, labels, parse_ip,
    qualified_name, s,
};
use crate::names;
use crate::strategy::KindRules;

/// Upstream's `ValidateNonSpecialIP`: no unspecified, loopback or link-local addresses.
pub fn non_special_ip(errs: &mut FieldErrors, addr: &str, path: &FieldPath) {
    let Some(a) = parse_ip(addr) else {
        errs.push(FieldError::invalid(path, addr, "must be a valid IP address"));
        return;
    };
    let (unspecified, loopback, link_local, link_local_multicast) = match a {
        IpAddr::V4(v) => (v.is_unspecified(), v.is_loopback(), v.is_link_local(), v.octets()[..3] == [224, 0, 0]),
        IpAddr::V6(v) => {
            let seg = v.segments();
            (v.is_unspecified(), v.is_loopback(), seg[0] & 0xffc0 == 0xfe80, seg[0] & 0xff0f == 0xff02)
        }
    };
    if unspecified {
        errs.push(FieldError::invalid(path, addr, format!("may not be unspecified ({addr})")));
    }
    if loopback {
        errs.push(FieldError::invalid(path, addr, "may not be in the loopback range (127.0.0.0/8, ::1/128)"));
    }
    if link_local {
        errs.push(FieldError::invalid(path, addr, "may not be in the link-local range (169.254.0.0/16, fe80::/10)"));
    }
    if link_local_multicast {
        errs.push(FieldError::invalid(
            path,
            addr,
            "may not be in the link-local multicast range (224.0.0.0/24, ff02::/10)",
        ));
    }
}

const PROTOCOLS: &[&str] = &["SCTP", "TCP", "UDP"];

impl KindRules for Endpoints {
    fn default_fields(&mut self) {
        for p in self.subsets.iter_mut().flatten().flat_map(|s| s.ports.iter_mut().flatten()) {
            default_str(&mut p.protocol, "TCP");
        }
    }

    fn validate(&self) -> FieldErrors {
        let mut errs = FieldErrors::new();
        let path = FieldPath::new("subsets");
        for (i, ss) in self.subsets.iter().flatten().enumerate() {
            let p = path.index(i);
            let addrs = ss.addresses.as_deref().unwrap_or_default();
            let not_ready = ss.not_ready_addresses.as_deref().unwrap_or_default();
            if addrs.is_empty() && not_ready.is_empty() {
                errs.push(FieldError::required(&p, "must specify `addresses` or `notReadyAddresses`"));
            }
            for (j, a) in addrs.iter().enumerate() {
                address(&mut errs, a, &p.child("addresses").index(j));
            }
            for (j, a) in not_ready.iter().enumerate() {
                address(&mut errs, a, &p.child("notReadyAddresses").index(j));
            }
            let ports = ss.ports.as_deref().unwrap_or_default();
            for (j, port) in ports.iter().enumerate() {
                let pp = p.child("ports").index(j);
                let name = s(&port.name);
                if ports.len() > 1 && name.is_empty() {
                    errs.push(FieldError::required(&pp.child("name"), ""));
                } else if !name.is_empty() {
                    dns1123_label(&mut errs, name, &pp.child("name"));
                }
                for m in names::is_valid_port_num(i64::from(port.port)) {
                    errs.push(FieldError::invalid(&pp.child("port"), port.port, m));
                }
                enum_required(&mut errs, s(&port.protocol), PROTOCOLS, &pp.child("protocol"));
                if let Some(ap) = &port.app_protocol {
                    qualified_name(&mut errs, ap, &pp.child("appProtocol"));
                }
            }
        }
        errs
    }
}

fn address(errs: &mut FieldErrors, a: &EndpointAddress, path: &FieldPath) {
    ip(errs, &a.ip, &path.child("ip"));
    if !s(&a.hostname).is_empty() {
        dns1123_label(errs, s(&a.hostname), &path.child("hostname"));
    }
    if let Some(n) = &a.node_name {
        dns1123_subdomain(errs, n, &path.child("nodeName"));
    }
    non_special_ip(errs, &a.ip, &path.child("ip"));
}

impl KindRules for EndpointSlice {
    fn default_fields(&mut self) {
        for p in self.ports.iter_mut().flatten() {
            default_to(&mut p.name, String::new());
            default_to(&mut p.protocol, "TCP".to_string());
        }
    }

    fn validate(&self) -> FieldErrors {
        let mut errs = FieldErrors::new();
        let at = self.address_type.as_str();
        enum_required(&mut errs, at, &["FQDN", "IPv4", "IPv6"], &FieldPath::new("addressType"));
        let ep_path = FieldPath::new("endpoints");
        if self.endpoints.len() > 1000 {
            errs.push(FieldError::too_many(&ep_path, self.endpoints.len(), 1000));
        } else {
            for (i, e) in self.endpoints.iter().enumerate() {
                let p = ep_path.index(i);
                let ap = p.child("addresses");
                if e.addresses.is_empty() {
                    errs.push(FieldError::required(&ap, "must contain at least 1 address"));
                } else if e.addresses.len() > 100 {
                    errs.push(FieldError::too_many(&ap, e.addresses.len(), 100));
                }
                for (j, a) in e.addresses.iter().enumerate() {
                    let aip = ap.index(j);
                    match at {
                        "IPv4" | "IPv6" => {
                            let ok = parse_ip(a).is_some_and(|x| x.is_ipv4() == (at == "IPv4"));
                            if ok {
                                non_special_ip(&mut errs, a, &aip);
                            } else {
                                errs.push(FieldError::invalid(
                                    &aip,
                                    a.as_str(),
                                    format!("must be a valid {at} address"),
                                ));
                            }
                        }
                        "FQDN" => {
                            let trimmed = a.strip_suffix('.').unwrap_or(a);
                            if trimmed.split('.').count() < 2 {
                                errs.push(FieldError::invalid(
                                    &aip,
                                    a.as_str(),
                                    "should be a domain with at least two segments separated by dots",
                                ));
                            } else {
                                for m in names::is_dns1123_subdomain(trimmed) {
                                    errs.push(FieldError::invalid(&aip, a.as_str(), m));
                                }
                            }
                        }
                        _ => {}
                    }
                }
                if let Some(n) = &e.node_name {
                    dns1123_subdomain(&mut errs, n, &p.child("nodeName"));
                }
                let tp = p.child("deprecatedTopology");
                let topo = e.deprecated_topology.as_ref();
                if topo.is_some_and(|t| t.len() > 16) {
                    errs.push(FieldError::too_many(&tp, topo.map_or(0, |t| t.len()), 16));
                }
                labels(&mut errs, topo, &tp);
                if let Some(h) = &e.hostname {
                    dns1123_label(&mut errs, h, &p.child("hostname"));
                }
                if let Some(h) = &e.hints {
                    let zones = h.for_zones.as_deref().unwrap_or_default();
                    if zones.len() > 8 {
                        errs.push(FieldError::too_many(&p.child("hints").child("forZones"), zones.len(), 8));
                    }
                }
            }
        }
        let ports = self.ports.as_deref().unwrap_or_default();
        let mut seen = BTreeSet::new();
        for (i, port) in ports.iter().enumerate() {
            let pp = FieldPath::new("ports").index(i);
            let name = s(&port.name);
            if !name.is_empty() {
                dns1123_label(&mut errs, name, &pp.child("name"));
            }
            if !seen.insert(name) {
                errs.push(FieldError::duplicate(&pp.child("name"), name));
            }
            match &port.protocol {
                None => errs.push(FieldError::required(&pp.child("protocol"), "")),
                Some(pr) if !PROTOCOLS.contains(&pr.as_str()) => {
                    errs.push(FieldError::not_supported(&pp.child("protocol"), pr.as_str(), PROTOCOLS))
                }
                Some(_) => {}
            }
            if let Some(ap) = &port.app_protocol {
                qualified_name(&mut errs, ap, &pp.child("appProtocol"));
            }
        }
        errs
    }

    fn validate_update(&self, old: &Self) -> FieldErrors {
        let mut errs = self.validate();
        if self.address_type != old.address_type {
            errs.push(immutable(&FieldPath::new("addressType"), self.address_type.as_str()));
        }
        errs
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::strategy::Operation;
    use serde_json::json;

    #[test]
    fn special_ips_are_rejected() {
        let mut errs = FieldErrors::new();
        non_special_ip(&mut errs, "127.0.0.1", &FieldPath::new("ip"));
        non_special_ip(&mut errs, "169.254.1.1", &FieldPath::new("ip"));
        non_special_ip(&mut errs, "10.1.2.3", &FieldPath::new("ip"));
        assert_eq!(errs.len(), 2);
    }

    #[test]
    fn endpoints_defaults_and_validation() {
        let info = crate::registry().get("", "v1", "endpoints").unwrap();
        let ep = json!({"metadata": {"name": "web", "namespace": "default"}, "subsets": [{"addresses": [{"ip": "10.0.0.5"}], "ports": [{"port": 80}]}]});
        let out = info.strategy.admit(info, Operation::Create, ep, None, false).unwrap().object;
        assert_eq!(out["subsets"][0]["ports"][0]["protocol"], "TCP");
        let bad = json!({"metadata": {"name": "web", "namespace": "default"}, "subsets": [{"ports": [{"port": 80}]}]});
        let err = info.strategy.admit(info, Operation::Create, bad, None, false).unwrap_err().to_string();
        assert_eq!(err, "subsets[0]: Required value: must specify `addresses` or `notReadyAddresses`");
    }

    #[test]
    fn endpoint_slices() {
        let info = crate::registry().get("discovery.k8s.io", "v1", "endpointslices").unwrap();
        let es = json!({"metadata": {"name": "web-abc", "namespace": "default"}, "addressType": "IPv4",
            "endpoints": [{"addresses": ["10.0.0.5"]}], "ports": [{"port": 80}]});
        let out = info.strategy.admit(info, Operation::Create, es.clone(), None, false).unwrap().object;
        assert_eq!(out["ports"][0], json!({"name": "", "port": 80, "protocol": "TCP"}));
        let mut bad = es.clone();
        bad["endpoints"][0]["addresses"] = json!(["::1"]);
        let err = info.strategy.admit(info, Operation::Create, bad, None, false).unwrap_err().to_string();
        assert_eq!(err, r#"endpoints[0].addresses[0]: Invalid value: "::1": must be a valid IPv4 address"#);
        let mut changed = out.clone();
        changed["addressType"] = json!("IPv6");
        changed["endpoints"][0]["addresses"] = json!(["fd00::1"]);
        let err = info.strategy.admit(info, Operation::Update, changed, Some(&out), false).unwrap_err().to_string();
        assert_eq!(err, r#"addressType: Invalid value: "IPv6": field is immutable"#);
    }
}
