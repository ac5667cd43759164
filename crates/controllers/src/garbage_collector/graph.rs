//! The dependency graph: every object the monitors saw, by uid, with the owners its
//! `ownerReferences` name and the dependents that name it (upstream's GraphBuilder).
//!
//! The graph only changes here, one event at a time, and each change answers with the
//! [`Work`] it makes necessary: dependents to look at when an owner goes, owners to finish
//! when their last blocking dependent goes, orphaning to start. An owner named by a reference
//! but not (yet) seen is a *virtual* node, queued so a worker can check whether it exists.
//!
//! Nothing here talks to the API: every decision to delete is verified by a worker against
//! a fresh read, so a graph that lags behind is safe.

use std::collections::{BTreeSet, HashMap, HashSet};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;

use super::absent::AbsentOwners;

/// The finalizer that makes the API server wait while the dependents are orphaned.
pub const ORPHAN: &str = "orphan";
/// The finalizer that makes the API server wait while the dependents are deleted.
pub const FOREGROUND: &str = "foregroundDeletion";

/// Where an object is: its coordinates and uid. For a virtual node they come from the
/// reference that named it (and the namespace of the dependent), so they may be wrong.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Identity {
    pub api_version: String,
    pub kind: String,
    /// Empty for cluster-scoped objects.
    pub namespace: String,
    pub name: String,
    pub uid: String,
}

impl Identity {
    /// The owner `r` names, assumed in `namespace` (the dependent's).
    pub fn of_owner(r: &OwnerReference, namespace: &str) -> Identity {
        Identity {
            api_version: r.api_version.clone(),
            kind: r.kind.clone(),
            namespace: namespace.to_string(),
            name: r.name.clone(),
            uid: r.uid.clone(),
        }
    }

    /// Whether `r` names this object by all its coordinates.
    fn named_by(&self, r: &OwnerReference) -> bool {
        r.uid == self.uid && r.name == self.name && r.kind == self.kind && r.api_version == self.api_version
    }
}

impl std::fmt::Display for Identity {
    /// Upstream's way of printing an object reference in messages.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "[{}/{}, namespace: {}, name: {}, uid: {}]",
            self.api_version, self.kind, self.namespace, self.name, self.uid
        )
    }
}

/// What a monitor saw of one object.
#[derive(Debug, Clone, Default)]
pub struct Observed {
    pub identity: Identity,
    pub owners: Vec<OwnerReference>,
    pub being_deleted: bool,
    pub finalizers: Vec<String>,
}

impl Observed {
    fn waits_for(&self, finalizer: &str) -> bool {
        self.being_deleted && self.finalizers.iter().any(|f| f == finalizer)
    }
}

/// What a graph change asks the workers to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Work {
    /// Look at the object with this uid: should it be deleted, or (if it deletes its
    /// dependents in the foreground) is it done?
    AttemptToDelete(String),
    /// Orphan the dependents of this owner, then drop its `orphan` finalizer.
    AttemptToOrphan(String),
    /// `dependent` names an owner that lives in another namespace (upstream's
    /// OwnerRefInvalidNamespace warning).
    InvalidNamespace { dependent: Box<Identity>, owner: Box<Identity> },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Waiting {
    being_deleted: bool,
    orphan: bool,
    foreground: bool,
}

#[derive(Debug)]
struct Node {
    identity: Identity,
    owners: Vec<OwnerReference>,
    dependents: BTreeSet<String>,
    /// Seen by a monitor, not only named by a reference.
    observed: bool,
    /// One way: once set, the object only goes away.
    being_deleted: bool,
    /// Being deleted with the `foregroundDeletion` finalizer: its dependents go first.
    deleting_dependents: bool,
    /// The deletion state last observed (for transitions); `None` until observed.
    last: Option<Waiting>,
}

