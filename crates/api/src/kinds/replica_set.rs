//! ReplicaSets: 1 replica by default, selector required and matching the template, template
//! restart policy Always, selector immutable in apps/v1 (upstream's replicaset strategy).

use k8s_openapi::api::apps::v1::{ReplicaSet, ReplicaSetStatus};
use k8s_openapi::api::core::v1::PodTemplateSpec;

use crate::field_errors::{FieldError, FieldErrors, FieldPath};
use crate::kinds::common::{default_to, nonnegative, selector_immutable};
use crate::kinds::pod_spec::default_template;
use crate::kinds::workload::{
    drop_disabled_template, present_selector, validate_replicated_template, validate_required_selector,
};
use crate::strategy::KindRules;

impl KindRules for ReplicaSet {
    fn prepare_for_create(&mut self) {
        self.status = Some(ReplicaSetStatus::default());
        if let Some(t) = self.spec.as_mut().and_then(|s| s.template.as_mut()) {
            drop_disabled_template(t, None);
        }
    }

    fn prepare_for_update(&mut self, old: &Self) {
        let old_t = old.spec.as_ref().and_then(|s| s.template.as_ref());
        if let Some(t) = self.spec.as_mut().and_then(|s| s.template.as_mut()) {
            drop_disabled_template(t, old_t);
        }
    }

    fn default_fields(&mut self) {
        let spec = self.spec.get_or_insert_with(Default::default);
        default_to(&mut spec.replicas, 1);
        default_template(spec.template.get_or_insert_with(PodTemplateSpec::default));
    }

    fn validate(&self) -> FieldErrors {
        let mut errs = FieldErrors::new();
        let spec = self.spec.clone().unwrap_or_default();
        let path = FieldPath::new("spec");
        nonnegative(&mut errs, i64::from(spec.replicas.unwrap_or(0)), &path.child("replicas"));
        nonnegative(&mut errs, i64::from(spec.min_ready_seconds.unwrap_or(0)), &path.child("minReadySeconds"));
        let sel = present_selector(&spec.selector);
        // Upstream's message says "deployment" here too.
        validate_required_selector(&mut errs, sel, "deployment", &path.child("selector"));
        let template = spec.template.unwrap_or_default();
        validate_replicated_template(&mut errs, &template, sel, "ReplicaSet", &path.child("template"));
        errs
    }

    fn validate_update(&self, old: &Self) -> FieldErrors {
        let mut errs = self.validate();
        let (new_spec, old_spec) = (self.spec.clone().unwrap_or_default(), old.spec.clone().unwrap_or_default());
        selector_immutable(
            &mut errs,
            present_selector(&new_spec.selector),
            present_selector(&old_spec.selector),
            &FieldPath::new("spec").child("selector"),
        );
        errs
    }

    fn validate_status_update(&self, _old: &Self) -> FieldErrors {
        let st = self.status.clone().unwrap_or_default();
        replica_counts(
            st.replicas,
            &[
                ("fullyLabeledReplicas", st.fully_labeled_replicas),
                ("readyReplicas", st.ready_replicas),
                ("availableReplicas", st.available_replicas),
            ],
            st.observed_generation,
            st.available_replicas,
            st.ready_replicas,
        )
    }
}

/// Upstream's replica-count status checks (ReplicaSet and ReplicationController).
pub fn replica_counts(
    replicas: i32,
    counts: &[(&str, Option<i32>)],
    observed_generation: Option<i64>,
    available: Option<i32>,
    ready: Option<i32>,
) -> FieldErrors {
    let mut errs = FieldErrors::new();
    let p = FieldPath::new("status");
    nonnegative(&mut errs, i64::from(replicas), &p.child("replicas"));
    for (f, v) in counts {
        nonnegative(&mut errs, i64::from(v.unwrap_or(0)), &p.child(f));
    }
    nonnegative(&mut errs, observed_generation.unwrap_or(0), &p.child("observedGeneration"));
    for (f, v) in counts {
        let v = v.unwrap_or(0);
        if v > replicas {
            errs.push(FieldError::invalid(&p.child(f), v, "cannot be greater than status.replicas"));
        }
    }
    if available.unwrap_or(0) > ready.unwrap_or(0) {
        errs.push(FieldError::invalid(
            &p.child("availableReplicas"),
            available.unwrap_or(0),
            "cannot be greater than readyReplicas",
        ));
    }
    errs
}

#[cfg(test)]
mod tests {
    use crate::strategy::Operation;
    use serde_json::{Value, json};

    fn admit(op: Operation, obj: Value, old: Option<&Value>) -> Result<Value, String> {
        let info = crate::registry().get("apps", "v1", "replicasets").unwrap();
        info.strategy.admit(info, op, obj, old, false).map(|a| a.object).map_err(|e| e.to_string())
    }

    fn rs() -> Value {
        json!({"metadata": {"name": "web", "namespace": "default"}, "spec": {
            "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "web", "image": "nginx"}]}}
        }})
    }

    #[test]
    fn defaults_and_validation() {
        let r = admit(Operation::Create, rs(), None).unwrap();
        assert_eq!(r["spec"]["replicas"], 1);
        let mut bad = rs();
        bad["spec"]["selector"] = json!({"matchLabels": {}});
        let err = admit(Operation::Create, bad, None).unwrap_err();
        assert_eq!(
            err,
            "spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string{}, MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: empty selector is invalid for deployment"
        );
    }

    #[test]
    fn selector_immutable_and_status_counts() {
        let old = admit(Operation::Create, rs(), None).unwrap();
        let mut new = old.clone();
        new["spec"]["selector"]["matchLabels"] = json!({"app": "web", "x": "y"});
        new["spec"]["template"]["metadata"]["labels"] = json!({"app": "web", "x": "y"});
        assert!(admit(Operation::Update, new, Some(&old)).unwrap_err().ends_with("field is immutable"));
        let mut st = old.clone();
        st["status"] = json!({"replicas": 1, "readyReplicas": 2});
        assert_eq!(
            admit(Operation::StatusUpdate, st, Some(&old)).unwrap_err(),
            "status.readyReplicas: Invalid value: 2: cannot be greater than status.replicas"
        );
    }
}
