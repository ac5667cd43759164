//! Service cluster IP and NodePort allocation.
//!
//! Allocation is serialized by one lock held across "find what is used, pick, store", and what
//! is used is read from the (fresh) watch cache, so there is no separate bitmap to keep in sync
//! and nothing to leak when a service is deleted.

use std::collections::HashSet;
use std::net::Ipv4Addr;

use serde_json::Value;
use skiff_api::field_errors::{FieldError, FieldErrors, FieldPath};

/// An IPv4 range given in CIDR form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    pub base: u32,
    pub prefix: u8,
}

impl Cidr {
    pub fn parse(s: &str) -> Option<Cidr> {
        let (ip, len) = s.split_once('/')?;
        let ip: Ipv4Addr = ip.parse().ok()?;
        let prefix: u8 = len.parse().ok().filter(|p| *p <= 30)?;
        let mask = u32::MAX.checked_shl(32 - prefix as u32).unwrap_or(0);
        Some(Cidr { base: u32::from(ip) & mask, prefix })
    }

    fn size(&self) -> u32 {
        1u32 << (32 - self.prefix as u32)
    }

    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        let ip = u32::from(ip);
        ip >= self.base && ip < self.base + self.size()
    }

    /// The n-th address (the first is the `kubernetes` service's).
    pub fn nth(&self, n: u32) -> Ipv4Addr {
        Ipv4Addr::from(self.base + n)
    }

    /// Usable service addresses: not the network address, not the broadcast address.
    fn usable(&self) -> std::ops::Range<u32> {
        1..self.size() - 1
    }
}

/// What services already hold.
#[derive(Debug, Default)]
pub struct InUse {
    pub ips: HashSet<Ipv4Addr>,
    pub node_ports: HashSet<u16>,
}

impl InUse {
    pub fn add_service(&mut self, svc: &Value) {
        let spec = &svc["spec"];
        for ip in spec["clusterIPs"].as_array().into_iter().flatten().chain(std::iter::once(&spec["clusterIP"])) {
            if let Some(ip) = ip.as_str().and_then(|s| s.parse().ok()) {
                self.ips.insert(ip);
            }
        }
        for p in spec["ports"].as_array().into_iter().flatten() {
            if let Some(n) = p["nodePort"].as_u64() {
                self.node_ports.insert(n as u16);
            }
        }
    }
}

fn wants_node_ports(spec: &Value) -> bool {
    matches!(spec["type"].as_str(), Some("NodePort" | "LoadBalancer"))
}

fn random_from(range: std::ops::Range<u32>) -> u32 {
    let r = u32::from_le_bytes(uuid::Uuid::new_v4().as_bytes()[..4].try_into().unwrap_or_default());
    range.start + r % (range.end - range.start)
}

