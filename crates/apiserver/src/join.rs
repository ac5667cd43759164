//! Joining machines to the cluster, as k3s does (`skiff agent --server URL --token TOKEN`).
//!
//! Two endpoints outside the Kubernetes API, answered before authentication:
//! - `GET /cacerts`: the cluster CA as PEM, for anyone. The joining agent fetches it without
//!   verifying TLS and accepts it only if its SHA-256 is the hash its token pins; from then on
//!   it verifies the server against it.
//! - `POST /v1-skiff/join` with `Authorization: Bearer <secret>` and a [`JoinRequest`]: the
//!   node's certificates ([`JoinAnswer`]). A wrong or missing secret gets 401 before anything
//!   else (the body is not even read).

use std::net::IpAddr;

use bytes::Bytes;
use http::{HeaderMap, Method, Request, Response, StatusCode, header};
use serde::{Deserialize, Serialize};
use skiff_api::ApiError;

use crate::handlers::read_body;
use crate::handlers::respond::{bytes_response, error_response, json_response};
use crate::http::Body;
use crate::pki::{self, CertKey};
use crate::token::JoinToken;

pub const CACERTS_PATH: &str = "/cacerts";
pub const JOIN_PATH: &str = "/v1-skiff/join";

/// More addresses than a machine plausibly has: a request with more is refused.
const MAX_ADDRESSES: usize = 32;

/// What a joining agent says about itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct JoinRequest {
    pub node_name: String,
    /// IP addresses and host names its serving certificate must carry (besides the node name).
    #[serde(default)]
    pub addresses: Vec<String>,
}

/// The certificates a joined agent runs with, PEM-encoded.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JoinAnswer {
    /// The cluster CA: verifies the API server, and the API server's client certificate when it
    /// connects to the agent.
    pub ca: String,
    pub client_cert: String,
    pub client_key: String,
    pub serving_cert: String,
    pub serving_key: String,
}

/// The endpoints of this module.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    CaCerts,
    Join,
}

impl Endpoint {
    /// The endpoint a request path names, if it is one of these.
    pub fn of(path: &str) -> Option<Endpoint> {
        match path.trim_end_matches('/') {
            CACERTS_PATH => Some(Endpoint::CaCerts),
            JOIN_PATH => Some(Endpoint::Join),
            _ => None,
        }
    }
}

/// What the server needs to let machines join: the CA (to sign with) and the token.
pub struct Joining {
    ca: CertKey,
    token: JoinToken,
}

impl Joining {
    pub fn new(ca: CertKey, token: JoinToken) -> Self {
        Joining { ca, token }
    }

    /// Answer a request for `endpoint` (unauthenticated so far).
    pub async fn serve<B>(&self, endpoint: Endpoint, req: Request<B>) -> Response<Body>
    where
        B: http_body::Body<Data = Bytes>,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        match endpoint {
            Endpoint::CaCerts if req.method() == Method::GET || req.method() == Method::HEAD => {
                bytes_response(StatusCode::OK, "application/x-pem-file", Bytes::from(self.ca.cert_pem.clone()))
            }
            Endpoint::CaCerts => error_response(&ApiError::method_not_allowed("GET /cacerts only")),
            Endpoint::Join => {
                if !self.authorized(req.headers()) {
                    return error_response(&ApiError::unauthorized());
                }
                if req.method() != Method::POST {
                    return error_response(&ApiError::method_not_allowed("POST /v1-skiff/join only"));
                }
                match self.join(req.into_body()).await {
                    Ok(answer) => json_response(StatusCode::OK, &serde_json::to_value(answer).unwrap_or_default()),
                    Err(e) => error_response(&e),
                }
            }
        }
    }

    /// Whether the request carries the token's secret as its bearer token.
    fn authorized(&self, headers: &HeaderMap) -> bool {
        let Some(value) = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) else {
            return false;
        };
        value.strip_prefix("Bearer ").is_some_and(|given| self.token.secret_matches(given.trim()))
    }

    async fn join<B>(&self, body: B) -> Result<JoinAnswer, ApiError>
    where
        B: http_body::Body<Data = Bytes>,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let body = read_body(body).await?;
        let request: JoinRequest = serde_json::from_slice(&body)
            .map_err(|e| ApiError::bad_request(format!("reading the join request: {e}")))?;
        let sans = serving_names(&request)?;
        let certs = pki::issue_node(&self.ca, &request.node_name, &sans)
            .map_err(|e| ApiError::internal(format!("issuing the node's certificates: {e}")))?;
        tracing::info!(node = %request.node_name, addresses = ?request.addresses, "node joined");
        Ok(JoinAnswer {
            ca: self.ca.cert_pem.clone(),
            client_cert: certs.client.cert_pem,
            client_key: certs.client.key_pem,
            serving_cert: certs.serving.cert_pem,
            serving_key: certs.serving.key_pem,
        })
    }
}

