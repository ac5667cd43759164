//! PodDisruptionBudgets with the disruption controller: status kept, evictions refused when
//! they would break a budget, and `kubectl drain` waiting for replacements.

use std::path::Path;
use std::time::Duration;

use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use serde_json::json;
use skiff_e2e::{Kubectl, Server, Sim, eventually};

const BIN: &str = env!("CARGO_BIN_EXE_skiff");
const WAIT: Duration = Duration::from_secs(30);

#[tokio::test]
async fn drain_respects_a_disruption_budget() {
    let Some(kubectl) = Kubectl::required(&["1.32"]).into_iter().next() else { return };
    let server = Server::start(Path::new(BIN));
    let _sim = Sim::start_with(&server, 1, &["--node-prefix", "old-"]);
    let client = server.client().await;
    let log = || server.log();
    let sets: Api<ReplicaSet> = Api::namespaced(client.clone(), "default");
    let rs: ReplicaSet = serde_json::from_value(json!({
        "metadata": {"name": "web"},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c", "image": "nginx"}]}},
        },
    }))
    .unwrap();
    sets.create(&PostParams::default(), &rs).await.unwrap();
    let budgets: Api<PodDisruptionBudget> = Api::namespaced(client.clone(), "default");
    let pdb: PodDisruptionBudget = serde_json::from_value(json!({
        "metadata": {"name": "web"},
        "spec": {"minAvailable": 2, "selector": {"matchLabels": {"app": "web"}}},
    }))
    .unwrap();
    budgets.create(&PostParams::default(), &pdb).await.unwrap();
    let status = |allowed: i32, healthy: i32, desired: i32| {
        let budgets = budgets.clone();
        async move {
            let s = budgets.get("web").await.ok()?.status?;
            (s.disruptions_allowed == allowed && s.current_healthy == healthy && s.desired_healthy == desired)
                .then_some(s)
        }
    };
    let s = eventually("budget with 2 healthy, none allowed", WAIT, log, || status(0, 2, 2)).await;
    assert_eq!((s.expected_pods, s.observed_generation), (2, Some(1)));
    let cond = &s.conditions.unwrap()[0];
    assert_eq!(
        (cond.type_.as_str(), cond.status.as_str(), cond.reason.as_str()),
        ("DisruptionAllowed", "False", "InsufficientPods")
    );

    let _spare = Sim::start_with(&server, 1, &["--node-prefix", "spare-"]);
    let k = server.kubectl(&kubectl);
    eventually("node spare-0", WAIT, log, || async { (k.run(&["get", "node", "spare-0"]).status == 0).then_some(()) })
        .await;

    // The budget allows no eviction: drain gives up after its timeout.
    let t = std::time::Instant::now();
    let blocked = k.run(&["drain", "old-0", "--timeout=8s"]).fails();
    eprintln!("blocked drain took {:?}", t.elapsed());
    assert!(
        blocked.stderr.contains("Cannot evict pod as it would violate the pod's disruption budget"),
        "{}",
        blocked.stderr
    );

    // With one allowed, drain evicts one pod, waits for its replacement, then the other.
    budgets.patch("web", &PatchParams::default(), &Patch::Merge(json!({"spec": {"minAvailable": 1}}))).await.unwrap();
    eventually("budget allowing one", WAIT, log, || status(1, 2, 1)).await;
    let t = std::time::Instant::now();
    let drained = k.run(&["drain", "old-0", "--timeout=60s"]).ok();
    eprintln!("drain took {:?}: {}", t.elapsed(), drained.stderr);
    assert!(drained.stdout.contains("node/old-0 drained"), "{}", drained.stdout);
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    eventually("both pods on spare-0", WAIT, log, || async {
        let list = pods.list(&ListParams::default().labels("app=web")).await.ok()?;
        let live: Vec<_> = list.items.iter().filter(|p| p.metadata.deletion_timestamp.is_none()).collect();
        (live.len() == 2 && live.iter().all(|p| p.spec.as_ref().unwrap().node_name.as_deref() == Some("spare-0")))
            .then_some(())
    })
    .await;
}
