//! Orphaning (upstream's attemptToOrphan): an owner deleted with the `orphan` finalizer has
//! its reference removed from every dependent, then loses the finalizer so it can go.

use std::sync::Arc;

use futures::future::join_all;
use skiff_runtime::Next;

use super::decide::remove_references_patch;
use super::graph::ORPHAN;
use super::{Error, Gc};

impl Gc {
    pub(super) async fn attempt_to_orphan(self: Arc<Self>, uid: String) -> Result<Next, Error> {
        let Some(owner) = self.graph().view(&uid) else { return Ok(Next::Wait) };
        let this = &self;
        let patches = owner.dependents.iter().map(|d| {
            let patch = remove_references_patch(&d.identity.uid, std::slice::from_ref(&uid));
            async move { this.patch(&d.identity, patch).await.map_err(|e| format!("{}: {e}", d.identity)) }
        });
        let errors: Vec<String> = join_all(patches).await.into_iter().filter_map(Result::err).collect();
        if !errors.is_empty() {
            return Err(Error::Orphaning { owner: Box::new(owner.identity), errors: errors.join(", ") });
        }
        tracing::debug!(owner = %owner.identity, "garbage collector: dependents orphaned");
        self.remove_finalizer(&owner.identity, ORPHAN).await?;
        Ok(Next::Wait)
    }
}
