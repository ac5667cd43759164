//! DELETE: one object, or a collection.

use bytes::Bytes;
use http::{Response, StatusCode};
use serde_json::{Value, json};
use skiff_api::resources::ResourceInfo;
use skiff_api::selector::{FieldSelector, LabelSelector};
use skiff_api::{ApiError, object, status::success_status};

use super::respond::{self, json_response};
use super::{Ctx, dry_run};
use crate::cache::Filter;
use crate::http::Body;
use crate::registry::delete::{DeleteOptions, Deleted, Propagation};

/// Kinds whose DELETE answers with the deleted object rather than a Status (as upstream).
fn returns_object(info: &ResourceInfo) -> bool {
    info.group.is_empty() && matches!(info.plural, "pods" | "services" | "namespaces")
}

/// DeleteOptions from the query and the (optional) body.
fn options(ctx: &Ctx, body: &[u8]) -> Result<DeleteOptions, ApiError> {
    let mut opts = DeleteOptions { dry_run: dry_run(&ctx.query)?, ..Default::default() };
    let b: Value = if body.iter().all(u8::is_ascii_whitespace) {
        Value::Null
    } else {
        serde_json::from_slice(body).map_err(|e| ApiError::bad_request(format!("decoding DeleteOptions: {e}")))?
    };
    let q = &ctx.query;
    opts.grace_period = match q.get("gracePeriodSeconds") {
        Some(g) => Some(g.parse().map_err(|_| ApiError::bad_request(format!("invalid gracePeriodSeconds {g:?}")))?),
        None => b["gracePeriodSeconds"].as_i64(),
    };
    if opts.grace_period.is_some_and(|g| g < 0) {
        opts.grace_period = Some(0);
    }
    let policy = q.non_empty("propagationPolicy").or_else(|| b["propagationPolicy"].as_str());
    opts.propagation = match policy {
        None => None,
        Some("Orphan") => Some(Propagation::Orphan),
        Some("Background") => Some(Propagation::Background),
        Some("Foreground") => Some(Propagation::Foreground),
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "propagationPolicy: Unsupported value: {other:?}: supported values: \"Foreground\", \"Background\", \"Orphan\""
            )));
        }
    };
    let orphan = q.get("orphanDependents").map(|v| v == "true").or_else(|| b["orphanDependents"].as_bool());
    if opts.propagation.is_none() {
        opts.propagation = orphan.map(|o| if o { Propagation::Orphan } else { Propagation::Background });
    } else if orphan.is_some() {
        return Err(ApiError::bad_request("orphanDependents and propagationPolicy cannot both be set"));
    }
    opts.precondition_uid = b["preconditions"]["uid"].as_str().map(str::to_string);
    opts.precondition_rv = b["preconditions"]["resourceVersion"].as_str().map(str::to_string);
    if b["dryRun"].as_array().is_some_and(|d| d.iter().any(|v| v == "All")) {
        opts.dry_run = true;
    }
    Ok(opts)
}

pub async fn delete(ctx: &Ctx, body: Bytes) -> Result<Response<Body>, ApiError> {
    let opts = options(ctx, &body)?;
    match ctx.api.delete_object(ctx.info, &ctx.namespace, ctx.name(), &opts).await? {
        Deleted::Pending(obj) => Ok(respond::object(ctx.info, ctx.output, StatusCode::OK, &obj, ctx.include)),
        Deleted::Gone(obj) if returns_object(ctx.info) => {
            Ok(respond::object(ctx.info, ctx.output, StatusCode::OK, &obj, ctx.include))
        }
        Deleted::Gone(obj) => Ok(json_response(
            StatusCode::OK,
            &success_status(Some((ctx.name(), ctx.info.group, ctx.info.plural, object::uid(&obj)))),
        )),
    }
}

/// Delete every object a list with the same selectors would return.
pub async fn delete_collection(ctx: &Ctx, body: Bytes) -> Result<Response<Body>, ApiError> {
    let opts = options(ctx, &body)?;
    let labels = LabelSelector::parse(ctx.query.get("labelSelector").unwrap_or(""))
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    let fields = FieldSelector::parse(ctx.query.get("fieldSelector").unwrap_or(""))
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    let filter = Filter::new(ctx.info, Some(&ctx.namespace), labels, &fields)?;
    ctx.api.cache.wait_fresh().await?;
    let targets: Vec<(String, String)> = ctx
        .api
        .cache
        .resource(ctx.info)
        .read()
        .objects
        .values()
        .filter(|o| filter.matches(o))
        .map(|o| (o.namespace.to_string(), o.name.to_string()))
        .collect();
    let mut items = Vec::new();
    for (ns, name) in targets {
        match ctx.api.delete_object(ctx.info, &ns, &name, &opts).await {
            Ok(Deleted::Gone(o) | Deleted::Pending(o)) => items.push(o),
            Err(e) if e.code == 404 => {}
            Err(e) => return Err(e),
        }
    }
    Ok(json_response(
        StatusCode::OK,
        &json!({"kind": ctx.info.list_kind(), "apiVersion": ctx.info.api_version(), "metadata": {}, "items": items}),
    ))
}
