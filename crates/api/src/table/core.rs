//! Printers for core/v1 kinds other than pods (pod.rs) and events (events.rs).

use std::collections::BTreeSet;

use k8s_openapi::api::core::v1::{
    ConfigMap, Endpoints, Namespace, Node, PersistentVolume, PersistentVolumeClaim, PodTemplate, ReplicationController,
    ResourceQuota, Secret, Service, ServiceAccount,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde_json::{Value, json};

use super::cells::{
    CONTAINERS, IMAGES, NONE, UNSET, canonical, format_labels, name, opt, or_none, quantity, template_cells,
};
use super::{AGE, Column, NAME, TablePrinter, age_cell};

impl TablePrinter for Namespace {
    fn columns() -> &'static [Column] {
        const COLUMNS: &[Column] = &[NAME, Column::new("Status", "string", "The phase of the namespace."), AGE];
        COLUMNS
    }

    fn row(&self, object: &Value, now: i64) -> Vec<Value> {
        let phase = self.status.as_ref().map(|s| opt(&s.phase)).unwrap_or("");
        vec![name(&self.metadata), phase.into(), age_cell(object, now)]
    }
}

impl TablePrinter for Node {
    fn columns() -> &'static [Column] {
        const COLUMNS: &[Column] = &[
            NAME,
            Column::new("Status", "string", "Readiness of the node, and whether scheduling is disabled."),
            Column::new("Roles", "string", "Roles from the node-role.kubernetes.io/ labels."),
            AGE,
            Column::new("Version", "string", "Version of the kubelet."),
            Column::new("Internal-IP", "string", "First internal address of the node.").wide(),
            Column::new("External-IP", "string", "First external address of the node.").wide(),
            Column::new("OS-Image", "string", "Operating system image reported by the node.").wide(),
            Column::new("Kernel-Version", "string", "Kernel version reported by the node.").wide(),
            Column::new("Container-Runtime", "string", "Container runtime name and version.").wide(),
        ];
        COLUMNS
    }

    fn row(&self, object: &Value, now: i64) -> Vec<Value> {
        let info = self.status.as_ref().and_then(|s| s.node_info.clone()).unwrap_or_default();
        let or_unknown = |s: &str| if s.is_empty() { "<unknown>" } else { s }.to_string();
        vec![
            name(&self.metadata),
            node_status(self).into(),
            or_none(&node_roles(&self.metadata).join(",")).into(),
            age_cell(object, now),
            info.kubelet_version.clone().into(),
            node_address(self, "InternalIP").into(),
            node_address(self, "ExternalIP").into(),
            or_unknown(&info.os_image).into(),
            or_unknown(&info.kernel_version).into(),
            or_unknown(&info.container_runtime_version).into(),
        ]
    }
}

/// `Ready`, `NotReady` or `Unknown` from the Ready condition (the last one wins if repeated),
/// then `SchedulingDisabled` for a cordoned node.
fn node_status(node: &Node) -> String {
    let conditions = node.status.as_ref().and_then(|s| s.conditions.as_deref()).unwrap_or_default();
    let ready = conditions.iter().rev().find(|c| c.type_ == "Ready");
    let mut status = vec![match ready {
        Some(c) if c.status == "True" => "Ready",
        Some(_) => "NotReady",
        None => "Unknown",
    }];
    if node.spec.as_ref().and_then(|s| s.unschedulable).unwrap_or(false) {
        status.push("SchedulingDisabled");
    }
    status.join(",")
}

/// Roles from `node-role.kubernetes.io/<role>` label keys and the older `kubernetes.io/role`
/// label's value, sorted and deduplicated.
fn node_roles(meta: &ObjectMeta) -> Vec<String> {
    let mut roles = BTreeSet::new();
    for (k, v) in meta.labels.iter().flatten() {
        if let Some(role) = k.strip_prefix("node-role.kubernetes.io/") {
            if !role.is_empty() {
                roles.insert(role.to_string());
            }
        } else if k == "kubernetes.io/role" && !v.is_empty() {
            roles.insert(v.clone());
        }
    }
    roles.into_iter().collect()
}

