//! ResourceQuotas: hard limits on standard or qualified resources, non-negative (whole for
//! countable resources), consistent scopes that never change (upstream's `ValidateResourceQuota`).

use std::collections::BTreeSet;

use k8s_openapi::api::core::v1::{ResourceQuota, ResourceQuotaSpec, ResourceQuotaStatus};

use crate::field_errors::{FieldError, FieldErrors, FieldPath};
use crate::kinds::common::{IMMUTABLE_MSG, json};
use crate::kinds::resource_names::{self, ResourceList, is_standard_quota};
use crate::strategy::KindRules;

const SCOPES: &[&str] = &[
    "Terminating",
    "NotTerminating",
    "BestEffort",
    "NotBestEffort",
    "PriorityClass",
    "CrossNamespacePodAffinity",
    "VolumeAttributesClass",
];

impl KindRules for ResourceQuota {
    fn prepare_for_create(&mut self) {
        self.status = Some(ResourceQuotaStatus::default());
    }

    fn default_fields(&mut self) {
        if let Some(spec) = &mut self.spec {
            resource_names::default_list(&mut spec.hard);
        }
        if let Some(st) = &mut self.status {
            resource_names::default_list(&mut st.hard);
            resource_names::default_list(&mut st.used);
        }
    }

    fn validate(&self) -> FieldErrors {
        let mut errs = FieldErrors::new();
        validate_spec(&mut errs, &self.spec.clone().unwrap_or_default());
        validate_status(&mut errs, self);
        errs
    }

    fn validate_update(&self, old: &Self) -> FieldErrors {
        let mut errs = FieldErrors::new();
        let spec = self.spec.clone().unwrap_or_default();
        validate_spec(&mut errs, &spec);
        let scopes = |q: &ResourceQuota| -> BTreeSet<String> {
            q.spec.iter().flat_map(|s| s.scopes.iter().flatten().cloned()).collect()
        };
        if scopes(self) != scopes(old) {
            errs.push(FieldError::invalid(&FieldPath::new("spec").child("scopes"), json(&spec.scopes), IMMUTABLE_MSG));
        }
        errs
    }

    fn validate_status_update(&self, _old: &Self) -> FieldErrors {
        let mut errs = FieldErrors::new();
        validate_status(&mut errs, self);
        errs
    }
}

fn quota_list(errs: &mut FieldErrors, list: Option<&ResourceList>, path: &FieldPath) {
    for (k, q) in list.into_iter().flatten() {
        let kp = path.key(k);
        let valid_name = resource_names::validate_name(errs, k, &kp);
        if valid_name && !k.contains('/') && !is_standard_quota(k) {
            errs.push(FieldError::invalid(&kp, k.as_str(), "must be a standard resource for quota"));
        }
        if let Some(v) = resource_names::parse(errs, q, &kp) {
            resource_names::validate_value(errs, k, &v, &kp);
        }
    }
}

fn validate_spec(errs: &mut FieldErrors, spec: &ResourceQuotaSpec) {
    let path = FieldPath::new("spec");
    quota_list(errs, spec.hard.as_ref(), &path.child("hard"));
    let scopes = spec.scopes.clone().unwrap_or_default();
    let sp = path.child("scopes");
    for s in &scopes {
        if !SCOPES.contains(&s.as_str()) {
            errs.push(FieldError::invalid(&sp, json(&scopes), "unsupported scope"));
        }
    }
    let set: BTreeSet<&str> = scopes.iter().map(String::as_str).collect();
    for pair in [["BestEffort", "NotBestEffort"], ["Terminating", "NotTerminating"]] {
        if pair.iter().all(|p| set.contains(p)) {
            errs.push(FieldError::invalid(&sp, json(&scopes), "conflicting scopes"));
        }
    }
    if let Some(sel) = &spec.scope_selector {
        let mp = path.child("scopeSelector").child("matchExpressions");
        for req in sel.match_expressions.iter().flatten() {
            if !SCOPES.contains(&req.scope_name.as_str()) {
                errs.push(FieldError::invalid(&mp.child("scopeName"), req.scope_name.as_str(), "unsupported scope"));
            }
            let values = req.values.as_deref().unwrap_or_default();
            if matches!(
                req.scope_name.as_str(),
                "BestEffort" | "NotBestEffort" | "Terminating" | "NotTerminating" | "CrossNamespacePodAffinity"
            ) && req.operator != "Exists"
            {
                errs.push(FieldError::invalid(
                    &mp.child("operator"),
                    req.operator.as_str(),
                    "must be 'Exists' when scope is any of ResourceQuotaScopeTerminating, ResourceQuotaScopeNotTerminating, ResourceQuotaScopeBestEffort, ResourceQuotaScopeNotBestEffort or ResourceQuotaScopeCrossNamespacePodAffinity",
                ));
            }
            match req.operator.as_str() {
                "In" | "NotIn" if values.is_empty() => errs.push(FieldError::required(
                    &mp.child("values"),
                    "must be at least one value when `operator` is 'In' or 'NotIn' for scope selector",
                )),
                "Exists" | "DoesNotExist" if !values.is_empty() => errs.push(FieldError::invalid(
                    &mp.child("values"),
                    json(&values),
                    "must be no value when `operator` is 'Exist' or 'DoesNotExist' for scope selector",
                )),
                "In" | "NotIn" | "Exists" | "DoesNotExist" => {}
                other => errs.push(FieldError::invalid(&mp.child("operator"), other, "not a valid selector operator")),
            }
        }
    }
}

fn validate_status(errs: &mut FieldErrors, q: &ResourceQuota) {
    let Some(st) = &q.status else { return };
    let p = FieldPath::new("status");
    quota_list(errs, st.hard.as_ref(), &p.child("hard"));
    quota_list(errs, st.used.as_ref(), &p.child("used"));
}

#[cfg(test)]
mod tests {
    use crate::strategy::Operation;
    use serde_json::json;

    #[test]
    fn hard_limits_and_scopes() {
        let info = crate::registry().get("", "v1", "resourcequotas").unwrap();
        let q = json!({"metadata": {"name": "q", "namespace": "d"}, "spec": {"hard": {"pods": "10", "requests.cpu": "4"}, "scopes": ["BestEffort"]}});
        let out = info.strategy.admit(info, Operation::Create, q, None, false).unwrap().object;
        assert_eq!(out["status"], json!({}));
        let bad =
            json!({"metadata": {"name": "q", "namespace": "d"}, "spec": {"hard": {"pods": "1.5", "widgets": "1"}}});
        let err = info.strategy.admit(info, Operation::Create, bad, None, false).unwrap_err().to_string();
        assert!(err.contains("spec.hard[pods]: Invalid value: 1500m: must be an integer"), "{err}");
        assert!(
            err.contains(
                r#"spec.hard[widgets]: Invalid value: "widgets": must be a standard resource type or fully qualified"#
            ),
            "{err}"
        );
        let mut new = out.clone();
        new["spec"]["scopes"] = json!(["NotBestEffort"]);
        let err = info.strategy.admit(info, Operation::Update, new, Some(&out), false).unwrap_err().to_string();
        assert_eq!(err, r#"spec.scopes: Invalid value: ["NotBestEffort"]: field is immutable"#);
    }
}
