//! Objects every cluster has from the start: the system namespaces, the `kubernetes` service
//! with endpoints pointing at this API server, and the system priority classes.

use std::sync::Arc;

use serde_json::{Value, json};
use skiff_api::{ApiError, registry};

use crate::ApiServer;
use crate::registry::{FieldValidation, WriteOptions};

const NAMESPACES: &[&str] = &["default", "kube-system", "kube-public", "kube-node-lease"];

fn system_write() -> WriteOptions {
    WriteOptions {
        dry_run: false,
        validation: FieldValidation::Strict,
        manager: "skiff-apiserver".to_string(),
        applied: false,
    }
}

/// Create `obj` unless an object of that name exists already.
async fn ensure(api: &Arc<ApiServer>, group: &str, plural: &str, namespace: &str, obj: Value) -> Result<(), ApiError> {
    let info = registry().get(group, "v1", plural).expect("built-in resource");
    let name = obj["metadata"]["name"].as_str().unwrap_or_default().to_string();
    if api.current(info, namespace, &name).await?.is_some() {
        return Ok(());
    }
    match api.create_object(info, namespace, obj, &system_write()).await {
        Ok(_) => Ok(()),
        Err(e) if e.reason == "AlreadyExists" => Ok(()),
        Err(e) => Err(e),
    }
}

pub async fn ensure_builtin_objects(api: &Arc<ApiServer>, port: u16) -> Result<(), ApiError> {
    for ns in NAMESPACES {
        ensure(api, "", "namespaces", "", json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}))
            .await?;
    }
    let cluster_ip = api.service_cidr.nth(1).to_string();
    let labels = json!({"component": "apiserver", "provider": "kubernetes"});
    ensure(
        api,
        "",
        "services",
        "default",
        json!({
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "kubernetes", "labels": labels},
            "spec": {"clusterIP": cluster_ip, "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": port}]},
        }),
    )
    .await?;
    if let Some(ip) = crate::node_ips().first() {
        ensure(
            api,
            "",
            "endpoints",
            "default",
            json!({
                "apiVersion": "v1", "kind": "Endpoints",
                "metadata": {"name": "kubernetes", "labels": {"endpointslice.kubernetes.io/skip-mirror": "true"}},
                "subsets": [{"addresses": [{"ip": ip.to_string()}], "ports": [{"name": "https", "port": port, "protocol": "TCP"}]}],
            }),
        )
        .await?;
    }
    for (name, value) in [("system-node-critical", 2_000_001_000), ("system-cluster-critical", 2_000_000_000)] {
        ensure(
            api,
            "scheduling.k8s.io",
            "priorityclasses",
            "",
            json!({
                "apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass",
                "metadata": {"name": name},
                "value": value,
                "description": format!("Used for system critical pods that must not be moved from their current {}.", if name == "system-node-critical" { "node" } else { "place" }),
            }),
        )
        .await?;
    }
    Ok(())
}
