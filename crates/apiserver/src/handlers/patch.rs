//! PATCH: JSON patch, merge patch, strategic merge patch and server-side apply, on an object,
//! its status, or its scale.

use bytes::Bytes;
use http::{Response, StatusCode};
use serde_json::Value;
use skiff_api::ApiError;
use skiff_api::resources::{ResourceInfo, Subresource};
use skiff_api::status::{Cause, Details};
use skiff_patch::PatchError;

use super::respond::{self, add_warnings};
use super::{Ctx, parse_body, scale};
use crate::http::Body;
use crate::http::negotiate::BodyFormat;
use crate::registry::Target;

/// A patch engine error as upstream reports it.
pub fn patch_error(e: PatchError) -> ApiError {
    match e {
        PatchError::BadRequest(m) => ApiError::bad_request(m),
        PatchError::Unprocessable(m) => ApiError {
            code: 422,
            reason: "Invalid",
            message: m.clone(),
            details: Some(Box::new(Details {
                causes: vec![Cause { reason: "FieldValueInvalid".into(), message: m, field: String::new() }],
                ..Details::default()
            })),
        },
        PatchError::Failed(m) => ApiError { code: 500, reason: "", message: m, details: None },
    }
}

/// Apply a (non-apply) patch document to an object of `kind` in `group/version`.
pub fn apply_patch(
    group: &str,
    version: &str,
    kind: &str,
    format: BodyFormat,
    current: &Value,
    patch: &Value,
) -> Result<Value, ApiError> {
    let out = match format {
        BodyFormat::JsonPatch => skiff_patch::json_patch(current, patch),
        BodyFormat::MergePatch => skiff_patch::merge_patch(current, patch),
        BodyFormat::StrategicMergePatch => {
            let Some(schema) = skiff_patch::schema::kind_schema(group, version, kind) else {
                return Err(ApiError::unsupported_media_type("application/strategic-merge-patch+json"));
            };
            skiff_patch::strategic_merge_patch(current, patch, schema)
        }
        _ => return Err(ApiError::unsupported_media_type(&format!("{format:?}"))),
    };
    out.map_err(patch_error)
}

fn apply_to(info: &ResourceInfo, format: BodyFormat, current: &Value, patch: &Value) -> Result<Value, ApiError> {
    apply_patch(info.group, info.version, info.kind, format, current, patch)
}

pub async fn patch(ctx: &Ctx, body: Bytes, format: BodyFormat) -> Result<Response<Body>, ApiError> {
    if !format.is_patch() {
        return Err(ApiError::unsupported_media_type(&format!("{format:?}")));
    }
    if format == BodyFormat::ApplyPatch {
        return crate::handlers::patch_apply::apply(ctx, &body).await;
    }
    let doc = parse_body(&body, format)?;
    let opts = ctx.write_options()?;
    if ctx.sub == Some(Subresource::Scale) {
        return scale::patch(ctx, &doc, format, &opts).await;
    }
    let target = if ctx.sub == Some(Subresource::Status) { Target::Status } else { Target::Main };
    let written = ctx
        .api
        .update_object(ctx.info, &ctx.namespace, ctx.name(), target, &opts, |cur| apply_to(ctx.info, format, cur, &doc))
        .await?;
    let mut r = respond::object(ctx.info, ctx.output, StatusCode::OK, &written.object, ctx.include);
    add_warnings(&mut r, &written.warnings);
    Ok(r)
}
