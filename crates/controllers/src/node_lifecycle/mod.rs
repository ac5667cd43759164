//! Node lifecycle: a node whose agent stops renewing its lease and posting status becomes
//! Ready=Unknown after the grace period and gets the `unreachable` taints (`not-ready` for
//! Ready=False); its pods are marked not ready; NoExecute taints then evict the pods that do
//! not tolerate them ([`eviction`]). When the node reports again, the taints go.
//!
//! Health is judged by our own clock: the time a node's lease renewal or heartbeat was last
//! seen to change, as upstream does, so clock skew between machines does not matter.

mod eviction;
mod health;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{Api, DeleteParams, Patch, PatchParams, Preconditions};
use serde_json::json;
use skiff_runtime::{Change, Informer, Next, WorkQueue, key_of, run_workers, split_key};

use crate::cached_pod::CachedPod;
use crate::context::Context;
use crate::error::{Result, ignore_not_found};
use crate::pods;
use eviction::Verdict;
use health::Seen;

/// How often every node is looked at (upstream's --node-monitor-period).
const MONITOR_PERIOD: Duration = Duration::from_secs(5);
const NODE_NAME_INDEX: &str = "spec.nodeName";
const LEASE_NAMESPACE: &str = "kube-node-lease";

struct Controller {
    ctx: Context,
    nodes: Informer<Node>,
    leases: Informer<Lease>,
    pods: Informer<CachedPod>,
    seen: Mutex<HashMap<String, Seen>>,
    node_queue: WorkQueue<String>,
    pod_queue: WorkQueue<String>,
}

pub fn start(ctx: &Context) {
    let pods = ctx.informers.get::<CachedPod>();
    pods.add_index(NODE_NAME_INDEX, |p: &CachedPod| p.spec.iter().filter_map(|s| s.node_name.clone()).collect());
    let c = Arc::new(Controller {
        ctx: ctx.clone(),
        nodes: ctx.informers.get::<Node>(),
        leases: ctx.informers.get::<Lease>(),
        pods,
        seen: Mutex::default(),
        node_queue: WorkQueue::new(),
        pod_queue: WorkQueue::new(),
    });
    let this = c.clone();
    c.nodes.on_change(move |change| this.node_changed(change));
    let this = c.clone();
    c.pods.on_change(move |change| {
        if let Change::Added(p) | Change::Updated { new: p, .. } = change
            && pods::is_active(p)
            && let Some(node) = p.spec.as_ref().and_then(|s| s.node_name.as_deref())
            && this.nodes.get(node).is_some_and(|n| has_no_execute(&n))
        {
            this.pod_queue.add(key_of(&**p));
        }
    });
    let this = c.clone();
    let mut shutdown = ctx.shutdown.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(MONITOR_PERIOD);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = shutdown.wait_for(|s| *s) => return,
            }
            for n in this.nodes.list() {
                this.node_queue.add(n.metadata.name.clone().unwrap_or_default());
            }
        }
    });
    let this = c.clone();
    run_workers(
        "node-lifecycle-controller",
        c.node_queue.clone(),
        4,
        move |n| this.clone().sync_node(n),
        ctx.shutdown.clone(),
    );
    let this = c.clone();
    run_workers(
        "taint-eviction-controller",
        c.pod_queue.clone(),
        4,
        move |k| this.clone().sync_pod(k),
        ctx.shutdown.clone(),
    );
}

fn has_no_execute(node: &Node) -> bool {
    node.spec.iter().flat_map(|s| s.taints.iter().flatten()).any(|t| t.effect == "NoExecute")
}

fn no_execute_taints(node: &Node) -> Vec<(String, String)> {
    let taints = node.spec.iter().flat_map(|s| s.taints.iter().flatten());
    taints.filter(|t| t.effect == "NoExecute").map(|t| (t.key.clone(), t.value.clone().unwrap_or_default())).collect()
}

impl Controller {
    fn node_changed(&self, change: &Change<Node>) {
        let name = change.object().metadata.name.clone().unwrap_or_default();
        match change {
            Change::Deleted(_) => {
                self.seen.lock().unwrap_or_else(|e| e.into_inner()).remove(&name);
            }
            Change::Added(n) => {
                self.node_queue.add(name.clone());
                if has_no_execute(n) {
                    self.enqueue_pods_on(&name);
                }
            }
            Change::Updated { old, new } => {
                self.node_queue.add(name.clone());
                if no_execute_taints(old) != no_execute_taints(new) {
                    self.enqueue_pods_on(&name);
                }
            }
        }
    }

    fn enqueue_pods_on(&self, node: &str) {
        for p in self.pods.by_index(NODE_NAME_INDEX, node) {
            if pods::is_active(&p) {
                self.pod_queue.add(key_of(&*p));
            }
        }
    }

