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
    /// Register hollow nodes (like kwok) against a running cluster: fake Nodes with leases and
    /// heartbeats whose bound pods are reported running without running anything.
    Sim(SimArgs),
    /// Print the version of skiff and of the Kubernetes API it serves.
    Version,
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
