//! The node agent benchmark (needs root): pod start latency, from the create call of a pod
//! bound to the node (image present) until the API shows it Running, p50 and p99 over 100
//! pods one after another; pods/s when 100 are created at once; the agent's memory idle and
//! per running pod (shims included). Beside it, `podman run --rm` of the same image on the
//! same machine, when podman is installed.

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DeleteParams, ListParams, PostParams};
use kube::runtime::watcher;
use serde_json::json;
use skiff_e2e::images::{ArchiveFormat, busybox_archive};
use skiff_e2e::{AGENT_NODE, Server};
use tokio::sync::Notify;

use crate::stats::{ms, quantile, rss_mib};

/// The test image's name. A tag other than `latest` keeps the default pull policy at
/// IfNotPresent (`latest` means Always, which would go to a registry).
const BUSYBOX: &str = "busybox:1.36";
const SEQUENTIAL: usize = 100;
const BURST: usize = 100;
const PODMAN_RUNS: usize = 20;

fn pod(name: &str) -> Pod {
    serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name},
        "spec": {
            "nodeName": AGENT_NODE,
            "terminationGracePeriodSeconds": 0,
            "containers": [{"name": "main", "image": BUSYBOX, "command": ["sleep", "3600"]}],
        },
    }))
    .expect("pod")
}

/// Proportional set size (shared pages split among their users), in MiB.
fn pss_mib(pid: u32) -> f64 {
    let text = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).unwrap_or_default();
    let kib: f64 = text
        .lines()
        .find_map(|l| l.strip_prefix("Pss:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0.0);
    kib / 1024.0
}

/// The pids of the shims of a data dir (their command line names their state dir).
fn shims(data_dir: &Path) -> Vec<u32> {
    let needle = data_dir.display().to_string();
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let cmd = String::from_utf8_lossy(&cmd);
            cmd.contains("\0shim\0") && cmd.contains(&needle)
        })
        .collect()
}

/// Times from create to Running, observed through one watch of the namespace.
struct RunningWatch {
    seen: Arc<Mutex<HashMap<String, Instant>>>,
    notify: Arc<Notify>,
}

impl RunningWatch {
    fn start(api: Api<Pod>) -> RunningWatch {
        let seen: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
        let notify = Arc::new(Notify::new());
        let (s, n) = (seen.clone(), notify.clone());
        tokio::spawn(async move {
            let mut stream = watcher::watcher(api, watcher::Config::default()).boxed();
            while let Some(Ok(ev)) = stream.next().await {
                if let watcher::Event::Apply(p) | watcher::Event::InitApply(p) = ev {
                    let running = p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running");
                    if running {
                        let name = p.metadata.name.clone().unwrap_or_default();
                        s.lock().expect("lock").entry(name).or_insert_with(Instant::now);
                        n.notify_waiters();
                    }
                }
            }
        });
        RunningWatch { seen, notify }
    }

    async fn wait(&self, name: &str) -> Instant {
        loop {
            let notified = self.notify.notified();
            if let Some(t) = self.seen.lock().expect("lock").get(name) {
                return *t;
            }
            let _ = tokio::time::timeout(Duration::from_secs(1), notified).await;
        }
    }
}

