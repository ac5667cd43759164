//! One set's reconcile: claim pods, create or delete to reach `replicas`, write status.

use std::sync::Arc;
use std::time::Duration;

use futures::future::join_all;
use kube::api::{Api, Patch, PatchParams};
use skiff_api::selector::label::LabelSelector;
use skiff_runtime::{Next, split_key};

use super::status;
use super::{Controller, Replicated};
use crate::cached_pod::CachedPod;
use crate::error::{Error, Result};
use crate::owner::{adopt_patch, claim_candidates, controller_of, controller_ref, release_patch};
use crate::{pods, rank, selector};

/// Most pods created or deleted in one sync (upstream's burstReplicas).
const BURST: usize = 500;

impl<R: Replicated> Controller<R> {
    pub(super) async fn sync(self: Arc<Self>, key: String) -> Result<Next> {
        // Before the pod cache is loaded (at start) every set would look empty and create
        // its replicas again.
        self.sets.synced().await;
        self.pods.synced().await;
        let Some(set) = self.sets.get(&key) else {
            self.expectations.forget(&key);
            return Ok(Next::Wait);
        };
        let selector = match set.selector() {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(key, error = %e, "not syncing a set with a bad selector");
                return Ok(Next::Wait);
            }
        };
        // Read the expectations before the pods: a pod seen after this read is counted
        // next time, never twice.
        let needs_manage = self.expectations.satisfied(&key);
        let owned = self.claim(&*set, &selector).await?;
        let managed = if needs_manage && set.meta().deletion_timestamp.is_none() {
            self.manage(&*set, &key, &owned).await
        } else {
            Ok(())
        };
        status::update(&self.ctx, &*set, &owned, managed.as_ref().err()).await?;
        managed?;
        let min_ready = set.min_ready_seconds();
        let now = jiff::Timestamp::now();
        let pending_available = owned.iter().any(|p| pods::is_ready(p) && !pods::is_available(p, min_ready, now));
        Ok(if pending_available { Next::After(Duration::from_secs(min_ready as u64)) } else { Next::Wait })
    }

    /// The active pods this set controls after adopting matching orphans and releasing
    /// owned pods that no longer match.
    async fn claim(&self, set: &R, selector: &LabelSelector) -> Result<Vec<Arc<CachedPod>>> {
        let (ns, _) = split_key_of(set);
        let uid = set.meta().uid.clone().unwrap_or_default();
        let api: Api<CachedPod> = Api::namespaced(self.ctx.client.clone(), &ns);
        let mut owned = Vec::new();
        for pod in claim_candidates(&self.pods, &ns, &uid) {
            if !pods::is_active(&pod) {
                continue;
            }
            let matches = selector::matches(selector, pod.metadata.labels.as_ref());
            let name = pod.metadata.name.clone().unwrap_or_default();
            let pod_uid = pod.metadata.uid.clone().unwrap_or_default();
            match controller_of(&pod.metadata) {
                Some(r) if r.uid == uid => {
                    if matches {
                        owned.push(pod);
                    } else {
                        let patch = Patch::Strategic(release_patch(&uid, &pod_uid));
                        ignore_gone(api.patch(&name, &PatchParams::default(), &patch).await)?;
                    }
                }
                Some(_) => {}
                None if matches && set.meta().deletion_timestamp.is_none() => {
                    let patch = Patch::Strategic(adopt_patch(&controller_ref(set), &pod_uid));
                    match api.patch(&name, &PatchParams::default(), &patch).await {
                        Ok(adopted) => owned.push(Arc::new(adopted)),
                        // Gone or changed meanwhile: the next sync sees it as it is.
                        Err(kube::Error::Api(s)) if matches!(s.code, 404 | 409 | 422) => {}
                        Err(e) => return Err(e.into()),
                    }
                }
                None => {}
            }
        }
        Ok(owned)
    }

    /// Create or delete pods so that `owned` becomes `replicas`.
    async fn manage(&self, set: &R, key: &str, owned: &[Arc<CachedPod>]) -> Result<()> {
        let want = set.replicas().max(0) as usize;
        if owned.len() < want {
            let missing = (want - owned.len()).min(BURST);
            self.create_pods(set, key, missing).await
        } else if owned.len() > want {
            let extra = (owned.len() - want).min(BURST);
            let mut ranked: Vec<&Arc<CachedPod>> = owned.iter().collect();
            ranked.sort_by(|a, b| rank::deletion_order(a, b));
            let victims = &ranked[..extra];
            self.expectations.expect_deletions(key, victims.iter().map(|p| uid_of(p)));
            let results = join_all(victims.iter().map(|p| pods::delete(&self.ctx, R::COMPONENT, set, p))).await;
            let mut first_error = None;
            for (pod, r) in victims.iter().zip(results) {
                if let Err(e) = r {
                    self.expectations.deletion_of_observed(key, &uid_of(pod));
                    first_error.get_or_insert(e);
                }
            }
            first_error.map_or(Ok(()), Err)
        } else {
            Ok(())
        }
    }

    /// Create `count` pods in batches of 1, 2, 4, … so that a set whose pods cannot be
    /// created (quota, admission) fails after one call rather than `count`.
    async fn create_pods(&self, set: &R, key: &str, count: usize) -> Result<()> {
        let template = set.template().ok_or_else(|| Error::Invalid("the set has no pod template".into()))?;
        let (ns, name) = split_key_of(set);
        self.expectations.expect(key, count as i64, 0);
        let mut remaining = count;
        let mut batch = 1;
        while remaining > 0 {
            let size = batch.min(remaining);
            let pod = pods::from_template(template, &ns, None, &format!("{name}-"), controller_ref(set));
            let results = join_all((0..size).map(|_| pods::create(&self.ctx, R::COMPONENT, set, &pod))).await;
            remaining -= size;
            let failed = results.iter().filter(|r| r.is_err()).count();
            if failed > 0 {
                // Those never coming, and those not tried, will not be observed.
                for _ in 0..failed + remaining {
                    self.expectations.creation_observed(key);
                }
                return Err(results.into_iter().find_map(|r| r.err()).expect("a failed create"));
            }
            batch *= 2;
        }
        Ok(())
    }
}

fn split_key_of<R: Replicated>(set: &R) -> (String, String) {
    let key = skiff_runtime::key_of(set);
    let (ns, name) = split_key(&key);
    (ns.to_string(), name.to_string())
}

fn uid_of(pod: &CachedPod) -> String {
    pod.metadata.uid.clone().unwrap_or_default()
}

fn ignore_gone<T>(r: Result<T, kube::Error>) -> Result<()> {
    match r {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if matches!(s.code, 404 | 409 | 422) => Ok(()),
        Err(e) => Err(e.into()),
    }
}
