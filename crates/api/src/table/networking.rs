//! Printers for networking.k8s.io/v1 kinds.

use std::collections::BTreeSet;

use k8s_openapi::api::networking::v1::{Ingress, IngressClass, IngressRule, NetworkPolicy};
use serde_json::Value;

use super::cells::{NONE, format_label_selector, name, opt};
use super::{AGE, Column, NAME, TablePrinter, age_cell};

impl TablePrinter for Ingress {
    fn columns() -> &'static [Column] {
        const COLUMNS: &[Column] = &[
            NAME,
            Column::new("Class", "string", "The IngressClass that handles this ingress."),
            Column::new("Hosts", "string", "Hosts the rules match, first three shown."),
            Column::new("Address", "string", "Addresses of the load balancer serving the ingress."),
            Column::new("Ports", "string", "Ports served: 80, and 443 with TLS."),
            AGE,
        ];
        COLUMNS
    }

    fn row(&self, object: &Value, now: i64) -> Vec<Value> {
        let spec = self.spec.clone().unwrap_or_default();
        let ports = if spec.tls.as_ref().is_some_and(|t| !t.is_empty()) { "80, 443" } else { "80" };
        vec![
            name(&self.metadata),
            spec.ingress_class_name.as_deref().unwrap_or(NONE).into(),
            format_hosts(spec.rules.as_deref().unwrap_or_default()).into(),
            ingress_address(self).into(),
            ports.into(),
            age_cell(object, now),
        ]
    }
}

/// Hosts of the first three rules, `*` when none names a host.
fn format_hosts(rules: &[IngressRule]) -> String {
    const MAX: usize = 3;
    // Upstream stops collecting once three hosts are listed; the count is of rules, not hosts.
    let mut hosts = Vec::new();
    let mut more = false;
    for rule in rules {
        if hosts.len() == MAX {
            more = true;
            break;
        }
        if !opt(&rule.host).is_empty() {
            hosts.push(opt(&rule.host));
        }
    }
    if hosts.is_empty() {
        return "*".to_string();
    }
    let joined = hosts.join(",");
    if more { format!("{joined} + {} more...", rules.len() - MAX) } else { joined }
}

/// Load-balancer IPs (or hostnames when there is no IP), sorted and deduplicated.
fn ingress_address(ing: &Ingress) -> String {
    let entries = ing.status.as_ref().and_then(|s| s.load_balancer.as_ref()).and_then(|lb| lb.ingress.as_deref());
    let addresses: BTreeSet<&str> = entries
        .unwrap_or_default()
        .iter()
        .filter_map(|i| [opt(&i.ip), opt(&i.hostname)].into_iter().find(|s| !s.is_empty()))
        .collect();
    addresses.into_iter().collect::<Vec<_>>().join(",")
}

impl TablePrinter for IngressClass {
    fn columns() -> &'static [Column] {
        const COLUMNS: &[Column] = &[
            NAME,
            Column::new("Controller", "string", "The controller that implements this class."),
            Column::new("Parameters", "string", "The resource holding the class's parameters."),
            AGE,
        ];
        COLUMNS
    }

    fn row(&self, object: &Value, now: i64) -> Vec<Value> {
        let spec = self.spec.clone().unwrap_or_default();
        // `Kind.group/name`, the group left out for core kinds.
        let parameters = spec.parameters.as_ref().map_or_else(
            || NONE.to_string(),
            |p| match p.api_group.as_deref() {
                Some(group) => format!("{}.{group}/{}", p.kind, p.name),
                None => format!("{}/{}", p.kind, p.name),
            },
        );
        vec![name(&self.metadata), opt(&spec.controller).into(), parameters.into(), age_cell(object, now)]
    }
}

impl TablePrinter for NetworkPolicy {
    fn columns() -> &'static [Column] {
        const COLUMNS: &[Column] =
            &[NAME, Column::new("Pod-Selector", "string", "Labels of the pods the policy applies to."), AGE];
        COLUMNS
    }

    fn row(&self, object: &Value, now: i64) -> Vec<Value> {
        let selector = self.spec.as_ref().and_then(|s| s.pod_selector.as_ref());
        vec![name(&self.metadata), format_label_selector(selector).into(), age_cell(object, now)]
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn hosts_and_ports() {
        let rules: Vec<IngressRule> =
            serde_json::from_value(json!([{"host": "a"}, {}, {"host": "b"}, {"host": "c"}, {"host": "d"}])).unwrap();
        assert_eq!(format_hosts(&rules), "a,b,c + 2 more...");
        assert_eq!(format_hosts(&rules[..3]), "a,b");
        assert_eq!(format_hosts(&[]), "*");

        let ing: Ingress = serde_json::from_value(json!({
            "spec": {"ingressClassName": "nginx", "tls": [{"hosts": ["a"]}], "rules": [{"host": "a"}]},
            "status": {"loadBalancer": {"ingress": [{"ip": "10.0.0.9"}, {"hostname": "lb.example"}, {"ip": "10.0.0.1"}]}},
        }))
        .unwrap();
        let row = ing.row(&json!({}), 0);
        assert_eq!(row[1..5], [json!("nginx"), json!("a"), json!("10.0.0.1,10.0.0.9,lb.example"), json!("80, 443")]);
        assert_eq!(Ingress::default().row(&json!({}), 0)[1..5], [json!("<none>"), json!("*"), json!(""), json!("80")]);
    }

    #[test]
    fn ingress_class_parameters() {
        let ic: IngressClass = serde_json::from_value(json!({"spec": {"controller": "k8s.io/ingress-nginx",
            "parameters": {"apiGroup": "k8s.example.com", "kind": "IngressParameters", "name": "external-lb"}}}))
        .unwrap();
        assert_eq!(
            ic.row(&json!({}), 0)[1..3],
            [json!("k8s.io/ingress-nginx"), json!("IngressParameters.k8s.example.com/external-lb")]
        );
    }
}
