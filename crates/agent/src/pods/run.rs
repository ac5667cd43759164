//! One run of a container (kubelet's "attempt"): where its state and log live, and how it
//! started and ended. Runs are numbered per container from 0; the number is the restartCount.

use std::path::{Path, PathBuf};

use tokio::sync::watch;

use crate::runtime::state::{self, Exited, Started};

pub struct Run {
    pub attempt: u32,
    /// The runtime's container id.
    pub id: String,
    pub dir: PathBuf,
    pub log: PathBuf,
    /// The image as the pod named it, and its id in the store.
    pub image: String,
    pub image_id: String,
    pub started: Started,
    pub exited: Option<Exited>,
    /// True while the run goes on (log followers stop when it turns false).
    pub running: watch::Sender<bool>,
}

/// The runtime id of a run: unique per pod, container and attempt.
pub fn container_id(pod_uid: &str, container: &str, attempt: u32) -> String {
    format!("{pod_uid}-{container}-{attempt}")
}

/// What a run's dir records about its image (written before start, read when adopting).
#[derive(serde::Serialize, serde::Deserialize)]
pub struct RunImage {
    pub image: String,
    pub image_id: String,
}

pub const RUN_IMAGE: &str = "image.json";

impl Run {
    /// A run found on disk after an agent restart (only runs that started count).
    pub fn adopt(dir: &Path, log: PathBuf, pod_uid: &str, container: &str, attempt: u32) -> Option<Run> {
        let started: Started = state::read_json(dir, state::STARTED)?;
        let image: RunImage = state::read_json(dir, RUN_IMAGE)?;
        let exited: Option<Exited> = state::read_json(dir, state::EXITED);
        let (running, _) = watch::channel(exited.is_none());
        Some(Run {
            attempt,
            id: container_id(pod_uid, container, attempt),
            dir: dir.to_path_buf(),
            log,
            image: image.image,
            image_id: image.image_id,
            started,
            exited,
            running,
        })
    }

    /// The message the container left at terminationMessagePath (at most 4 KiB, as upstream).
    pub fn termination_message(&self) -> Option<String> {
        let text = std::fs::read(self.dir.join("termination-log")).ok()?;
        let text = String::from_utf8_lossy(&text[..text.len().min(4096)]).into_owned();
        (!text.is_empty()).then_some(text)
    }
}
