//! A container's environment as kubelet builds it: the image's variables, then `envFrom`
//! sources, then `env` (with `valueFrom` field, resource, ConfigMap and Secret references), each
//! value expanded for `$(VAR)` references to the variables before it.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{ConfigMap, Container, Pod, Secret};
use kube::Api;

use super::fields;

/// The two kinds of object a pod takes keys from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    ConfigMap,
    Secret,
}

impl Kind {
    /// As errors name it: `configmap "x" not found`.
    fn noun(self) -> &'static str {
        match self {
            Kind::ConfigMap => "configmap",
            Kind::Secret => "secret",
        }
    }

    /// As key errors name it: `couldn't find key k in ConfigMap ns/x`.
    fn title(self) -> &'static str {
        match self {
            Kind::ConfigMap => "ConfigMap",
            Kind::Secret => "Secret",
        }
    }
}

/// A ConfigMap's or Secret's keys as text.
pub struct Contents {
    /// `data` (a Secret's decoded).
    pub data: BTreeMap<String, String>,
    /// A ConfigMap's `binaryData` (files get it; environment variables do not, as upstream).
    pub binary: BTreeMap<String, String>,
}

impl Contents {
    pub fn get(&self, key: &str) -> Option<&String> {
        self.data.get(key).or_else(|| self.binary.get(key))
    }

    /// Every key, for volumes.
    pub fn all(&self) -> BTreeMap<String, String> {
        self.binary.iter().chain(&self.data).map(|(k, v)| (k.clone(), v.clone())).collect()
    }
}

fn text(b: &k8s_openapi::ByteString) -> String {
    String::from_utf8_lossy(&b.0).into_owned()
}

/// Reads the ConfigMaps and Secrets a pod refers to (once per name while building).
pub struct Sources {
    client: kube::Client,
    namespace: String,
    read: BTreeMap<(Kind, String), Option<Contents>>,
}

impl Sources {
    pub fn new(client: kube::Client, namespace: &str) -> Sources {
        Sources { client, namespace: namespace.to_string(), read: BTreeMap::new() }
    }

    /// The object's keys, or None when it does not exist.
    pub async fn get(&mut self, kind: Kind, name: &str) -> Result<Option<&Contents>, String> {
        let key = (kind, name.to_string());
        if !self.read.contains_key(&key) {
            let err = |e: kube::Error| format!("{} {name:?}: {e}", kind.noun());
            let contents = match kind {
                Kind::ConfigMap => {
                    let api: Api<ConfigMap> = Api::namespaced(self.client.clone(), &self.namespace);
                    api.get_opt(name).await.map_err(err)?.map(|cm| Contents {
                        data: cm.data.unwrap_or_default(),
                        binary: cm.binary_data.unwrap_or_default().iter().map(|(k, v)| (k.clone(), text(v))).collect(),
                    })
                }
                Kind::Secret => {
                    let api: Api<Secret> = Api::namespaced(self.client.clone(), &self.namespace);
                    api.get_opt(name).await.map_err(err)?.map(|s| Contents {
                        data: s.data.unwrap_or_default().iter().map(|(k, v)| (k.clone(), text(v))).collect(),
                        binary: BTreeMap::new(),
                    })
                }
            };
            self.read.insert(key.clone(), contents);
        }
        Ok(self.read[&key].as_ref())
    }

    /// The object's keys; a missing object is an error unless `optional` (then None).
    pub async fn required(&mut self, kind: Kind, name: &str, optional: bool) -> Result<Option<&Contents>, String> {
        match self.get(kind, name).await? {
            None if !optional => Err(format!("{} \"{name}\" not found", kind.noun())),
            found => Ok(found),
        }
    }

    /// One key of an object for `valueFrom`: None when it (or its object) is missing and the
    /// reference is optional.
    async fn key(&mut self, kind: Kind, name: &str, key: &str, optional: bool) -> Result<Option<String>, String> {
        let namespace = self.namespace.clone();
        match self.required(kind, name, optional).await? {
            None => Ok(None),
            Some(c) => match c.get(key) {
                Some(v) => Ok(Some(v.clone())),
                None if optional => Ok(None),
                None => Err(format!("couldn't find key {key} in {} {namespace}/{name}", kind.title())),
            },
        }
    }
}