fn node_address(node: &Node, kind: &str) -> String {
    let addresses = node.status.as_ref().and_then(|s| s.addresses.as_deref()).unwrap_or_default();
    addresses.iter().find(|a| a.type_ == kind).map_or_else(|| NONE.to_string(), |a| a.address.clone())
}

impl TablePrinter for Service {
    fn columns() -> &'static [Column] {
        const COLUMNS: &[Column] = &[
            NAME,
            Column::new("Type", "string", "How the service is exposed."),
            Column::new("Cluster-IP", "string", "The primary cluster IP of the service."),
            Column::new("External-IP", "string", "Addresses the service is reachable at from outside the cluster."),
            Column::new("Port(s)", "string", "Ports the service exposes, with node ports."),
            AGE,
            Column::new("Selector", "string", "Labels of the pods the service routes to.").wide(),
        ];
        COLUMNS
    }

    fn row(&self, object: &Value, now: i64) -> Vec<Value> {
        let spec = self.spec.clone().unwrap_or_default();
        // Upstream defaulting fills clusterIPs from clusterIP whenever an object is decoded.
        let first_ip = spec.cluster_ips.as_deref().and_then(<[String]>::first).or(spec.cluster_ip.as_ref());
        let cluster_ip = first_ip.map_or(NONE, String::as_str);
        vec![
            name(&self.metadata),
            opt(&spec.type_).into(),
            cluster_ip.into(),
            service_external_ip(self).into(),
            or_none(&service_ports(self)).into(),
            age_cell(object, now),
            format_labels(spec.selector.as_ref()).into(),
        ]
    }
}

/// External addresses by service type: external IPs for ClusterIP/NodePort, load-balancer
/// ingress (then external IPs) for LoadBalancer, the DNS name for ExternalName.
fn service_external_ip(svc: &Service) -> String {
    let spec = svc.spec.clone().unwrap_or_default();
    let external_ips = spec.external_ips.unwrap_or_default();
    match opt(&spec.type_) {
        "ClusterIP" | "NodePort" if external_ips.is_empty() => NONE.to_string(),
        "ClusterIP" | "NodePort" => external_ips.join(","),
        "LoadBalancer" => {
            let ingress =
                svc.status.as_ref().and_then(|s| s.load_balancer.as_ref()).and_then(|lb| lb.ingress.as_deref());
            // Upstream keeps these in a sorted set.
            let lb: BTreeSet<&str> = ingress
                .unwrap_or_default()
                .iter()
                .filter_map(|i| [opt(&i.ip), opt(&i.hostname)].into_iter().find(|s| !s.is_empty()))
                .collect();
            let all: Vec<&str> = lb.into_iter().chain(external_ips.iter().map(String::as_str)).collect();
            if all.is_empty() { "<pending>".to_string() } else { all.join(",") }
        }
        "ExternalName" => opt(&spec.external_name).to_string(),
        _ => "<unknown>".to_string(),
    }
}

/// `80/TCP,443:30443/TCP`: port, node port when allocated, protocol.
fn service_ports(svc: &Service) -> String {
    let ports = svc.spec.as_ref().and_then(|s| s.ports.as_deref()).unwrap_or_default();
    ports
        .iter()
        .map(|p| match p.node_port {
            Some(np) if np > 0 => format!("{}:{np}/{}", p.port, opt(&p.protocol)),
            _ => format!("{}/{}", p.port, opt(&p.protocol)),
        })
        .collect::<Vec<_>>()
        .join(",")
}

impl TablePrinter for Endpoints {
    fn columns() -> &'static [Column] {
        const COLUMNS: &[Column] =
            &[NAME, Column::new("Endpoints", "string", "Ready addresses and ports, first three shown."), AGE];
        COLUMNS
    }

    fn row(&self, object: &Value, now: i64) -> Vec<Value> {
        vec![name(&self.metadata), format_endpoints(self).into(), age_cell(object, now)]
    }
}

