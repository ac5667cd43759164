//! Generates the component schemas from k8s-openapi and reshapes them like upstream's
//! `/openapi/v3` output.
//!
//! k8s-openapi's schemars output has the structure and descriptions but not what kubectl relies on
//! beyond that: the group/version/kind of top-level kinds (how `kubectl explain` and client-side
//! apply find a kind's schema), the `<Kind>List` types, upstream's `oneOf` shape of IntOrString
//! and Quantity, and the merge extensions (added from [`super::patch_meta`]).

use std::collections::HashMap;

use k8s_openapi::api as k8s;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1 as apiextensions;
use k8s_openapi::apimachinery::pkg::apis::meta::v1 as meta;
use k8s_openapi::schemars::JsonSchema;
use schemars::generate::{SchemaGenerator, SchemaSettings};
use serde_json::{Map, Value, json};

use super::{REF_PREFIX, Schemas, patch_meta};

const INT_OR_STRING: &str = "io.k8s.apimachinery.pkg.util.intstr.IntOrString";
const QUANTITY: &str = "io.k8s.apimachinery.pkg.api.resource.Quantity";
const LIST_META: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.ListMeta";
const STATUS: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.Status";
const DELETE_OPTIONS: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions";
const WATCH_EVENT: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.WatchEvent";

/// A kind skiff has a schema for, and how to add it to a generator.
struct KindFn {
    group: &'static str,
    version: &'static str,
    kind: &'static str,
    /// Whether the kind is a served resource (and so has a `<Kind>List`).
    listable: bool,
    /// Adds the kind (and what it references) to the generator; returns its definition name.
    add: fn(&mut SchemaGenerator) -> String,
}

fn add<T: JsonSchema>(g: &mut SchemaGenerator) -> String {
    g.subschema_for::<T>();
    T::schema_name().into_owned()
}

fn entry<T: k8s_openapi::Resource + JsonSchema>(listable: bool) -> KindFn {
    KindFn { group: T::GROUP, version: T::VERSION, kind: T::KIND, listable, add: add::<T> }
}

/// The kinds skiff serves (the resource table in `skiff_api::resources`) plus the kinds of their
/// subresources. A test checks every registry entry has a schema here.
fn kinds() -> Vec<KindFn> {
    macro_rules! resources {
        ($($t:ty),* $(,)?) => { vec![$( entry::<$t>(true) ),*] };
    }
    let mut kinds = resources![
        k8s::core::v1::ConfigMap,
        k8s::core::v1::Endpoints,
        k8s::core::v1::Event,
        k8s::core::v1::LimitRange,
        k8s::core::v1::Namespace,
        k8s::core::v1::Node,
        k8s::core::v1::PersistentVolumeClaim,
        k8s::core::v1::PersistentVolume,
        k8s::core::v1::Pod,
        k8s::core::v1::PodTemplate,
        k8s::core::v1::ReplicationController,
        k8s::core::v1::ResourceQuota,
        k8s::core::v1::Secret,
        k8s::core::v1::ServiceAccount,
        k8s::core::v1::Service,
        k8s::apps::v1::ControllerRevision,
        k8s::apps::v1::DaemonSet,
        k8s::apps::v1::Deployment,
        k8s::apps::v1::ReplicaSet,
        k8s::apps::v1::StatefulSet,
        k8s::autoscaling::v2::HorizontalPodAutoscaler,
        k8s::batch::v1::CronJob,
        k8s::batch::v1::Job,
        k8s::coordination::v1::Lease,
        k8s::discovery::v1::EndpointSlice,
        k8s::events::v1::Event,
        k8s::networking::v1::IngressClass,
        k8s::networking::v1::Ingress,
        k8s::networking::v1::NetworkPolicy,
        k8s::node::v1::RuntimeClass,
        k8s::policy::v1::PodDisruptionBudget,
        k8s::rbac::v1::ClusterRoleBinding,
        k8s::rbac::v1::ClusterRole,
        k8s::rbac::v1::RoleBinding,
        k8s::rbac::v1::Role,
        k8s::scheduling::v1::PriorityClass,
        k8s::storage::v1::StorageClass,
        apiextensions::CustomResourceDefinition,
    ];
    // Subresource kinds: no list of their own.
    kinds.push(entry::<k8s::autoscaling::v1::Scale>(false));
    kinds.push(entry::<k8s::core::v1::Binding>(false));
    kinds.push(entry::<k8s::policy::v1::Eviction>(false));
    kinds
}

