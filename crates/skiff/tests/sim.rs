//! `skiff sim` against a live server: hollow nodes register, keep leases, and play the kubelet
//! for the pods bound to them.

use std::path::Path;
use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{Api, DeleteParams, ListParams, PostParams};
use serde_json::json;
use skiff_e2e::{Server, Sim};

const BIN: &str = env!("CARGO_BIN_EXE_skiff");
const WAIT: Duration = Duration::from_secs(30);

/// Poll `check` until it gives `Some`, or fail with the sim's log.
async fn wait_for<T, F, Fut>(what: &str, sim: &Sim, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}; sim log:\n{}", sim.log());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn ready(node: &Node) -> bool {
    node.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

fn pod(name: &str, node: &str, annotations: serde_json::Value) -> Pod {
    serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "annotations": annotations},
        "spec": {
            "nodeName": node,
            "initContainers": [{"name": "init", "image": "busybox"}],
            "containers": [{"name": "app", "image": "nginx:1.27"}, {"name": "side", "image": "busybox"}],
        },
    }))
    .unwrap()
}

fn phase(p: &Pod) -> &str {
    p.status.as_ref().and_then(|s| s.phase.as_deref()).unwrap_or("")
}

#[tokio::test]
async fn hollow_nodes_run_pods() {
    let server = Server::start_with(Path::new(BIN), &["--disable-scheduler"]);
    let sim = Sim::start(&server, 3);
    let client = server.client().await;
    let nodes: Api<Node> = Api::all(client.clone());
    let leases: Api<Lease> = Api::namespaced(client.clone(), "kube-node-lease");
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");

    // Three Ready nodes, each with a lease.
    let registered = wait_for("3 ready hollow nodes", &sim, || async {
        let list = nodes.list(&ListParams::default().labels("type=hollow")).await.ok()?;
        (list.items.len() == 3 && list.items.iter().all(ready)).then_some(list.items)
    })
    .await;
    let mut names: Vec<_> = registered.iter().filter_map(|n| n.metadata.name.clone()).collect();
    names.sort();
    assert_eq!(names, ["hollow-0", "hollow-1", "hollow-2"]);
    let node = &registered[0];
    let labels = node.metadata.labels.as_ref().unwrap();
    assert_eq!(labels["kubernetes.io/os"], "linux");
    assert_eq!(node.metadata.annotations.as_ref().unwrap()["sim.skiff.dev/hollow"], "true");
    let status = node.status.as_ref().unwrap();
    assert_eq!(status.capacity.as_ref().unwrap()["pods"].0, "110");
    assert_eq!(status.node_info.as_ref().unwrap().kubelet_version, "v1.33.0-skiff-sim");
    let held = wait_for("3 node leases", &sim, || async {
        let list = leases.list(&ListParams::default()).await.ok()?;
        (list.items.len() == 3).then_some(list.items)
    })
    .await;
    for lease in &held {
        let spec = lease.spec.as_ref().unwrap();
        assert_eq!(spec.holder_identity, lease.metadata.name);
        assert_eq!(spec.lease_duration_seconds, Some(40));
        assert!(spec.renew_time.is_some());
    }
    assert!(sim.log().contains("registered 3 hollow nodes"), "{}", sim.log());

    // A pod bound to a hollow node runs.
    let pp = PostParams::default();
    pods.create(&pp, &pod("web", "hollow-1", json!({}))).await.unwrap();
    let running = wait_for("pod web running", &sim, || async {
        let p = pods.get("web").await.ok()?;
        (phase(&p) == "Running").then_some(p)
    })
    .await;
    let st = running.status.as_ref().unwrap();
    assert!(st.pod_ip.as_deref().is_some_and(|ip| ip.starts_with("10.42.")), "{st:?}");
    assert_eq!(st.host_ip.as_deref(), Some("10.200.0.2"));
    let containers = st.container_statuses.as_ref().unwrap();
    assert_eq!(containers.len(), 2);
    assert!(containers.iter().all(|c| c.ready && c.state.as_ref().is_some_and(|s| s.running.is_some())));
    let conditions = st.conditions.as_ref().unwrap();
    assert!(conditions.iter().any(|c| c.type_ == "Ready" && c.status == "True"), "{conditions:?}");
    let init = &st.init_container_statuses.as_ref().unwrap()[0];
    assert_eq!(init.state.as_ref().unwrap().terminated.as_ref().unwrap().reason.as_deref(), Some("Completed"));

    // A pod that completes at once succeeds; one with a nonzero exit code fails.
    pods.create(&pp, &pod("job", "hollow-2", json!({"sim.skiff.dev/complete-after": "0s"}))).await.unwrap();
    pods.create(
        &pp,
        &pod("bad", "hollow-0", json!({"sim.skiff.dev/complete-after": "0s", "sim.skiff.dev/exit-code": "3"})),
    )
    .await
    .unwrap();
    let done = wait_for("pod job succeeded", &sim, || async {
        let p = pods.get("job").await.ok()?;
        (phase(&p) == "Succeeded").then_some(p)
    })
    .await;
    let terminated = done.status.unwrap().container_statuses.unwrap()[0].state.clone().unwrap().terminated.unwrap();
    assert_eq!((terminated.exit_code, terminated.reason.as_deref()), (0, Some("Completed")));
    let failed = wait_for("pod bad failed", &sim, || async {
        let p = pods.get("bad").await.ok()?;
        (phase(&p) == "Failed").then_some(p)
    })
    .await;
    let terminated = failed.status.unwrap().container_statuses.unwrap()[0].state.clone().unwrap().terminated.unwrap();
    assert_eq!((terminated.exit_code, terminated.reason.as_deref()), (3, Some("Error")));

    // A deleted pod goes for good (its hollow containers stop at once), not stuck Terminating.
    pods.delete("web", &DeleteParams::default()).await.unwrap();
    wait_for("pod web gone", &sim, || async {
        match pods.get("web").await {
            Err(kube::Error::Api(s)) if s.code == 404 => Some(()),
            _ => None,
        }
    })
    .await;

    // Pods on other nodes are left alone.
    pods.create(&pp, &pod("elsewhere", "real-node", json!({}))).await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(phase(&pods.get("elsewhere").await.unwrap()), "Pending");
}
