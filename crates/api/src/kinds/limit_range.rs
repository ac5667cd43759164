//! LimitRanges: container items get default limits from max and default requests from the
//! default limits or min; min ≤ default request ≤ default ≤ max per resource (upstream's
//! `SetDefaults_LimitRangeItem` and `ValidateLimitRange`).

use std::collections::BTreeSet;

use k8s_openapi::api::core::v1::LimitRange;

use crate::field_errors::{FieldError, FieldErrors, FieldPath};
use crate::kinds::common::invalid_repr;
use crate::kinds::resource_names::{self, ResourceList, overcommit_allowed};
use crate::names;
use crate::quantity::Quantity;
use crate::strategy::KindRules;

const STANDARD_TYPES: &[&str] = &["Pod", "Container", "PersistentVolumeClaim"];

impl KindRules for LimitRange {
    fn default_fields(&mut self) {
        for item in self.spec.iter_mut().flat_map(|s| s.limits.iter_mut()) {
            for list in [
                &mut item.max,
                &mut item.min,
                &mut item.default,
                &mut item.default_request,
                &mut item.max_limit_request_ratio,
            ] {
                resource_names::default_list(list);
            }
            if item.type_ != "Container" {
                continue;
            }
            let default = item.default.get_or_insert_with(ResourceList::new);
            for (k, v) in item.max.iter().flatten() {
                default.entry(k.clone()).or_insert_with(|| v.clone());
            }
            let default = default.clone();
            let request = item.default_request.get_or_insert_with(ResourceList::new);
            for (k, v) in &default {
                request.entry(k.clone()).or_insert_with(|| v.clone());
            }
            for (k, v) in item.min.iter().flatten() {
                request.entry(k.clone()).or_insert_with(|| v.clone());
            }
        }
    }

