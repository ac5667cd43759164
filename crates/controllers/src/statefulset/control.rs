//! The decisions of one StatefulSet sync, as upstream's `updateStatefulSet` makes them, without
//! IO: given the set (at its current and update revisions) and its pods, the steps to take in
//! order. With `OrderedReady` the plan stops at the first step that must be seen through
//! before the next (a creation, a deletion, a pod not yet Running and Ready); with `Parallel`
//! it holds every step at once.
//!
//! Order of the work: first the replicas in ordinal order (create the missing, replace the
//! failed), then the condemned (ordinals out of range) from the highest down, then the rolling
//! update from the highest ordinal down to the partition.

use std::sync::Arc;

use jiff::Timestamp;
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::Pod;

use super::identity;
use crate::cached_pod::CachedPod;
use crate::daemonset::rolling::scaled;
use crate::pods;

/// One thing to do to the cluster.
#[derive(Debug, Clone)]
pub enum Step {
    /// Create the pod (and its claims first).
    Create(Box<Pod>),
    /// Delete a replica that failed (or ended) so it is made anew.
    Recreate { pod: Arc<CachedPod>, failed: bool },
    /// The pod waits for its claims: create any that are missing.
    CreateMissingClaims(Arc<CachedPod>),
    /// Give the pod back its identity labels.
    FixIdentity(Arc<CachedPod>),
    /// Make the owner references of the pod's claims follow the retention policy.
    SyncClaims(Arc<CachedPod>),
    /// Delete a pod whose ordinal is out of range.
    ScaleDown(Arc<CachedPod>),
    /// Delete a pod at an old revision so it is made again at the update revision.
    Update(Arc<CachedPod>),
}

/// The set as of its current and update revisions, with the names of both.
pub struct Revisions<'a> {
    pub current_set: &'a StatefulSet,
    pub update_set: &'a StatefulSet,
    pub current: &'a str,
    pub update: &'a str,
}

fn min_ready_seconds(set: &StatefulSet) -> i32 {
    set.spec.as_ref().and_then(|s| s.min_ready_seconds).unwrap_or(0)
}

pub fn is_terminating(pod: &CachedPod) -> bool {
    pod.metadata.deletion_timestamp.is_some()
}

pub fn is_running_and_ready(pod: &CachedPod) -> bool {
    pods::phase(pod) == "Running" && pods::is_ready(pod)
}

pub fn is_running_and_available(pod: &CachedPod, min_ready_seconds: i32, now: Timestamp) -> bool {
    pods::phase(pod) == "Running" && pods::is_available(pod, min_ready_seconds, now)
}

fn is_unhealthy(pod: &CachedPod) -> bool {
    !is_running_and_ready(pod) || is_terminating(pod)
}

/// Whether pods are made and removed one at a time, each waiting for its predecessors.
pub fn is_monotonic(set: &StatefulSet) -> bool {
    set.spec.as_ref().and_then(|s| s.pod_management_policy.as_deref()) != Some("Parallel")
}

fn strategy(set: &StatefulSet) -> &str {
    set.spec
        .as_ref()
        .and_then(|s| s.update_strategy.as_ref())
        .and_then(|u| u.type_.as_deref())
        .unwrap_or("RollingUpdate")
}

fn partition(set: &StatefulSet) -> Option<i32> {
    let ru = set.spec.as_ref()?.update_strategy.as_ref()?.rolling_update.as_ref()?;
    Some(ru.partition.unwrap_or(0))
}

/// A new pod for `ordinal`: at the current revision below the partition (or, without a
/// rolling-update block, among the first `currentReplicas`), else at the update revision.
pub fn versioned_pod(set: &StatefulSet, rev: &Revisions, ordinal: i32) -> Pod {
    let start = identity::start_ordinal(set);
    let current = rev.current_set;
    let current_replicas = current.status.as_ref().map(|s| s.current_replicas.unwrap_or(0)).unwrap_or(0);
    let keep_current = match partition(current) {
        None => strategy(current) == "RollingUpdate" && ordinal < start + current_replicas,
        Some(p) => ordinal < start + p,
    };
    if keep_current {
        identity::new_pod(current, ordinal, rev.current)
    } else {
        identity::new_pod(rev.update_set, ordinal, rev.update)
    }
}

