//! The skiff API server: a Kubernetes API server on a revisioned store.
//!
//! Start at [`start`]: it opens the store, makes or loads the certificates, primes the
//! [`cache`] and serves HTTPS. Each request goes [`ApiServer::handle`] → authentication →
//! [`http::route`] → discovery / OpenAPI / [`handlers`] for objects. Handlers decode and
//! encode; the object lifecycle (create, update with retries, delete with finalizers) is in
//! [`registry`]. Only the store writes; reads come from the watch cache.

pub mod authn;
pub mod bootstrap;
pub mod cache;
pub mod config;
pub mod discovery;
pub mod handlers;
pub mod http;
pub mod join;
pub mod kubeconfig;
pub mod local;
pub mod managed;
pub mod openapi;
pub mod pki;
pub mod registry;
pub mod token;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ::http::{Request, Response, StatusCode};
use bytes::Bytes;
use skiff_api::{ApiError, registry as resources};
use skiff_store::Backend;
use tokio::sync::{Mutex, watch};

use crate::authn::{Authenticator, User};
use crate::cache::Cache;
use crate::config::Config;
use crate::handlers::respond::{error_response, json_response};
use crate::http::Body;
use crate::http::route::{self, Route};
use crate::registry::services::Cidr;

pub use crate::config::Config as ServerConfig;

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("opening the datastore: {0}")]
    Store(#[from] skiff_store::StoreError),
    #[error("certificates: {0}")]
    Pki(#[from] pki::PkiError),
    #[error("{0}")]
    Tls(#[from] http::server::TlsError),
    #[error("authentication: {0}")]
    Authn(#[from] authn::AuthnError),
    #[error("listening on {addr}: {source}")]
    Listen { addr: SocketAddr, source: std::io::Error },
    #[error("invalid --service-cidr {0:?}: expected an IPv4 CIDR such as 10.43.0.0/16")]
    ServiceCidr(String),
    #[error("join token: {0}")]
    Token(#[from] token::TokenError),
    #[error("creating the built-in objects: {0}")]
    Bootstrap(ApiError),
}

/// The shared state of a running API server.
pub struct ApiServer {
    pub(crate) store: Arc<dyn Backend>,
    pub(crate) cache: Arc<Cache>,
    authn: Authenticator,
    pub(crate) service_cidr: Cidr,
    pub(crate) node_port_range: (u16, u16),
    /// Held across choosing and storing a service's addresses.
    pub(crate) service_alloc: Mutex<()>,
    /// `host:port` clients should use, for `/api`'s serverAddressByClientCIDRs.
    server_address: String,
    /// TLS to node agents (logs, exec): the cluster CA and the kubelet-client certificate.
    pub(crate) node_tls: Arc<rustls::ClientConfig>,
    /// `/cacerts` and `/v1-skiff/join`, for agents joining with the token.
    joining: join::Joining,
}

/// A started server.
pub struct Started {
    pub api: Arc<ApiServer>,
    pub addr: SocketAddr,
    /// From the call to [`start`] until the server accepts requests.
    pub ready_in: Duration,
    pub pki: pki::Pki,
    serving: tokio::task::JoinHandle<()>,
    compactor: tokio::task::JoinHandle<()>,
}

impl Started {
    /// Serve until `shutdown` turns true.
    pub async fn wait(self) {
        let _ = self.serving.await;
        self.compactor.abort();
    }
}

/// Names and addresses the serving certificate must carry.
fn serving_sans(config: &Config, service_cidr: Cidr) -> Vec<String> {
    let mut sans: Vec<String> = vec!["localhost".into(), "127.0.0.1".into()];
    if let Ok(h) = std::fs::read_to_string("/proc/sys/kernel/hostname") {
        sans.push(h.trim().to_string());
    }
    sans.extend(node_ips().into_iter().map(|ip| ip.to_string()));
    if !config.bind_address.is_unspecified() {
        sans.push(config.bind_address.to_string());
    }
    sans.extend(
        ["kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"]
            .map(String::from),
    );
    sans.push(service_cidr.nth(1).to_string());
    sans.extend(config.tls_sans.iter().cloned());
    let mut seen = std::collections::HashSet::new();
    sans.retain(|s| !s.is_empty() && seen.insert(s.clone()));
    sans
}

/// The address this machine uses for its default route (no packet is sent: connecting a UDP
/// socket only picks the route).
pub fn node_ips() -> Vec<IpAddr> {
    let probe = || -> std::io::Result<IpAddr> {
        let s = std::net::UdpSocket::bind("0.0.0.0:0")?;
        s.connect("192.0.2.1:9")?;
        Ok(s.local_addr()?.ip())
    };
    probe().into_iter().filter(|ip| !ip.is_loopback() && !ip.is_unspecified()).collect()
}

/// Start the API server: returns once it accepts requests.
pub async fn start(config: Config, shutdown: watch::Receiver<bool>) -> Result<Started, StartError> {
    let t0 = Instant::now();
    let service_cidr =
        Cidr::parse(&config.service_cidr).ok_or_else(|| StartError::ServiceCidr(config.service_cidr.clone()))?;
    let store = skiff_store::open(&config.datastore_endpoint, &config.data_dir)?;
    let pki = pki::Pki::load_or_create(&config.tls_dir(), &serving_sans(&config, service_cidr))?;
    let tls = http::server::tls_config(&pki)?;
    let server_dir = config.data_dir.join("server");
    let join_token = token::load_or_create(&server_dir, config.join_token.as_deref(), &pki.ca.cert_pem)?;
    tracing::info!("join token (kept in {}): {join_token}", token::path(&server_dir).display());
    let addr = SocketAddr::new(config.bind_address, config.https_port);
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(|source| StartError::Listen { addr, source })?;
    let addr = listener.local_addr().map_err(|source| StartError::Listen { addr, source })?;
    let client_host =
        if config.bind_address.is_unspecified() { IpAddr::from([127, 0, 0, 1]) } else { config.bind_address };
    if let Some(path) = &config.write_kubeconfig {
        let url = format!("https://{}", SocketAddr::new(client_host, addr.port()));
        kubeconfig::write(path, &kubeconfig::render(&url, &pki.ca.cert_pem, &pki.admin))?;
    }

    let cache = Cache::start(store.clone()).await?;
    let api = Arc::new(ApiServer {
        store: store.clone(),
        cache,
        authn: Authenticator::load(config.token_auth_file.as_deref())?,
        service_cidr,
        node_port_range: config.node_port_range,
        service_alloc: Mutex::new(()),
        server_address: SocketAddr::new(node_ips().first().copied().unwrap_or(client_host), addr.port()).to_string(),
        node_tls: handlers::node_proxy::client_tls(&pki)?,
        joining: join::Joining::new(pki.ca.clone(), join_token),
    });
    bootstrap::ensure_builtin_objects(&api, addr.port()).await.map_err(StartError::Bootstrap)?;
    let compactor = skiff_store::compactor::spawn(store, config.compaction_interval);
    let serving = tokio::spawn(http::server::serve(listener, tls, api.clone(), shutdown));
    Ok(Started { api, addr, ready_in: t0.elapsed(), pki, serving, compactor })
}

impl ApiServer {
    /// Handle one request from a client; `peer` is the user its TLS certificate named.
    pub async fn handle<B>(self: Arc<Self>, req: Request<B>, peer: Option<&User>) -> Response<Body>
    where
        B: http_body::Body<Data = Bytes>,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        // Joining machines have no credentials yet: the join endpoints check the token.
        if let Some(endpoint) = join::Endpoint::of(req.uri().path()) {
            return self.joining.serve(endpoint, req).await;
        }
        let Some(user) = self.authn.authenticate(peer, req.headers()) else {
            return error_response(&ApiError::unauthorized());
        };
        self.serve(req, user).await
    }

    /// Serve a request from an already authenticated user (in-process clients enter here).
    pub async fn serve<B>(self: Arc<Self>, req: Request<B>, user: User) -> Response<Body>
    where
        B: http_body::Body<Data = Bytes>,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let route = route::parse(req.uri().path());
        match route {
            Route::Health(check) => health(&check, req.uri().query()),
            Route::Version => json_response(StatusCode::OK, &version()),
            Route::CoreVersions | Route::Groups | Route::Group(_) | Route::ResourceList { .. } => {
                self.discovery(&req, route)
            }
            Route::OpenApiV3Root => openapi::root(),
            Route::OpenApiV3(path) => openapi::document(&path, req.uri().query()),
            Route::OpenApiV2 => error_response(&ApiError::not_found(&skiff_api::Qualified::new("", "openapi"), "v2")),
            Route::Resource(path) => handlers::handle(self, req, path, user).await,
            Route::NotFound => not_found(),
        }
    }

    fn discovery<B>(&self, req: &Request<B>, route: Route) -> Response<Body> {
        let reg = resources();
        let accept = req.headers().get(::http::header::ACCEPT).and_then(|v| v.to_str().ok()).unwrap_or("");
        let aggregated = discovery::wants_aggregated(accept);
        let doc = match (&route, aggregated) {
            (Route::CoreVersions, Some(v)) => return aggregated_response(discovery::aggregated(reg, true, v), v),
            (Route::Groups, Some(v)) => return aggregated_response(discovery::aggregated(reg, false, v), v),
            (Route::CoreVersions, None) => Some(discovery::api_versions(&self.server_address)),
            (Route::Groups, None) => Some(discovery::api_group_list(reg)),
            (Route::Group(g), _) => discovery::api_group(reg, g),
            (Route::ResourceList { group, version }, _) => discovery::api_resource_list(reg, group, version),
            _ => None,
        };
        match doc {
            Some(d) => json_response(StatusCode::OK, &d),
            None => not_found(),
        }
    }
}

fn aggregated_response(doc: serde_json::Value, version: &str) -> Response<Body> {
    let ct = if version == "v2" { discovery::AGGREGATED_V2 } else { discovery::AGGREGATED_V2BETA1 };
    handlers::respond::bytes_response(StatusCode::OK, ct, Bytes::from(serde_json::to_vec(&doc).unwrap_or_default()))
}

fn not_found() -> Response<Body> {
    let mut e = ApiError::not_found(&skiff_api::Qualified::new("", ""), "");
    e.message = "the server could not find the requested resource".into();
    e.details = None;
    error_response(&e)
}

fn health(check: &str, query: Option<&str>) -> Response<Body> {
    let verbose = http::query::Query::parse(query).get("verbose").is_some();
    let body = if verbose {
        let name = check.split('/').next().unwrap_or(check);
        format!("[+]ping ok\n[+]log ok\n[+]etcd ok\n{name} check passed\n")
    } else {
        "ok".to_string()
    };
    handlers::respond::bytes_response(StatusCode::OK, "text/plain; charset=utf-8", Bytes::from(body))
}

/// `/version`: reports the Kubernetes API version served.
pub fn version() -> serde_json::Value {
    serde_json::json!({
        "major": "1",
        "minor": "33",
        "gitVersion": format!("v1.33.0+skiff{}", env!("CARGO_PKG_VERSION")),
        "gitCommit": option_env!("SKIFF_GIT_COMMIT").unwrap_or("unknown"),
        "gitTreeState": "clean",
        "buildDate": "1970-01-01T00:00:00Z",
        "goVersion": "none (rust)",
        "compiler": "rustc",
        "platform": format!("linux/{}", match std::env::consts::ARCH { "x86_64" => "amd64", "aarch64" => "arm64", a => a }),
    })
}
