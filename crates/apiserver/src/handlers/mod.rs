//! Handlers for requests on objects: one file per verb family. Each decodes the request into a
//! call on the object lifecycle ([`crate::registry`]) and encodes the answer ([`respond`]).

pub mod create;
pub mod delete;
pub mod get;
pub mod node_proxy;
pub mod patch;
pub mod patch_apply;
pub mod pods;
pub mod respond;
pub mod scale;
pub mod update;
pub mod watch;

use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderMap, Method, Request, Response};
use http_body_util::BodyExt;
use serde_json::Value;
use skiff_api::resources::{ResourceInfo, Subresource, registry};
use skiff_api::{ApiError, object};

use crate::ApiServer;
use crate::authn::User;
use crate::http::Body;
use crate::http::negotiate::{self, BodyFormat, Output};
use crate::http::query::Query;
use crate::http::route::ResourcePath;
use crate::registry::{FieldValidation, WriteOptions};
use respond::{Include, error_response};

/// Request bodies larger than this are refused, as upstream does.
pub const MAX_BODY_BYTES: usize = 3 * 1024 * 1024;

/// Everything a handler needs about the request it serves.
pub struct Ctx {
    pub api: Arc<ApiServer>,
    pub info: &'static ResourceInfo,
    /// The namespace from the URL; empty for cluster-scoped kinds and all-namespace requests.
    pub namespace: String,
    pub name: Option<String>,
    pub sub: Option<Subresource>,
    pub query: Query,
    pub headers: HeaderMap,
    pub user: User,
    pub output: Output,
    pub include: Include,
}

impl Ctx {
    pub fn name(&self) -> &str {
        self.name.as_deref().unwrap_or("")
    }

    pub fn write_options(&self) -> Result<WriteOptions, ApiError> {
        Ok(WriteOptions {
            dry_run: dry_run(&self.query)?,
            validation: FieldValidation::parse(self.query.get("fieldValidation"))?,
            manager: self.field_manager()?,
            applied: false,
        })
    }

    /// `?fieldManager=`, else the first part of the User-Agent, as upstream defaults it.
    fn field_manager(&self) -> Result<String, ApiError> {
        if let Some(m) = self.query.non_empty("fieldManager") {
            if m.len() > 128 || m.chars().any(|c| c.is_control()) {
                return Err(ApiError::bad_request("fieldManager: must be at most 128 printable characters"));
            }
            return Ok(m.to_string());
        }
        let ua = self.headers.get(http::header::USER_AGENT).and_then(|v| v.to_str().ok()).unwrap_or("unknown");
        Ok(ua.split('/').next().unwrap_or("unknown").chars().take(128).collect())
    }
}

pub fn dry_run(q: &Query) -> Result<bool, ApiError> {
    match q.get("dryRun") {
        None | Some("") => Ok(false),
        Some("All") => Ok(true),
        Some(other) => Err(ApiError::bad_request(format!("Invalid dryRun value {other:?}: only \"All\" is supported"))),
    }
}

pub async fn handle<B>(api: Arc<ApiServer>, req: Request<B>, path: ResourcePath, user: User) -> Response<Body>
where
    B: http_body::Body<Data = Bytes>,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    match route(api, req, path, user).await {
        Ok(r) => r,
        Err(e) => error_response(&e),
    }
}

fn not_found() -> ApiError {
    let mut e = ApiError::not_found(&skiff_api::Qualified::new("", ""), "");
    e.message = "the server could not find the requested resource".into();
    e.details = None;
    e
}

async fn route<B>(
    api: Arc<ApiServer>,
    req: Request<B>,
    path: ResourcePath,
    user: User,
) -> Result<Response<Body>, ApiError>
where
    B: http_body::Body<Data = Bytes>,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let info = registry().get(&path.group, &path.version, &path.resource).ok_or_else(not_found)?;
    if !info.namespaced && path.namespace.is_some() {
        return Err(not_found());
    }
    let sub = match &path.subresource {
        None => None,
        Some(s) => Some(Subresource::parse(s).filter(|s| info.has_subresource(*s)).ok_or_else(not_found)?),
    };
    if let (Some(s @ (Subresource::Log | Subresource::Exec | Subresource::Attach)), Some(ns), Some(name)) =
        (sub, &path.namespace, &path.name)
    {
        return node_proxy::handle(api, req, ns, name, s).await;
    }
    let (parts, body) = req.into_parts();
    let query = Query::parse(parts.uri.query());
    let accept = parts.headers.get(http::header::ACCEPT).and_then(|v| v.to_str().ok());
    let ctx = Ctx {
        api,
        info,
        namespace: path.namespace.clone().unwrap_or_default(),
        name: path.name.clone(),
        sub,
        output: negotiate::output(accept)?,
        include: respond::Include::parse(query.get("includeObject"))?,
        query,
        headers: parts.headers,
        user,
    };
    let watch = path.watch || ctx.query.flag("watch");
    let needs_namespace = info.namespaced && ctx.namespace.is_empty();

    match (&parts.method, ctx.name.is_some(), ctx.sub) {
        (&Method::GET, false, None) if watch => watch::watch(&ctx).await,
        (&Method::GET, false, None) => get::list(&ctx).await,
        (&Method::GET, true, _) if needs_namespace => Err(not_found()),
        (&Method::GET, true, Some(Subresource::Scale)) => scale::get(&ctx).await,
        (&Method::GET, true, None | Some(Subresource::Status)) if watch => watch::watch(&ctx).await,
        (&Method::GET, true, None | Some(Subresource::Status)) => get::get(&ctx).await,
        (&Method::POST, false, None) if !needs_namespace => {
            create::create(&ctx, read_body(body).await?, content_type(&ctx)?).await
        }
        (&Method::POST, true, Some(Subresource::Binding)) => {
            pods::bind(&ctx, read_body(body).await?, content_type(&ctx)?).await
        }
        (&Method::POST, true, Some(Subresource::Eviction)) => {
            pods::evict(&ctx, read_body(body).await?, content_type(&ctx)?).await
        }
        (&Method::PUT, true, Some(Subresource::Scale)) => {
            scale::update(&ctx, read_body(body).await?, content_type(&ctx)?).await
        }
        (&Method::PUT, true, None | Some(Subresource::Status) | Some(Subresource::Finalize)) if !needs_namespace => {
            update::update(&ctx, read_body(body).await?, content_type(&ctx)?).await
        }
        (&Method::PATCH, true, None | Some(Subresource::Status) | Some(Subresource::Scale)) if !needs_namespace => {
            patch::patch(&ctx, read_body(body).await?, content_type(&ctx)?).await
        }
        (&Method::DELETE, true, None) if !needs_namespace => delete::delete(&ctx, read_body(body).await?).await,
        (&Method::DELETE, false, None) => delete::delete_collection(&ctx, read_body(body).await?).await,
        (m, _, _) => Err(ApiError::method_not_allowed(format!(
            "the server does not allow this method on the requested resource ({m} {})",
            path.resource
        ))),
    }
}

