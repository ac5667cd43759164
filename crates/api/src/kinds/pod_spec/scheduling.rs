//! Scheduling constraints of a pod spec: affinity, node selector terms, tolerations, topology
//! spread constraints and scheduling gates, as upstream validates them.

use std::collections::BTreeSet;

use k8s_openapi::api::core::v1::{
    Affinity, NodeSelector, NodeSelectorRequirement, NodeSelectorTerm, PodAffinityTerm, Toleration,
    TopologySpreadConstraint, WeightedPodAffinityTerm,
};

use crate::field_errors::{FieldError, FieldErrors, FieldPath};
use crate::kinds::common::{NOT_POSITIVE_MSG, label_selector, qualified_name, s};
use crate::names;

pub fn validate_affinity(errs: &mut FieldErrors, a: Option<&Affinity>, path: &FieldPath) {
    let Some(a) = a else { return };
    if let Some(na) = &a.node_affinity {
        let np = path.child("nodeAffinity");
        if let Some(req) = &na.required_during_scheduling_ignored_during_execution {
            validate_node_selector(errs, req, false, &np.child("requiredDuringSchedulingIgnoredDuringExecution"));
        }
        for (i, t) in na.preferred_during_scheduling_ignored_during_execution.iter().flatten().enumerate() {
            let tp = np.child("preferredDuringSchedulingIgnoredDuringExecution").index(i);
            if t.weight <= 0 || t.weight > 100 {
                errs.push(FieldError::invalid(&tp.child("weight"), t.weight, "must be in the range 1-100"));
            }
            // Invalid label values are always tolerated in preferred terms.
            validate_node_selector_term(errs, &t.preference, true, &tp.child("preference"));
        }
    }
    for (terms, preferred, p) in [
        (
            a.pod_affinity.as_ref().and_then(|x| x.required_during_scheduling_ignored_during_execution.as_ref()),
            a.pod_affinity.as_ref().and_then(|x| x.preferred_during_scheduling_ignored_during_execution.as_ref()),
            path.child("podAffinity"),
        ),
        (
            a.pod_anti_affinity.as_ref().and_then(|x| x.required_during_scheduling_ignored_during_execution.as_ref()),
            a.pod_anti_affinity.as_ref().and_then(|x| x.preferred_during_scheduling_ignored_during_execution.as_ref()),
            path.child("podAntiAffinity"),
        ),
    ] {
        for (i, t) in terms.into_iter().flatten().enumerate() {
            validate_pod_affinity_term(errs, t, &p.child("requiredDuringSchedulingIgnoredDuringExecution").index(i));
        }
        for (i, w) in preferred.into_iter().flatten().enumerate() {
            validate_weighted_term(errs, w, &p.child("preferredDuringSchedulingIgnoredDuringExecution").index(i));
        }
    }
}

fn validate_weighted_term(errs: &mut FieldErrors, w: &WeightedPodAffinityTerm, path: &FieldPath) {
    if w.weight <= 0 || w.weight > 100 {
        errs.push(FieldError::invalid(&path.child("weight"), w.weight, "must be in the range 1-100"));
    }
    validate_pod_affinity_term(errs, &w.pod_affinity_term, &path.child("podAffinityTerm"));
}

fn validate_pod_affinity_term(errs: &mut FieldErrors, t: &PodAffinityTerm, path: &FieldPath) {
    label_selector(errs, t.label_selector.as_ref(), &path.child("labelSelector"));
    label_selector(errs, t.namespace_selector.as_ref(), &path.child("namespaceSelector"));
    for ns in t.namespaces.iter().flatten() {
        for m in names::is_dns1123_label(ns) {
            errs.push(FieldError::invalid(&path.child("namespace"), ns.as_str(), m));
        }
    }
    let match_keys = t.match_label_keys.as_deref().unwrap_or_default();
    let mismatch_keys = t.mismatch_label_keys.as_deref().unwrap_or_default();
    for (keys, field) in [(match_keys, "matchLabelKeys"), (mismatch_keys, "mismatchLabelKeys")] {
        if keys.is_empty() {
            continue;
        }
        if t.label_selector.is_none() {
            errs.push(FieldError::forbidden(&path.child(field), "must not be specified when labelSelector is not set"));
            continue;
        }
        for (i, k) in keys.iter().enumerate() {
            qualified_name(errs, k, &path.child(field).index(i));
        }
    }
    for (i, k) in match_keys.iter().enumerate() {
        if mismatch_keys.contains(k) {
            errs.push(FieldError::invalid(
                &path.child("matchLabelKeys").index(i),
                k.as_str(),
                "exists in both matchLabelKeys and mismatchLabelKeys",
            ));
        }
    }
    if t.topology_key.is_empty() {
        errs.push(FieldError::required(&path.child("topologyKey"), "can not be empty"));
    }
    qualified_name(errs, &t.topology_key, &path.child("topologyKey"));
}

