//! A work queue of keys, as client-go's: a key added many times while waiting is queued
//! once; a key being worked on is never handed out again until [`WorkQueue::done`], and if
//! it was added meanwhile it comes back afterwards; failures retry with exponential
//! back-off per key.

use std::collections::{HashMap, HashSet, VecDeque};
use std::hash::Hash;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use tokio::sync::Notify;

/// First retry delay after a failure, doubled per further failure.
const BASE_DELAY: Duration = Duration::from_millis(5);
/// Longest retry delay (upstream's controllers use 1000 s; a minute keeps a stuck
/// object from waiting a quarter of an hour once its cause is gone).
const MAX_DELAY: Duration = Duration::from_secs(60);

struct State<K> {
    queue: VecDeque<K>,
    /// Keys waiting in `queue` or to be re-queued when their processing ends.
    dirty: HashSet<K>,
    processing: HashSet<K>,
    failures: HashMap<K, u32>,
    /// Keys waiting for a delayed add, with when it is due: a key is held once, at the
    /// earliest time asked, so many delayed adds of one key coalesce into one.
    waiting: HashMap<K, Instant>,
    shut_down: bool,
}

/// A cloneable handle on one queue.
pub struct WorkQueue<K> {
    state: Arc<Mutex<State<K>>>,
    ready: Arc<Notify>,
}

impl<K> Clone for WorkQueue<K> {
    fn clone(&self) -> Self {
        WorkQueue { state: self.state.clone(), ready: self.ready.clone() }
    }
}

impl<K: Clone + Eq + Hash + Send + 'static> Default for WorkQueue<K> {
    fn default() -> Self {
        Self::new()
    }
}

