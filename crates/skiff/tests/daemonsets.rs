//! The DaemonSet controller against a live server with hollow nodes and the scheduler: one pod
//! per eligible node (new nodes get one, tainted ones none), pods pinned by node affinity and
//! carrying the daemon tolerations, a rolling update, `kubectl rollout status`.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use k8s_openapi::api::apps::v1::{ControllerRevision, DaemonSet};
use k8s_openapi::api::core::v1::{Event, Node, Pod};
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use serde_json::json;
use skiff_e2e::{Kubectl, Server, Sim, eventually};

const BIN: &str = env!("CARGO_BIN_EXE_skiff");
const WAIT: Duration = Duration::from_secs(30);
const HASH: &str = "controller-revision-hash";

fn daemonset(name: &str) -> DaemonSet {
    serde_json::from_value(json!({
        "metadata": {"name": name},
        "spec": {
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "c", "image": "agent:1"}]},
            },
        },
    }))
    .unwrap()
}

fn ready(p: &Pod) -> bool {
    let conds = p.status.as_ref().and_then(|s| s.conditions.as_ref());
    conds.is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

fn node_of(p: &Pod) -> &str {
    p.spec.as_ref().and_then(|s| s.node_name.as_deref()).unwrap_or_default()
}

fn label<'a>(p: &'a Pod, key: &str) -> &'a str {
    p.metadata.labels.as_ref().and_then(|l| l.get(key)).map(String::as_str).unwrap_or_default()
}

async fn live_pods(api: &Api<Pod>) -> Vec<Pod> {
    let mut list = api.list(&ListParams::default().labels("app=agent")).await.unwrap().items;
    list.retain(|p| p.metadata.deletion_timestamp.is_none());
    list
}

/// The nodes running a ready daemon pod, if every pod is ready, scheduled and alone on its node.
fn one_ready_pod_per_node(pods: &[Pod]) -> Option<BTreeSet<String>> {
    let nodes: BTreeSet<String> = pods.iter().map(|p| node_of(p).to_string()).collect();
    (nodes.len() == pods.len() && pods.iter().all(|p| ready(p) && !node_of(p).is_empty())).then_some(nodes)
}

fn set_of(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|s| s.to_string()).collect()
}

#[tokio::test]
async fn one_pod_per_eligible_node_and_a_rolling_update() {
    let server = Server::start(Path::new(BIN));
    let _sim = Sim::start(&server, 3);
    let client = server.client().await;
    let sets: Api<DaemonSet> = Api::namespaced(client.clone(), "default");
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let nodes: Api<Node> = Api::all(client.clone());
    let log = || server.log();

    // hollow-2 is tainted before the DaemonSet exists: it gets no pod.
    eventually("3 nodes", WAIT, log, || async {
        (nodes.list(&ListParams::default()).await.ok()?.items.len() == 3).then_some(())
    })
    .await;
    let taint = json!({"spec": {"taints": [{"key": "dedicated", "value": "db", "effect": "NoSchedule"}]}});
    nodes.patch("hollow-2", &PatchParams::default(), &Patch::Merge(taint)).await.unwrap();

    sets.create(&PostParams::default(), &daemonset("agent")).await.unwrap();
    let placed = eventually("a pod on each untainted node", WAIT, log, || async {
        let list = live_pods(&pods).await;
        one_ready_pod_per_node(&list).filter(|n| *n == set_of(&["hollow-0", "hollow-1"]))?;
        Some(list)
    })
    .await;
    let pod = &placed[0];
    let spec = pod.spec.as_ref().unwrap();
    let terms = &spec.affinity.as_ref().unwrap().node_affinity.as_ref().unwrap();
    let term = &terms.required_during_scheduling_ignored_during_execution.as_ref().unwrap().node_selector_terms[0];
    let field = &term.match_fields.as_ref().unwrap()[0];
    assert_eq!((field.key.as_str(), field.values.as_ref().unwrap()[0].as_str()), ("metadata.name", node_of(pod)));
    let tolerations: Vec<_> = spec.tolerations.iter().flatten().filter_map(|t| t.key.clone()).collect();
    assert!(tolerations.contains(&"node.kubernetes.io/not-ready".to_string()), "{tolerations:?}");
    assert!(tolerations.contains(&"node.kubernetes.io/unschedulable".to_string()), "{tolerations:?}");
    assert_eq!(label(pod, "pod-template-generation"), "1");
    let first_hash = label(pod, HASH).to_string();
    let revisions: Api<ControllerRevision> = Api::namespaced(client.clone(), "default");
    let rev = revisions.get(&format!("agent-{first_hash}")).await.unwrap();
    assert_eq!(rev.revision, 1);

    let st = eventually("the status", WAIT, log, || async {
        let st = sets.get("agent").await.ok()?.status?;
        (st.number_ready == 2 && st.number_available == Some(2)).then_some(st)
    })
    .await;
    assert_eq!((st.desired_number_scheduled, st.current_number_scheduled, st.number_misscheduled), (2, 2, 0));
    assert_eq!((st.updated_number_scheduled, st.number_unavailable), (Some(2), Some(0)));
    let kubectl = Kubectl::required(&["1.32"]).into_iter().next();
    if let Some(k) = &kubectl {
        let out = server.kubectl(k).run(&["rollout", "status", "ds/agent", "--timeout=30s"]).ok();
        assert!(out.stdout.contains("daemon set \"agent\" successfully rolled out"), "{}", out.stdout);
    }
    let events: Api<Event> = Api::namespaced(client.clone(), "default");
    let msgs: Vec<String> =
        events.list(&ListParams::default()).await.unwrap().items.into_iter().filter_map(|e| e.message).collect();
    let created = format!("Created pod: {}", pod.metadata.name.as_deref().unwrap());
    assert!(msgs.contains(&created), "{msgs:?}");

    // A new node gets a pod.
    let _more = Sim::start_with(&server, 1, &["--node-prefix", "extra-"]);
    eventually("a pod on the new node", WAIT, log, || async {
        one_ready_pod_per_node(&live_pods(&pods).await).filter(|n| *n == set_of(&["extra-0", "hollow-0", "hollow-1"]))
    })
    .await;

    // A new image rolls out node by node.
    let patch = json!({"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "agent:2"}]}}}});
    sets.patch("agent", &PatchParams::default(), &Patch::Strategic(patch)).await.unwrap();
    if let Some(k) = &kubectl {
        let out = server.kubectl(k).run(&["rollout", "status", "ds/agent", "--timeout=40s"]).ok();
        assert!(out.stdout.contains("successfully rolled out"), "{}", out.stdout);
    }
    let updated = eventually("every pod at the new revision", WAIT, log, || async {
        let list = live_pods(&pods).await;
        let nodes = one_ready_pod_per_node(&list)?;
        let all_new = list.iter().all(|p| label(p, HASH) != first_hash && label(p, "pod-template-generation") == "2");
        (all_new && nodes.len() == 3).then_some(list)
    })
    .await;
    let image = updated[0].spec.as_ref().unwrap().containers[0].image.clone();
    assert_eq!(image.as_deref(), Some("agent:2"));
    let new_rev = revisions.get(&format!("agent-{}", label(&updated[0], HASH))).await.unwrap();
    assert_eq!(new_rev.revision, 2);
}
