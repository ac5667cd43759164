//! Strategic merge patch tests: the patches kubectl really sends (client-side apply's three-way
//! patches, `kubectl patch`), and cases from upstream's strategicpatch fixtures.

use serde_json::{Value, json};

use super::strategic_merge_patch;
use crate::PatchError;
use crate::schema::{Node, schemas};

fn deployment() -> Node<'static> {
    schemas().root("apps", "v1", "Deployment").unwrap()
}

fn pod() -> Node<'static> {
    schemas().root("", "v1", "Pod").unwrap()
}

fn apply(node: Node, original: Value, patch: Value) -> Value {
    strategic_merge_patch(&original, &patch, node).unwrap_or_else(|e| panic!("patch failed: {e}"))
}

fn pod_with(containers: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {"containers": containers}})
}

fn names(list: &Value) -> Vec<&str> {
    list.as_array().unwrap().iter().map(|v| v["name"].as_str().or(v.as_str()).unwrap()).collect()
}

fn live_deployment() -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": "web",
            "labels": {"app": "web", "tier": "front"},
            "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}", "deployment.kubernetes.io/revision": "1"},
        },
        "spec": {
            "replicas": 3,
            "selector": {"matchLabels": {"app": "web"}},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {
                    "containers": [
                        {"name": "web", "image": "nginx:1.25", "imagePullPolicy": "IfNotPresent",
                         "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}, {"name": "C", "value": "3"}],
                         "ports": [{"containerPort": 80, "protocol": "TCP"}]},
                        {"name": "sidecar", "image": "busybox", "args": ["sleep", "3600"]}
                    ],
                    "restartPolicy": "Always"
                }
            }
        },
        "status": {"replicas": 3}
    })
}

#[test]
fn kubectl_apply_changes_an_image_with_set_element_order() {
    let patch = json!({
        "metadata": {"annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{\"new\":1}"}},
        "spec": {"template": {"spec": {
            "$setElementOrder/containers": [{"name": "web"}, {"name": "sidecar"}],
            "containers": [{"image": "nginx:1.27", "name": "web"}]
        }}}
    });
    let out = apply(deployment(), live_deployment(), patch);
    let containers = &out["spec"]["template"]["spec"]["containers"];
    assert_eq!(names(containers), ["web", "sidecar"]);
    assert_eq!(containers[0]["image"], "nginx:1.27");
    // Fields the patch does not mention survive, server-set ones included.
    assert_eq!(containers[0]["imagePullPolicy"], "IfNotPresent");
    assert_eq!(containers[0]["env"].as_array().unwrap().len(), 3);
    assert_eq!(out["metadata"]["annotations"]["deployment.kubernetes.io/revision"], "1");
    assert_eq!(out["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"], "{\"new\":1}");
    assert_eq!(out["status"], json!({"replicas": 3}));
}

#[test]
fn kubectl_apply_edits_env_with_set_element_order_and_delete() {
    // Config went from env [A, B, C] to [C, A, D] with A changed: kubectl sends the new order,
    // the changed and added items, and a delete directive for B.
    let patch = json!({"spec": {"template": {"spec": {
        "$setElementOrder/containers": [{"name": "web"}, {"name": "sidecar"}],
        "containers": [{
            "$setElementOrder/env": [{"name": "C"}, {"name": "A"}, {"name": "D"}],
            "env": [{"name": "A", "value": "10"}, {"name": "D", "value": "4"}, {"$patch": "delete", "name": "B"}],
            "name": "web"
        }]
    }}}});
    let out = apply(deployment(), live_deployment(), patch);
    let env = &out["spec"]["template"]["spec"]["containers"][0]["env"];
    assert_eq!(env, &json!([{"name": "C", "value": "3"}, {"name": "A", "value": "10"}, {"name": "D", "value": "4"}]));
}

