//! Encoding responses: objects and lists as JSON (shared cached bytes where possible), YAML,
//! Tables for `kubectl get`, PartialObjectMetadata, and Status errors.

use bytes::{BufMut, Bytes, BytesMut};
use http::{HeaderValue, Response, StatusCode, header};
use serde_json::{Map, Value, json};
use skiff_api::ApiError;
use skiff_api::resources::ResourceInfo;

use crate::cache::CachedObject;
use crate::http::Body;
use crate::http::negotiate::Output;

pub const JSON: &str = "application/json";

pub fn bytes_response(status: StatusCode, content_type: &str, body: Bytes) -> Response<Body> {
    let mut r = Response::new(Body::full(body));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_str(content_type).unwrap_or(HeaderValue::from_static(JSON)));
    r
}

pub fn json_response(status: StatusCode, v: &Value) -> Response<Body> {
    bytes_response(status, JSON, Bytes::from(serde_json::to_vec(v).unwrap_or_default()))
}

pub fn error_response(e: &ApiError) -> Response<Body> {
    let status = StatusCode::from_u16(e.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut r = json_response(status, &e.to_status());
    // As upstream: a Status that says when to retry says it in the header clients read too
    // (client-go then retries by itself, so 0 means "no advice" and sends none).
    if let Some(secs) = e.details.as_ref().and_then(|d| d.retry_after_seconds).filter(|s| *s > 0) {
        r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    r
}

/// Add `Warning: 299 - "..."` headers, as upstream reports unknown fields under
/// `fieldValidation=Warn`.
pub fn add_warnings(r: &mut Response<Body>, warnings: &[String]) {
    for w in warnings {
        let escaped = w.replace('\\', "\\\\").replace('"', "\\\"");
        if let Ok(v) = HeaderValue::from_str(&format!("299 - \"{escaped}\"")) {
            r.headers_mut().append(header::WARNING, v);
        }
    }
}

/// An object in the served version of `info` (converting from the stored shape if needed).
pub fn served_value(info: &ResourceInfo, stored: Value) -> Value {
    match info.stored_as {
        Some((_, conv)) => conv.from_storage(stored),
        None => stored,
    }
}

/// The served JSON bytes of a cached object: the shared cached bytes unless a conversion applies.
pub fn served_json(info: &ResourceInfo, o: &CachedObject) -> Bytes {
    match info.stored_as {
        None => o.json().clone(),
        Some((_, conv)) => Bytes::from(serde_json::to_vec(&conv.from_storage(o.value())).unwrap_or_default()),
    }
}

/// Encode one object for the requested output.
pub fn object(info: &ResourceInfo, output: Output, status: StatusCode, v: &Value, include: Include) -> Response<Body> {
    match output {
        Output::Json => json_response(status, v),
        Output::Yaml => yaml_response(status, v),
        Output::Table(version) => json_response(status, &table(info, version, std::slice::from_ref(v), None, include)),
        Output::Metadata(version) => json_response(status, &partial_metadata(v, version)),
    }
}

/// Encode a cached object without parsing it when JSON is wanted.
pub fn cached_object(info: &ResourceInfo, output: Output, o: &CachedObject, include: Include) -> Response<Body> {
    match output {
        Output::Json => bytes_response(StatusCode::OK, JSON, served_json(info, o)),
        _ => object(info, output, StatusCode::OK, &served_value(info, o.value()), include),
    }
}

fn yaml_response(status: StatusCode, v: &Value) -> Response<Body> {
    match serde_saphyr::to_string(v) {
        Ok(s) => bytes_response(status, "application/yaml", Bytes::from(s)),
        Err(e) => error_response(&ApiError::internal(format!("encoding YAML: {e}"))),
    }
}

/// List metadata: resourceVersion, and the continue token when paginating.
#[derive(Debug, Clone, Default)]
pub struct ListMeta {
    pub resource_version: i64,
    pub continue_token: Option<String>,
}

impl ListMeta {
    fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("resourceVersion".into(), self.resource_version.to_string().into());
        if let Some(c) = &self.continue_token {
            m.insert("continue".into(), c.clone().into());
        }
        Value::Object(m)
    }
}

/// Encode a list of cached objects.
pub fn list(
    info: &ResourceInfo,
    output: Output,
    items: &[std::sync::Arc<CachedObject>],
    meta: &ListMeta,
    include: Include,
) -> Response<Body> {
    match output {
        Output::Json => {
            // Items are spliced in as their cached bytes: no re-encoding per object.
            let head = json!({"kind": info.list_kind(), "apiVersion": info.api_version(), "metadata": meta.to_json()});
            let mut buf = BytesMut::with_capacity(items.iter().map(|o| o.json().len() + 1).sum::<usize>() + 256);
            let head = serde_json::to_vec(&head).unwrap_or_default();
            buf.put_slice(&head[..head.len() - 1]);
            buf.put_slice(b",\"items\":[");
            for (i, o) in items.iter().enumerate() {
                if i > 0 {
                    buf.put_u8(b',');
                }
                buf.put_slice(&served_json(info, o));
            }
            buf.put_slice(b"]}");
            bytes_response(StatusCode::OK, JSON, buf.freeze())
        }
        Output::Yaml => {
            let values: Vec<Value> = items.iter().map(|o| served_value(info, o.value())).collect();
            yaml_response(
                StatusCode::OK,
                &json!({"kind": info.list_kind(), "apiVersion": info.api_version(), "metadata": meta.to_json(), "items": values}),
            )
        }
        Output::Table(version) => {
            let values: Vec<Value> = items.iter().map(|o| served_value(info, o.value())).collect();
            json_response(StatusCode::OK, &table(info, version, &values, Some(meta), include))
        }
        Output::Metadata(version) => {
            let values: Vec<Value> = items.iter().map(|o| partial_metadata(&o.value(), version)).collect();
            json_response(
                StatusCode::OK,
                &json!({"kind": "PartialObjectMetadataList", "apiVersion": format!("meta.k8s.io/{version}"), "metadata": meta.to_json(), "items": values}),
            )
        }
    }
}

/// What a Table row's `object` carries (`?includeObject=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Include {
    None,
    Metadata,
    Object,
}

