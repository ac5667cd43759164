//! Image references as Docker and containerd normalise them: `busybox` is
//! `docker.io/library/busybox:latest`, `localhost:5000/x` is `localhost:5000/x:latest`, a digest
//! (`name@sha256:…`) is kept and then no tag is added. The grammar is the one of
//! distribution/reference; anything else is refused with the reason.

use std::fmt;

use super::error::ImageError;

const DEFAULT_DOMAIN: &str = "docker.io";
const LEGACY_DEFAULT_DOMAIN: &str = "index.docker.io";
const OFFICIAL_PREFIX: &str = "library/";
const DEFAULT_TAG: &str = "latest";
const NAME_MAX: usize = 255;
const TAG_MAX: usize = 128;

/// A parsed, normalised reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    /// `domain/path`, e.g. `docker.io/library/busybox`.
    pub name: String,
    /// The tag; `latest` when neither a tag nor a digest was given.
    pub tag: Option<String>,
    /// `sha256:<hex>` when the reference pins a digest.
    pub digest: Option<String>,
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

impl Reference {
    /// `name:tag`, when there is a tag.
    pub fn tagged(&self) -> Option<String> {
        self.tag.as_ref().map(|t| format!("{}:{t}", self.name))
    }

    /// `name@digest`, when there is a digest.
    pub fn digested(&self) -> Option<String> {
        self.digest.as_ref().map(|d| format!("{}@{d}", self.name))
    }
}

/// Normalise `reference` (see the module doc).
pub fn normalize(reference: &str) -> Result<String, ImageError> {
    parse(reference).map(|r| r.to_string())
}

/// Parse and normalise `reference`.
pub fn parse(reference: &str) -> Result<Reference, ImageError> {
    let bad = |reason: &str| ImageError::BadReference { reference: reference.to_string(), reason: reason.to_string() };
    if reference.is_empty() {
        return Err(bad("empty"));
    }
    if reference.len() == 64 && reference.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()) {
        // What Docker refuses too: it would be mistaken for an image id.
        return Err(bad("a 64-character hex string is an image id, not a name"));
    }
    let (rest, digest) = match reference.split_once('@') {
        Some((rest, digest)) => (rest, Some(check_digest(digest).map_err(bad)?)),
        None => (reference, None),
    };
    let (name, tag) = match rest.rfind(':') {
        Some(i) if !rest[i..].contains('/') => (&rest[..i], Some(&rest[i + 1..])),
        _ => (rest, None),
    };
    if let Some(tag) = tag {
        check_tag(tag).map_err(bad)?;
    }
    let (domain, path) = split_domain(name);
    check_domain(domain).map_err(bad)?;
    check_path(path).map_err(bad)?;
    let (domain, path) = match domain {
        "" | LEGACY_DEFAULT_DOMAIN => {
            let path = if path.contains('/') { path.to_string() } else { format!("{OFFICIAL_PREFIX}{path}") };
            (DEFAULT_DOMAIN, path)
        }
        DEFAULT_DOMAIN if !path.contains('/') => (DEFAULT_DOMAIN, format!("{OFFICIAL_PREFIX}{path}")),
        d => (d, path.to_string()),
    };
    let name = format!("{domain}/{path}");
    if name.len() > NAME_MAX {
        return Err(bad("the name is longer than 255 characters"));
    }
    let tag = match (tag, &digest) {
        (Some(t), _) => Some(t.to_string()),
        (None, None) => Some(DEFAULT_TAG.to_string()),
        (None, Some(_)) => None,
    };
    Ok(Reference { name, tag, digest })
}

/// Split off the registry: the first component is one when it has a `.` or `:`, is
/// `localhost`, or has capitals (which a repository path may not).
fn split_domain(name: &str) -> (&str, &str) {
    match name.split_once('/') {
        Some((first, rest))
            if first.contains(['.', ':']) || first == "localhost" || first.bytes().any(|b| b.is_ascii_uppercase()) =>
        {
            (first, rest)
        }
        _ => ("", name),
    }
}

fn check_domain(domain: &str) -> Result<(), &'static str> {
    if domain.is_empty() {
        return Ok(());
    }
    let port = if let Some(v6) = domain.strip_prefix('[') {
        let (addr, after) = v6.split_once(']').ok_or("unterminated IPv6 address in the registry")?;
        if addr.is_empty() || !addr.bytes().all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.') {
            return Err("invalid IPv6 address in the registry");
        }
        match after {
            "" => None,
            p => Some(p.strip_prefix(':').ok_or("invalid registry")?),
        }
    } else {
        let (host, port) = match domain.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (domain, None),
        };
        for label in host.split('.') {
            let b = label.as_bytes();
            let ok = !b.is_empty()
                && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
                && b[0] != b'-'
                && b[b.len() - 1] != b'-';
            if !ok {
                return Err("invalid registry host");
            }
        }
        port
    };
    match port {
        Some(p) if p.is_empty() || !p.bytes().all(|c| c.is_ascii_digit()) => Err("invalid registry port"),
        _ => Ok(()),
    }
}

