//! Server-side apply and ownership tests: ownership after creates and updates, conflicts and
//! forcing, removal of fields an applier stops setting, managers sharing lists.

use serde_json::{Value, json};

use super::*;
use crate::schema::schemas;

const T0: &str = "2025-01-01T00:00:00Z";
const T1: &str = "2025-01-01T00:01:00Z";
const T2: &str = "2025-01-01T00:02:00Z";

fn deployment() -> Node<'static> {
    schemas().root("apps", "v1", "Deployment").unwrap()
}

fn config(replicas: i64, containers: Value) -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default", "labels": {"app": "web"}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": containers}}
        }
    })
}

fn entries(obj: &Value) -> Vec<Value> {
    obj["metadata"]["managedFields"].as_array().cloned().unwrap_or_default()
}

fn entry<'a>(obj: &'a Value, manager: &str) -> &'a Value {
    obj["metadata"]["managedFields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["manager"] == manager)
        .unwrap_or_else(|| panic!("no entry for {manager}: {}", obj["metadata"]["managedFields"]))
}

fn owns(obj: &Value, manager: &str, path: &str) -> bool {
    let Some(e) = obj["metadata"]["managedFields"].as_array().unwrap().iter().find(|e| e["manager"] == manager) else {
        return false;
    };
    e["fieldsV1"].pointer(path).is_some()
}

fn created(manager: &str, obj: Value) -> Value {
    let mut obj = obj;
    record_update(None, &mut obj, manager, "apps/v1", None, T0, deployment(), &["status"]);
    obj
}

#[test]
fn create_records_every_field_for_the_creator() {
    let obj = created(
        "kubectl-create",
        config(3, json!([{"name": "web", "image": "nginx", "ports": [{"containerPort": 80}]}])),
    );
    let e = entries(&obj);
    assert_eq!(e.len(), 1);
    assert_eq!(e[0]["manager"], "kubectl-create");
    assert_eq!(e[0]["operation"], "Update");
    assert_eq!(e[0]["apiVersion"], "apps/v1");
    assert_eq!(e[0]["time"], T0);
    assert_eq!(e[0]["fieldsType"], "FieldsV1");
    // The shape upstream records for a create: maps that appeared are members themselves, the
    // required containers list and built-in structs are not, list items are.
    assert_eq!(
        e[0]["fieldsV1"],
        json!({
            "f:metadata": {"f:labels": {".": {}, "f:app": {}}},
            "f:spec": {
                "f:replicas": {},
                "f:selector": {},
                "f:template": {
                    "f:metadata": {"f:labels": {".": {}, "f:app": {}}},
                    "f:spec": {"f:containers": {"k:{\"name\":\"web\"}": {
                        ".": {}, "f:image": {}, "f:name": {},
                        "f:ports": {".": {}, "k:{\"containerPort\":80,\"protocol\":\"TCP\"}": {".": {}, "f:containerPort": {}}}
                    }}}
                }
            }
        })
    );
}

#[test]
fn apply_creates_and_owns_exactly_its_configuration() {
    let cfg = config(3, json!([{"name": "web", "image": "nginx"}]));
    let obj = apply(None, &cfg, "kubectl", false, "apps/v1", None, T0, deployment(), &["status"]).unwrap();
    let e = entries(&obj);
    assert_eq!(e.len(), 1);
    assert_eq!(e[0]["operation"], "Apply");
    assert_eq!(e[0]["time"], T0);
    assert_eq!(
        e[0]["fieldsV1"],
        json!({
            "f:metadata": {"f:labels": {"f:app": {}}},
            "f:spec": {
                "f:replicas": {},
                "f:selector": {},
                "f:template": {
                    "f:metadata": {"f:labels": {"f:app": {}}},
                    "f:spec": {"f:containers": {"k:{\"name\":\"web\"}": {".": {}, "f:image": {}, "f:name": {}}}}
                }
            }
        })
    );
    assert_eq!(obj["spec"]["replicas"], 3);
    assert_eq!(obj["metadata"]["name"], "web");
}

