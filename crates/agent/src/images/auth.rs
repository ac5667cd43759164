//! Registry credentials from `kubernetes.io/dockerconfigjson` (`{"auths": {KEY: …}}`) and
//! `kubernetes.io/dockercfg` (`{KEY: …}`) secrets, looked up for an image as kubelet's keyring
//! does: a key is a registry host, maybe with a port, a path prefix (`registry.io/team`) and
//! `*` / `?` wildcards in host labels (`*.registry.io`); `https://` and a `/v1/` or `/v2/` path are
//! ignored; every key matching the image gives its credentials, most specific (reverse
//! lexical order) first, and Docker Hub's legacy key `index.docker.io` serves Docker Hub images.

use std::collections::BTreeMap;
use std::fmt;

use base64::Engine as _;
use serde::Deserialize;

/// The key Docker writes for Docker Hub (`https://index.docker.io/v1/` once normalised).
const DEFAULT_REGISTRY_KEY: &str = "index.docker.io";

/// A user name and password (or token) for a registry.
#[derive(Clone, PartialEq, Eq)]
pub struct Credential {
    pub username: String,
    pub password: String,
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credential").field("username", &self.username).finish_non_exhaustive()
    }
}

/// Credentials by registry key.
#[derive(Debug, Clone, Default)]
pub struct Keyring {
    creds: BTreeMap<String, Vec<Credential>>,
}

#[derive(Deserialize)]
struct DockerConfigJson {
    #[serde(default)]
    auths: BTreeMap<String, Entry>,
}

#[derive(Deserialize)]
struct Entry {
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    auth: Option<String>,
}

impl Keyring {
    pub fn new() -> Keyring {
        Keyring::default()
    }

    /// Add the entries of a `.dockerconfigjson` document.
    pub fn add_docker_config_json(&mut self, bytes: &[u8]) -> Result<(), String> {
        let doc: DockerConfigJson =
            serde_json::from_slice(bytes).map_err(|e| format!("not a valid .dockerconfigjson: {e}"))?;
        self.add_entries(doc.auths)
    }

    /// Add the entries of a legacy `.dockercfg` document.
    pub fn add_docker_cfg(&mut self, bytes: &[u8]) -> Result<(), String> {
        let doc: BTreeMap<String, Entry> =
            serde_json::from_slice(bytes).map_err(|e| format!("not a valid .dockercfg: {e}"))?;
        self.add_entries(doc)
    }

    /// Add one credential for `key` (a registry host, maybe with a path).
    pub fn add(&mut self, key: &str, credential: Credential) {
        let list = self.creds.entry(normalize_key(key)).or_default();
        if !list.contains(&credential) {
            list.push(credential);
        }
    }

    fn add_entries(&mut self, entries: BTreeMap<String, Entry>) -> Result<(), String> {
        for (key, entry) in entries {
            let mut credential = Credential {
                username: entry.username.unwrap_or_default(),
                password: entry.password.unwrap_or_default(),
            };
            if let Some(auth) = entry.auth.filter(|a| !a.is_empty()) {
                let decoded = base64::engine::general_purpose::STANDARD
                    .decode(auth.trim())
                    .map_err(|e| format!("the auth of {key:?} is not base64: {e}"))?;
                let decoded = String::from_utf8(decoded).map_err(|_| format!("the auth of {key:?} is not UTF-8"))?;
                let (user, password) =
                    decoded.split_once(':').ok_or_else(|| format!("the auth of {key:?} is not user:password"))?;
                credential = Credential { username: user.to_string(), password: password.to_string() };
            }
            self.add(&key, credential);
        }
        Ok(())
    }

    pub fn is_empty(&self) -> bool {
        self.creds.is_empty()
    }

    /// The credentials to try for the repository `name` (normalised, e.g.
    /// `docker.io/library/busybox` or `registry.io:5000/team/app`), best first.
    pub fn lookup(&self, name: &str) -> Vec<Credential> {
        let target = Url::parse(name);
        let mut found = Vec::new();
        for (key, creds) in self.creds.iter().rev() {
            if Url::parse(key).matches(&target) {
                found.extend(creds.iter().cloned());
            }
        }
        if found.is_empty()
            && is_docker_hub(name)
            && let Some(creds) = self.creds.get(DEFAULT_REGISTRY_KEY)
        {
            found.extend(creds.iter().cloned());
        }
        found
    }
}

/// `https://host/v1/` → `host`, `host/path` stays.
fn normalize_key(key: &str) -> String {
    let url = Url::parse(key.trim());
    let path = if url.path.starts_with("/v1/") || url.path.starts_with("/v2/") { &url.path[3..] } else { url.path };
    if path.is_empty() || path == "/" { url.authority.to_string() } else { format!("{}{path}", url.authority) }
}

fn is_docker_hub(name: &str) -> bool {
    match name.split_once('/') {
        None => !name.is_empty(),
        Some((first, _)) => first == "docker.io" || first == "index.docker.io" || !first.contains(['.', ':']),
    }
}

/// Just enough of a URL for matching: the scheme is dropped.
struct Url<'a> {
    authority: &'a str,
    path: &'a str,
}

