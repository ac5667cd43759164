//! Workers that drain a [`WorkQueue`]: each takes a key, runs the component's sync for it,
//! and puts it back as the result asks (later, after a back-off on error, or not at all).

use std::fmt::Display;
use std::future::Future;
use std::hash::Hash;
use std::time::Duration;

use tokio::sync::watch;

use crate::queue::WorkQueue;

/// What a sync asks for next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Nothing until something about the object changes.
    Wait,
    /// Look again after this long even if nothing changes (deadlines, back-offs).
    After(Duration),
}

/// Run `workers` tasks calling `sync` for each key until `shutdown` turns true. A key is
/// never synced by two workers at once.
pub fn run_workers<K, F, Fut, E>(
    name: &'static str,
    queue: WorkQueue<K>,
    workers: usize,
    sync: F,
    mut shutdown: watch::Receiver<bool>,
) where
    K: Clone + Eq + Hash + Send + Sync + Display + 'static,
    F: Fn(K) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Result<Next, E>> + Send + 'static,
    E: Display + Send + 'static,
{
    for _ in 0..workers.max(1) {
        let queue = queue.clone();
        let sync = sync.clone();
        tokio::spawn(async move {
            while let Some(key) = queue.get().await {
                // Each sync runs as its own task so that a panic (a bug) costs that key a
                // retry, not the controller its worker.
                match tokio::spawn(sync(key.clone())).await {
                    Ok(Ok(next)) => {
                        queue.forget(&key);
                        if let Next::After(d) = next {
                            queue.add_after(key.clone(), d);
                        }
                    }
                    Ok(Err(e)) => {
                        // Conflicts are the normal cost of optimistic concurrency: the
                        // retry sees the newer object.
                        tracing::debug!(controller = name, key = %key, error = %e, "sync failed; retrying");
                        queue.add_rate_limited(key.clone());
                    }
                    Err(panicked) => {
                        tracing::error!(controller = name, key = %key, error = %panicked, "sync panicked; retrying");
                        queue.add_rate_limited(key.clone());
                    }
                }
                queue.done(&key);
            }
        });
    }
    tokio::spawn(async move {
        let _ = shutdown.wait_for(|s| *s).await;
        queue.shut_down();
    });
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[tokio::test]
    async fn runner_never_runs_one_key_twice_at_once_and_retries_failures() {
        let q: WorkQueue<String> = WorkQueue::new();
        let running = Arc::new(AtomicUsize::new(0));
        let calls = Arc::new(AtomicUsize::new(0));
        let (stop_tx, stop_rx) = watch::channel(false);
        let (r, c) = (running.clone(), calls.clone());
        run_workers(
            "test",
            q.clone(),
            4,
            move |_key: String| {
                let (r, c) = (r.clone(), c.clone());
                async move {
                    assert_eq!(r.fetch_add(1, Ordering::SeqCst), 0, "two syncs of one key at once");
                    tokio::time::sleep(Duration::from_millis(5)).await;
                    r.fetch_sub(1, Ordering::SeqCst);
                    // Fail the first time to exercise the retry.
                    if c.fetch_add(1, Ordering::SeqCst) == 0 { Err("first try fails") } else { Ok(Next::Wait) }
                }
            },
            stop_rx,
        );
        for _ in 0..10 {
            q.add("k".to_string());
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(calls.load(Ordering::SeqCst) >= 2);
        assert_eq!(q.failures(&"k".to_string()), 0, "success forgets the failures");
        stop_tx.send(true).unwrap();
    }

    #[tokio::test]
    async fn a_panicking_sync_costs_a_retry_not_the_worker() {
        let q: WorkQueue<String> = WorkQueue::new();
        let calls = Arc::new(AtomicUsize::new(0));
        let (stop_tx, stop_rx) = watch::channel(false);
        let c = calls.clone();
        run_workers(
            "test",
            q.clone(),
            1,
            move |_key: String| {
                let c = c.clone();
                async move {
                    if c.fetch_add(1, Ordering::SeqCst) == 0 {
                        panic!("a bug");
                    }
                    Ok::<_, String>(Next::Wait)
                }
            },
            stop_rx,
        );
        // Printing the panic (with a backtrace) can take a while: wait for the calls.
        let called = |n: usize| {
            let calls = calls.clone();
            async move {
                for _ in 0..500 {
                    if calls.load(Ordering::SeqCst) >= n {
                        return;
                    }
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                panic!("only {} calls, expected {n}", calls.load(Ordering::SeqCst));
            }
        };
        q.add("k".to_string());
        called(2).await; // retried after the panic
        q.add("other".to_string());
        called(3).await; // the worker still runs
        stop_tx.send(true).unwrap();
    }
}