/// A required node selector: at least one term, each term's requirements valid.
pub fn validate_node_selector(
    errs: &mut FieldErrors,
    sel: &NodeSelector,
    allow_invalid_values: bool,
    path: &FieldPath,
) {
    let tp = path.child("nodeSelectorTerms");
    if sel.node_selector_terms.is_empty() {
        errs.push(FieldError::required(&tp, "must have at least one node selector term"));
        return;
    }
    for (i, t) in sel.node_selector_terms.iter().enumerate() {
        validate_node_selector_term(errs, t, allow_invalid_values, &tp.index(i));
    }
}

fn validate_node_selector_term(
    errs: &mut FieldErrors,
    t: &NodeSelectorTerm,
    allow_invalid_values: bool,
    path: &FieldPath,
) {
    for (i, r) in t.match_expressions.iter().flatten().enumerate() {
        validate_node_selector_requirement(errs, r, allow_invalid_values, &path.child("matchExpressions").index(i));
    }
    for (i, r) in t.match_fields.iter().flatten().enumerate() {
        let p = path.child("matchFields").index(i);
        let values = r.values.as_deref().unwrap_or_default();
        match r.operator.as_str() {
            "In" | "NotIn" => {
                if values.len() != 1 {
                    errs.push(FieldError::required(
                        &p.child("values"),
                        "must be only one value when `operator` is 'In' or 'NotIn' for node field selector",
                    ));
                }
            }
            other => errs.push(FieldError::invalid(&p.child("operator"), other, "not a valid selector operator")),
        }
        if r.key != "metadata.name" {
            errs.push(FieldError::invalid(&p.child("key"), r.key.as_str(), "not a valid field selector key"));
        } else {
            for (j, v) in values.iter().enumerate() {
                for m in names::is_dns1123_subdomain(v) {
                    errs.push(FieldError::invalid(&p.child("values").index(j), v.as_str(), m));
                }
            }
        }
    }
}

fn validate_node_selector_requirement(
    errs: &mut FieldErrors,
    r: &NodeSelectorRequirement,
    allow_invalid_values: bool,
    path: &FieldPath,
) {
    let values = r.values.as_deref().unwrap_or_default();
    match r.operator.as_str() {
        "In" | "NotIn" => {
            if values.is_empty() {
                errs.push(FieldError::required(
                    &path.child("values"),
                    "must be specified when `operator` is 'In' or 'NotIn'",
                ));
            }
        }
        "Exists" | "DoesNotExist" => {
            if !values.is_empty() {
                errs.push(FieldError::forbidden(
                    &path.child("values"),
                    "may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
                ));
            }
        }
        "Gt" | "Lt" => {
            if values.len() != 1 {
                errs.push(FieldError::required(
                    &path.child("values"),
                    "must be specified single value when `operator` is 'Lt' or 'Gt'",
                ));
            }
        }
        other => errs.push(FieldError::invalid(&path.child("operator"), other, "not a valid selector operator")),
    }
    qualified_name(errs, &r.key, &path.child("key"));
    if !allow_invalid_values {
        for (i, v) in values.iter().enumerate() {
            for m in names::is_valid_label_value(v) {
                errs.push(FieldError::invalid(&path.child("values").index(i), v.as_str(), m));
            }
        }
    }
}

/// Upstream's `ValidateTolerations`.
pub fn validate_tolerations(errs: &mut FieldErrors, tolerations: &[Toleration], path: &FieldPath) {
    for (i, t) in tolerations.iter().enumerate() {
        let p = path.index(i);
        let key = s(&t.key);
        let op = s(&t.operator);
        let effect = s(&t.effect);
        let value = s(&t.value);
        if !key.is_empty() {
            qualified_name(errs, key, &p.child("key"));
        }
        if key.is_empty() && op != "Exists" {
            errs.push(FieldError::invalid(
                &p.child("operator"),
                op,
                "operator must be Exists when `key` is empty, which means \"match all values and all keys\"",
            ));
        }
        if t.toleration_seconds.is_some() && effect != "NoExecute" {
            errs.push(FieldError::invalid(
                &p.child("effect"),
                effect,
                "effect must be 'NoExecute' when `tolerationSeconds` is set",
            ));
        }
        match op {
            "Equal" | "" => {
                let msgs = names::is_valid_label_value(value);
                if !msgs.is_empty() {
                    errs.push(FieldError::invalid(&p.child("operator"), value, msgs.join(";")));
                }
            }
            "Exists" => {
                if !value.is_empty() {
                    errs.push(FieldError::invalid(
                        &p.child("operator"),
                        value,
                        "value must be empty when `operator` is 'Exists'",
                    ));
                }
            }
            other => errs.push(FieldError::not_supported(&p.child("operator"), other, &["Equal", "Exists"])),
        }
        if !effect.is_empty() {
            taint_effect(errs, effect, &p.child("effect"));
        }
    }
}