fn content_type(ctx: &Ctx) -> Result<BodyFormat, ApiError> {
    negotiate::body_format(ctx.headers.get(http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()))
}

/// Bodies beyond this are not even drained before answering 413: the connection is dropped.
const MAX_DRAIN_BYTES: usize = 64 * 1024 * 1024;

/// Read a request body, refusing more than [`MAX_BODY_BYTES`]. A body that is too large is
/// still read (and discarded) so the client finishes sending and gets the 413, not a broken
/// pipe.
pub async fn read_body<B>(body: B) -> Result<Bytes, ApiError>
where
    B: http_body::Body<Data = Bytes>,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let mut body = std::pin::pin!(body);
    let mut buf = bytes::BytesMut::new();
    let mut total = 0usize;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| ApiError::bad_request(format!("reading the request body: {}", e.into())))?;
        if let Ok(data) = frame.into_data() {
            total += data.len();
            if total <= MAX_BODY_BYTES {
                buf.extend_from_slice(&data);
            } else if total > MAX_DRAIN_BYTES {
                break;
            }
        }
    }
    if total > MAX_BODY_BYTES {
        return Err(ApiError::too_large(format!("Request entity too large: limit is {MAX_BODY_BYTES}")));
    }
    Ok(buf.freeze())
}

/// Parse a JSON or YAML body into a value.
pub fn parse_body(body: &[u8], format: BodyFormat) -> Result<Value, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request("the request body is empty"));
    }
    match format {
        BodyFormat::Protobuf => {
            skiff_protobuf::decode(body).map_err(|e| ApiError::bad_request(format!("error decoding protobuf: {e}")))
        }
        BodyFormat::Yaml | BodyFormat::ApplyPatch => {
            let text = std::str::from_utf8(body)
                .map_err(|e| ApiError::bad_request(format!("the request body is not UTF-8: {e}")))?;
            serde_saphyr::from_str::<Value>(text)
                .map_err(|e| ApiError::bad_request(format!("error decoding YAML: {e}")))
        }
        _ => serde_json::from_slice(body).map_err(|e| ApiError::bad_request(format!("json parse error: {e}"))),
    }
}

/// Decode an object body for a create or update: it must be a JSON object of this endpoint's
/// kind and version, and in the URL's namespace. Missing apiVersion/kind are filled in.
pub fn decode_object(ctx: &Ctx, body: &[u8], format: BodyFormat, expect: (&str, &str)) -> Result<Value, ApiError> {
    if format.is_patch() {
        return Err(ApiError::unsupported_media_type(&format!("{format:?}")));
    }
    let mut obj = parse_body(body, format)?;
    let Some(map) = obj.as_object_mut() else {
        return Err(ApiError::bad_request("the request body must be a JSON object"));
    };
    let (api_version, kind) = expect;
    match map.get("apiVersion").and_then(Value::as_str) {
        Some(v) if v != api_version => {
            return Err(ApiError::bad_request(format!(
                "the API version in the data ({v}) does not match the expected API version ({api_version})"
            )));
        }
        Some(_) => {}
        None => {
            map.insert("apiVersion".into(), api_version.into());
        }
    }
    match map.get("kind").and_then(Value::as_str) {
        Some(k) if k != kind => {
            return Err(ApiError::bad_request(format!(
                "the kind in the data ({k}) does not match the expected kind ({kind})"
            )));
        }
        Some(_) => {}
        None => {
            map.insert("kind".into(), kind.into());
        }
    }
    let ns = object::namespace(&obj);
    if ctx.info.namespaced && !ns.is_empty() && ns != ctx.namespace {
        return Err(ApiError::bad_request(
            "the namespace of the provided object does not match the namespace sent on the request",
        ));
    }
    Ok(obj)
}
