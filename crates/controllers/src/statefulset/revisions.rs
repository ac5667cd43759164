//! A StatefulSet's ControllerRevisions: finding (and adopting) them, choosing the current and
//! update revisions (creating the update revision, or renumbering an older equal one on a
//! rollback), and trimming the history to `revisionHistoryLimit`.

use std::sync::Arc;

use k8s_openapi::api::apps::v1::{ControllerRevision, StatefulSet};

use super::identity;
use crate::cached_pod::CachedPod;
use crate::context::Context;
use crate::error::Result;
use crate::{history, owner, selector};

/// A revision of `set`'s template with number `number`, carrying the set's annotations.
pub fn new_revision(set: &StatefulSet, number: i64, collision_count: i32) -> ControllerRevision {
    let template = set.spec.as_ref().map(|s| s.template.clone()).unwrap_or_default();
    let labels = template.metadata.as_ref().and_then(|m| m.labels.as_ref());
    let mut r = history::new_revision(set, labels, history::template_patch(&template), number, Some(collision_count));
    if let Some(a) = &set.metadata.annotations {
        r.metadata.annotations.get_or_insert_with(Default::default).extend(a.clone());
    }
    r
}

/// `set` with the template `revision` holds (upstream's `ApplyRevision`).
pub fn apply(set: &StatefulSet, revision: &ControllerRevision) -> Result<StatefulSet> {
    let mut set = set.clone();
    if let Some(spec) = &mut set.spec {
        spec.template = history::template_of(revision)?;
    }
    Ok(set)
}

/// The set's revisions, sorted: those it controls and orphans its selector matches, which it
/// adopts.
pub async fn list(ctx: &Context, set: &StatefulSet) -> Result<Vec<Arc<ControllerRevision>>> {
    let sel = selector::parse(set.spec.as_ref().map(|s| &s.selector))?;
    let uid = set.metadata.uid.as_deref().unwrap_or_default();
    let namespace = set.metadata.namespace.as_deref().unwrap_or_default();
    let mut out = Vec::new();
    for r in ctx.informers.get::<ControllerRevision>().list_namespace(namespace) {
        if !selector::matches(&sel, r.metadata.labels.as_ref()) {
            continue;
        }
        match owner::controller_of(&r.metadata) {
            Some(c) if c.uid == uid => out.push(r),
            Some(_) => {}
            None if set.metadata.deletion_timestamp.is_none() => {
                out.push(Arc::new(history::adopt(ctx, set, &r).await?))
            }
            None => {}
        }
    }
    history::sort(&mut out);
    Ok(out)
}

/// The current revision, the update revision and the collision count. Creates the update
/// revision when no revision holds the template yet.
pub async fn current_and_update(
    ctx: &Context,
    set: &StatefulSet,
    revisions: &[Arc<ControllerRevision>],
) -> Result<(ControllerRevision, ControllerRevision, i32)> {
    let mut collision_count = set.status.as_ref().and_then(|s| s.collision_count).unwrap_or(0);
    let candidate = new_revision(set, history::next_revision(revisions), collision_count);
    let equal = history::find_equal(revisions, &candidate);
    let update = match (equal.last(), revisions.last()) {
        // The newest revision already holds the template: nothing changed.
        (Some(e), Some(last)) if history::equal(e, last) => (**last).clone(),
        // An older revision holds it: a rollback makes it the newest.
        (Some(e), _) => history::renumber(ctx, e, candidate.revision).await?,
        (None, _) => history::create(ctx, &candidate, &mut collision_count).await?,
    };
    let current_name = set.status.as_ref().and_then(|s| s.current_revision.as_deref()).unwrap_or_default();
    let current = revisions
        .iter()
        .find(|r| r.metadata.name.as_deref() == Some(current_name))
        .map(|r| (**r).clone())
        .unwrap_or_else(|| update.clone());
    Ok((current, update, collision_count))
}

/// Delete the oldest revisions beyond `revisionHistoryLimit`, never one that is current, the
/// update, or still used by a pod.
pub async fn truncate(
    ctx: &Context,
    set: &StatefulSet,
    pods: &[Arc<CachedPod>],
    revisions: &[Arc<ControllerRevision>],
    live: &[&str],
) -> Result<()> {
    let limit = set.spec.as_ref().and_then(|s| s.revision_history_limit).unwrap_or(10).max(0) as usize;
    let is_live = |r: &ControllerRevision| {
        let name = r.metadata.name.as_deref().unwrap_or_default();
        live.contains(&name) || pods.iter().any(|p| identity::revision(&p.metadata) == name)
    };
    for r in history::to_truncate(revisions, &is_live, limit) {
        history::delete(ctx, &r).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::statefulset::identity::tests::set;

    #[test]
    fn a_revision_restores_the_template_it_was_made_from() {
        let old = set(json!({"metadata": {"annotations": {"note": "x"}}}));
        let rev = new_revision(&old, 1, 0);
        assert_eq!(rev.metadata.annotations.as_ref().unwrap()["note"], "x");
        assert!(rev.metadata.name.as_deref().unwrap().starts_with("web-"));
        let new = set(json!({"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "nginx:2"}]}}}}));
        assert!(!history::equal(&rev, &new_revision(&new, 2, 0)), "a new image is a new revision");
        let restored = apply(&new, &rev).unwrap();
        assert_eq!(restored.spec.unwrap().template, old.spec.unwrap().template);
    }
}
