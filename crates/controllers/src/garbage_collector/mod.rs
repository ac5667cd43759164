//! The garbage collector: deletes objects whose owners are gone, and carries out the
//! propagation a delete asked for, as upstream's (pkg/controller/garbagecollector).
//!
//! - [`monitors`] watch the metadata of every collectable resource ([`resources`] says which,
//!   from discovery, refreshed every [`RESYNC`]) and feed one [`graph`] of owners and
//!   dependents; each graph change names the objects to look at.
//! - [`attempt`] looks at one object with fresh reads: an object whose owners are all gone
//!   is deleted (background propagation); one that still has an owner loses its stale
//!   references; an owner deleting in the foreground loses its `foregroundDeletion` finalizer
//!   once no dependent blocks it.
//! - [`orphan`] handles owners deleted with the `orphan` finalizer: their dependents lose
//!   the reference, then the owner its finalizer.
//!
//! [`decide`] holds the pure decisions and patches; [`api`] the reads and writes.

mod absent;
mod api;
mod attempt;
mod decide;
mod graph;
mod monitors;
mod orphan;
pub(crate) mod resources;

use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::Duration;

use k8s_openapi::api::core::v1::ObjectReference;
use skiff_runtime::{WorkQueue, run_workers};
use tokio::sync::mpsc;

use crate::context::Context;
use graph::{Graph, Identity, Work};
use monitors::{Monitors, Seen};
use resources::Mapper;

/// The component name on events.
const COMPONENT: &str = "garbage-collector-controller";
/// Objects looked at at once (upstream's --concurrent-gc-syncs).
const WORKERS: usize = 20;
/// How often discovery is read again, to watch resources that appeared.
const RESYNC: Duration = Duration::from_secs(30);
/// How long the first sync of every watch is waited for before the workers start anyway
/// (a resource that cannot be listed must not stop collection of the others).
const INITIAL_SYNC_LIMIT: Duration = Duration::from_secs(60);

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Api(#[from] kube::Error),
    #[error("unable to map {api_version}, Kind={kind} to a served resource")]
    Unmapped { api_version: String, kind: String },
    #[error("item {0} has not been observed via an informer yet")]
    NotObserved(Box<Identity>),
    #[error("updateMaxRetries has been reached removing finalizer {finalizer}; will retry later for owner {owner}")]
    FinalizerRetries { finalizer: String, owner: Box<Identity> },
    #[error("remove owner reference from dependents failed for owner {owner}: {errors}")]
    Orphaning { owner: Box<Identity>, errors: String },
}

pub(crate) struct Gc {
    ctx: Context,
    graph: Mutex<Graph>,
    mapper: RwLock<Mapper>,
    /// uids of objects to look at.
    attempt_to_delete: WorkQueue<String>,
    /// uids of owners whose dependents are to be orphaned.
    attempt_to_orphan: WorkQueue<String>,
}

pub fn start(ctx: &Context) {
    let gc = Arc::new(Gc {
        ctx: ctx.clone(),
        graph: Mutex::default(),
        mapper: RwLock::default(),
        attempt_to_delete: WorkQueue::new(),
        attempt_to_orphan: WorkQueue::new(),
    });
    tokio::spawn(gc.run());
}

impl Gc {
    fn graph(&self) -> MutexGuard<'_, Graph> {
        self.graph.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Discover, watch, and after the first sync start the workers; then rediscover
    /// periodically until shutdown.
    async fn run(self: Arc<Self>) {
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(self.clone().build_graph(rx));
        let mut monitors = Monitors::default();
        let mut shutdown = self.ctx.shutdown.clone();
        let mut workers = false;
        loop {
            match resources::discover(&self.ctx.client).await {
                Ok(served) => {
                    *self.mapper.write().unwrap_or_else(|e| e.into_inner()) = Mapper::new(&served);
                    monitors.sync(&self.ctx.client, &resources::collectable(&served), &tx);
                }
                Err(e) => tracing::warn!(error = %e, "garbage collector: discovery failed; will retry"),
            }
            if !workers && !monitors.is_empty() {
                tokio::select! {
                    _ = tokio::time::timeout(INITIAL_SYNC_LIMIT, monitors.synced()) => {}
                    _ = shutdown.wait_for(|s| *s) => return,
                }
                self.start_workers();
                workers = true;
            }
            let wait = if workers { RESYNC } else { Duration::from_secs(1) };
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = shutdown.wait_for(|s| *s) => return,
            }
        }
    }

    fn start_workers(self: &Arc<Self>) {
        let this = self.clone();
        run_workers(
            "garbage-collector",
            self.attempt_to_delete.clone(),
            WORKERS,
            move |uid| this.clone().attempt_to_delete(uid),
            self.ctx.shutdown.clone(),
        );
        let this = self.clone();
        run_workers(
            "garbage-collector-orphan",
            self.attempt_to_orphan.clone(),
            WORKERS,
            move |uid| this.clone().attempt_to_orphan(uid),
            self.ctx.shutdown.clone(),
        );
    }

    /// Apply what the monitors saw to the graph, one change at a time, in order.
    async fn build_graph(self: Arc<Self>, mut rx: mpsc::UnboundedReceiver<Seen>) {
        while let Some(seen) = rx.recv().await {
            let work = {
                let mut g = self.graph();
                match seen {
                    Seen::Upsert(o) => g.observe(o),
                    Seen::Deleted(id) => g.observe_deleted(&id),
                    Seen::Relisted { api_version, kind, present } => g.relisted(&api_version, &kind, &present),
                }
            };
            self.dispatch(work);
        }
    }

    /// A worker verified that nothing with `identity` exists.
    fn virtual_delete(&self, identity: &Identity) {
        let work = self.graph().virtual_delete(identity);
        self.dispatch(work);
    }

    fn dispatch(&self, work: Vec<Work>) {
        for w in work {
            match w {
                Work::AttemptToDelete(uid) => self.attempt_to_delete.add(uid),
                Work::AttemptToOrphan(uid) => self.attempt_to_orphan.add(uid),
                Work::InvalidNamespace { dependent, owner } => self.report_invalid_namespace(*dependent, *owner),
            }
        }
    }

    fn report_invalid_namespace(&self, dependent: Identity, owner: Identity) {
        let note = format!("ownerRef {owner} does not exist in namespace {:?}", dependent.namespace);
        let regarding = ObjectReference {
            api_version: Some(dependent.api_version),
            kind: Some(dependent.kind),
            namespace: Some(dependent.namespace).filter(|n| !n.is_empty()),
            name: Some(dependent.name),
            uid: Some(dependent.uid),
            ..Default::default()
        };
        let recorder = self.ctx.recorder(COMPONENT);
        tokio::spawn(async move {
            if let Err(e) = recorder.publish(&regarding, true, "OwnerRefInvalidNamespace", &note).await {
                tracing::debug!(error = %e, "could not record an event");
            }
        });
    }
}
