//! GET of one object and of lists, with upstream's resourceVersion semantics and pagination.
//!
//! Reads come from the watch cache. A list page at an older revision (a continue token from a
//! snapshot the cache has moved past, or `resourceVersionMatch=Exact`) reads the store's history
//! at that revision, so pages stay one consistent snapshot.

use std::sync::Arc;

use base64::Engine;
use http::Response;
use serde_json::{Value, json};
use skiff_api::ApiError;
use skiff_api::selector::{FieldSelector, LabelSelector};
use skiff_store::StoreError;

use super::Ctx;
use super::respond::{self, ListMeta};
use crate::cache::{self, CachedObject, Filter};
use crate::http::Body;
use crate::registry::store_error;

/// How fresh a read must be, from `resourceVersion` / `resourceVersionMatch`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Freshness {
    /// Unset: as fresh as the store (a consistent read).
    Latest,
    /// `0`: whatever the cache has.
    Any,
    /// At least this revision.
    NotOlderThan(i64),
    /// Exactly this revision (served from the store's history).
    Exact(i64),
}

fn parse_rv(s: &str) -> Result<i64, ApiError> {
    s.parse::<i64>()
        .ok()
        .filter(|v| *v >= 0)
        .ok_or_else(|| ApiError::bad_request(format!("invalid resource version: {s}")))
}

fn freshness(ctx: &Ctx, paginated: bool) -> Result<Freshness, ApiError> {
    let rv = ctx.query.get("resourceVersion").unwrap_or("");
    let m = ctx.query.get("resourceVersionMatch").unwrap_or("");
    Ok(match (rv, m) {
        ("", "") => Freshness::Latest,
        ("", _) => {
            return Err(ApiError::bad_request("resourceVersionMatch is forbidden unless resourceVersion is provided"));
        }
        ("0", "" | "NotOlderThan") => Freshness::Any,
        (rv, "NotOlderThan") => Freshness::NotOlderThan(parse_rv(rv)?),
        (rv, "Exact") => {
            let rv = parse_rv(rv)?;
            if rv == 0 {
                return Err(ApiError::bad_request(
                    "resourceVersionMatch \"Exact\" is forbidden for resourceVersion \"0\"",
                ));
            }
            Freshness::Exact(rv)
        }
        // Legacy semantics: a resourceVersion with a limit is exact, without one not-older-than.
        (rv, "") if paginated => Freshness::Exact(parse_rv(rv)?),
        (rv, "") => Freshness::NotOlderThan(parse_rv(rv)?),
        (_, other) => return Err(ApiError::bad_request(format!("invalid resourceVersionMatch: {other:?}"))),
    })
}

async fn wait(ctx: &Ctx, f: Freshness) -> Result<(), ApiError> {
    match f {
        Freshness::Latest => ctx.api.cache.wait_fresh().await,
        Freshness::NotOlderThan(rv) => ctx.api.cache.wait_for(rv).await,
        Freshness::Any | Freshness::Exact(_) => Ok(()),
    }
}

pub async fn get(ctx: &Ctx) -> Result<Response<Body>, ApiError> {
    let f = match freshness(ctx, false)? {
        Freshness::Exact(rv) => Freshness::NotOlderThan(rv),
        f => f,
    };
    wait(ctx, f).await?;
    let key = cache::key(ctx.info, &ctx.namespace, ctx.name());
    let obj = ctx.api.cache.resource(ctx.info).read().objects.get(&key).cloned();
    let obj = obj.ok_or_else(|| ApiError::not_found(&ctx.info.qualified_resource(), ctx.name()))?;
    Ok(respond::cached_object(ctx.info, ctx.output, &obj, ctx.include))
}

/// The selectors of a list or watch as a filter.
pub fn filter(ctx: &Ctx) -> Result<Filter, ApiError> {
    let labels = LabelSelector::parse(ctx.query.get("labelSelector").unwrap_or(""))
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    let fields = FieldSelector::parse(ctx.query.get("fieldSelector").unwrap_or(""))
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    Filter::new(ctx.info, Some(&ctx.namespace), labels, &fields)
}

/// The opaque `continue` token: the snapshot revision and the last key returned.
fn encode_continue(rev: i64, last_key: &str) -> String {
    let token = json!({"v": "meta.k8s.io/v1", "rv": rev, "start": last_key});
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(serde_json::to_vec(&token).unwrap_or_default())
}

fn decode_continue(token: &str, prefix: &str) -> Result<(i64, String), ApiError> {
    let bad = |why: &str| ApiError::bad_request(format!("continue key is not valid: {why}"));
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token.trim_end_matches('='))
        .map_err(|_| bad("not base64"))?;
    let v: Value = serde_json::from_slice(&raw).map_err(|_| bad("not JSON"))?;
    let rv = v["rv"].as_i64().filter(|r| *r > 0).ok_or_else(|| bad("no resource version"))?;
    let start = v["start"].as_str().ok_or_else(|| bad("no start key"))?;
    // The key must stay within the listed resource (and namespace).
    if !start.starts_with(prefix) {
        return Err(bad("the key is outside the requested range"));
    }
    Ok((rv, start.to_string()))
}