impl<K: Clone + Eq + Hash + Send + 'static> WorkQueue<K> {
    pub fn new() -> WorkQueue<K> {
        WorkQueue {
            state: Arc::new(Mutex::new(State {
                queue: VecDeque::new(),
                dirty: HashSet::new(),
                processing: HashSet::new(),
                failures: HashMap::new(),
                waiting: HashMap::new(),
                shut_down: false,
            })),
            ready: Arc::new(Notify::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State<K>> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queue `key` unless it is already waiting.
    pub fn add(&self, key: K) {
        let mut s = self.lock();
        if s.shut_down || !s.dirty.insert(key.clone()) {
            return;
        }
        if !s.processing.contains(&key) {
            s.queue.push_back(key);
            drop(s);
            self.ready.notify_one();
        }
    }

    /// Queue `key` once `delay` has passed (needs a tokio runtime). If the key already
    /// waits to be added sooner, this does nothing: bursts of changes to one object then
    /// cost one sync.
    pub fn add_after(&self, key: K, delay: Duration) {
        if delay.is_zero() {
            return self.add(key);
        }
        let due = Instant::now() + delay;
        {
            let mut s = self.lock();
            match s.waiting.get(&key) {
                Some(at) if *at <= due => return,
                _ => {
                    s.waiting.insert(key.clone(), due);
                }
            }
        }
        let this = self.clone();
        tokio::spawn(async move {
            tokio::time::sleep_until(due).await;
            let mine = {
                let mut s = this.lock();
                // A sooner add may have replaced this one (and already fired).
                let mine = s.waiting.get(&key) == Some(&due);
                if mine {
                    s.waiting.remove(&key);
                }
                mine
            };
            if mine {
                this.add(key);
            }
        });
    }

    /// Queue `key` after its back-off: 5 ms, doubling per failure since the last
    /// [`WorkQueue::forget`], at most a minute.
    pub fn add_rate_limited(&self, key: K) {
        let failures = {
            let mut s = self.lock();
            let n = s.failures.entry(key.clone()).or_insert(0);
            *n += 1;
            *n
        };
        self.add_after(key, backoff(failures));
    }

    /// Clear `key`'s failure count (after it succeeded).
    pub fn forget(&self, key: &K) {
        self.lock().failures.remove(key);
    }

    /// How many times `key` failed since it was last forgotten.
    pub fn failures(&self, key: &K) -> u32 {
        self.lock().failures.get(key).copied().unwrap_or(0)
    }

    /// The next key to work on; `None` once the queue is shut down.
    pub async fn get(&self) -> Option<K> {
        loop {
            let notified = self.ready.notified();
            {
                let mut s = self.lock();
                if s.shut_down {
                    return None;
                }
                if let Some(key) = s.queue.pop_front() {
                    s.dirty.remove(&key);
                    s.processing.insert(key.clone());
                    if !s.queue.is_empty() {
                        // Wake another worker for the rest.
                        self.ready.notify_one();
                    }
                    return Some(key);
                }
            }
            notified.await;
        }
    }

    /// Mark `key` as no longer being worked on; re-queue it if it was added meanwhile.
    pub fn done(&self, key: &K) {
        let mut s = self.lock();
        s.processing.remove(key);
        if s.dirty.contains(key) {
            s.queue.push_back(key.clone());
            drop(s);
            self.ready.notify_one();
        }
    }

    /// Keys waiting (not counting those being worked on).
    pub fn len(&self) -> usize {
        self.lock().queue.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Stop handing out keys; waiting [`WorkQueue::get`] calls return `None`.
    pub fn shut_down(&self) {
        self.lock().shut_down = true;
        self.ready.notify_waiters();
    }
}

fn backoff(failures: u32) -> Duration {
    let exp = failures.saturating_sub(1).min(20);
    BASE_DELAY.saturating_mul(1 << exp).min(MAX_DELAY)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_key_added_twice_while_waiting_is_handed_out_once() {
        let q = WorkQueue::new();
        q.add("a");
        q.add("b");
        q.add("a");
        assert_eq!(q.len(), 2);
        assert_eq!(q.get().await, Some("a"));
        assert_eq!(q.get().await, Some("b"));
        assert!(q.is_empty());
    }

    #[tokio::test]
    async fn a_key_being_processed_is_not_handed_out_again_until_done() {
        let q = WorkQueue::new();
        q.add("a");
        assert_eq!(q.get().await, Some("a"));
        q.add("a");
        assert!(q.is_empty(), "held back while processing");
        q.done(&"a");
        assert_eq!(q.get().await, Some("a"));
        q.done(&"a");
        assert!(q.is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn failures_back_off_exponentially_until_forgotten() {
        assert_eq!(backoff(1), Duration::from_millis(5));
        assert_eq!(backoff(4), Duration::from_millis(40));
        assert_eq!(backoff(100), MAX_DELAY);
        let q = WorkQueue::new();
        q.add_rate_limited("a");
        q.add_rate_limited("a");
        assert_eq!(q.failures(&"a"), 2);
        assert_eq!(q.get().await, Some("a"));
        q.forget(&"a");
        assert_eq!(q.failures(&"a"), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn delayed_adds_of_one_key_coalesce_at_the_earliest_time() {
        let q = WorkQueue::new();
        q.add_after("a", Duration::from_millis(100));
        q.add_after("a", Duration::from_millis(500));
        q.add_after("a", Duration::from_millis(50));
        tokio::time::sleep(Duration::from_millis(60)).await;
        assert_eq!(q.len(), 1, "added at the earliest time asked");
        assert_eq!(q.get().await, Some("a"));
        q.done(&"a");
        tokio::time::sleep(Duration::from_millis(600)).await;
        assert!(q.is_empty(), "the later delayed adds were folded into the first");
    }

    #[tokio::test]
    async fn shut_down_wakes_waiting_workers() {
        let q: WorkQueue<&str> = WorkQueue::new();
        let waiter = tokio::spawn({
            let q = q.clone();
            async move { q.get().await }
        });
        tokio::task::yield_now().await;
        q.shut_down();
        assert_eq!(waiter.await.unwrap(), None);
    }
}
