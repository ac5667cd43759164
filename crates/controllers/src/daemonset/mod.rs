//! The DaemonSet controller (upstream's `pkg/controller/daemon`): one pod per eligible node,
//! each pinned to its node by node affinity so the default scheduler places it; template
//! changes roll out node by node (RollingUpdate with maxUnavailable / maxSurge, or OnDelete),
//! tracked by ControllerRevisions.
//!
//! Start at [`start`] and [`Controller::sync`]. Which nodes run a pod: [`eligibility`]; what
//! to do per node: [`placement`]; the update strategy: [`rolling`]; history: [`revisions`];
//! status: [`status`].

pub mod eligibility;
pub mod placement;
pub mod revisions;
pub mod rolling;
pub mod status;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use jiff::Timestamp;
use k8s_openapi::api::apps::v1::{ControllerRevision, DaemonSet};
use k8s_openapi::api::core::v1::Node;
use kube::api::{Api, Patch, PatchParams};
use skiff_runtime::{Change, Informer, Next, WorkQueue, key_of, run_workers};

use crate::cached_pod::CachedPod;
use crate::context::Context;
use crate::error::{Result, ignore_not_found};
use crate::expectations::Expectations;
use crate::owner::{self, CONTROLLER_UID_INDEX};
use crate::{pods, selector};
use eligibility::Fit;

const COMPONENT: &str = "daemonset-controller";
const WORKERS: usize = 2;
/// Back-off before deleting another failed pod on the same node (upstream: 1 s doubling to
/// 15 min), so a node that keeps failing daemon pods is not hammered.
const FAILED_BACKOFF_START: Duration = Duration::from_secs(1);
const FAILED_BACKOFF_MAX: Duration = Duration::from_secs(15 * 60);

struct Controller {
    ctx: Context,
    sets: Informer<DaemonSet>,
    pods: Informer<CachedPod>,
    nodes: Informer<Node>,
    revisions: Informer<ControllerRevision>,
    expectations: Expectations,
    queue: WorkQueue<String>,
    /// Per `<ds key>/<node>`: when the last failed pod was deleted and the current back-off.
    failed_backoff: Mutex<HashMap<String, (Instant, Duration)>>,
}

/// Register the handlers and start the workers.
pub fn start(ctx: &Context) {
    let c = Arc::new(Controller {
        ctx: ctx.clone(),
        sets: ctx.informers.get(),
        pods: ctx.informers.get(),
        nodes: ctx.informers.get(),
        revisions: ctx.informers.get(),
        expectations: Expectations::default(),
        queue: WorkQueue::new(),
        failed_backoff: Mutex::default(),
    });
    c.pods.add_index(CONTROLLER_UID_INDEX, |p: &CachedPod| owner::controller_uid(&p.metadata));

    let this = c.clone();
    c.sets.on_change(move |change| {
        let key = key_of(&**change.object());
        if let Change::Deleted(_) = change {
            this.expectations.forget(&key);
        }
        this.queue.add(key);
    });

    let this = c.clone();
    c.pods.on_change(move |change| this.pod_changed(change));

    let this = c.clone();
    c.nodes.on_change(move |change| {
        let relevant = match change {
            Change::Updated { old, new } => node_changed(old, new),
            _ => true,
        };
        if relevant {
            for ds in this.sets.list() {
                this.queue.add(key_of(&*ds));
            }
        }
    });

    let this = c.clone();
    c.revisions.on_change(move |change| {
        let r = change.object();
        if let Some(o) = owner::controller_of(&r.metadata).filter(|o| o.kind == "DaemonSet") {
            this.queue.add(format!("{}/{}", r.metadata.namespace.as_deref().unwrap_or_default(), o.name));
        }
    });

    let this = c.clone();
    run_workers(
        "daemonset",
        c.queue.clone(),
        WORKERS,
        move |key: String| {
            let this = this.clone();
            async move { this.sync(&key).await }
        },
        ctx.shutdown.clone(),
    );
}

