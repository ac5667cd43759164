//! `pods/log`, `pods/exec` and `pods/attach`: checked here as upstream's pod registry does
//! (which container, is the pod on a node), then proxied to that node's agent over TLS: the
//! agent's serving certificate must come from the cluster CA, and the API server presents its
//! kubelet-client certificate.
//!
//! Logs stream back as text. Exec and attach upgrade the connection: the agent's `101` is passed
//! on to the client and bytes are copied both ways, so the WebSocket protocol lives in the agent
//! alone. An agent's refusal of an upgrade reaches the client as the agent wrote it, as
//! upstream's upgrade-aware proxy does (kubectl prints it after "unable to upgrade connection").

use skiff_api::urlencoding::decode_form;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use serde_json::Value;
use skiff_api::resources::{Subresource, registry};
use skiff_api::{ApiError, FieldError, FieldPath, Qualified};
use tokio::sync::mpsc;

use crate::ApiServer;
use crate::http::Body;
use crate::http::server::TlsError;
use crate::pki::Pki;

/// Connecting and the TLS handshake with an agent together.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// kubelet's default port, for a Node that does not say.
const DEFAULT_AGENT_PORT: u64 = 10250;
/// The most of an agent's error answer that is kept.
const MAX_ERROR_BYTES: usize = 64 * 1024;

/// The TLS client for agents: the cluster CA as the only root, the kubelet-client certificate.
pub fn client_tls(pki: &Pki) -> Result<Arc<rustls::ClientConfig>, TlsError> {
    let pem_err = |e: rustls::pki_types::pem::Error| TlsError::Pem(e.to_string());
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(pki.ca.cert_pem.as_bytes()).map_err(pem_err)?)
        .map_err(|e| TlsError::Config(e.to_string()))?;
    let chain = vec![CertificateDer::from_pem_slice(pki.kubelet_client.cert_pem.as_bytes()).map_err(pem_err)?];
    let key = PrivateKeyDer::from_pem_slice(pki.kubelet_client.key_pem.as_bytes()).map_err(pem_err)?;
    let mut cfg = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Config(e.to_string()))?
        .with_root_certificates(roots)
        .with_client_auth_cert(chain, key)
        .map_err(|e| TlsError::Config(e.to_string()))?;
    // Upgrades need HTTP/1.1.
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(cfg))
}

/// Serve `pods/{name}/{log|exec|attach}`.
pub async fn handle<B>(
    api: Arc<ApiServer>,
    mut req: Request<B>,
    namespace: &str,
    name: &str,
    sub: Subresource,
) -> Result<Response<Body>, ApiError> {
    let method = req.method().clone();
    let allowed = match sub {
        Subresource::Log => method == Method::GET,
        _ => method == Method::GET || method == Method::POST,
    };
    if !allowed {
        return Err(ApiError::method_not_allowed(format!(
            "the server does not allow this method on the requested resource ({method} pods/{})",
            sub.name()
        )));
    }
    let query = pairs(req.uri().query());
    let pod = pod(&api, namespace, name).await?;
    let container = container(&pod, first(&query, "container"))?;
    let agent_query = match sub {
        Subresource::Log => log_query(&query, name)?,
        _ => stream_query(&query, sub)?,
    };
    let node_name = pod["spec"]["nodeName"].as_str().unwrap_or("");
    if node_name.is_empty() {
        if sub == Subresource::Log {
            // Upstream answers an unscheduled pod's log with nothing.
            return Ok(text_response(StatusCode::OK, Bytes::new()));
        }
        return Err(ApiError::bad_request(format!("pod {name} does not have a host assigned")));
    }
    let (host, port) = agent_address(&api, node_name).await?;
    let verb = match sub {
        Subresource::Log => "containerLogs",
        Subresource::Exec => "exec",
        _ => "attach",
    };
    let path = format!("/{verb}/{namespace}/{name}/{container}");
    let target = Target {
        host,
        port,
        path_and_query: if agent_query.is_empty() { path } else { format!("{path}?{agent_query}") },
    };

    if sub == Subresource::Log {
        return proxy_log(&api, &target).await;
    }
    let client_upgrade = hyper::upgrade::on(&mut req);
    proxy_upgrade(&api, &target, &method, req.headers(), client_upgrade).await
}

/// Where on which agent a request goes.
struct Target {
    host: IpOrName,
    port: u16,
    path_and_query: String,
}

enum IpOrName {
    Ip(IpAddr),
    Name(String),
}

