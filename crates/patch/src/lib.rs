//! Schema-aware object merging for the API server.
//!
//! [`schema`] is the OpenAPI model of the built-in kinds (from k8s-openapi, with the Kubernetes
//! extensions that drive merging); the patch engines ([`json_patch`], [`merge_patch`],
//! [`strategic`]) and server-side apply ([`apply`]) walk it. Everything here is a pure function
//! on `serde_json::Value`: no IO, no clock (callers pass timestamps in).

pub mod apply;
pub mod error;
pub mod json_patch;
pub mod merge_patch;
pub mod schema;
pub mod strategic;

pub use apply::{ApplyError, Conflict, apply, record_update};
pub use error::PatchError;
pub use json_patch::json_patch;
pub use merge_patch::merge_patch;
pub use schema::{Kind, ListType, Node, schemas};
pub use strategic::strategic_merge_patch;