impl Node {
    fn virtual_owner(identity: Identity) -> Node {
        Node {
            identity,
            owners: Vec::new(),
            dependents: BTreeSet::new(),
            observed: false,
            being_deleted: false,
            deleting_dependents: false,
            last: None,
        }
    }
}

/// A worker's copy of one node.
#[derive(Debug, Clone)]
pub struct NodeView {
    pub identity: Identity,
    pub observed: bool,
    pub being_deleted: bool,
    pub deleting_dependents: bool,
    pub dependents: Vec<DependentView>,
}

/// A dependent as its owner's worker needs it.
#[derive(Debug, Clone)]
pub struct DependentView {
    pub identity: Identity,
    pub deleting_dependents: bool,
    /// It names the owner with `blockOwnerDeletion: true`.
    pub blocks_owner: bool,
}

#[derive(Default)]
pub struct Graph {
    nodes: HashMap<String, Node>,
    /// Owners verified to be gone, so their other dependents need no lookup.
    pub absent: AbsentOwners,
}

impl Graph {
    /// A copy of the node with `uid`, for a worker.
    pub fn view(&self, uid: &str) -> Option<NodeView> {
        let n = self.nodes.get(uid)?;
        let dependents = n
            .dependents
            .iter()
            .filter_map(|d| self.nodes.get(d))
            .map(|d| DependentView {
                identity: d.identity.clone(),
                deleting_dependents: d.deleting_dependents,
                blocks_owner: d.owners.iter().any(|r| r.uid == uid && r.block_owner_deletion == Some(true)),
            })
            .collect();
        Some(NodeView {
            identity: n.identity.clone(),
            observed: n.observed,
            being_deleted: n.being_deleted,
            deleting_dependents: n.deleting_dependents,
            dependents,
        })
    }

    /// A monitor saw `o` added or changed.
    pub fn observe(&mut self, o: Observed) -> Vec<Work> {
        let mut work = Vec::new();
        let uid = o.identity.uid.clone();
        self.correct_virtual_identity(&o.identity, &mut work);
        let now = Waiting {
            being_deleted: o.being_deleted,
            orphan: o.waits_for(ORPHAN),
            foreground: o.waits_for(FOREGROUND),
        };
        let last = match self.nodes.get_mut(&uid) {
            None => {
                let node = Node {
                    identity: o.identity.clone(),
                    owners: o.owners.clone(),
                    dependents: BTreeSet::new(),
                    observed: true,
                    being_deleted: o.being_deleted,
                    deleting_dependents: now.foreground,
                    last: Some(now),
                };
                self.nodes.insert(uid.clone(), node);
                self.add_dependent_to_owners(&o.identity, &o.owners, &mut work);
                None
            }
            Some(node) => {
                let last = node.last.replace(now);
                node.observed = true;
                if o.being_deleted {
                    node.being_deleted = true;
                }
                let old_owners = std::mem::replace(&mut node.owners, o.owners.clone());
                let diff = references_diff(&old_owners, &o.owners);
                self.unblocked_owners(&diff, &mut work);
                self.add_dependent_to_owners(&o.identity, &diff.added, &mut work);
                self.remove_dependent_from_owners(&uid, &diff.removed);
                last
            }
        };
        self.transitions(&uid, last, now, &mut work);
        work
    }

    /// A monitor saw the object go (or a relist no longer had it).
    pub fn observe_deleted(&mut self, identity: &Identity) -> Vec<Work> {
        let mut work = Vec::new();
        if self.nodes.contains_key(&identity.uid) {
            self.remove_node(&identity.uid, identity, &mut work);
        }
        work
    }

