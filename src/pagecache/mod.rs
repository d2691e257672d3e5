//! The anonymous full-page cache.
//!
//! Visitors without a session get pages from the cache, keyed by path,
//! query and content encoding. Members never do: a request that carries a
//! session or flash cookie, or credentials, passes straight through, and a
//! response is stored only when the handler declared what it shows (its
//! tags, see [`tags`]) and it is personal in no way: no CSRF token, no
//! flash, no Set-Cookie (`web::page::Page` declares tags only then).
//!
//! Exact invalidation: an entry keeps the versions of its tags, and is
//! served only while every one still holds; writes delete the versions of
//! what they change. The gap between the database read and reading the
//! versions is closed by the `_writes` version, which every write deletes
//! first: a page is stored only if `_writes` did not move while it was
//! made, so no write can have committed in between unseen.
//!
//! Stampedes: concurrent misses for one key in a process wait for the first
//! one's page instead of rendering their own.
//!
//! Hits: each process keeps the pages it served decoded, ready to answer
//! from (`remembered`). A hit then only checks the page's tag versions, in
//! one round trip to a shared cache; with the in-process cache, not even
//! that while no write has touched any tag since the last check.

mod remembered;
pub mod tags;

pub use remembered::FastHits;
use remembered::{remembered, Remembered};

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use crate::app::AppState;
use crate::web::cookies;

/// What a page shows, attached to its response by the handler. Only pages
/// that carry this are stored.
#[derive(Clone, Debug, Default)]
pub struct PageTags {
    pub tags: Vec<String>,
    /// A Unix time after which the page changes with no write (a scheduled
    /// post falls due): the entry expires then.
    pub until: Option<i64>,
    /// A view of this row is counted each time the page is served from the cache.
    pub views: Option<(&'static str, i64)>,
}

/// Counts since start, for /metrics and the status page.
#[derive(Default)]
pub struct PageStats {
    pub hits: AtomicU64,
    pub misses: AtomicU64,
    pub stored: AtomicU64,
    /// Requests from members (or with credentials), never cached.
    pub bypassed: AtomicU64,
    /// Misses that waited for another request's page instead of rendering.
    pub coalesced: AtomicU64,
}

pub struct PageCache {
    enabled: bool,
    max_age: Duration,
    flights: Mutex<HashMap<String, watch::Receiver<Option<Arc<Entry>>>>>,
    remembered: Remembered,
    pub stats: PageStats,
}

/// Pages larger than this are served but not stored.
const MAX_PAGE_BYTES: usize = 4 * 1024 * 1024;
/// How long a miss waits for another request rendering the same page.
const FOLLOW_TIMEOUT: Duration = Duration::from_secs(5);
const VARY: &str = "Accept-Encoding, Cookie";

impl PageCache {
    pub fn new(enabled: bool, max_age: Duration) -> PageCache {
        PageCache {
            enabled,
            max_age,
            flights: Mutex::new(HashMap::new()),
            remembered: Remembered::default(),
            stats: PageStats::default(),
        }
    }
}

/// A stored page.
#[derive(Serialize, Deserialize)]
struct Entry {
    content_type: String,
    content_encoding: Option<String>,
    etag: String,
    tags: Vec<String>,
    versions: Vec<String>,
    views: Option<(String, i64)>,
    /// Unix time the stored copy expires.
    #[serde(default)]
    expires_at: i64,
    #[serde(skip)]
    body: Bytes,
    /// The headers of a full answer from the cache, made once from the fields above.
    #[serde(skip)]
    headers: HeaderMap,
}

impl Entry {
    /// The entry with its headers made.
    fn ready(mut self) -> Entry {
        let value = |s: &str| HeaderValue::from_str(s).ok();
        let made = [
            (header::CONTENT_TYPE, value(&self.content_type)),
            (header::CONTENT_ENCODING, self.content_encoding.as_deref().and_then(value)),
            (header::ETAG, value(&self.etag)),
        ];
        let h = &mut self.headers;
        for (name, value) in made {
            if let Some(value) = value {
                h.insert(name, value);
            }
        }
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        h.insert(header::VARY, HeaderValue::from_static(VARY));
        h.insert("x-cache", HeaderValue::from_static("HIT"));
        self
    }

