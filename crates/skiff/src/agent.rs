//! The node agent's start-up, shared by `skiff server` (its own machine's agent) and
//! `skiff agent` (a joined machine, see `agent_cmd`): configuration from the flags, the agent
//! itself, and its HTTPS server for logs and exec.

use std::net::IpAddr;
use std::path::PathBuf;

use skiff_apiserver::pki::{CertKey, Pki};

use crate::cli::{AgentArgs, ServerArgs};

/// `--node-name`, else the host name (lower-cased: node names are DNS names).
pub fn node_name(args: &AgentArgs) -> String {
    args.node_name.clone().unwrap_or_else(|| host_name().to_ascii_lowercase())
}

/// This machine's host name.
pub fn host_name() -> String {
    nix::unistd::gethostname().ok().and_then(|h| h.into_string().ok()).unwrap_or_else(|| "localhost".into())
}

/// `--node-ip`, else the local address of the route to the outside world. A UDP socket's
/// `connect` only asks the kernel for a route; nothing is sent.
pub fn node_ip(args: &AgentArgs) -> IpAddr {
    args.node_ip.unwrap_or_else(|| {
        std::net::UdpSocket::bind("0.0.0.0:0")
            .and_then(|s| s.connect("192.0.2.1:9").map(|()| s))
            .and_then(|s| s.local_addr())
            .map(|a| a.ip())
            .unwrap_or(IpAddr::from([127, 0, 0, 1]))
    })
}

/// What an agent runs with besides its API client, however it got its certificates.
pub struct Launch<'a> {
    pub args: &'a AgentArgs,
    /// `<data-dir>/agent`.
    pub dir: PathBuf,
    /// The address its HTTPS server listens on.
    pub bind: IpAddr,
    pub node_name: String,
    pub node_ip: IpAddr,
    /// The server's own agent (its node gets the control-plane role).
    pub control_plane: bool,
    /// The HTTPS server's certificate.
    pub serving: CertKey,
    /// The CA of the clients it lets in (the API server's kubelet-client certificate).
    pub client_ca_pem: String,
}

/// Start the agent and its HTTPS server; both run until `shutdown`.
pub async fn launch(
    client: kube::Client,
    l: Launch<'_>,
    shutdown: tokio::sync::watch::Receiver<bool>,
) -> Result<(), String> {
    let a = l.args;
    let config = skiff_agent::Config {
        node_name: l.node_name,
        node_ip: l.node_ip,
        dir: l.dir,
        pod_log_dir: a.pod_log_dir.clone(),
        port: a.kubelet_port,
        runtime: a.default_runtime.clone(),
        control_plane: l.control_plane,
        self_exe: std::env::current_exe().unwrap_or_else(|_| PathBuf::from("/proc/self/exe")),
        insecure_registries: a.insecure_registries.clone(),
    };
    let started = skiff_agent::start(client, config, shutdown.clone()).await.map_err(|e| format!("node agent: {e}"))?;
    let tls = skiff_agent::server::ServerTls {
        cert_pem: l.serving.cert_pem,
        key_pem: l.serving.key_pem,
        client_ca_pem: l.client_ca_pem,
    };
    let listener = tokio::net::TcpListener::bind((l.bind, a.kubelet_port))
        .await
        .map_err(|e| format!("node agent: listening on port {}: {e}", a.kubelet_port))?;
    tokio::spawn(async move {
        if let Err(e) = skiff_agent::server::serve(listener, tls, started.pods, shutdown).await {
            tracing::error!("node agent server: {e}");
        }
    });
    Ok(())
}

/// The server's own agent: its serving certificate comes straight from the cluster CA.
pub async fn start(
    args: &ServerArgs,
    node_name: &str,
    client: kube::Client,
    pki: &Pki,
    shutdown: tokio::sync::watch::Receiver<bool>,
) -> Result<(), String> {
    let node_ip = node_ip(&args.agent);
    let sans = vec![node_name.to_string(), node_ip.to_string(), "localhost".to_string()];
    let serving = pki
        .issue(
            &format!("system:node:{node_name}"),
            &["system:nodes"],
            &sans,
            rcgen::ExtendedKeyUsagePurpose::ServerAuth,
        )
        .map_err(|e| format!("node agent certificate: {e}"))?;
    let launch = Launch {
        args: &args.agent,
        dir: args.data_dir.join("agent"),
        bind: args.bind_address,
        node_name: node_name.to_string(),
        node_ip,
        control_plane: true,
        serving,
        client_ca_pem: pki.ca.cert_pem.clone(),
    };
    self::launch(client, launch, shutdown).await
}
