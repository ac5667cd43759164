//! Image garbage collection, as kubelet's: when the disk holding the images is fuller than the
//! high threshold (85 %), images no container on this node uses are removed, largest first,
//! until usage is below the low threshold (80 %).

use std::collections::BTreeSet;
use std::path::Path;

use crate::images::ImageStore;

pub const HIGH_PERCENT: u64 = 85;
pub const LOW_PERCENT: u64 = 80;
/// How often the disk is looked at (kubelet's image GC period).
pub const PERIOD: std::time::Duration = std::time::Duration::from_secs(300);

/// Disk usage of the filesystem holding `dir` in percent (0 when unknown).
pub fn usage_percent(dir: &Path) -> u64 {
    match nix::sys::statvfs::statvfs(dir) {
        Ok(s) if s.blocks() > 0 => 100 - s.blocks_available() * 100 / s.blocks(),
        _ => 0,
    }
}

/// The image ids any container run on this node refers to (running or kept for its logs).
pub fn images_in_use(pods_dir: &Path) -> BTreeSet<String> {
    let mut used = BTreeSet::new();
    for pod in std::fs::read_dir(pods_dir).into_iter().flatten().flatten() {
        for container in std::fs::read_dir(pod.path().join("containers")).into_iter().flatten().flatten() {
            for run in std::fs::read_dir(container.path()).into_iter().flatten().flatten() {
                let image: Option<crate::pods::run::RunImage> =
                    crate::runtime::state::read_json(&run.path(), crate::pods::run::RUN_IMAGE);
                if let Some(i) = image {
                    used.insert(i.image_id);
                }
            }
        }
    }
    used
}

/// Remove unused images while `usage()` is at or above the high threshold, until it is below
/// the low one. Returns the ids removed.
pub fn collect(store: &ImageStore, in_use: &BTreeSet<String>, usage: &dyn Fn() -> u64) -> Vec<String> {
    let mut removed = Vec::new();
    if usage() < HIGH_PERCENT {
        return removed;
    }
    let mut candidates: Vec<_> =
        store.list().unwrap_or_default().into_iter().filter(|i| !in_use.contains(&i.id)).collect();
    candidates.sort_by_key(|i| std::cmp::Reverse(i.size));
    for image in candidates {
        if usage() < LOW_PERCENT {
            break;
        }
        match store.remove(&image.id) {
            Ok(()) => {
                tracing::info!("image garbage collection removed {} ({} bytes)", image.id, image.size);
                removed.push(image.id);
            }
            Err(e) => tracing::warn!("image garbage collection: removing {}: {e}", image.id),
        }
    }
    removed
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use skiff_e2e::images::{ArchiveFormat, Layer, TestImage, write_archive};

    use super::*;

    #[test]
    fn removes_unused_images_until_below_the_low_threshold() {
        let dir = tempfile::tempdir().unwrap();
        let store = ImageStore::open(&dir.path().join("store")).unwrap();
        let images: Vec<TestImage> = ["a", "b", "c"]
            .iter()
            .map(|n| {
                TestImage::new(
                    &[&format!("{n}:1")],
                    vec![Layer::new().file(n, 0o644, n.repeat(100).as_bytes()).build()],
                )
            })
            .collect();
        let archive = dir.path().join("images.tar");
        write_archive(&archive, &images, ArchiveFormat::DockerSave);
        store.import(&archive, &mut |_| {}).unwrap();
        let used: BTreeSet<String> = [images[0].id()].into();

        // Below the high threshold nothing goes.
        assert!(collect(&store, &used, &|| 84).is_empty());
        // Each look at the disk finds it 5 points emptier: 92 (over the high mark), then 87 and
        // 82 remove one image each; the used image is never a candidate.
        let usage = Cell::new(92u64);
        let removed = collect(&store, &used, &|| {
            let u = usage.get();
            usage.set(u.saturating_sub(5));
            u
        });
        assert_eq!(removed.len(), 2, "{removed:?}");
        assert!(!removed.contains(&images[0].id()));
        let left: Vec<String> = store.list().unwrap().into_iter().map(|i| i.id).collect();
        assert_eq!(left, [images[0].id()]);
    }
}
