//! Events print the same from core/v1 and events.k8s.io/v1: upstream converts both to one
//! internal type before printing, so both impls here fill one [`EventView`].

use k8s_openapi::api::core::v1::{Event as CoreEvent, EventSource, ObjectReference};
use k8s_openapi::api::events::v1::Event;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta, Time};
use serde_json::{Value, json};

use super::cells::{opt, since, since_micro};
use super::{Column, NAME, TablePrinter};

const COLUMNS: &[Column] = &[
    Column::new("Last Seen", "string", "When the event was last observed."),
    Column::new("Type", "string", "Normal or Warning."),
    Column::new("Reason", "string", "Short machine-readable reason for the event."),
    Column::new("Object", "string", "The object the event is about, as kind/name."),
    Column::new("Subobject", "string", "The part of the object the event is about.").wide(),
    Column::new("Source", "string", "The component (and host) that reported the event.").wide(),
    Column::new("Message", "string", "Human-readable description of the event."),
    Column::new("First Seen", "string", "When the event was first observed.").wide(),
    Column::new("Count", "string", "How many times the event occurred.").wide(),
    NAME.wide(),
];

/// The fields of an event as upstream's internal type names them.
struct EventView<'a> {
    meta: &'a ObjectMeta,
    involved: Option<&'a ObjectReference>,
    type_: &'a str,
    reason: &'a str,
    message: &'a str,
    source: Option<&'a EventSource>,
    reporting_controller: &'a str,
    reporting_instance: &'a str,
    first_timestamp: Option<&'a Time>,
    last_timestamp: Option<&'a Time>,
    event_time: Option<&'a MicroTime>,
    count: i32,
    /// (count, last observed) of an event series.
    series: Option<(i32, Option<&'a MicroTime>)>,
}

impl EventView<'_> {
    fn row(&self, now: i64) -> Vec<Value> {
        let (first, last, count) = self.times(now);
        let source = self.source.cloned().unwrap_or_default();
        vec![
            last.into(),
            self.type_.into(),
            self.reason.into(),
            self.target().into(),
            self.involved.map_or("", |o| opt(&o.field_path)).into(),
            format_source(
                first_non_empty(opt(&source.component), self.reporting_controller),
                first_non_empty(opt(&source.host), self.reporting_instance),
            )
            .into(),
            self.message.trim().into(),
            first.into(),
            json!(count),
            self.meta.name.clone().unwrap_or_default().into(),
        ]
    }

    /// FIRST SEEN, LAST SEEN and COUNT: the new API's eventTime and series stand in for the
    /// old timestamps and count, and a singleton event without a count happened once.
    fn times(&self, now: i64) -> (String, String, i32) {
        let first = match self.first_timestamp {
            Some(t) => since(Some(t), now),
            None => since_micro(self.event_time, now),
        };
        let mut last = match self.last_timestamp {
            Some(t) => since(Some(t), now),
            None => first.clone(),
        };
        let mut count = self.count;
        if let Some((series_count, observed)) = self.series {
            last = since_micro(observed, now);
            count = series_count;
        } else if count == 0 {
            count = 1;
        }
        (first, last, count)
    }

    /// `pod/web-0`: the lowercased kind and the name, or just the kind when there is no name.
    fn target(&self) -> String {
        let kind = self.involved.map_or("", |o| opt(&o.kind)).to_lowercase();
        match self.involved.map_or("", |o| opt(&o.name)) {
            "" => kind,
            name => format!("{kind}/{name}"),
        }
    }
}

fn first_non_empty<'a>(a: &'a str, b: &'a str) -> &'a str {
    if a.is_empty() { b } else { a }
}

/// `kubelet, node-1`, or just the component when there is no host.
fn format_source(component: &str, host: &str) -> String {
    if host.is_empty() { component.to_string() } else { format!("{component}, {host}") }
}

