//! Pod subresources: `binding` (how a scheduler places a pod) and `eviction` (a delete that
//! respects PodDisruptionBudgets).

use bytes::Bytes;
use http::{Response, StatusCode};
use serde_json::{Value, json};
use skiff_api::selector::LabelSelector;
use skiff_api::status::Cause;
use skiff_api::{ApiError, Qualified, object, registry};

use super::{Ctx, decode_object, respond::json_response};
use crate::http::Body;
use crate::http::negotiate::BodyFormat;
use crate::registry::Target;
use crate::registry::delete::DeleteOptions;

fn created() -> Response<Body> {
    json_response(
        StatusCode::CREATED,
        &json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}),
    )
}

fn pods() -> Qualified {
    Qualified::new("", "pods")
}

/// Put `PodScheduled=True` into a pod's conditions, replacing an earlier one.
fn mark_scheduled(pod: &mut Value) {
    let now = skiff_api::time::now_rfc3339();
    let condition = json!({"type": "PodScheduled", "status": "True", "lastProbeTime": null, "lastTransitionTime": now});
    let conditions = pod["status"]["conditions"].as_array().cloned().unwrap_or_default();
    let mut conditions: Vec<Value> = conditions.into_iter().filter(|c| c["type"] != "PodScheduled").collect();
    conditions.push(condition);
    pod["status"]["conditions"] = Value::Array(conditions);
}

pub async fn bind(ctx: &Ctx, body: Bytes, format: BodyFormat) -> Result<Response<Body>, ApiError> {
    let binding = decode_object(ctx, &body, format, ("v1", "Binding"))?;
    let name = ctx.name().to_string();
    if !object::name(&binding).is_empty() && object::name(&binding) != name {
        return Err(ApiError::bad_request(format!(
            "the name of the object ({}) does not match the name on the URL ({name})",
            object::name(&binding)
        )));
    }
    let node = binding["target"]["name"].as_str().unwrap_or("").to_string();
    let kind = binding["target"]["kind"].as_str().unwrap_or("");
    if node.is_empty() || !(kind.is_empty() || kind == "Node") {
        let errs = vec![skiff_api::FieldError::invalid(
            &skiff_api::FieldPath::new("target"),
            binding["target"].clone(),
            "must name a Node",
        )]
        .into();
        return Err(ApiError::invalid(&Qualified::new("", "Binding"), &name, &errs));
    }
    let opts = ctx.write_options()?;
    ctx.api
        .update_object(ctx.info, &ctx.namespace, &name, Target::Internal, &opts, |cur| {
            if object::deletion_timestamp(cur).is_some() {
                return Err(ApiError::conflict(
                    &pods(),
                    &name,
                    &format!("pod {name} is being deleted, cannot be assigned to a host"),
                ));
            }
            let assigned = cur["spec"]["nodeName"].as_str().unwrap_or("");
            if !assigned.is_empty() {
                return Err(ApiError::conflict(
                    &pods(),
                    &name,
                    &format!("pod {name} is already assigned to node {assigned:?}"),
                ));
            }
            let mut next = cur.clone();
            next["spec"]["nodeName"] = node.clone().into();
            mark_scheduled(&mut next);
            Ok(next)
        })
        .await?;
    Ok(created())
}

pub async fn evict(ctx: &Ctx, body: Bytes, format: BodyFormat) -> Result<Response<Body>, ApiError> {
    let eviction = match decode_object(ctx, &body, format, ("policy/v1", "Eviction")) {
        Ok(e) => e,
        // policy/v1beta1 evictions are still sent by older clients; the shape is the same.
        Err(_) => decode_object(ctx, &body, format, ("policy/v1beta1", "Eviction"))?,
    };
    let name = ctx.name().to_string();
    let pod =
        ctx.api.current(ctx.info, &ctx.namespace, &name).await?.ok_or_else(|| ApiError::not_found(&pods(), &name))?;
    let pod = pod.value();
    let opts = eviction_delete_options(&eviction);
    let terminal_or_pending = matches!(pod["status"]["phase"].as_str(), Some("Succeeded" | "Failed" | "Pending"));
    if object::deletion_timestamp(&pod).is_none() && !terminal_or_pending {
        self::check_budgets(ctx, &pod, opts.dry_run).await?;
    }
    ctx.api.delete_object(ctx.info, &ctx.namespace, &name, &opts).await?;
    Ok(created())
}

