//! The PodDisruptionBudget printer (policy/v1).

use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde_json::{Value, json};

use super::cells::name;
use super::{AGE, Column, NAME, TablePrinter, age_cell};

impl TablePrinter for PodDisruptionBudget {
    fn columns() -> &'static [Column] {
        const COLUMNS: &[Column] = &[
            NAME,
            Column::new("Min Available", "string", "The minimum number of pods that must be available."),
            Column::new("Max Unavailable", "string", "The maximum number of pods that may be unavailable."),
            Column::new("Allowed Disruptions", "integer", "How many pods may be disrupted right now."),
            AGE,
        ];
        COLUMNS
    }

    fn row(&self, object: &Value, now: i64) -> Vec<Value> {
        let spec = self.spec.clone().unwrap_or_default();
        let allowed = self.status.as_ref().map_or(0, |s| s.disruptions_allowed);
        vec![
            name(&self.metadata),
            int_or_percent(spec.min_available.as_ref()).into(),
            int_or_percent(spec.max_unavailable.as_ref()).into(),
            json!(allowed),
            age_cell(object, now),
        ]
    }
}

/// `2`, `50%`, or `N/A` when the bound is not set.
fn int_or_percent(v: Option<&IntOrString>) -> String {
    match v {
        Some(IntOrString::Int(i)) => i.to_string(),
        Some(IntOrString::String(s)) => s.clone(),
        None => "N/A".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds() {
        let pdb: PodDisruptionBudget = serde_json::from_value(json!({"spec": {"minAvailable": "50%"},
            "status": {"disruptionsAllowed": 1, "currentHealthy": 2, "desiredHealthy": 1, "expectedPods": 2}}))
        .unwrap();
        assert_eq!(pdb.row(&json!({}), 0)[1..4], [json!("50%"), json!("N/A"), json!(1)]);
        assert_eq!(int_or_percent(Some(&IntOrString::Int(2))), "2");
    }
}
