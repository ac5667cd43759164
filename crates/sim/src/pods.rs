//! The pods' side of the kubelets. One watch of all bound pods feeds a table of the pods on our
//! nodes and a work queue (a key is queued at most once, and handled by one worker at a time);
//! a fixed pool of workers turns each pod's state into at most one API call; one timer heap
//! wakes pods whose completion is due and retries failed calls with backoff.

use std::cmp::Reverse;
use std::collections::hash_map::Entry;
use std::collections::{BinaryHeap, HashMap, HashSet, VecDeque};
use std::net::Ipv4Addr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, DeleteParams, Patch, PatchParams, Preconditions};
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use serde_json::json;
use tokio::sync::{Notify, mpsc};
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::node::node_ip;
use crate::pod::{IpPool, Phase, PodInfo, finished_status, running_status};
use crate::{Sim, backoff, is_not_found, status_code};

/// `namespace/name`.
type Key = Arc<str>;

/// What the sim last wrote for a pod (for this uid).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wrote {
    Nothing,
    Running,
    Finished,
}

/// A pod on one of our nodes.
#[derive(Debug)]
struct Tracked {
    info: Arc<PodInfo>,
    /// The pod's address, held in the pool while the pod lives.
    ip: Option<Ipv4Addr>,
    /// The start time the sim wrote.
    started: Option<Timestamp>,
    wrote: Wrote,
    /// A completion timer is pending.
    timer: bool,
    failures: u32,
}

impl Tracked {
    fn new(info: PodInfo, pool: &mut IpPool) -> Tracked {
        // An address from an earlier run of the sim stays the pod's.
        let ip = info.pod_ip.filter(|ip| IpPool::slot(*ip).is_some());
        if let Some(ip) = ip {
            pool.mark(ip);
        }
        Tracked { info: Arc::new(info), ip, started: None, wrote: Wrote::Nothing, timer: false, failures: 0 }
    }
}

#[derive(Default)]
struct State {
    pods: HashMap<Key, Tracked>,
    pool: IpPool,
    queue: VecDeque<Key>,
    queued: HashSet<Key>,
    /// Keys a worker is handling now.
    active: HashSet<Key>,
    /// Keys that changed while a worker handled them: queued again when it is done.
    dirty: HashSet<Key>,
    /// Keys seen since the watch (re)started listing; the rest are gone when the list is done.
    relisted: Option<HashSet<Key>>,
}

impl State {
    fn enqueue(&mut self, key: Key) -> bool {
        if self.active.contains(&key) {
            self.dirty.insert(key);
            false
        } else if self.queued.insert(key.clone()) {
            self.queue.push_back(key);
            true
        } else {
            false
        }
    }

    fn forget(&mut self, key: &Key) {
        if let Some(t) = self.pods.remove(key)
            && let Some(ip) = t.ip
        {
            self.pool.release(ip);
        }
    }
}

/// The one thing to do for a pod now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Nothing,
    /// It is being deleted: its hollow containers stop at once, so it goes for good.
    Delete,
    /// Bound and not running yet: report it running.
    Run,
    /// Running and due to complete: report it finished, started at the given time.
    Finish(Timestamp),
    /// Running, to complete at this time.
    Schedule(Timestamp),
}

fn decide(t: &Tracked, now: Timestamp) -> Action {
    let info = &t.info;
    if info.deleting {
        return Action::Delete;
    }
    if info.phase.finished() || t.wrote == Wrote::Finished {
        return Action::Nothing;
    }
    if info.phase != Phase::Running && t.wrote == Wrote::Nothing {
        return Action::Run;
    }
    let Some(after) = info.complete_after else { return Action::Nothing };
    let start = t.started.or(info.start_time).unwrap_or(now);
    let due = start.checked_add(after).unwrap_or(Timestamp::MAX);
    if due <= now {
        Action::Finish(start)
    } else if t.timer {
        Action::Nothing
    } else {
        Action::Schedule(due)
    }
}

struct Pods {
    sim: Arc<Sim>,
    state: Mutex<State>,
    wake: Notify,
    timers: mpsc::UnboundedSender<(Instant, Key)>,
}