pub fn taint_effect(errs: &mut FieldErrors, effect: &str, path: &FieldPath) {
    const EFFECTS: &[&str] = &["NoSchedule", "PreferNoSchedule", "NoExecute"];
    if !EFFECTS.contains(&effect) {
        errs.push(FieldError::not_supported(path, effect, EFFECTS));
    }
}

/// Upstream's `validateTopologySpreadConstraints`.
pub fn validate_topology_spread(errs: &mut FieldErrors, constraints: &[TopologySpreadConstraint], path: &FieldPath) {
    for (i, c) in constraints.iter().enumerate() {
        let p = path.index(i);
        if c.max_skew <= 0 {
            errs.push(FieldError::invalid(&p.child("maxSkew"), c.max_skew, NOT_POSITIVE_MSG));
        }
        if c.topology_key.is_empty() {
            errs.push(FieldError::required(&p.child("topologyKey"), "can not be empty"));
        }
        let when = c.when_unsatisfiable.as_str();
        if when != "DoNotSchedule" && when != "ScheduleAnyway" {
            errs.push(FieldError::not_supported(
                &p.child("whenUnsatisfiable"),
                when,
                &["DoNotSchedule", "ScheduleAnyway"],
            ));
        }
        if constraints[i + 1..]
            .iter()
            .any(|o| o.topology_key == c.topology_key && o.when_unsatisfiable == c.when_unsatisfiable)
        {
            errs.push(FieldError::duplicate(
                &p.child("{topologyKey, whenUnsatisfiable}"),
                format!("{{{}, {}}}", c.topology_key, c.when_unsatisfiable),
            ));
        }
        if let Some(md) = c.min_domains {
            if md <= 0 {
                errs.push(FieldError::invalid(&p.child("minDomains"), md, NOT_POSITIVE_MSG));
            }
            if when != "DoNotSchedule" {
                errs.push(FieldError::invalid(
                    &p.child("minDomains"),
                    md,
                    format!("can only use minDomains if whenUnsatisfiable=DoNotSchedule, not {when}"),
                ));
            }
        }
        for (v, f) in [(&c.node_affinity_policy, "nodeAffinityPolicy"), (&c.node_taints_policy, "nodeTaintsPolicy")] {
            if let Some(v) = v.as_deref().filter(|v| *v != "Honor" && *v != "Ignore") {
                errs.push(FieldError::not_supported(&p.child(f), v, &["Honor", "Ignore"]));
            }
        }
        let keys = c.match_label_keys.as_deref().unwrap_or_default();
        if !keys.is_empty() {
            let mp = p.child("matchLabelKeys");
            let mut selector_keys = BTreeSet::new();
            match &c.label_selector {
                Some(sel) => {
                    selector_keys.extend(sel.match_labels.iter().flatten().map(|(k, _)| k.as_str()));
                    selector_keys.extend(sel.match_expressions.iter().flatten().map(|e| e.key.as_str()));
                }
                None => errs.push(FieldError::forbidden(&mp, "must not be specified when labelSelector is not set")),
            }
            for (j, k) in keys.iter().enumerate() {
                qualified_name(errs, k, &mp.index(j));
                if selector_keys.contains(k.as_str()) {
                    errs.push(FieldError::invalid(
                        &mp.index(j),
                        k.as_str(),
                        "exists in both matchLabelKeys and labelSelector",
                    ));
                }
            }
        }
        label_selector(errs, c.label_selector.as_ref(), &p.child("labelSelector"));
    }
}

/// Scheduling gates: qualified names, no duplicates.
pub fn validate_scheduling_gates(
    errs: &mut FieldErrors,
    gates: &[k8s_openapi::api::core::v1::PodSchedulingGate],
    path: &FieldPath,
) {
    let mut seen = BTreeSet::new();
    for (i, g) in gates.iter().enumerate() {
        qualified_name(errs, &g.name, &path.index(i));
        if !seen.insert(g.name.as_str()) {
            errs.push(FieldError::duplicate(&path.index(i), g.name.as_str()));
        }
    }
}