impl Include {
    pub fn parse(v: Option<&str>) -> Result<Self, ApiError> {
        match v {
            None | Some("") | Some("Metadata") => Ok(Include::Metadata),
            Some("None") => Ok(Include::None),
            Some("Object") => Ok(Include::Object),
            Some(other) => Err(ApiError::bad_request(format!("unsupported includeObject value {other:?}"))),
        }
    }
}

/// [`partial_metadata`] of a cached object, its metadata copied as bytes (watches of
/// metadata, as the garbage collector runs, see every change of every object).
pub fn partial_metadata_json(o: &CachedObject, version: &str) -> Bytes {
    let head = format!(r#"{{"kind":"PartialObjectMetadata","apiVersion":"meta.k8s.io/{version}","metadata":"#);
    let meta = o.metadata_json();
    let mut out = Vec::with_capacity(head.len() + meta.len() + 1);
    out.extend_from_slice(head.as_bytes());
    out.extend_from_slice(meta);
    out.push(b'}');
    Bytes::from(out)
}

pub fn partial_metadata(v: &Value, version: &str) -> Value {
    json!({
        "kind": "PartialObjectMetadata",
        "apiVersion": format!("meta.k8s.io/{version}"),
        "metadata": v.get("metadata").cloned().unwrap_or_else(|| json!({})),
    })
}

/// A `meta.k8s.io` Table of objects, with the kind's columns.
pub fn table(
    info: &ResourceInfo,
    version: &str,
    objects: &[Value],
    meta: Option<&ListMeta>,
    include: Include,
) -> Value {
    let now = skiff_api::time::now_secs();
    let columns: Vec<Value> = info.strategy.table_columns().iter().map(|c| c.to_json()).collect();
    let rows: Vec<Value> = objects
        .iter()
        .map(|o| {
            let mut row = json!({"cells": info.strategy.table_row(o, now)});
            match include {
                Include::None => {}
                Include::Metadata => row["object"] = partial_metadata(o, version),
                Include::Object => row["object"] = o.clone(),
            }
            row
        })
        .collect();
    let mut t = json!({
        "kind": "Table",
        "apiVersion": format!("meta.k8s.io/{version}"),
        "metadata": meta.map(ListMeta::to_json).unwrap_or_else(|| json!({})),
        "columnDefinitions": columns,
        "rows": rows,
    });
    if meta.is_none() {
        // A single object's table carries the object's resourceVersion.
        if let Some(rv) = objects.first().and_then(|o| o.pointer("/metadata/resourceVersion")).cloned() {
            t["metadata"] = json!({"resourceVersion": rv});
        }
    }
    t
}
