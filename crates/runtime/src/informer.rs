//! A shared informer: one watch per resource type feeding a local cache that many readers
//! query, and change handlers that components use to enqueue work.
//!
//! The cache has one writer (the watch task) and many cheap readers. A relist (first list,
//! or after the watch was lost) is built aside and swapped in at once; handlers then see the
//! difference against the old cache as adds, updates and deletes, so no change is missed.
//! Indexes (by namespace, always, and any registered with [`Informer::add_index`]) make
//! "pods owned by X" a lookup instead of a scan.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, RwLock};

use futures::StreamExt;
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use kube::{Api, Resource};
use serde::de::DeserializeOwned;
use tokio::sync::watch;

/// A change the informer saw, given to every handler.
pub enum Change<K> {
    Added(Arc<K>),
    Updated { old: Arc<K>, new: Arc<K> },
    Deleted(Arc<K>),
}

impl<K> Change<K> {
    /// The object as it is now (or was last, when deleted).
    pub fn object(&self) -> &Arc<K> {
        match self {
            Change::Added(o) | Change::Deleted(o) => o,
            Change::Updated { new, .. } => new,
        }
    }
}

type Handler<K> = Box<dyn Fn(&Change<K>) + Send + Sync>;
type IndexFn<K> = Box<dyn Fn(&K) -> Vec<String> + Send + Sync>;

/// `namespace/name`, or `name` for cluster-scoped objects: the key of the cache and of
/// work queues.
pub fn key_of<K: Resource>(obj: &K) -> String {
    let meta = obj.meta();
    let name = meta.name.as_deref().unwrap_or_default();
    match meta.namespace.as_deref() {
        Some(ns) if !ns.is_empty() => format!("{ns}/{name}"),
        _ => name.to_string(),
    }
}

/// Split a key from [`key_of`] into (namespace, name); the namespace is empty for
/// cluster-scoped objects.
pub fn split_key(key: &str) -> (&str, &str) {
    key.split_once('/').unwrap_or(("", key))
}

struct Index<K> {
    name: &'static str,
    values: IndexFn<K>,
    entries: HashMap<String, BTreeSet<String>>,
}

struct Cache<K> {
    objects: BTreeMap<String, Arc<K>>,
    indexes: Vec<Index<K>>,
}

impl<K> Cache<K> {
    fn insert(&mut self, key: String, obj: Arc<K>) -> Option<Arc<K>> {
        let old = self.objects.insert(key.clone(), obj.clone());
        for index in &mut self.indexes {
            if let Some(old) = &old {
                for v in (index.values)(old) {
                    remove_entry(&mut index.entries, &v, &key);
                }
            }
            for v in (index.values)(&obj) {
                index.entries.entry(v).or_default().insert(key.clone());
            }
        }
        old
    }

    fn remove(&mut self, key: &str) -> Option<Arc<K>> {
        let old = self.objects.remove(key)?;
        for index in &mut self.indexes {
            for v in (index.values)(&old) {
                remove_entry(&mut index.entries, &v, key);
            }
        }
        Some(old)
    }
}

fn remove_entry(entries: &mut HashMap<String, BTreeSet<String>>, value: &str, key: &str) {
    if let Some(keys) = entries.get_mut(value) {
        keys.remove(key);
        if keys.is_empty() {
            entries.remove(value);
        }
    }
}

struct Shared<K> {
    cache: RwLock<Cache<K>>,
    handlers: RwLock<Vec<Handler<K>>>,
    synced: watch::Sender<bool>,
    started: std::sync::atomic::AtomicBool,
}

/// A cloneable handle on one resource type's cache.
pub struct Informer<K> {
    shared: Arc<Shared<K>>,
}

impl<K> Clone for Informer<K> {
    fn clone(&self) -> Self {
        Informer { shared: self.shared.clone() }
    }
}

impl<K> Default for Informer<K> {
    fn default() -> Self {
        Self::new()
    }
}

impl<K> Informer<K> {
    pub fn new() -> Informer<K> {
        Informer {
            shared: Arc::new(Shared {
                cache: RwLock::new(Cache { objects: BTreeMap::new(), indexes: Vec::new() }),
                handlers: RwLock::new(Vec::new()),
                synced: watch::channel(false).0,
                started: std::sync::atomic::AtomicBool::new(false),
            }),
        }
    }

    /// Call `handler` for every change from now on. Register handlers before the informer
    /// starts: the initial list reaches them as adds.
    pub fn on_change(&self, handler: impl Fn(&Change<K>) + Send + Sync + 'static) {
        self.shared.handlers.write().unwrap_or_else(|e| e.into_inner()).push(Box::new(handler));
    }

