//! Reading image archives: `docker save` / `podman save` (a `manifest.json` naming each image's
//! config and layer tars) and OCI layouts in a tar (`skopeo copy … oci-archive:`: `index.json`
//! and content-addressed `blobs/`), either plain or gzip-compressed as a whole.
//!
//! A tar has no table of contents and `manifest.json` is often last, so the archive is indexed in
//! one pass (member name → offset), seeking over the data, and members are then read in place.
//! A gzip archive cannot seek: it is decompressed once into the store's temp dir first. Every
//! blob named by a digest is checked against it here (manifests, configs) or while it is
//! unpacked (layers). The two formats' manifests are read in `docker_save.rs` and `oci.rs`.

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{self, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use flate2::read::MultiGzDecoder;

use super::digest;
use super::error::ImageError;
use super::progress::{Meter, MeteredReader, Progress, Stage};

/// JSON members (manifests, configs) larger than this are refused rather than read into memory.
const JSON_MAX: u64 = 16 << 20;
/// Symlinks between members (docker save links duplicate layers) are followed this deep.
const LINK_DEPTH: usize = 8;

const GZIP_MAGIC: &[u8] = &[0x1f, 0x8b];
const ZSTD_MAGIC: &[u8] = &[0x28, 0xb5, 0x2f, 0xfd];

/// What an archive's compression looks like from its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Compression {
    None,
    Gzip,
    Zstd,
}

impl Compression {
    pub(crate) fn sniff(head: &[u8]) -> Compression {
        if head.starts_with(GZIP_MAGIC) {
            Compression::Gzip
        } else if head.starts_with(ZSTD_MAGIC) {
            Compression::Zstd
        } else {
            Compression::None
        }
    }
}

/// One image found in an archive, its JSON blobs already read and verified.
#[derive(Debug)]
pub(crate) struct ArchiveImage {
    /// Normalised `name:tag` references (none for an untagged image).
    pub tags: Vec<String>,
    /// Normalised `name@sha256:…` references (OCI archives, where the manifest digest is known).
    pub digests: Vec<String>,
    /// The manifest (or index) blob the digests name, to keep in the store.
    pub manifest: Option<(String, Vec<u8>)>,
    pub config_digest: String,
    pub config: Vec<u8>,
    /// Lowest first.
    pub layers: Vec<LayerBlob>,
}

/// Where a layer's (maybe compressed) tar is in the archive.
#[derive(Debug, Clone)]
pub(crate) struct LayerBlob {
    pub member: String,
    /// The blob's digest when the archive names it (OCI, newer docker save); checked on unpack.
    pub digest: Option<String>,
    pub size: u64,
}

#[derive(Debug, Clone)]
enum Member {
    File { offset: u64, size: u64 },
    Link(String),
}

/// An archive opened for reading.
pub(crate) struct Archive {
    /// The file the user gave, for messages.
    pub path: PathBuf,
    file: File,
    members: HashMap<String, Member>,
    /// The decompressed copy of a gzip archive, removed when the archive is dropped.
    temp: Option<PathBuf>,
}

impl Drop for Archive {
    fn drop(&mut self) {
        if let Some(t) = &self.temp {
            let _ = fs::remove_file(t);
        }
    }
}

