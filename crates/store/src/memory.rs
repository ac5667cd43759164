//! An in-memory backend for tests: the same semantics as SQLite, nothing durable.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use bytes::Bytes;

use crate::hub::{History, Hub, WatchStream};
use crate::{Backend, Event, EventKind, KeyValue, ListResult, Revision, StoreError, prefix_end};

/// One write in the log.
#[derive(Debug, Clone)]
struct Row {
    rev: Revision,
    key: String,
    deleted: bool,
    create_rev: Revision,
    prev_rev: Revision,
    value: Bytes,
}

#[derive(Default)]
struct State {
    /// Every retained write, in revision order.
    log: Vec<Row>,
    /// For each key, the revisions of its retained writes, oldest first.
    versions: BTreeMap<String, Vec<Revision>>,
    current: Revision,
    compacted: Revision,
}

impl State {
    fn row(&self, rev: Revision) -> Option<&Row> {
        self.log.binary_search_by_key(&rev, |r| r.rev).ok().map(|i| &self.log[i])
    }

    /// The key's newest write at or before `rev`.
    fn at(&self, key: &str, rev: Revision) -> Option<&Row> {
        let versions = self.versions.get(key)?;
        let i = versions.partition_point(|&v| v <= rev);
        let r = self.row(*versions.get(i.checked_sub(1)?)?)?;
        (!r.deleted).then_some(r)
    }

    fn latest(&self, key: &str) -> Option<&Row> {
        self.at(key, self.current)
    }

    fn append(
        &mut self,
        key: &str,
        value: Bytes,
        deleted: bool,
        create_rev: Option<Revision>,
        prev_rev: Revision,
    ) -> Row {
        self.current += 1;
        let row = Row {
            rev: self.current,
            key: key.to_string(),
            deleted,
            create_rev: create_rev.unwrap_or(self.current),
            prev_rev,
            value,
        };
        self.log.push(row.clone());
        self.versions.entry(key.to_string()).or_default().push(row.rev);
        row
    }

    fn event(&self, row: &Row) -> Event {
        let kind = if row.deleted {
            EventKind::Deleted
        } else if row.create_rev == row.rev {
            EventKind::Created
        } else {
            EventKind::Updated
        };
        Event {
            kind,
            kv: KeyValue {
                key: row.key.clone(),
                value: row.value.clone(),
                create_revision: row.create_rev,
                mod_revision: row.rev,
            },
            prev_value: self.row(row.prev_rev).map(|p| p.value.clone()),
        }
    }
}

fn kv(row: &Row) -> KeyValue {
    KeyValue { key: row.key.clone(), value: row.value.clone(), create_revision: row.create_rev, mod_revision: row.rev }
}

struct Shared {
    state: Mutex<State>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves consistent data (each write is one push).
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[async_trait]
impl History for Shared {
    fn current_revision(&self) -> Revision {
        self.lock().current
    }

    fn compacted_revision(&self) -> Revision {
        self.lock().compacted
    }

    async fn history(&self, prefix: &str, after: Revision, upto: Revision) -> Result<Vec<Event>, StoreError> {
        let s = self.lock();
        let start = s.log.partition_point(|r| r.rev <= after);
        Ok(s.log[start..]
            .iter()
            .take_while(|r| r.rev <= upto)
            .filter(|r| r.key.starts_with(prefix))
            .map(|r| s.event(r))
            .collect())
    }
}

/// The in-memory backend.
pub struct MemoryBackend {
    shared: Arc<Shared>,
    hub: Hub,
}

impl Default for MemoryBackend {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryBackend {
    pub fn new() -> Self {
        MemoryBackend { shared: Arc::new(Shared { state: Mutex::new(State::default()) }), hub: Hub::new() }
    }

    /// Run one write under the lock and publish its event before the lock is released, so
    /// events reach the hub in revision order.
    fn write<T>(&self, f: impl FnOnce(&mut State) -> Result<(Row, T), StoreError>) -> Result<T, StoreError> {
        let mut s = self.shared.lock();
        let (row, out) = f(&mut s)?;
        let event = s.event(&row);
        self.hub.publish(vec![event]);
        Ok(out)
    }
}

#[async_trait]
impl Backend for MemoryBackend {
    fn current_revision(&self) -> Revision {
        self.shared.current_revision()
    }

