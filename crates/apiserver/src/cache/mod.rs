//! The watch cache: every stored object in memory, kept current by one watch on the store.
//!
//! At start the cache lists everything under `/registry/` at one revision, then follows the
//! store's watch from that revision, applying each event to its resource's cache in order.
//! Reads that must be consistent wait until the cache has applied the store's current revision
//! (normally already true), then read memory; the API server never reads objects from the store
//! on the hot path.

pub mod filter;
pub mod object;
pub mod raw;
pub mod resource;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use skiff_api::ApiError;
use skiff_api::resources::{ResourceInfo, registry};
use skiff_store::{Backend, Event, EventKind, StoreError, WatchStream};
use tokio::sync::watch;

pub use filter::Filter;
pub use object::CachedObject;
pub use resource::{EventType, ResourceCache, Start, WatchItem, WatchStart};

/// How long a consistent read waits for the cache to catch up before giving up.
const FRESHNESS_WAIT: Duration = Duration::from_secs(3);
/// How often watchers that asked for them get a BOOKMARK.
const BOOKMARK_INTERVAL: Duration = Duration::from_secs(10);

pub const KEY_ROOT: &str = "/registry/";

/// The storage key of an object: `/registry/<resource>/<namespace>/<name>`, or without the
/// namespace for cluster-scoped kinds.
pub fn key(info: &ResourceInfo, namespace: &str, name: &str) -> String {
    if info.namespaced {
        format!("{KEY_ROOT}{}/{namespace}/{name}", info.storage_resource())
    } else {
        format!("{KEY_ROOT}{}/{name}", info.storage_resource())
    }
}

/// The key prefix of a resource, optionally narrowed to one namespace.
pub fn prefix(info: &ResourceInfo, namespace: Option<&str>) -> String {
    match namespace {
        Some(ns) if info.namespaced && !ns.is_empty() => format!("{KEY_ROOT}{}/{ns}/", info.storage_resource()),
        _ => format!("{KEY_ROOT}{}/", info.storage_resource()),
    }
}

fn resource_of(key: &str) -> Option<&str> {
    key.strip_prefix(KEY_ROOT)?.split('/').next()
}

pub struct Cache {
    store: Arc<dyn Backend>,
    /// By storage resource name; each with the kind it stores.
    resources: HashMap<&'static str, (&'static ResourceInfo, Arc<ResourceCache>)>,
    /// The revision up to which every resource cache has applied the store's events.
    applied: watch::Sender<i64>,
}

impl Cache {
    /// Prime from the store and start following it.
    pub async fn start(store: Arc<dyn Backend>) -> Result<Arc<Cache>, StoreError> {
        let resources = registry()
            .all()
            .iter()
            .filter(|r| r.stored_as.is_none())
            .map(|r| (r.plural, (r, Arc::new(ResourceCache::new(0)))))
            .collect();
        let cache = Arc::new(Cache { store, resources, applied: watch::channel(0).0 });
        let stream = cache.relist().await?;
        tokio::spawn(cache.clone().follow(stream));
        tokio::spawn(cache.clone().send_bookmarks());
        Ok(cache)
    }

    /// Load everything at one revision into fresh resource caches and open the watch after it.
    async fn relist(&self) -> Result<WatchStream, StoreError> {
        let list = self.store.list(KEY_ROOT, None, 0, 0).await?;
        let mut by_resource: HashMap<&str, BTreeMap<String, Arc<CachedObject>>> = HashMap::new();
        for kv in list.kvs {
            let Some((res, (info, _))) = resource_of(&kv.key).and_then(|r| self.resources.get_key_value(r)) else {
                continue;
            };
            match CachedObject::from_stored(info, &kv.value, kv.mod_revision) {
                Ok(o) => {
                    by_resource.entry(res).or_default().insert(kv.key, Arc::new(o));
                }
                Err(e) => tracing::warn!(key = %kv.key, error = %e, "skipping unreadable stored object"),
            }
        }
        for (res, (_, cache)) in &self.resources {
            cache.reset(by_resource.remove(res).unwrap_or_default(), list.revision);
        }
        self.applied.send_replace(list.revision);
        self.store.watch(KEY_ROOT, list.revision).await
    }

    async fn follow(self: Arc<Self>, mut stream: WatchStream) {
        loop {
            match stream.next().await {
                Some(Ok(batch)) => {
                    let newest = batch.last().map(Event::revision);
                    for e in batch {
                        self.apply(e);
                    }
                    if let Some(rev) = newest {
                        self.applied.send_replace(rev);
                    }
                }
                Some(Err(e)) => {
                    tracing::warn!(error = %e, "watch cache fell behind the store; relisting");
                    match self.relist().await {
                        Ok(s) => stream = s,
                        Err(e) => {
                            tracing::error!(error = %e, "watch cache cannot relist; retrying");
                            tokio::time::sleep(Duration::from_secs(1)).await;
                        }
                    }
                }
                // The store is shutting down.
                None => return,
            }
        }
    }

    fn apply(&self, e: Event) {
        let Some((info, cache)) = resource_of(&e.kv.key).and_then(|r| self.resources.get(r)) else { return };
        let kind = match e.kind {
            EventKind::Created => EventType::Added,
            EventKind::Updated => EventType::Modified,
            EventKind::Deleted => EventType::Deleted,
        };
        match CachedObject::from_stored(info, &e.kv.value, e.kv.mod_revision) {
            Ok(o) => cache.apply(&e.kv.key, kind, Arc::new(o)),
            Err(err) => tracing::warn!(key = %e.kv.key, error = %err, "skipping unreadable stored object"),
        }
    }

