//! The scheduling loop. One OS thread owns the cache and the queue: it applies what the
//! watches report, pops the next pod, runs the scheduling cycle, assumes the pod onto the
//! chosen node and hands the binding to a task, then goes on with the next pod without
//! waiting. Binding results come back through the same channel as the watches.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::time::Duration;

use tokio::time::Instant;

use crate::algorithm::{Algorithm, Outcome};
use crate::cache::{Budget, Cache};
use crate::framework::{Code, CycleState, Profile, Status};
use crate::informer::PodEvent;
use crate::node_info::NodeData;
use crate::pod_info::PodInfo;
use crate::preemption::{self, Decision};
use crate::queue::{Queue, QueuedPod};
use crate::writer::Writer;

/// Longest the loop sleeps without looking at the queue's timers.
const TICK: Duration = Duration::from_secs(1);

pub enum Update {
    Pod(PodEvent),
    PodDeleted(String),
    PodsListed(Vec<PodEvent>),
    Node(NodeData),
    NodeDeleted(String),
    NodesListed(Vec<NodeData>),
    Namespace(String, BTreeMap<String, String>),
    NamespaceDeleted(String),
    NamespacesListed(Vec<(String, BTreeMap<String, String>)>),
    Budget(Budget),
    BudgetDeleted(String, String),
    BudgetsListed(Vec<Budget>),
    /// The binding cycle of a pod ended.
    Bound {
        pod: QueuedPod,
        node: String,
        status: Status,
        state: Box<CycleState>,
    },
    Stop,
}

pub struct Scheduler {
    pub cache: Cache,
    pub queue: Queue,
    profile: Arc<Profile>,
    algorithm: Algorithm,
    writer: Writer,
    tx: Sender<Update>,
    /// Pods between the scheduling decision and the binding's answer.
    binding: HashSet<String>,
    /// Of those, pods deleted meanwhile: not to be queued again.
    deleted_while_binding: HashSet<String>,
    /// Initial lists received: pods, nodes, namespaces, budgets.
    synced: [bool; 4],
    pub scheduled: u64,
}

impl Scheduler {
    pub fn new(profile: Profile, writer: Writer, tx: Sender<Update>) -> Scheduler {
        Scheduler {
            cache: Cache::default(),
            queue: Queue::default(),
            profile: Arc::new(profile),
            algorithm: Algorithm::default(),
            writer,
            tx,
            binding: HashSet::new(),
            deleted_while_binding: HashSet::new(),
            synced: [false; 4],
            scheduled: 0,
        }
    }

    /// Run until [`Update::Stop`] or every sender is gone.
    pub fn run(mut self, rx: Receiver<Update>) {
        loop {
            loop {
                match rx.try_recv() {
                    Ok(Update::Stop) => return,
                    Ok(u) => self.apply(u),
                    Err(std::sync::mpsc::TryRecvError::Empty) => break,
                    Err(std::sync::mpsc::TryRecvError::Disconnected) => return,
                }
            }
            let now = Instant::now();
            self.queue.flush(now);
            if self.synced.iter().all(|s| *s)
                && let Some(pod) = self.queue.pop()
            {
                self.schedule_one(pod);
                continue;
            }
            let wait = self.queue.next_backoff().map(|t| t.saturating_duration_since(now)).unwrap_or(TICK).min(TICK);
            match rx.recv_timeout(wait) {
                Ok(Update::Stop) | Err(RecvTimeoutError::Disconnected) => return,
                Ok(u) => self.apply(u),
                Err(RecvTimeoutError::Timeout) => {}
            }
        }
    }

    /// Let unschedulable pods rejected by plugins for which this event may have made room
    /// try again (`None`: every plugin).
    fn cluster_event(&mut self, plugins: Option<&[&str]>) {
        let now = Instant::now();
        match plugins {
            None => self.queue.move_unschedulable(now, |_| true),
            Some(ps) => self.queue.move_unschedulable(now, |r| r.iter().any(|p| ps.contains(p))),
        }
    }

