//! The server over real TLS with a fake pod manager: logs from a file, exec running `sh` on the
//! host, clients with and without a certificate from the CA.

use std::sync::Arc;

use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use http_body_util::{BodyExt, Empty};
use rcgen::{BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use super::*;
use crate::logs::Stream;
use crate::logs::writer::LogWriter;

struct Pems {
    ca: String,
    server: (String, String),
    client: (String, String),
    stranger: (String, String),
    /// From the cluster CA, but a node's (group system:nodes), not the API server's.
    node: (String, String),
}

fn pems() -> Pems {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::default();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name.push(DnType::CommonName, "test-ca");
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca, ca_key);
    let leaf_in = |issuer: &Issuer<'_, KeyPair>, sans: Vec<String>, usage, group: &str| {
        let key = KeyPair::generate().unwrap();
        let mut p = CertificateParams::new(sans).unwrap();
        p.extended_key_usages = vec![usage];
        p.distinguished_name.push(DnType::OrganizationName, group);
        p.distinguished_name.push(DnType::CommonName, "leaf");
        (p.signed_by(&key, issuer).unwrap().pem(), key.serialize_pem())
    };
    let leaf = |issuer: &Issuer<'_, KeyPair>, sans: Vec<String>, usage| leaf_in(issuer, sans, usage, "system:masters");
    let other_key = KeyPair::generate().unwrap();
    let mut other = CertificateParams::default();
    other.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let other = Issuer::new(other, other_key);
    Pems {
        ca: ca_cert.pem(),
        server: leaf(&issuer, vec!["127.0.0.1".into()], ExtendedKeyUsagePurpose::ServerAuth),
        client: leaf(&issuer, vec![], ExtendedKeyUsagePurpose::ClientAuth),
        stranger: leaf(&other, vec![], ExtendedKeyUsagePurpose::ClientAuth),
        node: leaf_in(&issuer, vec![], ExtendedKeyUsagePurpose::ClientAuth, "system:nodes"),
    }
}

/// Logs of `default/web/app` come from a file; exec runs the command with `sh` on the host.
struct Fake {
    log: std::path::PathBuf,
    running: watch::Receiver<bool>,
}

impl PodStreams for Fake {
    fn log_file(&self, _ns: &str, pod: &str, container: &str, _previous: bool) -> Result<LogFile, StreamError> {
        match (pod, container) {
            ("web", "app") => Ok(LogFile { path: self.log.clone(), running: self.running.clone() }),
            ("web", "init") => Err(StreamError::BadRequest(
                "container \"init\" in pod \"web\" is waiting to start: ContainerCreating".into(),
            )),
            _ => Err(StreamError::NotFound(format!("container {container:?} not found in pod {pod:?}"))),
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
                .map_err(|e| StreamError::Internal(e.to_string()))?;
            let (tx, exit) = oneshot::channel();
            let process = ExecProcess {
                stdin: child.stdin.take().map(|s| Box::new(s) as _),
                stdout: Box::new(child.stdout.take().unwrap()),
                stderr: child.stderr.take().map(|s| Box::new(s) as _),
                resize: None,
                exit,
            };
            tokio::spawn(async move {
                let status = child.wait().await.map(|s| s.code().unwrap_or(255)).unwrap_or(255);
                let _ = tx.send(status);
            });
            Ok(process)
        })
    }
}

struct Agent {
    addr: std::net::SocketAddr,
    pems: Pems,
    running: watch::Sender<bool>,
    writer: LogWriter,
    _dir: tempfile::TempDir,
    _stop: watch::Sender<bool>,
}

async fn agent() -> Agent {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app/0.log");
    let mut writer = LogWriter::open(log.clone(), 1 << 20).unwrap();
    writer.line(Stream::Stdout, b"hello", false).unwrap();
    writer.line(Stream::Stderr, b"world", false).unwrap();
    let (running, running_rx) = watch::channel(true);
    let pems = pems();
    let tls =
        ServerTls { cert_pem: pems.server.0.clone(), key_pem: pems.server.1.clone(), client_ca_pem: pems.ca.clone() };
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stop_rx) = watch::channel(false);
    tokio::spawn(serve(listener, tls, Arc::new(Fake { log, running: running_rx }), stop_rx));
    Agent { addr, pems, running, writer, _dir: dir, _stop: stop }
}

type Tls = tokio_rustls::client::TlsStream<tokio::net::TcpStream>;

