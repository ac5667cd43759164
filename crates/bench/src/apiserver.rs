//! The control-plane benchmark (issue: "The control plane").

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::api::{Api, ListParams, PostParams, WatchEvent, WatchParams};
use serde_json::json;
use skiff_e2e::Server;

use crate::stats::{median, ms, quantile, rss_mib};

const CLIENTS: usize = 32;
const PRELOAD: usize = 10_000;
const START_RUNS: usize = 5;

fn cm(name: &str) -> ConfigMap {
    serde_json::from_value(json!({"metadata": {"name": name, "labels": {"bench": "yes"}}, "data": {"key": "value", "other": "a somewhat longer value to be realistic"}}))
        .expect("configmap")
}

async fn namespace(client: &kube::Client, name: &str) {
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": name}})).expect("ns");
    let _ = Api::<Namespace>::all(client.clone()).create(&PostParams::default(), &ns).await;
}

fn line(what: &str, ours: String, goal: &str, reference: &str) {
    println!("{what:<42} {ours:>16}   goal {goal:<12} reference: {reference}");
}

/// Create `total` configmaps in `ns` from `clients` concurrent clients; returns the duration.
async fn create_many(server: &Server, ns: &str, total: usize, clients: usize) -> Duration {
    let next = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    let started = Instant::now();
    for _ in 0..clients {
        let client = server.client().await;
        let next = next.clone();
        let ns = ns.to_string();
        tasks.push(tokio::spawn(async move {
            let api: Api<ConfigMap> = Api::namespaced(client, &ns);
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= total {
                    return;
                }
                api.create(&PostParams::default(), &cm(&format!("cm-{i:06}"))).await.expect("create");
            }
        }));
    }
    for t in tasks {
        t.await.expect("writer");
    }
    started.elapsed()
}

