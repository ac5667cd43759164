//! Field-level validation errors, shaped like upstream's `field.ErrorList`.
//!
//! Validators push [`FieldError`]s; the API server turns a non-empty list into a 422 `Invalid`
//! Status whose `details.causes` carry one entry per error. The rendering (`Display`) matches
//! upstream's so that messages read the same in kubectl.

use std::fmt;

use serde_json::Value;

/// A path to a field, rendered the way upstream does: `spec.containers[0].name`, `metadata.labels[app]`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FieldPath(String);

impl FieldPath {
    pub fn new(root: &str) -> Self {
        FieldPath(root.to_string())
    }

    pub fn root() -> Self {
        FieldPath(String::new())
    }

    /// A child field: `spec` + `replicas` = `spec.replicas`.
    pub fn child(&self, name: &str) -> Self {
        if self.0.is_empty() { FieldPath(name.to_string()) } else { FieldPath(format!("{}.{}", self.0, name)) }
    }

    /// A list element: `spec.containers` + 0 = `spec.containers[0]`.
    pub fn index(&self, i: usize) -> Self {
        FieldPath(format!("{}[{}]", self.0, i))
    }

    /// A map entry: `metadata.labels` + `app` = `metadata.labels[app]`.
    pub fn key(&self, k: &str) -> Self {
        FieldPath(format!("{}[{}]", self.0, k))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The kinds of field error upstream distinguishes; each has a Status cause reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldErrorType {
    Required,
    Invalid,
    NotSupported,
    Duplicate,
    Forbidden,
    TooLong,
    TooMany,
    NotFound,
    Internal,
}

impl FieldErrorType {
    /// The `reason` of the Status cause (`FieldValueRequired`, ...).
    pub fn cause_reason(self) -> &'static str {
        match self {
            FieldErrorType::Required => "FieldValueRequired",
            FieldErrorType::Invalid => "FieldValueInvalid",
            FieldErrorType::NotSupported => "FieldValueNotSupported",
            FieldErrorType::Duplicate => "FieldValueDuplicate",
            FieldErrorType::Forbidden => "FieldValueForbidden",
            FieldErrorType::TooLong => "FieldValueTooLong",
            FieldErrorType::TooMany => "FieldValueTooMany",
            FieldErrorType::NotFound => "FieldValueNotFound",
            FieldErrorType::Internal => "InternalError",
        }
    }

    fn label(self) -> &'static str {
        match self {
            FieldErrorType::Required => "Required value",
            FieldErrorType::Invalid => "Invalid value",
            FieldErrorType::NotSupported => "Unsupported value",
            FieldErrorType::Duplicate => "Duplicate value",
            FieldErrorType::Forbidden => "Forbidden",
            FieldErrorType::TooLong => "Too long",
            FieldErrorType::TooMany => "Too many",
            FieldErrorType::NotFound => "Not found",
            FieldErrorType::Internal => "Internal error",
        }
    }

    /// Whether upstream prints the offending value after the label.
    fn shows_value(self) -> bool {
        matches!(
            self,
            FieldErrorType::Invalid
                | FieldErrorType::NotSupported
                | FieldErrorType::Duplicate
                | FieldErrorType::NotFound
        )
    }
}

/// One validation failure on one field.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldError {
    pub kind: FieldErrorType,
    pub field: FieldPath,
    /// The offending value, when upstream shows it (`Invalid value: -1: ...`).
    pub value: Option<Value>,
    pub detail: String,
}

impl FieldError {
    pub fn required(field: &FieldPath, detail: impl Into<String>) -> Self {
        Self::new(FieldErrorType::Required, field, None, detail)
    }

    pub fn invalid(field: &FieldPath, value: impl Into<Value>, detail: impl Into<String>) -> Self {
        Self::new(FieldErrorType::Invalid, field, Some(value.into()), detail)
    }

    /// `Unsupported value: "x": supported values: "a", "b"`.
    pub fn not_supported(field: &FieldPath, value: impl Into<Value>, supported: &[&str]) -> Self {
        let detail = if supported.is_empty() {
            String::new()
        } else {
            let quoted: Vec<String> = supported.iter().map(|s| format!("{s:?}")).collect();
            format!("supported values: {}", quoted.join(", "))
        };
        Self::new(FieldErrorType::NotSupported, field, Some(value.into()), detail)
    }

    pub fn duplicate(field: &FieldPath, value: impl Into<Value>) -> Self {
        Self::new(FieldErrorType::Duplicate, field, Some(value.into()), "")
    }

    pub fn forbidden(field: &FieldPath, detail: impl Into<String>) -> Self {
        Self::new(FieldErrorType::Forbidden, field, None, detail)
    }

