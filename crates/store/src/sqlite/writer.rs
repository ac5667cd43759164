//! The single writer thread: group commit.
//!
//! Callers send requests over a channel and wait for their reply. The thread takes the first
//! request, drains whatever else is already queued (up to [`MAX_BATCH`]), applies them all in one
//! transaction, commits (one fsync for the whole batch), then publishes the batch's events and
//! replies. Under load, batches grow on their own: while one commit syncs, the next batch queues.
//!
//! Invariant: revisions are assigned here only, in order; `Shared::current` is raised after the
//! commit and before the events are published and the callers answered.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc;

use bytes::Bytes;
use rusqlite::{Connection, TransactionBehavior, params};
use tokio::sync::oneshot;

use super::{Shared, io_err};
use crate::hub::Hub;
use crate::{Event, EventKind, KeyValue, Revision, StoreError};

/// Requests applied in one transaction at most.
const MAX_BATCH: usize = 1024;
/// Rows removed per compaction transaction, so writes are never held up for long.
const COMPACT_CHUNK: i64 = 10_000;

pub(crate) enum Op {
    Create { key: String, value: Bytes },
    Update { key: String, value: Bytes, expected: Revision },
    Delete { key: String, expected: Option<Revision> },
    Compact { revision: Revision },
}

/// The revision a write got, and for deletes the value the key had.
type Reply = Result<(Revision, Option<KeyValue>), StoreError>;

struct Request {
    op: Op,
    reply: oneshot::Sender<Reply>,
}

/// The handle callers use; dropping it stops the thread once queued requests are done.
pub(crate) struct Writer {
    tx: mpsc::Sender<Request>,
}

impl Writer {
    pub fn start(conn: Connection, shared: Arc<Shared>, hub: Arc<Hub>) -> Result<Self, StoreError> {
        let (tx, rx) = mpsc::channel();
        let next = shared.current.load(Ordering::Acquire) + 1;
        std::thread::Builder::new()
            .name("skiff-store-writer".into())
            .spawn(move || WriterThread { conn, shared, hub, next }.run(rx))
            .map_err(io_err)?;
        Ok(Writer { tx })
    }

    pub async fn submit(&self, op: Op) -> Reply {
        let (reply, rx) = oneshot::channel();
        self.tx.send(Request { op, reply }).map_err(|_| StoreError::Closed)?;
        rx.await.map_err(|_| StoreError::Closed)?
    }
}

struct WriterThread {
    conn: Connection,
    shared: Arc<Shared>,
    hub: Arc<Hub>,
    /// The revision the next write gets.
    next: Revision,
}

impl WriterThread {
    fn run(mut self, rx: mpsc::Receiver<Request>) {
        while let Ok(first) = rx.recv() {
            let mut batch = vec![first];
            while batch.len() < MAX_BATCH {
                match rx.try_recv() {
                    Ok(r) => batch.push(r),
                    Err(_) => break,
                }
            }
            self.commit_batch(batch);
        }
    }

    fn commit_batch(&mut self, batch: Vec<Request>) {
        let mut compactions = Vec::new();
        let mut writes = Vec::new();
        for r in batch {
            match r.op {
                Op::Compact { revision } => compactions.push((revision, r.reply)),
                _ => writes.push(r),
            }
        }
        if !writes.is_empty() {
            self.commit_writes(writes);
        }
        for (revision, reply) in compactions {
            let _ = reply.send(self.compact(revision).map(|()| (revision, None)));
        }
    }

    fn commit_writes(&mut self, writes: Vec<Request>) {
        let first_rev = self.next;
        let mut outcomes: Vec<Result<Event, StoreError>> = Vec::with_capacity(writes.len());
        let committed = (|| -> Result<(), StoreError> {
            let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(io_err)?;
            let mut next = first_rev;
            for w in &writes {
                let outcome = apply(&tx, &w.op, next);
                if outcome.is_ok() {
                    next += 1;
                }
                outcomes.push(outcome);
            }
            tx.commit().map_err(io_err)?;
            self.next = next;
            Ok(())
        })();

        if let Err(e) = committed {
            // Nothing was written: every caller learns why, and revisions are not consumed.
            for w in writes {
                let _ = w.reply.send(Err(e.clone()));
            }
            return;
        }
        if self.next > first_rev {
            self.shared.current.store(self.next - 1, Ordering::Release);
        }
        let events: Vec<Event> = outcomes.iter().filter_map(|o| o.as_ref().ok().cloned()).collect();
        self.hub.publish(events);
        for (w, outcome) in writes.into_iter().zip(outcomes) {
            let reply = outcome.map(|e| {
                let deleted = (e.kind == EventKind::Deleted).then(|| e.kv.clone());
                (e.kv.mod_revision, deleted)
            });
            let _ = w.reply.send(reply);
        }
    }

