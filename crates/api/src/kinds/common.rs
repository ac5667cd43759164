//! Small validators shared by many kinds, worded as upstream's `apimachinery` helpers are, plus
//! the rendering of values the way Go's `%#v` prints them in field errors.
//!
//! Upstream prints a bad value with `%#v` when it is not a string, number or `fmt.Stringer`, so a
//! label map reads `map[string]string{"app":"web"}`. kubectl users see those exact texts, so the
//! few shapes that appear in common errors are rendered here rather than as JSON.

use std::collections::BTreeMap;
use std::net::Ipv6Addr;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde_json::Value;

use crate::field_errors::{FieldError, FieldErrorType, FieldErrors, FieldPath};
use crate::names;

pub const NEGATIVE_MSG: &str = "must be greater than or equal to 0";
pub const IMMUTABLE_MSG: &str = "field is immutable";
pub const NOT_POSITIVE_MSG: &str = "must be greater than zero";
/// Total size of all annotations, as upstream limits it.
const TOTAL_ANNOTATION_SIZE_LIMIT: usize = 256 * 1024;

/// `path: Invalid value: <repr>: detail`, for values upstream prints with `%#v` or `String()`.
pub fn invalid_repr(path: &FieldPath, repr: impl Into<String>, detail: &str) -> FieldError {
    let repr = repr.into();
    FieldError { kind: FieldErrorType::Invalid, field: path.clone(), value: None, detail: format!("{repr}: {detail}") }
}

/// `path: Unsupported value: <repr>: supported values: "a", "b"`, for non-string values.
pub fn not_supported_repr(path: &FieldPath, repr: impl Into<String>, supported: &[&str]) -> FieldError {
    let quoted: Vec<String> = supported.iter().map(|s| format!("{s:?}")).collect();
    FieldError {
        kind: FieldErrorType::NotSupported,
        field: path.clone(),
        value: None,
        detail: format!("{}: supported values: {}", repr.into(), quoted.join(", ")),
    }
}

/// `path: Invalid value: <value>: field is immutable`.
pub fn immutable(path: &FieldPath, value: impl Into<Value>) -> FieldError {
    FieldError::invalid(path, value, IMMUTABLE_MSG)
}

/// Upstream's `ValidateNonnegativeField`.
pub fn nonnegative(errs: &mut FieldErrors, value: i64, path: &FieldPath) {
    if value < 0 {
        errs.push(FieldError::invalid(path, value, NEGATIVE_MSG));
    }
}

/// Push one `Invalid` per message of a syntax check.
fn push_all(errs: &mut FieldErrors, path: &FieldPath, value: &str, msgs: Vec<String>) {
    for m in msgs {
        errs.push(FieldError::invalid(path, value, m));
    }
}

pub fn dns1123_label(errs: &mut FieldErrors, value: &str, path: &FieldPath) {
    push_all(errs, path, value, names::is_dns1123_label(value));
}

pub fn dns1123_subdomain(errs: &mut FieldErrors, value: &str, path: &FieldPath) {
    push_all(errs, path, value, names::is_dns1123_subdomain(value));
}

pub fn dns1035_label(errs: &mut FieldErrors, value: &str, path: &FieldPath) {
    push_all(errs, path, value, names::is_dns1035_label(value));
}

pub fn qualified_name(errs: &mut FieldErrors, value: &str, path: &FieldPath) {
    push_all(errs, path, value, names::is_qualified_name(value));
}

/// Upstream's `ValidateLabels`: key problems and value problems, both reported at `path`.
pub fn labels(errs: &mut FieldErrors, labels: Option<&BTreeMap<String, String>>, path: &FieldPath) {
    for (k, v) in labels.into_iter().flatten() {
        qualified_name(errs, k, path);
        push_all(errs, path, v, names::is_valid_label_value(v));
    }
}

