//! Pulling an image from a registry into the store: `skiff images pull` and pods' image pulls.
//!
//! The manifest (a list or index resolved to this machine's platform) and the config are read
//! first, without the store lock. Then, holding the store's writers' lock as an import does,
//! every layer the store lacks is downloaded into tmp/ (checked against its digest), unpacked
//! through the same path as an imported layer (`ImageStore::unpack_layer_from`), and the image
//! recorded with its tag and `name@<manifest digest>`. So a pulled image has the id, layer
//! directories and size an imported one has, and two pulls of one image at once are one
//! download: the second finds the layers there when it gets the lock. Pulls are serialised by
//! that lock, as kubelet serialises them by default.

use std::collections::{BTreeSet, HashMap};
use std::fs::File;
use std::io::BufReader;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::archive::LayerBlob;
use super::auth::{Credential, Keyring};
use super::config::ConfigFile;
use super::error::ImageError;
use super::index::ImageRecord;
use super::manifest::{self, Parsed};
use super::progress::{Meter, Stage};
use super::registry::Session;
use super::transport::HttpError;
use super::{Image, ImageStore, reference};

/// Why a pull failed; each message is one line naming the image and the problem.
#[derive(Debug, thiserror::Error)]
pub enum PullError {
    #[error("pulling from {registry}: {source}")]
    Transport { registry: String, source: HttpError },
    #[error("{reference}: not found")]
    NotFound { reference: String },
    #[error("{reference}: 401 Unauthorized: {detail}")]
    Unauthorized { reference: String, detail: String },
    #[error("{reference}: 403 Forbidden{detail}")]
    Denied { reference: String, detail: String },
    #[error("{reference}: the registry answered {status}{detail}")]
    Status { reference: String, status: String, detail: String },
    #[error("authenticating with {registry}: {reason}")]
    Auth { registry: String, reason: String },
    #[error("{reference}: no matching manifest for {platform} in the manifest list (it has {available})")]
    NoPlatform { reference: String, platform: String, available: String },
    #[error("{reference}: {reason}")]
    BadManifest { reference: String, reason: String },
    #[error("{what}: digest mismatch: expected {expected}, got {actual}")]
    DigestMismatch { what: String, expected: String, actual: String },
    #[error("{reference}: not supported: {what}")]
    Unsupported { reference: String, what: String },
    #[error("{path}: {reason}")]
    Io { path: PathBuf, reason: String },
    #[error(transparent)]
    Store(#[from] ImageError),
}

/// How to reach registries.
#[derive(Debug, Clone, Default)]
pub struct PullOptions {
    /// Registries (`host:port` or `host`) reached without TLS verification, or over plain HTTP.
    /// Loopback registries (`localhost`, `127.0.0.1`, `[::1]`) always are, as with Docker.
    pub insecure_registries: Vec<String>,
    /// Credentials, looked up for the image's repository.
    pub keyring: Keyring,
}

/// How far a pull is, per layer (by blob digest).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PullProgress {
    /// The manifest is read: the image's layers, lowest first, with their (compressed) sizes.
    Resolved {
        layers: Vec<(String, u64)>,
    },
    /// The store has this layer already.
    Exists {
        digest: String,
    },
    Downloading {
        digest: String,
        done: u64,
        total: u64,
    },
    Unpacking {
        digest: String,
    },
    Done {
        digest: String,
    },
}

/// A pulled image.
#[derive(Debug, Clone)]
pub struct Pulled {
    pub image: Image,
    /// `name@<manifest digest>`: what the reference resolved to.
    pub repo_digest: String,
    /// Time spent waiting for other writers of the store (other pulls, imports).
    pub waited: Duration,
}

/// What the registry says the image is, before anything is stored.
struct Resolved {
    name: String,
    tag: Option<String>,
    manifest_digest: String,
    manifest_bytes: Vec<u8>,
    config_digest: String,
    config_bytes: Vec<u8>,
    config: ConfigFile,
    layers: Vec<manifest::Descriptor>,
}

impl ImageStore {
    /// Pull `reference` into the store. Credentials the keyring has for the repository are tried
    /// in turn (the last error is returned), none means an anonymous pull.
    pub async fn pull(
        &self,
        reference: &str,
        options: &PullOptions,
        progress: &(dyn Fn(PullProgress) + Send + Sync),
    ) -> Result<Pulled, PullError> {
        let r = reference::parse(reference)?;
        let credentials: Vec<Option<Credential>> = match options.keyring.lookup(&r.name) {
            found if found.is_empty() => vec![None],
            found => found.into_iter().map(Some).collect(),
        };
        let mut last = None;
        for credential in credentials {
            match self.pull_as(&r, options, credential, progress).await {
                Ok(p) => return Ok(p),
                Err(e @ PullError::Store(_)) => return Err(e),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| PullError::NotFound { reference: reference.to_string() }))
    }

