//! The HorizontalPodAutoscaler printer (autoscaling/v2, the shape upstream prints from).

use k8s_openapi::api::autoscaling::v2::{
    HorizontalPodAutoscaler, MetricSpec, MetricStatus, MetricTarget, MetricValueStatus,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use serde_json::{Value, json};

use super::cells::{NONE, UNSET, canonical, name};
use super::{AGE, Column, NAME, TablePrinter, age_cell};

impl TablePrinter for HorizontalPodAutoscaler {
    fn columns() -> &'static [Column] {
        const COLUMNS: &[Column] = &[
            NAME,
            Column::new("Reference", "string", "The scaled object, as kind/name."),
            Column::new("Targets", "string", "Current and target values of the metrics."),
            Column::new("MinPods", "string", "Lower replica bound."),
            Column::new("MaxPods", "string", "Upper replica bound."),
            Column::new("Replicas", "string", "Current number of replicas."),
            AGE,
        ];
        COLUMNS
    }

    fn row(&self, object: &Value, now: i64) -> Vec<Value> {
        let spec = self.spec.clone().unwrap_or_default();
        let status = self.status.clone().unwrap_or_default();
        let reference = format!("{}/{}", spec.scale_target_ref.kind, spec.scale_target_ref.name);
        let targets = format_metrics(
            spec.metrics.as_deref().unwrap_or_default(),
            status.current_metrics.as_deref().unwrap_or_default(),
        );
        vec![
            name(&self.metadata),
            reference.into(),
            targets.into(),
            spec.min_replicas.map_or_else(|| UNSET.to_string(), |m| m.to_string()).into(),
            json!(spec.max_replicas),
            json!(status.current_replicas.unwrap_or(0)),
            age_cell(object, now),
        ]
    }
}

/// A quantity as Go prints a possibly-nil one.
fn qty(q: Option<&Quantity>) -> String {
    q.map_or_else(|| "<nil>".to_string(), canonical)
}

const UNKNOWN: &str = "<unknown>";

/// `current/target` per metric, two shown then ` + N more...`. The status entry at the same
/// index holds a metric's current value; `<unknown>` until the controller has filled it in.
fn format_metrics(specs: &[MetricSpec], statuses: &[MetricStatus]) -> String {
    if specs.is_empty() {
        return NONE.to_string();
    }
    let list: Vec<String> = specs.iter().enumerate().map(|(i, spec)| format_metric(spec, statuses.get(i))).collect();
    const MAX: usize = 2;
    let shown = list.iter().take(MAX).cloned().collect::<Vec<_>>().join(", ");
    if list.len() > MAX { format!("{shown} + {} more...", list.len() - MAX) } else { shown }
}

fn format_metric(spec: &MetricSpec, status: Option<&MetricStatus>) -> String {
    match spec.type_.as_str() {
        "External" => match &spec.external {
            Some(ext) => value_metric(&ext.target, status.and_then(|s| s.external.as_ref()).map(|s| &s.current)),
            None => "<unknown type>".to_string(),
        },
        "Object" => match &spec.object {
            Some(obj) => value_metric(&obj.target, status.and_then(|s| s.object.as_ref()).map(|s| &s.current)),
            None => "<unknown type>".to_string(),
        },
        "Pods" => match &spec.pods {
            Some(pods) => {
                let current = status
                    .and_then(|s| s.pods.as_ref())
                    .map_or_else(|| UNKNOWN.to_string(), |s| qty(s.current.average_value.as_ref()));
                format!("{current}/{}", qty(pods.target.average_value.as_ref()))
            }
            None => "<unknown type>".to_string(),
        },
        "Resource" => match &spec.resource {
            Some(res) => {
                let current = status.and_then(|s| s.resource.as_ref()).map(|s| &s.current);
                format!("{}: {}", res.name, resource_metric(&res.target, current))
            }
            None => "<unknown type>".to_string(),
        },
        "ContainerResource" => match &spec.container_resource {
            Some(res) => {
                let current = status.and_then(|s| s.container_resource.as_ref()).map(|s| &s.current);
                format!("{}: {}", res.name, resource_metric(&res.target, current))
            }
            None => "<unknown type>".to_string(),
        },
        _ => "<unknown type>".to_string(),
    }
}

/// Object and External metrics: an average-value target prints `cur/target (avg)`, otherwise
/// the plain value.
fn value_metric(target: &MetricTarget, current: Option<&MetricValueStatus>) -> String {
    match &target.average_value {
        Some(avg) => {
            let cur = current.and_then(|c| c.average_value.as_ref()).map_or_else(|| UNKNOWN.to_string(), canonical);
            format!("{cur}/{} (avg)", canonical(avg))
        }
        None => {
            let cur = current.map_or_else(|| UNKNOWN.to_string(), |c| qty(c.value.as_ref()));
            format!("{cur}/{}", qty(target.value.as_ref()))
        }
    }
}

/// Resource metrics: an average-value target compares values, otherwise utilization in percent
/// (`<auto>` when the target gives none).
fn resource_metric(target: &MetricTarget, current: Option<&MetricValueStatus>) -> String {
    match &target.average_value {
        Some(avg) => {
            let cur = current.map_or_else(|| UNKNOWN.to_string(), |c| qty(c.average_value.as_ref()));
            format!("{cur}/{}", canonical(avg))
        }
        None => {
            let cur =
                current.and_then(|c| c.average_utilization).map_or_else(|| UNKNOWN.to_string(), |u| format!("{u}%"));
            let target = target.average_utilization.map_or_else(|| "<auto>".to_string(), |u| format!("{u}%"));
            format!("{cur}/{target}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hpa(v: Value) -> HorizontalPodAutoscaler {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn targets() {
        let h = hpa(json!({
            "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "web"}, "maxReplicas": 10, "minReplicas": 2, "metrics": [
                {"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80}}},
                {"type": "Pods", "pods": {"metric": {"name": "qps"}, "target": {"type": "AverageValue", "averageValue": "10"}}},
                {"type": "External", "external": {"metric": {"name": "queue"}, "target": {"type": "AverageValue", "averageValue": "30"}}},
            ]},
            "status": {"currentReplicas": 3, "desiredReplicas": 3, "currentMetrics": [
                {"type": "Resource", "resource": {"name": "cpu", "current": {"averageUtilization": 45}}},
            ]},
        }));
        let row = h.row(&json!({}), 0);
        assert_eq!(
            row[1..6],
            [json!("Deployment/web"), json!("cpu: 45%/80%, <unknown>/10 + 1 more..."), json!("2"), json!(10), json!(3)]
        );
    }

    #[test]
    fn empty_and_unset() {
        let row = hpa(json!({"spec": {"scaleTargetRef": {"kind": "Deployment", "name": "web"}, "maxReplicas": 5}}))
            .row(&json!({}), 0);
        assert_eq!(row[2..6], [json!("<none>"), json!("<unset>"), json!(5), json!(0)]);
        let spec: MetricSpec = serde_json::from_value(json!(
            {"type": "Resource", "resource": {"name": "memory", "target": {"type": "AverageValue", "averageValue": "512Mi"}}}
        ))
        .unwrap();
        assert_eq!(format_metric(&spec, None), "memory: <unknown>/512Mi");
        let spec: MetricSpec = serde_json::from_value(json!(
            {"type": "Object", "object": {"describedObject": {"kind": "Ingress", "name": "i"}, "metric": {"name": "rps"},
             "target": {"type": "Value", "value": "100"}}}
        ))
        .unwrap();
        assert_eq!(format_metric(&spec, None), "<unknown>/100");
    }
}
