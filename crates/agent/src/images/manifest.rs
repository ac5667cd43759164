//! Manifests as registries serve them: Docker v2 schema 2 manifests and manifest lists, OCI
//! manifests and image indexes. A list or index is resolved to the entry for this machine's
//! platform (os, architecture, and variant where it matters, as containerd's default matcher).

use serde::Deserialize;

pub(crate) const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub(crate) const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub(crate) const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub(crate) const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";

/// What a pull accepts, best first.
pub(crate) const ACCEPT: &str = "application/vnd.oci.image.index.v1+json, \
    application/vnd.docker.distribution.manifest.list.v2+json, \
    application/vnd.oci.image.manifest.v1+json, \
    application/vnd.docker.distribution.manifest.v2+json";

/// Manifests and configs larger than this are refused (registries cap manifests at 4 MiB).
pub(crate) const JSON_MAX: u64 = 16 << 20;

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Descriptor {
    #[serde(default)]
    pub media_type: String,
    pub digest: String,
    #[serde(default)]
    pub size: u64,
    #[serde(default)]
    pub platform: Option<Platform>,
    /// Names in OCI layouts (`org.opencontainers.image.ref.name`, containerd's image name).
    #[serde(default)]
    pub annotations: std::collections::BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub(crate) struct Platform {
    #[serde(default)]
    pub os: String,
    #[serde(default)]
    pub architecture: String,
    #[serde(default)]
    pub variant: Option<String>,
}

impl std::fmt::Display for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        match self.variant.as_deref() {
            Some(v) if !v.is_empty() => write!(f, "/{v}"),
            _ => Ok(()),
        }
    }
}

/// A manifest: one image.
#[derive(Debug)]
pub(crate) struct Manifest {
    pub config: Descriptor,
    /// Lowest first.
    pub layers: Vec<Descriptor>,
}

#[derive(Debug)]
pub(crate) enum Parsed {
    Manifest(Manifest),
    /// A manifest list or image index: one manifest per platform.
    Index(Vec<Descriptor>),
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Raw {
    #[serde(default)]
    schema_version: Option<u32>,
    #[serde(default)]
    media_type: Option<String>,
    #[serde(default)]
    config: Option<Descriptor>,
    #[serde(default)]
    layers: Option<Vec<Descriptor>>,
    #[serde(default)]
    manifests: Option<Vec<Descriptor>>,
}

/// Parse a manifest or index; `content_type` is the response's, used when the document does
/// not say its media type. The error says what is wrong, in a few words.
pub(crate) fn parse(content_type: Option<&str>, bytes: &[u8]) -> Result<Parsed, String> {
    let raw: Raw = serde_json::from_slice(bytes).map_err(|e| format!("manifest is not valid JSON: {e}"))?;
    if raw.schema_version == Some(1) {
        return Err("Docker schema 1 manifests are not supported (push the image again with a newer client)".into());
    }
    let content_type = content_type.map(|c| c.split(';').next().unwrap_or("").trim());
    let media = raw.media_type.as_deref().filter(|m| !m.is_empty()).or(content_type).unwrap_or("");
    let index = match media {
        DOCKER_LIST | OCI_INDEX => true,
        DOCKER_MANIFEST | OCI_MANIFEST => false,
        _ => raw.manifests.is_some() && raw.config.is_none(),
    };
    if index {
        return Ok(Parsed::Index(raw.manifests.unwrap_or_default()));
    }
    let config = raw.config.ok_or("manifest has no config")?;
    Ok(Parsed::Manifest(Manifest { config, layers: raw.layers.unwrap_or_default() }))
}

/// The platform images are run on here.
pub(crate) fn host_platform() -> Platform {
    let architecture = crate::node::host::go_arch(std::env::consts::ARCH);
    let variant = match architecture {
        "arm64" => Some("v8"),
        "arm" => Some("v7"),
        _ => None,
    };
    Platform { os: "linux".into(), architecture: architecture.into(), variant: variant.map(str::to_string) }
}

/// Variants that mean the same as none: the base level of their architecture.
fn variant_of(p: &Platform) -> &str {
    match (p.architecture.as_str(), p.variant.as_deref().unwrap_or("")) {
        ("arm64", "v8") | ("amd64", "v1") => "",
        (_, v) => v,
    }
}

/// The entry of an index for `want`: same os and architecture, and the same variant, else one
/// that names none (which is then the architecture's base level).
pub(crate) fn select<'a>(manifests: &'a [Descriptor], want: &Platform) -> Option<&'a Descriptor> {
    let candidates = || {
        manifests
            .iter()
            .filter(|m| m.platform.as_ref().is_some_and(|p| p.os == want.os && p.architecture == want.architecture))
    };
    let wanted_variant = variant_of(want);
    candidates()
        .find(|m| m.platform.as_ref().is_some_and(|p| variant_of(p) == wanted_variant))
        .or_else(|| candidates().find(|m| m.platform.as_ref().is_some_and(|p| variant_of(p).is_empty())))
}

