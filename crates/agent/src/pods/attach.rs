//! `pods/attach` on this node: the container's own process. Output is its log followed from
//! now on (both streams on stdout: the log keeps them interleaved as written); input goes to
//! the stdin FIFO its shim keeps, and terminal sizes to the resize FIFO.

use std::path::PathBuf;

use tokio::io::AsyncWriteExt;
use tokio::sync::{mpsc, oneshot, watch};

use crate::logs::reader::{LogOptions, LogReader};
use crate::server::{ExecProcess, StreamError};

pub struct Target {
    pub log: PathBuf,
    pub running: watch::Receiver<bool>,
    pub dir: PathBuf,
    pub has_stdin: bool,
    pub has_tty: bool,
}

pub async fn attach(t: Target, tty: bool, stdin: bool) -> Result<ExecProcess, StreamError> {
    if stdin && !t.has_stdin {
        return Err(StreamError::BadRequest(
            "stdin is not enabled for this container (spec.containers[].stdin)".into(),
        ));
    }
    if tty && !t.has_tty {
        return Err(StreamError::BadRequest("tty is not enabled for this container (spec.containers[].tty)".into()));
    }
    let opts = LogOptions { follow: true, tail_lines: Some(0), ..Default::default() };
    let mut reader =
        LogReader::open(&t.log, t.running.clone(), opts).map_err(|e| StreamError::Internal(e.to_string()))?;
    let (out_tx, out_rx) = tokio::io::duplex(64 * 1024);
    let (done_tx, exit) = oneshot::channel();
    tokio::spawn(async move {
        let mut out_tx = out_tx;
        while let Ok(Some(chunk)) = reader.next().await {
            if out_tx.write_all(&chunk).await.is_err() {
                break;
            }
        }
        let _ = done_tx.send(0);
    });
    let open_fifo = |name: &str| {
        std::fs::OpenOptions::new()
            .write(true)
            .open(t.dir.join(name))
            .map(tokio::fs::File::from_std)
            .map_err(|e| StreamError::Internal(format!("{name}: {e}")))
    };
    let input = if stdin { Some(Box::new(open_fifo("stdin")?) as _) } else { None };
    let resize = if tty {
        let mut fifo = open_fifo("resize")?;
        let (tx, mut rx) = mpsc::channel::<(u16, u16)>(8);
        tokio::spawn(async move {
            while let Some((cols, rows)) = rx.recv().await {
                if fifo.write_all(format!("{cols} {rows}\n").as_bytes()).await.is_err() {
                    break;
                }
            }
        });
        Some(tx)
    } else {
        None
    };
    Ok(ExecProcess { stdin: input, stdout: Box::new(out_rx), stderr: None, resize, exit })
}
