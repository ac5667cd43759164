//! HorizontalPodAutoscalers (autoscaling/v2): minReplicas 1 and an 80% CPU target by default,
//! scaling behavior filled with upstream's default rules, and `validateHorizontalPodAutoscalerSpec`.

use k8s_openapi::api::autoscaling::v2::{
    CrossVersionObjectReference, HPAScalingPolicy, HPAScalingRules, HorizontalPodAutoscaler,
    HorizontalPodAutoscalerStatus, MetricIdentifier, MetricSpec, MetricTarget, ResourceMetricSource,
};

use crate::field_errors::{FieldError, FieldErrors, FieldPath};
use crate::kinds::common::{dns1123_label, invalid_repr, label_selector};
use crate::kinds::resource_names;
use crate::names;
use crate::quantity::Quantity;
use crate::strategy::KindRules;

const MAX_PERIOD_SECONDS: i32 = 1800;
const MAX_STABILIZATION_SECONDS: i32 = 3600;
const SOURCE_TYPES: &[&str] = &["ContainerResource", "External", "Object", "Pods", "Resource"];

fn policy(type_: &str, value: i32) -> HPAScalingPolicy {
    HPAScalingPolicy { type_: type_.to_string(), value, period_seconds: 15 }
}

/// Fill unset parts of scaling rules from the defaults (upstream's `copyHPAScalingRules`).
fn fill_rules(rules: &mut Option<HPAScalingRules>, up: bool) {
    let mut defaults = if up {
        HPAScalingRules {
            stabilization_window_seconds: Some(0),
            select_policy: Some("Max".to_string()),
            policies: Some(vec![policy("Pods", 4), policy("Percent", 100)]),
            tolerance: None,
        }
    } else {
        // The scale-down window stays unset: the controller's flag decides it.
        HPAScalingRules {
            stabilization_window_seconds: None,
            select_policy: Some("Max".to_string()),
            policies: Some(vec![policy("Percent", 100)]),
            tolerance: None,
        }
    };
    if let Some(r) = rules.take() {
        if r.select_policy.is_some() {
            defaults.select_policy = r.select_policy;
        }
        if r.stabilization_window_seconds.is_some() {
            defaults.stabilization_window_seconds = r.stabilization_window_seconds;
        }
        if r.policies.is_some() {
            defaults.policies = r.policies;
        }
        // `tolerance` is alpha in 1.33 and dropped.
        let _ = r.tolerance;
    }
    *rules = Some(defaults);
}

impl KindRules for HorizontalPodAutoscaler {
    fn prepare_for_create(&mut self) {
        self.status = Some(HorizontalPodAutoscalerStatus::default());
    }

    fn default_fields(&mut self) {
        let spec = self.spec.get_or_insert_with(Default::default);
        crate::kinds::common::default_to(&mut spec.min_replicas, 1);
        if spec.metrics.as_ref().is_none_or(Vec::is_empty) {
            spec.metrics = Some(vec![MetricSpec {
                type_: "Resource".to_string(),
                resource: Some(ResourceMetricSource {
                    name: "cpu".to_string(),
                    target: MetricTarget {
                        type_: "Utilization".to_string(),
                        average_utilization: Some(80),
                        ..Default::default()
                    },
                }),
                ..Default::default()
            }]);
        }
        if let Some(b) = &mut spec.behavior {
            fill_rules(&mut b.scale_up, true);
            fill_rules(&mut b.scale_down, false);
        }
    }

    fn validate(&self) -> FieldErrors {
        let mut errs = FieldErrors::new();
        let spec = self.spec.clone().unwrap_or_default();
        let p = FieldPath::new("spec");
        if let Some(m) = spec.min_replicas.filter(|m| *m < 1) {
            errs.push(FieldError::invalid(&p.child("minReplicas"), m, "must be greater than or equal to 1"));
        }
        if spec.max_replicas < 1 {
            errs.push(FieldError::invalid(&p.child("maxReplicas"), spec.max_replicas, "must be greater than 0"));
        }
        if spec.min_replicas.is_some_and(|m| spec.max_replicas < m) {
            errs.push(FieldError::invalid(
                &p.child("maxReplicas"),
                spec.max_replicas,
                "must be greater than or equal to `minReplicas`",
            ));
        }
        object_ref(&mut errs, &spec.scale_target_ref, &p.child("scaleTargetRef"));
        let mp = p.child("metrics");
        for (i, m) in spec.metrics.iter().flatten().enumerate() {
            metric(&mut errs, m, &mp.index(i));
        }
        if let Some(b) = &spec.behavior {
            let bp = p.child("behavior");
            rules(&mut errs, b.scale_up.as_ref(), &bp.child("scaleUp"));
            rules(&mut errs, b.scale_down.as_ref(), &bp.child("scaleDown"));
        }
        errs
    }
}

