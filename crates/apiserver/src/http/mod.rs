//! HTTP plumbing: TLS serving, routes, query strings, negotiation and bodies.

pub mod body;
pub mod negotiate;
pub mod query;
pub mod route;
pub mod server;

pub use body::Body;
