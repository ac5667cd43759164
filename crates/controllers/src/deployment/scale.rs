//! Resizing ReplicaSets: one set to a size (with upstream's ScalingReplicaSet event), and
//! a Deployment resized while paused or mid-rollout (upstream `sync`/`scale`): one active
//! set takes the whole size; several share the change in proportion to their sizes, so a
//! rollout neither jumps ahead nor falls back because someone scaled.

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use kube::api::{Api, PostParams};
use skiff_runtime::Next;

use super::strategy::{self, by_creation, by_size_newer, by_size_older, rs_replicas};
use super::{COMPONENT, Controller, annotations, name_of, namespace_of};
use crate::error::Result;

impl Controller {
    /// Resize `rs` to `size`; whether it was resized, and the set as written (upstream
    /// `scaleReplicaSetAndRecordEvent`).
    pub(super) async fn scale_and_record(
        &self,
        rs: &ReplicaSet,
        size: i32,
        d: &Deployment,
    ) -> Result<(bool, ReplicaSet)> {
        if rs_replicas(rs) == size {
            return Ok((false, rs.clone()));
        }
        let op = if rs_replicas(rs) < size { "up" } else { "down" };
        self.scale_rs(rs, size, d, op).await
    }

    /// Resize `rs` and record the Deployment size it now serves (the annotations
    /// proportional scaling reads), writing only when either changes.
    async fn scale_rs(&self, rs: &ReplicaSet, size: i32, d: &Deployment, op: &str) -> Result<(bool, ReplicaSet)> {
        let from = rs_replicas(rs);
        let resized = from != size;
        let desired = strategy::replicas(d);
        let max = desired + strategy::max_surge(d);
        if !resized && !annotations::replicas_annotations_need_update(rs, desired, max) {
            return Ok((false, rs.clone()));
        }
        let mut copy = rs.clone();
        copy.spec.get_or_insert_with(Default::default).replicas = Some(size);
        annotations::set_replicas_annotations(&mut copy, desired, max);
        let api: Api<ReplicaSet> = Api::namespaced(self.ctx.client.clone(), namespace_of(rs));
        let written = api.replace(name_of(rs), &PostParams::default(), &copy).await?;
        if resized {
            let verb = if op == "up" { "up" } else { "down" };
            let msg = format!("Scaled {verb} replica set {} from {from} to {size}", name_of(rs));
            self.ctx.event(COMPONENT, d, false, "ScalingReplicaSet", &msg);
        }
        Ok((resized, written))
    }

    /// Whether the Deployment was resized since its active sets were (upstream
    /// `isScalingEvent`).
    pub(super) async fn is_scaling_event(&self, d: &mut Deployment, sets: &mut Vec<ReplicaSet>) -> Result<bool> {
        let (new_rs, old) = self.get_all_and_sync_revision(d, sets, false).await?;
        let desired = strategy::replicas(d);
        Ok(old
            .iter()
            .chain(new_rs.as_ref())
            .filter(|rs| rs_replicas(rs) > 0)
            .any(|rs| annotations::desired_replicas(rs).is_some_and(|n| n != desired)))
    }

    /// Apply a resize without moving the rollout on (paused Deployments, scaling events).
    pub(super) async fn sync_scale(&self, d: &mut Deployment, sets: &mut Vec<ReplicaSet>) -> Result<Next> {
        let (mut new_rs, mut old) = self.get_all_and_sync_revision(d, sets, false).await?;
        for (name, size, op) in plan(d, new_rs.as_ref(), &old) {
            let target = new_rs.iter_mut().chain(old.iter_mut()).find(|rs| name_of(&**rs) == name);
            if let Some(rs) = target {
                *rs = self.scale_rs(rs, size, d, op).await?.1;
            }
        }
        if strategy::is_paused(d) {
            self.cleanup_deployment(&old, d).await?;
        }
        let all: Vec<&ReplicaSet> = old.iter().chain(new_rs.as_ref()).collect();
        self.sync_deployment_status(d, &all, new_rs.as_ref()).await
    }
}

/// The sizes to give the sets (name, size, direction), as upstream's `scale` decides them.
fn plan(d: &Deployment, new_rs: Option<&ReplicaSet>, old: &[ReplicaSet]) -> Vec<(String, i32, &'static str)> {
    let desired = strategy::replicas(d);
    let direction = |rs: &ReplicaSet, size: i32| if rs_replicas(rs) < size { "up" } else { "down" };
    if let Some(rs) = active_or_latest(new_rs, old) {
        if rs_replicas(rs) == desired {
            return Vec::new();
        }
        return vec![(name_of(rs).to_string(), desired, direction(rs, desired))];
    }
    // A saturated new set (one just adopted, say) leaves nothing for the old ones.
    if strategy::is_saturated(d, new_rs) {
        return old.iter().filter(|rs| rs_replicas(rs) > 0).map(|rs| (name_of(rs).to_string(), 0, "down")).collect();
    }
    if !strategy::is_rolling(d) {
        return Vec::new();
    }
    let mut active: Vec<&ReplicaSet> = old.iter().chain(new_rs).filter(|rs| rs_replicas(rs) > 0).collect();
    let allowed = if desired > 0 { desired + strategy::max_surge(d) } else { 0 };
    let to_add = allowed - strategy::total_replicas(active.iter().copied());
    // Scaling up favours the newest of equal sets, scaling down takes from the oldest.
    let op = if to_add > 0 {
        active.sort_by(|a, b| by_size_newer(a, b));
        "up"
    } else {
        active.sort_by(|a, b| by_size_older(a, b));
        "down"
    };
    let mut added = 0;
    let mut sizes: Vec<i32> = active
        .iter()
        .map(|rs| {
            let p = proportion(rs, d, to_add, added);
            added += p;
            rs_replicas(rs) + p
        })
        .collect();
    // What rounding left over goes to the largest set.
    if let Some(first) = sizes.first_mut() {
        *first = (*first + to_add - added).max(0);
    }
    active.iter().zip(sizes).map(|(rs, size)| (name_of(*rs).to_string(), size, op)).collect()
}

