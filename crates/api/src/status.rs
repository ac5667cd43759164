//! API errors as Kubernetes `Status` objects.
//!
//! Every failure the API server returns goes through [`ApiError`]: it carries the HTTP code, the
//! `reason` clients switch on (`NotFound`, `Conflict`, `Invalid`, ...), a message worded like
//! upstream's, and optional details (name, group, kind, field causes).

use std::fmt;

use serde_json::{Value, json};

use crate::field_errors::FieldErrors;

/// A group and a resource or kind, printed the way upstream's messages do (`deployments.apps`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Qualified {
    pub group: String,
    pub name: String,
}

impl Qualified {
    pub fn new(group: &str, name: &str) -> Self {
        Qualified { group: group.to_string(), name: name.to_string() }
    }
}

impl fmt::Display for Qualified {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.group.is_empty() { f.write_str(&self.name) } else { write!(f, "{}.{}", self.name, self.group) }
    }
}

/// One `details.causes` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct Cause {
    pub reason: String,
    pub message: String,
    pub field: String,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Details {
    pub name: String,
    pub group: String,
    pub kind: String,
    pub causes: Vec<Cause>,
    pub retry_after_seconds: Option<u32>,
}

/// An error response: becomes a `Status` with `status: Failure`.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub code: u16,
    pub reason: &'static str,
    pub message: String,
    /// Boxed: most errors have none, and a small error keeps every `Result` on the request
    /// path small.
    pub details: Option<Box<Details>>,
}

impl ApiError {
    fn plain(code: u16, reason: &'static str, message: impl Into<String>) -> Self {
        ApiError { code, reason, message: message.into(), details: None }
    }

    fn with_target(code: u16, reason: &'static str, message: String, resource: &Qualified, name: &str) -> Self {
        ApiError {
            code,
            reason,
            message,
            details: Some(Box::new(Details {
                name: name.to_string(),
                group: resource.group.clone(),
                kind: resource.name.clone(),
                ..Details::default()
            })),
        }
    }

    /// 404: `deployments.apps "web" not found`.
    pub fn not_found(resource: &Qualified, name: &str) -> Self {
        Self::with_target(404, "NotFound", format!("{resource} \"{name}\" not found"), resource, name)
    }

    /// 409: `deployments.apps "web" already exists`.
    pub fn already_exists(resource: &Qualified, name: &str) -> Self {
        Self::with_target(409, "AlreadyExists", format!("{resource} \"{name}\" already exists"), resource, name)
    }

    /// 409 Conflict with upstream's optimistic-concurrency wording.
    pub fn conflict(resource: &Qualified, name: &str, why: &str) -> Self {
        Self::with_target(
            409,
            "Conflict",
            format!("Operation cannot be fulfilled on {resource} \"{name}\": {why}"),
            resource,
            name,
        )
    }

    /// 409 Conflict whose message is given whole (server-side apply conflicts).
    pub fn conflict_message(resource: &Qualified, name: &str, message: String, causes: Vec<Cause>) -> Self {
        let mut e = Self::with_target(409, "Conflict", message, resource, name);
        if let Some(d) = e.details.as_mut() {
            d.causes = causes;
        }
        e
    }

