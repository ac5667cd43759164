//! Unpack one layer tar into an empty directory, ready to be an overlayfs lower dir.
//!
//! Each layer is unpacked on its own (not on top of its parents), so the AUFS-style whiteouts of
//! the tar become overlayfs ones: `.wh.<name>` turns into a 0:0 character device `<name>`, and
//! `.wh..wh..opq` into the `trusted.overlay.opaque=y` xattr on its directory. Owners, modes
//! (setuid included), mtimes and xattrs are kept. Entries must stay inside the layer: absolute
//! paths, `..`, and paths through a symlink of the layer are refused, and symlinks are never
//! followed while writing, so a hostile layer cannot write outside its directory.

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::fs::{self, OpenOptions, Permissions};
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

use nix::fcntl::AT_FDCWD;
use nix::sys::stat::{Mode, SFlag, UtimensatFlags, makedev, mknod, utimensat};
use nix::sys::time::TimeSpec;

const WHITEOUT_PREFIX: &[u8] = b".wh.";
const WHITEOUT_META_PREFIX: &[u8] = b".wh..wh.";
const OPAQUE_MARKER: &[u8] = b".wh..wh..opq";
const OPAQUE_XATTR: &str = "trusted.overlay.opaque";
/// Xattrs overlayfs gives meaning to (redirects, metacopy): a layer may not bring its own.
const OVERLAY_XATTR_PREFIX: &[u8] = b"trusted.overlay.";

/// Why a layer could not be unpacked.
#[derive(Debug)]
pub(crate) enum UnpackError {
    /// An absolute path or one with `..`.
    Escape(PathBuf),
    /// A path whose parent is a symlink (or a file) in the layer.
    NotUnderDirectory(PathBuf),
    /// A hard link whose target is not an earlier file of the layer.
    BadHardLink(PathBuf, PathBuf),
    /// The tar stream itself (also a damaged compressed stream under it).
    Tar(io::Error),
    /// Writing the unpacked entry.
    Write(PathBuf, io::Error),
}

impl fmt::Display for UnpackError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UnpackError::Escape(p) => write!(f, "entry {:?} points outside the layer", p),
            UnpackError::NotUnderDirectory(p) => {
                write!(f, "entry {:?} is under a symlink or file of the layer", p)
            }
            UnpackError::BadHardLink(p, t) => {
                write!(f, "hard link {:?} to {:?}, which is not a file of the layer", p, t)
            }
            UnpackError::Tar(e) => write!(f, "reading the tar: {e}"),
            UnpackError::Write(p, e) => write!(f, "writing {:?}: {e}", p),
        }
    }
}

/// Owner, mode, time and xattrs of one entry.
struct Meta {
    mode: u32,
    uid: u32,
    gid: u32,
    mtime: i64,
    xattrs: Vec<(OsString, Vec<u8>)>,
}

