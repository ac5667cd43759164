//! API discovery: the legacy documents (`/api`, `/apis`, `/apis/<group>`, resource lists) and
//! aggregated discovery (`apidiscovery.k8s.io/v2`, what kubectl asks for first).
//!
//! Everything is derived from the resource table, so discovery cannot drift from what is served.

use serde_json::{Value, json};
use skiff_api::resources::{Registry, ResourceInfo};

const VERBS: &[&str] = &["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"];

/// The media type clients use to ask for aggregated discovery, and that answers are labelled with.
pub const AGGREGATED_V2: &str = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";
pub const AGGREGATED_V2BETA1: &str = "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList";

/// Which aggregated discovery version an Accept header asks for, if any.
pub fn wants_aggregated(accept: &str) -> Option<&'static str> {
    for part in accept.split(',') {
        let params: Vec<&str> = part.split(';').map(str::trim).collect();
        let has = |p: &str| params.contains(&p);
        if has("as=APIGroupDiscoveryList") && has("g=apidiscovery.k8s.io") {
            if has("v=v2") {
                return Some("v2");
            }
            if has("v=v2beta1") {
                return Some("v2beta1");
            }
        }
    }
    None
}

/// `/api`.
pub fn api_versions(server_address: &str) -> Value {
    json!({
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}],
    })
}

fn group_of(name: &str) -> Value {
    let gv = format!("{name}/v1");
    json!({
        "name": name,
        "versions": [{"groupVersion": gv, "version": "v1"}],
        "preferredVersion": {"groupVersion": gv, "version": "v1"},
    })
}

fn groups(reg: &Registry) -> Vec<&'static str> {
    let mut groups: Vec<&'static str> = Vec::new();
    for (g, _) in reg.group_versions() {
        if !g.is_empty() && !groups.contains(&g) {
            groups.push(g);
        }
    }
    groups
}

fn versions_of(reg: &Registry, group: &str) -> Vec<&'static str> {
    reg.group_versions().into_iter().filter(|(g, _)| *g == group).map(|(_, v)| v).collect()
}

