//! ControllerRevisions, as upstream's `pkg/controller/history` keeps them for StatefulSets and
//! DaemonSets: one immutable snapshot per pod template (the strategic merge patch that restores
//! it), named `<owner>-<hash>`, labelled `controller-revision-hash`, numbered in the order the
//! templates were used; a name collision bumps the owner's `collisionCount`, which joins the
//! hash so the next name differs.
//!
//! The pure helpers (hashing, naming, ordering, equality) are at the top; the API calls follow.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::api::apps::v1::ControllerRevision;
use k8s_openapi::api::core::v1::PodTemplateSpec;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::runtime::RawExtension;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use kube::{Resource, ResourceExt};
use serde_json::{Value, json};

use crate::context::Context;
use crate::error::{Error, Result, ignore_not_found};
use crate::owner;

/// The label a revision (and, for DaemonSets and StatefulSets, each pod) carries.
pub const HASH_LABEL: &str = "controller-revision-hash";

/// Longest owner-name prefix of a revision name (253 minus room for the hash).
const MAX_PREFIX: usize = 223;

/// FNV-1, 32 bits: what upstream's `hash/fnv.New32` computes.
fn fnv32(bytes: &[u8]) -> u32 {
    let mut h: u32 = 2_166_136_261;
    for b in bytes {
        h = h.wrapping_mul(16_777_619);
        h ^= u32::from(*b);
    }
    h
}

/// Upstream's `rand.SafeEncodeString`: each character mapped onto an alphabet without vowels
/// (so no words) and without look-alike characters.
fn safe_encode(s: &str) -> String {
    const ALPHANUMS: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    s.bytes().map(|b| ALPHANUMS[usize::from(b) % ALPHANUMS.len()] as char).collect()
}

/// The hash of revision data (the JSON bytes, keys sorted) with the collision count `probe`
/// appended, encoded as upstream's `HashControllerRevision` does.
pub fn hash(data: &Value, probe: Option<i32>) -> String {
    let mut bytes = serde_json::to_vec(data).unwrap_or_default();
    if let Some(p) = probe {
        bytes.extend_from_slice(p.to_string().as_bytes());
    }
    safe_encode(&fnv32(&bytes).to_string())
}

/// `<prefix>-<hash>`, the prefix cut so the name stays a valid object name.
pub fn revision_name(prefix: &str, hash: &str) -> String {
    let cut = prefix.char_indices().nth(MAX_PREFIX).map(|(i, _)| i).unwrap_or(prefix.len());
    format!("{}-{hash}", &prefix[..cut])
}

/// The data both StatefulSets and DaemonSets store: a strategic merge patch that replaces
/// `spec.template` with `template`.
pub fn template_patch(template: &PodTemplateSpec) -> Value {
    let mut t = serde_json::to_value(template).unwrap_or_else(|_| json!({}));
    if let Value::Object(m) = &mut t {
        // Go always writes the (empty) creation timestamp of a template; keeping it makes
        // the stored patch the one upstream stores.
        let meta = m.entry("metadata").or_insert_with(|| json!({}));
        if let Value::Object(meta) = meta {
            meta.entry("creationTimestamp").or_insert(Value::Null);
        }
        m.insert("$patch".into(), json!("replace"));
    }
    json!({"spec": {"template": t}})
}

/// The pod template a revision restores (its patch's `spec.template`).
pub fn template_of(revision: &ControllerRevision) -> Result<PodTemplateSpec> {
    let mut t = revision
        .data
        .as_ref()
        .and_then(|d| d.0.get("spec"))
        .and_then(|s| s.get("template"))
        .cloned()
        .ok_or_else(|| Error::Invalid(format!("revision {} has no spec.template", name(revision))))?;
    if let Value::Object(m) = &mut t {
        m.remove("$patch");
    }
    serde_json::from_value(t).map_err(|e| Error::Invalid(format!("revision {}: {e}", name(revision))))
}

fn name(r: &ControllerRevision) -> &str {
    r.metadata.name.as_deref().unwrap_or_default()
}