/// A node change that can change where daemons run: labels, taints, schedulability, or a
/// condition turning (not the heartbeats).
fn node_changed(old: &Node, new: &Node) -> bool {
    let conditions = |n: &Node| -> Vec<(String, String)> {
        let c = n.status.as_ref().and_then(|s| s.conditions.as_ref());
        c.into_iter().flatten().map(|c| (c.type_.clone(), c.status.clone())).collect()
    };
    old.metadata.labels != new.metadata.labels || old.spec != new.spec || conditions(old) != conditions(new)
}

impl Controller {
    /// The key of the DaemonSet controlling `pod`, if one in the cache does.
    fn owner_key(&self, pod: &CachedPod) -> Option<String> {
        let r = owner::controller_of(&pod.metadata).filter(|r| r.kind == "DaemonSet")?;
        let namespace = pod.metadata.namespace.as_deref().unwrap_or_default();
        let ds = self.sets.get_named(namespace, &r.name)?;
        (ds.metadata.uid.as_deref() == Some(&r.uid)).then(|| key_of(&*ds))
    }

    /// The keys of DaemonSets whose selector matches an orphan pod.
    fn matching_sets(&self, pod: &CachedPod) -> Vec<String> {
        selector::selecting(&self.sets, &pod.metadata, |s| selector::parse(s.spec.as_ref().map(|s| &s.selector)))
    }

    fn pod_changed(&self, change: &Change<CachedPod>) {
        match change {
            Change::Added(pod) => match self.owner_key(pod) {
                Some(key) => {
                    self.expectations.creation_observed(&key);
                    self.queue.add(key);
                }
                None if owner::controller_of(&pod.metadata).is_none() => {
                    self.matching_sets(pod).into_iter().for_each(|k| self.queue.add(k));
                }
                None => {}
            },
            Change::Updated { old, new } => {
                let (old_key, new_key) = (self.owner_key(old), self.owner_key(new));
                // A deletion timestamp is as good as gone for the expectations.
                if new.metadata.deletion_timestamp.is_some()
                    && old.metadata.deletion_timestamp.is_none()
                    && let Some(k) = &new_key
                {
                    self.expectations.deletion_observed(k);
                }
                if old_key != new_key
                    && let Some(k) = old_key
                {
                    self.queue.add(k);
                }
                match new_key {
                    Some(k) => self.queue.add(k),
                    None if owner::controller_of(&new.metadata).is_none() => {
                        self.matching_sets(new).into_iter().for_each(|k| self.queue.add(k));
                    }
                    None => {}
                }
            }
            Change::Deleted(pod) => {
                if let Some(key) = self.owner_key(pod) {
                    self.expectations.deletion_observed(&key);
                    self.queue.add(key);
                }
            }
        }
    }

