//! The objects of one hollow node: its Node (metadata, capacity, conditions, addresses, node
//! info) and its Lease in `kube-node-lease`, as a kubelet would register them. Pure functions.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::api::core::v1::{Node, NodeAddress, NodeCondition, NodeStatus, NodeSystemInfo};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta, OwnerReference, Time};
use k8s_openapi::jiff::Timestamp;

use crate::Config;

/// Annotation that marks a node as hollow (served by `skiff sim`).
pub const HOLLOW_ANNOTATION: &str = "sim.skiff.dev/hollow";
/// Namespace of node leases.
pub const LEASE_NAMESPACE: &str = "kube-node-lease";
/// Lease duration a kubelet uses by default.
pub const LEASE_DURATION_SECONDS: i32 = 40;
pub const KUBELET_VERSION: &str = "v1.33.0-skiff-sim";
pub const RUNTIME_VERSION: &str = "sim://0.1";
pub const ZONE_LABEL: &str = "topology.kubernetes.io/zone";

/// The name of node `i`.
pub fn node_name(prefix: &str, i: usize) -> String {
    format!("{prefix}{i}")
}

/// The index of a node of ours by its name: `<prefix><i>` with `i < nodes`, written as
/// [`node_name`] writes it (no leading zeros), or `None` for any other node.
pub fn node_index(prefix: &str, nodes: usize, name: &str) -> Option<usize> {
    let digits = name.strip_prefix(prefix)?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) || (digits.len() > 1 && digits.starts_with('0'))
    {
        return None;
    }
    digits.parse().ok().filter(|&i| i < nodes)
}

/// The InternalIP node `i` reports: 10.200.0.1, 10.200.0.2, … (never contacted).
pub fn node_ip(i: usize) -> Ipv4Addr {
    let n = i as u64 + 1;
    let second = 200 + (n >> 16);
    Ipv4Addr::new(10, second.min(255) as u8, (n >> 8) as u8, n as u8)
}