pub async fn run(skiff: &Path) {
    if !skiff_e2e::is_root() {
        println!("agent: skipped (needs root)");
        return;
    }
    println!("node agent (busybox image, pods bound to the node, runc)");
    let baseline = Server::start_with(skiff, &["--disable-controllers"]);
    let without_agent = settled_rss(baseline.pid().unwrap_or(0)).await;
    drop(baseline);

    let server = Server::start_with_agent(skiff, &["--disable-controllers"]);
    let archive = server.dir().join("busybox.tar");
    busybox_archive(&archive, BUSYBOX, ArchiveFormat::DockerSave);
    let out =
        Command::new(skiff).args(["images", "import", "--data-dir"]).arg(server.data_dir()).arg(&archive).output();
    assert!(out.is_ok_and(|o| o.status.success()), "importing the busybox image failed");
    let pid = server.pid().unwrap_or(0);
    let idle = settled_rss(pid).await;
    println!(
        "  server RSS idle (controllers off in both): {idle:.1} MiB with its agent, {without_agent:.1} MiB with --disable-agent: the agent adds {:.1} MiB (goal < 20 MB)",
        idle - without_agent
    );

    let client = server.client().await;
    let pods: Api<Pod> = Api::namespaced(client, "default");
    let watch = RunningWatch::start(pods.clone());
    let mut latencies = Vec::new();
    for i in 0..SEQUENTIAL {
        let name = format!("seq-{i}");
        let t0 = Instant::now();
        pods.create(&PostParams::default(), &pod(&name)).await.expect("create");
        let t1 = watch.wait(&name).await;
        latencies.push(t1 - t0);
    }
    latencies.sort();
    println!(
        "  pod start latency over {SEQUENTIAL} pods one after another: p50 {}, p99 {} (goals: p50 < 150 ms, p99 < 400 ms)",
        ms(quantile(&latencies, 0.5)),
        ms(quantile(&latencies, 0.99))
    );
    let running = rss_mib(pid);
    let shim_pids = shims(&server.data_dir());
    let (shim_rss, shim_pss): (f64, f64) =
        shim_pids.iter().fold((0.0, 0.0), |(r, p), pid| (r + rss_mib(*pid), p + pss_mib(*pid)));
    let n = shim_pids.len().max(1) as f64;
    println!(
        "  with {SEQUENTIAL} pods running: server RSS {running:.1} MiB (+{:.2} MiB per pod), shims RSS {:.2} MiB each (PSS {:.2} MiB); per pod {:.2} MiB in all (goal < 2 MB)",
        (running - idle) / SEQUENTIAL as f64,
        shim_rss / n,
        shim_pss / n,
        (running - idle) / SEQUENTIAL as f64 + shim_pss / n,
    );

    let t0 = Instant::now();
    let creates: Vec<_> = (0..BURST)
        .map(|i| {
            let pods = pods.clone();
            tokio::spawn(async move {
                pods.create(&PostParams::default(), &pod(&format!("burst-{i}"))).await.expect("create")
            })
        })
        .collect();
    for c in creates {
        let _ = c.await;
    }
    for i in 0..BURST {
        watch.wait(&format!("burst-{i}")).await;
    }
    let took = t0.elapsed();
    println!(
        "  {BURST} pods created at once: all Running after {} ({:.1} pods/s)",
        ms(took),
        BURST as f64 / took.as_secs_f64()
    );

    let _ = pods.delete_collection(&DeleteParams::default(), &ListParams::default()).await;
    podman(&archive);
}

/// RSS once a fresh server has settled: the mean of five samples, 5 s after start.
async fn settled_rss(pid: u32) -> f64 {
    tokio::time::sleep(Duration::from_secs(5)).await;
    let mut sum = 0.0;
    for _ in 0..5 {
        sum += rss_mib(pid);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    sum / 5.0
}

/// `podman run --rm` of the same image (runc, as skiff uses), for comparison.
fn podman(archive: &Path) {
    let available = Command::new("podman").arg("--version").output().is_ok_and(|o| o.status.success());
    if !available {
        println!("  podman run --rm: not measured (podman is not installed)");
        return;
    }
    let load = Command::new("podman").args(["load", "-q", "-i"]).arg(archive).output();
    let loaded = load.ok().filter(|o| o.status.success()).and_then(|o| {
        let text = String::from_utf8_lossy(&o.stdout).into_owned();
        text.lines().find_map(|l| l.strip_prefix("Loaded image: ").map(|s| s.trim().to_string()))
    });
    let Some(image) = loaded else {
        println!("  podman run --rm: not measured (podman could not load the image)");
        return;
    };
    let mut times = Vec::new();
    for _ in 0..PODMAN_RUNS {
        let t0 = Instant::now();
        // --pull=never: nothing leaves the machine. The limits: podman's default RLIMIT_NOFILE
        // is above this machine's hard limit, which runc may not raise.
        let out = Command::new("podman")
            .args(["--runtime", "runc", "run", "--pull=never", "--rm", "--network", "none"])
            .args(["--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024", &image, "true"])
            .output();
        match out {
            Ok(o) if o.status.success() => times.push(t0.elapsed()),
            Ok(o) => {
                println!("  podman run --rm: failed: {}", String::from_utf8_lossy(&o.stderr).trim());
                return;
            }
            Err(e) => {
                println!("  podman run --rm: failed: {e}");
                return;
            }
        }
    }
    let _ = Command::new("podman").args(["rmi", "-f", &image]).output();
    times.sort();
    println!(
        "  podman run --rm (runc) of the same image, {PODMAN_RUNS} runs: p50 {}, p99 {}",
        ms(quantile(&times, 0.5)),
        ms(quantile(&times, 0.99))
    );
}
