//! The store on disk and its read side.
//!
//! ```text
//! <root>/index.json          references, images, layer sizes (see index.rs)
//! <root>/lock                flock(2) held by every writer (import, remove) for its whole run
//! <root>/blobs/sha256/<hex>  configs and manifests, content addressed
//! <root>/layers/<hex>/       each layer unpacked once, named by its diff id; overlay lower dirs
//! <root>/tmp/                layers being unpacked, decompressed archives, files being deleted
//! ```
//!
//! Writers hold the lock from start to end, so two imports (the agent's air-gap import at start
//! and a `skiff images import`, say) never unpack or delete the same layer at once; readers take
//! no lock and read `index.json`, which is only ever replaced whole. A layer or blob reaches its
//! final name by rename, complete, before the index names it; leftovers of a crash (files no
//! index names, anything in tmp/) are removed by the next writer.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use nix::fcntl::{Flock, FlockArg};

use super::config::ConfigFile;
use super::digest;
use super::error::ImageError;
use super::index::Index;
use super::{Image, ImageSummary};

/// The node's image store. Cheap to clone; all clones (and other processes) share the files.
#[derive(Debug, Clone)]
pub struct ImageStore {
    paths: Arc<Paths>,
}

#[derive(Debug)]
pub(crate) struct Paths {
    pub root: PathBuf,
    pub index: PathBuf,
    pub lock: PathBuf,
    pub blobs: PathBuf,
    pub layers: PathBuf,
    pub tmp: PathBuf,
}

impl ImageStore {
    /// Open the store at `root` (`<data-dir>/agent/store`), creating it if needed.
    pub fn open(root: &Path) -> Result<ImageStore, ImageError> {
        let paths = Paths {
            root: root.to_path_buf(),
            index: root.join("index.json"),
            lock: root.join("lock"),
            blobs: root.join("blobs").join("sha256"),
            layers: root.join("layers"),
            tmp: root.join("tmp"),
        };
        for dir in [&paths.blobs, &paths.layers, &paths.tmp] {
            fs::create_dir_all(dir).map_err(ImageError::io(dir))?;
        }
        Ok(ImageStore { paths: Arc::new(paths) })
    }

    pub fn root(&self) -> &Path {
        &self.paths.root
    }

    pub(crate) fn paths(&self) -> &Paths {
        &self.paths
    }

    /// The image `reference` names (`name:tag`, `name@sha256:…`, or an image id, full or an
    /// unambiguous prefix), with its layers' directories; `None` when there is none.
    pub fn resolve(&self, reference: &str) -> Result<Option<Image>, ImageError> {
        let index = self.load()?;
        let Some((id, _)) = index.find(reference)? else { return Ok(None) };
        let record = &index.images[&id];
        let config = self.read_config(&id)?;
        Ok(Some(Image {
            id: id.clone(),
            repo_tags: record.repo_tags.clone(),
            repo_digests: record.repo_digests.clone(),
            config: config.config,
            layers: record.layers.iter().map(|l| self.layer_dir(l)).collect(),
            size: index.size(record),
        }))
    }

    /// Every image, sorted by id.
    pub fn list(&self) -> Result<Vec<ImageSummary>, ImageError> {
        let index = self.load()?;
        Ok(index
            .images
            .iter()
            .map(|(id, i)| ImageSummary {
                id: id.clone(),
                repo_tags: i.repo_tags.clone(),
                repo_digests: i.repo_digests.clone(),
                size: index.size(i),
            })
            .collect())
    }

    fn read_config(&self, id: &str) -> Result<ConfigFile, ImageError> {
        let path = self.blob_path(id)?;
        let bytes = fs::read(&path).map_err(ImageError::io(&path))?;
        ConfigFile::parse(&bytes).map_err(|reason| ImageError::CorruptIndex { path, reason })
    }

    pub(crate) fn blob_path(&self, d: &str) -> Result<PathBuf, ImageError> {
        let hex = digest::hex(d).ok_or_else(|| ImageError::CorruptIndex {
            path: self.paths.index.clone(),
            reason: format!("bad digest {d:?}"),
        })?;
        Ok(self.paths.blobs.join(hex))
    }

