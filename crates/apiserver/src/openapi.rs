//! OpenAPI v3: `/openapi/v3` lists one document per group/version; each document has the
//! paths of that group/version (operations tagged with `x-kubernetes-group-version-kind`, as
//! kubectl looks them up to decide on server-side field validation) and the component schemas
//! they use (what `kubectl explain` and client-side apply read).
//!
//! Documents are built on first request and kept, encoded, with a content hash for the URLs.

use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};
use std::sync::OnceLock;

use bytes::Bytes;
use http::{Response, StatusCode};
use serde_json::{Map, Value, json};
use skiff_api::resources::{ResourceInfo, Subresource, registry};
use skiff_patch::schema::{REF_PREFIX, definition_name, schemas};

use crate::handlers::respond::{bytes_response, json_response};
use crate::http::Body;

struct Documents {
    /// By path (`api/v1`, `apis/apps/v1`): (hash, encoded document).
    docs: BTreeMap<String, (String, Bytes)>,
}

fn documents() -> &'static Documents {
    static DOCS: OnceLock<Documents> = OnceLock::new();
    DOCS.get_or_init(|| {
        let mut docs = BTreeMap::new();
        for (group, version) in registry().group_versions() {
            let path = if group.is_empty() { format!("api/{version}") } else { format!("apis/{group}/{version}") };
            let doc = serde_json::to_vec(&group_version_document(group, version)).unwrap_or_default();
            let mut h = std::hash::DefaultHasher::new();
            doc.hash(&mut h);
            docs.insert(path, (format!("{:016X}", h.finish()), Bytes::from(doc)));
        }
        Documents { docs }
    })
}

/// `/openapi/v3`: where each group/version's document is.
pub fn root() -> Response<Body> {
    let paths: Map<String, Value> = documents()
        .docs
        .iter()
        .map(|(path, (hash, _))| {
            (path.clone(), json!({"serverRelativeURL": format!("/openapi/v3/{path}?hash={hash}")}))
        })
        .collect();
    json_response(StatusCode::OK, &json!({"paths": paths}))
}

/// `/openapi/v3/<path>`.
pub fn document(path: &str, _query: Option<&str>) -> Response<Body> {
    match documents().docs.get(path.trim_matches('/')) {
        Some((_, doc)) => {
            let mut r = bytes_response(StatusCode::OK, "application/json", doc.clone());
            // Documents are addressed by hash: clients may cache them for good.
            r.headers_mut().insert(http::header::CACHE_CONTROL, http::HeaderValue::from_static("public, immutable"));
            r
        }
        None => {
            let e = skiff_api::ApiError::not_found(&skiff_api::Qualified::new("", "openapi"), path);
            crate::handlers::respond::error_response(&e)
        }
    }
}

fn schema_ref(name: &str) -> Value {
    json!({"$ref": format!("{REF_PREFIX}{name}")})
}

fn query_param(name: &str, kind: &str, description: &str) -> Value {
    json!({"name": name, "in": "query", "description": description, "schema": {"type": kind, "uniqueItems": true}})
}

fn path_param(name: &str, description: &str) -> Value {
    json!({"name": name, "in": "path", "required": true, "description": description, "schema": {"type": "string", "uniqueItems": true}})
}

fn write_params(patch: bool) -> Vec<Value> {
    let mut p = vec![
        query_param(
            "dryRun",
            "string",
            "When present, indicates that modifications should not be persisted. Valid value: All.",
        ),
        query_param(
            "fieldManager",
            "string",
            "A name associated with the actor or entity that is making these changes.",
        ),
        query_param(
            "fieldValidation",
            "string",
            "How to handle unknown fields in the request: Ignore, Warn or Strict.",
        ),
    ];
    if patch {
        p.push(query_param("force", "boolean", "Force an apply request to take ownership of conflicting fields."));
    }
    p
}

fn list_params(watch: bool) -> Vec<Value> {
    let mut p = vec![
        query_param("allowWatchBookmarks", "boolean", "Requests watch events with type BOOKMARK."),
        query_param("continue", "string", "The continue token of the previous page."),
        query_param("fieldSelector", "string", "Restrict the list by fields."),
        query_param("labelSelector", "string", "Restrict the list by labels."),
        query_param("limit", "integer", "The maximum number of items to return."),
        query_param("resourceVersion", "string", "Which resourceVersion the list must be at least as new as."),
        query_param("resourceVersionMatch", "string", "How resourceVersion applies: NotOlderThan or Exact."),
        query_param("sendInitialEvents", "boolean", "Start a watch with the current state as ADDED events."),
        query_param("timeoutSeconds", "integer", "Timeout for the list or watch call."),
    ];
    if watch {
        p.push(query_param("watch", "boolean", "Watch for changes instead of listing."));
    }
    p
}

