//! The scheduling queue, as upstream's: pods wait in `active` (highest priority first, then
//! oldest), in `backoff` after a failed attempt (1 s doubling to 10 s), or in `unschedulable`
//! until a cluster event may have made room — or for at most five minutes.
//!
//! Heaps use lazy deletion: every entry carries the sequence number it was queued with, and an
//! entry whose pod has since moved or gone is skipped when it surfaces.

use std::cmp::{Ordering, Reverse};
use std::collections::{BinaryHeap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use crate::pod_info::PodInfo;

pub const INITIAL_BACKOFF: Duration = Duration::from_secs(1);
pub const MAX_BACKOFF: Duration = Duration::from_secs(10);
/// Longest a pod stays unschedulable without another attempt.
pub const MAX_UNSCHEDULABLE: Duration = Duration::from_secs(300);

/// A pod waiting to be scheduled, with what the queue knows of its attempts.
#[derive(Debug, Clone)]
pub struct QueuedPod {
    pub info: Arc<PodInfo>,
    /// Fingerprint of what scheduling reads, to ignore status-only updates.
    pub fingerprint: u64,
    pub attempts: u32,
    /// When the pod entered the queue the first time (queue sort tie-break).
    pub since: Instant,
    pub last_failure: Option<Instant>,
    /// Plugins that rejected the pod last time: which cluster events can help it.
    pub rejected_by: HashSet<&'static str>,
}

impl QueuedPod {
    pub fn new(info: Arc<PodInfo>, fingerprint: u64, now: Instant) -> Self {
        QueuedPod { info, fingerprint, attempts: 0, since: now, last_failure: None, rejected_by: HashSet::new() }
    }

    fn backoff_until(&self) -> Option<Instant> {
        let failed = self.last_failure?;
        let exp = self.attempts.saturating_sub(1).min(8);
        let d = INITIAL_BACKOFF.saturating_mul(1 << exp).min(MAX_BACKOFF);
        Some(failed + d)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    Active(u64),
    Backoff(u64),
    Unschedulable(Instant),
}

/// Active heap order: higher priority first, then the pod queued earlier.
#[derive(Debug, PartialEq, Eq)]
struct ActiveKey {
    priority: i32,
    since: Reverse<Instant>,
    seq: Reverse<u64>,
    uid: String,
}

impl Ord for ActiveKey {
    fn cmp(&self, o: &Self) -> Ordering {
        (self.priority, self.since, self.seq).cmp(&(o.priority, o.since, o.seq))
    }
}

impl PartialOrd for ActiveKey {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}

#[derive(Debug, Default)]
pub struct Queue {
    pods: HashMap<String, (QueuedPod, Place)>,
    active: BinaryHeap<ActiveKey>,
    backoff: BinaryHeap<Reverse<(Instant, u64, String)>>,
    seq: u64,
}

impl Queue {
    pub fn len(&self) -> usize {
        self.pods.len()
    }

    pub fn is_empty(&self) -> bool {
        self.pods.is_empty()
    }

    pub fn contains(&self, uid: &str) -> bool {
        self.pods.contains_key(uid)
    }

    pub fn active_len(&self) -> usize {
        self.pods.values().filter(|(_, p)| matches!(p, Place::Active(_))).count()
    }

    fn push_active(&mut self, pod: QueuedPod) {
        self.seq += 1;
        let key = ActiveKey {
            priority: pod.info.priority,
            since: Reverse(pod.since),
            seq: Reverse(self.seq),
            uid: pod.info.uid.clone(),
        };
        self.active.push(key);
        self.pods.insert(pod.info.uid.clone(), (pod, Place::Active(self.seq)));
    }

    /// Into backoff if the pod is still backing off, else straight to active.
    fn push_backoff_or_active(&mut self, pod: QueuedPod, now: Instant) {
        match pod.backoff_until() {
            Some(until) if until > now => {
                self.seq += 1;
                self.backoff.push(Reverse((until, self.seq, pod.info.uid.clone())));
                self.pods.insert(pod.info.uid.clone(), (pod, Place::Backoff(self.seq)));
            }
            _ => self.push_active(pod),
        }
    }

    /// A new waiting pod, or an update of a queued one. An update that changes what
    /// scheduling reads gives an unschedulable pod another chance.
    pub fn add_or_update(&mut self, info: Arc<PodInfo>, fingerprint: u64, now: Instant) {
        let uid = info.uid.clone();
        let revive = match self.pods.get_mut(&uid) {
            None => {
                self.push_active(QueuedPod::new(info, fingerprint, now));
                return;
            }
            Some((queued, place)) => {
                let changed = queued.fingerprint != fingerprint;
                queued.info = info;
                queued.fingerprint = fingerprint;
                changed && matches!(place, Place::Unschedulable(_))
            }
        };
        if revive {
            let (pod, _) = self.pods.remove(&uid).expect("present");
            self.push_backoff_or_active(pod, now);
        }
    }

    pub fn remove(&mut self, uid: &str) -> Option<QueuedPod> {
        self.pods.remove(uid).map(|(p, _)| p)
    }

    /// The next pod to schedule; it leaves the queue until [`Queue::requeue`].
    pub fn pop(&mut self) -> Option<QueuedPod> {
        while let Some(key) = self.active.pop() {
            if let Some((_, Place::Active(seq))) = self.pods.get(&key.uid)
                && *seq == key.seq.0
            {
                let (mut pod, _) = self.pods.remove(&key.uid).expect("present");
                pod.attempts += 1;
                return Some(pod);
            }
        }
        None
    }

    /// Put back a pod whose attempt failed: unschedulable ones wait for an event, errors back off.
    pub fn requeue(&mut self, mut pod: QueuedPod, unschedulable: bool, now: Instant) {
        pod.last_failure = Some(now);
        if unschedulable {
            self.pods.insert(pod.info.uid.clone(), (pod, Place::Unschedulable(now)));
        } else {
            self.push_backoff_or_active(pod, now);
        }
    }

    /// A cluster event may have made room: unschedulable pods the predicate picks (by the
    /// plugins that rejected them) go to backoff or active.
    pub fn move_unschedulable(&mut self, now: Instant, pick: impl Fn(&HashSet<&'static str>) -> bool) {
        let moving: Vec<String> = self
            .pods
            .iter()
            .filter(|(_, (p, place))| matches!(place, Place::Unschedulable(_)) && pick(&p.rejected_by))
            .map(|(uid, _)| uid.clone())
            .collect();
        for uid in moving {
            let (pod, _) = self.pods.remove(&uid).expect("present");
            self.push_backoff_or_active(pod, now);
        }
    }

    /// Move pods whose backoff is over to active, and pods unschedulable for too long to
    /// backoff/active.
    pub fn flush(&mut self, now: Instant) {
        while let Some(Reverse((until, seq, uid))) = self.backoff.peek().cloned() {
            if until > now {
                break;
            }
            self.backoff.pop();
            if let Some((_, Place::Backoff(s))) = self.pods.get(&uid)
                && *s == seq
            {
                let (pod, _) = self.pods.remove(&uid).expect("present");
                self.push_active(pod);
            }
        }
        let stale: Vec<String> = self
            .pods
            .iter()
            .filter(|(_, (_, place))| matches!(place, Place::Unschedulable(t) if now.duration_since(*t) >= MAX_UNSCHEDULABLE))
            .map(|(uid, _)| uid.clone())
            .collect();
        for uid in stale {
            let (pod, _) = self.pods.remove(&uid).expect("present");
            self.push_backoff_or_active(pod, now);
        }
    }

    /// When [`Queue::flush`] next has work: the earliest backoff expiry.
    pub fn next_backoff(&self) -> Option<Instant> {
        self.backoff.peek().map(|Reverse((t, _, _))| *t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(uid: &str, priority: i32) -> Arc<PodInfo> {
        Arc::new(PodInfo { uid: uid.into(), priority, ..Default::default() })
    }

    #[tokio::test(start_paused = true)]
    async fn higher_priority_first_then_oldest() {
        let mut q = Queue::default();
        let t = Instant::now();
        q.add_or_update(pod("low", 0), 0, t);
        q.add_or_update(pod("old", 5), 0, t);
        q.add_or_update(pod("new", 5), 0, t + Duration::from_secs(1));
        let order: Vec<String> = std::iter::from_fn(|| q.pop()).map(|p| p.info.uid.clone()).collect();
        assert_eq!(order, ["old", "new", "low"]);
    }

    #[tokio::test(start_paused = true)]
    async fn backoff_doubles_from_one_second_up_to_ten() {
        let mut q = Queue::default();
        let t = Instant::now();
        q.add_or_update(pod("p", 0), 0, t);
        let mut expected = vec![1, 2, 4, 8, 10, 10];
        let mut now = t;
        for want in expected.drain(..) {
            let p = q.pop().expect("active");
            q.requeue(p, false, now);
            assert!(q.pop().is_none(), "still backing off");
            assert_eq!(q.next_backoff(), Some(now + Duration::from_secs(want)));
            now += Duration::from_secs(want);
            q.flush(now);
        }
    }

    #[tokio::test(start_paused = true)]
    async fn unschedulable_pods_wait_for_a_relevant_event_or_five_minutes() {
        let mut q = Queue::default();
        let t = Instant::now();
        q.add_or_update(pod("p", 0), 0, t);
        let mut p = q.pop().unwrap();
        p.rejected_by.insert("TaintToleration");
        q.requeue(p, true, t);
        q.move_unschedulable(t, |r| r.contains("InterPodAffinity"));
        q.flush(t + Duration::from_secs(60));
        assert!(q.pop().is_none());
        q.move_unschedulable(t + Duration::from_secs(60), |r| r.contains("TaintToleration"));
        // Backoff after the first failure is 1 s, long over by now.
        assert_eq!(q.pop().unwrap().info.uid, "p");
        let p = pod("p", 0);
        q.requeue(QueuedPod::new(p, 0, t), true, t);
        q.flush(t + MAX_UNSCHEDULABLE);
        assert!(q.pop().is_some());
    }

    #[tokio::test(start_paused = true)]
    async fn a_spec_change_revives_an_unschedulable_pod_but_a_status_change_does_not() {
        let mut q = Queue::default();
        let t = Instant::now();
        q.add_or_update(pod("p", 0), 1, t);
        let p = q.pop().unwrap();
        q.requeue(p, true, t);
        q.add_or_update(pod("p", 0), 1, t + Duration::from_secs(5));
        assert!(q.pop().is_none());
        q.add_or_update(pod("p", 0), 2, t + Duration::from_secs(5));
        assert!(q.pop().is_some());
    }
}
