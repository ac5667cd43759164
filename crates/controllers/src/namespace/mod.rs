//! The namespace controller (upstream's pkg/controller/namespace): a namespace being
//! deleted is emptied of every namespaced object ([`content`]), reports what it waits for in
//! its status ([`conditions`]), and once empty loses the `kubernetes` finalizer through the
//! `finalize` subresource, upon which the API server removes it.

mod conditions;
mod content;

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Namespace, NamespaceSpec};
use kube::api::{Api, PostParams};
use skiff_runtime::{Change, Informer, Next, WorkQueue, run_workers};

use crate::context::Context;

/// The finalizer this controller owns in `spec.finalizers`.
const FINALIZER: &str = "kubernetes";
/// Namespaces emptied at once (upstream's --concurrent-namespace-syncs).
const WORKERS: usize = 10;
/// How long after a change a terminating namespace is looked at. Upstream waits 5 s so that
/// every API server of an HA control plane has seen the deletion and refuses new content;
/// skiff has one API server whose admission reads its own cache, so a short pause covers it.
const DELETION_GRACE: Duration = Duration::from_secs(1);
/// Attempts at a write that conflicts with other writers of the namespace.
const CONFLICT_RETRIES: usize = 5;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Api(#[from] kube::Error),
    /// Some content could not be deleted (the messages joined).
    #[error("{0}")]
    Content(String),
    #[error("namespace uid has changed across retries")]
    Replaced,
    #[error("namespace {0} kept changing while being finalized")]
    Contended(String),
}

pub(crate) struct Controller {
    ctx: Context,
    namespaces: Informer<Namespace>,
    queue: WorkQueue<String>,
}

pub fn start(ctx: &Context) {
    let c = Arc::new(Controller {
        ctx: ctx.clone(),
        namespaces: ctx.informers.get::<Namespace>(),
        queue: WorkQueue::new(),
    });
    let q = c.queue.clone();
    c.namespaces.on_change(move |change| {
        if matches!(change, Change::Deleted(_)) {
            return;
        }
        let ns = change.object();
        if ns.metadata.deletion_timestamp.is_some() {
            q.add_after(ns.metadata.name.clone().unwrap_or_default(), DELETION_GRACE);
        }
    });
    let this = c.clone();
    run_workers(
        "namespace-controller",
        c.queue.clone(),
        WORKERS,
        move |name| this.clone().sync(name),
        ctx.shutdown.clone(),
    );
}

fn is_status(e: &kube::Error, code: u16) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == code)
}

fn has_finalizer(ns: &Namespace) -> bool {
    ns.spec.as_ref().and_then(|s| s.finalizers.as_ref()).is_some_and(|f| f.iter().any(|x| x == FINALIZER))
}

impl Controller {
    async fn sync(self: Arc<Self>, name: String) -> Result<Next, Error> {
        let Some(ns) = self.namespaces.get(&name) else { return Ok(Next::Wait) };
        if ns.metadata.deletion_timestamp.is_none() {
            return Ok(Next::Wait);
        }
        match self.delete(&name).await? {
            // Half the estimate, plus a second (as upstream), then look again.
            Some(estimate) => Ok(Next::After(Duration::from_secs(estimate as u64 / 2 + 1))),
            None => Ok(Next::Wait),
        }
    }

    /// Empty the namespace and finalize it; `Some(seconds)` while content remains.
    async fn delete(&self, name: &str) -> Result<Option<i64>, Error> {
        let api: Api<Namespace> = Api::all(self.ctx.client.clone());
        // Other controllers write terminating namespaces too: start from the latest.
        let Some(mut ns) = api.get_opt(name).await? else { return Ok(None) };
        if ns.metadata.deletion_timestamp.is_none() {
            return Ok(None);
        }
        if ns.status.as_ref().and_then(|s| s.phase.as_deref()) != Some("Terminating") {
            ns.status.get_or_insert_with(Default::default).phase = Some("Terminating".into());
            ns = match api.replace_status(name, &PostParams::default(), &ns).await {
                Ok(n) => n,
                Err(e) if is_status(&e, 404) => return Ok(None),
                Err(e) => return Err(e.into()),
            };
        }
        if !has_finalizer(&ns) {
            return Ok(None);
        }
        let estimate = self.delete_all_content(&ns).await?;
        if estimate > 0 {
            return Ok(Some(estimate));
        }
        self.finalize(&api, ns).await?;
        Ok(None)
    }

    /// Remove `kubernetes` from `spec.finalizers` through `namespaces/<name>/finalize`,
    /// re-reading on conflicts.
    async fn finalize(&self, api: &Api<Namespace>, mut ns: Namespace) -> Result<(), Error> {
        let name = ns.metadata.name.clone().unwrap_or_default();
        for _ in 0..CONFLICT_RETRIES {
            let mut rest: Vec<String> = ns.spec.as_ref().and_then(|s| s.finalizers.clone()).unwrap_or_default();
            rest.retain(|f| f != FINALIZER);
            rest.sort();
            rest.dedup();
            let body = Namespace {
                metadata: ns.metadata.clone(),
                spec: Some(NamespaceSpec { finalizers: Some(rest) }),
                status: None,
            };
            match api.replace_subresource::<Namespace>("finalize", &name, &PostParams::default(), &body).await {
                Ok(_) => return Ok(()),
                Err(e) if is_status(&e, 404) => return Ok(()),
                Err(e) if is_status(&e, 409) => {
                    let Some(latest) = api.get_opt(&name).await? else { return Ok(()) };
                    if latest.metadata.uid != ns.metadata.uid {
                        return Err(Error::Replaced);
                    }
                    ns = latest;
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(Error::Contended(name))
    }
}
