//! Label selectors of workload specs, parsed once with the API's own selector code.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector as SpecSelector, ObjectMeta};
use kube::Resource;
use skiff_api::selector::label::LabelSelector;
use skiff_runtime::{Informer, key_of};

use crate::error::{Error, Result};

/// Parse a structured selector (`matchLabels` + `matchExpressions`). Workload controllers
/// treat an absent or empty selector as matching nothing, as upstream does, so they never
/// adopt every pod of a namespace.
pub fn parse(sel: Option<&SpecSelector>) -> Result<LabelSelector> {
    let Some(sel) = sel else { return Ok(LabelSelector::nothing()) };
    let value = serde_json::to_value(sel).map_err(|e| Error::Invalid(e.to_string()))?;
    match LabelSelector::from_structured(&value) {
        Ok(Some(s)) if !s.is_empty() => Ok(s),
        Ok(_) => Ok(LabelSelector::nothing()),
        Err(e) => Err(Error::Invalid(format!("invalid label selector: {e}"))),
    }
}

/// A selector requiring exactly `labels` (a ReplicationController's map selector).
pub fn from_map(labels: &BTreeMap<String, String>) -> LabelSelector {
    if labels.is_empty() {
        return LabelSelector::nothing();
    }
    let value = serde_json::json!({ "matchLabels": labels });
    LabelSelector::from_structured(&value).ok().flatten().unwrap_or_else(LabelSelector::nothing)
}

/// Whether `labels` (absent = none) match `sel`.
pub fn matches(sel: &LabelSelector, labels: Option<&BTreeMap<String, String>>) -> bool {
    sel.matches(|k| labels.and_then(|l| l.get(k)).map(String::as_str))
}

/// Keys of the objects in `target`'s namespace whose selector (`selector_of`) matches
/// `target`'s labels: the owners that may adopt an orphan, the budgets covering a pod.
pub fn selecting<K: Resource>(
    informer: &Informer<K>,
    target: &ObjectMeta,
    selector_of: impl Fn(&K) -> Result<LabelSelector>,
) -> Vec<String> {
    let namespace = target.namespace.as_deref().unwrap_or_default();
    informer
        .list_namespace(namespace)
        .iter()
        .filter(|o| selector_of(o).is_ok_and(|sel| matches(&sel, target.labels.as_ref())))
        .map(|o| key_of(&**o))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_or_absent_selectors_match_nothing() {
        let labels: BTreeMap<String, String> = [("app".to_string(), "web".to_string())].into();
        assert!(!matches(&parse(None).unwrap(), Some(&labels)));
        assert!(!matches(&parse(Some(&SpecSelector::default())).unwrap(), Some(&labels)));
        let sel = SpecSelector { match_labels: Some(labels.clone()), ..Default::default() };
        assert!(matches(&parse(Some(&sel)).unwrap(), Some(&labels)));
        assert!(matches(&from_map(&labels), Some(&labels)));
        assert!(!matches(&from_map(&labels), None));
    }
}