    /// When this node was last seen alive, updating the record if it changed.
    fn last_sign_of_life(&self, name: &str, node: &Node) -> Instant {
        let renewed = self.leases.get_named(LEASE_NAMESPACE, name).and_then(|l| {
            let spec = l.spec.as_ref()?;
            spec.renew_time.as_ref().map(|t| t.0.to_string())
        });
        let signature = health::signature(node, renewed);
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        let entry = seen
            .entry(name.to_string())
            .or_insert_with(|| Seen { signature: signature.clone(), probed: Instant::now() });
        if entry.signature != signature {
            *entry = Seen { signature, probed: Instant::now() };
        }
        entry.probed
    }

    async fn sync_node(self: Arc<Self>, name: String) -> Result<Next> {
        let Some(node) = self.nodes.get(&name) else { return Ok(Next::Wait) };
        let probed = self.last_sign_of_life(&name, &node);
        let now = skiff_api::time::now_rfc3339();
        let api: Api<Node> = Api::all(self.ctx.client.clone());
        if probed.elapsed() > health::GRACE_PERIOD
            && let Some(conditions) = health::unknown_conditions(&node, &now)
        {
            let patch = Patch::Strategic(json!({"status": {"conditions": conditions}}));
            ignore_not_found(api.patch_status(&name, &PatchParams::default(), &patch).await)?;
            self.ctx.event(
                "node-controller",
                &*node,
                false,
                "NodeNotReady",
                &format!("Node {name} status is now: NodeNotReady"),
            );
            // The update comes back through the informer and sets the taints.
            return Ok(Next::Wait);
        }
        if let Some(taints) = health::wanted_taints(&node, &now) {
            // The resourceVersion makes this fail, and retry, if someone else changed the
            // taints meanwhile.
            let patch = json!({
                "metadata": {"resourceVersion": node.metadata.resource_version},
                "spec": {"taints": if taints.is_empty() { serde_json::Value::Null } else { json!(taints) }},
            });
            ignore_not_found(api.patch(&name, &PatchParams::default(), &Patch::Merge(patch)).await)?;
        }
        if health::ready_status(&node) != "True" {
            self.mark_pods_not_ready(&name, &now).await?;
        }
        Ok(Next::Wait)
    }

    /// Set Ready=False on the pods of a node that is not ready (their agent cannot).
    async fn mark_pods_not_ready(&self, node: &str, now: &str) -> Result<()> {
        for pod in self.pods.by_index(NODE_NAME_INDEX, node) {
            if !pods::is_ready(&pod) || pods::is_finished(&pod) {
                continue;
            }
            let (ns, name) =
                (pod.metadata.namespace.as_deref().unwrap_or("default"), pod.metadata.name.as_deref().unwrap_or(""));
            let api: Api<Pod> = Api::namespaced(self.ctx.client.clone(), ns);
            let patch =
                json!({"status": {"conditions": [{"type": "Ready", "status": "False", "lastTransitionTime": now}]}});
            ignore_not_found(api.patch_status(name, &PatchParams::default(), &Patch::Strategic(patch)).await)?;
        }
        Ok(())
    }

    async fn sync_pod(self: Arc<Self>, key: String) -> Result<Next> {
        let Some(pod) = self.pods.get(&key) else { return Ok(Next::Wait) };
        if !pods::is_active(&pod) {
            return Ok(Next::Wait);
        }
        let Some(node) = pod.spec.as_ref().and_then(|s| s.node_name.as_deref()).and_then(|n| self.nodes.get(n)) else {
            return Ok(Next::Wait);
        };
        match eviction::verdict(&pod, &node, jiff::Timestamp::now()) {
            Verdict::Stay => Ok(Next::Wait),
            Verdict::After(d) => Ok(Next::After(d)),
            Verdict::Now => self.evict(&key, &pod).await.map(|_| Next::Wait),
        }
    }

    async fn evict(&self, key: &str, pod: &CachedPod) -> Result<()> {
        let (ns, name) = split_key(key);
        let api: Api<Pod> = Api::namespaced(self.ctx.client.clone(), ns);
        let condition = json!({"status": {"conditions": [{
            "type": "DisruptionTarget",
            "status": "True",
            "reason": "DeletionByTaintManager",
            "message": "Taint manager: deleting due to NoExecute taint",
            "lastTransitionTime": skiff_api::time::now_rfc3339(),
        }]}});
        if ignore_not_found(api.patch_status(name, &PatchParams::default(), &Patch::Strategic(condition)).await)?
            .is_none()
        {
            return Ok(());
        }
        self.ctx.event(
            "taint-eviction-controller",
            pod,
            false,
            "TaintManagerEviction",
            &format!("Marking for deletion Pod {key}"),
        );
        let params = DeleteParams {
            preconditions: Some(Preconditions { uid: pod.metadata.uid.clone(), resource_version: None }),
            ..Default::default()
        };
        ignore_not_found(api.delete(name, &params).await)?;
        Ok(())
    }
}