/// The environment (`NAME=value` strings) of `container`; an error is a
/// CreateContainerConfigError message (a missing, non-optional reference).
pub async fn build(
    pod: &Pod,
    container: &Container,
    image_env: &[String],
    sources: &mut Sources,
) -> Result<Vec<String>, String> {
    let mut vars: Vec<(String, String)> = Vec::new();
    let set = |vars: &mut Vec<(String, String)>, k: String, v: String| {
        if let Some(slot) = vars.iter_mut().find(|(n, _)| *n == k) {
            slot.1 = v;
        } else {
            vars.push((k, v));
        }
    };
    for e in image_env {
        let (k, v) = e.split_once('=').unwrap_or((e, ""));
        set(&mut vars, k.to_string(), v.to_string());
    }
    if !vars.iter().any(|(k, _)| k == "PATH") {
        vars.insert(0, ("PATH".into(), "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into()));
    }
    let hostname = pod.spec.as_ref().and_then(|s| s.hostname.clone()).unwrap_or_else(|| fields::name(pod).to_string());
    set(&mut vars, "HOSTNAME".into(), hostname);

    for from in container.env_from.iter().flatten() {
        let prefix = from.prefix.clone().unwrap_or_default();
        let refs = [
            from.config_map_ref.as_ref().map(|r| (Kind::ConfigMap, &r.name, r.optional)),
            from.secret_ref.as_ref().map(|r| (Kind::Secret, &r.name, r.optional)),
        ];
        for (kind, name, optional) in refs.into_iter().flatten() {
            if let Some(c) = sources.required(kind, name, optional == Some(true)).await? {
                for (k, v) in &c.data {
                    set(&mut vars, format!("{prefix}{k}"), v.clone());
                }
            }
        }
    }

    for e in container.env.iter().flatten() {
        let value = match &e.value_from {
            None => expand(e.value.as_deref().unwrap_or(""), &vars),
            Some(from) => {
                if let Some(f) = &from.field_ref {
                    fields::field(pod, &f.field_path)
                        .ok_or_else(|| format!("unsupported fieldPath {:?}", f.field_path))?
                } else if let Some(r) = &from.resource_field_ref {
                    fields::resource(pod, container, r)?
                } else if let Some(r) = &from.config_map_key_ref {
                    match sources.key(Kind::ConfigMap, &r.name, &r.key, r.optional == Some(true)).await? {
                        Some(v) => v,
                        None => continue,
                    }
                } else if let Some(r) = &from.secret_key_ref {
                    match sources.key(Kind::Secret, &r.name, &r.key, r.optional == Some(true)).await? {
                        Some(v) => v,
                        None => continue,
                    }
                } else {
                    String::new()
                }
            }
        };
        set(&mut vars, e.name.clone(), value);
    }
    Ok(vars.into_iter().map(|(k, v)| format!("{k}={v}")).collect())
}

/// Kubernetes' `$(VAR)` expansion: a defined variable is replaced, `$$` is a literal `$`, and
/// anything else (undefined names, unclosed references) is kept as written.
pub fn expand(input: &str, vars: &[(String, String)]) -> String {
    let mut out = String::with_capacity(input.len());
    let mut rest = input;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(stripped) = after.strip_prefix('$') {
            out.push('$');
            rest = stripped;
        } else if let Some(body) = after.strip_prefix('(') {
            match body.find(')') {
                Some(end) => {
                    let name = &body[..end];
                    match vars.iter().rev().find(|(k, _)| k == name) {
                        Some((_, v)) => out.push_str(v),
                        None => {
                            out.push_str("$(");
                            out.push_str(name);
                            out.push(')');
                        }
                    }
                    rest = &body[end + 1..];
                }
                None => {
                    out.push_str("$(");
                    rest = body;
                }
            }
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expands_like_kubernetes() {
        let vars = vec![("A".to_string(), "1".to_string()), ("B".to_string(), "two".to_string())];
        assert_eq!(expand("x$(A)y$(B)", &vars), "x1ytwo");
        assert_eq!(expand("$$(A) $(C) $(A", &vars), "$(A) $(C) $(A");
        assert_eq!(expand("cost $5", &vars), "cost $5");
    }
}
