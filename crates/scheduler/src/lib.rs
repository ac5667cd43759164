//! The skiff scheduler: places pods on nodes with upstream Kubernetes' scheduling framework
//! and default plugins, talking to the cluster only through the API.
//!
//! Start at [`run`]. The pieces: [`informer`] turns watches into [`scheduler::Update`]s; the
//! [`scheduler`] loop owns the [`cache`] and the [`queue`] and runs one cycle per pod
//! ([`algorithm`]: PreFilter → Filter → Score over the [`plugins`] of a
//! [`framework::Profile`]); when nothing fits, [`preemption`] looks for room; bindings and
//! other writes ([`writer`]) run as tasks so the loop never waits on the API.

pub mod algorithm;
pub mod cache;
pub mod fnv;
pub mod framework;
pub mod informer;
pub mod node_info;
pub mod plugins;
pub mod pod_info;
pub mod preemption;
pub mod queue;
pub mod resource;
pub mod scheduler;
pub mod writer;

use std::sync::mpsc;

use tokio::sync::watch;

pub use plugins::{ShapePoint, Strategy};

/// Pods without `spec.schedulerName` get this one.
pub const DEFAULT_SCHEDULER_NAME: &str = "default-scheduler";

#[derive(Debug, Clone)]
pub struct Config {
    /// Pods naming another scheduler are left alone.
    pub scheduler_name: String,
    /// NodeResourcesFit's scoring strategy.
    pub strategy: Strategy,
    /// 0 for upstream's adaptive share of nodes to look at, else a percentage.
    pub percentage_of_nodes_to_score: u32,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            scheduler_name: DEFAULT_SCHEDULER_NAME.into(),
            strategy: Strategy::LeastAllocated,
            percentage_of_nodes_to_score: 0,
        }
    }
}

/// Schedule pods until `shutdown` turns true. The loop runs on its own thread; watches,
/// bindings and writes run on the current tokio runtime.
pub async fn run(client: kube::Client, config: Config, mut shutdown: watch::Receiver<bool>) {
    let rt = tokio::runtime::Handle::current();
    let (tx, rx) = mpsc::channel();
    let mut profile = plugins::default_profile(client.clone(), &config.scheduler_name, config.strategy.clone());
    profile.percentage_of_nodes_to_score = config.percentage_of_nodes_to_score;
    let writer = writer::Writer::new(client.clone(), rt.clone(), &config.scheduler_name);
    let sched = scheduler::Scheduler::new(profile, writer, tx.clone());
    informer::spawn(&client, &config.scheduler_name, &tx, &rt);
    let thread = std::thread::Builder::new().name("scheduler".into()).spawn(move || sched.run(rx));
    let thread = match thread {
        Ok(t) => t,
        Err(e) => {
            tracing::error!(error = %e, "the scheduler could not start its thread");
            return;
        }
    };
    while !*shutdown.borrow() {
        if shutdown.changed().await.is_err() {
            break;
        }
    }
    let _ = tx.send(scheduler::Update::Stop);
    let _ = tokio::task::spawn_blocking(move || thread.join()).await;
}
