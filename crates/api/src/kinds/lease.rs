//! Leases: a positive duration, non-negative transitions, and a preferred holder only with a
//! strategy (upstream's `ValidateLeaseSpec`).

use k8s_openapi::api::coordination::v1::Lease;

use crate::field_errors::{FieldError, FieldErrors, FieldPath};
use crate::strategy::KindRules;

impl KindRules for Lease {
    fn validate(&self) -> FieldErrors {
        let mut errs = FieldErrors::new();
        let Some(spec) = &self.spec else { return errs };
        let p = FieldPath::new("spec");
        if let Some(d) = spec.lease_duration_seconds.filter(|d| *d <= 0) {
            errs.push(FieldError::invalid(&p.child("leaseDurationSeconds"), d, "must be greater than 0"));
        }
        if let Some(t) = spec.lease_transitions.filter(|t| *t < 0) {
            errs.push(FieldError::invalid(&p.child("leaseTransitions"), t, "must be greater than or equal to 0"));
        }
        if let Some(s) = &spec.strategy
            && s != "OldestEmulationVersion"
        {
            errs.push(FieldError::not_supported(&p.child("strategy"), s.as_str(), &["OldestEmulationVersion"]));
        }
        if spec.preferred_holder.as_deref().is_some_and(|h| !h.is_empty()) && spec.strategy.is_none() {
            errs.push(FieldError::forbidden(
                &p.child("preferredHolder"),
                "may only be specified if `strategy` is defined",
            ));
        }
        errs
    }
}

#[cfg(test)]
mod tests {
    use crate::strategy::Operation;
    use serde_json::json;

    #[test]
    fn duration_must_be_positive() {
        let info = crate::registry().get("coordination.k8s.io", "v1", "leases").unwrap();
        let lease = json!({"metadata": {"name": "l", "namespace": "d"}, "spec": {"holderIdentity": "me", "leaseDurationSeconds": 0}});
        let err = info.strategy.admit(info, Operation::Create, lease, None, false).unwrap_err().to_string();
        assert_eq!(err, "spec.leaseDurationSeconds: Invalid value: 0: must be greater than 0");
    }
}
