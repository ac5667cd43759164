//! The admin kubeconfig `skiff server` writes for kubectl and client libraries.

use std::path::Path;

use base64::Engine;

use crate::pki::{CertKey, PkiError, write_private};

/// Render a kubeconfig with one cluster, one user and one context, all named `default` as k3s
/// names them.
pub fn render(server_url: &str, ca_pem: &str, client: &CertKey) -> String {
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    format!(
        "apiVersion: v1
kind: Config
clusters:
- cluster:
    certificate-authority-data: {ca}
    server: {server_url}
  name: default
contexts:
- context:
    cluster: default
    user: default
  name: default
current-context: default
preferences: {{}}
users:
- name: default
  user:
    client-certificate-data: {cert}
    client-key-data: {key}
",
        ca = b64(ca_pem),
        cert = b64(&client.cert_pem),
        key = b64(&client.key_pem),
    )
}

/// Write the kubeconfig with mode 0600, creating its directory.
pub fn write(path: &Path, contents: &str) -> Result<(), PkiError> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|source| PkiError::File { path: dir.to_path_buf(), source })?;
    }
    write_private(path, contents.as_bytes())
}
