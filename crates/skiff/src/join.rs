//! `skiff agent`'s side of joining a cluster (the server's side is `skiff_apiserver::join`).
//!
//! The token pins the cluster CA, so the agent first fetches `/cacerts` without verifying TLS
//! and accepts it only if its hash is the pinned one; the join request (which carries the
//! secret) then goes over TLS verified against that CA, as k3s does. The answer's certificates
//! are kept in `<data-dir>/agent/` and reused on restart; the agent joins again only when they
//! are missing, about to expire, from another CA, or lack the node's name or addresses.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use skiff_apiserver::join::{CACERTS_PATH, JOIN_PATH, JoinAnswer, JoinRequest};
use skiff_apiserver::pki::{self, CertKey, PkiError, write_private};
use skiff_apiserver::token::JoinToken;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const READ_TIMEOUT: Duration = Duration::from_secs(30);

/// The certificates a joined agent runs with.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub ca_pem: String,
    /// Its client certificate for the API server (`system:node:<name>`).
    pub client: CertKey,
    /// Its HTTPS server's certificate.
    pub serving: CertKey,
}

/// Why joining failed; each says it in one line.
#[derive(Debug)]
pub enum JoinError {
    BadUrl { url: String },
    Unreachable { url: String, why: String },
    OtherCa { url: String },
    Refused { url: String },
    Server { url: String, why: String },
    Files(PkiError),
}

impl fmt::Display for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JoinError::BadUrl { url } => {
                write!(f, "--server {url:?}: expected an https:// URL such as https://HOST:6443")
            }
            JoinError::Unreachable { url, why } => write!(f, "joining {url}: cannot reach the server: {why}"),
            JoinError::OtherCa { url } => write!(
                f,
                "joining {url}: the server's CA is not the one the token pins (another cluster, or someone in between)"
            ),
            JoinError::Refused { url } => write!(f, "joining {url}: the server refused the token"),
            JoinError::Server { url, why } => write!(f, "joining {url}: {why}"),
            JoinError::Files(e) => write!(f, "keeping the agent's certificates: {e}"),
        }
    }
}

impl std::error::Error for JoinError {}

/// The agent's certificates: those kept in `dir` if still good for `node_name` and
/// `addresses`, else new ones from joining `server` (which are then kept).
pub async fn credentials(
    server: &str,
    token: &JoinToken,
    dir: &Path,
    node_name: &str,
    addresses: &[String],
) -> Result<Credentials, JoinError> {
    let mut sans = vec![node_name.to_string()];
    sans.extend(addresses.iter().cloned());
    if let Some(kept) = load(dir).filter(|c| still_good(c, token, &sans)) {
        tracing::info!("using the certificates in {} (joined before)", dir.display());
        return Ok(kept);
    }
    let request = JoinRequest { node_name: node_name.to_string(), addresses: addresses.to_vec() };
    let creds = join(server, token, &request).await?;
    store(dir, &creds).map_err(JoinError::Files)?;
    tracing::info!("joined {server} as node {node_name}");
    Ok(creds)
}

fn still_good(c: &Credentials, token: &JoinToken, sans: &[String]) -> bool {
    token.pins(&c.ca_pem)
        && !pki::needs_renewal(&c.serving.cert_pem, sans)
        && !pki::needs_renewal(&c.client.cert_pem, &[])
}

/// Ask `server` for certificates: fetch and check the CA, then join over verified TLS.
async fn join(server: &str, token: &JoinToken, request: &JoinRequest) -> Result<Credentials, JoinError> {
    let url = server.trim_end_matches('/').to_string();
    let uri: http::Uri = url.parse().map_err(|_| JoinError::BadUrl { url: url.clone() })?;
    if uri.scheme_str() != Some("https") || uri.host().is_none() {
        return Err(JoinError::BadUrl { url });
    }
    let failed = |e: kube::Error| classify(&url, e);
    reachable(&uri).await.map_err(|why| JoinError::Unreachable { url: url.clone(), why })?;

    // Unverified on purpose: what arrives is checked against the token's hash before use.
    let insecure = client(uri.clone(), None)?;
    let get = http::Request::get(CACERTS_PATH).body(Vec::new()).map_err(|e| server_err(&url, e))?;
    let ca_pem = insecure.request_text(get).await.map_err(failed)?;
    if !token.pins(&ca_pem) {
        return Err(JoinError::OtherCa { url });
    }

    let verified = client(uri, Some(pki::cert_der(&ca_pem).map_err(|e| server_err(&url, e))?))?;
    let body = serde_json::to_vec(request).map_err(|e| server_err(&url, e))?;
    let post = http::Request::post(JOIN_PATH)
        .header(http::header::AUTHORIZATION, format!("Bearer {}", token.secret()))
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(body)
        .map_err(|e| server_err(&url, e))?;
    let answer: JoinAnswer = verified.request(post).await.map_err(failed)?;
    if answer.ca != ca_pem {
        return Err(JoinError::OtherCa { url });
    }
    Ok(Credentials {
        ca_pem,
        client: CertKey { cert_pem: answer.client_cert, key_pem: answer.client_key },
        serving: CertKey { cert_pem: answer.serving_cert, key_pem: answer.serving_key },
    })
}