/// One page of a list.
struct Page {
    items: Vec<Arc<CachedObject>>,
    rev: i64,
    /// The key of the last item, when more matching objects follow.
    last_key: Option<String>,
}

impl Page {
    /// Take up to `limit` (0 = all) matching objects; note whether more follow.
    fn collect(ctx: &Ctx, rev: i64, limit: usize, mut matching: impl Iterator<Item = Arc<CachedObject>>) -> Page {
        let mut items = Vec::new();
        for o in matching.by_ref() {
            items.push(o);
            if limit > 0 && items.len() == limit {
                break;
            }
        }
        let more = limit > 0 && items.len() == limit && matching.next().is_some();
        let last_key = more.then(|| items.last().map(|o| cache::key(ctx.info, &o.namespace, &o.name))).flatten();
        Page { items, rev, last_key }
    }
}

pub async fn list(ctx: &Ctx) -> Result<Response<Body>, ApiError> {
    let filter = filter(ctx)?;
    let limit: usize = match ctx.query.non_empty("limit") {
        Some(l) => l.parse::<i64>().map_err(|_| ApiError::bad_request(format!("invalid limit {l:?}")))?.max(0) as usize,
        None => 0,
    };
    let prefix = cache::prefix(ctx.info, Some(&ctx.namespace));
    let page = match ctx.query.non_empty("continue") {
        Some(token) => {
            if !matches!(ctx.query.get("resourceVersion").unwrap_or(""), "" | "0") {
                return Err(ApiError::bad_request("specifying resource version is not allowed when using continue"));
            }
            let (rev, after) = decode_continue(token, &prefix)?;
            page_at(ctx, &filter, &prefix, Some(after), limit, rev).await?
        }
        None => match freshness(ctx, limit > 0)? {
            Freshness::Exact(rev) => page_at(ctx, &filter, &prefix, None, limit, rev).await?,
            f => {
                wait(ctx, f).await?;
                page_from_cache(ctx, &filter, &prefix, None, limit)
            }
        },
    };
    let meta = ListMeta {
        resource_version: page.rev,
        continue_token: page.last_key.as_deref().map(|k| encode_continue(page.rev, k)),
    };
    Ok(respond::list(ctx.info, ctx.output, &page.items, &meta, ctx.include))
}

/// A page from the cache's current state.
fn page_from_cache(ctx: &Ctx, filter: &Filter, prefix: &str, after: Option<String>, limit: usize) -> Page {
    // Read the applied revision before the lock: everything up to it is in the state we read.
    let applied = ctx.api.cache.revision();
    let state = ctx.api.cache.resource(ctx.info).read();
    let rev = applied.max(state.rev);
    let start = after.map(|k| format!("{k}\0")).unwrap_or_else(|| prefix.to_string());
    let matching =
        state.objects.range(start..prefix_end(prefix)).map(|(_, o)| o).filter(|o| filter.matches(o)).cloned();
    Page::collect(ctx, rev, limit, matching)
}

/// Keys are ASCII paths ending in '/', so bumping that last byte bounds the range.
fn prefix_end(prefix: &str) -> String {
    let mut end = prefix.to_string();
    end.pop();
    end.push('0');
    end
}

/// A page at an exact revision: from the cache if the resource has not changed since, else
/// from the store's history.
async fn page_at(
    ctx: &Ctx,
    filter: &Filter,
    prefix: &str,
    after: Option<String>,
    limit: usize,
    rev: i64,
) -> Result<Page, ApiError> {
    let unchanged = {
        let state = ctx.api.cache.resource(ctx.info).read();
        state.rev <= rev && ctx.api.cache.revision() >= rev
    };
    if unchanged {
        let mut page = page_from_cache(ctx, filter, prefix, after, limit);
        page.rev = rev;
        return Ok(page);
    }
    // Read in batches until the page is full (selectors may skip many objects).
    let store = ctx.api.cache.store();
    let mut matching = Vec::new();
    let mut cursor = after;
    loop {
        let listed = store.list(prefix, cursor.as_deref(), limit.max(500), rev).await.map_err(|e| match e {
            StoreError::Compacted { .. } => ApiError::gone(
                "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter.",
            ),
            other => store_error(ctx.info, "", other),
        })?;
        for kv in &listed.kvs {
            if let Ok(o) = CachedObject::from_stored(ctx.info, &kv.value, kv.mod_revision)
                && filter.matches(&o)
            {
                matching.push(Arc::new(o));
            }
        }
        // One extra match tells whether another page follows.
        if !listed.more || (limit > 0 && matching.len() > limit) {
            break;
        }
        cursor = listed.kvs.last().map(|kv| kv.key.clone());
    }
    Ok(Page::collect(ctx, rev, limit, matching.into_iter()))
}