    fn encode(&self) -> Bytes {
        let meta = serde_json::to_vec(self).expect("an entry serializes");
        let mut out = Vec::with_capacity(4 + meta.len() + self.body.len());
        out.extend_from_slice(&(meta.len() as u32).to_le_bytes());
        out.extend_from_slice(&meta);
        out.extend_from_slice(&self.body);
        Bytes::from(out)
    }

    fn decode(raw: Bytes) -> Option<Entry> {
        let len = u32::from_le_bytes(raw.get(..4)?.try_into().ok()?) as usize;
        let meta = raw.get(4..4 + len)?;
        let mut entry: Entry = serde_json::from_slice(meta).ok()?;
        entry.body = raw.slice(4 + len..);
        Some(entry.ready())
    }

    fn response(&self, request_headers: &HeaderMap, hit: bool) -> Response {
        let not_modified = request_headers
            .get(header::IF_NONE_MATCH)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.split(',').any(|t| t.trim() == self.etag || t.trim() == "*"));
        let mut response = if not_modified {
            StatusCode::NOT_MODIFIED.into_response()
        } else {
            Response::new(Body::from(self.body.clone()))
        };
        let h = response.headers_mut();
        *h = self.headers.clone();
        if not_modified {
            h.remove(header::CONTENT_TYPE);
            h.remove(header::CONTENT_ENCODING);
        }
        if !hit {
            h.insert("x-cache", HeaderValue::from_static("MISS"));
        }
        response
    }
}

/// Paths that are never pages: files with caching of their own, and the
/// operators' probes. They skip the cache's lookups altogether.
const NOT_PAGES: &[&str] = &["/static/", "/media/", "/healthz", "/readyz", "/metrics"];

/// Requests that may be answered from the cache: GET of a page by a visitor
/// with no session, no flash message and no credentials.
fn anonymous_get(request: &Request) -> bool {
    let h = request.headers();
    let path = request.uri().path();
    request.method() == Method::GET
        && !NOT_PAGES.iter().any(|p| path.starts_with(p))
        && cookies::get(h, crate::web::session::COOKIE).is_none()
        && cookies::get(h, crate::web::page::FLASH_COOKIE).is_none()
        && !h.contains_key(header::AUTHORIZATION)
}

/// The one encoding a visitor gets: brotli, else gzip, else none.
fn negotiate(headers: &HeaderMap) -> &'static str {
    use crate::web::assets::accepts;
    if accepts(headers, "br") {
        "br"
    } else if accepts(headers, "gzip") {
        "gzip"
    } else {
        "identity"
    }
}

/// The encoding a visitor's request gets, and its cache key: that
/// encoding, its path and query.
fn cache_key(request: &Request) -> (&'static str, String) {
    let encoding = negotiate(request.headers());
    let path = request.uri().path_and_query().map(|p| p.as_str()).unwrap_or("/");
    (encoding, format!("page:{encoding}:{path}"))
}

/// Removes a key's flight when its leader finishes or is dropped, so a
/// cancelled request never leaves followers waiting.
struct Flight<'a> {
    cache: &'a PageCache,
    key: String,
    sender: watch::Sender<Option<Arc<Entry>>>,
}

impl Drop for Flight<'_> {
    fn drop(&mut self) {
        self.cache.flights.lock().expect("flights lock").remove(&self.key);
    }
}

enum Role<'a> {
    Leader(Flight<'a>),
    Follower(watch::Receiver<Option<Arc<Entry>>>),
}

impl PageCache {
    fn join(&self, key: &str) -> Role<'_> {
        let mut flights = self.flights.lock().expect("flights lock");
        if let Some(rx) = flights.get(key) {
            return Role::Follower(rx.clone());
        }
        let (sender, rx) = watch::channel(None);
        flights.insert(key.to_string(), rx);
        Role::Leader(Flight { cache: self, key: key.to_string(), sender })
    }
}

