//! Namespace deletion with the namespace controller: every kind of content removed (pods on
//! hollow nodes included), the namespace kept Terminating with upstream's conditions while
//! a finalizer holds some content, and gone once it is released; `kubectl delete namespace`
//! waits for that.

use std::path::Path;
use std::time::Duration;

use k8s_openapi::api::core::v1::{ConfigMap, Namespace, NamespaceCondition, Pod, Secret};
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use serde_json::json;
use skiff_e2e::{Kubectl, Server, Sim, eventually};

const BIN: &str = env!("CARGO_BIN_EXE_skiff");
const WAIT: Duration = Duration::from_secs(40);

async fn create_namespace(client: &kube::Client, name: &str) {
    let api: Api<Namespace> = Api::all(client.clone());
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": name}})).unwrap();
    api.create(&PostParams::default(), &ns).await.unwrap();
}

/// Config maps, secrets, and `pods` pods running on hollow nodes, in `ns`.
async fn fill(client: &kube::Client, ns: &str, pods: usize, log: impl Fn() -> String + Copy) {
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), ns);
    let secrets: Api<Secret> = Api::namespaced(client.clone(), ns);
    let pod_api: Api<Pod> = Api::namespaced(client.clone(), ns);
    for i in 0..3 {
        let cm = serde_json::from_value(json!({"metadata": {"name": format!("cm-{i}")}, "data": {"k": "v"}})).unwrap();
        cms.create(&PostParams::default(), &cm).await.unwrap();
        let s = serde_json::from_value(json!({"metadata": {"name": format!("s-{i}")}})).unwrap();
        secrets.create(&PostParams::default(), &s).await.unwrap();
    }
    for i in 0..pods {
        let p = serde_json::from_value(json!({
            "metadata": {"name": format!("p-{i}")},
            "spec": {"containers": [{"name": "c", "image": "nginx"}]},
        }))
        .unwrap();
        pod_api.create(&PostParams::default(), &p).await.unwrap();
    }
    eventually("pods running", WAIT, log, || async {
        let l = pod_api.list(&ListParams::default()).await.ok()?;
        let running = l.items.iter().filter(|p| p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running"));
        (running.count() == pods).then_some(())
    })
    .await;
}

fn condition<'a>(ns: &'a Namespace, kind: &str) -> Option<&'a NamespaceCondition> {
    ns.status.as_ref()?.conditions.as_ref()?.iter().find(|c| c.type_ == kind)
}

#[tokio::test]
async fn a_namespace_waits_terminating_for_finalized_content_then_goes() {
    let Some(kubectl) = Kubectl::required(&["1.32"]).into_iter().next() else { return };
    let server = Server::start(Path::new(BIN));
    let sim = Sim::start(&server, 2);
    let client = server.client().await;
    let log = || format!("server log:\n{}\nsim log:\n{}", server.log(), sim.log());
    create_namespace(&client, "doomed").await;
    fill(&client, "doomed", 3, log).await;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "doomed");
    let held =
        serde_json::from_value(json!({"metadata": {"name": "held", "finalizers": ["example.com/hold"]}})).unwrap();
    cms.create(&PostParams::default(), &held).await.unwrap();

    let k = server.kubectl(&kubectl);
    k.run(&["delete", "namespace", "doomed", "--wait=false"]).ok();
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let ns = eventually("the namespace waiting on the finalizer", WAIT, log, || async {
        // Pods may take a round longer to go than the rest.
        let ns = namespaces.get("doomed").await.ok()?;
        let c = condition(&ns, "NamespaceContentRemaining")?;
        (c.message.as_deref()? == "Some resources are remaining: configmaps. has 1 resource instances").then_some(ns)
    })
    .await;
    assert_eq!(ns.status.as_ref().unwrap().phase.as_deref(), Some("Terminating"));
    let f = condition(&ns, "NamespaceFinalizersRemaining").unwrap();
    assert_eq!(f.reason.as_deref(), Some("SomeFinalizersRemain"));
    assert_eq!(
        f.message.as_deref(),
        Some("Some content in the namespace has finalizers remaining: example.com/hold in 1 resource instances")
    );
    let r = condition(&ns, "NamespaceContentRemaining").unwrap();
    assert_eq!((r.status.as_str(), r.reason.as_deref()), ("True", Some("SomeResourcesRemain")));
    assert_eq!(r.message.as_deref(), Some("Some resources are remaining: configmaps. has 1 resource instances"));
    for (kind, reason) in [
        ("NamespaceDeletionDiscoveryFailure", "ResourcesDiscovered"),
        ("NamespaceDeletionGroupVersionParsingFailure", "ParsedGroupVersions"),
        ("NamespaceDeletionContentFailure", "ContentDeleted"),
    ] {
        let c = condition(&ns, kind).unwrap();
        assert_eq!((c.status.as_str(), c.reason.as_deref()), ("False", Some(reason)), "{kind}");
    }
    assert_eq!(ns.spec.as_ref().unwrap().finalizers.as_deref(), Some(&["kubernetes".to_string()][..]));

    // Everything else is gone already.
    let pods: Api<Pod> = Api::namespaced(client.clone(), "doomed");
    let secrets: Api<Secret> = Api::namespaced(client.clone(), "doomed");
    assert!(pods.list(&ListParams::default()).await.unwrap().items.is_empty());
    assert!(secrets.list(&ListParams::default()).await.unwrap().items.is_empty());
    let left: Vec<String> =
        cms.list(&ListParams::default()).await.unwrap().items.into_iter().filter_map(|c| c.metadata.name).collect();
    assert_eq!(left, ["held"]);
    // Nothing new gets in.
    let late = serde_json::from_value(json!({"metadata": {"name": "late"}})).unwrap();
    let refused = cms.create(&PostParams::default(), &late).await.unwrap_err().to_string();
    assert!(refused.contains("being terminated"), "{refused}");

    cms.patch("held", &PatchParams::default(), &Patch::Merge(json!({"metadata": {"finalizers": null}}))).await.unwrap();
    eventually("the namespace gone", WAIT, log, || async {
        matches!(namespaces.get_opt("doomed").await, Ok(None)).then_some(())
    })
    .await;
}