impl<'a> Url<'a> {
    fn parse(s: &'a str) -> Url<'a> {
        let s = s.strip_prefix("https://").or_else(|| s.strip_prefix("http://")).unwrap_or(s);
        match s.find('/') {
            Some(i) => Url { authority: &s[..i], path: &s[i..] },
            None => Url { authority: s, path: "" },
        }
    }

    fn host_port(&self) -> (&'a str, &'a str) {
        match self.authority.rsplit_once(':') {
            Some((h, p)) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => (h, p),
            _ => (self.authority, ""),
        }
    }

    /// `self` is the key (a glob); the target matches when ports are equal, the host has as
    /// many labels and each matches its glob, and the key's path is a prefix of the target's.
    fn matches(&self, target: &Url<'_>) -> bool {
        let (glob_host, glob_port) = self.host_port();
        let (host, port) = target.host_port();
        if glob_port != port || !target.path.starts_with(self.path) {
            return false;
        }
        let globs: Vec<&str> = glob_host.split('.').collect();
        let labels: Vec<&str> = host.split('.').collect();
        globs.len() == labels.len() && globs.iter().zip(&labels).all(|(g, l)| glob_match(g.as_bytes(), l.as_bytes()))
    }
}

/// `*` (any run of characters) and `?` (one character), as filepath.Match within a host label.
fn glob_match(pattern: &[u8], text: &[u8]) -> bool {
    match pattern.split_first() {
        None => text.is_empty(),
        Some((b'*', rest)) => (0..=text.len()).any(|i| glob_match(rest, &text[i..])),
        Some((b'?', rest)) => !text.is_empty() && glob_match(rest, &text[1..]),
        Some((c, rest)) => text.first() == Some(c) && glob_match(rest, &text[1..]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cred(user: &str) -> Credential {
        Credential { username: user.into(), password: "pw".into() }
    }

    fn users(found: Vec<Credential>) -> Vec<String> {
        found.into_iter().map(|c| c.username).collect()
    }

    #[test]
    fn dockerconfigjson_auth_field_is_decoded() {
        let mut k = Keyring::new();
        // base64("alice:s3cr:et")
        k.add_docker_config_json(br#"{"auths":{"registry.io:5000":{"auth":"YWxpY2U6czNjcjpldA=="}}}"#).unwrap();
        assert_eq!(
            k.lookup("registry.io:5000/team/app"),
            vec![Credential { username: "alice".into(), password: "s3cr:et".into() }]
        );
    }

    #[test]
    fn dockerconfigjson_username_and_password_fields_are_read() {
        let mut k = Keyring::new();
        k.add_docker_config_json(br#"{"auths":{"https://registry.io/v2/":{"username":"bob","password":"x"}}}"#)
            .unwrap();
        assert_eq!(k.lookup("registry.io/app"), vec![Credential { username: "bob".into(), password: "x".into() }]);
    }

    #[test]
    fn legacy_dockercfg_is_read() {
        let mut k = Keyring::new();
        k.add_docker_cfg(br#"{"registry.io":{"username":"carol","password":"y"}}"#).unwrap();
        assert_eq!(users(k.lookup("registry.io/app")), ["carol"]);
    }

    #[test]
    fn malformed_documents_are_refused_with_the_reason() {
        let mut k = Keyring::new();
        assert!(k.add_docker_config_json(b"nope").unwrap_err().contains(".dockerconfigjson"));
        assert!(k.add_docker_config_json(br#"{"auths":{"r":{"auth":"!!"}}}"#).unwrap_err().contains("base64"));
        // base64("nocolon")
        assert!(k.add_docker_config_json(br#"{"auths":{"r":{"auth":"bm9jb2xvbg=="}}}"#).unwrap_err().contains("user:"));
    }

    #[test]
    fn port_must_match_exactly() {
        let mut k = Keyring::new();
        k.add("registry.io:5000", cred("a"));
        assert!(k.lookup("registry.io/app").is_empty());
        assert!(k.lookup("registry.io:5001/app").is_empty());
        assert_eq!(users(k.lookup("registry.io:5000/app")), ["a"]);
    }

    #[test]
    fn path_keys_match_their_prefix_and_the_most_specific_comes_first() {
        let mut k = Keyring::new();
        k.add("registry.io", cred("host"));
        k.add("registry.io/team", cred("team"));
        k.add("registry.io/other", cred("other"));
        assert_eq!(users(k.lookup("registry.io/team/app")), ["team", "host"]);
        assert_eq!(users(k.lookup("registry.io/solo")), ["host"]);
    }

    #[test]
    fn wildcards_match_one_host_label_each() {
        let mut k = Keyring::new();
        k.add("*.registry.io", cred("wild"));
        assert_eq!(users(k.lookup("eu.registry.io/app")), ["wild"]);
        assert!(k.lookup("registry.io/app").is_empty());
        assert!(k.lookup("a.eu.registry.io/app").is_empty());
        k.add("r?.example.com", cred("q"));
        assert_eq!(users(k.lookup("r1.example.com/x")), ["q"]);
    }

    #[test]
    fn docker_hub_legacy_key_serves_docker_hub_images() {
        let mut k = Keyring::new();
        k.add_docker_config_json(br#"{"auths":{"https://index.docker.io/v1/":{"username":"hub","password":"p"}}}"#)
            .unwrap();
        assert_eq!(users(k.lookup("docker.io/library/busybox")), ["hub"]);
        assert!(k.lookup("quay.io/x/y").is_empty());
    }

    #[test]
    fn credentials_never_show_in_debug_output() {
        assert!(!format!("{:?}", Credential { username: "u".into(), password: "secret".into() }).contains("secret"));
    }
}