/// Give a service what it needs: a cluster IP (unless headless or ExternalName) and node ports
/// for NodePort/LoadBalancer services. `old` is the stored service on updates.
pub fn allocate(
    svc: &mut Value,
    old: Option<&Value>,
    used: &InUse,
    cidr: Cidr,
    ports: (u16, u16),
) -> Result<(), FieldErrors> {
    let mut errs = FieldErrors::new();
    let spec_path = FieldPath::new("spec");
    let Some(spec) = svc.get_mut("spec").and_then(Value::as_object_mut) else { return Ok(()) };
    let is_external_name = spec.get("type").and_then(Value::as_str) == Some("ExternalName");
    let old_ip = old.and_then(|o| o["spec"]["clusterIP"].as_str()).map(str::to_string);

    if !is_external_name {
        let requested = spec.get("clusterIP").and_then(Value::as_str).unwrap_or("").to_string();
        let ip = if requested.is_empty() {
            match old_ip {
                Some(ip) => ip,
                None => {
                    let mut pick = None;
                    // Random probing, then a scan if the range is nearly full.
                    for _ in 0..64 {
                        let candidate = cidr.nth(random_from(cidr.usable()));
                        if !used.ips.contains(&candidate) {
                            pick = Some(candidate);
                            break;
                        }
                    }
                    let pick = pick.or_else(|| cidr.usable().map(|n| cidr.nth(n)).find(|ip| !used.ips.contains(ip)));
                    match pick {
                        Some(ip) => ip.to_string(),
                        None => {
                            errs.push(FieldError::invalid(
                                &spec_path.child("clusterIPs"),
                                Value::Null,
                                "failed to allocate IP: range is full",
                            ));
                            return Err(errs);
                        }
                    }
                }
            }
        } else if requested == "None" || old_ip.as_deref() == Some(requested.as_str()) {
            requested
        } else {
            match requested.parse::<Ipv4Addr>() {
                Ok(ip) if !cidr.contains(ip) => {
                    errs.push(FieldError::invalid(
                        &spec_path.child("clusterIPs").index(0),
                        requested.as_str(),
                        "failed to allocate IP: the provided IP is not in the valid range",
                    ));
                    return Err(errs);
                }
                Ok(ip) if used.ips.contains(&ip) => {
                    errs.push(FieldError::invalid(
                        &spec_path.child("clusterIPs").index(0),
                        requested.as_str(),
                        format!("failed to allocate IP {requested}: provided IP is already allocated"),
                    ));
                    return Err(errs);
                }
                Ok(_) => requested,
                // Syntax errors are the validator's to report.
                Err(_) => return Ok(()),
            }
        };
        spec.insert("clusterIP".into(), ip.clone().into());
        spec.insert("clusterIPs".into(), Value::from(vec![ip]));
    }

    if wants_node_ports(&Value::Object(spec.clone())) {
        let mut taken = used.node_ports.clone();
        let old_ports: Vec<(i64, u16)> = old
            .and_then(|o| o["spec"]["ports"].as_array())
            .into_iter()
            .flatten()
            .filter_map(|p| Some((p["port"].as_i64()?, p["nodePort"].as_u64()? as u16)))
            .collect();
        for (port, node_port) in &old_ports {
            let _ = port;
            taken.remove(node_port);
        }
        let list = spec.get_mut("ports").and_then(Value::as_array_mut);
        for (i, p) in list.into_iter().flatten().enumerate() {
            let requested = p.get("nodePort").and_then(Value::as_u64).map(|n| n as u16);
            let keep = p
                .get("port")
                .and_then(Value::as_i64)
                .and_then(|port| old_ports.iter().find(|(op, _)| *op == port).map(|(_, np)| *np));
            let chosen = match requested.or(keep) {
                Some(n) if n < ports.0 || n > ports.1 => {
                    errs.push(FieldError::invalid(
                        &spec_path.child("ports").index(i).child("nodePort"),
                        n,
                        format!(
                            "provided port is not in the valid range. The range of valid ports is {}-{}",
                            ports.0, ports.1
                        ),
                    ));
                    continue;
                }
                Some(n) if taken.contains(&n) => {
                    errs.push(FieldError::invalid(
                        &spec_path.child("ports").index(i).child("nodePort"),
                        n,
                        "provided port is already allocated",
                    ));
                    continue;
                }
                Some(n) => n,
                None => {
                    let span = (ports.0 as u32)..(ports.1 as u32 + 1);
                    let mut pick = (0..64).map(|_| random_from(span.clone()) as u16).find(|n| !taken.contains(n));
                    if pick.is_none() {
                        pick = (ports.0..=ports.1).find(|n| !taken.contains(n));
                    }
                    match pick {
                        Some(n) => n,
                        None => {
                            errs.push(FieldError::invalid(
                                &spec_path.child("ports").index(i).child("nodePort"),
                                Value::Null,
                                "range is full",
                            ));
                            continue;
                        }
                    }
                }
            };
            taken.insert(chosen);
            if let Some(p) = p.as_object_mut() {
                p.insert("nodePort".into(), chosen.into());
            }
        }
    } else if let Some(list) = spec.get_mut("ports").and_then(Value::as_array_mut) {
        // ClusterIP services have no node ports.
        for p in list {
            if let Some(p) = p.as_object_mut() {
                p.remove("nodePort");
            }
        }
    }
    errs.into_result()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const RANGE: (u16, u16) = (30000, 32767);

    fn cidr() -> Cidr {
        Cidr::parse("10.43.0.0/16").unwrap()
    }

    #[test]
    fn allocates_a_free_ip_in_range() {
        let mut used = InUse::default();
        used.ips.insert("10.43.0.1".parse().unwrap());
        let mut svc = json!({"spec": {"ports": [{"port": 80}]}});
        allocate(&mut svc, None, &used, cidr(), RANGE).unwrap();
        let ip: Ipv4Addr = svc["spec"]["clusterIP"].as_str().unwrap().parse().unwrap();
        assert!(cidr().contains(ip));
        assert_ne!(ip, "10.43.0.1".parse::<Ipv4Addr>().unwrap());
        assert_eq!(svc["spec"]["clusterIPs"][0], svc["spec"]["clusterIP"]);
    }

    #[test]
    fn refuses_taken_or_foreign_ips() {
        let mut used = InUse::default();
        used.ips.insert("10.43.0.10".parse().unwrap());
        let mut svc = json!({"spec": {"clusterIP": "10.43.0.10"}});
        let e = allocate(&mut svc, None, &used, cidr(), RANGE).unwrap_err();
        assert!(e.to_string().contains("provided IP is already allocated"), "{e}");
        let mut svc = json!({"spec": {"clusterIP": "192.168.1.1"}});
        assert!(allocate(&mut svc, None, &used, cidr(), RANGE).is_err());
        let mut headless = json!({"spec": {"clusterIP": "None"}});
        allocate(&mut headless, None, &used, cidr(), RANGE).unwrap();
        assert_eq!(headless["spec"]["clusterIPs"][0], "None");
    }

    #[test]
    fn node_ports_are_allocated_and_kept() {
        let used = InUse::default();
        let mut svc = json!({"spec": {"type": "NodePort", "ports": [{"port": 80}, {"port": 81, "nodePort": 30080}]}});
        allocate(&mut svc, None, &used, cidr(), RANGE).unwrap();
        let np = svc["spec"]["ports"][0]["nodePort"].as_u64().unwrap();
        assert!((30000..=32767).contains(&np));
        assert_eq!(svc["spec"]["ports"][1]["nodePort"], 30080);

        // An update that omits node ports keeps the ones it had.
        let mut update =
            json!({"spec": {"type": "NodePort", "clusterIP": svc["spec"]["clusterIP"], "ports": [{"port": 80}]}});
        let mut used = InUse::default();
        used.add_service(&svc);
        allocate(&mut update, Some(&svc), &used, cidr(), RANGE).unwrap();
        assert_eq!(update["spec"]["ports"][0]["nodePort"].as_u64().unwrap(), np);
    }
}
