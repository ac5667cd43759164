//! `kubectl get` tables: column definitions and rows per kind, like upstream's printers.
//!
//! Each kind implements [`TablePrinter`] (in this folder, one file per API group); kinds without
//! a printer upstream keep the default, NAME and CREATED AT.

use serde_json::{Value, json};

use crate::object;

mod printers;

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
