//! The behaviour every backend must have, run against each one from its own tests.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use crate::{Backend, Event, EventKind, StoreError, WatchStream};

fn b(s: &str) -> Bytes {
    Bytes::from(s.to_string())
}

async fn next_events(w: &mut WatchStream, n: usize) -> Vec<Event> {
    let mut out = Vec::new();
    while out.len() < n {
        let batch = tokio::time::timeout(Duration::from_secs(5), w.next())
            .await
            .expect("watch event in time")
            .expect("watch open")
            .expect("no watch error");
        out.extend(batch);
    }
    out
}

/// Run every contract check, each against a fresh backend from `make`.
pub async fn run_all<F, Fut>(make: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = Arc<dyn Backend>>,
{
    create_and_get(make().await).await;
    compare_and_swap(make().await).await;
    delete_semantics(make().await).await;
    list_pages_and_snapshots(make().await).await;
    watch_replays_then_follows(make().await).await;
    compaction(make().await).await;
    concurrent_writes_get_distinct_revisions(make().await).await;
}

async fn create_and_get(s: Arc<dyn Backend>) {
    assert_eq!(s.current_revision(), 0);
    let r1 = s.create("/a", b("1")).await.unwrap();
    assert_eq!(r1, 1);
    let kv = s.get("/a").await.unwrap().unwrap();
    assert_eq!((kv.create_revision, kv.mod_revision, kv.value), (1, 1, b("1")));
    assert_eq!(s.create("/a", b("2")).await, Err(StoreError::AlreadyExists("/a".into())));
    assert_eq!(s.get("/missing").await.unwrap(), None);
    assert_eq!(s.current_revision(), 1);
}

async fn compare_and_swap(s: Arc<dyn Backend>) {
    let r1 = s.create("/k", b("v1")).await.unwrap();
    let r2 = s.update("/k", b("v2"), r1).await.unwrap();
    assert!(r2 > r1);
    assert_eq!(s.update("/k", b("v3"), r1).await, Err(StoreError::Conflict { key: "/k".into(), current: r2 }));
    let kv = s.get("/k").await.unwrap().unwrap();
    assert_eq!((kv.create_revision, kv.mod_revision, kv.value), (r1, r2, b("v2")));
    assert_eq!(s.update("/nope", b("x"), 1).await, Err(StoreError::NotFound("/nope".into())));
}

async fn delete_semantics(s: Arc<dyn Backend>) {
    let r1 = s.create("/d", b("v")).await.unwrap();
    assert!(matches!(s.delete("/d", Some(r1 + 100)).await, Err(StoreError::Conflict { .. })));
    let (rd, last) = s.delete("/d", Some(r1)).await.unwrap();
    assert!(rd > r1);
    assert_eq!(last.value, b("v"));
    assert_eq!(s.get("/d").await.unwrap(), None);
    assert_eq!(s.delete("/d", None).await, Err(StoreError::NotFound("/d".into())));
    let r3 = s.create("/d", b("again")).await.unwrap();
    assert_eq!(s.get("/d").await.unwrap().unwrap().create_revision, r3);
}

async fn list_pages_and_snapshots(s: Arc<dyn Backend>) {
    for k in ["/p/c", "/p/a", "/p/b", "/q/x"] {
        s.create(k, b(k)).await.unwrap();
    }
    let all = s.list("/p/", None, 0, 0).await.unwrap();
    let keys: Vec<&str> = all.kvs.iter().map(|kv| kv.key.as_str()).collect();
    assert_eq!(keys, ["/p/a", "/p/b", "/p/c"]);
    assert!(!all.more);
    let snapshot = all.revision;

    let page1 = s.list("/p/", None, 2, 0).await.unwrap();
    assert_eq!(page1.kvs.len(), 2);
    assert!(page1.more);
    let page2 = s.list("/p/", Some(&page1.kvs[1].key), 2, page1.revision).await.unwrap();
    assert_eq!(page2.kvs.iter().map(|kv| kv.key.as_str()).collect::<Vec<_>>(), ["/p/c"]);
    assert!(!page2.more);

    // Changes after the snapshot do not show in a list at the snapshot's revision.
    let a = s.get("/p/a").await.unwrap().unwrap();
    s.update("/p/a", b("changed"), a.mod_revision).await.unwrap();
    s.delete("/p/b", None).await.unwrap();
    s.create("/p/d", b("new")).await.unwrap();
    let old = s.list("/p/", None, 0, snapshot).await.unwrap();
    assert_eq!(old.kvs.iter().map(|kv| kv.key.as_str()).collect::<Vec<_>>(), ["/p/a", "/p/b", "/p/c"]);
    assert_eq!(old.kvs[0].value, b("/p/a"));
    let now = s.list("/p/", None, 0, 0).await.unwrap();
    assert_eq!(now.kvs.iter().map(|kv| kv.key.as_str()).collect::<Vec<_>>(), ["/p/a", "/p/c", "/p/d"]);
    assert!(matches!(s.list("/p/", None, 0, now.revision + 10).await, Err(StoreError::FutureRevision { .. })));
}

async fn watch_replays_then_follows(s: Arc<dyn Backend>) {
    let r1 = s.create("/w/a", b("1")).await.unwrap();
    s.create("/other/x", b("x")).await.unwrap();
    s.update("/w/a", b("2"), r1).await.unwrap();

    let mut w = s.watch("/w/", 0).await.unwrap();
    let replay = next_events(&mut w, 2).await;
    assert_eq!(replay.iter().map(|e| e.kind).collect::<Vec<_>>(), [EventKind::Created, EventKind::Updated]);
    assert_eq!(replay[1].prev_value, Some(b("1")));

    s.create("/w/b", b("b")).await.unwrap();
    s.create("/other/y", b("y")).await.unwrap();
    s.delete("/w/a", None).await.unwrap();
    let live = next_events(&mut w, 2).await;
    assert_eq!(live[0].kv.key, "/w/b");
    assert_eq!(live[1].kind, EventKind::Deleted);
    assert_eq!(live[1].kv.value, b("2"));
    assert!(live[0].revision() < live[1].revision());

    // A watch from the middle sees only what came after.
    let mut w2 = s.watch("/w/", r1).await.unwrap();
    let from_mid = next_events(&mut w2, 3).await;
    assert_eq!(from_mid[0].kind, EventKind::Updated);
}

async fn compaction(s: Arc<dyn Backend>) {
    let r1 = s.create("/c/a", b("1")).await.unwrap();
    let r2 = s.update("/c/a", b("2"), r1).await.unwrap();
    s.create("/c/gone", b("g")).await.unwrap();
    s.delete("/c/gone", None).await.unwrap();
    let r5 = s.create("/c/b", b("b")).await.unwrap();
    s.compact(r5 - 1).await.unwrap();
    assert_eq!(s.compacted_revision(), r5 - 1);

    assert!(matches!(s.watch("/c/", r1).await, Err(StoreError::Compacted { .. })));
    assert!(matches!(s.list("/c/", None, 0, r2).await, Err(StoreError::Compacted { .. })));
    let now = s.list("/c/", None, 0, 0).await.unwrap();
    assert_eq!(now.kvs.iter().map(|kv| kv.key.as_str()).collect::<Vec<_>>(), ["/c/a", "/c/b"]);
    assert_eq!(s.get("/c/a").await.unwrap().unwrap().value, b("2"));
    // History after the compaction point is intact.
    let mut w = s.watch("/c/", r5 - 1).await.unwrap();
    assert_eq!(next_events(&mut w, 1).await[0].kv.key, "/c/b");
    // The revision keeps counting from where it was.
    assert!(s.create("/c/z", b("z")).await.unwrap() > r5);
}

async fn concurrent_writes_get_distinct_revisions(s: Arc<dyn Backend>) {
    let mut w = s.watch("/n/", 0).await.unwrap();
    let mut tasks = Vec::new();
    for t in 0..16 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            let mut revs = Vec::new();
            for i in 0..20 {
                revs.push(s.create(&format!("/n/{t}-{i}"), b("x")).await.unwrap());
            }
            revs
        }));
    }
    let mut revs = Vec::new();
    for t in tasks {
        revs.extend(t.await.unwrap());
    }
    revs.sort();
    revs.dedup();
    assert_eq!(revs.len(), 320);
    let events = next_events(&mut w, 320).await;
    assert!(events.windows(2).all(|p| p[0].revision() < p[1].revision()), "watch is in revision order");
}
