//! Pages this process served, kept decoded with their response headers
//! made, so a hit costs a lookup and a copy of the headers.
//!
//! A remembered page is served only while it still holds: with a shared
//! cache its tag versions are read (one round trip, without the body);
//! with the in-process cache nothing is read while the cache has had no
//! delete since the page was last checked, since every change of a tag is
//! such a delete and no other process shares that cache. Those hits are
//! answered by [`FastHits`] before routing and the middleware stack.

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, HeaderMap, HeaderValue, Method};
use axum::response::Response;
use axum::Router;
use tower::{Service, ServiceExt as _};

use super::{anonymous_get, cache_key, holds, Entry};
use crate::app::AppState;

/// `checked` of a page that must be checked on every hit.
const NEVER: u64 = u64::MAX;
/// The route template static files are counted under in the metrics.
const STATIC_ROUTE: &str = "/static/{*path}";
/// Bodies kept decoded per process, at most; past it the memory starts over
/// (pages are decoded again from the cache on their next hit).
const REMEMBERED_BYTES: usize = 64 * 1024 * 1024;

#[derive(Default)]
pub(super) struct Remembered {
    pages: RwLock<HashMap<String, Remembrance>>,
    bytes: AtomicUsize,
}

struct Remembrance {
    page: Arc<Entry>,
    /// `Cache::local_changes` read before the page's versions were last
    /// found current; `NEVER` with a shared cache.
    checked: AtomicU64,
    expires: Instant,
    /// The route template, for the request metrics of fast hits.
    route: Arc<str>,
    /// Every header of a full answer from the cache, security headers included.
    headers: HeaderMap,
}

impl Remembered {
    /// Keeps `page`, found current after `checked` was read.
    pub(super) fn keep(&self, state: &AppState, key: &str, page: Arc<Entry>, checked: Option<u64>, route: Option<&str>) {
        let Some(left) = page.expires_at.checked_sub(crate::db::now()).filter(|s| *s > 0) else {
            return;
        };
        let size = page.body.len() + key.len();
        if self.bytes.fetch_add(size, Ordering::Relaxed) + size > REMEMBERED_BYTES {
            self.pages.write().expect("remembered lock").clear();
            self.bytes.store(size, Ordering::Relaxed);
        }
        let mut headers = page.headers.clone();
        crate::web::add_security_headers(&state.config, &mut headers);
        let memo = Remembrance {
            page,
            checked: AtomicU64::new(checked.unwrap_or(NEVER)),
            expires: Instant::now() + Duration::from_secs(left as u64),
            route: Arc::from(route.unwrap_or("unmatched")),
            headers,
        };
        let replaced = self.pages.write().expect("remembered lock").insert(key.to_string(), memo);
        if let Some(old) = replaced {
            // Saturating: a start-over between our count and our insert may have dropped it already.
            let freed = old.page.body.len() + key.len();
            let _ = self.bytes.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |b| Some(b.saturating_sub(freed)));
        }
    }

    /// `read` of the page under `key`, if it has not expired at `now`.
    fn with<T>(&self, key: &str, now: Instant, read: impl FnOnce(&Remembrance) -> Option<T>) -> Option<T> {
        let pages = self.pages.read().expect("remembered lock");
        pages.get(key).filter(|m| m.expires > now).and_then(read)
    }

    /// The page under `key` if it has not expired, with when it was checked.
    fn get(&self, key: &str) -> Option<(Arc<Entry>, u64)> {
        self.with(key, Instant::now(), |memo| Some((memo.page.clone(), memo.checked.load(Ordering::Acquire))))
    }

    fn checked(&self, key: &str, page: &Arc<Entry>, changes: u64) {
        if let Some(memo) = self.pages.read().expect("remembered lock").get(key) {
            if Arc::ptr_eq(&memo.page, page) {
                memo.checked.store(changes, Ordering::Release);
            }
        }
    }
}

/// A remembered page that still holds (see the module's notes).
pub(super) async fn remembered(state: &AppState, key: &str) -> Option<Arc<Entry>> {
    let remembered = &state.pages.remembered;
    let (page, checked) = remembered.get(key)?;
    let changes = state.cache.local_changes();
    if changes == Some(checked) {
        return Some(page);
    }
    if !holds(state, &page).await {
        return None;
    }
    if let Some(changes) = changes {
        remembered.checked(key, &page, changes);
    }
    Some(page)
}

/// Wraps the router: a theme's static file, or a visitor's GET of a
/// remembered page that needs no check (the in-process cache, no delete
/// since), is answered here, with the headers, metrics, view count and
/// request id the stack would give it; everything else goes to the router.
#[derive(Clone)]
pub struct FastHits {
    state: AppState,
    router: Router,
}

impl FastHits {
    pub fn new(state: AppState, router: Router) -> FastHits {
        FastHits { state, router }
    }

    fn answer(&self, request: &Request) -> Option<Response> {
        let start = Instant::now();
        let (route, mut response) = match request.uri().path().strip_prefix("/static/") {
            Some(path) => (None, self.static_file(request, path)?),
            None => self.page(request, start).map(|(route, response)| (Some(route), response))?,
        };
        let state = &self.state;
        let id = format!("{:016x}", rand::random::<u64>());
        response.headers_mut().insert("x-request-id", HeaderValue::from_str(&id).expect("hex is a valid header"));
        let took = start.elapsed();
        let status = response.status().as_u16();
        state.metrics.record(route.as_deref().unwrap_or(STATIC_ROUTE), status, took.as_secs_f64());
        tracing::info!(id, path = request.uri().path(), status, latency_us = took.as_micros() as u64, "answered before routing");
        Some(response)
    }

    /// A theme file, when the name needs no decoding.
    fn static_file(&self, request: &Request, path: &str) -> Option<Response> {
        if !matches!(*request.method(), Method::GET | Method::HEAD) || path.contains('%') {
            return None;
        }
        let mut response = self.state.assets.answer(path, request.headers())?;
        crate::web::add_security_headers(&self.state.config, response.headers_mut());
        Some(response)
    }

    /// A remembered page that needs no check.
    fn page(&self, request: &Request, start: Instant) -> Option<(Arc<str>, Response)> {
        let state = &self.state;
        // A conditional request goes the long way, which answers 304s.
        if !state.pages.enabled || !state.cache.is_local() || !anonymous_get(request) || request.headers().contains_key(header::IF_NONE_MATCH) {
            return None;
        }
        let (_, key) = cache_key(request);
        state.pages.remembered.with(&key, start, |memo| {
            if Some(memo.checked.load(Ordering::Acquire)) != state.cache.local_changes() {
                return None;
            }
            let mut response = Response::new(Body::from(memo.page.body.clone()));
            *response.headers_mut() = memo.headers.clone();
            if let Some((table, id)) = &memo.page.views {
                state.views.count(table, *id);
            }
            state.pages.stats.hits.fetch_add(1, Ordering::Relaxed);
            Some((memo.route.clone(), response))
        })
    }
}

impl Service<Request> for FastHits {
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request) -> Self::Future {
        if let Some(response) = self.answer(&request) {
            return Box::pin(std::future::ready(Ok(response)));
        }
        let router = self.router.clone();
        Box::pin(router.oneshot(request))
    }
}
