//! `pods/exec` on this node: a command in a running container through `runc exec`, with
//! pipes, or with a terminal whose master side runc hands over on a console socket.

use std::path::PathBuf;
use std::process::Stdio;

use tokio::sync::{mpsc, oneshot};

use crate::runtime::Runtime;
use crate::server::{ExecProcess, StreamError};

fn exit_code(status: std::io::Result<std::process::ExitStatus>) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    match status {
        Ok(s) => s.code().unwrap_or_else(|| 128 + s.signal().unwrap_or(0)),
        Err(_) => 255,
    }
}

/// Start `command` in container `id`; `sockets` is a dir for the console socket.
pub async fn exec(
    runtime: &Runtime,
    id: &str,
    command: Vec<String>,
    tty: bool,
    stdin: bool,
    sockets: PathBuf,
) -> Result<ExecProcess, StreamError> {
    if tty {
        return exec_tty(runtime, id, command, sockets).await;
    }
    let mut cmd = runtime.exec_command(id, &command);
    cmd.stdin(if stdin { Stdio::piped() } else { Stdio::null() }).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().map_err(|e| StreamError::Internal(format!("starting exec: {e}")))?;
    let (stdin, stdout, stderr) = (child.stdin.take(), child.stdout.take(), child.stderr.take());
    let (tx, exit) = oneshot::channel();
    tokio::spawn(async move {
        let _ = tx.send(exit_code(child.wait().await));
    });
    Ok(ExecProcess {
        stdin: stdin.map(|s| Box::new(s) as _),
        stdout: Box::new(stdout.ok_or_else(|| StreamError::Internal("exec has no stdout".into()))?),
        stderr: stderr.map(|s| Box::new(s) as _),
        resize: None,
        exit,
    })
}

async fn exec_tty(
    runtime: &Runtime,
    id: &str,
    command: Vec<String>,
    sockets: PathBuf,
) -> Result<ExecProcess, StreamError> {
    let internal = |what: &str, e: &dyn std::fmt::Display| StreamError::Internal(format!("{what}: {e}"));
    std::fs::create_dir_all(&sockets).map_err(|e| internal("console socket dir", &e))?;
    let path = sockets.join(format!("{}.sock", uuid::Uuid::new_v4().simple()));
    let listener = tokio::net::UnixListener::bind(&path).map_err(|e| internal("console socket", &e))?;
    let mut cmd = runtime.exec_tty_command(id, &command, &path);
    cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::piped());
    let mut child = cmd.spawn().map_err(|e| internal("starting exec", &e))?;
    let accepted = tokio::select! {
        a = listener.accept() => a.map_err(|e| internal("console socket", &e)),
        status = child.wait() => {
            let mut err = String::new();
            if let Some(mut e) = child.stderr.take() {
                let _ = tokio::io::AsyncReadExt::read_to_string(&mut e, &mut err).await;
            }
            Err(StreamError::Internal(format!("exec failed ({}): {}", exit_code(status), err.trim())))
        }
    };
    let _ = std::fs::remove_file(&path);
    let (stream, _) = accepted?;
    let stream = stream.into_std().map_err(|e| internal("console socket", &e))?;
    stream.set_nonblocking(false).map_err(|e| internal("console socket", &e))?;
    let master = tokio::task::spawn_blocking(move || {
        crate::runtime::console::receive_fd(&stream)
            .map_err(|e| StreamError::Internal(format!("receiving the terminal: {e}")))
    })
    .await
    .map_err(|e| internal("console socket", &e))??;
    let (resize_tx, mut resize_rx) = mpsc::channel::<(u16, u16)>(8);
    let resize_fd = master.try_clone().map_err(|e| internal("terminal", &e))?;
    tokio::spawn(async move {
        while let Some((cols, rows)) = resize_rx.recv().await {
            crate::runtime::console::resize(&resize_fd, cols, rows);
        }
    });
    let reader =
        tokio::fs::File::from_std(std::fs::File::from(master.try_clone().map_err(|e| internal("terminal", &e))?));
    let writer = tokio::fs::File::from_std(std::fs::File::from(master));
    let (tx, exit) = oneshot::channel();
    tokio::spawn(async move {
        let _ = tx.send(exit_code(child.wait().await));
    });
    Ok(ExecProcess {
        stdin: Some(Box::new(writer)),
        stdout: Box::new(reader),
        stderr: None,
        resize: Some(resize_tx),
        exit,
    })
}
