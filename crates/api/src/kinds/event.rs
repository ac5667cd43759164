//! Events, in both API shapes. Core (`v1`) events get upstream's lenient legacy validation;
//! `events.k8s.io/v1` events are also held to the strict rules (event time, reporting
//! controller and instance, action and reason, no deprecated fields) and most fields are fixed
//! once written (upstream's `ValidateEventCreate`/`ValidateEventUpdate`).

use k8s_openapi::api::core::v1::Event as CoreEvent;
use k8s_openapi::api::events::v1::Event;

use crate::field_errors::{FieldError, FieldErrors, FieldPath};
use crate::kinds::common::{IMMUTABLE_MSG, dns1123_subdomain, json, qualified_name, s};
use crate::strategy::KindRules;

const REPORTING_INSTANCE_LIMIT: usize = 128;
const ACTION_LIMIT: usize = 128;
const REASON_LIMIT: usize = 128;
const NOTE_LIMIT: usize = 1024;

/// The fields the legacy checks read, common to both shapes.
struct View<'a> {
    namespace: &'a str,
    involved_namespace: &'a str,
    has_event_time: bool,
    reporting_controller: &'a str,
    reporting_field: &'a str,
    reporting_instance: &'a str,
    action: &'a str,
    reason: &'a str,
    message: &'a str,
}

fn legacy(errs: &mut FieldErrors, v: &View<'_>) {
    let ns_path = FieldPath::new("involvedObject").child("namespace");
    if !v.has_event_time {
        let ok = if v.involved_namespace.is_empty() {
            v.namespace.is_empty() || v.namespace == "default"
        } else {
            v.namespace == v.involved_namespace
        };
        if !ok {
            errs.push(FieldError::invalid(&ns_path, v.involved_namespace, "does not match event.namespace"));
        }
    } else {
        if v.involved_namespace.is_empty() && v.namespace != "default" && v.namespace != "kube-system" {
            errs.push(FieldError::invalid(&ns_path, v.involved_namespace, "does not match event.namespace"));
        }
        let rp = FieldPath::new(v.reporting_field);
        if v.reporting_controller.is_empty() {
            errs.push(FieldError::required(&rp, ""));
        }
        qualified_name(errs, v.reporting_controller, &rp);
        for (value, field, limit, required) in [
            (v.reporting_instance, "reportingInstance", REPORTING_INSTANCE_LIMIT, true),
            (v.action, "action", ACTION_LIMIT, true),
            (v.reason, "reason", REASON_LIMIT, true),
            (v.message, "message", NOTE_LIMIT, false),
        ] {
            if required && value.is_empty() {
                errs.push(FieldError::required(&FieldPath::new(field), ""));
            }
            if value.len() > limit {
                errs.push(FieldError::invalid(
                    &FieldPath::new(field),
                    "",
                    format!("can have at most {limit} characters"),
                ));
            }
        }
    }
    dns1123_subdomain(errs, v.namespace, &FieldPath::new("namespace"));
}

impl KindRules for CoreEvent {
    fn validate(&self) -> FieldErrors {
        let mut errs = FieldErrors::new();
        legacy(
            &mut errs,
            &View {
                namespace: self.metadata.namespace.as_deref().unwrap_or(""),
                involved_namespace: s(&self.involved_object.namespace),
                has_event_time: self.event_time.is_some(),
                reporting_controller: s(&self.reporting_component),
                reporting_field: "reportingComponent",
                reporting_instance: s(&self.reporting_instance),
                action: s(&self.action),
                reason: s(&self.reason),
                message: s(&self.message),
            },
        );
        errs
    }
}

fn view(e: &Event) -> View<'_> {
    View {
        namespace: e.metadata.namespace.as_deref().unwrap_or(""),
        involved_namespace: e.regarding.as_ref().map_or("", |r| s(&r.namespace)),
        has_event_time: e.event_time.is_some(),
        reporting_controller: s(&e.reporting_controller),
        reporting_field: "reportingController",
        reporting_instance: s(&e.reporting_instance),
        action: s(&e.action),
        reason: s(&e.reason),
        message: s(&e.note),
    }
}

