//! Container logs in the CRI format kubelet and containerd use, one file per container run:
//! `<log-dir>/<namespace>_<pod>_<uid>/<container>/<restartCount>.log`, each line
//! `<RFC3339Nano timestamp> <stdout|stderr> <F|P> <text>` (`P` for a partial line split because it
//! was too long, `F` for the end of a line). Log collectors (fluent-bit, promtail) read these.

pub mod reader;
pub mod writer;

use std::path::{Path, PathBuf};

/// The folder of one pod's logs.
pub fn pod_dir(log_dir: &Path, namespace: &str, pod: &str, uid: &str) -> PathBuf {
    log_dir.join(format!("{namespace}_{pod}_{uid}"))
}

/// The log file of one run (`restart`) of a container.
pub fn container_file(pod_dir: &Path, container: &str, restart: u32) -> PathBuf {
    pod_dir.join(container).join(format!("{restart}.log"))
}

/// Which stream a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

impl Stream {
    pub fn name(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }
}
