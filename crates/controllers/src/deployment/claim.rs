//! Which ReplicaSets a Deployment owns (upstream's `ClaimReplicaSets`): its own that still
//! match its selector; matching orphans are adopted, and its own that stopped matching
//! are released.

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use kube::api::{Api, Patch, PatchParams};
use skiff_api::selector::label::LabelSelector;

use super::{Controller, name_of, namespace_of};
use crate::error::{Error, Result};
use crate::owner::{adopt_patch, claim_candidates, controller_of, controller_ref, release_patch};
use crate::selector;

impl Controller {
    pub(super) async fn claim(&self, d: &Deployment, sel: &LabelSelector) -> Result<Vec<ReplicaSet>> {
        let ns = namespace_of(d);
        let uid = d.metadata.uid.clone().unwrap_or_default();
        let deleting = d.metadata.deletion_timestamp.is_some();
        let api: Api<ReplicaSet> = Api::namespaced(self.ctx.client.clone(), ns);
        let mut owned = Vec::new();
        let mut rechecked = false;
        for rs in claim_candidates(&self.sets, ns, &uid) {
            let matches = selector::matches(sel, rs.metadata.labels.as_ref());
            let rs_uid = rs.metadata.uid.clone().unwrap_or_default();
            match controller_of(&rs.metadata) {
                Some(r) if r.uid == uid => {
                    if matches {
                        owned.push((*rs).clone());
                    } else if !deleting {
                        let patch = Patch::Strategic(release_patch(&uid, &rs_uid));
                        match api.patch(name_of(&*rs), &PatchParams::default(), &patch).await {
                            Ok(_) => {}
                            Err(kube::Error::Api(s)) if matches!(s.code, 404 | 422) => {}
                            Err(e) => return Err(e.into()),
                        }
                    }
                }
                Some(_) => {}
                None if matches && !deleting && rs.metadata.deletion_timestamp.is_none() => {
                    if !rechecked {
                        self.recheck_before_adopting(d).await?;
                        rechecked = true;
                    }
                    let patch = Patch::Strategic(adopt_patch(&controller_ref(d), &rs_uid));
                    match api.patch(name_of(&*rs), &PatchParams::default(), &patch).await {
                        Ok(adopted) => owned.push(adopted),
                        // Gone or changed meanwhile: the next sync sees it as it is.
                        Err(kube::Error::Api(s)) if matches!(s.code, 404 | 409 | 422) => {}
                        Err(e) => return Err(e.into()),
                    }
                }
                None => {}
            }
        }
        Ok(owned)
    }

    /// Adopt only for the Deployment as it is now, not one deleted (or replaced under the
    /// same name) since the cache saw it.
    async fn recheck_before_adopting(&self, d: &Deployment) -> Result<()> {
        let api: Api<Deployment> = Api::namespaced(self.ctx.client.clone(), namespace_of(d));
        let fresh = api.get(name_of(d)).await?;
        if fresh.metadata.uid != d.metadata.uid {
            return Err(Error::Invalid(format!(
                "original Deployment {}/{} is gone: got uid {}, wanted {}",
                namespace_of(d),
                name_of(d),
                fresh.metadata.uid.unwrap_or_default(),
                d.metadata.uid.clone().unwrap_or_default()
            )));
        }
        if fresh.metadata.deletion_timestamp.is_some() {
            return Err(Error::Invalid(format!("{}/{} has just been deleted", namespace_of(d), name_of(d))));
        }
        Ok(())
    }
}
