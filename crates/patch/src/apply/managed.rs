//! `metadata.managedFields`: decoding, manager identity, encoding in upstream's order, and the
//! metadata fields whose ownership is never recorded.

use serde_json::{Map, Value, json};

use super::fieldset::{FieldSet, PathElement, field_path};

/// `operation` of a managedFields entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Operation {
    Apply,
    Update,
}

impl Operation {
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Apply => "Apply",
            Operation::Update => "Update",
        }
    }
}

/// One managedFields entry.
#[derive(Debug, Clone, PartialEq)]
pub struct ManagedEntry {
    pub manager: String,
    pub operation: Operation,
    pub api_version: String,
    pub time: Option<String>,
    pub subresource: Option<String>,
    pub fields: FieldSet,
}

impl ManagedEntry {
    pub fn new(manager: &str, operation: Operation, api_version: &str, subresource: Option<&str>) -> Self {
        ManagedEntry {
            manager: manager.to_string(),
            operation,
            api_version: api_version.to_string(),
            time: None,
            subresource: subresource.filter(|s| !s.is_empty()).map(str::to_string),
            fields: FieldSet::new(),
        }
    }

    /// Whether two entries are the same manager: appliers are one entry whatever version they
    /// applied with, updaters one per API version.
    pub fn same_manager(&self, other: &ManagedEntry) -> bool {
        self.manager == other.manager
            && self.operation == other.operation
            && self.subresource == other.subresource
            && (self.operation == Operation::Apply || self.api_version == other.api_version)
    }

    /// upstream's manager identifier (the entry's JSON without time and fields), by which
    /// conflict messages sort managers.
    pub fn identifier(&self) -> String {
        let mut m = Map::new();
        m.insert("manager".into(), self.manager.clone().into());
        m.insert("operation".into(), self.operation.as_str().into());
        if self.operation == Operation::Update && !self.api_version.is_empty() {
            m.insert("apiVersion".into(), self.api_version.clone().into());
        }
        if let Some(s) = &self.subresource {
            m.insert("subresource".into(), s.clone().into());
        }
        Value::Object(m).to_string()
    }

    /// upstream `printManager`: `"kubectl"`, `"kubectl-client-side-apply" using apps/v1`,
    /// `"kubelet" with subresource "status" using v1`.
    pub fn display(&self) -> String {
        let mut s = format!("{:?}", self.manager);
        if let Some(sub) = &self.subresource {
            s = format!("{s} with subresource {sub:?}");
        }
        if self.operation == Operation::Update {
            s = format!("{s} using {}", self.api_version);
        }
        s
    }

    fn encode(&self) -> Value {
        let mut m = Map::new();
        m.insert("manager".into(), self.manager.clone().into());
        m.insert("operation".into(), self.operation.as_str().into());
        m.insert("apiVersion".into(), self.api_version.clone().into());
        if let Some(t) = &self.time {
            m.insert("time".into(), t.clone().into());
        }
        m.insert("fieldsType".into(), "FieldsV1".into());
        m.insert("fieldsV1".into(), self.fields.to_fields_v1());
        if let Some(s) = &self.subresource {
            m.insert("subresource".into(), s.clone().into());
        }
        Value::Object(m)
    }

    fn decode(v: &Value) -> Option<ManagedEntry> {
        let operation = match v.get("operation")?.as_str()? {
            "Apply" => Operation::Apply,
            "Update" => Operation::Update,
            _ => return None,
        };
        let fields = match v.get("fieldsV1") {
            Some(f) => FieldSet::from_fields_v1(f).ok()?,
            None => FieldSet::new(),
        };
        let text = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("");
        let mut entry = ManagedEntry::new(text("manager"), operation, text("apiVersion"), Some(text("subresource")));
        entry.time = v.get("time").and_then(Value::as_str).map(str::to_string);
        entry.fields = fields;
        Some(entry)
    }
}

/// The managers of an object, from its `metadata.managedFields`. Unreadable entries are
/// skipped (upstream resets unreadable managed fields rather than failing writes); repeated
/// managers are merged.
pub fn decode(object: &Value) -> Vec<ManagedEntry> {
    let Some(Value::Array(list)) = object.pointer("/metadata/managedFields") else { return Vec::new() };
    let mut out: Vec<ManagedEntry> = Vec::new();
    for entry in list.iter().filter_map(ManagedEntry::decode) {
        match out.iter_mut().find(|e| e.same_manager(&entry)) {
            Some(existing) => existing.fields = existing.fields.union(&entry.fields),
            None => out.push(entry),
        }
    }
    out
}

