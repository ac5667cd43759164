//! The Deployment controller against a live server with hollow nodes and the scheduler,
//! driven the way users drive it: `kubectl apply`, `rollout status`, `set image`,
//! `rollout history`/`undo`/`pause`/`resume`/`restart`, `scale`.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::time::Duration;

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::{Event, Pod};
use kube::api::{Api, DeleteParams, ListParams, PostParams};
use serde_json::json;
use skiff_e2e::{Kubectl, Server, Sim, eventually};

const BIN: &str = env!("CARGO_BIN_EXE_skiff");
const WAIT: Duration = Duration::from_secs(30);
const REVISION: &str = "deployment.kubernetes.io/revision";
const HASH: &str = "pod-template-hash";

fn kubectl() -> Option<Kubectl> {
    Kubectl::required(&["1.32"]).into_iter().next()
}

fn deployment(name: &str, replicas: i32, extra_spec: serde_json::Value) -> Deployment {
    let mut v = json!({
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "c", "image": "busybox:1"}]},
            },
        },
    });
    if let (Some(spec), Some(extra)) = (v["spec"].as_object_mut(), extra_spec.as_object()) {
        spec.extend(extra.clone());
    }
    serde_json::from_value(v).unwrap()
}

fn annotation<'a>(meta: &'a kube::api::ObjectMeta, key: &str) -> Option<&'a str> {
    meta.annotations.as_ref()?.get(key).map(String::as_str)
}

fn label<'a>(meta: &'a kube::api::ObjectMeta, key: &str) -> Option<&'a str> {
    meta.labels.as_ref()?.get(key).map(String::as_str)
}

fn image(p: &Pod) -> &str {
    p.spec.as_ref().and_then(|s| s.containers.first()).and_then(|c| c.image.as_deref()).unwrap_or_default()
}

async fn sets_of(api: &Api<ReplicaSet>, app: &str) -> Vec<ReplicaSet> {
    let mut items = api.list(&ListParams::default().labels(&format!("app={app}"))).await.unwrap().items;
    items.sort_by_key(|rs| rs.metadata.creation_timestamp.clone().map(|t| t.0));
    items
}

async fn live_pods(api: &Api<Pod>, app: &str) -> Vec<Pod> {
    let list = api.list(&ListParams::default().labels(&format!("app={app}"))).await.unwrap().items;
    list.into_iter().filter(|p| p.metadata.deletion_timestamp.is_none()).collect()
}

fn replicas(rs: &ReplicaSet) -> i32 {
    rs.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1)
}

/// Lowest readyReplicas seen while it runs, polling the Deployment's status.
struct ReadyFloor {
    stop: Arc<AtomicBool>,
    floor: Arc<AtomicI32>,
    task: tokio::task::JoinHandle<()>,
}

impl ReadyFloor {
    fn start(api: Api<Deployment>, name: &'static str) -> ReadyFloor {
        let stop = Arc::new(AtomicBool::new(false));
        let floor = Arc::new(AtomicI32::new(i32::MAX));
        let (s, f) = (stop.clone(), floor.clone());
        let task = tokio::spawn(async move {
            while !s.load(Ordering::SeqCst) {
                if let Ok(d) = api.get(name).await {
                    let ready = d.status.and_then(|s| s.ready_replicas).unwrap_or(0);
                    f.fetch_min(ready, Ordering::SeqCst);
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        });
        ReadyFloor { stop, floor, task }
    }

    /// The lowest value seen; fails if the status was never read.
    async fn finish(self) -> i32 {
        self.stop.store(true, Ordering::SeqCst);
        self.task.await.unwrap();
        let floor = self.floor.load(Ordering::SeqCst);
        assert_ne!(floor, i32::MAX, "the status was never read");
        floor
    }
}

// Multi-threaded: kubectl runs block a thread, and the status sampler must go on meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_seed_web_app_rolls_out_updates_and_rolls_back() {
    let Some(k) = kubectl() else { return };
    let server = Server::start(Path::new(BIN));
    let sim = Sim::start(&server, 3);
    let client = server.client().await;
    let kc = server.kubectl(&k);
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "default");
    let sets: Api<ReplicaSet> = Api::namespaced(client.clone(), "default");
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let log = || format!("server log:\n{}\nsim log:\n{}", server.log(), sim.log());