/// What the sync should do now, in order.
pub fn plan(set: &StatefulSet, pods: &[Arc<CachedPod>], rev: &Revisions, now: Timestamp) -> Vec<Step> {
    let start = identity::start_ordinal(set);
    let mut replicas: Vec<Option<Arc<CachedPod>>> = vec![None; identity::replicas(set) as usize];
    let mut condemned: Vec<Arc<CachedPod>> = Vec::new();
    for pod in pods {
        match identity::ordinal(pod) {
            Some(o) if identity::in_range(set, o) => {
                let i = (o - start) as usize;
                replicas[i] = Some(pod.clone());
            }
            Some(_) => condemned.push(pod.clone()),
            None => {}
        }
    }
    condemned.sort_by_key(|p| std::cmp::Reverse(identity::ordinal(p)));

    let mut steps = Vec::new();
    if set.metadata.deletion_timestamp.is_some() {
        return steps;
    }
    let monotonic = is_monotonic(set);
    let min_ready = min_ready_seconds(set);
    let has_claims = set.spec.as_ref().and_then(|s| s.volume_claim_templates.as_ref()).is_some_and(|t| !t.is_empty());

    // Replicas in ordinal order: each must be Running and Ready before the next is touched.
    for (i, slot) in replicas.iter().enumerate() {
        let ordinal = start + i as i32;
        let Some(pod) = slot else {
            steps.push(Step::Create(Box::new(versioned_pod(set, rev, ordinal))));
            if monotonic {
                return steps;
            }
            continue;
        };
        let phase = pods::phase(pod);
        if phase == "Failed" || phase == "Succeeded" {
            steps.push(Step::Recreate { pod: pod.clone(), failed: phase == "Failed" });
            if monotonic {
                return steps;
            }
            continue;
        }
        if phase == "Pending" && has_claims {
            steps.push(Step::CreateMissingClaims(pod.clone()));
        }
        if is_terminating(pod) {
            if monotonic {
                return steps;
            }
            continue;
        }
        if monotonic && !is_running_and_available(pod, min_ready, now) {
            return steps;
        }
        if !identity::identity_matches(set, pod) {
            steps.push(Step::FixIdentity(pod.clone()));
        }
        if has_claims {
            steps.push(Step::SyncClaims(pod.clone()));
        }
    }

    // Claims of condemned pods follow the whenScaled policy before the pods go.
    if has_claims {
        steps.extend(condemned.iter().map(|p| Step::SyncClaims(p.clone())));
    }

    // Scale down from the highest ordinal; a broken pod may go first, a healthy one only when
    // everything below it is healthy.
    let first_unhealthy = replicas
        .iter()
        .flatten()
        .find(|p| is_unhealthy(p))
        .or_else(|| condemned.iter().rev().find(|p| is_unhealthy(p)))
        .cloned();
    for pod in &condemned {
        if is_terminating(pod) {
            if monotonic {
                return steps;
            }
            continue;
        }
        let is_first_unhealthy = first_unhealthy.as_ref().is_some_and(|f| Arc::ptr_eq(f, pod));
        if monotonic && !is_first_unhealthy && !is_running_and_available(pod, min_ready, now) {
            return steps;
        }
        steps.push(Step::ScaleDown(pod.clone()));
        if monotonic {
            return steps;
        }
    }

    if strategy(set) == "OnDelete" {
        return steps;
    }

    // Rolling update: replace old pods from the highest ordinal down to the partition, never
    // more unavailable at once than maxUnavailable (1 unless set).
    let partition = partition(set).unwrap_or(0).max(0) as usize;
    let max_unavailable = set
        .spec
        .as_ref()
        .and_then(|s| s.update_strategy.as_ref())
        .and_then(|u| u.rolling_update.as_ref())
        .and_then(|r| r.max_unavailable.as_ref())
        .map(|m| scaled(m, identity::replicas(set), true).max(1))
        .unwrap_or(1) as usize;
    let unavailable = replicas
        .iter()
        .filter(|s| s.as_ref().is_none_or(|p| is_terminating(p) || !is_running_and_available(p, min_ready, now)))
        .count();
    let mut budget = max_unavailable.saturating_sub(unavailable);
    for slot in replicas.iter().enumerate().rev().filter(|(i, _)| *i >= partition).map(|(_, s)| s) {
        if budget == 0 {
            break;
        }
        if let Some(pod) = slot
            && identity::revision(&pod.metadata) != rev.update
            && !is_terminating(pod)
        {
            steps.push(Step::Update(pod.clone()));
            budget -= 1;
        }
    }
    steps
}

