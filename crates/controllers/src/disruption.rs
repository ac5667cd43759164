//! The disruption controller: keeps each PodDisruptionBudget's status (expected, healthy and
//! desired pods, disruptions allowed, recent evictions) so that the eviction subresource,
//! and with it `kubectl drain`, can refuse what would break a budget.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::core::v1::ReplicationController;
use k8s_openapi::api::policy::v1::{PodDisruptionBudget, PodDisruptionBudgetStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::api::{Api, PostParams};
use skiff_runtime::{Change, Informer, Next, WorkQueue, key_of, run_workers};

use crate::cached_pod::CachedPod;
use crate::context::Context;
use crate::error::{Result, ignore_not_found};
use crate::owner::controller_of;
use crate::{pods, selector};

/// How long an eviction recorded in `disruptedPods` is awaited before the pod counts again
/// (upstream's DeletionTimeout).
const DELETION_TIMEOUT: Duration = Duration::from_secs(120);
const COMPONENT: &str = "controllermanager";

struct Controller {
    ctx: Context,
    budgets: Informer<PodDisruptionBudget>,
    pods: Informer<CachedPod>,
    replica_sets: Informer<ReplicaSet>,
    deployments: Informer<Deployment>,
    stateful_sets: Informer<StatefulSet>,
    replication_controllers: Informer<ReplicationController>,
    queue: WorkQueue<String>,
}

pub fn start(ctx: &Context) {
    let c = Arc::new(Controller {
        ctx: ctx.clone(),
        budgets: ctx.informers.get(),
        pods: ctx.informers.get(),
        replica_sets: ctx.informers.get(),
        deployments: ctx.informers.get(),
        stateful_sets: ctx.informers.get(),
        replication_controllers: ctx.informers.get(),
        queue: WorkQueue::new(),
    });
    let q = c.queue.clone();
    c.budgets.on_change(move |change| q.add(key_of(&**change.object())));
    let this = c.clone();
    c.pods.on_change(move |change| {
        if let Change::Updated { old, .. } = change {
            this.enqueue_budgets_of(old);
        }
        this.enqueue_budgets_of(change.object());
    });
    let this = c.clone();
    run_workers("disruption-controller", c.queue.clone(), 2, move |k| this.clone().sync(k), ctx.shutdown.clone());
}

impl Controller {
    fn enqueue_budgets_of(&self, pod: &CachedPod) {
        let covering = selector::selecting(&self.budgets, &pod.metadata, |pdb| {
            selector::parse(pdb.spec.as_ref().and_then(|s| s.selector.as_ref()))
        });
        covering.into_iter().for_each(|k| self.queue.add(k));
    }

    async fn sync(self: Arc<Self>, key: String) -> Result<Next> {
        // A budget computed from half-loaded caches would allow too much or too little.
        for synced in [self.pods.has_synced(), self.replica_sets.has_synced(), self.deployments.has_synced()] {
            if !synced {
                return Ok(Next::After(Duration::from_millis(100)));
            }
        }
        let Some(pdb) = self.budgets.get(&key) else { return Ok(Next::Wait) };
        let ns = pdb.metadata.namespace.clone().unwrap_or_default();
        let spec = pdb.spec.clone().unwrap_or_default();
        let sel = selector::parse(spec.selector.as_ref())?;
        let matching: Vec<Arc<CachedPod>> = self
            .pods
            .list_namespace(&ns)
            .into_iter()
            .filter(|p| selector::matches(&sel, p.metadata.labels.as_ref()))
            .collect();
        if matching.is_empty() {
            self.ctx.event(COMPONENT, &*pdb, false, "NoPods", "No matching pods found");
        }
        let now = Timestamp::now();
        let (disrupted, recheck) = still_disrupted(&pdb, &matching, now);
        let healthy = matching
            .iter()
            .filter(|p| p.metadata.deletion_timestamp.is_none() && pods::is_ready(p))
            .filter(|p| !disrupted.contains_key(p.metadata.name.as_deref().unwrap_or_default()))
            .count() as i32;
        let (expected, desired) = match (&spec.max_unavailable, &spec.min_available) {
            (None, Some(IntOrString::Int(min))) => (matching.len() as i32, *min),
            (max, min) => {
                let expected = self.expected_count(&matching);
                let desired = match (max, min) {
                    (Some(max), _) => expected - scaled(max, expected),
                    (None, Some(min)) => scaled(min, expected),
                    (None, None) => expected,
                };
                (expected, desired)
            }
        };
        let allowed = (healthy - desired).max(0);
        let status = new_status(&pdb, disrupted, healthy, desired, expected, allowed);
        if pdb.status.as_ref() != Some(&status) {
            let mut updated = (*pdb).clone();
            updated.status = Some(status);
            let api: Api<PodDisruptionBudget> = Api::namespaced(self.ctx.client.clone(), &ns);
            let name = pdb.metadata.name.clone().unwrap_or_default();
            // A replace with the cached resourceVersion: if an eviction changed the status
            // meanwhile this fails and the retry starts from it.
            ignore_not_found(api.replace_status(&name, &PostParams::default(), &updated).await)?;
        }
        Ok(recheck.map_or(Next::Wait, Next::After))
    }

    /// The pods the budget's pods' controllers want in all (for percentages and
    /// maxUnavailable): each controller's scale counted once; a pod without a controller
    /// counts for itself.
    fn expected_count(&self, matching: &[Arc<CachedPod>]) -> i32 {
        let mut controllers: BTreeMap<String, i32> = BTreeMap::new();
        let mut unmanaged = 0;
        for pod in matching {
            let ns = pod.metadata.namespace.as_deref().unwrap_or_default();
            let scale = controller_of(&pod.metadata).and_then(|r| match r.kind.as_str() {
                "ReplicaSet" => {
                    let rs = self.replica_sets.get_named(ns, &r.name)?;
                    // A Deployment's ReplicaSets share its scale.
                    if let Some(d) = controller_of(&rs.metadata).filter(|d| d.kind == "Deployment") {
                        let dep = self.deployments.get_named(ns, &d.name)?;
                        return Some((d.uid.clone(), dep.spec.as_ref()?.replicas.unwrap_or(1)));
                    }
                    Some((r.uid.clone(), rs.spec.as_ref()?.replicas.unwrap_or(1)))
                }
                "StatefulSet" => {
                    let s = self.stateful_sets.get_named(ns, &r.name)?;
                    Some((r.uid.clone(), s.spec.as_ref()?.replicas.unwrap_or(1)))
                }
                "ReplicationController" => {
                    let rc = self.replication_controllers.get_named(ns, &r.name)?;
                    Some((r.uid.clone(), rc.spec.as_ref()?.replicas.unwrap_or(1)))
                }
                _ => None,
            });
            match scale {
                Some((uid, n)) => {
                    controllers.insert(uid, n);
                }
                None => unmanaged += 1,
            }
        }
        controllers.values().sum::<i32>() + unmanaged
    }
}

/// `value` of `total`: a number as is, a percentage rounded up.
fn scaled(value: &IntOrString, total: i32) -> i32 {
    match value {
        IntOrString::Int(n) => *n,
        IntOrString::String(s) => {
            let pct: i64 = s.trim_end_matches('%').parse().unwrap_or(0);
            ((pct * i64::from(total) + 99) / 100) as i32
        }
    }
}

/// The recorded evictions still awaited: the pod exists, is not being deleted yet, and the
/// eviction is younger than the timeout. Also when to look again for the oldest to expire.
fn still_disrupted(
    pdb: &PodDisruptionBudget,
    matching: &[Arc<CachedPod>],
    now: Timestamp,
) -> (BTreeMap<String, Time>, Option<Duration>) {
    let recorded = pdb.status.as_ref().and_then(|s| s.disrupted_pods.clone()).unwrap_or_default();
    let mut kept = BTreeMap::new();
    let mut recheck: Option<Duration> = None;
    for (name, at) in recorded {
        let pod = matching.iter().find(|p| p.metadata.name.as_deref() == Some(name.as_str()));
        let Some(pod) = pod else { continue };
        if pod.metadata.deletion_timestamp.is_some() {
            continue;
        }
        let age = now.duration_since(at.0).as_secs().max(0) as u64;
        if age >= DELETION_TIMEOUT.as_secs() {
            continue;
        }
        let left = DELETION_TIMEOUT - Duration::from_secs(age);
        recheck = Some(recheck.map_or(left, |r| r.min(left)));
        kept.insert(name, at);
    }
    (kept, recheck)
}

fn new_status(
    pdb: &PodDisruptionBudget,
    disrupted: BTreeMap<String, Time>,
    healthy: i32,
    desired: i32,
    expected: i32,
    allowed: i32,
) -> PodDisruptionBudgetStatus {
    let (status, reason) = if allowed > 0 { ("True", "SufficientPods") } else { ("False", "InsufficientPods") };
    let old = pdb
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|c| c.iter().find(|c| c.type_ == "DisruptionAllowed"));
    let transition = match old {
        Some(c) if c.status == status => c.last_transition_time.clone(),
        _ => Time(Timestamp::now()),
    };
    PodDisruptionBudgetStatus {
        observed_generation: pdb.metadata.generation,
        disrupted_pods: (!disrupted.is_empty()).then_some(disrupted),
        disruptions_allowed: allowed,
        current_healthy: healthy,
        desired_healthy: desired,
        expected_pods: expected,
        conditions: Some(vec![Condition {
            type_: "DisruptionAllowed".into(),
            status: status.into(),
            reason: reason.into(),
            message: String::new(),
            last_transition_time: transition,
            observed_generation: pdb.metadata.generation,
        }]),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn percentages_round_up() {
        assert_eq!(scaled(&IntOrString::String("50%".into()), 3), 2);
        assert_eq!(scaled(&IntOrString::String("10%".into()), 10), 1);
        assert_eq!(scaled(&IntOrString::Int(2), 10), 2);
    }

    #[test]
    fn old_or_finished_evictions_are_forgotten() {
        let now: Timestamp = "2026-11-22T10:00:00Z".parse().unwrap();
        let pdb: PodDisruptionBudget = serde_json::from_value(json!({"status": {
            "disruptionsAllowed": 0, "currentHealthy": 0, "desiredHealthy": 0, "expectedPods": 0,
            "disruptedPods": {"recent": "2026-11-22T09:59:30Z", "old": "2026-11-22T09:50:00Z", "gone": "2026-11-22T09:59:59Z"}}}))
        .unwrap();
        let pod =
            |name: &str| Arc::new(serde_json::from_value::<CachedPod>(json!({"metadata": {"name": name}})).unwrap());
        let (kept, recheck) = still_disrupted(&pdb, &[pod("recent"), pod("old")], now);
        assert_eq!(kept.keys().collect::<Vec<_>>(), ["recent"]);
        assert_eq!(recheck, Some(Duration::from_secs(90)));
    }
}
