//! `kubectl logs` and `kubectl exec` through a real skiff server to a node agent's HTTPS server
//! run in the test with a fake pod manager (logs from a file, exec running `sh` on the host). The
//! agent's serving certificate is issued from the server's CA, and the agent accepts only
//! clients with a certificate from it: the API server's kubelet-client certificate.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::json;
use skiff_agent::logs::Stream;
use skiff_agent::logs::writer::LogWriter;
use skiff_agent::server::{ExecProcess, LogFile, PodStreams, ServerTls, StreamError};
use skiff_apiserver::pki::{self, ExtendedKeyUsagePurpose};
use skiff_e2e::{Kubectl, Server};
use tokio::sync::{oneshot, watch};

/// Logs of pod `web` (container `app`) come from one file; exec runs the command on the host.
struct Fake {
    log: PathBuf,
    running: watch::Receiver<bool>,
}

impl PodStreams for Fake {
    fn log_file(&self, _ns: &str, pod: &str, container: &str, _previous: bool) -> Result<LogFile, StreamError> {
        match (pod, container) {
            ("web", "app") => Ok(LogFile { path: self.log.clone(), running: self.running.clone() }),
            _ => Err(StreamError::BadRequest(format!(
                "container {container:?} in pod {pod:?} is waiting to start: ContainerCreating"
            ))),
        }
    }

    fn exec(
        &self,
        _ns: &str,
        _pod: &str,
        _container: &str,
        command: Vec<String>,
        _tty: bool,
        stdin: bool,
    ) -> futures::future::BoxFuture<'static, Result<ExecProcess, StreamError>> {
        Box::pin(async move {
            let mut child = tokio::process::Command::new(&command[0])
                .args(&command[1..])
                .stdin(if stdin { std::process::Stdio::piped() } else { std::process::Stdio::null() })
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .map_err(|e| StreamError::BadRequest(format!("starting {command:?}: {e}")))?;
            let (tx, exit) = oneshot::channel();
            let process = ExecProcess {
                stdin: child.stdin.take().map(|s| Box::new(s) as _),
                stdout: Box::new(child.stdout.take().expect("piped")),
                stderr: child.stderr.take().map(|s| Box::new(s) as _),
                resize: None,
                exit,
            };
            tokio::spawn(async move {
                let code = child.wait().await.ok().and_then(|s| s.code()).unwrap_or(255);
                let _ = tx.send(code);
            });
            Ok(process)
        })
    }
}

/// A running agent server: the log it serves and the switch that ends the container's run.
struct Agent {
    writer: LogWriter,
    running: watch::Sender<bool>,
    port: u16,
}

fn start_agent(rt: &tokio::runtime::Runtime, server: &Server) -> Agent {
    let tls_dir = server.data_dir().join("server").join("tls");
    let ca = pki::load_ca(&tls_dir).expect("read the CA").expect("the server made a CA");
    let serving = pki::issue(&ca, "node-1", &[], &["127.0.0.1".to_string()], ExtendedKeyUsagePurpose::ServerAuth)
        .expect("issue the agent's certificate");
    let log = server.dir().join("agent-logs").join("app").join("0.log");
    let mut writer = LogWriter::open(log.clone(), 1 << 20).unwrap();
    for line in ["one", "two", "three"] {
        writer.line(Stream::Stdout, line.as_bytes(), false).unwrap();
    }
    let (running, running_rx) = watch::channel(true);
    let listener = rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
    let port = listener.local_addr().unwrap().port();
    let tls = ServerTls { cert_pem: serving.cert_pem, key_pem: serving.key_pem, client_ca_pem: ca.cert_pem };
    let (stop, stop_rx) = watch::channel(false);
    std::mem::forget(stop);
    rt.spawn(skiff_agent::server::serve(listener, tls, Arc::new(Fake { log, running: running_rx }), stop_rx));
    Agent { writer, running, port }
}