#[tokio::test]
async fn kubectl_delete_namespace_returns_once_it_is_gone() {
    let Some(kubectl) = Kubectl::required(&["1.32"]).into_iter().next() else { return };
    let server = Server::start(Path::new(BIN));
    let sim = Sim::start(&server, 1);
    let client = server.client().await;
    let log = || format!("server log:\n{}\nsim log:\n{}", server.log(), sim.log());
    create_namespace(&client, "brief").await;
    fill(&client, "brief", 2, log).await;

    let k = server.kubectl(&kubectl);
    let out = k.run(&["delete", "namespace", "brief", "--timeout=45s"]).ok();
    assert_eq!(out.stdout.trim(), "namespace \"brief\" deleted");
    let namespaces: Api<Namespace> = Api::all(client.clone());
    assert!(namespaces.get_opt("brief").await.unwrap().is_none());
    // The name is free again, and the new namespace starts empty.
    create_namespace(&client, "brief").await;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "brief");
    assert!(cms.get_opt("cm-0").await.unwrap().is_none());
}

#[tokio::test]
async fn finalize_sets_the_spec_finalizers_and_checks_their_names() {
    let server = Server::start(Path::new(BIN));
    let client = server.client().await;
    create_namespace(&client, "plain").await;
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let mut ns = namespaces.get("plain").await.unwrap();
    assert_eq!(ns.spec.as_ref().unwrap().finalizers.as_deref(), Some(&["kubernetes".to_string()][..]));

    ns.spec.as_mut().unwrap().finalizers = Some(vec!["custom".into()]);
    let e = namespaces
        .replace_subresource::<Namespace>("finalize", "plain", &PostParams::default(), &ns)
        .await
        .unwrap_err();
    let kube::Error::Api(s) = e else { panic!("{e}") };
    assert_eq!((s.code, s.reason.as_str()), (422, "Invalid"));
    assert!(s.message.contains("spec.finalizers[0]"), "{}", s.message);

    ns.spec.as_mut().unwrap().finalizers = Some(vec![]);
    let done =
        namespaces.replace_subresource::<Namespace>("finalize", "plain", &PostParams::default(), &ns).await.unwrap();
    assert_eq!(done.spec.unwrap().finalizers.unwrap_or_default(), Vec::<String>::new());
    assert_eq!(done.status.unwrap().phase.as_deref(), Some("Active"), "finalize alone deletes nothing");
    // Without finalizers a delete is immediate.
    namespaces.delete("plain", &Default::default()).await.unwrap();
    assert!(namespaces.get_opt("plain").await.unwrap().is_none());
}