impl Target {
    fn authority(&self) -> String {
        match &self.host {
            IpOrName::Ip(IpAddr::V6(ip)) => format!("[{ip}]:{}", self.port),
            IpOrName::Ip(ip) => format!("{ip}:{}", self.port),
            IpOrName::Name(n) => format!("{n}:{}", self.port),
        }
    }

    fn url(&self) -> String {
        format!("https://{}{}", self.authority(), self.path_and_query)
    }
}

async fn pod(api: &ApiServer, namespace: &str, name: &str) -> Result<Value, ApiError> {
    let info = registry().get("", "v1", "pods").ok_or_else(|| ApiError::internal("pods are not served"))?;
    match api.current(info, namespace, name).await? {
        Some(p) => Ok(p.value()),
        None => Err(ApiError::not_found(&Qualified::new("", "pods"), name)),
    }
}

/// The container a request means, as upstream picks it: the one given (which must exist,
/// among init and ephemeral containers too), else the pod's only container, else the one the
/// `kubectl.kubernetes.io/default-container` annotation names.
fn container(pod: &Value, given: Option<&str>) -> Result<String, ApiError> {
    let name = pod["metadata"]["name"].as_str().unwrap_or("");
    let names = |field: &str| -> Vec<String> {
        pod["spec"][field]
            .as_array()
            .map(|cs| cs.iter().filter_map(|c| c["name"].as_str().map(String::from)).collect())
            .unwrap_or_default()
    };
    let (init, main, ephemeral) = (names("initContainers"), names("containers"), names("ephemeralContainers"));
    let all: Vec<String> = init.into_iter().chain(main.iter().cloned()).chain(ephemeral).collect();
    if let Some(c) = given.filter(|c| !c.is_empty()) {
        if !all.iter().any(|n| n == c) {
            return Err(ApiError::bad_request(format!("container {c} is not valid for pod {name}")));
        }
        return Ok(c.to_string());
    }
    if let [only] = main.as_slice() {
        return Ok(only.clone());
    }
    let annotated = pod["metadata"]["annotations"]["kubectl.kubernetes.io/default-container"].as_str();
    if let Some(c) = annotated.filter(|c| main.iter().any(|n| n == c)) {
        return Ok(c.to_string());
    }
    if main.is_empty() {
        return Err(ApiError::bad_request(format!("a container name must be specified for pod {name}")));
    }
    Err(ApiError::bad_request(format!(
        "a container name must be specified for pod {name}, choose one of: [{}]",
        all.join(" ")
    )))
}

/// The agent's query for a log request: `PodLogOptions` parsed and validated as upstream
/// does, then written out again (unknown parameters are not passed on).
fn log_query(q: &[(String, String)], pod: &str) -> Result<String, ApiError> {
    let mut out = Vec::new();
    for key in ["follow", "previous", "timestamps"] {
        if parse_bool(q, key)? {
            out.push((key, "true".to_string()));
        }
    }
    let mut errs = skiff_api::FieldErrors::new();
    let since_seconds = parse_int(q, "sinceSeconds")?;
    let since_time = match first(q, "sinceTime").filter(|s| !s.is_empty()) {
        None => None,
        Some(s) => Some(
            s.parse::<jiff::Timestamp>()
                .map_err(|e| ApiError::bad_request(format!("sinceTime: parsing time {s:?} as RFC 3339: {e}")))?,
        ),
    };
    if let Some(s) = since_seconds {
        if s < 1 {
            errs.push(FieldError::invalid(&FieldPath::new("sinceSeconds"), s, "must be greater than 0"));
        }
        out.push(("sinceSeconds", s.to_string()));
    }
    if let Some(t) = since_time {
        if since_seconds.is_some() {
            errs.push(FieldError::forbidden(
                &FieldPath::new(""),
                "at most one of `sinceTime` or `sinceSeconds` may be specified",
            ));
        }
        // RFC 3339 in seconds, as upstream passes it on.
        out.push(("sinceTime", skiff_api::time::rfc3339(t.as_second())));
    }
    if let Some(n) = parse_int(q, "tailLines")? {
        if n < 0 {
            errs.push(FieldError::invalid(&FieldPath::new("tailLines"), n, "must be greater than or equal to 0"));
        }
        out.push(("tailLines", n.to_string()));
    }
    if let Some(n) = parse_int(q, "limitBytes")? {
        if n < 1 {
            errs.push(FieldError::invalid(&FieldPath::new("limitBytes"), n, "must be greater than 0"));
        }
        out.push(("limitBytes", n.to_string()));
    }
    if !errs.is_empty() {
        return Err(ApiError::invalid(&Qualified::new("", "PodLogOptions"), pod, &errs));
    }
    Ok(encode(&out))
}

