//! Which endpoint a request path names, as upstream's RequestInfoFactory reads paths.

/// A request for objects of a resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourcePath {
    pub group: String,
    pub version: String,
    pub resource: String,
    pub namespace: Option<String>,
    pub name: Option<String>,
    pub subresource: Option<String>,
    /// The legacy `/watch/` path form.
    pub watch: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    Health(String),
    Version,
    /// `/api`
    CoreVersions,
    /// `/apis`
    Groups,
    /// `/apis/<group>`
    Group(String),
    /// `/api/v1`, `/apis/<group>/<version>`
    ResourceList {
        group: String,
        version: String,
    },
    OpenApiV3Root,
    OpenApiV3(String),
    OpenApiV2,
    Resource(ResourcePath),
    NotFound,
}

/// Namespace subresources: `/namespaces/<ns>/status` is the namespace's, not a resource "status".
const NAMESPACE_SUBRESOURCES: &[&str] = &["status", "finalize"];

pub fn parse(path: &str) -> Route {
    let trimmed = path.trim_end_matches('/');
    let parts: Vec<&str> = trimmed.split('/').filter(|p| !p.is_empty()).collect();
    match parts.as_slice() {
        [h @ ("healthz" | "livez" | "readyz"), rest @ ..] => {
            Route::Health(std::iter::once(*h).chain(rest.iter().copied()).collect::<Vec<_>>().join("/"))
        }
        ["version"] => Route::Version,
        ["api"] => Route::CoreVersions,
        ["apis"] => Route::Groups,
        ["apis", g] => Route::Group(g.to_string()),
        ["openapi", "v3"] => Route::OpenApiV3Root,
        ["openapi", "v3", rest @ ..] => Route::OpenApiV3(rest.join("/")),
        ["openapi", "v2"] | ["swagger.json"] => Route::OpenApiV2,
        ["api", v, rest @ ..] => resource_route("", v, rest),
        ["apis", g, v, rest @ ..] => resource_route(g, v, rest),
        _ => Route::NotFound,
    }
}

fn resource_route(group: &str, version: &str, mut rest: &[&str]) -> Route {
    if rest.is_empty() {
        return Route::ResourceList { group: group.to_string(), version: version.to_string() };
    }
    let watch = rest[0] == "watch";
    if watch {
        rest = &rest[1..];
    }
    let mut namespace = None;
    if rest.first() == Some(&"namespaces") && rest.len() > 1 {
        namespace = Some(rest[1].to_string());
        if rest.len() > 2 && !NAMESPACE_SUBRESOURCES.contains(&rest[2]) {
            rest = &rest[2..];
        }
    }
    // What is left: resource [name [subresource]].
    let (resource, name, subresource) = match rest {
        [r] => (*r, None, None),
        [r, n] => (*r, Some(*n), None),
        [r, n, s] => (*r, Some(*n), Some(*s)),
        _ => return Route::NotFound,
    };
    // `/namespaces/<name>` and its subresources name the namespace itself.
    if resource == "namespaces" {
        namespace = None;
    }
    Route::Resource(ResourcePath {
        group: group.to_string(),
        version: version.to_string(),
        resource: resource.to_string(),
        namespace,
        name: name.map(str::to_string),
        subresource: subresource.map(str::to_string),
        watch,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn res(path: &str) -> ResourcePath {
        match parse(path) {
            Route::Resource(r) => r,
            other => panic!("{path}: {other:?}"),
        }
    }

    #[test]
    fn parses_resource_paths() {
        let r = res("/api/v1/namespaces/default/pods/web/status");
        assert_eq!((r.group.as_str(), r.resource.as_str()), ("", "pods"));
        assert_eq!(r.namespace.as_deref(), Some("default"));
        assert_eq!(r.name.as_deref(), Some("web"));
        assert_eq!(r.subresource.as_deref(), Some("status"));

        let r = res("/apis/apps/v1/deployments");
        assert_eq!(
            (r.group.as_str(), r.resource.as_str(), r.namespace.clone(), r.name.clone()),
            ("apps", "deployments", None, None)
        );

        let r = res("/api/v1/namespaces/demo");
        assert_eq!((r.resource.as_str(), r.name.as_deref(), r.namespace.clone()), ("namespaces", Some("demo"), None));

        let r = res("/api/v1/namespaces/demo/finalize");
        assert_eq!(
            (r.resource.as_str(), r.name.as_deref(), r.subresource.as_deref()),
            ("namespaces", Some("demo"), Some("finalize"))
        );

        let r = res("/api/v1/namespaces");
        assert_eq!((r.resource.as_str(), r.name.clone()), ("namespaces", None));

        let r = res("/api/v1/watch/namespaces/default/pods");
        assert!(r.watch);
        assert_eq!(r.namespace.as_deref(), Some("default"));
    }

    #[test]
    fn parses_other_routes() {
        assert_eq!(parse("/api"), Route::CoreVersions);
        assert_eq!(parse("/apis/"), Route::Groups);
        assert_eq!(parse("/apis/apps"), Route::Group("apps".into()));
        assert_eq!(parse("/apis/apps/v1"), Route::ResourceList { group: "apps".into(), version: "v1".into() });
        assert_eq!(parse("/readyz"), Route::Health("readyz".into()));
        assert_eq!(parse("/livez/ping"), Route::Health("livez/ping".into()));
        assert_eq!(parse("/openapi/v3/apis/apps/v1"), Route::OpenApiV3("apis/apps/v1".into()));
        assert_eq!(parse("/nothing"), Route::NotFound);
    }
}
