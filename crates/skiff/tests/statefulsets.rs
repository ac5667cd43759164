//! The StatefulSet controller against a live server with hollow nodes and the scheduler:
//! ordered start-up, `kubectl rollout status`, a partitioned rolling update, ordered scale
//! down, claims from volumeClaimTemplates, failed pods recreated.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{Event, PersistentVolumeClaim, Pod};
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use kube::runtime::watcher::{self, Event as WatchEvent};
use serde_json::json;
use skiff_e2e::{Kubectl, Server, Sim, eventually};

const BIN: &str = env!("CARGO_BIN_EXE_skiff");
const WAIT: Duration = Duration::from_secs(30);
const HASH: &str = "controller-revision-hash";

fn statefulset(name: &str, replicas: i32, extra_spec: serde_json::Value) -> StatefulSet {
    let mut v = json!({
        "metadata": {"name": name},
        "spec": {
            "serviceName": name,
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "c", "image": "nginx:1.27"}]},
            },
        },
    });
    if let (Some(spec), Some(extra)) = (v["spec"].as_object_mut(), extra_spec.as_object()) {
        spec.extend(extra.clone());
    }
    serde_json::from_value(v).unwrap()
}

fn ready(p: &Pod) -> bool {
    let conds = p.status.as_ref().and_then(|s| s.conditions.as_ref());
    conds.is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

fn label<'a>(p: &'a Pod, key: &str) -> &'a str {
    p.metadata.labels.as_ref().and_then(|l| l.get(key)).map(String::as_str).unwrap_or_default()
}

fn name(p: &Pod) -> &str {
    p.metadata.name.as_deref().unwrap_or_default()
}

async fn live_pods(api: &Api<Pod>, app: &str) -> Vec<Pod> {
    let mut list = api.list(&ListParams::default().labels(&format!("app={app}"))).await.unwrap().items;
    list.retain(|p| p.metadata.deletion_timestamp.is_none());
    list.sort_by(|a, b| name(a).cmp(name(b)));
    list
}

/// What a watch on the set's pods saw, in order: "web-0 ready", "web-1 added", "web-2 deleted".
fn record(pods: Api<Pod>, app: &str) -> Arc<Mutex<Vec<String>>> {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    let config = watcher::Config::default().labels(&format!("app={app}"));
    tokio::spawn(async move {
        let mut known = std::collections::HashSet::new();
        let mut stream = watcher::watcher(pods, config).boxed();
        while let Some(Ok(event)) = stream.next().await {
            let mut s = s.lock().unwrap();
            match event {
                WatchEvent::Apply(p) | WatchEvent::InitApply(p) => {
                    if known.insert(name(&p).to_string()) {
                        s.push(format!("{} added", name(&p)));
                    }
                    if ready(&p) {
                        s.push(format!("{} ready", name(&p)));
                    }
                    if p.metadata.deletion_timestamp.is_some() {
                        s.push(format!("{} deleted", name(&p)));
                    }
                }
                WatchEvent::Delete(p) => {
                    known.remove(name(&p));
                    s.push(format!("{} deleted", name(&p)));
                }
                _ => {}
            }
        }
    });
    seen
}

fn first(seen: &[String], what: &str) -> usize {
    seen.iter().position(|s| s == what).unwrap_or_else(|| panic!("never saw {what:?} in {seen:?}"))
}

async fn messages(client: &kube::Client) -> Vec<String> {
    let events: Api<Event> = Api::namespaced(client.clone(), "default");
    events.list(&ListParams::default()).await.unwrap().items.into_iter().filter_map(|e| e.message).collect()
}

