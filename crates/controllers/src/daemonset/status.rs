//! A DaemonSet's status (upstream's `updateDaemonSetStatus`): per wanted node whether it has a
//! pod, and whether the oldest is Ready, available and at the current revision; pods on nodes
//! that should not run one are misscheduled. `observedGeneration` only moves when the sync
//! acted on this generation (its expectations were met).

use std::collections::BTreeMap;
use std::sync::Arc;

use jiff::Timestamp;
use k8s_openapi::api::apps::v1::{DaemonSet, DaemonSetStatus};
use kube::api::{Api, Patch, PatchParams};
use serde_json::json;

use super::placement::{is_updated, oldest_first, template_generation};
use crate::cached_pod::CachedPod;
use crate::context::Context;
use crate::error::Result;
use crate::pods;

/// The status for the pods by node; `should_run` says which nodes are wanted (every node
/// in the cluster must be a key of `nodes`).
pub fn compute(
    ds: &DaemonSet,
    nodes: &[String],
    by_node: &BTreeMap<String, Vec<Arc<CachedPod>>>,
    should_run: &dyn Fn(&str) -> bool,
    hash: &str,
    observe_generation: bool,
    now: Timestamp,
) -> DaemonSetStatus {
    let min_ready = ds.spec.as_ref().and_then(|s| s.min_ready_seconds).unwrap_or(0);
    let generation = template_generation(ds);
    let old = ds.status.clone().unwrap_or_default();
    let mut s = DaemonSetStatus {
        observed_generation: if observe_generation { ds.metadata.generation } else { old.observed_generation },
        collision_count: old.collision_count,
        conditions: old.conditions,
        ..Default::default()
    };
    let (mut available, mut ready, mut updated) = (0, 0, 0);
    for node in nodes {
        let pods = by_node.get(node).map(Vec::as_slice).unwrap_or_default();
        if !should_run(node) {
            s.number_misscheduled += i32::from(!pods.is_empty());
            continue;
        }
        s.desired_number_scheduled += 1;
        let mut sorted = pods.to_vec();
        sorted.sort_by(oldest_first);
        let Some(pod) = sorted.first() else { continue };
        s.current_number_scheduled += 1;
        if pods::is_ready(pod) {
            ready += 1;
            available += i32::from(pods::is_available(pod, min_ready, now));
        }
        updated += i32::from(is_updated(pod, hash, generation));
    }
    s.number_ready = ready;
    s.number_available = Some(available);
    s.updated_number_scheduled = Some(updated);
    s.number_unavailable = Some(s.desired_number_scheduled - available);
    s
}

/// Write `status` if it differs from the DaemonSet's.
pub async fn write(ctx: &Context, ds: &DaemonSet, status: &DaemonSetStatus) -> Result<()> {
    if ds.status.as_ref() == Some(status) {
        return Ok(());
    }
    let api: Api<DaemonSet> = Api::namespaced(ctx.client.clone(), ds.metadata.namespace.as_deref().unwrap_or_default());
    let name = ds.metadata.name.as_deref().unwrap_or_default();
    api.patch_status(name, &PatchParams::default(), &Patch::Merge(json!({"status": status}))).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::daemonset::eligibility::tests::ds;
    use crate::history::HASH_LABEL;

    fn pod(hash: &str, ready: bool) -> Arc<CachedPod> {
        Arc::new(
            serde_json::from_value(json!({
                "metadata": {"name": "p", "labels": {HASH_LABEL: hash}},
                "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" },
                           "lastTransitionTime": "2026-01-01T00:00:00Z"}]},
            }))
            .unwrap(),
        )
    }

    #[test]
    fn counts_per_node() {
        let d = ds(json!({}));
        let nodes: Vec<String> = ["a", "b", "c", "d"].map(String::from).to_vec();
        let by_node: BTreeMap<String, Vec<Arc<CachedPod>>> = [
            ("a".into(), vec![pod("new", true)]),
            ("b".into(), vec![pod("old", false)]),
            ("d".into(), vec![pod("new", true)]),
        ]
        .into();
        let now = "2026-01-01T01:00:00Z".parse().unwrap();
        let s = compute(&d, &nodes, &by_node, &|n| n != "d", "new", true, now);
        assert_eq!(
            (s.desired_number_scheduled, s.current_number_scheduled, s.number_misscheduled, s.number_ready),
            (3, 2, 1, 1)
        );
        assert_eq!((s.number_available, s.updated_number_scheduled, s.number_unavailable), (Some(1), Some(1), Some(2)));
        assert_eq!(s.observed_generation, Some(1));
        let s = compute(&d, &nodes, &by_node, &|n| n != "d", "new", false, now);
        assert_eq!(s.observed_generation, None, "unmet expectations leave observedGeneration alone");
    }
}
