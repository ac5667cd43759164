//! `skiff killall`: stop every container of an agent's data dir and remove what the agent
//! left in the system (mounts, namespaces pinned by bind mounts, cgroups), like k3s's
//! killall script. Tests run it after each agent so nothing outlives them.

use std::path::Path;
use std::process::{Command, Stdio};

use nix::mount::MntFlags;

use crate::runtime::cgroups;

/// Kill and delete every container the agent's runtime root knows, unmount everything below
/// `agent_dir`, and remove the pods' cgroups. Errors are logged, not fatal: do as much as possible.
pub fn killall(agent_dir: &Path, runtime: &str) -> Vec<String> {
    let mut problems = Vec::new();
    // Every runtime the agent used keeps its state in run/<name> (RuntimeClass handlers too).
    let default_name = Path::new(runtime).file_name().and_then(|n| n.to_str()).unwrap_or("runc").to_string();
    for entry in std::fs::read_dir(agent_dir.join("run")).into_iter().flatten().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name == "console" || !entry.path().is_dir() {
            continue;
        }
        let binary = if name == default_name { runtime.to_string() } else { name };
        problems.extend(delete_all(&binary, &entry.path()));
    }
    // Shims exit when their container does; one that hangs on must not outlive the agent.
    for pid in shims_of(agent_dir) {
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
    }
    for mount in mounts_below(agent_dir) {
        if let Err(e) = nix::mount::umount2(mount.as_str(), MntFlags::MNT_DETACH) {
            problems.push(format!("unmounting {mount}: {e}"));
        }
    }
    if let Ok(pods) = std::fs::read_dir(agent_dir.join("pods")) {
        for p in pods.flatten() {
            cgroups::remove_pod(&p.file_name().to_string_lossy());
        }
    }
    problems
}

/// The shim processes whose state dirs are below `agent_dir` (their command line names them).
fn shims_of(agent_dir: &Path) -> Vec<i32> {
    let dir = agent_dir.to_string_lossy().into_owned();
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
            args.len() >= 3 && args[1] == b"shim" && args[2].starts_with(dir.as_bytes())
        })
        .collect()
}

/// Delete (with force) every container a runtime root holds.
fn delete_all(runtime: &str, root: &Path) -> Vec<String> {
    let list = Command::new(runtime).arg("--root").arg(root).args(["list", "--quiet"]).stderr(Stdio::null()).output();
    let ids: Vec<String> =
        list.map(|o| String::from_utf8_lossy(&o.stdout).lines().map(str::to_string).collect()).unwrap_or_default();
    ids.into_iter()
        .filter(|id| {
            !Command::new(runtime)
                .arg("--root")
                .arg(root)
                .args(["delete", "--force", id])
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        })
        .map(|id| format!("could not delete container {id}"))
        .collect()
}

/// Mount points at or below `dir`, deepest first (so nested mounts go before their parents).
fn mounts_below(dir: &Path) -> Vec<String> {
    let prefix = dir.to_string_lossy().trim_end_matches('/').to_string();
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mut found: Vec<String> = info
        .lines()
        .filter_map(|l| l.split_whitespace().nth(4))
        .map(unescape)
        .filter(|m| m == &prefix || m.starts_with(&format!("{prefix}/")))
        .collect();
    found.sort_by_key(|m| std::cmp::Reverse(m.len()));
    found.dedup();
    found
}

/// mountinfo escapes spaces, tabs, newlines and backslashes as octal.
fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 3 < b.len() && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c)) {
            let n = (b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0');
            out.push(n as char);
            i += 4;
        } else {
            out.push(b[i] as char);
            i += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unescapes_mountinfo_paths() {
        assert_eq!(unescape("/tmp/a\\040b"), "/tmp/a b");
        assert_eq!(unescape("/plain"), "/plain");
    }
}
