//! The claims of a StatefulSet's pods and `persistentVolumeClaimRetentionPolicy`: the garbage
//! collector deletes a claim with its owners, so `whenDeleted: Delete` makes the set an owner
//! of each claim and `whenScaled: Delete` makes a scaled-down pod the owner of its claims.
//! `Retain` means no such reference. The decisions are pure; [`create_missing`] and
//! [`sync_owners`] write them.

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::PersistentVolumeClaim;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::api::{Api, PostParams};

use super::identity;
use crate::context::Context;
use crate::error::{Error, Result};
use crate::pods::api_message;

pub const COMPONENT: &str = "statefulset-controller";

/// (whenDeleted is Delete, whenScaled is Delete).
fn policy(set: &StatefulSet) -> (bool, bool) {
    let p = set.spec.as_ref().and_then(|s| s.persistent_volume_claim_retention_policy.as_ref());
    let delete = |v: Option<&String>| v.is_some_and(|v| v == "Delete");
    (delete(p.and_then(|p| p.when_deleted.as_ref())), delete(p.and_then(|p| p.when_scaled.as_ref())))
}

fn has_ref(claim: &PersistentVolumeClaim, uid: &str) -> bool {
    claim.metadata.owner_references.iter().flatten().any(|r| r.uid == uid)
}

fn uid(meta: &ObjectMeta) -> &str {
    meta.uid.as_deref().unwrap_or_default()
}

/// The references the claim should have to the set and to the pod: (set, pod).
fn wanted(set: &StatefulSet, pod: &ObjectMeta) -> (bool, bool) {
    let (when_deleted, when_scaled) = policy(set);
    let scaled_down = !identity::ordinal_of(pod).is_some_and(|o| identity::in_range(set, o));
    match (when_deleted, when_scaled) {
        (false, false) => (false, false),
        (true, false) => (true, false),
        (false, true) => (false, scaled_down),
        // A scaled-down pod's claim goes with the pod, the others with the set.
        (true, true) => (!scaled_down, scaled_down),
    }
}

/// Whether someone else controls the claim: then it is left as it is.
fn foreign_controller(claim: &PersistentVolumeClaim, set: &StatefulSet, pod: &ObjectMeta) -> bool {
    claim
        .metadata
        .owner_references
        .iter()
        .flatten()
        .any(|r| r.controller == Some(true) && r.uid != uid(&set.metadata) && r.uid != uid(pod))
}

/// The claim with its owner references following the policy, or `None` when it already
/// does (or is not ours to change).
pub fn with_policy_owners(
    claim: &PersistentVolumeClaim,
    set: &StatefulSet,
    pod: &ObjectMeta,
) -> Option<PersistentVolumeClaim> {
    if foreign_controller(claim, set, pod) {
        return None;
    }
    let (want_set, want_pod) = wanted(set, pod);
    let (has_set, has_pod) = (has_ref(claim, uid(&set.metadata)), has_ref(claim, uid(pod)));
    if (want_set, want_pod) == (has_set, has_pod) {
        return None;
    }
    let mut claim = claim.clone();
    let refs = claim.metadata.owner_references.get_or_insert_with(Vec::new);
    let mut set_ref = |on: bool, uid: &str, make: &dyn Fn() -> OwnerReference| {
        let present = refs.iter().any(|r| r.uid == uid);
        if on && !present {
            refs.push(make());
        } else if !on && present {
            refs.retain(|r| r.uid != uid);
        }
    };
    set_ref(want_set, uid(&set.metadata), &|| plain_ref("apps/v1", "StatefulSet", &set.metadata));
    set_ref(want_pod, uid(pod), &|| plain_ref("v1", "Pod", pod));
    Some(claim)
}

/// A reference that makes the owner's deletion delete the claim, without controlling it.
fn plain_ref(api_version: &str, kind: &str, owner: &ObjectMeta) -> OwnerReference {
    OwnerReference {
        api_version: api_version.into(),
        kind: kind.into(),
        name: owner.name.clone().unwrap_or_default(),
        uid: uid(owner).into(),
        controller: None,
        block_owner_deletion: None,
    }
}

/// A claim still owned by an earlier pod of the same ordinal (scaled down, then up before the
/// garbage collector removed it): the new pod must wait for it to go.
pub fn is_stale(claim: &PersistentVolumeClaim, pod: &ObjectMeta) -> bool {
    claim.metadata.owner_references.iter().flatten().any(|r| r.kind == "Pod" && r.uid != uid(pod))
}

fn api(ctx: &Context, set: &StatefulSet) -> Api<PersistentVolumeClaim> {
    Api::namespaced(ctx.client.clone(), set.metadata.namespace.as_deref().unwrap_or("default"))
}