/// Watch the pods and serve those on our nodes, forever.
pub(crate) async fn run(sim: Arc<Sim>) {
    let (timers, timer_rx) = mpsc::unbounded_channel();
    let pods = Arc::new(Pods { sim, state: Mutex::default(), wake: Notify::new(), timers });
    // Dropping the set (when the sim stops) stops the workers and the timer task.
    let mut tasks = JoinSet::new();
    tasks.spawn(pods.clone().run_timers(timer_rx));
    pods.watch(&mut tasks).await;
}

impl Pods {
    fn state(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the table in a state worse than stale.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn enqueue(&self, key: Key) {
        if self.state().enqueue(key) {
            self.wake.notify_one();
        }
    }

    async fn watch(self: &Arc<Self>, tasks: &mut JoinSet<()>) {
        let api: Api<Pod> = Api::all(self.sim.client.clone());
        let config = watcher::Config::default().fields("spec.nodeName!=");
        let mut events = watcher::watcher(api, config).default_backoff().boxed();
        let mut workers = false;
        while let Some(event) = events.next().await {
            match event {
                Ok(Event::Init) => self.state().relisted = Some(HashSet::new()),
                Ok(Event::InitApply(pod)) | Ok(Event::Apply(pod)) => self.observe(&pod),
                Ok(Event::InitDone) => {
                    let mut st = self.state();
                    if let Some(seen) = st.relisted.take() {
                        let gone: Vec<Key> = st.pods.keys().filter(|k| !seen.contains(*k)).cloned().collect();
                        for key in &gone {
                            st.forget(key);
                        }
                    }
                    tracing::debug!("pod list done: {} pods on hollow nodes", st.pods.len());
                    drop(st);
                    // Workers start once the first list is in, so that addresses pods already
                    // have are known before any is handed out.
                    if !workers {
                        workers = true;
                        for _ in 0..self.sim.config.concurrency {
                            tasks.spawn(self.clone().work());
                        }
                    }
                }
                Ok(Event::Delete(pod)) => {
                    let key: Key = format!("{}/{}", s(&pod.metadata.namespace), s(&pod.metadata.name)).into();
                    let mut st = self.state();
                    if st.pods.get(&key).is_some_and(|t| Some(t.info.uid.as_str()) == pod.metadata.uid.as_deref()) {
                        st.forget(&key);
                    }
                }
                Err(e) => tracing::debug!("watching pods: {e}"),
            }
        }
    }

    /// Record the latest state of a pod; queue it if it is ours and something changed.
    fn observe(&self, pod: &Pod) {
        let Some(info) = PodInfo::from_pod(pod, &self.sim.config.node_prefix, self.sim.config.nodes) else {
            return;
        };
        let key: Key = info.key().into();
        let mut st = self.state();
        if let Some(seen) = &mut st.relisted {
            seen.insert(key.clone());
        }
        let st = &mut *st;
        match st.pods.entry(key.clone()) {
            Entry::Occupied(mut e) if e.get().info.uid == info.uid => {
                if *e.get().info == info {
                    return;
                }
                e.get_mut().info = Arc::new(info);
            }
            Entry::Occupied(mut e) => {
                // Deleted and created again under the same name while we looked away.
                if let Some(ip) = e.get().ip {
                    st.pool.release(ip);
                }
                e.insert(Tracked::new(info, &mut st.pool));
            }
            Entry::Vacant(e) => {
                e.insert(Tracked::new(info, &mut st.pool));
            }
        }
        if st.enqueue(key) {
            self.wake.notify_one();
        }
    }

    async fn work(self: Arc<Self>) {
        loop {
            let next = {
                let mut st = self.state();
                let key = st.queue.pop_front();
                if let Some(k) = &key {
                    st.queued.remove(k);
                    st.active.insert(k.clone());
                }
                key
            };
            let Some(key) = next else {
                self.wake.notified().await;
                continue;
            };
            self.handle(&key).await;
            let mut st = self.state();
            st.active.remove(&key);
            if st.dirty.remove(&key) && st.enqueue(key) {
                drop(st);
                self.wake.notify_one();
            }
        }
    }

    /// Decide and do the one thing this pod needs now.
    async fn handle(&self, key: &Key) {
        let now = Timestamp::now();
        let (action, info, ip) = {
            let mut st = self.state();
            let st = &mut *st;
            let Some(t) = st.pods.get_mut(key) else { return };
            let action = decide(t, now);
            if matches!(action, Action::Run | Action::Finish(_)) && t.ip.is_none() {
                t.ip = Some(st.pool.allocate());
            }
            if let Action::Schedule(_) = action {
                t.timer = true;
            }
            (action, t.info.clone(), t.ip)
        };
        let api: Api<Pod> = Api::namespaced(self.sim.client.clone(), &info.namespace);
        let host_ip = node_ip(info.node);
        let pod_ip = ip.unwrap_or(Ipv4Addr::UNSPECIFIED);
        let result = match action {
            Action::Nothing => return,
            Action::Schedule(due) => {
                self.schedule(key.clone(), due.duration_since(now).try_into().unwrap_or_default());
                return;
            }
            Action::Delete => {
                let dp = DeleteParams {
                    grace_period_seconds: Some(0),
                    preconditions: Some(Preconditions { uid: Some(info.uid.clone()), resource_version: None }),
                    ..DeleteParams::default()
                };
                let _permit = self.sim.permit().await;
                match api.delete(&info.name, &dp).await {
                    // 409: the uid precondition failed, the pod is another by now.
                    Err(e) if status_code(&e) == Some(409) => Ok(()),
                    r => r.map(drop),
                }
            }
            Action::Run => {
                let body = Patch::Merge(json!({"status": running_status(&info, host_ip, pod_ip, now)}));
                let _permit = self.sim.permit().await;
                api.patch_status(&info.name, &PatchParams::default(), &body).await.map(|_| self.ran(key, &info, now))
            }
            Action::Finish(start) => {
                let body = Patch::Merge(json!({"status": finished_status(&info, host_ip, pod_ip, start, now)}));
                let _permit = self.sim.permit().await;
                api.patch_status(&info.name, &PatchParams::default(), &body).await.map(|_| self.finished(key, &info))
            }
        };
        match result {
            Ok(()) => {}
            // Gone already: its delete event cleans up.
            Err(e) if is_not_found(&e) => {}
            Err(e) => {
                let delay = {
                    let mut st = self.state();
                    let Some(t) = st.pods.get_mut(key).filter(|t| t.info.uid == info.uid) else { return };
                    t.failures += 1;
                    backoff(t.failures)
                };
                tracing::debug!("pod {key} ({action:?}): {e}; again in {delay:?}");
                self.schedule(key.clone(), delay);
            }
        }
    }

    /// The pod was reported running; schedule its completion if it has one.
    fn ran(&self, key: &Key, info: &PodInfo, start: Timestamp) {
        let after = {
            let mut st = self.state();
            let Some(t) = st.pods.get_mut(key).filter(|t| t.info.uid == info.uid) else { return };
            t.wrote = Wrote::Running;
            t.started = Some(start);
            t.failures = 0;
            let after = info.complete_after.filter(|_| !t.timer);
            t.timer |= after.is_some();
            after
        };
        if let Some(after) = after {
            self.schedule(key.clone(), after);
        }
    }

    fn finished(&self, key: &Key, info: &PodInfo) {
        let mut st = self.state();
        if let Some(t) = st.pods.get_mut(key).filter(|t| t.info.uid == info.uid) {
            t.wrote = Wrote::Finished;
            t.failures = 0;
        }
    }

    /// Queue the pod again after `delay`.
    fn schedule(&self, key: Key, delay: Duration) {
        // The receiver lives as long as the workers do.
        let _ = self.timers.send((Instant::now() + delay, key));
    }

    /// The timer heap: every pending completion and retry, one task.
    async fn run_timers(self: Arc<Self>, mut rx: mpsc::UnboundedReceiver<(Instant, Key)>) {
        let mut heap: BinaryHeap<Reverse<(Instant, Key)>> = BinaryHeap::new();
        loop {
            let next = heap.peek().map(|Reverse((at, _))| *at);
            tokio::select! {
                msg = rx.recv() => match msg {
                    Some(entry) => heap.push(Reverse(entry)),
                    None => return,
                },
                () = tokio::time::sleep_until(next.unwrap_or_else(Instant::now)), if next.is_some() => {
                    let now = Instant::now();
                    while let Some(Reverse((at, _))) = heap.peek()
                        && *at <= now
                    {
                        let Some(Reverse((_, key))) = heap.pop() else { break };
                        if let Some(t) = self.state().pods.get_mut(&key) {
                            t.timer = false;
                        }
                        self.enqueue(key);
                    }
                }
            }
        }
    }
}

fn s(o: &Option<String>) -> &str {
    o.as_deref().unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pod::ContainerInfo;

    fn info(phase: Phase) -> PodInfo {
        PodInfo {
            namespace: "ns".into(),
            name: "p".into(),
            uid: "u".into(),
            node: 0,
            phase,
            deleting: false,
            start_time: None,
            pod_ip: None,
            containers: vec![ContainerInfo { name: "c".into(), image: "i".into(), sidecar: false }],
            init_containers: vec![],
            complete_after: None,
            exit_code: 0,
        }
    }

    fn tracked(info: PodInfo, wrote: Wrote) -> Tracked {
        Tracked { info: Arc::new(info), ip: None, started: None, wrote, timer: false, failures: 0 }
    }

    fn ts(s: i64) -> Timestamp {
        Timestamp::from_second(s).unwrap()
    }

    #[test]
    fn pending_pods_run_once() {
        assert_eq!(decide(&tracked(info(Phase::Pending), Wrote::Nothing), ts(10)), Action::Run);
        // A stale event after the sim reported it running does not run it again.
        assert_eq!(decide(&tracked(info(Phase::Pending), Wrote::Running), ts(10)), Action::Nothing);
        assert_eq!(decide(&tracked(info(Phase::Running), Wrote::Nothing), ts(10)), Action::Nothing);
    }

    #[test]
    fn deleting_pods_are_deleted() {
        for phase in [Phase::Pending, Phase::Running, Phase::Succeeded] {
            let i = PodInfo { deleting: true, ..info(phase) };
            assert_eq!(decide(&tracked(i, Wrote::Running), ts(10)), Action::Delete);
        }
    }

    #[test]
    fn completion_is_scheduled_then_done() {
        let i = PodInfo { complete_after: Some(Duration::from_secs(5)), ..info(Phase::Running) };
        let mut t = tracked(i, Wrote::Running);
        t.started = Some(ts(100));
        assert_eq!(decide(&t, ts(101)), Action::Schedule(ts(105)));
        t.timer = true;
        assert_eq!(decide(&t, ts(101)), Action::Nothing);
        assert_eq!(decide(&t, ts(105)), Action::Finish(ts(100)));
        t.wrote = Wrote::Finished;
        assert_eq!(decide(&t, ts(106)), Action::Nothing);

        // After a restart of the sim, the pod's own start time counts.
        let i = PodInfo { complete_after: Some(Duration::ZERO), start_time: Some(ts(50)), ..info(Phase::Running) };
        assert_eq!(decide(&tracked(i, Wrote::Nothing), ts(60)), Action::Finish(ts(50)));
        let i = PodInfo { complete_after: Some(Duration::ZERO), ..info(Phase::Succeeded) };
        assert_eq!(decide(&tracked(i, Wrote::Nothing), ts(60)), Action::Nothing);
    }

    #[test]
    fn queue_holds_a_key_once_and_requeues_after_work() {
        let mut st = State::default();
        let k: Key = "ns/p".into();
        assert!(st.enqueue(k.clone()));
        assert!(!st.enqueue(k.clone()));
        assert_eq!(st.queue.len(), 1);
        // A worker takes it; a change meanwhile marks it dirty instead of queueing it twice.
        st.queue.pop_front();
        st.queued.remove(&k);
        st.active.insert(k.clone());
        assert!(!st.enqueue(k.clone()));
        assert!(st.queue.is_empty() && st.dirty.contains(&k));
    }

    #[test]
    fn forgetting_a_pod_frees_its_address() {
        let mut st = State::default();
        let ip = st.pool.allocate();
        let mut t = tracked(info(Phase::Running), Wrote::Running);
        t.ip = Some(ip);
        st.pods.insert("ns/p".into(), t);
        st.forget(&"ns/p".into());
        assert_eq!(st.pool.in_use(), 0);
        assert_eq!(st.pool.allocate(), ip);
    }
}
