//! Emptying a terminating namespace (upstream's namespacedResourcesDeleter.deleteAllContent):
//! for every namespaced resource discovery lists, delete the collection (or each object),
//! then list what is left and count the finalizers holding it, so the namespace can report
//! what it waits for and come back at the right time.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Namespace, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{Api, DeleteParams, DynamicObject, ListParams};

use super::conditions::{Conditions, Remaining};
use super::{Controller, Error};
use crate::garbage_collector::resources::{self, Served};

/// Seconds assumed for finalizers to finish when objects wait on them.
const FINALIZER_ESTIMATE_SECONDS: i64 = 15;

/// What one resource still holds after its round of deletes.
#[derive(Debug, Default)]
struct Left {
    estimate: i64,
    count: usize,
    finalizers: BTreeMap<String, usize>,
}

/// The message of an error, as upstream's error strings read.
fn message(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(s) => s.message.clone(),
        e => e.to_string(),
    }
}

fn not_supported(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 405 || s.code == 404)
}

/// `{group version resource}`, as Go prints a GroupVersionResource.
fn gvr(s: &Served) -> String {
    format!("{{{} {} {}}}", s.resource.group, s.resource.version, s.resource.plural)
}

impl Controller {
    /// Delete everything in `ns` and record the conditions; the seconds to wait before
    /// looking again (0 when it is empty).
    pub(super) async fn delete_all_content(&self, ns: &Namespace) -> Result<i64, Error> {
        let name = ns.metadata.name.clone().unwrap_or_default();
        let deleted_at = ns.metadata.deletion_timestamp.clone();
        let mut conditions = Conditions::default();
        let mut errors = Vec::new();
        let served = match resources::discover(&self.ctx.client).await {
            Ok(s) => resources::namespaced_deletable(&s),
            Err(e) => {
                // Upstream goes on with what it could discover; a failed discovery here
                // gives nothing, so the next round retries it.
                conditions.discovery_failed(message(&e));
                errors.push(message(&e));
                Vec::new()
            }
        };
        let mut estimate = 0;
        let mut remaining = Remaining::default();
        for s in &served {
            let (left, err) = self.delete_resource(s, &name, deleted_at.as_ref()).await;
            if let Some(e) = err {
                conditions.content_failed(e.clone());
                errors.push(e);
            }
            estimate = estimate.max(left.estimate);
            if left.count > 0 {
                remaining.by_resource.insert(s.group_resource(), left.count);
                for (f, n) in left.finalizers {
                    *remaining.by_finalizer.entry(f).or_default() += n;
                }
            }
        }
        conditions.remaining(&remaining);
        self.update_conditions(ns, conditions).await;
        if !errors.is_empty() {
            return Err(Error::Content(errors.join(", ")));
        }
        Ok(estimate)
    }

    /// Write the conditions if they changed (a failure is only logged: the next round
    /// writes them again).
    async fn update_conditions(&self, ns: &Namespace, conditions: Conditions) {
        let mut ns = ns.clone();
        let status = ns.status.get_or_insert_with(Default::default);
        if !conditions.apply(status, &Time(jiff::Timestamp::now())) {
            return;
        }
        let name = ns.metadata.name.clone().unwrap_or_default();
        let api: Api<Namespace> = Api::all(self.ctx.client.clone());
        if let Err(e) = api.replace_status(&name, &Default::default(), &ns).await {
            tracing::debug!(namespace = %name, error = %e, "couldn't update status condition for namespace");
        }
    }

    /// Delete every object of one resource in `namespace`, then see what is left.
    async fn delete_resource(&self, s: &Served, namespace: &str, deleted_at: Option<&Time>) -> (Left, Option<String>) {
        let mut left = Left::default();
        if s.resource.group.is_empty() && s.resource.plural == "pods" {
            match self.estimate_pods(namespace, deleted_at).await {
                Ok(e) => left.estimate = e,
                Err(e) => return (left, Some(message(&e))),
            }
        }
        let api: Api<DynamicObject> = Api::namespaced_with(self.ctx.client.clone(), namespace, &s.resource);
        // The collector must not orphan anything here: everything in the namespace goes.
        let background = DeleteParams::background();
        let collection = s.supports(&["deletecollection"])
            && match api.delete_collection(&background, &ListParams::default()).await {
                Ok(_) => true,
                Err(e) if not_supported(&e) => false,
                Err(e) => return (left, Some(message(&e))),
            };
        if !collection && let Err(e) = self.delete_each(&api, s).await {
            return (left, Some(message(&e)));
        }
        if !s.supports(&["list"]) {
            return (left, None);
        }
        let items = match api.list_metadata(&ListParams::default()).await {
            Ok(l) => l.items,
            Err(e) if not_supported(&e) => return (left, None),
            Err(e) => return (left, Some(message(&e))),
        };
        if items.is_empty() {
            return (Left::default(), None);
        }
        left.count = items.len();
        for f in items.iter().flat_map(|o| o.metadata.finalizers.iter().flatten()) {
            *left.finalizers.entry(f.clone()).or_default() += 1;
        }
        if left.estimate > 0 {
            return (left, None);
        }
        if !left.finalizers.is_empty() {
            left.estimate = FINALIZER_ESTIMATE_SECONDS;
            return (left, None);
        }
        // Nothing explains why these are still here.
        let e = format!("unexpected items still remain in namespace: {namespace} for gvr: {}", gvr(s));
        (left, Some(e))
    }

    /// List and delete one by one, for resources without `deletecollection`.
    async fn delete_each(&self, api: &Api<DynamicObject>, s: &Served) -> Result<(), kube::Error> {
        if !s.supports(&["list"]) {
            return Ok(());
        }
        let items = match api.list_metadata(&ListParams::default()).await {
            Ok(l) => l.items,
            Err(e) if not_supported(&e) => return Ok(()),
            Err(e) => return Err(e),
        };
        for item in items {
            let name = item.metadata.name.unwrap_or_default();
            match api.delete(&name, &DeleteParams::background()).await {
                Ok(_) => {}
                Err(e) if not_supported(&e) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// The longest grace period of the pods still running, less the time the namespace has
    /// been terminating (upstream's estimateGracefulTerminationForPods).
    async fn estimate_pods(&self, namespace: &str, deleted_at: Option<&Time>) -> Result<i64, kube::Error> {
        let pods: Api<Pod> = Api::namespaced(self.ctx.client.clone(), namespace);
        let mut estimate = 0;
        for p in pods.list(&ListParams::default()).await?.items {
            let phase = p.status.as_ref().and_then(|s| s.phase.as_deref());
            if matches!(phase, Some("Succeeded" | "Failed")) {
                continue;
            }
            if let Some(g) = p.spec.as_ref().and_then(|s| s.termination_grace_period_seconds) {
                estimate = estimate.max(g);
            }
        }
        let elapsed = deleted_at.map(|t| jiff::Timestamp::now().duration_since(t.0).as_secs()).unwrap_or(0);
        Ok(if elapsed >= estimate { 0 } else { estimate })
    }
}