/// Create the pod's claims that do not exist yet, with upstream's events. A claim being
/// deleted is an error: the pod cannot start on it.
pub async fn create_missing(ctx: &Context, set: &StatefulSet, pod: &ObjectMeta) -> Result<()> {
    let cache = ctx.informers.get::<PersistentVolumeClaim>();
    let api = api(ctx, set);
    let Some(ordinal) = identity::ordinal_of(pod) else { return Ok(()) };
    let pod_name = pod.name.as_deref().unwrap_or_default();
    let set_name = identity::set_name(set);
    for (_, claim) in identity::claims(set, ordinal) {
        let name = claim.metadata.name.clone().unwrap_or_default();
        let namespace = claim.metadata.namespace.as_deref().unwrap_or_default();
        if let Some(existing) = cache.get_named(namespace, &name) {
            if existing.metadata.deletion_timestamp.is_some() {
                return Err(Error::Invalid(format!("pvc {name} is being deleted")));
            }
            continue;
        }
        match api.create(&PostParams::default(), &claim).await {
            Ok(_) => ctx.event(
                COMPONENT,
                set,
                false,
                "SuccessfulCreate",
                &format!("create Claim {name} Pod {pod_name} in StatefulSet {set_name} success"),
            ),
            Err(kube::Error::Api(s)) if s.code == 409 => {}
            Err(e) => {
                let note = format!(
                    "create Claim {name} for Pod {pod_name} in StatefulSet {set_name} failed error: {}",
                    api_message(&e)
                );
                ctx.event(COMPONENT, set, true, "FailedCreate", &note);
                return Err(e.into());
            }
        }
    }
    Ok(())
}

/// Whether any of the pod's claims is stale (see [`is_stale`]).
pub fn any_stale(ctx: &Context, set: &StatefulSet, pod: &ObjectMeta) -> bool {
    let cache = ctx.informers.get::<PersistentVolumeClaim>();
    let Some(ordinal) = identity::ordinal_of(pod) else { return false };
    identity::claims(set, ordinal).iter().any(|(_, c)| {
        let namespace = c.metadata.namespace.as_deref().unwrap_or_default();
        cache.get_named(namespace, c.metadata.name.as_deref().unwrap_or_default()).is_some_and(|c| is_stale(&c, pod))
    })
}

/// Write the retention policy's owner references onto the pod's existing claims.
pub async fn sync_owners(ctx: &Context, set: &StatefulSet, pod: &ObjectMeta) -> Result<()> {
    let cache = ctx.informers.get::<PersistentVolumeClaim>();
    let api = api(ctx, set);
    let Some(ordinal) = identity::ordinal_of(pod) else { return Ok(()) };
    for (_, c) in identity::claims(set, ordinal) {
        let namespace = c.metadata.namespace.as_deref().unwrap_or_default();
        let name = c.metadata.name.as_deref().unwrap_or_default();
        let Some(claim) = cache.get_named(namespace, name) else { continue };
        if let Some(updated) = with_policy_owners(&claim, set, pod) {
            api.replace(name, &PostParams::default(), &updated).await?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::statefulset::identity::tests::set;

    fn owners(c: &PersistentVolumeClaim) -> Vec<String> {
        c.metadata.owner_references.iter().flatten().map(|r| r.kind.clone()).collect()
    }

    fn case(when_deleted: &str, when_scaled: &str, ordinal: i32) -> Vec<String> {
        let s = set(json!({"spec": {"replicas": 2, "persistentVolumeClaimRetentionPolicy":
            {"whenDeleted": when_deleted, "whenScaled": when_scaled}}}));
        let mut pod = identity::new_pod(&s, ordinal, "r");
        pod.metadata.uid = Some(format!("pod-{ordinal}"));
        let (_, claim) = identity::claims(&s, ordinal).remove(0);
        let updated = with_policy_owners(&claim, &s, &pod.metadata).unwrap_or(claim);
        assert!(with_policy_owners(&updated, &s, &pod.metadata).is_none(), "a second pass changes nothing");
        owners(&updated)
    }

    #[test]
    fn retention_policy_decides_who_owns_a_claim() {
        assert!(case("Retain", "Retain", 0).is_empty());
        assert_eq!(case("Delete", "Retain", 0), ["StatefulSet"]);
        assert_eq!(case("Delete", "Retain", 5), ["StatefulSet"]);
        assert!(case("Retain", "Delete", 0).is_empty());
        assert_eq!(case("Retain", "Delete", 5), ["Pod"], "a scaled-down pod takes its claims along");
        assert_eq!(case("Delete", "Delete", 0), ["StatefulSet"]);
        assert_eq!(case("Delete", "Delete", 5), ["Pod"]);
    }

    #[test]
    fn a_claim_owned_by_an_earlier_pod_is_stale() {
        let s = set(json!({}));
        let mut pod = identity::new_pod(&s, 0, "r");
        pod.metadata.uid = Some("new".into());
        let (_, mut claim) = identity::claims(&s, 0).remove(0);
        assert!(!is_stale(&claim, &pod.metadata));
        claim.metadata.owner_references =
            Some(vec![OwnerReference { kind: "Pod".into(), uid: "old".into(), ..Default::default() }]);
        assert!(is_stale(&claim, &pod.metadata));
    }
}
