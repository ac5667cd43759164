//! What a container's state dir holds, shared by the agent and the shim: the shim's parameters
//! (`shim.json`), the container's pid and start time (`started.json`), and how it ended
//! (`exit.json`). The files outlive the agent, which reads them again when it restarts.

use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// What the shim needs to run one container.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ShimSpec {
    /// The runtime's container id.
    pub id: String,
    pub bundle: PathBuf,
    /// The OCI runtime binary (runc, crun, …) and its state root.
    pub runtime: String,
    pub runtime_root: PathBuf,
    pub log_path: PathBuf,
    pub log_max_bytes: u64,
    /// The container's cgroup below each hierarchy's mount point, for the OOM verdict.
    pub cgroup_path: String,
    /// The container reads stdin (`stdin: true`): the shim keeps a FIFO for attach.
    #[serde(default)]
    pub stdin: bool,
    /// The container has a terminal (`tty: true`).
    #[serde(default)]
    pub tty: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Started {
    pub pid: i32,
    pub shim_pid: u32,
    pub at: jiff::Timestamp,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Exited {
    /// The exit status, or 128 + the signal that killed it.
    pub code: i32,
    pub signal: Option<i32>,
    pub oom_killed: bool,
    pub at: jiff::Timestamp,
}

pub const SHIM_SPEC: &str = "shim.json";
pub const STARTED: &str = "started.json";
pub const EXITED: &str = "exit.json";

pub fn write_json<T: Serialize>(dir: &Path, name: &str, value: &T) -> io::Result<()> {
    let tmp = dir.join(format!(".{name}.tmp"));
    std::fs::write(&tmp, serde_json::to_vec(value).map_err(io::Error::other)?)?;
    std::fs::rename(tmp, dir.join(name))
}

pub fn read_json<T: for<'de> Deserialize<'de>>(dir: &Path, name: &str) -> Option<T> {
    std::fs::read(dir.join(name)).ok().and_then(|b| serde_json::from_slice(&b).ok())
}