/// Unpack the tar read from `tar` into `dest`, an existing empty directory.
pub(crate) fn unpack(tar: impl Read, dest: &Path) -> Result<(), UnpackError> {
    let mut archive = tar::Archive::new(tar);
    // A directory's mtime changes with every entry written into it: set them all at the end.
    let mut dir_times = Vec::new();
    for entry in archive.entries().map_err(UnpackError::Tar)? {
        let mut entry = entry.map_err(UnpackError::Tar)?;
        let raw = entry.path().map_err(UnpackError::Tar)?.into_owned();
        let rel = relative(&raw)?;
        let meta = meta(&mut entry)?;
        let kind = entry.header().entry_type();
        let name = rel.file_name().map(OsStr::as_bytes).unwrap_or_default();
        if name.starts_with(WHITEOUT_PREFIX) {
            whiteout(dest, &rel, name)?;
            continue;
        }
        let path = dest.join(&rel);
        let write = |e| UnpackError::Write(rel.clone(), e);
        if rel.as_os_str().is_empty() {
            // The layer's own root (`./`): only a directory makes sense.
            if kind.is_dir() {
                apply(&path, &meta, false).map_err(write)?;
                dir_times.push((path, meta.mtime));
            }
            continue;
        }
        prepare_parents(dest, &rel, true)?;
        match kind {
            tar::EntryType::Directory => {
                if !clear(&path, true).map_err(write)? {
                    fs::create_dir(&path).map_err(write)?;
                }
                apply(&path, &meta, false).map_err(write)?;
                dir_times.push((path, meta.mtime));
            }
            tar::EntryType::Regular | tar::EntryType::Continuous | tar::EntryType::GNUSparse => {
                clear(&path, false).map_err(write)?;
                write_file(&mut entry, &path, &rel)?;
                apply(&path, &meta, false).map_err(write)?;
                set_mtime(&path, meta.mtime).map_err(write)?;
            }
            tar::EntryType::Symlink => {
                let target = entry.link_name().map_err(UnpackError::Tar)?.unwrap_or_default().into_owned();
                clear(&path, false).map_err(write)?;
                std::os::unix::fs::symlink(&target, &path).map_err(write)?;
                apply(&path, &meta, true).map_err(write)?;
                set_mtime(&path, meta.mtime).map_err(write)?;
            }
            tar::EntryType::Link => {
                let target = entry.link_name().map_err(UnpackError::Tar)?.unwrap_or_default().into_owned();
                hard_link(dest, &rel, &target)?;
            }
            tar::EntryType::Char | tar::EntryType::Block | tar::EntryType::Fifo => {
                let (kind, dev) = match kind {
                    tar::EntryType::Char => (SFlag::S_IFCHR, device(entry.header())?),
                    tar::EntryType::Block => (SFlag::S_IFBLK, device(entry.header())?),
                    // A fifo's device fields are often left blank.
                    _ => (SFlag::S_IFIFO, 0),
                };
                clear(&path, false).map_err(write)?;
                mknod(&path, kind, Mode::empty(), dev).map_err(|e| write(e.into()))?;
                apply(&path, &meta, false).map_err(write)?;
                set_mtime(&path, meta.mtime).map_err(write)?;
            }
            // Global PAX headers and the rare vendor types carry nothing for the file system.
            other => tracing::debug!(entry = %rel.display(), kind = ?other, "skipping tar entry"),
        }
    }
    for (path, mtime) in dir_times {
        set_mtime(&path, mtime).map_err(|e| UnpackError::Write(path.clone(), e))?;
    }
    Ok(())
}

/// The entry's path relative to the layer root (empty for the root itself).
fn relative(path: &Path) -> Result<PathBuf, UnpackError> {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::CurDir => {}
            Component::ParentDir | Component::RootDir | Component::Prefix(_) => {
                return Err(UnpackError::Escape(path.to_path_buf()));
            }
        }
    }
    Ok(out)
}

/// Make sure every parent of `rel` is a real directory of the layer (creating missing ones when
/// `create`), never a symlink that could lead elsewhere.
fn prepare_parents(dest: &Path, rel: &Path, create: bool) -> Result<(), UnpackError> {
    let mut at = dest.to_path_buf();
    let Some(parent) = rel.parent() else { return Ok(()) };
    for c in parent.components() {
        at.push(c);
        match fs::symlink_metadata(&at) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => return Err(UnpackError::NotUnderDirectory(rel.to_path_buf())),
            Err(e) if e.kind() == io::ErrorKind::NotFound && create => {
                fs::create_dir(&at).map_err(|e| UnpackError::Write(rel.to_path_buf(), e))?;
            }
            Err(e) => return Err(UnpackError::Write(rel.to_path_buf(), e)),
        }
    }
    Ok(())
}

/// Remove what is at `path` (a later entry of the same path wins). An existing directory stays
/// when `keep_dir`; returns whether it did.
fn clear(path: &Path, keep_dir: bool) -> io::Result<bool> {
    match fs::symlink_metadata(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
        Ok(m) if m.is_dir() && keep_dir => Ok(true),
        Ok(m) if m.is_dir() => fs::remove_dir_all(path).map(|()| false),
        Ok(_) => fs::remove_file(path).map(|()| false),
    }
}

