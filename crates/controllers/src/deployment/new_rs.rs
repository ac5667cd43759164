//! The ReplicaSet of the current template (upstream `getNewReplicaSet`): found among the
//! owned sets by template, its revision raised above the old sets' and the Deployment's
//! annotations copied on; or created, sized as the strategy allows. The Deployment's
//! revision annotation follows the new set's.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet, ReplicaSetSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, PostParams};

use super::status::{self, FAILED_RS_CREATE, FOUND_NEW_RS, NEW_RS_CREATED, PROGRESSING};
use super::template::{HASH_LABEL, compute_hash, equal_ignore_hash, with_hash_label};
use super::{COMPONENT, Controller, annotations, name_of, namespace_of, strategy};
use crate::error::{Error, Result};
use crate::owner::{controller_ref, is_controlled_by};
use crate::pods::api_message;

impl Controller {
    /// Split `sets` into the new set (created when `create` and missing) and the old ones.
    /// Sets written on the way are updated in `sets` too.
    pub(super) async fn get_all_and_sync_revision(
        &self,
        d: &mut Deployment,
        sets: &mut Vec<ReplicaSet>,
        create: bool,
    ) -> Result<(Option<ReplicaSet>, Vec<ReplicaSet>)> {
        let template = d.spec.as_ref().map(|s| s.template.clone()).unwrap_or_default();
        // The oldest matching set wins, should two ever share a template.
        sets.sort_by(strategy::by_creation);
        let new_index = sets.iter().position(|rs| {
            rs.spec.as_ref().and_then(|s| s.template.as_ref()).is_some_and(|t| equal_ignore_hash(t, &template))
        });
        let old: Vec<ReplicaSet> =
            sets.iter().enumerate().filter(|(i, _)| Some(*i) != new_index).map(|(_, rs)| rs.clone()).collect();
        let new_revision = annotations::max_revision(&old) + 1;
        if let Some(i) = new_index {
            let new_rs = self.sync_existing_new_rs(d, &sets[i], new_revision).await?;
            sets[i] = new_rs.clone();
            return Ok((Some(new_rs), old));
        }
        if !create {
            return Ok((None, old));
        }
        let new_rs = self.create_new_rs(d, &old, new_revision).await?;
        sets.push(new_rs.clone());
        Ok((Some(new_rs), old))
    }

    async fn sync_existing_new_rs(
        &self,
        d: &mut Deployment,
        existing: &ReplicaSet,
        new_revision: i64,
    ) -> Result<ReplicaSet> {
        let mut rs = existing.clone();
        let annotated = annotations::set_new_rs_annotations(d, &mut rs, new_revision, true);
        let min_ready = strategy::min_ready_seconds(d);
        let spec = rs.spec.get_or_insert_with(Default::default);
        let min_ready_changed = spec.min_ready_seconds.unwrap_or(0) != min_ready;
        if annotated || min_ready_changed {
            spec.min_ready_seconds = Some(min_ready);
            let api: Api<ReplicaSet> = Api::namespaced(self.ctx.client.clone(), namespace_of(d));
            rs = api.replace(name_of(&rs), &PostParams::default(), &rs).await?;
        }
        self.write_revision(d, annotations::revision(&rs.metadata)).await?;
        let has_deadline = status::has_progress_deadline(d);
        let st = d.status.get_or_insert_with(Default::default);
        if has_deadline && status::condition(st, PROGRESSING).is_none() {
            let msg = format!("Found new replica set {:?}", name_of(&rs));
            status::set_condition(st, status::new_condition(PROGRESSING, "True", FOUND_NEW_RS, msg, status::now()));
            self.write_status(d).await?;
        }
        Ok(rs)
    }

