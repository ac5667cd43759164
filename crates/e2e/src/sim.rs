//! Hollow nodes for cluster tests: `skiff sim` against a [`Server`], killed when dropped.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use crate::Server;

/// A running `skiff sim`, killed when dropped (also when the test fails).
pub struct Sim {
    child: Child,
    log: PathBuf,
}

impl Sim {
    /// Register `nodes` hollow nodes (`hollow-0` …) with the server.
    pub fn start(server: &Server, nodes: usize) -> Sim {
        Self::start_with(server, nodes, &[])
    }

    /// As [`Sim::start`], with more `skiff sim` flags (`--zones 3`, `--node-prefix x`, …).
    pub fn start_with(server: &Server, nodes: usize, extra_args: &[&str]) -> Sim {
        let prefix = extra_args
            .iter()
            .position(|a| *a == "--node-prefix")
            .and_then(|i| extra_args.get(i + 1))
            .copied()
            .unwrap_or("hollow");
        let log = server.dir().join(format!("sim-{prefix}.log"));
        let file = std::fs::File::create(&log).expect("sim log");
        let child = Command::new(server.bin())
            .arg("sim")
            .arg("--kubeconfig")
            .arg(server.kubeconfig())
            .arg("--nodes")
            .arg(nodes.to_string())
            .args(extra_args)
            .stdin(Stdio::null())
            .stdout(file.try_clone().expect("log fd"))
            .stderr(file)
            .spawn()
            .expect("spawn skiff sim");
        Sim { child, log }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Stop the hollow nodes at once (their leases then stop being renewed).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        self.kill();
    }
}
