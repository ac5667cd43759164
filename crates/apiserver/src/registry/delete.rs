//! Deletion: immediate, graceful (pods on a node), or pending on finalizers, with the
//! propagation policy expressed as the `orphan` / `foregroundDeletion` finalizers the garbage
//! collector acts on.

use serde_json::Value;
use skiff_api::object::{self, meta_mut};
use skiff_api::resources::ResourceInfo;
use skiff_api::{ApiError, Qualified};
use skiff_store::StoreError;

use super::admission::IMMORTAL_NAMESPACES;
use super::{UPDATE_RETRIES, store_error, with_rv};
use crate::ApiServer;
use crate::cache;
use crate::handlers::respond::served_value;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Propagation {
    Orphan,
    Background,
    Foreground,
}

#[derive(Debug, Clone, Default)]
pub struct DeleteOptions {
    pub grace_period: Option<i64>,
    pub propagation: Option<Propagation>,
    pub precondition_uid: Option<String>,
    pub precondition_rv: Option<String>,
    pub dry_run: bool,
}

/// What a delete did.
#[derive(Debug)]
pub enum Deleted {
    /// The object is gone; this was its last state.
    Gone(Value),
    /// The object is marked for deletion and waits for finalizers or its grace period.
    Pending(Value),
}

/// An update that leaves a deleting object without finalizers and without grace removes it
/// (upstream's "delete during update"). A namespace also waits for its `spec.finalizers`,
/// which only `finalize` empties (upstream's ShouldDeleteNamespaceDuringUpdate).
pub fn finalized(obj: &Value) -> bool {
    let m = object::meta(obj);
    object::deletion_timestamp(obj).is_some()
        && object::finalizers(obj).is_empty()
        && obj["spec"]["finalizers"].as_array().is_none_or(|f| f.is_empty())
        && m.and_then(|m| m.get("deletionGracePeriodSeconds")).and_then(Value::as_i64).unwrap_or(0) == 0
}

/// The grace period a pod gets, or `None` when it goes at once (not scheduled, finished, or a
/// grace period of zero asked for).
fn pod_grace(pod: &Value, requested: Option<i64>) -> Option<i64> {
    let unscheduled = pod["spec"]["nodeName"].as_str().unwrap_or("").is_empty();
    let finished = matches!(pod["status"]["phase"].as_str(), Some("Succeeded" | "Failed"));
    if unscheduled || finished {
        return None;
    }
    let grace = requested.or_else(|| pod["spec"]["terminationGracePeriodSeconds"].as_i64()).unwrap_or(30);
    (grace > 0).then_some(grace)
}

