//! What the sim needs to know of a pod ([`PodInfo`], kept small: 100,000 of them stay in memory),
//! the statuses a kubelet would report for it (running, then finished), and the fake pod IPs.
//! Pure functions.

use std::collections::HashSet;
use std::net::Ipv4Addr;
use std::time::Duration;

use k8s_openapi::api::core::v1::{
    ContainerState, ContainerStateRunning, ContainerStateTerminated, ContainerStatus, HostIP, Pod, PodCondition, PodIP,
    PodStatus,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;

use crate::duration::parse_duration;
use crate::node::node_index;

/// After this long (a Go duration) a running pod finishes.
pub const COMPLETE_AFTER_ANNOTATION: &str = "sim.skiff.dev/complete-after";
/// The exit code of a pod that finishes: nonzero makes it Failed.
pub const EXIT_CODE_ANNOTATION: &str = "sim.skiff.dev/exit-code";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Pending,
    Running,
    Succeeded,
    Failed,
    Unknown,
}

impl Phase {
    fn parse(s: Option<&str>) -> Phase {
        match s {
            None | Some("Pending") | Some("") => Phase::Pending,
            Some("Running") => Phase::Running,
            Some("Succeeded") => Phase::Succeeded,
            Some("Failed") => Phase::Failed,
            Some(_) => Phase::Unknown,
        }
    }

    pub fn finished(self) -> bool {
        matches!(self, Phase::Succeeded | Phase::Failed)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerInfo {
    pub name: String,
    pub image: String,
    /// An init container with `restartPolicy: Always`: it keeps running beside the others.
    pub sidecar: bool,
}

/// A pod bound to one of our nodes, reduced to what the sim acts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodInfo {
    pub namespace: String,
    pub name: String,
    pub uid: String,
    /// Index of the node it is bound to.
    pub node: usize,
    pub phase: Phase,
    pub deleting: bool,
    pub start_time: Option<Timestamp>,
    pub pod_ip: Option<Ipv4Addr>,
    pub containers: Vec<ContainerInfo>,
    pub init_containers: Vec<ContainerInfo>,
    pub complete_after: Option<Duration>,
    pub exit_code: i32,
}

impl PodInfo {
    /// The pod's info if it is bound to one of our nodes (`<prefix><i>`, `i < nodes`).
    pub fn from_pod(pod: &Pod, prefix: &str, nodes: usize) -> Option<PodInfo> {
        let spec = pod.spec.as_ref()?;
        let node = node_index(prefix, nodes, spec.node_name.as_deref()?)?;
        let meta = &pod.metadata;
        let status = pod.status.as_ref();
        let annotation = |k: &str| meta.annotations.as_ref().and_then(|a| a.get(k)).map(|v| v.trim());
        let complete_after = annotation(COMPLETE_AFTER_ANNOTATION).and_then(|v| match parse_duration(v) {
            Ok(d) => Some(d),
            Err(e) => {
                tracing::debug!(
                    "pod {}/{}: ignoring {COMPLETE_AFTER_ANNOTATION}: {e}",
                    s(&meta.namespace),
                    s(&meta.name)
                );
                None
            }
        });
        let exit_code = annotation(EXIT_CODE_ANNOTATION).and_then(|v| v.parse().ok()).unwrap_or(0);
        Some(PodInfo {
            namespace: s(&meta.namespace).to_string(),
            name: s(&meta.name).to_string(),
            uid: s(&meta.uid).to_string(),
            node,
            phase: Phase::parse(status.and_then(|s| s.phase.as_deref())),
            deleting: meta.deletion_timestamp.is_some(),
            start_time: status.and_then(|s| s.start_time.as_ref()).map(|t| t.0),
            pod_ip: status.and_then(|s| s.pod_ip.as_deref()).and_then(|ip| ip.parse().ok()),
            containers: spec
                .containers
                .iter()
                .map(|c| ContainerInfo { name: c.name.clone(), image: s(&c.image).to_string(), sidecar: false })
                .collect(),
            init_containers: spec
                .init_containers
                .iter()
                .flatten()
                .map(|c| ContainerInfo {
                    name: c.name.clone(),
                    image: s(&c.image).to_string(),
                    sidecar: c.restart_policy.as_deref() == Some("Always"),
                })
                .collect(),
            complete_after,
            exit_code,
        })
    }