async fn connect(a: &Agent, cert: Option<&(String, String)>) -> std::io::Result<Tls> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    roots.add(CertificateDer::from_pem_slice(a.pems.ca.as_bytes()).unwrap()).unwrap();
    let b = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
    let cfg = match cert {
        Some((c, k)) => b
            .with_client_auth_cert(
                vec![CertificateDer::from_pem_slice(c.as_bytes()).unwrap()],
                PrivateKeyDer::from_pem_slice(k.as_bytes()).unwrap(),
            )
            .unwrap(),
        None => b.with_no_client_auth(),
    };
    let tcp = tokio::net::TcpStream::connect(a.addr).await?;
    let name = ServerName::try_from("127.0.0.1").unwrap();
    tokio_rustls::TlsConnector::from(Arc::new(cfg)).connect(name, tcp).await
}

/// GET `path`: the status and, unless following, the whole body; following returns the body
/// to read from.
async fn get(a: &Agent, cert: Option<&(String, String)>, path: &str) -> Result<(u16, hyper::body::Incoming), String> {
    let tls = connect(a, cert).await.map_err(|e| e.to_string())?;
    let (mut send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls)).await.map_err(|e| e.to_string())?;
    tokio::spawn(conn);
    let req = Request::get(path).header("host", "agent").body(Empty::<Bytes>::new()).unwrap();
    let resp = send.send_request(req).await.map_err(|e| e.to_string())?;
    Ok((resp.status().as_u16(), resp.into_body()))
}

async fn text(body: hyper::body::Incoming) -> String {
    String::from_utf8(body.collect().await.unwrap().to_bytes().to_vec()).unwrap()
}

#[tokio::test]
async fn clients_need_a_certificate_from_the_cluster_ca() {
    let a = agent().await;
    let without = get(&a, None, "/containerLogs/default/web/app").await;
    assert!(without.is_err(), "no certificate must be refused");
    let stranger = get(&a, Some(&a.pems.stranger), "/containerLogs/default/web/app").await;
    assert!(stranger.is_err(), "a certificate from another CA must be refused");
    let node = get(&a, Some(&a.pems.node), "/containerLogs/default/web/app").await;
    assert!(node.is_err(), "another node's certificate must be refused");
    let (status, _) = get(&a, Some(&a.pems.client), "/containerLogs/default/web/app").await.unwrap();
    assert_eq!(status, 200);
}

#[tokio::test]
async fn serves_logs_and_kubelets_errors() {
    let a = agent().await;
    let c = Some(&a.pems.client);
    let (status, body) = get(&a, c, "/containerLogs/default/web/app").await.unwrap();
    assert_eq!((status, text(body).await.as_str()), (200, "hello\nworld\n"));
    let (_, body) = get(&a, c, "/containerLogs/default/web/app?tailLines=1&limitBytes=3").await.unwrap();
    assert_eq!(text(body).await, "wor");
    let (status, body) = get(&a, c, "/containerLogs/default/web/nope").await.unwrap();
    assert_eq!((status, text(body).await.as_str()), (404, "container \"nope\" not found in pod \"web\"\n"));
    let (status, body) = get(&a, c, "/containerLogs/default/web/init").await.unwrap();
    assert_eq!(status, 400);
    assert!(text(body).await.contains("is waiting to start: ContainerCreating"));
    let (status, _) = get(&a, c, "/containerLogs/default/web/app?tailLines=-1").await.unwrap();
    assert_eq!(status, 422);
    let (status, _) = get(&a, c, "/containerLogs/default/web/app?sinceSeconds=x").await.unwrap();
    assert_eq!(status, 400);
}

#[tokio::test]
async fn follow_streams_until_the_container_stops() {
    let mut a = agent().await;
    let (status, mut body) =
        get(&a, Some(&a.pems.client), "/containerLogs/default/web/app?follow=true&tailLines=1").await.unwrap();
    assert_eq!(status, 200);
    let mut seen = String::new();
    let next = async |body: &mut hyper::body::Incoming| {
        let f = tokio::time::timeout(Duration::from_secs(2), body.frame()).await.expect("a frame in time");
        f.map(|f| String::from_utf8(f.unwrap().into_data().unwrap().to_vec()).unwrap())
    };
    seen.push_str(&next(&mut body).await.unwrap());
    assert_eq!(seen, "world\n");
    a.writer.line(Stream::Stdout, b"more", false).unwrap();
    seen.push_str(&next(&mut body).await.unwrap());
    assert_eq!(seen, "world\nmore\n");
    a.running.send(false).unwrap();
    assert_eq!(next(&mut body).await, None, "the stream ends with the container");
}

