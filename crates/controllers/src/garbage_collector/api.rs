//! The garbage collector's reads and writes, addressed by graph identity: metadata-only
//! gets, deletes with a uid precondition, patches, and removing one finalizer.

use kube::api::{
    Api, DeleteParams, DynamicObject, PartialObjectMeta, Patch, PatchParams, Preconditions, PropagationPolicy,
};
use serde_json::Value;

use super::decide::{Propagation, remove_finalizer_patch};
use super::graph::Identity;
use super::resources::Served;
use super::{Error, Gc};

/// Attempts at removing a finalizer when the object keeps changing under us.
const FINALIZER_RETRIES: usize = 5;

fn is_status(e: &kube::Error, code: u16) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == code)
}

impl Gc {
    /// The resource serving objects of `api_version`/`kind`.
    pub(super) fn resolve(&self, api_version: &str, kind: &str) -> Result<Served, Error> {
        let mapper = self.mapper.read().unwrap_or_else(|e| e.into_inner());
        mapper
            .resolve(api_version, kind)
            .cloned()
            .ok_or_else(|| Error::Unmapped { api_version: api_version.to_string(), kind: kind.to_string() })
    }

    /// The API for the object `id`; a namespace on a cluster-scoped kind is ignored.
    fn api(&self, id: &Identity) -> Result<Api<DynamicObject>, Error> {
        let served = self.resolve(&id.api_version, &id.kind)?;
        let client = self.ctx.client.clone();
        Ok(if served.namespaced {
            Api::namespaced_with(client, &id.namespace, &served.resource)
        } else {
            Api::all_with(client, &served.resource)
        })
    }

    /// The object's metadata as the server has it now; `None` if there is no such object.
    pub(super) async fn get(&self, id: &Identity) -> Result<Option<PartialObjectMeta<DynamicObject>>, Error> {
        Ok(self.api(id)?.get_metadata_opt(&id.name).await?)
    }

    /// Delete the object, only if it is still the one with `id.uid`.
    pub(super) async fn delete(&self, id: &Identity, propagation: Propagation) -> Result<(), Error> {
        let dp = DeleteParams {
            propagation_policy: Some(match propagation {
                Propagation::Orphan => PropagationPolicy::Orphan,
                Propagation::Background => PropagationPolicy::Background,
                Propagation::Foreground => PropagationPolicy::Foreground,
            }),
            preconditions: Some(Preconditions { uid: Some(id.uid.clone()), resource_version: None }),
            ..Default::default()
        };
        tracing::debug!(item = %id, ?propagation, "garbage collector: deleting");
        match self.api(id)?.delete(&id.name, &dp).await {
            Err(e) if is_status(&e, 404) => Ok(()),
            other => other.map(|_| ()).map_err(Error::from),
        }
    }

    /// Apply a strategic merge patch to the object (gone is fine).
    pub(super) async fn patch(&self, id: &Identity, patch: Value) -> Result<(), Error> {
        match self.api(id)?.patch_metadata(&id.name, &PatchParams::default(), &Patch::Strategic(patch)).await {
            Err(e) if is_status(&e, 404) => Ok(()),
            other => other.map(|_| ()).map_err(Error::from),
        }
    }

    /// Take `finalizer` off the object, re-reading it after a conflict.
    pub(super) async fn remove_finalizer(&self, id: &Identity, finalizer: &str) -> Result<(), Error> {
        let api = self.api(id)?;
        for _ in 0..FINALIZER_RETRIES {
            let Some(obj) = api.get_metadata_opt(&id.name).await? else { return Ok(()) };
            if obj.metadata.uid.as_deref() != Some(id.uid.as_str()) {
                return Ok(());
            }
            let finalizers = obj.metadata.finalizers.unwrap_or_default();
            let rv = obj.metadata.resource_version.unwrap_or_default();
            let Some(patch) = remove_finalizer_patch(&finalizers, finalizer, &rv) else { return Ok(()) };
            tracing::debug!(item = %id, finalizer, "garbage collector: removing finalizer");
            match api.patch_metadata(&id.name, &PatchParams::default(), &Patch::Merge(patch)).await {
                Ok(_) => return Ok(()),
                Err(e) if is_status(&e, 404) => return Ok(()),
                Err(e) if is_status(&e, 409) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(Error::FinalizerRetries { finalizer: finalizer.to_string(), owner: Box::new(id.clone()) })
    }
}
