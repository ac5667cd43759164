//! The pods bound to this node: a watch on them (field selector `spec.nodeName`), one worker
//! task per pod, cleanup of pods that vanished while the agent was away, and the lookups the
//! agent's server needs for logs and exec.

pub mod actions;
mod attach;
pub mod container;
pub mod env;
mod exec;
pub mod fields;
pub mod files;
pub mod probes;
mod pull_secrets;
pub mod run;
pub mod runtime_class;
pub mod slot;
pub mod status;
pub mod view;
pub mod volumes;
mod worker;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::runtime::watcher;
use skiff_runtime::events::Recorder;
use skiff_runtime::informer::{Change, Informer};
use tokio::sync::watch;

use crate::Config;
use crate::images::ImageStore;
use crate::runtime::Runtime;
use crate::server::{ExecProcess, LogFile, PodStreams, StreamError};
use view::PodView;

/// What every pod worker uses.
pub struct Shared {
    pub client: kube::Client,
    pub config: Arc<Config>,
    pub runtime: Runtime,
    pub images: ImageStore,
    pub recorder: Recorder,
}

impl Shared {
    pub fn pods_dir(&self) -> PathBuf {
        self.config.dir.join("pods")
    }
}

struct Handle {
    updates: watch::Sender<Option<Arc<Pod>>>,
    view: Arc<Mutex<PodView>>,
    namespace: String,
    name: String,
}

pub struct Manager {
    shared: Arc<Shared>,
    workers: Mutex<HashMap<String, Handle>>,
    shutdown: watch::Receiver<bool>,
}

impl Manager {
    /// Watch this node's pods and run a worker for each; returns at once.
    pub fn start(shared: Arc<Shared>, shutdown: watch::Receiver<bool>) -> Arc<Manager> {
        let manager =
            Arc::new(Manager { shared: shared.clone(), workers: Mutex::default(), shutdown: shutdown.clone() });
        let informer: Informer<Pod> = Informer::new();
        let m = manager.clone();
        informer.on_change(move |change| match change {
            Change::Added(p) | Change::Updated { new: p, .. } => m.update(p.clone()),
            Change::Deleted(p) => m.deleted(p.metadata.uid.as_deref().unwrap_or_default()),
        });
        let selector = format!("spec.nodeName={}", shared.config.node_name);
        informer.start(Api::all(shared.client.clone()), watcher::Config::default().fields(&selector), shutdown);
        let m = manager.clone();
        tokio::spawn(async move {
            informer.synced().await;
            m.clean_orphans();
        });
        manager
    }

    fn update(self: &Arc<Self>, pod: Arc<Pod>) {
        let uid = pod.metadata.uid.clone().unwrap_or_default();
        let mut workers = self.workers.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(h) = workers.get(&uid) {
            let _ = h.updates.send(Some(pod));
            return;
        }
        let (tx, rx) = watch::channel(Some(pod.clone()));
        let view = Arc::new(Mutex::new(PodView::default()));
        workers.insert(
            uid.clone(),
            Handle {
                updates: tx,
                view: view.clone(),
                namespace: fields::namespace(&pod).to_string(),
                name: fields::name(&pod).to_string(),
            },
        );
        self.spawn(uid, pod, rx, view);
    }

    fn spawn(
        self: &Arc<Self>,
        uid: String,
        pod: Arc<Pod>,
        rx: watch::Receiver<Option<Arc<Pod>>>,
        view: Arc<Mutex<PodView>>,
    ) {
        let worker = worker::Worker::new(self.shared.clone(), pod, rx, view);
        let (m, shutdown) = (self.clone(), self.shutdown.clone());
        tokio::spawn(async move {
            worker.run(shutdown).await;
            m.workers.lock().unwrap_or_else(|e| e.into_inner()).remove(&uid);
        });
    }

    fn deleted(&self, uid: &str) {
        if let Some(h) = self.workers.lock().unwrap_or_else(|e| e.into_inner()).get(uid) {
            let _ = h.updates.send(None);
        }
    }

