//! Controllers every namespace and node gets: default ServiceAccount, the root CA
//! ConfigMap, node lifecycle (unreachable taints, eviction, replacement), and switching
//! controllers off.

use std::path::Path;
use std::time::Duration;

use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Node, Pod, ServiceAccount};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use serde_json::json;
use skiff_e2e::{Server, Sim, eventually};

const BIN: &str = env!("CARGO_BIN_EXE_skiff");
const WAIT: Duration = Duration::from_secs(30);

async fn create_namespace(client: &kube::Client, name: &str) {
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": name}})).unwrap();
    Api::<Namespace>::all(client.clone()).create(&PostParams::default(), &ns).await.unwrap();
}

#[tokio::test]
async fn namespaces_get_a_default_service_account_and_the_root_ca() {
    let server = Server::start(Path::new(BIN));
    let client = server.client().await;
    let log = || server.log();
    create_namespace(&client, "team").await;
    let accounts: Api<ServiceAccount> = Api::namespaced(client.clone(), "team");
    let maps: Api<ConfigMap> = Api::namespaced(client.clone(), "team");
    eventually("default service account", WAIT, log, || async { accounts.get("default").await.ok() }).await;
    let ca = eventually("kube-root-ca.crt", WAIT, log, || async { maps.get("kube-root-ca.crt").await.ok() }).await;
    let pem = std::fs::read_to_string(server.data_dir().join("server/tls/server-ca.crt"))
        .or_else(|_| std::fs::read_to_string(server.data_dir().join("server/tls/ca.crt")))
        .unwrap_or_default();
    let published = &ca.data.as_ref().unwrap()["ca.crt"];
    assert!(published.starts_with("-----BEGIN CERTIFICATE-----"), "{published}");
    if !pem.is_empty() {
        assert_eq!(published, &pem);
    }
    // The system namespaces have them too.
    for ns in ["default", "kube-system", "kube-public"] {
        let a: Api<ServiceAccount> = Api::namespaced(client.clone(), ns);
        eventually(&format!("default service account in {ns}"), WAIT, log, || async { a.get("default").await.ok() })
            .await;
    }

    // Deleted or edited, they come back.
    accounts.delete("default", &DeleteParams::default()).await.unwrap();
    let old_uid = ca.metadata.uid.clone();
    eventually("default service account recreated", WAIT, log, || async { accounts.get("default").await.ok() }).await;
    maps.patch(
        "kube-root-ca.crt",
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"ca.crt": "tampered", "extra": "x"}})),
    )
    .await
    .unwrap();
    eventually("kube-root-ca.crt restored", WAIT, log, || async {
        let cm = maps.get("kube-root-ca.crt").await.ok()?;
        let data = cm.data?;
        (data.len() == 1 && data["ca.crt"] == *published && cm.metadata.uid == old_uid).then_some(())
    })
    .await;
}

#[tokio::test]
async fn controllers_can_be_switched_off() {
    let server = Server::start_with(Path::new(BIN), &["--controllers", "*,-serviceaccount"]);
    let client = server.client().await;
    create_namespace(&client, "quiet").await;
    let maps: Api<ConfigMap> = Api::namespaced(client.clone(), "quiet");
    eventually("kube-root-ca.crt", WAIT, || server.log(), || async { maps.get("kube-root-ca.crt").await.ok() }).await;
    let accounts: Api<ServiceAccount> = Api::namespaced(client.clone(), "quiet");
    assert!(accounts.get("default").await.is_err(), "the serviceaccount controller is off");

    let none = Server::start_with(Path::new(BIN), &["--disable-controllers"]);
    let client = none.client().await;
    create_namespace(&client, "quiet").await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let maps: Api<ConfigMap> = Api::namespaced(client.clone(), "quiet");
    assert!(maps.list(&ListParams::default()).await.unwrap().items.is_empty());

    let bad = std::process::Command::new(BIN).args(["server", "--controllers", "*,-nope"]).output().unwrap();
    assert!(!bad.status.success());
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(err.contains("unknown controller \"nope\""), "{err}");
}

