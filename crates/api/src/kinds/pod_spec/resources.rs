//! Container resource requirements (`resources.requests`/`limits`/`claims`), validated as
//! upstream's `validateResourceRequirements`, and the pod QoS class derived from them.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::{Container, PodSpec, ResourceRequirements};

use crate::field_errors::{FieldError, FieldErrors, FieldPath};
use crate::kinds::common::dns1123_label;
use crate::kinds::resource_names::{self, is_hugepages, overcommit_allowed};
use crate::quantity::Quantity;

/// Upstream's `ValidateContainerResourceRequirements`.
pub fn validate_container_resources(
    errs: &mut FieldErrors,
    r: Option<&ResourceRequirements>,
    claim_names: &BTreeSet<String>,
    path: &FieldPath,
) {
    let Some(r) = r else { return };
    let lim_path = path.child("limits");
    let req_path = path.child("requests");
    let mut limits: BTreeMap<&str, Quantity> = BTreeMap::new();
    let (mut lim_cpu_mem, mut req_cpu_mem, mut hugepages) = (false, false, false);

    for (name, q) in r.limits.iter().flatten() {
        let p = lim_path.key(name);
        resource_names::validate_container_name(errs, name, &p);
        let Some(v) = resource_names::parse(errs, q, &p) else { continue };
        resource_names::validate_value(errs, name, &v, &p);
        if is_hugepages(name) {
            hugepages = true;
            hugepage_multiple(errs, name, &v, &p);
        }
        lim_cpu_mem |= name == "cpu" || name == "memory";
        limits.insert(name, v);
    }
    for (name, q) in r.requests.iter().flatten() {
        let p = req_path.key(name);
        resource_names::validate_container_name(errs, name, &p);
        let Some(v) = resource_names::parse(errs, q, &p) else { continue };
        resource_names::validate_value(errs, name, &v, &p);
        match limits.get(name.as_str()) {
            Some(lim) if v != *lim && !overcommit_allowed(name) => errs.push(FieldError::invalid(
                &req_path,
                v.to_canonical(),
                format!("must be equal to {name} limit of {}", lim.to_canonical()),
            )),
            Some(lim) if v > *lim => errs.push(FieldError::invalid(
                &req_path,
                v.to_canonical(),
                format!("must be less than or equal to {name} limit of {}", lim.to_canonical()),
            )),
            Some(_) => {}
            None if !overcommit_allowed(name) => {
                errs.push(FieldError::required(&lim_path, "Limit must be set for non overcommitable resources"));
            }
            None => {}
        }
        if is_hugepages(name) {
            hugepages = true;
            hugepage_multiple(errs, name, &v, &p);
        }
        req_cpu_mem |= name == "cpu" || name == "memory";
    }
    if hugepages && !lim_cpu_mem && !req_cpu_mem {
        errs.push(FieldError::forbidden(path, "HugePages require cpu or memory"));
    }
    validate_claim_refs(errs, r, claim_names, &path.child("claims"));
}

/// `hugepages-2Mi` amounts must be whole pages.
fn hugepage_multiple(errs: &mut FieldErrors, name: &str, v: &Quantity, path: &FieldPath) {
    let Ok(page) = Quantity::parse(&name["hugepages-".len()..]) else { return };
    if page.nanos() > 0 && v.nanos() % page.nanos() != 0 {
        errs.push(FieldError::invalid(
            path,
            v.to_canonical(),
            format!("{} is not positive integer multiple of {name}", v.to_canonical()),
        ));
    }
}

/// `resources.claims` entries must name one of the pod's `resourceClaims`.
fn validate_claim_refs(
    errs: &mut FieldErrors,
    r: &ResourceRequirements,
    claim_names: &BTreeSet<String>,
    path: &FieldPath,
) {
    let mut seen = BTreeSet::new();
    for (i, c) in r.claims.iter().flatten().enumerate() {
        let p = path.index(i);
        if c.name.is_empty() {
            errs.push(FieldError::required(&p, ""));
            continue;
        }
        let request = c.request.as_deref().unwrap_or("");
        let key = if request.is_empty() { c.name.clone() } else { format!("{}/{request}", c.name) };
        if seen.contains(&c.name) || seen.contains(&key) {
            errs.push(FieldError::duplicate(&p, key.as_str()));
        } else if !request.is_empty() {
            dns1123_label(errs, request, &p.child("request"));
        }
        seen.insert(key);
        if !claim_names.contains(&c.name) {
            let detail = if claim_names.is_empty() {
                "must be one of the names in pod.spec.resourceClaims which is empty".to_string()
            } else {
                let names: Vec<&str> = claim_names.iter().map(String::as_str).collect();
                format!("must be one of the names in pod.spec.resourceClaims: {}", names.join(", "))
            };
            let mut e = FieldError::not_found(&p, c.name.as_str());
            e.detail = detail;
            errs.push(e);
        }
    }
}