#[test]
fn kubectl_apply_switches_deployment_strategy_with_retain_keys() {
    let patch = json!({"spec": {"strategy": {"$retainKeys": ["type"], "rollingUpdate": null, "type": "Recreate"}}});
    let out = apply(deployment(), live_deployment(), patch);
    assert_eq!(out["spec"]["strategy"], json!({"type": "Recreate"}));

    // Without rollingUpdate: null in the patch, retainKeys alone clears it.
    let patch = json!({"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}});
    let out = apply(deployment(), live_deployment(), patch);
    assert_eq!(out["spec"]["strategy"], json!({"type": "Recreate"}));
}

#[test]
fn retain_keys_rejects_fields_outside_the_list() {
    let patch = json!({"spec": {"strategy": {"$retainKeys": ["type"], "rollingUpdate": {"maxSurge": 1}, "type": "RollingUpdate"}}});
    let e = strategic_merge_patch(&live_deployment(), &patch, deployment()).unwrap_err();
    assert_eq!(e, PatchError::Unprocessable("patch content doesn't match retainKeys list".into()));
    let patch = json!({"spec": {"strategy": {"$retainKeys": "type"}}});
    assert_eq!(strategic_merge_patch(&live_deployment(), &patch, deployment()).unwrap_err().code(), 400);
}

#[test]
fn kubectl_apply_removes_a_container_with_patch_delete() {
    let patch = json!({"spec": {"template": {"spec": {
        "$setElementOrder/containers": [{"name": "web"}],
        "containers": [{"$patch": "delete", "name": "sidecar"}]
    }}}});
    let out = apply(deployment(), live_deployment(), patch);
    assert_eq!(names(&out["spec"]["template"]["spec"]["containers"]), ["web"]);
}

#[test]
fn kubectl_apply_removes_a_finalizer_with_delete_from_primitive_list() {
    let live =
        json!({"metadata": {"name": "x", "finalizers": ["a.example.com/x", "b.example.com/y", "kubernetes.io/z"]}});
    let patch = json!({"metadata": {
        "$deleteFromPrimitiveList/finalizers": ["b.example.com/y"],
        "$setElementOrder/finalizers": ["kubernetes.io/z", "a.example.com/x", "c.example.com/new"],
        "finalizers": ["c.example.com/new"]
    }});
    let out = apply(pod(), live, patch);
    assert_eq!(out["metadata"]["finalizers"], json!(["kubernetes.io/z", "a.example.com/x", "c.example.com/new"]));
}

#[test]
fn kubectl_apply_adds_a_container_in_the_middle() {
    let live = pod_with(json!([{"name": "a", "image": "x"}, {"name": "c", "image": "x"}]));
    let patch = json!({"spec": {
        "$setElementOrder/containers": [{"name": "a"}, {"name": "b"}, {"name": "c"}],
        "containers": [{"name": "b", "image": "y"}]
    }});
    let out = apply(pod(), live, patch);
    assert_eq!(names(&out["spec"]["containers"]), ["a", "b", "c"]);
}

#[test]
fn server_only_items_keep_their_place() {
    // "x" was added by someone else; the applied order only knows a, b, c, d.
    let live = pod_with(json!([{"name": "a"}, {"name": "x"}, {"name": "b"}, {"name": "c"}, {"name": "d"}]));
    let patch = json!({"spec": {"$setElementOrder/containers": [{"name": "a"}, {"name": "b"}, {"name": "c"}, {"name": "d"}],
        "containers": [{"name": "c", "image": "new"}]}});
    let out = apply(pod(), live, patch);
    assert_eq!(names(&out["spec"]["containers"]), ["a", "x", "b", "c", "d"]);

    // Reordering: the server-only item goes before the first patch item that followed it.
    let live = pod_with(json!([{"name": "a"}, {"name": "b"}, {"name": "c"}, {"name": "d"}]));
    let patch = json!({"spec": {"$setElementOrder/containers": [{"name": "d"}, {"name": "a"}, {"name": "c"}]}});
    let out = apply(pod(), live, patch);
    assert_eq!(names(&out["spec"]["containers"]), ["b", "d", "a", "c"]);
}

#[test]
fn set_element_order_must_agree_with_the_patch_list() {
    let live = pod_with(json!([{"name": "a"}, {"name": "b"}]));
    let patch = json!({"spec": {"$setElementOrder/containers": [{"name": "a"}, {"name": "b"}],
        "containers": [{"name": "b", "image": "1"}, {"name": "a", "image": "2"}]}});
    let e = strategic_merge_patch(&live, &patch, pod()).unwrap_err();
    assert!(e.message().starts_with("The order in patch list:"), "{e}");
    let patch = json!({"spec": {"$setElementOrder/containers": "a"}});
    assert_eq!(strategic_merge_patch(&live, &patch, pod()).unwrap_err().code(), 400);
}

#[test]
fn merge_without_order_directive_appends_new_items() {
    // upstream fixture "add a new item to a merging list": merged by key, new items appended.
    let live = pod_with(json!([{"name": "a", "image": "1"}, {"name": "b", "image": "1"}]));
    let patch = json!({"spec": {"containers": [{"name": "c", "image": "3"}, {"name": "a", "image": "2"}]}});
    let out = apply(pod(), live, patch);
    let containers = &out["spec"]["containers"];
    assert_eq!(names(containers), ["c", "a", "b"]);
    assert_eq!(containers[1]["image"], "2");
}

#[test]
fn merging_scalar_lists_union_and_dedupe() {
    let live = json!({"metadata": {"finalizers": ["a", "b"]}});
    let out = apply(pod(), live, json!({"metadata": {"finalizers": ["b", "c", "c"]}}));
    assert_eq!(out["metadata"]["finalizers"], json!(["a", "b", "c"]));
}

#[test]
fn lists_without_merge_strategy_are_replaced() {
    let live = pod_with(json!([{"name": "a", "args": ["x", "y"], "command": ["sh"]}]));
    let out = apply(pod(), live, json!({"spec": {"containers": [{"name": "a", "args": ["z"]}]}}));
    assert_eq!(out["spec"]["containers"][0]["args"], json!(["z"]));
    assert_eq!(out["spec"]["containers"][0]["command"], json!(["sh"]));
    // Tolerations are atomic too.
    let live = json!({"spec": {"tolerations": [{"key": "a"}, {"key": "b"}]}});
    let out = apply(pod(), live, json!({"spec": {"tolerations": [{"key": "c"}]}}));
    assert_eq!(out["spec"]["tolerations"], json!([{"key": "c"}]));
}

#[test]
fn ports_merge_by_container_port() {
    let live =
        pod_with(json!([{"name": "a", "ports": [{"containerPort": 80, "name": "http"}, {"containerPort": 443}]}]));
    let patch = json!({"spec": {"containers": [{"name": "a", "ports": [{"containerPort": 80, "name": "web"}, {"containerPort": 8080}]}]}});
    let out = apply(pod(), live, patch);
    assert_eq!(
        out["spec"]["containers"][0]["ports"],
        json!([{"containerPort": 80, "name": "web"}, {"containerPort": 8080}, {"containerPort": 443}])
    );
}

#[test]
fn volumes_retain_keys_switches_the_source() {
    let live =
        json!({"spec": {"volumes": [{"name": "v", "configMap": {"name": "cm"}}, {"name": "w", "emptyDir": {}}]}});
    let patch = json!({"spec": {
        "$setElementOrder/volumes": [{"name": "v"}, {"name": "w"}],
        "volumes": [{"$retainKeys": ["name", "secret"], "configMap": null, "name": "v", "secret": {"secretName": "s"}}]
    }});
    let out = apply(pod(), live, patch);
    assert_eq!(
        out["spec"]["volumes"],
        json!([{"name": "v", "secret": {"secretName": "s"}}, {"name": "w", "emptyDir": {}}])
    );
}

#[test]
fn null_deletes_and_maps_merge() {
    let out = apply(deployment(), live_deployment(), json!({"metadata": {"labels": {"tier": null, "new": "x"}}}));
    assert_eq!(out["metadata"]["labels"], json!({"app": "web", "new": "x"}));
    let out = apply(deployment(), live_deployment(), json!({"spec": {"strategy": null}}));
    assert!(out["spec"].get("strategy").is_none());
    // Unmatched nulls are dropped, not stored.
    let out = apply(
        deployment(),
        live_deployment(),
        json!({"spec": {"paused": null, "template": {"spec": {"nodeSelector": {"a": "b", "c": null}}}}}),
    );
    assert!(out["spec"].get("paused").is_none());
    assert_eq!(out["spec"]["template"]["spec"]["nodeSelector"], json!({"a": "b"}));
}

#[test]
fn patch_replace_in_a_map() {
    let patch = json!({"metadata": {"labels": {"$patch": "replace", "only": "this"}}});
    let out = apply(deployment(), live_deployment(), patch);
    assert_eq!(out["metadata"]["labels"], json!({"only": "this"}));
}

#[test]
fn patch_delete_in_a_map_clears_it() {
    let out = apply(deployment(), live_deployment(), json!({"metadata": {"labels": {"$patch": "delete"}}}));
    assert_eq!(out["metadata"]["labels"], json!({}));
    // On a field the original lacks, the field stays absent.
    let out = apply(
        deployment(),
        live_deployment(),
        json!({"spec": {"template": {"spec": {"affinity": {"$patch": "delete"}}}}}),
    );
    assert!(out["spec"]["template"]["spec"].get("affinity").is_none());
}

#[test]
fn patch_replace_in_a_list() {
    let live = pod_with(json!([{"name": "a", "image": "1"}, {"name": "b", "image": "1"}]));
    let patch = json!({"spec": {"containers": [{"name": "c", "image": "3"}, {"$patch": "replace"}]}});
    let out = apply(pod(), live, patch);
    assert_eq!(out["spec"]["containers"], json!([{"name": "c", "image": "3"}]));
}

#[test]
fn unknown_directives_are_rejected() {
    let e =
        strategic_merge_patch(&live_deployment(), &json!({"metadata": {"labels": {"$patch": "merge"}}}), deployment())
            .unwrap_err();
    assert_eq!(e.message(), "unknown patch type: merge in map: map[$patch:merge]");
    let live = pod_with(json!([{"name": "a"}]));
    let e = strategic_merge_patch(&live, &json!({"spec": {"containers": [{"$patch": "merge", "name": "a"}]}}), pod())
        .unwrap_err();
    assert_eq!(e.message(), "merging lists cannot yet be specified in the patch");
}

#[test]
fn list_item_without_merge_key_is_an_error() {
    let live = pod_with(json!([{"name": "a", "image": "1"}]));
    let e = strategic_merge_patch(&live, &json!({"spec": {"containers": [{"image": "x"}]}}), pod()).unwrap_err();
    assert_eq!(e, PatchError::Failed("map: map[image:x] does not contain declared merge key: name".into()));
    assert_eq!(e.code(), 500);
}

#[test]
fn fields_without_schema_merge_like_merge_patch() {
    let live = json!({"spec": {"unknown": {"a": 1, "b": [1, 2]}}, "extra": [{"name": "x"}]});
    let patch = json!({"spec": {"unknown": {"b": [3], "c": 2, "a": null}}, "extra": [{"name": "y"}]});
    let out = apply(pod(), live.clone(), patch.clone());
    assert_eq!(out, json!({"spec": {"unknown": {"b": [3], "c": 2}}, "extra": [{"name": "y"}]}));
    // Node::any behaves the same for a whole object.
    let out = strategic_merge_patch(&live, &patch, Node::any()).unwrap();
    assert_eq!(out["spec"]["unknown"], json!({"b": [3], "c": 2}));
}

#[test]
fn new_values_have_directives_applied() {
    let live = json!({"spec": {}});
    let patch = json!({"spec": {
        "$setElementOrder/containers": [{"name": "a"}, {"name": "b"}],
        "containers": [{"name": "a", "env": [{"name": "X", "value": "1"}, {"$patch": "delete", "name": "Y"}]}, {"name": "b"}],
        "securityContext": {"runAsUser": 1, "fsGroup": null}
    }});
    let out = apply(pod(), live, patch);
    assert_eq!(out["spec"]["containers"], json!([{"name": "a", "env": [{"name": "X", "value": "1"}]}, {"name": "b"}]));
    assert_eq!(out["spec"]["securityContext"], json!({"runAsUser": 1}));
}

#[test]
fn type_changes_replace() {
    let live = json!({"spec": {"unknown": "scalar"}});
    let out = apply(pod(), live, json!({"spec": {"unknown": {"now": "a map"}}}));
    assert_eq!(out["spec"]["unknown"], json!({"now": "a map"}));
}

#[test]
fn mixed_and_nested_lists_are_errors() {
    let live = json!({"metadata": {"finalizers": ["a"]}});
    let e = strategic_merge_patch(&live, &json!({"metadata": {"finalizers": [1]}}), pod()).unwrap_err();
    assert!(e.message().starts_with("list element types are not identical"), "{e}");
    let e = strategic_merge_patch(&live, &json!({"metadata": {"finalizers": [["a"]]}}), pod()).unwrap_err();
    assert_eq!(e, PatchError::Unprocessable("lists of lists are not supported".into()));
}

#[test]
fn non_object_patch_is_a_bad_request() {
    assert_eq!(strategic_merge_patch(&json!({}), &json!([1]), pod()).unwrap_err().code(), 400);
}

#[test]
fn kubectl_patch_scales_and_labels() {
    // `kubectl patch deploy web -p '{"spec":{"replicas":5}}'` and friends.
    let out = apply(deployment(), live_deployment(), json!({"spec": {"replicas": 5}}));
    assert_eq!(out["spec"]["replicas"], 5);
    let out = apply(
        deployment(),
        live_deployment(),
        json!({"spec": {"template": {"metadata": {"annotations": {"kubectl.kubernetes.io/restartedAt": "2025-01-01T00:00:00Z"}}}}}),
    );
    assert_eq!(
        out["spec"]["template"]["metadata"]["annotations"]["kubectl.kubernetes.io/restartedAt"],
        "2025-01-01T00:00:00Z"
    );
    assert_eq!(out["spec"]["template"]["metadata"]["labels"], json!({"app": "web"}));
}

#[test]
fn service_ports_merge_by_port() {
    let svc = schemas().root("", "v1", "Service").unwrap();
    let live = json!({"spec": {"ports": [{"port": 80, "targetPort": 8080, "protocol": "TCP"}, {"port": 443, "protocol": "TCP"}]}});
    let patch = json!({"spec": {"$setElementOrder/ports": [{"port": 80}, {"port": 443}], "ports": [{"port": 80, "targetPort": 9090}]}});
    let out = apply(svc, live, patch);
    assert_eq!(
        out["spec"]["ports"],
        json!([{"port": 80, "targetPort": 9090, "protocol": "TCP"}, {"port": 443, "protocol": "TCP"}])
    );
}

#[test]
fn owner_references_merge_by_uid() {
    let live = json!({"metadata": {"ownerReferences": [{"uid": "1", "name": "a"}]}});
    let out = apply(pod(), live, json!({"metadata": {"ownerReferences": [{"uid": "2", "name": "b"}]}}));
    assert_eq!(out["metadata"]["ownerReferences"], json!([{"uid": "2", "name": "b"}, {"uid": "1", "name": "a"}]));
}

/// upstream's test schema: `mergingList` merges by `name`, `mergingIntList` is a merged set.
fn fixture_schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "mergingList": {"type": "array", "items": {"type": "object", "properties": {"name": {"type": "string"}, "value": {"type": "string"}, "other": {"type": "string"}}},
                "x-kubernetes-patch-strategy": "merge", "x-kubernetes-patch-merge-key": "name"},
            "mergingIntList": {"type": "array", "items": {"type": "integer"}, "x-kubernetes-patch-strategy": "merge"},
            "nonMergingList": {"type": "array", "items": {"type": "object"}}
        }
    })
}

