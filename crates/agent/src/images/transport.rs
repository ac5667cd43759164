//! The transport of pulls: one HTTP/1.1 request per connection, over TCP or TLS. A pull makes a
//! handful of requests (manifest, token, config, one per layer), so a pool would buy little and
//! cost a dependency. TLS verifies with the system's roots; registries named insecure are
//! tried over TLS without verification (and then over plain HTTP, see registry.rs).

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, Uri};
use http_body_util::{BodyExt, Empty};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, SignatureScheme};
use tokio::net::TcpStream;

/// Connecting (name lookup, TCP, TLS) and waiting for the response head.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// Waiting for the response head once the request is sent.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(60);
/// Silence in the middle of a body.
pub(crate) const BODY_IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// Why a request got no response.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("unknown host {0}")]
    UnknownHost(String),
    #[error("cannot connect to {host}: {reason}")]
    Connect { host: String, reason: String },
    #[error("TLS handshake with {host} failed: {reason}")]
    Tls { host: String, reason: String },
    #[error("{host} did not answer within {secs}s")]
    Timeout { host: String, secs: u64 },
    #[error("talking to {host}: {reason}")]
    Protocol { host: String, reason: String },
    #[error("bad URL {0:?}")]
    BadUrl(String),
}

/// Whether to check the server's certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verify {
    Yes,
    No,
}

/// Send a GET for `url` (`http://` or `https://`) with `headers`.
pub(crate) async fn get(
    url: &Uri,
    headers: &[(&str, String)],
    verify: Verify,
) -> Result<Response<Incoming>, HttpError> {
    let bad = || HttpError::BadUrl(url.to_string());
    let host = url.host().ok_or_else(bad)?.trim_start_matches('[').trim_end_matches(']').to_string();
    let tls = match url.scheme_str() {
        Some("https") => true,
        Some("http") => false,
        _ => return Err(bad()),
    };
    let port = url.port_u16().unwrap_or(if tls { 443 } else { 80 });
    let authority = url.authority().ok_or_else(bad)?.as_str().to_string();
    let path = url.path_and_query().map(|p| p.as_str()).unwrap_or("/").to_string();
    let mut request =
        Request::get(path).header(http::header::HOST, &authority).header(http::header::USER_AGENT, user_agent());
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    let request = request.body(Empty::<Bytes>::new()).map_err(|_| bad())?;

    let connect = async {
        let tcp = TcpStream::connect((host.as_str(), port)).await.map_err(|e| connect_error(&host, e))?;
        let _ = tcp.set_nodelay(true);
        if tls {
            let name = ServerName::try_from(host.clone()).map_err(|_| bad())?;
            let stream = tokio_rustls::TlsConnector::from(tls_config(verify))
                .connect(name, tcp)
                .await
                .map_err(|e| HttpError::Tls { host: host.clone(), reason: e.to_string() })?;
            handshake(&host, stream).await
        } else {
            handshake(&host, tcp).await
        }
    };
    let timeout = |secs: Duration| HttpError::Timeout { host: host.clone(), secs: secs.as_secs() };
    let mut sender = tokio::time::timeout(CONNECT_TIMEOUT, connect).await.map_err(|_| timeout(CONNECT_TIMEOUT))??;
    tokio::time::timeout(RESPONSE_TIMEOUT, sender.send_request(request))
        .await
        .map_err(|_| timeout(RESPONSE_TIMEOUT))?
        .map_err(|e| HttpError::Protocol { host: host.clone(), reason: e.to_string() })
}

async fn handshake<S>(host: &str, stream: S) -> Result<hyper::client::conn::http1::SendRequest<Empty<Bytes>>, HttpError>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| HttpError::Protocol { host: host.to_string(), reason: e.to_string() })?;
    // The connection lives as long as the response body is read, then ends with it.
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(sender)
}

fn connect_error(host: &str, e: std::io::Error) -> HttpError {
    // Name resolution failures come back as "other" errors from getaddrinfo.
    let text = e.to_string();
    if text.contains("failed to lookup address") || text.contains("Name or service not known") {
        HttpError::UnknownHost(host.to_string())
    } else {
        HttpError::Connect { host: host.to_string(), reason: text }
    }
}

/// The next chunk of a body, or `None` at its end.
pub(crate) async fn next_chunk(body: &mut Incoming, host: &str) -> Result<Option<Bytes>, HttpError> {
    loop {
        let frame = tokio::time::timeout(BODY_IDLE_TIMEOUT, body.frame())
            .await
            .map_err(|_| HttpError::Timeout { host: host.to_string(), secs: BODY_IDLE_TIMEOUT.as_secs() })?;
        match frame {
            None => return Ok(None),
            Some(Err(e)) => return Err(HttpError::Protocol { host: host.to_string(), reason: e.to_string() }),
            Some(Ok(f)) => {
                if let Ok(data) = f.into_data() {
                    return Ok(Some(data));
                }
            }
        }
    }
}

/// A whole (small) body, at most `max` bytes; `Ok(None)` when it is larger.
pub(crate) async fn read_body(body: &mut Incoming, host: &str, max: u64) -> Result<Option<Vec<u8>>, HttpError> {
    let mut out = Vec::new();
    while let Some(chunk) = next_chunk(body, host).await? {
        if (out.len() + chunk.len()) as u64 > max {
            return Ok(None);
        }
        out.extend_from_slice(&chunk);
    }
    Ok(Some(out))
}

fn user_agent() -> String {
    format!("skiff/{}", env!("CARGO_PKG_VERSION"))
}

fn tls_config(verify: Verify) -> Arc<ClientConfig> {
    static VERIFIED: OnceLock<Arc<ClientConfig>> = OnceLock::new();
    static UNVERIFIED: OnceLock<Arc<ClientConfig>> = OnceLock::new();
    let provider = || Arc::new(rustls::crypto::ring::default_provider());
    match verify {
        Verify::Yes => VERIFIED
            .get_or_init(|| {
                let mut roots = rustls::RootCertStore::empty();
                let found = rustls_native_certs::load_native_certs();
                for e in &found.errors {
                    tracing::warn!("system CA certificates: {e}");
                }
                roots.add_parsable_certificates(found.certs);
                let config = ClientConfig::builder_with_provider(provider())
                    .with_safe_default_protocol_versions()
                    .map(|b| b.with_root_certificates(roots).with_no_client_auth());
                Arc::new(config.unwrap_or_else(|_| unverified(provider())))
            })
            .clone(),
        Verify::No => UNVERIFIED.get_or_init(|| Arc::new(unverified(provider()))).clone(),
    }
}

fn unverified(provider: Arc<rustls::crypto::CryptoProvider>) -> ClientConfig {
    let verifier = Arc::new(AcceptAny(provider.clone()));
    ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("the ring provider supports the default TLS versions")
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth()
}

/// For registries the operator named insecure: any certificate is accepted, signatures are still
/// checked so the handshake itself is sound.
#[derive(Debug)]
struct AcceptAny(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for AcceptAny {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
