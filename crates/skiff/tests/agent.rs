//! The node agent of `skiff server` running real pods with runc (as root): an image built at
//! test time from Debian's busybox-static, pods through their lifecycle, restarts with
//! back-off, graceful deletion that leaves nothing behind, and containers that survive an
//! agent crash.

use std::path::Path;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{Api, DeleteParams, PostParams};
use serde_json::json;
use skiff_e2e::images::{ArchiveFormat, busybox_archive};
use skiff_e2e::{AGENT_NODE, Server, eventually};

const BIN: &str = env!("CARGO_BIN_EXE_skiff");
/// The test image's name. A tag other than `latest` keeps the default pull policy at
/// IfNotPresent (`latest` means Always, which would go to a registry).
const BUSYBOX: &str = "busybox:1.36";
const WAIT: Duration = Duration::from_secs(60);

fn can_run() -> bool {
    skiff_e2e::root_or_skip("the node agent tests")
}

/// A server with its agent and the busybox image imported as [`BUSYBOX`].
fn server() -> Server {
    let server = Server::start_with_agent(Path::new(BIN), &[]);
    let archive = server.dir().join("busybox.tar");
    busybox_archive(&archive, BUSYBOX, ArchiveFormat::DockerSave);
    import(&server, &archive);
    server
}

fn import(server: &Server, archive: &Path) {
    let out = std::process::Command::new(BIN)
        .args(["images", "import", "--data-dir"])
        .arg(server.data_dir())
        .arg(archive)
        .output()
        .expect("run skiff images import");
    assert!(out.status.success(), "import failed: {}", String::from_utf8_lossy(&out.stderr));
}