/// Path components: lowercase alphanumerics joined by `.`, `_`, `__` or runs of `-`.
fn check_path(path: &str) -> Result<(), &'static str> {
    if path.is_empty() {
        return Err("the repository name is empty");
    }
    for component in path.split('/') {
        let b = component.as_bytes();
        if b.is_empty() {
            return Err("empty path component in the repository name");
        }
        if b.iter().any(|c| c.is_ascii_uppercase()) {
            return Err("the repository name must be lowercase");
        }
        if !b.iter().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, b'.' | b'_' | b'-')) {
            return Err("the repository name may only have a-z, 0-9, '.', '_', '-' and '/'");
        }
        let mut i = 0;
        let mut last_alnum = false;
        while i < b.len() {
            if b[i].is_ascii_alphanumeric() {
                last_alnum = true;
                i += 1;
                continue;
            }
            // A separator: `.`, `_`, `__` or a run of `-`, between alphanumerics.
            let start = i;
            let sep = b[i];
            while i < b.len() && b[i] == sep {
                i += 1;
            }
            let len = i - start;
            let ok = last_alnum && i < b.len() && (sep == b'-' || len == 1 || (sep == b'_' && len == 2));
            if !ok {
                return Err("separators in the repository name must sit between letters or digits");
            }
            last_alnum = false;
        }
    }
    Ok(())
}

fn check_tag(tag: &str) -> Result<(), &'static str> {
    let b = tag.as_bytes();
    let word = |c: &u8| c.is_ascii_alphanumeric() || *c == b'_';
    if b.is_empty() {
        return Err("empty tag");
    }
    if b.len() > TAG_MAX {
        return Err("the tag is longer than 128 characters");
    }
    if !word(&b[0]) || !b.iter().all(|c| word(c) || *c == b'.' || *c == b'-') {
        return Err("invalid tag");
    }
    Ok(())
}

/// Only sha256 digests: the store is addressed by them.
fn check_digest(digest: &str) -> Result<String, &'static str> {
    let hex = digest.strip_prefix("sha256:").ok_or("only sha256 digests are supported")?;
    if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
        return Err("a sha256 digest has 64 lowercase hex digits");
    }
    Ok(digest.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn short_names_get_docker_hub_library_and_latest() {
        assert_eq!(normalize("busybox").unwrap(), "docker.io/library/busybox:latest");
        assert_eq!(normalize("busybox:1.36").unwrap(), "docker.io/library/busybox:1.36");
        assert_eq!(normalize("docker.io/busybox").unwrap(), "docker.io/library/busybox:latest");
        assert_eq!(normalize("index.docker.io/library/busybox").unwrap(), "docker.io/library/busybox:latest");
        assert_eq!(normalize("bitnami/nginx").unwrap(), "docker.io/bitnami/nginx:latest");
    }

    #[test]
    fn registries_with_ports_and_localhost_are_kept() {
        assert_eq!(normalize("localhost:5000/x").unwrap(), "localhost:5000/x:latest");
        assert_eq!(normalize("localhost/x:1").unwrap(), "localhost/x:1");
        assert_eq!(normalize("registry.k8s.io/pause:3.10").unwrap(), "registry.k8s.io/pause:3.10");
        assert_eq!(normalize("[::1]:5000/a/b").unwrap(), "[::1]:5000/a/b:latest");
    }

    #[test]
    fn digests_are_kept_without_adding_a_tag() {
        assert_eq!(normalize(&format!("busybox@{D}")).unwrap(), format!("docker.io/library/busybox@{D}"));
        assert_eq!(normalize(&format!("busybox:1@{D}")).unwrap(), format!("docker.io/library/busybox:1@{D}"));
    }

    #[test]
    fn bad_references_say_why() {
        for (r, why) in [
            ("", "empty"),
            ("Busybox", "lowercase"),
            ("busybox:", "empty tag"),
            ("busybox:-x", "invalid tag"),
            ("busybox@sha256:abc", "64"),
            ("busybox@md5:abc", "sha256"),
            ("a//b", "empty path component"),
            ("a-/b", "separators"),
            ("a/b c", "may only"),
            ("localhost:port/x", "port"),
            (&D[7..], "image id"),
        ] {
            let e = normalize(r).unwrap_err().to_string();
            assert!(e.contains(why), "{r:?}: {e}");
        }
    }

    #[test]
    fn tagged_and_digested_forms() {
        let r = parse(&format!("busybox:1@{D}")).unwrap();
        assert_eq!(r.tagged().unwrap(), "docker.io/library/busybox:1");
        assert_eq!(r.digested().unwrap(), format!("docker.io/library/busybox@{D}"));
    }
}
