//! The per-container shim (`skiff shim STATE_DIR`, this binary re-executed): starts the
//! container through the OCI runtime, holds its stdout/stderr pipes and writes them to the CRI
//! log, then waits for it as a child subreaper and records how it ended. It runs in its own
//! session, so containers keep running while the agent restarts.
//!
//! Protocol with the agent: one line on stdout, `ok <pid>` once the container runs or
//! `error <message>` if it could not start; the rest goes to `exit.json`.

use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixListener;
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
    let runc_log = dir.join("runtime.log");
    let pid_file = dir.join("pid");
    let _ = std::fs::remove_file(&pid_file);
    let runtime = |action: &str| {
        let mut c = Command::new(&spec.runtime);
        c.arg("--root").arg(&spec.runtime_root).arg("--log").arg(&runc_log).args(["--log-format", "json", action]);
        c
    };
    let mut create = runtime("create");
    create.arg("--bundle").arg(&spec.bundle).arg("--pid-file").arg(&pid_file);
    // stdin (and resize requests with a terminal) arrive through FIFOs that `kubectl attach`
    // writes to. Opened read-write, they never report end of file between writers.
    let stdin = if spec.stdin || spec.tty { Some(fifo(&dir.join("stdin"))?) } else { None };
    let readers: Vec<std::thread::JoinHandle<()>> = if spec.tty {
        let socket_path = dir.join("console.sock");
        let _ = std::fs::remove_file(&socket_path);
        let socket = UnixListener::bind(&socket_path).map_err(|e| format!("console socket: {e}"))?;
        create.arg("--console-socket").arg(&socket_path).arg(&spec.id);
        create.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null());
        let mut child = create.spawn().map_err(|e| format!("running {}: {e}", spec.runtime))?;
        let master = accept_terminal(&socket, &mut child);
        let _ = std::fs::remove_file(&socket_path);
        let status = child.wait().map_err(|e| format!("running {}: {e}", spec.runtime))?;
        if !status.success() {
            return Err(
                runtime_error(&runc_log).unwrap_or_else(|| format!("{} create failed ({status})", spec.runtime))
            );
        }
        let master = master?;
        let input = master.try_clone().map_err(|e| format!("terminal: {e}"))?;
        if let Some(stdin) = stdin {
            copy_in(stdin, input);
        }
        let resize = fifo(&dir.join("resize"))?;
        let sizer = master.try_clone().map_err(|e| format!("terminal: {e}"))?;
        watch_resize(resize, sizer);
        vec![pump(master, Stream::Stdout, writer.clone())]
    } else {
        let (out_r, out_w) = nix::unistd::pipe().map_err(|e| format!("pipe: {e}"))?;
        let (err_r, err_w) = nix::unistd::pipe().map_err(|e| format!("pipe: {e}"))?;
        create.arg(&spec.id).stdout(Stdio::from(out_w)).stderr(Stdio::from(err_w));
        match stdin {
            Some(f) => create.stdin(Stdio::from(f)),
            None => create.stdin(Stdio::null()),
        };
        let status = create.status().map_err(|e| format!("running {}: {e}", spec.runtime))?;
        // The runtime got its copies of the write ends; ours are in the Command, closed with
        // it here, so the pipes end when the container's last process closes them.
        drop(create);
        let readers = vec![pump(out_r, Stream::Stdout, writer.clone()), pump(err_r, Stream::Stderr, writer.clone())];
        if !status.success() {
            return Err(
                runtime_error(&runc_log).unwrap_or_else(|| format!("{} create failed ({status})", spec.runtime))
            );
        }
        readers
    };
    let pid: i32 = std::fs::read_to_string(&pid_file)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .ok_or_else(|| "the runtime wrote no pid file".to_string())?;
    let start = runtime("start")
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

/// A FIFO at `path` (made if missing), opened read-write.
fn fifo(path: &Path) -> Result<std::fs::File, String> {
    match nix::unistd::mkfifo(path, nix::sys::stat::Mode::from_bits_truncate(0o600)) {
        Ok(()) | Err(nix::errno::Errno::EEXIST) => {}
        Err(e) => return Err(format!("{}: {e}", path.display())),
    }
    std::fs::OpenOptions::new().read(true).write(true).open(path).map_err(|e| format!("{}: {e}", path.display()))
}

/// Wait for runc to connect to the console socket and send the terminal, unless it exits first.
fn accept_terminal(socket: &UnixListener, child: &mut std::process::Child) -> Result<OwnedFd, String> {
    socket.set_nonblocking(true).map_err(|e| format!("console socket: {e}"))?;
    loop {
        match socket.accept() {
            Ok((stream, _)) => {
                stream.set_nonblocking(false).map_err(|e| format!("console socket: {e}"))?;
                return super::console::receive_fd(&stream);
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                if child.try_wait().ok().flatten().is_some() {
                    return Err("the runtime exited without sending a terminal".into());
                }
                std::thread::sleep(std::time::Duration::from_millis(2));
            }
            Err(e) => return Err(format!("console socket: {e}")),
        }
    }
}

/// Copy what `kubectl attach` writes into the container's terminal, for the container's life.
fn copy_in(mut from: std::fs::File, to: OwnedFd) {
    let _ = std::thread::Builder::new().stack_size(64 * 1024).spawn(move || {
        let mut to = std::fs::File::from(to);
        let _ = std::io::copy(&mut from, &mut to);
    });
}

/// Apply `COLS ROWS` lines written to the resize FIFO to the terminal.
fn watch_resize(from: std::fs::File, master: OwnedFd) {
    let _ = std::thread::Builder::new().stack_size(64 * 1024).spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(from).lines() {
            let Ok(line) = line else { break };
            let mut parts = line.split_whitespace().map(|p| p.parse::<u16>());
            if let (Some(Ok(cols)), Some(Ok(rows))) = (parts.next(), parts.next()) {
                super::console::resize(&master, cols, rows);
            }
        }
    });
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