    /// `namespace/name`.
    pub fn key(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }
}

fn s(o: &Option<String>) -> &str {
    o.as_deref().unwrap_or("")
}

fn condition(type_: &str, ok: bool, reason: Option<&str>, at: Timestamp) -> PodCondition {
    PodCondition {
        type_: type_.to_string(),
        status: if ok { "True" } else { "False" }.to_string(),
        reason: reason.map(str::to_string),
        last_transition_time: Some(Time(at)),
        ..Default::default()
    }
}

fn container_id(info: &PodInfo, c: &ContainerInfo) -> String {
    format!("sim://{}-{}", info.uid, c.name)
}

fn running(info: &PodInfo, c: &ContainerInfo, start: Timestamp) -> ContainerStatus {
    ContainerStatus {
        name: c.name.clone(),
        image: c.image.clone(),
        image_id: format!("sim://{}", c.image),
        container_id: Some(container_id(info, c)),
        ready: true,
        started: Some(true),
        restart_count: 0,
        state: Some(ContainerState {
            running: Some(ContainerStateRunning { started_at: Some(Time(start)) }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn terminated(
    info: &PodInfo,
    c: &ContainerInfo,
    exit_code: i32,
    start: Timestamp,
    finished: Timestamp,
    ready: bool,
) -> ContainerStatus {
    ContainerStatus {
        name: c.name.clone(),
        image: c.image.clone(),
        image_id: format!("sim://{}", c.image),
        container_id: Some(container_id(info, c)),
        ready,
        started: Some(false),
        restart_count: 0,
        state: Some(ContainerState {
            terminated: Some(ContainerStateTerminated {
                container_id: Some(container_id(info, c)),
                exit_code,
                reason: Some(if exit_code == 0 { "Completed" } else { "Error" }.to_string()),
                started_at: Some(Time(start)),
                finished_at: Some(Time(finished)),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn placed(host_ip: Ipv4Addr, pod_ip: Ipv4Addr, start: Timestamp) -> PodStatus {
    PodStatus {
        host_ip: Some(host_ip.to_string()),
        host_ips: Some(vec![HostIP { ip: host_ip.to_string() }]),
        pod_ip: Some(pod_ip.to_string()),
        pod_ips: Some(vec![PodIP { ip: pod_ip.to_string() }]),
        start_time: Some(Time(start)),
        ..Default::default()
    }
}

/// The status of a pod whose containers all run: init containers completed (sidecars running),
/// every container ready.
pub fn running_status(info: &PodInfo, host_ip: Ipv4Addr, pod_ip: Ipv4Addr, start: Timestamp) -> PodStatus {
    PodStatus {
        phase: Some("Running".to_string()),
        conditions: Some(vec![
            condition("PodReadyToStartContainers", true, None, start),
            condition("Initialized", true, None, start),
            condition("Ready", true, None, start),
            condition("ContainersReady", true, None, start),
            condition("PodScheduled", true, None, start),
        ]),
        container_statuses: Some(info.containers.iter().map(|c| running(info, c, start)).collect()),
        init_container_statuses: (!info.init_containers.is_empty()).then(|| {
            info.init_containers
                .iter()
                .map(|c| if c.sidecar { running(info, c, start) } else { terminated(info, c, 0, start, start, true) })
                .collect()
        }),
        ..placed(host_ip, pod_ip, start)
    }
}

/// The status of a pod whose containers all exited with `info.exit_code` at `finished`:
/// Succeeded for 0, Failed otherwise.
pub fn finished_status(
    info: &PodInfo,
    host_ip: Ipv4Addr,
    pod_ip: Ipv4Addr,
    start: Timestamp,
    finished: Timestamp,
) -> PodStatus {
    let code = info.exit_code;
    PodStatus {
        phase: Some(if code == 0 { "Succeeded" } else { "Failed" }.to_string()),
        conditions: Some(vec![
            condition("PodReadyToStartContainers", false, None, finished),
            condition("Initialized", true, None, start),
            condition("Ready", false, Some("PodCompleted"), finished),
            condition("ContainersReady", false, Some("PodCompleted"), finished),
            condition("PodScheduled", true, None, start),
        ]),
        container_statuses: Some(
            info.containers.iter().map(|c| terminated(info, c, code, start, finished, false)).collect(),
        ),
        init_container_statuses: (!info.init_containers.is_empty()).then(|| {
            info.init_containers
                .iter()
                .map(|c| {
                    if c.sidecar {
                        terminated(info, c, 0, start, finished, false)
                    } else {
                        terminated(info, c, 0, start, start, true)
                    }
                })
                .collect()
        }),
        ..placed(host_ip, pod_ip, start)
    }
}

/// Fake pod IPs, unique among the live pods of this sim: 10.42.0.1 up to 10.42.255.254, then
/// 10.44.0.1 and on (10.43/16 is the default service range, so it is skipped).
#[derive(Debug, Default)]
pub struct IpPool {
    used: HashSet<u32>,
    free: Vec<u32>,
    next: u32,
}

impl IpPool {
    /// The address of pool slot `n`.
    pub fn addr(n: u32) -> Ipv4Addr {
        let block = n >> 16;
        let second = if block == 0 { 42 } else { 43 + block };
        Ipv4Addr::new(10, second.min(255) as u8, (n >> 8) as u8, n as u8)
    }

    /// The pool slot of an address, if it is one of the pool's.
    pub fn slot(ip: Ipv4Addr) -> Option<u32> {
        let [a, b, c, d] = ip.octets();
        let block = match (a, b) {
            (10, 42) => 0,
            (10, 44..) => u32::from(b) - 43,
            _ => return None,
        };
        let n = block << 16 | u32::from(c) << 8 | u32::from(d);
        Self::usable(n).then_some(n)
    }

    /// Not the first or last address of a /16.
    fn usable(n: u32) -> bool {
        let low = n & 0xffff;
        low != 0 && low != 0xffff && n >> 16 <= 255 - 43
    }

    /// A free address.
    pub fn allocate(&mut self) -> Ipv4Addr {
        while let Some(n) = self.free.pop() {
            if self.used.insert(n) {
                return Self::addr(n);
            }
        }
        loop {
            let n = self.next;
            // Past the last block: start over (freed addresses are reused first anyway).
            self.next = if n >> 16 > 255 - 43 { 0 } else { n + 1 };
            if Self::usable(n) && self.used.insert(n) {
                return Self::addr(n);
            }
        }
    }

    /// Record an address a pod already has (from an earlier run of the sim).
    pub fn mark(&mut self, ip: Ipv4Addr) {
        if let Some(n) = Self::slot(ip) {
            self.used.insert(n);
        }
    }

    pub fn release(&mut self, ip: Ipv4Addr) {
        if let Some(n) = Self::slot(ip)
            && self.used.remove(&n)
        {
            self.free.push(n);
        }
    }

    pub fn in_use(&self) -> usize {
        self.used.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(annotations: serde_json::Value, node: &str) -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": "p", "namespace": "ns", "uid": "u1", "annotations": annotations},
            "spec": {
                "nodeName": node,
                "initContainers": [{"name": "init", "image": "busybox"}, {"name": "side", "image": "envoy", "restartPolicy": "Always"}],
                "containers": [{"name": "a", "image": "nginx:1"}, {"name": "b", "image": "redis"}],
            },
            "status": {"phase": "Pending", "qosClass": "BestEffort"},
        }))
        .unwrap()
    }

    fn ts(s: i64) -> Timestamp {
        Timestamp::from_second(s).unwrap()
    }

    #[test]
    fn info_of_our_pods_only() {
        assert!(PodInfo::from_pod(&pod(json!({}), "other-1"), "hollow-", 3).is_none());
        assert!(PodInfo::from_pod(&pod(json!({}), "hollow-3"), "hollow-", 3).is_none());
        let info = PodInfo::from_pod(&pod(json!({}), "hollow-2"), "hollow-", 3).unwrap();
        assert_eq!((info.key(), info.uid.as_str(), info.node), ("ns/p".to_string(), "u1", 2));
        assert_eq!(info.phase, Phase::Pending);
        assert!(!info.deleting && info.complete_after.is_none() && info.exit_code == 0);
        assert_eq!(info.containers.len(), 2);
        assert!(!info.init_containers[0].sidecar && info.init_containers[1].sidecar);
    }

    #[test]
    fn annotations() {
        let a = json!({COMPLETE_AFTER_ANNOTATION: "5s", EXIT_CODE_ANNOTATION: "3"});
        let info = PodInfo::from_pod(&pod(a, "hollow-0"), "hollow-", 1).unwrap();
        assert_eq!((info.complete_after, info.exit_code), (Some(Duration::from_secs(5)), 3));
        let a = json!({COMPLETE_AFTER_ANNOTATION: "soon", EXIT_CODE_ANNOTATION: "x"});
        let info = PodInfo::from_pod(&pod(a, "hollow-0"), "hollow-", 1).unwrap();
        assert_eq!((info.complete_after, info.exit_code), (None, 0));
    }

    #[test]
    fn running_pod_status() {
        let info = PodInfo::from_pod(&pod(json!({}), "hollow-0"), "hollow-", 1).unwrap();
        let st = running_status(&info, "10.200.0.1".parse().unwrap(), "10.42.0.7".parse().unwrap(), ts(1_700_000_000));
        let v = serde_json::to_value(&st).unwrap();
        assert_eq!(v["phase"], "Running");
        assert_eq!((v["hostIP"].as_str(), v["podIP"].as_str()), (Some("10.200.0.1"), Some("10.42.0.7")));
        assert_eq!(v["podIPs"], json!([{"ip": "10.42.0.7"}]));
        assert_eq!(v["hostIPs"], json!([{"ip": "10.200.0.1"}]));
        assert_eq!(v["startTime"], "2023-11-14T22:13:20Z");
        assert!(v.get("qosClass").is_none(), "a merge patch must leave the QoS class alone");
        let types: Vec<_> = v["conditions"].as_array().unwrap().iter().map(|c| c["type"].as_str().unwrap()).collect();
        assert_eq!(types, ["PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady", "PodScheduled"]);
        assert!(v["conditions"].as_array().unwrap().iter().all(|c| c["status"] == "True"));
        let a = &v["containerStatuses"][0];
        assert_eq!(a["name"], "a");
        assert_eq!(a["image"], "nginx:1");
        assert_eq!(a["imageID"], "sim://nginx:1");
        assert_eq!(a["containerID"], "sim://u1-a");
        assert_eq!(
            (a["ready"].as_bool(), a["started"].as_bool(), a["restartCount"].as_i64()),
            (Some(true), Some(true), Some(0))
        );
        assert_eq!(a["state"]["running"]["startedAt"], "2023-11-14T22:13:20Z");
        assert_eq!(v["containerStatuses"][1]["name"], "b");
        let init = &v["initContainerStatuses"][0];
        assert_eq!(init["state"]["terminated"]["reason"], "Completed");
        assert_eq!(init["state"]["terminated"]["exitCode"], 0);
        assert!(v["initContainerStatuses"][1]["state"]["running"].is_object(), "sidecars keep running");
    }

    #[test]
    fn finished_pod_status() {
        let mut info = PodInfo::from_pod(&pod(json!({}), "hollow-0"), "hollow-", 1).unwrap();
        let (h, p) = ("10.200.0.1".parse().unwrap(), "10.42.0.7".parse().unwrap());
        let v = serde_json::to_value(finished_status(&info, h, p, ts(100), ts(105))).unwrap();
        assert_eq!(v["phase"], "Succeeded");
        let t = &v["containerStatuses"][0]["state"]["terminated"];
        assert_eq!((t["reason"].as_str(), t["exitCode"].as_i64()), (Some("Completed"), Some(0)));
        assert_eq!(t["finishedAt"], "1970-01-01T00:01:45Z");
        assert_eq!(v["containerStatuses"][0]["ready"], false);
        let ready = v["conditions"].as_array().unwrap().iter().find(|c| c["type"] == "Ready").unwrap();
        assert_eq!((ready["status"].as_str(), ready["reason"].as_str()), (Some("False"), Some("PodCompleted")));
        assert_eq!(v["podIP"], "10.42.0.7");

        info.exit_code = 2;
        let v = serde_json::to_value(finished_status(&info, h, p, ts(100), ts(105))).unwrap();
        assert_eq!(v["phase"], "Failed");
        let t = &v["containerStatuses"][1]["state"]["terminated"];
        assert_eq!((t["reason"].as_str(), t["exitCode"].as_i64()), (Some("Error"), Some(2)));
    }

    #[test]
    fn ip_pool_hands_out_unique_addresses() {
        let mut pool = IpPool::default();
        let first = pool.allocate();
        assert_eq!(first, Ipv4Addr::new(10, 42, 0, 1));
        let mut seen = HashSet::from([first]);
        for _ in 0..100_000 {
            let ip = pool.allocate();
            assert!(seen.insert(ip), "{ip} twice");
            assert_eq!(IpPool::slot(ip).map(IpPool::addr), Some(ip));
            assert_ne!(ip.octets()[1], 43, "the service range is skipped");
        }
        assert_eq!(pool.in_use(), 100_001);
        pool.release(first);
        assert_eq!(pool.allocate(), first);
    }

    #[test]
    fn ip_pool_respects_addresses_in_use() {
        let mut pool = IpPool::default();
        pool.mark(Ipv4Addr::new(10, 42, 0, 1));
        pool.mark(Ipv4Addr::new(192, 168, 0, 1));
        assert_eq!(pool.allocate(), Ipv4Addr::new(10, 42, 0, 2));
        assert_eq!(pool.in_use(), 2);
    }
}
