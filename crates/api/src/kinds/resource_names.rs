//! Resource names (`cpu`, `memory`, `hugepages-2Mi`, `example.com/gpu`) and quantity values in
//! resource lists, as upstream's `pkg/apis/core/helper` classifies and validates them.
//!
//! Shared by pods, limit ranges, quotas, nodes and claims; also where resource lists get the
//! defaulting every core `ResourceList` gets (round up to milli, canonical text).

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::api::resource::Quantity as ApiQuantity;

use crate::field_errors::{FieldError, FieldErrors, FieldPath};
use crate::kinds::common::{NEGATIVE_MSG, NOT_POSITIVE_MSG, invalid_repr};
use crate::names;
use crate::quantity::Quantity;

pub type ResourceList = BTreeMap<String, ApiQuantity>;

const HUGEPAGES_PREFIX: &str = "hugepages-";

const STANDARD_CONTAINER: &[&str] = &["cpu", "memory", "ephemeral-storage"];
const STANDARD: &[&str] = &[
    "cpu",
    "memory",
    "ephemeral-storage",
    "requests.cpu",
    "requests.memory",
    "requests.ephemeral-storage",
    "limits.cpu",
    "limits.memory",
    "limits.ephemeral-storage",
    "pods",
    "resourcequotas",
    "services",
    "replicationcontrollers",
    "secrets",
    "configmaps",
    "persistentvolumeclaims",
    "storage",
    "requests.storage",
    "services.nodeports",
    "services.loadbalancers",
];
const STANDARD_QUOTA: &[&str] = &[
    "cpu",
    "memory",
    "ephemeral-storage",
    "requests.cpu",
    "requests.memory",
    "requests.storage",
    "requests.ephemeral-storage",
    "limits.cpu",
    "limits.memory",
    "limits.ephemeral-storage",
    "pods",
    "resourcequotas",
    "services",
    "replicationcontrollers",
    "secrets",
    "persistentvolumeclaims",
    "configmaps",
    "services.nodeports",
    "services.loadbalancers",
];
const INTEGER: &[&str] = &[
    "pods",
    "resourcequotas",
    "services",
    "replicationcontrollers",
    "secrets",
    "configmaps",
    "persistentvolumeclaims",
    "services.nodeports",
    "services.loadbalancers",
];

pub fn is_hugepages(name: &str) -> bool {
    name.starts_with(HUGEPAGES_PREFIX)
}

fn is_quota_hugepages(name: &str) -> bool {
    name.starts_with(HUGEPAGES_PREFIX) || name.starts_with("requests.hugepages-")
}

/// Unprefixed names and `kubernetes.io/` ones belong to Kubernetes.
pub fn is_native(name: &str) -> bool {
    !name.contains('/') || name.contains("kubernetes.io/")
}

/// `example.com/gpu`: a vendor resource that must be requested in whole units.
pub fn is_extended(name: &str) -> bool {
    !is_native(name)
        && !name.starts_with("requests.")
        && names::is_qualified_name(&format!("requests.{name}")).is_empty()
}

/// Whether requests may be lower than limits (not for hugepages and extended resources).
pub fn overcommit_allowed(name: &str) -> bool {
    is_native(name) && !is_hugepages(name)
}

pub fn is_standard_quota(name: &str) -> bool {
    STANDARD_QUOTA.contains(&name) || is_quota_hugepages(name)
}

fn is_integer(name: &str) -> bool {
    INTEGER.contains(&name) || is_extended(name)
}

/// Upstream's `validateResourceName`: qualified, and standard unless it has a domain.
pub fn validate_name(errs: &mut FieldErrors, name: &str, path: &FieldPath) -> bool {
    let before = errs.len();
    for m in names::is_qualified_name(name) {
        errs.push(FieldError::invalid(path, name, m));
    }
    if errs.len() != before {
        return false;
    }
    if !(name.contains('/') || STANDARD.contains(&name) || is_quota_hugepages(name)) {
        errs.push(FieldError::invalid(path, name, "must be a standard resource type or fully qualified"));
        return false;
    }
    true
}

/// Upstream's `validateContainerResourceName`.
pub fn validate_container_name(errs: &mut FieldErrors, name: &str, path: &FieldPath) {
    validate_name(errs, name, path);
    if !name.contains('/') {
        if !(STANDARD_CONTAINER.contains(&name) || is_hugepages(name)) {
            errs.push(FieldError::invalid(path, name, "must be a standard resource for containers"));
        }
    } else if !is_native(name) && !is_extended(name) {
        errs.push(FieldError::invalid(path, name, "doesn't follow extended resource name standard"));
    }
}

/// Parse a quantity from a resource list, reporting upstream's decode error text when malformed.
pub fn parse(errs: &mut FieldErrors, q: &ApiQuantity, path: &FieldPath) -> Option<Quantity> {
    match Quantity::parse(&q.0) {
        Ok(v) => Some(v),
        Err(e) => {
            errs.push(FieldError::invalid(path, q.0.as_str(), e.to_string()));
            None
        }
    }
}

/// Upstream's `ValidateResourceQuantityValue`: not negative, whole for integer resources.
pub fn validate_value(errs: &mut FieldErrors, name: &str, q: &Quantity, path: &FieldPath) {
    if q.is_negative() {
        errs.push(FieldError::invalid(path, q.to_canonical(), NEGATIVE_MSG));
    }
    if is_integer(name) && q.milli_value() % 1000 != 0 {
        errs.push(invalid_repr(path, q.to_canonical(), "must be an integer"));
    }
}

/// Upstream's `ValidatePositiveQuantityValue`.
pub fn validate_positive(errs: &mut FieldErrors, q: &Quantity, path: &FieldPath) -> bool {
    if q.nanos() <= 0 {
        errs.push(FieldError::invalid(path, q.to_canonical(), NOT_POSITIVE_MSG));
        return false;
    }
    true
}

/// What decoding does to every core `ResourceList`: round up to milli, write canonically.
/// Malformed values are left alone for validation to report.
pub fn default_list(list: &mut Option<ResourceList>) {
    for q in list.iter_mut().flat_map(|l| l.values_mut()) {
        if let Ok(v) = Quantity::parse(&q.0) {
            q.0 = v.round_up_to_milli().to_canonical();
        }
    }
}

/// Write one quantity canonically (quantities outside resource lists are not rounded).
pub fn canonicalize(q: &mut ApiQuantity) {
    if let Ok(v) = Quantity::parse(&q.0) {
        q.0 = v.to_canonical();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_names() {
        assert!(is_native("cpu"));
        assert!(is_native("kubernetes.io/foo"));
        assert!(is_extended("example.com/gpu"));
        assert!(!is_extended("cpu"));
        assert!(!overcommit_allowed("hugepages-2Mi"));
        assert!(!overcommit_allowed("example.com/gpu"));
        let mut errs = FieldErrors::new();
        validate_container_name(&mut errs, "pods", &FieldPath::new("r"));
        assert_eq!(errs.to_string(), r#"r: Invalid value: "pods": must be a standard resource for containers"#);
    }

    #[test]
    fn defaulting_rounds_and_canonicalizes() {
        let mut list = Some(ResourceList::from([
            ("cpu".to_string(), ApiQuantity("0.5".into())),
            ("memory".to_string(), ApiQuantity("1024Mi".into())),
            ("x".to_string(), ApiQuantity("1n".into())),
        ]));
        default_list(&mut list);
        let l = list.unwrap();
        assert_eq!(l["cpu"].0, "500m");
        assert_eq!(l["memory"].0, "1Gi");
        assert_eq!(l["x"].0, "1m");
    }
}
