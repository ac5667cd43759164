//! One repository of one registry, as the Docker Registry HTTP API v2 / OCI distribution spec
//! serves it: manifests and blobs by GET, authentication by challenge. An unauthenticated request
//! answered 401 names the scheme in `WWW-Authenticate`: `Bearer` sends us to a token server
//! (anonymously, or with the basic credentials), `Basic` wants the credentials on every request.
//! The authorization found is kept for the session's later requests. Redirects (blob stores
//! on other hosts) are followed, without the registry's authorization when the host changes.

use std::path::Path;

use base64::Engine as _;
use http::{StatusCode, Uri};
use hyper::body::Incoming;
use serde::Deserialize;
use sha2::{Digest as _, Sha256};
use tokio::io::AsyncWriteExt;

use super::auth::Credential;
use super::challenge;
use super::pull::PullError;
use super::transport::{self, HttpError, Verify};

/// Redirects followed for one request.
const MAX_REDIRECTS: usize = 5;
/// Token responses larger than this are refused.
const TOKEN_MAX: u64 = 1 << 20;

/// How a registry is reached, once found out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scheme {
    Https(Verify),
    Http,
}

pub(crate) struct Session {
    /// The registry as the reference names it (`docker.io`, `localhost:5000`).
    registry: String,
    /// Where its API is (`registry-1.docker.io` for Docker Hub).
    api_host: String,
    /// The repository path (`library/busybox`).
    repository: String,
    insecure: bool,
    /// Known once the first request went through (insecure registries may speak plain HTTP).
    scheme: Option<Scheme>,
    credential: Option<Credential>,
    /// The `Authorization` header value found by the last challenge.
    authorization: Option<String>,
}

impl Session {
    pub(crate) fn new(registry: &str, repository: &str, insecure: bool, credential: Option<Credential>) -> Session {
        let api_host = if registry == "docker.io" { "registry-1.docker.io" } else { registry };
        Session {
            registry: registry.to_string(),
            api_host: api_host.to_string(),
            repository: repository.to_string(),
            insecure,
            scheme: None,
            credential,
            authorization: None,
        }
    }

    /// A manifest (by tag or digest): its bytes and content type.
    pub(crate) async fn manifest(&mut self, reference: &str) -> Result<(Vec<u8>, Option<String>), PullError> {
        let path = format!("/v2/{}/manifests/{reference}", self.repository);
        let mut response = self.get(&path, Some(super::manifest::ACCEPT)).await?;
        let content_type =
            response.headers().get(http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(str::to_string);
        let host = self.api_host.clone();
        let body = transport::read_body(response.body_mut(), &host, super::manifest::JSON_MAX)
            .await
            .map_err(self.transport())?;
        let body = body.ok_or_else(|| PullError::BadManifest {
            reference: self.name_with(reference),
            reason: "larger than 16 MiB".into(),
        })?;
        Ok((body, content_type))
    }

    /// A small blob (a config) read whole, checked against its digest.
    pub(crate) async fn blob_bytes(&mut self, digest: &str, max: u64) -> Result<Vec<u8>, PullError> {
        let path = format!("/v2/{}/blobs/{digest}", self.repository);
        let mut response = self.get(&path, None).await?;
        let host = self.api_host.clone();
        let body = transport::read_body(response.body_mut(), &host, max).await.map_err(self.transport())?.ok_or_else(
            || PullError::BadManifest {
                reference: self.name_with(digest),
                reason: format!("blob larger than {max} bytes"),
            },
        )?;
        let actual = super::digest::sha256(&body);
        if actual != digest {
            return Err(PullError::DigestMismatch { what: self.name_with(digest), expected: digest.into(), actual });
        }
        Ok(body)
    }

    /// Download a blob into `dest`, checking its size and digest; `progress` gets the bytes so far.
    pub(crate) async fn blob_to_file(
        &mut self,
        digest: &str,
        size: u64,
        dest: &Path,
        progress: &mut (dyn FnMut(u64) + Send),
    ) -> Result<(), PullError> {
        let path = format!("/v2/{}/blobs/{digest}", self.repository);
        let mut response = self.get(&path, None).await?;
        let io_err = |e: std::io::Error| PullError::Io { path: dest.to_path_buf(), reason: e.to_string() };
        let mut file = tokio::fs::File::create(dest).await.map_err(io_err)?;
        let mut hasher = Sha256::new();
        let mut done = 0u64;
        let host = self.api_host.clone();
        while let Some(chunk) = transport::next_chunk(response.body_mut(), &host).await.map_err(self.transport())? {
            done += chunk.len() as u64;
            if size > 0 && done > size {
                return Err(PullError::BadManifest {
                    reference: self.name_with(digest),
                    reason: format!("blob is larger than the {size} bytes its manifest says"),
                });
            }
            hasher.update(&chunk);
            file.write_all(&chunk).await.map_err(io_err)?;
            progress(done);
        }
        file.flush().await.map_err(io_err)?;
        let actual = format!("sha256:{}", hasher.finalize().iter().map(|b| format!("{b:02x}")).collect::<String>());
        if actual != digest {
            return Err(PullError::DigestMismatch { what: self.name_with(digest), expected: digest.into(), actual });
        }
        Ok(())
    }

    fn name_with(&self, reference: &str) -> String {
        let sep = if reference.starts_with("sha256:") { '@' } else { ':' };
        format!("{}/{}{sep}{reference}", self.registry, self.repository)
    }

    fn transport(&self) -> impl Fn(HttpError) -> PullError + '_ {
        move |e| PullError::Transport { registry: self.registry.clone(), source: e }
    }

