//! Which resources the server serves, from its discovery documents, and the mapping from an
//! owner reference's `apiVersion`/`kind` to the resource to ask (upstream's RESTMapper).
//!
//! The garbage collector and the namespace controller both work on every resource the
//! server has, never a fixed list: what they act on is what discovery says can be listed,
//! watched and deleted.

use std::collections::HashMap;

use kube::discovery::{ApiResource, Discovery, Scope};

/// One served resource at one version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Served {
    pub resource: ApiResource,
    pub namespaced: bool,
    pub verbs: Vec<String>,
    /// At its group's preferred version.
    pub preferred: bool,
}

impl Served {
    pub fn supports(&self, verbs: &[&str]) -> bool {
        verbs.iter().all(|v| self.verbs.iter().any(|x| x == v))
    }

    /// `plural.group`, as upstream names a resource in messages (`configmaps.` for core).
    pub fn group_resource(&self) -> String {
        format!("{}.{}", self.resource.plural, self.resource.group)
    }
}

/// Resources the garbage collector leaves alone (upstream's default ignored resources):
/// events never own anything and there are many of them.
pub const GC_IGNORED: &[(&str, &str)] = &[("", "events"), ("events.k8s.io", "events")];

/// Every resource at every served version. Aggregated discovery (two requests) is tried
/// first, the per-group documents if the server lacks it.
pub async fn discover(client: &kube::Client) -> Result<Vec<Served>, kube::Error> {
    let discovery = match Discovery::new(client.clone()).run_aggregated().await {
        Ok(d) => d,
        Err(_) => Discovery::new(client.clone()).run().await?,
    };
    let mut out = Vec::new();
    for group in discovery.groups() {
        let preferred = group.preferred_version_or_latest().to_string();
        for version in group.versions() {
            for (resource, caps) in group.versioned_resources(version) {
                out.push(Served {
                    resource,
                    namespaced: caps.scope == Scope::Namespaced,
                    verbs: caps.operations.clone(),
                    preferred: version == preferred,
                });
            }
        }
    }
    Ok(out)
}

/// What the garbage collector watches: preferred versions that can be listed, watched and
/// deleted, less the ignored ones.
pub fn collectable(served: &[Served]) -> Vec<Served> {
    served
        .iter()
        .filter(|s| s.preferred && s.supports(&["delete", "list", "watch"]))
        .filter(|s| !GC_IGNORED.contains(&(s.resource.group.as_str(), s.resource.plural.as_str())))
        .cloned()
        .collect()
}

/// What the namespace controller empties: namespaced resources at preferred versions that
/// can be deleted.
pub fn namespaced_deletable(served: &[Served]) -> Vec<Served> {
    served.iter().filter(|s| s.preferred && s.namespaced && s.supports(&["delete"])).cloned().collect()
}

/// `apiVersion` split into group and version (`v1` is the core group).
pub fn split_api_version(api_version: &str) -> (&str, &str) {
    api_version.split_once('/').unwrap_or(("", api_version))
}

/// From an owner reference's `apiVersion` and `kind` to the resource serving it.
#[derive(Debug, Default)]
pub struct Mapper {
    by_version: HashMap<(String, String, String), Served>,
    /// Any served version of a group and kind, for references written at a version the
    /// server no longer serves (a uid is the same at every version).
    by_group: HashMap<(String, String), Served>,
}

impl Mapper {
    pub fn new(served: &[Served]) -> Mapper {
        let mut m = Mapper::default();
        for s in served {
            let r = &s.resource;
            m.by_version.insert((r.group.clone(), r.version.clone(), r.kind.clone()), s.clone());
            let g = m.by_group.entry((r.group.clone(), r.kind.clone())).or_insert_with(|| s.clone());
            if s.preferred && !g.preferred {
                *g = s.clone();
            }
        }
        m
    }

    pub fn resolve(&self, api_version: &str, kind: &str) -> Option<&Served> {
        let (group, version) = split_api_version(api_version);
        self.by_version
            .get(&(group.to_string(), version.to_string(), kind.to_string()))
            .or_else(|| self.by_group.get(&(group.to_string(), kind.to_string())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn served(group: &str, version: &str, kind: &str, plural: &str, namespaced: bool, verbs: &[&str]) -> Served {
        let api_version = if group.is_empty() { version.to_string() } else { format!("{group}/{version}") };
        Served {
            resource: ApiResource {
                group: group.into(),
                version: version.into(),
                api_version,
                kind: kind.into(),
                plural: plural.into(),
            },
            namespaced,
            verbs: verbs.iter().map(|v| v.to_string()).collect(),
            preferred: true,
        }
    }

    const ALL: &[&str] = &["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"];

    #[test]
    fn the_collector_watches_every_deletable_resource_but_events() {
        let s = vec![
            served("", "v1", "ConfigMap", "configmaps", true, ALL),
            served("", "v1", "Event", "events", true, ALL),
            served("events.k8s.io", "v1", "Event", "events", true, ALL),
            served("", "v1", "Namespace", "namespaces", false, ALL),
            served("authentication.k8s.io", "v1", "TokenReview", "tokenreviews", false, &["create"]),
        ];
        let names: Vec<String> = collectable(&s).iter().map(Served::group_resource).collect();
        assert_eq!(names, ["configmaps.", "namespaces."]);
        let names: Vec<String> = namespaced_deletable(&s).iter().map(Served::group_resource).collect();
        assert_eq!(names, ["configmaps.", "events.", "events.events.k8s.io"]);
    }

    #[test]
    fn references_map_by_version_or_else_by_group_and_kind() {
        let mut old = served("apps", "v1beta1", "ReplicaSet", "replicasets", true, ALL);
        old.preferred = false;
        let m = Mapper::new(&[old, served("apps", "v1", "ReplicaSet", "replicasets", true, ALL)]);
        assert_eq!(m.resolve("apps/v1beta1", "ReplicaSet").unwrap().resource.version, "v1beta1");
        assert_eq!(m.resolve("apps/v1beta2", "ReplicaSet").unwrap().resource.version, "v1");
        assert!(m.resolve("v1", "ReplicaSet").is_none());
    }
}