/// `ip:port` for each ready address and port, first three shown; bare IPs for subsets without
/// ports (headless services).
fn format_endpoints(ep: &Endpoints) -> String {
    let subsets = ep.subsets.as_deref().unwrap_or_default();
    if subsets.is_empty() {
        return NONE.to_string();
    }
    let mut all = Vec::new();
    for ss in subsets {
        let addresses = ss.addresses.as_deref().unwrap_or_default();
        match ss.ports.as_deref() {
            None | Some([]) => all.extend(addresses.iter().map(|a| a.ip.clone())),
            Some(ports) => {
                for port in ports {
                    all.extend(addresses.iter().map(|a| join_host_port(&a.ip, port.port)));
                }
            }
        }
    }
    const MAX: usize = 3;
    let shown = all.iter().take(MAX).cloned().collect::<Vec<_>>().join(",");
    if all.len() > MAX { format!("{shown} + {} more...", all.len() - MAX) } else { shown }
}

/// IPv6 addresses get brackets, as Go's `net.JoinHostPort` does.
fn join_host_port(host: &str, port: i32) -> String {
    if host.contains(':') { format!("[{host}]:{port}") } else { format!("{host}:{port}") }
}

impl TablePrinter for ConfigMap {
    fn columns() -> &'static [Column] {
        const COLUMNS: &[Column] =
            &[NAME, Column::new("Data", "string", "Number of keys in data and binaryData."), AGE];
        COLUMNS
    }

    fn row(&self, object: &Value, now: i64) -> Vec<Value> {
        let count = self.data.as_ref().map_or(0, |d| d.len()) + self.binary_data.as_ref().map_or(0, |d| d.len());
        vec![name(&self.metadata), json!(count), age_cell(object, now)]
    }
}

impl TablePrinter for Secret {
    fn columns() -> &'static [Column] {
        const COLUMNS: &[Column] = &[
            NAME,
            Column::new("Type", "string", "Type of the secret's data."),
            Column::new("Data", "string", "Number of keys in the secret."),
            AGE,
        ];
        COLUMNS
    }

    fn row(&self, object: &Value, now: i64) -> Vec<Value> {
        // Upstream counts after stringData is merged into data, so count the union of keys.
        let keys: BTreeSet<&String> =
            self.data.iter().flat_map(|d| d.keys()).chain(self.string_data.iter().flat_map(|d| d.keys())).collect();
        vec![name(&self.metadata), opt(&self.type_).into(), json!(keys.len()), age_cell(object, now)]
    }
}

impl TablePrinter for ServiceAccount {
    fn columns() -> &'static [Column] {
        const COLUMNS: &[Column] =
            &[NAME, Column::new("Secrets", "string", "Number of secrets listed on the service account."), AGE];
        COLUMNS
    }

    fn row(&self, object: &Value, now: i64) -> Vec<Value> {
        vec![name(&self.metadata), json!(self.secrets.as_ref().map_or(0, Vec::len)), age_cell(object, now)]
    }
}

/// `RWO,ROX,RWX,RWOP` in that fixed order, each once.
fn access_modes(modes: Option<&Vec<String>>) -> String {
    let modes = modes.map(Vec::as_slice).unwrap_or_default();
    [("ReadWriteOnce", "RWO"), ("ReadOnlyMany", "ROX"), ("ReadWriteMany", "RWX"), ("ReadWriteOncePod", "RWOP")]
        .iter()
        .filter(|(mode, _)| modes.iter().any(|m| m == mode))
        .map(|(_, short)| *short)
        .collect::<Vec<_>>()
        .join(",")
}

/// The deprecated beta annotation still wins over `storageClassName`, as upstream reads it.
fn beta_storage_class(meta: &ObjectMeta) -> Option<&String> {
    meta.annotations.as_ref()?.get("volume.beta.kubernetes.io/storage-class")
}

