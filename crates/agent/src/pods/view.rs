//! What the pod workers share with the agent's server: per container, its runtime id, log
//! files and whether it runs, so `pods/log` and `pods/exec` find their way.

use std::collections::BTreeMap;
use std::path::PathBuf;

use tokio::sync::watch;

#[derive(Default)]
pub struct PodView {
    pub containers: BTreeMap<String, ContainerView>,
    /// The pod's OCI runtime (its RuntimeClass's), which exec must use too.
    pub runtime: Option<crate::runtime::Runtime>,
}

pub struct ContainerView {
    pub id: Option<String>,
    /// The current run's log and its running flag.
    pub log: Option<(PathBuf, watch::Receiver<bool>)>,
    pub previous_log: Option<PathBuf>,
    pub waiting: Option<String>,
    pub running: bool,
    /// The current run's state dir (its stdin and resize FIFOs live there).
    pub dir: Option<PathBuf>,
    /// The container was asked for stdin / a terminal.
    pub stdin: bool,
    pub tty: bool,
}
