//! The numbers of a rollout: desired replicas, how far a rolling update may go above them
//! (maxSurge) or below them (maxUnavailable), and how big the new ReplicaSet may grow next.
//! Pure functions, as upstream's `deployment/util`.

use std::cmp::Ordering;

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::annotations;

pub const ROLLING_UPDATE: &str = "RollingUpdate";
pub const RECREATE: &str = "Recreate";

/// `spec.replicas` (the API server defaults it to 1).
pub fn replicas(d: &Deployment) -> i32 {
    d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1)
}

/// The strategy type; an absent one is the default, RollingUpdate.
pub fn strategy_type(d: &Deployment) -> &str {
    d.spec.as_ref().and_then(|s| s.strategy.as_ref()).and_then(|s| s.type_.as_deref()).unwrap_or(ROLLING_UPDATE)
}

pub fn is_rolling(d: &Deployment) -> bool {
    strategy_type(d) == ROLLING_UPDATE
}

pub fn is_paused(d: &Deployment) -> bool {
    d.spec.as_ref().and_then(|s| s.paused).unwrap_or(false)
}

pub fn min_ready_seconds(d: &Deployment) -> i32 {
    d.spec.as_ref().and_then(|s| s.min_ready_seconds).unwrap_or(0)
}

/// Upstream's `GetScaledValueFromIntOrPercent`: a number as is, or a percentage of `total`
/// rounded up or down. Validation rejects malformed percentages, so one counts as 0 here.
pub fn scaled_value(v: &IntOrString, total: i32, round_up: bool) -> i32 {
    match v {
        IntOrString::Int(n) => *n,
        IntOrString::String(s) => {
            let Some(pct) = s.strip_suffix('%').and_then(|p| p.parse::<i64>().ok()) else { return 0 };
            let scaled = pct * i64::from(total);
            let value = if round_up {
                scaled.div_euclid(100) + i64::from(scaled.rem_euclid(100) != 0)
            } else {
                scaled.div_euclid(100)
            };
            value.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32
        }
    }
}

/// Upstream's `ResolveFenceposts`: surge rounds up, unavailability down, and when both come
/// out zero one pod may be unavailable, or a rollout could never move.
fn fenceposts(d: &Deployment) -> (i32, i32) {
    let desired = replicas(d);
    let ru = d.spec.as_ref().and_then(|s| s.strategy.as_ref()).and_then(|s| s.rolling_update.as_ref());
    let quarter = IntOrString::String("25%".into());
    let surge = scaled_value(ru.and_then(|r| r.max_surge.as_ref()).unwrap_or(&quarter), desired, true);
    let unavailable = scaled_value(ru.and_then(|r| r.max_unavailable.as_ref()).unwrap_or(&quarter), desired, false);
    if surge == 0 && unavailable == 0 { (0, 1) } else { (surge, unavailable) }
}

/// How many pods above `replicas` a rolling update may run (0 for Recreate).
pub fn max_surge(d: &Deployment) -> i32 {
    if !is_rolling(d) {
        return 0;
    }
    fenceposts(d).0
}

/// How many of `replicas` may be unavailable during a rolling update (0 for Recreate),
/// never more than `replicas`.
pub fn max_unavailable(d: &Deployment) -> i32 {
    let desired = replicas(d);
    if !is_rolling(d) || desired == 0 {
        return 0;
    }
    fenceposts(d).1.min(desired)
}

/// `spec.replicas` of a ReplicaSet (defaulted to 1 by the API server).
pub fn rs_replicas(rs: &ReplicaSet) -> i32 {
    rs.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1)
}

pub fn rs_status_replicas(rs: &ReplicaSet) -> i32 {
    rs.status.as_ref().map(|s| s.replicas).unwrap_or(0)
}

pub fn rs_ready(rs: &ReplicaSet) -> i32 {
    rs.status.as_ref().and_then(|s| s.ready_replicas).unwrap_or(0)
}

pub fn rs_available(rs: &ReplicaSet) -> i32 {
    rs.status.as_ref().and_then(|s| s.available_replicas).unwrap_or(0)
}

