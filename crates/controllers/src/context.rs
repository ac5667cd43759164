//! What every controller gets: the client, the shared informers, the shutdown signal, and
//! event recorders.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use k8s_openapi::api::core::v1::ObjectReference;
use kube::Resource;
use skiff_runtime::Informers;
use skiff_runtime::events::Recorder;
use tokio::sync::watch;

#[derive(Clone)]
pub struct Context {
    pub client: kube::Client,
    pub informers: Arc<Informers>,
    pub shutdown: watch::Receiver<bool>,
    /// The cluster CA certificate (PEM), for `kube-root-ca.crt`.
    pub root_ca_pem: Arc<str>,
    recorders: Arc<Mutex<HashMap<String, Arc<Recorder>>>>,
}

impl Context {
    pub fn new(client: kube::Client, shutdown: watch::Receiver<bool>, root_ca_pem: String) -> Context {
        Context {
            root_ca_pem: root_ca_pem.into(),
            informers: Arc::new(Informers::new(client.clone())),
            client,
            shutdown,
            recorders: Arc::default(),
        }
    }

    /// The recorder for events from `component` (upstream's names: `replicaset-controller`,
    /// `deployment-controller`, …).
    pub fn recorder(&self, component: &str) -> Arc<Recorder> {
        let mut r = self.recorders.lock().unwrap_or_else(|e| e.into_inner());
        r.entry(component.to_string())
            .or_insert_with(|| Arc::new(Recorder::new(self.client.clone(), component, "Reconciling")))
            .clone()
    }

    /// Record an event about `obj` in the background: a controller never waits on (or fails
    /// because of) its events.
    pub fn event<K: Resource<DynamicType = ()>>(
        &self,
        component: &str,
        obj: &K,
        warning: bool,
        reason: &str,
        note: &str,
    ) {
        let recorder = self.recorder(component);
        let regarding = reference(obj);
        let (reason, note) = (reason.to_string(), note.to_string());
        tokio::spawn(async move {
            if let Err(e) = recorder.publish(&regarding, warning, &reason, &note).await {
                tracing::debug!(error = %e, reason, "could not record an event");
            }
        });
    }
}

/// An ObjectReference to `obj`, as events carry.
pub fn reference<K: Resource<DynamicType = ()>>(obj: &K) -> ObjectReference {
    let meta = obj.meta();
    ObjectReference {
        api_version: Some(K::api_version(&()).into_owned()),
        kind: Some(K::kind(&()).into_owned()),
        name: meta.name.clone(),
        namespace: meta.namespace.clone(),
        uid: meta.uid.clone(),
        resource_version: meta.resource_version.clone(),
        field_path: None,
    }
}