/// The middleware: answers anonymous GETs from the cache, and stores what
/// may be stored.
/// Marks a response made without a template (a feed, the sitemap) as an
/// anonymous page to keep, checked against `tags` as pages are.
pub fn keep(response: &mut Response, tags: impl IntoIterator<Item = String>, until: Option<i64>) {
    response.extensions_mut().insert(PageTags::new(tags, until, None));
}

impl PageTags {
    /// What a page shows, with the site-wide tag every page depends on.
    pub fn new(tags: impl IntoIterator<Item = String>, until: Option<i64>, views: Option<(&'static str, i64)>) -> PageTags {
        let mut tags: Vec<String> = tags.into_iter().chain([tags::SITE.to_string()]).collect();
        tags.sort_unstable();
        tags.dedup();
        PageTags { tags, until, views }
    }
}

pub async fn layer(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let pages = &state.pages;
    if !pages.enabled || !anonymous_get(&request) {
        if pages.enabled {
            pages.stats.bypassed.fetch_add(1, Ordering::Relaxed);
        }
        return next.run(request).await;
    }
    let (encoding, key) = cache_key(&request);
    // What is compressed inside is exactly what the key says.
    request.headers_mut().insert(header::ACCEPT_ENCODING, HeaderValue::from_static(encoding));

    if let Some(entry) = remembered(&state, &key).await {
        pages.stats.hits.fetch_add(1, Ordering::Relaxed);
        return served(&state, &entry, request.headers(), true);
    }
    let route = request.extensions().get::<MatchedPath>().map(|p| p.as_str().to_string());
    if let Some(entry) = lookup(&state, &key, route.as_deref()).await {
        pages.stats.hits.fetch_add(1, Ordering::Relaxed);
        return served(&state, &entry, request.headers(), true);
    }
    pages.stats.misses.fetch_add(1, Ordering::Relaxed);

    let flight = match pages.join(&key) {
        Role::Leader(flight) => flight,
        Role::Follower(mut rx) => {
            let finished = tokio::time::timeout(FOLLOW_TIMEOUT, rx.changed()).await;
            let page = rx.borrow().clone();
            if let (Ok(Ok(())), Some(entry)) = (finished, page) {
                pages.stats.coalesced.fetch_add(1, Ordering::Relaxed);
                return served(&state, &entry, request.headers(), false);
            }
            // The first request's page could not be shared: make our own.
            return next.run(request).await;
        }
    };

    // The page may have been stored between our lookup and our joining.
    if let Some(entry) = lookup(&state, &key, route.as_deref()).await {
        drop(flight);
        pages.stats.coalesced.fetch_add(1, Ordering::Relaxed);
        return served(&state, &entry, request.headers(), false);
    }
    // Across processes: when another one is making this page, wait for its copy.
    let claim = Claim::take(&state, &key).await;
    if let Claim::Elsewhere = claim {
        if let Some(entry) = wait_for_other_process(&state, &key, route.as_deref()).await {
            let _ = flight.sender.send(Some(entry.clone()));
            drop(flight);
            pages.stats.coalesced.fetch_add(1, Ordering::Relaxed);
            return served(&state, &entry, request.headers(), false);
        }
    }
    let changes_before = state.cache.local_changes();
    let writes_before = tags::current_or_new(&state.cache, &[tags::WRITES.to_string()]).await;
    let request_headers = request.headers().clone();
    let response = next.run(request).await;
    let Some(declared) = storable(&response) else {
        claim.release(&state, &key).await;
        return response;
    };
    let (parts, body) = response.into_parts();
    let body = match axum::body::to_bytes(body, MAX_PAGE_BYTES).await {
        Ok(body) => body,
        Err(e) => {
            claim.release(&state, &key).await;
            tracing::error!(error = %e, "a page could not be read for the page cache");
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        }
    };
    let entry = Arc::new(
        Entry {
            content_type: header_text(&parts.headers, header::CONTENT_TYPE).unwrap_or_default(),
            content_encoding: header_text(&parts.headers, header::CONTENT_ENCODING),
            etag: format!("\"{}\"", &crate::crypto::sha256_hex(&body)[..20]),
            tags: declared.tags.clone(),
            versions: Vec::new(),
            views: None,
            expires_at: 0,
            body,
            headers: HeaderMap::new(),
        }
        .ready(),
    );
    let stored = match writes_before {
        Some(before) => store(&state, &key, &entry, &declared, &before[0]).await,
        None => None,
    };
    if let Some(stored) = &stored {
        pages.remembered.keep(&state, &key, stored.clone(), changes_before, route.as_deref());
    }
    claim.release(&state, &key).await;
    let _ = flight.sender.send(stored);
    drop(flight);
    entry.response(&request_headers, false)
}

/// Who is making a missing page, across the processes sharing a cache
/// server (within one process, `flights` already decide).
enum Claim {
    /// This process: others wait for its copy.
    Ours,
    /// Another process is making it.
    Elsewhere,
    /// Nobody can tell (the in-process cache, or the server is down).
    Unknown,
}

/// How long a claim holds if its maker never releases it (a crash).
const CLAIM_TTL: Duration = Duration::from_secs(10);
/// How often a waiting process looks for the other's copy.
const CLAIM_POLL: Duration = Duration::from_millis(20);

fn claim_key(key: &str) -> String {
    format!("making:{key}")
}

impl Claim {
    async fn take(state: &AppState, key: &str) -> Claim {
        if state.cache.is_local() {
            return Claim::Unknown;
        }
        let claim = claim_key(key);
        if state.cache.add(&claim, Bytes::from_static(b"1"), CLAIM_TTL).await {
            return Claim::Ours;
        }
        // `add` also fails when the server is down: only a claim we can see counts.
        match state.cache.get(&claim).await {
            Some(_) => Claim::Elsewhere,
            None => Claim::Unknown,
        }
    }