pub async fn run(skiff: &Path) {
    println!(
        "skiff control-plane benchmark: {} ({} cores)",
        skiff.display(),
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!();

    // Start to ready on an empty data dir (a fresh dir each run: certificates are made too).
    let mut empty = Vec::new();
    let mut rss = 0.0;
    for _ in 0..START_RUNS {
        let s = Server::start(skiff);
        empty.push(s.ready_after);
        tokio::time::sleep(Duration::from_secs(2)).await;
        rss = rss_mib(s.pid().expect("pid"));
    }
    line("start to ready, empty data dir", ms(median(empty)), "< 100 ms", "k8s 1.20 + etcd 6.7 s; Rusternetes 0.22 s");
    line("idle RSS, no agent", format!("{rss:.1} MiB"), "< 25 MB", "k8s 1.20 + etcd 480 MB; Rusternetes 34 MB");

    // Create throughput, then restarts with 10,000 objects stored.
    let mut s = Server::start(skiff);
    let client = s.client().await;
    namespace(&client, "bench").await;
    let took = create_many(&s, "bench", PRELOAD, CLIENTS).await;
    line(
        &format!("create, {CLIENTS} clients (durable)"),
        format!("{:.0} /s", PRELOAD as f64 / took.as_secs_f64()),
        "> 5,000 /s",
        "k8s 1.20 + etcd 610-836 /s; Rusternetes 369 /s",
    );
    let mut loaded = Vec::new();
    for _ in 0..START_RUNS {
        s.stop();
        s.spawn();
        loaded.push(s.ready_after);
    }
    line(&format!("start to ready, {PRELOAD} objects"), ms(median(loaded)), "< 300 ms", "");
    tokio::time::sleep(Duration::from_secs(2)).await;
    line(&format!("RSS with {PRELOAD} objects"), format!("{:.1} MiB", rss_mib(s.pid().expect("pid"))), "", "");

    // Get and list throughput.
    let client = s.client().await;
    let window = Duration::from_secs(5);
    let gets =
        hammer(
            &s,
            window,
            |api, i| async move { api.get(&format!("cm-{:06}", (i * 7919) % PRELOAD)).await.map(|_| 1) },
        )
        .await;
    line(&format!("get, {CLIENTS} clients"), format!("{:.0} /s", gets as f64 / window.as_secs_f64()), "", "");
    namespace(&client, "listing").await;
    create_many(&s, "listing", 500, CLIENTS).await;
    let listed = hammer_ns(&s, "listing", window, |api, _| async move {
        api.list(&ListParams::default()).await.map(|l| l.items.len())
    })
    .await;
    line(
        &format!("list of 500 objects, {CLIENTS} clients"),
        format!("{:.0} /s", listed as f64 / 500.0 / window.as_secs_f64()),
        "",
        &format!("{:.0} objects/s", listed as f64 / window.as_secs_f64()),
    );

    let w = watch_latency(&s).await;
    line("watch delivery at 1,000 events/s, p50", ms(quantile(&w.delivery, 0.5)), "", "");
    line(
        "watch delivery at 1,000 events/s, p99",
        ms(quantile(&w.delivery, 0.99)),
        "p99 < 5 ms",
        "k8s 1.20 + etcd p99 10-21 ms; Rusternetes p99 1 s",
    );
    line("write to watch event at 1,000/s, p50", ms(quantile(&w.end_to_end, 0.5)), "", "");
    line(
        "write to watch event at 1,000/s, p99",
        ms(quantile(&w.end_to_end, 0.99)),
        "",
        &format!("fsync on this disk: {}", fsync_figure()),
    );
    println!();
    println!(
        "watch delivery: from the writer's acknowledgment to the ADDED event at a watcher (0 if the event came first);"
    );
    println!("write to watch event: from just before the create is sent, so it includes the durable write.");
}

/// p50/p99 of fsync on the data dir's disk, for reading the end-to-end watch figure.
fn fsync_figure() -> String {
    use std::io::Write;
    let path = std::env::temp_dir().join("skiff-bench-fsync");
    let Ok(mut f) = std::fs::File::create(&path) else { return "unknown".into() };
    let mut lat: Vec<Duration> = (0..200)
        .map(|_| {
            let _ = f.write_all(&[0u8; 4096]);
            let t = Instant::now();
            let _ = f.sync_all();
            t.elapsed()
        })
        .collect();
    let _ = std::fs::remove_file(&path);
    lat.sort();
    format!("p50 {} p99 {}", ms(quantile(&lat, 0.5)), ms(quantile(&lat, 0.99)))
}

/// Run `op` from CLIENTS clients for `window`; returns the sum of what the calls returned.
async fn hammer<F, Fut>(s: &Server, window: Duration, op: F) -> usize
where
    F: Fn(Api<ConfigMap>, usize) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = Result<usize, kube::Error>> + Send,
{
    hammer_ns(s, "bench", window, op).await
}

async fn hammer_ns<F, Fut>(s: &Server, ns: &str, window: Duration, op: F) -> usize
where
    F: Fn(Api<ConfigMap>, usize) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = Result<usize, kube::Error>> + Send,
{
    let deadline = Instant::now() + window;
    let mut tasks = Vec::new();
    for c in 0..CLIENTS {
        let api: Api<ConfigMap> = Api::namespaced(s.client().await, ns);
        let op = op.clone();
        tasks.push(tokio::spawn(async move {
            let mut done = 0;
            let mut i = c * 1000;
            while Instant::now() < deadline {
                done += op(api.clone(), i).await.expect("request");
                i += 1;
            }
            done
        }));
    }
    let mut total = 0;
    for t in tasks {
        total += t.await.expect("client");
    }
    total
}

/// When one object was sent, acknowledged, and seen by the watcher.
#[derive(Default, Clone, Copy)]
struct Timing {
    sent: Option<Instant>,
    acked: Option<Instant>,
    seen: Option<Instant>,
}

/// Watch latencies, sorted: end to end (send to event) and delivery (acknowledgment to event;
/// zero when the event arrived first).
struct WatchLatency {
    end_to_end: Vec<Duration>,
    delivery: Vec<Duration>,
}

/// Write at 1,000 creates/s and time each event's arrival at a watcher.
async fn watch_latency(s: &Server) -> WatchLatency {
    const EVENTS: usize = 5_000;
    let client = s.client().await;
    namespace(&client, "watch").await;
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), "watch");
    let rv = api.list(&ListParams::default()).await.expect("list").metadata.resource_version.expect("rv");
    let mut stream = api.watch(&WatchParams::default(), &rv).await.expect("watch").boxed();
    let timings: Arc<std::sync::Mutex<HashMap<String, Timing>>> = Arc::default();

    let writer = {
        let timings = timings.clone();
        let mut writers = Vec::new();
        for _ in 0..8 {
            writers.push(Api::<ConfigMap>::namespaced(s.client().await, "watch"));
        }
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(1));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
            let mut inflight = Vec::new();
            for i in 0..EVENTS {
                tick.tick().await;
                let name = format!("w-{i:06}");
                let api = writers[i % writers.len()].clone();
                let timings = timings.clone();
                inflight.push(tokio::spawn(async move {
                    timings.lock().expect("lock").entry(name.clone()).or_default().sent = Some(Instant::now());
                    api.create(&PostParams::default(), &cm(&name)).await.expect("create");
                    timings.lock().expect("lock").entry(name).or_default().acked = Some(Instant::now());
                }));
            }
            for f in inflight {
                f.await.expect("create task");
            }
        })
    };
    let mut seen = 0;
    while seen < EVENTS {
        let ev = tokio::time::timeout(Duration::from_secs(30), stream.try_next())
            .await
            .expect("event in time")
            .expect("watch ok")
            .expect("watch open");
        let arrived = Instant::now();
        if let WatchEvent::Added(o) = ev {
            timings.lock().expect("lock").entry(o.metadata.name.expect("name")).or_default().seen = Some(arrived);
            seen += 1;
        }
    }
    writer.await.expect("writer");
    let timings = timings.lock().expect("lock");
    let mut end_to_end = Vec::new();
    let mut delivery = Vec::new();
    for t in timings.values() {
        if let (Some(sent), Some(acked), Some(seen)) = (t.sent, t.acked, t.seen) {
            end_to_end.push(seen - sent);
            delivery.push(seen.saturating_duration_since(acked));
        }
    }
    end_to_end.sort();
    delivery.sort();
    WatchLatency { end_to_end, delivery }
}
