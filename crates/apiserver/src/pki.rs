//! The cluster's certificates: a CA made on first start, the API server's serving certificate,
//! the admin client certificate and the API server's client certificate for node agents
//! (`kube-apiserver-kubelet-client`), all kept in `<data-dir>/server/tls/`.
//!
//! Restarting on the same data dir reuses them. The serving certificate is reissued (from the
//! same CA) when it lacks a name the server now needs or is within 90 days of expiry.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

pub use rcgen::ExtendedKeyUsagePurpose;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose,
    SerialNumber,
};

const CA_DAYS: i64 = 3650;
const LEAF_DAYS: i64 = 365;
const RENEW_BEFORE_DAYS: i64 = 90;

#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    #[error("{path}: {source}")]
    File { path: PathBuf, source: std::io::Error },
    #[error("certificate: {0}")]
    Cert(#[from] rcgen::Error),
    #[error("{path}: cannot parse certificate: {why}")]
    Parse { path: PathBuf, why: String },
}

/// A certificate and its private key, PEM-encoded.
#[derive(Debug, Clone)]
pub struct CertKey {
    pub cert_pem: String,
    pub key_pem: String,
}

/// The certificates the server runs with.
pub struct Pki {
    dir: PathBuf,
    pub ca: CertKey,
    pub serving: CertKey,
    pub admin: CertKey,
    /// What the API server presents to node agents when it proxies logs and exec.
    pub kubelet_client: CertKey,
}

impl Pki {
    /// Load the certificates from `dir`, making whatever is missing. `sans` are the names and
    /// addresses the serving certificate must carry.
    pub fn load_or_create(dir: &Path, sans: &[String]) -> Result<Pki, PkiError> {
        fs::create_dir_all(dir).map_err(|e| file_err(dir, e))?;
        let ca = match read_pair(dir, "server-ca")? {
            Some(ca) => ca,
            None => {
                let ca = make_ca()?;
                write_pair(dir, "server-ca", &ca)?;
                ca
            }
        };
        let mut pki =
            Pki { dir: dir.to_path_buf(), serving: ca.clone(), admin: ca.clone(), kubelet_client: ca.clone(), ca };

        pki.serving = match read_pair(dir, "serving-kube-apiserver")? {
            Some(s) if !needs_reissue(&s.cert_pem, sans, dir)? => s,
            _ => {
                let s = pki.issue("kube-apiserver", &[], sans, ExtendedKeyUsagePurpose::ServerAuth)?;
                write_pair(dir, "serving-kube-apiserver", &s)?;
                s
            }
        };
        pki.admin = match read_pair(dir, "client-admin")? {
            Some(a) => a,
            None => {
                let a = pki.issue("system:admin", &["system:masters"], &[], ExtendedKeyUsagePurpose::ClientAuth)?;
                write_pair(dir, "client-admin", &a)?;
                a
            }
        };
        pki.kubelet_client = match read_pair(dir, "client-kube-apiserver-kubelet")? {
            Some(c) => c,
            None => {
                let c = pki.issue(
                    "kube-apiserver-kubelet-client",
                    &["system:masters"],
                    &[],
                    ExtendedKeyUsagePurpose::ClientAuth,
                )?;
                write_pair(dir, "client-kube-apiserver-kubelet", &c)?;
                c
            }
        };
        Ok(pki)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Issue a certificate signed by the cluster CA. Clients are named by CN (user) and O
    /// (groups), as Kubernetes reads them.
    pub fn issue(
        &self,
        common_name: &str,
        organizations: &[&str],
        sans: &[String],
        usage: ExtendedKeyUsagePurpose,
    ) -> Result<CertKey, PkiError> {
        issue(&self.ca, common_name, organizations, sans, usage)
    }
}

/// Issue a certificate signed by `ca` (the cluster CA as [`Pki`] keeps it; node agents get
/// their serving certificates this way).
pub fn issue(
    ca: &CertKey,
    common_name: &str,
    organizations: &[&str],
    sans: &[String],
    usage: ExtendedKeyUsagePurpose,
) -> Result<CertKey, PkiError> {
    let ca_key = KeyPair::from_pem(&ca.key_pem)?;
    let issuer = Issuer::from_ca_cert_pem(&ca.cert_pem, ca_key)?;
    let mut params = CertificateParams::new(sans.to_vec())?;
    let mut dn = DistinguishedName::new();
    for o in organizations {
        dn.push(DnType::OrganizationName, *o);
    }
    dn.push(DnType::CommonName, common_name);
    params.distinguished_name = dn;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment];
    params.extended_key_usages = vec![usage];
    params.use_authority_key_identifier_extension = true;
    set_validity(&mut params, LEAF_DAYS);
    let key = KeyPair::generate()?;
    let cert = params.signed_by(&key, &issuer)?;
    Ok(CertKey { cert_pem: cert.pem(), key_pem: key.serialize_pem() })
}