    /// Remove rows at or below `revision` that are superseded or are tombstones, in chunks.
    fn compact(&mut self, revision: Revision) -> Result<(), StoreError> {
        let mut low = self.shared.compacted.load(Ordering::Acquire);
        while low < revision {
            let high = (low + COMPACT_CHUNK).min(revision);
            let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(io_err)?;
            tx.execute(
                "DELETE FROM log WHERE id > ?1 AND id <= ?2 AND (deleted = 1 OR id <
                    (SELECT MAX(l2.id) FROM log l2 WHERE l2.key = log.key AND l2.id <= ?3))",
                params![low, high, revision],
            )
            .map_err(io_err)?;
            tx.execute("INSERT OR REPLACE INTO meta (name, value) VALUES ('compact_rev', ?1)", params![high])
                .map_err(io_err)?;
            tx.commit().map_err(io_err)?;
            self.shared.compacted.store(high, Ordering::Release);
            low = high;
        }
        Ok(())
    }
}

/// The key's current value, read inside the write transaction (so it sees the batch's earlier
/// writes).
fn current(tx: &rusqlite::Transaction<'_>, key: &str) -> Result<Option<KeyValue>, StoreError> {
    super::reader::get(tx, key)
}

/// The newest row id of a key, deleted or not (for `prev_rev`).
fn last_id(tx: &rusqlite::Transaction<'_>, key: &str) -> Result<Revision, StoreError> {
    let mut stmt = tx.prepare_cached("SELECT COALESCE(MAX(id), 0) FROM log WHERE key = ?1").map_err(io_err)?;
    stmt.query_row(params![key], |r| r.get(0)).map_err(io_err)
}

fn insert(
    tx: &rusqlite::Transaction<'_>,
    rev: Revision,
    key: &str,
    deleted: bool,
    create_rev: Revision,
    prev_rev: Revision,
    value: &[u8],
) -> Result<(), StoreError> {
    let mut stmt = tx
        .prepare_cached(
            "INSERT INTO log (id, key, deleted, create_rev, prev_rev, value) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )
        .map_err(io_err)?;
    stmt.execute(params![rev, key, deleted, create_rev, prev_rev, value]).map_err(io_err)?;
    Ok(())
}

/// Check one write's precondition and append its row at `rev`.
fn apply(tx: &rusqlite::Transaction<'_>, op: &Op, rev: Revision) -> Result<Event, StoreError> {
    match op {
        Op::Create { key, value } => {
            if current(tx, key)?.is_some() {
                return Err(StoreError::AlreadyExists(key.clone()));
            }
            let prev = last_id(tx, key)?;
            insert(tx, rev, key, false, rev, prev, value)?;
            Ok(Event {
                kind: EventKind::Created,
                kv: KeyValue { key: key.clone(), value: value.clone(), create_revision: rev, mod_revision: rev },
                prev_value: None,
            })
        }
        Op::Update { key, value, expected } => {
            let cur = current(tx, key)?.ok_or_else(|| StoreError::NotFound(key.clone()))?;
            if cur.mod_revision != *expected {
                return Err(StoreError::Conflict { key: key.clone(), current: cur.mod_revision });
            }
            insert(tx, rev, key, false, cur.create_revision, cur.mod_revision, value)?;
            Ok(Event {
                kind: EventKind::Updated,
                kv: KeyValue {
                    key: key.clone(),
                    value: value.clone(),
                    create_revision: cur.create_revision,
                    mod_revision: rev,
                },
                prev_value: Some(cur.value),
            })
        }
        Op::Delete { key, expected } => {
            let cur = current(tx, key)?.ok_or_else(|| StoreError::NotFound(key.clone()))?;
            if expected.is_some_and(|e| e != cur.mod_revision) {
                return Err(StoreError::Conflict { key: key.clone(), current: cur.mod_revision });
            }
            insert(tx, rev, key, true, cur.create_revision, cur.mod_revision, &cur.value)?;
            Ok(Event {
                kind: EventKind::Deleted,
                kv: KeyValue {
                    key: key.clone(),
                    value: cur.value.clone(),
                    create_revision: cur.create_revision,
                    mod_revision: rev,
                },
                prev_value: Some(cur.value),
            })
        }
        Op::Compact { .. } => unreachable!("compactions are split out of the batch"),
    }
}