    /// Index objects by the values `values` gives (e.g. their controller's uid); a second
    /// registration under the same name is ignored, so components can each ask for it.
    pub fn add_index(&self, name: &'static str, values: impl Fn(&K) -> Vec<String> + Send + Sync + 'static) {
        let mut cache = self.shared.cache.write().unwrap_or_else(|e| e.into_inner());
        if cache.indexes.iter().any(|i| i.name == name) {
            return;
        }
        let mut entries: HashMap<String, BTreeSet<String>> = HashMap::new();
        for (key, obj) in &cache.objects {
            for v in values(obj) {
                entries.entry(v).or_default().insert(key.clone());
            }
        }
        cache.indexes.push(Index { name, values: Box::new(values), entries });
    }

    /// The object under `key` (see [`key_of`]).
    pub fn get(&self, key: &str) -> Option<Arc<K>> {
        self.read().objects.get(key).cloned()
    }

    /// The object `name` in `namespace` ("" for cluster-scoped).
    pub fn get_named(&self, namespace: &str, name: &str) -> Option<Arc<K>> {
        if namespace.is_empty() { self.get(name) } else { self.get(&format!("{namespace}/{name}")) }
    }

    /// Every cached object.
    pub fn list(&self) -> Vec<Arc<K>> {
        self.read().objects.values().cloned().collect()
    }

    /// The cached objects of one namespace.
    pub fn list_namespace(&self, namespace: &str) -> Vec<Arc<K>> {
        let start = format!("{namespace}/");
        let end = format!("{namespace}0"); // '0' follows '/' in ASCII
        self.read().objects.range(start..end).map(|(_, o)| o.clone()).collect()
    }

    /// The objects an index maps `value` to.
    pub fn by_index(&self, index: &str, value: &str) -> Vec<Arc<K>> {
        let cache = self.read();
        let Some(index) = cache.indexes.iter().find(|i| i.name == index) else {
            return Vec::new();
        };
        match index.entries.get(value) {
            Some(keys) => keys.iter().filter_map(|k| cache.objects.get(k).cloned()).collect(),
            None => Vec::new(),
        }
    }

