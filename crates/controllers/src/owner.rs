//! Owner references: who controls an object, making the reference a controller sets on
//! what it creates, and the index that finds an owner's objects.

use std::sync::Arc;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::Resource;
use skiff_runtime::Informer;

/// Name of the index (on any informer) from a controller's uid to the objects it controls.
pub const CONTROLLER_UID_INDEX: &str = "controller-uid";

/// Name of the index from a namespace to its objects that have no controller (orphans).
pub const ORPHANS_INDEX: &str = "orphans-by-namespace";

/// Register the indexes [`claim_candidates`] reads (idempotent).
pub fn index_for_claims<K: Resource + Send + Sync + 'static>(informer: &Informer<K>) {
    informer.add_index(CONTROLLER_UID_INDEX, |o: &K| controller_uid(o.meta()));
    informer.add_index(ORPHANS_INDEX, |o: &K| {
        let meta = o.meta();
        match controller_of(meta) {
            None => vec![meta.namespace.clone().unwrap_or_default()],
            Some(_) => Vec::new(),
        }
    });
}

/// What an owner may claim: the objects it controls and the orphans of its namespace, from
/// the indexes [`index_for_claims`] registered — not every object of the namespace, which
/// with thousands of pods made each sync a scan.
pub fn claim_candidates<K>(informer: &Informer<K>, namespace: &str, owner_uid: &str) -> Vec<Arc<K>> {
    let mut candidates = informer.by_index(CONTROLLER_UID_INDEX, owner_uid);
    candidates.extend(informer.by_index(ORPHANS_INDEX, namespace));
    candidates
}

/// The owner reference with `controller: true`, if any.
pub fn controller_of(meta: &ObjectMeta) -> Option<&OwnerReference> {
    meta.owner_references.as_ref()?.iter().find(|r| r.controller == Some(true))
}

/// The index values for [`CONTROLLER_UID_INDEX`].
pub fn controller_uid(meta: &ObjectMeta) -> Vec<String> {
    controller_of(meta).map(|r| r.uid.clone()).into_iter().collect()
}

/// The reference a controller puts on what it creates: controller, blocking the owner's
/// foreground deletion.
pub fn controller_ref<K: Resource<DynamicType = ()>>(owner: &K) -> OwnerReference {
    let meta = owner.meta();
    OwnerReference {
        api_version: K::api_version(&()).into_owned(),
        kind: K::kind(&()).into_owned(),
        name: meta.name.clone().unwrap_or_default(),
        uid: meta.uid.clone().unwrap_or_default(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }
}

/// Whether `meta` is controlled by the object with uid `uid`.
pub fn is_controlled_by(meta: &ObjectMeta, uid: &str) -> bool {
    controller_of(meta).is_some_and(|r| r.uid == uid)
}

/// A strategic merge patch that makes `owner` the controller
/// of an orphan (adoption). The uid precondition makes the write fail if the object was
/// replaced meanwhile.
pub fn adopt_patch(owner: &OwnerReference, uid: &str) -> serde_json::Value {
    serde_json::json!({
        "metadata": {
            "ownerReferences": [owner],
            "uid": uid,
        }
    })
}

/// A strategic merge patch that removes the owner reference with `owner_uid` (release).
pub fn release_patch(owner_uid: &str, uid: &str) -> serde_json::Value {
    serde_json::json!({
        "metadata": {
            "ownerReferences": [{"$patch": "delete", "uid": owner_uid}],
            "uid": uid,
        }
    })
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::apps::v1::ReplicaSet;

    use super::*;

    #[test]
    fn controller_ref_names_the_owner_and_blocks_its_deletion() {
        let mut rs = ReplicaSet::default();
        rs.metadata.name = Some("web".into());
        rs.metadata.uid = Some("u1".into());
        let r = controller_ref(&rs);
        assert_eq!((r.api_version.as_str(), r.kind.as_str(), r.name.as_str()), ("apps/v1", "ReplicaSet", "web"));
        assert_eq!((r.controller, r.block_owner_deletion), (Some(true), Some(true)));
        let meta = ObjectMeta { owner_references: Some(vec![r]), ..Default::default() };
        assert!(is_controlled_by(&meta, "u1"));
        assert_eq!(controller_uid(&meta), ["u1"]);
    }
}