/// Shared meta types every group/version document carries.
fn shared(g: &mut SchemaGenerator) {
    add::<meta::Status>(g);
    add::<meta::DeleteOptions>(g);
    add::<meta::Patch>(g);
    add::<meta::WatchEvent<k8s::core::v1::Pod>>(g);
    add::<meta::APIResourceList>(g);
}

fn generator() -> SchemaGenerator {
    SchemaSettings::openapi3()
        .with(|s| {
            s.meta_schema = None;
        })
        .into_generator()
}

/// Take the generated definitions and reshape them like upstream's.
fn finish(mut generator: SchemaGenerator) -> Map<String, Value> {
    // `true`: run the OpenAPI 3 transforms, which turn `{"$ref", "description"}` into
    // `{"allOf": [{"$ref"}], "description"}` as upstream does.
    let mut defs = generator.take_definitions(true);
    upstream_scalars(&mut defs);
    patch_meta::apply(&mut defs);
    // The extensions may have landed next to a bare `$ref`; OpenAPI 3.0 readers ignore siblings
    // of `$ref`, so wrap those the way the transforms above did.
    for schema in defs.values_mut() {
        ref_siblings_to_all_of(schema);
    }
    defs
}

/// The schema of one kind only (with what it references): what a write to that kind needs,
/// without generating every kind's schema (which touches a lot of code and memory).
pub(super) fn build_kind(group: &str, version: &str, kind: &str) -> Option<(String, Map<String, Value>)> {
    let entry = kinds().into_iter().find(|k| k.group == group && k.version == version && k.kind == kind)?;
    let mut g = generator();
    let name = (entry.add)(&mut g);
    let mut defs = finish(g);
    set_gvk(&mut defs, &name, &[(entry.group, entry.version, entry.kind)]);
    Some((name, defs))
}

pub(super) fn build() -> Schemas {
    let mut g = generator();
    let kinds: Vec<(KindFn, String)> = kinds()
        .into_iter()
        .map(|k| {
            let name = (k.add)(&mut g);
            (k, name)
        })
        .collect();
    shared(&mut g);
    let mut defs = finish(g);

    let mut by_gvk = HashMap::new();
    let group_versions = served_group_versions(&kinds);
    for (k, definition) in &kinds {
        set_gvk(&mut defs, definition, &[(k.group, k.version, k.kind)]);
        by_gvk.insert(key(k.group, k.version, k.kind), definition.clone());
        if k.listable {
            let list_kind = format!("{}List", k.kind);
            let list_name = format!("{definition}List");
            defs.insert(list_name.clone(), list_schema(k.kind, definition));
            let gvk = json!([{ "group": k.group, "kind": list_kind, "version": k.version }]);
            insert_ext(&mut defs, &list_name, "x-kubernetes-group-version-kind", gvk);
            by_gvk.insert(key(k.group, k.version, &list_kind), list_name);
        }
    }
    // Upstream tags the shared meta types with every group/version that serves them.
    set_gvk(&mut defs, STATUS, &[("", "v1", "Status")]);
    by_gvk.insert(key("", "v1", "Status"), STATUS.to_string());
    for (kind, name) in [("DeleteOptions", DELETE_OPTIONS), ("WatchEvent", WATCH_EVENT)] {
        let gvks: Vec<_> = group_versions.iter().map(|(g, v)| (*g, *v, kind)).collect();
        set_gvk(&mut defs, name, &gvks);
        for (g, v) in &group_versions {
            by_gvk.insert(key(g, v, kind), name.to_string());
        }
    }

    let defs = sort_keys(Value::Object(defs));
    let Value::Object(defs) = defs else { unreachable!("sorting keeps an object") };
    Schemas { defs, by_gvk }
}

fn key(group: &str, version: &str, kind: &str) -> (String, String, String) {
    (group.to_string(), version.to_string(), kind.to_string())
}

