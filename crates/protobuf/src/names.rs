//! Matching proto names to OpenAPI names.
//!
//! prost's renderings are lossy (`PodDNSConfig` → `PodDnsConfig`, `hostIPC` → `host_ipc`,
//! `$ref` → `ref`), so names are compared normalized to lowercase alphanumerics and the OpenAPI
//! spelling is the one used for output. Also finds the message of a top-level kind.

use std::collections::HashMap;

use crate::plan::Plan;

/// Lowercase alphanumerics only: the form in which prost's and OpenAPI's spellings agree.
pub fn normalize(name: &str) -> String {
    name.chars().filter(char::is_ascii_alphanumeric).map(|c| c.to_ascii_lowercase()).collect()
}

/// The OpenAPI spelling of a proto package: `k8s.io.api.core.v1` → `io.k8s.api.core.v1`;
/// apiextensions-apiserver's Go module path has a dash that proto packages cannot.
pub fn openapi_package(proto_package: &str) -> String {
    let rest = proto_package.strip_prefix("k8s.io.").unwrap_or(proto_package);
    let rest = match rest.strip_prefix("apiextensions_apiserver.") {
        Some(r) => format!("apiextensions-apiserver.{r}"),
        None => rest.to_string(),
    };
    format!("io.k8s.{rest}")
}

/// Definition names looked up case-insensitively (message names only differ from OpenAPI's in
/// case: prost turns acronyms into words).
pub struct DefinitionIndex {
    by_lowercase: HashMap<String, &'static str>,
}

impl DefinitionIndex {
    pub fn new(names: impl IntoIterator<Item = &'static str>) -> Self {
        DefinitionIndex { by_lowercase: names.into_iter().map(|n| (n.to_ascii_lowercase(), n)).collect() }
    }

    /// The definition of a proto message, given its package and prost name.
    pub fn find(&self, proto_package: &str, message: &str) -> Option<&'static str> {
        let name = format!("{}.{message}", openapi_package(proto_package));
        self.by_lowercase.get(&name.to_ascii_lowercase()).copied()
    }
}

/// The JSON property a proto field corresponds to, among a definition's properties.
pub fn json_property<'p>(properties: impl IntoIterator<Item = &'p str>, proto_field: &str) -> Option<&'p str> {
    let wanted = normalize(proto_field);
    properties.into_iter().find(|p| normalize(p) == wanted)
}

/// The message of a top-level kind. skiff-patch names the kinds it serves (including
/// DeleteOptions per group/version, Eviction, Scale); the fallbacks cover built-in kinds it
/// names no group/version for (`meta.k8s.io/v1` DeleteOptions, review kinds) as long as their
/// definitions exist.
pub fn message_for_kind(plan: &Plan, group: &str, version: &str, kind: &str) -> Option<usize> {
    let mut candidates = vec![skiff_patch::schema::definition_name(group, version, kind)];
    if let Some(package) = builtin_package(group) {
        candidates.push(format!("{package}.{version}.{kind}"));
    }
    candidates.push(format!("io.k8s.apimachinery.pkg.apis.meta.v1.{kind}"));
    candidates.iter().find_map(|c| plan.message_for_definition(c))
}

/// The OpenAPI package prefix of a built-in API group. Only Kubernetes' own groups: a custom
/// resource in `apps.example.com` must not be read as `apps`.
fn builtin_package(group: &str) -> Option<String> {
    match group {
        "" => Some("io.k8s.api.core".into()),
        "apps" | "batch" | "policy" | "autoscaling" => Some(format!("io.k8s.api.{group}")),
        "apiextensions.k8s.io" => Some("io.k8s.apiextensions-apiserver.pkg.apis.apiextensions".into()),
        "rbac.authorization.k8s.io" => Some("io.k8s.api.rbac".into()),
        _ => {
            let short = group.strip_suffix(".k8s.io")?;
            (!short.contains('.')).then(|| format!("io.k8s.api.{short}"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalized_names_agree() {
        assert_eq!(normalize("host_ipc"), normalize("hostIPC"));
        assert_eq!(
            normalize("x_kubernetes_preserve_unknown_fields"),
            normalize("x-kubernetes-preserve-unknown-fields")
        );
        assert_eq!(normalize("ref"), normalize("$ref"));
        assert_eq!(normalize("external_i_ps"), normalize("externalIPs"));
    }

    #[test]
    fn packages() {
        assert_eq!(openapi_package("k8s.io.api.core.v1"), "io.k8s.api.core.v1");
        assert_eq!(
            openapi_package("k8s.io.apiextensions_apiserver.pkg.apis.apiextensions.v1"),
            "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1"
        );
        assert_eq!(builtin_package("rbac.authorization.k8s.io").as_deref(), Some("io.k8s.api.rbac"));
        assert_eq!(builtin_package("authorization.k8s.io").as_deref(), Some("io.k8s.api.authorization"));
        assert_eq!(builtin_package("apps.example.com"), None);
        assert_eq!(builtin_package("stable.example.k8s.io"), None);
    }

    #[test]
    fn definitions_match_case_insensitively() {
        let index = DefinitionIndex::new(["io.k8s.api.core.v1.PodDNSConfig"]);
        assert_eq!(index.find("k8s.io.api.core.v1", "PodDnsConfig"), Some("io.k8s.api.core.v1.PodDNSConfig"));
        assert_eq!(index.find("k8s.io.api.apps.v1", "PodDnsConfig"), None);
    }

    #[test]
    fn properties_match_by_normalized_name() {
        let props = ["hostIPC", "hostPID", "$ref"];
        assert_eq!(json_property(props, "host_ipc"), Some("hostIPC"));
        assert_eq!(json_property(props, "ref"), Some("$ref"));
        assert_eq!(json_property(props, "host_network"), None);
    }
}
