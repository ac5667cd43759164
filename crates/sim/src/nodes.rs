//! The nodes' side of the kubelets: register every node (or take over one left by an earlier
//! run), keep their leases fresh and post status heartbeats.

use std::sync::Arc;
use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Node;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::json;
use tokio::sync::OwnedSemaphorePermit;

use crate::node::{HOLLOW_ANNOTATION, LEASE_NAMESPACE, build_lease, build_node, heartbeat, lease_renewal, node_name};
use crate::spread::Spread;
use crate::{Error, Sim, backoff, is_already_exists, is_not_found, is_transient};

/// How often a lease is renewed (the kubelet's default: a quarter of its 40 s duration).
const LEASE_RENEW: Duration = Duration::from_secs(10);
/// How often the node status is posted when nothing changes (the kubelet's
/// `nodeStatusReportFrequency`).
const HEARTBEAT: Duration = Duration::from_secs(300);
/// Granularity of both tickers.
const TICK: Duration = Duration::from_millis(100);

/// Register all nodes, `concurrency` at a time. Returns the nodes' uids by index.
pub(crate) async fn register_all(sim: &Arc<Sim>) -> Result<Vec<String>, Error> {
    let mut uids = vec![String::new(); sim.config.nodes];
    let mut done = futures::stream::iter(0..sim.config.nodes)
        .map(|i| async move { register(sim, i).await.map(|uid| (i, uid)) })
        .buffer_unordered(sim.config.concurrency);
    while let Some((i, uid)) = done.try_next().await? {
        uids[i] = uid;
    }
    Ok(uids)
}

/// Register node `i` and its lease, retrying what may pass. Returns the node's uid.
async fn register(sim: &Sim, i: usize) -> Result<String, Error> {
    let name = node_name(&sim.config.node_prefix, i);
    let mut failures = 0;
    loop {
        match register_once(sim, i, &name).await {
            Ok(uid) => return Ok(uid),
            Err(e) if !is_transient(&e) => return Err(Error::Register { node: name, source: Box::new(e) }),
            Err(e) => {
                failures += 1;
                let delay = backoff(failures);
                tracing::debug!("registering node {name}: {e}; again in {delay:?}");
                tokio::time::sleep(delay).await;
            }
        }
    }
}

async fn register_once(sim: &Sim, i: usize, name: &str) -> kube::Result<String> {
    let _permit = sim.permit().await;
    let nodes: Api<Node> = Api::all(sim.client.clone());
    let pp = PostParams::default();
    let node = build_node(&sim.config, i, sim.boot, sim.started, Timestamp::now());
    let uid = match nodes.create(&pp, &node).await {
        Ok(created) => {
            // Upstream keeps the status a kubelet registers with; should a server drop it, post
            // it to the status subresource.
            if created.status.as_ref().and_then(|s| s.conditions.as_ref()).is_none_or(Vec::is_empty) {
                nodes
                    .patch_status(name, &PatchParams::default(), &Patch::Merge(json!({"status": node.status})))
                    .await?;
            }
            created.metadata.uid
        }
        Err(e) if is_already_exists(&e) => {
            // A node left by an earlier run (or anyone's): make it ours and post a fresh status.
            let meta = json!({"metadata": {
                "labels": node.metadata.labels,
                "annotations": {HOLLOW_ANNOTATION: "true"},
            }});
            nodes.patch(name, &PatchParams::default(), &Patch::Merge(meta)).await?;
            let updated = nodes
                .patch_status(name, &PatchParams::default(), &Patch::Merge(json!({"status": node.status})))
                .await?;
            updated.metadata.uid
        }
        Err(e) => return Err(e),
    };
    ensure_lease(sim, name, uid.as_deref()).await?;
    Ok(uid.unwrap_or_default())
}

/// Create the node's lease, or renew it if it is there.
async fn ensure_lease(sim: &Sim, name: &str, node_uid: Option<&str>) -> kube::Result<()> {
    let leases: Api<Lease> = Api::namespaced(sim.client.clone(), LEASE_NAMESPACE);
    let now = Timestamp::now();
    match leases.create(&PostParams::default(), &build_lease(name, node_uid, now)).await {
        Ok(_) => Ok(()),
        Err(e) if is_already_exists(&e) => {
            leases.patch(name, &PatchParams::default(), &Patch::Merge(lease_renewal(name, now))).await.map(drop)
        }
        Err(e) => Err(e),
    }
}

/// Renew leases and post heartbeats, forever.
pub(crate) async fn serve(sim: Arc<Sim>, uids: Arc<Vec<String>>) {
    let leases = renew_leases(sim.clone(), uids);
    let heartbeats = post_heartbeats(sim);
    futures::future::join(leases, heartbeats).await;
}

async fn renew_leases(sim: Arc<Sim>, uids: Arc<Vec<String>>) {
    let mut ticker = Spread::new(sim.config.nodes, LEASE_RENEW, TICK);
    loop {
        for i in ticker.next().await {
            let permit = sim.permit().await;
            tokio::spawn(renew_lease(sim.clone(), uids.clone(), i, permit));
        }
    }
}

/// One renewal; a failed one is logged and waits for the next round (10 s, well within the
/// lease's 40 s).
async fn renew_lease(sim: Arc<Sim>, uids: Arc<Vec<String>>, i: usize, _permit: Option<OwnedSemaphorePermit>) {
    let name = node_name(&sim.config.node_prefix, i);
    let leases: Api<Lease> = Api::namespaced(sim.client.clone(), LEASE_NAMESPACE);
    let renewal = Patch::Merge(lease_renewal(&name, Timestamp::now()));
    let result = match leases.patch(&name, &PatchParams::default(), &renewal).await {
        Err(e) if is_not_found(&e) => {
            let uid = uids.get(i).filter(|u| !u.is_empty()).map(String::as_str);
            ensure_lease(&sim, &name, uid).await
        }
        r => r.map(drop),
    };
    if let Err(e) = result {
        tracing::debug!("renewing the lease of node {name}: {e}");
    }
}

async fn post_heartbeats(sim: Arc<Sim>) {
    let mut ticker = Spread::new(sim.config.nodes, HEARTBEAT, TICK);
    loop {
        for i in ticker.next().await {
            let permit = sim.permit().await;
            tokio::spawn(post_heartbeat(sim.clone(), i, permit));
        }
    }
}

/// One heartbeat: the conditions with a fresh `lastHeartbeatTime`. A node someone deleted is
/// registered again, as a kubelet does.
async fn post_heartbeat(sim: Arc<Sim>, i: usize, permit: Option<OwnedSemaphorePermit>) {
    let name = node_name(&sim.config.node_prefix, i);
    let nodes: Api<Node> = Api::all(sim.client.clone());
    let body = Patch::Merge(heartbeat(sim.started, Timestamp::now()));
    match nodes.patch_status(&name, &PatchParams::default(), &body).await {
        Ok(_) => {}
        Err(e) if is_not_found(&e) => {
            drop(permit);
            tracing::info!("node {name} was deleted; registering it again");
            if let Err(e) = register(&sim, i).await {
                tracing::warn!("{e}");
            }
        }
        Err(e) => tracing::debug!("heartbeat of node {name}: {e}"),
    }
}
