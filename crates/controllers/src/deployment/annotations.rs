//! The annotations a Deployment and its ReplicaSets carry: the revision of each template,
//! the replica counts a set was sized for (for proportional scaling), and the Deployment's
//! own annotations copied onto its sets (so `kubectl rollout history` shows change causes
//! and `rollout undo` can restore them).

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::strategy;

pub const REVISION: &str = "deployment.kubernetes.io/revision";
pub const REVISION_HISTORY: &str = "deployment.kubernetes.io/revision-history";
pub const DESIRED_REPLICAS: &str = "deployment.kubernetes.io/desired-replicas";
pub const MAX_REPLICAS: &str = "deployment.kubernetes.io/max-replicas";
/// Set by extensions/v1beta1 rollbacks; never copied.
const ROLLBACK_TO: &str = "deprecated.deployment.rollback.to";
const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";
/// Upstream caps the revision-history annotation at this many characters.
const MAX_HISTORY_CHARS: usize = 2000;

fn get<'a>(meta: &'a ObjectMeta, key: &str) -> Option<&'a str> {
    meta.annotations.as_ref()?.get(key).map(String::as_str)
}

/// The revision number in `meta` (0 when absent or not a number, as upstream's
/// `MaxRevision` treats unparsable ones).
pub fn revision(meta: &ObjectMeta) -> i64 {
    get(meta, REVISION).and_then(|r| r.parse().ok()).unwrap_or(0)
}

/// The highest revision among `sets`.
pub fn max_revision<'a>(sets: impl IntoIterator<Item = &'a ReplicaSet>) -> i64 {
    sets.into_iter().map(|rs| revision(&rs.metadata)).max().unwrap_or(0)
}

pub fn desired_replicas(rs: &ReplicaSet) -> Option<i32> {
    get(&rs.metadata, DESIRED_REPLICAS)?.parse().ok()
}

pub fn max_replicas(rs: &ReplicaSet) -> Option<i32> {
    get(&rs.metadata, MAX_REPLICAS)?.parse().ok()
}

/// Annotations of a Deployment that stay off its ReplicaSets: the controller's own
/// bookkeeping and kubectl's last applied configuration.
fn skip_copy(key: &str) -> bool {
    matches!(key, LAST_APPLIED | REVISION | REVISION_HISTORY | DESIRED_REPLICAS | MAX_REPLICAS | ROLLBACK_TO)
}

fn annotations_mut(meta: &mut ObjectMeta) -> &mut BTreeMap<String, String> {
    meta.annotations.get_or_insert_with(BTreeMap::new)
}

/// Copy the Deployment's annotations onto the set; whether anything changed.
fn copy_deployment_annotations(d: &Deployment, rs: &mut ReplicaSet) -> bool {
    let mut changed = false;
    let into = annotations_mut(&mut rs.metadata);
    for (k, v) in d.metadata.annotations.iter().flatten() {
        if skip_copy(k) || into.get(k) == Some(v) {
            continue;
        }
        into.insert(k.clone(), v.clone());
        changed = true;
    }
    changed
}

/// Upstream's `SetNewReplicaSetAnnotations`: copy the Deployment's annotations, raise the
/// set's revision to `new_revision` (keeping the revisions it had before in
/// revision-history, which is how a rolled-back-to set remembers them), and on a set being
/// created record the replica counts. Whether anything changed.
pub fn set_new_rs_annotations(d: &Deployment, rs: &mut ReplicaSet, new_revision: i64, exists: bool) -> bool {
    let mut changed = copy_deployment_annotations(d, rs);
    let old = get(&rs.metadata, REVISION).map(str::to_string);
    let old_number = match old.as_deref() {
        None | Some("") => 0,
        Some(s) => match s.parse::<i64>() {
            Ok(n) => n,
            // Someone wrote garbage: leave the revision alone, as upstream does.
            Err(_) => return changed,
        },
    };
    if old_number < new_revision {
        let ann = annotations_mut(&mut rs.metadata);
        ann.insert(REVISION.into(), new_revision.to_string());
        changed = true;
        if let Some(old) = old.filter(|o| !o.is_empty()) {
            let history = ann.get(REVISION_HISTORY).cloned().unwrap_or_default();
            if let Some(h) = append_history(&history, &old) {
                ann.insert(REVISION_HISTORY.into(), h);
            }
        }
    }
    if !exists {
        let desired = strategy::replicas(d);
        changed |= set_replicas_annotations(rs, desired, desired + strategy::max_surge(d));
    }
    changed
}

