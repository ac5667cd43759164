//! The status conditions a terminating namespace reports while its content goes, with
//! upstream's types, reasons and messages (pkg/controller/namespace/deletion). Each of the
//! five types is always present: `True` with what is wrong, or `False` with the
//! all-is-well reason. (Group versions are parsed by discovery itself, so a parsing failure
//! shows as a discovery failure and the parsing condition always reads `False`.)

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{NamespaceCondition, NamespaceStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

pub const DISCOVERY_FAILURE: &str = "NamespaceDeletionDiscoveryFailure";
pub const GROUP_VERSION_PARSING_FAILURE: &str = "NamespaceDeletionGroupVersionParsingFailure";
pub const CONTENT_FAILURE: &str = "NamespaceDeletionContentFailure";
pub const CONTENT_REMAINING: &str = "NamespaceContentRemaining";
pub const FINALIZERS_REMAINING: &str = "NamespaceFinalizersRemaining";

/// Every type the controller keeps, in upstream's order, with its all-is-well reason and
/// message.
const KEPT: &[(&str, &str, &str)] = &[
    (DISCOVERY_FAILURE, "ResourcesDiscovered", "All resources successfully discovered"),
    (GROUP_VERSION_PARSING_FAILURE, "ParsedGroupVersions", "All legacy kube types successfully parsed"),
    (CONTENT_FAILURE, "ContentDeleted", "All content successfully deleted, may be waiting on finalization"),
    (CONTENT_REMAINING, "ContentRemoved", "All content successfully removed"),
    (FINALIZERS_REMAINING, "ContentHasNoFinalizers", "All content-preserving finalizers finished"),
];

/// What is left in a namespace after a round of deletes.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Remaining {
    /// By `plural.group`, how many objects are still there.
    pub by_resource: BTreeMap<String, usize>,
    /// By finalizer, how many of those objects still carry it.
    pub by_finalizer: BTreeMap<String, usize>,
}

/// The problems of one round, turned into conditions by [`Conditions::apply`].
#[derive(Debug, Default)]
pub struct Conditions {
    failing: Vec<(&'static str, &'static str, String)>,
    content_errors: Vec<String>,
}

impl Conditions {
    pub fn discovery_failed(&mut self, message: String) {
        self.failing.push((DISCOVERY_FAILURE, "DiscoveryFailed", message));
    }

    pub fn content_failed(&mut self, message: String) {
        self.content_errors.push(message);
    }

    pub fn remaining(&mut self, r: &Remaining) {
        let counted = |m: &BTreeMap<String, usize>, what: &dyn Fn(&str, usize) -> String| {
            let mut v: Vec<String> = m.iter().filter(|(_, n)| **n > 0).map(|(k, n)| what(k, *n)).collect();
            v.sort();
            v.join(", ")
        };
        if !r.by_resource.is_empty() {
            let list = counted(&r.by_resource, &|res, n| format!("{res} has {n} resource instances"));
            self.failing.push((
                CONTENT_REMAINING,
                "SomeResourcesRemain",
                format!("Some resources are remaining: {list}"),
            ));
        }
        if !r.by_finalizer.is_empty() {
            let list = counted(&r.by_finalizer, &|f, n| format!("{f} in {n} resource instances"));
            self.failing.push((
                FINALIZERS_REMAINING,
                "SomeFinalizersRemain",
                format!("Some content in the namespace has finalizers remaining: {list}"),
            ));
        }
    }