struct Op<'a> {
    action: &'a str,
    verb: &'a str,
    gvk: (&'a str, &'a str, &'a str),
    request: Option<(&'a str, Vec<&'a str>)>,
    response: &'a str,
    params: Vec<Value>,
}

impl Op<'_> {
    fn to_json(&self, id: &str, tag: &str) -> Value {
        let (g, v, k) = self.gvk;
        let mut op = json!({
            "description": format!("{} {}", self.verb, k),
            "operationId": id,
            "tags": [tag],
            "parameters": self.params,
            "responses": {
                "200": {"description": "OK", "content": {"application/json": {"schema": schema_ref(self.response)}}},
                "401": {"description": "Unauthorized"},
            },
            "x-kubernetes-action": self.action,
            "x-kubernetes-group-version-kind": {"group": g, "version": v, "kind": k},
        });
        if let Some((body, types)) = &self.request {
            let content: Map<String, Value> =
                types.iter().map(|t| (t.to_string(), json!({"schema": schema_ref(body)}))).collect();
            op["requestBody"] = json!({"content": content, "required": true});
        }
        op
    }
}

const PATCH_TYPES: &[&str] = &[
    "application/apply-patch+yaml",
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/strategic-merge-patch+json",
];
const PATCH_SCHEMA: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.Patch";
const STATUS_SCHEMA: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.Status";
const DELETE_OPTIONS: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions";

fn operation_id(verb: &str, info: &ResourceInfo, namespaced: bool, suffix: &str) -> String {
    let gv = if info.group.is_empty() {
        format!("Core{}", capitalize(info.version))
    } else {
        let g: String = info.group.split('.').next().unwrap_or("").to_string();
        format!("{}{}", capitalize(&g), capitalize(info.version))
    };
    format!("{verb}{gv}{}{}{suffix}", if namespaced { "Namespaced" } else { "" }, info.kind)
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    c.next().map(|f| f.to_uppercase().collect::<String>() + c.as_str()).unwrap_or_default()
}