/// Group/versions in first-seen order, core first.
fn served_group_versions(kinds: &[(KindFn, String)]) -> Vec<(&'static str, &'static str)> {
    let mut out = vec![("", "v1")];
    for (k, _) in kinds {
        if !out.contains(&(k.group, k.version)) {
            out.push((k.group, k.version));
        }
    }
    out
}

fn set_gvk(defs: &mut Map<String, Value>, name: &str, gvks: &[(&str, &str, &str)]) {
    let list: Vec<Value> = gvks.iter().map(|(g, v, k)| json!({ "group": g, "kind": k, "version": v })).collect();
    insert_ext(defs, name, "x-kubernetes-group-version-kind", Value::Array(list));
}

fn insert_ext(defs: &mut Map<String, Value>, name: &str, ext: &str, value: Value) {
    if let Some(Value::Object(schema)) = defs.get_mut(name) {
        schema.insert(ext.to_string(), value);
    }
}

/// IntOrString and Quantity as upstream's v3 documents describe them (k8s-openapi marks them
/// with `x-kubernetes-int-or-string` only, which kubectl's v3 readers do not look at).
fn upstream_scalars(defs: &mut Map<String, Value>) {
    if let Some(Value::Object(s)) = defs.get_mut(INT_OR_STRING) {
        s.remove("x-kubernetes-int-or-string");
        s.insert("format".into(), "int-or-string".into());
        s.insert("oneOf".into(), json!([{ "type": "integer" }, { "type": "string" }]));
    }
    if let Some(Value::Object(s)) = defs.get_mut(QUANTITY) {
        s.remove("x-kubernetes-int-or-string");
        s.insert("oneOf".into(), json!([{ "type": "string" }, { "type": "number" }]));
    }
}

/// `<Kind>List`: k8s-openapi has a generic `List<T>` without a schema, so it is written here in
/// upstream's shape.
fn list_schema(kind: &str, item_definition: &str) -> Value {
    json!({
        "description": format!("{kind}List is a list of {kind} objects."),
        "properties": {
            "apiVersion": {
                "description": "APIVersion defines the versioned schema of this representation of an object. Servers should convert recognized schemas to the latest internal value, and may reject unrecognized values. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#resources",
                "type": "string"
            },
            "items": {
                "description": format!("List of {kind} objects."),
                "items": { "allOf": [{ "$ref": format!("{REF_PREFIX}{item_definition}") }], "default": {} },
                "type": "array"
            },
            "kind": {
                "description": "Kind is a string value representing the REST resource this object represents. Servers may infer this from the endpoint the client submits requests to. Cannot be updated. In CamelCase. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds",
                "type": "string"
            },
            "metadata": {
                "allOf": [{ "$ref": format!("{REF_PREFIX}{LIST_META}") }],
                "default": {},
                "description": "Standard list metadata. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata"
            }
        },
        "required": ["items"],
        "type": "object"
    })
}

fn ref_siblings_to_all_of(v: &mut Value) {
    match v {
        Value::Object(map) => {
            for child in map.values_mut() {
                ref_siblings_to_all_of(child);
            }
            // A string `$ref` only: JSONSchemaProps has a *property* named `$ref`.
            if map.len() > 1
                && map.get("$ref").is_some_and(Value::is_string)
                && let Some(r) = map.remove("$ref")
            {
                map.insert("allOf".into(), json!([{ "$ref": r }]));
            }
        }
        Value::Array(items) => items.iter_mut().for_each(ref_siblings_to_all_of),
        _ => {}
    }
}

/// Sorts object keys recursively, as upstream's Go serializer emits them; array order (e.g.
/// `required`, `x-kubernetes-list-map-keys`) is meaningful and kept.
fn sort_keys(v: Value) -> Value {
    match v {
        Value::Object(map) => {
            let mut entries: Vec<(String, Value)> = map.into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            Value::Object(entries.into_iter().map(|(k, v)| (k, sort_keys(v))).collect())
        }
        Value::Array(items) => Value::Array(items.into_iter().map(sort_keys).collect()),
        other => other,
    }
}
