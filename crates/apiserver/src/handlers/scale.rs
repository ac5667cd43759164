//! The `scale` subresource of deployments, replica sets, stateful sets and replication
//! controllers: an `autoscaling/v1` Scale view of `spec.replicas`.

use bytes::Bytes;
use http::{Response, StatusCode};
use serde_json::{Value, json};
use skiff_api::field_errors::{FieldError, FieldErrors, FieldPath};
use skiff_api::selector::LabelSelector;
use skiff_api::{ApiError, Qualified, object};

use super::patch::apply_patch;
use super::respond::json_response;
use super::{Ctx, decode_object};
use crate::http::Body;
use crate::http::negotiate::BodyFormat;
use crate::registry::{Target, WriteOptions};

/// The Scale of an object.
pub fn to_scale(obj: &Value) -> Value {
    let selector = match &obj["spec"]["selector"] {
        // apps kinds: a structured LabelSelector.
        s if s.get("matchLabels").is_some() || s.get("matchExpressions").is_some() => {
            LabelSelector::from_structured(s).ok().flatten().map(|s| s.to_string()).unwrap_or_default()
        }
        // ReplicationControllers: a plain map.
        Value::Object(m) => {
            let mut pairs: Vec<String> = m.iter().map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or(""))).collect();
            pairs.sort();
            pairs.join(",")
        }
        _ => String::new(),
    };
    let m = object::meta(obj).cloned().unwrap_or_default();
    let keep: serde_json::Map<String, Value> = ["name", "namespace", "uid", "resourceVersion", "creationTimestamp"]
        .iter()
        .filter_map(|k| m.get(*k).map(|v| (k.to_string(), v.clone())))
        .collect();
    json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": keep,
        "spec": {"replicas": obj["spec"]["replicas"].as_i64().unwrap_or(1)},
        "status": {"replicas": obj["status"]["replicas"].as_i64().unwrap_or(0), "selector": selector},
    })
}

fn replicas_of(ctx: &Ctx, scale: &Value) -> Result<i64, ApiError> {
    let replicas = scale["spec"]["replicas"].as_i64().unwrap_or(0);
    if replicas < 0 {
        let errs: FieldErrors = vec![FieldError::invalid(
            &FieldPath::new("spec").child("replicas"),
            replicas,
            "must be greater than or equal to 0",
        )]
        .into();
        return Err(ApiError::invalid(&Qualified::new("autoscaling", "Scale"), ctx.name(), &errs));
    }
    Ok(replicas)
}

/// Set `spec.replicas` from a Scale, keeping its resourceVersion as the precondition.
fn rescale(cur: &Value, replicas: i64, rv: &str) -> Value {
    let mut next = cur.clone();
    next["spec"]["replicas"] = replicas.into();
    if !rv.is_empty() {
        object::set_str(&mut next, "resourceVersion", rv);
    }
    next
}

pub async fn get(ctx: &Ctx) -> Result<Response<Body>, ApiError> {
    let obj = ctx.api.current(ctx.info, &ctx.namespace, ctx.name()).await?;
    let obj = obj.ok_or_else(|| ApiError::not_found(&ctx.info.qualified_resource(), ctx.name()))?;
    Ok(json_response(StatusCode::OK, &to_scale(&obj.value())))
}

pub async fn update(ctx: &Ctx, body: Bytes, format: BodyFormat) -> Result<Response<Body>, ApiError> {
    let scale = decode_object(ctx, &body, format, ("autoscaling/v1", "Scale"))?;
    let replicas = replicas_of(ctx, &scale)?;
    let rv = object::resource_version(&scale).to_string();
    let opts = ctx.write_options()?;
    let written = ctx
        .api
        .update_object(ctx.info, &ctx.namespace, ctx.name(), Target::Main, &opts, |cur| Ok(rescale(cur, replicas, &rv)))
        .await?;
    Ok(json_response(StatusCode::OK, &to_scale(&written.object)))
}

pub async fn patch(
    ctx: &Ctx,
    doc: &Value,
    format: BodyFormat,
    opts: &WriteOptions,
) -> Result<Response<Body>, ApiError> {
    let written = ctx
        .api
        .update_object(ctx.info, &ctx.namespace, ctx.name(), Target::Main, opts, |cur| {
            let scale = to_scale(cur);
            let patched = apply_patch("autoscaling", "v1", "Scale", format, &scale, doc)?;
            let replicas = replicas_of(ctx, &patched)?;
            Ok(rescale(cur, replicas, object::resource_version(&patched)))
        })
        .await?;
    Ok(json_response(StatusCode::OK, &to_scale(&written.object)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scale_of_a_deployment() {
        let d = json!({"metadata": {"name": "web", "namespace": "default", "resourceVersion": "9", "labels": {"x": "y"}},
            "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}}}, "status": {"replicas": 2}});
        let s = to_scale(&d);
        assert_eq!(s["spec"]["replicas"], 3);
        assert_eq!(s["status"]["replicas"], 2);
        assert_eq!(s["status"]["selector"], "app=web");
        assert_eq!(s["metadata"]["resourceVersion"], "9");
        assert!(s["metadata"].get("labels").is_none());
    }

    #[test]
    fn scale_of_a_replication_controller() {
        let rc = json!({"metadata": {"name": "r"}, "spec": {"replicas": 1, "selector": {"b": "2", "a": "1"}}});
        assert_eq!(to_scale(&rc)["status"]["selector"], "a=1,b=2");
    }
}