#[test]
fn changing_a_field_owned_by_another_manager_conflicts() {
    let live = created("kubectl-client-side-apply", config(3, json!([{"name": "web", "image": "nginx"}])));
    let err = apply(
        Some(&live),
        &config(5, json!([{"name": "web", "image": "nginx"}])),
        "ssa",
        false,
        "apps/v1",
        None,
        T1,
        deployment(),
        &[],
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        r#"Apply failed with 1 conflict: conflict with "kubectl-client-side-apply" using apps/v1: .spec.replicas"#
    );
    let ApplyError::Conflicts(c) = &err else { panic!("{err:?}") };
    assert_eq!(c[0].field, ".spec.replicas");
    assert_eq!(c[0].cause_message(), r#"conflict with "kubectl-client-side-apply" using apps/v1"#);
}

#[test]
fn several_conflicts_are_grouped_by_manager() {
    let mut live = created("alpha", config(3, json!([{"name": "web", "image": "nginx"}])));
    let mut next = live.clone();
    next["metadata"]["labels"]["tier"] = json!("front");
    record_update(Some(&live), &mut next, "beta", "apps/v1", None, T1, deployment(), &[]);
    live = next;
    let cfg = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "labels": {"tier": "back"}},
        "spec": {"replicas": 4, "template": {"spec": {"containers": [{"name": "web", "image": "httpd"}]}}}});
    let err = apply(Some(&live), &cfg, "ssa", false, "apps/v1", None, T2, deployment(), &[]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "Apply failed with 3 conflicts: conflicts with \"alpha\" using apps/v1:\n\
         - .spec.replicas\n\
         - .spec.template.spec.containers[name=\"web\"].image\n\
         conflicts with \"beta\" using apps/v1:\n\
         - .metadata.labels.tier"
    );
}

#[test]
fn applying_the_live_value_shares_the_field() {
    let live = created("kubectl-client-side-apply", config(3, json!([{"name": "web", "image": "nginx"}])));
    let obj = apply(
        Some(&live),
        &config(3, json!([{"name": "web", "image": "nginx"}])),
        "ssa",
        false,
        "apps/v1",
        None,
        T1,
        deployment(),
        &[],
    )
    .unwrap();
    assert!(owns(&obj, "ssa", "/f:spec/f:replicas"));
    assert!(owns(&obj, "kubectl-client-side-apply", "/f:spec/f:replicas"));
    // Nothing changed, so the creator's time stays.
    assert_eq!(entry(&obj, "kubectl-client-side-apply")["time"], T0);
}

#[test]
fn force_takes_ownership() {
    let live = created("kubectl-client-side-apply", config(3, json!([{"name": "web", "image": "nginx"}])));
    let obj = apply(
        Some(&live),
        &config(5, json!([{"name": "web", "image": "nginx"}])),
        "ssa",
        true,
        "apps/v1",
        None,
        T1,
        deployment(),
        &[],
    )
    .unwrap();
    assert_eq!(obj["spec"]["replicas"], 5);
    assert!(owns(&obj, "ssa", "/f:spec/f:replicas"));
    assert!(!owns(&obj, "kubectl-client-side-apply", "/f:spec/f:replicas"));
    // Fields the creator still owns stay with it.
    assert!(owns(&obj, "kubectl-client-side-apply", "/f:spec/f:selector"));
    assert_eq!(entry(&obj, "ssa")["time"], T1);
}

#[test]
fn fields_an_applier_stops_setting_are_removed() {
    let mut cfg = config(
        3,
        json!([{"name": "web", "image": "nginx", "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]}]),
    );
    cfg["metadata"]["labels"]["tier"] = json!("front");
    let v1 = apply(None, &cfg, "ssa", false, "apps/v1", None, T0, deployment(), &[]).unwrap();
    // Someone else adds an annotation; the applier then drops a label and an env var.
    let mut v2 = v1.clone();
    v2["metadata"]["annotations"] = json!({"note": "x"});
    record_update(Some(&v1), &mut v2, "kubectl-annotate", "apps/v1", None, T1, deployment(), &[]);
    let cfg2 = config(3, json!([{"name": "web", "image": "nginx", "env": [{"name": "A", "value": "1"}]}]));
    let v3 = apply(Some(&v2), &cfg2, "ssa", false, "apps/v1", None, T2, deployment(), &[]).unwrap();
    assert_eq!(v3["metadata"]["labels"], json!({"app": "web"}));
    assert_eq!(v3["spec"]["template"]["spec"]["containers"][0]["env"], json!([{"name": "A", "value": "1"}]));
    assert_eq!(v3["metadata"]["annotations"], json!({"note": "x"}));
    assert!(!owns(&v3, "ssa", "/f:metadata/f:labels/f:tier"));
}

#[test]
fn fields_another_manager_owns_are_kept_when_the_applier_drops_them() {
    let mut cfg = config(3, json!([{"name": "web", "image": "nginx"}]));
    cfg["metadata"]["labels"]["tier"] = json!("front");
    let v1 = apply(None, &cfg, "ssa", false, "apps/v1", None, T0, deployment(), &[]).unwrap();
    // Another applier sets the same label to the same value: shared.
    let other = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "labels": {"tier": "front"}}});
    let v2 = apply(Some(&v1), &other, "other", false, "apps/v1", None, T1, deployment(), &[]).unwrap();
    assert!(owns(&v2, "other", "/f:metadata/f:labels/f:tier"));
    let v3 = apply(
        Some(&v2),
        &config(3, json!([{"name": "web", "image": "nginx"}])),
        "ssa",
        false,
        "apps/v1",
        None,
        T2,
        deployment(),
        &[],
    )
    .unwrap();
    assert_eq!(v3["metadata"]["labels"]["tier"], "front");
    assert!(!owns(&v3, "ssa", "/f:metadata/f:labels/f:tier"));
    assert!(owns(&v3, "other", "/f:metadata/f:labels/f:tier"));
}