    async fn create_new_rs(&self, d: &mut Deployment, old: &[ReplicaSet], new_revision: i64) -> Result<ReplicaSet> {
        let rs = new_rs_for(d, old, new_revision);
        let name = name_of(&rs).to_string();
        let replicas = strategy::rs_replicas(&rs);
        let api: Api<ReplicaSet> = Api::namespaced(self.ctx.client.clone(), namespace_of(d));
        let (created, already_existed) = match api.create(&PostParams::default(), &rs).await {
            Ok(created) => (created, false),
            Err(kube::Error::Api(s)) if s.code == 409 => {
                // Ours after all (a sync whose create the cache had not seen yet), or another
                // template with the same hash: then the collision count changes the hash.
                let existing = api.get(&name).await?;
                let uid = d.metadata.uid.clone().unwrap_or_default();
                let same_template = existing.spec.as_ref().and_then(|s| s.template.as_ref()).is_some_and(|t| {
                    equal_ignore_hash(t, &d.spec.as_ref().map(|s| s.template.clone()).unwrap_or_default())
                });
                if !(is_controlled_by(&existing.metadata, &uid) && same_template) {
                    let st = d.status.get_or_insert_with(Default::default);
                    let before = st.collision_count.unwrap_or(0);
                    st.collision_count = Some(before + 1);
                    self.write_status(d).await?;
                    return Err(Error::Invalid(format!(
                        "Found a hash collision for deployment {:?} - bumping collisionCount ({before}->{}) to resolve it",
                        name_of(d),
                        before + 1
                    )));
                }
                (existing, true)
            }
            Err(e) => {
                let msg = format!("Failed to create new replica set {name:?}: {}", api_message(&e));
                if status::has_progress_deadline(d) {
                    let st = d.status.get_or_insert_with(Default::default);
                    status::set_condition(
                        st,
                        status::new_condition(PROGRESSING, "False", FAILED_RS_CREATE, msg.clone(), status::now()),
                    );
                    // The create error is what matters; a failed status write changes nothing.
                    let _ = self.write_status(d).await;
                }
                self.ctx.event(COMPONENT, d, true, FAILED_RS_CREATE, &msg);
                return Err(e.into());
            }
        };
        if !already_existed && replicas > 0 {
            self.ctx.event(
                COMPONENT,
                d,
                false,
                "ScalingReplicaSet",
                &format!("Scaled up replica set {name} from 0 to {replicas}"),
            );
        }
        self.write_revision(d, new_revision).await?;
        if !already_existed && status::has_progress_deadline(d) {
            let st = d.status.get_or_insert_with(Default::default);
            let msg = format!("Created new replica set {name:?}");
            status::set_condition(st, status::new_condition(PROGRESSING, "True", NEW_RS_CREATED, msg, status::now()));
            self.write_status(d).await?;
        }
        Ok(created)
    }
}

/// The ReplicaSet for the Deployment's current template: named and labelled by the
/// template's hash, owned by the Deployment, as large as the strategy allows next to `old`.
fn new_rs_for(d: &Deployment, old: &[ReplicaSet], new_revision: i64) -> ReplicaSet {
    let spec = d.spec.clone().unwrap_or_default();
    let collisions = d.status.as_ref().and_then(|s| s.collision_count);
    let hash = compute_hash(&spec.template, collisions);
    let template = with_hash_label(&spec.template, &hash);
    let mut selector = spec.selector.clone();
    selector.match_labels.get_or_insert_with(BTreeMap::new).insert(HASH_LABEL.into(), hash.clone());
    let mut rs = ReplicaSet {
        metadata: ObjectMeta {
            name: Some(format!("{}-{hash}", name_of(d))),
            namespace: Some(namespace_of(d).to_string()),
            owner_references: Some(vec![controller_ref(d)]),
            labels: template.metadata.as_ref().and_then(|m| m.labels.clone()),
            ..Default::default()
        },
        spec: Some(ReplicaSetSpec {
            replicas: Some(0),
            min_ready_seconds: Some(strategy::min_ready_seconds(d)),
            selector,
            template: Some(template),
        }),
        status: None,
    };
    let replicas = strategy::new_rs_new_replicas(d, old.iter().chain([&rs]), &rs);
    if let Some(s) = rs.spec.as_mut() {
        s.replicas = Some(replicas);
    }
    annotations::set_new_rs_annotations(d, &mut rs, new_revision, false);
    rs
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::deployment::strategy::tests::{deployment, rs};

    #[test]
    fn a_new_set_is_named_labelled_and_selected_by_its_template_hash() {
        let d = deployment(3, json!(1), json!(0));
        let old = rs("web-a", "2026-01-01T00:00:00Z", 3, 3);
        let new = new_rs_for(&d, &[old], 2);
        let hash = compute_hash(&d.spec.as_ref().unwrap().template, None);
        assert_eq!(name_of(&new), format!("web-{hash}"));
        assert_eq!(new.metadata.labels.as_ref().unwrap()[HASH_LABEL], hash);
        let spec = new.spec.as_ref().unwrap();
        assert_eq!(spec.selector.match_labels.as_ref().unwrap()[HASH_LABEL], hash);
        assert_eq!(
            spec.template.as_ref().unwrap().metadata.as_ref().unwrap().labels.as_ref().unwrap()[HASH_LABEL],
            hash
        );
        assert_eq!(spec.replicas, Some(1), "maxSurge 1 beside 3 old pods");
        assert_eq!(new.metadata.owner_references.as_ref().unwrap()[0].uid, "d1");
        assert_eq!(new.metadata.annotations.as_ref().unwrap()[annotations::REVISION], "2");
        let first = new_rs_for(&d, &[], 1);
        assert_eq!(first.spec.as_ref().unwrap().replicas, Some(3), "nothing old: all at once");
    }
}