    kc.run_stdin(&["apply", "-f", "-"], skiff_e2e::SEED_WEB_APP).ok();
    let out = kc.run(&["rollout", "status", "deployment/web-app", "--timeout=60s"]).ok();
    assert!(out.stdout.contains("deployment \"web-app\" successfully rolled out"), "{}", out.stdout);

    // One ReplicaSet named, selected and labelled by the template hash; pods carry it too.
    let first = sets_of(&sets, "web-app").await;
    assert_eq!(first.len(), 1);
    let rs1 = &first[0];
    let hash1 = label(&rs1.metadata, HASH).unwrap().to_string();
    assert_eq!(rs1.metadata.name.as_deref(), Some(format!("web-app-{hash1}").as_str()));
    let spec = rs1.spec.as_ref().unwrap();
    assert_eq!(spec.selector.match_labels.as_ref().unwrap()[HASH], hash1);
    assert_eq!(annotation(&rs1.metadata, REVISION), Some("1"));
    assert_eq!(annotation(&rs1.metadata, "deployment.kubernetes.io/desired-replicas"), Some("3"));
    assert_eq!(annotation(&rs1.metadata, "deployment.kubernetes.io/max-replicas"), Some("4"));
    let owner = &rs1.metadata.owner_references.as_ref().unwrap()[0];
    assert_eq!((owner.kind.as_str(), owner.name.as_str(), owner.controller), ("Deployment", "web-app", Some(true)));
    let running = live_pods(&pods, "web-app").await;
    assert_eq!(running.len(), 3);
    assert!(running.iter().all(|p| label(&p.metadata, HASH) == Some(hash1.as_str())));

    let d = deployments.get("web-app").await.unwrap();
    assert_eq!(annotation(&d.metadata, REVISION), Some("1"));
    let st = d.status.clone().unwrap();
    assert_eq!(st.observed_generation, d.metadata.generation);
    assert_eq!(
        (st.replicas, st.updated_replicas, st.ready_replicas, st.available_replicas),
        (Some(3), Some(3), Some(3), Some(3))
    );
    let conds = st.conditions.unwrap();
    let cond = |t: &str| conds.iter().find(|c| c.type_ == t).unwrap();
    assert_eq!(
        (cond("Available").status.as_str(), cond("Available").reason.as_deref()),
        ("True", Some("MinimumReplicasAvailable"))
    );
    assert_eq!(cond("Progressing").reason.as_deref(), Some("NewReplicaSetAvailable"));
    assert_eq!(
        cond("Progressing").message.as_deref(),
        Some(format!("ReplicaSet \"web-app-{hash1}\" has successfully progressed.").as_str())
    );

    // A new image rolls the pods one at a time without losing a ready replica.
    let floor = ReadyFloor::start(deployments.clone(), "web-app");
    kc.run(&["set", "image", "deployment/web-app", "web-app=nginx:1.25"]).ok();
    kc.run(&["rollout", "status", "deployment/web-app", "--timeout=60s"]).ok();
    let lowest = floor.finish().await;
    assert!(lowest >= 3, "readyReplicas fell to {lowest} during the rolling update");
    let second = sets_of(&sets, "web-app").await;
    assert_eq!(second.len(), 2);
    let rs2 = second.iter().find(|rs| label(&rs.metadata, HASH) != Some(hash1.as_str())).unwrap();
    let hash2 = label(&rs2.metadata, HASH).unwrap().to_string();
    assert_eq!(annotation(&rs2.metadata, REVISION), Some("2"));
    assert_eq!(replicas(rs2), 3);
    assert_eq!(replicas(second.iter().find(|rs| label(&rs.metadata, HASH) == Some(hash1.as_str())).unwrap()), 0);
    let running = live_pods(&pods, "web-app").await;
    assert!(running.len() == 3 && running.iter().all(|p| image(p) == "nginx:1.25"), "{running:?}");

