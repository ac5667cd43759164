//! The SQLite backend: one append-only log table, as k3s's kine lays it out.
//!
//! Each write appends a row whose id is its revision; a key's current value is its newest row
//! (a delete appends a tombstone carrying the last value). A list at revision R reads, for each
//! key, its newest row with id <= R. Compaction removes rows no revision after the compaction
//! point can see.
//!
//! Writes go through one writer thread ([`writer`]) that batches concurrent requests into one
//! transaction, so they share one fsync (group commit); a write is acknowledged only after its
//! transaction has committed with `synchronous=FULL`. Reads use a small pool of connections
//! ([`reader`]); WAL mode lets them run beside the writer. Checkpoints (copying the WAL back
//! into the database file) run on their own thread ([`checkpoint`]), never inside a commit.

mod checkpoint;
mod reader;
mod writer;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use async_trait::async_trait;
use bytes::Bytes;
use rusqlite::Connection;

use crate::hub::{History, Hub, WatchStream};
use crate::{Backend, Event, KeyValue, ListResult, Revision, StoreError};

use reader::ReaderPool;
use writer::{Op, Writer};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS log (
    id INTEGER PRIMARY KEY,
    key TEXT NOT NULL,
    deleted INTEGER NOT NULL,
    create_rev INTEGER NOT NULL,
    prev_rev INTEGER NOT NULL,
    value BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS log_key_id ON log (key, id);
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
";

pub(crate) fn io_err(e: impl std::fmt::Display) -> StoreError {
    StoreError::Io(e.to_string())
}

/// Open a connection with the settings every connection shares.
fn connect(path: &Path, cache_kib: i64) -> Result<Connection, StoreError> {
    let conn = Connection::open(path).map_err(|e| StoreError::Io(format!("opening {}: {e}", path.display())))?;
    conn.busy_timeout(std::time::Duration::from_secs(10)).map_err(io_err)?;
    // The bundled SQLite has STAT4, which re-prepares a statement whenever a new key is bound
    // to it in case the plan should change; our few queries have one plan each.
    conn.set_db_config(rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true).map_err(io_err)?;
    conn.execute_batch(&format!(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA cache_size = -{cache_kib};"
    ))
    .map_err(io_err)?;
    Ok(conn)
}

/// State the writer, the readers and watches share.
pub(crate) struct Shared {
    readers: ReaderPool,
    current: AtomicI64,
    compacted: AtomicI64,
}

#[async_trait]
impl History for Shared {
    fn current_revision(&self) -> Revision {
        self.current.load(Ordering::Acquire)
    }

    fn compacted_revision(&self) -> Revision {
        self.compacted.load(Ordering::Acquire)
    }

    async fn history(&self, prefix: &str, after: Revision, upto: Revision) -> Result<Vec<Event>, StoreError> {
        let (prefix, end) = (prefix.to_string(), crate::prefix_end(prefix));
        let events = self.readers.run(move |c| reader::history(c, &prefix, &end, after, upto)).await?;
        // Compaction may have removed rows while we read.
        let compacted = self.compacted_revision();
        if after < compacted {
            return Err(StoreError::Compacted { requested: after, compacted });
        }
        Ok(events)
    }
}

/// The SQLite backend.
pub struct SqliteBackend {
    shared: Arc<Shared>,
    hub: Arc<Hub>,
    writer: Writer,
    _checkpointer: checkpoint::Checkpointer,
}

impl SqliteBackend {
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let conn = connect(path, 4096)?;
        conn.execute_batch(SCHEMA).map_err(io_err)?;
        // The writer never checkpoints; the checkpoint thread does, off the commit path.
        conn.execute_batch("PRAGMA wal_autocheckpoint = 0;").map_err(io_err)?;
        let max_id: Revision =
            conn.query_row("SELECT COALESCE(MAX(id), 0) FROM log", [], |r| r.get(0)).map_err(io_err)?;
        let compacted: Revision = conn
            .query_row("SELECT COALESCE((SELECT value FROM meta WHERE name = 'compact_rev'), 0)", [], |r| r.get(0))
            .map_err(io_err)?;
        let shared = Arc::new(Shared {
            readers: ReaderPool::new(path.to_path_buf()),
            current: AtomicI64::new(max_id.max(compacted)),
            compacted: AtomicI64::new(compacted),
        });
        let hub = Arc::new(Hub::new());
        let writer = Writer::start(conn, shared.clone(), hub.clone())?;
        let _checkpointer = checkpoint::start(path)?;
        Ok(SqliteBackend { shared, hub, writer, _checkpointer })
    }
}