impl ApiServer {
    pub(crate) async fn delete_object(
        &self,
        info: &ResourceInfo,
        namespace: &str,
        name: &str,
        opts: &DeleteOptions,
    ) -> Result<Deleted, ApiError> {
        let is_namespace = info.plural == "namespaces" && info.group.is_empty();
        if is_namespace && IMMORTAL_NAMESPACES.contains(&name) {
            return Err(ApiError::forbidden(
                &Qualified::new("", "namespaces"),
                name,
                "this namespace may not be deleted",
            ));
        }
        let key = cache::key(info, namespace, name);
        for _ in 0..UPDATE_RETRIES {
            let current = self
                .current(info, namespace, name)
                .await?
                .ok_or_else(|| ApiError::not_found(&info.qualified_resource(), name))?;
            let cur = served_value(info, current.value());
            check_preconditions(info, name, &cur, opts)?;

            let grace =
                if info.plural == "pods" && info.group.is_empty() { pod_grace(&cur, opts.grace_period) } else { None };
            let mut finalizers = object::finalizers(&cur);
            let wanted = match opts.propagation {
                Some(Propagation::Orphan) => Some("orphan"),
                Some(Propagation::Foreground) => Some("foregroundDeletion"),
                _ => None,
            };
            if let Some(f) = wanted {
                finalizers.retain(|x| x != "orphan" && x != "foregroundDeletion");
                finalizers.push(f.to_string());
            }
            let namespace_finalizers =
                is_namespace && cur["spec"]["finalizers"].as_array().is_some_and(|f| !f.is_empty());
            let pending = !finalizers.is_empty() || grace.is_some() || namespace_finalizers;

            if !pending {
                if opts.dry_run {
                    return Ok(Deleted::Gone(cur));
                }
                match self.store.delete(&key, Some(current.rev)).await {
                    Ok(_) => return Ok(Deleted::Gone(cur)),
                    Err(StoreError::Conflict { .. }) => continue,
                    Err(e) => return Err(store_error(info, name, e)),
                }
            }

            let mut next = cur.clone();
            let now = skiff_api::time::now_secs();
            let deadline = now + grace.unwrap_or(0);
            let already = object::deletion_timestamp(&cur).and_then(skiff_api::time::parse_rfc3339);
            let m = meta_mut(&mut next);
            // A repeated delete may shorten a grace period, never lengthen it.
            if already.is_none_or(|t| deadline < t) {
                m.insert("deletionTimestamp".into(), skiff_api::time::rfc3339(deadline).into());
                m.insert("deletionGracePeriodSeconds".into(), grace.unwrap_or(0).into());
            }
            if finalizers.is_empty() {
                m.remove("finalizers");
            } else {
                m.insert("finalizers".into(), Value::from(finalizers));
            }
            m.remove("resourceVersion");
            if is_namespace {
                next["status"]["phase"] = "Terminating".into();
            }
            if super::meta::is_noop(&next, &cur) {
                return Ok(Deleted::Pending(cur));
            }
            if opts.dry_run {
                return Ok(Deleted::Pending(with_rv(next, current.rev)));
            }
            match self.store.update(&key, super::encode_for_store(info, &next), current.rev).await {
                Ok(rev) => return Ok(Deleted::Pending(with_rv(next, rev))),
                Err(StoreError::Conflict { .. }) => continue,
                Err(e) => return Err(store_error(info, name, e)),
            }
        }
        Err(super::contended(info, name))
    }
}

fn check_preconditions(info: &ResourceInfo, name: &str, cur: &Value, opts: &DeleteOptions) -> Result<(), ApiError> {
    let conflict = |why: String| ApiError::conflict(&info.qualified_resource(), name, &why);
    if let Some(uid) = &opts.precondition_uid
        && uid != object::uid(cur)
    {
        return Err(conflict(format!(
            "Precondition failed: UID in precondition: {uid}, UID in object meta: {}",
            object::uid(cur)
        )));
    }
    if let Some(rv) = &opts.precondition_rv
        && rv != object::resource_version(cur)
    {
        return Err(conflict(format!(
            "Precondition failed: ResourceVersion in precondition: {rv}, ResourceVersion in object meta: {}",
            object::resource_version(cur)
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn pods_on_a_node_get_a_grace_period() {
        let bound =
            json!({"spec": {"nodeName": "n1", "terminationGracePeriodSeconds": 10}, "status": {"phase": "Running"}});
        assert_eq!(pod_grace(&bound, None), Some(10));
        assert_eq!(pod_grace(&bound, Some(0)), None);
        assert_eq!(pod_grace(&json!({"spec": {}}), None), None);
        let done = json!({"spec": {"nodeName": "n1"}, "status": {"phase": "Succeeded"}});
        assert_eq!(pod_grace(&done, None), None);
    }

    #[test]
    fn finalized_needs_no_finalizers_and_no_grace() {
        assert!(finalized(&json!({"metadata": {"deletionTimestamp": "t", "deletionGracePeriodSeconds": 0}})));
        assert!(!finalized(&json!({"metadata": {"deletionTimestamp": "t", "finalizers": ["a/b"]}})));
        assert!(!finalized(&json!({"metadata": {"deletionTimestamp": "t", "deletionGracePeriodSeconds": 30}})));
        assert!(!finalized(&json!({"metadata": {}})));
        let terminating = json!({"metadata": {"deletionTimestamp": "t"}, "spec": {"finalizers": ["kubernetes"]}});
        assert!(!finalized(&terminating), "a namespace waits for its spec finalizers");
        assert!(finalized(&json!({"metadata": {"deletionTimestamp": "t"}, "spec": {"finalizers": []}})));
    }
}
