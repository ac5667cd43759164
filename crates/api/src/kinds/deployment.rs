//! Deployments: defaults (1 replica, RollingUpdate 25%/25%, 10 revisions, 600s progress
//! deadline), validation as upstream's `ValidateDeploymentSpec`, and the apps/v1 rule that the
//! selector never changes.

use k8s_openapi::api::apps::v1::{
    Deployment, DeploymentSpec, DeploymentStatus, DeploymentStrategy, RollingUpdateDeployment,
};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::field_errors::{FieldError, FieldErrors, FieldPath};
use crate::kinds::common::{default_str, default_to, go_quote, invalid_repr, nonnegative, s, selector_immutable};
use crate::kinds::pod_spec::default_template;
use crate::kinds::workload::{
    drop_disabled_template, go_rolling_update, int_or_percent_value, not_more_than_100_percent,
    positive_int_or_percent, present_selector, validate_replicated_template, validate_required_selector,
};
use crate::strategy::KindRules;

impl KindRules for Deployment {
    fn prepare_for_create(&mut self) {
        self.status = Some(DeploymentStatus::default());
        if let Some(spec) = &mut self.spec {
            drop_disabled_template(&mut spec.template, None);
        }
    }

    fn prepare_for_update(&mut self, old: &Self) {
        if let Some(spec) = &mut self.spec {
            drop_disabled_template(&mut spec.template, old.spec.as_ref().map(|s| &s.template));
        }
    }

    fn default_fields(&mut self) {
        let spec = self.spec.get_or_insert_with(Default::default);
        default_to(&mut spec.replicas, 1);
        let strategy = spec.strategy.get_or_insert_with(DeploymentStrategy::default);
        default_str(&mut strategy.type_, "RollingUpdate");
        if strategy.type_.as_deref() == Some("RollingUpdate") {
            let ru = strategy.rolling_update.get_or_insert_with(RollingUpdateDeployment::default);
            default_to(&mut ru.max_unavailable, IntOrString::String("25%".to_string()));
            default_to(&mut ru.max_surge, IntOrString::String("25%".to_string()));
        }
        default_to(&mut spec.revision_history_limit, 10);
        default_to(&mut spec.progress_deadline_seconds, 600);
        default_template(&mut spec.template);
    }

    fn validate(&self) -> FieldErrors {
        let mut errs = FieldErrors::new();
        validate_spec(&mut errs, &self.spec.clone().unwrap_or_default(), &FieldPath::new("spec"));
        errs
    }

    fn validate_update(&self, old: &Self) -> FieldErrors {
        let mut errs = self.validate();
        let new_spec = self.spec.clone().unwrap_or_default();
        let old_spec = old.spec.clone().unwrap_or_default();
        selector_immutable(
            &mut errs,
            present_selector(&new_spec.selector),
            present_selector(&old_spec.selector),
            &FieldPath::new("spec").child("selector"),
        );
        errs
    }

    fn validate_status_update(&self, old: &Self) -> FieldErrors {
        let mut errs = FieldErrors::new();
        let st = self.status.clone().unwrap_or_default();
        let p = FieldPath::new("status");
        for (v, f) in [
            (st.observed_generation.unwrap_or(0), "observedGeneration"),
            (i64::from(st.replicas.unwrap_or(0)), "replicas"),
            (i64::from(st.updated_replicas.unwrap_or(0)), "updatedReplicas"),
            (i64::from(st.ready_replicas.unwrap_or(0)), "readyReplicas"),
            (i64::from(st.available_replicas.unwrap_or(0)), "availableReplicas"),
            (i64::from(st.unavailable_replicas.unwrap_or(0)), "unavailableReplicas"),
        ] {
            nonnegative(&mut errs, v, &p.child(f));
        }
        if let Some(c) = st.collision_count {
            nonnegative(&mut errs, i64::from(c), &p.child("collisionCount"));
        }
        let replicas = st.replicas.unwrap_or(0);
        for (v, f) in [
            (st.updated_replicas, "updatedReplicas"),
            (st.ready_replicas, "readyReplicas"),
            (st.available_replicas, "availableReplicas"),
        ] {
            let v = v.unwrap_or(0);
            if v > replicas {
                errs.push(FieldError::invalid(&p.child(f), v, "cannot be greater than status.replicas"));
            }
        }
        if st.available_replicas.unwrap_or(0) > st.ready_replicas.unwrap_or(0) {
            errs.push(FieldError::invalid(
                &p.child("availableReplicas"),
                st.available_replicas.unwrap_or(0),
                "cannot be greater than readyReplicas",
            ));
        }
        let old_cc = old.status.as_ref().and_then(|s| s.collision_count);
        if decremented(st.collision_count, old_cc) {
            errs.push(FieldError::invalid(
                &p.child("collisionCount"),
                st.collision_count.unwrap_or(0),
                "cannot be decremented",
            ));
        }
        errs
    }
}