impl TablePrinter for CoreEvent {
    fn columns() -> &'static [Column] {
        COLUMNS
    }

    fn row(&self, _object: &Value, now: i64) -> Vec<Value> {
        EventView {
            meta: &self.metadata,
            involved: Some(&self.involved_object),
            type_: opt(&self.type_),
            reason: opt(&self.reason),
            message: opt(&self.message),
            source: self.source.as_ref(),
            reporting_controller: opt(&self.reporting_component),
            reporting_instance: opt(&self.reporting_instance),
            first_timestamp: self.first_timestamp.as_ref(),
            last_timestamp: self.last_timestamp.as_ref(),
            event_time: self.event_time.as_ref(),
            count: self.count.unwrap_or(0),
            series: self.series.as_ref().map(|s| (s.count.unwrap_or(0), s.last_observed_time.as_ref())),
        }
        .row(now)
    }
}

impl TablePrinter for Event {
    fn columns() -> &'static [Column] {
        COLUMNS
    }

    fn row(&self, _object: &Value, now: i64) -> Vec<Value> {
        EventView {
            meta: &self.metadata,
            involved: self.regarding.as_ref(),
            type_: opt(&self.type_),
            reason: opt(&self.reason),
            message: opt(&self.note),
            source: self.deprecated_source.as_ref(),
            reporting_controller: opt(&self.reporting_controller),
            reporting_instance: opt(&self.reporting_instance),
            first_timestamp: self.deprecated_first_timestamp.as_ref(),
            last_timestamp: self.deprecated_last_timestamp.as_ref(),
            event_time: self.event_time.as_ref(),
            count: self.deprecated_count.unwrap_or(0),
            series: self.series.as_ref().map(|s| (s.count, Some(&s.last_observed_time))),
        }
        .row(now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_700_000_000; // 2023-11-14T22:13:20Z

    #[test]
    fn core_event_row() {
        let ev: CoreEvent = serde_json::from_value(json!({
            "metadata": {"name": "web-0.17a"},
            "involvedObject": {"kind": "Pod", "name": "web-0", "fieldPath": "spec.containers{app}"},
            "type": "Warning", "reason": "BackOff", "message": "  Back-off restarting  \n",
            "source": {"component": "kubelet", "host": "node-1"},
            "firstTimestamp": "2023-11-14T21:13:20Z", "lastTimestamp": "2023-11-14T22:12:20Z", "count": 7,
        }))
        .unwrap();
        let row = ev.row(&json!({}), NOW);
        assert_eq!(row.len(), COLUMNS.len());
        assert_eq!(
            row,
            [
                json!("60s"),
                json!("Warning"),
                json!("BackOff"),
                json!("pod/web-0"),
                json!("spec.containers{app}"),
                json!("kubelet, node-1"),
                json!("Back-off restarting"),
                json!("60m"),
                json!(7),
                json!("web-0.17a"),
            ]
        );
    }

    #[test]
    fn new_api_event_uses_event_time_and_series() {
        let ev: Event = serde_json::from_value(json!({
            "metadata": {"name": "e1"},
            "eventTime": "2023-11-14T22:03:20.000000Z",
            "regarding": {"kind": "Node"},
            "reportingController": "scheduler", "reportingInstance": "scheduler-1",
            "type": "Normal", "reason": "Scheduled", "note": "ok",
        }))
        .unwrap();
        let row = ev.row(&json!({}), NOW);
        assert_eq!(row[0], "10m");
        assert_eq!(row[3], "node");
        assert_eq!(row[5], "scheduler, scheduler-1");
        assert_eq!(row[7], "10m");
        assert_eq!(row[8], 1);

        let mut series = serde_json::to_value(&ev).unwrap();
        series["series"] = json!({"count": 4, "lastObservedTime": "2023-11-14T22:13:00.000000Z"});
        let row = serde_json::from_value::<Event>(series).unwrap().row(&json!({}), NOW);
        assert_eq!((row[0].clone(), row[8].clone()), (json!("20s"), json!(4)));
    }
}
