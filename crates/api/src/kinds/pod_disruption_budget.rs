//! PodDisruptionBudgets: at most one of minAvailable and maxUnavailable, each a non-negative
//! int or a percentage up to 100%, a valid selector (upstream's `ValidatePodDisruptionBudget`).

use k8s_openapi::api::policy::v1::{PodDisruptionBudget, PodDisruptionBudgetStatus};

use crate::field_errors::{FieldError, FieldErrors, FieldPath};
use crate::kinds::common::{json, label_selector, nonnegative};
use crate::kinds::workload::{not_more_than_100_percent, positive_int_or_percent};
use crate::strategy::KindRules;

impl KindRules for PodDisruptionBudget {
    fn prepare_for_create(&mut self) {
        self.status = Some(PodDisruptionBudgetStatus::default());
    }

    fn validate(&self) -> FieldErrors {
        let mut errs = FieldErrors::new();
        let spec = self.spec.clone().unwrap_or_default();
        let path = FieldPath::new("spec");
        if spec.min_available.is_some() && spec.max_unavailable.is_some() {
            errs.push(FieldError::invalid(&path, json(&spec), "minAvailable and maxUnavailable cannot be both set"));
        }
        for (v, f) in [(&spec.min_available, "minAvailable"), (&spec.max_unavailable, "maxUnavailable")] {
            if let Some(v) = v {
                positive_int_or_percent(&mut errs, v, &path.child(f));
                not_more_than_100_percent(&mut errs, v, &path.child(f));
            }
        }
        label_selector(&mut errs, spec.selector.as_ref(), &path.child("selector"));
        if let Some(p) = &spec.unhealthy_pod_eviction_policy
            && p != "AlwaysAllow"
            && p != "IfHealthyBudget"
        {
            errs.push(FieldError::not_supported(
                &path.child("unhealthyPodEvictionPolicy"),
                p.as_str(),
                &["AlwaysAllow", "IfHealthyBudget"],
            ));
        }
        errs
    }

    fn validate_status_update(&self, _old: &Self) -> FieldErrors {
        let mut errs = FieldErrors::new();
        let st = self.status.clone().unwrap_or_default();
        let p = FieldPath::new("status");
        for (v, f) in [
            (st.disruptions_allowed, "disruptionsAllowed"),
            (st.current_healthy, "currentHealthy"),
            (st.desired_healthy, "desiredHealthy"),
            (st.expected_pods, "expectedPods"),
        ] {
            nonnegative(&mut errs, i64::from(v), &p.child(f));
        }
        errs
    }
}

#[cfg(test)]
mod tests {
    use crate::strategy::Operation;
    use serde_json::json;

    #[test]
    fn min_xor_max() {
        let info = crate::registry().get("policy", "v1", "poddisruptionbudgets").unwrap();
        let ok = json!({"metadata": {"name": "p", "namespace": "d"}, "spec": {"minAvailable": "50%", "selector": {"matchLabels": {"app": "x"}}}});
        let out = info.strategy.admit(info, Operation::Create, ok, None, false).unwrap().object;
        assert_eq!(out["status"]["disruptionsAllowed"], 0);
        let both =
            json!({"metadata": {"name": "p", "namespace": "d"}, "spec": {"minAvailable": 1, "maxUnavailable": 1}});
        let err = info.strategy.admit(info, Operation::Create, both, None, false).unwrap_err().to_string();
        assert!(err.ends_with(": minAvailable and maxUnavailable cannot be both set"), "{err}");
        let pct = json!({"metadata": {"name": "p", "namespace": "d"}, "spec": {"maxUnavailable": "150%"}});
        let err = info.strategy.admit(info, Operation::Create, pct, None, false).unwrap_err().to_string();
        assert_eq!(err, "spec.maxUnavailable: Invalid value: 150%: must not be greater than 100%");
    }
}
