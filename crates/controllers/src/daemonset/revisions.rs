//! A DaemonSet's ControllerRevisions (upstream's `constructHistory` and `cleanupHistory`):
//! the revision holding the current template is found or made and numbered newest; duplicates
//! of it are merged; old revisions beyond `revisionHistoryLimit` that no pod uses are deleted.
//! The revision's hash label is what the daemon pods carry.

use std::sync::Arc;

use k8s_openapi::api::apps::v1::{ControllerRevision, DaemonSet};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, Patch, PatchParams};
use serde_json::json;

use crate::cached_pod::CachedPod;
use crate::context::Context;
use crate::error::{Result, ignore_not_found};
use crate::history::{self, HASH_LABEL};
use crate::{owner, selector};

/// The revision `ds`'s current template would get, numbered `number`.
pub fn snapshot(ds: &DaemonSet, number: i64, collision_count: i32) -> ControllerRevision {
    let template = ds.spec.as_ref().map(|s| s.template.clone()).unwrap_or_default();
    let labels = template.metadata.as_ref().and_then(|m| m.labels.as_ref());
    let mut r = history::new_revision(ds, labels, history::template_patch(&template), number, Some(collision_count));
    r.metadata.annotations = ds.metadata.annotations.clone();
    r
}

pub fn hash_of(r: &ControllerRevision) -> &str {
    r.metadata.labels.as_ref().and_then(|l| l.get(HASH_LABEL)).map(String::as_str).unwrap_or_default()
}

/// The revisions `ds` controls (adopting matching orphans, releasing its own that no longer
/// match).
async fn controlled(ctx: &Context, ds: &DaemonSet) -> Result<Vec<Arc<ControllerRevision>>> {
    let sel = selector::parse(ds.spec.as_ref().map(|s| &s.selector))?;
    let uid = ds.metadata.uid.as_deref().unwrap_or_default();
    let namespace = ds.metadata.namespace.as_deref().unwrap_or_default();
    let api: Api<ControllerRevision> = Api::namespaced(ctx.client.clone(), namespace);
    let deleting = ds.metadata.deletion_timestamp.is_some();
    let mut out = Vec::new();
    for r in ctx.informers.get::<ControllerRevision>().list_namespace(namespace) {
        let matches = selector::matches(&sel, r.metadata.labels.as_ref());
        let name = r.metadata.name.as_deref().unwrap_or_default();
        match owner::controller_of(&r.metadata) {
            Some(c) if c.uid == uid && matches => out.push(r),
            Some(c) if c.uid == uid && !deleting => {
                let patch = Patch::Strategic(owner::release_patch(uid, r.metadata.uid.as_deref().unwrap_or_default()));
                ignore_not_found(api.patch(name, &PatchParams::default(), &patch).await)?;
            }
            None if matches && !deleting => out.push(Arc::new(history::adopt(ctx, ds, &r).await?)),
            _ => {}
        }
    }
    Ok(out)
}

/// The current revision (made if missing) and the old ones. Writes a bumped collision count
/// to the DaemonSet's status when a name was taken.
pub async fn construct(
    ctx: &Context,
    ds: &DaemonSet,
    pods: &[Arc<CachedPod>],
) -> Result<(ControllerRevision, Vec<Arc<ControllerRevision>>)> {
    let all = controlled(ctx, ds).await?;
    let template = ds.spec.as_ref().map(|s| s.template.clone()).unwrap_or_default();
    let wanted = history::template_patch(&template);
    let (mut current, old): (Vec<_>, Vec<_>) =
        all.into_iter().partition(|r| r.data.as_ref().map(|d| &d.0) == Some(&wanted));
    let number = old.iter().map(|r| r.revision).max().unwrap_or(0) + 1;
    let cur = if current.is_empty() {
        let mut collision_count = ds.status.as_ref().and_then(|s| s.collision_count).unwrap_or(0);
        let before = collision_count;
        let created = history::create(ctx, &snapshot(ds, number, collision_count), &mut collision_count).await?;
        if collision_count != before {
            let api: Api<DaemonSet> =
                Api::namespaced(ctx.client.clone(), ds.metadata.namespace.as_deref().unwrap_or_default());
            let patch = Patch::Merge(json!({"status": {"collisionCount": collision_count}}));
            api.patch_status(ds.metadata.name.as_deref().unwrap_or_default(), &PatchParams::default(), &patch).await?;
        }
        created
    } else {
        current.sort_by_key(|r| r.revision);
        let keep = (**current.last().expect("not empty")).clone();
        dedup(ctx, ds, pods, &keep, &current).await?;
        history::renumber(ctx, &keep, number.max(keep.revision)).await?
    };
    Ok((cur, old))
}

/// Delete the duplicates of `keep`, moving their pods onto `keep`'s hash first.
async fn dedup(
    ctx: &Context,
    ds: &DaemonSet,
    pods: &[Arc<CachedPod>],
    keep: &ControllerRevision,
    current: &[Arc<ControllerRevision>],
) -> Result<()> {
    let api: Api<Pod> = Api::namespaced(ctx.client.clone(), ds.metadata.namespace.as_deref().unwrap_or_default());
    for dup in current.iter().filter(|r| r.metadata.name != keep.metadata.name) {
        for p in pods.iter().filter(|p| {
            p.metadata.labels.as_ref().and_then(|l| l.get(HASH_LABEL)).map(String::as_str) == Some(hash_of(dup))
        }) {
            let patch = Patch::Merge(json!({"metadata": {"labels": {HASH_LABEL: hash_of(keep)}}}));
            ignore_not_found(
                api.patch(p.metadata.name.as_deref().unwrap_or_default(), &PatchParams::default(), &patch).await,
            )?;
        }
        history::delete(ctx, dup).await?;
    }
    Ok(())
}

/// Delete the oldest revisions beyond `revisionHistoryLimit` that no pod runs.
pub async fn cleanup(
    ctx: &Context,
    ds: &DaemonSet,
    pods: &[Arc<CachedPod>],
    old: &[Arc<ControllerRevision>],
) -> Result<()> {
    let limit = ds.spec.as_ref().and_then(|s| s.revision_history_limit).unwrap_or(10).max(0) as usize;
    let mut old = old.to_vec();
    history::sort(&mut old);
    let live = |r: &ControllerRevision| {
        let h = hash_of(r);
        !h.is_empty()
            && pods
                .iter()
                .any(|p| p.metadata.labels.as_ref().and_then(|l| l.get(HASH_LABEL)).map(String::as_str) == Some(h))
    };
    for r in history::to_truncate(&old, &live, limit) {
        history::delete(ctx, &r).await?;
    }
    Ok(())
}