    /// A worker found that nothing with `identity` exists (upstream's virtual delete event).
    /// A node seen under other coordinates, or a virtual node some dependents name
    /// differently, stays: only the dependents that named these coordinates are rechecked.
    pub fn virtual_delete(&mut self, deleted: &Identity) -> Vec<Work> {
        let mut work = Vec::new();
        let Some(node) = self.nodes.get(&deleted.uid) else { return work };
        let mut remove = true;
        if !node.observed {
            let (matching, nonmatching) = self.partition_dependents(&node.dependents, deleted);
            if !nonmatching.is_empty() {
                remove = false;
                if !matching.is_empty() {
                    self.absent.add(deleted.clone());
                    work.extend(matching.into_iter().map(Work::AttemptToDelete));
                }
                if node.identity == *deleted
                    && let Some(other) = self.alternate_identity(&nonmatching, deleted)
                {
                    // Try the coordinates another dependent gives.
                    if let Some(n) = self.nodes.get_mut(&deleted.uid) {
                        n.identity = other;
                    }
                    work.push(Work::AttemptToDelete(deleted.uid.clone()));
                }
            }
        } else if node.identity != *deleted {
            remove = false;
            let (matching, _) = self.partition_dependents(&node.dependents, deleted);
            if !matching.is_empty() {
                self.absent.add(deleted.clone());
                work.extend(matching.into_iter().map(Work::AttemptToDelete));
            }
        }
        if remove {
            self.remove_node(&deleted.uid, deleted, &mut work);
        }
        work
    }

    /// After a relist of the resource (`api_version`, `kind`): the objects it no longer has
    /// were deleted while the watch was down.
    pub fn relisted(&mut self, api_version: &str, kind: &str, present: &HashSet<String>) -> Vec<Work> {
        let gone: Vec<Identity> = self
            .nodes
            .values()
            .filter(|n| n.observed && n.identity.api_version == api_version && n.identity.kind == kind)
            .filter(|n| !present.contains(&n.identity.uid))
            .map(|n| n.identity.clone())
            .collect();
        gone.iter().flat_map(|id| self.observe_deleted(id)).collect()
    }

    /// The first observation of a node that was virtual fixes its coordinates; dependents
    /// that named it otherwise are rechecked (they may point at something that does not exist).
    fn correct_virtual_identity(&mut self, observed: &Identity, work: &mut Vec<Work>) {
        let Some(node) = self.nodes.get(&observed.uid) else { return };
        if node.observed || node.identity == *observed {
            return;
        }
        let (_, invalid) = self.partition_dependents(&node.dependents, observed);
        for dep in invalid {
            if let Some(d) = self.nodes.get(&dep)
                && !observed.namespace.is_empty()
                && d.identity.namespace != observed.namespace
            {
                let owner = d.owners.iter().find(|r| r.uid == observed.uid);
                if let Some(owner) = owner {
                    let owner = Identity::of_owner(owner, &d.identity.namespace);
                    work.push(Work::InvalidNamespace {
                        dependent: Box::new(d.identity.clone()),
                        owner: Box::new(owner),
                    });
                }
            }
            work.push(Work::AttemptToDelete(dep));
        }
        if let Some(n) = self.nodes.get_mut(&observed.uid) {
            n.identity = observed.clone();
        }
    }

    /// Orphaning or foreground deletion starting on the node `uid`.
    fn transitions(&mut self, uid: &str, last: Option<Waiting>, now: Waiting, work: &mut Vec<Work>) {
        let starts = |was: Option<bool>, is: bool| is && !was.unwrap_or(false);
        if starts(last.map(|l| l.orphan), now.orphan) {
            work.push(Work::AttemptToOrphan(uid.to_string()));
            return;
        }
        if starts(last.map(|l| l.foreground), now.foreground)
            && let Some(node) = self.nodes.get_mut(uid)
        {
            node.deleting_dependents = true;
            work.extend(node.dependents.iter().cloned().map(Work::AttemptToDelete));
            work.push(Work::AttemptToDelete(uid.to_string()));
        }
    }

