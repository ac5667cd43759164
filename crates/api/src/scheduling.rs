//! Placement rules the scheduler and the controllers both apply: tolerations against
//! taints, and node selectors / required node affinity against a node's labels and name.

use k8s_openapi::api::core::v1::{NodeSelectorRequirement, NodeSelectorTerm, PodSpec, Taint, Toleration};

/// Whether `t` tolerates `taint` (upstream's `Toleration.ToleratesTaint`): same effect (or
/// any), same key (or any, with no key), and per the operator the same value or any.
pub fn tolerates(t: &Toleration, taint: &Taint) -> bool {
    let effect = t.effect.as_deref().unwrap_or("");
    if !effect.is_empty() && effect != taint.effect {
        return false;
    }
    let key = t.key.as_deref().unwrap_or("");
    if !key.is_empty() && key != taint.key {
        return false;
    }
    match t.operator.as_deref().unwrap_or("Equal") {
        "Exists" => true,
        "Equal" | "" => t.value.as_deref().unwrap_or("") == taint.value.as_deref().unwrap_or(""),
        _ => false,
    }
}

/// Whether any of `tolerations` tolerates `taint`.
pub fn tolerated(tolerations: &[Toleration], taint: &Taint) -> bool {
    tolerations.iter().any(|t| tolerates(t, taint))
}

/// The first taint with one of `effects` that no toleration covers.
pub fn untolerated<'a>(taints: &'a [Taint], tolerations: &[Toleration], effects: &[&str]) -> Option<&'a Taint> {
    taints.iter().find(|taint| effects.contains(&taint.effect.as_str()) && !tolerated(tolerations, taint))
}

fn requirement_matches(r: &NodeSelectorRequirement, value: Option<&str>) -> bool {
    let values = r.values.as_deref().unwrap_or(&[]);
    match r.operator.as_str() {
        "In" => value.is_some_and(|v| values.iter().any(|x| x == v)),
        "NotIn" => value.is_none_or(|v| !values.iter().any(|x| x == v)),
        "Exists" => value.is_some(),
        "DoesNotExist" => value.is_none(),
        "Gt" | "Lt" => {
            let (Some(v), [bound]) = (value, values) else { return false };
            let (Ok(v), Ok(bound)) = (v.parse::<i64>(), bound.parse::<i64>()) else { return false };
            if r.operator == "Gt" { v > bound } else { v < bound }
        }
        _ => false,
    }
}

/// A term matches when all its label expressions (read through `label`) and field
/// expressions (only `metadata.name`) do; a term with neither matches nothing.
pub fn term_matches<'a>(term: &NodeSelectorTerm, label: impl Fn(&str) -> Option<&'a str>, name: &str) -> bool {
    let exprs = term.match_expressions.as_deref().unwrap_or(&[]);
    let fields = term.match_fields.as_deref().unwrap_or(&[]);
    if exprs.is_empty() && fields.is_empty() {
        return false;
    }
    exprs.iter().all(|r| requirement_matches(r, label(&r.key)))
        && fields.iter().all(|r| r.key == "metadata.name" && requirement_matches(r, Some(name)))
}

/// `spec.nodeSelector` and the required node affinity terms (ORed) both hold for the node
/// with these labels and this name.
pub fn required_node_affinity_matches<'a>(
    spec: &PodSpec,
    label: impl Fn(&str) -> Option<&'a str> + Copy,
    name: &str,
) -> bool {
    let selector_ok = spec.node_selector.iter().flatten().all(|(k, v)| label(k) == Some(v.as_str()));
    selector_ok
        && spec
            .affinity
            .as_ref()
            .and_then(|a| a.node_affinity.as_ref())
            .and_then(|na| na.required_during_scheduling_ignored_during_execution.as_ref())
            .is_none_or(|req| req.node_selector_terms.iter().any(|t| term_matches(t, label, name)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn taint(key: &str, value: &str, effect: &str) -> Taint {
        Taint { key: key.into(), value: Some(value.into()), effect: effect.into(), time_added: None }
    }

    fn tol(key: &str, op: &str, value: &str, effect: &str) -> Toleration {
        let s = |v: &str| (!v.is_empty()).then(|| v.to_string());
        Toleration { key: s(key), operator: s(op), value: s(value), effect: s(effect), toleration_seconds: None }
    }

    #[test]
    fn operators_keys_values_and_effects() {
        let t = taint("dedicated", "gpu", "NoExecute");
        assert!(tolerates(&tol("dedicated", "Equal", "gpu", "NoExecute"), &t));
        assert!(tolerates(&tol("dedicated", "Equal", "gpu", ""), &t));
        assert!(tolerates(&tol("dedicated", "", "gpu", ""), &t));
        assert!(!tolerates(&tol("dedicated", "Equal", "cpu", ""), &t));
        assert!(!tolerates(&tol("dedicated", "Equal", "gpu", "NoSchedule"), &t));
        assert!(tolerates(&tol("dedicated", "Exists", "", ""), &t));
        assert!(tolerates(&tol("", "Exists", "", ""), &t), "empty key with Exists tolerates everything");
        assert!(!tolerates(&tol("other", "Exists", "", ""), &t));
        assert!(!tolerates(&tol("dedicated", "Exists", "", "NoSchedule"), &t));
        let taints = [taint("a", "", "NoSchedule"), t.clone()];
        assert_eq!(untolerated(&taints, &[tol("a", "Exists", "", "")], &["NoSchedule", "NoExecute"]), Some(&t));
    }

    #[test]
    fn terms_compare_labels_integers_and_the_name() {
        let labels = [("cores", "8")];
        let label = |k: &str| labels.iter().find(|(l, _)| *l == k).map(|(_, v)| *v);
        let term = |op: &str, v: &str| NodeSelectorTerm {
            match_expressions: Some(vec![NodeSelectorRequirement {
                key: "cores".into(),
                operator: op.into(),
                values: Some(vec![v.into()]),
            }]),
            match_fields: None,
        };
        assert!(term_matches(&term("Gt", "4"), label, "n1"));
        assert!(!term_matches(&term("Lt", "4"), label, "n1"));
        assert!(!term_matches(&term("Gt", "x"), label, "n1"));
        let by_name = NodeSelectorTerm {
            match_expressions: None,
            match_fields: Some(vec![NodeSelectorRequirement {
                key: "metadata.name".into(),
                operator: "In".into(),
                values: Some(vec!["n1".into()]),
            }]),
        };
        assert!(term_matches(&by_name, label, "n1"));
        assert!(!term_matches(&by_name, label, "n2"));
        assert!(!term_matches(&NodeSelectorTerm::default(), label, "n1"));
    }
}