/// Whether a TCP connection to the server opens. Checked first so that an unreachable server
/// is one line, not kube's error log and then ours.
async fn reachable(uri: &http::Uri) -> Result<(), String> {
    let host = uri.host().unwrap_or_default().trim_start_matches('[').trim_end_matches(']');
    let port = uri.port_u16().unwrap_or(443);
    match tokio::time::timeout(CONNECT_TIMEOUT, tokio::net::TcpStream::connect((host, port))).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!("no answer within {CONNECT_TIMEOUT:?}")),
    }
}

/// A client for `uri` trusting only `ca_der`, or verifying nothing without it.
fn client(uri: http::Uri, ca_der: Option<Vec<u8>>) -> Result<kube::Client, JoinError> {
    let url = uri.to_string();
    let mut config = kube::Config::new(uri);
    config.accept_invalid_certs = ca_der.is_none();
    // An empty root store rather than none: kube would otherwise load the system's roots.
    config.root_cert = Some(ca_der.into_iter().collect());
    config.default_retry = false;
    config.connect_timeout = Some(CONNECT_TIMEOUT);
    config.read_timeout = Some(READ_TIMEOUT);
    kube::Client::try_from(config).map_err(|e| server_err(&url, e))
}

fn classify(url: &str, e: kube::Error) -> JoinError {
    match e {
        kube::Error::Api(s) if s.code == 401 => JoinError::Refused { url: url.to_string() },
        kube::Error::Api(s) => JoinError::Server { url: url.to_string(), why: format!("{} ({})", s.message, s.code) },
        other => JoinError::Unreachable { url: url.to_string(), why: root_cause(&other) },
    }
}

fn server_err(url: &str, e: impl std::error::Error) -> JoinError {
    JoinError::Server { url: url.to_string(), why: e.to_string() }
}

/// The innermost error: "Connection refused (os error 111)" says more than "client error".
fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut e = e;
    while let Some(inner) = e.source() {
        e = inner;
    }
    e.to_string()
}

fn paths(dir: &Path) -> [PathBuf; 5] {
    ["server-ca.crt", "client-kubelet.crt", "client-kubelet.key", "serving-kubelet.crt", "serving-kubelet.key"]
        .map(|f| dir.join(f))
}

/// The kept certificates, if all are there.
fn load(dir: &Path) -> Option<Credentials> {
    let [ca, cc, ck, sc, sk] = paths(dir).map(|p| std::fs::read_to_string(p).ok());
    Some(Credentials {
        ca_pem: ca?,
        client: CertKey { cert_pem: cc?, key_pem: ck? },
        serving: CertKey { cert_pem: sc?, key_pem: sk? },
    })
}

/// Keep the certificates; keys readable by root only.
fn store(dir: &Path, c: &Credentials) -> Result<(), PkiError> {
    std::fs::create_dir_all(dir).map_err(|source| PkiError::File { path: dir.to_path_buf(), source })?;
    let [ca, cc, ck, sc, sk] = paths(dir);
    for (path, text) in [
        (ck, &c.client.key_pem),
        (sk, &c.serving.key_pem),
        (ca, &c.ca_pem),
        (cc, &c.client.cert_pem),
        (sc, &c.serving.cert_pem),
    ] {
        write_private(&path, text.as_bytes())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A scratch dir removed on drop (the binary crate has no tempfile).
    struct Scratch(PathBuf);

    impl Scratch {
        fn new(name: &str) -> Scratch {
            let p = std::env::temp_dir().join(format!("skiff-join-{name}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&p);
            Scratch(p)
        }
        fn path(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn issued(dir: &Path) -> (Credentials, JoinToken) {
        let server = skiff_apiserver::pki::Pki::load_or_create(&dir.join("server"), &[]).unwrap();
        let node = pki::issue_node(&server.ca, "w1", &["w1".into(), "10.0.0.5".into()]).unwrap();
        let token = JoinToken::new(&server.ca.cert_pem, "s").unwrap();
        (Credentials { ca_pem: server.ca.cert_pem, client: node.client, serving: node.serving }, token)
    }

    #[test]
    fn kept_certificates_are_reused_only_while_they_fit() {
        let dir = Scratch::new("kept");
        let (creds, token) = issued(dir.path());
        let agent = dir.path().join("agent");
        assert!(load(&agent).is_none());
        store(&agent, &creds).unwrap();
        let kept = load(&agent).unwrap();
        let sans = ["w1", "10.0.0.5"].map(String::from);
        assert!(still_good(&kept, &token, &sans));
        assert!(!still_good(&kept, &token, &["w2".into()]), "another node name");
        assert!(!still_good(&kept, &JoinToken::new("other CA", "s").unwrap(), &sans), "another cluster");
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(agent.join("client-kubelet.key")).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[tokio::test]
    async fn an_unreachable_server_is_one_line() {
        let dir = Scratch::new("unreachable");
        let (_, token) = issued(dir.path());
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let req = JoinRequest { node_name: "w1".into(), addresses: vec![] };
        let e = join(&format!("https://127.0.0.1:{port}"), &token, &req).await.unwrap_err().to_string();
        assert!(e.starts_with(&format!("joining https://127.0.0.1:{port}: cannot reach the server")), "{e}");
        assert!(!e.contains('\n'), "{e}");
        let e = join("http://127.0.0.1:1", &token, &req).await.unwrap_err().to_string();
        assert!(e.contains("expected an https:// URL"), "{e}");
    }
}
