//! The cache of one stored resource: its objects in key order, a window of recent events for
//! watches that resume from a resourceVersion, and its watchers.
//!
//! Lock: one `RwLock` per resource. Events are applied and dispatched to watchers under the
//! write lock, so a watcher registered under the lock (after replaying the window) sees every
//! later event exactly once. Dispatch never waits: a watcher whose channel is full is dropped
//! (its stream ends and the client resumes from its last resourceVersion, as with upstream).

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use tokio::sync::mpsc;

use super::filter::Filter;
use super::object::CachedObject;

/// Events kept per resource for watches resuming from an older resourceVersion.
const EVENT_WINDOW: usize = 4096;
/// Items a watcher may have queued before it is considered too slow and dropped.
const WATCHER_QUEUE: usize = 4096;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    Added,
    Modified,
    Deleted,
    Bookmark,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Added => "ADDED",
            EventType::Modified => "MODIFIED",
            EventType::Deleted => "DELETED",
            EventType::Bookmark => "BOOKMARK",
        }
    }
}

/// A change as stored in the window: the object after it (the last state, for deletes) and
/// before it.
#[derive(Debug, Clone)]
pub struct CacheEvent {
    pub kind: EventType,
    pub object: Arc<CachedObject>,
    pub prev: Option<Arc<CachedObject>>,
}

/// What a watcher receives.
#[derive(Debug, Clone)]
pub enum WatchItem {
    Event(EventType, Arc<CachedObject>),
    /// All events up to this revision have been delivered.
    Bookmark(i64),
    /// The synthetic ADDED events of the initial state end here (`sendInitialEvents`).
    InitialEventsEnd(i64),
}

/// Where a watch starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// With every event after this revision.
    After(i64),
    /// With the current state as ADDED events, then every later event; `end_marker` adds an
    /// [`WatchItem::InitialEventsEnd`] after the initial events.
    Snapshot { end_marker: bool },
}

struct Watcher {
    id: u64,
    filter: Filter,
    bookmarks: bool,
    tx: mpsc::Sender<WatchItem>,
}

impl Watcher {
    /// Translate a change into what this watcher should see, given its filter: an object that
    /// starts matching is ADDED for it, one that stops matching is DELETED.
    fn translate(&self, e: &CacheEvent) -> Option<WatchItem> {
        let now = self.filter.matches(&e.object);
        let before = e.prev.as_ref().is_some_and(|p| self.filter.matches(p));
        let kind = match (e.kind, before, now) {
            (EventType::Added, _, true) => EventType::Added,
            (EventType::Modified, true, true) => EventType::Modified,
            (EventType::Modified, false, true) => EventType::Added,
            (EventType::Modified, true, false) => EventType::Deleted,
            (EventType::Deleted, _, _) if before || now => EventType::Deleted,
            _ => return None,
        };
        Some(WatchItem::Event(kind, e.object.clone()))
    }
}

#[derive(Default)]
pub struct State {
    pub objects: BTreeMap<String, Arc<CachedObject>>,
    window: VecDeque<(i64, CacheEvent)>,
    /// Every event of this resource with a revision above this is in `window`.
    floor: i64,
    /// The revision of the newest event applied.
    pub rev: i64,
    watchers: Vec<Watcher>,
}

pub struct ResourceCache {
    state: RwLock<State>,
    next_watcher: AtomicU64,
}

/// Why a watch could not start.
#[derive(Debug, PartialEq, Eq)]
pub enum WatchStart {
    /// The requested revision is older than the window: the caller must replay from the store
    /// or answer 410 Gone.
    TooOld { floor: i64 },
}

impl ResourceCache {
    pub fn new(floor: i64) -> Self {
        ResourceCache {
            state: RwLock::new(State { floor, rev: floor, ..State::default() }),
            next_watcher: AtomicU64::new(1),
        }
    }