    /// 422: `Deployment.apps "web" is invalid: spec.replicas: ...`, one cause per field error.
    pub fn invalid(kind: &Qualified, name: &str, errs: &FieldErrors) -> Self {
        let causes = errs
            .iter()
            .map(|e| Cause { reason: e.kind.cause_reason().to_string(), message: e.body(), field: e.field.to_string() })
            .collect();
        ApiError {
            code: 422,
            reason: "Invalid",
            message: format!("{kind} \"{name}\" is invalid: {errs}"),
            details: Some(Box::new(Details {
                name: name.to_string(),
                group: kind.group.clone(),
                kind: kind.name.clone(),
                causes,
                retry_after_seconds: None,
            })),
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::plain(400, "BadRequest", message)
    }

    pub fn unauthorized() -> Self {
        Self::plain(401, "Unauthorized", "Unauthorized")
    }

    pub fn forbidden(resource: &Qualified, name: &str, why: &str) -> Self {
        let message = if name.is_empty() {
            format!("{resource} is forbidden: {why}")
        } else {
            format!("{resource} \"{name}\" is forbidden: {why}")
        };
        Self::with_target(403, "Forbidden", message, resource, name)
    }

    pub fn method_not_allowed(message: impl Into<String>) -> Self {
        Self::plain(405, "MethodNotAllowed", message)
    }

    pub fn not_acceptable(message: impl Into<String>) -> Self {
        Self::plain(406, "NotAcceptable", message)
    }

    /// 410: a watch or continue token from before the last compaction.
    pub fn gone(message: impl Into<String>) -> Self {
        Self::plain(410, "Expired", message)
    }

    pub fn too_large(message: impl Into<String>) -> Self {
        Self::plain(413, "RequestEntityTooLarge", message)
    }

    pub fn unsupported_media_type(content_type: &str) -> Self {
        Self::plain(
            415,
            "UnsupportedMediaType",
            format!(
                "the body of the request was in an unknown format - accepted media types include: application/json, application/yaml, application/vnd.kubernetes.protobuf (got {content_type:?})"
            ),
        )
    }

    pub fn too_many_requests(message: impl Into<String>, retry_after_seconds: u32) -> Self {
        ApiError {
            code: 429,
            reason: "TooManyRequests",
            message: message.into(),
            details: Some(Box::new(Details { retry_after_seconds: Some(retry_after_seconds), ..Details::default() })),
        }
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::plain(500, "InternalError", message)
    }

    pub fn timeout(message: impl Into<String>) -> Self {
        Self::plain(504, "Timeout", message)
    }

    pub fn service_unavailable(message: impl Into<String>) -> Self {
        Self::plain(503, "ServiceUnavailable", message)
    }

    /// The `Status` object to send.
    pub fn to_status(&self) -> Value {
        let mut status = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        });
        if let Some(d) = &self.details {
            let mut details = serde_json::Map::new();
            if !d.name.is_empty() {
                details.insert("name".into(), d.name.clone().into());
            }
            if !d.group.is_empty() {
                details.insert("group".into(), d.group.clone().into());
            }
            if !d.kind.is_empty() {
                details.insert("kind".into(), d.kind.clone().into());
            }
            if !d.causes.is_empty() {
                let causes: Vec<Value> = d
                    .causes
                    .iter()
                    .map(|c| json!({"reason": c.reason, "message": c.message, "field": c.field}))
                    .collect();
                details.insert("causes".into(), causes.into());
            }
            if let Some(s) = d.retry_after_seconds {
                details.insert("retryAfterSeconds".into(), s.into());
            }
            status["details"] = Value::Object(details);
        }
        status
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ApiError {}

/// A `Status` reporting success, as returned by some deletes.
pub fn success_status(details: Option<(&str, &str, &str, &str)>) -> Value {
    let mut s = json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success"});
    if let Some((name, group, kind, uid)) = details {
        let mut d = json!({"name": name, "kind": kind, "uid": uid});
        if !group.is_empty() {
            d["group"] = group.into();
        }
        s["details"] = d;
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::field_errors::{FieldError, FieldPath};

    #[test]
    fn not_found_names_the_qualified_resource() {
        let e = ApiError::not_found(&Qualified::new("apps", "deployments"), "web");
        let s = e.to_status();
        assert_eq!(s["message"], "deployments.apps \"web\" not found");
        assert_eq!(s["reason"], "NotFound");
        assert_eq!(s["code"], 404);
        assert_eq!(s["details"]["kind"], "deployments");
        assert_eq!(s["details"]["group"], "apps");
    }

    #[test]
    fn invalid_carries_causes() {
        let mut errs = FieldErrors::new();
        errs.push(FieldError::required(&FieldPath::new("metadata").child("name"), ""));
        let e = ApiError::invalid(&Qualified::new("", "ConfigMap"), "x", &errs);
        let s = e.to_status();
        assert_eq!(s["message"], "ConfigMap \"x\" is invalid: metadata.name: Required value");
        assert_eq!(s["details"]["causes"][0]["reason"], "FieldValueRequired");
        assert_eq!(s["details"]["causes"][0]["field"], "metadata.name");
        assert_eq!(s["details"]["causes"][0]["message"], "Required value");
    }
}
