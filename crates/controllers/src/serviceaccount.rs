//! The ServiceAccount controller: a `default` ServiceAccount in every active namespace,
//! recreated if deleted.

use std::sync::Arc;

use k8s_openapi::api::core::v1::{Namespace, ServiceAccount};
use kube::api::{Api, ObjectMeta, PostParams};
use skiff_runtime::{Change, Informer, Next, WorkQueue, run_workers};

use crate::context::Context;
use crate::error::Result;

const DEFAULT: &str = "default";

struct Controller {
    ctx: Context,
    namespaces: Informer<Namespace>,
    accounts: Informer<ServiceAccount>,
    queue: WorkQueue<String>,
}

pub fn start(ctx: &Context) {
    let c = Arc::new(Controller {
        ctx: ctx.clone(),
        namespaces: ctx.informers.get::<Namespace>(),
        accounts: ctx.informers.get::<ServiceAccount>(),
        queue: WorkQueue::new(),
    });
    let q = c.queue.clone();
    c.namespaces.on_change(move |change| {
        if !matches!(change, Change::Deleted(_)) {
            q.add(change.object().metadata.name.clone().unwrap_or_default());
        }
    });
    let q = c.queue.clone();
    c.accounts.on_change(move |change| {
        let sa = change.object();
        if let Change::Deleted(_) = change
            && sa.metadata.name.as_deref() == Some(DEFAULT)
        {
            q.add(sa.metadata.namespace.clone().unwrap_or_default());
        }
    });
    let this = c.clone();
    run_workers("serviceaccount-controller", c.queue.clone(), 2, move |ns| this.clone().sync(ns), ctx.shutdown.clone());
}

impl Controller {
    async fn sync(self: Arc<Self>, namespace: String) -> Result<Next> {
        let Some(ns) = self.namespaces.get(&namespace) else { return Ok(Next::Wait) };
        let terminating = ns.metadata.deletion_timestamp.is_some()
            || ns.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Terminating");
        if terminating || self.accounts.get_named(&namespace, DEFAULT).is_some() {
            return Ok(Next::Wait);
        }
        let api: Api<ServiceAccount> = Api::namespaced(self.ctx.client.clone(), &namespace);
        let sa = ServiceAccount {
            metadata: ObjectMeta { name: Some(DEFAULT.into()), ..Default::default() },
            ..Default::default()
        };
        match api.create(&PostParams::default(), &sa).await {
            Ok(_) => Ok(Next::Wait),
            // Exists (our cache lags) or the namespace is going away: nothing to do.
            Err(kube::Error::Api(s)) if s.code == 409 || s.code == 403 => Ok(Next::Wait),
            Err(e) => Err(e.into()),
        }
    }
}