/// A node whose hollow agent stops becomes Ready=Unknown with the unreachable taints; its
/// pods are evicted after their toleration and replaced elsewhere; the taints go when it
/// comes back.
#[tokio::test]
async fn an_unreachable_node_is_tainted_and_its_pods_replaced() {
    let server = Server::start(Path::new(BIN));
    let mut lost = Sim::start_with(&server, 1, &["--node-prefix", "lost-"]);
    let client = server.client().await;
    let nodes: Api<Node> = Api::all(client.clone());
    let log = || format!("server log:\n{}", server.log());
    eventually("node lost-0", WAIT, log, || async { nodes.get("lost-0").await.ok() }).await;

    // Default tolerations from admission, shortened here so the test is quick.
    let sets: Api<ReplicaSet> = Api::namespaced(client.clone(), "default");
    let rs: ReplicaSet = serde_json::from_value(json!({
        "metadata": {"name": "app"},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "app"}},
            "template": {
                "metadata": {"labels": {"app": "app"}},
                "spec": {
                    "containers": [{"name": "c", "image": "busybox"}],
                    "tolerations": [{"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 2}],
                },
            },
        },
    }))
    .unwrap();
    sets.create(&PostParams::default(), &rs).await.unwrap();
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let on = |node: &'static str| {
        let pods = pods.clone();
        async move {
            let list = pods.list(&ListParams::default().labels("app=app")).await.ok()?;
            let running: Vec<Pod> = list
                .items
                .into_iter()
                .filter(|p| {
                    p.metadata.deletion_timestamp.is_none()
                        && p.spec.as_ref().and_then(|s| s.node_name.as_deref()) == Some(node)
                        && p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running")
                })
                .collect();
            (running.len() == 2).then_some(running)
        }
    };
    let first = eventually("2 pods running on lost-0", WAIT, log, || on("lost-0")).await;
    let tolerations = first[0].spec.as_ref().unwrap().tolerations.clone().unwrap();
    assert!(
        tolerations
            .iter()
            .any(|t| t.key.as_deref() == Some("node.kubernetes.io/not-ready") && t.toleration_seconds == Some(300)),
        "admission adds the default not-ready toleration: {tolerations:?}"
    );

    let _spare = Sim::start_with(&server, 1, &["--node-prefix", "spare-"]);
    eventually("node spare-0", WAIT, log, || async { nodes.get("spare-0").await.ok() }).await;
    lost.kill();

    // 40 s of silence, then Unknown and tainted.
    let tainted = eventually("lost-0 unreachable", Duration::from_secs(70), log, || async {
        let n = nodes.get("lost-0").await.ok()?;
        let taints = n.spec.as_ref()?.taints.clone()?;
        taints.iter().any(|t| t.key == "node.kubernetes.io/unreachable" && t.effect == "NoExecute").then_some(n)
    })
    .await;
    let ready = tainted.status.unwrap().conditions.unwrap().into_iter().find(|c| c.type_ == "Ready").unwrap();
    assert_eq!((ready.status.as_str(), ready.reason.as_deref()), ("Unknown", Some("NodeStatusUnknown")));
    assert_eq!(ready.message.as_deref(), Some("Kubelet stopped posting node status."));

    // Evicted after 2 s, replaced on the spare node.
    eventually("2 replacement pods on spare-0", WAIT, log, || on("spare-0")).await;
    let old = pods.get(first[0].metadata.name.as_deref().unwrap()).await.unwrap();
    assert!(old.metadata.deletion_timestamp.is_some(), "evicted pods are being deleted");
    let conds = old.status.unwrap().conditions.unwrap();
    let target = conds.iter().find(|c| c.type_ == "DisruptionTarget").expect("a DisruptionTarget condition");
    assert_eq!(target.reason.as_deref(), Some("DeletionByTaintManager"));
    let not_ready = conds.iter().find(|c| c.type_ == "Ready").unwrap();
    assert_eq!(not_ready.status, "False", "pods of an unreachable node are marked not ready");

    // Back again: the taints go.
    let _back = Sim::start_with(&server, 1, &["--node-prefix", "lost-"]);
    eventually("lost-0 ready and untainted", WAIT, log, || async {
        let n = nodes.get("lost-0").await.ok()?;
        let untainted = n.spec.as_ref()?.taints.as_ref().is_none_or(|t| t.is_empty());
        let ready = n.status?.conditions?.iter().any(|c| c.type_ == "Ready" && c.status == "True");
        (untainted && ready).then_some(())
    })
    .await;
}

/// Foreground deletion of a Deployment: its ReplicaSet and pods are gone before it is.
#[tokio::test]
async fn foreground_deletion_of_a_deployment_removes_replica_sets_and_pods_first() {
    use k8s_openapi::api::apps::v1::Deployment;

    let server = Server::start(Path::new(BIN));
    let sim = Sim::start(&server, 2);
    let client = server.client().await;
    let log = || format!("server log:\n{}\nsim log:\n{}", server.log(), sim.log());
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "default");
    let d: Deployment = serde_json::from_value(json!({
        "metadata": {"name": "web"},
        "spec": {
            "replicas": 3,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c", "image": "nginx"}]}},
        },
    }))
    .unwrap();
    deployments.create(&PostParams::default(), &d).await.unwrap();
    eventually("3 available replicas", WAIT, log, || async {
        let s = deployments.get("web").await.ok()?.status?;
        (s.available_replicas == Some(3)).then_some(())
    })
    .await;

    deployments.delete("web", &DeleteParams::foreground()).await.unwrap();
    let sets: Api<ReplicaSet> = Api::namespaced(client.clone(), "default");
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let saw_waiting_owner = std::cell::Cell::new(false);
    eventually("the deployment gone", WAIT, log, || {
        let (deployments, sets, pods) = (deployments.clone(), sets.clone(), pods.clone());
        let saw = &saw_waiting_owner;
        async move {
            // The owner first: once it is gone, its dependents must be gone already.
            let owner = deployments.get("web").await;
            let left_sets = sets.list(&ListParams::default().labels("app=web")).await.ok()?.items.len();
            let left_pods = pods.list(&ListParams::default().labels("app=web")).await.ok()?.items.len();
            match owner {
                Ok(d) => {
                    assert!(d.metadata.deletion_timestamp.is_some());
                    saw.set(saw.get() || left_pods > 0 || left_sets > 0);
                    None
                }
                Err(_) => {
                    assert_eq!((left_sets, left_pods), (0, 0), "dependents outlived a foreground-deleted owner");
                    Some(())
                }
            }
        }
    })
    .await;
    assert!(saw_waiting_owner.get(), "the deployment waited for its dependents");
}
