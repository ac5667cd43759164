//! Decodes Kubernetes protobuf request bodies into the JSON objects the API server handles.
//!
//! kubectl and other client-go programs send typed objects as
//! `application/vnd.kubernetes.protobuf`: the `k8s\0` magic, then a `runtime.Unknown` envelope
//! ([`envelope`]) around the object encoded per its `generated.proto`. The field numbers come
//! from a table generated from the k8s-pb crate ([`table`], `tools/gen_protobuf_table.py`); the
//! JSON property names come from the OpenAPI definitions in skiff-patch, matched at first use
//! ([`names`], [`plan`]), so the output is exactly the JSON a client would have sent. Only
//! decoding lives here: responses stay JSON.

mod decode;
mod envelope;
mod names;
mod plan;
mod table;
mod well_known;
mod wire;

#[cfg(test)]
mod tests;

use serde_json::Value;

/// The media type of Kubernetes protobuf bodies.
pub const CONTENT_TYPE: &str = "application/vnd.kubernetes.protobuf";

/// The four bytes every Kubernetes protobuf body starts with.
pub const MAGIC: &[u8; 4] = b"k8s\0";

/// Why a body could not be decoded. Displays as a one-line reason, fit for a 400 response.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("not a Kubernetes protobuf body: missing the \"k8s\\x00\" prefix")]
    MissingMagic,
    #[error("malformed protobuf body: {0}")]
    Malformed(String),
    #[error("unsupported protobuf envelope: {0}")]
    UnsupportedEnvelope(String),
    #[error("protobuf is not supported for {kind} in {api_version}")]
    UnknownKind { api_version: String, kind: String },
    #[error("malformed protobuf body: messages nested too deeply")]
    TooDeep,
}

/// Decodes a protobuf request body into the object as JSON, with `apiVersion` and `kind` set from
/// the envelope.
pub fn decode(body: &[u8]) -> Result<Value, DecodeError> {
    decode::Decoder::new(plan::plan()).body(body)
}
