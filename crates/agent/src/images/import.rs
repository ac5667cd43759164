//! Importing archives into the store: `skiff images import`, and the k3s-style air-gap dir
//! (`<data-dir>/agent/images/`) at agent start.
//!
//! An archive is imported whole or not at all: configs are checked and every new layer is
//! unpacked (and verified against its digests) before the index names any of it.

use std::collections::{BTreeSet, HashMap};
use std::fs;
use std::io::{self, BufRead, BufReader, Read};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use flate2::bufread::MultiGzDecoder;

use super::archive::{Archive, Compression, LayerBlob};
use super::config::ConfigFile;
use super::digest::HashingReader;
use super::error::ImageError;
use super::index::{ImageRecord, Stamp};
use super::progress::{Meter, MeteredReader, Progress, Stage};
use super::store::ImageStore;
use super::unpack::unpack;

/// File names the air-gap dir imports.
const ARCHIVE_SUFFIXES: &[&str] = &[".tar", ".tar.gz", ".tgz"];
/// Names k3s also imports that this store cannot read yet: said once in the log.
const UNSUPPORTED_SUFFIXES: &[&str] = &[".tar.zst", ".tzst", ".tar.bz2", ".tbz", ".tar.lz4", ".txt"];

impl ImageStore {
    /// Import every image in a docker-save / podman-save or OCI-layout archive, gzip or not.
    /// Returns the normalised references imported (the id of an image without a name).
    pub fn import(&self, archive: &Path, progress: &mut dyn FnMut(Progress)) -> Result<Vec<String>, ImageError> {
        self.import_archive(archive, progress, None)
    }

    /// Import each archive in `dir` that was not imported before in this version (same path,
    /// size and mtime), as k3s does with its `agent/images` dir. A missing dir imports nothing.
    /// An archive that fails is logged and skipped (and tried again next time); the error of
    /// this call is for the dir itself.
    pub fn import_dir(&self, dir: &Path) -> Result<Vec<String>, ImageError> {
        let entries = match fs::read_dir(dir) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(vec![]),
            Err(e) => return Err(ImageError::Io { path: dir.to_path_buf(), source: e }),
        };
        let mut files: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        files.sort();
        let mut names = Vec::new();
        for path in files {
            let file_name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            if !ARCHIVE_SUFFIXES.iter().any(|s| file_name.ends_with(s)) {
                if UNSUPPORTED_SUFFIXES.iter().any(|s| file_name.ends_with(s)) {
                    tracing::warn!(file = %path.display(), "image archives of this kind are not supported yet; skipped");
                }
                continue;
            }
            let Ok(meta) = fs::metadata(&path) else { continue };
            if !meta.is_file() {
                continue;
            }
            let stamp =
                Stamp { size: meta.len(), mtime_ns: meta.mtime() as i128 * 1_000_000_000 + meta.mtime_nsec() as i128 };
            if self.load()?.imported.get(&path) == Some(&stamp) {
                continue;
            }
            match self.import_archive(&path, &mut |_| {}, Some((path.clone(), stamp))) {
                Ok(imported) => {
                    tracing::info!(archive = %path.display(), images = ?imported, "imported image archive");
                    names.extend(imported);
                }
                Err(e) => tracing::warn!(error = %e, "image archive not imported"),
            }
        }
        Ok(names)
    }

    fn import_archive(
        &self,
        path: &Path,
        progress: &mut dyn FnMut(Progress),
        stamp: Option<(PathBuf, Stamp)>,
    ) -> Result<Vec<String>, ImageError> {
        let _lock = self.lock()?;
        let mut index = self.load()?;
        self.collect_garbage(&index)?;
        let archive = Archive::open(path, &self.paths().tmp, progress)?;
        let images = archive.images()?;
        let mut configs = Vec::new();
        for image in &images {
            let config = ConfigFile::parse(&image.config).map_err(|reason| ImageError::BadArchive {
                path: path.to_path_buf(),
                reason: format!("config {}: {reason}", image.config_digest),
            })?;
            if config.diff_ids.len() != image.layers.len() {
                return Err(ImageError::BadArchive {
                    path: path.to_path_buf(),
                    reason: format!(
                        "image {} has {} layers but its config lists {}",
                        image.config_digest,
                        image.layers.len(),
                        config.diff_ids.len()
                    ),
                });
            }
            configs.push(config);
        }

        // Which layers to unpack: each diff id once, and not those the store has.
        let mut todo: Vec<(&LayerBlob, &str)> = Vec::new();
        let mut seen = BTreeSet::new();
        for (image, config) in images.iter().zip(&configs) {
            for (blob, diff_id) in image.layers.iter().zip(&config.diff_ids) {
                let present = index.layers.contains_key(diff_id) && self.layer_dir(diff_id).is_dir();
                if !present && seen.insert(diff_id.as_str()) {
                    todo.push((blob, diff_id));
                }
            }
        }
        let mut meter = Meter::new(progress, Stage::Unpacking, todo.iter().map(|(b, _)| b.size).sum());
        let mut sizes = HashMap::new();
        for (blob, diff_id) in todo {
            let size = self.unpack_layer(&archive, blob, diff_id, &mut meter)?;
            sizes.insert(diff_id.to_string(), size);
        }
        meter.finish();

        let mut names = Vec::new();
        for (image, config) in images.iter().zip(configs) {
            self.put_blob(&image.config_digest, &image.config)?;
            if let Some((d, bytes)) = &image.manifest {
                self.put_blob(d, bytes)?;
            }
            let record = ImageRecord {
                layers: config.diff_ids,
                manifest: image.manifest.as_ref().map(|(d, _)| d.clone()),
                ..Default::default()
            };
            index.add(&image.config_digest, record, &image.tags, &image.digests);
            let imported = if image.tags.is_empty() { vec![image.config_digest.clone()] } else { image.tags.clone() };
            for n in imported {
                if !names.contains(&n) {
                    names.push(n);
                }
            }
        }
        index.layers.extend(sizes);
        if let Some((p, s)) = stamp {
            index.imported.insert(p, s);
        }
        self.save(&index)?;
        Ok(names)
    }

    /// Unpack one layer into tmp/, verify it, and move it to its place. Returns the size of its
    /// uncompressed tar.
    fn unpack_layer(
        &self,
        archive: &Archive,
        blob: &LayerBlob,
        diff_id: &str,
        meter: &mut Meter<'_>,
    ) -> Result<u64, ImageError> {
        let (reader, _) = archive.member(&blob.member)?;
        self.unpack_layer_from(&archive.path, reader, blob, diff_id, meter)
    }

    /// Unpack one layer read from `reader` (its blob as stored, maybe compressed) into tmp/,
    /// verify it, and move it to its place; `source` names where it came from in errors.
    /// Returns the size of its uncompressed tar. Pulls use it too (pull.rs).
    pub(crate) fn unpack_layer_from(
        &self,
        source: &Path,
        reader: impl Read,
        blob: &LayerBlob,
        diff_id: &str,
        meter: &mut Meter<'_>,
    ) -> Result<u64, ImageError> {
        let tmp = self.temp_path("layer");
        fs::create_dir(&tmp).map_err(ImageError::io(&tmp))?;
        let size = match verify_and_unpack(source, reader, blob, diff_id, &tmp, meter) {
            Ok(size) => size,
            Err(e) => {
                let _ = fs::remove_dir_all(&tmp);
                return Err(e);
            }
        };
        let dir = self.layer_dir(diff_id);
        if fs::symlink_metadata(&dir).is_ok() {
            // A leftover the index does not know (it said the layer was missing).
            let aside = self.temp_path("deleted");
            fs::rename(&dir, &aside).map_err(ImageError::io(&dir))?;
        }
        fs::rename(&tmp, &dir).map_err(ImageError::io(&dir))?;
        Ok(size)
    }
}

