//! How one kind is decoded, defaulted, validated and printed.
//!
//! The API server handles every object as JSON and calls a kind's [`Strategy`] at the points where
//! upstream calls a registry strategy. Built-in kinds get theirs from [`Typed`], which decodes into
//! the k8s-openapi struct (dropping unknown fields the way upstream's decoder does, and reporting
//! them for `fieldValidation`), runs the kind's [`KindRules`], and encodes the result.

use std::marker::PhantomData;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::field_errors::FieldErrors;
use crate::resources::ResourceInfo;
use crate::table::{Column, TablePrinter, default_row};
use crate::validation::meta::{validate_object_meta, validate_object_meta_update};

/// Which write is being admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    Create,
    Update,
    /// A write to the `status` subresource: only status may change.
    StatusUpdate,
}

/// An object that passed admission.
#[derive(Debug, Clone, PartialEq)]
pub struct Admitted {
    pub object: Value,
    /// Paths of fields the schema does not know (dropped), for `fieldValidation=Warn`.
    pub unknown_fields: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AdmitError {
    /// The body does not fit the kind's schema (wrong types); becomes 400 BadRequest.
    #[error("{0}")]
    Decode(String),
    /// `fieldValidation=Strict` and the body had fields the schema does not know.
    #[error("strict decoding error: {}", unknown_list(.0))]
    UnknownFields(Vec<String>),
    /// Validation failed; becomes 422 Invalid with one cause per error.
    #[error("{0}")]
    Invalid(FieldErrors),
}

fn unknown_list(fields: &[String]) -> String {
    fields.iter().map(|f| format!("unknown field {f:?}")).collect::<Vec<_>>().join(", ")
}

/// The per-kind hooks the API server calls. Object-safe so the resource table can hold them.
pub trait Strategy: Send + Sync {
    /// Decode, default and validate an object for a write. `old` is the stored object on updates.
    fn admit(
        &self,
        info: &ResourceInfo,
        op: Operation,
        object: Value,
        old: Option<&Value>,
        strict: bool,
    ) -> Result<Admitted, AdmitError>;

    /// The columns of `kubectl get` for this kind, with `-o wide` ones at priority 1.
    fn table_columns(&self) -> &'static [Column];

    /// One row of cells for an object, in column order. `now` is seconds since the epoch, for ages.
    fn table_row(&self, object: &Value, now: i64) -> Vec<Value>;
}

/// Rules of one kind, written against its typed struct. Every method has a neutral default so a
/// kind only spells out what upstream does for it. (How it prints is [`TablePrinter`].)
pub trait KindRules: Serialize + DeserializeOwned + Send + Sync + 'static {
    /// Reset what clients may not set on create (upstream `PrepareForCreate`), e.g. a pod's status.
    fn prepare_for_create(&mut self) {}

    /// Carry over what clients may not change on update (upstream `PrepareForUpdate`).
    fn prepare_for_update(&mut self, _old: &Self) {}

    /// Fill in defaults as upstream's `SetDefaults_*` functions do.
    fn default_fields(&mut self) {}

    /// Validate a new object's kind-specific fields (metadata is checked generically).
    fn validate(&self) -> FieldErrors {
        FieldErrors::new()
    }

    /// Validate an update: by default the new object must be valid on its own.
    fn validate_update(&self, _old: &Self) -> FieldErrors {
        self.validate()
    }

    /// Validate a status update.
    fn validate_status_update(&self, _old: &Self) -> FieldErrors {
        FieldErrors::new()
    }
}

/// The [`Strategy`] of a built-in kind backed by its k8s-openapi type `T`.
pub struct Typed<T>(PhantomData<fn() -> T>);

impl<T> Typed<T> {
    pub fn new() -> Self {
        Typed(PhantomData)
    }
}

impl<T> Default for Typed<T> {
    fn default() -> Self {
        Self::new()
    }
}

/// Decode JSON into `T`, collecting the paths of fields `T` does not have. Borrowed, so the
/// caller keeps the object (admission reads its raw metadata after).
pub fn decode<T: DeserializeOwned>(object: &Value) -> Result<(T, Vec<String>), String> {
    let mut unknown = Vec::new();
    let decoded = serde_ignored::deserialize(object, |path| unknown.push(render_path(&path)));
    match decoded {
        Ok(typed) => Ok((typed, unknown)),
        // Tracking the path costs an allocation per key on every decode, so only a decode that
        // failed pays for it, by running again to name the field.
        Err(e) => Err(located_error::<T>(object).unwrap_or_else(|| e.to_string())),
    }
}

