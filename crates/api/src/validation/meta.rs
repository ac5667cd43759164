//! `metadata` validation common to all kinds (upstream `ValidateObjectMeta` and its update form).

use serde_json::Value;

use crate::field_errors::{FieldError, FieldErrors, FieldPath};
use crate::names;
use crate::resources::{NameRule, ResourceInfo};

/// Total size of all annotations, keys and values, as upstream limits it.
const TOTAL_ANNOTATION_SIZE_LIMIT: usize = 256 * 1024;
const STANDARD_FINALIZERS: &[&str] = &["kubernetes", "orphan", "foregroundDeletion"];

fn str_field<'a>(meta: Option<&'a Value>, field: &str) -> &'a str {
    meta.and_then(|m| m.get(field)).and_then(Value::as_str).unwrap_or("")
}

/// Checks name, namespace, labels, annotations, finalizers and owner references of a new or
/// updated object.
pub fn validate_object_meta(info: &ResourceInfo, meta: Option<&Value>) -> FieldErrors {
    let path = FieldPath::new("metadata");
    let mut errs = FieldErrors::new();

    let name = str_field(meta, "name");
    if name.is_empty() {
        errs.push(FieldError::required(&path.child("name"), "name or generateName is required"));
    } else {
        let problems = match info.name_rule {
            NameRule::Dns1123Subdomain => names::is_dns1123_subdomain(name),
            NameRule::Dns1123Label => names::is_dns1123_label(name),
            NameRule::Dns1035Label => names::is_dns1035_label(name),
            NameRule::PathSegment => names::is_path_segment_name(name),
        };
        for p in problems {
            errs.push(FieldError::invalid(&path.child("name"), name, p));
        }
    }

    let namespace = str_field(meta, "namespace");
    if info.namespaced {
        if namespace.is_empty() {
            errs.push(FieldError::required(&path.child("namespace"), ""));
        } else {
            for p in names::is_dns1123_label(namespace) {
                errs.push(FieldError::invalid(&path.child("namespace"), namespace, p));
            }
        }
    } else if !namespace.is_empty() {
        errs.push(FieldError::forbidden(&path.child("namespace"), "not allowed on this type"));
    }

    errs.extend(validate_labels(meta.and_then(|m| m.get("labels")), &path.child("labels")));
    errs.extend(validate_annotations(meta.and_then(|m| m.get("annotations")), &path.child("annotations")));
    errs.extend(validate_finalizers(meta.and_then(|m| m.get("finalizers")), &path.child("finalizers")));
    errs.extend(validate_owner_references(meta.and_then(|m| m.get("ownerReferences")), &path.child("ownerReferences")));
    errs
}

/// Label keys must be qualified names and values valid label values.
pub fn validate_labels(labels: Option<&Value>, path: &FieldPath) -> FieldErrors {
    let mut errs = FieldErrors::new();
    let Some(labels) = labels.and_then(Value::as_object) else { return errs };
    for (k, v) in labels {
        for p in names::is_qualified_name(k) {
            errs.push(FieldError::invalid(path, k.as_str(), p));
        }
        let v = v.as_str().unwrap_or_default();
        for p in names::is_valid_label_value(v) {
            errs.push(FieldError::invalid(&path.key(k), v, p));
        }
    }
    errs
}

fn validate_annotations(annotations: Option<&Value>, path: &FieldPath) -> FieldErrors {
    let mut errs = FieldErrors::new();
    let Some(annotations) = annotations.and_then(Value::as_object) else { return errs };
    let mut total = 0;
    for (k, v) in annotations {
        for p in names::is_qualified_name(&k.to_lowercase()) {
            errs.push(FieldError::invalid(path, k.as_str(), p));
        }
        total += k.len() + v.as_str().map_or(0, str::len);
    }
    if total > TOTAL_ANNOTATION_SIZE_LIMIT {
        errs.push(FieldError {
            kind: crate::field_errors::FieldErrorType::TooLong,
            field: path.clone(),
            value: None,
            detail: format!("must have at most {TOTAL_ANNOTATION_SIZE_LIMIT} bytes"),
        });
    }
    errs
}

