//! The node agent as `skiff server` runs it for its own machine: configuration from the flags,
//! a serving certificate for its HTTPS server from the cluster CA, and start-up.

use std::net::IpAddr;
use std::path::PathBuf;

use skiff_apiserver::pki::Pki;

use crate::cli::{AgentArgs, ServerArgs};

/// `--node-name`, else the host name (lower-cased: node names are DNS names).
pub fn node_name(args: &AgentArgs) -> String {
    args.node_name.clone().unwrap_or_else(|| {
        nix::unistd::gethostname()
            .ok()
            .and_then(|h| h.into_string().ok())
            .unwrap_or_else(|| "localhost".into())
            .to_ascii_lowercase()
    })
}

/// `--node-ip`, else the local address of the route to the outside world. A UDP socket's
/// `connect` only asks the kernel for a route; nothing is sent.
fn node_ip(args: &AgentArgs) -> IpAddr {
    args.node_ip.unwrap_or_else(|| {
        std::net::UdpSocket::bind("0.0.0.0:0")
            .and_then(|s| s.connect("192.0.2.1:9").map(|()| s))
            .and_then(|s| s.local_addr())
            .map(|a| a.ip())
            .unwrap_or(IpAddr::from([127, 0, 0, 1]))
    })
}

pub async fn start(
    args: &ServerArgs,
    node_name: &str,
    client: kube::Client,
    pki: &Pki,
    shutdown: tokio::sync::watch::Receiver<bool>,
) -> Result<(), String> {
    let a = &args.agent;
    let node_ip = node_ip(a);
    let config = skiff_agent::Config {
        node_name: node_name.to_string(),
        node_ip,
        dir: args.data_dir.join("agent"),
        pod_log_dir: a.pod_log_dir.clone(),
        port: a.kubelet_port,
        runtime: a.default_runtime.clone(),
        control_plane: true,
        self_exe: std::env::current_exe().unwrap_or_else(|_| PathBuf::from("/proc/self/exe")),
    };
    let started = skiff_agent::start(client, config, shutdown.clone()).await.map_err(|e| format!("node agent: {e}"))?;
    let sans = vec![node_name.to_string(), node_ip.to_string(), "localhost".to_string()];
    let serving = pki
        .issue(
            &format!("system:node:{node_name}"),
            &["system:nodes"],
            &sans,
            rcgen::ExtendedKeyUsagePurpose::ServerAuth,
        )
        .map_err(|e| format!("node agent certificate: {e}"))?;
    let tls = skiff_agent::server::ServerTls {
        cert_pem: serving.cert_pem,
        key_pem: serving.key_pem,
        client_ca_pem: pki.ca.cert_pem.clone(),
    };
    let listener = tokio::net::TcpListener::bind((args.bind_address, a.kubelet_port))
        .await
        .map_err(|e| format!("node agent: listening on port {}: {e}", a.kubelet_port))?;
    tokio::spawn(async move {
        if let Err(e) = skiff_agent::server::serve(listener, tls, started.pods, shutdown).await {
            tracing::error!("node agent server: {e}");
        }
    });
    Ok(())
}
