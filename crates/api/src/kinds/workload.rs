//! What the apps workloads (Deployment, ReplicaSet, DaemonSet, StatefulSet) share: selector and
//! template rules, int-or-percent rollout parameters, and `Go`-style renderings of strategies.

use k8s_openapi::api::core::v1::PodTemplateSpec;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::field_errors::{FieldError, FieldErrors, FieldPath};
use crate::kinds::common::{
    PERCENT_MSG, go_int_or_string, invalid_repr, is_valid_percent, label_selector, nonnegative,
    selector_must_match_template,
};
use crate::kinds::pod_spec::{drop_disabled, validate_pod_template_spec};

/// k8s-openapi decodes an absent selector as an empty one; with neither field present we treat
/// it as absent (upstream's `nil`), with an explicit empty `matchLabels` as the empty selector.
pub fn present_selector(sel: &LabelSelector) -> Option<&LabelSelector> {
    if sel.match_labels.is_none() && sel.match_expressions.is_none() { None } else { Some(sel) }
}

/// Required, valid, and not empty (`empty selector is invalid for <what>`).
pub fn validate_required_selector(errs: &mut FieldErrors, sel: Option<&LabelSelector>, what: &str, path: &FieldPath) {
    match sel {
        None => errs.push(FieldError::required(path, "")),
        Some(sel) => {
            label_selector(errs, Some(sel), path);
            if crate::kinds::common::selector_is_empty(sel) {
                errs.push(invalid_repr(
                    path,
                    crate::kinds::common::go_label_selector(sel),
                    &format!("empty selector is invalid for {what}"),
                ));
            }
        }
    }
}

/// Upstream's `ValidatePodTemplateSpecForReplicaSet` (also used by Deployments, and by
/// DaemonSets and ReplicationControllers with their own names in `owner`).
pub fn validate_replicated_template(
    errs: &mut FieldErrors,
    template: &PodTemplateSpec,
    sel: Option<&LabelSelector>,
    owner: &str,
    path: &FieldPath,
) {
    let labels = template.metadata.as_ref().and_then(|m| m.labels.as_ref());
    selector_must_match_template(errs, sel, labels, &path.child("metadata").child("labels"));
    validate_pod_template_spec(errs, template, path);
    restart_always_no_deadline(errs, template, owner, path);
}

/// Long-running workloads restart their pods always and have no deadline.
pub fn restart_always_no_deadline(errs: &mut FieldErrors, template: &PodTemplateSpec, owner: &str, path: &FieldPath) {
    let spec = template.spec.as_ref();
    let rp = spec.and_then(|s| s.restart_policy.as_deref()).unwrap_or("");
    let sp = path.child("spec");
    if rp != "Always" {
        errs.push(FieldError::not_supported(&sp.child("restartPolicy"), rp, &["Always"]));
    }
    if spec.is_some_and(|s| s.active_deadline_seconds.is_some()) {
        errs.push(FieldError::forbidden(
            &sp.child("activeDeadlineSeconds"),
            format!("activeDeadlineSeconds in {owner} is not Supported"),
        ));
    }
}

/// Template fields of features off by default, dropped unless the old template used them.
pub fn drop_disabled_template(t: &mut PodTemplateSpec, old: Option<&PodTemplateSpec>) {
    if let Some(spec) = &mut t.spec {
        drop_disabled(spec, old.and_then(|o| o.spec.as_ref()));
    }
}

/// The value of an int-or-percent as upstream's `getIntOrPercentValue` reads it: the number of
/// a percent, the int, or 0 for anything unparseable.
pub fn int_or_percent_value(v: &IntOrString) -> i64 {
    match v {
        IntOrString::Int(i) => i64::from(*i),
        IntOrString::String(s) => {
            let digits = if is_valid_percent(s) { &s[..s.len() - 1] } else { s.as_str() };
            digits.parse().unwrap_or(0)
        }
    }
}

/// Upstream's `ValidatePositiveIntOrPercent`.
pub fn positive_int_or_percent(errs: &mut FieldErrors, v: &IntOrString, path: &FieldPath) {
    match v {
        IntOrString::String(s) if !is_valid_percent(s) => errs.push(invalid_repr(path, s.clone(), PERCENT_MSG)),
        IntOrString::String(_) => {}
        IntOrString::Int(i) => nonnegative(errs, i64::from(*i), path),
    }
}

/// Upstream's `IsNotMoreThan100Percent`.
pub fn not_more_than_100_percent(errs: &mut FieldErrors, v: &IntOrString, path: &FieldPath) {
    if let IntOrString::String(s) = v
        && is_valid_percent(s)
        && int_or_percent_value(v) > 100
    {
        errs.push(invalid_repr(path, s.clone(), "must not be greater than 100%"));
    }
}

/// `(*apps.X)(nil)` or a brace rendering of a rolling-update struct, for strategy errors.
pub fn go_rolling_update(type_name: &str, fields: Option<Vec<(&str, Option<&IntOrString>)>>) -> String {
    match fields {
        None => format!("(*apps.{type_name})(nil)"),
        Some(fields) => {
            let parts: Vec<String> = fields
                .iter()
                .map(|(k, v)| {
                    format!("{k}:{}", v.map_or_else(|| "(*intstr.IntOrString)(nil)".to_string(), go_int_or_string))
                })
                .collect();
            format!("&apps.{type_name}{{{}}}", parts.join(", "))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn int_or_percent() {
        assert_eq!(int_or_percent_value(&IntOrString::String("25%".into())), 25);
        assert_eq!(int_or_percent_value(&IntOrString::Int(3)), 3);
        assert_eq!(int_or_percent_value(&IntOrString::String("abc".into())), 0);
        let mut errs = FieldErrors::new();
        positive_int_or_percent(&mut errs, &IntOrString::String("x%".into()), &FieldPath::new("m"));
        not_more_than_100_percent(&mut errs, &IntOrString::String("120%".into()), &FieldPath::new("m"));
        assert_eq!(errs.len(), 2);
        assert!(errs.to_string().contains("m: Invalid value: 120%: must not be greater than 100%"));
    }
}
