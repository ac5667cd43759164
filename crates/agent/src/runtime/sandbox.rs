//! Pod sandboxes without a pause container: the namespaces a pod's containers share (network,
//! IPC, UTS) are made by a short-lived helper (`skiff sandbox`, this binary re-executed) and kept
//! alive by bind mounts in the pod's state dir; containers join them by path.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use nix::mount::{MntFlags, MsFlags};
use nix::sched::CloneFlags;

/// The namespaces of one pod, as files to join.
#[derive(Debug, Clone)]
pub struct Sandbox {
    pub dir: PathBuf,
    /// The pod shares the node's network (and host name).
    pub host_network: bool,
}

const NAMESPACES: [&str; 3] = ["net", "ipc", "uts"];

impl Sandbox {
    pub fn at(dir: &Path, host_network: bool) -> Sandbox {
        Sandbox { dir: dir.to_path_buf(), host_network }
    }

    /// The path of namespace `kind` (net, ipc, uts), or None when the pod uses the host's.
    pub fn namespace(&self, kind: &str) -> Option<PathBuf> {
        let shared = match kind {
            "net" | "uts" => !self.host_network,
            _ => true,
        };
        shared.then(|| self.dir.join(kind))
    }

    /// Whether the namespaces exist (bind-mounted) already: an agent restart keeps them.
    pub fn exists(&self) -> bool {
        self.dir.join("ipc").exists() && is_mount_point(&self.dir.join("ipc"))
    }

    /// Make the namespaces by running `self_exe sandbox DIR HOSTNAME [--host-network]`.
    pub async fn create(&self, self_exe: &Path, hostname: &str) -> Result<(), String> {
        std::fs::create_dir_all(&self.dir).map_err(|e| format!("{}: {e}", self.dir.display()))?;
        let mut cmd = tokio::process::Command::new(self_exe);
        cmd.arg("sandbox").arg(&self.dir).arg(hostname);
        if self.host_network {
            cmd.arg("--host-network");
        }
        let out = cmd.stdin(Stdio::null()).output().await.map_err(|e| format!("{}: {e}", self_exe.display()))?;
        if !out.status.success() {
            return Err(format!("making the pod sandbox: {}", String::from_utf8_lossy(&out.stderr).trim()));
        }
        Ok(())
    }

    /// Unmount the namespaces (they go when the last container left them) and remove the dir.
    pub fn remove(&self) -> Result<(), String> {
        for ns in NAMESPACES {
            let p = self.dir.join(ns);
            if is_mount_point(&p) {
                nix::mount::umount2(&p, MntFlags::MNT_DETACH)
                    .map_err(|e| format!("unmounting {}: {e}", p.display()))?;
            }
        }
        match std::fs::remove_dir_all(&self.dir) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(format!("{}: {e}", self.dir.display())),
            _ => Ok(()),
        }
    }
}

/// Whether `path` has something mounted on it (its device differs from its parent's, or it is
/// an nsfs bind mount, whose inode lives on the nsfs device).
pub fn is_mount_point(path: &Path) -> bool {
    let Ok(target) = std::fs::metadata(path) else { return false };
    let Some(parent) = path.parent().and_then(|p| std::fs::metadata(p).ok()) else { return false };
    use std::os::unix::fs::MetadataExt;
    target.dev() != parent.dev()
}

/// The body of `skiff sandbox DIR HOSTNAME [--host-network]`: runs single-threaded in a fresh
/// process, unshares, names the host, brings loopback up and pins each namespace to a file.
pub fn sandbox_main(dir: &Path, hostname: &str, host_network: bool) -> Result<(), String> {
    let mut flags = CloneFlags::CLONE_NEWIPC;
    if !host_network {
        flags |= CloneFlags::CLONE_NEWNET | CloneFlags::CLONE_NEWUTS;
    }
    nix::sched::unshare(flags).map_err(|e| format!("unshare: {e}"))?;
    if !host_network {
        nix::unistd::sethostname(hostname).map_err(|e| format!("sethostname {hostname:?}: {e}"))?;
        let up = std::process::Command::new("ip")
            .args(["link", "set", "lo", "up"])
            .status()
            .map_err(|e| format!("running ip (iproute2): {e}"))?;
        if !up.success() {
            return Err("ip link set lo up failed".into());
        }
    }
    for ns in NAMESPACES {
        if host_network && ns != "ipc" {
            continue;
        }
        let target = dir.join(ns);
        std::fs::File::create(&target).map_err(|e| format!("{}: {e}", target.display()))?;
        let source = PathBuf::from(format!("/proc/thread-self/ns/{ns}"));
        nix::mount::mount(Some(&source), &target, None::<&str>, MsFlags::MS_BIND, None::<&str>)
            .map_err(|e| format!("bind-mounting {}: {e}", source.display()))?;
    }
    Ok(())
}
