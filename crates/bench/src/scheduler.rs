//! The scheduler benchmark (issue: "The scheduler, and hollow nodes"): workloads modelled on
//! upstream's scheduler_perf, each against a fresh `skiff server` with hollow nodes from
//! `skiff sim`, printing pods scheduled per second beside upstream's required figure.
//!
//! Pods are created from 32 concurrent clients while the scheduler works; a workload's figure is
//! measured pods / (last binding seen − first create sent), so creation is inside the window.

use std::collections::HashSet;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Namespace, Node, Pod};
use k8s_openapi::api::scheduling::v1::PriorityClass;
use kube::api::{Api, ListParams, PostParams};
use kube::runtime::watcher::{self, Event};
use serde_json::{Value, json};
use skiff_e2e::Server;

use crate::stats::rss_mib;

const CLIENTS: usize = 32;
pub(crate) const NS: &str = "sched";

/// `skiff sim` as a child process, killed when dropped.
pub(crate) struct Sim(Child);

impl Sim {
    pub(crate) fn start(skiff: &Path, server: &Server, args: &[&str]) -> Sim {
        let log = std::fs::File::create(server.dir().join("sim.log")).expect("sim log");
        let kubeconfig = server.kubeconfig();
        let child = Command::new(skiff)
            .arg("sim")
            .arg("--kubeconfig")
            .arg(&kubeconfig)
            .args(args)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start skiff sim");
        Sim(child)
    }

    pub(crate) fn pid(&self) -> u32 {
        self.0.id()
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

struct Workload {
    name: &'static str,
    nodes: usize,
    sim_args: &'static [&'static str],
    /// Pods created (and scheduled) before measuring.
    init: usize,
    measured: usize,
    /// Upstream kube-scheduler's required throughput, pods/s.
    upstream: f64,
    /// Hollow nodes drive pods through their lifecycle (needed where pods must go away: the
    /// node confirms a preempted pod's deletion).
    lifecycle: bool,
    /// The pod spec of init pod `i` and of measured pod `i`.
    init_pod: fn(usize) -> Value,
    pod: fn(usize) -> Value,
}

pub(crate) fn base(name: String) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": "bench"}},
        "spec": {"containers": [{"name": "pause", "image": "registry.k8s.io/pause:3.10",
            "resources": {"requests": {"cpu": "100m", "memory": "500Mi"}}}]},
    })
}

fn basic(i: usize) -> Value {
    base(format!("basic-{i}"))
}

fn node_affinity(i: usize) -> Value {
    let mut p = base(format!("affinity-{i}"));
    p["spec"]["affinity"] = json!({"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
        {"matchExpressions": [{"key": "topology.kubernetes.io/zone", "operator": "In", "values": ["zone1", "zone2"]}]}]}}});
    p
}

fn anti_affinity(i: usize) -> Value {
    let mut p = base(format!("anti-{i}"));
    p["metadata"]["labels"]["color"] = json!("green");
    p["spec"]["affinity"] = json!({"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
        {"labelSelector": {"matchLabels": {"color": "green"}}, "topologyKey": "kubernetes.io/hostname"}]}});
    p
}

fn spreading(i: usize) -> Value {
    let mut p = base(format!("spread-{i}"));
    p["metadata"]["labels"]["color"] = json!("blue");
    p["spec"]["topologySpreadConstraints"] = json!([{"maxSkew": 5, "topologyKey": "topology.kubernetes.io/zone",
        "whenUnsatisfiable": "DoNotSchedule", "labelSelector": {"matchLabels": {"color": "blue"}}}]);
    p
}

fn low_priority(i: usize) -> Value {
    let mut p = base(format!("low-{i}"));
    p["spec"]["priorityClassName"] = json!("bench-low");
    p["spec"]["containers"][0]["resources"]["requests"] = json!({"cpu": "1", "memory": "500Mi"});
    p
}

fn preemptor(i: usize) -> Value {
    let mut p = base(format!("high-{i}"));
    p["spec"]["priorityClassName"] = json!("bench-high");
    p["spec"]["containers"][0]["resources"]["requests"] = json!({"cpu": "1", "memory": "500Mi"});
    p
}

