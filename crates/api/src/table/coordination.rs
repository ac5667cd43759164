//! The Lease printer (coordination.k8s.io/v1).

use k8s_openapi::api::coordination::v1::Lease;
use serde_json::Value;

use super::cells::{name, opt};
use super::{AGE, Column, NAME, TablePrinter, age_cell};

impl TablePrinter for Lease {
    fn columns() -> &'static [Column] {
        const COLUMNS: &[Column] =
            &[NAME, Column::new("Holder", "string", "Identity of the current holder of the lease."), AGE];
        COLUMNS
    }

    fn row(&self, object: &Value, now: i64) -> Vec<Value> {
        let holder = self.spec.as_ref().map_or("", |s| opt(&s.holder_identity));
        vec![name(&self.metadata), holder.into(), age_cell(object, now)]
    }
}
