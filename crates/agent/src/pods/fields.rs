//! Pod fields by path, as the downward API names them (`metadata.labels['app']`,
//! `spec.nodeName`, `limits.memory`, …), for env `valueFrom` and downwardAPI volumes.

use k8s_openapi::api::core::v1::{Container, Pod, ResourceFieldSelector};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

pub fn name(pod: &Pod) -> &str {
    pod.metadata.name.as_deref().unwrap_or_default()
}

pub fn namespace(pod: &Pod) -> &str {
    pod.metadata.namespace.as_deref().unwrap_or("default")
}

pub fn uid(pod: &Pod) -> &str {
    pod.metadata.uid.as_deref().unwrap_or_default()
}

/// A field of the pod, or None for a path the downward API does not offer.
pub fn field(pod: &Pod, path: &str) -> Option<String> {
    let map_entry = |map: Option<&std::collections::BTreeMap<String, String>>, rest: &str| {
        let key = rest.strip_prefix("['")?.strip_suffix("']")?;
        Some(map.and_then(|m| m.get(key)).cloned().unwrap_or_default())
    };
    let spec = pod.spec.as_ref();
    let status = pod.status.as_ref();
    Some(match path {
        "metadata.name" => name(pod).to_string(),
        "metadata.namespace" => namespace(pod).to_string(),
        "metadata.uid" => uid(pod).to_string(),
        "metadata.labels" => format_map(pod.metadata.labels.as_ref()),
        "metadata.annotations" => format_map(pod.metadata.annotations.as_ref()),
        "spec.nodeName" => spec.and_then(|s| s.node_name.clone()).unwrap_or_default(),
        "spec.serviceAccountName" => spec.and_then(|s| s.service_account_name.clone()).unwrap_or_default(),
        "status.hostIP" => status.and_then(|s| s.host_ip.clone()).unwrap_or_default(),
        "status.hostIPs" => status
            .and_then(|s| s.host_ips.as_ref())
            .map(|v| v.iter().map(|i| i.ip.clone()).collect::<Vec<_>>().join(","))
            .unwrap_or_default(),
        "status.podIP" => status.and_then(|s| s.pod_ip.clone()).unwrap_or_default(),
        "status.podIPs" => status
            .and_then(|s| s.pod_ips.as_ref())
            .map(|v| v.iter().map(|i| i.ip.clone()).collect::<Vec<_>>().join(","))
            .unwrap_or_default(),
        p => {
            if let Some(rest) = p.strip_prefix("metadata.labels") {
                return map_entry(pod.metadata.labels.as_ref(), rest);
            }
            if let Some(rest) = p.strip_prefix("metadata.annotations") {
                return map_entry(pod.metadata.annotations.as_ref(), rest);
            }
            return None;
        }
    })
}

/// `key="value"` lines, sorted, as downwardAPI volumes write label and annotation maps.
fn format_map(map: Option<&std::collections::BTreeMap<String, String>>) -> String {
    map.map(|m| m.iter().map(|(k, v)| format!("{k}={v:?}")).collect::<Vec<_>>().join("\n")).unwrap_or_default()
}

/// A container's resource for `resourceFieldRef`, divided by the divisor and rounded up. An
/// unset value counts as 0 (upstream reports the node's allocatable for an unset limit).
pub fn resource(pod: &Pod, container: &Container, r: &ResourceFieldSelector) -> Result<String, String> {
    let target = match &r.container_name {
        Some(n) if !n.is_empty() => pod
            .spec
            .as_ref()
            .and_then(|s| s.containers.iter().find(|c| &c.name == n))
            .ok_or_else(|| format!("resourceFieldRef: no container {n:?}"))?,
        _ => container,
    };
    let (kind, res) = r.resource.split_once('.').ok_or_else(|| format!("unsupported resource {:?}", r.resource))?;
    let resources = target.resources.as_ref();
    let value = match kind {
        "limits" => resources.and_then(|x| x.limits.as_ref()).and_then(|m| m.get(res)),
        "requests" => resources.and_then(|x| x.requests.as_ref()).and_then(|m| m.get(res)),
        _ => return Err(format!("unsupported resource {:?}", r.resource)),
    };
    let amount = value.map(quantity_value).transpose()?.unwrap_or(0.0);
    let divisor = r.divisor.as_ref().map(quantity_value).transpose()?.filter(|d| *d > 0.0).unwrap_or(1.0);
    Ok(format!("{}", (amount / divisor).ceil() as i64))
}

/// A quantity as a number (cpu in cores, memory in bytes).
pub fn quantity_value(q: &Quantity) -> Result<f64, String> {
    let parsed =
        skiff_api::quantity::Quantity::parse(q.0.trim()).map_err(|e| format!("bad quantity {:?}: {e}", q.0))?;
    Ok(parsed.nanos() as f64 / 1e9)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities() {
        assert_eq!(quantity_value(&Quantity("250m".into())).unwrap(), 0.25);
        assert_eq!(quantity_value(&Quantity("64Mi".into())).unwrap(), 67_108_864.0);
        assert_eq!(quantity_value(&Quantity("1e3".into())).unwrap(), 1000.0);
        assert!(quantity_value(&Quantity("x".into())).is_err());
    }

    #[test]
    fn fields_by_path() {
        let pod: Pod = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "p", "namespace": "n", "labels": {"app": "web"}},
            "spec": {"nodeName": "node1", "containers": []}
        }))
        .unwrap();
        assert_eq!(field(&pod, "metadata.labels['app']").as_deref(), Some("web"));
        assert_eq!(field(&pod, "metadata.labels['none']").as_deref(), Some(""));
        assert_eq!(field(&pod, "spec.nodeName").as_deref(), Some("node1"));
        assert_eq!(field(&pod, "metadata.labels").as_deref(), Some("app=\"web\""));
        assert_eq!(field(&pod, "spec.bogus"), None);
    }
}
