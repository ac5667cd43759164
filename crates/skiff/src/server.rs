//! `skiff server`: run the cluster until SIGINT or SIGTERM.

use std::time::Duration;

use skiff_apiserver::ServerConfig;

use crate::agent;
use crate::cli::ServerArgs;

fn config(args: &ServerArgs) -> ServerConfig {
    let mut c = ServerConfig::with_data_dir(args.data_dir.clone());
    c.datastore_endpoint = args.datastore_endpoint.clone();
    c.https_port = args.https_listen_port;
    c.bind_address = args.bind_address;
    c.tls_sans = args.tls_san.clone();
    c.write_kubeconfig = Some(args.write_kubeconfig.clone());
    c.token_auth_file = args.token_auth_file.clone();
    c.join_token = args.token.clone();
    c.service_cidr = args.service_cidr.clone();
    c.node_port_range = args.service_node_port_range;
    c.compaction_interval = Duration::from_secs(300);
    c
}

pub fn run(args: ServerArgs) -> Result<(), String> {
    skiff_controllers::check_list(&args.controllers).map_err(|e| format!("--controllers: {e}"))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("starting the runtime: {e}"))?;
    runtime.block_on(async move {
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let started = skiff_apiserver::start(config(&args), stop_rx.clone()).await.map_err(|e| e.to_string())?;
        tracing::info!(
            "skiff server ready in {} ms: https://{} (kubeconfig {})",
            started.ready_in.as_millis(),
            started.addr,
            args.write_kubeconfig.display()
        );
        let scheduler = (!args.disable_scheduler).then(|| {
            let client = started.api.local_client("system:kube-scheduler", &[]);
            tokio::spawn(skiff_scheduler::run(client, skiff_scheduler::Config::default(), stop_rx.clone()))
        });
        let controllers = (!args.disable_controllers).then(|| {
            let client = started.api.local_client("system:kube-controller-manager", &[]);
            let config = skiff_controllers::Config {
                controllers: args.controllers.clone(),
                root_ca_pem: started.pki.ca.cert_pem.clone(),
            };
            tokio::spawn(skiff_controllers::run(client, config, stop_rx.clone()))
        });
        if !args.disable_agent {
            let node_name = agent::node_name(&args.agent);
            let client = started.api.local_client(&format!("system:node:{node_name}"), &["system:nodes"]);
            agent::start(&args, &node_name, client, &started.pki, stop_rx.clone()).await?;
        }
        crate::shutdown::termination()?.await;
        tracing::info!("shutting down");
        let _ = stop_tx.send(true);
        for task in [scheduler, controllers].into_iter().flatten() {
            let _ = tokio::time::timeout(Duration::from_secs(2), task).await;
        }
        let _ = tokio::time::timeout(Duration::from_secs(5), started.wait()).await;
        Ok(())
    })
}