/// What a node agent gets when it joins: a client certificate for the API server
/// (`system:node:<name>` in `system:nodes`) and a serving certificate for its own HTTPS server.
#[derive(Debug, Clone)]
pub struct NodeCerts {
    pub client: CertKey,
    pub serving: CertKey,
}

/// Issue a node's certificates from `ca`; `sans` are the names and addresses the serving
/// certificate carries (the node name, its addresses, its host name).
pub fn issue_node(ca: &CertKey, node_name: &str, sans: &[String]) -> Result<NodeCerts, PkiError> {
    let user = format!("system:node:{node_name}");
    Ok(NodeCerts {
        client: issue(ca, &user, &["system:nodes"], &[], ExtendedKeyUsagePurpose::ClientAuth)?,
        serving: issue(ca, &user, &["system:nodes"], sans, ExtendedKeyUsagePurpose::ServerAuth)?,
    })
}

/// Whether a certificate lacks one of `sans`, expires within 90 days or cannot be read: then
/// its holder gets a new one.
pub fn needs_renewal(cert_pem: &str, sans: &[String]) -> bool {
    !matches!(needs_reissue(cert_pem, sans, Path::new("certificate")), Ok(false))
}

/// The DER bytes of the first certificate in `pem`.
pub fn cert_der(pem: &str) -> Result<Vec<u8>, PkiError> {
    let (_, p) = x509_parser::pem::parse_x509_pem(pem.as_bytes())
        .map_err(|e| PkiError::Parse { path: PathBuf::from("certificate"), why: e.to_string() })?;
    Ok(p.contents)
}

/// The CA kept in `dir`, if it was made already (tests and tools issue from it).
pub fn load_ca(dir: &Path) -> Result<Option<CertKey>, PkiError> {
    read_pair(dir, "server-ca")
}

fn make_ca() -> Result<CertKey, PkiError> {
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, format!("skiff-server-ca@{}", skiff_api::time::now_secs()));
    params.distinguished_name = dn;
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    set_validity(&mut params, CA_DAYS);
    let key = KeyPair::generate()?;
    let cert = params.self_signed(&key)?;
    Ok(CertKey { cert_pem: cert.pem(), key_pem: key.serialize_pem() })
}

fn set_validity(params: &mut CertificateParams, days: i64) {
    let date = |offset_days: i64| {
        let t = jiff::Timestamp::now() + jiff::SignedDuration::from_hours(24 * offset_days);
        let d = t.to_zoned(jiff::tz::TimeZone::UTC).date();
        rcgen::date_time_ymd(d.year().into(), d.month() as u8, d.day() as u8)
    };
    params.not_before = date(-1);
    params.not_after = date(days);
    params.serial_number = Some(SerialNumber::from_slice(uuid::Uuid::new_v4().as_bytes()));
}

/// Whether a serving certificate lacks one of `sans` or expires soon.
fn needs_reissue(cert_pem: &str, sans: &[String], dir: &Path) -> Result<bool, PkiError> {
    let parse_err = |why: String| PkiError::Parse { path: dir.join("serving-kube-apiserver.crt"), why };
    let (_, pem) = x509_parser::pem::parse_x509_pem(cert_pem.as_bytes()).map_err(|e| parse_err(e.to_string()))?;
    let cert = pem.parse_x509().map_err(|e| parse_err(e.to_string()))?;
    let remaining = cert.validity().not_after.timestamp() - skiff_api::time::now_secs();
    if remaining < RENEW_BEFORE_DAYS * 86400 {
        return Ok(true);
    }
    let mut have: Vec<String> = Vec::new();
    if let Ok(Some(ext)) = cert.subject_alternative_name() {
        for name in &ext.value.general_names {
            match name {
                x509_parser::extensions::GeneralName::DNSName(d) => have.push(d.to_string()),
                x509_parser::extensions::GeneralName::IPAddress(bytes) => {
                    let ip = match bytes.len() {
                        4 => std::net::IpAddr::from(<[u8; 4]>::try_from(*bytes).unwrap_or_default()),
                        16 => std::net::IpAddr::from(<[u8; 16]>::try_from(*bytes).unwrap_or_default()),
                        _ => continue,
                    };
                    have.push(ip.to_string());
                }
                _ => {}
            }
        }
    }
    Ok(sans.iter().any(|s| !have.contains(s)))
}