type Ws = tokio_tungstenite::WebSocketStream<Tls>;

async fn exec(a: &Agent, query: &str, protocol: &str) -> Ws {
    let tls = connect(a, Some(&a.pems.client)).await.unwrap();
    let mut req = format!("wss://127.0.0.1/exec/default/web/app?{query}").into_client_request().unwrap();
    req.headers_mut().insert("Sec-WebSocket-Protocol", protocol.parse().unwrap());
    let (ws, resp) = tokio_tungstenite::client_async(req, tls).await.unwrap();
    assert_eq!(resp.headers()["sec-websocket-protocol"], protocol.split(',').next().unwrap().trim());
    ws
}

/// Everything the server sends until it closes: (channel, bytes) joined per channel.
async fn drain(ws: &mut Ws) -> std::collections::BTreeMap<u8, String> {
    let mut by_channel = std::collections::BTreeMap::new();
    while let Some(m) = tokio::time::timeout(Duration::from_secs(5), ws.next()).await.expect("server answers") {
        match m {
            Ok(Message::Binary(b)) => {
                let e: &mut String = by_channel.entry(b[0]).or_default();
                e.push_str(std::str::from_utf8(&b[1..]).unwrap());
            }
            Ok(Message::Close(_)) | Err(_) => break,
            Ok(_) => {}
        }
    }
    by_channel
}

#[tokio::test]
async fn exec_reports_output_and_exit_status_over_v5_and_v4() {
    let a = agent().await;
    let q = "command=sh&command=-c&command=echo+out%3B+echo+err+%3E%262%3B+exit+3&stdout=true&stderr=true";
    let mut ws = exec(&a, q, "v5.channel.k8s.io, v4.channel.k8s.io").await;
    let got = drain(&mut ws).await;
    assert_eq!(got[&1], "out\n");
    assert_eq!(got[&2], "err\n");
    let status: serde_json::Value = serde_json::from_str(&got[&3]).unwrap();
    assert_eq!(status["reason"], "NonZeroExitCode");
    assert_eq!(status["details"]["causes"][0]["message"], "3");
    assert_eq!(
        status["message"],
        "command terminated with non-zero exit code: error executing command [sh -c echo out; echo err >&2; exit 3], exit code 3"
    );

    let mut ws = exec(&a, "command=true&stdout=1", "v4.channel.k8s.io").await;
    let got = drain(&mut ws).await;
    assert_eq!(got[&3], r#"{"metadata":{},"status":"Success"}"#);
}

#[tokio::test]
async fn exec_passes_stdin_until_the_client_closes_it() {
    let a = agent().await;
    let mut ws = exec(&a, "command=cat&stdin=true&stdout=true&stderr=true", "v5.channel.k8s.io").await;
    ws.send(Message::Binary(Bytes::from_static(b"\x00hello "))).await.unwrap();
    ws.send(Message::Binary(Bytes::from_static(b"\x00stdin"))).await.unwrap();
    ws.send(Message::Binary(Bytes::from_static(&[255, 0]))).await.unwrap();
    let got = drain(&mut ws).await;
    assert_eq!(got[&1], "hello stdin");
    assert_eq!(got[&3], r#"{"metadata":{},"status":"Success"}"#);
}

#[tokio::test]
async fn exec_errors_are_plain_http_answers() {
    let a = agent().await;
    let tls = connect(&a, Some(&a.pems.client)).await.unwrap();
    let req = "wss://127.0.0.1/exec/default/web/app?command=ls&stdout=1".into_client_request().unwrap();
    let mut req = req;
    req.headers_mut().insert("Sec-WebSocket-Protocol", "SPDY/3.1".parse().unwrap());
    match tokio_tungstenite::client_async(req, tls).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(r)) => assert_eq!(r.status(), 400),
        other => panic!("expected a 400, got {:?}", other.map(|(_, r)| r.status())),
    }
    let (status, body) = get(&a, Some(&a.pems.client), "/exec/default/web/app?command=ls&stdout=1").await.unwrap();
    assert_eq!(status, 400);
    assert!(text(body).await.contains("WebSocket"));
}