impl TablePrinter for PersistentVolume {
    fn columns() -> &'static [Column] {
        const COLUMNS: &[Column] = &[
            NAME,
            Column::new("Capacity", "string", "Storage capacity of the volume."),
            Column::new("Access Modes", "string", "Ways the volume can be mounted."),
            Column::new("Reclaim Policy", "string", "What happens to the volume when its claim is released."),
            Column::new("Status", "string", "Phase of the volume."),
            Column::new("Claim", "string", "The claim bound to the volume, as namespace/name."),
            Column::new("StorageClass", "string", "StorageClass of the pv"),
            Column::new("VolumeAttributesClass", "string", "VolumeAttributesClass of the pv"),
            Column::new("Reason", "string", "Why the volume is in its phase."),
            AGE,
            Column::new("VolumeMode", "string", "Whether the volume is a filesystem or a raw block device.").wide(),
        ];
        COLUMNS
    }

    fn row(&self, object: &Value, now: i64) -> Vec<Value> {
        let spec = self.spec.clone().unwrap_or_default();
        let status = self.status.clone().unwrap_or_default();
        let claim =
            spec.claim_ref.as_ref().map(|c| format!("{}/{}", opt(&c.namespace), opt(&c.name))).unwrap_or_default();
        let phase = if self.metadata.deletion_timestamp.is_some() { "Terminating" } else { opt(&status.phase) };
        let class =
            beta_storage_class(&self.metadata).or(spec.storage_class_name.as_ref()).cloned().unwrap_or_default();
        vec![
            name(&self.metadata),
            quantity(spec.capacity.as_ref().and_then(|c| c.get("storage"))).into(),
            access_modes(spec.access_modes.as_ref()).into(),
            opt(&spec.persistent_volume_reclaim_policy).into(),
            phase.into(),
            claim.into(),
            class.into(),
            spec.volume_attributes_class_name.as_deref().unwrap_or(UNSET).into(),
            opt(&status.reason).into(),
            age_cell(object, now),
            spec.volume_mode.as_deref().unwrap_or(UNSET).into(),
        ]
    }
}

impl TablePrinter for PersistentVolumeClaim {
    fn columns() -> &'static [Column] {
        const COLUMNS: &[Column] = &[
            NAME,
            Column::new("Status", "string", "Phase of the claim."),
            Column::new("Volume", "string", "The volume bound to the claim."),
            Column::new("Capacity", "string", "Storage capacity of the bound volume."),
            Column::new("Access Modes", "string", "Ways the bound volume can be mounted."),
            Column::new("StorageClass", "string", "StorageClass of the pvc"),
            Column::new("VolumeAttributesClass", "string", "VolumeAttributesClass of the pvc"),
            AGE,
            Column::new("VolumeMode", "string", "Whether the claim wants a filesystem or a raw block device.").wide(),
        ];
        COLUMNS
    }

    fn row(&self, object: &Value, now: i64) -> Vec<Value> {
        let spec = self.spec.clone().unwrap_or_default();
        let status = self.status.clone().unwrap_or_default();
        let phase = if self.metadata.deletion_timestamp.is_some() { "Terminating" } else { opt(&status.phase) };
        let volume = opt(&spec.volume_name);
        // Capacity and modes come from the bound volume, so stay blank until there is one.
        let (capacity, modes) = if volume.is_empty() {
            (String::new(), String::new())
        } else {
            (
                quantity(status.capacity.as_ref().and_then(|c| c.get("storage"))),
                access_modes(status.access_modes.as_ref()),
            )
        };
        let class =
            beta_storage_class(&self.metadata).or(spec.storage_class_name.as_ref()).cloned().unwrap_or_default();
        vec![
            name(&self.metadata),
            phase.into(),
            volume.into(),
            capacity.into(),
            modes.into(),
            class.into(),
            spec.volume_attributes_class_name.as_deref().unwrap_or(UNSET).into(),
            age_cell(object, now),
            spec.volume_mode.as_deref().unwrap_or(UNSET).into(),
        ]
    }
}

impl TablePrinter for ResourceQuota {
    fn columns() -> &'static [Column] {
        const COLUMNS: &[Column] = &[
            NAME,
            Column::new("Request", "string", "Used and hard amounts of each non-limit resource."),
            Column::new("Limit", "string", "Used and hard amounts of each limits.* resource."),
            AGE,
        ];
        COLUMNS
    }

    fn row(&self, object: &Value, now: i64) -> Vec<Value> {
        let (request, limit) = quota_usage(self);
        vec![name(&self.metadata), request.into(), limit.into(), age_cell(object, now)]
    }
}