    pub fn read(&self) -> RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(|e| e.into_inner())
    }

    /// Load an object while priming, before any watcher exists.
    pub fn prime(&self, key: String, obj: Arc<CachedObject>) {
        self.write().objects.insert(key, obj);
    }

    /// Apply one committed change and hand it to the watchers.
    pub fn apply(&self, key: &str, kind: EventType, object: Arc<CachedObject>) {
        let mut s = self.write();
        let rev = object.rev;
        let prev = match kind {
            EventType::Deleted => s.objects.remove(key),
            _ => s.objects.insert(key.to_string(), object.clone()),
        };
        let event = CacheEvent { kind, object, prev };
        s.watchers.retain(|w| match w.translate(&event) {
            None => true,
            Some(item) => w.tx.try_send(item).is_ok(),
        });
        if s.window.len() == EVENT_WINDOW
            && let Some((r, _)) = s.window.pop_front()
        {
            s.floor = r;
        }
        s.window.push_back((rev, event));
        s.rev = rev;
    }

    /// Start a watch. `applied` is the cache-wide revision read before this call: every event
    /// up to it is already in this resource's state. Returns the watch id, its queue and the
    /// revision it starts from.
    pub fn watch(
        &self,
        filter: Filter,
        bookmarks: bool,
        start: Start,
        applied: i64,
    ) -> Result<(u64, mpsc::Receiver<WatchItem>, i64), WatchStart> {
        let mut s = self.write();
        let snapshot_rev = applied.max(s.rev);
        let replay: Vec<WatchItem> = match start {
            Start::After(after) => {
                if after < s.floor {
                    return Err(WatchStart::TooOld { floor: s.floor });
                }
                let probe = Watcher { id: 0, filter: filter.clone(), bookmarks, tx: mpsc::channel(1).0 };
                s.window.iter().filter(|(r, _)| *r > after).filter_map(|(_, e)| probe.translate(e)).collect()
            }
            Start::Snapshot { end_marker } => {
                let mut items: Vec<WatchItem> = s
                    .objects
                    .values()
                    .filter(|o| filter.matches(o))
                    .map(|o| WatchItem::Event(EventType::Added, o.clone()))
                    .collect();
                if end_marker {
                    items.push(WatchItem::InitialEventsEnd(snapshot_rev));
                }
                items
            }
        };
        // The queue must hold the replay however long it is, then the usual headroom.
        let (tx, rx) = mpsc::channel(replay.len() + WATCHER_QUEUE);
        for item in replay {
            let _ = tx.try_send(item);
        }
        let id = self.next_watcher.fetch_add(1, Ordering::Relaxed);
        s.watchers.push(Watcher { id, filter, bookmarks, tx });
        let from = match start {
            Start::After(after) => after.max(snapshot_rev),
            Start::Snapshot { .. } => snapshot_rev,
        };
        Ok((id, rx, from))
    }

    pub fn unwatch(&self, id: u64) {
        self.write().watchers.retain(|w| w.id != id);
    }

    /// Tell watchers that asked for bookmarks that everything up to `global_rev` (or this
    /// resource's newest event, if later) has been delivered.
    pub fn bookmark(&self, global_rev: i64) {
        let mut s = self.write();
        let rev = global_rev.max(s.rev);
        s.watchers.retain(|w| {
            if w.tx.is_closed() {
                return false;
            }
            // A full queue just skips this bookmark; a closed one means the client left.
            !w.bookmarks
                || !matches!(w.tx.try_send(WatchItem::Bookmark(rev)), Err(mpsc::error::TrySendError::Closed(_)))
        });
    }

    /// Drop every watcher (after a relist): their streams end and clients start over.
    pub fn reset(&self, objects: BTreeMap<String, Arc<CachedObject>>, rev: i64) {
        let mut s = self.write();
        *s = State { objects, floor: rev, rev, ..State::default() };
    }

    pub fn watcher_count(&self) -> usize {
        self.read().watchers.len()
    }
}
