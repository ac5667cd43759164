//! The garbage collector against a live server: dependents of a deleted owner collected
//! (background), an owner kept until its blocking dependents are gone (foreground),
//! dependents released (orphan), references to owners that never existed, dependents with
//! several owners, cluster-scoped owners of namespaced dependents, and the pods of a
//! ReplicaSet on hollow nodes.

use std::path::Path;
use std::time::Duration;

use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Pod, Secret};
use k8s_openapi::api::events::v1::Event;
use k8s_openapi::api::rbac::v1::ClusterRole;
use k8s_openapi::serde::de::DeserializeOwned;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::{Resource, ResourceExt};
use serde_json::{Value, json};
use skiff_e2e::{Kubectl, Server, Sim, eventually};

const BIN: &str = env!("CARGO_BIN_EXE_skiff");
const WAIT: Duration = Duration::from_secs(30);

/// An owner reference to `owner`.
fn owned_by<K: Resource<DynamicType = ()>>(owner: &K, block: bool) -> Value {
    json!({
        "apiVersion": K::api_version(&()),
        "kind": K::kind(&()),
        "name": owner.name_any(),
        "uid": owner.uid().unwrap(),
        "blockOwnerDeletion": block,
    })
}

fn config_map(name: &str, owners: Vec<Value>, finalizers: &[&str]) -> ConfigMap {
    serde_json::from_value(json!({
        "metadata": {"name": name, "ownerReferences": owners, "finalizers": finalizers},
        "data": {"k": "v"},
    }))
    .unwrap()
}

async fn create_cm(api: &Api<ConfigMap>, name: &str, owners: Vec<Value>) -> ConfigMap {
    api.create(&PostParams::default(), &config_map(name, owners, &[])).await.unwrap()
}

/// Wait until `name` is gone from `api`.
async fn gone<K>(api: &Api<K>, name: &str, log: impl Fn() -> String)
where
    K: Resource + Clone + DeserializeOwned + std::fmt::Debug,
{
    eventually(&format!("{name} to be deleted"), WAIT, log, || async {
        matches!(api.get_opt(name).await, Ok(None)).then_some(())
    })
    .await
}

fn owner_uids(cm: &ConfigMap) -> Vec<String> {
    cm.owner_references().iter().map(|r| r.uid.clone()).collect()
}

#[tokio::test]
async fn deleting_an_owner_collects_its_dependents_in_the_background() {
    let server = Server::start(Path::new(BIN));
    let client = server.client().await;
    let log = || server.log();
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let secrets: Api<Secret> = Api::namespaced(client.clone(), "default");

    let owner = create_cm(&cms, "owner", vec![]).await;
    create_cm(&cms, "dep-cm", vec![owned_by(&owner, false)]).await;
    let secret: Secret = serde_json::from_value(
        json!({"metadata": {"name": "dep-secret", "ownerReferences": [owned_by(&owner, true)]}}),
    )
    .unwrap();
    secrets.create(&PostParams::default(), &secret).await.unwrap();
    // A chain: the dependent's own dependent goes too.
    let dep = cms.get("dep-cm").await.unwrap();
    create_cm(&cms, "dep-of-dep", vec![owned_by(&dep, false)]).await;
    let bystander = create_cm(&cms, "bystander", vec![]).await;

    cms.delete("owner", &DeleteParams::background()).await.unwrap();
    gone(&cms, "dep-cm", log).await;
    gone(&secrets, "dep-secret", log).await;
    gone(&cms, "dep-of-dep", log).await;
    assert_eq!(cms.get("bystander").await.unwrap().uid(), bystander.uid());
}