    /// Record `dependent` under each of `owners`, making virtual nodes for owners not seen
    /// yet (queued to check they exist).
    fn add_dependent_to_owners(&mut self, dependent: &Identity, owners: &[OwnerReference], work: &mut Vec<Work>) {
        for r in owners {
            match self.nodes.get_mut(&r.uid) {
                None => {
                    let mut owner = Node::virtual_owner(Identity::of_owner(r, &dependent.namespace));
                    owner.dependents.insert(dependent.uid.clone());
                    self.nodes.insert(r.uid.clone(), owner);
                    work.push(Work::AttemptToDelete(r.uid.clone()));
                }
                Some(owner) => {
                    owner.dependents.insert(dependent.uid.clone());
                    let ns = &owner.identity.namespace;
                    if !ns.is_empty() && *ns != dependent.namespace {
                        // A namespaced owner is only ever in its dependents' namespace.
                        if owner.observed {
                            let owner = Identity::of_owner(r, &dependent.namespace);
                            work.push(Work::InvalidNamespace {
                                dependent: Box::new(dependent.clone()),
                                owner: Box::new(owner),
                            });
                        }
                        work.push(Work::AttemptToDelete(dependent.uid.clone()));
                    }
                }
            }
        }
    }

    fn remove_dependent_from_owners(&mut self, dependent: &str, owners: &[OwnerReference]) {
        for r in owners {
            if let Some(owner) = self.nodes.get_mut(&r.uid) {
                owner.dependents.remove(dependent);
            }
        }
    }

    /// Owners whose foreground deletion a dependent stopped blocking get another look.
    fn unblocked_owners(&self, diff: &Diff, work: &mut Vec<Work>) {
        let blocks = |r: &OwnerReference| r.block_owner_deletion == Some(true);
        let removed = diff.removed.iter().filter(|r| blocks(r));
        let changed = diff.changed.iter().filter(|(old, new)| blocks(old) && !blocks(new)).map(|(_, new)| new);
        for r in removed.chain(changed) {
            if self.nodes.contains_key(&r.uid) {
                work.push(Work::AttemptToDelete(r.uid.clone()));
            }
        }
    }

    /// Drop a node: its dependents lost an owner, and owners deleting their dependents in
    /// the foreground may now be done.
    fn remove_node(&mut self, uid: &str, seen_as: &Identity, work: &mut Vec<Work>) {
        let Some(node) = self.nodes.remove(uid) else { return };
        self.remove_dependent_from_owners(uid, &node.owners);
        if !node.dependents.is_empty() {
            self.absent.add(seen_as.clone());
        }
        work.extend(node.dependents.iter().cloned().map(Work::AttemptToDelete));
        for r in &node.owners {
            if self.nodes.get(&r.uid).is_some_and(|o| o.deleting_dependents) {
                work.push(Work::AttemptToDelete(r.uid.clone()));
            }
        }
    }

    /// Split `dependents` into those naming `owner` by exactly these coordinates and those
    /// naming its uid otherwise (a dependent may be in both).
    fn partition_dependents(&self, dependents: &BTreeSet<String>, owner: &Identity) -> (Vec<String>, Vec<String>) {
        let (mut matching, mut nonmatching) = (Vec::new(), Vec::new());
        for uid in dependents {
            let Some(dep) = self.nodes.get(uid) else { continue };
            let (mut found, mut mismatch) = (false, false);
            if !owner.namespace.is_empty() && owner.namespace != dep.identity.namespace {
                mismatch = true;
            } else {
                for r in dep.owners.iter().filter(|r| r.uid == owner.uid) {
                    if owner.named_by(r) { found = true } else { mismatch = true }
                }
            }
            if found {
                matching.push(uid.clone());
            }
            if mismatch {
                nonmatching.push(uid.clone());
            }
        }
        (matching, nonmatching)
    }

