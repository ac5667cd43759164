//! Hollow nodes, like kwok: `skiff sim` registers many fake Nodes against a running cluster and
//! plays their kubelets through the API alone. Each node keeps a Lease in `kube-node-lease`
//! renewed every 10 s and posts a status heartbeat every 5 minutes; pods bound to the nodes are
//! reported Running at once (fake pod IPs, every container ready), finish when their
//! `sim.skiff.dev/complete-after` annotation says so, and go for good when they are deleted.
//! Nothing runs: no containers, no network, no port is ever contacted.
//!
//! Built to hold 5,000 nodes and 100,000 pods on two cores: one ticker renews a slice of the
//! leases every 100 ms (and one the heartbeats), one watch covers all bound pods, a fixed pool
//! of workers turns pod changes into API calls, one timer heap holds every pending completion
//! and retry, and a semaphore bounds the requests in flight.
//!
//! - [`node`] and [`pod`]: the objects and statuses, pure functions.
//! - `nodes`: registration, lease renewal, heartbeats. `pods`: the pod watch, queue and workers.

pub mod duration;
pub mod node;
pub mod pod;

mod nodes;
mod pods;
mod spread;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::jiff::Timestamp;
use kube::Client;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// What to simulate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Node `i` is named `<node_prefix><i>`.
    pub node_prefix: String,
    pub nodes: usize,
    /// Capacity (and allocatable) of every node, as Kubernetes quantities.
    pub cpu: String,
    pub memory: String,
    pub pods: u32,
    /// When above zero, node `i` is in zone `zone-<i % zones>` (label `topology.kubernetes.io/zone`).
    pub zones: usize,
    /// Extra labels of every node.
    pub labels: Vec<(String, String)>,
    /// API requests in flight at most.
    pub concurrency: usize,
    /// Drive pods bound to the nodes through their lifecycle; off, the nodes only exist and
    /// renew their leases (as upstream's scheduler_perf nodes do).
    pub pod_lifecycle: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            node_prefix: "hollow-".to_string(),
            nodes: 1,
            cpu: "32".to_string(),
            memory: "128Gi".to_string(),
            pods: 110,
            zones: 0,
            labels: Vec::new(),
            concurrency: 64,
            pod_lifecycle: true,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid configuration: {0}")]
    Config(String),
    /// The server refused a node for good (an invalid quantity or label, say).
    #[error("registering node {node}: {source}")]
    Register {
        node: String,
        #[source]
        source: Box<kube::Error>,
    },
}

/// Shared by every part of the sim.
struct Sim {
    client: Client,
    config: Config,
    /// One permit per API request in flight.
    limit: Arc<Semaphore>,
    /// Distinguishes this run's boot IDs from the last one's.
    boot: u64,
    /// When this run started: the transition time of the node conditions.
    started: Timestamp,
}

impl Sim {
    async fn permit(&self) -> Option<OwnedSemaphorePermit> {
        // The semaphore is never closed, so this is always `Some`.
        self.limit.clone().acquire_owned().await.ok()
    }
}

/// Register the nodes and serve them until `shutdown` completes. Returns early only if the
/// server refuses a node for good. Nodes stay registered after shutdown (as a stopped kubelet's
/// do); their leases expire.
pub async fn run(client: Client, config: Config, shutdown: impl Future<Output = ()>) -> Result<(), Error> {
    if config.nodes == 0 {
        return Err(Error::Config("--nodes must be at least 1".to_string()));
    }
    if config.concurrency == 0 {
        return Err(Error::Config("--concurrency must be at least 1".to_string()));
    }
    if config.node_prefix.is_empty() {
        return Err(Error::Config("--node-prefix must not be empty".to_string()));
    }
    let started = Timestamp::now();
    let sim = Arc::new(Sim {
        client,
        limit: Arc::new(Semaphore::new(config.concurrency)),
        boot: started.as_nanosecond() as u64,
        started,
        config,
    });
    let work = async {
        // Pods are served from the start: a restarted sim finds its pods already bound.
        let pods = async {
            if sim.config.pod_lifecycle { pods::run(sim.clone()).await } else { std::future::pending().await }
        };
        let nodes = async {
            let t0 = std::time::Instant::now();
            let uids = nodes::register_all(&sim).await?;
            tracing::info!(
                "registered {} hollow nodes ({}0..{}) in {:.2?}",
                sim.config.nodes,
                sim.config.node_prefix,
                sim.config.nodes - 1,
                t0.elapsed()
            );
            nodes::serve(sim.clone(), Arc::new(uids)).await;
            Ok::<(), Error>(())
        };
        tokio::pin!(pods);
        tokio::select! {
            r = nodes => r,
            () = &mut pods => Ok(()),
        }
    };
    tokio::select! {
        r = work => r,
        () = shutdown => Ok(()),
    }
}

/// The HTTP status of a failed call, if the server answered.
fn status_code(e: &kube::Error) -> Option<u16> {
    match e {
        kube::Error::Api(s) => Some(s.code),
        _ => None,
    }
}

fn is_not_found(e: &kube::Error) -> bool {
    status_code(e) == Some(404)
}

fn is_already_exists(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 409 && s.reason == "AlreadyExists")
}

/// Worth trying again: no answer, a conflict, too many requests, a timeout or a server error.
/// Other client errors (400, 403, 422, …) will not change by retrying.
fn is_transient(e: &kube::Error) -> bool {
    match status_code(e) {
        None => true,
        Some(c) => matches!(c, 408 | 409 | 429) || c >= 500,
    }
}

/// Backoff after `failures` failed attempts: 100 ms doubling up to 30 s.
fn backoff(failures: u32) -> Duration {
    let ms = 100u64.saturating_mul(1 << failures.saturating_sub(1).min(9));
    Duration::from_millis(ms.min(30_000))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_stops() {
        assert_eq!(backoff(1), Duration::from_millis(100));
        assert_eq!(backoff(2), Duration::from_millis(200));
        assert_eq!(backoff(5), Duration::from_millis(1600));
        assert_eq!(backoff(40), Duration::from_secs(30));
    }
}