/// `name: used/hard` per resource in status.hard (sorted by name), split into the `limits.*`
/// resources and everything else.
fn quota_usage(quota: &ResourceQuota) -> (String, String) {
    let status = quota.status.clone().unwrap_or_default();
    let used = status.used.unwrap_or_default();
    let (mut request, mut limit) = (Vec::new(), Vec::new());
    for (resource, hard) in status.hard.iter().flatten() {
        let cell = format!("{resource}: {}/{}", quantity(used.get(resource)), canonical(hard));
        let is_limit = resource.split_once('.').is_some_and(|(prefix, _)| prefix == "limits");
        if is_limit { limit.push(cell) } else { request.push(cell) }
    }
    (request.join(", "), limit.join(", "))
}

impl TablePrinter for PodTemplate {
    fn columns() -> &'static [Column] {
        const COLUMNS: &[Column] =
            &[NAME, CONTAINERS, IMAGES, Column::new("Pod Labels", "string", "The labels for the pod template.")];
        COLUMNS
    }

    fn row(&self, _object: &Value, _now: i64) -> Vec<Value> {
        let [names, images] = template_cells(self.template.as_ref());
        let labels = self.template.as_ref().and_then(|t| t.metadata.as_ref()).and_then(|m| m.labels.as_ref());
        vec![name(&self.metadata), names, images, format_labels(labels).into()]
    }
}