#[tokio::test]
async fn foreground_deletion_keeps_the_owner_until_blocking_dependents_are_gone() {
    let Some(kubectl) = Kubectl::required(&["1.32"]).into_iter().next() else { return };
    let server = Server::start(Path::new(BIN));
    let client = server.client().await;
    let log = || server.log();
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");

    let owner = create_cm(&cms, "owner", vec![]).await;
    // The finalizer holds the dependent (and so the owner) until the test lets go.
    let held = config_map("held", vec![owned_by(&owner, true)], &["example.com/hold"]);
    cms.create(&PostParams::default(), &held).await.unwrap();
    create_cm(&cms, "plain", vec![owned_by(&owner, true)]).await;

    let k = server.kubectl(&kubectl);
    k.run(&["delete", "configmap", "owner", "--cascade=foreground", "--wait=false"]).ok();
    gone(&cms, "plain", log).await;
    eventually("the held dependent being deleted", WAIT, log, || async {
        cms.get("held").await.ok()?.metadata.deletion_timestamp.map(|_| ())
    })
    .await;
    let waiting = cms.get("owner").await.unwrap();
    assert!(waiting.metadata.deletion_timestamp.is_some());
    assert_eq!(waiting.finalizers(), ["foregroundDeletion"]);

    cms.patch("held", &PatchParams::default(), &Patch::Merge(json!({"metadata": {"finalizers": null}}))).await.unwrap();
    gone(&cms, "held", log).await;
    gone(&cms, "owner", log).await;

    // kubectl's default (waiting) foreground delete returns once the owner is gone.
    let owner = create_cm(&cms, "owner2", vec![]).await;
    create_cm(&cms, "dep2", vec![owned_by(&owner, true)]).await;
    k.run(&["delete", "configmap", "owner2", "--cascade=foreground", "--timeout=30s"]).ok();
    assert!(cms.get_opt("owner2").await.unwrap().is_none());
    assert!(cms.get_opt("dep2").await.unwrap().is_none());
}

#[tokio::test]
async fn orphan_deletion_leaves_dependents_without_the_reference() {
    let Some(kubectl) = Kubectl::required(&["1.32"]).into_iter().next() else { return };
    let server = Server::start(Path::new(BIN));
    let client = server.client().await;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");

    let owner = create_cm(&cms, "owner", vec![]).await;
    let other = create_cm(&cms, "other", vec![]).await;
    create_cm(&cms, "dep-a", vec![owned_by(&owner, true)]).await;
    create_cm(&cms, "dep-b", vec![owned_by(&owner, false), owned_by(&other, false)]).await;

    // kubectl waits until the owner is gone, which needs the orphan finalizer removed.
    server.kubectl(&kubectl).run(&["delete", "configmap", "owner", "--cascade=orphan", "--timeout=30s"]).ok();
    assert!(cms.get_opt("owner").await.unwrap().is_none());
    assert!(owner_uids(&cms.get("dep-a").await.unwrap()).is_empty());
    assert_eq!(owner_uids(&cms.get("dep-b").await.unwrap()), [other.uid().unwrap()]);
}

