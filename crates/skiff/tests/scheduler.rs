//! The scheduler inside `skiff server`, seen through the API: each plugin's decision on a small
//! cluster, preemption, requeueing when a node arrives, and the text a user reads when nothing
//! fits. Nodes are plain Node objects (no agent): the scheduler only reads them.

use std::time::Duration;

use k8s_openapi::api::core::v1::{Event, Node, Pod};
use k8s_openapi::api::scheduling::v1::PriorityClass;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::runtime::wait::await_condition;
use serde_json::{Value, json};
use skiff_e2e::Server;

fn server() -> Server {
    Server::start(std::path::Path::new(env!("CARGO_BIN_EXE_skiff")))
}

/// A Ready node with `cpu` cores, `labels` and `taints`.
async fn add_node(client: &kube::Client, name: &str, cpu: &str, labels: Value, taints: Value) {
    let nodes: Api<Node> = Api::all(client.clone());
    let mut labels = labels;
    labels["kubernetes.io/hostname"] = json!(name);
    let node: Node = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name, "labels": labels},
        "spec": {"taints": taints},
    }))
    .unwrap();
    nodes.create(&PostParams::default(), &node).await.unwrap();
    let status = json!({"status": {
        "capacity": {"cpu": cpu, "memory": "8Gi", "pods": "110"},
        "allocatable": {"cpu": cpu, "memory": "8Gi", "pods": "110"},
        "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady", "message": "ready"}],
    }});
    nodes.patch_status(name, &PatchParams::default(), &Patch::Merge(status)).await.unwrap();
}

fn pod(name: &str, cpu: &str, extra: Value) -> Pod {
    let mut v = json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": "web"}},
        "spec": {"containers": [{"name": "c", "image": "busybox", "resources": {"requests": {"cpu": cpu}}}]},
    });
    merge(&mut v, extra);
    serde_json::from_value(v).unwrap()
}

fn merge(a: &mut Value, b: Value) {
    match (a, b) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in b {
                merge(a.entry(k).or_insert(Value::Null), v);
            }
        }
        (a, b) => *a = b,
    }
}

async fn create(pods: &Api<Pod>, p: Pod) {
    pods.create(&PostParams::default(), &p).await.unwrap();
}

/// Wait until the pod is bound; returns its node.
async fn node_of(pods: &Api<Pod>, name: &str) -> String {
    let bound = |p: Option<&Pod>| p.and_then(|p| p.spec.as_ref()?.node_name.as_ref()).is_some();
    tokio::time::timeout(Duration::from_secs(20), await_condition(pods.clone(), name, bound))
        .await
        .unwrap_or_else(|_| panic!("pod {name} was not scheduled"))
        .unwrap();
    pods.get(name).await.unwrap().spec.unwrap().node_name.unwrap()
}

/// Wait until the pod reports PodScheduled=False; returns the condition's message.
async fn unschedulable_message(pods: &Api<Pod>, name: &str) -> String {
    let cond = |p: &Pod| {
        p.status
            .as_ref()?
            .conditions
            .as_ref()?
            .iter()
            .find(|c| c.type_ == "PodScheduled" && c.status == "False")
            .cloned()
    };
    let failed = |p: Option<&Pod>| p.and_then(cond).is_some();
    tokio::time::timeout(Duration::from_secs(20), await_condition(pods.clone(), name, failed))
        .await
        .unwrap_or_else(|_| panic!("pod {name} was not reported unschedulable"))
        .unwrap();
    let c = cond(&pods.get(name).await.unwrap()).unwrap();
    assert_eq!(c.reason.as_deref(), Some("Unschedulable"));
    c.message.unwrap()
}