async fn register(server: &Server, port: u16) {
    let client = server.client().await;
    let nodes: Api<Node> = Api::all(client.clone());
    let node: Node = serde_json::from_value(json!({"metadata": {"name": "node-1"}})).unwrap();
    nodes.create(&PostParams::default(), &node).await.unwrap();
    let status = json!({"status": {
        "addresses": [{"type": "Hostname", "address": "node-1"}, {"type": "InternalIP", "address": "127.0.0.1"}],
        "daemonEndpoints": {"kubeletEndpoint": {"Port": port}},
    }});
    nodes.patch_status("node-1", &PatchParams::default(), &Patch::Merge(&status)).await.unwrap();
    let pods: Api<Pod> = Api::namespaced(client, "default");
    for (name, node) in [("web", Some("node-1")), ("pending", None)] {
        let mut pod = json!({
            "metadata": {"name": name},
            "spec": {"containers": [{"name": "app", "image": "busybox"}], "schedulerName": "none"},
        });
        if let Some(n) = node {
            pod["spec"]["nodeName"] = n.into();
        }
        pods.create(&PostParams::default(), &serde_json::from_value(pod).unwrap()).await.unwrap();
    }
}

#[test]
fn kubectl_logs_and_exec_reach_the_agent() {
    let server = Server::start(std::path::Path::new(env!("CARGO_BIN_EXE_skiff")));
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let mut agent = start_agent(&rt, &server);
    rt.block_on(register(&server, agent.port));
    let kubectl = Kubectl { path: PathBuf::from("/usr/bin/kubectl"), version: "1.32".into() };
    let k = server.kubectl(&kubectl);

    // Logs: whole, tail, timestamps, errors.
    assert_eq!(k.run(&["logs", "web"]).ok().stdout, "one\ntwo\nthree\n");
    assert_eq!(k.run(&["logs", "web", "--tail=1"]).ok().stdout, "three\n");
    let stamped = k.run(&["logs", "web", "--timestamps", "--tail=2"]).ok().stdout;
    let lines: Vec<&str> = stamped.lines().collect();
    assert_eq!(lines.len(), 2, "{stamped}");
    for (line, text) in lines.iter().zip(["two", "three"]) {
        let (time, rest) = line.split_once(' ').unwrap();
        assert!(time.len() > 20 && time.contains('T') && time.ends_with('Z'), "{line}");
        assert_eq!(rest, text);
    }
    let bad = k.run(&["logs", "web", "-c", "nope"]).fails();
    assert!(bad.stderr.contains("container nope is not valid for pod web"), "{}", bad.stderr);
    assert_eq!(k.run(&["logs", "pending"]).ok().stdout, "", "an unscheduled pod has no log yet");

    // Following: new lines arrive while the container runs; the stream ends with it.
    let mut follow = k.spawn(&["logs", "-f", "web", "--tail=1"]);
    let mut out = BufReader::new(follow.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    assert_eq!(line, "three\n");
    let t0 = Instant::now();
    agent.writer.line(Stream::Stdout, b"four", false).unwrap();
    line.clear();
    out.read_line(&mut line).unwrap();
    assert_eq!(line, "four\n");
    assert!(t0.elapsed() < Duration::from_secs(1), "a followed line took {:?}", t0.elapsed());
    agent.running.send(false).unwrap();
    let status = follow.wait().unwrap();
    assert!(status.success(), "kubectl logs -f ends when the container does");

    // Exec: output, exit codes, stdin.
    let ran = k.run(&["exec", "web", "--", "sh", "-c", "echo out; echo err >&2"]).ok();
    assert_eq!((ran.stdout.as_str(), ran.stderr.as_str()), ("out\n", "err\n"));
    let failed = k.run(&["exec", "web", "--", "sh", "-c", "exit 3"]);
    assert_eq!(failed.status, 3, "kubectl exits with the command's code: {failed:?}");
    let echoed = k.run_stdin(&["exec", "-i", "web", "--", "cat"], "hello\nstdin\n").ok();
    assert_eq!(echoed.stdout, "hello\nstdin\n");
    let unbound = k.run(&["exec", "pending", "--", "true"]).fails();
    assert!(unbound.stderr.contains("pod pending does not have a host assigned"), "{}", unbound.stderr);
    let missing = k.run(&["exec", "web", "--", "/no/such/binary"]).fails();
    assert!(missing.stderr.contains("/no/such/binary"), "{}", missing.stderr);

    // Every kubectl that speaks WebSocket (1.30 on) gets the exit code and stdin through.
    for kubectl in Kubectl::required(&["1.30", "1.31", "1.33"]) {
        let k = server.kubectl(&kubectl);
        let failed = k.run(&["exec", "web", "--", "sh", "-c", "exit 7"]);
        assert_eq!(failed.status, 7, "kubectl {}: {failed:?}", kubectl.version);
        let echoed = k.run_stdin(&["exec", "-i", "web", "--", "cat"], "hi\n").ok();
        assert_eq!(echoed.stdout, "hi\n", "kubectl {}", kubectl.version);
    }
}
