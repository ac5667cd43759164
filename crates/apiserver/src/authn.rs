//! Authentication: x509 client certificates from the cluster CA, and static bearer tokens.
//!
//! TLS verifies client certificates against the cluster CA during the handshake; here the
//! verified certificate's subject becomes the user (CN is the name, each O a group), as upstream
//! reads it. Requests with neither a certificate nor a known token are anonymous and get 401.

use std::collections::HashMap;
use std::path::Path;

use http::HeaderMap;

/// Who made a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub name: String,
    pub uid: String,
    pub groups: Vec<String>,
}

impl User {
    fn authenticated(name: String, uid: String, mut groups: Vec<String>) -> Self {
        groups.push("system:authenticated".to_string());
        User { name, uid, groups }
    }

    /// The identity of in-process components (scheduler, controllers), which skip TLS.
    pub fn system(name: &str) -> Self {
        User::authenticated(name.to_string(), String::new(), vec!["system:masters".to_string()])
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AuthnError {
    #[error("{path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("{path}:{line}: a token line needs at least token,user,uid")]
    BadLine { path: String, line: usize },
}

/// Maps credentials to users.
#[derive(Debug, Default)]
pub struct Authenticator {
    tokens: HashMap<String, User>,
}

impl Authenticator {
    /// Load a token file in upstream's `--token-auth-file` format: `token,user,uid,"g1,g2"`.
    pub fn load(token_file: Option<&Path>) -> Result<Self, AuthnError> {
        let mut tokens = HashMap::new();
        if let Some(path) = token_file {
            let text = std::fs::read_to_string(path)
                .map_err(|source| AuthnError::Read { path: path.display().to_string(), source })?;
            for (i, line) in text.lines().enumerate() {
                let line = line.trim();
                if line.is_empty() || line.starts_with('#') {
                    continue;
                }
                let fields = split_csv(line);
                if fields.len() < 3 || fields[0].is_empty() || fields[1].is_empty() {
                    return Err(AuthnError::BadLine { path: path.display().to_string(), line: i + 1 });
                }
                let groups = fields
                    .get(3)
                    .map(|g| g.split(',').map(str::trim).filter(|g| !g.is_empty()).map(str::to_string).collect())
                    .unwrap_or_default();
                tokens.insert(fields[0].clone(), User::authenticated(fields[1].clone(), fields[2].clone(), groups));
            }
        }
        Ok(Authenticator { tokens })
    }

    /// Add a token at run time (the cluster's own components, join tokens).
    pub fn add_token(&mut self, token: String, user: User) {
        self.tokens.insert(token, user);
    }

    /// The user of a request: its verified client certificate, else its bearer token.
    pub fn authenticate(&self, peer: Option<&User>, headers: &HeaderMap) -> Option<User> {
        if let Some(u) = peer {
            return Some(u.clone());
        }
        let value = headers.get(http::header::AUTHORIZATION)?.to_str().ok()?;
        let token = value.strip_prefix("Bearer ").or_else(|| value.strip_prefix("bearer "))?.trim();
        self.tokens.get(token).cloned()
    }
}

/// The user named by a client certificate (already verified by TLS): CN and O.
pub fn user_from_certificate(der: &[u8]) -> Option<User> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    let subject = cert.subject();
    let name = subject.iter_common_name().next()?.as_str().ok()?.to_string();
    let groups = subject.iter_organization().filter_map(|o| o.as_str().ok().map(str::to_string)).collect();
    Some(User::authenticated(name, String::new(), groups))
}

/// Split one CSV line, honouring double quotes (groups are a quoted comma list).
fn split_csv(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    for c in line.chars() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => out.push(std::mem::take(&mut cur).trim().to_string()),
            _ => cur.push(c),
        }
    }
    out.push(cur.trim().to_string());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_file_maps_tokens_to_users() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokens.csv");
        std::fs::write(&path, "# comment\nsecret1,alice,1001,\"dev,ops\"\nsecret2,bob,1002\n").unwrap();
        let a = Authenticator::load(Some(&path)).unwrap();
        let mut h = HeaderMap::new();
        h.insert(http::header::AUTHORIZATION, "Bearer secret1".parse().unwrap());
        let u = a.authenticate(None, &h).unwrap();
        assert_eq!(u.name, "alice");
        assert_eq!(u.groups, ["dev", "ops", "system:authenticated"]);
        h.insert(http::header::AUTHORIZATION, "Bearer wrong".parse().unwrap());
        assert_eq!(a.authenticate(None, &h), None);
        assert_eq!(a.authenticate(None, &HeaderMap::new()), None);
    }

    #[test]
    fn bad_token_lines_are_reported() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokens.csv");
        std::fs::write(&path, "onlytoken\n").unwrap();
        assert!(matches!(Authenticator::load(Some(&path)), Err(AuthnError::BadLine { line: 1, .. })));
    }

    #[test]
    fn certificate_subject_names_the_user() {
        let dir = tempfile::tempdir().unwrap();
        let pki = crate::pki::Pki::load_or_create(dir.path(), &[]).unwrap();
        let (_, pem) = x509_parser::pem::parse_x509_pem(pki.admin.cert_pem.as_bytes()).unwrap();
        let u = user_from_certificate(&pem.contents).unwrap();
        assert_eq!(u.name, "system:admin");
        assert_eq!(u.groups, ["system:masters", "system:authenticated"]);
    }
}