impl Archive {
    /// Open `path`, decompressing it into `tmp_dir` when it is gzip, and index its members.
    pub(crate) fn open(path: &Path, tmp_dir: &Path, progress: &mut dyn FnMut(Progress)) -> Result<Archive, ImageError> {
        let mut file = File::open(path).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => ImageError::MissingFile(path.to_path_buf()),
            _ => ImageError::Io { path: path.to_path_buf(), source: e },
        })?;
        let meta = file.metadata().map_err(ImageError::io(path))?;
        if meta.is_dir() {
            return Err(not_archive(path, "a directory"));
        }
        let mut head = [0u8; 4];
        let n = read_up_to(&mut file, &mut head).map_err(ImageError::io(path))?;
        file.seek(SeekFrom::Start(0)).map_err(ImageError::io(path))?;
        let mut temp = None;
        match Compression::sniff(&head[..n]) {
            Compression::None => {}
            Compression::Zstd => {
                return Err(ImageError::Unsupported {
                    path: path.to_path_buf(),
                    what: "zstd-compressed archives (decompress it with `zstd -d` first)".into(),
                });
            }
            Compression::Gzip => {
                let out = tmp_dir.join(format!("archive-{}-{}.tar", std::process::id(), unique()));
                match decompress(path, file, meta.len(), &out, progress) {
                    Ok(f) => (file, temp) = (f, Some(out)),
                    Err(e) => {
                        let _ = fs::remove_file(&out);
                        return Err(e);
                    }
                }
            }
        }
        let mut archive = Archive { path: path.to_path_buf(), file, members: HashMap::new(), temp };
        archive.index()?;
        Ok(archive)
    }

    /// One pass over the tar headers, seeking over the data.
    fn index(&mut self) -> Result<(), ImageError> {
        let path = self.path.clone();
        let mut block = [0u8; 512];
        let n = read_up_to(&mut self.file, &mut block).map_err(ImageError::io(&path))?;
        if n < 512 || &block[257..262] != b"ustar" {
            return Err(not_archive(&path, "not a tar file"));
        }
        self.file.seek(SeekFrom::Start(0)).map_err(ImageError::io(&path))?;
        let mut tar = tar::Archive::new(&self.file);
        let entries = tar.entries_with_seek().map_err(|e| not_archive(&path, &e.to_string()))?;
        let mut members = HashMap::new();
        for entry in entries {
            let entry = entry.map_err(|e| bad(&path, format!("reading the tar: {e}")))?;
            let name = clean(&String::from_utf8_lossy(&entry.path_bytes()));
            let member = match entry.header().entry_type() {
                tar::EntryType::Regular | tar::EntryType::Continuous => {
                    Member::File { offset: entry.raw_file_position(), size: entry.size() }
                }
                tar::EntryType::Symlink => {
                    let target = String::from_utf8_lossy(&entry.link_name_bytes().unwrap_or_default()).into_owned();
                    let dir = name.rsplit_once('/').map(|(d, _)| d).unwrap_or("");
                    Member::Link(if target.starts_with('/') {
                        clean(&target)
                    } else {
                        clean(&format!("{dir}/{target}"))
                    })
                }
                tar::EntryType::Link => {
                    Member::Link(clean(&String::from_utf8_lossy(&entry.link_name_bytes().unwrap_or_default())))
                }
                _ => continue,
            };
            members.insert(name, member);
        }
        self.members = members;
        Ok(())
    }

    pub(crate) fn locate(&self, name: &str) -> Result<(u64, u64), ImageError> {
        let mut name = clean(name);
        for _ in 0..LINK_DEPTH {
            match self.members.get(&name) {
                Some(Member::File { offset, size }) => return Ok((*offset, *size)),
                Some(Member::Link(to)) => name = to.clone(),
                None => return Err(bad(&self.path, format!("{name} is missing from the archive"))),
            }
        }
        Err(bad(&self.path, format!("{name}: too many links")))
    }

    pub(crate) fn has(&self, name: &str) -> bool {
        self.locate(name).is_ok()
    }

    /// A reader of one member's data and its size.
    pub(crate) fn member(&self, name: &str) -> Result<(BufReader<io::Take<File>>, u64), ImageError> {
        let (offset, size) = self.locate(name)?;
        let mut f = self.file.try_clone().map_err(ImageError::io(&self.path))?;
        f.seek(SeekFrom::Start(offset)).map_err(ImageError::io(&self.path))?;
        Ok((BufReader::new(f.take(size)), size))
    }

    /// A small (JSON) member, read whole.
    pub(crate) fn read(&self, name: &str) -> Result<Vec<u8>, ImageError> {
        let (mut r, size) = self.member(name)?;
        if size > JSON_MAX {
            return Err(bad(&self.path, format!("{name} is too large ({size} bytes) for a manifest or config")));
        }
        let mut buf = Vec::with_capacity(size as usize);
        r.read_to_end(&mut buf).map_err(ImageError::io(&self.path))?;
        Ok(buf)
    }

    /// A blob named by its digest, checked against it.
    pub(crate) fn read_blob(&self, member: &str, expected: &str) -> Result<Vec<u8>, ImageError> {
        let bytes = self.read(member)?;
        let actual = digest::sha256(&bytes);
        if actual != expected {
            return Err(ImageError::DigestMismatch {
                path: self.path.clone(),
                what: member.to_string(),
                expected: expected.to_string(),
                actual,
            });
        }
        Ok(bytes)
    }

    /// Every image of the archive.
    pub(crate) fn images(&self) -> Result<Vec<ArchiveImage>, ImageError> {
        // Docker 25+ writes both; manifest.json is the one `docker load` reads.
        if self.has("manifest.json") {
            self.docker_images()
        } else if self.has("index.json") {
            self.oci_images()
        } else {
            Err(not_archive(&self.path, "no manifest.json or index.json in it"))
        }
    }
}

fn decompress(
    path: &Path,
    file: File,
    size: u64,
    out: &Path,
    progress: &mut dyn FnMut(Progress),
) -> Result<File, ImageError> {
    let mut meter = Meter::new(progress, Stage::Decompressing, size);
    let mut dest = File::options().read(true).write(true).create_new(true).open(out).map_err(ImageError::io(out))?;
    let mut gz = MultiGzDecoder::new(BufReader::new(MeteredReader { inner: file, meter: &mut meter }));
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = match gz.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(ImageError::CorruptGzip { path: path.to_path_buf(), source: e }),
        };
        dest.write_all(&buf[..n]).map_err(ImageError::io(out))?;
    }
    drop(gz);
    meter.finish();
    dest.seek(SeekFrom::Start(0)).map_err(ImageError::io(out))?;
    Ok(dest)
}

fn read_up_to(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// A member name as a plain relative path (`./a/../b/` → `b`).
pub(crate) fn clean(name: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for p in name.split('/') {
        match p {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    parts.join("/")
}

/// `blobs/sha256/<hex>` for a digest, refusing anything but a well-formed sha256 digest.
pub(crate) fn blob_member(path: &Path, d: &str) -> Result<String, ImageError> {
    match digest::hex(d) {
        Some(hex) => Ok(format!("blobs/sha256/{hex}")),
        None => Err(ImageError::Unsupported { path: path.to_path_buf(), what: format!("digest {d:?}") }),
    }
}

fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

pub(crate) fn not_archive(path: &Path, reason: &str) -> ImageError {
    ImageError::NotAnArchive { path: path.to_path_buf(), reason: reason.to_string() }
}

pub(crate) fn bad(path: &Path, reason: String) -> ImageError {
    ImageError::BadArchive { path: path.to_path_buf(), reason }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn member_names_are_cleaned() {
        assert_eq!(clean("./a/../b/"), "b");
        assert_eq!(clean("/x//y/./z"), "x/y/z");
    }
}
