//! A StatefulSet's status: the pod counts, the current and update revisions, the observed
//! generation and the collision count, written only when they changed. When every pod is at
//! the update revision and Ready, the rollout is complete and the update revision becomes the
//! current one (what `kubectl rollout status` waits for).

use k8s_openapi::api::apps::v1::{StatefulSet, StatefulSetStatus};
use kube::api::{Api, Patch, PatchParams};
use serde_json::json;

use super::control::Counts;
use crate::context::Context;
use crate::error::Result;

/// The status the counts and revisions give, rollout completion applied.
pub fn compute(set: &StatefulSet, c: &Counts, current: &str, update: &str, collision_count: i32) -> StatefulSetStatus {
    let old = set.status.clone().unwrap_or_default();
    let mut s = StatefulSetStatus {
        observed_generation: set.metadata.generation,
        replicas: c.replicas,
        ready_replicas: Some(c.ready),
        available_replicas: Some(c.available),
        current_replicas: Some(c.current),
        updated_replicas: Some(c.updated),
        current_revision: Some(current.to_string()),
        update_revision: Some(update.to_string()),
        collision_count: Some(collision_count),
        conditions: old.conditions,
    };
    let rolling =
        set.spec.as_ref().and_then(|s| s.update_strategy.as_ref()).and_then(|u| u.type_.as_deref()) != Some("OnDelete");
    if rolling && c.updated == c.replicas && c.ready == c.replicas {
        s.current_replicas = s.updated_replicas;
        s.current_revision = s.update_revision.clone();
    }
    s
}

/// Write the status if it differs from the set's.
pub async fn write(
    ctx: &Context,
    set: &StatefulSet,
    counts: &Counts,
    current: &str,
    update: &str,
    collision_count: i32,
) -> Result<()> {
    let status = compute(set, counts, current, update, collision_count);
    if set.status.as_ref() == Some(&status) {
        return Ok(());
    }
    let api: Api<StatefulSet> =
        Api::namespaced(ctx.client.clone(), set.metadata.namespace.as_deref().unwrap_or_default());
    let name = set.metadata.name.as_deref().unwrap_or_default();
    api.patch_status(name, &PatchParams::default(), &Patch::Merge(json!({"status": status}))).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::statefulset::identity::tests::set;

    #[test]
    fn a_finished_rollout_makes_the_update_revision_current() {
        let mut s = set(json!({"metadata": {"generation": 4}}));
        let done = Counts { replicas: 3, ready: 3, available: 3, current: 0, updated: 3 };
        let st = compute(&s, &done, "old", "new", 0);
        assert_eq!((st.current_revision.as_deref(), st.current_replicas), (Some("new"), Some(3)));
        assert_eq!(st.observed_generation, Some(4));
        let partial = Counts { replicas: 3, ready: 3, available: 3, current: 2, updated: 1 };
        let st = compute(&s, &partial, "old", "new", 0);
        assert_eq!((st.current_revision.as_deref(), st.current_replicas), (Some("old"), Some(2)));
        s.spec.as_mut().unwrap().update_strategy = Some(serde_json::from_value(json!({"type": "OnDelete"})).unwrap());
        let st = compute(&s, &done, "old", "new", 0);
        assert_eq!(st.current_revision.as_deref(), Some("old"), "OnDelete never completes a rollout");
    }
}