/// (description, current, three-way patch, result) from upstream's set-element-order fixtures.
#[test]
fn upstream_set_element_order_fixtures() {
    let cases = [
        (
            "add an item in a list of primitives and preserve order",
            json!({"mergingIntList": [1, 4, 2]}),
            json!({"$setElementOrder/mergingIntList": [3, 1, 2], "mergingIntList": [3]}),
            json!({"mergingIntList": [3, 1, 4, 2]}),
        ),
        (
            "delete an item in a list of primitives and preserve order",
            json!({"mergingIntList": [1, 2, 3]}),
            json!({"$setElementOrder/mergingIntList": [2, 1], "$deleteFromPrimitiveList/mergingIntList": [3]}),
            json!({"mergingIntList": [2, 1]}),
        ),
        (
            "add an item in a list and preserve order",
            json!({"mergingList": [{"name": "1", "other": "a"}, {"name": "2", "value": "2", "other": "b"}]}),
            json!({"$setElementOrder/mergingList": [{"name": "3"}, {"name": "1"}, {"name": "2"}], "mergingList": [{"name": "3", "value": "3"}]}),
            json!({"mergingList": [{"name": "3", "value": "3"}, {"name": "1", "other": "a"}, {"name": "2", "value": "2", "other": "b"}]}),
        ),
        (
            "add multiple items in a list and preserve order",
            json!({"mergingList": [{"name": "1", "other": "a"}, {"name": "2", "value": "2", "other": "b"}]}),
            json!({"$setElementOrder/mergingList": [{"name": "1"}, {"name": "4"}, {"name": "2"}, {"name": "3"}],
                   "mergingList": [{"name": "4", "value": "4"}, {"name": "3", "value": "3"}]}),
            json!({"mergingList": [{"name": "1", "other": "a"}, {"name": "4", "value": "4"}, {"name": "2", "value": "2", "other": "b"}, {"name": "3", "value": "3"}]}),
        ),
        (
            "add and delete an item in a list and preserve order",
            json!({"mergingList": [{"name": "1", "other": "a"}, {"name": "2", "value": "2", "other": "b"}, {"name": "3", "value": "3"}]}),
            json!({"$setElementOrder/mergingList": [{"name": "4"}, {"name": "2"}, {"name": "1"}],
                   "mergingList": [{"name": "4", "value": "4"}, {"name": "3", "$patch": "delete"}]}),
            json!({"mergingList": [{"name": "4", "value": "4"}, {"name": "2", "value": "2", "other": "b"}, {"name": "1", "other": "a"}]}),
        ),
        (
            "set elements order in a list with server-only items",
            json!({"mergingList": [{"name": "1", "other": "a"}, {"name": "3"}, {"name": "4"}, {"name": "2"}, {"name": "9"}]}),
            json!({"$setElementOrder/mergingList": [{"name": "4"}, {"name": "2"}, {"name": "3"}, {"name": "1"}]}),
            json!({"mergingList": [{"name": "4"}, {"name": "2"}, {"name": "3"}, {"name": "1", "other": "a"}, {"name": "9"}]}),
        ),
        (
            "set elements order in a list with server-only items 3",
            json!({"mergingList": [{"name": "1"}, {"name": "2"}, {"name": "7"}, {"name": "9"}, {"name": "8"}, {"name": "3"}, {"name": "4"}]}),
            json!({"$setElementOrder/mergingList": [{"name": "2"}, {"name": "1"}, {"name": "4"}, {"name": "3"}]}),
            json!({"mergingList": [{"name": "2"}, {"name": "1"}, {"name": "7"}, {"name": "9"}, {"name": "8"}, {"name": "4"}, {"name": "3"}]}),
        ),
        (
            "set elements order in a int list with server-only items 2",
            json!({"mergingIntList": [1, 2, 9, 3, 4]}),
            json!({"$setElementOrder/mergingIntList": [2, 1, 4, 3]}),
            json!({"mergingIntList": [2, 1, 9, 4, 3]}),
        ),
        (
            "add and delete an item in a int list and preserve order",
            json!({"mergingIntList": [1, 2, 3]}),
            json!({"$setElementOrder/mergingIntList": [4, 2, 1], "mergingIntList": [4], "$deleteFromPrimitiveList/mergingIntList": [3]}),
            json!({"mergingIntList": [4, 2, 1]}),
        ),
    ];
    let schema = fixture_schema();
    let defs = serde_json::Map::new();
    for (description, current, patch, want) in cases {
        let got = strategic_merge_patch(&current, &patch, Node::new(&schema, &defs))
            .unwrap_or_else(|e| panic!("{description}: {e}"));
        assert_eq!(got, want, "{description}");
    }
}

#[test]
fn upstream_merge_fixtures() {
    let schema = fixture_schema();
    let defs = serde_json::Map::new();
    let node = Node::new(&schema, &defs);
    // Non-merging lists are replaced, merged scalar lists are unioned.
    let got = strategic_merge_patch(
        &json!({"nonMergingList": [{"name": "1"}, {"name": "2"}], "mergingIntList": [1, 2]}),
        &json!({"nonMergingList": [{"name": "3"}], "mergingIntList": [2, 3]}),
        node,
    )
    .unwrap();
    assert_eq!(got, json!({"nonMergingList": [{"name": "3"}], "mergingIntList": [1, 2, 3]}));
    // Deleting every matching item, and merging into the survivors.
    let got = strategic_merge_patch(
        &json!({"mergingList": [{"name": "1", "value": "a"}, {"name": "2"}, {"name": "1", "value": "b"}]}),
        &json!({"mergingList": [{"name": "1", "$patch": "delete"}, {"name": "2", "value": "x"}]}),
        node,
    )
    .unwrap();
    assert_eq!(got, json!({"mergingList": [{"name": "2", "value": "x"}]}));
}
