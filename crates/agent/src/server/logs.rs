//! `GET /containerLogs/{namespace}/{pod}/{container}`: a container's log as text, read by
//! [`crate::logs::reader`] and streamed while following.

use bytes::Bytes;
use http::{Response, StatusCode};
use tokio::sync::mpsc;

use super::body::{self, Body};
use super::query::Query;
use super::{PodStreams, error_response};
use crate::logs::reader::{LogOptions, LogReader};

/// `PodLogOptions` from the query (and whether the previous run is meant), checked as upstream
/// validates them; `Err` is the status and message to answer with.
pub fn options(q: &Query) -> Result<(LogOptions, bool), (StatusCode, String)> {
    let bad = |m: String| (StatusCode::BAD_REQUEST, m);
    let invalid = |m: String| (StatusCode::UNPROCESSABLE_ENTITY, m);
    let follow = q.flag("follow").map_err(bad)?;
    let previous = q.flag("previous").map_err(bad)?;
    let timestamps = q.flag("timestamps").map_err(bad)?;
    // `tail` is the old spelling kubelet still reads; `all` means no limit.
    let tail = match q.get("tail") {
        Some("all") => None,
        Some(t) if !t.is_empty() => Some(t.parse::<i64>().map_err(|_| bad(format!("tail: invalid value {t:?}")))?),
        _ => q.int("tailLines").map_err(bad)?,
    };
    let limit = q.int("limitBytes").map_err(bad)?;
    let since_seconds = q.int("sinceSeconds").map_err(bad)?;
    let since_time = match q.get("sinceTime").filter(|s| !s.is_empty()) {
        None => None,
        Some(s) => Some(
            s.parse::<jiff::Timestamp>().map_err(|e| bad(format!("sinceTime: {s:?} is not an RFC 3339 time: {e}")))?,
        ),
    };
    if let Some(t) = tail.filter(|t| *t < 0) {
        return Err(invalid(format!("tailLines: Invalid value: {t}: must be greater than or equal to 0")));
    }
    if let Some(l) = limit.filter(|l| *l < 1) {
        return Err(invalid(format!("limitBytes: Invalid value: {l}: must be greater than 0")));
    }
    if since_seconds.is_some() && since_time.is_some() {
        return Err(invalid("at most one of `sinceTime` or `sinceSeconds` may be specified".into()));
    }
    let since = match since_seconds {
        Some(s) if s < 1 => return Err(invalid(format!("sinceSeconds: Invalid value: {s}: must be greater than 0"))),
        Some(s) => Some(jiff::Timestamp::now() - jiff::SignedDuration::from_secs(s)),
        None => since_time,
    };
    let opts = LogOptions {
        follow,
        tail_lines: tail.map(|t| t as u64),
        since,
        timestamps,
        limit_bytes: limit.map(|l| l as u64),
    };
    Ok((opts, previous))
}

pub async fn container_logs(
    streams: &dyn PodStreams,
    namespace: &str,
    pod: &str,
    container: &str,
    q: &Query,
) -> Response<Body> {
    let (opts, previous) = match options(q) {
        Ok(o) => o,
        Err((status, message)) => return body::text(status, message),
    };
    let file = match streams.log_file(namespace, pod, container, previous) {
        Ok(f) => f,
        Err(e) => return error_response(&e),
    };
    let mut reader = match LogReader::open(&file.path, file.running, opts) {
        Ok(r) => r,
        Err(e) => return body::text(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    };
    let (tx, rx) = mpsc::channel::<Bytes>(8);
    tokio::spawn(async move {
        loop {
            let piece = tokio::select! {
                piece = reader.next() => piece,
                // The client left while nothing new was written.
                _ = tx.closed() => return,
            };
            match piece {
                Ok(Some(b)) => {
                    if tx.send(Bytes::from(b)).await.is_err() {
                        return;
                    }
                }
                Ok(None) => return,
                Err(e) => {
                    tracing::warn!(error = %e, "reading a container log");
                    return;
                }
            }
        }
    });
    let mut r = Response::new(Body::Stream(rx));
    r.headers_mut().insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("text/plain"));
    r
}