    async fn pull_as(
        &self,
        r: &reference::Reference,
        options: &PullOptions,
        credential: Option<Credential>,
        progress: &(dyn Fn(PullProgress) + Send + Sync),
    ) -> Result<Pulled, PullError> {
        let (registry, repository) = r.name.split_once('/').unwrap_or(("docker.io", &r.name));
        let insecure = is_insecure(registry, &options.insecure_registries);
        let mut session = Session::new(registry, repository, insecure, credential);
        let resolved = resolve(&mut session, r).await?;
        progress(PullProgress::Resolved {
            layers: resolved.layers.iter().map(|l| (l.digest.clone(), l.size)).collect(),
        });

        let started = Instant::now();
        let store = self.clone();
        let (lock, mut index) = tokio::task::spawn_blocking(move || -> Result<_, ImageError> {
            let lock = store.lock()?;
            let index = store.load()?;
            store.collect_garbage(&index)?;
            Ok((lock, index))
        })
        .await
        .map_err(|e| PullError::Io { path: self.root().to_path_buf(), reason: e.to_string() })??;
        let waited = started.elapsed();

        let source = PathBuf::from(format!("{}", r));
        let mut sizes = HashMap::new();
        let mut seen = BTreeSet::new();
        for (layer, diff_id) in resolved.layers.iter().zip(&resolved.config.diff_ids) {
            let present = index.layers.contains_key(diff_id) && self.layer_dir(diff_id).is_dir();
            if present || !seen.insert(diff_id.clone()) {
                progress(PullProgress::Exists { digest: layer.digest.clone() });
                continue;
            }
            if layer.media_type.contains("foreign") {
                return Err(PullError::Unsupported {
                    reference: r.to_string(),
                    what: format!("foreign (Windows) layer {}", layer.digest),
                });
            }
            let download = self.temp_path("download");
            let (digest, total) = (layer.digest.clone(), layer.size);
            let mut report = |done| progress(PullProgress::Downloading { digest: digest.clone(), done, total });
            let fetched = session.blob_to_file(&layer.digest, layer.size, &download, &mut report).await;
            if let Err(e) = fetched {
                let _ = std::fs::remove_file(&download);
                return Err(e);
            }
            progress(PullProgress::Unpacking { digest: layer.digest.clone() });
            let (store, source, layer_diff_id) = (self.clone(), source.clone(), diff_id.clone());
            let blob = LayerBlob { member: layer.digest.clone(), digest: Some(layer.digest.clone()), size: layer.size };
            let size = tokio::task::spawn_blocking(move || -> Result<u64, ImageError> {
                let file = File::open(&download).map_err(ImageError::io(&download))?;
                let mut quiet = |_| {};
                let mut meter = Meter::new(&mut quiet, Stage::Unpacking, blob.size);
                let unpacked =
                    store.unpack_layer_from(&source, BufReader::new(file), &blob, &layer_diff_id, &mut meter);
                let _ = std::fs::remove_file(&download);
                unpacked
            })
            .await
            .map_err(|e| PullError::Io { path: self.root().to_path_buf(), reason: e.to_string() })??;
            sizes.insert(diff_id.clone(), size);
            progress(PullProgress::Done { digest: layer.digest.clone() });
        }

        self.put_blob(&resolved.config_digest, &resolved.config_bytes)?;
        self.put_blob(&resolved.manifest_digest, &resolved.manifest_bytes)?;
        let record = ImageRecord {
            layers: resolved.config.diff_ids.clone(),
            manifest: Some(resolved.manifest_digest.clone()),
            ..Default::default()
        };
        let tags: Vec<String> = resolved.tag.iter().map(|t| format!("{}:{t}", resolved.name)).collect();
        let repo_digest = format!("{}@{}", resolved.name, resolved.manifest_digest);
        index.add(&resolved.config_digest, record, &tags, std::slice::from_ref(&repo_digest));
        index.layers.extend(sizes);
        self.save(&index)?;
        drop(lock);
        let image = self
            .resolve(&resolved.config_digest)?
            .ok_or_else(|| ImageError::NotFound(resolved.config_digest.clone()))?;
        Ok(Pulled { image, repo_digest, waited })
    }
}

