//! `skiff agent` joining a machine to a cluster with the server's token (as root): the node
//! registers and runs pods whose logs reach kubectl through the API server, a wrong token or a
//! token pinning another CA is refused in one line, and a restarted agent reuses its
//! certificates instead of joining again.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{Api, PostParams};
use serde_json::json;
use skiff_e2e::images::{ArchiveFormat, busybox_archive};
use skiff_e2e::{Kubectl, Server, eventually, free_port};

const BIN: &str = env!("CARGO_BIN_EXE_skiff");
const WAIT: Duration = Duration::from_secs(40);
const NODE: &str = "worker-1";

fn can_run() -> bool {
    skiff_e2e::root_or_skip("the join test")
}

/// A `skiff agent` process. Dropping it kills the agent and its containers (`skiff killall`),
/// also when the test fails.
struct Agent {
    args: Vec<String>,
    data_dir: PathBuf,
    log: PathBuf,
    child: Option<Child>,
}

impl Agent {
    fn new(server_url: &str, token: &str, dir: &Path, kubelet_port: u16) -> Agent {
        std::fs::create_dir_all(dir).expect("agent dir");
        let data_dir = dir.join("data");
        let args = [
            "agent",
            "--server",
            server_url,
            "--token",
            token,
            "--data-dir",
            &data_dir.display().to_string(),
            "--node-name",
            NODE,
            "--node-ip",
            "127.0.0.1",
            "--kubelet-port",
            &kubelet_port.to_string(),
            "--pod-log-dir",
            &dir.join("logs").display().to_string(),
        ]
        .map(String::from)
        .to_vec();
        Agent { args, data_dir, log: dir.join("agent.log"), child: None }
    }

    /// Start the process (again), its output appended to the log.
    fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(&self.log).expect("agent log");
        let child = Command::new(BIN)
            .args(&self.args)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log fd"))
            .stderr(log)
            .spawn()
            .expect("spawn skiff agent");
        self.child = Some(child);
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGTERM, as systemd stops it; SIGKILL if it lingers.
    fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = Command::new("kill").arg("-TERM").arg(c.id().to_string()).status();
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline && c.try_wait().ok().flatten().is_none() {
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = Command::new(BIN).arg("killall").arg("--data-dir").arg(&self.data_dir).status();
    }
}

