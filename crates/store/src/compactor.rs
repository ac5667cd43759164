//! Periodic compaction, the way the Kubernetes API server compacts etcd: every interval, compact
//! to the revision that was current one interval ago, so at least one interval of history stays
//! for watchers and paginated lists.

use std::sync::Arc;
use std::time::Duration;

use crate::{Backend, Revision};

/// Run until the returned task is aborted.
pub fn spawn(backend: Arc<dyn Backend>, interval: Duration) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut previous: Revision = backend.current_revision();
        let mut tick = tokio::time::interval(interval);
        tick.tick().await;
        loop {
            tick.tick().await;
            if previous > backend.compacted_revision()
                && let Err(e) = backend.compact(previous).await
            {
                tracing::warn!(revision = previous, error = %e, "compaction failed");
            }
            previous = backend.current_revision();
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    #[tokio::test(start_paused = true)]
    async fn compacts_to_the_revision_of_one_interval_ago() {
        let backend: Arc<dyn Backend> = Arc::new(crate::memory::MemoryBackend::new());
        backend.create("/a", Bytes::from_static(b"1")).await.unwrap();
        let task = spawn(backend.clone(), Duration::from_secs(300));
        tokio::time::sleep(Duration::from_secs(1)).await;
        backend.create("/b", Bytes::from_static(b"2")).await.unwrap();
        tokio::time::sleep(Duration::from_secs(300)).await;
        assert_eq!(backend.compacted_revision(), 1, "compacted to what was current at the start");
        tokio::time::sleep(Duration::from_secs(300)).await;
        assert_eq!(backend.compacted_revision(), 2);
        task.abort();
    }
}