/// The first event with `reason` about pod `name` in `default`, waiting up to 5 s for it.
async fn first_event(c: &kube::Client, name: &str, reason: &str) -> Option<Event> {
    let events: Api<Event> = Api::namespaced(c.clone(), "default");
    let lp = ListParams::default().fields(&format!("involvedObject.name={name},reason={reason}"));
    for _ in 0..100 {
        if let Some(e) = events.list(&lp).await.unwrap().items.into_iter().next() {
            return Some(e);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    None
}

#[tokio::test]
async fn a_pod_that_fits_only_one_node_lands_there() {
    let s = server();
    let c = s.client().await;
    add_node(&c, "small-1", "1", json!({}), json!([])).await;
    add_node(&c, "small-2", "1", json!({}), json!([])).await;
    add_node(&c, "big", "4", json!({}), json!([])).await;
    let pods: Api<Pod> = Api::namespaced(c.clone(), "default");
    create(&pods, pod("needs-two", "2", json!({}))).await;
    assert_eq!(node_of(&pods, "needs-two").await, "big");

    // The Scheduled event names the node, as kubectl describe shows it.
    let found = first_event(&c, "needs-two", "Scheduled").await.and_then(|e| e.message);
    assert_eq!(found.as_deref(), Some("Successfully assigned default/needs-two to big"));
}

#[tokio::test]
async fn node_selector_affinity_and_host_ports() {
    let s = server();
    let c = s.client().await;
    add_node(&c, "a", "2", json!({"disk": "ssd", "cores": "8"}), json!([])).await;
    add_node(&c, "b", "2", json!({"disk": "hdd", "cores": "2"}), json!([])).await;
    let pods: Api<Pod> = Api::namespaced(c.clone(), "default");
    create(&pods, pod("ssd", "100m", json!({"spec": {"nodeSelector": {"disk": "ssd"}}}))).await;
    assert_eq!(node_of(&pods, "ssd").await, "a");
    let gt = json!({"spec": {"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [{"matchExpressions": [{"key": "cores", "operator": "Lt", "values": ["4"]}]}]}}}}});
    create(&pods, pod("few-cores", "100m", gt)).await;
    assert_eq!(node_of(&pods, "few-cores").await, "b");
    let preferred = json!({"spec": {"affinity": {"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
        {"weight": 50, "preference": {"matchExpressions": [{"key": "disk", "operator": "In", "values": ["hdd"]}]}}]}}}});
    create(&pods, pod("likes-hdd", "100m", preferred)).await;
    assert_eq!(node_of(&pods, "likes-hdd").await, "b");

    let port = |name: &str| {
        pod(
            name,
            "100m",
            json!({"spec": {"containers": [{"name": "c", "image": "busybox", "ports": [{"containerPort": 80, "hostPort": 8080}]}]}}),
        )
    };
    create(&pods, port("port-1")).await;
    create(&pods, port("port-2")).await;
    let (n1, n2) = (node_of(&pods, "port-1").await, node_of(&pods, "port-2").await);
    assert_ne!(n1, n2, "two pods wanting host port 8080 share no node");
    create(&pods, port("port-3")).await;
    let msg = unschedulable_message(&pods, "port-3").await;
    assert!(
        msg.starts_with("0/2 nodes are available: 2 node(s) didn't have free ports for the requested pod ports."),
        "{msg}"
    );
}

#[tokio::test]
async fn a_tainted_node_repels_pods_without_a_toleration_and_the_event_says_why() {
    let s = server();
    let c = s.client().await;
    let gpu = json!([{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}]);
    add_node(&c, "gpu-1", "8", json!({}), gpu.clone()).await;
    add_node(&c, "gpu-2", "8", json!({}), gpu).await;
    add_node(&c, "cpu-1", "2", json!({}), json!([])).await;
    let pods: Api<Pod> = Api::namespaced(c.clone(), "default");
    create(&pods, pod("filler", "1500m", json!({}))).await;
    assert_eq!(node_of(&pods, "filler").await, "cpu-1");
    create(&pods, pod("big", "2", json!({}))).await;
    let msg = unschedulable_message(&pods, "big").await;
    assert_eq!(
        msg,
        "0/3 nodes are available: 1 Insufficient cpu, 2 node(s) had untolerated taint {dedicated: gpu}. \
         preemption: 0/3 nodes are available: 1 No preemption victims found for incoming pod, \
         2 Preemption is not helpful for scheduling."
    );
    let e = first_event(&c, "big", "FailedScheduling").await.expect("a FailedScheduling event");
    assert_eq!((e.type_.as_deref(), e.message.as_deref()), (Some("Warning"), Some(msg.as_str())));

    // With the toleration it goes to a GPU node.
    let tolerant = json!({"spec": {"tolerations": [{"key": "dedicated", "operator": "Equal", "value": "gpu", "effect": "NoSchedule"}]}});
    create(&pods, pod("tolerant", "2", tolerant)).await;
    assert!(node_of(&pods, "tolerant").await.starts_with("gpu-"));
}

#[tokio::test]
async fn anti_affinity_spreads_replicas_and_affinity_gathers_them() {
    let s = server();
    let c = s.client().await;
    for n in ["n1", "n2", "n3"] {
        add_node(&c, n, "4", json!({}), json!([])).await;
    }
    let pods: Api<Pod> = Api::namespaced(c.clone(), "default");
    let anti = json!({"metadata": {"labels": {"app": "db"}}, "spec": {"affinity": {"podAntiAffinity": {
        "requiredDuringSchedulingIgnoredDuringExecution": [{"labelSelector": {"matchLabels": {"app": "db"}}, "topologyKey": "kubernetes.io/hostname"}]}}}});
    let mut used = std::collections::BTreeSet::new();
    for i in 0..3 {
        let name = format!("db-{i}");
        let mut p = pod(&name, "100m", anti.clone());
        p.metadata.labels.as_mut().unwrap().insert("idx".into(), i.to_string());
        create(&pods, p).await;
        used.insert(node_of(&pods, &name).await);
    }
    assert_eq!(used.len(), 3, "each replica on its own node");
    create(&pods, pod("db-3", "100m", anti)).await;
    let msg = unschedulable_message(&pods, "db-3").await;
    assert!(msg.starts_with("0/3 nodes are available: 3 node(s) didn't match pod anti-affinity rules."), "{msg}");

    // Required affinity to db-1: the cache pod follows it to its node.
    let with = json!({"metadata": {"labels": {"app": "cache"}}, "spec": {"affinity": {"podAffinity": {
        "requiredDuringSchedulingIgnoredDuringExecution": [{"labelSelector": {"matchExpressions": [
            {"key": "app", "operator": "In", "values": ["db"]}, {"key": "idx", "operator": "In", "values": ["1"]}]},
        "topologyKey": "kubernetes.io/hostname", "namespaces": ["default"]}]}}}});
    create(&pods, pod("cache", "100m", with)).await;
    assert_eq!(node_of(&pods, "cache").await, node_of(&pods, "db-1").await);
}

#[tokio::test]
async fn topology_spread_balances_across_zones() {
    let s = server();
    let c = s.client().await;
    for (n, z) in [("a1", "a"), ("a2", "a"), ("a3", "a"), ("b1", "b")] {
        add_node(&c, n, "8", json!({"topology.kubernetes.io/zone": z}), json!([])).await;
    }
    let pods: Api<Pod> = Api::namespaced(c.clone(), "default");
    let spread = json!({"metadata": {"labels": {"app": "spread"}}, "spec": {"topologySpreadConstraints": [{
        "maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone", "whenUnsatisfiable": "DoNotSchedule",
        "labelSelector": {"matchLabels": {"app": "spread"}}}]}});
    let mut zones = std::collections::BTreeMap::<char, usize>::new();
    for i in 0..6 {
        let name = format!("s-{i}");
        create(&pods, pod(&name, "100m", spread.clone())).await;
        let node = node_of(&pods, &name).await;
        *zones.entry(node.chars().next().unwrap()).or_default() += 1;
    }
    assert_eq!(zones, [('a', 3), ('b', 3)].into(), "three nodes in zone a, one in b, yet three pods each");
}

#[tokio::test]
async fn a_high_priority_pod_preempts_a_low_one_which_gets_its_grace_period() {
    let s = server();
    let c = s.client().await;
    add_node(&c, "only", "2", json!({}), json!([])).await;
    let classes: Api<PriorityClass> = Api::all(c.clone());
    for (name, value) in [("low", 10), ("high", 1000)] {
        let pc: PriorityClass = serde_json::from_value(json!({
            "apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass", "metadata": {"name": name}, "value": value}))
        .unwrap();
        classes.create(&PostParams::default(), &pc).await.unwrap();
    }
    let pods: Api<Pod> = Api::namespaced(c.clone(), "default");
    create(
        &pods,
        pod("victim", "2", json!({"spec": {"priorityClassName": "low", "terminationGracePeriodSeconds": 45}})),
    )
    .await;
    assert_eq!(pods.get("victim").await.unwrap().spec.unwrap().priority, Some(10), "priority admission");
    assert_eq!(node_of(&pods, "victim").await, "only");

    create(&pods, pod("preemptor", "2", json!({"spec": {"priorityClassName": "high"}}))).await;
    // The victim is deleted gracefully (no agent here finishes the deletion) …
    let terminating = |p: Option<&Pod>| p.is_some_and(|p| p.metadata.deletion_timestamp.is_some());
    tokio::time::timeout(Duration::from_secs(20), await_condition(pods.clone(), "victim", terminating))
        .await
        .expect("the victim is evicted")
        .unwrap();
    let victim = pods.get("victim").await.unwrap();
    assert_eq!(victim.metadata.deletion_grace_period_seconds, Some(45));
    let disruption = victim.status.unwrap().conditions.unwrap().into_iter().find(|c| c.type_ == "DisruptionTarget");
    assert_eq!(disruption.and_then(|c| c.reason).as_deref(), Some("PreemptionByScheduler"));
    // … the preemptor waits, nominated to the node …
    let nominated = |p: Option<&Pod>| {
        p.and_then(|p| p.status.as_ref()?.nominated_node_name.as_deref()).is_some_and(|n| n == "only")
    };
    tokio::time::timeout(Duration::from_secs(20), await_condition(pods.clone(), "preemptor", nominated))
        .await
        .expect("the preemptor is nominated")
        .unwrap();
    // … and lands once the victim is gone (here we play the kubelet confirming the kill).
    pods.delete("victim", &DeleteParams { grace_period_seconds: Some(0), ..Default::default() }).await.unwrap();
    assert_eq!(node_of(&pods, "preemptor").await, "only");

    // An unknown class is refused at admission.
    let e = pods.create(&PostParams::default(), &pod("x", "1m", json!({"spec": {"priorityClassName": "nope"}}))).await;
    match e {
        Err(kube::Error::Api(s)) => {
            assert_eq!((s.code, s.reason.as_str()), (403, "Forbidden"));
            assert!(s.message.ends_with("no PriorityClass with name nope was found"), "{}", s.message);
        }
        other => panic!("expected Forbidden, got {other:?}"),
    }
}

#[tokio::test]
async fn an_unschedulable_pod_is_scheduled_when_a_node_is_added() {
    let s = server();
    let c = s.client().await;
    let pods: Api<Pod> = Api::namespaced(c.clone(), "default");
    create(&pods, pod("waiting", "3", json!({}))).await;
    assert_eq!(unschedulable_message(&pods, "waiting").await, "no nodes available to schedule pods");
    add_node(&c, "small", "1", json!({}), json!([])).await;
    add_node(&c, "large", "4", json!({}), json!([])).await;
    assert_eq!(node_of(&pods, "waiting").await, "large");

    // Pods for another scheduler are left alone.
    create(&pods, pod("other", "1m", json!({"spec": {"schedulerName": "someone-else"}}))).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(pods.get("other").await.unwrap().spec.unwrap().node_name.is_none());

    // Many pods at once all land, none twice, within capacity.
    for i in 0..40 {
        create(&pods, pod(&format!("many-{i}"), "10m", json!({}))).await;
    }
    let lp = ListParams::default().labels("app=web");
    for _ in 0..200 {
        let list = pods.list(&lp).await.unwrap();
        if list
            .items
            .iter()
            .filter(|p| p.metadata.name.as_deref().unwrap().starts_with("many-"))
            .all(|p| p.spec.as_ref().unwrap().node_name.is_some())
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("not all pods were scheduled");
}

#[tokio::test]
async fn disable_scheduler_leaves_pods_pending() {
    let s = Server::start_with(std::path::Path::new(env!("CARGO_BIN_EXE_skiff")), &["--disable-scheduler"]);
    let c = s.client().await;
    add_node(&c, "n", "4", json!({}), json!([])).await;
    let pods: Api<Pod> = Api::namespaced(c, "default");
    create(&pods, pod("p", "1m", json!({}))).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(pods.get("p").await.unwrap().spec.unwrap().node_name.is_none());
}