    async fn sync(&self, key: &str) -> Result<Next> {
        // Deciding on a partial cache would put a second pod on a node.
        self.pods.synced().await;
        self.nodes.synced().await;
        self.revisions.synced().await;
        let Some(ds) = self.sets.get(key) else {
            self.expectations.forget(key);
            return Ok(Next::Wait);
        };
        let spec_selector = ds.spec.as_ref().map(|s| &s.selector);
        if spec_selector.is_none_or(|s| {
            s.match_labels.as_ref().is_none_or(BTreeMap::is_empty)
                && s.match_expressions.as_ref().is_none_or(Vec::is_empty)
        }) {
            let note = "This daemon set is selecting all pods. A non-empty selector is required.";
            self.ctx.event(COMPONENT, &*ds, true, "SelectingAll", note);
            return Ok(Next::Wait);
        }
        if ds.metadata.deletion_timestamp.is_some() {
            return Ok(Next::Wait);
        }
        let sel = match selector::parse(spec_selector) {
            Ok(s) => s,
            Err(e) => {
                tracing::info!(daemonset = key, error = %e, "ignoring a DaemonSet with an invalid selector");
                return Ok(Next::Wait);
            }
        };
        let now = Timestamp::now();
        let nodes = self.nodes.list();
        let node_names: Vec<String> = nodes.iter().filter_map(|n| n.metadata.name.clone()).collect();
        let fits: HashMap<String, Fit> =
            nodes.iter().map(|n| (n.metadata.name.clone().unwrap_or_default(), eligibility::fit(&ds, n))).collect();
        let should_run = |n: &str| fits.get(n).is_some_and(|f| f.should_run);

        let pods = self.claim_pods(&ds, &sel).await?;
        let (current, old) = revisions::construct(&self.ctx, &ds, &pods).await?;
        let hash = revisions::hash_of(&current).to_string();
        let mut by_node = by_node(&pods);

        if !self.expectations.satisfied(key) {
            let st = status::compute(&ds, &node_names, &by_node, &should_run, &hash, false, now);
            status::write(&self.ctx, &ds, &st).await?;
            return Ok(Next::Wait);
        }

        let mut next = Next::Wait;
        let (mut delete, mut create_on) = (Vec::new(), Vec::new());
        let surge = rolling::allows_surge(&ds);
        for node in &node_names {
            let fit = fits.get(node).copied().unwrap_or(Fit { should_run: false, should_continue_running: false });
            let on_node = by_node.get(node).map(Vec::as_slice).unwrap_or_default();
            let work = placement::node_work(&ds, fit, on_node, &hash, surge, now);
            if work.create {
                create_on.push(node.clone());
            }
            for p in work.delete {
                if work.failed.iter().any(|f| Arc::ptr_eq(f, &p)) {
                    match self.failed_pod_backoff(key, node) {
                        Some(wait) => {
                            next = Next::After(wait);
                            continue;
                        }
                        None => {
                            let note = format!(
                                "Found failed daemon pod {}/{} on node {node}, will try to kill it",
                                p.metadata.namespace.as_deref().unwrap_or_default(),
                                p.metadata.name.as_deref().unwrap_or_default()
                            );
                            self.ctx.event(COMPONENT, &*ds, true, "FailedDaemonPod", &note);
                        }
                    }
                }
                delete.push(p);
            }
        }
        // Pods waiting for a node that is gone will never be scheduled.
        for (node, list) in &by_node {
            if !fits.contains_key(node) {
                delete.extend(
                    list.iter().filter(|p| !pods::is_scheduled(p) && p.metadata.deletion_timestamp.is_none()).cloned(),
                );
            }
        }
        self.sync_nodes(key, &ds, &delete, &create_on, &hash).await?;

        let is_rolling = ds.spec.as_ref().and_then(|s| s.update_strategy.as_ref()).and_then(|u| u.type_.as_deref())
            != Some("OnDelete");
        if is_rolling && self.expectations.satisfied(key) {
            for n in node_names.iter().filter(|n| should_run(n)) {
                by_node.entry(n.clone()).or_default();
            }
            let generation = placement::template_generation(&ds);
            let plan = rolling::plan(&ds, &by_node, &should_run, &hash, generation, now);
            self.sync_nodes(key, &ds, &plan.delete, &plan.create_on, &hash).await?;
        }
        revisions::cleanup(&self.ctx, &ds, &pods, &old).await?;

        let st = status::compute(&ds, &node_names, &by_node, &should_run, &hash, true, now);
        status::write(&self.ctx, &ds, &st).await?;
        let min_ready = ds.spec.as_ref().and_then(|s| s.min_ready_seconds).unwrap_or(0);
        if min_ready > 0 && st.number_ready != st.number_available.unwrap_or(0) && next == Next::Wait {
            next = Next::After(Duration::from_secs(min_ready as u64));
        }
        Ok(next)
    }

    /// `None` when a failed pod on the node may be deleted now (and starts the next back-off),
    /// else how long to wait.
    fn failed_pod_backoff(&self, key: &str, node: &str) -> Option<Duration> {
        let mut m = self.failed_backoff.lock().unwrap_or_else(|e| e.into_inner());
        let entry = format!("{key}/{node}");
        let now = Instant::now();
        match m.get(&entry).copied() {
            Some((at, delay)) if now < at + delay => Some(at + delay - now),
            Some((at, delay)) => {
                // A quiet spell twice the back-off long resets it.
                let next =
                    if now > at + delay * 2 { FAILED_BACKOFF_START } else { (delay * 2).min(FAILED_BACKOFF_MAX) };
                m.insert(entry, (now, next));
                None
            }
            None => {
                m.insert(entry, (now, FAILED_BACKOFF_START));
                None
            }
        }
    }

