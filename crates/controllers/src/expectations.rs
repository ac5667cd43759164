//! Expectations, as upstream's controllers keep them: after creating or deleting N objects
//! a controller waits until its informer has seen them before it counts again, so it does
//! not create the same pods twice. Expectations lapse after five minutes in case a watch
//! event was lost.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

const TTL: Duration = Duration::from_secs(300);

struct Expected {
    adds: i64,
    deletes: i64,
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
        m.insert(key.to_string(), Expected { adds, deletes, set_at: Instant::now() });
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
}