    pub fn len(&self) -> usize {
        self.read().objects.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether the first list has been loaded.
    pub fn has_synced(&self) -> bool {
        *self.shared.synced.borrow()
    }

    /// Wait until the first list has been loaded.
    pub async fn synced(&self) {
        let mut rx = self.shared.synced.subscribe();
        let _ = rx.wait_for(|s| *s).await;
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Cache<K>> {
        self.shared.cache.read().unwrap_or_else(|e| e.into_inner())
    }

    fn notify(&self, change: Change<K>) {
        for h in self.shared.handlers.read().unwrap_or_else(|e| e.into_inner()).iter() {
            h(&change);
        }
    }
}

impl<K> Informer<K>
where
    K: Resource + Clone + std::fmt::Debug + DeserializeOwned + Send + Sync + 'static,
{
    /// Start the watch on the current runtime (once; later calls do nothing). It ends when
    /// `shutdown` turns true.
    pub fn start(&self, api: Api<K>, config: watcher::Config, mut shutdown: watch::Receiver<bool>) {
        if self.shared.started.swap(true, std::sync::atomic::Ordering::SeqCst) {
            return;
        }
        let this = self.clone();
        tokio::spawn(async move {
            let mut stream = watcher::watcher(api, config).default_backoff().boxed();
            let mut relist: Vec<K> = Vec::new();
            loop {
                let event = tokio::select! {
                    e = stream.next() => e,
                    _ = shutdown.wait_for(|s| *s) => None,
                };
                match event {
                    None => return,
                    Some(Ok(Event::Init)) => relist.clear(),
                    Some(Ok(Event::InitApply(o))) => relist.push(without_managed_fields(o)),
                    Some(Ok(Event::InitDone)) => this.replace(std::mem::take(&mut relist)),
                    Some(Ok(Event::Apply(o))) => this.apply(without_managed_fields(o)),
                    Some(Ok(Event::Delete(o))) => this.delete(o),
                    Some(Err(e)) => {
                        tracing::debug!(error = %e, kind = std::any::type_name::<K>(), "watch failed; retrying")
                    }
                }
            }
        });
    }

    /// Put `objects` in place of the cache, telling handlers what changed.
    fn replace(&self, objects: Vec<K>) {
        let mut changes = Vec::new();
        {
            let mut cache = self.shared.cache.write().unwrap_or_else(|e| e.into_inner());
            let mut gone: BTreeSet<String> = cache.objects.keys().cloned().collect();
            for obj in objects {
                let key = key_of(&obj);
                gone.remove(&key);
                let new = Arc::new(obj);
                match cache.insert(key, new.clone()) {
                    Some(old) if same_version(&*old, &*new) => {}
                    Some(old) => changes.push(Change::Updated { old, new }),
                    None => changes.push(Change::Added(new)),
                }
            }
            for key in gone {
                if let Some(old) = cache.remove(&key) {
                    changes.push(Change::Deleted(old));
                }
            }
        }
        self.shared.synced.send_replace(true);
        for c in changes {
            self.notify(c);
        }
    }

    fn apply(&self, obj: K) {
        let new = Arc::new(obj);
        let old = self.shared.cache.write().unwrap_or_else(|e| e.into_inner()).insert(key_of(&*new), new.clone());
        self.notify(match old {
            Some(old) => Change::Updated { old, new },
            None => Change::Added(new),
        });
    }

    fn delete(&self, obj: K) {
        let key = key_of(&obj);
        let old = self.shared.cache.write().unwrap_or_else(|e| e.into_inner()).remove(&key);
        self.notify(Change::Deleted(old.unwrap_or_else(|| Arc::new(obj))));
    }
}

/// Controllers never read field ownership, and a parsed `managedFields` tree is most of a
/// small object's memory (kube-controller-manager strips it from its informers too).
fn without_managed_fields<K: Resource>(mut obj: K) -> K {
    obj.meta_mut().managed_fields = None;
    obj
}

fn same_version<K: Resource>(a: &K, b: &K) -> bool {
    a.meta().resource_version.is_some() && a.meta().resource_version == b.meta().resource_version
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use k8s_openapi::api::core::v1::ConfigMap;
    use kube::api::ObjectMeta;

    use super::*;

    fn cm(ns: &str, name: &str, rv: &str, owner: &str) -> ConfigMap {
        ConfigMap {
            metadata: ObjectMeta {
                namespace: Some(ns.into()),
                name: Some(name.into()),
                resource_version: Some(rv.into()),
                labels: Some([("owner".to_string(), owner.to_string())].into()),
                ..Default::default()
            },
            ..Default::default()
        }
    }

    fn owner(c: &ConfigMap) -> Vec<String> {
        c.metadata.labels.iter().flat_map(|l| l.get("owner").cloned()).collect()
    }

    fn recorded(inf: &Informer<ConfigMap>) -> Arc<Mutex<Vec<String>>> {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s = seen.clone();
        inf.on_change(move |c| {
            let what = match c {
                Change::Added(o) => format!("add {}", key_of(&**o)),
                Change::Updated { new, .. } => format!("update {}", key_of(&**new)),
                Change::Deleted(o) => format!("delete {}", key_of(&**o)),
            };
            s.lock().unwrap().push(what);
        });
        seen
    }

    #[test]
    fn relist_reports_the_difference_with_the_old_cache() {
        let inf = Informer::new();
        let seen = recorded(&inf);
        inf.replace(vec![cm("a", "x", "1", "o"), cm("a", "y", "1", "o")]);
        assert!(inf.has_synced());
        inf.replace(vec![cm("a", "x", "1", "o"), cm("a", "y", "2", "o"), cm("b", "z", "1", "p")]);
        inf.replace(vec![cm("b", "z", "1", "p")]);
        assert_eq!(*seen.lock().unwrap(), ["add a/x", "add a/y", "update a/y", "add b/z", "delete a/x", "delete a/y"]);
    }

    #[test]
    fn namespace_listing_and_indexes_follow_changes() {
        let inf = Informer::new();
        inf.add_index("owner", owner);
        inf.apply(cm("a", "x", "1", "o"));
        inf.apply(cm("ab", "y", "1", "o"));
        inf.apply(cm("a", "z", "1", "p"));
        assert_eq!(inf.list_namespace("a").len(), 2);
        assert_eq!(inf.by_index("owner", "o").len(), 2);
        inf.apply(cm("a", "x", "2", "p"));
        assert_eq!(inf.by_index("owner", "o").len(), 1);
        assert_eq!(inf.by_index("owner", "p").len(), 2);
        inf.delete(cm("a", "z", "3", "p"));
        assert_eq!(inf.by_index("owner", "p").len(), 1);
        assert!(inf.get_named("a", "z").is_none());
        // An index added late covers what is cached already.
        inf.add_index("late", owner);
        assert_eq!(inf.by_index("late", "o").len(), 1);
    }
}
