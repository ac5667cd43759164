//! `skiff sim`: hollow nodes against a running cluster until SIGINT or SIGTERM.

use crate::cli::SimArgs;

fn config(args: &SimArgs) -> skiff_sim::Config {
    skiff_sim::Config {
        node_prefix: args.node_prefix.clone(),
        nodes: args.nodes,
        cpu: args.cpu.clone(),
        memory: args.memory.clone(),
        pods: args.pods,
        zones: args.zones,
        labels: args.labels.clone(),
        concurrency: args.concurrency,
        pod_lifecycle: !args.no_pod_lifecycle,
    }
}

async fn client(args: &SimArgs) -> Result<kube::Client, String> {
    let path = &args.kubeconfig;
    let kubeconfig =
        kube::config::Kubeconfig::read_from(path).map_err(|e| format!("reading {}: {e}", path.display()))?;
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &kube::config::KubeConfigOptions::default())
        .await
        .map_err(|e| format!("kubeconfig {}: {e}", path.display()))?;
    kube::Client::try_from(config).map_err(|e| format!("API client: {e}"))
}

pub fn run(args: SimArgs) -> Result<(), String> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("starting the runtime: {e}"))?;
    let result = runtime.block_on(async move {
        let client = client(&args).await?;
        let terminated = crate::shutdown::termination()?;
        let shutdown = async move {
            terminated.await;
            tracing::info!("shutting down (the hollow nodes stay registered; their leases expire)");
        };
        tracing::info!("registering {} hollow nodes", args.nodes);
        skiff_sim::run(client, config(&args), shutdown).await.map_err(|e| e.to_string())
    });
    // Requests still in flight are dropped with the runtime.
    runtime.shutdown_background();
    result
}