impl TablePrinter for ReplicationController {
    fn columns() -> &'static [Column] {
        const COLUMNS: &[Column] = &[
            NAME,
            Column::new("Desired", "integer", "Number of replicas wanted."),
            Column::new("Current", "integer", "Number of replicas that exist."),
            Column::new("Ready", "integer", "Number of replicas that are ready."),
            AGE,
            CONTAINERS.wide(),
            IMAGES.wide(),
            Column::new("Selector", "string", "Labels of the pods the controller manages.").wide(),
        ];
        COLUMNS
    }

    fn row(&self, object: &Value, now: i64) -> Vec<Value> {
        let spec = self.spec.clone().unwrap_or_default();
        let status = self.status.clone().unwrap_or_default();
        let [names, images] = template_cells(spec.template.as_ref());
        vec![
            name(&self.metadata),
            json!(spec.replicas.unwrap_or(0)),
            json!(status.replicas),
            json!(status.ready_replicas.unwrap_or(0)),
            age_cell(object, now),
            names,
            images,
            format_labels(spec.selector.as_ref()).into(),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(v: Value) -> Node {
        serde_json::from_value(v).unwrap()
    }

    fn svc(v: Value) -> Service {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn node_status_combines_readiness_and_cordon() {
        let ready = |s: &str| json!({"status": {"conditions": [{"type": "Ready", "status": s}]}});
        assert_eq!(node_status(&node(ready("True"))), "Ready");
        assert_eq!(node_status(&node(ready("False"))), "NotReady");
        assert_eq!(node_status(&node(ready("Unknown"))), "NotReady");
        assert_eq!(node_status(&node(json!({}))), "Unknown");
        let mut cordoned = ready("True");
        cordoned["spec"] = json!({"unschedulable": true});
        assert_eq!(node_status(&node(cordoned)), "Ready,SchedulingDisabled");
    }

    #[test]
    fn node_roles_come_from_labels() {
        let n = node(json!({"metadata": {"labels": {
            "node-role.kubernetes.io/worker": "",
            "node-role.kubernetes.io/control-plane": "",
            "node-role.kubernetes.io/": "",
            "kubernetes.io/role": "infra",
            "kubernetes.io/hostname": "n1",
        }}}));
        assert_eq!(node_roles(&n.metadata), ["control-plane", "infra", "worker"]);
        let row = n.row(&json!({}), 0);
        assert_eq!(row[2], "control-plane,infra,worker");
        assert_eq!(node(json!({})).row(&json!({}), 0)[2], "<none>");
        assert_eq!(node(json!({})).row(&json!({}), 0)[5], "<none>");
        assert_eq!(node(json!({})).row(&json!({}), 0)[7], "<unknown>");
    }

    #[test]
    fn service_ports_show_node_ports() {
        let s = svc(json!({"spec": {"type": "NodePort", "ports": [
            {"port": 80, "nodePort": 30080, "protocol": "TCP"},
            {"port": 53, "protocol": "UDP"},
        ]}}));
        assert_eq!(service_ports(&s), "80:30080/TCP,53/UDP");
        let row = svc(json!({"spec": {"type": "ClusterIP"}})).row(&json!({}), 0);
        assert_eq!(row[2], "<none>");
        assert_eq!(row[4], "<none>");
        let headless = svc(json!({"spec": {"type": "ClusterIP", "clusterIP": "None"}})).row(&json!({}), 0);
        assert_eq!(headless[2], "None");
    }

    #[test]
    fn service_external_ip_by_type() {
        assert_eq!(service_external_ip(&svc(json!({"spec": {"type": "ClusterIP"}}))), "<none>");
        assert_eq!(
            service_external_ip(&svc(json!({"spec": {"type": "NodePort", "externalIPs": ["1.2.3.4"]}}))),
            "1.2.3.4"
        );
        assert_eq!(service_external_ip(&svc(json!({"spec": {"type": "LoadBalancer"}}))), "<pending>");
        let lb = svc(json!({
            "spec": {"type": "LoadBalancer", "externalIPs": ["9.9.9.9"]},
            "status": {"loadBalancer": {"ingress": [{"ip": "5.6.7.8"}, {"hostname": "lb.example.com"}, {"ip": "1.1.1.1"}]}},
        }));
        assert_eq!(service_external_ip(&lb), "1.1.1.1,5.6.7.8,lb.example.com,9.9.9.9");
        let ext = svc(json!({"spec": {"type": "ExternalName", "externalName": "db.example.com"}}));
        assert_eq!(service_external_ip(&ext), "db.example.com");
        assert_eq!(service_external_ip(&svc(json!({}))), "<unknown>");
    }

    #[test]
    fn endpoints_list_three_then_count() {
        let ep: Endpoints = serde_json::from_value(json!({"subsets": [
            {"addresses": [{"ip": "10.0.0.1"}, {"ip": "10.0.0.2"}], "ports": [{"port": 80}, {"port": 443}]},
            {"addresses": [{"ip": "fd00::1"}]},
        ]}))
        .unwrap();
        assert_eq!(format_endpoints(&ep), "10.0.0.1:80,10.0.0.2:80,10.0.0.1:443 + 2 more...");
        assert_eq!(format_endpoints(&Endpoints::default()), "<none>");
    }

    #[test]
    fn quota_splits_requests_and_limits() {
        let q: ResourceQuota = serde_json::from_value(json!({"status": {
            "hard": {"pods": "10", "limits.cpu": "2", "requests.memory": "1Gi"},
            "used": {"pods": "3", "limits.cpu": "500m"},
        }}))
        .unwrap();
        assert_eq!(
            quota_usage(&q),
            ("pods: 3/10, requests.memory: 0/1Gi".to_string(), "limits.cpu: 500m/2".to_string())
        );
    }

    #[test]
    fn pvc_capacity_waits_for_binding() {
        let pending: PersistentVolumeClaim = serde_json::from_value(
            json!({"spec": {"resources": {"requests": {"storage": "1Gi"}}}, "status": {"phase": "Pending"}}),
        )
        .unwrap();
        let row = pending.row(&json!({}), 0);
        assert_eq!(row[1..7], [json!("Pending"), json!(""), json!(""), json!(""), json!(""), json!("<unset>")]);
        let bound: PersistentVolumeClaim = serde_json::from_value(json!({
            "metadata": {"annotations": {"volume.beta.kubernetes.io/storage-class": "old"}},
            "spec": {"volumeName": "pv1", "storageClassName": "new"},
            "status": {"phase": "Bound", "capacity": {"storage": "5Gi"}, "accessModes": ["ReadWriteMany", "ReadWriteOnce"]},
        }))
        .unwrap();
        let row = bound.row(&json!({}), 0);
        assert_eq!(row[2..6], [json!("pv1"), json!("5Gi"), json!("RWO,RWX"), json!("old")]);
    }
}
