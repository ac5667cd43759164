//! NetworkPolicies: `policyTypes` default to Ingress (plus Egress when egress rules exist), port
//! protocols to TCP; ports, peers and IP blocks are validated as upstream's
//! `ValidateNetworkPolicySpec` does.

use k8s_openapi::api::networking::v1::{IPBlock, NetworkPolicy, NetworkPolicyPeer, NetworkPolicyPort};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::field_errors::{FieldError, FieldErrors, FieldPath};
use crate::kinds::common::{cidr, json, label_selector, parse_ip};
use crate::names;
use crate::strategy::KindRules;

impl KindRules for NetworkPolicy {
    fn default_fields(&mut self) {
        let spec = self.spec.get_or_insert_with(Default::default);
        let ingress = spec.ingress.iter_mut().flatten().flat_map(|r| r.ports.iter_mut().flatten());
        let egress = spec.egress.iter_mut().flatten().flat_map(|r| r.ports.iter_mut().flatten());
        for p in ingress.chain(egress) {
            crate::kinds::common::default_to(&mut p.protocol, "TCP".to_string());
        }
        if spec.policy_types.as_ref().is_none_or(Vec::is_empty) {
            let mut types = vec!["Ingress".to_string()];
            if spec.egress.as_ref().is_some_and(|e| !e.is_empty()) {
                types.push("Egress".to_string());
            }
            spec.policy_types = Some(types);
        }
    }

    fn validate(&self) -> FieldErrors {
        let mut errs = FieldErrors::new();
        let spec = self.spec.clone().unwrap_or_default();
        let p = FieldPath::new("spec");
        label_selector(&mut errs, spec.pod_selector.as_ref(), &p.child("podSelector"));
        for (i, r) in spec.ingress.iter().flatten().enumerate() {
            let rp = p.child("ingress").index(i);
            for (j, port) in r.ports.iter().flatten().enumerate() {
                validate_port(&mut errs, port, &rp.child("ports").index(j));
            }
            for (j, peer) in r.from.iter().flatten().enumerate() {
                validate_peer(&mut errs, peer, &rp.child("from").index(j));
            }
        }
        for (i, r) in spec.egress.iter().flatten().enumerate() {
            let rp = p.child("egress").index(i);
            for (j, port) in r.ports.iter().flatten().enumerate() {
                validate_port(&mut errs, port, &rp.child("ports").index(j));
            }
            for (j, peer) in r.to.iter().flatten().enumerate() {
                validate_peer(&mut errs, peer, &rp.child("to").index(j));
            }
        }
        let types = spec.policy_types.clone().unwrap_or_default();
        if types.len() > 2 {
            errs.push(FieldError::invalid(
                &p.child("policyTypes"),
                json(&types),
                "may not specify more than two policyTypes",
            ));
            return errs;
        }
        for (i, t) in types.iter().enumerate() {
            if t != "Ingress" && t != "Egress" {
                errs.push(FieldError::not_supported(
                    &p.child("policyTypes").index(i),
                    t.as_str(),
                    &["Ingress", "Egress"],
                ));
            }
        }
        errs
    }
}

fn validate_port(errs: &mut FieldErrors, port: &NetworkPolicyPort, path: &FieldPath) {
    if let Some(proto) = port.protocol.as_deref().filter(|p| !["TCP", "UDP", "SCTP"].contains(p)) {
        errs.push(FieldError::not_supported(&path.child("protocol"), proto, &["TCP", "UDP", "SCTP"]));
    }
    match &port.port {
        Some(IntOrString::Int(n)) => {
            for m in names::is_valid_port_num(i64::from(*n)) {
                errs.push(FieldError::invalid(&path.child("port"), *n, m));
            }
            if let Some(end) = port.end_port {
                if end < *n {
                    errs.push(FieldError::invalid(
                        &path.child("endPort"),
                        *n,
                        "must be greater than or equal to `port`",
                    ));
                }
                for m in names::is_valid_port_num(i64::from(end)) {
                    errs.push(FieldError::invalid(&path.child("endPort"), end, m));
                }
            }
        }
        Some(IntOrString::String(name)) => {
            if let Some(end) = port.end_port {
                errs.push(FieldError::invalid(
                    &path.child("endPort"),
                    end,
                    "may not be specified when `port` is non-numeric",
                ));
            }
            for m in names::is_valid_port_name(name) {
                errs.push(FieldError::invalid(&path.child("port"), name.as_str(), m));
            }
        }
        None => {
            if let Some(end) = port.end_port {
                errs.push(FieldError::invalid(
                    &path.child("endPort"),
                    end,
                    "may not be specified when `port` is not specified",
                ));
            }
        }
    }
}

