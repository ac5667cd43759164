//! The Kubernetes API model skiff serves, with no IO.
//!
//! Start at [`resources`]: the table of served resources. Each resource has a
//! [`strategy::Strategy`] (decode, default, validate, print) built from its k8s-openapi type,
//! its [`kinds`] rules and its [`table`] printer. [`status`] and [`field_errors`] shape the
//! errors the API returns; [`selector`] parses label and field selectors.

pub mod convert;
pub mod field_errors;
pub mod kinds;
pub mod names;
pub mod object;
pub mod quantity;
pub mod resources;
pub mod scheduling;
pub mod selector;
pub mod status;
pub mod strategy;
pub mod table;
pub mod time;
pub mod urlencoding;
pub mod validation;

pub use field_errors::{FieldError, FieldErrors, FieldPath};
pub use resources::{ResourceInfo, Subresource, registry};
pub use status::{ApiError, Qualified};
