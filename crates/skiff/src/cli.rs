//! Command-line flags, defined apart from the code that runs them. Flag names follow k3s's
//! where k3s has one, so people moving from k3s feel at home.

use std::net::IpAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "skiff", version, about = "A Kubernetes-compatible container platform in one binary")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a cluster: API server, store, scheduler and (later) the node agent on this machine.
    Server(ServerArgs),
    /// Run the node agent on this machine, joined to a cluster with its token.
    Agent(AgentCmdArgs),
    /// Register hollow nodes (like kwok) against a running cluster: fake Nodes with leases and
    /// heartbeats whose bound pods are reported running without running anything.
    Sim(SimArgs),
    /// Manage this machine's images: import archives (docker save, OCI), list, remove.
    Images(ImagesArgs),
    /// Print the version of skiff and of the Kubernetes API it serves.
    Version,
    /// Stop every container of this machine's agent and remove its mounts, namespaces and
    /// cgroups (the agent's state stays; the next start finds the pods stopped).
    Killall {
        /// The data dir of the server or agent.
        #[arg(long, short = 'd', default_value = "/var/lib/skiff")]
        data_dir: PathBuf,
        /// The OCI runtime the agent used.
        #[arg(long, default_value = "runc")]
        default_runtime: String,
    },
    /// (internal) The per-container shim the agent starts: `skiff shim STATE_DIR`.
    #[command(hide = true)]
    Shim { dir: PathBuf },
    /// (internal) A command with a terminal in a container: `skiff exec-tty RUNTIME ROOT SOCKET ID CMD…`.
    #[command(hide = true)]
    ExecTty {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// (internal) Make a pod's namespaces: `skiff sandbox DIR HOSTNAME [--host-network]`.
    #[command(hide = true)]
    Sandbox {
        dir: PathBuf,
        hostname: String,
        #[arg(long)]
        host_network: bool,
    },
}

#[derive(Debug, Args)]
pub struct ServerArgs {
    /// Folder for the cluster's state: datastore, certificates, tokens.
    #[arg(long, short = 'd', default_value = "/var/lib/skiff", help_heading = "Data")]
    pub data_dir: PathBuf,

    /// Where to keep cluster state: empty for SQLite in the data dir, `sqlite://PATH`, or `memory://`.
    #[arg(long, default_value = "", help_heading = "Data")]
    pub datastore_endpoint: String,

    /// Port of the HTTPS API.
    #[arg(long, default_value_t = 6443, help_heading = "Listener")]
    pub https_listen_port: u16,

    /// Address the API listens on.
    #[arg(long, default_value = "0.0.0.0", help_heading = "Listener")]
    pub bind_address: IpAddr,

    /// Extra host names or addresses for the serving certificate (repeatable).
    #[arg(long = "tls-san", help_heading = "Listener")]
    pub tls_san: Vec<String>,

    /// Write the admin kubeconfig to this path (mode 0600).
    #[arg(long, short = 'o', default_value = "/etc/skiff/skiff.yaml", help_heading = "Client")]
    pub write_kubeconfig: PathBuf,

    /// Secret for joining agents (or a whole `K10…::server:…` token); the token is kept in
    /// `<data-dir>/server/token` and reused when this is not given.
    #[arg(long, env = "SKIFF_TOKEN", hide_env_values = true, help_heading = "Cluster")]
    pub token: Option<String>,

    /// Static bearer tokens in the Kubernetes token-file CSV format: token,user,uid,"group1,group2".
    #[arg(long, help_heading = "Client")]
    pub token_auth_file: Option<PathBuf>,

    /// Cluster IP range for services; its first address is the `kubernetes` service.
    #[arg(long, default_value = "10.43.0.0/16", help_heading = "Networking")]
    pub service_cidr: String,

    /// Port range for NodePort services.
    #[arg(long, default_value = "30000-32767", value_parser = parse_port_range, help_heading = "Networking")]
    pub service_node_port_range: (u16, u16),

    /// Do not run the node agent on this machine.
    #[arg(long, help_heading = "Components")]
    pub disable_agent: bool,

    #[command(flatten)]
    pub agent: AgentArgs,

    /// Do not run the scheduler; pods then wait for another scheduler or a set `spec.nodeName`.
    #[arg(long, help_heading = "Components")]
    pub disable_scheduler: bool,

    /// Do not run any controller (deployments, jobs, garbage collection, …).
    #[arg(long, help_heading = "Components")]
    pub disable_controllers: bool,

    /// Controllers to run, as kube-controller-manager's --controllers: `*` for all, a name to
    /// enable one, `-name` to disable one (e.g. `*,-cronjob`).
    #[arg(long, value_delimiter = ',', default_value = "*", help_heading = "Components")]
    pub controllers: Vec<String>,

    /// Log debug detail.
    #[arg(long, help_heading = "Logging")]
    pub debug: bool,
}

/// `skiff agent`: join a cluster and run the node agent.
#[derive(Debug, Args)]
pub struct AgentCmdArgs {
    /// The API server to join, e.g. https://10.0.0.1:6443.
    #[arg(long, env = "SKIFF_URL", help_heading = "Cluster")]
    pub server: String,

    /// The server's join token (`<data-dir>/server/token` on the server).
    #[arg(long, env = "SKIFF_TOKEN", hide_env_values = true, help_heading = "Cluster")]
    pub token: String,

