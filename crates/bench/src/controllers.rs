//! The controllers benchmark: 1,000 Deployments of 10 replicas (10,000 pods) on hollow
//! nodes that run every pod, until all are available; then a new template for all of them,
//! until the rollout is complete. The reference is the same cluster creating and binding
//! 10,000 bare pods (API server and scheduler alone): the goal is that the rollout
//! takes at most 1.5 times that. Server CPU, memory and store writes are printed for each
//! phase (the controllers run inside the server; the baseline shows what the rest costs).

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use serde_json::{Value, json};
use skiff_e2e::Server;

use crate::scheduler::{NS, Sim, base, create_and_wait, line, setup, wait_nodes};
use crate::stats::rss_mib;

const DEPLOYMENTS: usize = 1_000;
const REPLICAS: usize = 10;
const NODES: usize = 1_000;
const CLIENTS: usize = 32;

/// CPU seconds (user + system) a process has used.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may hold spaces) start at ")".
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // utime and stime are fields 14 and 15 of the whole line: 11 and 12 after ")".
    (ticks(11) + ticks(12)) / 100.0
}

/// The store's revision: every write (create, update, delete, event) raises it by one.
async fn revision(client: &kube::Client) -> u64 {
    let list = Api::<Namespace>::all(client.clone()).list(&ListParams::default().limit(1)).await.expect("list");
    list.metadata.resource_version.and_then(|v| v.parse().ok()).unwrap_or(0)
}

fn deployment(i: usize) -> Value {
    let name = format!("app-{i}");
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": REPLICAS,
            "selector": {"matchLabels": {"app": name}},
            "strategy": {"rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": base(String::new())["spec"].clone(),
            },
        },
    })
}

/// Run `op(i)` for i in 0..count from CLIENTS clients.
async fn fan_out<F, Fut>(count: usize, op: F)
where
    F: Fn(usize) -> Fut + Clone + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let next = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..CLIENTS {
        let (next, op) = (next.clone(), op.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= count {
                    return;
                }
                op(i).await;
            }
        }));
    }
    for t in tasks {
        t.await.expect("client task");
    }
}

/// Wait until every Deployment has observed its generation and has all replicas updated
/// and available; returns the time since `started`.
async fn wait_complete(api: &Api<Deployment>, started: Instant) -> Duration {
    loop {
        let list = api.list(&ListParams::default()).await.expect("list deployments");
        let done = list
            .items
            .iter()
            .filter(|d| {
                let want = d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
                let s = d.status.clone().unwrap_or_default();
                s.observed_generation >= d.metadata.generation
                    && s.updated_replicas == Some(want)
                    && s.available_replicas == Some(want)
                    && s.replicas == Some(want)
            })
            .count();
        if done == DEPLOYMENTS {
            return started.elapsed();
        }
        assert!(started.elapsed() < Duration::from_secs(900), "only {done}/{DEPLOYMENTS} deployments complete");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

async fn cluster(skiff: &Path) -> (Server, Sim) {
    let server = Server::start(skiff);
    let client = server.client().await;
    setup(&client).await;
    let sim = Sim::start(skiff, &server, &["--nodes", &NODES.to_string()]);
    wait_nodes(&client, NODES).await;
    (server, sim)
}

pub async fn run(skiff: &Path) {
    println!("skiff controllers benchmark: {} with {NODES} hollow nodes running every pod", skiff.display());
    println!();

    // Reference: the API server and the scheduler alone create and bind 10,000 pods.
    let (server, _sim) = cluster(skiff).await;
    let pid = server.pid().expect("server pid");
    let client = server.client().await;
    let (cpu, rev) = (cpu_seconds(pid), revision(&client).await);
    let bare = create_and_wait(&server, DEPLOYMENTS * REPLICAS, |i| base(format!("bare-{i}"))).await;
    let bare_cpu = cpu_seconds(pid) - cpu;
    let writes = revision(&client).await - rev;
    line(
        "10,000 bare pods created and bound",
        format!("{:.1} s", bare.as_secs_f64()),
        "",
        &format!("server {bare_cpu:.1} CPU s, RSS {:.0} MiB, {writes} writes", rss_mib(pid)),
    );
    drop(server);

    let (server, _sim) = cluster(skiff).await;
    let pid = server.pid().expect("server pid");
    let client = server.client().await;
    let api: Api<Deployment> = Api::namespaced(client.clone(), NS);
    let (cpu, rev) = (cpu_seconds(pid), revision(&client).await);
    let started = Instant::now();
    let create_api = api.clone();
    fan_out(DEPLOYMENTS, move |i| {
        let api = create_api.clone();
        async move {
            let d: Deployment = serde_json::from_value(deployment(i)).expect("deployment");
            api.create(&PostParams::default(), &d).await.expect("create deployment");
        }
    })
    .await;
    let up = wait_complete(&api, started).await;
    let up_cpu = cpu_seconds(pid) - cpu;
    let writes = revision(&client).await - rev;
    line(
        "1,000 Deployments x 10 available",
        format!("{:.1} s", up.as_secs_f64()),
        &format!("< {:.1} s", bare.as_secs_f64() * 1.5),
        &format!("server {up_cpu:.1} CPU s, RSS {:.0} MiB, {writes} writes", rss_mib(pid)),
    );

    let (cpu, rev) = (cpu_seconds(pid), revision(&client).await);
    let started = Instant::now();
    let patch_api = api.clone();
    fan_out(DEPLOYMENTS, move |i| {
        let api = patch_api.clone();
        async move {
            let patch = json!({"spec": {"template": {"metadata": {"annotations": {"bench/rollout": "2"}}}}});
            api.patch(&format!("app-{i}"), &PatchParams::default(), &Patch::Merge(patch)).await.expect("patch");
        }
    })
    .await;
    let rolled = wait_complete(&api, started).await;
    let roll_cpu = cpu_seconds(pid) - cpu;
    let writes = revision(&client).await - rev;
    line(
        "rollout of all 1,000 to a new template",
        format!("{:.1} s", rolled.as_secs_f64()),
        &format!("< {:.1} s", bare.as_secs_f64() * 1.5),
        &format!("server {roll_cpu:.1} CPU s, RSS {:.0} MiB, {writes} writes", rss_mib(pid)),
    );
    println!(
        "  (ratio to bare pods: {:.2}x to become available, {:.2}x to roll out; goal <= 1.5x)",
        up.as_secs_f64() / bare.as_secs_f64(),
        rolled.as_secs_f64() / bare.as_secs_f64()
    );
}