#[tokio::test]
async fn ordered_start_partitioned_update_and_ordered_scale_down() {
    let server = Server::start(Path::new(BIN));
    let _sim = Sim::start(&server, 3);
    let client = server.client().await;
    let sets: Api<StatefulSet> = Api::namespaced(client.clone(), "default");
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let seen = record(pods.clone(), "web");
    let log = || format!("events: {:?}\nserver log:\n{}", seen.lock().unwrap(), server.log());

    sets.create(&PostParams::default(), &statefulset("web", 3, json!({}))).await.unwrap();
    let up = eventually("3 ready pods", WAIT, log, || async {
        let list = live_pods(&pods, "web").await;
        (list.len() == 3 && list.iter().all(ready)).then_some(list)
    })
    .await;
    let names: Vec<_> = up.iter().map(name).collect();
    assert_eq!(names, ["web-0", "web-1", "web-2"]);
    {
        let seen = seen.lock().unwrap();
        assert!(
            first(&seen, "web-0 ready") < first(&seen, "web-1 added"),
            "web-1 came before web-0 was Ready: {seen:?}"
        );
        assert!(
            first(&seen, "web-1 ready") < first(&seen, "web-2 added"),
            "web-2 came before web-1 was Ready: {seen:?}"
        );
    }
    let p1 = &up[1];
    assert_eq!(label(p1, "statefulset.kubernetes.io/pod-name"), "web-1");
    assert_eq!(label(p1, "apps.kubernetes.io/pod-index"), "1");
    let spec = p1.spec.as_ref().unwrap();
    assert_eq!((spec.hostname.as_deref(), spec.subdomain.as_deref()), (Some("web-1"), Some("web")));
    let first_revision = label(p1, HASH).to_string();
    assert!(first_revision.starts_with("web-"), "{first_revision}");

    if let Some(k) = Kubectl::required(&["1.32"]).into_iter().next() {
        let out = server.kubectl(&k).run(&["rollout", "status", "statefulset/web", "--timeout=30s"]).ok();
        // The API server defaults partition 0, so kubectl reports a partitioned rollout.
        assert!(out.stdout.contains("partitioned roll out complete: 3 new pods have been updated"), "{}", out.stdout);
    }
    let msgs = messages(&client).await;
    assert!(msgs.iter().any(|m| m == "create Pod web-0 in StatefulSet web successful"), "{msgs:?}");

    // A new image with partition 2 reaches only web-2.
    let patch = json!({"spec": {
        "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 2}},
        "template": {"spec": {"containers": [{"name": "c", "image": "nginx:1.28"}]}},
    }});
    sets.patch("web", &PatchParams::default(), &Patch::Strategic(patch)).await.unwrap();
    let set = eventually("the partitioned update", WAIT, log, || async {
        let set = sets.get("web").await.ok()?;
        let st = set.status.clone()?;
        let list = live_pods(&pods, "web").await;
        let update = st.update_revision.clone()?;
        let done = update != first_revision
            && list.len() == 3
            && list.iter().all(ready)
            && label(&list[2], HASH) == update
            && st.updated_replicas == Some(1);
        done.then_some(set)
    })
    .await;
    let list = live_pods(&pods, "web").await;
    assert_eq!(label(&list[0], HASH), first_revision);
    assert_eq!(label(&list[1], HASH), first_revision);
    let image = |p: &Pod| p.spec.as_ref().unwrap().containers[0].image.clone().unwrap();
    assert_eq!((image(&list[1]), image(&list[2])), ("nginx:1.27".to_string(), "nginx:1.28".to_string()));
    assert_eq!(set.status.as_ref().unwrap().current_revision.as_deref(), Some(first_revision.as_str()));
    if let Some(k) = Kubectl::required(&["1.32"]).into_iter().next() {
        let out = server.kubectl(&k).run(&["rollout", "status", "statefulset/web", "--timeout=30s"]).ok();
        assert!(out.stdout.contains("partitioned roll out complete: 1 new pods have been updated"), "{}", out.stdout);
    }

    // Scale down: web-2 goes before web-1.
    sets.patch("web", &PatchParams::default(), &Patch::Merge(json!({"spec": {"replicas": 1}}))).await.unwrap();
    eventually("one pod left", WAIT, log, || async {
        let list = live_pods(&pods, "web").await;
        (list.len() == 1 && name(&list[0]) == "web-0").then_some(())
    })
    .await;
    eventually("the scale-down seen by the watch", WAIT, log, || async {
        let seen = seen.lock().unwrap();
        seen.iter().any(|s| s == "web-1 deleted").then_some(())
    })
    .await;
    let seen = seen.lock().unwrap().clone();
    assert!(first(&seen, "web-2 deleted") < first(&seen, "web-1 deleted"), "{seen:?}");
    let st = sets.get("web").await.unwrap().status.unwrap();
    assert_eq!((st.replicas, st.ready_replicas), (1, Some(1)));
    let msgs = messages(&client).await;
    assert!(msgs.iter().any(|m| m == "delete Pod web-2 in StatefulSet web successful"), "{msgs:?}");
}