fn eviction_delete_options(eviction: &Value) -> DeleteOptions {
    let o = &eviction["deleteOptions"];
    DeleteOptions {
        grace_period: o["gracePeriodSeconds"].as_i64(),
        precondition_uid: o["preconditions"]["uid"].as_str().map(str::to_string),
        precondition_rv: o["preconditions"]["resourceVersion"].as_str().map(str::to_string),
        dry_run: o["dryRun"].as_array().is_some_and(|d| d.iter().any(|v| v == "All")),
        ..DeleteOptions::default()
    }
}

fn too_many(message: String, cause: Option<String>) -> ApiError {
    // Upstream gives no Retry-After: kubectl drain retries evictions on its own every 5 s.
    let mut e = ApiError::too_many_requests(message, 0);
    if let (Some(c), Some(d)) = (cause, e.details.as_mut()) {
        d.causes = vec![Cause { reason: "DisruptionBudget".into(), message: c, field: String::new() }];
    }
    e
}

/// Refuse the eviction if it would break the pod's disruption budget; otherwise record it in
/// the budget's status so concurrent evictions cannot all pass.
async fn check_budgets(ctx: &Ctx, pod: &Value, dry_run: bool) -> Result<(), ApiError> {
    let pdb_info = registry().get("policy", "v1", "poddisruptionbudgets").expect("served");
    ctx.api.cache.wait_fresh().await?;
    let matching: Vec<Value> = ctx
        .api
        .cache
        .resource(pdb_info)
        .read()
        .objects
        .values()
        .filter(|o| *o.namespace == ctx.namespace)
        .map(|o| o.value())
        .filter(|pdb| {
            LabelSelector::from_structured(&pdb["spec"]["selector"])
                .ok()
                .flatten()
                .is_some_and(|s| !s.is_empty() && s.matches_object(pod))
        })
        .collect();
    let pdb = match matching.as_slice() {
        [] => return Ok(()),
        [one] => one,
        _ => {
            return Err(ApiError::internal(
                "This pod has more than one PodDisruptionBudget, which the eviction subresource does not support.",
            ));
        }
    };
    let pdb_name = object::name(pdb).to_string();
    if pdb["status"]["observedGeneration"].as_i64().unwrap_or(0) < object::generation(pdb) {
        return Err(too_many(
            "Cannot evict pod as it would violate the pod's disruption budget.".into(),
            Some(format!("The disruption budget {pdb_name} is still being processed by the server.")),
        ));
    }
    let allowed = pdb["status"]["disruptionsAllowed"].as_i64().unwrap_or(0);
    if allowed <= 0 {
        let desired = pdb["status"]["desiredHealthy"].as_i64().unwrap_or(0);
        let current = pdb["status"]["currentHealthy"].as_i64().unwrap_or(0);
        return Err(too_many(
            "Cannot evict pod as it would violate the pod's disruption budget.".into(),
            Some(format!("The disruption budget {pdb_name} needs {desired} healthy pods and has {current} currently")),
        ));
    }
    if dry_run {
        return Ok(());
    }
    let pod_name = object::name(pod).to_string();
    let opts = crate::registry::WriteOptions {
        dry_run: false,
        validation: crate::registry::FieldValidation::Ignore,
        manager: "skiff-eviction".into(),
        applied: false,
    };
    ctx.api
        .update_object(pdb_info, &ctx.namespace, &pdb_name, Target::Internal, &opts, |cur| {
            let allowed = cur["status"]["disruptionsAllowed"].as_i64().unwrap_or(0);
            if allowed <= 0 {
                return Err(too_many("Cannot evict pod as it would violate the pod's disruption budget.".into(), None));
            }
            let mut next = cur.clone();
            next["status"]["disruptionsAllowed"] = (allowed - 1).into();
            next["status"]["disruptedPods"][&pod_name] = skiff_api::time::now_rfc3339().into();
            Ok(next)
        })
        .await?;
    Ok(())
}
