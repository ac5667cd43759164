//! Conversions between a served shape and the stored shape of a resource.
//!
//! Only `events.k8s.io/v1` Events need one today: they are stored as core/v1 Events (one
//! storage for both, as upstream), and their fields carry other names.

use serde_json::{Map, Value};

/// Converts objects between the served version and the storage version.
pub trait Conversion: Send + Sync {
    fn to_storage(&self, obj: Value) -> Value;
    #[allow(clippy::wrong_self_convention)]
    fn from_storage(&self, obj: Value) -> Value;
}

/// events.k8s.io/v1 Event <-> core/v1 Event.
pub struct EventsV1;

pub static EVENTS_V1: EventsV1 = EventsV1;

/// (events.k8s.io/v1 name, core/v1 name); fields not listed keep their name.
const EVENT_RENAMES: &[(&str, &str)] = &[
    ("regarding", "involvedObject"),
    ("note", "message"),
    ("reportingController", "reportingComponent"),
    ("deprecatedSource", "source"),
    ("deprecatedFirstTimestamp", "firstTimestamp"),
    ("deprecatedLastTimestamp", "lastTimestamp"),
    ("deprecatedCount", "count"),
];

fn rename(obj: Value, api_version: &str, from_served: bool) -> Value {
    let Value::Object(map) = obj else { return obj };
    let mut out = Map::new();
    out.insert("kind".into(), "Event".into());
    out.insert("apiVersion".into(), api_version.into());
    for (k, v) in map {
        if k == "kind" || k == "apiVersion" {
            continue;
        }
        let renamed = EVENT_RENAMES.iter().find_map(|(served, stored)| {
            if from_served && k == *served {
                Some(*stored)
            } else if !from_served && k == *stored {
                Some(*served)
            } else {
                None
            }
        });
        out.insert(renamed.map(str::to_string).unwrap_or(k), v);
    }
    Value::Object(out)
}

impl Conversion for EventsV1 {
    fn to_storage(&self, obj: Value) -> Value {
        rename(obj, "v1", true)
    }

    fn from_storage(&self, obj: Value) -> Value {
        rename(obj, "events.k8s.io/v1", false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn events_round_trip() {
        let served = json!({"apiVersion": "events.k8s.io/v1", "kind": "Event", "metadata": {"name": "e"},
            "regarding": {"kind": "Pod", "name": "p"}, "note": "hello", "reason": "Started", "deprecatedCount": 2});
        let stored = EVENTS_V1.to_storage(served.clone());
        assert_eq!(stored["apiVersion"], "v1");
        assert_eq!(stored["involvedObject"]["name"], "p");
        assert_eq!(stored["message"], "hello");
        assert_eq!(stored["count"], 2);
        assert_eq!(EVENTS_V1.from_storage(stored), served);
    }
}
