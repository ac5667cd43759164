//! Watch: a chunked stream of JSON events, one per line, served from the watch cache.
//!
//! Each event carries the object's cached JSON bytes; only the small `{"type":...}` envelope is
//! written per watcher. The stream ends at `timeoutSeconds` (or a random 30–60 minutes, as
//! upstream spreads reconnects), when the client goes away, or when the client is too slow to
//! keep up (it then resumes from its last resourceVersion).

use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use http::{HeaderValue, Response, header};
use serde_json::json;
use skiff_api::ApiError;
use skiff_api::resources::ResourceInfo;
use tokio::sync::mpsc;

use super::Ctx;
use super::get::filter;
use super::respond::{Include, JSON, partial_metadata_json, served_json, served_value, table};
use crate::cache::{CachedObject, Start, WatchItem, WatchStart};
use crate::http::Body;
use crate::http::negotiate::Output;

/// Encoded events a stream may hold before waiting for the connection.
const STREAM_BUFFER: usize = 64;

fn default_timeout() -> Duration {
    let jitter = u64::from(uuid::Uuid::new_v4().as_bytes()[0]) * 1800 / 255;
    Duration::from_secs(1800 + jitter)
}

pub async fn watch(ctx: &Ctx) -> Result<Response<Body>, ApiError> {
    let mut filter = filter(ctx)?;
    if let Some(name) = &ctx.name {
        filter = filter.with_name(name);
    }
    let bookmarks = ctx.query.flag("allowWatchBookmarks");
    let timeout = match ctx.query.non_empty("timeoutSeconds") {
        Some(t) => {
            Duration::from_secs(t.parse().map_err(|_| ApiError::bad_request(format!("invalid timeoutSeconds {t:?}")))?)
        }
        None => default_timeout(),
    };
    let rv = ctx.query.get("resourceVersion").unwrap_or("");
    let send_initial = match ctx.query.get("sendInitialEvents") {
        None | Some("") => None,
        Some(v) => Some(v == "true"),
    };
    if send_initial.is_some() && ctx.query.get("resourceVersionMatch") != Some("NotOlderThan") {
        return Err(ApiError::invalid(
            &skiff_api::Qualified::new("meta.k8s.io", "ListOptions"),
            "",
            &vec![skiff_api::FieldError::forbidden(
                &skiff_api::FieldPath::new("sendInitialEvents"),
                "sendInitialEvents is forbidden for watch unless resourceVersionMatch is set to NotOlderThan",
            )]
            .into(),
        ));
    }

    let start = match (rv, send_initial) {
        // Legacy semantics: no resourceVersion (or 0) starts with the current state as ADDED events.
        ("", None | Some(true)) => {
            ctx.api.cache.wait_fresh().await?;
            Start::Snapshot { end_marker: send_initial.is_some() }
        }
        ("0", None | Some(true)) => Start::Snapshot { end_marker: send_initial.is_some() },
        ("" | "0", Some(false)) => {
            ctx.api.cache.wait_fresh().await?;
            Start::After(ctx.api.cache.revision())
        }
        (rv, initial) => {
            let rv: i64 = rv.parse().map_err(|_| ApiError::bad_request(format!("invalid resource version: {rv}")))?;
            ctx.api.cache.wait_for(rv).await?;
            if initial == Some(true) { Start::Snapshot { end_marker: true } } else { Start::After(rv) }
        }
    };

    let (tx, rx) = mpsc::channel::<Bytes>(STREAM_BUFFER);
    let rc = ctx.api.cache.resource(ctx.info).clone();
    let applied = ctx.api.cache.revision();
    let stream = Stream { info: ctx.info, output: ctx.output, include: ctx.include, tx };
    match rc.watch(filter, bookmarks, start, applied) {
        Ok((id, items, _)) => {
            tokio::spawn(async move {
                stream.run(items, timeout).await;
                rc.unwatch(id);
            });
        }
        Err(WatchStart::TooOld { floor }) => {
            // As upstream's watch cache: the stream opens, then reports 410 as an ERROR event.
            let requested = rv.to_string();
            tokio::spawn(async move {
                let e = ApiError::gone(format!("too old resource version: {requested} ({floor})"));
                let _ =
                    stream.tx.send(envelope("ERROR", &serde_json::to_vec(&e.to_status()).unwrap_or_default())).await;
            });
        }
    }
    let mut r = Response::new(Body::Stream(rx));
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(JSON));
    r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache, private"));
    Ok(r)
}

fn envelope(kind: &str, object: &[u8]) -> Bytes {
    let mut b = BytesMut::with_capacity(object.len() + 32);
    b.put_slice(b"{\"type\":\"");
    b.put_slice(kind.as_bytes());
    b.put_slice(b"\",\"object\":");
    b.put_slice(object);
    b.put_slice(b"}\n");
    b.freeze()
}

struct Stream {
    info: &'static ResourceInfo,
    output: Output,
    include: Include,
    tx: mpsc::Sender<Bytes>,
}

impl Stream {
    async fn run(&self, mut items: mpsc::Receiver<WatchItem>, timeout: Duration) {
        let deadline = tokio::time::sleep(timeout);
        tokio::pin!(deadline);
        loop {
            let item = tokio::select! {
                i = items.recv() => i,
                _ = &mut deadline => return,
                _ = self.tx.closed() => return,
            };
            // The cache dropped this watcher (too slow): end the stream.
            let Some(item) = item else { return };
            if self.tx.send(self.encode(item)).await.is_err() {
                return;
            }
        }
    }

    fn encode(&self, item: WatchItem) -> Bytes {
        match item {
            WatchItem::Event(kind, o) => envelope(kind.as_str(), &self.object(&o)),
            WatchItem::Bookmark(rev) => envelope("BOOKMARK", &self.bookmark(rev, false)),
            WatchItem::InitialEventsEnd(rev) => envelope("BOOKMARK", &self.bookmark(rev, true)),
        }
    }

    fn object(&self, o: &CachedObject) -> Bytes {
        match self.output {
            Output::Json | Output::Yaml => served_json(self.info, o),
            Output::Table(v) => Bytes::from(
                serde_json::to_vec(&table(self.info, v, &[served_value(self.info, o.value())], None, self.include))
                    .unwrap_or_default(),
            ),
            Output::Metadata(v) => partial_metadata_json(o, v),
        }
    }

    fn bookmark(&self, rev: i64, initial_end: bool) -> Bytes {
        let mut meta = json!({"resourceVersion": rev.to_string(), "creationTimestamp": null});
        if initial_end {
            meta["annotations"] = json!({"k8s.io/initial-events-end": "true"});
        }
        let (kind, api_version) = match self.output {
            Output::Metadata(v) => ("PartialObjectMetadata".to_string(), format!("meta.k8s.io/{v}")),
            _ => (self.info.kind.to_string(), self.info.api_version()),
        };
        Bytes::from(
            serde_json::to_vec(&json!({"kind": kind, "apiVersion": api_version, "metadata": meta})).unwrap_or_default(),
        )
    }
}