#[test]
fn two_appliers_share_a_list_by_key() {
    let a = config(1, json!([{"name": "a", "image": "img-a"}]));
    let v1 = apply(None, &a, "mgr-a", false, "apps/v1", None, T0, deployment(), &[]).unwrap();
    let b = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
        "spec": {"template": {"spec": {"containers": [{"name": "b", "image": "img-b"}]}}}});
    let v2 = apply(Some(&v1), &b, "mgr-b", false, "apps/v1", None, T1, deployment(), &[]).unwrap();
    let names = |v: &Value| -> Vec<String> {
        v["spec"]["template"]["spec"]["containers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(names(&v2), ["a", "b"]);
    assert!(owns(&v2, "mgr-a", "/f:spec/f:template/f:spec/f:containers/k:{\"name\":\"a\"}"));
    assert!(owns(&v2, "mgr-b", "/f:spec/f:template/f:spec/f:containers/k:{\"name\":\"b\"}"));
    assert!(!owns(&v2, "mgr-a", "/f:spec/f:template/f:spec/f:containers/k:{\"name\":\"b\"}"));

    // B changing A's image conflicts; B dropping its own container removes only that one.
    let b_bad = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
        "spec": {"template": {"spec": {"containers": [{"name": "a", "image": "hijack"}, {"name": "b", "image": "img-b"}]}}}});
    let err = apply(Some(&v2), &b_bad, "mgr-b", false, "apps/v1", None, T2, deployment(), &[]).unwrap_err();
    assert!(err.to_string().contains(r#".spec.template.spec.containers[name="a"].image"#), "{err}");
    let b_empty = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}});
    let v3 = apply(Some(&v2), &b_empty, "mgr-b", false, "apps/v1", None, T2, deployment(), &[]).unwrap();
    assert_eq!(names(&v3), ["a"]);
}

#[test]
fn list_item_order_follows_the_configuration_with_live_items_in_place() {
    let v1 = apply(
        None,
        &config(1, json!([{"name": "a"}, {"name": "b"}])),
        "m1",
        false,
        "apps/v1",
        None,
        T0,
        deployment(),
        &[],
    )
    .unwrap();
    let other = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
        "spec": {"template": {"spec": {"containers": [{"name": "x"}]}}}});
    let v2 = apply(Some(&v1), &other, "m2", false, "apps/v1", None, T1, deployment(), &[]).unwrap();
    let v3 = apply(
        Some(&v2),
        &config(1, json!([{"name": "b"}, {"name": "a"}, {"name": "c"}])),
        "m1",
        false,
        "apps/v1",
        None,
        T2,
        deployment(),
        &[],
    )
    .unwrap();
    let names: Vec<&str> = v3["spec"]["template"]["spec"]["containers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    // x stays after b, where it was in the live list.
    assert_eq!(names, ["b", "x", "a", "c"]);
}

