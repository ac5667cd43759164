//! The OpenAPI v3 model of every kind skiff serves.
//!
//! [`build`] generates the component schemas once from k8s-openapi's `JsonSchema` impls and
//! reshapes them the way upstream's `/openapi/v3` documents look (that is what kubectl reads for
//! `explain`, client-side apply and validation); [`patch_meta`] adds the merge extensions that
//! k8s-openapi does not carry; [`node`] is the typed view the merge engines walk.

mod build;
mod node;
mod patch_meta;

use std::collections::{BTreeSet, HashMap};
use std::sync::{Mutex, OnceLock};

use serde_json::{Map, Value};

pub use node::{Kind, ListType, Node, PatchStrategy};

/// Prefix of every `$ref` in the generated documents.
pub const REF_PREFIX: &str = "#/components/schemas/";

/// The generated component schemas with a lookup by group/version/kind.
pub struct Schemas {
    defs: Map<String, Value>,
    by_gvk: HashMap<(String, String, String), String>,
}

impl Schemas {
    /// The schema of a top-level kind (`Deployment`, `DeploymentList`, `Status`, `Scale`...).
    pub fn root(&self, group: &str, version: &str, kind: &str) -> Option<Node<'_>> {
        let name = self.by_gvk.get(&(group.to_string(), version.to_string(), kind.to_string()))?;
        self.definition(name)
    }

    /// A component schema by its definition name (`io.k8s.api.core.v1.PodSpec`).
    pub fn definition(&self, name: &str) -> Option<Node<'_>> {
        self.defs.get_key_value(name).map(|(name, schema)| Node::named(schema, &self.defs, name))
    }

    /// All component schemas, keyed by definition name, in the shape served under
    /// `components.schemas` of the `/openapi/v3` documents.
    pub fn definitions(&self) -> &Map<String, Value> {
        &self.defs
    }

    /// The definitions `roots` refer to, transitively, roots included; for assembling the
    /// OpenAPI document of one group/version.
    pub fn closure<'s>(&self, roots: impl IntoIterator<Item = &'s str>) -> Map<String, Value> {
        let mut seen = BTreeSet::new();
        let mut todo: Vec<String> = roots.into_iter().map(str::to_string).collect();
        while let Some(name) = todo.pop() {
            let Some(schema) = self.defs.get(&name) else { continue };
            if !seen.insert(name) {
                continue;
            }
            collect_refs(schema, &mut todo);
        }
        seen.into_iter().filter_map(|n| self.defs.get(&n).map(|s| (n, s.clone()))).collect()
    }
}

fn collect_refs(schema: &Value, out: &mut Vec<String>) {
    match schema {
        Value::Object(map) => {
            for (k, v) in map {
                if k == "$ref" {
                    if let Some(name) = v.as_str().and_then(|r| r.strip_prefix(REF_PREFIX)) {
                        out.push(name.to_string());
                    }
                } else {
                    collect_refs(v, out);
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| collect_refs(v, out)),
        _ => {}
    }
}

/// The process-wide schemas, built on first use (a few milliseconds).
pub fn schemas() -> &'static Schemas {
    static SCHEMAS: OnceLock<Schemas> = OnceLock::new();
    SCHEMAS.get_or_init(build::build)
}

/// The schema of one kind, built on first use and kept. Writes to a kind need only its own
/// schema (for field ownership and strategic merge), and building every kind's schema touches a
/// lot of code and memory a small cluster never uses. Same content as `schemas().root()`.
pub fn kind_schema(group: &str, version: &str, kind: &str) -> Option<Node<'static>> {
    type Built = (&'static str, &'static Map<String, Value>);
    type ByKind = HashMap<(String, String, String), Option<Built>>;
    static KINDS: OnceLock<Mutex<ByKind>> = OnceLock::new();
    let key = (group.to_string(), version.to_string(), kind.to_string());
    let mut built = KINDS.get_or_init(Default::default).lock().unwrap_or_else(|e| e.into_inner());
    let entry = built.entry(key).or_insert_with(|| {
        // Kept for the life of the process: there are a few dozen kinds at most.
        build::build_kind(group, version, kind).map(|(name, defs)| {
            let defs: &'static Map<String, Value> = Box::leak(Box::new(defs));
            let name: &'static str = Box::leak(name.into_boxed_str());
            (name, defs)
        })
    });
    let (name, defs) = (*entry)?;
    defs.get(name).map(|schema| Node::named(schema, defs, name))
}

/// Shorthand for `schemas().definitions()`.
pub fn definitions() -> &'static Map<String, Value> {
    schemas().definitions()
}

/// The definition name of a kind: the generated one for served kinds
/// (`io.k8s.api.apps.v1.Deployment`), otherwise upstream's naming of custom resources: the
/// group reversed, then version and kind (`com.example.stable.v1.CronTab`).
pub fn definition_name(group: &str, version: &str, kind: &str) -> String {
    if let Some(name) = schemas().by_gvk.get(&(group.to_string(), version.to_string(), kind.to_string())) {
        return name.clone();
    }
    let mut parts: Vec<&str> = group.split('.').filter(|p| !p.is_empty()).collect();
    parts.reverse();
    parts.push(version);
    parts.push(kind);
    parts.join(".")
}

#[cfg(test)]
mod tests;
