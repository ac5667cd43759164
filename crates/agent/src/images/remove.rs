//! Removing images: `skiff images rm`, and later the agent's image garbage collection.

use super::error::ImageError;
use super::store::ImageStore;

impl ImageStore {
    /// Remove a reference. By tag (`name:tag`) or digest (`name@sha256:…`) only that reference
    /// goes; by image id the image loses all of them. An image left without references is
    /// deleted, with the blobs and layer directories no other image shares.
    pub fn remove(&self, reference: &str) -> Result<(), ImageError> {
        let _lock = self.lock()?;
        let mut index = self.load()?;
        let (id, how) = index.find(reference)?.ok_or_else(|| ImageError::NotFound(reference.to_string()))?;
        if index.unreference(&id, &how) {
            index.prune_layers();
        }
        self.save(&index)?;
        self.collect_garbage(&index)
    }
}