    // The change cause is copied onto the new set, where rollout history reads it.
    kc.run(&["annotate", "deployment/web-app", "kubernetes.io/change-cause=update to 1.25"]).ok();
    let history = eventually("rollout history with the change cause", WAIT, log, || async {
        let out = kc.run(&["rollout", "history", "deployment/web-app"]).ok();
        out.stdout.contains("update to 1.25").then_some(out.stdout)
    })
    .await;
    assert!(history.contains("REVISION") && history.contains("CHANGE-CAUSE"), "{history}");
    let revisions: Vec<&str> = history.lines().filter_map(|l| l.split_whitespace().next()).collect();
    assert!(revisions.contains(&"1") && revisions.contains(&"2"), "{history}");
    let one = kc.run(&["rollout", "history", "deployment/web-app", "--revision=1"]).ok();
    assert!(one.stdout.contains("nginx:1.24"), "{}", one.stdout);

    // Undo goes back to the first template: its set is scaled up again with revision 3.
    let floor = ReadyFloor::start(deployments.clone(), "web-app");
    let undo = kc.run(&["rollout", "undo", "deployment/web-app"]).ok();
    assert!(undo.stdout.contains("rolled back"), "{}", undo.stdout);
    kc.run(&["rollout", "status", "deployment/web-app", "--timeout=60s"]).ok();
    assert!(floor.finish().await >= 3);
    let d = deployments.get("web-app").await.unwrap();
    let tmpl_image = d.spec.as_ref().unwrap().template.spec.as_ref().unwrap().containers[0].image.clone();
    assert_eq!(tmpl_image.as_deref(), Some("nginx:1.24"));
    assert_eq!(annotation(&d.metadata, REVISION), Some("3"));
    let third = sets_of(&sets, "web-app").await;
    assert_eq!(third.len(), 2, "the old set is reused");
    let back = third.iter().find(|rs| label(&rs.metadata, HASH) == Some(hash1.as_str())).unwrap();
    assert_eq!((replicas(back), annotation(&back.metadata, REVISION)), (3, Some("3")));
    assert_eq!(annotation(&back.metadata, "deployment.kubernetes.io/revision-history"), Some("1"));
    let running = live_pods(&pods, "web-app").await;
    assert!(running.len() == 3 && running.iter().all(|p| label(&p.metadata, HASH) == Some(hash1.as_str())));
    assert!(running.iter().all(|p| image(p) == "nginx:1.24"));
    let history = kc.run(&["rollout", "history", "deployment/web-app"]).ok().stdout;
    let revisions: Vec<&str> = history.lines().skip(2).filter_map(|l| l.split_whitespace().next()).collect();
    assert_eq!(revisions, ["2", "3"], "{history}");

    // A deleted pod is replaced (by the ReplicaSet) and the Deployment stays available.
    let victim = running[0].metadata.name.clone().unwrap();
    pods.delete(&victim, &DeleteParams::default()).await.unwrap();
    eventually("the deleted pod replaced", WAIT, log, || async {
        let running = live_pods(&pods, "web-app").await;
        let st = deployments.get("web-app").await.ok()?.status?;
        (running.len() == 3
            && running.iter().all(|p| p.metadata.name.as_deref() != Some(victim.as_str()))
            && st.available_replicas == Some(3))
        .then_some(())
    })
    .await;

