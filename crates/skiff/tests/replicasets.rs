//! The ReplicaSet and ReplicationController controller against a live server with hollow
//! nodes: counts kept, pods replaced, orphans adopted, non-matching pods released.

use std::path::Path;
use std::time::Duration;

use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::{Pod, ReplicationController};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use serde_json::json;
use skiff_e2e::{Server, Sim, eventually};

const BIN: &str = env!("CARGO_BIN_EXE_skiff");
const WAIT: Duration = Duration::from_secs(30);

fn rs(name: &str, replicas: i32) -> ReplicaSet {
    serde_json::from_value(json!({
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "c", "image": "busybox"}]},
            },
        },
    }))
    .unwrap()
}

fn owned_by<'a>(pods: &'a [Pod], uid: &str) -> Vec<&'a Pod> {
    pods.iter()
        .filter(|p| {
            p.metadata.deletion_timestamp.is_none()
                && p.metadata.owner_references.iter().flatten().any(|r| r.uid == uid && r.controller == Some(true))
        })
        .collect()
}

#[tokio::test]
async fn replica_sets_keep_their_count_adopt_and_release() {
    let server = Server::start(Path::new(BIN));
    let sim = Sim::start(&server, 2);
    let client = server.client().await;
    let sets: Api<ReplicaSet> = Api::namespaced(client.clone(), "default");
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let log = || format!("server log:\n{}\nsim log:\n{}", server.log(), sim.log());

    let created = sets.create(&PostParams::default(), &rs("web", 3)).await.unwrap();
    let uid = created.metadata.uid.clone().unwrap();
    let all = |sel: &'static str| {
        let pods = pods.clone();
        async move { pods.list(&ListParams::default().labels(sel)).await.ok().map(|l| l.items) }
    };
    let ready = |want: i32| {
        let sets = sets.clone();
        async move {
            let s = sets.get("web").await.ok()?.status?;
            (s.replicas == want && s.ready_replicas == Some(want) && s.available_replicas == Some(want)).then_some(())
        }
    };
    eventually("3 ready replicas", WAIT, log, || ready(3)).await;
    let list = all("app=web").await.unwrap();
    let mine = owned_by(&list, &uid);
    assert_eq!(mine.len(), 3);
    for p in &mine {
        assert!(p.metadata.name.as_deref().unwrap().starts_with("web-"));
        let owner = &p.metadata.owner_references.as_ref().unwrap()[0];
        assert_eq!(
            (owner.kind.as_str(), owner.name.as_str(), owner.block_owner_deletion),
            ("ReplicaSet", "web", Some(true))
        );
    }
    let status = sets.get("web").await.unwrap().status.unwrap();
    assert_eq!(status.fully_labeled_replicas, Some(3));
    assert_eq!(status.observed_generation, Some(1));

    // A deleted pod is replaced.
    let victim = mine[0].metadata.name.clone().unwrap();
    pods.delete(&victim, &DeleteParams::default()).await.unwrap();
    eventually("a replacement pod", WAIT, log, || async {
        let list = all("app=web").await?;
        let mine = owned_by(&list, &uid);
        (mine.len() == 3 && mine.iter().all(|p| p.metadata.name.as_deref() != Some(victim.as_str()))).then_some(())
    })
    .await;

    // Scaling up and down.
    let scale = |n: i32| {
        let sets = sets.clone();
        async move {
            sets.patch("web", &PatchParams::default(), &Patch::Merge(json!({"spec": {"replicas": n}}))).await.unwrap();
        }
    };
    scale(5).await;
    eventually("5 ready replicas", WAIT, log, || ready(5)).await;
    scale(1).await;
    eventually("1 ready replica", WAIT, log, || async {
        ready(1).await?;
        (owned_by(&all("app=web").await?, &uid).len() == 1).then_some(())
    })
    .await;

    // A matching orphan is adopted (and the surplus deleted); a pod whose labels stop
    // matching is released and replaced.
    let orphan: Pod = serde_json::from_value(json!({
        "metadata": {"name": "stray", "labels": {"app": "web"}},
        "spec": {"containers": [{"name": "c", "image": "busybox"}]},
    }))
    .unwrap();
    pods.create(&PostParams::default(), &orphan).await.unwrap();
    eventually("1 replica after adopting the stray pod", WAIT, log, || async {
        let list = all("app=web").await?;
        (owned_by(&list, &uid).len() == 1
            && list.iter().filter(|p| p.metadata.deletion_timestamp.is_none()).count() == 1)
            .then_some(())
    })
    .await;
    let kept = owned_by(&all("app=web").await.unwrap(), &uid)[0].metadata.name.clone().unwrap();
    pods.patch(&kept, &PatchParams::default(), &Patch::Merge(json!({"metadata": {"labels": {"app": "other"}}})))
        .await
        .unwrap();
    eventually("released pod replaced", WAIT, log, || async {
        let released = pods.get(&kept).await.ok()?;
        let still_owned = released.metadata.owner_references.iter().flatten().any(|r| r.uid == uid);
        (!still_owned && owned_by(&all("app=web").await?, &uid).len() == 1).then_some(())
    })
    .await;

    // Events a user sees in `kubectl describe`.
    let events: Api<k8s_openapi::api::core::v1::Event> = Api::namespaced(client.clone(), "default");
    let seen = eventually("SuccessfulCreate and SuccessfulDelete events", WAIT, log, || async {
        let list = events.list(&ListParams::default()).await.ok()?;
        let reasons: Vec<String> = list.items.iter().filter_map(|e| e.reason.clone()).collect();
        (reasons.iter().any(|r| r == "SuccessfulCreate") && reasons.iter().any(|r| r == "SuccessfulDelete"))
            .then_some(list.items)
    })
    .await;
    let create = seen.iter().find(|e| e.reason.as_deref() == Some("SuccessfulCreate")).unwrap();
    assert!(create.message.as_deref().unwrap().starts_with("Created pod: web-"), "{create:?}");
}