    /// The directory of the layer with this diff id (which the index checked is well formed).
    pub(crate) fn layer_dir(&self, diff_id: &str) -> PathBuf {
        self.paths.layers.join(digest::hex(diff_id).unwrap_or("invalid"))
    }

    /// Take the writers' lock; it is released when the returned value is dropped.
    pub(crate) fn lock(&self) -> Result<Flock<File>, ImageError> {
        let path = &self.paths.lock;
        let file = File::options().create(true).truncate(false).write(true).open(path).map_err(ImageError::io(path))?;
        Flock::lock(file, FlockArg::LockExclusive)
            .map_err(|(_, e)| ImageError::Io { path: path.clone(), source: e.into() })
    }

    pub(crate) fn load(&self) -> Result<Index, ImageError> {
        let path = &self.paths.index;
        match fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| ImageError::CorruptIndex { path: path.clone(), reason: e.to_string() }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Index::default()),
            Err(e) => Err(ImageError::Io { path: path.clone(), source: e }),
        }
    }

    /// Replace the index (under the lock).
    pub(crate) fn save(&self, index: &Index) -> Result<(), ImageError> {
        let path = &self.paths.index;
        let tmp = self.paths.root.join("index.json.tmp");
        let bytes =
            serde_json::to_vec_pretty(index).map_err(|e| ImageError::Io { path: tmp.clone(), source: e.into() })?;
        write_synced(&tmp, &bytes)?;
        fs::rename(&tmp, path).map_err(ImageError::io(path))
    }

    /// Store a blob under its digest unless it is there already.
    pub(crate) fn put_blob(&self, d: &str, bytes: &[u8]) -> Result<(), ImageError> {
        let path = self.blob_path(d)?;
        if path.exists() {
            return Ok(());
        }
        let tmp = self.temp_path("blob");
        write_synced(&tmp, bytes)?;
        fs::rename(&tmp, &path).map_err(ImageError::io(&path))
    }

    /// A fresh name in tmp/.
    pub(crate) fn temp_path(&self, what: &str) -> PathBuf {
        use std::sync::atomic::{AtomicU64, Ordering};
        static NEXT: AtomicU64 = AtomicU64::new(0);
        self.paths.tmp.join(format!("{what}-{}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed)))
    }

    /// Remove what no image of `index` refers to, and everything in tmp/ (under the lock).
    /// Call after saving an index with [`Index::prune_layers`] applied, so that a crash in
    /// between leaves unreferenced files rather than references to missing ones.
    pub(crate) fn collect_garbage(&self, index: &Index) -> Result<(), ImageError> {
        let mut layers = std::collections::BTreeSet::new();
        let mut blobs = std::collections::BTreeSet::new();
        for (id, image) in &index.images {
            layers.extend(image.layers.iter().filter_map(|l| digest::hex(l)).map(str::to_string));
            blobs.extend(digest::hex(id).map(str::to_string));
            blobs.extend(image.manifest.as_deref().and_then(digest::hex).map(str::to_string));
        }
        for (dir, keep) in [(&self.paths.layers, &layers), (&self.paths.blobs, &blobs)] {
            for entry in fs::read_dir(dir).map_err(ImageError::io(dir))? {
                let entry = entry.map_err(ImageError::io(dir))?;
                if !keep.contains(entry.file_name().to_string_lossy().as_ref()) {
                    // Out of sight first, so a half-deleted layer is never under layers/.
                    let aside = self.temp_path("deleted");
                    fs::rename(entry.path(), &aside).map_err(ImageError::io(entry.path()))?;
                }
            }
        }
        let tmp = &self.paths.tmp;
        for entry in fs::read_dir(tmp).map_err(ImageError::io(tmp))? {
            let path = entry.map_err(ImageError::io(tmp))?.path();
            let removed = if path.is_dir() { fs::remove_dir_all(&path) } else { fs::remove_file(&path) };
            removed.map_err(ImageError::io(&path))?;
        }
        Ok(())
    }
}

fn write_synced(path: &Path, bytes: &[u8]) -> Result<(), ImageError> {
    let mut f = File::create(path).map_err(ImageError::io(path))?;
    f.write_all(bytes).map_err(ImageError::io(path))?;
    f.sync_all().map_err(ImageError::io(path))
}
