//! The agent's HTTPS server (kubelet's port 10250): the API server proxies `pods/log`,
//! `pods/exec` and `pods/attach` here. Only clients with a certificate from the cluster CA get in.
//!
//! Routes, as kubelet's: `GET /containerLogs/{ns}/{pod}/{container}` ([`logs`]),
//! `GET|POST /exec/{ns}/{pod}/{container}` and `/attach/…` ([`exec`], a WebSocket upgrade whose
//! session is [`websocket`]). The pod manager answers through [`PodStreams`]. Errors are plain
//! text with kubelet's status codes; the API server turns them into a `Status`.

mod body;
mod exec;
mod logs;
mod query;
mod tls;
mod websocket;

pub use tls::{ServerTls, TlsError};

use std::convert::Infallible;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use http::{Method, Request, Response, StatusCode};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot, watch};
use tokio_rustls::TlsAcceptor;

use body::Body;
use exec::Kind;

/// What the server asks of the pod manager.
pub trait PodStreams: Send + Sync + 'static {
    /// The log file of a container's current run, or of the run before it with `previous`.
    fn log_file(&self, namespace: &str, pod: &str, container: &str, previous: bool) -> Result<LogFile, StreamError>;

    /// Start `command` in a running container.
    fn exec(
        &self,
        namespace: &str,
        pod: &str,
        container: &str,
        command: Vec<String>,
        tty: bool,
        stdin: bool,
    ) -> futures::future::BoxFuture<'static, Result<ExecProcess, StreamError>>;

    /// Connect to the streams of a running container's own process (`kubectl attach`). The
    /// session ends when its output ends; `exit` is not waited for.
    fn attach(
        &self,
        namespace: &str,
        pod: &str,
        container: &str,
        tty: bool,
        stdin: bool,
    ) -> futures::future::BoxFuture<'static, Result<ExecProcess, StreamError>> {
        let _ = (namespace, pod, container, tty, stdin);
        Box::pin(async { Err(StreamError::BadRequest("attach is not supported by this node yet".into())) })
    }
}

/// A container run's log, and whether that run still goes on (following stops when it ends).
pub struct LogFile {
    pub path: PathBuf,
    pub running: watch::Receiver<bool>,
}

/// A process started in a container. With a TTY, stdout carries both streams and stderr is None.
pub struct ExecProcess {
    pub stdin: Option<Box<dyn AsyncWrite + Send + Unpin>>,
    pub stdout: Box<dyn AsyncRead + Send + Unpin>,
    pub stderr: Option<Box<dyn AsyncRead + Send + Unpin>>,
    /// Terminal size changes (columns, rows); only with a TTY.
    pub resize: Option<mpsc::Sender<(u16, u16)>>,
    /// The exit code once the process ends (128 + signal when killed by one).
    pub exit: oneshot::Receiver<i32>,
}

#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Internal(String),
}

/// How long a client gets to finish the TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Serve HTTPS on `listener` until `shutdown` turns true (sessions already open go on). Fails
/// only if the certificates cannot be used.
pub async fn serve(
    listener: TcpListener,
    tls: ServerTls,
    streams: Arc<dyn PodStreams>,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(), TlsError> {
    let acceptor = TlsAcceptor::from(tls::server_config(&tls)?);
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = shutdown.wait_for(|stop| *stop) => return Ok(()),
        };
        let (tcp, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // Usually EMFILE; back off instead of spinning.
                tracing::warn!(error = %e, "agent server: accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = tcp.set_nodelay(true);
        let acceptor = acceptor.clone();
        let streams = streams.clone();
        tokio::spawn(async move {
            let tls = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                Ok(Ok(s)) => s,
                Ok(Err(e)) => {
                    tracing::debug!(%peer, error = %e, "agent server: TLS handshake failed");
                    return;
                }
                Err(_) => return,
            };
            // Any certificate of the cluster CA passes the handshake, joined nodes' too; only
            // the API server (and cluster admins) may read logs and run commands here.
            let peer_cert = tls.get_ref().1.peer_certificates().and_then(|c| c.first());
            if !peer_cert.is_some_and(|c| tls::is_cluster_admin(c.as_ref())) {
                tracing::debug!(%peer, "agent server: refused a client that is not in system:masters");
                return;
            }
            let service = service_fn(move |req| {
                let streams = streams.clone();
                async move { Ok::<_, Infallible>(handle(streams.as_ref(), req).await) }
            });
            let conn = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(tls), service);
            if let Err(e) = conn.with_upgrades().await {
                tracing::debug!(%peer, error = %e, "agent server: connection ended with an error");
            }
        });
    }
}

/// Answer one request.
pub async fn handle<B>(streams: &dyn PodStreams, req: Request<B>) -> Response<Body> {
    let path = req.uri().path().to_string();
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    let method = req.method().clone();
    match (parts.as_slice(), &method) {
        (["healthz"], &Method::GET) => body::text(StatusCode::OK, "ok"),
        (["containerLogs", ns, pod, container], &Method::GET) => {
            let q = query::Query::parse(req.uri().query());
            logs::container_logs(streams, ns, pod, container, &q).await
        }
        // kubelet also takes the pod's UID before the container; the pod name is enough here.
        ([verb @ ("exec" | "attach"), ns, pod, container] | [verb @ ("exec" | "attach"), ns, pod, _, container], m)
            if m == Method::GET || m == Method::POST =>
        {
            let kind = if *verb == "exec" { Kind::Exec } else { Kind::Attach };
            exec::exec_or_attach(streams, kind, (ns, pod, container), req).await
        }
        ([first, ..], _) if ["containerLogs", "exec", "attach", "healthz"].contains(first) => {
            body::text(StatusCode::METHOD_NOT_ALLOWED, format!("{method} is not allowed on {path}"))
        }
        _ => body::text(StatusCode::NOT_FOUND, "404 page not found"),
    }
}

/// The answer for an error from the pod manager.
fn error_response(e: &StreamError) -> Response<Body> {
    let status = match e {
        StreamError::NotFound(_) => StatusCode::NOT_FOUND,
        StreamError::BadRequest(_) => StatusCode::BAD_REQUEST,
        StreamError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
    };
    body::text(status, e.to_string())
}

#[cfg(test)]
mod tests;