    /// Folder for the agent's state: certificates, images, pods.
    #[arg(long, short = 'd', default_value = "/var/lib/skiff", help_heading = "Data")]
    pub data_dir: PathBuf,

    #[command(flatten)]
    pub agent: AgentArgs,

    /// Log debug detail.
    #[arg(long, help_heading = "Logging")]
    pub debug: bool,
}

/// Flags of the node agent (of `skiff server`'s own agent and of `skiff agent`).
#[derive(Debug, Args)]
pub struct AgentArgs {
    /// Name of this node (the host name by default).
    #[arg(long, help_heading = "Agent")]
    pub node_name: Option<String>,

    /// Address other components reach this node at (the address of the default route's
    /// interface by default).
    #[arg(long, help_heading = "Agent")]
    pub node_ip: Option<IpAddr>,

    /// Port of the agent's HTTPS server (logs, exec), kubelet's 10250.
    #[arg(long, default_value_t = 10250, help_heading = "Agent")]
    pub kubelet_port: u16,

    /// Where container logs go.
    #[arg(long, default_value = "/var/log/pods", help_heading = "Agent")]
    pub pod_log_dir: PathBuf,

    /// The OCI runtime for pods without a RuntimeClass (runc, crun, or a path).
    #[arg(long, default_value = "runc", help_heading = "Agent")]
    pub default_runtime: String,

    /// A registry (`HOST:PORT` or `HOST`) to pull from without TLS verification, or over plain
    /// HTTP (repeatable); loopback registries always are.
    #[arg(long = "insecure-registry", value_name = "HOST:PORT", help_heading = "Agent")]
    pub insecure_registries: Vec<String>,
}

#[derive(Debug, Args)]
pub struct SimArgs {
    /// Kubeconfig of the cluster (the admin one `skiff server` writes).
    #[arg(long)]
    pub kubeconfig: PathBuf,

    /// How many nodes to register.
    #[arg(long, default_value_t = 1, help_heading = "Nodes")]
    pub nodes: usize,

    /// Node `i` is named `<prefix><i>`.
    #[arg(long, default_value = "hollow-", help_heading = "Nodes")]
    pub node_prefix: String,

    /// CPU capacity of each node.
    #[arg(long, default_value = "32", help_heading = "Nodes")]
    pub cpu: String,

    /// Memory capacity of each node.
    #[arg(long, default_value = "128Gi", help_heading = "Nodes")]
    pub memory: String,

    /// Pod capacity of each node.
    #[arg(long, default_value_t = 110, help_heading = "Nodes")]
    pub pods: u32,

    /// Spread the nodes over this many zones (label topology.kubernetes.io/zone=zone-<i % zones>).
    #[arg(long, default_value_t = 0, help_heading = "Nodes")]
    pub zones: usize,

    /// Extra label of every node, `key=value` (repeatable).
    #[arg(long = "label", value_parser = parse_label, help_heading = "Nodes")]
    pub labels: Vec<(String, String)>,

    /// API requests in flight at most.
    #[arg(long, default_value_t = 64)]
    pub concurrency: usize,

    /// Leave pods bound to the nodes as they are (nodes only register and renew leases).
    #[arg(long, help_heading = "Pods")]
    pub no_pod_lifecycle: bool,

    /// Log debug detail.
    #[arg(long, help_heading = "Logging")]
    pub debug: bool,
}

/// `skiff images`: the node's image store, used directly (no server needed).
#[derive(Debug, Args)]
pub struct ImagesArgs {
    /// The data dir of the server or agent; images live in `<data-dir>/agent/store`.
    #[arg(long, short = 'd', default_value = "/var/lib/skiff", global = true)]
    pub data_dir: PathBuf,

    #[command(subcommand)]
    pub command: ImagesCommand,
}

#[derive(Debug, Subcommand)]
pub enum ImagesCommand {
    /// Import every image of `docker save`/`podman save` or OCI-layout archives (gzip or not);
    /// prints each reference imported.
    Import {
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// List images (as `crictl images`).
    #[command(visible_alias = "list")]
    Ls {
        /// Print only the image ids.
        #[arg(long, short = 'q')]
        quiet: bool,
    },
    /// Pull an image from a registry (anonymously); prints the reference pulled.
    Pull {
        /// Allow this registry without TLS verification, or over plain HTTP (loopback
        /// registries always are).
        #[arg(long)]
        insecure: bool,
        reference: String,
    },
    /// Remove images by `name:tag`, `name@digest` or image id (prefix).
    #[command(visible_alias = "remove")]
    Rm {
        #[arg(required = true)]
        references: Vec<String>,
    },
}

fn parse_label(s: &str) -> Result<(String, String), String> {
    let (k, v) = s.split_once('=').ok_or_else(|| format!("{s:?} is not a label like key=value"))?;
    if k.is_empty() {
        return Err(format!("{s:?} has an empty key"));
    }
    Ok((k.to_string(), v.to_string()))
}

fn parse_port_range(s: &str) -> Result<(u16, u16), String> {
    let (a, b) = s.split_once('-').ok_or_else(|| format!("{s:?} is not a range like 30000-32767"))?;
    let (a, b): (u16, u16) =
        (a.trim().parse().map_err(|e| format!("{a:?}: {e}"))?, b.trim().parse().map_err(|e| format!("{b:?}: {e}"))?);
    if a == 0 || a > b {
        return Err(format!("{s:?} is not a valid port range"));
    }
    Ok((a, b))
}
