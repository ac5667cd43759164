//! Image garbage collection, as kubelet's: when the disk holding the images is fuller than the
//! high threshold (85 %), images no container on this node uses and that were first seen at
//! least 2 minutes ago (kubelet's minimum GC age: a freshly imported image is about to be used)
//! are removed, largest first, until usage is below the low threshold (80 %).

use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::time::{Duration, Instant};

use crate::images::ImageStore;

pub const HIGH_PERCENT: u64 = 85;
pub const LOW_PERCENT: u64 = 80;
/// How often the disk is looked at (kubelet's image GC period).
pub const PERIOD: Duration = Duration::from_secs(300);
/// Images younger than this (since the collector first saw them) are never removed.
pub const MINIMUM_AGE: Duration = Duration::from_secs(120);

/// Disk usage of the filesystem holding `dir` in percent, as `df` shows it: used over used
/// plus available (blocks reserved for root, or never backed on thin-provisioned disks, count
/// as neither). 0 when unknown.
pub fn usage_percent(dir: &Path) -> u64 {
    match nix::sys::statvfs::statvfs(dir) {
        Ok(s) => {
            let used = s.blocks().saturating_sub(s.blocks_free());
            let usable = used + s.blocks_available();
            (used * 100).checked_div(usable).unwrap_or(0)
        }
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

/// The collector: remembers when it first saw each image.
#[derive(Default)]
pub struct Collector {
    first_seen: HashMap<String, Instant>,
}

impl Collector {
    /// Remove old enough unused images while `usage()` is at or above the high threshold,
    /// until it is below the low one. Returns the ids removed.
    pub fn collect(
        &mut self,
        store: &ImageStore,
        in_use: &BTreeSet<String>,
        usage: &dyn Fn() -> u64,
        now: Instant,
    ) -> Vec<String> {
        let images = store.list().unwrap_or_default();
        self.first_seen.retain(|id, _| images.iter().any(|i| &i.id == id));
        for i in &images {
            self.first_seen.entry(i.id.clone()).or_insert(now);
        }
        if usage() < HIGH_PERCENT {
            return Vec::new();
        }
        let old_enough = |id: &str| self.first_seen.get(id).is_some_and(|t| now.duration_since(*t) >= MINIMUM_AGE);
        let candidates: Vec<_> = images.into_iter().filter(|i| !in_use.contains(&i.id) && old_enough(&i.id)).collect();
        remove_largest_first(store, candidates, usage)
    }
}

fn remove_largest_first(
    store: &ImageStore,
    mut candidates: Vec<crate::images::ImageSummary>,
    usage: &dyn Fn() -> u64,
) -> Vec<String> {
    let mut removed = Vec::new();
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
        let mut gc = Collector::default();
        let t0 = Instant::now();
        // Freshly seen images are too young to go, however full the disk.
        assert!(gc.collect(&store, &used, &|| 99, t0).is_empty());
        let later = t0 + MINIMUM_AGE;
        assert!(gc.collect(&store, &used, &|| 84, later).is_empty());
        // Each look at the disk finds it 5 points emptier: 92 (over the high mark), then 87 and
        // 82 remove one image each; the used image is never a candidate.
        let usage = Cell::new(92u64);
        let removed = gc.collect(
            &store,
            &used,
            &|| {
                let u = usage.get();
                usage.set(u.saturating_sub(5));
                u
            },
            later,
        );
        assert_eq!(removed.len(), 2, "{removed:?}");
        assert!(!removed.contains(&images[0].id()));
        let left: Vec<String> = store.list().unwrap().into_iter().map(|i| i.id).collect();
        assert_eq!(left, [images[0].id()]);
    }
}