/// Upstream's `FindActiveOrLatest`: the only set with replicas, or the newest set when
/// none has any; `None` when several have replicas.
fn active_or_latest<'a>(new_rs: Option<&'a ReplicaSet>, old: &'a [ReplicaSet]) -> Option<&'a ReplicaSet> {
    let active: Vec<&ReplicaSet> = old.iter().chain(new_rs).filter(|rs| rs_replicas(rs) > 0).collect();
    match active.len() {
        0 => new_rs.or_else(|| old.iter().max_by(|a, b| by_creation(a, b))),
        1 => Some(active[0]),
        _ => None,
    }
}

/// Upstream's `GetReplicaSetProportion`: the set's share of `to_add`, never more than what
/// is left of it.
fn proportion(rs: &ReplicaSet, d: &Deployment, to_add: i32, added: i32) -> i32 {
    if rs_replicas(rs) == 0 || to_add == 0 || to_add == added {
        return 0;
    }
    let fraction = fraction(rs, d);
    let left = to_add - added;
    if to_add > 0 { fraction.min(left) } else { fraction.max(left) }
}

/// How much the set would change if it kept its share of the Deployment's new size: the
/// share it had of the size in its max-replicas annotation.
fn fraction(rs: &ReplicaSet, d: &Deployment) -> i32 {
    let desired = strategy::replicas(d);
    if desired == 0 {
        return -rs_replicas(rs);
    }
    let new_total = desired + strategy::max_surge(d);
    let annotated =
        annotations::max_replicas(rs).unwrap_or_else(|| d.status.as_ref().and_then(|s| s.replicas).unwrap_or(0));
    if annotated == 0 {
        return 0;
    }
    let size = f64::from(rs_replicas(rs)) * f64::from(new_total) / f64::from(annotated);
    size.round() as i32 - rs_replicas(rs)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::deployment::strategy::tests::{deployment, rs};

    fn annotated(mut set: ReplicaSet, desired: i32, max: i32) -> ReplicaSet {
        annotations::set_replicas_annotations(&mut set, desired, max);
        set
    }

    #[test]
    fn one_active_set_takes_the_whole_size() {
        let d = deployment(10, json!(1), json!(0));
        let old = rs("web-a", "2026-01-01T00:00:00Z", 0, 0);
        let new = rs("web-b", "2026-01-01T00:00:01Z", 3, 3);
        assert_eq!(plan(&d, Some(&new), std::slice::from_ref(&old)), [("web-b".to_string(), 10, "up")]);
        let d = deployment(0, json!(1), json!(0));
        assert_eq!(plan(&d, Some(&new), &[old]), [("web-b".to_string(), 0, "down")]);
    }

    #[test]
    fn a_resize_mid_rollout_is_shared_in_proportion() {
        // 10 replicas (max 13 with a 25% surge) rolling, then scaled to 20 (max 25).
        let d = deployment(20, json!("25%"), json!("25%"));
        let old = annotated(rs("web-a", "2026-01-01T00:00:00Z", 8, 8), 10, 13);
        let new = annotated(rs("web-b", "2026-01-01T00:00:01Z", 5, 0), 10, 13);
        let p = plan(&d, Some(&new), std::slice::from_ref(&old));
        assert_eq!(p, [("web-a".to_string(), 15, "up"), ("web-b".to_string(), 10, "up")]);
        // And back down to 5 (max 7): the total stays within the new maximum.
        let d = deployment(5, json!("25%"), json!("25%"));
        let p = plan(&d, Some(&new), &[old]);
        let total: i32 = p.iter().map(|(_, n, _)| n).sum();
        assert_eq!(total, 7);
        assert!(p.iter().all(|(_, _, op)| *op == "down"));
    }

    #[test]
    fn scaling_to_zero_empties_every_set() {
        let d = deployment(0, json!(1), json!(0));
        let old = annotated(rs("web-a", "2026-01-01T00:00:00Z", 2, 2), 3, 4);
        let new = annotated(rs("web-b", "2026-01-01T00:00:01Z", 2, 0), 3, 4);
        let p = plan(&d, Some(&new), &[old]);
        assert!(p.iter().all(|(_, n, _)| *n == 0), "{p:?}");
    }

    #[test]
    fn a_saturated_new_set_scales_the_old_ones_to_zero() {
        let d = deployment(3, json!(1), json!(0));
        let old = rs("web-a", "2026-01-01T00:00:00Z", 2, 2);
        let new = annotated(rs("web-b", "2026-01-01T00:00:01Z", 3, 3), 3, 4);
        assert_eq!(plan(&d, Some(&new), &[old]), [("web-a".to_string(), 0, "down")]);
    }
}