/// The paths of one resource (collection, item, subresources).
fn resource_paths(info: &ResourceInfo, paths: &mut Map<String, Value>, roots: &mut Vec<String>) {
    let prefix = if info.group.is_empty() {
        format!("/api/{}", info.version)
    } else {
        format!("/apis/{}/{}", info.group, info.version)
    };
    let tag = format!(
        "{}_{}",
        if info.group.is_empty() { "core" } else { info.group.split('.').next().unwrap_or("") },
        info.version
    );
    let gvk = (info.group, info.version, info.kind);
    let def = definition_name(info.group, info.version, info.kind);
    let list_def = definition_name(info.group, info.version, &info.list_kind());
    roots.extend([def.clone(), list_def.clone()]);
    let ns = info.namespaced;
    let (coll, item) = if ns {
        (
            format!("{prefix}/namespaces/{{namespace}}/{}", info.plural),
            format!("{prefix}/namespaces/{{namespace}}/{}/{{name}}", info.plural),
        )
    } else {
        (format!("{prefix}/{}", info.plural), format!("{prefix}/{}/{{name}}", info.plural))
    };
    let mut common = vec![];
    if ns {
        common.push(path_param("namespace", "object name and auth scope, such as for teams and projects"));
    }
    let mut item_common = common.clone();
    item_common.push(path_param("name", &format!("name of the {}", info.kind)));

    let collection = json!({
        "get": Op { action: "list", verb: "list or watch objects of kind", gvk, request: None, response: &list_def, params: list_params(true) }
            .to_json(&operation_id("list", info, ns, ""), &tag),
        "post": Op { action: "post", verb: "create a", gvk, request: Some((&def, vec!["*/*"])), response: &def, params: write_params(false) }
            .to_json(&operation_id("create", info, ns, ""), &tag),
        "delete": Op { action: "deletecollection", verb: "delete collection of", gvk, request: Some((DELETE_OPTIONS, vec!["*/*"])), response: STATUS_SCHEMA, params: list_params(false) }
            .to_json(&operation_id("deletecollection", info, ns, ""), &tag),
        "parameters": common,
    });
    paths.insert(coll, collection);
    let one = json!({
        "get": Op { action: "get", verb: "read the specified", gvk, request: None, response: &def, params: vec![] }
            .to_json(&operation_id("read", info, ns, ""), &tag),
        "put": Op { action: "put", verb: "replace the specified", gvk, request: Some((&def, vec!["*/*"])), response: &def, params: write_params(false) }
            .to_json(&operation_id("replace", info, ns, ""), &tag),
        "patch": Op { action: "patch", verb: "partially update the specified", gvk, request: Some((PATCH_SCHEMA, PATCH_TYPES.to_vec())), response: &def, params: write_params(true) }
            .to_json(&operation_id("patch", info, ns, ""), &tag),
        "delete": Op { action: "delete", verb: "delete a", gvk, request: Some((DELETE_OPTIONS, vec!["*/*"])), response: STATUS_SCHEMA, params: vec![query_param("gracePeriodSeconds", "integer", "The duration in seconds before the object should be deleted."), query_param("propagationPolicy", "string", "Whether and how garbage collection will be performed: Orphan, Background or Foreground.")] }
            .to_json(&operation_id("delete", info, ns, ""), &tag),
        "parameters": item_common.clone(),
    });
    paths.insert(item.clone(), one);
    if ns {
        let all = json!({
            "get": Op { action: "list", verb: "list or watch objects of kind", gvk, request: None, response: &list_def, params: list_params(true) }
                .to_json(&format!("list{}ForAllNamespaces", info.kind).replace("list", &operation_id("list", info, false, "").replace(info.kind, "")), &tag),
        });
        paths.insert(format!("{prefix}/{}", info.plural), all);
    }
    for sub in info.subresources {
        let (sub_def, sub_gvk) = match sub.kind() {
            Some((g, v, k)) => (definition_name(g, v, k), (g, v, k)),
            None => (def.clone(), gvk),
        };
        roots.push(sub_def.clone());
        let suffix = capitalize(sub.name());
        let ops = match sub {
            Subresource::Status | Subresource::Scale => json!({
                "get": Op { action: "get", verb: "read the specified", gvk: sub_gvk, request: None, response: &sub_def, params: vec![] }.to_json(&operation_id("read", info, ns, &suffix), &tag),
                "put": Op { action: "put", verb: "replace the specified", gvk: sub_gvk, request: Some((&sub_def, vec!["*/*"])), response: &sub_def, params: write_params(false) }.to_json(&operation_id("replace", info, ns, &suffix), &tag),
                "patch": Op { action: "patch", verb: "partially update the specified", gvk: sub_gvk, request: Some((PATCH_SCHEMA, PATCH_TYPES.to_vec())), response: &sub_def, params: write_params(true) }.to_json(&operation_id("patch", info, ns, &suffix), &tag),
                "parameters": item_common.clone(),
            }),
            Subresource::Binding | Subresource::Eviction => json!({
                "post": Op { action: "post", verb: "create", gvk: sub_gvk, request: Some((&sub_def, vec!["*/*"])), response: &sub_def, params: write_params(false) }.to_json(&operation_id("create", info, ns, &suffix), &tag),
                "parameters": item_common.clone(),
            }),
            // Streams proxied to the node (text or an upgraded connection): not described yet.
            Subresource::Log | Subresource::Exec | Subresource::Attach => continue,
            Subresource::Finalize => json!({
                "put": Op { action: "put", verb: "replace finalize of the specified", gvk: sub_gvk, request: Some((&sub_def, vec!["*/*"])), response: &sub_def, params: write_params(false) }.to_json(&operation_id("replace", info, ns, &suffix), &tag),
                "parameters": item_common.clone(),
            }),
        };
        paths.insert(format!("{item}/{}", sub.name()), ops);
    }
}

/// The document of one group/version.
fn group_version_document(group: &str, version: &str) -> Value {
    let mut paths = Map::new();
    let mut roots = vec![STATUS_SCHEMA.to_string(), DELETE_OPTIONS.to_string(), PATCH_SCHEMA.to_string()];
    for info in registry().in_group_version(group, version) {
        resource_paths(info, &mut paths, &mut roots);
    }
    let components = schemas().closure(roots.iter().map(String::as_str));
    json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": "v1.33.0"},
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {"BearerToken": {"type": "apiKey", "description": "Bearer Token authentication", "name": "authorization", "in": "header"}},
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apps_document_has_patch_with_gvk_and_field_validation() {
        let doc = group_version_document("apps", "v1");
        let patch = &doc["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]["patch"];
        assert_eq!(patch["x-kubernetes-group-version-kind"]["kind"], "Deployment");
        assert!(patch["parameters"].as_array().unwrap().iter().any(|p| p["name"] == "fieldValidation"));
        assert!(doc["components"]["schemas"]["io.k8s.api.apps.v1.Deployment"].is_object());
        assert!(doc["components"]["schemas"]["io.k8s.api.apps.v1.DeploymentStrategy"].is_object());
        assert!(doc["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale"]["put"].is_object());
    }

    #[test]
    fn root_lists_every_group_version() {
        let docs = documents();
        assert!(docs.docs.contains_key("api/v1"));
        assert!(docs.docs.contains_key("apis/apps/v1"));
        assert!(docs.docs.contains_key("apis/rbac.authorization.k8s.io/v1"));
    }
}
