//! One metadata-only watch per collectable resource, feeding what it sees to the graph
//! builder in order (upstream's monitors). Only `metadata` crosses the wire, and only the
//! few fields the graph needs are kept, so watching every object stays cheap.

use std::collections::{HashMap, HashSet};

use futures::StreamExt;
use kube::api::{Api, DynamicObject, ObjectMeta, PartialObjectMeta};
use kube::discovery::ApiResource;
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use tokio::sync::{mpsc, watch};

use super::graph::{Identity, Observed};
use super::resources::Served;

/// What a monitor tells the graph builder.
#[derive(Debug)]
pub enum Seen {
    Upsert(Observed),
    Deleted(Identity),
    /// A (re)list of the resource finished with these uids: anything else is gone.
    Relisted {
        api_version: String,
        kind: String,
        present: HashSet<String>,
    },
}

struct Monitor {
    /// Dropping it stops the watch.
    _stop: watch::Sender<bool>,
    synced: watch::Receiver<bool>,
}

/// The running monitors, by resource.
#[derive(Default)]
pub struct Monitors {
    running: HashMap<(String, String, String), Monitor>,
}

fn key(r: &ApiResource) -> (String, String, String) {
    (r.group.clone(), r.version.clone(), r.plural.clone())
}

impl Monitors {
    /// Watch exactly `wanted`: start what is new, stop what is no longer served.
    pub fn sync(&mut self, client: &kube::Client, wanted: &[Served], tx: &mpsc::UnboundedSender<Seen>) {
        let keep: HashSet<_> = wanted.iter().map(|s| key(&s.resource)).collect();
        self.running.retain(|k, _| keep.contains(k));
        for s in wanted {
            let k = key(&s.resource);
            if self.running.contains_key(&k) {
                continue;
            }
            let (stop_tx, stop_rx) = watch::channel(false);
            let (synced_tx, synced_rx) = watch::channel(false);
            tokio::spawn(run(client.clone(), s.resource.clone(), tx.clone(), stop_rx, synced_tx));
            self.running.insert(k, Monitor { _stop: stop_tx, synced: synced_rx });
        }
    }

    pub fn is_empty(&self) -> bool {
        self.running.is_empty()
    }

    /// Wait until every monitor has listed its resource once.
    pub async fn synced(&self) {
        for m in self.running.values() {
            let mut rx = m.synced.clone();
            let _ = rx.wait_for(|s| *s).await;
        }
    }
}

/// What the graph keeps of an object of resource `r`.
pub fn observed(r: &ApiResource, meta: ObjectMeta) -> Observed {
    Observed {
        identity: identity(r, &meta),
        owners: meta.owner_references.unwrap_or_default(),
        being_deleted: meta.deletion_timestamp.is_some(),
        finalizers: meta.finalizers.unwrap_or_default(),
    }
}

fn identity(r: &ApiResource, meta: &ObjectMeta) -> Identity {
    Identity {
        api_version: r.api_version.clone(),
        kind: r.kind.clone(),
        namespace: meta.namespace.clone().unwrap_or_default(),
        name: meta.name.clone().unwrap_or_default(),
        uid: meta.uid.clone().unwrap_or_default(),
    }
}

async fn run(
    client: kube::Client,
    r: ApiResource,
    tx: mpsc::UnboundedSender<Seen>,
    mut stop: watch::Receiver<bool>,
    synced: watch::Sender<bool>,
) {
    let api: Api<PartialObjectMeta<DynamicObject>> = Api::all_with(client, &r);
    let mut stream = watcher::watcher(api, watcher::Config::default()).default_backoff().boxed();
    let mut present = HashSet::new();
    loop {
        let event = tokio::select! {
            e = stream.next() => e,
            // A change, or the sender dropped: either way this monitor is done.
            _ = stop.changed() => None,
        };
        let seen = match event {
            None => return,
            Some(Ok(Event::Init)) => {
                present.clear();
                continue;
            }
            Some(Ok(Event::InitApply(o))) => {
                present.insert(o.metadata.uid.clone().unwrap_or_default());
                Seen::Upsert(observed(&r, o.metadata))
            }
            Some(Ok(Event::InitDone)) => {
                synced.send_replace(true);
                Seen::Relisted {
                    api_version: r.api_version.clone(),
                    kind: r.kind.clone(),
                    present: std::mem::take(&mut present),
                }
            }
            Some(Ok(Event::Apply(o))) => Seen::Upsert(observed(&r, o.metadata)),
            Some(Ok(Event::Delete(o))) => Seen::Deleted(identity(&r, &o.metadata)),
            Some(Err(e)) => {
                tracing::debug!(error = %e, resource = %r.plural, group = %r.group, "garbage collector watch failed; retrying");
                continue;
            }
        };
        if tx.send(seen).is_err() {
            return;
        }
    }
}