/// The error decoding `object` into `T` gives, prefixed with the path where it happened.
fn located_error<T: DeserializeOwned>(object: &Value) -> Option<String> {
    let e = serde_path_to_error::deserialize::<_, T>(object).err()?;
    let path = e.path().to_string();
    let inner = e.into_inner();
    Some(if path.is_empty() || path == "." { inner.to_string() } else { format!("{path}: {inner}") })
}

/// `spec.containers[0].foo`, as upstream names unknown fields.
fn render_path(p: &serde_ignored::Path<'_>) -> String {
    use serde_ignored::Path;
    match p {
        Path::Root => String::new(),
        Path::Seq { parent, index } => format!("{}[{index}]", render_path(parent)),
        Path::Map { parent, key } => {
            let parent = render_path(parent);
            if parent.is_empty() { key.clone() } else { format!("{parent}.{key}") }
        }
        Path::Some { parent } | Path::NewtypeStruct { parent } | Path::NewtypeVariant { parent } => render_path(parent),
    }
}

impl<T: KindRules + TablePrinter> Strategy for Typed<T> {
    fn admit(
        &self,
        info: &ResourceInfo,
        op: Operation,
        object: Value,
        old: Option<&Value>,
        strict: bool,
    ) -> Result<Admitted, AdmitError> {
        let raw_meta = object.get("metadata");
        let (mut typed, unknown_fields) = decode::<T>(&object).map_err(AdmitError::Decode)?;
        if strict && !unknown_fields.is_empty() {
            return Err(AdmitError::UnknownFields(unknown_fields));
        }
        let old_typed = match old {
            Some(o) => Some(decode::<T>(o).map_err(AdmitError::Decode)?.0),
            None => None,
        };

        let mut errs = FieldErrors::new();
        match (op, &old_typed) {
            (Operation::Create, _) | (_, None) => {
                typed.prepare_for_create();
                typed.default_fields();
                errs.extend(validate_object_meta(info, raw_meta));
                errs.extend(typed.validate());
            }
            (Operation::Update, Some(old_t)) => {
                typed.prepare_for_update(old_t);
                typed.default_fields();
                errs.extend(validate_object_meta(info, raw_meta));
                errs.extend(validate_object_meta_update(raw_meta, old.and_then(|o| o.get("metadata"))));
                errs.extend(typed.validate_update(old_t));
            }
            (Operation::StatusUpdate, Some(old_t)) => {
                // Upstream defaults every decoded object, status writes included.
                typed.default_fields();
                errs.extend(validate_object_meta_update(raw_meta, old.and_then(|o| o.get("metadata"))));
                errs.extend(typed.validate_status_update(old_t));
            }
        }
        if !errs.is_empty() {
            return Err(AdmitError::Invalid(errs));
        }
        let object = serde_json::to_value(&typed).map_err(|e| AdmitError::Decode(e.to_string()))?;
        Ok(Admitted { object, unknown_fields })
    }

    fn table_columns(&self) -> &'static [Column] {
        T::columns()
    }

    fn table_row(&self, object: &Value, now: i64) -> Vec<Value> {
        match decode::<T>(object) {
            Ok((typed, _)) => typed.row(object, now),
            // A stored object always decodes; if one somehow does not, print what is generic.
            Err(_) => default_row(object, now),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::ConfigMap;
    use serde_json::json;

    #[test]
    fn decode_reports_unknown_fields_with_paths() {
        let (_, unknown) = decode::<k8s_openapi::api::core::v1::Pod>(&json!({
            "metadata": {"name": "p", "bogus": 1},
            "spec": {"containers": [{"name": "c", "image": "i", "imagePullPolicy": "Always", "nope": true}]}
        }))
        .unwrap();
        assert_eq!(unknown, vec!["metadata.bogus".to_string(), "spec.containers[0].nope".to_string()]);
    }

    #[test]
    fn decode_reports_type_errors_with_path() {
        let err =
            decode::<k8s_openapi::api::apps::v1::Deployment>(&json!({"spec": {"replicas": "three"}})).unwrap_err();
        assert!(err.starts_with("spec.replicas"), "{err}");
    }

    #[test]
    fn typed_round_trip_drops_unknown() {
        let (cm, unknown): (ConfigMap, _) = decode(&json!({"data": {"a": "b"}, "extra": 1})).unwrap();
        assert_eq!(unknown, vec!["extra"]);
        let v = serde_json::to_value(cm).unwrap();
        assert_eq!(v["data"]["a"], "b");
        assert!(v.get("extra").is_none());
    }
}