    /// GET `path` of the registry's API, authenticating and following redirects; only a 2xx
    /// response comes back, anything else is the error it means.
    async fn get(&mut self, path: &str, accept: Option<&str>) -> Result<hyper::Response<Incoming>, PullError> {
        let mut authenticated = false;
        loop {
            let response = self.get_following(path, accept).await?;
            let status = response.status();
            if status == StatusCode::UNAUTHORIZED && !authenticated {
                authenticated = true;
                let challenges: Vec<challenge::Challenge> = response
                    .headers()
                    .get_all(http::header::WWW_AUTHENTICATE)
                    .iter()
                    .filter_map(|v| v.to_str().ok())
                    .flat_map(challenge::parse)
                    .collect();
                if self.answer(&challenges).await? {
                    continue;
                }
            }
            if status.is_success() {
                return Ok(response);
            }
            return Err(self.status_error(path, response).await);
        }
    }

    /// Find the authorization the challenges ask for; false when there is none to try.
    async fn answer(&mut self, challenges: &[challenge::Challenge]) -> Result<bool, PullError> {
        if let Some(bearer) = challenges.iter().find(|c| c.scheme == "bearer") {
            let token = self.token(bearer).await?;
            self.authorization = Some(format!("Bearer {token}"));
            return Ok(true);
        }
        if challenges.iter().any(|c| c.scheme == "basic")
            && let Some(c) = &self.credential
        {
            self.authorization = Some(basic(c));
            return Ok(true);
        }
        Ok(false)
    }

