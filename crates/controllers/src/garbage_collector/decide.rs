//! What to do with one object once its owners were looked up (upstream's
//! attemptToDeleteItem decisions), and the patches that carry it out. Pure: the lookups
//! and writes are in [`super::attempt`].

use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use serde_json::{Value, json};

use super::graph::{FOREGROUND, ORPHAN};

/// What a fresh lookup found about one owner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OwnerState {
    /// Gone, or replaced by another object (a different uid).
    Dangling,
    /// Being deleted in the foreground: it waits for its dependents.
    WaitingForDependents,
    /// There, and not waiting on anything.
    Solid,
}

/// How a delete asks dependents to be handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Propagation {
    Orphan,
    Background,
    Foreground,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// A solid owner remains and no reference is stale.
    Keep,
    /// A solid owner remains: drop the references to these owners (uids), gone or waiting
    /// (a waiting owner would otherwise wait for this dependent forever).
    RemoveReferences(Vec<String>),
    /// An owner waits for its dependents and this object has dependents of its own: it goes
    /// in the foreground too, after making its references non-blocking if `unblock` (one of
    /// its dependents also waits, which may be a cycle).
    DeleteInForeground { unblock: bool },
    /// No owner remains: collect it, keeping the propagation its finalizers already ask for.
    Delete(Propagation),
}

/// The decision for an object whose references were classified as `owners`.
/// `dependents_deleting` tells whether any of its dependents is itself deleting its
/// dependents; `finalizers` are the object's own.
pub fn decide(
    owners: &[(OwnerReference, OwnerState)],
    has_dependents: bool,
    dependents_deleting: bool,
    finalizers: &[String],
) -> Decision {
    let count = |s: OwnerState| owners.iter().filter(|(_, st)| *st == s).count();
    let (solid, dangling, waiting) =
        (count(OwnerState::Solid), count(OwnerState::Dangling), count(OwnerState::WaitingForDependents));
    if solid > 0 {
        if dangling == 0 && waiting == 0 {
            return Decision::Keep;
        }
        // Gone owners first, then waiting ones, as upstream lists them.
        let uids = [OwnerState::Dangling, OwnerState::WaitingForDependents]
            .into_iter()
            .flat_map(|want| owners.iter().filter(move |(_, st)| *st == want).map(|(r, _)| r.uid.clone()))
            .collect();
        return Decision::RemoveReferences(uids);
    }
    if waiting > 0 && has_dependents {
        return Decision::DeleteInForeground { unblock: dependents_deleting };
    }
    let has = |f: &str| finalizers.iter().any(|x| x == f);
    let propagation = if has(ORPHAN) {
        Propagation::Orphan
    } else if has(FOREGROUND) {
        Propagation::Foreground
    } else {
        Propagation::Background
    };
    Decision::Delete(propagation)
}

/// A strategic merge patch removing the references to `owner_uids` from the object with
/// uid `uid` (the uid makes the patch fail if the object was replaced meanwhile).
pub fn remove_references_patch(uid: &str, owner_uids: &[String]) -> Value {
    let refs: Vec<Value> = owner_uids.iter().map(|o| json!({"$patch": "delete", "uid": o})).collect();
    json!({"metadata": {"ownerReferences": refs, "uid": uid}})
}

/// A strategic merge patch setting `blockOwnerDeletion: false` on every blocking reference
/// of the object with uid `uid`.
pub fn unblock_patch(uid: &str, refs: &[OwnerReference]) -> Value {
    let refs: Vec<Value> = refs
        .iter()
        .filter(|r| r.block_owner_deletion == Some(true))
        .map(|r| json!({"uid": r.uid, "blockOwnerDeletion": false}))
        .collect();
    json!({"metadata": {"ownerReferences": refs, "uid": uid}})
}

/// A merge patch leaving `finalizers` without `finalizer`, guarded by the resource version
/// it was read at; `None` if the finalizer is not there.
pub fn remove_finalizer_patch(finalizers: &[String], finalizer: &str, resource_version: &str) -> Option<Value> {
    if !finalizers.iter().any(|f| f == finalizer) {
        return None;
    }
    let left: Vec<&String> = finalizers.iter().filter(|f| *f != finalizer).collect();
    let left = if left.is_empty() { Value::Null } else { json!(left) };
    Some(json!({"metadata": {"resourceVersion": resource_version, "finalizers": left}}))
}

#[cfg(test)]
mod tests {
    use super::*;
    use OwnerState::*;

    fn r(uid: &str, block: bool) -> OwnerReference {
        OwnerReference {
            api_version: "v1".into(),
            kind: "ConfigMap".into(),
            name: uid.into(),
            uid: uid.into(),
            controller: None,
            block_owner_deletion: Some(block),
        }
    }

    #[test]
    fn a_solid_owner_keeps_the_dependent_and_stale_references_are_dropped() {
        assert_eq!(decide(&[(r("a", false), Solid)], false, false, &[]), Decision::Keep);
        let owners = [(r("w", false), WaitingForDependents), (r("a", false), Solid), (r("g", false), Dangling)];
        assert_eq!(decide(&owners, true, false, &[]), Decision::RemoveReferences(vec!["g".into(), "w".into()]));
    }

    #[test]
    fn without_owners_left_the_dependent_is_deleted_honouring_its_finalizers() {
        let gone = [(r("g", false), Dangling)];
        assert_eq!(decide(&gone, false, false, &[]), Decision::Delete(Propagation::Background));
        assert_eq!(decide(&gone, true, false, &["orphan".into()]), Decision::Delete(Propagation::Orphan));
        assert_eq!(
            decide(&gone, true, false, &["foregroundDeletion".into()]),
            Decision::Delete(Propagation::Foreground)
        );
    }

    #[test]
    fn a_waiting_owner_makes_a_dependent_with_dependents_go_in_the_foreground() {
        let waiting = [(r("w", true), WaitingForDependents)];
        assert_eq!(decide(&waiting, true, false, &[]), Decision::DeleteInForeground { unblock: false });
        assert_eq!(decide(&waiting, true, true, &[]), Decision::DeleteInForeground { unblock: true });
        // Without dependents of its own it simply goes.
        assert_eq!(decide(&waiting, false, false, &[]), Decision::Delete(Propagation::Background));
    }

    #[test]
    fn patches_name_the_object_and_the_references() {
        assert_eq!(
            remove_references_patch("me", &["o1".into()]),
            json!({"metadata": {"ownerReferences": [{"$patch": "delete", "uid": "o1"}], "uid": "me"}})
        );
        assert_eq!(
            unblock_patch("me", &[r("a", true), r("b", false)]),
            json!({"metadata": {"ownerReferences": [{"uid": "a", "blockOwnerDeletion": false}], "uid": "me"}})
        );
        let fins = ["orphan".to_string(), "example.com/x".to_string()];
        assert_eq!(
            remove_finalizer_patch(&fins, "orphan", "7"),
            Some(json!({"metadata": {"resourceVersion": "7", "finalizers": ["example.com/x"]}}))
        );
        assert_eq!(
            remove_finalizer_patch(&fins[..1], "orphan", "7"),
            Some(json!({"metadata": {"resourceVersion": "7", "finalizers": null}}))
        );
        assert_eq!(remove_finalizer_patch(&fins[1..], "orphan", "7"), None);
    }
}