    /// Bring `status` up to date; whether anything changed. The transition time moves only
    /// when a condition's status flips.
    pub fn apply(mut self, status: &mut NamespaceStatus, now: &Time) -> bool {
        if !self.content_errors.is_empty() {
            self.content_errors.sort();
            let message = format!(
                "Failed to delete all resource types, {} remaining: {}",
                self.content_errors.len(),
                self.content_errors.join(", ")
            );
            self.failing.push((CONTENT_FAILURE, "ContentDeletionFailed", message));
        }
        let conditions = status.conditions.get_or_insert_with(Vec::new);
        let mut changed = false;
        for (kind, ok_reason, ok_message) in KEPT {
            let (status, reason, message) = match self.failing.iter().find(|(k, _, _)| k == kind) {
                Some((_, reason, message)) => ("True", *reason, message.as_str()),
                None => ("False", *ok_reason, *ok_message),
            };
            match conditions.iter_mut().find(|c| c.type_ == *kind) {
                None => {
                    conditions.push(NamespaceCondition {
                        type_: kind.to_string(),
                        status: status.into(),
                        reason: Some(reason.into()),
                        message: Some(message.into()),
                        last_transition_time: Some(now.clone()),
                    });
                    changed = true;
                }
                Some(c) => {
                    let same = c.status == status
                        && c.reason.as_deref() == Some(reason)
                        && c.message.as_deref() == Some(message);
                    if !same {
                        if c.status != status {
                            c.last_transition_time = Some(now.clone());
                        }
                        c.status = status.into();
                        c.reason = Some(reason.into());
                        c.message = Some(message.into());
                        changed = true;
                    }
                }
            }
        }
        changed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> Time {
        Time("2026-01-01T00:00:00Z".parse().unwrap())
    }

    fn find<'a>(s: &'a NamespaceStatus, kind: &str) -> &'a NamespaceCondition {
        s.conditions.iter().flatten().find(|c| c.type_ == kind).unwrap()
    }

    #[test]
    fn all_five_types_are_reported_false_when_all_is_well() {
        let mut s = NamespaceStatus::default();
        assert!(Conditions::default().apply(&mut s, &now()));
        let types: Vec<&str> = s.conditions.iter().flatten().map(|c| c.type_.as_str()).collect();
        assert_eq!(types, KEPT.iter().map(|k| k.0).collect::<Vec<_>>());
        let f = find(&s, FINALIZERS_REMAINING);
        assert_eq!((f.status.as_str(), f.reason.as_deref()), ("False", Some("ContentHasNoFinalizers")));
        assert!(!Conditions::default().apply(&mut s, &now()), "nothing changed the second time");
    }

    #[test]
    fn remaining_content_and_finalizers_are_counted_in_upstreams_words() {
        let mut s = NamespaceStatus::default();
        let mut c = Conditions::default();
        c.remaining(&Remaining {
            by_resource: [("configmaps.".to_string(), 2), ("pods.".to_string(), 1)].into(),
            by_finalizer: [("example.com/hold".to_string(), 2)].into(),
        });
        assert!(c.apply(&mut s, &now()));
        let r = find(&s, CONTENT_REMAINING);
        assert_eq!(r.status, "True");
        assert_eq!(r.reason.as_deref(), Some("SomeResourcesRemain"));
        assert_eq!(
            r.message.as_deref(),
            Some("Some resources are remaining: configmaps. has 2 resource instances, pods. has 1 resource instances")
        );
        let f = find(&s, FINALIZERS_REMAINING);
        assert_eq!(f.reason.as_deref(), Some("SomeFinalizersRemain"));
        assert_eq!(
            f.message.as_deref(),
            Some("Some content in the namespace has finalizers remaining: example.com/hold in 2 resource instances")
        );
    }

    #[test]
    fn failures_become_true_conditions_and_content_errors_are_joined() {
        let mut s = NamespaceStatus::default();
        let mut c = Conditions::default();
        c.discovery_failed("boom".into());
        c.content_failed("b failed".into());
        c.content_failed("a failed".into());
        c.apply(&mut s, &now());
        let d = find(&s, DISCOVERY_FAILURE);
        assert_eq!(
            (d.status.as_str(), d.reason.as_deref(), d.message.as_deref()),
            ("True", Some("DiscoveryFailed"), Some("boom"))
        );
        let f = find(&s, CONTENT_FAILURE);
        assert_eq!(f.reason.as_deref(), Some("ContentDeletionFailed"));
        assert_eq!(f.message.as_deref(), Some("Failed to delete all resource types, 2 remaining: a failed, b failed"));
    }

    #[test]
    fn the_transition_time_moves_only_when_the_status_flips() {
        let mut s = NamespaceStatus::default();
        let mut c = Conditions::default();
        c.remaining(&Remaining { by_resource: [("pods.".to_string(), 1)].into(), ..Default::default() });
        c.apply(&mut s, &now());
        let later = Time("2026-01-01T00:01:00Z".parse().unwrap());
        let mut c = Conditions::default();
        c.remaining(&Remaining { by_resource: [("pods.".to_string(), 2)].into(), ..Default::default() });
        assert!(c.apply(&mut s, &later));
        assert_eq!(find(&s, CONTENT_REMAINING).last_transition_time, Some(now()));
        assert!(Conditions::default().apply(&mut s, &later));
        assert_eq!(find(&s, CONTENT_REMAINING).last_transition_time, Some(later));
    }
}
