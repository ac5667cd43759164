//! Cell formatting shared by the printers: ages, label maps and selectors, container lists.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Container, PodTemplateSpec};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, MicroTime, ObjectMeta, Time};
use serde_json::Value;

use super::Column;
use crate::selector::label::LabelSelector as Selector;
use crate::time::human_duration;

/// The wide CONTAINERS and IMAGES columns of kinds with a pod template.
pub const CONTAINERS: Column = Column::new("Containers", "string", "Names of each container in the template.");
pub const IMAGES: Column = Column::new("Images", "string", "Images referenced by each container in the template.");

/// Upstream's placeholder for an absent value in most columns.
pub const NONE: &str = "<none>";
/// Upstream's placeholder where a pointer field is unset.
pub const UNSET: &str = "<unset>";

/// Seconds since the epoch of an API timestamp.
pub fn secs(t: &Time) -> i64 {
    t.0.as_second()
}

pub fn micro_secs(t: &MicroTime) -> i64 {
    t.0.as_second()
}

/// How long ago `t` was, or `<unknown>` for a zero (absent) time, as kubectl prints ages.
pub fn since(t: Option<&Time>, now: i64) -> String {
    t.map_or_else(|| "<unknown>".to_string(), |t| human_duration(now - secs(t)))
}

pub fn since_micro(t: Option<&MicroTime>, now: i64) -> String {
    t.map_or_else(|| "<unknown>".to_string(), |t| human_duration(now - micro_secs(t)))
}

/// The NAME cell.
pub fn name(meta: &ObjectMeta) -> Value {
    meta.name.clone().unwrap_or_default().into()
}

/// `s`, or `<none>` when empty.
pub fn or_none(s: &str) -> String {
    if s.is_empty() { NONE.to_string() } else { s.to_string() }
}

/// The string of an optional field, empty when unset (Go's zero value).
pub fn opt(s: &Option<String>) -> &str {
    s.as_deref().unwrap_or("")
}

/// A quantity in upstream's canonical form (`1.5Gi` prints `1536Mi`), `0` when absent (Go's
/// zero quantity). Text that does not parse is shown as stored.
pub fn quantity(q: Option<&Quantity>) -> String {
    q.map_or_else(|| "0".to_string(), canonical)
}

pub fn canonical(q: &Quantity) -> String {
    crate::quantity::Quantity::parse(&q.0).map_or_else(|_| q.0.clone(), |p| p.to_canonical())
}

/// `a=1,b=2` sorted by key, or `<none>` (upstream `labels.FormatLabels`).
pub fn format_labels(labels: Option<&BTreeMap<String, String>>) -> String {
    let joined = labels.into_iter().flatten().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(",");
    or_none(&joined)
}

/// The string form of a structured selector: empty for a nil or empty selector, `Err` when the
/// selector is not valid (upstream `LabelSelectorAsSelector(..).String()`).
pub fn selector_string(sel: Option<&LabelSelector>) -> Result<String, ()> {
    let Some(sel) = sel else { return Ok(String::new()) };
    let json = serde_json::to_value(sel).map_err(|_| ())?;
    match Selector::from_structured(&json) {
        Ok(Some(s)) => Ok(s.to_string()),
        Ok(None) => Ok(String::new()),
        Err(_) => Err(()),
    }
}

/// A selector for display: `<none>` when it selects on nothing, `<error>` when invalid
/// (upstream `metav1.FormatLabelSelector`).
pub fn format_label_selector(sel: Option<&LabelSelector>) -> String {
    match selector_string(sel) {
        Ok(s) => or_none(&s),
        Err(()) => "<error>".to_string(),
    }
}

/// The CONTAINERS and IMAGES cells: names and images, comma separated.
pub fn container_cells(containers: &[Container]) -> (String, String) {
    let names = containers.iter().map(|c| c.name.as_str()).collect::<Vec<_>>().join(",");
    let images = containers.iter().map(|c| c.image.as_deref().unwrap_or("")).collect::<Vec<_>>().join(",");
    (names, images)
}

/// The containers of a pod template, none when the template or its spec is absent.
pub fn template_containers(template: Option<&PodTemplateSpec>) -> &[Container] {
    template.and_then(|t| t.spec.as_ref()).map_or(&[], |s| s.containers.as_slice())
}

/// The two container cells of a pod template, as JSON.
pub fn template_cells(template: Option<&PodTemplateSpec>) -> [Value; 2] {
    let (names, images) = container_cells(template_containers(template));
    [names.into(), images.into()]
}

/// The first `max` items joined, with ` + N more...` for the rest, or `<unset>` when there are
/// none (upstream `listWithMoreString`).
pub fn list_with_more(items: &[String], max: usize) -> String {
    let shown = items.iter().take(max).cloned().collect::<Vec<_>>().join(",");
    if items.len() > max {
        format!("{shown} + {} more...", items.len() - max)
    } else if shown.is_empty() {
        UNSET.to_string()
    } else {
        shown
    }
}

/// `True`, `False`, or `<unset>` for an optional flag (upstream `printBoolPtr`).
pub fn bool_ptr(b: Option<bool>) -> String {
    match b {
        Some(true) => "True".to_string(),
        Some(false) => "False".to_string(),
        None => UNSET.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selectors_read_like_upstream() {
        let sel: LabelSelector = serde_json::from_value(serde_json::json!({
            "matchLabels": {"b": "2", "a": "1"},
            "matchExpressions": [{"key": "c", "operator": "In", "values": ["y", "x"]}],
        }))
        .unwrap();
        assert_eq!(format_label_selector(Some(&sel)), "a=1,b=2,c in (x,y)");
        assert_eq!(format_label_selector(Some(&LabelSelector::default())), "<none>");
        assert_eq!(format_label_selector(None), "<none>");
        assert_eq!(selector_string(None), Ok(String::new()));
    }

    #[test]
    fn quantities_print_canonically() {
        assert_eq!(quantity(Some(&Quantity("1.5Gi".into()))), "1536Mi");
        assert_eq!(quantity(Some(&Quantity("bogus".into()))), "bogus");
        assert_eq!(quantity(None), "0");
    }

    #[test]
    fn lists_are_cut_after_max() {
        let items: Vec<String> = ["a", "b", "c", "d", "e"].map(String::from).to_vec();
        assert_eq!(list_with_more(&items, 3), "a,b,c + 2 more...");
        assert_eq!(list_with_more(&items[..2], 3), "a,b");
        assert_eq!(list_with_more(&[], 3), "<unset>");
    }
}
