//! WAL checkpoints on a thread of their own.
//!
//! SQLite's automatic checkpoint runs inside the commit that crosses its threshold, so one
//! unlucky write waits for the database file to be written and synced. Instead the writer never
//! checkpoints, and this thread checkpoints in PASSIVE mode (which never blocks the writer or
//! readers) twice a second, and truncates the WAL once the store has been idle for a while.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use rusqlite::Connection;

use super::{connect, io_err};
use crate::StoreError;

const INTERVAL: Duration = Duration::from_millis(500);
/// Rounds with nothing new in the WAL before it is truncated.
const IDLE_ROUNDS_BEFORE_TRUNCATE: u32 = 4;

/// Stops the checkpoint thread when dropped (with the store).
pub(crate) struct Checkpointer {
    stop: Arc<AtomicBool>,
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
    }
}

pub(crate) fn start(path: &Path) -> Result<Checkpointer, StoreError> {
    let conn = connect(path, 256)?;
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    std::thread::Builder::new()
        .name("skiff-store-checkpoint".into())
        .spawn(move || run(conn, &flag))
        .map_err(io_err)?;
    Ok(Checkpointer { stop })
}

fn run(conn: Connection, stop: &AtomicBool) {
    let mut idle_rounds = 0;
    let mut last_wal = 0;
    while !stop.load(Ordering::Acquire) {
        std::thread::sleep(INTERVAL);
        // Columns: busy, pages in the WAL, pages checkpointed.
        let passive: rusqlite::Result<(i64, i64, i64)> =
            conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)));
        match passive {
            Ok((_, wal, done)) => {
                idle_rounds = if wal == last_wal && wal == done { idle_rounds + 1 } else { 0 };
                last_wal = wal;
                if wal > 0 && idle_rounds >= IDLE_ROUNDS_BEFORE_TRUNCATE {
                    // Give the disk back once nothing is being written.
                    let _ = conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);");
                    idle_rounds = 0;
                }
            }
            Err(e) => tracing::warn!(error = %e, "WAL checkpoint failed"),
        }
    }
}