    async fn release(&self, state: &AppState, key: &str) {
        if let Claim::Ours = self {
            state.cache.delete(&claim_key(key)).await;
        }
    }
}

/// The copy another process is making, once it is stored; None when that
/// process gave up (its claim is gone with no page) or took too long.
async fn wait_for_other_process(state: &AppState, key: &str, route: Option<&str>) -> Option<Arc<Entry>> {
    let claim = claim_key(key);
    let deadline = Instant::now() + FOLLOW_TIMEOUT;
    while Instant::now() < deadline {
        tokio::time::sleep(CLAIM_POLL).await;
        if let Some(entry) = lookup(state, key, route).await {
            return Some(entry);
        }
        if state.cache.get(&claim).await.is_none() {
            return lookup(state, key, route).await;
        }
    }
    None
}

/// A stored page as the answer, counting the view it stands for.
fn served(state: &AppState, entry: &Entry, request_headers: &HeaderMap, hit: bool) -> Response {
    if let Some((table, id)) = &entry.views {
        state.views.count(table, *id);
    }
    entry.response(request_headers, hit)
}

/// The tags of a response that may be stored: a full 200 page with tags
/// and nothing personal about it.
fn storable(response: &Response) -> Option<PageTags> {
    let tags = response.extensions().get::<PageTags>()?;
    let h = response.headers();
    let private = h
        .get(header::CACHE_CONTROL)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("private") || v.contains("no-store"));
    (response.status() == StatusCode::OK && !private && !h.contains_key(header::SET_COOKIE)).then(|| tags.clone())
}

fn header_text(headers: &HeaderMap, name: header::HeaderName) -> Option<String> {
    headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_string)
}

/// A stored page whose versions all still hold, remembered decoded.
async fn lookup(state: &AppState, key: &str, route: Option<&str>) -> Option<Arc<Entry>> {
    // Read before the versions: a write after this is noticed by the next hit.
    let changes = state.cache.local_changes();
    let entry = Arc::new(Entry::decode(state.cache.get(key).await?)?);
    if !holds(state, &entry).await {
        return None;
    }
    state.pages.remembered.keep(state, key, entry.clone(), changes, route);
    Some(entry)
}

