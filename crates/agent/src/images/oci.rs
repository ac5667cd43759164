//! OCI layouts in a tar (`skopeo copy … oci-archive:`, `podman save --format oci-archive`):
//! `index.json` lists manifests (or image indexes, for multi-platform images) by digest, all
//! blobs are `blobs/sha256/<hex>` and checked against their digest when read.

use serde::Deserialize;

use super::archive::{Archive, ArchiveImage, LayerBlob, bad, blob_member};
use super::error::ImageError;
use super::manifest::{self, Descriptor, Manifest, Parsed};
use super::reference;

impl Archive {
    pub(crate) fn oci_images(&self) -> Result<Vec<ArchiveImage>, ImageError> {
        let index: OciIndex = serde_json::from_slice(&self.read("index.json")?)
            .map_err(|e| bad(&self.path, format!("index.json: {e}")))?;
        let mut images = Vec::new();
        for desc in &index.manifests {
            let names = self.oci_names(desc)?;
            let top = self.read_blob(&blob_member(&self.path, &desc.digest)?, &desc.digest)?;
            let manifest = self.platform_manifest(desc, top.clone(), 0)?;
            let config_digest = manifest.config.digest.clone();
            let config = self.read_blob(&blob_member(&self.path, &config_digest)?, &config_digest)?;
            let mut layers = Vec::new();
            for l in &manifest.layers {
                let member = blob_member(&self.path, &l.digest)?;
                let (_, size) = self.locate(&member)?;
                layers.push(LayerBlob { member, digest: Some(l.digest.clone()), size });
            }
            let mut tags = Vec::new();
            let mut digests = Vec::new();
            for n in names {
                let r = reference::parse(&n).map_err(|e| bad(&self.path, format!("index.json: {e}")))?;
                tags.extend(r.tagged());
                digests.push(format!("{}@{}", r.name, desc.digest));
            }
            images.push(ArchiveImage {
                tags,
                digests,
                manifest: Some((desc.digest.clone(), top)),
                config_digest,
                config,
                layers,
            });
        }
        Ok(images)
    }

    /// The names an OCI index entry gives its image. containerd's annotation holds a full name;
    /// the OCI one is a full name when skopeo writes `oci-archive:file:name:tag`, but may be a
    /// bare tag, which names nothing: such images are imported untagged.
    fn oci_names(&self, desc: &Descriptor) -> Result<Vec<String>, ImageError> {
        if let Some(n) = desc.annotations.get("io.containerd.image.name") {
            return Ok(vec![n.clone()]);
        }
        match desc.annotations.get("org.opencontainers.image.ref.name") {
            Some(n) if n.contains(['/', ':', '@']) => Ok(vec![n.clone()]),
            Some(n) => {
                tracing::warn!(archive = %self.path.display(), tag = %n, "OCI image named only by a tag: imported untagged");
                Ok(vec![])
            }
            None => Ok(vec![]),
        }
    }

    /// Follow image indexes (multi-platform images) down to the manifest for this machine.
    fn platform_manifest(&self, desc: &Descriptor, blob: Vec<u8>, depth: usize) -> Result<Manifest, ImageError> {
        let content_type = Some(desc.media_type.as_str()).filter(|m| !m.is_empty());
        let parsed = manifest::parse(content_type, &blob)
            .map_err(|e| bad(&self.path, format!("manifest {}: {e}", desc.digest)))?;
        let entries = match parsed {
            Parsed::Manifest(m) => return Ok(m),
            Parsed::Index(entries) => entries,
        };
        if depth > 2 {
            return Err(bad(&self.path, format!("index {} nests too deep", desc.digest)));
        }
        let want = manifest::host_platform();
        // Only entries whose manifest the archive holds (skopeo may copy one platform only).
        let present: Vec<Descriptor> =
            entries.into_iter().filter(|m| blob_member(&self.path, &m.digest).is_ok_and(|b| self.has(&b))).collect();
        let child = manifest::select(&present, &want).ok_or_else(|| ImageError::Unsupported {
            path: self.path.clone(),
            what: format!("index {} has no {want} image in the archive", desc.digest),
        })?;
        let blob = self.read_blob(&blob_member(&self.path, &child.digest)?, &child.digest)?;
        self.platform_manifest(child, blob, depth + 1)
    }
}

#[derive(Deserialize)]
struct OciIndex {
    #[serde(default)]
    manifests: Vec<Descriptor>,
}
