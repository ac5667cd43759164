//! The OCI runtime spec (`config.json`) of one container, from what the pod asked for. The
//! defaults (mounts, capabilities, masked and read-only paths) are containerd's, so containers
//! behave under skiff as under a kubelet with containerd.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde_json::{Value, json};

/// Capabilities a container gets unless it drops them (containerd's default set).
pub const DEFAULT_CAPS: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

/// Every capability Linux 5.9+ knows (privileged containers get them all).
pub const ALL_CAPS: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

const MASKED_PATHS: &[&str] = &[
    "/proc/acpi",
    "/proc/asound",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];

const READONLY_PATHS: &[&str] = &["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"];

/// A bind mount (or other mount) into the container.
#[derive(Debug, Clone, PartialEq)]
pub struct Mount {
    pub destination: String,
    pub source: PathBuf,
    pub kind: &'static str,
    pub options: Vec<String>,
}

impl Mount {
    pub fn bind(source: PathBuf, destination: &str, read_only: bool) -> Mount {
        let mut options = vec!["rbind".to_string(), "rprivate".to_string()];
        if read_only {
            options.push("ro".into());
        }
        Mount { destination: destination.to_string(), source, kind: "bind", options }
    }
}

/// Everything that decides a container's config.json.
#[derive(Debug, Clone, Default)]
pub struct ContainerSpec {
    pub args: Vec<String>,
    pub env: Vec<String>,
    pub cwd: String,
    pub uid: u32,
    pub gid: u32,
    pub additional_gids: Vec<u32>,
    pub terminal: bool,
    pub privileged: bool,
    pub read_only_root: bool,
    pub no_new_privileges: bool,
    /// Capabilities after the pod's add/drop (ignored when privileged).
    pub capabilities: Vec<String>,
    pub mounts: Vec<Mount>,
    /// (kind, path): join the namespace at path; kinds without an entry are new, except those
    /// in `host_namespaces`.
    pub join_namespaces: Vec<(&'static str, PathBuf)>,
    pub host_namespaces: Vec<&'static str>,
    pub cgroups_path: String,
    pub cpu_shares: Option<u64>,
    pub cpu_quota: Option<i64>,
    pub memory_limit: Option<i64>,
    pub sysctls: BTreeMap<String, String>,
    pub oom_score_adj: Option<i32>,
}

/// Capabilities from the default set with the pod's `add` and `drop` (`ALL` allowed in both;
/// names with or without the `CAP_` prefix, as Kubernetes writes them without).
pub fn capabilities(add: &[String], drop: &[String]) -> Vec<String> {
    let norm = |c: &str| {
        let c = c.to_ascii_uppercase();
        if c.starts_with("CAP_") { c } else { format!("CAP_{c}") }
    };
    let drops_all = drop.iter().any(|d| d.eq_ignore_ascii_case("ALL"));
    let mut caps: Vec<String> =
        if drops_all { Vec::new() } else { DEFAULT_CAPS.iter().map(|s| s.to_string()).collect() };
    let dropped: Vec<String> = drop.iter().filter(|d| !d.eq_ignore_ascii_case("ALL")).map(|d| norm(d)).collect();
    caps.retain(|c| !dropped.contains(c));
    for a in add {
        if a.eq_ignore_ascii_case("ALL") {
            caps = ALL_CAPS.iter().map(|s| s.to_string()).collect();
        } else if !caps.contains(&norm(a)) {
            caps.push(norm(a));
        }
    }
    caps
}

impl ContainerSpec {
    pub fn to_json(&self) -> Value {
        let caps: Vec<String> =
            if self.privileged { ALL_CAPS.iter().map(|s| s.to_string()).collect() } else { self.capabilities.clone() };
        let mut mounts = default_mounts(self.privileged);
        // A pod's own mount of a default destination (say /dev/shm) replaces the default.
        mounts.retain(|m| !self.mounts.iter().any(|o| o.destination == m.destination));
        let mut mounts: Vec<Value> = mounts.into_iter().map(mount_json).collect();
        mounts.extend(self.mounts.iter().cloned().map(mount_json));
        let mut namespaces = vec![json!({"type": "pid"}), json!({"type": "mount"})];
        for kind in ["network", "ipc", "uts", "cgroup"] {
            let short = if kind == "network" { "net" } else { kind };
            if let Some((_, path)) = self.join_namespaces.iter().find(|(k, _)| *k == short) {
                namespaces.push(json!({"type": kind, "path": path}));
            } else if !self.host_namespaces.contains(&short) {
                namespaces.push(json!({"type": kind}));
            }
        }
        let mut resources = json!({"devices": [{"allow": self.privileged, "access": "rwm"}]});
        let mut cpu = serde_json::Map::new();
        if let Some(s) = self.cpu_shares {
            cpu.insert("shares".into(), s.into());
        }
        if let Some(q) = self.cpu_quota {
            cpu.insert("quota".into(), q.into());
            cpu.insert("period".into(), 100_000u64.into());
        }
        if !cpu.is_empty() {
            resources["cpu"] = Value::Object(cpu);
        }
        if let Some(m) = self.memory_limit {
            resources["memory"] = json!({"limit": m});
        }
        let mut linux = json!({
            "namespaces": namespaces,
            "resources": resources,
            "cgroupsPath": self.cgroups_path,
        });
        if !self.privileged {
            linux["maskedPaths"] = json!(MASKED_PATHS);
            linux["readonlyPaths"] = json!(READONLY_PATHS);
        }
        if !self.sysctls.is_empty() {
            linux["sysctl"] = json!(self.sysctls);
        }
        let mut process = json!({
            "terminal": self.terminal,
            "user": {"uid": self.uid, "gid": self.gid, "additionalGids": self.additional_gids},
            "args": self.args,
            "env": self.env,
            "cwd": if self.cwd.is_empty() { "/" } else { &self.cwd },
            "capabilities": {"bounding": caps, "effective": caps, "permitted": caps},
            "noNewPrivileges": self.no_new_privileges,
        });
        if let Some(adj) = self.oom_score_adj {
            process["oomScoreAdj"] = adj.into();
        }
        json!({
            "ociVersion": "1.0.2",
            "process": process,
            "root": {"path": "rootfs", "readonly": self.read_only_root},
            "mounts": mounts,
            "linux": linux,
        })
    }
}

fn mount_json(m: Mount) -> Value {
    json!({"destination": m.destination, "type": m.kind, "source": m.source, "options": m.options})
}

fn default_mounts(privileged: bool) -> Vec<Mount> {
    let m = |destination: &str, kind: &'static str, source: &str, options: &[&str]| Mount {
        destination: destination.into(),
        source: source.into(),
        kind,
        options: options.iter().map(|s| s.to_string()).collect(),
    };
    let ro = if privileged { "rw" } else { "ro" };
    vec![
        m("/proc", "proc", "proc", &["nosuid", "noexec", "nodev"]),
        m("/dev", "tmpfs", "tmpfs", &["nosuid", "strictatime", "mode=755", "size=65536k"]),
        m("/dev/pts", "devpts", "devpts", &["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]),
        m("/dev/mqueue", "mqueue", "mqueue", &["nosuid", "noexec", "nodev"]),
        m("/sys", "sysfs", "sysfs", &["nosuid", "noexec", "nodev", ro]),
        m("/sys/fs/cgroup", "cgroup", "cgroup", &["nosuid", "noexec", "nodev", "relatime", ro]),
        m("/dev/shm", "tmpfs", "shm", &["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capabilities_add_and_drop_as_kubernetes_names_them() {
        let caps = capabilities(&["NET_ADMIN".into()], &["KILL".into(), "chown".into()]);
        assert!(caps.contains(&"CAP_NET_ADMIN".to_string()));
        assert!(!caps.contains(&"CAP_KILL".to_string()) && !caps.contains(&"CAP_CHOWN".to_string()));
        assert_eq!(capabilities(&["NET_BIND_SERVICE".into()], &["ALL".into()]), ["CAP_NET_BIND_SERVICE"]);
    }

    #[test]
    fn joins_sandbox_namespaces_and_keeps_host_ones() {
        let spec = ContainerSpec {
            args: vec!["sh".into()],
            join_namespaces: vec![("ipc", "/s/ipc".into())],
            host_namespaces: vec!["net", "uts"],
            memory_limit: Some(64 << 20),
            cpu_quota: Some(50_000),
            ..Default::default()
        };
        let j = spec.to_json();
        let ns: Vec<&Value> = j["linux"]["namespaces"].as_array().unwrap().iter().collect();
        assert!(ns.contains(&&json!({"type": "ipc", "path": "/s/ipc"})));
        assert!(!ns.iter().any(|n| n["type"] == "network" || n["type"] == "uts"));
        assert_eq!(j["linux"]["resources"]["memory"]["limit"], 64 << 20);
        assert_eq!(j["linux"]["resources"]["cpu"]["period"], 100_000);
        assert_eq!(j["process"]["cwd"], "/");
    }

    #[test]
    fn pod_mount_replaces_default_destination() {
        let spec =
            ContainerSpec { mounts: vec![Mount::bind("/pod/shm".into(), "/dev/shm", false)], ..Default::default() };
        let j = spec.to_json();
        let shm: Vec<&Value> =
            j["mounts"].as_array().unwrap().iter().filter(|m| m["destination"] == "/dev/shm").collect();
        assert_eq!(shm.len(), 1);
        assert_eq!(shm[0]["source"], "/pod/shm");
    }
}