/// Upstream's `ValidateAnnotations` for embedded metadata (pod templates); top-level metadata is
/// validated generically.
pub fn annotations(errs: &mut FieldErrors, annotations: Option<&BTreeMap<String, String>>, path: &FieldPath) {
    let mut total = 0;
    for (k, v) in annotations.into_iter().flatten() {
        push_all(errs, path, k, names::is_qualified_name(&k.to_lowercase()));
        total += k.len() + v.len();
    }
    if total > TOTAL_ANNOTATION_SIZE_LIMIT {
        errs.push(FieldError::too_long(path, TOTAL_ANNOTATION_SIZE_LIMIT));
    }
}

/// Upstream's `ValidateLabelSelector` (structured form).
pub fn label_selector(errs: &mut FieldErrors, sel: Option<&LabelSelector>, path: &FieldPath) {
    let Some(sel) = sel else { return };
    labels(errs, sel.match_labels.as_ref(), &path.child("matchLabels"));
    for (i, req) in sel.match_expressions.iter().flatten().enumerate() {
        let p = path.child("matchExpressions").index(i);
        let values = req.values.as_deref().unwrap_or_default();
        match req.operator.as_str() {
            "In" | "NotIn" => {
                if values.is_empty() {
                    errs.push(FieldError::required(
                        &p.child("values"),
                        "must be specified when `operator` is 'In' or 'NotIn'",
                    ));
                }
            }
            "Exists" | "DoesNotExist" => {
                if !values.is_empty() {
                    errs.push(FieldError::forbidden(
                        &p.child("values"),
                        "may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
                    ));
                }
            }
            other => errs.push(FieldError::invalid(&p.child("operator"), other, "not a valid selector operator")),
        }
        qualified_name(errs, &req.key, &p.child("key"));
        for (j, v) in values.iter().enumerate() {
            push_all(errs, &p.child("values").index(j), v, names::is_valid_label_value(v));
        }
    }
}

/// Whether a structured selector has no requirements at all.
pub fn selector_is_empty(sel: &LabelSelector) -> bool {
    sel.match_labels.as_ref().is_none_or(BTreeMap::is_empty) && sel.match_expressions.as_ref().is_none_or(Vec::is_empty)
}

/// Whether `labels` satisfy a structured selector; `None` when the selector cannot be converted
/// (an unknown operator), where upstream skips the match check.
pub fn selector_matches(sel: &LabelSelector, labels: Option<&BTreeMap<String, String>>) -> Option<bool> {
    let get = |k: &str| labels.and_then(|l| l.get(k));
    for (k, v) in sel.match_labels.iter().flatten() {
        if get(k) != Some(v) {
            return Some(false);
        }
    }
    for req in sel.match_expressions.iter().flatten() {
        let values = req.values.as_deref().unwrap_or_default();
        let have = get(&req.key);
        let ok = match req.operator.as_str() {
            "In" => have.is_some_and(|v| values.contains(v)),
            "NotIn" => have.is_none_or(|v| !values.contains(v)),
            "Exists" => have.is_some(),
            "DoesNotExist" => have.is_none(),
            _ => return None,
        };
        if !ok {
            return Some(false);
        }
    }
    Some(true)
}

/// Go's `%q` for a string (close enough: Rust's debug quoting agrees on printable text).
pub fn go_quote(s: &str) -> String {
    format!("{s:?}")
}

/// `map[string]string{"a":"b", "c":"d"}`, or `map[string]string(nil)` for an absent map.
pub fn go_string_map(map: Option<&BTreeMap<String, String>>) -> String {
    match map {
        None => "map[string]string(nil)".to_string(),
        Some(m) => {
            let parts: Vec<String> = m.iter().map(|(k, v)| format!("{}:{}", go_quote(k), go_quote(v))).collect();
            format!("map[string]string{{{}}}", parts.join(", "))
        }
    }
}

/// `[]string{"a", "b"}`, or `[]string(nil)`.
pub fn go_string_slice(v: Option<&[String]>) -> String {
    match v {
        None => "[]string(nil)".to_string(),
        Some(items) => {
            let parts: Vec<String> = items.iter().map(|s| go_quote(s)).collect();
            format!("[]string{{{}}}", parts.join(", "))
        }
    }
}