#[tokio::test]
async fn dangling_references_and_several_owners() {
    let server = Server::start(Path::new(BIN));
    let client = server.client().await;
    let log = || server.log();
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let secrets: Api<Secret> = Api::namespaced(client.clone(), "default");
    let roles: Api<ClusterRole> = Api::all(client.clone());

    // An owner that never existed, and one whose name exists with another uid.
    let ghost = json!({"apiVersion": "v1", "kind": "ConfigMap", "name": "ghost", "uid": "00000000-0000-0000-0000-000000000001"});
    create_cm(&cms, "orphan-of-ghost", vec![ghost]).await;
    let real = create_cm(&cms, "real", vec![]).await;
    let mut stale = owned_by(&real, false);
    stale["uid"] = "00000000-0000-0000-0000-000000000002".into();
    create_cm(&cms, "stale-ref", vec![stale]).await;
    gone(&cms, "orphan-of-ghost", log).await;
    gone(&cms, "stale-ref", log).await;
    assert!(cms.get_opt("real").await.unwrap().is_some());

    // A namespaced owner is only looked for in its dependent's namespace.
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": "elsewhere"}})).unwrap();
    namespaces.create(&PostParams::default(), &ns).await.unwrap();
    let elsewhere: Api<ConfigMap> = Api::namespaced(client.clone(), "elsewhere");
    create_cm(&elsewhere, "wrong-namespace", vec![owned_by(&real, false)]).await;
    gone(&elsewhere, "wrong-namespace", log).await;
    let events: Api<Event> = Api::namespaced(client.clone(), "elsewhere");
    let event = eventually("an OwnerRefInvalidNamespace event", WAIT, log, || async {
        let l = events.list(&ListParams::default()).await.ok()?;
        l.items.into_iter().find(|e| e.reason.as_deref() == Some("OwnerRefInvalidNamespace"))
    })
    .await;
    assert_eq!(event.type_.as_deref(), Some("Warning"));
    let note = event.note.unwrap();
    assert!(note.starts_with("ownerRef [v1/ConfigMap, namespace: elsewhere, name: real, uid: "), "{note}");
    assert!(note.ends_with("] does not exist in namespace \"elsewhere\""), "{note}");

    // Two owners of different kinds, one of them cluster-scoped: deleting one keeps the
    // dependent and drops the reference; deleting the other collects it.
    let secret: Secret = serde_json::from_value(json!({"metadata": {"name": "owner-secret"}})).unwrap();
    let secret = secrets.create(&PostParams::default(), &secret).await.unwrap();
    let role: ClusterRole = serde_json::from_value(json!({"metadata": {"name": "gc-owner"}})).unwrap();
    let role = roles.create(&PostParams::default(), &role).await.unwrap();
    create_cm(&cms, "shared", vec![owned_by(&secret, false), owned_by(&role, true)]).await;
    create_cm(&cms, "role-only", vec![owned_by(&role, false)]).await;

    secrets.delete("owner-secret", &DeleteParams::background()).await.unwrap();
    eventually("the reference to the deleted secret dropped", WAIT, log, || async {
        let cm = cms.get("shared").await.ok()?;
        (owner_uids(&cm) == [role.uid().unwrap()]).then_some(())
    })
    .await;

    roles.delete("gc-owner", &DeleteParams::background()).await.unwrap();
    gone(&cms, "shared", log).await;
    gone(&cms, "role-only", log).await;
}

#[tokio::test]
async fn the_pods_of_a_deleted_replica_set_go_with_it() {
    let Some(kubectl) = Kubectl::required(&["1.32"]).into_iter().next() else { return };
    let server = Server::start(Path::new(BIN));
    let sim = Sim::start(&server, 2);
    let client = server.client().await;
    let log = || format!("server log:\n{}\nsim log:\n{}", server.log(), sim.log());
    let sets: Api<ReplicaSet> = Api::namespaced(client.clone(), "default");
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let k = server.kubectl(&kubectl);
    for (name, cascade) in [("fg", "--cascade=foreground"), ("bg", "--cascade=background")] {
        let rs: ReplicaSet = serde_json::from_value(json!({
            "metadata": {"name": name},
            "spec": {
                "replicas": 2,
                "selector": {"matchLabels": {"app": name}},
                "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [{"name": "c", "image": "nginx"}]}},
            },
        }))
        .unwrap();
        sets.create(&PostParams::default(), &rs).await.unwrap();
        let selector = format!("app={name}");
        let running = |want: usize| {
            let (pods, selector) = (pods.clone(), selector.clone());
            async move {
                let l = pods.list(&ListParams::default().labels(&selector)).await.ok()?;
                let phase = |p: &Pod| p.status.as_ref().and_then(|s| s.phase.clone());
                (l.items.len() == want && l.items.iter().all(|p| phase(p).as_deref() == Some("Running"))).then_some(())
            }
        };
        eventually(&format!("2 pods of {name} running"), WAIT, log, || running(2)).await;
        k.run(&["delete", "replicaset", name, cascade, "--timeout=30s"]).ok();
        assert!(sets.get_opt(name).await.unwrap().is_none());
        eventually(&format!("the pods of {name} gone"), WAIT, log, || running(0)).await;
    }
}