    fn validate(&self) -> FieldErrors {
        let mut errs = FieldErrors::new();
        let path = FieldPath::new("spec").child("limits");
        let mut types = BTreeSet::new();
        for (i, item) in self.spec.iter().flat_map(|s| s.limits.iter()).enumerate() {
            let p = path.index(i);
            let tp = p.child("type");
            let before = errs.len();
            for m in names::is_qualified_name(&item.type_) {
                errs.push(FieldError::invalid(&tp, item.type_.as_str(), m));
            }
            if errs.len() == before && !item.type_.contains('/') && !STANDARD_TYPES.contains(&item.type_.as_str()) {
                errs.push(FieldError::invalid(
                    &tp,
                    item.type_.as_str(),
                    "must be a standard limit type or fully qualified",
                ));
            }
            if !types.insert(item.type_.as_str()) {
                errs.push(FieldError::duplicate(&tp, item.type_.as_str()));
            }
            let container_like = item.type_ == "Pod" || item.type_ == "Container";
            let mut check = |list: &Option<ResourceList>, field: &str| -> Vec<(String, Quantity)> {
                let mut out = Vec::new();
                for (k, q) in list.iter().flatten() {
                    let kp = p.child(field).key(k);
                    if container_like {
                        resource_names::validate_container_name(&mut errs, k, &kp);
                    } else {
                        resource_names::validate_name(&mut errs, k, &kp);
                    }
                    if let Some(v) = resource_names::parse(&mut errs, q, &kp) {
                        out.push((k.clone(), v));
                    }
                }
                out
            };
            let max = check(&item.max, "max");
            let min = check(&item.min, "min");
            let (default, default_request) = if item.type_ == "Pod" {
                (Vec::new(), Vec::new())
            } else {
                (check(&item.default, "default"), check(&item.default_request, "defaultRequest"))
            };
            let ratio = check(&item.max_limit_request_ratio, "maxLimitRequestRatio");
            if item.type_ == "Pod" {
                if item.default.as_ref().is_some_and(|d| !d.is_empty()) {
                    errs.push(FieldError::forbidden(&p.child("default"), "may not be specified when `type` is 'Pod'"));
                }
                if item.default_request.as_ref().is_some_and(|d| !d.is_empty()) {
                    errs.push(FieldError::forbidden(
                        &p.child("defaultRequest"),
                        "may not be specified when `type` is 'Pod'",
                    ));
                }
            }
            if item.type_ == "PersistentVolumeClaim" {
                let has = |l: &Option<ResourceList>| l.as_ref().is_some_and(|l| l.contains_key("storage"));
                if !has(&item.min) && !has(&item.max) {
                    errs.push(FieldError::required(
                        &p.child("limits"),
                        "either minimum or maximum storage value is required, but neither was provided",
                    ));
                }
            }
            let get = |v: &[(String, Quantity)], k: &str| v.iter().find(|(n, _)| n == k).map(|(_, q)| *q);
            let keys: BTreeSet<&String> =
                max.iter().chain(&min).chain(&default).chain(&default_request).chain(&ratio).map(|(k, _)| k).collect();
            for k in keys {
                let (mn, mx, d, dr, r) =
                    (get(&min, k), get(&max, k), get(&default, k), get(&default_request, k), get(&ratio, k));
                let c = |q: Quantity| q.to_canonical();
                if let (Some(mn), Some(mx)) = (mn, mx)
                    && mn > mx
                {
                    errs.push(invalid_repr(
                        &p.child("min").key(k),
                        c(mn),
                        &format!("min value {} is greater than max value {}", c(mn), c(mx)),
                    ));
                }
                if let (Some(dr), Some(mn)) = (dr, mn)
                    && mn > dr
                {
                    errs.push(invalid_repr(
                        &p.child("defaultRequest").key(k),
                        c(dr),
                        &format!("min value {} is greater than default request value {}", c(mn), c(dr)),
                    ));
                }
                if let (Some(dr), Some(mx)) = (dr, mx)
                    && dr > mx
                {
                    errs.push(invalid_repr(
                        &p.child("defaultRequest").key(k),
                        c(dr),
                        &format!("default request value {} is greater than max value {}", c(dr), c(mx)),
                    ));
                }
                if let (Some(dr), Some(d)) = (dr, d)
                    && dr > d
                {
                    errs.push(invalid_repr(
                        &p.child("defaultRequest").key(k),
                        c(dr),
                        &format!("default request value {} is greater than default limit value {}", c(dr), c(d)),
                    ));
                }
                if let (Some(d), Some(mn)) = (d, mn)
                    && mn > d
                {
                    errs.push(invalid_repr(
                        &p.child("default").key(k),
                        c(mn),
                        &format!("min value {} is greater than default value {}", c(mn), c(d)),
                    ));
                }
                if let (Some(d), Some(mx)) = (d, mx)
                    && d > mx
                {
                    errs.push(invalid_repr(
                        &p.child("default").key(k),
                        c(mx),
                        &format!("default value {} is greater than max value {}", c(d), c(mx)),
                    ));
                }
                if let Some(r) = r {
                    if r < Quantity::from_units(1) {
                        errs.push(invalid_repr(
                            &p.child("maxLimitRequestRatio").key(k),
                            c(r),
                            &format!("ratio {} is less than 1", c(r)),
                        ));
                    }
                    if let (Some(mn), Some(mx)) = (mn, mx) {
                        let limit = mx.nanos() as f64 / mn.nanos().max(1) as f64;
                        let ratio = r.nanos() as f64 / 1e9;
                        if ratio > limit {
                            errs.push(invalid_repr(
                                &p.child("maxLimitRequestRatio").key(k),
                                c(r),
                                &format!("ratio {} is greater than max/min = {limit:.6}", c(r)),
                            ));
                        }
                    }
                }
                if let (Some(d), Some(dr)) = (d, dr)
                    && !overcommit_allowed(k)
                    && d != dr
                {
                    errs.push(invalid_repr(
                        &p.child("defaultRequest").key(k),
                        c(dr),
                        &format!("default value {} must equal to defaultRequest value {} in {k}", c(d), c(dr)),
                    ));
                }
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
    fn container_defaults_and_ordering() {
        let info = crate::registry().get("", "v1", "limitranges").unwrap();
        let lr = json!({"metadata": {"name": "l", "namespace": "d"}, "spec": {"limits": [{"type": "Container", "max": {"cpu": "2"}, "min": {"memory": "64Mi"}}]}});
        let out = info.strategy.admit(info, Operation::Create, lr, None, false).unwrap().object;
        let item = &out["spec"]["limits"][0];
        assert_eq!(item["default"], json!({"cpu": "2"}));
        assert_eq!(item["defaultRequest"], json!({"cpu": "2", "memory": "64Mi"}));
        let bad = json!({"metadata": {"name": "l", "namespace": "d"}, "spec": {"limits": [{"type": "Container", "max": {"cpu": "1"}, "min": {"cpu": "2"}}]}});
        let err = info.strategy.admit(info, Operation::Create, bad, None, false).unwrap_err().to_string();
        assert!(
            err.contains("spec.limits[0].min[cpu]: Invalid value: 2: min value 2 is greater than max value 1"),
            "{err}"
        );
    }
}
