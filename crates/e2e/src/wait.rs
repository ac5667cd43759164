//! Polling for a cluster state in tests.

use std::future::Future;
use std::time::{Duration, Instant};

/// Poll `check` every 100 ms until it gives `Some`, or panic after `timeout` naming `what`
/// and adding `context()` (a server or sim log, the objects seen) to the message.
pub async fn eventually<T, F, Fut>(what: &str, timeout: Duration, context: impl Fn() -> String, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out after {timeout:?} waiting for {what}\n{}", context());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