/// A stable 64-bit hash (FNV-1a), for machine and system IDs that look real and never change.
fn hash(parts: &[&[u8]]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for p in parts {
        for b in p.iter().chain(&[0xff]) {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    h
}

/// A UUID-shaped string from two hashes.
fn uuid(a: u64, b: u64) -> String {
    let (a, b) = (a.to_be_bytes(), b.to_be_bytes());
    let hex = |bs: &[u8]| bs.iter().map(|b| format!("{b:02x}")).collect::<String>();
    format!("{}-{}-{}-{}-{}", hex(&a[..4]), hex(&a[4..6]), hex(&a[6..]), hex(&b[..2]), hex(&b[2..]))
}

fn labels(config: &Config, i: usize, name: &str) -> BTreeMap<String, String> {
    let mut labels: BTreeMap<String, String> = [
        ("kubernetes.io/hostname", name),
        ("kubernetes.io/os", "linux"),
        ("kubernetes.io/arch", "amd64"),
        ("type", "hollow"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    if config.zones > 0 {
        labels.insert(ZONE_LABEL.to_string(), format!("zone-{}", i % config.zones));
    }
    labels.extend(config.labels.iter().cloned());
    labels
}

/// The conditions of a healthy kubelet: Ready, and no memory, disk or PID pressure.
pub fn conditions(transition: Timestamp, heartbeat: Timestamp) -> Vec<NodeCondition> {
    let cond = |type_: &str, status: &str, reason: &str, message: &str| NodeCondition {
        type_: type_.to_string(),
        status: status.to_string(),
        reason: Some(reason.to_string()),
        message: Some(message.to_string()),
        last_heartbeat_time: Some(Time(heartbeat)),
        last_transition_time: Some(Time(transition)),
    };
    vec![
        cond("MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
        cond("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
        cond("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
        cond("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
    ]
}

/// The full status of node `i`. `boot` distinguishes one run of the sim from the next (bootID).
pub fn node_status(config: &Config, i: usize, boot: u64, transition: Timestamp, heartbeat: Timestamp) -> NodeStatus {
    let name = node_name(&config.node_prefix, i);
    let resources: BTreeMap<String, Quantity> = [
        ("cpu", config.cpu.as_str()),
        ("memory", config.memory.as_str()),
        ("pods", &config.pods.to_string()),
        ("ephemeral-storage", "100Gi"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), Quantity(v.to_string())))
    .collect();
    let id = hash(&[b"skiff-sim", name.as_bytes()]);
    let id2 = hash(&[b"skiff-sim-2", name.as_bytes()]);
    NodeStatus {
        capacity: Some(resources.clone()),
        allocatable: Some(resources),
        conditions: Some(conditions(transition, heartbeat)),
        addresses: Some(vec![
            NodeAddress { type_: "InternalIP".to_string(), address: node_ip(i).to_string() },
            NodeAddress { type_: "Hostname".to_string(), address: name.clone() },
        ]),
        node_info: Some(NodeSystemInfo {
            architecture: "amd64".to_string(),
            operating_system: "linux".to_string(),
            os_image: "skiff hollow node".to_string(),
            kernel_version: "6.1.0-sim".to_string(),
            kubelet_version: KUBELET_VERSION.to_string(),
            kube_proxy_version: String::new(),
            container_runtime_version: RUNTIME_VERSION.to_string(),
            machine_id: format!("{id:016x}{id2:016x}"),
            system_uuid: uuid(id2, id),
            boot_id: uuid(hash(&[&boot.to_be_bytes(), name.as_bytes()]), boot),
            swap: None,
        }),
        phase: None,
        ..Default::default()
    }
}

/// Node `i` as it is created: metadata and its status.
pub fn build_node(config: &Config, i: usize, boot: u64, transition: Timestamp, now: Timestamp) -> Node {
    let name = node_name(&config.node_prefix, i);
    Node {
        metadata: ObjectMeta {
            labels: Some(labels(config, i, &name)),
            annotations: Some([(HOLLOW_ANNOTATION.to_string(), "true".to_string())].into()),
            name: Some(name),
            ..Default::default()
        },
        spec: None,
        status: Some(node_status(config, i, boot, transition, now)),
    }
}

/// The lease of a node, owned by the node (so it goes when the node goes) when its uid is known.
pub fn build_lease(node: &str, node_uid: Option<&str>, now: Timestamp) -> Lease {
    Lease {
        metadata: ObjectMeta {
            name: Some(node.to_string()),
            namespace: Some(LEASE_NAMESPACE.to_string()),
            owner_references: node_uid.map(|uid| {
                vec![OwnerReference {
                    api_version: "v1".to_string(),
                    kind: "Node".to_string(),
                    name: node.to_string(),
                    uid: uid.to_string(),
                    ..Default::default()
                }]
            }),
            ..Default::default()
        },
        spec: Some(LeaseSpec {
            holder_identity: Some(node.to_string()),
            lease_duration_seconds: Some(LEASE_DURATION_SECONDS),
            renew_time: Some(MicroTime(now)),
            ..Default::default()
        }),
    }
}

/// The body of a lease renewal (a merge patch): holder and renew time.
pub fn lease_renewal(node: &str, now: Timestamp) -> serde_json::Value {
    serde_json::json!({"spec": {
        "holderIdentity": node,
        "leaseDurationSeconds": LEASE_DURATION_SECONDS,
        "renewTime": MicroTime(now),
    }})
}

/// The body of a status heartbeat (a merge patch on `nodes/status`): all conditions, fresh.
pub fn heartbeat(transition: Timestamp, now: Timestamp) -> serde_json::Value {
    serde_json::json!({"status": {"conditions": conditions(transition, now)}})
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> Config {
        Config { nodes: 3, zones: 2, labels: vec![("rack".into(), "r1".into())], ..Config::default() }
    }

    #[test]
    fn names_and_indexes() {
        assert_eq!(node_name("hollow-", 7), "hollow-7");
        assert_eq!(node_index("hollow-", 10, "hollow-7"), Some(7));
        assert_eq!(node_index("hollow-", 10, "hollow-0"), Some(0));
        assert_eq!(node_index("hollow-", 10, "hollow-10"), None);
        assert_eq!(node_index("hollow-", 10, "hollow-07"), None);
        assert_eq!(node_index("hollow-", 10, "hollow-"), None);
        assert_eq!(node_index("hollow-", 10, "hollow-x"), None);
        assert_eq!(node_index("hollow-", 10, "other-1"), None);
    }

    #[test]
    fn node_ips_are_distinct() {
        assert_eq!(node_ip(0), Ipv4Addr::new(10, 200, 0, 1));
        assert_eq!(node_ip(255), Ipv4Addr::new(10, 200, 1, 0));
        assert_eq!(node_ip(4999), Ipv4Addr::new(10, 200, 19, 136));
        let ips: std::collections::HashSet<_> = (0..70_000).map(node_ip).collect();
        assert_eq!(ips.len(), 70_000);
    }

    #[test]
    fn node_object() {
        let now = Timestamp::from_second(1_700_000_000).unwrap();
        let node = build_node(&config(), 1, 42, now, now);
        let v = serde_json::to_value(&node).unwrap();
        assert_eq!(v["metadata"]["name"], "hollow-1");
        let labels = &v["metadata"]["labels"];
        assert_eq!(labels["kubernetes.io/hostname"], "hollow-1");
        assert_eq!(labels["kubernetes.io/os"], "linux");
        assert_eq!(labels["kubernetes.io/arch"], "amd64");
        assert_eq!(labels["type"], "hollow");
        assert_eq!(labels[ZONE_LABEL], "zone-1");
        assert_eq!(labels["rack"], "r1");
        assert_eq!(v["metadata"]["annotations"][HOLLOW_ANNOTATION], "true");

        let st = &v["status"];
        for field in ["capacity", "allocatable"] {
            assert_eq!(st[field]["cpu"], "32");
            assert_eq!(st[field]["memory"], "128Gi");
            assert_eq!(st[field]["pods"], "110");
            assert_eq!(st[field]["ephemeral-storage"], "100Gi");
        }
        let conds = st["conditions"].as_array().unwrap();
        let ready = conds.iter().find(|c| c["type"] == "Ready").unwrap();
        assert_eq!(ready["status"], "True");
        assert_eq!(ready["reason"], "KubeletReady");
        assert_eq!(ready["message"], "kubelet is posting ready status");
        assert_eq!(ready["lastHeartbeatTime"], "2023-11-14T22:13:20Z");
        for (t, reason) in [
            ("MemoryPressure", "KubeletHasSufficientMemory"),
            ("DiskPressure", "KubeletHasNoDiskPressure"),
            ("PIDPressure", "KubeletHasSufficientPID"),
        ] {
            let c = conds.iter().find(|c| c["type"] == t).unwrap();
            assert_eq!((c["status"].as_str(), c["reason"].as_str()), (Some("False"), Some(reason)));
        }
        assert_eq!(st["addresses"][0], serde_json::json!({"type": "InternalIP", "address": "10.200.0.2"}));
        assert_eq!(st["addresses"][1], serde_json::json!({"type": "Hostname", "address": "hollow-1"}));
        let info = &st["nodeInfo"];
        assert_eq!(info["kubeletVersion"], KUBELET_VERSION);
        assert_eq!(info["containerRuntimeVersion"], "sim://0.1");
        assert_eq!(info["architecture"], "amd64");
        assert_eq!(info["operatingSystem"], "linux");
        assert_eq!(info["machineID"].as_str().unwrap().len(), 32);
        assert_eq!(info["systemUUID"].as_str().unwrap().len(), 36);
        assert_eq!(info["bootID"].as_str().unwrap().len(), 36);

        // IDs are stable per node, different between nodes; boot IDs change with the run.
        let other = build_node(&config(), 2, 42, now, now).status.unwrap().node_info.unwrap();
        let again = build_node(&config(), 1, 43, now, now).status.unwrap().node_info.unwrap();
        assert_ne!(other.machine_id, info["machineID"]);
        assert_eq!(again.machine_id, info["machineID"]);
        assert_ne!(again.boot_id, info["bootID"]);
    }

    #[test]
    fn no_zone_label_without_zones() {
        let c = Config { zones: 0, ..config() };
        let node = build_node(&c, 1, 0, Timestamp::UNIX_EPOCH, Timestamp::UNIX_EPOCH);
        assert!(!node.metadata.labels.unwrap().contains_key(ZONE_LABEL));
    }

    #[test]
    fn lease_object() {
        let now = Timestamp::from_second(1_700_000_000).unwrap();
        let v = serde_json::to_value(build_lease("hollow-0", Some("u-1"), now)).unwrap();
        assert_eq!(v["metadata"]["namespace"], LEASE_NAMESPACE);
        assert_eq!(v["metadata"]["ownerReferences"][0]["kind"], "Node");
        assert_eq!(v["metadata"]["ownerReferences"][0]["uid"], "u-1");
        assert_eq!(v["spec"]["holderIdentity"], "hollow-0");
        assert_eq!(v["spec"]["leaseDurationSeconds"], 40);
        assert_eq!(v["spec"]["renewTime"], "2023-11-14T22:13:20.000000Z");
        assert_eq!(lease_renewal("hollow-0", now)["spec"]["renewTime"], "2023-11-14T22:13:20.000000Z");
        assert!(build_lease("hollow-0", None, now).metadata.owner_references.is_none());
    }
}