fn pod(name: &str, spec: serde_json::Value) -> Pod {
    let mut spec = spec;
    spec["nodeName"] = AGENT_NODE.into();
    serde_json::from_value(json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": spec}))
        .unwrap()
}

fn busybox(name: &str, script: &str, restart: &str) -> Pod {
    pod(
        name,
        json!({
            "restartPolicy": restart,
            "terminationGracePeriodSeconds": 5,
            "containers": [{"name": "main", "image": BUSYBOX, "command": ["sh", "-c", script]}],
        }),
    )
}

fn phase(p: &Pod) -> &str {
    p.status.as_ref().and_then(|s| s.phase.as_deref()).unwrap_or("")
}

fn main_status(p: &Pod) -> Option<&k8s_openapi::api::core::v1::ContainerStatus> {
    p.status.as_ref()?.container_statuses.as_ref()?.iter().find(|c| c.name == "main")
}

async fn wait_pod(server: &Server, pods: &Api<Pod>, name: &str, what: &str, check: impl Fn(&Pod) -> bool) -> Pod {
    eventually(
        what,
        WAIT,
        || server.log(),
        || async {
            let p = pods.get_opt(name).await.ok().flatten()?;
            check(&p).then_some(p)
        },
    )
    .await
}

/// Mounts below the server's dir (the agent's sandboxes, rootfs and volumes).
fn mounts_below(dir: &Path) -> Vec<String> {
    let prefix = dir.display().to_string();
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_whitespace().nth(4).map(str::to_string))
        .filter(|m| m.starts_with(&prefix))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_registers_with_its_facts() {
    if !can_run() {
        return;
    }
    let server = server();
    let nodes: Api<Node> = Api::all(server.client().await);
    let node = eventually(
        "node ready",
        WAIT,
        || server.log(),
        || async {
            let n = nodes.get_opt(AGENT_NODE).await.ok().flatten()?;
            let ready =
                n.status.as_ref()?.conditions.as_ref()?.iter().any(|c| c.type_ == "Ready" && c.status == "True");
            ready.then_some(n)
        },
    )
    .await;
    let labels = node.metadata.labels.clone().unwrap_or_default();
    assert_eq!(labels.get("kubernetes.io/hostname").map(String::as_str), Some(AGENT_NODE));
    assert_eq!(labels.get("kubernetes.io/os").map(String::as_str), Some("linux"));
    assert!(labels.contains_key("node-role.kubernetes.io/control-plane"));
    let status = node.status.unwrap();
    assert_eq!(status.capacity.as_ref().unwrap()["pods"].0, "110");
    let info = status.node_info.unwrap();
    assert!(info.container_runtime_version.starts_with("runc://"), "{}", info.container_runtime_version);
    assert!(!info.kernel_version.is_empty() && !info.os_image.is_empty());
    assert_eq!(
        status.daemon_endpoints.unwrap().kubelet_endpoint.unwrap().port,
        i32::from(server.agent.as_ref().unwrap().kubelet)
    );
    let lease: Api<k8s_openapi::api::coordination::v1::Lease> =
        Api::namespaced(server.client().await, "kube-node-lease");
    assert!(lease.get(AGENT_NODE).await.is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pod_runs_to_completion_and_logs_its_output() {
    if !can_run() {
        return;
    }
    let server = server();
    let pods: Api<Pod> = Api::namespaced(server.client().await, "default");
    pods.create(&PostParams::default(), &busybox("echo", "echo hello from busybox; hostname; echo oops >&2", "Never"))
        .await
        .unwrap();
    let done = wait_pod(&server, &pods, "echo", "pod Succeeded", |p| phase(p) == "Succeeded").await;
    let st = main_status(&done).unwrap();
    let term = st.state.as_ref().unwrap().terminated.as_ref().unwrap();
    assert_eq!((term.exit_code, term.reason.as_deref()), (0, Some("Completed")));
    assert!(st.container_id.as_deref().unwrap_or_default().starts_with("runc://"));
    assert!(st.image_id.starts_with("sha256:"));
    let status = done.status.as_ref().unwrap();
    assert_eq!(status.host_ip.as_deref(), Some("127.0.0.1"));
    let ready = status.conditions.as_ref().unwrap().iter().find(|c| c.type_ == "Ready").unwrap();
    assert_eq!((ready.status.as_str(), ready.reason.as_deref()), ("False", Some("PodCompleted")));

    // The CRI log file has both streams, each in order (the two pipes race each other).
    let log_dir = server.pod_log_dir();
    let uid = done.metadata.uid.clone().unwrap();
    let log = std::fs::read_to_string(log_dir.join(format!("default_echo_{uid}/main/0.log"))).unwrap();
    let lines: Vec<&str> = log.lines().map(|l| l.split_once(' ').unwrap().1).collect();
    let stdout: Vec<&str> = lines.iter().copied().filter(|l| l.starts_with("stdout")).collect();
    assert_eq!(stdout, ["stdout F hello from busybox", "stdout F echo"]);
    assert!(lines.contains(&"stderr F oops"), "{lines:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_container_restarts_with_back_off_and_reports_exit_codes() {
    if !can_run() {
        return;
    }
    let server = server();
    let pods: Api<Pod> = Api::namespaced(server.client().await, "default");
    pods.create(&PostParams::default(), &busybox("crash", "echo run; exit 3", "OnFailure")).await.unwrap();
    let p = wait_pod(&server, &pods, "crash", "a restart in back-off", |p| {
        main_status(p).is_some_and(|s| {
            s.restart_count >= 1
                && s.state.as_ref().and_then(|st| st.waiting.as_ref()).and_then(|w| w.reason.as_deref())
                    == Some("CrashLoopBackOff")
        })
    })
    .await;
    let st = main_status(&p).unwrap();
    let last = st.last_state.as_ref().unwrap().terminated.as_ref().unwrap();
    assert_eq!((last.exit_code, last.reason.as_deref()), (3, Some("Error")));
    assert_eq!(phase(&p), "Running");
    let message = st.state.as_ref().unwrap().waiting.as_ref().unwrap().message.clone().unwrap_or_default();
    assert!(message.starts_with("back-off 10s restarting failed container=main pod=crash_default("), "{message}");

    // restartPolicy Never: the pod fails with the exit code.
    pods.create(&PostParams::default(), &busybox("fail", "exit 7", "Never")).await.unwrap();
    let p = wait_pod(&server, &pods, "fail", "pod Failed", |p| phase(p) == "Failed").await;
    let term = main_status(&p).unwrap().state.as_ref().unwrap().terminated.clone().unwrap();
    assert_eq!(term.exit_code, 7);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_pod_stops_it_gracefully_and_leaves_nothing() {
    if !can_run() {
        return;
    }
    let server = server();
    let pods: Api<Pod> = Api::namespaced(server.client().await, "default");
    // The container traps TERM, so it ends at once on a graceful stop (not after the grace period).
    let script = "trap 'echo got TERM; exit 0' TERM; while true; do sleep 0.1; done";
    pods.create(&PostParams::default(), &busybox("long", script, "Always")).await.unwrap();
    let p = wait_pod(&server, &pods, "long", "pod Running", |p| phase(p) == "Running").await;
    let uid = p.metadata.uid.clone().unwrap();
    assert!(!mounts_below(server.dir()).is_empty(), "a running pod has its rootfs and namespaces mounted");
    let started = std::time::Instant::now();
    pods.delete("long", &DeleteParams::default()).await.unwrap();
    eventually(
        "pod gone",
        WAIT,
        || server.log(),
        || async { pods.get_opt("long").await.unwrap().is_none().then_some(()) },
    )
    .await;
    assert!(started.elapsed() < Duration::from_secs(5), "TERM should end it well within its 5 s grace period");
    let left = mounts_below(server.dir());
    assert!(left.is_empty(), "mounts left behind: {left:?}");
    assert!(!server.data_dir().join("agent/pods").join(&uid).exists(), "pod state left behind");
    assert!(!server.pod_log_dir().join(format!("default_long_{uid}")).exists(), "logs left behind");
    let cgroup = format!("/sys/fs/cgroup/memory/skiff/pod{uid}");
    assert!(!Path::new(&cgroup).exists(), "cgroup left behind: {cgroup}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn containers_survive_an_agent_crash() {
    if !can_run() {
        return;
    }
    let mut server = server();
    let pods: Api<Pod> = Api::namespaced(server.client().await, "default");
    pods.create(&PostParams::default(), &busybox("steady", "while true; do sleep 0.1; done", "Always")).await.unwrap();
    let before = wait_pod(&server, &pods, "steady", "pod Running", |p| phase(p) == "Running").await;
    let id_before = main_status(&before).unwrap().container_id.clone();

    server.kill();
    let restarted = k8s_openapi::jiff::Timestamp::now();
    server.spawn();
    let pods: Api<Pod> = Api::namespaced(server.client().await, "default");
    // Once the new agent renewed its lease it has adopted its pods: same container, no restart.
    let leases: Api<k8s_openapi::api::coordination::v1::Lease> =
        Api::namespaced(server.client().await, "kube-node-lease");
    eventually(
        "lease renewed by the new agent",
        WAIT,
        || server.log(),
        || async {
            let l = leases.get(AGENT_NODE).await.ok()?;
            (l.spec?.renew_time?.0 > restarted).then_some(())
        },
    )
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = pods.get("steady").await.unwrap();
    let st = main_status(&after).unwrap();
    assert_eq!(st.container_id, id_before);
    assert_eq!(st.restart_count, 0);
    assert!(st.state.as_ref().unwrap().running.is_some(), "{st:?}");
    // And it still stops on deletion.
    pods.delete("steady", &DeleteParams::default()).await.unwrap();
    eventually(
        "pod gone",
        WAIT,
        || server.log(),
        || async { pods.get_opt("steady").await.unwrap().is_none().then_some(()) },
    )
    .await;
}

fn restarts(p: &Pod) -> i32 {
    main_status(p).map_or(0, |s| s.restart_count)
}

fn condition(p: &Pod, type_: &str) -> String {
    p.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|c| c.iter().find(|c| c.type_ == type_))
        .map(|c| c.status.clone())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_liveness_probe_restarts_the_container() {
    if !can_run() {
        return;
    }
    let server = server();
    let pods: Api<Pod> = Api::namespaced(server.client().await, "default");
    let p = pod(
        "live",
        json!({"containers": [{
            "name": "main", "image": BUSYBOX,
            "command": ["sh", "-c", "touch /tmp/healthy; sleep 2; rm /tmp/healthy; sleep 600"],
            "livenessProbe": {"exec": {"command": ["cat", "/tmp/healthy"]}, "periodSeconds": 1, "failureThreshold": 1},
        }], "terminationGracePeriodSeconds": 1}),
    );
    pods.create(&PostParams::default(), &p).await.unwrap();
    let p = wait_pod(&server, &pods, "live", "a restart after the liveness probe failed", |p| restarts(p) >= 1).await;
    let last = main_status(&p).unwrap().last_state.clone().unwrap().terminated.unwrap();
    assert_eq!(last.exit_code, 137, "killed after its grace period: {last:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_probes_gate_the_ready_condition() {
    if !can_run() {
        return;
    }
    let server = server();
    let pods: Api<Pod> = Api::namespaced(server.client().await, "default");
    // An HTTP server (busybox httpd) that only has a page after two seconds; the probe runs
    // inside the pod's own network namespace.
    let script = "mkdir -p /www; httpd -p 8080 -h /www; sleep 2; echo ok > /www/index.html; sleep 600";
    let p = pod(
        "ready",
        json!({"containers": [{
            "name": "main", "image": BUSYBOX, "command": ["sh", "-c", script],
            "ports": [{"name": "web", "containerPort": 8080}],
            "readinessProbe": {"httpGet": {"path": "/index.html", "port": "web"}, "periodSeconds": 1},
        }], "terminationGracePeriodSeconds": 1}),
    );
    pods.create(&PostParams::default(), &p).await.unwrap();
    let running = wait_pod(&server, &pods, "ready", "running", |p| phase(p) == "Running").await;
    assert_eq!(condition(&running, "Ready"), "False", "not ready before the page exists");
    let ready = wait_pod(&server, &pods, "ready", "Ready", |p| condition(p, "Ready") == "True").await;
    assert!(main_status(&ready).unwrap().ready);
    assert_eq!(condition(&ready, "ContainersReady"), "True");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_limit_breach_is_reported_as_oom_killed() {
    if !can_run() {
        return;
    }
    let server = server();
    let pods: Api<Pod> = Api::namespaced(server.client().await, "default");
    // `tail` keeps the last line in memory and /dev/zero has no line ends: it grows until killed.
    let p = pod(
        "hungry",
        json!({"containers": [{
            "name": "main", "image": BUSYBOX, "command": ["tail", "/dev/zero"],
            "resources": {"limits": {"memory": "32Mi"}},
        }]}),
    );
    pods.create(&PostParams::default(), &p).await.unwrap();
    let p = wait_pod(&server, &pods, "hungry", "an OOM kill", |p| {
        main_status(p).is_some_and(|s| {
            let st = s.state.as_ref();
            let now = st.and_then(|s| s.terminated.as_ref());
            let last = s.last_state.as_ref().and_then(|s| s.terminated.as_ref());
            now.or(last).is_some_and(|t| t.reason.as_deref() == Some("OOMKilled"))
        })
    })
    .await;
    let st = main_status(&p).unwrap();
    let t = st.state.as_ref().and_then(|s| s.terminated.clone()).or_else(|| st.last_state.clone()?.terminated).unwrap();
    assert_eq!(t.exit_code, 137);
    let p = wait_pod(&server, &pods, "hungry", "a restart", |p| restarts(p) >= 1).await;
    assert_eq!(phase(&p), "Running");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_runs_the_pre_stop_hook_and_honours_the_grace_period() {
    if !can_run() {
        return;
    }
    let server = server();
    let pods: Api<Pod> = Api::namespaced(server.client().await, "default");
    let shared = server.dir().join("shared");
    std::fs::create_dir_all(&shared).unwrap();
    // The container ignores SIGTERM: only the SIGKILL at the end of its 3 s grace stops it.
    let p = pod(
        "stubborn",
        json!({
            "terminationGracePeriodSeconds": 3,
            "volumes": [{"name": "out", "hostPath": {"path": shared.display().to_string(), "type": "Directory"}}],
            "containers": [{
                "name": "main", "image": BUSYBOX,
                "command": ["sh", "-c", "trap '' TERM; while true; do sleep 0.2; done"],
                "volumeMounts": [{"name": "out", "mountPath": "/out"}],
                "lifecycle": {"preStop": {"exec": {"command": ["sh", "-c", "echo stopping > /out/pre-stop"]}}},
            }],
        }),
    );
    pods.create(&PostParams::default(), &p).await.unwrap();
    wait_pod(&server, &pods, "stubborn", "running", |p| phase(p) == "Running").await;
    let started = std::time::Instant::now();
    pods.delete("stubborn", &DeleteParams::default()).await.unwrap();
    eventually(
        "pod gone",
        WAIT,
        || server.log(),
        || async { pods.get_opt("stubborn").await.unwrap().is_none().then_some(()) },
    )
    .await;
    let took = started.elapsed();
    assert!(took >= Duration::from_secs(3) && took < Duration::from_secs(10), "took {took:?}");
    assert_eq!(std::fs::read_to_string(shared.join("pre-stop")).unwrap(), "stopping\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_logs_and_exec_reach_real_containers() {
    if !can_run() {
        return;
    }
    let kubectls = skiff_e2e::Kubectl::required(&["1.32", "1.33"]);
    let server = server();
    let pods: Api<Pod> = Api::namespaced(server.client().await, "default");
    pods.create(&PostParams::default(), &busybox("once", "echo hello from busybox", "Never")).await.unwrap();
    let script = "i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.2; done";
    pods.create(&PostParams::default(), &busybox("ticker", script, "Always")).await.unwrap();
    wait_pod(&server, &pods, "once", "Succeeded", |p| phase(p) == "Succeeded").await;
    wait_pod(&server, &pods, "ticker", "Running", |p| phase(p) == "Running").await;
    for k in &kubectls {
        let run = server.kubectl(k);
        assert_eq!(run.run(&["logs", "once"]).ok().stdout, "hello from busybox\n");
        // Following a running pod prints new lines as they come.
        let mut follow = run.spawn(&["logs", "-f", "ticker"]);
        let mut out = follow.stdout.take().unwrap();
        let mut seen = String::new();
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while !seen.contains("tick 3") && std::time::Instant::now() < deadline {
            let mut buf = [0u8; 256];
            let n = std::io::Read::read(&mut out, &mut buf).unwrap();
            seen.push_str(&String::from_utf8_lossy(&buf[..n]));
        }
        let _ = follow.kill();
        let _ = follow.wait();
        assert!(seen.starts_with("tick 0\ntick 1\n"), "{seen}");

        let ran = run.run(&["exec", "ticker", "--", "sh", "-c", "echo in $(hostname); exit 3"]);
        assert_eq!((ran.status, ran.stdout.as_str()), (3, "in ticker\n"), "{}", ran.stderr);
        let ran = run.run_stdin(&["exec", "-i", "ticker", "--", "cat"], "piped in\n");
        assert_eq!(ran.stdout, "piped in\n");
        // With a terminal (script gives kubectl one), the command sees a TTY.
        let cmd = format!(
            "{} --kubeconfig {} exec -it ticker -- sh -c 'tty; exit 4'",
            k.path.display(),
            server.kubeconfig().display()
        );
        let out = std::process::Command::new("script").args(["-qec", &cmd, "/dev/null"]).output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("/dev/pts/"), "{text}");
        assert_eq!(out.status.code(), Some(4), "{text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_seed_web_app_runs_on_real_nginx() {
    if !can_run() {
        return;
    }
    let kubectl = skiff_e2e::Kubectl::required(&["1.32"]);
    let server = server();
    let archive = server.dir().join("nginx.tar");
    skiff_e2e::images::nginx_archive(&archive, "nginx:1.24");
    import(&server, &archive);
    for k in &kubectl {
        let run = server.kubectl(k);
        run.run_stdin(&["apply", "-f", "-"], skiff_e2e::SEED_WEB_APP).ok();
        // Readiness waits 5 s before its first probe of /ready on each replica.
        let out = run.run(&["rollout", "status", "deployment/web-app", "--timeout=90s"]).ok();
        assert!(out.stdout.contains("successfully rolled out"), "{}", out.stdout);
        let pods: Api<Pod> = Api::namespaced(server.client().await, "default");
        let list = pods.list(&kube::api::ListParams::default().labels("app=web-app")).await.unwrap();
        assert_eq!(list.items.len(), 3);
        let name = list.items[0].metadata.name.clone().unwrap();
        // nginx answered the probes: its access log (stdout) has them.
        let logs = run.run(&["logs", &name]).ok().stdout;
        assert!(logs.contains("GET /ready HTTP/1.1\" 200"), "{logs}");
        let version = run.run(&["exec", &name, "--", "nginx", "-v"]);
        assert!(version.stderr.contains("nginx version"), "{}", version.stderr);
        run.run(&["delete", "deployment", "web-app", "--wait=true"]).ok();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_attach_reaches_the_containers_own_process() {
    if !can_run() {
        return;
    }
    let kubectl = skiff_e2e::Kubectl::required(&["1.32"]);
    let server = server();
    let pods: Api<Pod> = Api::namespaced(server.client().await, "default");
    let reader = pod(
        "reader",
        json!({"restartPolicy": "Never", "containers": [{
            "name": "main", "image": BUSYBOX, "stdin": true,
            "command": ["sh", "-c", "read line; echo got $line"],
        }]}),
    );
    let shell = pod(
        "shell",
        json!({"restartPolicy": "Never", "containers": [{
            "name": "main", "image": BUSYBOX, "stdin": true, "tty": true, "command": ["sh"],
        }]}),
    );
    pods.create(&PostParams::default(), &reader).await.unwrap();
    pods.create(&PostParams::default(), &shell).await.unwrap();
    wait_pod(&server, &pods, "reader", "running", |p| phase(p) == "Running").await;
    wait_pod(&server, &pods, "shell", "running", |p| phase(p) == "Running").await;
    for k in &kubectl {
        let run = server.kubectl(k);
        // Without a terminal: stdin reaches the process, its output comes back, and the
        // session ends with it.
        let ran = run.run_stdin(&["attach", "-i", "reader"], "hello\n");
        assert!(ran.stdout.contains("got hello"), "{ran:?}");
        wait_pod(&server, &pods, "reader", "Succeeded", |p| phase(p) == "Succeeded").await;

        // With a terminal (script gives kubectl one): a real shell session.
        let cmd = format!("{} --kubeconfig {} attach -it shell", k.path.display(), server.kubeconfig().display());
        let mut child = std::process::Command::new("script")
            .args(["-qec", &cmd, "/dev/null"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut input = child.stdin.take().unwrap();
        std::thread::sleep(Duration::from_millis(1500));
        std::io::Write::write_all(&mut input, b"echo attached-$((40+2)); tty; exit\n").unwrap();
        let out = child.wait_with_output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("attached-42"), "{text}");
        assert!(text.contains("/dev/pts/"), "{text}");
        wait_pod(&server, &pods, "shell", "Succeeded", |p| phase(p) == "Succeeded").await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runtime_classes_choose_the_oci_runtime() {
    if !can_run() {
        return;
    }
    let server = server();
    let client = server.client().await;
    let classes: Api<k8s_openapi::api::node::v1::RuntimeClass> = Api::all(client.clone());
    for (name, handler) in [("plain", "runc"), ("missing", "no-such-runtime")] {
        let rc = serde_json::from_value(json!({"metadata": {"name": name}, "handler": handler})).unwrap();
        classes.create(&PostParams::default(), &rc).await.unwrap();
    }
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let mut p = busybox("classy", "echo ran", "Never");
    p.spec.as_mut().unwrap().runtime_class_name = Some("plain".into());
    pods.create(&PostParams::default(), &p).await.unwrap();
    let done = wait_pod(&server, &pods, "classy", "Succeeded", |p| phase(p) == "Succeeded").await;
    assert!(main_status(&done).unwrap().container_id.as_deref().unwrap_or_default().starts_with("runc://"));

    // A handler this node lacks: the pod waits, and an event says why.
    let mut p = busybox("stuck", "echo never", "Never");
    p.spec.as_mut().unwrap().runtime_class_name = Some("missing".into());
    pods.create(&PostParams::default(), &p).await.unwrap();
    let events: Api<k8s_openapi::api::core::v1::Event> = Api::namespaced(client, "default");
    let message = eventually(
        "FailedCreatePodSandBox event",
        WAIT,
        || server.log(),
        || async {
            let list = events.list(&kube::api::ListParams::default()).await.ok()?;
            list.items
                .into_iter()
                .find(|e| e.reason.as_deref() == Some("FailedCreatePodSandBox"))
                .and_then(|e| e.message)
        },
    )
    .await;
    assert!(message.contains("RuntimeHandler \"no-such-runtime\" not supported"), "{message}");
    assert_eq!(phase(&pods.get("stuck").await.unwrap()), "Pending");
}
