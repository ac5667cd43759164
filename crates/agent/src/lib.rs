//! The node agent (kubelet's job): registers this machine as a Node, keeps its Lease fresh, and
//! runs the pods bound to it in OCI containers, through runc and a small shim per container that
//! outlives the agent. It talks to the cluster only through the API.

pub mod image_gc;
pub mod images;
pub mod logs;
pub mod node;
pub mod pods;
pub mod runtime;
pub mod server;
pub mod teardown;

use std::net::IpAddr;
use std::path::PathBuf;

/// How the agent runs.
#[derive(Debug, Clone)]
pub struct Config {
    /// The Node's name (the host name by default).
    pub node_name: String,
    /// The address other components reach this node at (InternalIP).
    pub node_ip: IpAddr,
    /// `<data-dir>/agent`: images, pod state, container bundles.
    pub dir: PathBuf,
    /// Container logs (`/var/log/pods` by default, as kubelet).
    pub pod_log_dir: PathBuf,
    /// Port of the agent's HTTPS server (logs, exec).
    pub port: u16,
    /// The OCI runtime binary for pods without a RuntimeClass.
    pub runtime: String,
    /// The server's own agent: labelled `node-role.kubernetes.io/control-plane`.
    pub control_plane: bool,
    /// The skiff binary, re-executed as the per-container shim and the sandbox maker.
    pub self_exe: PathBuf,
    /// Registries (`host:port` or `host`) pulled from without TLS verification or over plain
    /// HTTP; loopback registries always are (see [`images::is_insecure`]).
    pub insecure_registries: Vec<String>,
}

/// Why the agent could not start.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error("the node agent must run as root (it makes namespaces, mounts and cgroups)")]
    NotRoot,
    #[error("{0}")]
    Runtime(String),
    #[error("image store: {0}")]
    Images(#[from] images::ImageError),
    #[error("{path}: {source}")]
    Dir { path: PathBuf, source: std::io::Error },
}

/// A running agent: its pod manager (which the HTTPS server serves logs and exec from).
pub struct Started {
    pub pods: std::sync::Arc<pods::Manager>,
}

/// Start the agent: image store (importing the air-gap archives), node registration and
/// heartbeats, and the pod workers. Returns once everything runs.
pub async fn start(
    client: kube::Client,
    config: Config,
    shutdown: tokio::sync::watch::Receiver<bool>,
) -> Result<Started, AgentError> {
    if !nix::unistd::Uid::effective().is_root() {
        return Err(AgentError::NotRoot);
    }
    let config = std::sync::Arc::new(config);
    for d in [config.dir.join("pods"), config.dir.join("run"), config.dir.join("images"), config.pod_log_dir.clone()] {
        std::fs::create_dir_all(&d).map_err(|source| AgentError::Dir { path: d.clone(), source })?;
    }
    let images = images::ImageStore::open(&config.dir.join("store"))?;
    let runtime = runtime::Runtime {
        binary: config.runtime.clone(),
        // Each runtime keeps its state in run/<its name> (what `skiff killall` walks).
        root: config.dir.join("run").join(std::path::Path::new(&config.runtime).file_name().unwrap_or_default()),
        self_exe: config.self_exe.clone(),
    };
    let version = runtime.version().await.map_err(AgentError::Runtime)?;

    // Air-gap images (k3s convention) are imported in the background: pods using them wait
    // in ErrImagePull back-off until they are in.
    let (store, airgap) = (images.clone(), config.dir.join("images"));
    tokio::task::spawn_blocking(move || match store.import_dir(&airgap) {
        Ok(refs) if !refs.is_empty() => tracing::info!("imported {} image(s) from {}", refs.len(), airgap.display()),
        Ok(_) => {}
        Err(e) => tracing::warn!("importing images from {}: {e}", airgap.display()),
    });

    let (store, pods_dir, mut stop) = (images.clone(), config.dir.join("pods"), shutdown.clone());
    let collector = std::sync::Arc::new(std::sync::Mutex::new(image_gc::Collector::default()));
    tokio::spawn(async move {
        loop {
            let (store, pods_dir, collector) = (store.clone(), pods_dir.clone(), collector.clone());
            let _ = tokio::task::spawn_blocking(move || {
                let root = store.root().to_path_buf();
                let mut collector = collector.lock().unwrap_or_else(|e| e.into_inner());
                let in_use = image_gc::images_in_use(&pods_dir);
                collector.collect(&store, &in_use, &|| image_gc::usage_percent(&root), std::time::Instant::now())
            })
            .await;
            tokio::select! {
                _ = tokio::time::sleep(image_gc::PERIOD) => {}
                _ = stop.changed() => return,
            }
        }
    });

    let lister_store = images.clone();
    let lister: node::ImageLister = std::sync::Arc::new(move || {
        lister_store
            .list()
            .unwrap_or_default()
            .into_iter()
            .map(|i| k8s_openapi::api::core::v1::ContainerImage {
                names: Some(i.repo_digests.iter().chain(&i.repo_tags).cloned().collect()),
                size_bytes: Some(i.size as i64),
            })
            .collect()
    });
    tokio::spawn({
        let (client, config, version, shutdown) = (client.clone(), config.clone(), version.clone(), shutdown.clone());
        async move {
            if let Err(e) = node::run(client, config, version, lister, shutdown).await {
                tracing::error!("node registration failed: {e}");
            }
        }
    });
    let shared = std::sync::Arc::new(pods::Shared {
        recorder: skiff_runtime::events::Recorder::new(client.clone(), "kubelet", "Running"),
        client,
        config,
        runtime,
        images,
    });
    let pods = pods::Manager::start(shared, shutdown);
    Ok(Started { pods })
}
