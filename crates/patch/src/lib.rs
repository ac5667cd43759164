//! Schema-aware object merging for the API server.
//!
//! `schema` is the OpenAPI model of the built-in kinds (from k8s-openapi, with the Kubernetes
//! extensions that drive merging); the patch engines and server-side apply walk it.
