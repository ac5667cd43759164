//! Watch fan-out shared by the backends.
//!
//! A backend publishes each committed batch of events, in revision order, to the [`Hub`]. A watch
//! subscribes to the live batches first, then replays history from the backend up to the current
//! revision, then forwards live batches, skipping what it already sent. A watcher that falls
//! behind the broadcast buffer refills from history instead of blocking the writer: the writer
//! never waits for a watcher.

use std::sync::Arc;

use async_trait::async_trait;
use tokio::sync::{broadcast, mpsc};

use crate::{Event, Revision, StoreError};

/// Committed batches kept for watchers that are momentarily slow; beyond that they replay from
/// history.
const LIVE_BUFFER_BATCHES: usize = 256;
/// Batches a watch stream holds before its forwarder waits for the consumer.
const STREAM_BUFFER_BATCHES: usize = 64;

/// Where a watch replays committed events from.
#[async_trait]
pub trait History: Send + Sync + 'static {
    fn current_revision(&self) -> Revision;
    fn compacted_revision(&self) -> Revision;
    /// Events on keys under `prefix` with `after < revision <= upto`, in order.
    async fn history(&self, prefix: &str, after: Revision, upto: Revision) -> Result<Vec<Event>, StoreError>;
}

/// The live side of watches: one broadcast of committed batches.
pub struct Hub {
    live: broadcast::Sender<Arc<[Event]>>,
}

impl Default for Hub {
    fn default() -> Self {
        Self::new()
    }
}

impl Hub {
    pub fn new() -> Self {
        Hub { live: broadcast::channel(LIVE_BUFFER_BATCHES).0 }
    }

    /// Announce a committed batch. Called by the single writer, in revision order, after the
    /// batch is durable and the current revision includes it.
    pub fn publish(&self, batch: Vec<Event>) {
        if !batch.is_empty() {
            // No receivers is fine: nobody is watching.
            let _ = self.live.send(batch.into());
        }
    }

    /// Start a watch of `prefix` from just after `after`.
    pub async fn watch(
        &self,
        source: Arc<dyn History>,
        prefix: &str,
        after: Revision,
    ) -> Result<WatchStream, StoreError> {
        let live = self.live.subscribe();
        let compacted = source.compacted_revision();
        if after < compacted {
            return Err(StoreError::Compacted { requested: after, compacted });
        }
        let upto = source.current_revision();
        let initial = if after < upto { source.history(prefix, after, upto).await? } else { Vec::new() };
        let (tx, rx) = mpsc::channel(STREAM_BUFFER_BATCHES);
        let forwarder = Forwarder { source, prefix: prefix.to_string(), last: after.max(upto), tx };
        tokio::spawn(forwarder.run(initial, live));
        Ok(WatchStream { rx })
    }
}

struct Forwarder {
    source: Arc<dyn History>,
    prefix: String,
    /// Every event up to this revision has been sent (or did not match).
    last: Revision,
    tx: mpsc::Sender<Result<Vec<Event>, StoreError>>,
}

impl Forwarder {
    async fn run(mut self, initial: Vec<Event>, mut live: broadcast::Receiver<Arc<[Event]>>) {
        if !initial.is_empty() && self.tx.send(Ok(initial)).await.is_err() {
            return;
        }
        loop {
            let batch = tokio::select! {
                r = live.recv() => r,
                // Stop promptly when the consumer goes away, even if no writes come.
                _ = self.tx.closed() => return,
            };
            match batch {
                Ok(batch) => {
                    let Some(newest) = batch.last().map(Event::revision) else { continue };
                    let events: Vec<Event> = batch
                        .iter()
                        .filter(|e| e.revision() > self.last && e.kv.key.starts_with(&self.prefix))
                        .cloned()
                        .collect();
                    self.last = self.last.max(newest);
                    if !events.is_empty() && self.tx.send(Ok(events)).await.is_err() {
                        return;
                    }
                }
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    let upto = self.source.current_revision();
                    let refill = self.source.history(&self.prefix, self.last, upto).await;
                    match refill {
                        Ok(events) => {
                            self.last = self.last.max(upto);
                            if !events.is_empty() && self.tx.send(Ok(events)).await.is_err() {
                                return;
                            }
                        }
                        Err(e) => {
                            let _ = self.tx.send(Err(e)).await;
                            return;
                        }
                    }
                }
                Err(broadcast::error::RecvError::Closed) => return,
            }
        }
    }
}

/// The events of one watch, in batches in revision order. Ends when the store shuts down;
/// yields an error (then ends) if the watcher fell so far behind that history was compacted.
pub struct WatchStream {
    rx: mpsc::Receiver<Result<Vec<Event>, StoreError>>,
}

impl WatchStream {
    pub async fn next(&mut self) -> Option<Result<Vec<Event>, StoreError>> {
        self.rx.recv().await
    }
}
