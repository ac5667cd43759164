//! Reads: a small pool of connections and the queries they run.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use rusqlite::{Connection, OptionalExtension, params};

use super::{connect, io_err};
use crate::{Event, EventKind, KeyValue, Revision, StoreError};

/// Read connections beyond this many are closed after use rather than kept.
const POOL_KEEP: usize = 2;
/// Page cache per read connection, in KiB: small, the API server caches objects itself.
const READER_CACHE_KIB: i64 = 1024;

/// Connections opened on demand and kept for reuse. SQLite calls block, so each read runs on
/// the blocking thread pool.
pub(crate) struct ReaderPool {
    path: PathBuf,
    idle: Arc<Mutex<Vec<Connection>>>,
}

impl ReaderPool {
    pub fn new(path: PathBuf) -> Self {
        ReaderPool { path, idle: Arc::new(Mutex::new(Vec::new())) }
    }

    pub async fn run<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let idle = self.idle.clone();
        let path = self.path.clone();
        tokio::task::spawn_blocking(move || {
            let taken = idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
            let conn = match taken {
                Some(c) => c,
                None => connect(&path, READER_CACHE_KIB)?,
            };
            let out = f(&conn);
            let mut idle = idle.lock().unwrap_or_else(|e| e.into_inner());
            if idle.len() < POOL_KEEP {
                idle.push(conn);
            }
            out
        })
        .await
        .map_err(|e| StoreError::Io(format!("read task failed: {e}")))?
    }
}

pub(crate) fn get(c: &Connection, key: &str) -> Result<Option<KeyValue>, StoreError> {
    let mut stmt = c
        .prepare_cached("SELECT id, create_rev, deleted, value FROM log WHERE key = ?1 ORDER BY id DESC LIMIT 1")
        .map_err(io_err)?;
    let row = stmt
        .query_row(params![key], |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?, r.get::<_, bool>(2)?, r.get::<_, Vec<u8>>(3)?))
        })
        .optional()
        .map_err(io_err)?;
    Ok(row.and_then(|(id, create_rev, deleted, value)| {
        (!deleted).then(|| KeyValue {
            key: key.to_string(),
            value: Bytes::from(value),
            create_revision: create_rev,
            mod_revision: id,
        })
    }))
}

/// Keys in `[start, end)` as of `revision`, at most `limit` (0 = all); also whether more remain.
pub(crate) fn list(
    c: &Connection,
    start: &str,
    end: &str,
    limit: usize,
    revision: Revision,
) -> Result<(Vec<KeyValue>, bool), StoreError> {
    let mut stmt = c
        .prepare_cached(
            "SELECT l.id, l.key, l.create_rev, l.value FROM log l
             JOIN (SELECT MAX(id) AS id FROM log WHERE key >= ?1 AND key < ?2 AND id <= ?3 GROUP BY key) m
               ON l.id = m.id
             WHERE l.deleted = 0 ORDER BY l.key LIMIT ?4",
        )
        .map_err(io_err)?;
    // One more than asked tells whether another page exists.
    let fetch = if limit == 0 { -1 } else { limit as i64 + 1 };
    let rows = stmt
        .query_map(params![start, end, revision, fetch], |r| {
            Ok(KeyValue {
                mod_revision: r.get(0)?,
                key: r.get(1)?,
                create_revision: r.get(2)?,
                value: Bytes::from(r.get::<_, Vec<u8>>(3)?),
            })
        })
        .map_err(io_err)?;
    let mut kvs = rows.collect::<Result<Vec<_>, _>>().map_err(io_err)?;
    let more = limit > 0 && kvs.len() > limit;
    kvs.truncate(if limit == 0 { kvs.len() } else { limit });
    Ok((kvs, more))
}

/// Events on keys in `[prefix, end)` with `after < revision <= upto`, in order.
pub(crate) fn history(
    c: &Connection,
    prefix: &str,
    end: &str,
    after: Revision,
    upto: Revision,
) -> Result<Vec<Event>, StoreError> {
    let mut stmt = c
        .prepare_cached(
            "SELECT l.id, l.key, l.deleted, l.create_rev, l.value, p.value FROM log l
             LEFT JOIN log p ON p.id = l.prev_rev
             WHERE l.id > ?1 AND l.id <= ?2 AND l.key >= ?3 AND l.key < ?4 ORDER BY l.id",
        )
        .map_err(io_err)?;
    let rows = stmt
        .query_map(params![after, upto, prefix, end], |r| {
            let id: i64 = r.get(0)?;
            let deleted: bool = r.get(2)?;
            let create_rev: i64 = r.get(3)?;
            let kind = if deleted {
                EventKind::Deleted
            } else if create_rev == id {
                EventKind::Created
            } else {
                EventKind::Updated
            };
            Ok(Event {
                kind,
                kv: KeyValue {
                    key: r.get(1)?,
                    value: Bytes::from(r.get::<_, Vec<u8>>(4)?),
                    create_revision: create_rev,
                    mod_revision: id,
                },
                prev_value: r.get::<_, Option<Vec<u8>>>(5)?.map(Bytes::from),
            })
        })
        .map_err(io_err)?;
    rows.collect::<Result<Vec<_>, _>>().map_err(io_err)
}
