//! Tests of the generated schemas and their navigation.

use serde_json::json;

use super::*;

fn deployment() -> Node<'static> {
    schemas().root("apps", "v1", "Deployment").expect("Deployment schema")
}

fn pod_spec() -> Node<'static> {
    deployment().field("spec").unwrap().field("template").unwrap().field("spec").unwrap()
}

#[test]
fn every_served_kind_and_its_list_has_a_schema() {
    for r in skiff_api::registry().all() {
        let node = schemas().root(r.group, r.version, r.kind);
        assert!(node.is_some(), "no schema for {}/{} {}", r.group, r.version, r.kind);
        assert_eq!(node.unwrap().group_version_kinds(), vec![(r.group, r.version, r.kind)]);
        assert!(schemas().root(r.group, r.version, &r.list_kind()).is_some(), "no list schema for {}", r.kind);
    }
}

#[test]
fn subresource_and_meta_kinds_are_present() {
    assert!(schemas().root("autoscaling", "v1", "Scale").is_some());
    assert!(schemas().root("", "v1", "Binding").is_some());
    assert!(schemas().root("policy", "v1", "Eviction").is_some());
    assert!(schemas().root("", "v1", "Status").is_some());
    assert!(schemas().root("apps", "v1", "DeleteOptions").is_some());
    assert!(schemas().root("batch", "v1", "WatchEvent").is_some());
    assert!(definitions().contains_key("io.k8s.apimachinery.pkg.apis.meta.v1.Patch"));
}

#[test]
fn every_reference_resolves() {
    let mut refs = Vec::new();
    for schema in definitions().values() {
        collect_refs(schema, &mut refs);
    }
    for r in refs {
        assert!(definitions().contains_key(&r), "dangling $ref {r}");
    }
}

#[test]
fn references_with_siblings_use_all_of() {
    fn check(v: &Value) {
        match v {
            Value::Object(m) => {
                if m.get("$ref").is_some_and(Value::is_string) {
                    assert_eq!(m.len(), 1, "$ref with siblings: {v}");
                }
                m.values().for_each(check);
            }
            Value::Array(a) => a.iter().for_each(check),
            _ => {}
        }
    }
    definitions().values().for_each(check);
    let template = &definitions()["io.k8s.api.apps.v1.DeploymentSpec"]["properties"]["template"];
    assert_eq!(template["allOf"], json!([{ "$ref": "#/components/schemas/io.k8s.api.core.v1.PodTemplateSpec" }]));
    assert!(template["description"].is_string());
}

#[test]
fn int_or_string_and_quantity_look_like_upstream() {
    let ios = &definitions()["io.k8s.apimachinery.pkg.util.intstr.IntOrString"];
    assert_eq!(ios["format"], "int-or-string");
    assert_eq!(ios["oneOf"], json!([{ "type": "integer" }, { "type": "string" }]));
    let q = &definitions()["io.k8s.apimachinery.pkg.api.resource.Quantity"];
    assert_eq!(q["oneOf"], json!([{ "type": "string" }, { "type": "number" }]));
    let port = pod_spec().field("containers").unwrap().items().unwrap().field("readinessProbe").unwrap();
    let port = port.field("httpGet").unwrap().field("port").unwrap();
    assert_eq!(port.kind(), Kind::IntOrString);
}

#[test]
fn navigates_to_merge_metadata() {
    let containers = pod_spec().field("containers").unwrap();
    assert_eq!(containers.kind(), Kind::Array);
    assert_eq!(containers.list_type(), ListType::Map(vec!["name".into()]));
    assert_eq!(containers.merge_key(), Some("name"));
    assert!(containers.patch_strategy().merge);
    let container = containers.items().unwrap();
    assert_eq!(container.definition(), Some("io.k8s.api.core.v1.Container"));
    assert_eq!(container.kind(), Kind::Object);
    let ports = container.field("ports").unwrap();
    assert_eq!(ports.list_type(), ListType::Map(vec!["containerPort".into(), "protocol".into()]));
    assert_eq!(ports.merge_key(), Some("containerPort"));
    assert_eq!(container.field("args").unwrap().list_type(), ListType::Atomic);
    assert_eq!(container.field("image").unwrap().kind(), Kind::Scalar);
    assert!(container.field("nonsense").is_none());

    let volumes = pod_spec().field("volumes").unwrap();
    let s = volumes.patch_strategy();
    assert!(s.merge && s.retain_keys && !s.replace);

    let strategy = deployment().field("spec").unwrap().field("strategy").unwrap();
    assert!(strategy.patch_strategy().retain_keys);
    assert_eq!(strategy.kind(), Kind::Object);
}