/// `/apis`.
pub fn api_group_list(reg: &Registry) -> Value {
    let groups: Vec<Value> = groups(reg).into_iter().map(|g| api_group_value(reg, g)).collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

fn api_group_value(reg: &Registry, group: &str) -> Value {
    let versions: Vec<Value> = versions_of(reg, group)
        .into_iter()
        .map(|v| json!({"groupVersion": format!("{group}/{v}"), "version": v}))
        .collect();
    let mut g = group_of(group);
    g["preferredVersion"] = versions.first().cloned().unwrap_or(Value::Null);
    g["versions"] = Value::Array(versions);
    g
}

/// `/apis/<group>`, or `None` if no such group is served.
pub fn api_group(reg: &Registry, group: &str) -> Option<Value> {
    if !groups(reg).contains(&group) {
        return None;
    }
    let mut g = api_group_value(reg, group);
    g["kind"] = "APIGroup".into();
    g["apiVersion"] = "v1".into();
    Some(g)
}

/// `/api/v1` or `/apis/<group>/<version>`, or `None` if not served.
pub fn api_resource_list(reg: &Registry, group: &str, version: &str) -> Option<Value> {
    let mut resources = Vec::new();
    for r in reg.in_group_version(group, version) {
        resources.push(legacy_resource(r));
        for s in r.subresources {
            let mut entry = json!({
                "name": format!("{}/{}", r.plural, s.name()),
                "singularName": "",
                "namespaced": r.namespaced,
                "kind": r.kind,
                "verbs": s.verbs(),
            });
            if let Some((g, v, k)) = s.kind() {
                entry["group"] = g.into();
                entry["version"] = v.into();
                entry["kind"] = k.into();
            }
            resources.push(entry);
        }
    }
    if resources.is_empty() {
        return None;
    }
    let gv = if group.is_empty() { version.to_string() } else { format!("{group}/{version}") };
    Some(json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": resources}))
}

fn legacy_resource(r: &ResourceInfo) -> Value {
    let mut v = json!({
        "name": r.plural,
        "singularName": r.singular,
        "namespaced": r.namespaced,
        "kind": r.kind,
        "verbs": VERBS,
    });
    if !r.short_names.is_empty() {
        v["shortNames"] = json!(r.short_names);
    }
    if !r.categories.is_empty() {
        v["categories"] = json!(r.categories);
    }
    v
}

/// Aggregated discovery: the core group (`/api`) or all named groups (`/apis`).
pub fn aggregated(reg: &Registry, core: bool, version: &str) -> Value {
    let names: Vec<&str> = if core { vec![""] } else { groups(reg) };
    let items: Vec<Value> = names
        .into_iter()
        .map(|g| {
            let versions: Vec<Value> = versions_of(reg, g)
                .into_iter()
                .map(|v| {
                    let resources: Vec<Value> = reg.in_group_version(g, v).map(aggregated_resource).collect();
                    json!({"version": v, "resources": resources, "freshness": "Current"})
                })
                .collect();
            json!({"metadata": {"name": g, "creationTimestamp": null}, "versions": versions})
        })
        .collect();
    json!({
        "kind": "APIGroupDiscoveryList",
        "apiVersion": format!("apidiscovery.k8s.io/{version}"),
        "metadata": {},
        "items": items,
    })
}

fn aggregated_resource(r: &ResourceInfo) -> Value {
    let subresources: Vec<Value> = r
        .subresources
        .iter()
        .map(|s| {
            let (g, v, k) = s.kind().unwrap_or(("", "", r.kind));
            json!({"subresource": s.name(), "responseKind": {"group": g, "version": v, "kind": k}, "verbs": s.verbs()})
        })
        .collect();
    let mut v = json!({
        "resource": r.plural,
        "responseKind": {"group": "", "version": "", "kind": r.kind},
        "scope": if r.namespaced { "Namespaced" } else { "Cluster" },
        "singularResource": r.singular,
        "verbs": VERBS,
    });
    if !r.short_names.is_empty() {
        v["shortNames"] = json!(r.short_names);
    }
    if !r.categories.is_empty() {
        v["categories"] = json!(r.categories);
    }
    if !subresources.is_empty() {
        v["subresources"] = Value::Array(subresources);
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use skiff_api::registry;

    #[test]
    fn legacy_lists_resources_and_subresources() {
        let l = api_resource_list(registry(), "apps", "v1").unwrap();
        let names: Vec<&str> = l["resources"].as_array().unwrap().iter().map(|r| r["name"].as_str().unwrap()).collect();
        assert!(names.contains(&"deployments"));
        assert!(names.contains(&"deployments/scale"));
        let scale = l["resources"].as_array().unwrap().iter().find(|r| r["name"] == "deployments/scale").unwrap();
        assert_eq!(scale["group"], "autoscaling");
        assert_eq!(scale["kind"], "Scale");
        assert!(api_resource_list(registry(), "nope", "v1").is_none());
    }

    #[test]
    fn groups_exclude_core() {
        let g = api_group_list(registry());
        let names: Vec<&str> = g["groups"].as_array().unwrap().iter().map(|g| g["name"].as_str().unwrap()).collect();
        assert!(names.contains(&"apps"));
        assert!(!names.contains(&""));
    }

    #[test]
    fn aggregated_has_scope_and_kinds() {
        let a = aggregated(registry(), true, "v2");
        let pods = a["items"][0]["versions"][0]["resources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["resource"] == "pods")
            .unwrap()
            .clone();
        assert_eq!(pods["scope"], "Namespaced");
        assert_eq!(pods["responseKind"]["kind"], "Pod");
        assert_eq!(pods["shortNames"][0], "po");
    }

    #[test]
    fn detects_aggregated_accept() {
        assert_eq!(
            wants_aggregated("application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json"),
            Some("v2")
        );
        assert_eq!(wants_aggregated("application/json"), None);
    }
}