fn file_err(path: &Path, source: std::io::Error) -> PkiError {
    PkiError::File { path: path.to_path_buf(), source }
}

fn read_pair(dir: &Path, name: &str) -> Result<Option<CertKey>, PkiError> {
    let (crt, key) = (dir.join(format!("{name}.crt")), dir.join(format!("{name}.key")));
    if !crt.exists() || !key.exists() {
        return Ok(None);
    }
    let cert_pem = fs::read_to_string(&crt).map_err(|e| file_err(&crt, e))?;
    let key_pem = fs::read_to_string(&key).map_err(|e| file_err(&key, e))?;
    Ok(Some(CertKey { cert_pem, key_pem }))
}

fn write_pair(dir: &Path, name: &str, pair: &CertKey) -> Result<(), PkiError> {
    write_private(&dir.join(format!("{name}.key")), pair.key_pem.as_bytes())?;
    let crt = dir.join(format!("{name}.crt"));
    fs::write(&crt, &pair.cert_pem).map_err(|e| file_err(&crt, e))
}

/// Write a file readable only by its owner, replacing it atomically.
pub fn write_private(path: &Path, contents: &[u8]) -> Result<(), PkiError> {
    let tmp = path.with_extension("tmp");
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(|e| file_err(&tmp, e))?;
    f.write_all(contents).and_then(|()| f.sync_all()).map_err(|e| file_err(&tmp, e))?;
    fs::set_permissions(&tmp, fs::Permissions::from_mode(0o600)).map_err(|e| file_err(&tmp, e))?;
    fs::rename(&tmp, path).map_err(|e| file_err(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creates_once_and_reuses() {
        let dir = tempfile::tempdir().unwrap();
        let sans = vec!["localhost".to_string(), "127.0.0.1".to_string()];
        let first = Pki::load_or_create(dir.path(), &sans).unwrap();
        let again = Pki::load_or_create(dir.path(), &sans).unwrap();
        assert_eq!(first.ca.cert_pem, again.ca.cert_pem);
        assert_eq!(first.serving.cert_pem, again.serving.cert_pem);
        assert_eq!(first.admin.cert_pem, again.admin.cert_pem);
        assert_eq!(first.kubelet_client.cert_pem, again.kubelet_client.cert_pem);
        let mode = fs::metadata(dir.path().join("server-ca.key")).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn node_certificates_name_the_node_and_renew_for_new_addresses() {
        let dir = tempfile::tempdir().unwrap();
        let pki = Pki::load_or_create(dir.path(), &[]).unwrap();
        let sans = vec!["worker-1".to_string(), "10.0.0.7".to_string()];
        let node = issue_node(&pki.ca, "worker-1", &sans).unwrap();
        let user = crate::authn::user_from_certificate(&cert_der(&node.client.cert_pem).unwrap()).unwrap();
        assert_eq!(user.name, "system:node:worker-1");
        assert_eq!(user.groups, ["system:nodes", "system:authenticated"]);
        assert!(!needs_renewal(&node.serving.cert_pem, &sans));
        assert!(needs_renewal(&node.serving.cert_pem, &["10.0.0.8".to_string()]));
        assert!(needs_renewal("not a certificate", &[]));
    }

    #[test]
    fn reissues_serving_cert_for_new_names_from_the_same_ca() {
        let dir = tempfile::tempdir().unwrap();
        let first = Pki::load_or_create(dir.path(), &["localhost".to_string()]).unwrap();
        let more = Pki::load_or_create(dir.path(), &["localhost".to_string(), "10.0.0.9".to_string()]).unwrap();
        assert_eq!(first.ca.cert_pem, more.ca.cert_pem);
        assert_ne!(first.serving.cert_pem, more.serving.cert_pem);
        assert!(!needs_reissue(&more.serving.cert_pem, &["10.0.0.9".to_string()], dir.path()).unwrap());
    }
}