#[tokio::test]
async fn replication_controllers_keep_their_count() {
    let server = Server::start(Path::new(BIN));
    let sim = Sim::start(&server, 1);
    let client = server.client().await;
    let rcs: Api<ReplicationController> = Api::namespaced(client.clone(), "default");
    let rc: ReplicationController = serde_json::from_value(json!({
        "metadata": {"name": "legacy"},
        "spec": {
            "replicas": 2,
            "template": {"metadata": {"labels": {"app": "legacy"}}, "spec": {"containers": [{"name": "c", "image": "busybox"}]}},
        },
    }))
    .unwrap();
    rcs.create(&PostParams::default(), &rc).await.unwrap();
    let log = || format!("server log:\n{}\nsim log:\n{}", server.log(), sim.log());
    eventually("2 ready replicas", WAIT, log, || async {
        let s = rcs.get("legacy").await.ok()?.status?;
        (s.replicas == 2 && s.ready_replicas == Some(2)).then_some(())
    })
    .await;
}

/// After a restart the controller waits for its pod cache before counting: a set whose pods
/// exist does not create them again.
#[tokio::test]
async fn a_restarted_server_does_not_create_pods_twice() {
    let mut server = Server::start(Path::new(BIN));
    let sim = Sim::start(&server, 1);
    let client = server.client().await;
    let sets: Api<ReplicaSet> = Api::namespaced(client.clone(), "default");
    sets.create(&PostParams::default(), &rs("keep", 5)).await.unwrap();
    let log = || format!("sim log:\n{}", sim.log());
    eventually("5 ready replicas", WAIT, log, || async {
        let s = sets.get("keep").await.ok()?.status?;
        (s.ready_replicas == Some(5)).then_some(())
    })
    .await;
    for _ in 0..3 {
        server.stop();
        server.spawn();
        let pods: Api<Pod> = Api::namespaced(server.client().await, "default");
        tokio::time::sleep(Duration::from_secs(1)).await;
        let list = pods.list(&ListParams::default().labels("app=keep")).await.unwrap();
        assert_eq!(
            list.items.len(),
            5,
            "pods after a restart: {:?}",
            list.items.iter().map(|p| &p.metadata.name).collect::<Vec<_>>()
        );
    }
}