#[test]
fn update_moves_changed_fields_to_the_writer() {
    let v1 = apply(
        None,
        &config(3, json!([{"name": "web", "image": "nginx"}])),
        "ssa",
        false,
        "apps/v1",
        None,
        T0,
        deployment(),
        &[],
    )
    .unwrap();
    let mut v2 = v1.clone();
    v2["spec"]["replicas"] = json!(7);
    record_update(Some(&v1), &mut v2, "kubectl-scale", "apps/v1", None, T1, deployment(), &[]);
    assert!(owns(&v2, "kubectl-scale", "/f:spec/f:replicas"));
    assert!(!owns(&v2, "ssa", "/f:spec/f:replicas"));
    assert_eq!(entry(&v2, "kubectl-scale")["time"], T1);
    assert_eq!(entry(&v2, "ssa")["time"], T0);
    // Apply entries sort before Update ones.
    assert_eq!(entries(&v2)[0]["manager"], "ssa");

    // An update that changes nothing adds no entry.
    let mut v3 = v2.clone();
    record_update(Some(&v2), &mut v3, "noop", "apps/v1", None, T2, deployment(), &[]);
    assert_eq!(entries(&v3).len(), 2);

    // Removing a field takes it from its owner; an entry left empty is dropped.
    let mut v4 = v3.clone();
    v4["spec"].as_object_mut().unwrap().remove("replicas");
    record_update(Some(&v3), &mut v4, "kubectl-edit", "apps/v1", None, T2, deployment(), &[]);
    assert!(v4["metadata"]["managedFields"].as_array().unwrap().iter().all(|e| e["manager"] != "kubectl-scale"));
    assert!(v4["metadata"]["managedFields"].as_array().unwrap().iter().all(|e| e["manager"] != "kubectl-edit"));
}

#[test]
fn updates_by_the_same_manager_accumulate_per_api_version() {
    let v1 = created("ctl", config(3, json!([{"name": "web", "image": "nginx"}])));
    let mut v2 = v1.clone();
    v2["spec"]["paused"] = json!(true);
    record_update(Some(&v1), &mut v2, "ctl", "apps/v1", None, T1, deployment(), &[]);
    assert_eq!(entries(&v2).len(), 1);
    assert!(owns(&v2, "ctl", "/f:spec/f:paused"));
    assert!(owns(&v2, "ctl", "/f:spec/f:replicas"));
    assert_eq!(entry(&v2, "ctl")["time"], T1);
}

#[test]
fn status_subresource_writers_are_separate_managers() {
    let v1 = created("ctl", config(1, json!([{"name": "web", "image": "nginx"}])));
    let mut v2 = v1.clone();
    v2["status"] = json!({"replicas": 1});
    record_update(Some(&v1), &mut v2, "controller", "apps/v1", Some("status"), T1, deployment(), &["spec"]);
    let e = entry(&v2, "controller");
    assert_eq!(e["subresource"], "status");
    // status is a (non-pointer) struct: upstream does not record it as a member itself.
    assert_eq!(e["fieldsV1"], json!({"f:status": {"f:replicas": {}}}));
    // Reset fields are not recorded for the main resource.
    let mut v3 = v2.clone();
    v3["status"]["replicas"] = json!(2);
    v3["spec"]["replicas"] = json!(2);
    record_update(Some(&v2), &mut v3, "ctl2", "apps/v1", None, T2, deployment(), &["status"]);
    assert_eq!(entry(&v3, "ctl2")["fieldsV1"], json!({"f:spec": {"f:replicas": {}}}));
}

#[test]
fn client_supplied_managed_fields_replace_the_stored_ones() {
    let v1 = created("ctl", config(3, json!([{"name": "web", "image": "nginx"}])));
    // `[{}]` is upstream's way to clear ownership.
    let mut v2 = v1.clone();
    v2["metadata"]["managedFields"] = json!([{}]);
    record_update(Some(&v1), &mut v2, "clearer", "apps/v1", None, T1, deployment(), &[]);
    assert!(v2["metadata"].get("managedFields").is_none(), "{}", v2["metadata"]);
    // Leaving them out keeps the stored ones.
    let mut v3 = v1.clone();
    v3["metadata"].as_object_mut().unwrap().remove("managedFields");
    record_update(Some(&v1), &mut v3, "other", "apps/v1", None, T1, deployment(), &[]);
    assert_eq!(entries(&v3).len(), 1);
    assert_eq!(entries(&v3)[0]["manager"], "ctl");
}

#[test]
fn invalid_configurations_are_rejected() {
    let dup = config(1, json!([{"name": "a"}, {"name": "a"}]));
    let err = apply(None, &dup, "m", false, "apps/v1", None, T0, deployment(), &[]).unwrap_err();
    assert_eq!(
        err,
        ApplyError::Invalid(".spec.template.spec.containers: duplicate entries for key [name=\"a\"]".into())
    );
    let nokey = config(1, json!([{"image": "x"}]));
    let err = apply(None, &nokey, "m", false, "apps/v1", None, T0, deployment(), &[]).unwrap_err();
    assert!(err.to_string().contains("omits key field \"name\""), "{err}");
    let mut with_mf = config(1, json!([]));
    with_mf["metadata"]["managedFields"] = json!([]);
    let err = apply(None, &with_mf, "m", false, "apps/v1", None, T0, deployment(), &[]).unwrap_err();
    assert_eq!(err.to_string(), "metadata.managedFields must be nil");
}