/// The agent's query for exec and attach, in kubelet's spelling (`1` for true).
fn stream_query(q: &[(String, String)], sub: Subresource) -> Result<String, ApiError> {
    let mut out = Vec::new();
    for key in ["stdin", "stdout", "stderr", "tty"] {
        if parse_bool(q, key)? {
            out.push((key, "1".to_string()));
        }
    }
    if sub == Subresource::Exec {
        out.extend(q.iter().filter(|(k, _)| k == "command").map(|(_, v)| ("command", v.clone())));
    }
    Ok(encode(&out))
}

/// The address and port of a node's agent: its InternalIP, else its Hostname.
async fn agent_address(api: &ApiServer, node: &str) -> Result<(IpOrName, u16), ApiError> {
    let info = registry().get("", "v1", "nodes").ok_or_else(|| ApiError::internal("nodes are not served"))?;
    let node_obj =
        api.current(info, "", node).await?.ok_or_else(|| ApiError::not_found(&Qualified::new("", "nodes"), node))?;
    let node_obj = node_obj.value();
    let addresses = node_obj["status"]["addresses"].as_array().cloned().unwrap_or_default();
    let find = |kind: &str| {
        addresses.iter().find(|a| a["type"] == kind).and_then(|a| a["address"].as_str()).filter(|a| !a.is_empty())
    };
    let host = match (find("InternalIP"), find("Hostname")) {
        (Some(ip), _) => match ip.parse::<IpAddr>() {
            Ok(ip) => IpOrName::Ip(ip),
            Err(_) => IpOrName::Name(ip.to_string()),
        },
        (None, Some(name)) => IpOrName::Name(name.to_string()),
        (None, None) => {
            return Err(ApiError::internal(format!(
                "no preferred addresses found for node {node}; known addresses: {}",
                Value::Array(addresses)
            )));
        }
    };
    let port = node_obj["status"]["daemonEndpoints"]["kubeletEndpoint"]["Port"]
        .as_u64()
        .filter(|p| *p > 0)
        .unwrap_or(DEFAULT_AGENT_PORT);
    let port =
        u16::try_from(port).map_err(|_| ApiError::internal(format!("node {node}: invalid kubelet port {port}")))?;
    Ok((host, port))
}

type Sender = hyper::client::conn::http1::SendRequest<Empty<Bytes>>;

/// Open an HTTP/1.1 connection to the agent over TLS.
async fn connect(api: &ApiServer, target: &Target) -> Result<Sender, ApiError> {
    let failed = |why: String| ApiError::internal(format!("Get {:?}: {why}", target.url()));
    let server_name = match &target.host {
        IpOrName::Ip(ip) => ServerName::IpAddress((*ip).into()),
        IpOrName::Name(n) => ServerName::try_from(n.clone()).map_err(|e| failed(e.to_string()))?,
    };
    let connector = tokio_rustls::TlsConnector::from(api.node_tls.clone());
    let authority = target.authority();
    let open = async {
        let tcp = tokio::net::TcpStream::connect(&authority)
            .await
            .map_err(|e| failed(format!("dial tcp {authority}: {e}")))?;
        let _ = tcp.set_nodelay(true);
        connector.connect(server_name, tcp).await.map_err(|e| failed(format!("tls: {e}")))
    };
    let tls = tokio::time::timeout(CONNECT_TIMEOUT, open)
        .await
        .map_err(|_| failed(format!("dial tcp {authority}: i/o timeout")))??;
    let (send, conn) =
        hyper::client::conn::http1::handshake(TokioIo::new(tls)).await.map_err(|e| failed(e.to_string()))?;
    tokio::spawn(async move {
        if let Err(e) = conn.with_upgrades().await {
            tracing::debug!(error = %e, "agent connection ended with an error");
        }
    });
    Ok(send)
}

fn agent_request(target: &Target, method: &Method) -> Result<Request<Empty<Bytes>>, ApiError> {
    Request::builder()
        .method(method.clone())
        .uri(&target.path_and_query)
        .header(header::HOST, target.authority())
        .body(Empty::new())
        .map_err(|e| ApiError::internal(format!("building the request to {}: {e}", target.url())))
}

