//! Running containers through an OCI runtime (runc by default): bundles, the per-container shim,
//! sandboxes, root filesystems, and the runtime's own commands (kill, delete, exec).

pub mod cgroups;
pub mod console;
pub mod exec_tty;
pub mod rootfs;
pub mod sandbox;
pub mod shim;
pub mod spec;
pub mod state;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};

use state::{Exited, ShimSpec, Started};

/// How long a container may take from shim start to running.
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// Log files are rotated at this size (kubelet's containerLogMaxSize default).
pub const LOG_MAX_BYTES: u64 = 10 * 1024 * 1024;

/// A container's log, cgroup and stdio, for [`Runtime::start`].
pub struct ContainerIo<'a> {
    pub log: &'a Path,
    pub cgroup: &'a str,
    pub stdin: bool,
    pub tty: bool,
}

/// The OCI runtime and where its state lives.
#[derive(Debug, Clone)]
pub struct Runtime {
    /// The runtime binary (`runc`, `crun`, or a path).
    pub binary: String,
    /// The runtime's `--root` (its own state: one per agent, so tests don't meet).
    pub root: PathBuf,
    /// This binary, re-executed as shim and sandbox maker.
    pub self_exe: PathBuf,
}

impl Runtime {
    /// The runtime's name (`runc`, `crun`): the scheme of container ids in pod status.
    pub fn name(&self) -> &str {
        Path::new(&self.binary).file_name().and_then(|n| n.to_str()).unwrap_or("runc")
    }

    /// `runc --version`'s first line as `runc://1.1.5`, for the node's containerRuntimeVersion.
    pub async fn version(&self) -> Result<String, String> {
        let out = tokio::process::Command::new(&self.binary)
            .arg("--version")
            .output()
            .await
            .map_err(|e| format!("the OCI runtime {:?} cannot run: {e}", self.binary))?;
        let text = String::from_utf8_lossy(&out.stdout);
        let first = text.lines().next().unwrap_or_default();
        let version = first.split_whitespace().nth(2).unwrap_or("unknown");
        let name = Path::new(&self.binary).file_name().and_then(|n| n.to_str()).unwrap_or("runc");
        Ok(format!("{name}://{version}"))
    }

    /// Write the bundle's config.json and start the container through a shim; returns once it
    /// runs (or failed to start, with the runtime's message).
    pub async fn start(
        &self,
        dir: &Path,
        id: &str,
        config: &serde_json::Value,
        io: &ContainerIo<'_>,
    ) -> Result<Started, String> {
        let bundle = dir.join("bundle");
        let _ = std::fs::remove_file(dir.join(state::EXITED));
        std::fs::write(bundle.join("config.json"), serde_json::to_vec_pretty(config).unwrap_or_default())
            .map_err(|e| format!("{}: {e}", bundle.display()))?;
        let spec = ShimSpec {
            id: id.to_string(),
            bundle,
            runtime: self.binary.clone(),
            runtime_root: self.root.clone(),
            log_path: io.log.to_path_buf(),
            log_max_bytes: LOG_MAX_BYTES,
            cgroup_path: io.cgroup.to_string(),
            stdin: io.stdin,
            tty: io.tty,
        };
        state::write_json(dir, state::SHIM_SPEC, &spec).map_err(|e| format!("{}: {e}", dir.display()))?;
        let shim_log = std::fs::File::create(dir.join("shim.log")).map_err(|e| format!("{}: {e}", dir.display()))?;
        let mut child = tokio::process::Command::new(&self.self_exe)
            .arg("shim")
            .arg(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(shim_log))
            .spawn()
            .map_err(|e| format!("starting the shim: {e}"))?;
        let stdout = child.stdout.take().ok_or("the shim has no stdout")?;
        let mut line = String::new();
        let read = tokio::time::timeout(START_TIMEOUT, BufReader::new(stdout).read_line(&mut line)).await;
        // The shim lives on in its own session; tokio reaps it when it exits.
        drop(child);
        match read {
            Err(_) => Err(format!("the container did not start within {START_TIMEOUT:?}")),
            Ok(Err(e)) => Err(format!("reading from the shim: {e}")),
            Ok(Ok(_)) => match line.trim_end().split_once(' ') {
                Some(("ok", _)) => {
                    state::read_json(dir, state::STARTED).ok_or_else(|| "the shim recorded no start".into())
                }
                Some(("error", msg)) => Err(msg.to_string()),
                _ => Err(format!(
                    "the shim failed: {}",
                    std::fs::read_to_string(dir.join("shim.log")).unwrap_or_default().trim()
                )),
            },
        }
    }

    /// Wait until a started container has exited; works for containers started by an earlier
    /// run of the agent too (it polls the shim's record).
    pub async fn wait(&self, dir: &Path, started: &Started) -> Exited {
        loop {
            if let Some(e) = state::read_json::<Exited>(dir, state::EXITED) {
                return e;
            }
            if !alive(started.shim_pid) {
                // The shim died without a record (killed): read it once more, then give up.
                if let Some(e) = state::read_json::<Exited>(dir, state::EXITED) {
                    return e;
                }
                let gone = Exited { code: 255, signal: None, oom_killed: false, at: jiff::Timestamp::now() };
                let _ = state::write_json(dir, state::EXITED, &gone);
                return gone;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Send a signal (`TERM`, `KILL`, …) to the container's init.
    pub async fn kill(&self, id: &str, signal: &str) -> Result<(), String> {
        self.command(&["kill", id, signal]).await
    }

    /// Remove the container from the runtime (killing whatever is left of it).
    pub async fn delete(&self, id: &str) -> Result<(), String> {
        match self.command(&["delete", "--force", id]).await {
            Err(e) if e.contains("does not exist") || e.contains("not exist") => Ok(()),
            other => other,
        }
    }

    async fn command(&self, args: &[&str]) -> Result<(), String> {
        let out = tokio::process::Command::new(&self.binary)
            .arg("--root")
            .arg(&self.root)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .await
            .map_err(|e| format!("running {}: {e}", self.binary))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!("{} {}: {}", self.binary, args.join(" "), String::from_utf8_lossy(&out.stderr).trim()))
        }
    }

    /// `runc exec` of a command in a running container (the caller wires stdio).
    pub fn exec_command(&self, id: &str, command: &[String]) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::new(&self.binary);
        cmd.arg("--root").arg(&self.root).arg("exec").arg(id).args(command);
        cmd
    }

    /// A command with a terminal, whose master runc sends to `console_socket`; the process
    /// (`skiff exec-tty`) exits with the command's status.
    pub fn exec_tty_command(&self, id: &str, command: &[String], console_socket: &Path) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::new(&self.self_exe);
        cmd.arg("exec-tty").arg(&self.binary).arg(&self.root).arg(console_socket).arg(id).args(command);
        cmd
    }
}

/// Whether a process exists (signal 0).
pub fn alive(pid: u32) -> bool {
    let Ok(pid) = i32::try_from(pid) else { return false };
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_ok()
}