/// A revision of `owner` holding `data`, labelled with `labels` plus the hash, named from the
/// owner and the hash of the data with `collision_count`.
pub fn new_revision<K: Resource<DynamicType = ()>>(
    owner: &K,
    labels: Option<&BTreeMap<String, String>>,
    data: Value,
    revision: i64,
    collision_count: Option<i32>,
) -> ControllerRevision {
    let h = hash(&data, collision_count);
    let mut labels = labels.cloned().unwrap_or_default();
    labels.insert(HASH_LABEL.into(), h.clone());
    let meta = owner.meta();
    ControllerRevision {
        metadata: ObjectMeta {
            name: Some(revision_name(meta.name.as_deref().unwrap_or_default(), &h)),
            namespace: meta.namespace.clone(),
            labels: Some(labels),
            owner_references: Some(vec![owner::controller_ref(owner)]),
            ..Default::default()
        },
        data: Some(RawExtension(data)),
        revision,
    }
}

/// Same data (upstream compares the bytes; the parsed JSON is the same thing here).
pub fn equal(a: &ControllerRevision, b: &ControllerRevision) -> bool {
    a.data.as_ref().map(|d| &d.0) == b.data.as_ref().map(|d| &d.0)
}

/// Upstream's order: by revision number, then creation time, then name.
pub fn compare(a: &ControllerRevision, b: &ControllerRevision) -> Ordering {
    let created = |r: &ControllerRevision| r.metadata.creation_timestamp.as_ref().map(|t| t.0);
    a.revision.cmp(&b.revision).then_with(|| created(a).cmp(&created(b))).then_with(|| name(a).cmp(name(b)))
}

pub fn sort(revisions: &mut [Arc<ControllerRevision>]) {
    revisions.sort_by(|a, b| compare(a, b));
}

/// The number the next revision gets: one more than the last of the sorted `revisions`.
pub fn next_revision(sorted: &[Arc<ControllerRevision>]) -> i64 {
    sorted.last().map(|r| r.revision + 1).unwrap_or(1)
}

/// The revisions in `revisions` with the same data as `needle`, in their order.
pub fn find_equal(revisions: &[Arc<ControllerRevision>], needle: &ControllerRevision) -> Vec<Arc<ControllerRevision>> {
    revisions.iter().filter(|r| equal(r, needle)).cloned().collect()
}

fn api(ctx: &Context, namespace: &str) -> Api<ControllerRevision> {
    Api::namespaced(ctx.client.clone(), namespace)
}

