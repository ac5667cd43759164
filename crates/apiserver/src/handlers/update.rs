//! PUT: replace an object, its status, or a namespace's finalizers.

use bytes::Bytes;
use http::{Response, StatusCode};
use serde_json::Value;
use skiff_api::resources::Subresource;
use skiff_api::{ApiError, object};

use super::respond::{self, add_warnings};
use super::{Ctx, decode_object};
use crate::cache;
use crate::http::Body;
use crate::http::negotiate::BodyFormat;
use crate::registry::{Target, Written, store_error};

/// Kinds upstream lets a PUT create when the object does not exist.
fn allows_create_on_update(plural: &str) -> bool {
    matches!(
        plural,
        "endpoints"
            | "events"
            | "leases"
            | "limitranges"
            | "roles"
            | "rolebindings"
            | "clusterroles"
            | "clusterrolebindings"
    )
}

pub async fn update(ctx: &Ctx, body: Bytes, format: BodyFormat) -> Result<Response<Body>, ApiError> {
    let mut obj = decode_object(ctx, &body, format, (&ctx.info.api_version(), ctx.info.kind))?;
    let name = ctx.name().to_string();
    match object::name(&obj) {
        "" => object::set_str(&mut obj, "name", &name),
        n if n != name => {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({n}) does not match the name on the URL ({name})"
            )));
        }
        _ => {}
    }
    let opts = ctx.write_options()?;
    let written = match ctx.sub {
        Some(Subresource::Finalize) => finalize(ctx, obj, &opts).await?,
        sub => {
            let target = if sub == Some(Subresource::Status) { Target::Status } else { Target::Main };
            let result =
                ctx.api.update_object(ctx.info, &ctx.namespace, &name, target, &opts, |_| Ok(obj.clone())).await;
            match result {
                Err(e) if e.code == 404 && target == Target::Main && allows_create_on_update(ctx.info.plural) => {
                    object::remove(&mut obj, "resourceVersion");
                    ctx.api.create_object(ctx.info, &ctx.namespace, obj, &opts).await?
                }
                other => other?,
            }
        }
    };
    let status = if written.created { StatusCode::CREATED } else { StatusCode::OK };
    let mut r = respond::object(ctx.info, ctx.output, status, &written.object, ctx.include);
    add_warnings(&mut r, &written.warnings);
    Ok(r)
}

/// `namespaces/<name>/finalize`: only `spec.finalizers` changes; a terminating namespace whose
/// finalizers are all gone is removed. The namespace's update rules keep `spec.finalizers`,
/// so this write bypasses them and checks the names itself.
async fn finalize(ctx: &Ctx, body: Value, opts: &crate::registry::WriteOptions) -> Result<Written, ApiError> {
    let finalizers = body["spec"]["finalizers"].clone();
    let requested_rv = object::resource_version(&body).to_string();
    let name = ctx.name().to_string();
    let ns: k8s_openapi::api::core::v1::Namespace =
        serde_json::from_value(body).map_err(|e| ApiError::bad_request(format!("decoding Namespace: {e}")))?;
    let errs = skiff_api::kinds::namespace::validate_finalize(&ns);
    if !errs.is_empty() {
        return Err(ApiError::invalid(&ctx.info.qualified_kind(), &name, &errs));
    }
    let written = ctx
        .api
        .update_object(ctx.info, "", &name, Target::Internal, opts, |cur| {
            let mut next = cur.clone();
            if finalizers.is_null() {
                if let Some(spec) = next.get_mut("spec").and_then(Value::as_object_mut) {
                    spec.remove("finalizers");
                }
            } else {
                next["spec"]["finalizers"] = finalizers.clone();
            }
            if !requested_rv.is_empty() {
                object::set_str(&mut next, "resourceVersion", &requested_rv);
            }
            Ok(next)
        })
        .await?;
    let done = object::deletion_timestamp(&written.object).is_some()
        && written.object["spec"]["finalizers"].as_array().is_none_or(|f| f.is_empty())
        && object::finalizers(&written.object).is_empty();
    if done && !opts.dry_run {
        let key = cache::key(ctx.info, "", &name);
        let rev: i64 = object::resource_version(&written.object).parse().unwrap_or(0);
        match ctx.api.store.delete(&key, Some(rev)).await {
            Ok(_) | Err(skiff_store::StoreError::NotFound(_)) => {}
            Err(e) => return Err(store_error(ctx.info, &name, e)),
        }
    }
    Ok(written)
}