#[test]
fn port_keys_use_the_protocol_default() {
    let live = created(
        "ctl",
        config(1, json!([{"name": "web", "ports": [{"containerPort": 80, "protocol": "TCP", "name": "http"}]}])),
    );
    let cfg = config(1, json!([{"name": "web", "ports": [{"containerPort": 80, "name": "web"}]}]));
    let err = apply(Some(&live), &cfg, "ssa", false, "apps/v1", None, T1, deployment(), &[]).unwrap_err();
    assert!(err.to_string().contains(r#"ports[containerPort=80,protocol="TCP"].name"#), "{err}");
    let obj = apply(Some(&live), &cfg, "ssa", true, "apps/v1", None, T1, deployment(), &[]).unwrap();
    assert_eq!(
        obj["spec"]["template"]["spec"]["containers"][0]["ports"],
        json!([{"containerPort": 80, "protocol": "TCP", "name": "web"}])
    );
}

#[test]
fn atomic_fields_are_owned_whole() {
    let live = apply(
        None,
        &config(1, json!([{"name": "web", "args": ["a", "b"]}])),
        "m1",
        false,
        "apps/v1",
        None,
        T0,
        deployment(),
        &[],
    )
    .unwrap();
    assert!(owns(&live, "m1", "/f:spec/f:selector"));
    assert!(owns(&live, "m1", "/f:spec/f:template/f:spec/f:containers/k:{\"name\":\"web\"}/f:args"));
    let cfg = config(1, json!([{"name": "web", "args": ["c"]}]));
    let obj = apply(Some(&live), &cfg, "m1", false, "apps/v1", None, T1, deployment(), &[]).unwrap();
    assert_eq!(obj["spec"]["template"]["spec"]["containers"][0]["args"], json!(["c"]));
}

#[test]
fn sets_merge_by_value_between_managers() {
    let pod = schemas().root("", "v1", "Pod").unwrap();
    let a = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "finalizers": ["a.io/x"]}});
    let v1 = apply(None, &a, "m1", false, "v1", None, T0, pod, &[]).unwrap();
    let b = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "finalizers": ["b.io/y"]}});
    let v2 = apply(Some(&v1), &b, "m2", false, "v1", None, T1, pod, &[]).unwrap();
    assert_eq!(v2["metadata"]["finalizers"], json!(["a.io/x", "b.io/y"]));
    assert!(owns(&v2, "m2", "/f:metadata/f:finalizers/v:\"b.io~1y\""));
    assert!(!owns(&v2, "m2", "/f:metadata/f:finalizers/v:\"a.io~1x\""));
    let v3 = apply(
        Some(&v2),
        &json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}}),
        "m1",
        false,
        "v1",
        None,
        T2,
        pod,
        &[],
    )
    .unwrap();
    assert_eq!(v3["metadata"]["finalizers"], json!(["b.io/y"]));
}

#[test]
fn an_unchanged_reapply_keeps_the_object_and_its_time() {
    let cfg = config(3, json!([{"name": "web", "image": "nginx"}]));
    let v1 = apply(None, &cfg, "ssa", false, "apps/v1", None, T0, deployment(), &[]).unwrap();
    let v2 = apply(Some(&v1), &cfg, "ssa", false, "apps/v1", None, T1, deployment(), &[]).unwrap();
    assert_eq!(v1, v2);
}

#[test]
fn null_in_a_configuration_unsets_the_field() {
    let v1 = apply(
        None,
        &config(3, json!([{"name": "web", "image": "nginx"}])),
        "ssa",
        false,
        "apps/v1",
        None,
        T0,
        deployment(),
        &[],
    )
    .unwrap();
    let mut cfg = config(3, json!([{"name": "web", "image": "nginx"}]));
    cfg["spec"]["paused"] = Value::Null;
    let v2 = apply(Some(&v1), &cfg, "ssa", false, "apps/v1", None, T1, deployment(), &[]).unwrap();
    assert!(v2["spec"].get("paused").is_none());
}
