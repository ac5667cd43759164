//! ImageLocality: prefer nodes that already hold the pod's images, weighted by image size and
//! by how widely the image is spread (so one node with every image does not draw all pods).

use crate::cache::Cache;
use crate::framework::{CycleState, MAX_NODE_SCORE, PreScorePlugin, ScorePlugin, Status};
use crate::node_info::NodeInfo;
use crate::pod_info::PodInfo;

pub const NAME: &str = "ImageLocality";

const MB: i64 = 1024 * 1024;
const MIN_THRESHOLD: i64 = 23 * MB;
const MAX_CONTAINER_THRESHOLD: i64 = 1000 * MB;

pub struct ImageLocality;

/// `nginx` → `nginx:latest`; names with a tag or digest stay as they are.
pub fn normalized_image_name(name: &str) -> String {
    let last_colon = name.rfind(':').map(|i| i as isize).unwrap_or(-1);
    let last_slash = name.rfind('/').map(|i| i as isize).unwrap_or(-1);
    if last_colon <= last_slash { format!("{name}:latest") } else { name.to_string() }
}

/// The pod's images, normalised, with how widely each is spread over the cluster.
#[derive(Clone)]
struct Images {
    wanted: Vec<(String, f64)>,
    containers: usize,
}

impl PreScorePlugin for ImageLocality {
    fn name(&self) -> &'static str {
        NAME
    }

    fn pre_score(&self, state: &mut CycleState, pod: &PodInfo, _: &[&NodeInfo], cache: &Cache) -> Status {
        let Some(spec) = pod.spec() else { return Status::skip() };
        let total_nodes = cache.node_count().max(1) as f64;
        let images: Vec<&str> = spec
            .init_containers
            .iter()
            .flatten()
            .chain(spec.containers.iter())
            .filter_map(|c| c.image.as_deref())
            .collect();
        let wanted = images
            .iter()
            .map(|i| normalized_image_name(i))
            .filter_map(|name| {
                let holders = cache.nodes_with_image(&name);
                (holders > 0).then(|| (name, holders as f64 / total_nodes))
            })
            .collect();
        state.write(NAME, Images { wanted, containers: images.len() });
        Status::success()
    }
}

impl ScorePlugin for ImageLocality {
    fn name(&self) -> &'static str {
        NAME
    }

    fn score(&self, state: &CycleState, _: &PodInfo, node: &NodeInfo, _: &Cache) -> i64 {
        let Some(images) = state.read::<Images>(NAME) else { return 0 };
        let mut sum = 0i64;
        for (name, spread) in &images.wanted {
            if let Some(held) = node.data().images.iter().find(|i| i.names.contains(name)) {
                sum += (held.size as f64 * spread) as i64;
            }
        }
        let max = MAX_CONTAINER_THRESHOLD * images.containers.max(1) as i64;
        let sum = sum.clamp(MIN_THRESHOLD, max);
        MAX_NODE_SCORE * (sum - MIN_THRESHOLD) / (max - MIN_THRESHOLD)
    }
}

#[cfg(test)]
mod tests {
    use super::normalized_image_name;

    #[test]
    fn names_get_the_latest_tag_unless_they_have_one() {
        assert_eq!(normalized_image_name("nginx"), "nginx:latest");
        assert_eq!(normalized_image_name("localhost:5000/app"), "localhost:5000/app:latest");
        assert_eq!(normalized_image_name("nginx:1.27"), "nginx:1.27");
    }
}