/// Read the manifest (through a list or index) and the config.
async fn resolve(session: &mut Session, r: &reference::Reference) -> Result<Resolved, PullError> {
    let wanted = r.digest.clone().or_else(|| r.tag.clone()).unwrap_or_else(|| "latest".into());
    let (top, content_type) = session.manifest(&wanted).await?;
    let top_digest = super::digest::sha256(&top);
    if let Some(d) = &r.digest
        && *d != top_digest
    {
        return Err(PullError::DigestMismatch { what: r.to_string(), expected: d.clone(), actual: top_digest });
    }
    let bad = |reason: String| PullError::BadManifest { reference: r.to_string(), reason };
    let mut parsed = manifest::parse(content_type.as_deref(), &top).map_err(bad)?;
    // An index may (rarely) point at another index: follow a few levels.
    for _ in 0..3 {
        let Parsed::Index(entries) = &parsed else { break };
        let platform = manifest::host_platform();
        let Some(entry) = manifest::select(entries, &platform) else {
            let available = manifest::platforms(entries).join(", ");
            return Err(PullError::NoPlatform {
                reference: r.to_string(),
                platform: platform.to_string(),
                available: if available.is_empty() { "no platforms".into() } else { available },
            });
        };
        let digest = entry.digest.clone();
        if super::digest::hex(&digest).is_none() {
            return Err(bad(format!("unsupported digest {digest:?}")));
        }
        let (bytes, content_type) = session.manifest(&digest).await?;
        let actual = super::digest::sha256(&bytes);
        if actual != digest {
            return Err(PullError::DigestMismatch { what: format!("{}@{digest}", r.name), expected: digest, actual });
        }
        parsed = manifest::parse(content_type.as_deref(), &bytes).map_err(bad)?;
    }
    let Parsed::Manifest(m) = parsed else { return Err(bad("image indexes nest too deep".into())) };
    if super::digest::hex(&m.config.digest).is_none() {
        return Err(bad(format!("unsupported config digest {:?}", m.config.digest)));
    }
    if let Some(l) = m.layers.iter().find(|l| super::digest::hex(&l.digest).is_none()) {
        return Err(bad(format!("unsupported layer digest {:?}", l.digest)));
    }
    let config_bytes = session.blob_bytes(&m.config.digest, manifest::JSON_MAX).await?;
    let config = ConfigFile::parse(&config_bytes).map_err(|e| bad(format!("config {}: {e}", m.config.digest)))?;
    if config.diff_ids.len() != m.layers.len() {
        return Err(bad(format!(
            "the manifest has {} layers but the config lists {}",
            m.layers.len(),
            config.diff_ids.len()
        )));
    }
    Ok(Resolved {
        name: r.name.clone(),
        tag: r.tag.clone(),
        manifest_digest: top_digest,
        manifest_bytes: top,
        config_digest: m.config.digest.clone(),
        config_bytes,
        config,
        layers: m.layers,
    })
}

/// Whether `registry` (`host[:port]`) is reached without TLS verification (or over HTTP):
/// loopback always, others when named in `insecure` with or without their port.
pub fn is_insecure(registry: &str, insecure: &[String]) -> bool {
    let host = match registry.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => registry.rsplit_once(':').map_or(registry, |(h, _)| h),
    };
    let loopback = host == "localhost" || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback());
    loopback || insecure.iter().any(|i| i == registry || i == host)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_registries_are_insecure_by_default() {
        assert!(is_insecure("localhost:5000", &[]));
        assert!(is_insecure("127.0.0.1:5000", &[]));
        assert!(is_insecure("127.0.0.2", &[]));
        assert!(is_insecure("[::1]:5000", &[]));
        assert!(!is_insecure("registry.io:5000", &[]));
        assert!(!is_insecure("docker.io", &[]));
    }

    #[test]
    fn named_registries_are_insecure_with_or_without_their_port() {
        let list = vec!["registry.lan:5000".to_string(), "other.lan".to_string()];
        assert!(is_insecure("registry.lan:5000", &list));
        assert!(!is_insecure("registry.lan:5001", &list));
        assert!(is_insecure("other.lan:443", &list));
        assert!(is_insecure("other.lan", &list));
    }

    #[test]
    fn errors_read_as_one_line_naming_the_image() {
        let e = PullError::NotFound { reference: "127.0.0.1:5000/test/busybox:2".into() };
        assert_eq!(e.to_string(), "127.0.0.1:5000/test/busybox:2: not found");
        let e = PullError::Transport {
            registry: "nosuch.invalid".into(),
            source: HttpError::UnknownHost("nosuch.invalid".into()),
        };
        assert_eq!(e.to_string(), "pulling from nosuch.invalid: unknown host nosuch.invalid");
    }
}
