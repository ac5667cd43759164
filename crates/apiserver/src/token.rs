//! The cluster's join token, k3s-style: `K10<sha256 of the CA certificate>::server:<secret>`.
//!
//! The secret lets a machine join (see [`crate::join`]); the hash lets the joining machine check
//! it talks to the right cluster before it sends the secret (it pins the CA). The server keeps
//! the token in `<data-dir>/server/token` (0600) and reuses it across restarts; `--token` sets
//! the secret.

use std::fmt;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::pki::write_private;

const PREFIX: &str = "K10";
const USER_PART: &str = "::server:";
/// Random bytes in a generated secret (hex-encoded: 32 characters, as k3s's).
const SECRET_BYTES: usize = 16;

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("the token is not in the K10<CA hash>::server:<secret> form")]
    Malformed,
    #[error("the token's secret is empty or has spaces or control characters")]
    BadSecret,
    #[error("--token pins another CA than this server's (its K10 hash differs)")]
    OtherCa,
    #[error("{path}: {source}")]
    File { path: PathBuf, source: std::io::Error },
    #[error("{0}")]
    Write(#[from] crate::pki::PkiError),
    #[error("no randomness for a new token")]
    Random,
}

/// A parsed join token.
#[derive(Clone, PartialEq, Eq)]
pub struct JoinToken {
    ca_hash: String,
    secret: String,
}

// The secret stays out of debug output (and so out of logged errors).
impl fmt::Debug for JoinToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinToken").field("ca_hash", &self.ca_hash).finish_non_exhaustive()
    }
}

impl fmt::Display for JoinToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{PREFIX}{}{USER_PART}{}", self.ca_hash, self.secret)
    }
}

impl JoinToken {
    /// Parse the full form. A bare secret is refused: without the hash the CA is not pinned.
    pub fn parse(s: &str) -> Result<JoinToken, TokenError> {
        let rest = s.trim().strip_prefix(PREFIX).ok_or(TokenError::Malformed)?;
        let (hash, secret) = rest.split_once(USER_PART).ok_or(TokenError::Malformed)?;
        if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(TokenError::Malformed);
        }
        check_secret(secret)?;
        Ok(JoinToken { ca_hash: hash.to_ascii_lowercase(), secret: secret.to_string() })
    }

    /// The token of the cluster whose CA is `ca_pem`, with `secret`.
    pub fn new(ca_pem: &str, secret: &str) -> Result<JoinToken, TokenError> {
        check_secret(secret)?;
        Ok(JoinToken { ca_hash: ca_hash(ca_pem), secret: secret.to_string() })
    }

    pub fn secret(&self) -> &str {
        &self.secret
    }

    /// Whether `ca_pem` (as the server serves it) is the CA this token pins.
    pub fn pins(&self, ca_pem: &str) -> bool {
        ca_hash(ca_pem) == self.ca_hash
    }

    /// Whether `given` is this token's secret. Takes the same time wherever they differ, so
    /// timing tells nothing about how much of a guess was right.
    pub fn secret_matches(&self, given: &str) -> bool {
        let (a, b) = (self.secret.as_bytes(), given.as_bytes());
        a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
    }
}

