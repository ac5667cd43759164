//! DaemonSets: RollingUpdate with maxUnavailable 1 / maxSurge 0 by default, 10 revisions, the
//! `deprecated.daemonset.template.generation` annotation counting template changes, and
//! upstream's `ValidateDaemonSetSpec` rules.

use k8s_openapi::api::apps::v1::{
    DaemonSet, DaemonSetSpec, DaemonSetStatus, DaemonSetUpdateStrategy, RollingUpdateDaemonSet,
};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::field_errors::{FieldError, FieldErrors, FieldPath};
use crate::kinds::common::{
    default_str, default_to, go_int_or_string, go_quote, invalid_repr, label_selector, nonnegative, not_supported_repr,
    s, selector_immutable,
};
use crate::kinds::deployment::decremented;
use crate::kinds::pod_spec::{default_template, validate_pod_template_spec};
use crate::kinds::workload::{
    drop_disabled_template, go_rolling_update, int_or_percent_value, not_more_than_100_percent,
    positive_int_or_percent, present_selector, restart_always_no_deadline,
};
use crate::strategy::KindRules;

/// Where the v1 API keeps the internal `templateGeneration` field.
const TEMPLATE_GENERATION: &str = "deprecated.daemonset.template.generation";

fn template_generation(ds: &DaemonSet) -> i64 {
    ds.metadata.annotations.as_ref().and_then(|a| a.get(TEMPLATE_GENERATION)).and_then(|v| v.parse().ok()).unwrap_or(0)
}

fn set_template_generation(ds: &mut DaemonSet, g: i64) {
    ds.metadata.annotations.get_or_insert_with(Default::default).insert(TEMPLATE_GENERATION.to_string(), g.to_string());
}

impl KindRules for DaemonSet {
    fn prepare_for_create(&mut self) {
        self.status = Some(DaemonSetStatus::default());
        if let Some(spec) = &mut self.spec {
            drop_disabled_template(&mut spec.template, None);
        }
        let g = template_generation(self).max(1);
        set_template_generation(self, g);
    }

    fn prepare_for_update(&mut self, old: &Self) {
        // Compare templates as upstream does: both defaulted.
        self.default_fields();
        if let Some(spec) = &mut self.spec {
            drop_disabled_template(&mut spec.template, old.spec.as_ref().map(|s| &s.template));
        }
        let mut g = template_generation(old);
        if self.spec.as_ref().map(|s| &s.template) != old.spec.as_ref().map(|s| &s.template) {
            g += 1;
        }
        set_template_generation(self, g);
    }

    fn default_fields(&mut self) {
        let spec = self.spec.get_or_insert_with(Default::default);
        let us = spec.update_strategy.get_or_insert_with(DaemonSetUpdateStrategy::default);
        default_str(&mut us.type_, "RollingUpdate");
        if us.type_.as_deref() == Some("RollingUpdate") {
            let ru = us.rolling_update.get_or_insert_with(RollingUpdateDaemonSet::default);
            default_to(&mut ru.max_unavailable, IntOrString::Int(1));
            default_to(&mut ru.max_surge, IntOrString::Int(0));
        }
        default_to(&mut spec.revision_history_limit, 10);
        default_template(&mut spec.template);
    }

    fn validate(&self) -> FieldErrors {
        let mut errs = FieldErrors::new();
        validate_spec(&mut errs, &self.spec.clone().unwrap_or_default(), &FieldPath::new("spec"));
        errs
    }

    fn validate_update(&self, old: &Self) -> FieldErrors {
        let mut errs = self.validate();
        let (n, o) = (self.spec.clone().unwrap_or_default(), old.spec.clone().unwrap_or_default());
        selector_immutable(
            &mut errs,
            present_selector(&n.selector),
            present_selector(&o.selector),
            &FieldPath::new("spec").child("selector"),
        );
        errs
    }

    fn validate_status_update(&self, old: &Self) -> FieldErrors {
        let mut errs = FieldErrors::new();
        let st = self.status.clone().unwrap_or_default();
        let p = FieldPath::new("status");
        for (v, f) in [
            (i64::from(st.current_number_scheduled), "currentNumberScheduled"),
            (i64::from(st.number_misscheduled), "numberMisscheduled"),
            (i64::from(st.desired_number_scheduled), "desiredNumberScheduled"),
            (i64::from(st.number_ready), "numberReady"),
            (st.observed_generation.unwrap_or(0), "observedGeneration"),
            (i64::from(st.updated_number_scheduled.unwrap_or(0)), "updatedNumberScheduled"),
            (i64::from(st.number_available.unwrap_or(0)), "numberAvailable"),
            (i64::from(st.number_unavailable.unwrap_or(0)), "numberUnavailable"),
        ] {
            nonnegative(&mut errs, v, &p.child(f));
        }
        if let Some(c) = st.collision_count {
            nonnegative(&mut errs, i64::from(c), &p.child("collisionCount"));
        }
        if decremented(st.collision_count, old.status.as_ref().and_then(|s| s.collision_count)) {
            errs.push(FieldError::invalid(
                &p.child("collisionCount"),
                st.collision_count.unwrap_or(0),
                "cannot be decremented",
            ));
        }
        errs
    }
}