/// A label selector as upstream prints it (`v1.LabelSelector{MatchLabels:..., MatchExpressions:...}`).
pub fn go_label_selector(sel: &LabelSelector) -> String {
    let exprs = match &sel.match_expressions {
        None => "[]v1.LabelSelectorRequirement(nil)".to_string(),
        Some(list) => {
            let parts: Vec<String> = list
                .iter()
                .map(|r| {
                    format!(
                        "v1.LabelSelectorRequirement{{Key:{}, Operator:{}, Values:{}}}",
                        go_quote(&r.key),
                        go_quote(&r.operator),
                        go_string_slice(r.values.as_deref())
                    )
                })
                .collect();
            format!("[]v1.LabelSelectorRequirement{{{}}}", parts.join(", "))
        }
    };
    format!("v1.LabelSelector{{MatchLabels:{}, MatchExpressions:{}}}", go_string_map(sel.match_labels.as_ref()), exprs)
}

/// An int-or-string as upstream prints it (its `String()`: bare `25%` or `1`).
pub fn go_int_or_string(v: &IntOrString) -> String {
    match v {
        IntOrString::Int(i) => i.to_string(),
        IntOrString::String(s) => s.clone(),
    }
}

/// The common "selector must match the template labels" check. An absent selector matches
/// nothing (upstream's `labels.Nothing()`), an empty one everything; a selector that cannot be
/// converted (unknown operator) is skipped and reported as `false`.
pub fn selector_must_match_template(
    errs: &mut FieldErrors,
    sel: Option<&LabelSelector>,
    template_labels: Option<&BTreeMap<String, String>>,
    labels_path: &FieldPath,
) -> bool {
    let matches = match sel {
        None => Some(false),
        Some(sel) if selector_is_empty(sel) => Some(true),
        Some(sel) => selector_matches(sel, template_labels),
    };
    if matches == Some(false) {
        errs.push(invalid_repr(
            labels_path,
            go_string_map(template_labels),
            "`selector` does not match template `labels`",
        ));
    }
    matches.is_some()
}

/// Selectors compared as upstream's semantic equality does (absent and empty lists are equal).
pub fn selectors_equal(a: Option<&LabelSelector>, b: Option<&LabelSelector>) -> bool {
    let norm = |s: Option<&LabelSelector>| {
        s.map(|s| {
            (
                s.match_labels.clone().unwrap_or_default(),
                s.match_expressions
                    .clone()
                    .unwrap_or_default()
                    .into_iter()
                    .map(|r| (r.key, r.operator, r.values.unwrap_or_default()))
                    .collect::<Vec<_>>(),
            )
        })
    };
    norm(a) == norm(b)
}

/// `spec.selector: Invalid value: v1.LabelSelector{...}: field is immutable`.
pub fn selector_immutable(
    errs: &mut FieldErrors,
    new: Option<&LabelSelector>,
    old: Option<&LabelSelector>,
    path: &FieldPath,
) {
    if !selectors_equal(new, old) {
        let repr = new.map_or_else(|| "null".to_string(), go_label_selector);
        errs.push(invalid_repr(path, repr, IMMUTABLE_MSG));
    }
}

/// Upstream's `IsConfigMapKey`, used for ConfigMap and Secret keys and key selectors.
pub fn config_key(key: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if key.len() > 253 {
        errs.push("must be no more than 253 characters".to_string());
    }
    if key.is_empty() || !key.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_')) {
        errs.push("a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key_name', regex used for validation is '[-._a-zA-Z0-9]+')".to_string());
    }
    if key == "." {
        errs.push("must not be '.'".to_string());
    } else if key == ".." {
        errs.push("must not be '..'".to_string());
    } else if key.starts_with("..") {
        errs.push("must not start with '..'".to_string());
    }
    errs
}

