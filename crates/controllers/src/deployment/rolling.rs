//! The RollingUpdate strategy (upstream `rolloutRolling`): grow the new ReplicaSet as far
//! as maxSurge allows, shrink the old ones as far as maxUnavailable allows (counting only
//! available pods), one step per sync; each step's writes bring the next sync.

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use skiff_runtime::Next;

use super::strategy::{self, by_creation, rs_available, rs_replicas, total_available, total_replicas};
use super::{Controller, status};
use crate::error::Result;

impl Controller {
    pub(super) async fn rollout_rolling(&self, d: &mut Deployment, sets: &mut Vec<ReplicaSet>) -> Result<Next> {
        let (new_rs, mut old) = self.get_all_and_sync_revision(d, sets, true).await?;
        let Some(mut new_rs) = new_rs else { return Ok(Next::Wait) };
        if self.reconcile_new_rs(&old, &mut new_rs, d).await? {
            let all: Vec<&ReplicaSet> = old.iter().chain([&new_rs]).collect();
            return self.sync_rollout_status(d, &all, Some(&new_rs)).await;
        }
        if self.reconcile_old_rss(&mut old, &new_rs, d).await? {
            let all: Vec<&ReplicaSet> = old.iter().chain([&new_rs]).collect();
            return self.sync_rollout_status(d, &all, Some(&new_rs)).await;
        }
        if status::complete(d, &d.status.clone().unwrap_or_default()) {
            self.cleanup_deployment(&old, d).await?;
        }
        let all: Vec<&ReplicaSet> = old.iter().chain([&new_rs]).collect();
        self.sync_rollout_status(d, &all, Some(&new_rs)).await
    }

    /// Upstream's `reconcileNewReplicaSet`: shrink a new set larger than `replicas`, else
    /// grow it as far as the surge allows. Whether it was resized.
    async fn reconcile_new_rs(&self, old: &[ReplicaSet], new_rs: &mut ReplicaSet, d: &Deployment) -> Result<bool> {
        let desired = strategy::replicas(d);
        let target = if rs_replicas(new_rs) > desired {
            desired
        } else {
            strategy::new_rs_new_replicas(d, old.iter().chain([&*new_rs]), new_rs)
        };
        let (scaled, written) = self.scale_and_record(new_rs, target, d).await?;
        *new_rs = written;
        Ok(scaled)
    }

    /// Upstream's `reconcileOldReplicaSets`: first drop old pods that are not available
    /// anyway (they count against nothing), then shrink the old sets, oldest first, as far
    /// as keeping `replicas - maxUnavailable` available pods allows. Whether any shrank.
    async fn reconcile_old_rss(&self, old: &mut [ReplicaSet], new_rs: &ReplicaSet, d: &Deployment) -> Result<bool> {
        if total_replicas(old.iter()) == 0 {
            return Ok(false);
        }
        let max_scaled_down = max_scaled_down(old, new_rs, d);
        if max_scaled_down <= 0 {
            return Ok(false);
        }
        old.sort_by(by_creation);
        let mut cleaned = 0;
        for rs in old.iter_mut() {
            if cleaned >= max_scaled_down {
                break;
            }
            let unhealthy = rs_replicas(rs) - rs_available(rs);
            if rs_replicas(rs) == 0 || unhealthy <= 0 {
                continue;
            }
            let n = (max_scaled_down - cleaned).min(unhealthy);
            *rs = self.scale_and_record(rs, rs_replicas(rs) - n, d).await?.1;
            cleaned += n;
        }
        let mut scaled = 0;
        let can_remove = total_available(old.iter().chain([new_rs])) - min_available(d);
        for rs in old.iter_mut() {
            if scaled >= can_remove {
                break;
            }
            if rs_replicas(rs) == 0 {
                continue;
            }
            let n = rs_replicas(rs).min(can_remove - scaled);
            *rs = self.scale_and_record(rs, rs_replicas(rs) - n, d).await?.1;
            scaled += n;
        }
        Ok(cleaned + scaled > 0)
    }
}

fn min_available(d: &Deployment) -> i32 {
    strategy::replicas(d) - strategy::max_unavailable(d)
}

/// How many old pods may go now: all pods, less those that must stay available, less the
/// new set's pods that are not available yet (they may never become so).
fn max_scaled_down(old: &[ReplicaSet], new_rs: &ReplicaSet, d: &Deployment) -> i32 {
    let all = total_replicas(old.iter().chain([new_rs]));
    let new_unavailable = rs_replicas(new_rs) - rs_available(new_rs);
    all - min_available(d) - new_unavailable
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::deployment::strategy::tests::{deployment, rs};

    #[test]
    fn old_pods_go_only_as_new_ones_become_available() {
        // 3 replicas, maxSurge 1, maxUnavailable 0: the seed's web-app.
        let d = deployment(3, json!(1), json!(0));
        let old = rs("web-a", "2026-01-01T00:00:00Z", 3, 3);
        let new = rs("web-b", "2026-01-01T00:00:01Z", 1, 0);
        assert_eq!(max_scaled_down(std::slice::from_ref(&old), &new, &d), 0, "the surge pod is not available yet");
        let new = rs("web-b", "2026-01-01T00:00:01Z", 1, 1);
        assert_eq!(max_scaled_down(std::slice::from_ref(&old), &new, &d), 1);
        assert_eq!(total_available([&old, &new]) - min_available(&d), 1);
    }

    #[test]
    fn max_unavailable_lets_old_pods_go_early() {
        let d = deployment(4, json!(0), json!(2));
        let old = rs("web-a", "2026-01-01T00:00:00Z", 4, 4);
        let new = rs("web-b", "2026-01-01T00:00:01Z", 0, 0);
        assert_eq!(max_scaled_down(&[old], &new, &d), 2);
    }
}