fn workloads() -> Vec<Workload> {
    vec![
        Workload {
            name: "SchedulingBasic",
            nodes: 5000,
            sim_args: &[],
            init: 0,
            measured: 10_000,
            upstream: 270.0,
            lifecycle: false,
            init_pod: basic,
            pod: basic,
        },
        Workload {
            name: "SchedulingNodeAffinity",
            nodes: 5000,
            sim_args: &["--label", "topology.kubernetes.io/zone=zone1"],
            init: 0,
            measured: 10_000,
            upstream: 220.0,
            lifecycle: false,
            init_pod: node_affinity,
            pod: node_affinity,
        },
        Workload {
            name: "SchedulingPodAntiAffinity",
            nodes: 5000,
            sim_args: &[],
            init: 0,
            measured: 2_000,
            upstream: 60.0,
            lifecycle: false,
            init_pod: anti_affinity,
            pod: anti_affinity,
        },
        Workload {
            name: "TopologySpreading",
            nodes: 5000,
            sim_args: &["--zones", "3"],
            init: 0,
            measured: 5_000,
            upstream: 85.0,
            lifecycle: false,
            init_pod: spreading,
            pod: spreading,
        },
        Workload {
            name: "PreemptionBasic",
            nodes: 500,
            sim_args: &["--cpu", "4"],
            init: 2_000,
            measured: 500,
            upstream: 18.0,
            lifecycle: true,
            init_pod: low_priority,
            pod: preemptor,
        },
    ]
}

/// Wait until `n` nodes are registered.
pub(crate) async fn wait_nodes(client: &kube::Client, n: usize) -> Duration {
    let t = Instant::now();
    let nodes: Api<Node> = Api::all(client.clone());
    loop {
        let have = nodes.list_metadata(&ListParams::default()).await.map(|l| l.items.len()).unwrap_or(0);
        if have >= n {
            return t.elapsed();
        }
        assert!(t.elapsed() < Duration::from_secs(300), "only {have}/{n} hollow nodes registered");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Create pods `make(0..count)` from CLIENTS clients and wait until all are bound; returns the
/// time from the first create to the last binding seen.
pub(crate) async fn create_and_wait(server: &Server, count: usize, make: fn(usize) -> Value) -> Duration {
    let client = server.client().await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), NS);
    let mut names: HashSet<String> = HashSet::new();
    let prefix = make(0)["metadata"]["name"].as_str().unwrap_or("").trim_end_matches('0').to_string();
    let mut stream = watcher::watcher(pods.clone(), watcher::Config::default()).boxed();
    // Start the watch before creating, so no binding is missed.
    while let Some(ev) = stream.next().await {
        if matches!(ev, Ok(Event::InitDone)) {
            break;
        }
    }
    let started = Instant::now();
    let next = Arc::new(AtomicUsize::new(0));
    for _ in 0..CLIENTS {
        let api: Api<Pod> = Api::namespaced(server.client().await, NS);
        let next = next.clone();
        tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= count {
                    return;
                }
                let pod: Pod = serde_json::from_value(make(i)).expect("pod");
                api.create(&PostParams::default(), &pod).await.expect("create pod");
            }
        });
    }
    let deadline = Duration::from_secs(600);
    while names.len() < count {
        let ev = tokio::time::timeout(deadline.saturating_sub(started.elapsed()), stream.next()).await;
        let ev = match ev {
            Ok(Some(Ok(ev))) => ev,
            Ok(Some(Err(_))) => continue,
            _ => panic!("only {}/{count} pods scheduled in {deadline:?}", names.len()),
        };
        if let Event::Apply(p) | Event::InitApply(p) = ev {
            let name = p.metadata.name.unwrap_or_default();
            if name.starts_with(&prefix) && p.spec.and_then(|s| s.node_name).is_some() {
                names.insert(name);
            }
        }
    }
    started.elapsed()
}

pub(crate) async fn setup(client: &kube::Client) {
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": NS}})).expect("ns");
    Api::<Namespace>::all(client.clone()).create(&PostParams::default(), &ns).await.expect("namespace");
    let classes: Api<PriorityClass> = Api::all(client.clone());
    for (name, value) in [("bench-low", 1), ("bench-high", 100)] {
        let pc: PriorityClass =
            serde_json::from_value(json!({"metadata": {"name": name}, "value": value})).expect("priority class");
        classes.create(&PostParams::default(), &pc).await.expect("priority class");
    }
}

