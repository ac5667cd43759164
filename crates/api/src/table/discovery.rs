//! The EndpointSlice printer (discovery.k8s.io/v1).

use k8s_openapi::api::discovery::v1::EndpointSlice;
use serde_json::Value;

use super::cells::{list_with_more, name};
use super::{AGE, Column, NAME, TablePrinter, age_cell};

impl TablePrinter for EndpointSlice {
    fn columns() -> &'static [Column] {
        const COLUMNS: &[Column] = &[
            NAME,
            Column::new("AddressType", "string", "IPv4, IPv6 or FQDN."),
            Column::new("Ports", "string", "Port numbers (or names), first three shown."),
            Column::new("Endpoints", "string", "Endpoint addresses, first three shown."),
            AGE,
        ];
        COLUMNS
    }

    fn row(&self, object: &Value, now: i64) -> Vec<Value> {
        // A port with neither number nor name stands for all ports.
        let ports: Vec<String> = self
            .ports
            .iter()
            .flatten()
            .map(|p| match (p.port, &p.name) {
                (Some(port), _) => port.to_string(),
                (None, Some(name)) => name.clone(),
                (None, None) => "*".to_string(),
            })
            .collect();
        let addresses: Vec<String> = self.endpoints.iter().flat_map(|e| e.addresses.iter().cloned()).collect();
        vec![
            name(&self.metadata),
            self.address_type.clone().into(),
            list_with_more(&ports, 3).into(),
            list_with_more(&addresses, 3).into(),
            age_cell(object, now),
        ]
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn ports_and_endpoints() {
        let slice: EndpointSlice = serde_json::from_value(json!({
            "addressType": "IPv4",
            "ports": [{"port": 80}, {"name": "metrics"}, {}],
            "endpoints": [{"addresses": ["10.0.0.1", "10.0.0.2"]}, {"addresses": ["10.0.0.3", "10.0.0.4"]}],
        }))
        .unwrap();
        let row = slice.row(&json!({}), 0);
        assert_eq!(row[1..4], [json!("IPv4"), json!("80,metrics,*"), json!("10.0.0.1,10.0.0.2,10.0.0.3 + 1 more...")]);
        let empty: EndpointSlice = serde_json::from_value(json!({"addressType": "IPv4", "endpoints": []})).unwrap();
        assert_eq!(empty.row(&json!({}), 0)[2..4], [json!("<unset>"), json!("<unset>")]);
    }
}
