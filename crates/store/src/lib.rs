//! A revisioned key-value store with etcd's semantics, behind the [`Backend`] trait.
//!
//! - One global, monotonic revision: every write (create, update, delete) gets the next one.
//! - A key's `mod_revision` is the revision of its last write (the object's resourceVersion).
//! - `create` fails if the key exists; `update` and `delete` compare-and-swap on `mod_revision`.
//! - `list` is a consistent snapshot at a revision, paginated by key.
//! - `watch` delivers every event after a revision, in order, or fails with
//!   [`StoreError::Compacted`] once that revision has been compacted away.
//! - A write returns only once it is durable.
//!
//! Backends: [`sqlite`] (the default, a kine-like log table with group commit) and [`memory`]
//! (for tests). Both share the watch fan-out in [`hub`].

use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;

pub mod compactor;
pub mod hub;
pub mod memory;
pub mod sqlite;

pub use hub::WatchStream;

/// A store revision; 0 means "none" or "current", depending on the call.
pub type Revision = i64;

/// One key at one revision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyValue {
    pub key: String,
    pub value: Bytes,
    pub create_revision: Revision,
    pub mod_revision: Revision,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    Created,
    Updated,
    Deleted,
}

/// A committed change. For deletes, `kv.value` is the last value the key had and
/// `kv.mod_revision` the revision of the delete.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub kind: EventKind,
    pub kv: KeyValue,
    /// The value before this change (updates and deletes), when still known.
    pub prev_value: Option<Bytes>,
}

impl Event {
    pub fn revision(&self) -> Revision {
        self.kv.mod_revision
    }
}

/// A page of a consistent list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListResult {
    pub kvs: Vec<KeyValue>,
    /// The revision the snapshot was taken at.
    pub revision: Revision,
    /// Whether keys remain after the last one returned.
    pub more: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    #[error("key {0:?} already exists")]
    AlreadyExists(String),
    #[error("key {0:?} not found")]
    NotFound(String),
    /// The compare-and-swap failed: the key is now at another revision (or gone).
    #[error("key {key:?} was modified (now at revision {current})")]
    Conflict { key: String, current: Revision },
    /// The requested revision is older than the last compaction.
    #[error("required revision {requested} has been compacted (compacted to {compacted})")]
    Compacted { requested: Revision, compacted: Revision },
    /// The requested revision is newer than the store's.
    #[error("required revision {requested} is a future revision (current is {current})")]
    FutureRevision { requested: Revision, current: Revision },
    #[error("storage failure: {0}")]
    Io(String),
    #[error("the store is shutting down")]
    Closed,
}

/// The store contract. Every read carries or returns a revision.
#[async_trait]
pub trait Backend: Send + Sync + 'static {
    /// The newest revision: every write up to it is durable and announced to watchers.
    fn current_revision(&self) -> Revision;

    /// The revision below which history has been compacted away.
    fn compacted_revision(&self) -> Revision;

    /// The current value of a key.
    async fn get(&self, key: &str) -> Result<Option<KeyValue>, StoreError>;

    /// Keys starting with `prefix` and sorting after `after` (if given), as of `revision`
    /// (0 = current), at most `limit` of them (0 = all).
    async fn list(
        &self,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
        revision: Revision,
    ) -> Result<ListResult, StoreError>;

    /// Create a key that must not exist. Returns the new revision.
    async fn create(&self, key: &str, value: Bytes) -> Result<Revision, StoreError>;

    /// Replace a key's value if it is still at `expected` revision. Returns the new revision.
    async fn update(&self, key: &str, value: Bytes, expected: Revision) -> Result<Revision, StoreError>;

    /// Delete a key, if it is still at `expected` revision when one is given. Returns the
    /// revision of the delete and the value the key had.
    async fn delete(&self, key: &str, expected: Option<Revision>) -> Result<(Revision, KeyValue), StoreError>;

    /// Every event on keys under `prefix` with a revision greater than `after`, then live ones.
    async fn watch(&self, prefix: &str, after: Revision) -> Result<WatchStream, StoreError>;

    /// Drop history at and below `revision` that no current key needs.
    async fn compact(&self, revision: Revision) -> Result<(), StoreError>;
}

/// Open the backend a `--datastore-endpoint` names: empty or `sqlite://PATH` for SQLite (the
/// default path is `<data_dir>/db/state.db`), `memory://` for a throwaway in-memory store.
pub fn open(endpoint: &str, data_dir: &std::path::Path) -> Result<Arc<dyn Backend>, StoreError> {
    if endpoint.is_empty() {
        let dir = data_dir.join("db");
        std::fs::create_dir_all(&dir).map_err(|e| StoreError::Io(format!("creating {}: {e}", dir.display())))?;
        return Ok(Arc::new(sqlite::SqliteBackend::open(&dir.join("state.db"))?));
    }
    if let Some(path) = endpoint.strip_prefix("sqlite://") {
        return Ok(Arc::new(sqlite::SqliteBackend::open(std::path::Path::new(path))?));
    }
    if endpoint == "memory://" {
        return Ok(Arc::new(memory::MemoryBackend::new()));
    }
    Err(StoreError::Io(format!("unsupported datastore endpoint {endpoint:?}: expected sqlite://PATH or memory://")))
}

/// The exclusive upper bound of the keys starting with `prefix`.
pub(crate) fn prefix_end(prefix: &str) -> String {
    let mut end = prefix.as_bytes().to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return String::from_utf8_lossy(&end).into_owned();
        }
    }
    // Every byte was 0xff (never for our ASCII keys): no upper bound.
    "\u{10ffff}".to_string()
}

#[cfg(test)]
pub(crate) mod contract;
