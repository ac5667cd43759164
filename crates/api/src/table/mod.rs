//! `kubectl get` tables: column definitions and rows per kind, like upstream's printers.
//!
//! Each kind implements [`TablePrinter`] (in this folder, one file per API group); kinds without
//! a printer upstream keep the default, NAME and CREATED AT.

use serde_json::{Value, json};

use crate::object;

mod apps;
mod autoscaling;
mod batch;
mod cells;
mod coordination;
mod core;
mod discovery;
mod events;
mod networking;
mod node;
mod pod;
mod policy;
mod printers;
mod rbac;
mod scheduling;
mod storage;

/// How a kind prints in `kubectl get`.
pub trait TablePrinter {
    /// The columns, `-o wide` ones at priority 1.
    fn columns() -> &'static [Column] {
        DEFAULT_COLUMNS
    }

    /// The cells of one object, in column order. `object` is the same object as JSON, for
    /// generic fields; `now` is seconds since the epoch, for ages.
    fn row(&self, object: &Value, now: i64) -> Vec<Value> {
        default_row(object, now)
    }
}

/// One column definition of a `meta.k8s.io/v1` Table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Column {
    pub name: &'static str,
    /// OpenAPI type: `string`, `integer`, `number`, `boolean` or `date`.
    pub kind: &'static str,
    /// `name` for the object's name column, otherwise empty.
    pub format: &'static str,
    pub description: &'static str,
    /// 0 is shown by default, 1 only with `-o wide`.
    pub priority: i32,
}

impl Column {
    pub const fn new(name: &'static str, kind: &'static str, description: &'static str) -> Self {
        Column { name, kind, format: "", description, priority: 0 }
    }

    pub const fn wide(self) -> Self {
        Column { priority: 1, ..self }
    }

    pub const fn format(self, format: &'static str) -> Self {
        Column { format, ..self }
    }

    pub fn to_json(&self) -> Value {
        json!({
            "name": self.name,
            "type": self.kind,
            "format": self.format,
            "description": self.description,
            "priority": self.priority,
        })
    }
}

pub const NAME_DESCRIPTION: &str = "Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names";
pub const CREATION_DESCRIPTION: &str = "CreationTimestamp is a timestamp representing the server time when this object was created. It is not guaranteed to be set in happens-before order across separate operations. Clients may not set this value. It is represented in RFC3339 form and is in UTC.\n\nPopulated by the system. Read-only. Null for lists. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata";

/// The NAME column every printer starts with.
pub const NAME: Column = Column::new("Name", "string", NAME_DESCRIPTION).format("name");
/// The AGE column most printers end with (cells are ages like `5m`).
pub const AGE: Column = Column::new("Age", "string", CREATION_DESCRIPTION);

/// Upstream's default table convertor: name and creation time.
pub const DEFAULT_COLUMNS: &[Column] = &[NAME, Column::new("Created At", "date", CREATION_DESCRIPTION)];

pub fn default_row(obj: &Value, _now: i64) -> Vec<Value> {
    let created = object::meta(obj).and_then(|m| m.get("creationTimestamp")).cloned().unwrap_or(Value::Null);
    vec![object::name(obj).into(), created]
}

/// The AGE cell of an object.
pub fn age_cell(obj: &Value, now: i64) -> Value {
    let created = object::meta(obj).and_then(|m| m.get("creationTimestamp")).and_then(Value::as_str);
    crate::time::age(created, now).into()
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use crate::registry;

    const NOW: i64 = 1_700_000_000;

    /// The least each kind needs to decode: metadata plus the fields its schema requires.
    fn minimal(kind: &str, api_version: &str) -> Value {
        let mut obj = json!({
            "apiVersion": api_version,
            "kind": kind,
            "metadata": {"name": "x", "namespace": "default", "creationTimestamp": "2023-11-14T21:13:20Z"},
        });
        let required = match kind {
            "Event" if api_version == "v1" => json!({"involvedObject": {}}),
            "Event" => json!({"eventTime": "2023-11-14T21:13:20.000000Z"}),
            "ControllerRevision" => json!({"revision": 1}),
            "EndpointSlice" => json!({"addressType": "IPv4", "endpoints": []}),
            "RoleBinding" | "ClusterRoleBinding" => {
                json!({"roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "r"}})
            }
            "RuntimeClass" => json!({"handler": "runc"}),
            "PriorityClass" => json!({"value": 1}),
            "StorageClass" => json!({"provisioner": "p"}),
            _ => json!({}),
        };
        for (k, v) in required.as_object().unwrap() {
            obj[k] = v.clone();
        }
        obj
    }

    #[test]
    fn every_kind_prints_one_cell_per_column() {
        for info in registry().all() {
            let columns = info.strategy.table_columns();
            let row = info.strategy.table_row(&minimal(info.kind, &info.api_version()), NOW);
            assert_eq!(row.len(), columns.len(), "{info:?}: {row:?}");
            for (column, cell) in columns.iter().zip(&row) {
                match column.kind {
                    "integer" => assert!(cell.is_number(), "{info:?} {}: {cell}", column.name),
                    "date" => assert_eq!(cell, "2023-11-14T21:13:20Z", "{info:?}"),
                    _ => {}
                }
                if column.name == "Age" {
                    assert_eq!(cell, "60m", "{info:?}");
                }
            }
            assert_eq!(columns.iter().filter(|c| c.format == "name").count(), 1, "{info:?}");
        }
    }

    #[test]
    fn defaults_only_where_upstream_has_no_printer() {
        let defaults: Vec<&str> = registry()
            .all()
            .iter()
            .filter(|r| r.strategy.table_columns() == super::DEFAULT_COLUMNS)
            .map(|r| r.kind)
            .collect();
        assert_eq!(defaults, ["LimitRange", "ClusterRole", "Role", "CustomResourceDefinition"]);
    }
}
