//! Looking at one object (upstream's attemptToDeleteItem): verify it still exists, finish
//! its foreground deletion if it is deleting its dependents, or else look up each owner it
//! names and delete it, trim its references, or leave it.

use std::sync::Arc;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use skiff_runtime::Next;

use super::decide::{Decision, OwnerState, Propagation, decide, remove_references_patch, unblock_patch};
use super::graph::{FOREGROUND, Identity, NodeView};
use super::{Error, Gc};

/// How a look at one object ended.
enum Outcome {
    Done,
    /// It does not exist: the graph was told, nothing more to do for this key.
    VirtualDeleted,
    /// Nothing can be done about it until it changes (a cluster-scoped object naming a
    /// namespaced owner).
    Forget,
}

impl Gc {
    pub(super) async fn attempt_to_delete(self: Arc<Self>, uid: String) -> Result<Next, Error> {
        // Gone from the graph meanwhile: its deletion was observed and handled.
        let Some(item) = self.graph().view(&uid) else { return Ok(Next::Wait) };
        match self.attempt_to_delete_item(&item).await? {
            Outcome::VirtualDeleted | Outcome::Forget => Ok(Next::Wait),
            // An owner known only from references exists: look again until its watch shows
            // it (or a virtual node added and removed while a watch was down would stay).
            Outcome::Done if !item.observed => Err(Error::NotObserved(Box::new(item.identity))),
            Outcome::Done => Ok(Next::Wait),
        }
    }

    async fn attempt_to_delete_item(&self, item: &NodeView) -> Result<Outcome, Error> {
        tracing::trace!(item = %item.identity, "garbage collector: processing");
        // Deletion is a one-way trip; its dependents are handled when it is gone.
        if item.being_deleted && !item.deleting_dependents {
            return Ok(Outcome::Done);
        }
        let latest = match self.get(&item.identity).await? {
            Some(l) if l.metadata.uid.as_deref() == Some(item.identity.uid.as_str()) => l,
            _ => {
                self.virtual_delete(&item.identity);
                return Ok(Outcome::VirtualDeleted);
            }
        };
        if item.deleting_dependents {
            return self.process_deleting_dependents(item).await;
        }
        let refs = latest.metadata.owner_references.unwrap_or_default();
        if refs.is_empty() {
            return Ok(Outcome::Done);
        }
        let mut owners = Vec::with_capacity(refs.len());
        for r in &refs {
            match self.classify(&item.identity, r).await? {
                Some(state) => owners.push((r.clone(), state)),
                None => {
                    tracing::info!(item = %item.identity, owner = %r.name, "cluster-scoped object refers to a namespaced owner; ignored");
                    return Ok(Outcome::Forget);
                }
            }
        }
        let finalizers = latest.metadata.finalizers.unwrap_or_default();
        let dependents_deleting = item.dependents.iter().any(|d| d.deleting_dependents);
        match decide(&owners, !item.dependents.is_empty(), dependents_deleting, &finalizers) {
            Decision::Keep => {}
            Decision::RemoveReferences(uids) => {
                tracing::debug!(item = %item.identity, owners = ?uids, "garbage collector: removing references to owners that are gone or waiting");
                self.patch(&item.identity, remove_references_patch(&item.identity.uid, &uids)).await?;
            }
            Decision::DeleteInForeground { unblock } => {
                if unblock {
                    // A dependent of ours waits too: maybe a cycle, so stop blocking owners.
                    self.patch(&item.identity, unblock_patch(&item.identity.uid, &refs)).await?;
                }
                self.delete(&item.identity, Propagation::Foreground).await?;
            }
            Decision::Delete(propagation) => self.delete(&item.identity, propagation).await?,
        }
        Ok(Outcome::Done)
    }

    /// An owner deleting in the foreground: done once no dependent blocks it; otherwise
    /// make sure each blocking dependent is being looked at.
    async fn process_deleting_dependents(&self, item: &NodeView) -> Result<Outcome, Error> {
        let blocking: Vec<_> = item.dependents.iter().filter(|d| d.blocks_owner).collect();
        if blocking.is_empty() {
            self.remove_finalizer(&item.identity, FOREGROUND).await?;
            return Ok(Outcome::Done);
        }
        for d in blocking.into_iter().filter(|d| !d.deleting_dependents) {
            self.attempt_to_delete.add(d.identity.uid.clone());
        }
        Ok(Outcome::Done)
    }

    /// What the owner `r` of `item` is now, by a fresh read (or the absent-owner memory);
    /// `None` for a cluster-scoped item naming a namespaced owner, which cannot exist.
    async fn classify(&self, item: &Identity, r: &OwnerReference) -> Result<Option<OwnerState>, Error> {
        let cluster = Identity::of_owner(r, "");
        let namespaced = Identity::of_owner(r, &item.namespace);
        {
            let g = self.graph();
            if g.absent.contains(&cluster) || g.absent.contains(&namespaced) {
                return Ok(Some(OwnerState::Dangling));
            }
        }
        let served = self.resolve(&r.api_version, &r.kind)?;
        if item.namespace.is_empty() && served.namespaced {
            return Ok(None);
        }
        let owner = if served.namespaced { namespaced } else { cluster };
        let state = match self.get(&owner).await? {
            Some(o) if o.metadata.uid.as_deref() == Some(r.uid.as_str()) => {
                let foreground = o.metadata.finalizers.iter().flatten().any(|f| f == FOREGROUND);
                if o.metadata.deletion_timestamp.is_some() && foreground {
                    OwnerState::WaitingForDependents
                } else {
                    OwnerState::Solid
                }
            }
            _ => {
                self.graph().absent.add(owner);
                OwnerState::Dangling
            }
        };
        Ok(Some(state))
    }
}
