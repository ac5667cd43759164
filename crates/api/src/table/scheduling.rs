//! The PriorityClass printer (scheduling.k8s.io/v1).

use k8s_openapi::api::scheduling::v1::PriorityClass;
use serde_json::{Value, json};

use super::cells::{name, opt};
use super::{AGE, Column, NAME, TablePrinter, age_cell};

impl TablePrinter for PriorityClass {
    fn columns() -> &'static [Column] {
        // PREEMPTIONPOLICY is shown by default, after AGE, as upstream defines it.
        const COLUMNS: &[Column] = &[
            NAME,
            Column::new("Value", "integer", "Priority of pods using this class."),
            Column::new("Global-Default", "boolean", "Whether pods without a class get this one."),
            AGE,
            Column::new("PreemptionPolicy", "string", "Whether pods of this class may preempt others."),
        ];
        COLUMNS
    }

    fn row(&self, object: &Value, now: i64) -> Vec<Value> {
        vec![
            name(&self.metadata),
            json!(self.value),
            json!(self.global_default.unwrap_or(false)),
            age_cell(object, now),
            opt(&self.preemption_policy).into(),
        ]
    }
}