    fn compacted_revision(&self) -> Revision {
        self.shared.compacted_revision()
    }

    async fn get(&self, key: &str) -> Result<Option<KeyValue>, StoreError> {
        Ok(self.shared.lock().latest(key).map(kv))
    }

    async fn list(
        &self,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
        revision: Revision,
    ) -> Result<ListResult, StoreError> {
        let s = self.shared.lock();
        let revision = if revision == 0 { s.current } else { revision };
        if revision < s.compacted {
            return Err(StoreError::Compacted { requested: revision, compacted: s.compacted });
        }
        if revision > s.current {
            return Err(StoreError::FutureRevision { requested: revision, current: s.current });
        }
        let end = prefix_end(prefix);
        let start = after.map_or(prefix.to_string(), |a| format!("{a}\0"));
        let mut kvs = Vec::new();
        let mut more = false;
        for (key, _) in s.versions.range(start..end) {
            if let Some(r) = s.at(key, revision) {
                if limit > 0 && kvs.len() == limit {
                    more = true;
                    break;
                }
                kvs.push(kv(r));
            }
        }
        Ok(ListResult { kvs, revision, more })
    }

    async fn create(&self, key: &str, value: Bytes) -> Result<Revision, StoreError> {
        self.write(|s| {
            if s.latest(key).is_some() {
                return Err(StoreError::AlreadyExists(key.to_string()));
            }
            let prev = s.versions.get(key).and_then(|v| v.last().copied()).unwrap_or(0);
            let row = s.append(key, value, false, None, prev);
            let rev = row.rev;
            Ok((row, rev))
        })
    }

    async fn update(&self, key: &str, value: Bytes, expected: Revision) -> Result<Revision, StoreError> {
        self.write(|s| {
            let Some(cur) = s.latest(key) else { return Err(StoreError::NotFound(key.to_string())) };
            if cur.rev != expected {
                return Err(StoreError::Conflict { key: key.to_string(), current: cur.rev });
            }
            let (create_rev, prev) = (cur.create_rev, cur.rev);
            let row = s.append(key, value, false, Some(create_rev), prev);
            let rev = row.rev;
            Ok((row, rev))
        })
    }

    async fn delete(&self, key: &str, expected: Option<Revision>) -> Result<(Revision, KeyValue), StoreError> {
        self.write(|s| {
            let Some(cur) = s.latest(key) else { return Err(StoreError::NotFound(key.to_string())) };
            if expected.is_some_and(|e| e != cur.rev) {
                return Err(StoreError::Conflict { key: key.to_string(), current: cur.rev });
            }
            let (value, create_rev, prev) = (cur.value.clone(), cur.create_rev, cur.rev);
            let row = s.append(key, value, true, Some(create_rev), prev);
            let deleted = kv(&row);
            Ok((row, (deleted.mod_revision, deleted)))
        })
    }

    async fn watch(&self, prefix: &str, after: Revision) -> Result<WatchStream, StoreError> {
        self.hub.watch(self.shared.clone(), prefix, after).await
    }

    async fn compact(&self, revision: Revision) -> Result<(), StoreError> {
        let mut s = self.shared.lock();
        let revision = revision.min(s.current);
        if revision <= s.compacted {
            return Ok(());
        }
        // Keep every write after `revision`, and at or before it only each key's newest live one.
        let keep: std::collections::HashSet<Revision> = s
            .versions
            .values()
            .filter_map(|v| {
                let i = v.partition_point(|&r| r <= revision);
                i.checked_sub(1).map(|i| v[i])
            })
            .collect();
        let log = std::mem::take(&mut s.log);
        s.log = log.into_iter().filter(|r| r.rev > revision || (keep.contains(&r.rev) && !r.deleted)).collect();
        let retained: std::collections::HashSet<Revision> = s.log.iter().map(|r| r.rev).collect();
        s.versions.retain(|_, v| {
            v.retain(|r| retained.contains(r));
            !v.is_empty()
        });
        s.compacted = revision;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn satisfies_the_store_contract() {
        crate::contract::run_all(|| async { std::sync::Arc::new(super::MemoryBackend::new()) as _ }).await;
    }
}
