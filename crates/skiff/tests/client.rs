//! The API machinery through a real client library: kube-rs against a live skiff server.

use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Pod, Service};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams};
use kube::core::Status;
use serde_json::json;
use skiff_e2e::Server;

fn server() -> Server {
    Server::start(std::path::Path::new(env!("CARGO_BIN_EXE_skiff")))
}

fn cm(name: &str) -> ConfigMap {
    serde_json::from_value(
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"k": "v"}}),
    )
    .unwrap()
}

/// The Status of a failed call.
fn status(e: kube::Error) -> Box<Status> {
    match e {
        kube::Error::Api(s) => s,
        other => panic!("expected an API error, got {other:?}"),
    }
}

#[tokio::test]
async fn crud_with_preconditions_and_errors() {
    let s = server();
    let cms: Api<ConfigMap> = Api::namespaced(s.client().await, "default");
    let pp = PostParams::default();

    let created = cms.create(&pp, &cm("one")).await.unwrap();
    let meta = &created.metadata;
    assert!(meta.uid.is_some() && meta.creation_timestamp.is_some() && meta.resource_version.is_some());
    assert_eq!(cms.get("one").await.unwrap().data, created.data);

    let e = status(cms.create(&pp, &cm("one")).await.unwrap_err());
    assert_eq!((e.code, e.reason.as_str()), (409, "AlreadyExists"));
    assert_eq!(e.message, r#"configmaps "one" already exists"#);

    // Compare-and-swap: an update with a stale resourceVersion is a Conflict.
    let mut first = created.clone();
    first.data = Some([("k".to_string(), "v2".to_string())].into());
    let updated = cms.replace("one", &pp, &first).await.unwrap();
    assert_ne!(updated.metadata.resource_version, created.metadata.resource_version);
    let e = status(cms.replace("one", &pp, &first).await.unwrap_err());
    assert_eq!((e.code, e.reason.as_str()), (409, "Conflict"));

    // Invalid objects are 422 with field causes.
    let e = status(cms.create(&pp, &cm("Bad_Name")).await.unwrap_err());
    assert_eq!((e.code, e.reason.as_str()), (422, "Invalid"));
    let causes = e.details.unwrap().causes;
    assert_eq!(causes[0].field, "metadata.name");
    assert_eq!(causes[0].reason, "FieldValueInvalid");

    // A namespace that does not exist is NotFound.
    let nowhere: Api<ConfigMap> = Api::namespaced(s.client().await, "nowhere");
    let e = status(nowhere.create(&pp, &cm("x")).await.unwrap_err());
    assert_eq!((e.code, e.message.as_str()), (404, r#"namespaces "nowhere" not found"#));

    // dryRun does everything but store.
    let dry = cms.create(&PostParams { dry_run: true, ..Default::default() }, &cm("dry")).await.unwrap();
    assert_eq!(dry.metadata.name.as_deref(), Some("dry"));
    assert!(status(cms.get("dry").await.unwrap_err()).is_not_found());

    // generateName.
    let mut g = cm("");
    g.metadata.name = None;
    g.metadata.generate_name = Some("gen-".into());
    let generated = cms.create(&pp, &g).await.unwrap();
    assert!(generated.metadata.name.unwrap().starts_with("gen-"));

    cms.delete("one", &DeleteParams::default()).await.unwrap();
    assert!(status(cms.get("one").await.unwrap_err()).is_not_found());

    // Bodies over 3 MiB are refused.
    let mut big = cm("big");
    big.data = Some([("k".to_string(), "x".repeat(4 * 1024 * 1024))].into());
    let e = status(cms.create(&pp, &big).await.unwrap_err());
    assert_eq!((e.code, e.reason.as_str()), (413, "RequestEntityTooLarge"));
}

#[tokio::test]
async fn patches_of_every_kind() {
    // API machinery only: with controllers the Deployment's status would change under the
    // get-then-replace steps below.
    let s = Server::start_with(std::path::Path::new(env!("CARGO_BIN_EXE_skiff")), &["--disable-controllers"]);
    let deploys: Api<Deployment> = Api::namespaced(s.client().await, "default");
    let d: Deployment = serde_json::from_value(json!({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
        "spec": {"selector": {"matchLabels": {"app": "web"}}, "template": {"metadata": {"labels": {"app": "web"}},
            "spec": {"containers": [{"name": "a", "image": "nginx:1", "env": [{"name": "X", "value": "1"}]}, {"name": "b", "image": "busybox"}]}}}
    }))
    .unwrap();
    let created = deploys.create(&PostParams::default(), &d).await.unwrap();
    assert_eq!(created.spec.as_ref().unwrap().replicas, Some(1), "defaulted");
    assert_eq!(created.metadata.generation, Some(1));
    let pp = PatchParams::default();

    // Strategic merge: merges the container list by name.
    let p = json!({"spec": {"template": {"spec": {"containers": [{"name": "b", "image": "busybox:2"}]}}}});
    let out = deploys.patch("web", &pp, &Patch::Strategic(p)).await.unwrap();
    let containers = out.spec.unwrap().template.spec.unwrap().containers;
    assert_eq!(containers.len(), 2);
    assert_eq!(containers[1].image.as_deref(), Some("busybox:2"));
    assert_eq!(out.metadata.generation, Some(2), "spec change bumps generation");

    // Merge patch.
    let out = deploys.patch("web", &pp, &Patch::Merge(json!({"metadata": {"labels": {"x": "y"}}}))).await.unwrap();
    assert_eq!(out.metadata.labels.unwrap()["x"], "y");
    assert_eq!(out.metadata.generation, Some(2), "metadata change keeps generation");

    // Server-side apply owns what it sets; another manager's change to it conflicts.
    let apply =
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}, "spec": {"replicas": 2}});
    let out = deploys.patch("web", &PatchParams::apply("team-a").force(), &Patch::Apply(&apply)).await.unwrap();
    assert_eq!(out.spec.unwrap().replicas, Some(2));
    let managers: Vec<String> = out.metadata.managed_fields.unwrap().iter().filter_map(|m| m.manager.clone()).collect();
    assert!(managers.contains(&"team-a".to_string()), "{managers:?}");
    let other =
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}, "spec": {"replicas": 7}});
    let e = status(deploys.patch("web", &PatchParams::apply("team-b"), &Patch::Apply(&other)).await.unwrap_err());
    assert_eq!((e.code, e.reason.as_str()), (409, "Conflict"));
    assert!(e.message.contains(r#"conflict with "team-a""#), "{}", e.message);

    // Scale subresource.
    let scale = deploys.get_scale("web").await.unwrap();
    assert_eq!(scale.spec.unwrap().replicas, Some(2));
    deploys.patch_scale("web", &pp, &Patch::Merge(json!({"spec": {"replicas": 6}}))).await.unwrap();
    assert_eq!(deploys.get("web").await.unwrap().spec.unwrap().replicas, Some(6));

    // Status subresource: a main update cannot change status; a status update can only.
    let mut cur = deploys.get("web").await.unwrap();
    cur.status = Some(serde_json::from_value(json!({"replicas": 5})).unwrap());
    let out = deploys.replace("web", &PostParams::default(), &cur).await.unwrap();
    assert!(out.status.as_ref().and_then(|s| s.replicas).is_none(), "main update ignored status");
    let mut cur = deploys.get("web").await.unwrap();
    cur.status = Some(serde_json::from_value(json!({"replicas": 5})).unwrap());
    let out = deploys.replace_status("web", &PostParams::default(), &cur).await.unwrap();
    assert_eq!(out.status.unwrap().replicas, Some(5));
}

#[tokio::test]
async fn watch_from_a_resource_version_and_with_selectors() {
    let s = server();
    let client = s.client().await;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let pp = PostParams::default();
    let list = cms.list(&ListParams::default()).await.unwrap();
    let rv = list.metadata.resource_version.unwrap();

    let mut labelled = cm("watched");
    labelled.metadata.labels = Some([("app".to_string(), "w".to_string())].into());
    let mut stream = cms.watch(&WatchParams::default().labels("app=w"), &rv).await.unwrap().boxed();
    cms.create(&pp, &cm("ignored")).await.unwrap();
    cms.create(&pp, &labelled).await.unwrap();
    cms.patch("watched", &PatchParams::default(), &Patch::Merge(json!({"data": {"k": "changed"}}))).await.unwrap();
    cms.delete("watched", &DeleteParams::default()).await.unwrap();

    let mut seen = Vec::new();
    while seen.len() < 3 {
        let ev = tokio::time::timeout(Duration::from_secs(5), stream.try_next())
            .await
            .expect("event in time")
            .unwrap()
            .unwrap();
        match ev {
            WatchEvent::Added(o) => seen.push(("ADDED", o.metadata.name.unwrap())),
            WatchEvent::Modified(o) => seen.push(("MODIFIED", o.metadata.name.unwrap())),
            WatchEvent::Deleted(o) => seen.push(("DELETED", o.metadata.name.unwrap())),
            WatchEvent::Bookmark(_) => {}
            WatchEvent::Error(e) => panic!("watch error {e:?}"),
        }
    }
    let w = "watched".to_string();
    assert_eq!(seen, vec![("ADDED", w.clone()), ("MODIFIED", w.clone()), ("DELETED", w)]);
}

#[tokio::test]
async fn paginated_lists_are_one_snapshot() {
    let s = server();
    let cms: Api<ConfigMap> = Api::namespaced(s.client().await, "default");
    let pp = PostParams::default();
    for i in 0..25 {
        cms.create(&pp, &cm(&format!("cm-{i:02}"))).await.unwrap();
    }
    let first = cms.list(&ListParams::default().limit(10)).await.unwrap();
    assert_eq!(first.items.len(), 10);
    let token = first.metadata.continue_.clone().expect("a continue token");
    // Changes after the first page do not show in the later pages of the same list.
    cms.create(&pp, &cm("cm-99")).await.unwrap();
    cms.delete("cm-24", &DeleteParams::default()).await.unwrap();
    let mut names: Vec<String> = first.items.iter().map(|c| c.metadata.name.clone().unwrap()).collect();
    let mut token = Some(token);
    while let Some(t) = token {
        let page = cms.list(&ListParams::default().limit(10).continue_token(&t)).await.unwrap();
        assert_eq!(page.metadata.resource_version, first.metadata.resource_version);
        names.extend(page.items.iter().map(|c| c.metadata.name.clone().unwrap()));
        token = page.metadata.continue_.filter(|t| !t.is_empty());
    }
    let expected: Vec<String> = (0..25).map(|i| format!("cm-{i:02}")).collect();
    // The root CA publisher's ConfigMap is in every namespace.
    names.retain(|n| n != "kube-root-ca.crt");
    assert_eq!(names, expected);
    // Field and label selectors.
    let one = cms.list(&ListParams::default().fields("metadata.name=cm-03")).await.unwrap();
    assert_eq!(one.items.len(), 1);
    let e = status(cms.list(&ListParams::default().fields("spec.nope=x")).await.unwrap_err());
    assert_eq!(e.code, 400);
}

#[tokio::test]
async fn finalizers_hold_deletion_and_namespaces_terminate() {
    let s = server();
    let client = s.client().await;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let mut held = cm("held");
    held.metadata.finalizers = Some(vec!["example.com/hold".into()]);
    cms.create(&PostParams::default(), &held).await.unwrap();
    cms.delete("held", &DeleteParams::default()).await.unwrap();
    let marked = cms.get("held").await.unwrap();
    assert!(marked.metadata.deletion_timestamp.is_some(), "marked, not gone");
    cms.patch("held", &PatchParams::default(), &Patch::Merge(json!({"metadata": {"finalizers": null}}))).await.unwrap();
    assert!(status(cms.get("held").await.unwrap_err()).is_not_found(), "gone with its last finalizer");

    let namespaces: Api<Namespace> = Api::all(client.clone());
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": "doomed"}})).unwrap();
    let created = namespaces.create(&PostParams::default(), &ns).await.unwrap();
    assert_eq!(created.status.unwrap().phase.as_deref(), Some("Active"));
    namespaces.delete("doomed", &DeleteParams::default()).await.unwrap();
    let terminating = namespaces.get("doomed").await.unwrap();
    assert_eq!(terminating.status.unwrap().phase.as_deref(), Some("Terminating"));
    let inside: Api<ConfigMap> = Api::namespaced(client.clone(), "doomed");
    let e = status(inside.create(&PostParams::default(), &cm("late")).await.unwrap_err());
    assert_eq!((e.code, e.reason.as_str()), (403, "Forbidden"));
    assert!(e.message.contains("because it is being terminated"), "{}", e.message);
    let e = status(namespaces.delete("default", &DeleteParams::default()).await.unwrap_err());
    assert_eq!(e.code, 403);
}

#[tokio::test]
async fn services_get_cluster_ips_that_do_not_change() {
    let s = server();
    let services: Api<Service> = Api::namespaced(s.client().await, "default");
    let svc: Service = serde_json::from_value(
        json!({"metadata": {"name": "web"}, "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]}}),
    )
    .unwrap();
    let created = services.create(&PostParams::default(), &svc).await.unwrap();
    let spec = created.spec.unwrap();
    let ip = spec.cluster_ip.unwrap();
    assert!(ip.starts_with("10.43."), "{ip}");
    assert_eq!(
        spec.ports.unwrap()[0].target_port,
        Some(k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::Int(80))
    );
    let e = status(
        services
            .patch("web", &PatchParams::default(), &Patch::Merge(json!({"spec": {"clusterIP": "10.43.9.9"}})))
            .await
            .unwrap_err(),
    );
    assert_eq!(e.code, 422);
    let kubernetes = services.get("kubernetes").await.unwrap();
    assert_eq!(kubernetes.spec.unwrap().cluster_ip.as_deref(), Some("10.43.0.1"));
}

#[tokio::test]
async fn a_restart_keeps_objects_and_certificates() {
    let mut s = server();
    let cms: Api<ConfigMap> = Api::namespaced(s.client().await, "default");
    cms.create(&PostParams::default(), &cm("kept")).await.unwrap();
    let ca_before = std::fs::read(s.data_dir().join("server/tls/server-ca.crt")).unwrap();
    s.stop();
    s.spawn();
    let client = s.client().await;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    assert_eq!(cms.get("kept").await.unwrap().data.unwrap()["k"], "v");
    assert_eq!(std::fs::read(s.data_dir().join("server/tls/server-ca.crt")).unwrap(), ca_before);

    // The restarted cache holds no events from before the restart: resuming a watch from an
    // old resourceVersion is 410 Gone (an ERROR event), and the client relists.
    let pods: Api<Pod> = Api::namespaced(client, "default");
    let mut stale = pods.watch(&WatchParams::default(), "1").await.unwrap().boxed();
    match tokio::time::timeout(Duration::from_secs(5), stale.try_next()).await.unwrap() {
        Ok(Some(WatchEvent::Error(e))) => assert_eq!(e.code, 410),
        Err(kube::Error::Api(e)) => assert_eq!(e.code, 410),
        other => panic!("expected 410 Gone, got {other:?}"),
    }
}

/// The admin kubeconfig, with its client certificate swapped for `token` (or no credentials).
async fn client_with(s: &Server, token: Option<&str>) -> kube::Client {
    let mut kubeconfig = kube::config::Kubeconfig::read_from(s.kubeconfig()).unwrap();
    for named in &mut kubeconfig.auth_infos {
        if let Some(auth) = named.auth_info.as_mut() {
            auth.client_certificate_data = None;
            auth.client_key_data = None;
            auth.token = token.map(|t| t.to_string().into());
        }
    }
    let mut config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default()).await.unwrap();
    config.default_retry = false;
    kube::Client::try_from(config).unwrap()
}

#[tokio::test]
async fn anonymous_requests_get_401_and_tokens_authenticate() {
    let dir = tempfile_dir();
    let tokens = dir.join("tokens.csv");
    std::fs::write(&tokens, "s3cr3t-token,alice,1001,\"dev\"\n").unwrap();
    let s = Server::start_with(
        std::path::Path::new(env!("CARGO_BIN_EXE_skiff")),
        &["--token-auth-file", tokens.to_str().unwrap()],
    );

    let anonymous: Api<ConfigMap> = Api::namespaced(client_with(&s, None).await, "default");
    let e = status(anonymous.list(&ListParams::default()).await.unwrap_err());
    assert_eq!((e.code, e.reason.as_str()), (401, "Unauthorized"));

    let wrong: Api<ConfigMap> = Api::namespaced(client_with(&s, Some("nope")).await, "default");
    assert_eq!(status(wrong.list(&ListParams::default()).await.unwrap_err()).code, 401);

    let alice: Api<ConfigMap> = Api::namespaced(client_with(&s, Some("s3cr3t-token")).await, "default");
    alice.create(&PostParams::default(), &cm("by-token")).await.unwrap();
    let _ = std::fs::remove_dir_all(dir);
}

fn tempfile_dir() -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("skiff-tokens-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[tokio::test]
async fn metadata_lists_and_delete_collection() {
    let s = server();
    let cms: Api<ConfigMap> = Api::namespaced(s.client().await, "default");
    for i in 0..5 {
        let mut c = cm(&format!("meta-{i}"));
        c.metadata.labels = Some([("batch".to_string(), (i % 2).to_string())].into());
        cms.create(&PostParams::default(), &c).await.unwrap();
    }
    let meta = cms.list_metadata(&ListParams::default().labels("batch=0")).await.unwrap();
    assert_eq!(meta.items.len(), 3);
    assert!(meta.items.iter().all(|m| m.metadata.uid.is_some()));

    let gone = cms.delete_collection(&DeleteParams::default(), &ListParams::default().labels("batch=0")).await.unwrap();
    assert!(gone.is_left(), "deletecollection returns the deleted list");
    let left: Vec<String> =
        cms.list(&ListParams::default()).await.unwrap().items.into_iter().filter_map(|c| c.metadata.name).collect();
    assert_eq!(left, ["kube-root-ca.crt", "meta-1", "meta-3"]);
}

#[tokio::test]
async fn pods_are_bound_and_evicted_through_subresources() {
    // The subresources alone: the scheduler would race the manual binding (it marks the
    // pod unschedulable, no nodes exist) and the disruption controller the manual budget.
    let s = Server::start_with(
        std::path::Path::new(env!("CARGO_BIN_EXE_skiff")),
        &["--disable-scheduler", "--disable-controllers"],
    );
    let client = s.client().await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let pod = |name: &str| -> Pod {
        serde_json::from_value(json!({"metadata": {"name": name, "labels": {"app": "db"}}, "spec": {"containers": [{"name": "c", "image": "busybox"}]}})).unwrap()
    };
    pods.create(&PostParams::default(), &pod("p1")).await.unwrap();
    let binding = json!({"apiVersion": "v1", "kind": "Binding", "metadata": {"name": "p1"}, "target": {"kind": "Node", "name": "node-a"}});
    let _: Status = pods.create_subresource("binding", "p1", &PostParams::default(), &binding).await.unwrap();
    let bound = pods.get("p1").await.unwrap();
    assert_eq!(bound.spec.unwrap().node_name.as_deref(), Some("node-a"));
    let conditions = bound.status.unwrap().conditions.unwrap();
    assert!(conditions.iter().any(|c| c.type_ == "PodScheduled" && c.status == "True"));
    let again: Result<Status, _> = pods.create_subresource("binding", "p1", &PostParams::default(), &binding).await;
    assert_eq!(status(again.unwrap_err()).code, 409);

    // A running pod under a budget that allows no disruption cannot be evicted (429); a
    // pending one can (nothing is running to disrupt).
    pods.patch_status("p1", &PatchParams::default(), &Patch::Merge(json!({"status": {"phase": "Running"}})))
        .await
        .unwrap();
    let pdbs: Api<k8s_openapi::api::policy::v1::PodDisruptionBudget> = Api::namespaced(client.clone(), "default");
    let pdb = serde_json::from_value(
        json!({"metadata": {"name": "db"}, "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": "db"}}}}),
    )
    .unwrap();
    pdbs.create(&PostParams::default(), &pdb).await.unwrap();
    pdbs.patch_status("db", &PatchParams::default(), &Patch::Merge(json!({"status": {"observedGeneration": 1, "disruptionsAllowed": 0, "currentHealthy": 1, "desiredHealthy": 1, "expectedPods": 1}})))
        .await
        .unwrap();
    let e = status(pods.evict("p1", &Default::default()).await.unwrap_err());
    assert_eq!((e.code, e.reason.as_str()), (429, "TooManyRequests"));
    pods.create(&PostParams::default(), &pod("p2")).await.unwrap();
    pods.evict("p2", &Default::default()).await.unwrap();
    assert!(status(pods.get("p2").await.unwrap_err()).is_not_found());
}

#[tokio::test]
async fn yaml_and_table_responses() {
    let s = server();
    let client = s.client().await;
    let get = |accept: &'static str, path: &'static str| {
        let client = client.clone();
        async move {
            let req = http::Request::get(path).header(http::header::ACCEPT, accept).body(Vec::new()).unwrap();
            client.request_text(req).await.unwrap()
        }
    };
    let yaml = get("application/yaml", "/api/v1/namespaces/default").await;
    assert!(yaml.contains("kind: Namespace") && yaml.contains("name: default"), "{yaml}");

    let table: serde_json::Value = serde_json::from_str(
        &get("application/json;as=Table;v=v1;g=meta.k8s.io", "/api/v1/namespaces?includeObject=Object").await,
    )
    .unwrap();
    assert_eq!(table["kind"], "Table");
    let columns: Vec<&str> =
        table["columnDefinitions"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(columns, ["Name", "Status", "Age"]);
    let row = table["rows"].as_array().unwrap().iter().find(|r| r["cells"][0] == "default").unwrap();
    assert_eq!(row["cells"][1], "Active");
    assert_eq!(row["object"]["kind"], "Namespace", "includeObject=Object carries the whole object");
}