    /// A token from the challenge's realm, for pulling this repository.
    async fn token(&mut self, challenge: &challenge::Challenge) -> Result<String, PullError> {
        let realm = challenge.param("realm").unwrap_or_default();
        let default_scope = format!("repository:{}:pull", self.repository);
        let mut query = Vec::new();
        if let Some(service) = challenge.param("service") {
            query.push(format!("service={}", encode(service)));
        }
        query.push(format!("scope={}", encode(challenge.param("scope").unwrap_or(&default_scope))));
        let sep = if realm.contains('?') { '&' } else { '?' };
        let url = format!("{realm}{sep}{}", query.join("&"));
        let uri: Uri = url.parse().map_err(|_| PullError::Auth {
            registry: self.registry.clone(),
            reason: format!("the token realm {realm:?} is not a URL"),
        })?;
        let headers: Vec<(&str, String)> =
            self.credential.iter().map(|c| (http::header::AUTHORIZATION.as_str(), basic(c))).collect();
        let verify = self.verify_for(&uri);
        let mut response = transport::get(&uri, &headers, verify).await.map_err(self.transport())?;
        let host = uri.host().unwrap_or_default().to_string();
        let status = response.status();
        let body = transport::read_body(response.body_mut(), &host, TOKEN_MAX)
            .await
            .map_err(self.transport())?
            .unwrap_or_default();
        if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
            return Err(PullError::Unauthorized {
                reference: format!("{}/{}", self.registry, self.repository),
                detail: format!("the token server refused the credentials ({status})"),
            });
        }
        if !status.is_success() {
            return Err(PullError::Auth {
                registry: self.registry.clone(),
                reason: format!("token server {host} answered {status}{}", error_detail(&body)),
            });
        }
        #[derive(Deserialize)]
        struct Token {
            #[serde(default)]
            token: Option<String>,
            #[serde(default)]
            access_token: Option<String>,
        }
        let t: Token = serde_json::from_slice(&body).map_err(|e| PullError::Auth {
            registry: self.registry.clone(),
            reason: format!("token server {host}: not a token response: {e}"),
        })?;
        t.token.or(t.access_token).filter(|t| !t.is_empty()).ok_or_else(|| PullError::Auth {
            registry: self.registry.clone(),
            reason: format!("token server {host} sent no token"),
        })
    }

    /// TLS verification for a URL the registry sent us to: skipped only on the registry's own
    /// host when it is insecure.
    fn verify_for(&self, uri: &Uri) -> Verify {
        let same = uri.authority().is_some_and(|a| a.as_str() == self.api_host);
        if same && self.insecure { Verify::No } else { Verify::Yes }
    }

    /// GET on the registry with our authorization, following redirects.
    async fn get_following(
        &mut self,
        path: &str,
        accept: Option<&str>,
    ) -> Result<hyper::Response<Incoming>, PullError> {
        let mut response = self.get_registry(path, accept).await?;
        let mut url: Option<Uri> = None;
        for _ in 0..MAX_REDIRECTS {
            if !response.status().is_redirection() {
                return Ok(response);
            }
            let Some(location) = response.headers().get(http::header::LOCATION).and_then(|v| v.to_str().ok()) else {
                return Ok(response);
            };
            let base = url.clone().unwrap_or_else(|| self.url(path));
            let next = resolve(&base, location).ok_or_else(|| PullError::Auth {
                registry: self.registry.clone(),
                reason: format!("redirect to {location:?}, which is not a URL"),
            })?;
            let mut headers = Vec::new();
            // The registry's credentials are for the registry only (blob stores sign their URLs).
            if next.authority() == base.authority()
                && let Some(a) = &self.authorization
            {
                headers.push((http::header::AUTHORIZATION.as_str(), a.clone()));
            }
            let verify = self.verify_for(&next);
            response = transport::get(&next, &headers, verify).await.map_err(self.transport())?;
            url = Some(next);
        }
        Err(PullError::Auth { registry: self.registry.clone(), reason: "too many redirects".into() })
    }

    /// GET on the registry itself, finding out the scheme on the first request.
    async fn get_registry(&mut self, path: &str, accept: Option<&str>) -> Result<hyper::Response<Incoming>, PullError> {
        let mut headers = Vec::new();
        if let Some(a) = accept {
            headers.push((http::header::ACCEPT.as_str(), a.to_string()));
        }
        if let Some(a) = &self.authorization {
            headers.push((http::header::AUTHORIZATION.as_str(), a.clone()));
        }
        let schemes: &[Scheme] = match self.scheme {
            Some(ref s) => std::slice::from_ref(s),
            None if self.insecure => &[Scheme::Https(Verify::No), Scheme::Http],
            None => &[Scheme::Https(Verify::Yes)],
        };
        let mut last = None;
        for &scheme in schemes {
            let uri = self.url_with(scheme, path);
            let verify = match scheme {
                Scheme::Https(v) => v,
                Scheme::Http => Verify::No,
            };
            match transport::get(&uri, &headers, verify).await {
                Ok(r) => {
                    self.scheme = Some(scheme);
                    return Ok(r);
                }
                Err(e @ HttpError::UnknownHost(_)) => return Err(self.transport()(e)),
                Err(e) => {
                    tracing::debug!(registry = %self.registry, ?scheme, "request failed: {e}");
                    last = Some(e);
                }
            }
        }
        Err(self.transport()(last.unwrap_or_else(|| HttpError::BadUrl(path.to_string()))))
    }

    fn url(&self, path: &str) -> Uri {
        self.url_with(self.scheme.unwrap_or(Scheme::Https(Verify::Yes)), path)
    }

    fn url_with(&self, scheme: Scheme, path: &str) -> Uri {
        let s = match scheme {
            Scheme::Https(_) => "https",
            Scheme::Http => "http",
        };
        format!("{s}://{}{path}", self.api_host).parse().unwrap_or_default()
    }

    async fn status_error(&self, path: &str, mut response: hyper::Response<Incoming>) -> PullError {
        let status = response.status();
        let body = transport::read_body(response.body_mut(), &self.api_host, 64 << 10)
            .await
            .ok()
            .flatten()
            .unwrap_or_default();
        let detail = error_detail(&body);
        let what = path
            .rsplit_once("/manifests/")
            .or_else(|| path.rsplit_once("/blobs/"))
            .map(|(_, r)| self.name_with(r))
            .unwrap_or_else(|| format!("{}{path}", self.registry));
        match status {
            StatusCode::NOT_FOUND => PullError::NotFound { reference: what },
            StatusCode::UNAUTHORIZED => {
                let base = if self.credential.is_some() {
                    "the registry refused the credentials"
                } else {
                    "authentication required"
                };
                // Registries mostly repeat "authentication required" in the body.
                let detail = if detail.contains(base) { String::new() } else { detail };
                PullError::Unauthorized { reference: what, detail: format!("{base}{detail}") }
            }
            StatusCode::FORBIDDEN => PullError::Denied { reference: what, detail },
            _ => PullError::Status { reference: what, status: status.to_string(), detail },
        }
    }
}