fn meta<R: Read>(entry: &mut tar::Entry<'_, R>) -> Result<Meta, UnpackError> {
    let h = entry.header();
    let id =
        |v: u64| u32::try_from(v).map_err(|_| UnpackError::Tar(io::Error::other(format!("owner id {v} too large"))));
    let mut meta = Meta {
        mode: h.mode().map_err(UnpackError::Tar)? & 0o7777,
        uid: id(h.uid().map_err(UnpackError::Tar)?)?,
        gid: id(h.gid().map_err(UnpackError::Tar)?)?,
        mtime: h.mtime().map_err(UnpackError::Tar)? as i64,
        xattrs: Vec::new(),
    };
    if let Some(pax) = entry.pax_extensions().map_err(UnpackError::Tar)? {
        for ext in pax {
            let ext = ext.map_err(UnpackError::Tar)?;
            let key = ext.key_bytes();
            let number = || std::str::from_utf8(ext.value_bytes()).ok().and_then(|v| v.parse::<u64>().ok());
            match key {
                b"uid" => meta.uid = id(number().ok_or_else(|| bad_pax("uid"))?)?,
                b"gid" => meta.gid = id(number().ok_or_else(|| bad_pax("gid"))?)?,
                _ => {
                    if let Some(name) = key.strip_prefix(b"SCHILY.xattr.") {
                        meta.xattrs.push((OsStr::from_bytes(name).to_os_string(), ext.value_bytes().to_vec()));
                    }
                }
            }
        }
    }
    Ok(meta)
}

fn device(header: &tar::Header) -> Result<nix::libc::dev_t, UnpackError> {
    let major = header.device_major().map_err(UnpackError::Tar)?.unwrap_or(0);
    let minor = header.device_minor().map_err(UnpackError::Tar)?.unwrap_or(0);
    Ok(makedev(major.into(), minor.into()))
}

fn bad_pax(key: &str) -> UnpackError {
    UnpackError::Tar(io::Error::other(format!("bad PAX {key} value")))
}

fn write_file(data: &mut impl Read, path: &Path, rel: &Path) -> Result<(), UnpackError> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(nix::libc::O_NOFOLLOW)
        .open(path)
        .map_err(|e| UnpackError::Write(rel.to_path_buf(), e))?;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match data.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(UnpackError::Tar(e)),
        };
        file.write_all(&buf[..n]).map_err(|e| UnpackError::Write(rel.to_path_buf(), e))?;
    }
    Ok(())
}

/// Owner first (chown clears setuid bits and file capabilities), then mode, then xattrs.
fn apply(path: &Path, meta: &Meta, symlink: bool) -> io::Result<()> {
    std::os::unix::fs::lchown(path, Some(meta.uid), Some(meta.gid))?;
    if !symlink {
        fs::set_permissions(path, Permissions::from_mode(meta.mode))?;
    }
    for (name, value) in &meta.xattrs {
        if name.as_bytes().starts_with(OVERLAY_XATTR_PREFIX) {
            continue;
        }
        // Optional: a file system without (this kind of) xattrs still runs the image.
        if let Err(e) = xattr::set(path, name, value) {
            tracing::debug!(path = %path.display(), xattr = ?name, error = %e, "xattr not kept");
        }
    }
    Ok(())
}

fn set_mtime(path: &Path, mtime: i64) -> io::Result<()> {
    let t = TimeSpec::new(mtime, 0);
    utimensat(AT_FDCWD, path, &t, &t, UtimensatFlags::NoFollowSymlink).map_err(io::Error::from)
}