/// Extra `skiff server` arguments from `SKIFF_BENCH_SERVER_ARGS` (whitespace-separated), to
/// compare configurations, e.g. `--disable-controllers`.
fn server_args() -> Vec<&'static str> {
    static ARGS: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    let args = ARGS.get_or_init(|| {
        std::env::var("SKIFF_BENCH_SERVER_ARGS").unwrap_or_default().split_whitespace().map(str::to_string).collect()
    });
    args.iter().map(String::as_str).collect()
}

pub(crate) fn line(what: &str, ours: String, goal: &str, reference: &str) {
    println!("{what:<44} {ours:>14}   goal {goal:<14} reference: {reference}");
}

/// One workload on a fresh server; `lifecycle` lets the hollow nodes drive pods to Running.
/// Returns the server and the sim, still running, for a follow-up.
async fn measure(skiff: &Path, w: &Workload, lifecycle: bool) -> (Server, Sim, f64, Duration) {
    let server = Server::start_with(skiff, &server_args());
    let client = server.client().await;
    setup(&client).await;
    let nodes = w.nodes.to_string();
    let mut args = vec!["--nodes", nodes.as_str()];
    args.extend_from_slice(w.sim_args);
    if !lifecycle {
        args.push("--no-pod-lifecycle");
    }
    let sim = Sim::start(skiff, &server, &args);
    let registered = wait_nodes(&client, w.nodes).await;
    if w.init > 0 {
        create_and_wait(&server, w.init, w.init_pod).await;
    }
    let took = create_and_wait(&server, w.measured, w.pod).await;
    (server, sim, w.measured as f64 / took.as_secs_f64(), registered)
}

pub async fn run(skiff: &Path, only: Option<&str>) {
    println!("skiff scheduler benchmark: {} with hollow nodes from `skiff sim`", skiff.display());
    println!("(as upstream's scheduler_perf: the nodes exist and renew leases; pods are only bound,");
    println!(" except in PreemptionBasic, where the hollow nodes confirm the victims' deletion)");
    println!();
    for w in workloads() {
        if only.is_some_and(|o| o != w.name) {
            continue;
        }
        let (_server, _sim, rate, _) = measure(skiff, &w, w.lifecycle).await;
        line(
            &format!("{} ({} nodes, {} pods)", w.name, w.nodes, w.measured),
            format!("{rate:.0} pods/s"),
            &format!("> {:.0} pods/s", w.upstream * 10.0),
            &format!("kube-scheduler must reach {:.0} pods/s", w.upstream),
        );
    }
    if only.is_some_and(|o| o != "SchedulingBasic") {
        return;
    }
    println!();
    println!("with the hollow nodes driving every pod to Running (one more write per pod):");
    let basic = workloads().into_iter().next().expect("SchedulingBasic");
    let (server, sim, rate, registered) = measure(skiff, &basic, true).await;
    line("SchedulingBasic, pods run", format!("{rate:.0} pods/s"), "", "");
    println!("  ({} hollow nodes registered in {:.1} s)", basic.nodes, registered.as_secs_f64());
    fill_to(&server, &sim, basic.measured).await;
}

/// Grow the SchedulingBasic cluster to 100,000 pods and report memory.
async fn fill_to(server: &Server, sim: &Sim, have: usize) {
    const TOTAL: usize = 100_000;
    fn more(i: usize) -> Value {
        base(format!("fill-{i}"))
    }
    let took = create_and_wait(server, TOTAL - have, more).await;
    println!("  ({} more pods created and scheduled in {:.1} s)", TOTAL - have, took.as_secs_f64());
    // Let the hollow nodes report the pods running before reading memory.
    tokio::time::sleep(Duration::from_secs(20)).await;
    let pid = server.pid().expect("server pid");
    line(
        "server RSS, 5,000 nodes and 100,000 pods",
        format!("{:.0} MiB", rss_mib(pid)),
        "< 1.5 GB",
        &format!("skiff sim itself: {:.0} MiB", rss_mib(sim.pid())),
    );
}
