//! The one error type of the image store. Every message names the file or reference and the
//! problem in one line, because `skiff images` prints it as is.

use std::io;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// The archive given to import does not exist.
    #[error("{0}: no such file")]
    MissingFile(PathBuf),
    /// Reading or writing a file of the store or an archive failed.
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    /// The file is not a tar archive, or a tar without `manifest.json` / `index.json`.
    #[error("{path}: not an image archive ({reason})")]
    NotAnArchive { path: PathBuf, reason: String },
    /// The archive is gzip-compressed and its gzip stream is damaged or cut short.
    #[error("{path}: corrupt gzip: {source}")]
    CorruptGzip { path: PathBuf, source: io::Error },
    /// A blob's content does not hash to the digest that names it.
    #[error("{path}: digest mismatch for {what}: expected {expected}, got {actual}")]
    DigestMismatch { path: PathBuf, what: String, expected: String, actual: String },
    /// A manifest, index or config of the archive is missing or malformed.
    #[error("{path}: {reason}")]
    BadArchive { path: PathBuf, reason: String },
    /// A layer could not be unpacked (bad tar, path escaping the layer, …).
    #[error("{path}: layer {layer}: {reason}")]
    BadLayer { path: PathBuf, layer: String, reason: String },
    /// Something valid that the store does not handle (zstd layers, other digest algorithms).
    #[error("{path}: not supported: {what}")]
    Unsupported { path: PathBuf, what: String },
    /// A name that is not a valid image reference.
    #[error("invalid image reference {reference:?}: {reason}")]
    BadReference { reference: String, reason: String },
    #[error("image {0:?} not found")]
    NotFound(String),
    /// An image id prefix that matches more than one image.
    #[error("image id prefix {0:?} matches more than one image")]
    Ambiguous(String),
    /// The store's own index cannot be read.
    #[error("image store index {path}: {reason}")]
    CorruptIndex { path: PathBuf, reason: String },
}

impl ImageError {
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(io::Error) -> ImageError {
        let path = path.into();
        move |source| ImageError::Io { path, source }
    }
}