/// The hex SHA-256 of a CA certificate's PEM text, as k3s hashes `/cacerts`.
pub fn ca_hash(ca_pem: &str) -> String {
    Sha256::digest(ca_pem.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

fn check_secret(secret: &str) -> Result<(), TokenError> {
    if secret.is_empty() || !secret.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(TokenError::BadSecret);
    }
    Ok(())
}

/// Where the server keeps its token.
pub fn path(server_dir: &Path) -> PathBuf {
    server_dir.join("token")
}

/// The server's token: `given` (`--token`, a bare secret or the full form) if set, else the
/// stored one, else a new random one. The stored file is (re)written whenever it differs, and
/// a stored secret survives a new CA (only the hash changes).
pub fn load_or_create(server_dir: &Path, given: Option<&str>, ca_pem: &str) -> Result<JoinToken, TokenError> {
    let file = path(server_dir);
    let stored = match std::fs::read_to_string(&file) {
        Ok(s) => Some(s),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(source) => return Err(TokenError::File { path: file, source }),
    };
    let token = match given.map(str::trim) {
        Some(g) if g.starts_with(PREFIX) && g.contains(USER_PART) => {
            let t = JoinToken::parse(g)?;
            if !t.pins(ca_pem) {
                return Err(TokenError::OtherCa);
            }
            t
        }
        Some(secret) => JoinToken::new(ca_pem, secret)?,
        None => match stored.as_deref().map(JoinToken::parse) {
            Some(Ok(t)) => JoinToken::new(ca_pem, t.secret())?,
            _ => JoinToken::new(ca_pem, &random_secret()?)?,
        },
    };
    if stored.as_deref().map(str::trim) != Some(token.to_string().as_str()) {
        std::fs::create_dir_all(server_dir)
            .map_err(|source| TokenError::File { path: server_dir.to_path_buf(), source })?;
        write_private(&file, format!("{token}\n").as_bytes())?;
    }
    Ok(token)
}

fn random_secret() -> Result<String, TokenError> {
    let mut bytes = [0u8; SECRET_BYTES];
    rustls::crypto::ring::default_provider().secure_random.fill(&mut bytes).map_err(|_| TokenError::Random)?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    const CA: &str = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";

    #[test]
    fn a_new_token_is_stored_private_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let first = load_or_create(dir.path(), None, CA).unwrap();
        let text = first.to_string();
        assert!(text.starts_with(&format!("K10{}::server:", ca_hash(CA))), "{text}");
        assert_eq!(first.secret().len(), 2 * SECRET_BYTES);
        let mode = std::fs::metadata(path(dir.path())).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(load_or_create(dir.path(), None, CA).unwrap(), first);
        assert_ne!(load_or_create(tempfile::tempdir().unwrap().path(), None, CA).unwrap(), first);
    }

    #[test]
    fn given_token_sets_the_secret_and_must_pin_this_ca() {
        let dir = tempfile::tempdir().unwrap();
        load_or_create(dir.path(), None, CA).unwrap();
        let t = load_or_create(dir.path(), Some("my-secret"), CA).unwrap();
        assert_eq!(t.secret(), "my-secret");
        assert_eq!(load_or_create(dir.path(), None, CA).unwrap(), t);
        let full = t.to_string();
        assert_eq!(load_or_create(dir.path(), Some(&full), CA).unwrap(), t);
        let other = format!("K10{}::server:x", "0".repeat(64));
        assert!(matches!(load_or_create(dir.path(), Some(&other), CA), Err(TokenError::OtherCa)));
        assert!(matches!(load_or_create(dir.path(), Some("two words"), CA), Err(TokenError::BadSecret)));
    }

    #[test]
    fn parse_needs_the_full_form() {
        let t = JoinToken::new(CA, "s3cret").unwrap();
        assert_eq!(JoinToken::parse(&t.to_string()).unwrap(), t);
        assert!(t.pins(CA) && !t.pins("other"));
        for bad in ["s3cret", "K10abc::server:s", "K10::server:s", &format!("K10{}::node:s", "a".repeat(64))] {
            assert!(JoinToken::parse(bad).is_err(), "{bad}");
        }
        assert!(matches!(JoinToken::parse(&format!("K10{}::server:", "a".repeat(64))), Err(TokenError::BadSecret)));
    }

    #[test]
    fn secrets_compare_exactly() {
        let t = JoinToken::new(CA, "xyz").unwrap();
        assert!(t.secret_matches("xyz"));
        assert!(!t.secret_matches("xyw") && !t.secret_matches("xy") && !t.secret_matches("xyzz"));
        assert!(!format!("{t:?}").contains("xyz"));
    }
}
