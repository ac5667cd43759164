//! The informers of one process, shared: every component asking for pods gets the same
//! cache, filled by one watch.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::sync::Mutex;

use kube::runtime::watcher;
use kube::{Api, Resource};
use serde::de::DeserializeOwned;
use tokio::sync::watch;

use crate::informer::Informer;

type Starter = Box<dyn Fn(watch::Receiver<bool>) + Send + Sync>;

struct Entry {
    informer: Box<dyn Any + Send + Sync>,
    start: Starter,
}

/// Informers by resource type. Components take theirs and register handlers; then
/// [`Informers::start`] starts every watch (informers asked for later start at once).
pub struct Informers {
    client: kube::Client,
    entries: Mutex<HashMap<TypeId, Entry>>,
    started: Mutex<Option<watch::Receiver<bool>>>,
}

impl Informers {
    pub fn new(client: kube::Client) -> Informers {
        Informers { client, entries: Mutex::default(), started: Mutex::default() }
    }

    /// The informer for `K` (all namespaces), made on first use.
    pub fn get<K>(&self) -> Informer<K>
    where
        K: Resource<DynamicType = ()> + Clone + std::fmt::Debug + DeserializeOwned + Send + Sync + 'static,
    {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(e) = entries.get(&TypeId::of::<K>()) {
            return e.informer.downcast_ref::<Informer<K>>().expect("informer of its own type").clone();
        }
        let informer = Informer::<K>::new();
        let (client, inf) = (self.client.clone(), informer.clone());
        let start: Starter =
            Box::new(move |shutdown| inf.start(Api::<K>::all(client.clone()), watcher::Config::default(), shutdown));
        if let Some(shutdown) = self.started.lock().unwrap_or_else(|e| e.into_inner()).clone() {
            start(shutdown);
        }
        entries.insert(TypeId::of::<K>(), Entry { informer: Box::new(informer.clone()), start });
        informer
    }

    /// Start every watch; they end when `shutdown` turns true.
    pub fn start(&self, shutdown: watch::Receiver<bool>) {
        *self.started.lock().unwrap_or_else(|e| e.into_inner()) = Some(shutdown.clone());
        for e in self.entries.lock().unwrap_or_else(|e| e.into_inner()).values() {
            (e.start)(shutdown.clone());
        }
    }
}