fn validate_spec(errs: &mut FieldErrors, spec: &DaemonSetSpec, path: &FieldPath) {
    let sel = present_selector(&spec.selector);
    label_selector(errs, sel, &path.child("selector"));
    let labels = spec.template.metadata.as_ref().and_then(|m| m.labels.as_ref());
    crate::kinds::common::selector_must_match_template(
        errs,
        sel,
        labels,
        &path.child("template").child("metadata").child("labels"),
    );
    if let Some(sel) = sel.filter(|s| crate::kinds::common::selector_is_empty(s)) {
        errs.push(invalid_repr(
            &path.child("selector"),
            crate::kinds::common::go_label_selector(sel),
            "empty selector is invalid for daemonset",
        ));
    }
    validate_pod_template_spec(errs, &spec.template, &path.child("template"));
    restart_always_no_deadline(errs, &spec.template, "DaemonSet", &path.child("template"));
    nonnegative(errs, i64::from(spec.min_ready_seconds.unwrap_or(0)), &path.child("minReadySeconds"));
    validate_update_strategy(errs, spec.update_strategy.as_ref(), &path.child("updateStrategy"));
    if let Some(r) = spec.revision_history_limit {
        nonnegative(errs, i64::from(r), &path.child("revisionHistoryLimit"));
    }
}

fn validate_update_strategy(errs: &mut FieldErrors, us: Option<&DaemonSetUpdateStrategy>, path: &FieldPath) {
    let default = DaemonSetUpdateStrategy::default();
    let us = us.unwrap_or(&default);
    match s(&us.type_) {
        "OnDelete" => {}
        "RollingUpdate" => {
            let Some(ru) = &us.rolling_update else {
                errs.push(FieldError::required(&path.child("rollingUpdate"), ""));
                return;
            };
            let rp = path.child("rollingUpdate");
            let zero = IntOrString::Int(0);
            let mu = ru.max_unavailable.as_ref().unwrap_or(&zero);
            let ms = ru.max_surge.as_ref().unwrap_or(&zero);
            positive_int_or_percent(errs, mu, &rp.child("maxUnavailable"));
            positive_int_or_percent(errs, ms, &rp.child("maxSurge"));
            not_more_than_100_percent(errs, mu, &rp.child("maxUnavailable"));
            not_more_than_100_percent(errs, ms, &rp.child("maxSurge"));
            match (int_or_percent_value(mu) != 0, int_or_percent_value(ms) != 0) {
                (true, true) => errs.push(invalid_repr(
                    &rp.child("maxSurge"),
                    go_int_or_string(ms),
                    "may not be set when maxUnavailable is non-zero",
                )),
                (false, false) => {
                    errs.push(FieldError::required(&rp.child("maxUnavailable"), "cannot be 0 when maxSurge is 0"))
                }
                _ => {}
            }
        }
        other => {
            let ru = go_rolling_update(
                "RollingUpdateDaemonSet",
                us.rolling_update
                    .as_ref()
                    .map(|r| vec![("MaxUnavailable", r.max_unavailable.as_ref()), ("MaxSurge", r.max_surge.as_ref())]),
            );
            let repr = format!("apps.DaemonSetUpdateStrategy{{Type:{}, RollingUpdate:{ru}}}", go_quote(other));
            errs.push(not_supported_repr(path, repr, &["RollingUpdate", "OnDelete"]));
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::strategy::Operation;
    use serde_json::{Value, json};

    fn admit(op: Operation, obj: Value, old: Option<&Value>) -> Result<Value, String> {
        let info = crate::registry().get("apps", "v1", "daemonsets").unwrap();
        info.strategy.admit(info, op, obj, old, false).map(|a| a.object).map_err(|e| e.to_string())
    }

    fn ds() -> Value {
        json!({"metadata": {"name": "agent", "namespace": "kube-system"}, "spec": {
            "selector": {"matchLabels": {"app": "agent"}},
            "template": {"metadata": {"labels": {"app": "agent"}}, "spec": {"containers": [{"name": "a", "image": "agent:1"}]}}
        }})
    }

    #[test]
    fn defaults_and_template_generation() {
        let d = admit(Operation::Create, ds(), None).unwrap();
        assert_eq!(
            d["spec"]["updateStrategy"],
            json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}})
        );
        assert_eq!(d["spec"]["revisionHistoryLimit"], 10);
        assert_eq!(d["metadata"]["annotations"]["deprecated.daemonset.template.generation"], "1");

        let mut new = d.clone();
        new["spec"]["template"]["spec"]["containers"][0]["image"] = json!("agent:2");
        let u = admit(Operation::Update, new, Some(&d)).unwrap();
        assert_eq!(u["metadata"]["annotations"]["deprecated.daemonset.template.generation"], "2");
        let same = admit(Operation::Update, d.clone(), Some(&d)).unwrap();
        assert_eq!(same["metadata"]["annotations"]["deprecated.daemonset.template.generation"], "1");
    }

    #[test]
    fn rolling_update_needs_exactly_one_of_surge_and_unavailable() {
        let mut d = ds();
        d["spec"]["updateStrategy"] = json!({"rollingUpdate": {"maxUnavailable": 0, "maxSurge": 0}});
        assert_eq!(
            admit(Operation::Create, d, None).unwrap_err(),
            "spec.updateStrategy.rollingUpdate.maxUnavailable: Required value: cannot be 0 when maxSurge is 0"
        );
        let mut d = ds();
        d["spec"]["selector"] = json!({"matchLabels": {"app": "x"}});
        assert!(admit(Operation::Create, d, None).unwrap_err().contains("`selector` does not match template `labels`"));
    }
}
