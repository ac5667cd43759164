//! `skiff agent`: join this machine to a cluster with the server's token and run the node agent
//! until SIGINT or SIGTERM (containers keep running, as with the server's own agent).
//!
//! Start-up: certificates from joining (`join`), a kubeconfig for them in
//! `<data-dir>/agent/kubeconfig.yaml`, then the same agent `skiff server` runs (`agent::launch`).

use std::net::IpAddr;

use skiff_apiserver::token::JoinToken;

use crate::agent::{self, Launch};
use crate::cli::AgentCmdArgs;
use crate::join;

pub fn run(args: AgentCmdArgs) -> Result<(), String> {
    let token = JoinToken::parse(&args.token).map_err(|e| format!("--token: {e}"))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("starting the runtime: {e}"))?;
    runtime.block_on(run_async(args, token))
}

async fn run_async(args: AgentCmdArgs, token: JoinToken) -> Result<(), String> {
    let server = args.server.trim_end_matches('/').to_string();
    let dir = args.data_dir.join("agent");
    let node_name = agent::node_name(&args.agent);
    let node_ip = agent::node_ip(&args.agent);
    let creds =
        join::credentials(&server, &token, &dir, &node_name, &addresses(node_ip)).await.map_err(|e| e.to_string())?;

    let kubeconfig = dir.join("kubeconfig.yaml");
    let text = skiff_apiserver::kubeconfig::render(&server, &creds.ca_pem, &creds.client);
    skiff_apiserver::kubeconfig::write(&kubeconfig, &text).map_err(|e| e.to_string())?;
    let client = client(&text).await.map_err(|e| format!("{}: {e}", kubeconfig.display()))?;

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let launch = Launch {
        args: &args.agent,
        dir,
        bind: IpAddr::from([0, 0, 0, 0]),
        node_name: node_name.clone(),
        node_ip,
        control_plane: false,
        serving: creds.serving,
        client_ca_pem: creds.ca_pem,
    };
    agent::launch(client, launch, stop_rx).await?;
    tracing::info!("skiff agent running: node {node_name} ({node_ip}) of {server}");

    crate::shutdown::termination()?.await;
    tracing::info!("shutting down (containers keep running)");
    let _ = stop_tx.send(true);
    // A moment for the workers and the HTTPS server to see it.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    Ok(())
}

/// What the serving certificate names besides the node name: the node's address and this
/// machine's host name (when it is a usable DNS name).
fn addresses(node_ip: IpAddr) -> Vec<String> {
    let mut out = vec![node_ip.to_string()];
    let host = agent::host_name().to_ascii_lowercase();
    let dns_ok = !host.is_empty()
        && host.len() <= 253
        && host.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        });
    if dns_ok && !out.contains(&host) {
        out.push(host);
    }
    out
}

async fn client(kubeconfig: &str) -> Result<kube::Client, String> {
    let kc = kube::config::Kubeconfig::from_yaml(kubeconfig).map_err(|e| e.to_string())?;
    let config = kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default())
        .await
        .map_err(|e| e.to_string())?;
    kube::Client::try_from(config).map_err(|e| e.to_string())
}