    pub fn apply(&mut self, u: Update) {
        match u {
            Update::Pod(ev) => self.pod_event(ev),
            Update::PodDeleted(uid) => self.pod_deleted(&uid),
            Update::PodsListed(list) => {
                let seen: HashSet<String> = list.iter().map(|e| e.info.uid.clone()).collect();
                for uid in self.cache.pod_uids() {
                    if !seen.contains(&uid) && !self.cache.is_assumed(&uid) {
                        self.pod_deleted(&uid);
                    }
                }
                for ev in list {
                    self.pod_event(ev);
                }
                self.synced[0] = true;
            }
            Update::Node(n) => {
                if self.cache.set_node(n) {
                    self.cluster_event(None);
                }
            }
            Update::NodeDeleted(name) => self.cache.remove_node(&name),
            Update::NodesListed(list) => {
                let seen: HashSet<String> = list.iter().map(|n| n.name.clone()).collect();
                let gone: Vec<String> =
                    self.cache.nodes().map(|n| n.name().to_string()).filter(|n| !seen.contains(n)).collect();
                for n in gone {
                    self.cache.remove_node(&n);
                }
                for n in list {
                    self.cache.set_node(n);
                }
                self.synced[1] = true;
                self.cluster_event(None);
            }
            Update::Namespace(name, labels) => {
                self.cache.namespaces.insert(name, labels);
                self.cluster_event(Some(&["InterPodAffinity"]));
            }
            Update::NamespaceDeleted(name) => {
                self.cache.namespaces.remove(&name);
            }
            Update::NamespacesListed(list) => {
                self.cache.namespaces = list.into_iter().collect();
                self.synced[2] = true;
            }
            Update::Budget(b) => {
                self.cache.budgets.retain(|o| (&o.namespace, &o.name) != (&b.namespace, &b.name));
                self.cache.budgets.push(b);
            }
            Update::BudgetDeleted(ns, name) => self.cache.budgets.retain(|o| o.namespace != ns || o.name != name),
            Update::BudgetsListed(list) => {
                self.cache.budgets = list;
                self.synced[3] = true;
            }
            Update::Bound { pod, node, status, state } => self.bound(pod, node, status, *state),
            Update::Stop => {}
        }
    }

    fn pod_event(&mut self, ev: PodEvent) {
        let uid = ev.info.uid.clone();
        if !ev.info.node_name.is_empty() {
            // On a node: confirms an assumption, or a pod bound by someone else.
            self.queue.remove(&uid);
            self.cache.clear_nomination(&uid);
            let was_known = self.cache.pod(&uid).is_some();
            self.cache.set_pod(ev.info);
            if !was_known {
                self.cluster_event(Some(&["InterPodAffinity", "PodTopologySpread"]));
            }
            return;
        }
        if self.binding.contains(&uid) || self.cache.is_assumed(&uid) {
            // Our own decision is on its way; the pod is not to be scheduled twice.
            return;
        }
        if ev.waiting {
            self.cache.nominate(&ev.info, &ev.info.nominated_node_name.clone());
            self.queue.add_or_update(ev.info, ev.fingerprint, Instant::now());
        } else if let Some(_gone) = self.queue.remove(&uid) {
            // Being deleted, or handed to another scheduler.
            self.cache.clear_nomination(&uid);
        }
    }

    fn pod_deleted(&mut self, uid: &str) {
        self.queue.remove(uid);
        self.cache.clear_nomination(uid);
        if self.binding.contains(uid) {
            self.deleted_while_binding.insert(uid.to_string());
        }
        if self.cache.remove_pod(uid).is_some() {
            self.cluster_event(None);
        }
    }

    fn schedule_one(&mut self, mut pod: QueuedPod) {
        let profile = self.profile.clone();
        let info = pod.info.clone();
        let (outcome, mut state) = self.algorithm.schedule(&profile, &info, &self.cache);
        match outcome {
            Outcome::Fit { node, .. } => {
                self.cache.assume(Arc::new(info.on_node(&node)));
                if let Err(s) = self.reserve_and_permit(&mut state, &info, &node) {
                    self.cache.forget(&info.uid);
                    let unschedulable = s.is_rejection();
                    if unschedulable {
                        pod.rejected_by.insert(s.plugin);
                    }
                    self.failed(pod, unschedulable, s.reasons.join(", "), None);
                    return;
                }
                self.binding.insert(info.uid.clone());
                self.spawn_binding(pod, node, state);
            }
            Outcome::NoFit(mut err) => {
                let offset = self.algorithm_offset();
                let decision = preemption::preempt(&profile, &state, &info, &self.cache, &err.diagnosis, offset);
                let nominated = match decision {
                    Decision::Preempt(c) => {
                        for v in &c.victims {
                            self.writer.preempt(v, &info, &c.node);
                        }
                        self.clear_lower_nominations(&info, &c.node);
                        self.cache.nominate(&info, &c.node);
                        Some(c.node)
                    }
                    Decision::NotHelpful(msg) => {
                        err.diagnosis.post_filter_msg = msg;
                        None
                    }
                };
                pod.rejected_by = err.diagnosis.rejected_by.clone();
                let message = err.message();
                self.failed(pod, true, message, nominated);
            }
            Outcome::Error(msg) => self.failed(pod, false, msg, None),
        }
    }