/// `history` with `old` appended, dropping the oldest entries to stay within the length
/// limit; `None` when even that cannot fit.
fn append_history(history: &str, old: &str) -> Option<String> {
    if history.is_empty() {
        return Some(old.to_string());
    }
    let mut entries: Vec<&str> = history.split(',').collect();
    let mut total = history.len() + old.len() + 1;
    let mut start = 0;
    while total > MAX_HISTORY_CHARS && start < entries.len() {
        total -= entries[start].len() + 1;
        start += 1;
    }
    if total > MAX_HISTORY_CHARS {
        return None;
    }
    entries.drain(..start);
    entries.push(old);
    Some(entries.join(","))
}

/// Record the Deployment size a set was scaled for; whether anything changed.
pub fn set_replicas_annotations(rs: &mut ReplicaSet, desired: i32, max: i32) -> bool {
    if !replicas_annotations_need_update(rs, desired, max) {
        return false;
    }
    let ann = annotations_mut(&mut rs.metadata);
    ann.insert(DESIRED_REPLICAS.into(), desired.to_string());
    ann.insert(MAX_REPLICAS.into(), max.to_string());
    true
}

pub fn replicas_annotations_need_update(rs: &ReplicaSet, desired: i32, max: i32) -> bool {
    get(&rs.metadata, DESIRED_REPLICAS) != Some(desired.to_string().as_str())
        || get(&rs.metadata, MAX_REPLICAS) != Some(max.to_string().as_str())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::deployment::strategy::tests::{deployment, rs};

    #[test]
    fn a_new_set_gets_the_revision_the_counts_and_the_change_cause() {
        let mut d = deployment(3, json!(1), json!(0));
        d.metadata.annotations = Some(
            [
                ("kubernetes.io/change-cause".to_string(), "kubectl set image".to_string()),
                (LAST_APPLIED.to_string(), "{}".to_string()),
                (REVISION.to_string(), "1".to_string()),
            ]
            .into(),
        );
        let mut set = rs("web-b", "2026-01-01T00:00:00Z", 0, 0);
        assert!(set_new_rs_annotations(&d, &mut set, 2, false));
        let ann = set.metadata.annotations.as_ref().unwrap();
        assert_eq!(ann[REVISION], "2");
        assert_eq!(ann[DESIRED_REPLICAS], "3");
        assert_eq!(ann[MAX_REPLICAS], "4");
        assert_eq!(ann["kubernetes.io/change-cause"], "kubectl set image");
        assert!(!ann.contains_key(LAST_APPLIED));
        assert!(!ann.contains_key(REVISION_HISTORY));
        assert!(!set_new_rs_annotations(&d, &mut set, 2, true), "nothing new the second time");
    }

    #[test]
    fn a_set_rolled_back_to_keeps_its_earlier_revisions() {
        let d = deployment(3, json!(1), json!(0));
        let mut set = rs("web-a", "2026-01-01T00:00:00Z", 0, 0);
        set.metadata.annotations = Some([(REVISION.to_string(), "1".to_string())].into());
        assert!(set_new_rs_annotations(&d, &mut set, 3, true));
        assert!(set_new_rs_annotations(&d, &mut set, 5, true));
        let ann = set.metadata.annotations.as_ref().unwrap();
        assert_eq!((ann[REVISION].as_str(), ann[REVISION_HISTORY].as_str()), ("5", "1,3"));
        assert!(!set_new_rs_annotations(&d, &mut set, 4, true), "a revision never goes down");
    }

    #[test]
    fn revision_history_drops_the_oldest_entries_past_the_limit() {
        let long = vec!["1234567890"; 181].join(",");
        let h = append_history(&long, "99").unwrap();
        assert!(h.len() <= MAX_HISTORY_CHARS);
        assert!(h.ends_with(",99"));
        assert_eq!(append_history("", "7").unwrap(), "7");
    }

    #[test]
    fn max_revision_ignores_unparsable_ones() {
        let mut a = rs("a", "2026-01-01T00:00:00Z", 0, 0);
        a.metadata.annotations = Some([(REVISION.to_string(), "4".to_string())].into());
        let mut b = rs("b", "2026-01-01T00:00:00Z", 0, 0);
        b.metadata.annotations = Some([(REVISION.to_string(), "x".to_string())].into());
        assert_eq!(max_revision([&a, &b]), 4);
        assert_eq!(max_revision([]), 0);
    }
}