/// Parse an IP the way Go's `ParseIPSloppy` does (IPv4 octets may have leading zeros).
pub fn parse_ip(s: &str) -> Option<std::net::IpAddr> {
    if s.contains(':') {
        return s.parse::<Ipv6Addr>().ok().map(std::net::IpAddr::V6);
    }
    let parts: Vec<&str> = s.split('.').collect();
    if parts.len() != 4 {
        return None;
    }
    let mut octets = [0u8; 4];
    for (i, p) in parts.iter().enumerate() {
        if p.is_empty() || p.len() > 3 || !p.chars().all(|c| c.is_ascii_digit()) {
            return None;
        }
        octets[i] = p.parse::<u8>().ok()?;
    }
    Some(std::net::IpAddr::from(octets))
}

/// Upstream's `IsValidIP`.
pub fn ip(errs: &mut FieldErrors, value: &str, path: &FieldPath) {
    if parse_ip(value).is_none() {
        errs.push(FieldError::invalid(path, value, "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"));
    }
}

/// Upstream's `IsValidCIDR`.
pub fn cidr(errs: &mut FieldErrors, value: &str, path: &FieldPath) {
    let ok = value.split_once('/').is_some_and(|(addr, bits)| {
        let max = if addr.contains(':') { 128 } else { 32 };
        parse_ip(addr).is_some()
            && !bits.is_empty()
            && bits.chars().all(|c| c.is_ascii_digit())
            && bits.parse::<u32>().is_ok_and(|b| b <= max)
    });
    if !ok {
        errs.push(FieldError::invalid(path, value, "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)"));
    }
}

/// Upstream's `IsValidPercent`.
pub fn is_valid_percent(s: &str) -> bool {
    s.strip_suffix('%').is_some_and(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()))
}

pub const PERCENT_MSG: &str = "a valid percent string must be a numeric string followed by an ending '%' (e.g. '1%',  or '93%', regex used for validation is '[0-9]+%')";

/// Upstream's `InclusiveRangeError`.
pub fn inclusive_range(lo: i64, hi: i64) -> String {
    format!("must be between {lo} and {hi}, inclusive")
}

/// Upstream's `IsValidUserID`/`IsValidGroupID`.
pub fn id_range(errs: &mut FieldErrors, value: i64, path: &FieldPath) {
    if !(0..=i64::from(i32::MAX)).contains(&value) {
        errs.push(FieldError::invalid(path, value, inclusive_range(0, i64::from(i32::MAX))));
    }
}

/// A port number or IANA port name, as upstream's `ValidatePortNumOrName`.
pub fn port_num_or_name(errs: &mut FieldErrors, port: &IntOrString, path: &FieldPath) {
    match port {
        IntOrString::Int(n) => {
            for m in names::is_valid_port_num(i64::from(*n)) {
                errs.push(FieldError::invalid(path, *n, m));
            }
        }
        IntOrString::String(s) => push_all(errs, path, s, names::is_valid_port_name(s)),
    }
}

/// `Unsupported value` when `value` is not one of `supported`, `Required` when it is empty.
pub fn enum_required(errs: &mut FieldErrors, value: &str, supported: &[&str], path: &FieldPath) {
    if value.is_empty() {
        errs.push(FieldError::required(path, ""));
    } else if !supported.contains(&value) {
        errs.push(FieldError::not_supported(path, value, supported));
    }
}

/// JSON of a typed value, for errors that show a whole struct (upstream prints Go syntax there,
/// which skiff does not imitate).
pub fn json<T: serde::Serialize>(v: &T) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

