//! What `skiff server` tells the API server, independent of how flags spell it.

use std::net::IpAddr;
use std::path::PathBuf;

#[derive(Debug, Clone)]
pub struct Config {
    /// Everything the server keeps: store, certificates, tokens.
    pub data_dir: PathBuf,
    pub bind_address: IpAddr,
    pub https_port: u16,
    /// Where to write the admin kubeconfig (mode 0600); `None` to skip.
    pub write_kubeconfig: Option<PathBuf>,
    /// Empty for SQLite in the data dir; `sqlite://PATH` or `memory://` otherwise.
    pub datastore_endpoint: String,
    /// Static bearer tokens, upstream's `--token-auth-file` CSV format: token,user,uid,"group1,group2".
    pub token_auth_file: Option<PathBuf>,
    /// Extra names and addresses for the serving certificate.
    pub tls_sans: Vec<String>,
    /// Service cluster IP range; the first address is the `kubernetes` service.
    pub service_cidr: String,
    /// NodePort range, inclusive.
    pub node_port_range: (u16, u16),
    /// How often the store is compacted (history older than one interval is dropped).
    pub compaction_interval: std::time::Duration,
    /// `--token`: the join token's secret (or the whole token); `None` keeps the stored one.
    pub join_token: Option<String>,
}

impl Config {
    /// The defaults of `skiff server`, with the data dir given.
    pub fn with_data_dir(data_dir: PathBuf) -> Self {
        Config {
            data_dir,
            bind_address: IpAddr::from([0, 0, 0, 0]),
            https_port: 6443,
            write_kubeconfig: Some(PathBuf::from("/etc/skiff/skiff.yaml")),
            datastore_endpoint: String::new(),
            token_auth_file: None,
            tls_sans: Vec::new(),
            service_cidr: "10.43.0.0/16".to_string(),
            node_port_range: (30000, 32767),
            compaction_interval: std::time::Duration::from_secs(300),
            join_token: None,
        }
    }

    pub fn tls_dir(&self) -> PathBuf {
        self.data_dir.join("server").join("tls")
    }
}