    /// `Too long: may not be more than N bytes`.
    pub fn too_long(field: &FieldPath, max: usize) -> Self {
        Self::new(FieldErrorType::TooLong, field, None, format!("may not be more than {max} bytes"))
    }

    /// `Too many: N: must have at most M items`.
    pub fn too_many(field: &FieldPath, actual: usize, max: usize) -> Self {
        Self::new(FieldErrorType::TooMany, field, None, format!("{actual}: must have at most {max} items"))
    }

    pub fn not_found(field: &FieldPath, value: impl Into<Value>) -> Self {
        Self::new(FieldErrorType::NotFound, field, Some(value.into()), "")
    }

    pub fn internal(field: &FieldPath, detail: impl Into<String>) -> Self {
        Self::new(FieldErrorType::Internal, field, None, detail)
    }

    fn new(kind: FieldErrorType, field: &FieldPath, value: Option<Value>, detail: impl Into<String>) -> Self {
        FieldError { kind, field: field.clone(), value, detail: detail.into() }
    }

    /// The message without the field prefix, as used in a Status cause.
    pub fn body(&self) -> String {
        let mut s = self.kind.label().to_string();
        if let Some(v) = self.value.as_ref().filter(|_| self.kind.shows_value()) {
            s.push_str(": ");
            s.push_str(&render_value(v));
        }
        if !self.detail.is_empty() {
            s.push_str(": ");
            s.push_str(&self.detail);
        }
        s
    }
}

/// Upstream prints strings quoted, numbers and booleans bare, and null as `null`.
fn render_value(v: &Value) -> String {
    match v {
        Value::String(s) => format!("{s:?}"),
        Value::Null => "null".to_string(),
        other => other.to_string(),
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.field.as_str().is_empty() {
            f.write_str(&self.body())
        } else {
            write!(f, "{}: {}", self.field, self.body())
        }
    }
}

/// An ordered list of field errors (upstream's `field.ErrorList`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FieldErrors(pub Vec<FieldError>);

impl FieldErrors {
    pub fn new() -> Self {
        FieldErrors(Vec::new())
    }

    pub fn push(&mut self, e: FieldError) {
        self.0.push(e);
    }

    pub fn extend(&mut self, other: FieldErrors) {
        self.0.extend(other.0);
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn iter(&self) -> impl Iterator<Item = &FieldError> {
        self.0.iter()
    }

    /// Ok when empty, so validators can end with `errs.into_result()`.
    pub fn into_result(self) -> Result<(), FieldErrors> {
        if self.0.is_empty() { Ok(()) } else { Err(self) }
    }
}

impl fmt::Display for FieldErrors {
    /// One error prints bare; several print as `[a, b]`, as upstream's aggregate does.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.as_slice() {
            [] => Ok(()),
            [one] => write!(f, "{one}"),
            many => {
                let parts: Vec<String> = many.iter().map(|e| e.to_string()).collect();
                write!(f, "[{}]", parts.join(", "))
            }
        }
    }
}

impl From<Vec<FieldError>> for FieldErrors {
    fn from(v: Vec<FieldError>) -> Self {
        FieldErrors(v)
    }
}

impl IntoIterator for FieldErrors {
    type Item = FieldError;
    type IntoIter = std::vec::IntoIter<FieldError>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn renders_like_upstream() {
        let p = FieldPath::new("spec").child("replicas");
        let e = FieldError::invalid(&p, json!(-1), "must be greater than or equal to 0");
        assert_eq!(e.to_string(), "spec.replicas: Invalid value: -1: must be greater than or equal to 0");

        let e = FieldError::required(&FieldPath::new("metadata").child("name"), "");
        assert_eq!(e.to_string(), "metadata.name: Required value");

        let e = FieldError::not_supported(
            &FieldPath::new("spec").child("strategy").child("type"),
            "Foo",
            &["Recreate", "RollingUpdate"],
        );
        assert_eq!(
            e.to_string(),
            r#"spec.strategy.type: Unsupported value: "Foo": supported values: "Recreate", "RollingUpdate""#
        );

        let p = FieldPath::new("spec").child("containers").index(1).child("name");
        assert_eq!(FieldError::duplicate(&p, "web").to_string(), r#"spec.containers[1].name: Duplicate value: "web""#);
    }

    #[test]
    fn aggregates_with_brackets() {
        let mut errs = FieldErrors::new();
        errs.push(FieldError::required(&FieldPath::new("a"), ""));
        assert_eq!(errs.to_string(), "a: Required value");
        errs.push(FieldError::required(&FieldPath::new("b"), ""));
        assert_eq!(errs.to_string(), "[a: Required value, b: Required value]");
    }
}