#[tokio::test]
async fn claims_are_made_before_pods_and_follow_the_retention_policy() {
    let server = Server::start(Path::new(BIN));
    let _sim = Sim::start(&server, 2);
    let client = server.client().await;
    let sets: Api<StatefulSet> = Api::namespaced(client.clone(), "default");
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let claims: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), "default");
    let log = || server.log();

    let spec = json!({
        "podManagementPolicy": "Parallel",
        "persistentVolumeClaimRetentionPolicy": {"whenDeleted": "Retain", "whenScaled": "Delete"},
        "volumeClaimTemplates": [{"metadata": {"name": "data"},
            "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}],
    });
    sets.create(&PostParams::default(), &statefulset("db", 2, spec)).await.unwrap();
    let list = eventually("2 ready pods", WAIT, log, || async {
        let list = live_pods(&pods, "db").await;
        (list.len() == 2 && list.iter().all(ready)).then_some(list)
    })
    .await;
    for (i, p) in list.iter().enumerate() {
        let claim = claims.get(&format!("data-db-{i}")).await.unwrap();
        assert_eq!(claim.status.and_then(|s| s.phase).as_deref(), Some("Pending"));
        assert!(claim.metadata.owner_references.unwrap_or_default().is_empty(), "kept while in range");
        let volumes = p.spec.as_ref().unwrap().volumes.as_ref().unwrap();
        let v = volumes.iter().find(|v| v.name == "data").unwrap();
        assert_eq!(v.persistent_volume_claim.as_ref().unwrap().claim_name, format!("data-db-{i}"));
    }

    // Scaled down, db-1 hands its claim to the pod (the garbage collector deletes it with
    // the pod).
    let pod1_uid = list[1].metadata.uid.clone().unwrap();
    sets.patch("db", &PatchParams::default(), &Patch::Merge(json!({"spec": {"replicas": 1}}))).await.unwrap();
    eventually("db-1's claim owned by db-1", WAIT, log, || async {
        let claim = claims.get("data-db-1").await.ok();
        let Some(claim) = claim else { return Some(()) }; // already collected with its pod
        let refs = claim.metadata.owner_references.unwrap_or_default();
        refs.iter().any(|r| r.kind == "Pod" && r.uid == pod1_uid).then_some(())
    })
    .await;
    eventually("db-1 gone", WAIT, log, || async { (live_pods(&pods, "db").await.len() == 1).then_some(()) }).await;
}

#[tokio::test]
async fn failed_pods_are_deleted_and_recreated() {
    let server = Server::start(Path::new(BIN));
    let _sim = Sim::start(&server, 1);
    let client = server.client().await;
    let sets: Api<StatefulSet> = Api::namespaced(client.clone(), "default");
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let log = || server.log();

    let mut set = statefulset("job", 1, json!({}));
    let meta = set.spec.as_mut().unwrap().template.metadata.as_mut().unwrap();
    meta.annotations = Some(
        [
            ("sim.skiff.dev/complete-after".to_string(), "1s".to_string()),
            ("sim.skiff.dev/exit-code".into(), "1".into()),
        ]
        .into(),
    );
    sets.create(&PostParams::default(), &set).await.unwrap();
    let first = eventually("job-0", WAIT, log, || async {
        live_pods(&pods, "job").await.into_iter().next().and_then(|p| p.metadata.uid)
    })
    .await;
    eventually("job-0 recreated", WAIT, log, || async {
        let uid = live_pods(&pods, "job").await.into_iter().next().and_then(|p| p.metadata.uid)?;
        (uid != first).then_some(())
    })
    .await;
    let msgs = messages(&client).await;
    assert!(msgs.iter().any(|m| m == "StatefulSet default/job is recreating failed Pod job-0"), "{msgs:?}");
}