    // Events as `kubectl describe deployment` shows them.
    let events: Api<Event> = Api::namespaced(client.clone(), "default");
    let messages = eventually("ScalingReplicaSet events", WAIT, log, || async {
        let list = events.list(&ListParams::default()).await.ok()?;
        let msgs: Vec<String> = list
            .items
            .iter()
            .filter(|e| e.reason.as_deref() == Some("ScalingReplicaSet"))
            .filter(|e| e.reporting_component.as_deref() == Some("deployment-controller"))
            .filter_map(|e| e.message.clone())
            .collect();
        (msgs.len() >= 4).then_some(msgs)
    })
    .await;
    assert!(messages.contains(&format!("Scaled up replica set web-app-{hash1} from 0 to 3")), "{messages:?}");
    assert!(messages.contains(&format!("Scaled up replica set web-app-{hash2} from 0 to 1")), "{messages:?}");
    assert!(
        messages.iter().any(|m| m.starts_with(&format!("Scaled down replica set web-app-{hash1} from 3 to"))),
        "{messages:?}"
    );
}

#[tokio::test]
async fn scaling_pausing_resuming_and_restarting() {
    let Some(k) = kubectl() else { return };
    let server = Server::start(Path::new(BIN));
    let sim = Sim::start(&server, 3);
    let client = server.client().await;
    let kc = server.kubectl(&k);
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "default");
    let sets: Api<ReplicaSet> = Api::namespaced(client.clone(), "default");
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let log = || format!("server log:\n{}\nsim log:\n{}", server.log(), sim.log());
    let available = |n: i32| {
        let (deployments, pods) = (deployments.clone(), pods.clone());
        async move {
            let st = deployments.get("api").await.ok()?.status?;
            let ok = st.available_replicas.unwrap_or(0) == n && st.replicas.unwrap_or(0) == n;
            (ok && live_pods(&pods, "api").await.len() == n as usize).then_some(())
        }
    };

    deployments.create(&PostParams::default(), &deployment("api", 3, json!({}))).await.unwrap();
    eventually("3 available", WAIT, log, || available(3)).await;
    kc.run(&["scale", "deployment/api", "--replicas=10"]).ok();
    eventually("10 available", WAIT, log, || available(10)).await;
    kc.run(&["scale", "deployment/api", "--replicas=0"]).ok();
    eventually("none left", WAIT, log, || available(0)).await;
    kc.run(&["scale", "deployment/api", "--replicas=2"]).ok();
    eventually("2 available", WAIT, log, || available(2)).await;
    assert_eq!(sets_of(&sets, "api").await.len(), 1, "scaling is no rollout");

    // Paused: a template change makes no new set, but scaling still applies.
    kc.run(&["rollout", "pause", "deployment/api"]).ok();
    kc.run(&["set", "image", "deployment/api", "c=busybox:2"]).ok();
    kc.run(&["scale", "deployment/api", "--replicas=4"]).ok();
    eventually("paused and scaled to 4", WAIT, log, || async {
        let d = deployments.get("api").await.ok()?;
        let st = d.status.clone()?;
        let progressing = st.conditions.iter().flatten().find(|c| c.type_ == "Progressing")?;
        let paused = progressing.reason.as_deref() == Some("DeploymentPaused") && progressing.status == "Unknown";
        (paused && st.observed_generation == d.metadata.generation).then_some(())?;
        available(4).await
    })
    .await;
    let paused_sets = sets_of(&sets, "api").await;
    assert_eq!(paused_sets.len(), 1, "no rollout while paused");
    assert!(live_pods(&pods, "api").await.iter().all(|p| image(p) == "busybox:1"));

    // Resumed: the rollout happens.
    kc.run(&["rollout", "resume", "deployment/api"]).ok();
    let out = kc.run(&["rollout", "status", "deployment/api", "--timeout=60s"]).ok();
    assert!(out.stdout.contains("successfully rolled out"), "{}", out.stdout);
    let running = live_pods(&pods, "api").await;
    assert!(running.len() == 4 && running.iter().all(|p| image(p) == "busybox:2"), "{running:?}");
    assert_eq!(sets_of(&sets, "api").await.len(), 2);

    // Restart: same image, a new template (the restartedAt annotation), new pods.
    let before: Vec<String> = running.iter().filter_map(|p| p.metadata.name.clone()).collect();
    kc.run(&["rollout", "restart", "deployment/api"]).ok();
    kc.run(&["rollout", "status", "deployment/api", "--timeout=60s"]).ok();
    let after = live_pods(&pods, "api").await;
    assert_eq!(after.len(), 4);
    assert!(after.iter().all(|p| !before.contains(p.metadata.name.as_ref().unwrap())));
    assert!(after.iter().all(|p| annotation(&p.metadata, "kubectl.kubernetes.io/restartedAt").is_some()));
    let d = deployments.get("api").await.unwrap();
    assert_eq!(annotation(&d.metadata, REVISION), Some("3"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recreate_stops_old_pods_before_starting_new_ones() {
    let Some(k) = kubectl() else { return };
    let server = Server::start(Path::new(BIN));
    let sim = Sim::start(&server, 3);
    let client = server.client().await;
    let kc = server.kubectl(&k);
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "default");
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let log = || format!("server log:\n{}\nsim log:\n{}", server.log(), sim.log());

    let d = deployment("batch", 3, json!({"strategy": {"type": "Recreate"}}));
    deployments.create(&PostParams::default(), &d).await.unwrap();
    kc.run(&["rollout", "status", "deployment/batch", "--timeout=60s"]).ok();

    // Watch the pods while it rolls: never old and new ones at once.
    let stop = Arc::new(AtomicBool::new(false));
    let mixed = Arc::new(AtomicBool::new(false));
    let samples = Arc::new(AtomicI32::new(0));
    let watcher = {
        let (stop, mixed, samples, pods) = (stop.clone(), mixed.clone(), samples.clone(), pods.clone());
        tokio::spawn(async move {
            while !stop.load(Ordering::SeqCst) {
                if let Ok(list) = pods.list(&ListParams::default().labels("app=batch")).await {
                    samples.fetch_add(1, Ordering::SeqCst);
                    let images: std::collections::BTreeSet<&str> = list.items.iter().map(image).collect();
                    if images.len() > 1 {
                        mixed.store(true, Ordering::SeqCst);
                    }
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
    };
    kc.run(&["set", "image", "deployment/batch", "c=busybox:2"]).ok();
    let out = kc.run(&["rollout", "status", "deployment/batch", "--timeout=60s"]).ok();
    stop.store(true, Ordering::SeqCst);
    watcher.await.unwrap();
    assert!(out.stdout.contains("successfully rolled out"), "{}", out.stdout);
    assert!(samples.load(Ordering::SeqCst) > 0, "the pods were never listed");
    assert!(!mixed.load(Ordering::SeqCst), "old and new pods ran side by side");
    eventually("3 new pods", WAIT, log, || async {
        let running = live_pods(&pods, "batch").await;
        (running.len() == 3 && running.iter().all(|p| image(p) == "busybox:2")).then_some(())
    })
    .await;
}

#[tokio::test]
async fn a_rollout_that_cannot_progress_exceeds_its_deadline() {
    let Some(k) = kubectl() else { return };
    let server = Server::start(Path::new(BIN));
    let sim = Sim::start(&server, 2);
    let client = server.client().await;
    let kc = server.kubectl(&k);
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "default");
    let log = || format!("server log:\n{}\nsim log:\n{}", server.log(), sim.log());

    let mut d = deployment("stuck", 2, json!({"progressDeadlineSeconds": 5}));
    let tmpl = d.spec.as_mut().unwrap().template.spec.as_mut().unwrap();
    tmpl.node_selector = Some([("disk".to_string(), "nowhere".to_string())].into());
    deployments.create(&PostParams::default(), &d).await.unwrap();
    let out = kc.run(&["rollout", "status", "deployment/stuck", "--timeout=60s"]).fails();
    assert!(out.stderr.contains("deployment \"stuck\" exceeded its progress deadline"), "{}", out.stderr);
    let d = eventually("the deadline condition", WAIT, log, || async { deployments.get("stuck").await.ok() }).await;
    let st = d.status.unwrap();
    let p = st.conditions.iter().flatten().find(|c| c.type_ == "Progressing").unwrap();
    assert_eq!((p.status.as_str(), p.reason.as_deref()), ("False", Some("ProgressDeadlineExceeded")));
    let a = st.conditions.iter().flatten().find(|c| c.type_ == "Available").unwrap();
    assert_eq!((a.status.as_str(), a.reason.as_deref()), ("False", Some("MinimumReplicasUnavailable")));
}

#[tokio::test]
async fn orphan_replica_sets_are_adopted_and_unmatched_ones_released() {
    let server = Server::start(Path::new(BIN));
    let sim = Sim::start(&server, 2);
    let client = server.client().await;
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "default");
    let sets: Api<ReplicaSet> = Api::namespaced(client.clone(), "default");
    let log = || format!("server log:\n{}\nsim log:\n{}", server.log(), sim.log());

    let d = deployments.create(&PostParams::default(), &deployment("web", 2, json!({}))).await.unwrap();
    let uid = d.metadata.uid.clone().unwrap();
    let owned = |rs: &ReplicaSet| {
        rs.metadata.owner_references.iter().flatten().any(|r| r.uid == uid && r.controller == Some(true))
    };
    let mine = eventually("the deployment's set", WAIT, log, || async {
        let list = sets_of(&sets, "web").await;
        (list.len() == 1 && list[0].status.as_ref().and_then(|s| s.available_replicas) == Some(2))
            .then(|| list[0].clone())
    })
    .await;

    // Released: its labels stop matching the selector.
    let name = mine.metadata.name.clone().unwrap();
    let patch = json!({"metadata": {"labels": {"app": "elsewhere"}}});
    sets.patch(&name, &kube::api::PatchParams::default(), &kube::api::Patch::Merge(patch)).await.unwrap();
    eventually("released, and a new set made", WAIT, log, || async {
        let old = sets.get(&name).await.ok()?;
        let list = sets_of(&sets, "web").await;
        (!owned(&old) && list.len() == 1 && owned(&list[0])).then_some(())
    })
    .await;

    // Adopted: matching labels again, without an owner.
    let patch = json!({"metadata": {"labels": {"app": "web"}}});
    sets.patch(&name, &kube::api::PatchParams::default(), &kube::api::Patch::Merge(patch)).await.unwrap();
    eventually("adopted again", WAIT, log, || async { owned(&sets.get(&name).await.ok()?).then_some(()) }).await;
    eventually("still 2 available", WAIT, log, || async {
        let st = deployments.get("web").await.ok()?.status?;
        (st.available_replicas == Some(2) && st.replicas == Some(2)).then_some(())
    })
    .await;
}

#[tokio::test]
async fn old_revisions_beyond_the_history_limit_are_deleted() {
    let Some(k) = kubectl() else { return };
    let server = Server::start(Path::new(BIN));
    let sim = Sim::start(&server, 2);
    let client = server.client().await;
    let kc = server.kubectl(&k);
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "default");
    let sets: Api<ReplicaSet> = Api::namespaced(client.clone(), "default");
    let log = || format!("server log:\n{}\nsim log:\n{}", server.log(), sim.log());

    let d = deployment("hist", 2, json!({"revisionHistoryLimit": 1}));
    deployments.create(&PostParams::default(), &d).await.unwrap();
    kc.run(&["rollout", "status", "deployment/hist", "--timeout=60s"]).ok();
    for tag in ["2", "3", "4"] {
        kc.run(&["set", "image", "deployment/hist", &format!("c=busybox:{tag}")]).ok();
        kc.run(&["rollout", "status", "deployment/hist", "--timeout=60s"]).ok();
    }
    let kept = eventually("one old revision kept", WAIT, log, || async {
        let list = sets_of(&sets, "hist").await;
        (list.len() == 2).then_some(list)
    })
    .await;
    let mut revisions: Vec<&str> = kept.iter().filter_map(|rs| annotation(&rs.metadata, REVISION)).collect();
    revisions.sort();
    assert_eq!(revisions, ["3", "4"]);
}