fn validate_peer(errs: &mut FieldErrors, peer: &NetworkPolicyPeer, path: &FieldPath) {
    let mut n = 0;
    if let Some(s) = &peer.pod_selector {
        n += 1;
        label_selector(errs, Some(s), &path.child("podSelector"));
    }
    if let Some(s) = &peer.namespace_selector {
        n += 1;
        label_selector(errs, Some(s), &path.child("namespaceSelector"));
    }
    if let Some(b) = &peer.ip_block {
        n += 1;
        validate_ip_block(errs, b, &path.child("ipBlock"));
    }
    if n == 0 {
        errs.push(FieldError::required(path, "must specify a peer"));
    } else if n > 1 && peer.ip_block.is_some() {
        errs.push(FieldError::forbidden(path, "may not specify both ipBlock and another peer"));
    }
}

/// `(network bits as u128, prefix length, is v6)` of a CIDR.
fn parse_cidr(c: &str) -> Option<(u128, u32, bool)> {
    let (addr, bits) = c.split_once('/')?;
    let ip = parse_ip(addr)?;
    let bits: u32 = bits.parse().ok()?;
    let (value, width, v6) = match ip {
        std::net::IpAddr::V4(v) => (u128::from(u32::from(v)), 32, false),
        std::net::IpAddr::V6(v) => (u128::from(v), 128, true),
    };
    if bits > width {
        return None;
    }
    let mask = if bits == 0 { 0 } else { (!0u128 << (width - bits)) & if v6 { !0 } else { u128::from(u32::MAX) } };
    Some((value & mask, bits, v6))
}

fn validate_ip_block(errs: &mut FieldErrors, b: &IPBlock, path: &FieldPath) {
    if b.cidr.is_empty() {
        errs.push(FieldError::required(&path.child("cidr"), ""));
        return;
    }
    cidr(errs, &b.cidr, &path.child("cidr"));
    let Some((net, bits, v6)) = parse_cidr(&b.cidr) else { return };
    for (i, e) in b.except.iter().flatten().enumerate() {
        let ep = path.child("except").index(i);
        cidr(errs, e, &ep);
        let Some((enet, ebits, ev6)) = parse_cidr(e) else { continue };
        let width = if v6 { 128 } else { 32 };
        let mask = if bits == 0 { 0 } else { (!0u128 << (width - bits)) & if v6 { !0 } else { u128::from(u32::MAX) } };
        let contained = ev6 == v6 && enet & mask == net;
        if !contained || bits >= ebits {
            errs.push(FieldError::invalid(&ep, e.as_str(), "must be a strict subset of `cidr`"));
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::strategy::Operation;
    use serde_json::json;

    #[test]
    fn defaults_and_peers() {
        let info = crate::registry().get("networking.k8s.io", "v1", "networkpolicies").unwrap();
        let np = json!({"metadata": {"name": "n", "namespace": "d"}, "spec": {"podSelector": {},
            "egress": [{"ports": [{"port": 53}], "to": [{"ipBlock": {"cidr": "10.0.0.0/8", "except": ["10.1.0.0/16"]}}]}]}});
        let out = info.strategy.admit(info, Operation::Create, np, None, false).unwrap().object;
        assert_eq!(out["spec"]["policyTypes"], json!(["Ingress", "Egress"]));
        assert_eq!(out["spec"]["egress"][0]["ports"][0]["protocol"], "TCP");
        let bad = json!({"metadata": {"name": "n", "namespace": "d"}, "spec": {"podSelector": {}, "ingress": [{"from": [{}, {"ipBlock": {"cidr": "10.0.0.0/16", "except": ["192.168.0.0/24"]}}]}]}});
        let err = info.strategy.admit(info, Operation::Create, bad, None, false).unwrap_err().to_string();
        assert_eq!(
            err,
            r#"[spec.ingress[0].from[0]: Required value: must specify a peer, spec.ingress[0].from[1].ipBlock.except[0]: Invalid value: "192.168.0.0/24": must be a strict subset of `cidr`]"#
        );
    }
}
