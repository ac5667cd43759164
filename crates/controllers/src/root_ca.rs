//! The root CA publisher: a ConfigMap `kube-root-ca.crt` holding the cluster CA certificate
//! in every active namespace, so pods can verify the API server.

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::api::{Api, ObjectMeta, Patch, PatchParams, PostParams};
use serde_json::json;
use skiff_runtime::{Change, Informer, Next, WorkQueue, run_workers};

use crate::context::Context;
use crate::error::{Result, ignore_not_found};

pub const NAME: &str = "kube-root-ca.crt";
const DESCRIPTION_KEY: &str = "kubernetes.io/description";
const DESCRIPTION: &str = "Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across distributions of Kubernetes clusters.";

struct Controller {
    ctx: Context,
    namespaces: Informer<Namespace>,
    maps: Informer<ConfigMap>,
    queue: WorkQueue<String>,
}

pub fn start(ctx: &Context) {
    if ctx.root_ca_pem.is_empty() {
        tracing::warn!("no cluster CA given; not publishing {NAME}");
        return;
    }
    let c = Arc::new(Controller {
        ctx: ctx.clone(),
        namespaces: ctx.informers.get::<Namespace>(),
        maps: ctx.informers.get::<ConfigMap>(),
        queue: WorkQueue::new(),
    });
    let q = c.queue.clone();
    c.namespaces.on_change(move |change| {
        if !matches!(change, Change::Deleted(_)) {
            q.add(change.object().metadata.name.clone().unwrap_or_default());
        }
    });
    let q = c.queue.clone();
    c.maps.on_change(move |change| {
        let cm = change.object();
        if cm.metadata.name.as_deref() == Some(NAME) {
            q.add(cm.metadata.namespace.clone().unwrap_or_default());
        }
    });
    let this = c.clone();
    run_workers("root-ca-cert-publisher", c.queue.clone(), 2, move |ns| this.clone().sync(ns), ctx.shutdown.clone());
}

impl Controller {
    fn wanted_data(&self) -> BTreeMap<String, String> {
        [("ca.crt".to_string(), self.ctx.root_ca_pem.to_string())].into()
    }

    async fn sync(self: Arc<Self>, namespace: String) -> Result<Next> {
        let Some(ns) = self.namespaces.get(&namespace) else { return Ok(Next::Wait) };
        if ns.metadata.deletion_timestamp.is_some() {
            return Ok(Next::Wait);
        }
        let api: Api<ConfigMap> = Api::namespaced(self.ctx.client.clone(), &namespace);
        let data = self.wanted_data();
        match self.maps.get_named(&namespace, NAME) {
            None => {
                let cm = ConfigMap {
                    metadata: ObjectMeta {
                        name: Some(NAME.into()),
                        annotations: Some([(DESCRIPTION_KEY.to_string(), DESCRIPTION.to_string())].into()),
                        ..Default::default()
                    },
                    data: Some(data),
                    ..Default::default()
                };
                match api.create(&PostParams::default(), &cm).await {
                    Ok(_) => Ok(Next::Wait),
                    Err(kube::Error::Api(s)) if s.code == 409 || s.code == 403 => Ok(Next::Wait),
                    Err(e) => Err(e.into()),
                }
            }
            Some(cm) if cm.data.as_ref() != Some(&data) => {
                // Someone changed it: put back exactly the certificate (null drops other keys).
                let mut patched: serde_json::Map<String, serde_json::Value> =
                    cm.data.iter().flatten().map(|(k, _)| (k.clone(), serde_json::Value::Null)).collect();
                patched.extend(data.into_iter().map(|(k, v)| (k, v.into())));
                let patch = json!({"data": patched, "metadata": {"annotations": {DESCRIPTION_KEY: DESCRIPTION}}});
                ignore_not_found(api.patch(NAME, &PatchParams::default(), &Patch::Merge(patch)).await)?;
                Ok(Next::Wait)
            }
            Some(_) => Ok(Next::Wait),
        }
    }
}
