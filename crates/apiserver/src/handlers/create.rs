//! POST: create an object.

use bytes::Bytes;
use http::{Response, StatusCode};

use super::respond::{self, add_warnings};
use super::{Ctx, decode_object};
use crate::http::Body;
use crate::http::negotiate::BodyFormat;
use skiff_api::ApiError;

pub async fn create(ctx: &Ctx, body: Bytes, format: BodyFormat) -> Result<Response<Body>, ApiError> {
    let obj = decode_object(ctx, &body, format, (&ctx.info.api_version(), ctx.info.kind))?;
    let opts = ctx.write_options()?;
    let written = ctx.api.create_object(ctx.info, &ctx.namespace, obj, &opts).await?;
    let mut r = respond::object(ctx.info, ctx.output, StatusCode::CREATED, &written.object, ctx.include);
    add_warnings(&mut r, &written.warnings);
    Ok(r)
}