/// Upstream's `IsDecremented`: lowered, or removed.
pub fn decremented(new: Option<i32>, old: Option<i32>) -> bool {
    match (new, old) {
        (None, Some(_)) => true,
        (Some(n), Some(o)) => n < o,
        _ => false,
    }
}

fn validate_spec(errs: &mut FieldErrors, spec: &DeploymentSpec, path: &FieldPath) {
    nonnegative(errs, i64::from(spec.replicas.unwrap_or(0)), &path.child("replicas"));
    let sel = present_selector(&spec.selector);
    validate_required_selector(errs, sel, "deployment", &path.child("selector"));
    validate_replicated_template(errs, &spec.template, sel, "ReplicaSet", &path.child("template"));
    validate_strategy(errs, spec.strategy.as_ref(), &path.child("strategy"));
    let min_ready = spec.min_ready_seconds.unwrap_or(0);
    nonnegative(errs, i64::from(min_ready), &path.child("minReadySeconds"));
    if let Some(r) = spec.revision_history_limit {
        nonnegative(errs, i64::from(r), &path.child("revisionHistoryLimit"));
    }
    if let Some(p) = spec.progress_deadline_seconds {
        nonnegative(errs, i64::from(p), &path.child("progressDeadlineSeconds"));
        if p <= min_ready {
            errs.push(FieldError::invalid(
                &path.child("progressDeadlineSeconds"),
                p,
                "must be greater than minReadySeconds",
            ));
        }
    }
}

