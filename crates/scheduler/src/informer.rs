//! Watches that feed the scheduling loop: pods (not finished), nodes, namespaces and
//! PodDisruptionBudgets, each turned into compact [`Update`]s off the loop's thread.

use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::sync::mpsc::Sender;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Namespace, Node, Pod};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::Api;
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use skiff_api::selector::label::LabelSelector;

use crate::cache::Budget;
use crate::node_info::NodeData;
use crate::pod_info::PodInfo;
use crate::scheduler::Update;

/// A pod as the loop receives it.
#[derive(Debug, Clone)]
pub struct PodEvent {
    pub info: Arc<PodInfo>,
    /// Hash of what scheduling reads (spec, labels, annotations): status-only updates keep it.
    pub fingerprint: u64,
    /// Waiting for this scheduler (unassigned, not terminating, our schedulerName).
    pub waiting: bool,
}

impl PodEvent {
    pub fn new(pod: Pod, scheduler_name: &str) -> PodEvent {
        let spec = pod.spec.as_ref();
        let assigned = spec.and_then(|s| s.node_name.as_deref()).is_some_and(|n| !n.is_empty());
        let ours = spec.and_then(|s| s.scheduler_name.as_deref()).unwrap_or("default-scheduler") == scheduler_name;
        let waiting = !assigned && ours && pod.metadata.deletion_timestamp.is_none();
        let fingerprint = if waiting { fingerprint(&pod) } else { 0 };
        PodEvent { info: Arc::new(PodInfo::new(pod, waiting)), fingerprint, waiting }
    }
}

fn fingerprint(pod: &Pod) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    serde_json::to_string(&pod.spec).unwrap_or_default().hash(&mut h);
    pod.metadata.labels.hash(&mut h);
    pod.metadata.annotations.hash(&mut h);
    h.finish()
}

fn budget(pdb: PodDisruptionBudget) -> Budget {
    let spec = pdb.spec.unwrap_or_default();
    let status = pdb.status.unwrap_or_default();
    let selector = spec
        .selector
        .and_then(|s| LabelSelector::from_structured(&serde_json::to_value(s).unwrap_or_default()).ok().flatten())
        .unwrap_or_default();
    Budget {
        namespace: pdb.metadata.namespace.unwrap_or_default(),
        name: pdb.metadata.name.unwrap_or_default(),
        selector,
        disruptions_allowed: status.disruptions_allowed,
        disrupted: status.disrupted_pods.map(|m| m.into_keys().collect()).unwrap_or_default(),
    }
}

/// Run a watch, sending each applied or deleted object (converted) and whole relists.
async fn watch<K, T>(
    api: Api<K>,
    config: watcher::Config,
    tx: Sender<Update>,
    convert: impl Fn(K) -> T + Send + 'static,
    applied: impl Fn(T) -> Update + Send + 'static,
    deleted: impl Fn(K) -> Update + Send + 'static,
    listed: impl Fn(Vec<T>) -> Update + Send + 'static,
) where
    K: kube::Resource + Clone + std::fmt::Debug + serde::de::DeserializeOwned + Send + 'static,
    T: Send + 'static,
{
    let mut stream = watcher::watcher(api, config).default_backoff().boxed();
    let mut relist: Vec<T> = Vec::new();
    while let Some(ev) = stream.next().await {
        let update = match ev {
            Ok(Event::Init) => {
                relist.clear();
                continue;
            }
            Ok(Event::InitApply(o)) => {
                relist.push(convert(o));
                continue;
            }
            Ok(Event::InitDone) => listed(std::mem::take(&mut relist)),
            Ok(Event::Apply(o)) => applied(convert(o)),
            Ok(Event::Delete(o)) => deleted(o),
            Err(e) => {
                tracing::debug!(error = %e, "scheduler watch failed; retrying");
                continue;
            }
        };
        if tx.send(update).is_err() {
            return;
        }
    }
}

/// Start the watches; they end when the loop stops listening.
pub fn spawn(client: &kube::Client, scheduler_name: &str, tx: &Sender<Update>, rt: &tokio::runtime::Handle) {
    let name = scheduler_name.to_string();
    let unfinished = watcher::Config::default().fields("status.phase!=Succeeded,status.phase!=Failed");
    rt.spawn(watch(
        Api::<Pod>::all(client.clone()),
        unfinished,
        tx.clone(),
        move |p| PodEvent::new(p, &name),
        Update::Pod,
        |p: Pod| Update::PodDeleted(p.metadata.uid.unwrap_or_default()),
        Update::PodsListed,
    ));
    rt.spawn(watch(
        Api::<Node>::all(client.clone()),
        watcher::Config::default(),
        tx.clone(),
        |n| NodeData::new(&n),
        Update::Node,
        |n: Node| Update::NodeDeleted(n.metadata.name.unwrap_or_default()),
        Update::NodesListed,
    ));
    rt.spawn(watch(
        Api::<Namespace>::all(client.clone()),
        watcher::Config::default(),
        tx.clone(),
        |n: Namespace| (n.metadata.name.unwrap_or_default(), n.metadata.labels.unwrap_or_default()),
        |(n, l): (String, BTreeMap<String, String>)| Update::Namespace(n, l),
        |n: Namespace| Update::NamespaceDeleted(n.metadata.name.unwrap_or_default()),
        Update::NamespacesListed,
    ));
    rt.spawn(watch(
        Api::<PodDisruptionBudget>::all(client.clone()),
        watcher::Config::default(),
        tx.clone(),
        budget,
        Update::Budget,
        |b: PodDisruptionBudget| {
            Update::BudgetDeleted(b.metadata.namespace.unwrap_or_default(), b.metadata.name.unwrap_or_default())
        },
        Update::BudgetsListed,
    ));
}