/// Sum of `spec.replicas`: the pods the sets are asked for.
pub fn total_replicas<'a>(sets: impl IntoIterator<Item = &'a ReplicaSet>) -> i32 {
    sets.into_iter().map(rs_replicas).sum()
}

/// Sum of `status.availableReplicas`.
pub fn total_available<'a>(sets: impl IntoIterator<Item = &'a ReplicaSet>) -> i32 {
    sets.into_iter().map(rs_available).sum()
}

/// Upstream's `NewRSNewReplicas`: the size the new set may have now. Rolling updates grow it
/// as far as maxSurge allows without passing `replicas`; Recreate goes to `replicas` at once.
pub fn new_rs_new_replicas<'a>(
    d: &Deployment,
    all: impl IntoIterator<Item = &'a ReplicaSet>,
    new_rs: &ReplicaSet,
) -> i32 {
    let desired = replicas(d);
    if !is_rolling(d) {
        return desired;
    }
    let max_total = desired + max_surge(d);
    let current = total_replicas(all);
    let now = rs_replicas(new_rs);
    if current >= max_total {
        return now;
    }
    now + (max_total - current).min(desired - now)
}

/// Upstream's `IsSaturated`: the set was made for this size and has it all available.
pub fn is_saturated(d: &Deployment, rs: Option<&ReplicaSet>) -> bool {
    let Some(rs) = rs else { return false };
    let desired = replicas(d);
    annotations::desired_replicas(rs) == Some(desired) && rs_replicas(rs) == desired && rs_available(rs) == desired
}

fn created(rs: &ReplicaSet) -> Option<jiff::Timestamp> {
    rs.metadata.creation_timestamp.as_ref().map(|t| t.0)
}

fn name(rs: &ReplicaSet) -> &str {
    rs.metadata.name.as_deref().unwrap_or_default()
}

/// Oldest first, ties by name (upstream `ReplicaSetsByCreationTimestamp`).
pub fn by_creation(a: &ReplicaSet, b: &ReplicaSet) -> Ordering {
    created(a).cmp(&created(b)).then_with(|| name(a).cmp(name(b)))
}

/// Largest first; among equals the newer first (upstream `ReplicaSetsBySizeNewer`): scaling
/// up favours the newest sets.
pub fn by_size_newer(a: &ReplicaSet, b: &ReplicaSet) -> Ordering {
    rs_replicas(b).cmp(&rs_replicas(a)).then_with(|| by_creation(b, a))
}

/// Largest first; among equals the older first (upstream `ReplicaSetsBySizeOlder`): scaling
/// down takes from the oldest sets.
pub fn by_size_older(a: &ReplicaSet, b: &ReplicaSet) -> Ordering {
    rs_replicas(b).cmp(&rs_replicas(a)).then_with(|| by_creation(a, b))
}

/// Lowest revision first, ties oldest first (upstream `ReplicaSetsByRevision`).
pub fn by_revision(a: &ReplicaSet, b: &ReplicaSet) -> Ordering {
    annotations::revision(&a.metadata).cmp(&annotations::revision(&b.metadata)).then_with(|| by_creation(a, b))
}

#[cfg(test)]
pub(super) mod tests {
    use serde_json::{Value, json};

    use super::*;