    /// Pods with local state but no longer in the API (deleted while the agent was away):
    /// stop and remove what is left of them.
    fn clean_orphans(self: &Arc<Self>) {
        let Ok(entries) = std::fs::read_dir(self.shared.pods_dir()) else { return };
        for e in entries.flatten() {
            let uid = e.file_name().to_string_lossy().into_owned();
            if self.workers.lock().unwrap_or_else(|e| e.into_inner()).contains_key(&uid) {
                continue;
            }
            let identity: serde_json::Value =
                crate::runtime::state::read_json(&e.path(), "pod.json").unwrap_or_else(|| serde_json::json!({}));
            let pod: Pod = serde_json::from_value(serde_json::json!({
                "metadata": {"namespace": identity["namespace"], "name": identity["name"], "uid": uid},
                "spec": {"containers": []},
            }))
            .unwrap_or_default();
            tracing::info!("removing the remains of pod {uid}, deleted while the agent was away");
            let (_tx, rx) = watch::channel(None);
            self.spawn(uid, Arc::new(pod), rx, Arc::default());
        }
    }

    /// Look at one container of a pod on this node (a 400 when the pod has no such container).
    fn container<T>(
        &self,
        namespace: &str,
        pod: &str,
        container: &str,
        look: impl FnOnce(&PodView, &view::ContainerView) -> Result<T, StreamError>,
    ) -> Result<T, StreamError> {
        let view = self.find(namespace, pod)?;
        let view = view.lock().unwrap_or_else(|e| e.into_inner());
        let c = view
            .containers
            .get(container)
            .ok_or_else(|| StreamError::BadRequest(format!("container {container} is not valid for pod {pod}")))?;
        look(&view, c)
    }

    fn find(&self, namespace: &str, pod: &str) -> Result<Arc<Mutex<PodView>>, StreamError> {
        let workers = self.workers.lock().unwrap_or_else(|e| e.into_inner());
        workers
            .values()
            .find(|h| h.namespace == namespace && h.name == pod)
            .map(|h| h.view.clone())
            .ok_or_else(|| StreamError::NotFound(format!("pod \"{pod}\" not found on this node")))
    }
}

impl PodStreams for Manager {
    fn log_file(&self, namespace: &str, pod: &str, container: &str, previous: bool) -> Result<LogFile, StreamError> {
        let view = self.find(namespace, pod)?;
        let view = view.lock().unwrap_or_else(|e| e.into_inner());
        let c = view.containers.get(container).ok_or_else(|| {
            StreamError::BadRequest(format!("container \"{container}\" in pod \"{pod}\" is not available"))
        })?;
        if previous {
            let path = c.previous_log.clone().ok_or_else(|| {
                StreamError::BadRequest(format!(
                    "previous terminated container \"{container}\" in pod \"{pod}\" not found"
                ))
            })?;
            let (_, running) = watch::channel(false);
            return Ok(LogFile { path, running });
        }
        match &c.log {
            Some((path, running)) => Ok(LogFile { path: path.clone(), running: running.clone() }),
            None => Err(StreamError::BadRequest(format!(
                "container \"{container}\" in pod \"{pod}\" is waiting to start: {}",
                c.waiting.clone().unwrap_or_else(|| "ContainerCreating".into())
            ))),
        }
    }

    fn exec(
        &self,
        namespace: &str,
        pod: &str,
        container: &str,
        command: Vec<String>,
        tty: bool,
        stdin: bool,
    ) -> futures::future::BoxFuture<'static, Result<ExecProcess, StreamError>> {
        let found = self.container(namespace, pod, container, |view, c| match (&c.id, c.running) {
            (Some(id), true) => Ok((id.clone(), view.runtime.clone().unwrap_or_else(|| self.shared.runtime.clone()))),
            _ => Err(StreamError::BadRequest(format!("container {container} is not running in pod {pod}"))),
        });
        let sockets = self.shared.config.dir.join("run/console");
        Box::pin(async move {
            let (id, runtime) = found?;
            exec::exec(&runtime, &id, command, tty, stdin, sockets).await
        })
    }

    fn attach(
        &self,
        namespace: &str,
        pod: &str,
        container: &str,
        tty: bool,
        stdin: bool,
    ) -> futures::future::BoxFuture<'static, Result<ExecProcess, StreamError>> {
        let found = self.container(namespace, pod, container, |_, c| match (&c.log, &c.dir, c.running) {
            (Some((log, running)), Some(dir), true) => Ok(attach::Target {
                log: log.clone(),
                running: running.clone(),
                dir: dir.clone(),
                has_stdin: c.stdin,
                has_tty: c.tty,
            }),
            _ => Err(StreamError::BadRequest(format!("container {container} is not running in pod {pod}"))),
        });
        Box::pin(async move { attach::attach(found?, tty, stdin).await })
    }
}
