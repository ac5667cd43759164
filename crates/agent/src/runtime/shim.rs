//! The per-container shim (`skiff shim STATE_DIR`, this binary re-executed): starts the
//! container through the OCI runtime, holds its stdout/stderr pipes and writes them to the CRI
//! log, then waits for it as a child subreaper and records how it ended. It runs in its own
//! session, so containers keep running while the agent restarts.
//!
//! Protocol with the agent: one line on stdout, `ok <pid>` once the container runs or
//! `error <message>` if it could not start; the rest goes to `exit.json`.

use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};

use nix::sys::wait::{WaitStatus, waitpid};
use nix::unistd::Pid;

use super::state::{self, Exited, ShimSpec, Started};
use crate::logs::Stream;
use crate::logs::writer::{LineSplitter, LogWriter};

pub fn shim_main(dir: &Path) -> i32 {
    let _ = nix::unistd::setsid();
    let report = |line: String| {
        let mut out = std::io::stdout();
        let _ = writeln!(out, "{line}");
        let _ = out.flush();
    };
    let spec: ShimSpec = match state::read_json(dir, state::SHIM_SPEC) {
        Some(s) => s,
        None => {
            report(format!("error cannot read {}", dir.join(state::SHIM_SPEC).display()));
            return 1;
        }
    };
    match run(dir, &spec, &report) {
        Ok(()) => 0,
        Err(e) => {
            report(format!("error {e}"));
            1
        }
    }
}

fn run(dir: &Path, spec: &ShimSpec, report: &dyn Fn(String)) -> Result<(), String> {
    nix::sys::prctl::set_child_subreaper(true).map_err(|e| format!("prctl: {e}"))?;
    let writer = LogWriter::open(spec.log_path.clone(), spec.log_max_bytes)
        .map_err(|e| format!("{}: {e}", spec.log_path.display()))?;
    let writer = Arc::new(Mutex::new(writer));
    let (out_r, out_w) = nix::unistd::pipe().map_err(|e| format!("pipe: {e}"))?;
    let (err_r, err_w) = nix::unistd::pipe().map_err(|e| format!("pipe: {e}"))?;

    let runc_log = dir.join("runtime.log");
    let pid_file = dir.join("pid");
    let _ = std::fs::remove_file(&pid_file);
    let create = Command::new(&spec.runtime)
        .arg("--root")
        .arg(&spec.runtime_root)
        .arg("--log")
        .arg(&runc_log)
        .arg("--log-format")
        .arg("json")
        .arg("create")
        .arg("--bundle")
        .arg(&spec.bundle)
        .arg("--pid-file")
        .arg(&pid_file)
        .arg(&spec.id)
        .stdin(Stdio::null())
        .stdout(Stdio::from(out_w))
        .stderr(Stdio::from(err_w))
        .status()
        .map_err(|e| format!("running {}: {e}", spec.runtime))?;
    // The runtime got its copies of the write ends; ours went into the Command and are closed,
    // so the pipes end when the container's last process closes them.
    let readers =
        [(out_r, Stream::Stdout), (err_r, Stream::Stderr)].map(|(fd, stream)| pump(fd, stream, writer.clone()));
    if !create.success() {
        return Err(runtime_error(&runc_log).unwrap_or_else(|| format!("{} create failed ({create})", spec.runtime)));
    }
    let pid: i32 = std::fs::read_to_string(&pid_file)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .ok_or_else(|| "the runtime wrote no pid file".to_string())?;
    let start = Command::new(&spec.runtime)
        .arg("--root")
        .arg(&spec.runtime_root)
        .arg("--log")
        .arg(&runc_log)
        .arg("--log-format")
        .arg("json")
        .arg("start")
        .arg(&spec.id)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map_err(|e| format!("running {}: {e}", spec.runtime))?;
    if !start.success() {
        return Err(runtime_error(&runc_log).unwrap_or_else(|| format!("{} start failed ({start})", spec.runtime)));
    }
    let started = Started { pid, shim_pid: std::process::id(), at: jiff::Timestamp::now() };
    state::write_json(dir, state::STARTED, &started).map_err(|e| format!("{}: {e}", dir.display()))?;
    report(format!("ok {pid}"));
    // From here on nobody reads stdout; keep no tie to the agent's terminal or pipes.
    if let Ok(null) = std::fs::OpenOptions::new().write(true).open("/dev/null") {
        let _ = nix::unistd::dup2_stdout(null);
    }

    let (code, signal) = wait_for(pid);
    let oom_killed = oom_killed(&spec.cgroup_path);
    for r in readers {
        let _ = r.join();
    }
    let exited = Exited { code, signal, oom_killed, at: jiff::Timestamp::now() };
    state::write_json(dir, state::EXITED, &exited).map_err(|e| format!("{}: {e}", dir.display()))
}

/// Copy one pipe into the log, line by line, on a small thread.
fn pump(fd: OwnedFd, stream: Stream, writer: Arc<Mutex<LogWriter>>) -> std::thread::JoinHandle<()> {
    std::thread::Builder::new()
        .stack_size(64 * 1024)
        .spawn(move || {
            let mut file = std::fs::File::from(fd);
            let mut split = LineSplitter::default();
            let mut buf = vec![0u8; 32 * 1024];
            let write = |t: &[u8], partial: bool| writer.lock().map_or(Ok(()), |mut w| w.line(stream, t, partial));
            loop {
                match file.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => {
                        if split.feed(&buf[..n], write).is_err() {
                            break;
                        }
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(_) => break,
                }
            }
            let _ = split.finish(write);
        })
        .expect("spawning a log thread")
}

/// Reap children until the container's init exits; its status as (code, signal).
fn wait_for(pid: i32) -> (i32, Option<i32>) {
    loop {
        match waitpid(None::<Pid>, None) {
            Ok(WaitStatus::Exited(p, code)) if p.as_raw() == pid => return (code, None),
            Ok(WaitStatus::Signaled(p, sig, _)) if p.as_raw() == pid => return (128 + sig as i32, Some(sig as i32)),
            Ok(_) => {}
            Err(nix::errno::Errno::EINTR) => {}
            Err(_) => return (255, None),
        }
    }
}

/// Whether the kernel's OOM killer killed a process of the container's cgroup (cgroup v1's
/// memory.oom_control or v2's memory.events both count `oom_kill`).
fn oom_killed(cgroup_path: &str) -> bool {
    let rel = cgroup_path.trim_start_matches('/');
    let candidates = [
        format!("/sys/fs/cgroup/memory/{rel}/memory.oom_control"),
        format!("/sys/fs/cgroup/{rel}/memory.events"),
        format!("/sys/fs/cgroup/unified/{rel}/memory.events"),
    ];
    candidates.iter().any(|f| {
        std::fs::read_to_string(f).is_ok_and(|s| {
            s.lines()
                .any(|l| l.strip_prefix("oom_kill ").and_then(|n| n.trim().parse::<u64>().ok()).is_some_and(|n| n > 0))
        })
    })
}

/// The last error the runtime logged (runc's `--log-format json` lines carry `msg`).
pub fn runtime_error(log: &Path) -> Option<String> {
    let text = std::fs::read_to_string(log).ok()?;
    text.lines().rev().find_map(|l| {
        let v: serde_json::Value = serde_json::from_str(l).ok()?;
        (v["level"] == "error" || v["level"] == "fatal").then(|| v["msg"].as_str().unwrap_or_default().to_string())
    })
}