fn basic(c: &Credential) -> String {
    let raw = format!("{}:{}", c.username, c.password);
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(raw))
}

/// `: CODE: message` from a registry's JSON error body, or nothing.
fn error_detail(body: &[u8]) -> String {
    #[derive(Deserialize)]
    struct Errors {
        #[serde(default)]
        errors: Vec<Entry>,
    }
    #[derive(Deserialize)]
    struct Entry {
        #[serde(default)]
        code: String,
        #[serde(default)]
        message: String,
    }
    let Ok(parsed) = serde_json::from_slice::<Errors>(body) else { return String::new() };
    let parts: Vec<String> = parsed
        .errors
        .iter()
        .map(|e| if e.message.is_empty() { e.code.clone() } else { format!("{}: {}", e.code, e.message) })
        .collect();
    if parts.is_empty() { String::new() } else { format!(" ({})", parts.join("; ")) }
}

/// A `Location` against the URL it came from.
fn resolve(base: &Uri, location: &str) -> Option<Uri> {
    if location.starts_with("http://") || location.starts_with("https://") {
        return location.parse().ok();
    }
    let scheme = base.scheme_str()?;
    let authority = base.authority()?.as_str();
    if location.starts_with('/') {
        return format!("{scheme}://{authority}{location}").parse().ok();
    }
    let dir = base.path().rsplit_once('/').map(|(d, _)| d).unwrap_or("");
    format!("{scheme}://{authority}{dir}/{location}").parse().ok()
}

/// Percent-encode a query value.
fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~:/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_error_bodies_become_a_short_detail() {
        let body = br#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown","detail":{"Tag":"2"}}]}"#;
        assert_eq!(error_detail(body), " (MANIFEST_UNKNOWN: manifest unknown)");
        assert_eq!(error_detail(b"<html>"), "");
    }

    #[test]
    fn redirects_resolve_against_the_request() {
        let base: Uri = "http://127.0.0.1:5000/v2/x/blobs/sha256:00".parse().unwrap();
        assert_eq!(resolve(&base, "/b/c").unwrap().to_string(), "http://127.0.0.1:5000/b/c");
        assert_eq!(resolve(&base, "https://s3.example/o?sig=1").unwrap().to_string(), "https://s3.example/o?sig=1");
        assert_eq!(resolve(&base, "d").unwrap().to_string(), "http://127.0.0.1:5000/v2/x/blobs/d");
    }

    #[test]
    fn scope_is_percent_encoded_but_readable() {
        assert_eq!(encode("repository:library/busybox:pull,push"), "repository:library/busybox:pull%2Cpush");
        assert_eq!(encode("a b&c"), "a%20b%26c");
    }

    #[test]
    fn docker_hub_is_reached_at_its_api_host() {
        let s = Session::new("docker.io", "library/busybox", false, None);
        assert_eq!(s.url("/v2/").to_string(), "https://registry-1.docker.io/v2/");
        assert_eq!(s.name_with("1"), "docker.io/library/busybox:1");
    }
}