/// The QoS class of a pod (upstream's `ComputePodQOS`), from the cpu and memory of its regular
/// and init containers.
pub fn qos_class(spec: &PodSpec) -> &'static str {
    let mut requests: BTreeMap<&str, Quantity> = BTreeMap::new();
    let mut limits: BTreeMap<&str, Quantity> = BTreeMap::new();
    let mut guaranteed = true;
    let all: Vec<&Container> = spec.containers.iter().chain(spec.init_containers.iter().flatten()).collect();
    for c in all {
        let r = c.resources.as_ref();
        let mut found = BTreeSet::new();
        for (list, sum, record) in [
            (r.and_then(|r| r.requests.as_ref()), &mut requests, false),
            (r.and_then(|r| r.limits.as_ref()), &mut limits, true),
        ] {
            for (name, q) in list.into_iter().flatten() {
                let name = name.as_str();
                if name != "cpu" && name != "memory" {
                    continue;
                }
                let Ok(v) = Quantity::parse(&q.0) else { continue };
                if v.nanos() > 0 {
                    if record {
                        found.insert(name);
                    }
                    let total = sum.get(name).map_or(v, |t| t.add(&v));
                    sum.insert(name, total);
                }
            }
        }
        if !(found.contains("cpu") && found.contains("memory")) {
            guaranteed = false;
        }
    }
    if requests.is_empty() && limits.is_empty() {
        return "BestEffort";
    }
    if guaranteed && requests.iter().all(|(k, v)| limits.get(k) == Some(v)) && requests.len() == limits.len() {
        return "Guaranteed";
    }
    "Burstable"
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::api::resource::Quantity as Q;

    fn rr(req: &[(&str, &str)], lim: &[(&str, &str)]) -> ResourceRequirements {
        let list = |p: &[(&str, &str)]| {
            if p.is_empty() { None } else { Some(p.iter().map(|(k, v)| (k.to_string(), Q(v.to_string()))).collect()) }
        };
        ResourceRequirements { requests: list(req), limits: list(lim), claims: None }
    }

    fn validate(r: &ResourceRequirements) -> String {
        let mut errs = FieldErrors::new();
        validate_container_resources(&mut errs, Some(r), &BTreeSet::new(), &FieldPath::new("r"));
        errs.to_string()
    }

    #[test]
    fn requests_must_not_exceed_limits() {
        assert_eq!(
            validate(&rr(&[("cpu", "1")], &[("cpu", "500m")])),
            r#"r.requests: Invalid value: "1": must be less than or equal to cpu limit of 500m"#
        );
        assert_eq!(validate(&rr(&[("cpu", "250m")], &[("cpu", "500m")])), "");
        assert_eq!(
            validate(&rr(&[("memory", "-1")], &[])),
            r#"r.requests[memory]: Invalid value: "-1": must be greater than or equal to 0"#
        );
    }

    #[test]
    fn extended_resources_need_equal_whole_limits() {
        assert_eq!(
            validate(&rr(&[("example.com/gpu", "1")], &[])),
            "r.limits: Required value: Limit must be set for non overcommitable resources"
        );
        assert_eq!(
            validate(&rr(&[("example.com/gpu", "500m")], &[("example.com/gpu", "500m")]))
                .matches("must be an integer")
                .count(),
            2
        );
    }

    #[test]
    fn qos_classes() {
        let pod = |r: ResourceRequirements| PodSpec {
            containers: vec![Container { name: "c".into(), resources: Some(r), ..Default::default() }],
            ..Default::default()
        };
        assert_eq!(qos_class(&pod(rr(&[], &[]))), "BestEffort");
        assert_eq!(
            qos_class(&pod(rr(&[("cpu", "1"), ("memory", "1Gi")], &[("cpu", "1"), ("memory", "1Gi")]))),
            "Guaranteed"
        );
        assert_eq!(qos_class(&pod(rr(&[("cpu", "1")], &[]))), "Burstable");
    }
}
