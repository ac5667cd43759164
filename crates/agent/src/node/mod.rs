//! Node registration and heartbeats: the Node is created (or its labels refreshed) at start,
//! its Lease in `kube-node-lease` renewed every 10 s, and its status written when something
//! changes and at least every 5 minutes, as kubelet does with node leases.

pub mod host;
pub mod status;

use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::api::core::v1::{ContainerImage, Node, NodeCondition, NodeStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta, OwnerReference};
use k8s_openapi::jiff::Timestamp;
use kube::Api;
use kube::api::{Patch, PatchParams, PostParams};
use serde_json::json;
use tokio::sync::watch;

use crate::Config;
use host::Host;

const LEASE_NAMESPACE: &str = "kube-node-lease";
const LEASE_DURATION_SECONDS: i32 = 40;
const RENEW_EVERY: Duration = Duration::from_secs(10);
const REPORT_AT_LEAST_EVERY: Duration = Duration::from_secs(300);

/// The images to list in the node status (for the scheduler's ImageLocality).
pub type ImageLister = Arc<dyn Fn() -> Vec<ContainerImage> + Send + Sync>;

/// Register the node, then keep lease and status fresh until shutdown.
pub async fn run(
    client: kube::Client,
    config: Arc<Config>,
    runtime_version: String,
    images: ImageLister,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(), kube::Error> {
    let nodes: Api<Node> = Api::all(client.clone());
    let leases: Api<Lease> = Api::namespaced(client, LEASE_NAMESPACE);
    let host = Host::read(&config.dir);
    let uid = register(&nodes, &config, &host).await?;
    let mut reported: Option<(NodeStatus, status::Pressure)> = None;
    let mut conditions: Vec<NodeCondition> = Vec::new();
    let mut last_report = Instant::now();
    loop {
        if let Err(e) = renew(&leases, &config.node_name, &uid).await {
            tracing::warn!("renewing the node lease: {e}");
        }
        let host = Host::read(&config.dir);
        let pressure = status::Pressure::of(&host);
        let current = status::status(&config, &host, &runtime_version, images());
        let changed = reported.as_ref().is_none_or(|(s, p)| !same_status(s, &current) || *p != pressure);
        if changed || last_report.elapsed() >= REPORT_AT_LEAST_EVERY {
            conditions = status::conditions(&pressure, &conditions, Timestamp::now());
            let mut body = current.clone();
            body.conditions = Some(conditions.clone());
            match nodes
                .patch_status(&config.node_name, &PatchParams::default(), &Patch::Merge(json!({ "status": body })))
                .await
            {
                Ok(_) => {
                    reported = Some((current, pressure));
                    last_report = Instant::now();
                }
                Err(e) => tracing::warn!("writing the node status: {e}"),
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(RENEW_EVERY) => {}
            _ = shutdown.changed() => return Ok(()),
        }
    }
}

/// Whether two statuses differ in anything but heartbeat times. Free disk space changes all
/// the time; capacity only counts whole KiB, so it is stable.
fn same_status(a: &NodeStatus, b: &NodeStatus) -> bool {
    a.capacity == b.capacity && a.images == b.images && a.addresses == b.addresses && a.node_info == b.node_info
}

/// Create the Node, or refresh the labels of the one left by an earlier run. Returns its uid.
async fn register(nodes: &Api<Node>, config: &Config, host: &Host) -> Result<String, kube::Error> {
    let node = status::node(config, host);
    let created = match nodes.create(&PostParams::default(), &node).await {
        Ok(n) => n,
        Err(kube::Error::Api(e)) if e.code == 409 => {
            let labels = status::labels(config, host);
            nodes
                .patch(
                    &config.node_name,
                    &PatchParams::default(),
                    &Patch::Merge(json!({"metadata": {"labels": labels}})),
                )
                .await?
        }
        Err(e) => return Err(e),
    };
    tracing::info!("registered node {}", config.node_name);
    Ok(created.metadata.uid.unwrap_or_default())
}

async fn renew(leases: &Api<Lease>, node: &str, node_uid: &str) -> Result<(), kube::Error> {
    let now = MicroTime(Timestamp::now());
    let body =
        json!({"spec": {"holderIdentity": node, "leaseDurationSeconds": LEASE_DURATION_SECONDS, "renewTime": now}});
    match leases.patch(node, &PatchParams::default(), &Patch::Merge(body)).await {
        Err(kube::Error::Api(e)) if e.code == 404 => {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(node.to_string()),
                    owner_references: Some(vec![OwnerReference {
                        api_version: "v1".into(),
                        kind: "Node".into(),
                        name: node.to_string(),
                        uid: node_uid.to_string(),
                        ..Default::default()
                    }]),
                    ..Default::default()
                },
                spec: Some(LeaseSpec {
                    holder_identity: Some(node.to_string()),
                    lease_duration_seconds: Some(LEASE_DURATION_SECONDS),
                    renew_time: Some(now),
                    ..Default::default()
                }),
            };
            leases.create(&PostParams::default(), &lease).await.map(|_| ())
        }
        other => other.map(|_| ()),
    }
}
