//! The StorageClass printer (storage.k8s.io/v1).

use k8s_openapi::api::storage::v1::StorageClass;
use serde_json::{Value, json};

use super::{AGE, Column, NAME, TablePrinter, age_cell};

impl TablePrinter for StorageClass {
    fn columns() -> &'static [Column] {
        const COLUMNS: &[Column] = &[
            NAME,
            Column::new("Provisioner", "string", "The volume plugin that provisions volumes of this class."),
            Column::new("ReclaimPolicy", "string", "What happens to volumes of this class when released."),
            Column::new("VolumeBindingMode", "string", "When volumes are bound and provisioned."),
            Column::new("AllowVolumeExpansion", "string", "Whether volumes of this class can be resized."),
            AGE,
        ];
        COLUMNS
    }

    fn row(&self, object: &Value, now: i64) -> Vec<Value> {
        vec![
            display_name(self).into(),
            self.provisioner.clone().into(),
            self.reclaim_policy.as_deref().unwrap_or("Delete").into(),
            self.volume_binding_mode.as_deref().unwrap_or("Immediate").into(),
            json!(self.allow_volume_expansion.unwrap_or(false)),
            age_cell(object, now),
        ]
    }
}

/// The name, marked ` (default)` when annotated as the cluster's default class.
fn display_name(sc: &StorageClass) -> String {
    let name = sc.metadata.name.clone().unwrap_or_default();
    let annotations = sc.metadata.annotations.as_ref();
    let is_default =
        ["storageclass.kubernetes.io/is-default-class", "storageclass.beta.kubernetes.io/is-default-class"]
            .iter()
            .any(|k| annotations.and_then(|a| a.get(*k)).is_some_and(|v| v == "true"));
    if is_default { format!("{name} (default)") } else { name }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_marker() {
        let sc: StorageClass = serde_json::from_value(json!({
            "metadata": {"name": "standard", "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}},
            "provisioner": "rancher.io/local-path",
        }))
        .unwrap();
        let row = sc.row(&json!({}), 0);
        assert_eq!(
            row[..5],
            [
                json!("standard (default)"),
                json!("rancher.io/local-path"),
                json!("Delete"),
                json!("Immediate"),
                json!(false)
            ]
        );
    }
}
