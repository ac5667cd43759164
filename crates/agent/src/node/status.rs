//! The Node this agent registers and the status it reports: capacity and allocatable, addresses,
//! node info, images and the pressure conditions. Pure functions of what the host reports.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    ContainerImage, DaemonEndpoint, Node, NodeAddress, NodeCondition, NodeDaemonEndpoints, NodeStatus, NodeSystemInfo,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use k8s_openapi::jiff::Timestamp;

use super::host::Host;
use crate::Config;

pub const KUBELET_VERSION: &str = "v1.33.0-skiff";
/// Pods a node takes, as kubelet's default `maxPods`.
pub const MAX_PODS: u32 = 110;
/// Kubelet's default hard eviction threshold `memory.available<100Mi`, kept out of allocatable.
const MEMORY_RESERVE: u64 = 100 * 1024 * 1024;
/// Node status lists at most this many images, as kubelet's `nodeStatusMaxImages`.
const MAX_IMAGES: usize = 50;

pub fn labels(config: &Config, host: &Host) -> BTreeMap<String, String> {
    let mut l: BTreeMap<String, String> = [
        ("kubernetes.io/hostname", config.node_name.as_str()),
        ("kubernetes.io/os", "linux"),
        ("kubernetes.io/arch", host.arch),
        ("beta.kubernetes.io/os", "linux"),
        ("beta.kubernetes.io/arch", host.arch),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    if config.control_plane {
        l.insert("node-role.kubernetes.io/control-plane".into(), "true".into());
    }
    l
}

/// The Node as first created (status follows in its own write).
pub fn node(config: &Config, host: &Host) -> Node {
    Node {
        metadata: ObjectMeta {
            name: Some(config.node_name.clone()),
            labels: Some(labels(config, host)),
            ..Default::default()
        },
        ..Default::default()
    }
}

/// One pressure condition's state now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pressure {
    pub memory: bool,
    pub disk: bool,
    pub pid: bool,
}

impl Pressure {
    /// Kubelet's default hard eviction thresholds: memory.available<100Mi, nodefs.available<10%,
    /// and PIDs over 90% of pid_max.
    pub fn of(host: &Host) -> Pressure {
        Pressure {
            memory: host.memory_available_bytes < MEMORY_RESERVE,
            disk: host.disk_bytes > 0 && host.disk_available_bytes * 10 < host.disk_bytes,
            pid: host.processes * 10 > host.pid_max * 9,
        }
    }
}

/// The conditions for `pressure`, keeping the transition time of any condition whose status
/// did not change since `previous`.
pub fn conditions(pressure: &Pressure, previous: &[NodeCondition], now: Timestamp) -> Vec<NodeCondition> {
    let cond = |type_: &str, status: bool, (yes, no): ((&str, &str), (&str, &str))| {
        let (reason, message) = if status { yes } else { no };
        let status = if status { "True" } else { "False" };
        let transition = previous
            .iter()
            .find(|c| c.type_ == type_ && c.status == status)
            .and_then(|c| c.last_transition_time.clone())
            .unwrap_or(Time(now));
        NodeCondition {
            type_: type_.to_string(),
            status: status.to_string(),
            reason: Some(reason.to_string()),
            message: Some(message.to_string()),
            last_heartbeat_time: Some(Time(now)),
            last_transition_time: Some(transition),
        }
    };
    vec![
        cond(
            "MemoryPressure",
            pressure.memory,
            (
                ("KubeletHasInsufficientMemory", "kubelet has insufficient memory available"),
                ("KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
            ),
        ),
        cond(
            "DiskPressure",
            pressure.disk,
            (
                ("KubeletHasDiskPressure", "kubelet has disk pressure"),
                ("KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
            ),
        ),
        cond(
            "PIDPressure",
            pressure.pid,
            (
                ("KubeletHasInsufficientPID", "kubelet has insufficient PID available"),
                ("KubeletHasSufficientPID", "kubelet has sufficient PID available"),
            ),
        ),
        cond("Ready", true, (("KubeletReady", "kubelet is posting ready status"), ("", ""))),
    ]
}

/// Everything of the status but the conditions.
pub fn status(config: &Config, host: &Host, runtime_version: &str, images: Vec<ContainerImage>) -> NodeStatus {
    let capacity: BTreeMap<String, Quantity> = [
        ("cpu", host.cpus.to_string()),
        ("memory", format!("{}Ki", host.memory_bytes / 1024)),
        ("ephemeral-storage", format!("{}Ki", host.disk_bytes / 1024)),
        ("pods", MAX_PODS.to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), Quantity(v)))
    .collect();
    let mut allocatable = capacity.clone();
    allocatable
        .insert("memory".into(), Quantity(format!("{}Ki", host.memory_bytes.saturating_sub(MEMORY_RESERVE) / 1024)));
    let hostname = nix::unistd::gethostname().ok().and_then(|h| h.into_string().ok()).unwrap_or_default();
    let mut images = images;
    images.sort_by_key(|i| std::cmp::Reverse(i.size_bytes));
    images.truncate(MAX_IMAGES);
    NodeStatus {
        capacity: Some(capacity),
        allocatable: Some(allocatable),
        addresses: Some(vec![
            NodeAddress { type_: "InternalIP".into(), address: config.node_ip.to_string() },
            NodeAddress {
                type_: "Hostname".into(),
                address: if hostname.is_empty() { config.node_name.clone() } else { hostname },
            },
        ]),
        daemon_endpoints: Some(NodeDaemonEndpoints {
            kubelet_endpoint: Some(DaemonEndpoint { port: i32::from(config.port) }),
        }),
        node_info: Some(NodeSystemInfo {
            architecture: host.arch.to_string(),
            operating_system: "linux".into(),
            os_image: host.os_image.clone(),
            kernel_version: host.kernel.clone(),
            kubelet_version: KUBELET_VERSION.into(),
            kube_proxy_version: String::new(),
            container_runtime_version: runtime_version.to_string(),
            machine_id: host.machine_id.clone(),
            system_uuid: host.machine_id.clone(),
            boot_id: host.boot_id.clone(),
            swap: None,
        }),
        images: Some(images),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transition_time_kept_while_status_holds() {
        let t0 = Timestamp::from_second(1_000).unwrap();
        let t1 = Timestamp::from_second(2_000).unwrap();
        let calm = Pressure { memory: false, disk: false, pid: false };
        let first = conditions(&calm, &[], t0);
        let again = conditions(&calm, &first, t1);
        assert!(
            again.iter().all(|c| c.last_transition_time == Some(Time(t0)) && c.last_heartbeat_time == Some(Time(t1)))
        );
        let full = Pressure { disk: true, ..calm };
        let changed = conditions(&full, &again, t1);
        let disk = changed.iter().find(|c| c.type_ == "DiskPressure").unwrap();
        assert_eq!((disk.status.as_str(), disk.last_transition_time.clone()), ("True", Some(Time(t1))));
        assert_eq!(disk.reason.as_deref(), Some("KubeletHasDiskPressure"));
    }
}