/// Create `revision` (named from its data and `*collision_count`). When a different revision
/// holds the name already, bump `*collision_count` and try the next name; an equal one is
/// returned as it is (a retry of an earlier sync created it).
pub async fn create(
    ctx: &Context,
    revision: &ControllerRevision,
    collision_count: &mut i32,
) -> Result<ControllerRevision> {
    let namespace = revision.metadata.namespace.clone().unwrap_or_default();
    let api = api(ctx, &namespace);
    let prefix = revision.owner_references().first().map(|r| r.name.clone()).unwrap_or_default();
    let data = revision.data.as_ref().map(|d| d.0.clone()).unwrap_or(Value::Null);
    loop {
        let mut attempt = revision.clone();
        let h = hash(&data, Some(*collision_count));
        attempt.metadata.name = Some(revision_name(&prefix, &h));
        attempt.labels_mut().insert(HASH_LABEL.into(), h);
        match api.create(&PostParams::default(), &attempt).await {
            Ok(created) => return Ok(created),
            Err(kube::Error::Api(s)) if s.code == 409 => {
                let existing = api.get(attempt.metadata.name.as_deref().unwrap_or_default()).await?;
                if equal(&existing, &attempt) {
                    return Ok(existing);
                }
                *collision_count += 1;
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// Give `revision` the number `number` (a rollback to an older template makes it the newest).
pub async fn renumber(ctx: &Context, revision: &ControllerRevision, number: i64) -> Result<ControllerRevision> {
    if revision.revision == number {
        return Ok(revision.clone());
    }
    let api = api(ctx, revision.metadata.namespace.as_deref().unwrap_or_default());
    let patch = json!({"revision": number});
    Ok(api.patch(name(revision), &PatchParams::default(), &Patch::Merge(patch)).await?)
}

pub async fn delete(ctx: &Context, revision: &ControllerRevision) -> Result<()> {
    let api = api(ctx, revision.metadata.namespace.as_deref().unwrap_or_default());
    ignore_not_found(api.delete(name(revision), &DeleteParams::default()).await)?;
    Ok(())
}

/// Make `owner` the controller of the orphan `revision`.
pub async fn adopt<K: Resource<DynamicType = ()>>(
    ctx: &Context,
    owner: &K,
    revision: &ControllerRevision,
) -> Result<ControllerRevision> {
    let api = api(ctx, revision.metadata.namespace.as_deref().unwrap_or_default());
    let patch = owner::adopt_patch(&owner::controller_ref(owner), revision.metadata.uid.as_deref().unwrap_or_default());
    Ok(api.patch(name(revision), &PatchParams::default(), &Patch::Strategic(patch)).await?)
}

/// Of `sorted` revisions, the ones to delete so that at most `limit` remain besides the live
/// ones (`live` names: the current and update revisions, those pods still run), oldest first.
pub fn to_truncate(
    sorted: &[Arc<ControllerRevision>],
    live: &dyn Fn(&ControllerRevision) -> bool,
    limit: usize,
) -> Vec<Arc<ControllerRevision>> {
    let history: Vec<_> = sorted.iter().filter(|r| !live(r)).cloned().collect();
    let excess = history.len().saturating_sub(limit);
    history.into_iter().take(excess).collect()
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::apps::v1::StatefulSet;

    use super::*;

    fn template(image: &str) -> PodTemplateSpec {
        serde_json::from_value(json!({
            "metadata": {"labels": {"app": "web"}},
            "spec": {"containers": [{"name": "c", "image": image}]},
        }))
        .unwrap()
    }

    fn set() -> StatefulSet {
        let mut s = StatefulSet::default();
        s.metadata.name = Some("web".into());
        s.metadata.namespace = Some("default".into());
        s.metadata.uid = Some("u1".into());
        s
    }

    #[test]
    fn hashes_are_fnv1_of_the_data_encoded_without_vowels() {
        // FNV-1 of "" is the offset basis; its decimal digits map onto the safe alphabet.
        assert_eq!(fnv32(b""), 2_166_136_261);
        assert_eq!(safe_encode("0123456789"), "456789bcdf");
        let data = template_patch(&template("nginx:1"));
        let h = hash(&data, None);
        assert_eq!(h, hash(&data, None), "stable");
        assert_ne!(h, hash(&data, Some(1)), "the collision count changes the name");
        assert_ne!(h, hash(&template_patch(&template("nginx:2")), None));
        assert!(h.chars().all(|c| "bcdfghjklmnpqrstvwxz2456789".contains(c)));
    }

    #[test]
    fn the_patch_replaces_the_template_and_restores_it() {
        let t = template("nginx:1");
        let data = template_patch(&t);
        assert_eq!(data["spec"]["template"]["$patch"], "replace");
        assert_eq!(data["spec"]["template"]["metadata"]["creationTimestamp"], Value::Null);
        let r = new_revision(&set(), t.metadata.as_ref().unwrap().labels.as_ref(), data, 3, Some(0));
        assert_eq!(template_of(&r).unwrap(), t);
        let h = &r.metadata.labels.as_ref().unwrap()[HASH_LABEL];
        assert_eq!(r.metadata.name.as_deref(), Some(format!("web-{h}").as_str()));
        assert_eq!(r.metadata.labels.as_ref().unwrap()["app"], "web");
        assert_eq!(r.revision, 3);
        assert_eq!(r.metadata.owner_references.as_ref().unwrap()[0].kind, "StatefulSet");
    }

    #[test]
    fn long_owner_names_are_cut_to_leave_room_for_the_hash() {
        let long = "a".repeat(300);
        assert_eq!(revision_name(&long, "h").len(), MAX_PREFIX + 2);
        assert_eq!(revision_name("web", "h"), "web-h");
    }

    #[test]
    fn revisions_order_by_number_and_history_keeps_the_newest_non_live() {
        let mk = |n: i64, image: &str| {
            let mut r = new_revision(&set(), None, template_patch(&template(image)), n, None);
            r.metadata.name = Some(format!("r{n}"));
            Arc::new(r)
        };
        let mut revs = vec![mk(3, "c"), mk(1, "a"), mk(2, "b"), mk(4, "a")];
        sort(&mut revs);
        let names: Vec<_> = revs.iter().map(|r| name(r)).collect();
        assert_eq!(names, ["r1", "r2", "r3", "r4"]);
        assert_eq!(next_revision(&revs), 5);
        assert_eq!(find_equal(&revs, &mk(9, "a")).len(), 2);
        let live = |r: &ControllerRevision| name(r) == "r4" || name(r) == "r1";
        let gone: Vec<_> = to_truncate(&revs, &live, 1).iter().map(|r| name(r).to_string()).collect();
        assert_eq!(gone, ["r2"]);
    }
}