fn validate_strategy(errs: &mut FieldErrors, strategy: Option<&DeploymentStrategy>, path: &FieldPath) {
    let default = DeploymentStrategy::default();
    let strategy = strategy.unwrap_or(&default);
    let ru = strategy.rolling_update.as_ref();
    match s(&strategy.type_) {
        "Recreate" => {
            if ru.is_some() {
                errs.push(FieldError::forbidden(
                    &path.child("rollingUpdate"),
                    "may not be specified when strategy `type` is 'Recreate'",
                ));
            }
        }
        "RollingUpdate" => match ru {
            None => errs
                .push(FieldError::required(&path.child("rollingUpdate"), "this should be defaulted and never be nil")),
            Some(ru) => {
                let rp = path.child("rollingUpdate");
                let zero = IntOrString::Int(0);
                let mu = ru.max_unavailable.as_ref().unwrap_or(&zero);
                let ms = ru.max_surge.as_ref().unwrap_or(&zero);
                positive_int_or_percent(errs, mu, &rp.child("maxUnavailable"));
                positive_int_or_percent(errs, ms, &rp.child("maxSurge"));
                if int_or_percent_value(mu) == 0 && int_or_percent_value(ms) == 0 {
                    errs.push(invalid_repr(
                        &rp.child("maxUnavailable"),
                        crate::kinds::common::go_int_or_string(mu),
                        "may not be 0 when `maxSurge` is 0",
                    ));
                }
                not_more_than_100_percent(errs, mu, &rp.child("maxUnavailable"));
            }
        },
        other => {
            let ru_repr = go_rolling_update(
                "RollingUpdateDeployment",
                ru.map(|r| vec![("MaxUnavailable", r.max_unavailable.as_ref()), ("MaxSurge", r.max_surge.as_ref())]),
            );
            let repr = format!("apps.DeploymentStrategy{{Type:{}, RollingUpdate:{ru_repr}}}", go_quote(other));
            errs.push(crate::kinds::common::not_supported_repr(path, repr, &["Recreate", "RollingUpdate"]));
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::strategy::Operation;
    use serde_json::{Value, json};

    fn admit(op: Operation, obj: Value, old: Option<&Value>) -> Result<Value, String> {
        let info = crate::registry().get("apps", "v1", "deployments").unwrap();
        info.strategy.admit(info, op, obj, old, false).map(|a| a.object).map_err(|e| e.to_string())
    }

    fn deploy(spec: Value) -> Value {
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "default"}, "spec": spec})
    }

    fn minimal() -> Value {
        deploy(json!({
            "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "web", "image": "nginx"}]}}
        }))
    }

    #[test]
    fn minimal_deployment_gets_defaults() {
        let d = admit(Operation::Create, minimal(), None).unwrap();
        let spec = &d["spec"];
        assert_eq!(spec["replicas"], 1);
        assert_eq!(
            spec["strategy"],
            json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}})
        );
        assert_eq!(spec["revisionHistoryLimit"], 10);
        assert_eq!(spec["progressDeadlineSeconds"], 600);
        assert_eq!(spec["template"]["spec"]["restartPolicy"], "Always");
        assert_eq!(spec["template"]["spec"]["containers"][0]["imagePullPolicy"], "Always");
        // Templates do not get the pod-only defaults.
        assert!(spec["template"]["spec"].get("enableServiceLinks").is_none());
        assert_eq!(d["status"], json!({}));
    }

    #[test]
    fn selector_must_match_template_labels() {
        let mut d = minimal();
        d["spec"]["template"]["metadata"]["labels"] = json!({"app": "other"});
        let err = admit(Operation::Create, d, None).unwrap_err();
        assert_eq!(
            err,
            r#"spec.template.metadata.labels: Invalid value: map[string]string{"app":"other"}: `selector` does not match template `labels`"#
        );

        let mut d = minimal();
        d["spec"].as_object_mut().unwrap().remove("selector");
        let err = admit(Operation::Create, d, None).unwrap_err();
        assert_eq!(
            err,
            r#"[spec.selector: Required value, spec.template.metadata.labels: Invalid value: map[string]string{"app":"web"}: `selector` does not match template `labels`]"#
        );
    }

    #[test]
    fn rejects_bad_strategy_replicas_and_restart_policy() {
        let mut d = minimal();
        d["spec"]["replicas"] = json!(-1);
        d["spec"]["strategy"] = json!({"rollingUpdate": {"maxSurge": 0, "maxUnavailable": 0}});
        d["spec"]["template"]["spec"]["restartPolicy"] = json!("Never");
        let err = admit(Operation::Create, d, None).unwrap_err();
        for want in [
            "spec.replicas: Invalid value: -1: must be greater than or equal to 0",
            "spec.strategy.rollingUpdate.maxUnavailable: Invalid value: 0: may not be 0 when `maxSurge` is 0",
            r#"spec.template.spec.restartPolicy: Unsupported value: "Never": supported values: "Always""#,
        ] {
            assert!(err.contains(want), "missing {want}\n in {err}");
        }

        let mut d = minimal();
        d["spec"]["strategy"] = json!({"type": "BlueGreen"});
        let err = admit(Operation::Create, d, None).unwrap_err();
        assert_eq!(
            err,
            r#"spec.strategy: Unsupported value: apps.DeploymentStrategy{Type:"BlueGreen", RollingUpdate:(*apps.RollingUpdateDeployment)(nil)}: supported values: "Recreate", "RollingUpdate""#
        );
    }

    #[test]
    fn selector_is_immutable() {
        let old = admit(Operation::Create, minimal(), None).unwrap();
        let mut new = old.clone();
        new["spec"]["selector"] = json!({"matchLabels": {"app": "web", "tier": "x"}});
        new["spec"]["template"]["metadata"]["labels"] = json!({"app": "web", "tier": "x"});
        let err = admit(Operation::Update, new, Some(&old)).unwrap_err();
        assert_eq!(
            err,
            r#"spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string{"app":"web", "tier":"x"}, MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: field is immutable"#
        );
        let mut scaled = old.clone();
        scaled["spec"]["replicas"] = json!(3);
        assert!(admit(Operation::Update, scaled, Some(&old)).is_ok());
    }
}