fn hard_link(dest: &Path, rel: &Path, target: &Path) -> Result<(), UnpackError> {
    let bad = || UnpackError::BadHardLink(rel.to_path_buf(), target.to_path_buf());
    let target_rel = relative(target).map_err(|_| bad())?;
    if target_rel.as_os_str().is_empty() {
        return Err(bad());
    }
    prepare_parents(dest, &target_rel, false).map_err(|_| bad())?;
    let source = dest.join(&target_rel);
    match fs::symlink_metadata(&source) {
        Ok(m) if !m.is_dir() => {}
        _ => return Err(bad()),
    }
    let path = dest.join(rel);
    if path == source {
        return Ok(());
    }
    clear(&path, false).map_err(|e| UnpackError::Write(rel.to_path_buf(), e))?;
    // link(2) does not follow a symlink source: the link is to the symlink itself, as in tar.
    fs::hard_link(&source, &path).map_err(|e| UnpackError::Write(rel.to_path_buf(), e))
}

/// `.wh..wh..opq` makes its directory opaque; `.wh.<name>` hides `<name>` of lower layers.
fn whiteout(dest: &Path, rel: &Path, name: &[u8]) -> Result<(), UnpackError> {
    let write = |e| UnpackError::Write(rel.to_path_buf(), e);
    prepare_parents(dest, rel, true)?;
    let dir = dest.join(rel.parent().unwrap_or(Path::new("")));
    if name == OPAQUE_MARKER {
        return xattr::set(&dir, OPAQUE_XATTR, b"y").map_err(write);
    }
    if name.starts_with(WHITEOUT_META_PREFIX) {
        // AUFS bookkeeping (`.wh..wh.plnk`, …): nothing for overlayfs.
        return Ok(());
    }
    let hidden = &name[WHITEOUT_PREFIX.len()..];
    let hidden_rel = rel.parent().unwrap_or(Path::new("")).join(OsStr::from_bytes(hidden));
    if hidden.is_empty() || relative(&hidden_rel)?.file_name().map(OsStr::as_bytes) != Some(hidden) {
        return Err(UnpackError::Escape(rel.to_path_buf()));
    }
    let path = dir.join(OsStr::from_bytes(hidden));
    clear(&path, false).map_err(write)?;
    mknod(&path, SFlag::S_IFCHR, Mode::empty(), makedev(0, 0)).map_err(|e| write(e.into()))?;
    std::os::unix::fs::lchown(&path, Some(0), Some(0)).map_err(write)
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};

    use skiff_e2e::images::Layer;

    use super::*;

    fn unpacked(layer: Layer) -> (tempfile::TempDir, Result<(), UnpackError>) {
        let dir = tempfile::tempdir().unwrap();
        let result = unpack(&layer.build()[..], &dir.path().join("l").tap_mkdir());
        (dir, result)
    }

    trait TapMkdir {
        fn tap_mkdir(self) -> PathBuf;
    }

    impl TapMkdir for PathBuf {
        fn tap_mkdir(self) -> PathBuf {
            fs::create_dir(&self).unwrap();
            self
        }
    }

    #[test]
    fn owners_modes_times_links_and_nodes_are_kept() {
        let layer = Layer::new()
            .dir_owned("home/u", 0o700, 1000, 1000)
            .file_owned("home/u/suid", 0o4755, 1000, 1000, b"#!/bin/sh\n")
            .symlink("home/u/abs", "/etc/passwd")
            .hardlink("home/u/again", "home/u/suid")
            .fifo("run/fifo")
            .char_device("dev/null", 1, 3);
        let (dir, result) = unpacked(layer);
        result.unwrap();
        let l = dir.path().join("l");
        let home = fs::symlink_metadata(l.join("home/u")).unwrap();
        assert_eq!((home.mode() & 0o7777, home.uid(), home.mtime()), (0o700, 1000, 1_700_000_000));
        let suid = fs::symlink_metadata(l.join("home/u/suid")).unwrap();
        assert_eq!((suid.mode() & 0o7777, suid.uid(), suid.gid(), suid.nlink()), (0o4755, 1000, 1000, 2));
        assert_eq!(fs::read_link(l.join("home/u/abs")).unwrap(), Path::new("/etc/passwd"));
        assert_eq!(fs::symlink_metadata(l.join("home/u/again")).unwrap().ino(), suid.ino());
        assert!(fs::symlink_metadata(l.join("run/fifo")).unwrap().file_type().is_fifo());
        let null = fs::symlink_metadata(l.join("dev/null")).unwrap();
        assert!(null.file_type().is_char_device() && null.rdev() == makedev(1, 3));
    }

    #[test]
    fn whiteouts_become_overlay_devices_and_opaque_xattrs() {
        let (dir, result) = unpacked(Layer::new().whiteout("etc/gone").opaque("var/cache").whiteout("top"));
        result.unwrap();
        let l = dir.path().join("l");
        for hidden in ["etc/gone", "top"] {
            let m = fs::symlink_metadata(l.join(hidden)).unwrap();
            assert!(m.file_type().is_char_device() && m.rdev() == 0, "{hidden}");
        }
        assert_eq!(xattr::get(l.join("var/cache"), OPAQUE_XATTR).unwrap().as_deref(), Some(&b"y"[..]));
        assert!(!l.join("etc/.wh.gone").exists() && !l.join("var/cache/.wh..wh..opq").exists());
    }

    #[test]
    fn a_later_entry_replaces_an_earlier_one_without_following_it() {
        let outside = tempfile::tempdir().unwrap();
        let target = outside.path().join("victim");
        fs::write(&target, b"safe").unwrap();
        let layer = Layer::new().symlink("f", target.to_str().unwrap()).file("f", 0o644, b"new");
        let (dir, result) = unpacked(layer);
        result.unwrap();
        assert_eq!(fs::read(dir.path().join("l/f")).unwrap(), b"new");
        assert_eq!(fs::read(&target).unwrap(), b"safe");
    }

    #[test]
    fn paths_leaving_the_layer_are_refused() {
        let outside = tempfile::tempdir().unwrap();
        let cases: Vec<Layer> = vec![
            Layer::new().raw(b"../x", tar::EntryType::Regular, b"", b"x"),
            Layer::new().raw(b"/abs/x", tar::EntryType::Regular, b"", b"x"),
            Layer::new().raw(b"a/../../x", tar::EntryType::Directory, b"", b""),
            Layer::new().symlink("link", outside.path().to_str().unwrap()).file("link/x", 0o644, b"x"),
            Layer::new().raw(b"h", tar::EntryType::Link, b"../../etc/passwd", b""),
            Layer::new().raw(b"h", tar::EntryType::Link, b"/etc/passwd", b""),
            Layer::new().raw(b"d/.wh...", tar::EntryType::Regular, b"", b""),
        ];
        for (i, layer) in cases.into_iter().enumerate() {
            let (_dir, result) = unpacked(layer);
            let e = result.expect_err(&format!("case {i}"));
            assert!(
                matches!(e, UnpackError::Escape(_) | UnpackError::NotUnderDirectory(_) | UnpackError::BadHardLink(..)),
                "case {i}: {e}"
            );
        }
        assert_eq!(fs::read_dir(outside.path()).unwrap().count(), 0);
    }

    #[test]
    fn overlay_xattrs_from_the_layer_are_not_applied() {
        let meta = Meta {
            mode: 0o644,
            uid: 0,
            gid: 0,
            mtime: 0,
            xattrs: vec![("trusted.overlay.redirect".into(), b"/etc".to_vec()), ("user.ok".into(), b"1".to_vec())],
        };
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("f");
        fs::write(&f, b"").unwrap();
        apply(&f, &meta, false).unwrap();
        assert_eq!(xattr::get(&f, "trusted.overlay.redirect").unwrap(), None);
        assert_eq!(xattr::get(&f, "user.ok").unwrap().as_deref(), Some(&b"1"[..]));
    }
}
