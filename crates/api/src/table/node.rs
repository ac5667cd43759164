//! The RuntimeClass printer (node.k8s.io/v1).

use k8s_openapi::api::node::v1::RuntimeClass;
use serde_json::Value;

use super::cells::name;
use super::{AGE, Column, NAME, TablePrinter, age_cell};

impl TablePrinter for RuntimeClass {
    fn columns() -> &'static [Column] {
        const COLUMNS: &[Column] =
            &[NAME, Column::new("Handler", "string", "The CRI handler that runs pods of this class."), AGE];
        COLUMNS
    }

    fn row(&self, object: &Value, now: i64) -> Vec<Value> {
        vec![name(&self.metadata), self.handler.clone().into(), age_cell(object, now)]
    }
}