/// The platforms an index offers, for the message when none fits.
pub(crate) fn platforms(manifests: &[Descriptor]) -> Vec<String> {
    let mut all: Vec<String> = manifests
        .iter()
        .filter_map(|m| m.platform.as_ref())
        .filter(|p| p.os != "unknown")
        .map(|p| p.to_string())
        .collect();
    all.dedup();
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest(c: char) -> String {
        format!("sha256:{}", c.to_string().repeat(64))
    }

    const INDEX: &str = r#"{
      "schemaVersion": 2,
      "mediaType": "application/vnd.oci.image.index.v1+json",
      "manifests": [
        {"mediaType": "application/vnd.oci.image.manifest.v1+json", "size": 1, "digest": "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
         "platform": {"os": "windows", "architecture": "amd64", "os.version": "10.0.17763.1"}},
        {"mediaType": "application/vnd.oci.image.manifest.v1+json", "size": 1, "digest": "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb",
         "platform": {"os": "linux", "architecture": "arm", "variant": "v6"}},
        {"mediaType": "application/vnd.oci.image.manifest.v1+json", "size": 1, "digest": "sha256:cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc",
         "platform": {"os": "linux", "architecture": "arm", "variant": "v7"}},
        {"mediaType": "application/vnd.oci.image.manifest.v1+json", "size": 1, "digest": "sha256:dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd",
         "platform": {"os": "linux", "architecture": "arm64", "variant": "v8"}},
        {"mediaType": "application/vnd.oci.image.manifest.v1+json", "size": 1, "digest": "sha256:eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee",
         "platform": {"os": "linux", "architecture": "amd64"}},
        {"mediaType": "application/vnd.oci.image.manifest.v1+json", "size": 1, "digest": "sha256:ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
         "platform": {"os": "unknown", "architecture": "unknown"}}
      ]
    }"#;

    fn index() -> Vec<Descriptor> {
        match parse(None, INDEX.as_bytes()).unwrap() {
            Parsed::Index(m) => m,
            Parsed::Manifest(_) => panic!("an index"),
        }
    }

    fn platform(arch: &str, variant: Option<&str>) -> Platform {
        Platform { os: "linux".into(), architecture: arch.into(), variant: variant.map(str::to_string) }
    }

    #[test]
    fn index_entry_for_os_and_architecture_is_chosen() {
        assert_eq!(select(&index(), &platform("amd64", None)).unwrap().digest, digest('e'));
        assert_eq!(select(&index(), &platform("amd64", Some("v1"))).unwrap().digest, digest('e'));
    }

    #[test]
    fn variant_decides_between_entries_of_one_architecture() {
        assert_eq!(select(&index(), &platform("arm", Some("v7"))).unwrap().digest, digest('c'));
        assert_eq!(select(&index(), &platform("arm", Some("v6"))).unwrap().digest, digest('b'));
    }

    #[test]
    fn arm64_v8_is_the_same_as_no_variant() {
        assert_eq!(select(&index(), &platform("arm64", None)).unwrap().digest, digest('d'));
        let plain: Vec<Descriptor> = index()
            .into_iter()
            .map(|mut d| {
                if let Some(p) = d.platform.as_mut().filter(|p| p.architecture == "arm64") {
                    p.variant = None;
                }
                d
            })
            .collect();
        assert_eq!(select(&plain, &platform("arm64", Some("v8"))).unwrap().digest, digest('d'));
    }

    #[test]
    fn no_entry_for_the_platform_is_none_and_the_offer_is_listed() {
        assert!(select(&index(), &platform("s390x", None)).is_none());
        assert_eq!(
            platforms(&index()),
            ["windows/amd64", "linux/arm/v6", "linux/arm/v7", "linux/arm64/v8", "linux/amd64"]
        );
    }

    #[test]
    fn docker_manifest_is_read_by_media_type_or_content_type() {
        let m = format!(
            r#"{{"schemaVersion":2,"config":{{"mediaType":"application/vnd.docker.container.image.v1+json","size":3,"digest":"{}"}},
            "layers":[{{"mediaType":"application/vnd.docker.image.rootfs.diff.tar.gzip","size":9,"digest":"{}"}}]}}"#,
            digest('a'),
            digest('b')
        );
        let Parsed::Manifest(parsed) =
            parse(Some("application/vnd.docker.distribution.manifest.v2+json"), m.as_bytes()).unwrap()
        else {
            panic!("a manifest")
        };
        assert_eq!(parsed.config.digest, digest('a'));
        assert_eq!(parsed.layers[0].size, 9);
    }

    #[test]
    fn schema1_and_garbage_are_refused() {
        assert!(parse(None, br#"{"schemaVersion":1,"fsLayers":[]}"#).unwrap_err().contains("schema 1"));
        assert!(parse(None, b"<html>").unwrap_err().contains("JSON"));
        assert!(parse(Some(DOCKER_MANIFEST), br#"{"schemaVersion":2}"#).unwrap_err().contains("no config"));
    }
}