/// The names of the serving certificate: the node name, then each address (IP or host name),
/// without duplicates. Anything that is not a valid name or address is refused.
fn serving_names(request: &JoinRequest) -> Result<Vec<String>, ApiError> {
    let name = &request.node_name;
    if let Some(why) = skiff_api::names::is_dns1123_subdomain(name).first() {
        return Err(ApiError::bad_request(format!("node name {name:?}: {why}")));
    }
    if request.addresses.len() > MAX_ADDRESSES {
        return Err(ApiError::bad_request(format!("more than {MAX_ADDRESSES} addresses")));
    }
    let mut sans = vec![name.clone()];
    for a in &request.addresses {
        let name_ok = skiff_api::names::is_dns1123_subdomain(a).is_empty();
        if a.parse::<IpAddr>().is_err() && !name_ok {
            return Err(ApiError::bad_request(format!("address {a:?} is neither an IP address nor a host name")));
        }
        if !sans.contains(a) {
            sans.push(a.clone());
        }
    }
    Ok(sans)
}

#[cfg(test)]
mod tests {
    use http_body_util::BodyExt;

    use super::*;

    fn joining() -> (Joining, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let pki = crate::pki::Pki::load_or_create(dir.path(), &[]).unwrap();
        let token = JoinToken::new(&pki.ca.cert_pem, "right").unwrap();
        (Joining::new(pki.ca, token), dir)
    }

    fn post(auth: Option<&str>, body: &str) -> Request<http_body_util::Full<Bytes>> {
        let mut b = Request::post(JOIN_PATH);
        if let Some(a) = auth {
            b = b.header(header::AUTHORIZATION, a);
        }
        b.body(http_body_util::Full::new(Bytes::from(body.to_string()))).unwrap()
    }

    async fn body_text(r: Response<Body>) -> String {
        String::from_utf8(r.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap()
    }

    #[tokio::test]
    async fn wrong_or_missing_token_gets_401_and_nothing_else() {
        let (j, _dir) = joining();
        let body = r#"{"nodeName":"w1"}"#;
        for auth in [None, Some("Bearer wrong"), Some("Bearer righ"), Some("Basic right"), Some("right")] {
            let r = j.serve(Endpoint::Join, post(auth, body)).await;
            assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{auth:?}");
            assert!(!body_text(r).await.contains("BEGIN"));
        }
        let mut get = post(Some("Bearer wrong"), "");
        *get.method_mut() = Method::GET;
        assert_eq!(j.serve(Endpoint::Join, get).await.status(), StatusCode::UNAUTHORIZED);
    }

    #[tokio::test]
    async fn right_token_gets_the_node_certificates() {
        let (j, _dir) = joining();
        let r = j
            .serve(
                Endpoint::Join,
                post(Some("Bearer right"), r#"{"nodeName":"w1","addresses":["10.0.0.5","w1-host"]}"#),
            )
            .await;
        assert_eq!(r.status(), StatusCode::OK);
        let answer: JoinAnswer = serde_json::from_str(&body_text(r).await).unwrap();
        assert_eq!(answer.ca, j.ca.cert_pem);
        let user = crate::authn::user_from_certificate(&pki::cert_der(&answer.client_cert).unwrap()).unwrap();
        assert_eq!((user.name.as_str(), user.groups[0].as_str()), ("system:node:w1", "system:nodes"));
        let sans = ["w1", "10.0.0.5", "w1-host"].map(String::from);
        assert!(!pki::needs_renewal(&answer.serving_cert, &sans));
    }

    #[tokio::test]
    async fn bad_join_requests_are_refused_with_a_reason() {
        let (j, _dir) = joining();
        for (body, why) in [
            ("not json", "reading the join request"),
            (r#"{"nodeName":"Bad_Name"}"#, "node name"),
            (r#"{"nodeName":"w1","addresses":["no spaces"]}"#, "neither an IP"),
            (r#"{"nodeName":"w1","extra":1}"#, "unknown field"),
        ] {
            let r = j.serve(Endpoint::Join, post(Some("Bearer right"), body)).await;
            assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{body}");
            assert!(body_text(r).await.contains(why), "{body}");
        }
    }

    #[tokio::test]
    async fn cacerts_serves_the_ca_to_anyone() {
        let (j, _dir) = joining();
        let req = Request::get(CACERTS_PATH).body(http_body_util::Full::new(Bytes::new())).unwrap();
        let r = j.serve(Endpoint::CaCerts, req).await;
        assert_eq!(r.status(), StatusCode::OK);
        assert!(j.token.pins(&body_text(r).await));
        assert_eq!(Endpoint::of("/cacerts/"), Some(Endpoint::CaCerts));
        assert_eq!(Endpoint::of("/api/v1/cacerts"), None);
    }
}