    async fn send_bookmarks(self: Arc<Self>) {
        let mut tick = tokio::time::interval(BOOKMARK_INTERVAL);
        loop {
            tick.tick().await;
            let rev = self.revision();
            for (_, c) in self.resources.values() {
                c.bookmark(rev);
            }
        }
    }

    /// The cache of a resource (by its storage name).
    pub fn resource(&self, info: &ResourceInfo) -> &Arc<ResourceCache> {
        &self.resources.get(info.storage_resource()).expect("every served resource has a cache").1
    }

    /// The revision every resource cache has caught up to.
    pub fn revision(&self) -> i64 {
        *self.applied.borrow()
    }

    pub fn store(&self) -> &Arc<dyn Backend> {
        &self.store
    }

    /// Wait until the cache has applied `rev`.
    pub async fn wait_for(&self, rev: i64) -> Result<(), ApiError> {
        let mut rx = self.applied.subscribe();
        let wait = rx.wait_for(|&applied| applied >= rev);
        match tokio::time::timeout(FRESHNESS_WAIT, wait).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(_)) => Err(ApiError::service_unavailable("the watch cache is not running")),
            Err(_) => {
                Err(ApiError::timeout(format!("Too large resource version: {rev}, current: {}", self.revision())))
            }
        }
    }

    /// Wait until the cache reflects every write acknowledged so far.
    pub async fn wait_fresh(&self) -> Result<(), ApiError> {
        self.wait_for(self.store.current_revision()).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use serde_json::json;
    use skiff_store::memory::MemoryBackend;

    fn cm(name: &str, labels: serde_json::Value) -> Bytes {
        Bytes::from(
            serde_json::to_vec(&json!({"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": name, "namespace": "default", "labels": labels}}))
            .unwrap(),
        )
    }

    async fn next(rx: &mut tokio::sync::mpsc::Receiver<WatchItem>) -> WatchItem {
        tokio::time::timeout(Duration::from_secs(5), rx.recv()).await.unwrap().unwrap()
    }

    #[tokio::test]
    async fn primes_follows_and_watches() {
        let store: Arc<dyn Backend> = Arc::new(MemoryBackend::new());
        let info = registry().get("", "v1", "configmaps").unwrap();
        store.create(&key(info, "default", "a"), cm("a", json!({"app": "x"}))).await.unwrap();
        let cache = Cache::start(store.clone()).await.unwrap();
        let rc = cache.resource(info);
        assert_eq!(rc.read().objects.len(), 1);

        let filter = Filter::new(info, Some("default"), "app=x".parse_selector(), &Default::default()).unwrap();
        let (_, mut rx, _) = rc.watch(filter, false, Start::After(cache.revision()), cache.revision()).unwrap();

        let r = store.create(&key(info, "default", "b"), cm("b", json!({"app": "x"}))).await.unwrap();
        cache.wait_for(r).await.unwrap();
        assert_eq!(rc.read().objects.len(), 2);
        match next(&mut rx).await {
            WatchItem::Event(EventType::Added, o) => assert_eq!(&*o.name, "b"),
            other => panic!("{other:?}"),
        }
        // Relabelling out of the selector is a DELETED for this watcher.
        store.update(&key(info, "default", "b"), cm("b", json!({"app": "y"})), r).await.unwrap();
        match next(&mut rx).await {
            WatchItem::Event(EventType::Deleted, o) => assert_eq!(o.value()["metadata"]["labels"]["app"], "y"),
            other => panic!("{other:?}"),
        }
        // Labels that never matched produce nothing; the next match does.
        store.create(&key(info, "default", "c"), cm("c", json!({"app": "z"}))).await.unwrap();
        store.create(&key(info, "default", "d"), cm("d", json!({"app": "x"}))).await.unwrap();
        match next(&mut rx).await {
            WatchItem::Event(EventType::Added, o) => assert_eq!(&*o.name, "d"),
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn resumes_from_a_revision_in_the_window() {
        let store: Arc<dyn Backend> = Arc::new(MemoryBackend::new());
        let info = registry().get("", "v1", "configmaps").unwrap();
        let cache = Cache::start(store.clone()).await.unwrap();
        let r1 = store.create(&key(info, "default", "a"), cm("a", json!({}))).await.unwrap();
        let r2 = store.create(&key(info, "default", "b"), cm("b", json!({}))).await.unwrap();
        cache.wait_for(r2).await.unwrap();
        let (_, mut rx, _) =
            cache.resource(info).watch(Filter::default(), false, Start::After(r1), cache.revision()).unwrap();
        match next(&mut rx).await {
            WatchItem::Event(EventType::Added, o) => assert_eq!(o.rev, r2),
            other => panic!("{other:?}"),
        }
    }

    trait ParseSelector {
        fn parse_selector(&self) -> skiff_api::selector::LabelSelector;
    }
    impl ParseSelector for &str {
        fn parse_selector(&self) -> skiff_api::selector::LabelSelector {
            skiff_api::selector::LabelSelector::parse(self).unwrap()
        }
    }
}
