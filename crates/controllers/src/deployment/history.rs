//! Revision history: old ReplicaSets beyond `revisionHistoryLimit` are deleted, lowest
//! revision first, but only once they are empty (upstream `cleanupDeployment`).

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use kube::api::{Api, DeleteParams};

use super::strategy::{self, rs_replicas, rs_status_replicas};
use super::{Controller, name_of, namespace_of};
use crate::error::{Result, ignore_not_found};

impl Controller {
    pub(super) async fn cleanup_deployment(&self, old: &[ReplicaSet], d: &Deployment) -> Result<()> {
        let Some(limit) = d.spec.as_ref().and_then(|s| s.revision_history_limit) else { return Ok(()) };
        let api: Api<ReplicaSet> = Api::namespaced(self.ctx.client.clone(), namespace_of(d));
        for rs in to_delete(old, limit) {
            ignore_not_found(api.delete(name_of(rs), &DeleteParams::default()).await)?;
        }
        Ok(())
    }
}

/// The old sets to delete to keep `limit` of them: the lowest revisions among those over
/// the limit that have no pods, want none, and whose status is current.
fn to_delete(old: &[ReplicaSet], limit: i32) -> Vec<&ReplicaSet> {
    let mut alive: Vec<&ReplicaSet> = old.iter().filter(|rs| rs.metadata.deletion_timestamp.is_none()).collect();
    let excess = alive.len() as i64 - i64::from(limit);
    if excess <= 0 {
        return Vec::new();
    }
    alive.sort_by(|a, b| strategy::by_revision(a, b));
    alive
        .into_iter()
        .take(excess as usize)
        .filter(|rs| {
            let observed = rs.status.as_ref().and_then(|s| s.observed_generation).unwrap_or(0);
            rs_status_replicas(rs) == 0 && rs_replicas(rs) == 0 && rs.metadata.generation.unwrap_or(0) <= observed
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deployment::annotations::REVISION;
    use crate::deployment::strategy::tests::rs;

    fn revision(mut set: ReplicaSet, r: &str) -> ReplicaSet {
        set.metadata.annotations = Some([(REVISION.to_string(), r.to_string())].into());
        set
    }

    #[test]
    fn the_lowest_empty_revisions_beyond_the_limit_go() {
        let old = vec![
            revision(rs("web-c", "2026-01-01T00:00:02Z", 0, 0), "3"),
            revision(rs("web-a", "2026-01-01T00:00:00Z", 0, 0), "1"),
            revision(rs("web-b", "2026-01-01T00:00:01Z", 1, 1), "2"),
        ];
        let names = |v: Vec<&ReplicaSet>| v.iter().map(|rs| name_of(*rs).to_string()).collect::<Vec<_>>();
        assert_eq!(names(to_delete(&old, 1)), ["web-a"], "web-b still has a pod");
        assert_eq!(names(to_delete(&old, 0)), ["web-a", "web-c"]);
        assert!(to_delete(&old, 3).is_empty());
    }
}