    /// Other coordinates by which `dependents` name the owner `verified_absent` (sorted, so
    /// retries walk through them in order rather than looping on one).
    fn alternate_identity(&self, dependents: &[String], verified_absent: &Identity) -> Option<Identity> {
        let mut candidates: Vec<Identity> = dependents
            .iter()
            .filter_map(|d| self.nodes.get(d))
            .flat_map(|d| {
                d.owners
                    .iter()
                    .filter(|r| r.uid == verified_absent.uid)
                    // A cluster-scoped guess stays cluster-scoped.
                    .map(|r| {
                        let ns = if verified_absent.namespace.is_empty() { "" } else { &d.identity.namespace };
                        Identity::of_owner(r, ns)
                    })
            })
            .filter(|id| id != verified_absent && !self.absent.contains(id))
            .collect();
        candidates.sort_by(|a, b| {
            (&a.api_version, &a.kind, &a.namespace, &a.name).cmp(&(&b.api_version, &b.kind, &b.namespace, &b.name))
        });
        candidates.dedup();
        // The first candidate after the one just verified, wrapping around.
        let key = |id: &Identity| (id.api_version.clone(), id.kind.clone(), id.namespace.clone(), id.name.clone());
        let after = candidates.iter().find(|c| key(c) > key(verified_absent)).cloned();
        after.or_else(|| candidates.first().cloned())
    }
}

#[derive(Default)]
struct Diff {
    added: Vec<OwnerReference>,
    removed: Vec<OwnerReference>,
    changed: Vec<(OwnerReference, OwnerReference)>,
}