/// Stream the blob through its digest, the decompressor, the diff id digest and the unpacker.
fn verify_and_unpack(
    source: &Path,
    reader: impl Read,
    blob: &LayerBlob,
    diff_id: &str,
    dest: &Path,
    meter: &mut Meter<'_>,
) -> Result<u64, ImageError> {
    let layer_error =
        |reason: String| ImageError::BadLayer { path: source.to_path_buf(), layer: diff_id.to_string(), reason };
    let mut compressed = BufReader::new(HashingReader::new(MeteredReader { inner: reader, meter }));
    let head = compressed.fill_buf().map_err(|e| layer_error(format!("reading: {e}")))?;
    let (actual_diff, size) = match Compression::sniff(head) {
        Compression::None => {
            let mut diff = HashingReader::new(&mut compressed);
            unpack(&mut diff, dest).map_err(|e| layer_error(e.to_string()))?;
            diff.finish()
        }
        Compression::Gzip => {
            let mut diff = HashingReader::new(MultiGzDecoder::new(&mut compressed));
            unpack(&mut diff, dest).map_err(|e| layer_error(e.to_string()))?;
            diff.finish()
        }
        Compression::Zstd => {
            return Err(ImageError::Unsupported {
                path: source.to_path_buf(),
                what: format!("zstd-compressed layer {diff_id}"),
            });
        }
    }
    .map_err(|e| layer_error(format!("reading: {e}")))?;
    let (actual_blob, _) = compressed.into_inner().finish().map_err(|e| layer_error(format!("reading: {e}")))?;
    if let Some(expected) = &blob.digest
        && *expected != actual_blob
    {
        return Err(ImageError::DigestMismatch {
            path: source.to_path_buf(),
            what: blob.member.clone(),
            expected: expected.clone(),
            actual: actual_blob,
        });
    }
    if actual_diff != diff_id {
        return Err(ImageError::DigestMismatch {
            path: source.to_path_buf(),
            what: format!("{} (uncompressed)", blob.member),
            expected: diff_id.to_string(),
            actual: actual_diff,
        });
    }
    Ok(size)
}