fn object_ref(errs: &mut FieldErrors, r: &CrossVersionObjectReference, path: &FieldPath) {
    for (v, f) in [(&r.kind, "kind"), (&r.name, "name")] {
        if v.is_empty() {
            errs.push(FieldError::required(&path.child(f), ""));
        } else {
            for m in names::is_path_segment_name(v) {
                errs.push(FieldError::invalid(&path.child(f), v.as_str(), m));
            }
        }
    }
}

fn identifier(errs: &mut FieldErrors, id: &MetricIdentifier, path: &FieldPath) {
    if id.name.is_empty() {
        errs.push(FieldError::required(&path.child("name"), "must specify a metric name"));
    } else {
        for m in names::is_path_segment_name(&id.name) {
            errs.push(FieldError::invalid(&path.child("name"), id.name.as_str(), m));
        }
    }
    label_selector(errs, id.selector.as_ref(), &path.child("selector"));
}

fn target(errs: &mut FieldErrors, t: &MetricTarget, path: &FieldPath) {
    if t.type_.is_empty() {
        errs.push(FieldError::required(&path.child("type"), "must specify a metric target type"));
    }
    if !["Utilization", "Value", "AverageValue"].contains(&t.type_.as_str()) {
        errs.push(FieldError::invalid(
            &path.child("type"),
            t.type_.as_str(),
            "must be either Utilization, Value, or AverageValue",
        ));
    }
    for (q, f) in [(&t.value, "value"), (&t.average_value, "averageValue")] {
        if let Some(q) = q
            && let Some(v) = resource_names::parse(errs, q, &path.child(f))
            && v <= Quantity::zero()
        {
            errs.push(invalid_repr(&path.child(f), v.to_canonical(), "must be positive"));
        }
    }
    if let Some(u) = t.average_utilization.filter(|u| *u < 1) {
        errs.push(FieldError::invalid(&path.child("averageUtilization"), u, "must be greater than 0"));
    }
}

fn resource_target(errs: &mut FieldErrors, name: &str, t: &MetricTarget, path: &FieldPath) {
    if name.is_empty() {
        errs.push(FieldError::required(&path.child("name"), "must specify a resource name"));
    } else {
        resource_names::validate_container_name(errs, name, &path.child("name"));
    }
    target(errs, t, &path.child("target"));
    if t.average_utilization.is_none() && t.average_value.is_none() {
        errs.push(FieldError::required(
            &path.child("target").child("averageUtilization"),
            "must set either a target raw value or a target utilization",
        ));
    }
    if t.average_utilization.is_some() && t.average_value.is_some() {
        errs.push(FieldError::forbidden(
            &path.child("target").child("averageValue"),
            "may not set both a target raw value and a target utilization",
        ));
    }
}

fn metric(errs: &mut FieldErrors, m: &MetricSpec, path: &FieldPath) {
    if m.type_.is_empty() {
        errs.push(FieldError::required(&path.child("type"), "must specify a metric source type"));
    }
    if !SOURCE_TYPES.contains(&m.type_.as_str()) {
        errs.push(FieldError::not_supported(&path.child("type"), m.type_.as_str(), SOURCE_TYPES));
    }
    let present: Vec<&str> = [
        (m.object.is_some(), "object"),
        (m.pods.is_some(), "pods"),
        (m.resource.is_some(), "resource"),
        (m.external.is_some(), "external"),
        (m.container_resource.is_some(), "containerResource"),
    ]
    .into_iter()
    .filter(|(set, _)| *set)
    .map(|(_, f)| f)
    .collect();
    // Only the first source present is validated, as upstream does.
    match present.first().copied() {
        Some("object") => {
            let o = m.object.as_ref().expect("present");
            let p = path.child("object");
            object_ref(errs, &o.described_object, &p.child("describedObject"));
            identifier(errs, &o.metric, &p.child("metric"));
            target(errs, &o.target, &p.child("target"));
            if o.target.value.is_none() && o.target.average_value.is_none() {
                errs.push(FieldError::required(
                    &p.child("target").child("averageValue"),
                    "must set either a target value or averageValue",
                ));
            }
        }
        Some("pods") => {
            let o = m.pods.as_ref().expect("present");
            let p = path.child("pods");
            identifier(errs, &o.metric, &p.child("metric"));
            target(errs, &o.target, &p.child("target"));
            if o.target.average_value.is_none() {
                errs.push(FieldError::required(
                    &p.child("target").child("averageValue"),
                    "must specify a positive target averageValue",
                ));
            }
        }
        Some("resource") => {
            let o = m.resource.as_ref().expect("present");
            resource_target(errs, &o.name, &o.target, &path.child("resource"));
        }
        Some("external") => {
            let o = m.external.as_ref().expect("present");
            let p = path.child("external");
            identifier(errs, &o.metric, &p.child("metric"));
            target(errs, &o.target, &p.child("target"));
            if o.target.value.is_none() && o.target.average_value.is_none() {
                errs.push(FieldError::required(
                    &p.child("target").child("averageValue"),
                    "must set either a target value for metric or a per-pod target",
                ));
            }
            if o.target.value.is_some() && o.target.average_value.is_some() {
                errs.push(FieldError::forbidden(
                    &p.child("target").child("value"),
                    "may not set both a target value for metric and a per-pod target",
                ));
            }
        }
        Some(_) => {
            let o = m.container_resource.as_ref().expect("present");
            let p = path.child("containerResource");
            if o.container.is_empty() {
                errs.push(FieldError::required(&p.child("container"), "must specify a container"));
            } else {
                dns1123_label(errs, &o.container, &p.child("container"));
            }
            resource_target(errs, &o.name, &o.target, &p);
        }
        None => {}
    }
    let expected = match m.type_.as_str() {
        "Object" => Some("object"),
        "Pods" => Some("pods"),
        "Resource" => Some("resource"),
        "External" => Some("external"),
        "ContainerResource" => Some("containerResource"),
        _ => None,
    };
    if let Some(e) = expected
        && !present.contains(&e)
    {
        errs.push(FieldError::required(&path.child(e), "must populate information for the given metric source"));
    }
    if present.len() != 1 {
        for f in present.iter().filter(|f| Some(**f) != expected) {
            errs.push(FieldError::forbidden(&path.child(f), "must populate the given metric source only"));
        }
    }
}

