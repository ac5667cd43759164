//! Waiting for SIGTERM or SIGINT, the way every long-running `skiff` command stops.

use std::future::Future;

use tokio::signal::unix::{SignalKind, signal};

/// Register for SIGTERM and SIGINT now (so a signal sent from here on is not lost) and return
/// a future that completes when either arrives.
pub fn termination() -> Result<impl Future<Output = ()>, String> {
    let mut term = signal(SignalKind::terminate()).map_err(|e| format!("installing the SIGTERM handler: {e}"))?;
    let mut int = signal(SignalKind::interrupt()).map_err(|e| format!("installing the SIGINT handler: {e}"))?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
    })
}