/// References added, removed and changed (same uid, other fields), by uid.
fn references_diff(old: &[OwnerReference], new: &[OwnerReference]) -> Diff {
    let mut d = Diff::default();
    for n in new {
        match old.iter().find(|o| o.uid == n.uid) {
            None => d.added.push(n.clone()),
            Some(o) if o != n => d.changed.push((o.clone(), n.clone())),
            Some(_) => {}
        }
    }
    d.removed = old.iter().filter(|o| !new.iter().any(|n| n.uid == o.uid)).cloned().collect();
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(kind: &str, ns: &str, name: &str, uid: &str) -> Identity {
        Identity {
            api_version: if kind == "ReplicaSet" { "apps/v1" } else { "v1" }.into(),
            kind: kind.into(),
            namespace: ns.into(),
            name: name.into(),
            uid: uid.into(),
        }
    }

    fn owner_ref(owner: &Identity, block: bool) -> OwnerReference {
        OwnerReference {
            api_version: owner.api_version.clone(),
            kind: owner.kind.clone(),
            name: owner.name.clone(),
            uid: owner.uid.clone(),
            controller: None,
            block_owner_deletion: block.then_some(true),
        }
    }

    fn seen(identity: &Identity, owners: &[OwnerReference]) -> Observed {
        Observed { identity: identity.clone(), owners: owners.to_vec(), ..Default::default() }
    }

    fn deleting(identity: &Identity, finalizer: &str) -> Observed {
        Observed {
            identity: identity.clone(),
            being_deleted: true,
            finalizers: vec![finalizer.into()],
            ..Default::default()
        }
    }

    fn delete(uid: &str) -> Work {
        Work::AttemptToDelete(uid.into())
    }

    #[test]
    fn an_owner_not_seen_yet_is_a_virtual_node_queued_for_a_check() {
        let mut g = Graph::default();
        let rs = id("ReplicaSet", "ns", "web", "rs1");
        let pod = id("Pod", "ns", "web-1", "p1");
        assert_eq!(g.observe(seen(&pod, &[owner_ref(&rs, true)])), vec![delete("rs1")]);
        let v = g.view("rs1").unwrap();
        assert!(!v.observed);
        assert_eq!(v.identity, rs);
        assert_eq!(v.dependents.len(), 1);
        assert!(v.dependents[0].blocks_owner);

        // Seeing it makes it real; nothing to do.
        assert_eq!(g.observe(seen(&rs, &[])), vec![]);
        assert!(g.view("rs1").unwrap().observed);
    }

    #[test]
    fn an_owner_going_queues_its_dependents_and_is_remembered_absent() {
        let mut g = Graph::default();
        let owner = id("ConfigMap", "ns", "owner", "o1");
        g.observe(seen(&owner, &[]));
        g.observe(seen(&id("ConfigMap", "ns", "a", "a1"), &[owner_ref(&owner, false)]));
        g.observe(seen(&id("ConfigMap", "ns", "b", "b1"), &[owner_ref(&owner, false)]));
        let mut work = g.observe_deleted(&owner);
        work.sort_by_key(|w| format!("{w:?}"));
        assert_eq!(work, vec![delete("a1"), delete("b1")]);
        assert!(g.view("o1").is_none());
        assert!(g.absent.contains(&owner));
    }

    #[test]
    fn foreground_deletion_queues_dependents_and_the_owner() {
        let mut g = Graph::default();
        let owner = id("ConfigMap", "ns", "owner", "o1");
        g.observe(seen(&owner, &[]));
        g.observe(seen(&id("ConfigMap", "ns", "a", "a1"), &[owner_ref(&owner, true)]));
        assert_eq!(g.observe(deleting(&owner, FOREGROUND)), vec![delete("a1"), delete("o1")]);
        assert!(g.view("o1").unwrap().deleting_dependents);
        // The same state again is no new transition.
        assert_eq!(g.observe(deleting(&owner, FOREGROUND)), vec![]);
        // The dependent going lets the owner be looked at again.
        assert_eq!(g.observe_deleted(&id("ConfigMap", "ns", "a", "a1")), vec![delete("o1")]);
    }

    #[test]
    fn orphan_finalizer_starts_orphaning_once() {
        let mut g = Graph::default();
        let owner = id("ConfigMap", "ns", "owner", "o1");
        g.observe(seen(&owner, &[]));
        assert_eq!(g.observe(deleting(&owner, ORPHAN)), vec![Work::AttemptToOrphan("o1".into())]);
        assert_eq!(g.observe(deleting(&owner, ORPHAN)), vec![]);
    }

    #[test]
    fn an_object_first_seen_deleting_with_a_finalizer_starts_at_once() {
        let mut g = Graph::default();
        let owner = id("ConfigMap", "ns", "owner", "o1");
        assert_eq!(g.observe(deleting(&owner, ORPHAN)), vec![Work::AttemptToOrphan("o1".into())]);
    }

    #[test]
    fn a_dependent_dropping_its_blocking_reference_unblocks_the_owner() {
        let mut g = Graph::default();
        let owner = id("ConfigMap", "ns", "owner", "o1");
        let dep = id("ConfigMap", "ns", "a", "a1");
        g.observe(seen(&owner, &[]));
        g.observe(seen(&dep, &[owner_ref(&owner, true)]));
        assert_eq!(g.observe(seen(&dep, &[owner_ref(&owner, false)])), vec![delete("o1")]);
        assert!(!g.view("o1").unwrap().dependents[0].blocks_owner);
        assert_eq!(g.observe(seen(&dep, &[])), vec![]);
        assert!(g.view("o1").unwrap().dependents.is_empty());
    }

    #[test]
    fn a_namespaced_owner_in_another_namespace_is_reported() {
        let mut g = Graph::default();
        let owner = id("ConfigMap", "a", "owner", "o1");
        g.observe(seen(&owner, &[]));
        let dep = id("ConfigMap", "b", "dep", "d1");
        let work = g.observe(seen(&dep, &[owner_ref(&owner, false)]));
        let wrong = Identity { namespace: "b".into(), ..owner.clone() };
        let invalid = Work::InvalidNamespace { dependent: Box::new(dep), owner: Box::new(wrong) };
        assert_eq!(work, vec![invalid, delete("d1")]);
    }

    #[test]
    fn a_cluster_scoped_owner_may_own_namespaced_dependents() {
        let mut g = Graph::default();
        let dep = id("ConfigMap", "ns", "dep", "d1");
        let owner = id("Namespace", "", "ns", "n1");
        // Named before seen: the virtual node guesses the dependent's namespace…
        g.observe(seen(&dep, &[owner_ref(&owner, false)]));
        assert_eq!(g.view("n1").unwrap().identity.namespace, "ns");
        // …and seeing it corrects that without doubting the dependent.
        assert_eq!(g.observe(seen(&owner, &[])), vec![]);
        assert_eq!(g.view("n1").unwrap().identity, owner);
    }

    #[test]
    fn a_virtual_delete_removes_a_virtual_owner_and_queues_its_dependents() {
        let mut g = Graph::default();
        let ghost = id("ConfigMap", "ns", "ghost", "g1");
        g.observe(seen(&id("ConfigMap", "ns", "a", "a1"), &[owner_ref(&ghost, false)]));
        assert_eq!(g.virtual_delete(&ghost), vec![delete("a1")]);
        assert!(g.view("g1").is_none());
    }

    #[test]
    fn a_virtual_delete_with_other_coordinates_keeps_an_observed_node() {
        let mut g = Graph::default();
        let owner = id("ConfigMap", "ns", "owner", "o1");
        g.observe(seen(&owner, &[]));
        // A dependent names the owner's uid with the wrong kind.
        let wrong = Identity { kind: "Secret".into(), ..owner.clone() };
        g.observe(seen(&id("ConfigMap", "ns", "a", "a1"), &[owner_ref(&wrong, false)]));
        assert_eq!(g.virtual_delete(&wrong), vec![delete("a1")]);
        assert!(g.view("o1").is_some());
        assert!(g.absent.contains(&wrong));
    }

    #[test]
    fn a_virtual_owner_named_two_ways_tries_the_other_coordinates() {
        let mut g = Graph::default();
        let as_cm = id("ConfigMap", "ns", "x", "u1");
        let as_secret = Identity { kind: "Secret".into(), ..as_cm.clone() };
        g.observe(seen(&id("ConfigMap", "ns", "a", "a1"), &[owner_ref(&as_cm, false)]));
        g.observe(seen(&id("ConfigMap", "ns", "b", "b1"), &[owner_ref(&as_secret, false)]));
        let work = g.virtual_delete(&as_cm);
        assert_eq!(work, vec![delete("a1"), delete("u1")]);
        assert_eq!(g.view("u1").unwrap().identity, as_secret);
        // Absent under the second name too: its dependents are rechecked; the first name
        // is known absent, so the node is not tried under it again.
        assert_eq!(g.virtual_delete(&as_secret), vec![delete("b1")]);
        assert_eq!(g.view("u1").unwrap().identity, as_secret);
    }

    #[test]
    fn a_relist_deletes_what_it_no_longer_has() {
        let mut g = Graph::default();
        let owner = id("ConfigMap", "ns", "owner", "o1");
        g.observe(seen(&owner, &[]));
        g.observe(seen(&id("ConfigMap", "ns", "a", "a1"), &[owner_ref(&owner, false)]));
        g.observe(seen(&id("Pod", "ns", "p", "p1"), &[]));
        let present: HashSet<String> = ["a1".to_string()].into();
        assert_eq!(g.relisted("v1", "ConfigMap", &present), vec![delete("a1")]);
        assert!(g.view("o1").is_none());
        assert!(g.view("p1").is_some(), "other resources are not touched");
    }

    #[test]
    fn a_dependent_of_two_owners_is_under_both() {
        let mut g = Graph::default();
        let a = id("ConfigMap", "ns", "a", "a1");
        let b = id("Secret", "ns", "b", "b1");
        g.observe(seen(&a, &[]));
        g.observe(seen(&b, &[]));
        g.observe(seen(&id("Pod", "ns", "p", "p1"), &[owner_ref(&a, false), owner_ref(&b, false)]));
        assert_eq!(g.observe_deleted(&a), vec![delete("p1")]);
        assert_eq!(g.view("b1").unwrap().dependents.len(), 1);
    }
}
