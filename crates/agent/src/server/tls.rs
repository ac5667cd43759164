//! The agent's TLS: its serving certificate, and a client certificate from the cluster CA
//! required of every caller (the API server presents its kubelet-client certificate).

use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;

/// The certificates the server runs with, PEM-encoded.
#[derive(Debug, Clone)]
pub struct ServerTls {
    /// The serving certificate (its chain may follow it).
    pub cert_pem: String,
    pub key_pem: String,
    /// The CA client certificates must be signed by.
    pub client_ca_pem: String,
}

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("reading the {what} PEM: {why}")]
    Pem { what: &'static str, why: String },
    #[error("TLS configuration: {0}")]
    Config(String),
}

/// The rustls configuration: HTTP/1.1 only, since exec and attach upgrade the connection.
pub fn server_config(tls: &ServerTls) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let pem = |what| move |e: rustls::pki_types::pem::Error| TlsError::Pem { what, why: e.to_string() };
    let mut roots = rustls::RootCertStore::empty();
    for ca in CertificateDer::pem_slice_iter(tls.client_ca_pem.as_bytes()) {
        roots.add(ca.map_err(pem("client CA"))?).map_err(|e| TlsError::Config(e.to_string()))?;
    }
    let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .map_err(|e| TlsError::Config(e.to_string()))?;
    let chain = CertificateDer::pem_slice_iter(tls.cert_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(pem("serving certificate"))?;
    let key = PrivateKeyDer::from_pem_slice(tls.key_pem.as_bytes()).map_err(pem("serving key"))?;
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Config(e.to_string()))?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)
        .map_err(|e| TlsError::Config(e.to_string()))?;
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(cfg))
}

/// Whether a client certificate (DER) names group `system:masters` (organization), as the API
/// server's kubelet-client certificate and the admin's do.
pub fn is_cluster_admin(der: &[u8]) -> bool {
    let Ok((_, cert)) = x509_parser::parse_x509_certificate(der) else { return false };
    cert.subject().iter_organization().any(|o| o.as_str() == Ok("system:masters"))
}