/// A short diff of two objects' top-level fields, appended to "may not change" messages where
/// upstream appends a `cmp.Diff` of Go structs: `-` lines are the old values, `+` the new.
pub fn top_level_diff<T: serde::Serialize>(type_name: &str, old: &T, new: &T) -> String {
    let (old, new) = (json(old), json(new));
    let empty = serde_json::Map::new();
    let o = old.as_object().unwrap_or(&empty);
    let n = new.as_object().unwrap_or(&empty);
    let mut keys: Vec<&String> = o.keys().chain(n.keys()).collect();
    keys.sort();
    keys.dedup();
    let mut out = format!("  {type_name}{{\n");
    for k in keys {
        let (a, b) = (o.get(k), n.get(k));
        if a == b {
            continue;
        }
        if let Some(a) = a {
            out.push_str(&format!("- \t{k}: {a},\n"));
        }
        if let Some(b) = b {
            out.push_str(&format!("+ \t{k}: {b},\n"));
        }
    }
    out.push_str("  }\n");
    out
}

/// Set `opt` to `value` when it is unset (the shape of almost every upstream defaulter).
pub fn default_to<T>(opt: &mut Option<T>, value: T) {
    if opt.is_none() {
        *opt = Some(value);
    }
}

/// Set a string option to `value` when it is unset or empty (Go cannot tell those apart).
pub fn default_str(opt: &mut Option<String>, value: &str) {
    if opt.as_deref().is_none_or(str::is_empty) {
        *opt = Some(value.to_string());
    }
}

/// A string option's value, empty when unset.
pub fn s(opt: &Option<String>) -> &str {
    opt.as_deref().unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelectorRequirement;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn renders_go_values() {
        assert_eq!(go_string_map(Some(&map(&[("b", "2"), ("a", "1")]))), r#"map[string]string{"a":"1", "b":"2"}"#);
        assert_eq!(go_string_map(None), "map[string]string(nil)");
        let sel = LabelSelector { match_labels: Some(map(&[])), match_expressions: None };
        assert_eq!(
            go_label_selector(&sel),
            "v1.LabelSelector{MatchLabels:map[string]string{}, MatchExpressions:[]v1.LabelSelectorRequirement(nil)}"
        );
    }

    #[test]
    fn selectors_match_and_validate() {
        let sel = LabelSelector {
            match_labels: Some(map(&[("app", "web")])),
            match_expressions: Some(vec![LabelSelectorRequirement {
                key: "tier".into(),
                operator: "In".into(),
                values: Some(vec!["a".into(), "b".into()]),
            }]),
        };
        assert_eq!(selector_matches(&sel, Some(&map(&[("app", "web"), ("tier", "b")]))), Some(true));
        assert_eq!(selector_matches(&sel, Some(&map(&[("app", "web")]))), Some(false));
        let mut errs = FieldErrors::new();
        let bad = LabelSelector {
            match_labels: None,
            match_expressions: Some(vec![LabelSelectorRequirement {
                key: "k".into(),
                operator: "In".into(),
                values: None,
            }]),
        };
        label_selector(&mut errs, Some(&bad), &FieldPath::new("spec").child("selector"));
        assert_eq!(
            errs.to_string(),
            "spec.selector.matchExpressions[0].values: Required value: must be specified when `operator` is 'In' or 'NotIn'"
        );
    }

    #[test]
    fn ips_and_cidrs() {
        assert!(parse_ip("10.0.0.1").is_some());
        assert!(parse_ip("010.000.0.1").is_some());
        assert!(parse_ip("::1").is_some());
        assert!(parse_ip("10.0.0").is_none());
        assert!(parse_ip("256.0.0.1").is_none());
        let mut errs = FieldErrors::new();
        cidr(&mut errs, "10.0.0.0/8", &FieldPath::new("x"));
        cidr(&mut errs, "fd00::/64", &FieldPath::new("x"));
        assert!(errs.is_empty());
        cidr(&mut errs, "10.0.0.0/33", &FieldPath::new("x"));
        assert_eq!(errs.len(), 1);
    }

    #[test]
    fn config_keys() {
        assert!(config_key("app.properties").is_empty());
        assert!(config_key("KEY_1-x").is_empty());
        assert_eq!(config_key("a/b").len(), 1);
        assert_eq!(config_key("..a"), vec!["must not start with '..'".to_string()]);
    }
}