#[test]
fn sets_maps_and_atomic_structs() {
    let meta = deployment().field("metadata").unwrap();
    assert_eq!(meta.field("finalizers").unwrap().list_type(), ListType::Set);
    assert_eq!(meta.field("ownerReferences").unwrap().list_type(), ListType::Map(vec!["uid".into()]));
    let labels = meta.field("labels").unwrap();
    assert_eq!(labels.kind(), Kind::Map);
    assert!(!labels.is_atomic_map());
    assert_eq!(labels.map_values().unwrap().kind(), Kind::Scalar);
    assert_eq!(labels.field("app").unwrap().kind(), Kind::Scalar);

    let selector = deployment().field("spec").unwrap().field("selector").unwrap();
    assert!(selector.is_atomic_map());
    assert!(pod_spec().field("nodeSelector").unwrap().is_atomic_map());

    // `+structType=granular` at one use overrides the atomic ObjectReference type.
    let pv = schemas().root("", "v1", "PersistentVolume").unwrap().field("spec").unwrap();
    assert!(!pv.field("claimRef").unwrap().is_atomic_map());
    let event = schemas().root("", "v1", "Event").unwrap();
    assert!(event.field("involvedObject").unwrap().is_atomic_map());
}

#[test]
fn merge_strategy_without_list_type_falls_back_like_structured_merge_diff() {
    let defs: Map<String, Value> = Map::new();
    let keyed = json!({"type": "array", "items": {"type": "object", "properties": {}},
        "x-kubernetes-patch-strategy": "merge", "x-kubernetes-patch-merge-key": "name"});
    assert_eq!(Node::new(&keyed, &defs).list_type(), ListType::Map(vec!["name".into()]));
    let set = json!({"type": "array", "items": {"type": "string"}, "x-kubernetes-patch-strategy": "merge"});
    assert_eq!(Node::new(&set, &defs).list_type(), ListType::Set);
    let atomic = json!({"type": "array", "items": {"type": "string"}});
    assert_eq!(Node::new(&atomic, &defs).list_type(), ListType::Atomic);
}

#[test]
fn unknown_places_are_any() {
    let any = Node::any();
    assert_eq!(any.kind(), Kind::Any);
    assert_eq!(any.field("x").unwrap().kind(), Kind::Any);
    assert_eq!(any.list_type(), ListType::Atomic);
    // RawExtension is free-form.
    let data = schemas().root("apps", "v1", "ControllerRevision").unwrap().field("data").unwrap();
    assert_eq!(data.kind(), Kind::Any);
    assert!(data.field("anything").is_some());
}

#[test]
fn definition_names() {
    assert_eq!(definition_name("apps", "v1", "Deployment"), "io.k8s.api.apps.v1.Deployment");
    assert_eq!(definition_name("", "v1", "Pod"), "io.k8s.api.core.v1.Pod");
    assert_eq!(definition_name("rbac.authorization.k8s.io", "v1", "Role"), "io.k8s.api.rbac.v1.Role");
    assert_eq!(definition_name("stable.example.com", "v1", "CronTab"), "com.example.stable.v1.CronTab");
}

#[test]
fn closure_collects_what_a_kind_refers_to() {
    let c = schemas().closure(["io.k8s.api.apps.v1.Deployment"]);
    assert!(c.contains_key("io.k8s.api.apps.v1.Deployment"));
    assert!(c.contains_key("io.k8s.api.core.v1.Container"));
    assert!(c.contains_key("io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"));
    assert!(!c.contains_key("io.k8s.api.batch.v1.Job"));
}

#[test]
fn one_kind_schemas_match_the_full_build() {
    for (g, v, k) in
        [("apps", "v1", "Deployment"), ("", "v1", "Pod"), ("", "v1", "Service"), ("batch", "v1", "CronJob")]
    {
        let one = super::kind_schema(g, v, k).expect("kind schema");
        let all = super::schemas().root(g, v, k).expect("full schema");
        assert_eq!(one.schema(), all.schema(), "{g}/{v} {k}");
        let containers = |n: super::Node<'_>| {
            n.field("spec")
                .and_then(|s| s.field("template"))
                .and_then(|t| t.field("spec"))
                .and_then(|s| s.field("containers"))
                .map(|c| c.list_type())
        };
        if k == "Deployment" {
            assert_eq!(containers(one), containers(all));
        }
    }
    assert!(super::kind_schema("nope", "v1", "Nothing").is_none());
}