    /// The DaemonSet's pods: those it controls that still match (others are released), and
    /// matching orphans, which it adopts.
    async fn claim_pods(
        &self,
        ds: &DaemonSet,
        sel: &skiff_api::selector::label::LabelSelector,
    ) -> Result<Vec<Arc<CachedPod>>> {
        let namespace = ds.metadata.namespace.as_deref().unwrap_or_default();
        let uid = ds.metadata.uid.as_deref().unwrap_or_default();
        let api: Api<CachedPod> = Api::namespaced(self.ctx.client.clone(), namespace);
        let mut out = Vec::new();
        for pod in self.pods.list_namespace(namespace) {
            let matches = selector::matches(sel, pod.metadata.labels.as_ref());
            let name = pod.metadata.name.as_deref().unwrap_or_default();
            let pod_uid = pod.metadata.uid.as_deref().unwrap_or_default();
            match owner::controller_of(&pod.metadata) {
                Some(r) if r.uid == uid && matches => out.push(pod),
                Some(r) if r.uid == uid => {
                    let patch = Patch::Strategic(owner::release_patch(uid, pod_uid));
                    ignore_not_found(api.patch(name, &PatchParams::default(), &patch).await)?;
                }
                None if matches && pod.metadata.deletion_timestamp.is_none() => {
                    let patch = Patch::Strategic(owner::adopt_patch(&owner::controller_ref(ds), pod_uid));
                    if let Some(p) = ignore_not_found(api.patch(name, &PatchParams::default(), &patch).await)? {
                        out.push(Arc::new(p));
                    }
                }
                _ => {}
            }
        }
        Ok(out)
    }

    /// Delete `delete` and create a pod on each node of `create_on`, expecting to see each.
    async fn sync_nodes(
        &self,
        key: &str,
        ds: &DaemonSet,
        delete: &[Arc<CachedPod>],
        create_on: &[String],
        hash: &str,
    ) -> Result<()> {
        if delete.is_empty() && create_on.is_empty() {
            return Ok(());
        }
        self.expectations.expect(key, create_on.len() as i64, delete.len() as i64);
        let namespace = ds.metadata.namespace.as_deref().unwrap_or("default");
        let template = placement::pod_template(ds, hash);
        let generate_name = format!("{}-", ds.metadata.name.as_deref().unwrap_or_default());
        let mut first_error = None;
        for node in create_on {
            let mut t = template.clone();
            let spec = t.spec.get_or_insert_with(Default::default);
            spec.affinity = Some(placement::pin_to_node(spec.affinity.take(), node));
            let pod = pods::from_template(&t, namespace, None, &generate_name, owner::controller_ref(ds));
            if let Err(e) = pods::create(&self.ctx, COMPONENT, ds, &pod).await {
                // The pod will never show up: stop waiting for it.
                self.expectations.creation_observed(key);
                first_error.get_or_insert(e);
            }
        }
        for pod in delete {
            if let Err(e) = pods::delete(&self.ctx, COMPONENT, ds, pod).await {
                self.expectations.deletion_observed(key);
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}

/// Pods by the node they are for; pods that finished and are being deleted are left out.
fn by_node(pods: &[Arc<CachedPod>]) -> BTreeMap<String, Vec<Arc<CachedPod>>> {
    let mut m: BTreeMap<String, Vec<Arc<CachedPod>>> = BTreeMap::new();
    for p in pods {
        if pods::is_finished(p) && p.metadata.deletion_timestamp.is_some() {
            continue;
        }
        if let Some(node) = placement::target_node(p) {
            m.entry(node).or_default().push(p.clone());
        }
    }
    m
}