impl KindRules for Event {
    fn validate(&self) -> FieldErrors {
        let mut errs = FieldErrors::new();
        legacy(&mut errs, &view(self));
        if let Some(series) = &self.series
            && series.count < 2
        {
            errs.push(FieldError::invalid(&FieldPath::new("series").child("count"), "", "should be at least 2"));
        }
        if self.event_time.is_none() {
            errs.push(FieldError::required(&FieldPath::new("eventTime"), ""));
        }
        let ty = s(&self.type_);
        if ty != "Normal" && ty != "Warning" {
            errs.push(FieldError::invalid(&FieldPath::new("type"), "", format!("has invalid value: {ty}")));
        }
        for (set, field) in [
            (self.deprecated_first_timestamp.is_some(), "firstTimestamp"),
            (self.deprecated_last_timestamp.is_some(), "lastTimestamp"),
            (self.deprecated_count.unwrap_or(0) != 0, "count"),
            (
                self.deprecated_source
                    .as_ref()
                    .is_some_and(|src| !s(&src.component).is_empty() || !s(&src.host).is_empty()),
                "source",
            ),
        ] {
            if set {
                errs.push(FieldError::invalid(&FieldPath::new(field), "", "needs to be unset"));
            }
        }
        errs
    }

    fn validate_update(&self, old: &Self) -> FieldErrors {
        let mut errs = FieldErrors::new();
        legacy(&mut errs, &view(self));
        for (changed, field, value) in [
            (self.regarding != old.regarding, "involvedObject", json(&self.regarding)),
            (self.reason != old.reason, "reason", json(&self.reason)),
            (self.note != old.note, "message", json(&self.note)),
            (self.type_ != old.type_, "type", json(&self.type_)),
            (self.event_time != old.event_time, "eventTime", json(&self.event_time)),
            (self.action != old.action, "action", json(&self.action)),
            (self.related != old.related, "related", json(&self.related)),
            (
                self.reporting_controller != old.reporting_controller,
                "reportingController",
                json(&self.reporting_controller),
            ),
            (self.reporting_instance != old.reporting_instance, "reportingInstance", json(&self.reporting_instance)),
        ] {
            if changed {
                errs.push(FieldError::invalid(&FieldPath::new(field), value, IMMUTABLE_MSG));
            }
        }
        errs
    }
}

#[cfg(test)]
mod tests {
    use crate::strategy::Operation;
    use serde_json::json;

    #[test]
    fn core_events_are_lenient_and_check_namespace() {
        let info = crate::registry().get("", "v1", "events").unwrap();
        let ev = json!({"metadata": {"name": "e", "namespace": "default"}, "involvedObject": {"kind": "Pod", "name": "p", "namespace": "default"}, "reason": "Started"});
        assert!(info.strategy.admit(info, Operation::Create, ev, None, false).is_ok());
        let bad = json!({"metadata": {"name": "e", "namespace": "default"}, "involvedObject": {"kind": "Pod", "name": "p", "namespace": "other"}});
        let err = info.strategy.admit(info, Operation::Create, bad, None, false).unwrap_err().to_string();
        assert_eq!(err, r#"involvedObject.namespace: Invalid value: "other": does not match event.namespace"#);
    }

    #[test]
    fn events_v1_are_strict() {
        let info = crate::registry().get("events.k8s.io", "v1", "events").unwrap();
        let ev = json!({"metadata": {"name": "e", "namespace": "default"}, "eventTime": "2024-01-01T00:00:00.000000Z",
            "regarding": {"kind": "Pod", "name": "p", "namespace": "default"},
            "reportingController": "example.com/ctl", "reportingInstance": "ctl-1", "action": "Create", "reason": "Created", "type": "Normal"});
        assert!(info.strategy.admit(info, Operation::Create, ev.clone(), None, false).is_ok());
        let mut bad = ev.clone();
        bad["type"] = json!("Odd");
        let err = info.strategy.admit(info, Operation::Create, bad, None, false).unwrap_err().to_string();
        assert_eq!(err, r#"type: Invalid value: "": has invalid value: Odd"#);
    }
}
