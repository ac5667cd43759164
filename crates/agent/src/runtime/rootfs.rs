//! A container's root filesystem: the image's unpacked layers as overlayfs lower dirs with a
//! writable upper dir of the container's own.

use std::path::{Path, PathBuf};

use nix::mount::{MntFlags, MsFlags};

use super::sandbox::is_mount_point;

/// Mount the overlay at `<dir>/bundle/rootfs` with upper and work dirs in `dir`; returns the
/// rootfs path. Mounting again after an agent restart finds it mounted and leaves it.
pub fn mount(dir: &Path, layers: &[PathBuf]) -> Result<PathBuf, String> {
    let rootfs = dir.join("bundle/rootfs");
    let (upper, work) = (dir.join("upper"), dir.join("work"));
    for d in [&rootfs, &upper, &work] {
        std::fs::create_dir_all(d).map_err(|e| format!("{}: {e}", d.display()))?;
    }
    if is_mount_point(&rootfs) {
        return Ok(rootfs);
    }
    if layers.is_empty() {
        return Err("the image has no layers".into());
    }
    // overlayfs lists the top-most lower dir first; images list layers bottom first.
    let lower: Vec<String> = layers.iter().rev().map(|l| l.display().to_string()).collect();
    let options = format!("lowerdir={},upperdir={},workdir={}", lower.join(":"), upper.display(), work.display());
    if options.len() >= 4000 {
        return Err(format!("the image has too many layers ({}) for one overlay mount", layers.len()));
    }
    nix::mount::mount(Some("overlay"), &rootfs, Some("overlay"), MsFlags::empty(), Some(options.as_str()))
        .map_err(|e| format!("mounting the container's overlay: {e}"))?;
    Ok(rootfs)
}

/// Unmount the rootfs if mounted (the run's records stay).
pub fn unmount(dir: &Path) -> Result<(), String> {
    let rootfs = dir.join("bundle/rootfs");
    if is_mount_point(&rootfs) {
        nix::mount::umount2(&rootfs, MntFlags::MNT_DETACH)
            .map_err(|e| format!("unmounting {}: {e}", rootfs.display()))?;
    }
    Ok(())
}

/// Unmount the rootfs (if mounted) and remove the container's dir.
pub fn remove(dir: &Path) -> Result<(), String> {
    unmount(dir)?;
    match std::fs::remove_dir_all(dir) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(format!("{}: {e}", dir.display())),
        _ => Ok(()),
    }
}