#[async_trait]
impl Backend for SqliteBackend {
    fn current_revision(&self) -> Revision {
        self.shared.current_revision()
    }

    fn compacted_revision(&self) -> Revision {
        self.shared.compacted_revision()
    }

    async fn get(&self, key: &str) -> Result<Option<KeyValue>, StoreError> {
        let key = key.to_string();
        self.shared.readers.run(move |c| reader::get(c, &key)).await
    }

    async fn list(
        &self,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
        revision: Revision,
    ) -> Result<ListResult, StoreError> {
        let current = self.current_revision();
        let revision = if revision == 0 { current } else { revision };
        if revision > current {
            return Err(StoreError::FutureRevision { requested: revision, current });
        }
        let compacted = self.compacted_revision();
        if revision < compacted {
            return Err(StoreError::Compacted { requested: revision, compacted });
        }
        let start = after.map_or(prefix.to_string(), |a| format!("{a}\0"));
        let end = crate::prefix_end(prefix);
        let (kvs, more) = self.shared.readers.run(move |c| reader::list(c, &start, &end, limit, revision)).await?;
        let compacted = self.compacted_revision();
        if revision < compacted {
            return Err(StoreError::Compacted { requested: revision, compacted });
        }
        Ok(ListResult { kvs, revision, more })
    }

    async fn create(&self, key: &str, value: Bytes) -> Result<Revision, StoreError> {
        Ok(self.writer.submit(Op::Create { key: key.to_string(), value }).await?.0)
    }

    async fn update(&self, key: &str, value: Bytes, expected: Revision) -> Result<Revision, StoreError> {
        Ok(self.writer.submit(Op::Update { key: key.to_string(), value, expected }).await?.0)
    }

    async fn delete(&self, key: &str, expected: Option<Revision>) -> Result<(Revision, KeyValue), StoreError> {
        let (rev, kv) = self.writer.submit(Op::Delete { key: key.to_string(), expected }).await?;
        let kv = kv.ok_or_else(|| StoreError::Io("delete returned no value".into()))?;
        Ok((rev, kv))
    }

    async fn watch(&self, prefix: &str, after: Revision) -> Result<WatchStream, StoreError> {
        self.hub.watch(self.shared.clone(), prefix, after).await
    }

    async fn compact(&self, revision: Revision) -> Result<(), StoreError> {
        let revision = revision.min(self.current_revision());
        if revision <= self.compacted_revision() {
            return Ok(());
        }
        self.writer.submit(Op::Compact { revision }).await.map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn satisfies_the_store_contract() {
        let dir = tempfile::tempdir().unwrap();
        let n = std::sync::atomic::AtomicUsize::new(0);
        crate::contract::run_all(|| {
            let path = dir.path().join(format!("db{}.sqlite", n.fetch_add(1, Ordering::Relaxed)));
            async move { Arc::new(SqliteBackend::open(&path).unwrap()) as Arc<dyn Backend> }
        })
        .await;
    }

    #[tokio::test]
    async fn reopening_keeps_data_and_revision() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        let rev = {
            let s = SqliteBackend::open(&path).unwrap();
            s.create("/a", Bytes::from_static(b"1")).await.unwrap();
            let r = s.create("/b", Bytes::from_static(b"2")).await.unwrap();
            s.delete("/b", None).await.unwrap();
            s.compact(r + 1).await.unwrap();
            s.current_revision()
        };
        let s = SqliteBackend::open(&path).unwrap();
        assert_eq!(s.current_revision(), rev);
        assert_eq!(s.compacted_revision(), rev);
        assert_eq!(s.get("/a").await.unwrap().unwrap().value, Bytes::from_static(b"1"));
        assert_eq!(s.get("/b").await.unwrap(), None);
        assert_eq!(s.create("/c", Bytes::from_static(b"3")).await.unwrap(), rev + 1);
    }
}
