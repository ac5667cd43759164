//! Expectations, as upstream's controllers keep them: after creating or deleting N objects
//! a controller waits until its informer has seen them before it counts again, so it does
//! not create the same pods twice. Expectations lapse after five minutes in case a watch
//! event was lost.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::{Duration, Instant};

const TTL: Duration = Duration::from_secs(300);

struct Expected {
    adds: i64,
    deletes: i64,
    /// Uids of the objects whose deletion is awaited, when the controller said which: a
    /// deletion seen twice (deletionTimestamp set, then gone) then counts once.
    deleting: HashSet<String>,
    set_at: Instant,
}

#[derive(Default)]
pub struct Expectations {
    by_key: Mutex<HashMap<String, Expected>>,
}

impl Expectations {
    /// Expect `adds` creations and `deletes` deletions for `key`.
    pub fn expect(&self, key: &str, adds: i64, deletes: i64) {
        let mut m = self.by_key.lock().unwrap_or_else(|e| e.into_inner());
        m.insert(key.to_string(), Expected { adds, deletes, deleting: HashSet::new(), set_at: Instant::now() });
    }

    /// Expect the deletion of the objects with these uids for `key`.
    pub fn expect_deletions(&self, key: &str, uids: impl IntoIterator<Item = String>) {
        let deleting: HashSet<String> = uids.into_iter().collect();
        let mut m = self.by_key.lock().unwrap_or_else(|e| e.into_inner());
        let deletes = deleting.len() as i64;
        m.insert(key.to_string(), Expected { adds: 0, deletes, deleting, set_at: Instant::now() });
    }

    /// The object with `uid` was seen deleted (or being deleted), or its deletion failed;
    /// only counts if it was expected, and only once.
    pub fn deletion_of_observed(&self, key: &str, uid: &str) {
        let mut m = self.by_key.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(e) = m.get_mut(key)
            && e.deleting.remove(uid)
        {
            e.deletes -= 1;
        }
    }

    /// One expected creation was seen (or will never happen: the create failed).
    pub fn creation_observed(&self, key: &str) {
        self.lower(key, 1, 0);
    }

    /// One expected deletion was seen (or will never happen).
    pub fn deletion_observed(&self, key: &str) {
        self.lower(key, 0, 1);
    }

    fn lower(&self, key: &str, adds: i64, deletes: i64) {
        let mut m = self.by_key.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(e) = m.get_mut(key) {
            e.adds -= adds;
            e.deletes -= deletes;
        }
    }

    /// Whether `key` may be synced: nothing outstanding, or the expectations lapsed.
    pub fn satisfied(&self, key: &str) -> bool {
        let m = self.by_key.lock().unwrap_or_else(|e| e.into_inner());
        match m.get(key) {
            None => true,
            Some(e) => (e.adds <= 0 && e.deletes <= 0) || e.set_at.elapsed() > TTL,
        }
    }

    /// Forget `key` (its object was deleted).
    pub fn forget(&self, key: &str) {
        self.by_key.lock().unwrap_or_else(|e| e.into_inner()).remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn satisfied_once_every_expected_change_was_observed() {
        let e = Expectations::default();
        assert!(e.satisfied("a"));
        e.expect("a", 2, 1);
        e.creation_observed("a");
        e.deletion_observed("a");
        assert!(!e.satisfied("a"));
        e.creation_observed("a");
        assert!(e.satisfied("a"));
        e.forget("a");
        assert!(e.satisfied("a"));
    }

    #[test]
    fn a_deletion_seen_twice_counts_once() {
        let e = Expectations::default();
        e.expect_deletions("a", ["p1".to_string(), "p2".to_string()]);
        e.deletion_of_observed("a", "p1");
        e.deletion_of_observed("a", "p1");
        e.deletion_of_observed("a", "other");
        assert!(!e.satisfied("a"));
        e.deletion_of_observed("a", "p2");
        assert!(e.satisfied("a"));
    }
}