/// Run `skiff agent` expecting it to fail at once; its stderr.
fn refused_agent(server_url: &str, token: &str, dir: &Path) -> String {
    let out = Command::new(BIN)
        .args(["agent", "--server", server_url, "--token", token, "--data-dir"])
        .arg(dir.join("data"))
        .args(["--node-name", "intruder", "--node-ip", "127.0.0.1", "--kubelet-port"])
        .arg(free_port().to_string())
        .output()
        .expect("run skiff agent");
    assert!(!out.status.success(), "the agent should have been refused");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn context(agent: &Agent, server: &Server) -> String {
    format!("agent:\n{}\nserver:\n{}", agent.log(), server.log())
}

fn phase(p: &Pod) -> &str {
    p.status.as_ref().and_then(|s| s.phase.as_deref()).unwrap_or("")
}

fn ready(n: &Node) -> bool {
    n.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_joins_with_the_token_and_runs_pods() {
    if !can_run() {
        return;
    }
    let server = Server::start(Path::new(BIN));
    let url = format!("https://127.0.0.1:{}", server.port);
    let token_file = server.data_dir().join("server/token");
    let token = std::fs::read_to_string(&token_file).expect("the server keeps its token").trim().to_string();
    assert!(token.starts_with("K10") && token.contains("::server:"), "{token}");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&token_file).unwrap().permissions().mode() & 0o777, 0o600);
    assert!(server.log().contains(&token), "the server prints its token at start");

    // Wrong secret, and a token pinning another CA: refused in one line, no node.
    let wrong = format!("{}::server:wrong", token.split("::").next().unwrap());
    let err = refused_agent(&url, &wrong, &server.dir().join("intruder"));
    assert_eq!(err, format!("skiff: joining {url}: the server refused the token\n"));
    let other_ca = format!("K10{}::server:{}", "0".repeat(64), token.split("::server:").nth(1).unwrap());
    let err = refused_agent(&url, &other_ca, &server.dir().join("intruder"));
    assert!(err.starts_with(&format!("skiff: joining {url}: the server's CA is not the one the token pins")), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");

    let worker = server.dir().join("worker");
    let mut agent = Agent::new(&url, &token, &worker, free_port());
    agent.spawn();
    let nodes: Api<Node> = Api::all(server.client().await);
    eventually(
        "node worker-1 Ready",
        WAIT,
        || context(&agent, &server),
        || async { nodes.get_opt(NODE).await.ok().flatten().filter(ready) },
    )
    .await;
    assert!(nodes.get_opt("intruder").await.unwrap().is_none());
    let node = nodes.get(NODE).await.unwrap();
    let labels = node.metadata.labels.unwrap_or_default();
    assert!(!labels.contains_key("node-role.kubernetes.io/control-plane"), "{labels:?}");

    // A pod on the joined node; its logs come through the API server's proxy, which checks the
    // agent's serving certificate against the cluster CA.
    let archive = worker.join("busybox.tar");
    busybox_archive(&archive, "busybox:latest", ArchiveFormat::DockerSave);
    let out =
        Command::new(BIN).args(["images", "import", "--data-dir"]).arg(&agent.data_dir).arg(&archive).output().unwrap();
    assert!(out.status.success(), "import failed: {}", String::from_utf8_lossy(&out.stderr));
    let pods: Api<Pod> = Api::namespaced(server.client().await, "default");
    let pod: Pod = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "hello"},
        "spec": {"nodeName": NODE, "restartPolicy": "Never", "terminationGracePeriodSeconds": 1,
                 "containers": [{"name": "main", "image": "busybox", "imagePullPolicy": "IfNotPresent", "command": ["sh", "-c", "echo hello from $(hostname)"]}]},
    }))
    .unwrap();
    pods.create(&PostParams::default(), &pod).await.unwrap();
    // The pod's last status goes into the failure message.
    let seen = std::sync::Mutex::new(String::new());
    let pod_context = || format!("pod status: {}\n{}", seen.lock().unwrap(), context(&agent, &server));
    eventually("pod Succeeded", WAIT, pod_context, || async {
        let p = pods.get_opt("hello").await.ok().flatten()?;
        *seen.lock().unwrap() = serde_json::to_string(&p.status).unwrap_or_default();
        (phase(&p) == "Succeeded").then_some(p)
    })
    .await;
    let kubectl =
        Kubectl::find("1.33").unwrap_or(Kubectl { path: "/usr/bin/kubectl".into(), version: "default".into() });
    let logs = server.kubectl(&kubectl).run(&["logs", "hello"]).ok();
    assert_eq!(logs.stdout, "hello from hello\n");

    // A restart reuses the certificates: no second join.
    let cert = std::fs::read_to_string(agent.data_dir.join("agent/client-kubelet.crt")).unwrap();
    agent.stop();
    agent.spawn();
    eventually(
        "the restarted agent running",
        WAIT,
        || context(&agent, &server),
        || async { (agent.log().matches("skiff agent running").count() == 2).then_some(()) },
    )
    .await;
    assert!(agent.log().contains("using the certificates in"), "{}", agent.log());
    assert_eq!(server.log().matches("node joined").count(), 1, "{}", server.log());
    assert_eq!(std::fs::read_to_string(agent.data_dir.join("agent/client-kubelet.crt")).unwrap(), cert);
    let logs = server.kubectl(&kubectl).run(&["logs", "hello"]).ok();
    assert_eq!(logs.stdout, "hello from hello\n");
}
