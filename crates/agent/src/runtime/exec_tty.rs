//! `skiff exec-tty`: a command with a terminal in a running container. runc hands a terminal
//! out on a console socket only when it detaches, so this small process (this binary
//! re-executed) runs `runc exec --detach --tty`, becomes the subreaper of the detached process,
//! and exits with its status, which the agent reports to kubectl.

use std::path::Path;
use std::process::{Command, Stdio};

use nix::sys::wait::{WaitStatus, waitpid};
use nix::unistd::Pid;

/// Args: runtime, runtime root, console socket, container id, command…
pub fn exec_tty_main(args: &[String]) -> i32 {
    let [runtime, root, socket, id, command @ ..] = args else {
        eprintln!("usage: skiff exec-tty RUNTIME ROOT SOCKET ID COMMAND...");
        return 255;
    };
    if let Err(e) = nix::sys::prctl::set_child_subreaper(true) {
        eprintln!("prctl: {e}");
        return 255;
    }
    let pid_file = Path::new(socket).with_extension("pid");
    let status = Command::new(runtime)
        .arg("--root")
        .arg(root)
        .args(["exec", "--detach", "--tty", "--console-socket", socket, "--pid-file"])
        .arg(&pid_file)
        .arg(id)
        .args(command)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .status();
    let pid: Option<i32> = std::fs::read_to_string(&pid_file).ok().and_then(|s| s.trim().parse().ok());
    let _ = std::fs::remove_file(&pid_file);
    match (status, pid) {
        (Ok(s), Some(pid)) if s.success() => loop {
            match waitpid(None::<Pid>, None) {
                Ok(WaitStatus::Exited(p, code)) if p.as_raw() == pid => return code,
                Ok(WaitStatus::Signaled(p, sig, _)) if p.as_raw() == pid => return 128 + sig as i32,
                Ok(_) | Err(nix::errno::Errno::EINTR) => {}
                Err(_) => return 255,
            }
        },
        (Ok(s), _) => {
            eprintln!("{runtime} exec failed ({s})");
            255
        }
        (Err(e), _) => {
            eprintln!("running {runtime}: {e}");
            255
        }
    }
}
