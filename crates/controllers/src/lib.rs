//! The controllers that make a cluster self-healing: each watches the API through shared
//! informers, queues the keys of objects to look at, and syncs one key at a time towards
//! what its spec asks for, as upstream's kube-controller-manager does.
//!
//! Start at [`run`]. The pieces every controller shares: [`context::Context`] (client,
//! informers, events), [`owner`] references, [`expectations`], [`pods`] helpers; the queue
//! and informers come from `skiff-runtime`.

pub mod cached_pod;
pub mod context;
pub mod error;
pub mod expectations;
pub mod history;
pub mod owner;
pub mod pods;
pub mod rank;
pub mod selector;

pub mod cronjob;
pub mod daemonset;
pub mod deployment;
pub mod disruption;
pub mod garbage_collector;
pub mod job;
pub mod namespace;
pub mod node_lifecycle;
pub mod replicaset;
pub mod root_ca;
pub mod serviceaccount;
pub mod statefulset;
pub mod ttl_after_finished;

use tokio::sync::watch;

pub use context::Context;

/// Registers a controller's informer handlers and starts its workers.
pub type StartFn = fn(&Context);

/// Every controller by its upstream name (`kube-controller-manager --controllers`), with
/// the function that registers its handlers and starts its workers.
pub const CONTROLLERS: &[(&str, StartFn)] = &[
    ("replicaset", replicaset::start_replicasets),
    ("replicationcontroller", replicaset::start_replication_controllers),
    ("deployment", deployment::start),
    ("statefulset", statefulset::start),
    ("daemonset", daemonset::start),
    ("job", job::start),
    ("cronjob", cronjob::start),
    ("ttl-after-finished", ttl_after_finished::start),
    ("garbage-collector", garbage_collector::start),
    ("namespace", namespace::start),
    ("serviceaccount", serviceaccount::start),
    ("root-ca-certificate-publisher", root_ca::start),
    ("node-lifecycle", node_lifecycle::start),
    ("disruption", disruption::start),
];

#[derive(Debug, Clone)]
pub struct Config {
    /// Upstream's `--controllers` list: `*` for all, a name to enable, `-name` to disable.
    pub controllers: Vec<String>,
    /// The cluster CA certificate (PEM) published as `kube-root-ca.crt` in every namespace.
    pub root_ca_pem: String,
}

impl Default for Config {
    fn default() -> Self {
        Config { controllers: vec!["*".into()], root_ca_pem: String::new() }
    }
}

/// Whether `name` is enabled by a `--controllers` list.
pub fn enabled(list: &[String], name: &str) -> bool {
    if list.iter().any(|c| c.strip_prefix('-') == Some(name)) {
        return false;
    }
    list.iter().any(|c| c == name || c == "*")
}

/// Check a `--controllers` list: every name must be known.
pub fn check_list(list: &[String]) -> Result<(), String> {
    for c in list {
        let name = c.strip_prefix('-').unwrap_or(c);
        if name != "*" && !CONTROLLERS.iter().any(|(n, _)| *n == name) {
            let known: Vec<&str> = CONTROLLERS.iter().map(|(n, _)| *n).collect();
            return Err(format!("unknown controller {name:?} (known: {})", known.join(", ")));
        }
    }
    Ok(())
}

/// Run the enabled controllers until `shutdown` turns true.
pub async fn run(client: kube::Client, config: Config, shutdown: watch::Receiver<bool>) {
    let ctx = Context::new(client, shutdown.clone(), config.root_ca_pem.clone());
    for (name, start) in CONTROLLERS {
        if enabled(&config.controllers, name) {
            start(&ctx);
        }
    }
    ctx.informers.start(shutdown.clone());
    let mut shutdown = shutdown;
    let _ = shutdown.wait_for(|s| *s).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controller_lists_follow_upstream_syntax() {
        let list = |s: &str| s.split(',').map(String::from).collect::<Vec<_>>();
        assert!(enabled(&list("*"), "job"));
        assert!(!enabled(&list("*,-job"), "job"));
        assert!(enabled(&list("*,-job"), "cronjob"));
        assert!(enabled(&list("job"), "job"));
        assert!(!enabled(&list("job"), "cronjob"));
        assert!(check_list(&list("*,-job")).is_ok());
        assert!(check_list(&list("nope")).unwrap_err().contains("unknown controller \"nope\""));
    }
}
