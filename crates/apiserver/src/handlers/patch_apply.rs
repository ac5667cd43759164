//! Server-side apply (`application/apply-patch+yaml`): the applied configuration is merged into
//! the live object with field ownership; fields another manager owns conflict unless `force`.

use http::{Response, StatusCode};
use serde_json::Value;
use skiff_api::resources::{ResourceInfo, Subresource};
use skiff_api::status::Cause;
use skiff_api::{ApiError, object};
use skiff_patch::apply::ApplyError;
use skiff_patch::schema::kind_schema;

use super::respond::{self, add_warnings};
use super::{Ctx, parse_body};
use crate::http::Body;
use crate::http::negotiate::BodyFormat;
use crate::managed::reset_paths;
use crate::registry::Target;

fn apply_error(info: &ResourceInfo, name: &str, e: ApplyError) -> ApiError {
    match e {
        ApplyError::Conflicts(conflicts) => {
            let causes = conflicts
                .iter()
                .map(|c| Cause {
                    reason: "FieldManagerConflict".into(),
                    message: c.cause_message(),
                    field: c.field.clone(),
                })
                .collect();
            ApiError::conflict_message(
                &info.qualified_resource(),
                name,
                ApplyError::Conflicts(conflicts).to_string(),
                causes,
            )
        }
        ApplyError::ManagedFieldsInConfig => ApiError::bad_request("metadata.managedFields must be nil"),
        ApplyError::Invalid(why) => {
            let mut e = ApiError::bad_request(format!("error applying patch to {} {name}: {why}", info.kind));
            e.code = 422;
            e.reason = "Invalid";
            e
        }
    }
}

/// Check what an apply configuration must carry: its kind, version and (if any) name.
fn check_config(ctx: &Ctx, config: &Value) -> Result<(), ApiError> {
    let Some(map) = config.as_object() else {
        return Err(ApiError::bad_request("the apply configuration must be an object"));
    };
    let (api_version, kind) = (ctx.info.api_version(), ctx.info.kind);
    match map.get("apiVersion").and_then(Value::as_str) {
        None | Some("") => return Err(ApiError::bad_request("invalid object type: apiVersion must be set")),
        Some(v) if v != api_version => {
            return Err(ApiError::bad_request(format!(
                "the API version in the data ({v}) does not match the expected API version ({api_version})"
            )));
        }
        _ => {}
    }
    match map.get("kind").and_then(Value::as_str) {
        None | Some("") => return Err(ApiError::bad_request("invalid object type: kind must be set")),
        Some(k) if k != kind => {
            return Err(ApiError::bad_request(format!(
                "the kind in the data ({k}) does not match the expected kind ({kind})"
            )));
        }
        _ => {}
    }
    let name = object::name(config);
    if !name.is_empty() && name != ctx.name() {
        return Err(ApiError::bad_request(format!(
            "the name of the object ({name}) does not match the name on the URL ({})",
            ctx.name()
        )));
    }
    Ok(())
}

pub async fn apply(ctx: &Ctx, body: &[u8]) -> Result<Response<Body>, ApiError> {
    let mut config = parse_body(body, BodyFormat::ApplyPatch)?;
    check_config(ctx, &config)?;
    if ctx.query.non_empty("fieldManager").is_none() {
        return Err(ApiError::bad_request("PATCH, application/apply-patch+yaml requires fieldManager to be set"));
    }
    if ctx.info.namespaced && object::namespace(&config).is_empty() {
        object::set_str(&mut config, "namespace", &ctx.namespace);
    }
    let mut opts = ctx.write_options()?;
    opts.applied = true;
    let force = ctx.query.flag("force");
    let info = ctx.info;
    let name = ctx.name().to_string();
    let sub = (ctx.sub == Some(Subresource::Status)).then_some("status");
    let schema = kind_schema(info.group, info.version, info.kind)
        .ok_or_else(|| ApiError::unsupported_media_type("application/apply-patch+yaml"))?;
    let api_version = info.api_version();
    let reset = reset_paths(info, sub);
    let run = |live: Option<&Value>| {
        let now = skiff_api::time::now_rfc3339();
        skiff_patch::apply::apply(live, &config, &opts.manager, force, &api_version, sub, &now, schema, reset)
            .map_err(|e| apply_error(info, &name, e))
    };
    let target = if sub.is_some() { Target::Status } else { Target::Main };
    let written = match ctx.api.update_object(info, &ctx.namespace, &name, target, &opts, |cur| run(Some(cur))).await {
        // Applying to an object that does not exist creates it.
        Err(e) if e.code == 404 && target == Target::Main => {
            let mut obj = run(None)?;
            object::set_str(&mut obj, "name", &name);
            object::remove(&mut obj, "resourceVersion");
            ctx.api.create_object(info, &ctx.namespace, obj, &opts).await?
        }
        other => other?,
    };
    let status = if written.created { StatusCode::CREATED } else { StatusCode::OK };
    let mut r = respond::object(info, ctx.output, status, &written.object, ctx.include);
    add_warnings(&mut r, &written.warnings);
    Ok(r)
}