/// Writes the managers into `metadata.managedFields` (dropping empty ones), sorted as upstream
/// sorts them: Apply before Update, then by time, manager, API version and subresource.
pub fn encode(object: &mut Value, mut entries: Vec<ManagedEntry>) {
    entries.retain(|e| !e.fields.is_empty());
    entries.sort_by(|a, b| {
        (a.operation, &a.time, &a.manager, &a.api_version, &a.subresource).cmp(&(
            b.operation,
            &b.time,
            &b.manager,
            &b.api_version,
            &b.subresource,
        ))
    });
    let Some(meta) = object.as_object_mut().map(|o| o.entry("metadata").or_insert_with(|| json!({}))) else { return };
    let Some(meta) = meta.as_object_mut() else { return };
    if entries.is_empty() {
        meta.shift_remove("managedFields");
    } else {
        meta.insert("managedFields".into(), Value::Array(entries.iter().map(ManagedEntry::encode).collect()));
    }
}

/// Fields nobody owns (upstream `stripMeta`): identity and system-maintained metadata. Built
/// once: every write subtracts it.
pub fn stripped() -> &'static FieldSet {
    static STRIPPED: std::sync::LazyLock<FieldSet> = std::sync::LazyLock::new(stripped_fields);
    &STRIPPED
}

fn stripped_fields() -> FieldSet {
    let mut set = FieldSet::new();
    for p in [
        &["apiVersion"][..],
        &["kind"],
        &["metadata"],
        &["metadata", "name"],
        &["metadata", "namespace"],
        &["metadata", "creationTimestamp"],
        &["metadata", "selfLink"],
        &["metadata", "uid"],
        &["metadata", "clusterName"],
        &["metadata", "generation"],
        &["metadata", "managedFields"],
        &["metadata", "resourceVersion"],
    ] {
        set.insert(&field_path(p));
    }
    set
}

/// A set of whole fields from dotted paths (`status`, `metadata.labels`).
pub fn fields_from_dotted(paths: &[&str]) -> FieldSet {
    let mut set = FieldSet::new();
    for p in paths {
        let path: Vec<PathElement> =
            p.split('.').filter(|s| !s.is_empty()).map(|s| PathElement::Field(s.into())).collect();
        set.insert(&path);
    }
    set
}

/// The object without `metadata.managedFields`, for comparisons.
pub fn without_managed_fields(object: &Value) -> Value {
    let mut copy = object.clone();
    if let Some(meta) = copy.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.shift_remove("managedFields");
    }
    copy
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_merges_and_encodes_in_upstream_order() {
        let obj = json!({"metadata": {"managedFields": [
            {"manager": "kubectl", "operation": "Update", "apiVersion": "apps/v1", "time": "2024-01-02T00:00:00Z",
             "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {"f:replicas": {}}}},
            {"manager": "kubectl", "operation": "Update", "apiVersion": "apps/v1", "fieldsType": "FieldsV1",
             "fieldsV1": {"f:spec": {"f:paused": {}}}},
            {"manager": "ssa", "operation": "Apply", "apiVersion": "apps/v1", "time": "2024-01-03T00:00:00Z",
             "fieldsType": "FieldsV1", "fieldsV1": {"f:metadata": {"f:labels": {"f:a": {}}}}},
            {"manager": "kubelet", "operation": "Update", "apiVersion": "v1", "time": "2024-01-01T00:00:00Z",
             "fieldsType": "FieldsV1", "fieldsV1": {"f:status": {"f:phase": {}}}, "subresource": "status"},
            {"manager": "broken", "operation": "Nope"}
        ]}});
        let entries = decode(&obj);
        assert_eq!(entries.len(), 3);
        assert!(entries[0].fields.contains(&field_path(&["spec", "paused"])));
        let mut out = json!({"metadata": {"name": "x"}});
        encode(&mut out, entries);
        let names: Vec<&str> = out["metadata"]["managedFields"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["manager"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["ssa", "kubelet", "kubectl"]);
        let kubelet = &out["metadata"]["managedFields"][1];
        assert_eq!(kubelet["subresource"], "status");
        assert_eq!(kubelet["fieldsType"], "FieldsV1");
    }

    #[test]
    fn displays_managers_like_upstream() {
        let e = ManagedEntry::new("kubectl-client-side-apply", Operation::Update, "apps/v1", None);
        assert_eq!(e.display(), r#""kubectl-client-side-apply" using apps/v1"#);
        assert_eq!(
            e.identifier(),
            r#"{"manager":"kubectl-client-side-apply","operation":"Update","apiVersion":"apps/v1"}"#
        );
        let e = ManagedEntry::new("kubelet", Operation::Update, "v1", Some("status"));
        assert_eq!(e.display(), r#""kubelet" with subresource "status" using v1"#);
        let e = ManagedEntry::new("kubectl", Operation::Apply, "v1", None);
        assert_eq!(e.display(), r#""kubectl""#);
    }
}