/// The pod counts of the status.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Counts {
    pub replicas: i32,
    pub ready: i32,
    pub available: i32,
    pub current: i32,
    pub updated: i32,
}

/// Count `pods` as upstream's `computeReplicaStatus` does.
pub fn counts(set: &StatefulSet, pods: &[Arc<CachedPod>], current: &str, update: &str, now: Timestamp) -> Counts {
    let min_ready = min_ready_seconds(set);
    let mut c = Counts::default();
    for pod in pods.iter().filter(|p| identity::ordinal(p).is_some()) {
        c.replicas += 1;
        if is_running_and_ready(pod) {
            c.ready += 1;
            if is_running_and_available(pod, min_ready, now) {
                c.available += 1;
            }
        }
        if !is_terminating(pod) {
            let r = identity::revision(&pod.metadata);
            c.current += i32::from(r == current);
            c.updated += i32::from(r == update);
        }
    }
    c
}

#[cfg(test)]
mod tests {
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
    use serde_json::json;

    use super::*;
    use crate::statefulset::identity::tests::set;

    fn pod(set: &StatefulSet, ordinal: i32, revision: &str, phase: &str, ready: bool) -> Arc<CachedPod> {
        let mut p = CachedPod::from(&identity::new_pod(set, ordinal, revision));
        p.status = Some(
            serde_json::from_value(json!({
                "phase": phase,
                "conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" },
                                "lastTransitionTime": "2026-01-01T00:00:00Z"}],
            }))
            .unwrap(),
        );
        Arc::new(p)
    }

    fn running(set: &StatefulSet, ordinal: i32, revision: &str) -> Arc<CachedPod> {
        pod(set, ordinal, revision, "Running", true)
    }

    fn now() -> Timestamp {
        "2026-01-01T01:00:00Z".parse().unwrap()
    }

    fn describe(steps: &[Step]) -> Vec<String> {
        let name = |m: &ObjectMeta| m.name.clone().unwrap_or_default();
        steps
            .iter()
            .filter_map(|s| match s {
                Step::Create(p) => Some(format!("create {} at {}", name(&p.metadata), identity::revision(&p.metadata))),
                Step::Recreate { pod, .. } => Some(format!("recreate {}", name(&pod.metadata))),
                Step::ScaleDown(p) => Some(format!("scale down {}", name(&p.metadata))),
                Step::Update(p) => Some(format!("update {}", name(&p.metadata))),
                Step::FixIdentity(p) => Some(format!("fix {}", name(&p.metadata))),
                Step::CreateMissingClaims(_) | Step::SyncClaims(_) => None,
            })
            .collect()
    }

    fn plan_for(s: &StatefulSet, pods: &[Arc<CachedPod>], update: &str) -> Vec<String> {
        let rev = Revisions { current_set: s, update_set: s, current: "old", update };
        describe(&plan(s, pods, &rev, now()))
    }

    #[test]
    fn ordered_ready_creates_the_lowest_missing_ordinal_once_its_predecessors_are_ready() {
        let s = set(json!({}));
        assert_eq!(plan_for(&s, &[], "old"), ["create web-0 at old"]);
        let not_ready = pod(&s, 0, "old", "Running", false);
        assert!(plan_for(&s, &[not_ready], "old").is_empty(), "web-1 waits for web-0 to be Ready");
        assert_eq!(plan_for(&s, &[running(&s, 0, "old")], "old"), ["create web-1 at old"]);
        // A gap is filled before anything above it moves.
        assert_eq!(plan_for(&s, &[running(&s, 0, "old"), running(&s, 2, "old")], "old"), ["create web-1 at old"]);
    }

    #[test]
    fn parallel_creates_every_missing_pod_at_once() {
        let s = set(json!({"spec": {"podManagementPolicy": "Parallel"}}));
        let pending = pod(&s, 0, "old", "Pending", false);
        assert_eq!(plan_for(&s, &[pending], "old"), ["create web-1 at old", "create web-2 at old"]);
    }

    #[test]
    fn scale_down_removes_the_highest_ordinal_first_one_at_a_time() {
        let s = set(json!({"spec": {"replicas": 1}}));
        let pods: Vec<_> = (0..3).map(|o| running(&s, o, "old")).collect();
        assert_eq!(plan_for(&s, &pods, "old"), ["scale down web-2"]);
        let mut terminating = (*pods[2]).clone();
        terminating.metadata.deletion_timestamp = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(now()));
        let waiting = [pods[0].clone(), pods[1].clone(), Arc::new(terminating)];
        assert!(plan_for(&s, &waiting, "old").is_empty(), "web-1 waits until web-2 is gone");
    }

    #[test]
    fn failed_pods_are_recreated() {
        let s = set(json!({}));
        let pods = [running(&s, 0, "old"), pod(&s, 1, "old", "Failed", false)];
        assert_eq!(plan_for(&s, &pods, "old"), ["recreate web-1"]);
    }

    #[test]
    fn rolling_update_goes_from_the_highest_ordinal_down_to_the_partition() {
        let s = set(json!({}));
        let pods: Vec<_> = (0..3).map(|o| running(&s, o, "old")).collect();
        assert_eq!(plan_for(&s, &pods, "new"), ["update web-2"]);
        let pods2 = [running(&s, 0, "old"), running(&s, 1, "old"), running(&s, 2, "new")];
        assert_eq!(plan_for(&s, &pods2, "new"), ["update web-1"]);
        // An updated pod not yet Ready holds the rollout.
        let pods3 = [running(&s, 0, "old"), running(&s, 1, "old"), pod(&s, 2, "new", "Running", false)];
        assert!(plan_for(&s, &pods3, "new").is_empty());

        let partitioned =
            set(json!({"spec": {"updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 2}}}}));
        let done = [running(&s, 0, "old"), running(&s, 1, "old"), running(&s, 2, "new")];
        assert!(plan_for(&partitioned, &done, "new").is_empty(), "ordinals below the partition keep their revision");
        let rev = Revisions { current_set: &partitioned, update_set: &partitioned, current: "old", update: "new" };
        assert_eq!(identity::revision(&versioned_pod(&partitioned, &rev, 1).metadata), "old");
        assert_eq!(identity::revision(&versioned_pod(&partitioned, &rev, 2).metadata), "new");
    }

    #[test]
    fn on_delete_leaves_old_pods_alone() {
        let s = set(json!({"spec": {"updateStrategy": {"type": "OnDelete"}}}));
        let pods: Vec<_> = (0..3).map(|o| running(&s, o, "old")).collect();
        assert!(plan_for(&s, &pods, "new").is_empty());
        assert_eq!(plan_for(&s, &pods[..2], "new"), ["create web-2 at new"]);
    }

    #[test]
    fn max_unavailable_replaces_several_at_once() {
        let s = set(json!({"spec": {"updateStrategy": {"type": "RollingUpdate",
            "rollingUpdate": {"partition": 0, "maxUnavailable": 2}}}}));
        let pods: Vec<_> = (0..3).map(|o| running(&s, o, "old")).collect();
        assert_eq!(plan_for(&s, &pods, "new"), ["update web-2", "update web-1"]);
    }

    #[test]
    fn counts_follow_revisions_and_readiness() {
        let s = set(json!({}));
        let pods = [running(&s, 0, "old"), running(&s, 1, "new"), pod(&s, 2, "new", "Pending", false)];
        let c = counts(&s, &pods, "old", "new", now());
        assert_eq!(c, Counts { replicas: 3, ready: 2, available: 2, current: 1, updated: 2 });
    }
}