    pub fn deployment(replicas: i32, surge: Value, unavailable: Value) -> Deployment {
        serde_json::from_value(json!({
            "metadata": {"name": "web", "namespace": "default", "uid": "d1", "generation": 1},
            "spec": {
                "replicas": replicas,
                "selector": {"matchLabels": {"app": "web"}},
                "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": surge, "maxUnavailable": unavailable}},
                "progressDeadlineSeconds": 600,
                "revisionHistoryLimit": 10,
                "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c", "image": "nginx:1.24"}]}},
            },
        }))
        .unwrap()
    }

    pub fn rs(name: &str, created: &str, replicas: i32, available: i32) -> ReplicaSet {
        serde_json::from_value(json!({
            "metadata": {"name": name, "namespace": "default", "uid": format!("uid-{name}"), "creationTimestamp": created},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}}},
            "status": {"replicas": replicas, "readyReplicas": available, "availableReplicas": available},
        }))
        .unwrap()
    }

    #[test]
    fn surge_rounds_up_and_unavailability_down() {
        let d = deployment(10, json!("25%"), json!("25%"));
        assert_eq!((max_surge(&d), max_unavailable(&d)), (3, 2));
        let d = deployment(3, json!(1), json!(0));
        assert_eq!((max_surge(&d), max_unavailable(&d)), (1, 0));
        let d = deployment(1, json!("10%"), json!("10%"));
        assert_eq!((max_surge(&d), max_unavailable(&d)), (1, 0));
    }

    #[test]
    fn zero_surge_and_zero_unavailability_allow_one_unavailable() {
        let d = deployment(3, json!(0), json!("10%"));
        assert_eq!((max_surge(&d), max_unavailable(&d)), (0, 1));
        let d = deployment(2, json!(0), json!(5));
        assert_eq!(max_unavailable(&d), 2, "never more than replicas");
        assert_eq!(max_unavailable(&deployment(0, json!(0), json!(0))), 0);
    }

    #[test]
    fn recreate_neither_surges_nor_counts_unavailability() {
        let mut d = deployment(3, json!(1), json!(1));
        d.spec.as_mut().unwrap().strategy = Some(serde_json::from_value(json!({"type": "Recreate"})).unwrap());
        assert_eq!((max_surge(&d), max_unavailable(&d)), (0, 0));
        let new = rs("web-b", "2026-01-01T00:00:01Z", 0, 0);
        assert_eq!(new_rs_new_replicas(&d, [&new], &new), 3);
    }

    #[test]
    fn the_new_set_grows_within_the_surge() {
        let d = deployment(3, json!(1), json!(0));
        let old = rs("web-a", "2026-01-01T00:00:00Z", 3, 3);
        let new = rs("web-b", "2026-01-01T00:00:01Z", 0, 0);
        assert_eq!(new_rs_new_replicas(&d, [&old, &new], &new), 1);
        let new = rs("web-b", "2026-01-01T00:00:01Z", 1, 0);
        assert_eq!(new_rs_new_replicas(&d, [&old, &new], &new), 1, "at maxSurge already");
        let old = rs("web-a", "2026-01-01T00:00:00Z", 0, 0);
        let new = rs("web-b", "2026-01-01T00:00:01Z", 2, 2);
        assert_eq!(new_rs_new_replicas(&d, [&old, &new], &new), 3, "never beyond replicas");
    }

    #[test]
    fn percentages_scale_with_rounding() {
        let p = |s: &str| IntOrString::String(s.into());
        assert_eq!(scaled_value(&p("25%"), 10, true), 3);
        assert_eq!(scaled_value(&p("25%"), 10, false), 2);
        assert_eq!(scaled_value(&p("100%"), 7, false), 7);
        assert_eq!(scaled_value(&IntOrString::Int(4), 10, true), 4);
        assert_eq!(scaled_value(&p("x"), 10, true), 0);
    }

    #[test]
    fn size_orders_break_ties_by_age_in_the_scaling_direction() {
        let a = rs("web-a", "2026-01-01T00:00:00Z", 2, 2);
        let b = rs("web-b", "2026-01-01T00:00:01Z", 2, 2);
        let c = rs("web-c", "2026-01-01T00:00:02Z", 5, 0);
        let mut sets = [&a, &b, &c];
        sets.sort_by(|x, y| by_size_newer(x, y));
        assert_eq!(sets.iter().map(|s| name(s)).collect::<Vec<_>>(), ["web-c", "web-b", "web-a"]);
        sets.sort_by(|x, y| by_size_older(x, y));
        assert_eq!(sets.iter().map(|s| name(s)).collect::<Vec<_>>(), ["web-c", "web-a", "web-b"]);
    }
}
