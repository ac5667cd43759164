//! Events in the `events.k8s.io/v1` shape, with upstream's series: the same event about the
//! same object within six minutes bumps the first one's `series.count` instead of adding
//! another object. The set of recent events is bounded (oldest forgotten first), so a busy
//! scheduler keeps constant memory and constant work per event.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::api::events::v1::Event;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use kube::api::{Api, ObjectMeta, Patch, PatchParams, PostParams};
use serde_json::json;

/// How long a repeat joins the earlier event's series (upstream's 6 minutes).
const SERIES_WINDOW: SignedDuration = SignedDuration::from_mins(6);
/// Recent events remembered for series.
const REMEMBERED: usize = 4096;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    uid: String,
    reason: String,
    note: String,
}

struct Recent {
    namespace: String,
    name: String,
    count: i32,
    last: Timestamp,
}

#[derive(Default)]
struct Memory {
    recent: HashMap<Key, Recent>,
    order: VecDeque<Key>,
}

/// Records events for one component (`reportingController`), e.g. `default-scheduler`.
pub struct Recorder {
    client: kube::Client,
    controller: String,
    /// `<controller>-<hostname>`, read once: every event carries it.
    instance: String,
    action: String,
    memory: Mutex<Memory>,
}

impl Recorder {
    /// `action` is what the component does (`Scheduling`, `Reconciling`); events.k8s.io
    /// requires one.
    pub fn new(client: kube::Client, controller: &str, action: &str) -> Recorder {
        Recorder {
            client,
            controller: controller.to_string(),
            instance: format!("{controller}-{}", hostname()),
            action: action.to_string(),
            memory: Mutex::default(),
        }
    }

    /// Record `reason`/`note` about the object `regarding` (`warning` for type Warning).
    pub async fn publish(
        &self,
        regarding: &ObjectReference,
        warning: bool,
        reason: &str,
        note: &str,
    ) -> Result<(), kube::Error> {
        let now = Timestamp::now();
        let key = Key { uid: regarding.uid.clone().unwrap_or_default(), reason: reason.into(), note: note.into() };
        let repeat = {
            let mut m = self.memory.lock().unwrap_or_else(|e| e.into_inner());
            match m.recent.get_mut(&key) {
                Some(r) if now.duration_since(r.last) < SERIES_WINDOW => {
                    r.count += 1;
                    r.last = now;
                    Some((r.namespace.clone(), r.name.clone(), r.count))
                }
                _ => None,
            }
        };
        if let Some((namespace, name, count)) = repeat {
            let api: Api<Event> = Api::namespaced(self.client.clone(), &namespace);
            let patch = json!({"series": {"count": count, "lastObservedTime": micro(now)}});
            return api.patch(&name, &PatchParams::default(), &Patch::Merge(patch)).await.map(|_| ());
        }

        let namespace = regarding.namespace.clone().filter(|n| !n.is_empty()).unwrap_or_else(|| "default".into());
        let object = regarding.name.clone().unwrap_or_default();
        let name = format!("{object}.{:x}", now.as_nanosecond());
        let event = Event {
            metadata: ObjectMeta { name: Some(name.clone()), namespace: Some(namespace.clone()), ..Default::default() },
            event_time: Some(MicroTime(now)),
            reporting_controller: Some(self.controller.clone()),
            reporting_instance: Some(self.instance.clone()),
            action: Some(self.action.clone()),
            reason: Some(reason.to_string()),
            regarding: Some(regarding.clone()),
            note: Some(note.to_string()),
            type_: Some(if warning { "Warning" } else { "Normal" }.to_string()),
            ..Default::default()
        };
        // Posted by hand rather than with `Api::create`: nobody reads the created event, so
        // its copy in the answer is skipped instead of decoded (a busy scheduler records one
        // event per pod).
        let url = format!("/apis/events.k8s.io/v1/namespaces/{namespace}/events");
        let body = serde_json::to_vec(&event).map_err(kube::Error::SerdeError)?;
        let request =
            kube::core::Request::new(url).create(&PostParams::default(), body).map_err(kube::Error::BuildRequest)?;
        self.client.request::<serde::de::IgnoredAny>(request).await?;
        let mut m = self.memory.lock().unwrap_or_else(|e| e.into_inner());
        if m.order.len() >= REMEMBERED
            && let Some(old) = m.order.pop_front()
        {
            m.recent.remove(&old);
        }
        m.order.push_back(key.clone());
        m.recent.insert(key, Recent { namespace, name, count: 1, last: now });
        Ok(())
    }
}

/// A MicroTime: RFC 3339 with microseconds.
fn micro(t: Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%S.%6fZ").to_string()
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname").map(|h| h.trim().to_string()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::micro;

    #[test]
    fn micro_time_has_six_fraction_digits() {
        let t: jiff::Timestamp = "2026-11-22T10:00:00.123456789Z".parse().unwrap();
        assert_eq!(micro(t), "2026-11-22T10:00:00.123456Z");
    }
}
