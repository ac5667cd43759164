//! Images: a content-addressed store in the data dir (`<data-dir>/agent/store`).
//!
//! Archives (`docker save`, `podman save`, OCI layouts as `skopeo copy … oci-archive:` writes,
//! gzip or not) are imported with [`ImageStore::import`], or from the air-gap dir at start with
//! [`ImageStore::import_dir`]. Each layer is unpacked once into its own directory, whiteouts
//! converted for overlayfs, so a container's root is an overlay mount of [`Image::layers`] and
//! images sharing a layer share its directory.
//!
//! Start reading at `store.rs` (layout, locking), then `import.rs`. `archive.rs` reads the two
//! archive formats, `unpack.rs` turns a layer tar into a directory, `index.rs` keeps references.
//! Pulls from registries ([`ImageStore::pull`]) start in `pull.rs`; `registry.rs` speaks the
//! registry API over `transport.rs`, `manifest.rs` reads manifests, `auth.rs` holds credentials.

mod archive;
mod auth;
mod challenge;
mod config;
mod digest;
mod docker_save;
mod error;
mod import;
mod index;
mod manifest;
mod oci;
mod progress;
mod pull;
mod reference;
mod registry;
mod remove;
mod store;
mod transport;
mod unpack;

#[cfg(test)]
mod pull_tests;
#[cfg(test)]
mod tests;

use std::path::PathBuf;

pub use auth::{Credential, Keyring};
pub use config::ImageConfig;
pub use error::ImageError;
pub use progress::{Progress, Stage};
pub use pull::{PullError, PullOptions, PullProgress, Pulled, is_insecure};
pub use reference::{Reference, normalize, parse as parse_reference};
pub use store::ImageStore;
pub use transport::HttpError;

/// An image of the store, ready to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Image {
    /// `sha256:<config digest>`.
    pub id: String,
    /// Normalised `name:tag` references.
    pub repo_tags: Vec<String>,
    /// Normalised `name@sha256:<manifest digest>` references (known for OCI archives).
    pub repo_digests: Vec<String>,
    pub config: ImageConfig,
    /// The unpacked layer directories, lowest first, ready for overlay `lowerdir` (which lists
    /// them the other way round: highest first).
    pub layers: Vec<PathBuf>,
    /// Bytes of the layers' uncompressed tars.
    pub size: u64,
}

/// One line of `skiff images ls`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageSummary {
    pub id: String,
    pub repo_tags: Vec<String>,
    pub repo_digests: Vec<String>,
    pub size: u64,
}
