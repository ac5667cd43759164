//! `docker save` / `podman save` archives: `manifest.json` lists each image's config member,
//! its `RepoTags` and its layer members (`<id>/layer.tar` in the legacy layout, content-addressed
//! `blobs/sha256/<hex>` since Docker 25). Configs named by their digest are checked against it.

use serde::Deserialize;

use super::archive::{Archive, ArchiveImage, LayerBlob, bad, clean};
use super::digest;
use super::error::ImageError;
use super::reference;

impl Archive {
    pub(crate) fn docker_images(&self) -> Result<Vec<ArchiveImage>, ImageError> {
        let entries: Vec<DockerEntry> = serde_json::from_slice(&self.read("manifest.json")?)
            .map_err(|e| bad(&self.path, format!("manifest.json: {e}")))?;
        let mut images = Vec::new();
        for entry in entries {
            let config = self.read(&entry.config)?;
            let config_digest = digest::sha256(&config);
            if let Some(expected) = digest_in_name(&entry.config)
                && expected != config_digest
            {
                return Err(ImageError::DigestMismatch {
                    path: self.path.clone(),
                    what: entry.config.clone(),
                    expected,
                    actual: config_digest,
                });
            }
            let mut layers = Vec::new();
            for member in entry.layers {
                let (_, size) = self.locate(&member)?;
                layers.push(LayerBlob { digest: digest_in_name(&member), member, size });
            }
            let tags = entry
                .repo_tags
                .unwrap_or_default()
                .iter()
                .map(|t| reference::normalize(t).map_err(|e| bad(&self.path, format!("manifest.json: {e}"))))
                .collect::<Result<_, _>>()?;
            images.push(ArchiveImage { tags, digests: vec![], manifest: None, config_digest, config, layers });
        }
        Ok(images)
    }
}

/// The digest a content-addressed member name carries: `blobs/sha256/<hex>` or legacy
/// docker save's `<hex>.json`.
pub(crate) fn digest_in_name(member: &str) -> Option<String> {
    let member = clean(member);
    let hex = member.strip_prefix("blobs/sha256/").or_else(|| member.strip_suffix(".json"))?;
    let d = format!("sha256:{hex}");
    digest::hex(&d).is_some().then_some(d)
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DockerEntry {
    config: String,
    #[serde(default)]
    repo_tags: Option<Vec<String>>,
    #[serde(default)]
    layers: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_addressed_member_names_carry_their_digest() {
        let hex = "a".repeat(64);
        assert_eq!(digest_in_name(&format!("blobs/sha256/{hex}")), Some(format!("sha256:{hex}")));
        assert_eq!(digest_in_name(&format!("./{hex}.json")), Some(format!("sha256:{hex}")));
        assert_eq!(digest_in_name("config.json"), None);
        assert_eq!(digest_in_name(&format!("{hex}/layer.tar")), None);
    }
}