async fn proxy_log(api: &ApiServer, target: &Target) -> Result<Response<Body>, ApiError> {
    let mut send = connect(api, target).await?;
    let resp = send
        .send_request(agent_request(target, &Method::GET)?)
        .await
        .map_err(|e| ApiError::internal(format!("Get {:?}: {e}", target.url())))?;
    let status = resp.status();
    let mut body = resp.into_body();
    if status != StatusCode::OK {
        return Err(agent_error(status, &read_limited(body).await));
    }
    let (tx, rx) = mpsc::channel::<Bytes>(16);
    tokio::spawn(async move {
        // Keeps the connection until the log ends or the client leaves.
        let _send = send;
        loop {
            let frame = tokio::select! {
                f = body.frame() => f,
                _ = tx.closed() => return,
            };
            match frame {
                Some(Ok(f)) => {
                    if let Ok(data) = f.into_data()
                        && !data.is_empty()
                        && tx.send(data).await.is_err()
                    {
                        return;
                    }
                }
                Some(Err(e)) => {
                    tracing::debug!(error = %e, "reading a log from an agent");
                    return;
                }
                None => return,
            }
        }
    });
    let mut r = Response::new(Body::Stream(rx));
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    Ok(r)
}

/// Headers of an upgrade request that go on to the agent, and of its answer that come back.
const UPGRADE_HEADERS: [&str; 6] = [
    "sec-websocket-key",
    "sec-websocket-version",
    "sec-websocket-protocol",
    "sec-websocket-accept",
    "x-stream-protocol-version",
    "upgrade",
];

async fn proxy_upgrade(
    api: &ApiServer,
    target: &Target,
    method: &Method,
    headers: &http::HeaderMap,
    client_upgrade: hyper::upgrade::OnUpgrade,
) -> Result<Response<Body>, ApiError> {
    let wants_upgrade = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case("upgrade")));
    if !wants_upgrade {
        return Err(ApiError::bad_request("Upgrade request required"));
    }
    let mut send = connect(api, target).await?;
    let mut req = agent_request(target, method)?;
    req.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    for name in UPGRADE_HEADERS {
        for v in headers.get_all(name) {
            req.headers_mut().append(name, v.clone());
        }
    }
    let resp =
        send.send_request(req).await.map_err(|e| ApiError::internal(format!("{method} {:?}: {e}", target.url())))?;
    if resp.status() != StatusCode::SWITCHING_PROTOCOLS {
        // Passed on as the agent wrote it (plain text), as upstream's proxy does.
        let status = resp.status();
        let content_type = resp.headers().get(header::CONTENT_TYPE).cloned();
        let body = read_limited(resp.into_body()).await;
        let mut r = Response::new(Body::full(body));
        *r.status_mut() = status;
        if let Some(ct) = content_type {
            r.headers_mut().insert(header::CONTENT_TYPE, ct);
        }
        return Ok(r);
    }
    let mut answer = Response::new(Body::empty());
    *answer.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    answer.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    for name in UPGRADE_HEADERS {
        for v in resp.headers().get_all(name) {
            answer.headers_mut().append(name, v.clone());
        }
    }
    let agent_upgrade = hyper::upgrade::on(resp);
    tokio::spawn(async move {
        let _send = send;
        match tokio::join!(client_upgrade, agent_upgrade) {
            (Ok(client), Ok(agent)) => {
                let (mut client, mut agent) = (TokioIo::new(client), TokioIo::new(agent));
                let _ = tokio::io::copy_bidirectional(&mut client, &mut agent).await;
            }
            (Err(e), _) | (_, Err(e)) => tracing::debug!(error = %e, "exec/attach connection was not upgraded"),
        }
    });
    Ok(answer)
}

/// An agent's error answer as the `Status` upstream makes of a kubelet's.
fn agent_error(status: StatusCode, body: &Bytes) -> ApiError {
    let message = String::from_utf8_lossy(body).trim_end().to_string();
    match status.as_u16() {
        400 => ApiError::bad_request(message),
        404 => ApiError { code: 404, reason: "NotFound", message, details: None },
        500 => ApiError::internal(message),
        code => ApiError { code, reason: "Unknown", message, details: None },
    }
}

async fn read_limited(mut body: hyper::body::Incoming) -> Bytes {
    let mut buf = bytes::BytesMut::new();
    while buf.len() < MAX_ERROR_BYTES {
        match body.frame().await {
            Some(Ok(f)) => {
                if let Ok(d) = f.into_data() {
                    buf.extend_from_slice(&d);
                }
            }
            _ => break,
        }
    }
    buf.truncate(MAX_ERROR_BYTES);
    buf.freeze()
}

fn text_response(status: StatusCode, body: Bytes) -> Response<Body> {
    let mut r = Response::new(Body::full(body));
    *r.status_mut() = status;
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    r
}