/// Do the versions the page was stored under still hold?
async fn holds(state: &AppState, entry: &Entry) -> bool {
    // After an outage, missed deletes may still be on their way.
    if !state.cache.settled() {
        return false;
    }
    let now = tags::current(&state.cache, &entry.tags).await;
    let holds = now.len() == entry.versions.len()
        && now.iter().zip(&entry.versions).all(|(v, kept)| v.as_deref() == Some(kept.as_bytes()));
    holds && state.cache.settled()
}

/// Stores the page under the versions its tags have now, unless a write
/// finished while it was made. Returns the stored entry.
async fn store(state: &AppState, key: &str, page: &Entry, declared: &PageTags, writes_before: &Bytes) -> Option<Arc<Entry>> {
    let mut ttl = state.pages.max_age;
    if let Some(until) = declared.until {
        let left = until - crate::db::now();
        if left <= 0 {
            return None;
        }
        ttl = ttl.min(Duration::from_secs(left as u64));
    }
    let versions = tags::current_or_new(&state.cache, &declared.tags).await?;
    let writes_after = tags::current(&state.cache, &[tags::WRITES.to_string()]).await.pop().flatten();
    if writes_after.as_ref() != Some(writes_before) {
        return None;
    }
    let entry = Entry {
        content_type: page.content_type.clone(),
        content_encoding: page.content_encoding.clone(),
        etag: page.etag.clone(),
        tags: declared.tags.clone(),
        versions: versions.iter().map(|v| String::from_utf8_lossy(v).into_owned()).collect(),
        views: declared.views.map(|(table, id)| (table.to_string(), id)),
        expires_at: crate::db::now() + ttl.as_secs() as i64,
        body: page.body.clone(),
        headers: HeaderMap::new(),
    }
    .ready();
    state.cache.set(key, entry.encode(), ttl).await;
    state.pages.stats.stored.fetch_add(1, Ordering::Relaxed);
    Some(Arc::new(entry))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoding_is_negotiated_once() {
        let with = |v: &str| {
            let mut h = HeaderMap::new();
            h.insert(header::ACCEPT_ENCODING, HeaderValue::from_str(v).unwrap());
            negotiate(&h)
        };
        assert_eq!(with("gzip, deflate, br"), "br");
        assert_eq!(with("gzip"), "gzip");
        assert_eq!(with("br;q=0, gzip;q=0.5"), "gzip");
        assert_eq!(with("identity"), "identity");
        assert_eq!(with("BR"), "br");
        assert_eq!(negotiate(&HeaderMap::new()), "identity");
    }

    #[test]
    fn entries_round_trip() {
        let entry = Entry {
            content_type: "text/html; charset=utf-8".into(),
            content_encoding: Some("br".into()),
            etag: "\"abc\"".into(),
            tags: vec!["topic:1".into()],
            versions: vec!["00ff".into()],
            views: Some(("forum_topics".into(), 7)),
            expires_at: 1_800_000_000,
            body: Bytes::from_static(b"\x00\x01<html>"),
            headers: HeaderMap::new(),
        };
        let back = Entry::decode(entry.encode()).unwrap();
        assert_eq!(back.body, entry.body);
        assert_eq!(back.tags, entry.tags);
        assert_eq!(back.versions, entry.versions);
        assert_eq!(back.views, entry.views);
        assert_eq!(back.content_encoding.as_deref(), Some("br"));
        assert_eq!(back.expires_at, entry.expires_at);
        assert_eq!(back.headers.get(header::ETAG).map(|v| v.as_bytes()), Some(&b"\"abc\""[..]));
        assert!(Entry::decode(Bytes::from_static(b"\xff\xff\xff\xffjunk")).is_none());
        assert!(Entry::decode(Bytes::new()).is_none());
    }
}