fn rules(errs: &mut FieldErrors, r: Option<&HPAScalingRules>, path: &FieldPath) {
    let Some(r) = r else { return };
    if let Some(w) = r.stabilization_window_seconds {
        if w < 0 {
            errs.push(FieldError::invalid(
                &path.child("stabilizationWindowSeconds"),
                w,
                "must be greater than or equal to zero",
            ));
        }
        if w > MAX_STABILIZATION_SECONDS {
            errs.push(FieldError::invalid(
                &path.child("stabilizationWindowSeconds"),
                w,
                format!("must be less than or equal to {MAX_STABILIZATION_SECONDS}"),
            ));
        }
    }
    if let Some(sp) = r.select_policy.as_deref().filter(|sp| !["Disabled", "Max", "Min"].contains(sp)) {
        errs.push(FieldError::not_supported(&path.child("selectPolicy"), sp, &["Disabled", "Max", "Min"]));
    }
    let pp = path.child("policies");
    let policies = r.policies.as_deref().unwrap_or_default();
    if policies.is_empty() {
        errs.push(FieldError::required(&pp, "must specify at least one Policy"));
    }
    for (i, p) in policies.iter().enumerate() {
        let ip = pp.index(i);
        if p.type_ != "Pods" && p.type_ != "Percent" {
            errs.push(FieldError::not_supported(&ip.child("type"), p.type_.as_str(), &["Percent", "Pods"]));
        }
        if p.value <= 0 {
            errs.push(FieldError::invalid(&ip.child("value"), p.value, "must be greater than zero"));
        }
        if p.period_seconds <= 0 {
            errs.push(FieldError::invalid(&ip.child("periodSeconds"), p.period_seconds, "must be greater than zero"));
        }
        if p.period_seconds > MAX_PERIOD_SECONDS {
            errs.push(FieldError::invalid(
                &ip.child("periodSeconds"),
                p.period_seconds,
                format!("must be less than or equal to {MAX_PERIOD_SECONDS}"),
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::strategy::Operation;
    use serde_json::json;

    #[test]
    fn defaults_and_validation() {
        let info = crate::registry().get("autoscaling", "v2", "horizontalpodautoscalers").unwrap();
        let hpa = json!({"metadata": {"name": "h", "namespace": "d"}, "spec": {"maxReplicas": 5,
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}, "behavior": {"scaleDown": {"stabilizationWindowSeconds": 60}}}});
        let out = info.strategy.admit(info, Operation::Create, hpa, None, false).unwrap().object;
        let spec = &out["spec"];
        assert_eq!(spec["minReplicas"], 1);
        assert_eq!(
            spec["metrics"],
            json!([{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80}}}])
        );
        assert_eq!(
            spec["behavior"]["scaleUp"]["policies"][0],
            json!({"type": "Pods", "value": 4, "periodSeconds": 15})
        );
        assert_eq!(spec["behavior"]["scaleDown"]["stabilizationWindowSeconds"], 60);
        let bad = json!({"metadata": {"name": "h", "namespace": "d"}, "spec": {"minReplicas": 3, "maxReplicas": 2, "scaleTargetRef": {"kind": "Deployment", "name": "web"}}});
        let err = info.strategy.admit(info, Operation::Create, bad, None, false).unwrap_err().to_string();
        assert_eq!(err, "spec.maxReplicas: Invalid value: 2: must be greater than or equal to `minReplicas`");
    }
}
