//! Server-side apply (`application/apply-patch+yaml`).

use http::Response;
use skiff_api::ApiError;

use super::Ctx;
use crate::http::Body;

pub async fn apply(_ctx: &Ctx, _body: &[u8]) -> Result<Response<Body>, ApiError> {
    Err(ApiError::unsupported_media_type("application/apply-patch+yaml"))
}