fn validate_finalizers(finalizers: Option<&Value>, path: &FieldPath) -> FieldErrors {
    let mut errs = FieldErrors::new();
    let Some(list) = finalizers.and_then(Value::as_array) else { return errs };
    let names: Vec<&str> = list.iter().filter_map(Value::as_str).collect();
    for (i, f) in names.iter().enumerate() {
        let problems = names::is_qualified_name(f);
        for p in &problems {
            errs.push(FieldError::invalid(&path.index(i), *f, p.clone()));
        }
        if problems.is_empty() && !f.contains('/') && !STANDARD_FINALIZERS.contains(f) {
            errs.push(FieldError::invalid(
                &path.index(i),
                *f,
                "name is neither a standard finalizer name nor is it fully qualified",
            ));
        }
    }
    if names.contains(&"orphan") && names.contains(&"foregroundDeletion") {
        errs.push(FieldError::invalid(
            path,
            Value::from(names.iter().map(|s| s.to_string()).collect::<Vec<_>>()),
            "finalizer orphan and foregroundDeletion cannot be both set",
        ));
    }
    errs
}

fn validate_owner_references(refs: Option<&Value>, path: &FieldPath) -> FieldErrors {
    let mut errs = FieldErrors::new();
    let Some(list) = refs.and_then(Value::as_array) else { return errs };
    let mut controllers = 0;
    for (i, r) in list.iter().enumerate() {
        let p = path.index(i);
        for field in ["apiVersion", "kind", "name", "uid"] {
            if r.get(field).and_then(Value::as_str).unwrap_or("").is_empty() {
                errs.push(FieldError::invalid(&p.child(field), "", format!("{field} must not be empty")));
            }
        }
        if r.get("controller").and_then(Value::as_bool) == Some(true) {
            controllers += 1;
        }
    }
    if controllers > 1 {
        errs.push(FieldError::invalid(path, Value::Null, "Only one reference can have Controller set to true"));
    }
    errs
}

/// What may not change on update: name, namespace, uid.
pub fn validate_object_meta_update(new: Option<&Value>, old: Option<&Value>) -> FieldErrors {
    let path = FieldPath::new("metadata");
    let mut errs = FieldErrors::new();
    for field in ["name", "namespace", "uid"] {
        let (n, o) = (str_field(new, field), str_field(old, field));
        if n != o {
            errs.push(FieldError::invalid(&path.child(field), n, "field is immutable"));
        }
    }
    errs
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::registry;
    use serde_json::json;

    fn cm() -> &'static ResourceInfo {
        registry().get("", "v1", "configmaps").unwrap()
    }

    #[test]
    fn accepts_good_metadata() {
        let m = json!({"name": "a", "namespace": "default", "labels": {"app": "x"}, "finalizers": ["example.com/f"]});
        assert!(validate_object_meta(cm(), Some(&m)).is_empty());
    }

    #[test]
    fn rejects_bad_names_labels_and_scope() {
        let m = json!({"name": "Bad_Name", "namespace": "default", "labels": {"bad key": "v"}});
        let errs = validate_object_meta(cm(), Some(&m));
        let fields: Vec<String> = errs.iter().map(|e| e.field.to_string()).collect();
        assert_eq!(fields, vec!["metadata.name", "metadata.labels"]);

        let ns = registry().get("", "v1", "nodes").unwrap();
        let errs = validate_object_meta(ns, Some(&json!({"name": "n", "namespace": "x"})));
        assert_eq!(errs.to_string(), "metadata.namespace: Forbidden: not allowed on this type");
    }

    #[test]
    fn finalizers_must_be_qualified() {
        let m = json!({"name": "a", "namespace": "d", "finalizers": ["custom"]});
        let errs = validate_object_meta(cm(), Some(&m));
        assert_eq!(errs.len(), 1);
        assert!(errs.to_string().contains("neither a standard finalizer name"));
    }

    #[test]
    fn name_is_immutable() {
        let errs = validate_object_meta_update(Some(&json!({"name": "b"})), Some(&json!({"name": "a"})));
        assert_eq!(errs.to_string(), "metadata.name: Invalid value: \"b\": field is immutable");
    }
}