/// The query's pairs in order, decoded (`command` repeats).
fn pairs(q: Option<&str>) -> Vec<(String, String)> {
    q.unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode_form(k), decode_form(v))
        })
        .collect()
}

fn first<'q>(q: &'q [(String, String)], key: &str) -> Option<&'q str> {
    q.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

/// A boolean as Go's `strconv.ParseBool` reads it; absent or empty is false.
fn parse_bool(q: &[(String, String)], key: &str) -> Result<bool, ApiError> {
    match first(q, key) {
        None | Some("") => Ok(false),
        Some("1" | "t" | "T" | "true" | "TRUE" | "True") => Ok(true),
        Some("0" | "f" | "F" | "false" | "FALSE" | "False") => Ok(false),
        Some(v) => Err(ApiError::bad_request(format!("{key}: strconv.ParseBool: parsing {v:?}: invalid syntax"))),
    }
}

fn parse_int(q: &[(String, String)], key: &str) -> Result<Option<i64>, ApiError> {
    match first(q, key) {
        None | Some("") => Ok(None),
        Some(v) => v
            .parse()
            .map(Some)
            .map_err(|_| ApiError::bad_request(format!("{key}: strconv.ParseInt: parsing {v:?}: invalid syntax"))),
    }
}

/// Form-encode `key=value` pairs.
fn encode(pairs: &[(&str, String)]) -> String {
    let escape = |s: &str| {
        let mut out = String::with_capacity(s.len());
        for b in s.bytes() {
            match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(b as char),
                b' ' => out.push('+'),
                _ => out.push_str(&format!("%{b:02X}")),
            }
        }
        out
    };
    pairs.iter().map(|(k, v)| format!("{}={}", escape(k), escape(v))).collect::<Vec<_>>().join("&")
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn pod(containers: &[&str], init: &[&str], annotation: Option<&str>) -> Value {
        let list = |names: &[&str]| names.iter().map(|n| json!({"name": n})).collect::<Vec<_>>();
        let mut p = json!({"metadata": {"name": "web"}, "spec": {"containers": list(containers), "initContainers": list(init)}});
        if let Some(a) = annotation {
            p["metadata"]["annotations"] = json!({"kubectl.kubernetes.io/default-container": a});
        }
        p
    }

    #[test]
    fn picks_the_container_as_upstream() {
        assert_eq!(container(&pod(&["app"], &[], None), None).unwrap(), "app");
        assert_eq!(container(&pod(&["app", "side"], &["setup"], None), Some("setup")).unwrap(), "setup");
        assert_eq!(container(&pod(&["app", "side"], &[], Some("side")), None).unwrap(), "side");
        let e = container(&pod(&["app", "side"], &["setup"], None), None).unwrap_err();
        assert_eq!(e.message, "a container name must be specified for pod web, choose one of: [setup app side]");
        assert_eq!(e.code, 400);
        let e = container(&pod(&["app"], &[], None), Some("nope")).unwrap_err();
        assert_eq!(e.message, "container nope is not valid for pod web");
    }

    #[test]
    fn log_options_are_validated_and_passed_on() {
        let q = pairs(Some("follow=true&tailLines=10&timestamps=1&sinceTime=2024-01-02T03%3A04%3A05Z&bogus=1"));
        assert_eq!(
            log_query(&q, "web").unwrap(),
            "follow=true&timestamps=true&sinceTime=2024-01-02T03%3A04%3A05Z&tailLines=10"
        );
        assert_eq!(log_query(&pairs(Some("tailLines=ten")), "web").unwrap_err().code, 400);
        assert_eq!(log_query(&pairs(Some("follow=maybe")), "web").unwrap_err().code, 400);
        let e = log_query(&pairs(Some("tailLines=-1&limitBytes=0")), "web").unwrap_err();
        assert_eq!((e.code, e.reason), (422, "Invalid"));
        assert_eq!(
            log_query(&pairs(Some("sinceSeconds=5&sinceTime=2024-01-02T03:04:05Z")), "web").unwrap_err().code,
            422
        );
    }

    #[test]
    fn exec_options_use_kubelets_spelling_and_keep_the_command() {
        let q = pairs(Some("command=sh&command=-c&command=echo+a%26b&stdin=true&stdout=true&tty=false&container=x"));
        assert_eq!(
            stream_query(&q, Subresource::Exec).unwrap(),
            "stdin=1&stdout=1&command=sh&command=-c&command=echo+a%26b"
        );
        assert_eq!(stream_query(&q, Subresource::Attach).unwrap(), "stdin=1&stdout=1");
    }
}