    fn algorithm_offset(&mut self) -> usize {
        (self.scheduled as usize).wrapping_mul(2654435761) % self.cache.infos().len().max(1)
    }

    /// Lower-priority pods nominated to `node` lose the nomination: the room is taken.
    fn clear_lower_nominations(&mut self, pod: &PodInfo, node: &str) {
        let lower: Vec<Arc<PodInfo>> =
            self.cache.nominated(node).iter().filter(|p| p.priority < pod.priority).cloned().collect();
        for p in lower {
            self.cache.clear_nomination(&p.uid);
            self.writer.clear_nomination(&p);
        }
    }

    fn reserve_and_permit(&self, state: &mut CycleState, pod: &PodInfo, node: &str) -> Result<(), Status> {
        for (i, p) in self.profile.reserve.iter().enumerate() {
            let s = p.reserve(state, pod, node);
            if !s.is_success() {
                for q in self.profile.reserve[..=i].iter().rev() {
                    q.unreserve(state, pod, node);
                }
                return Err(s.with_plugin(p.name()));
            }
        }
        for p in &self.profile.permit {
            let s = p.permit(state, pod, node);
            if !s.is_success() {
                for q in self.profile.reserve.iter().rev() {
                    q.unreserve(state, pod, node);
                }
                return Err(s.with_plugin(p.name()));
            }
        }
        Ok(())
    }

    fn spawn_binding(&self, pod: QueuedPod, node: String, state: CycleState) {
        let profile = self.profile.clone();
        let tx = self.tx.clone();
        self.writer.runtime().spawn(async move {
            let mut status = Status::success();
            for p in &profile.pre_bind {
                status = p.pre_bind(pod.info.clone(), node.clone()).await;
                if !status.is_success() {
                    status = status.with_plugin(p.name());
                    break;
                }
            }
            if status.is_success() {
                for p in &profile.bind {
                    status = p.bind(pod.info.clone(), node.clone()).await.with_plugin(p.name());
                    if status.code != Code::Skip {
                        break;
                    }
                }
            }
            let _ = tx.send(Update::Bound { pod, node, status, state: Box::new(state) });
        });
    }

    fn bound(&mut self, pod: QueuedPod, node: String, status: Status, mut state: CycleState) {
        let uid = pod.info.uid.clone();
        self.binding.remove(&uid);
        let deleted = self.deleted_while_binding.remove(&uid);
        if status.is_success() {
            self.scheduled += 1;
            let note = format!("Successfully assigned {} to {node}", pod.info.key());
            self.writer.event(&pod.info, false, "Scheduled", note);
            return;
        }
        for p in self.profile.reserve.iter().rev() {
            p.unreserve(&mut state, &pod.info, &node);
        }
        self.cache.forget(&uid);
        // The room the assumption held is free again.
        self.cluster_event(None);
        if deleted {
            return;
        }
        let message = format!("Binding rejected: {}", status.reasons.join(", "));
        self.failed(pod, false, message, None);
    }

    /// Report a failed attempt (event and pod condition) and queue the pod again.
    fn failed(&mut self, pod: QueuedPod, unschedulable: bool, message: String, nominated: Option<String>) {
        let reason = if unschedulable { "Unschedulable" } else { "SchedulerError" };
        tracing::debug!(pod = %pod.info.key(), %message, "pod not scheduled");
        self.writer.event(&pod.info, true, "FailedScheduling", message.clone());
        self.writer.unschedulable(&pod.info, reason, &message, nominated.as_deref());
        self.queue.requeue(pod, unschedulable, Instant::now());
    }
}
