//! `/media/{key}`: uploaded files, with small hot files kept in memory so a
//! popular photo is served without touching the disk or the object store.
//! Keys change with content, so files are immutable. A deletion in any
//! process empties every process's hot files within a second (through a
//! mark in the shared cache), or within [`HOT_SECONDS`] while it is away.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use moka::future::Cache as Moka;

use crate::app::AppState;
use crate::cache::Cache;
use crate::web::assets;
use crate::web::error::{AppError, AppResult};

/// Files up to this size are kept in memory.
const HOT_MAX_FILE: usize = 2 * 1024 * 1024;
/// How long a file stays in memory after it was read.
pub const HOT_SECONDS: u64 = 60;

/// The shared cache's mark of the last media deletion by any process.
const DELETIONS: &str = "media:deletions";

pub struct HotFiles {
    files: Moka<String, Bytes>,
    /// When the deletion mark was last read, and what it said.
    deletions: Mutex<(Instant, Option<Bytes>)>,
}

impl HotFiles {
    pub async fn forget(&self, key: &str) {
        self.files.invalidate(key).await;
    }

    pub fn new(max_bytes: u64) -> HotFiles {
        HotFiles {
            files: Moka::builder()
                .max_capacity(max_bytes)
                .weigher(|key: &String, body: &Bytes| (key.len() + body.len()).min(u32::MAX as usize) as u32)
                .time_to_live(Duration::from_secs(HOT_SECONDS))
                .build(),
            deletions: Mutex::new((Instant::now(), None)),
        }
    }

    /// Tells every process sharing `cache` that a file was deleted.
    pub async fn announce_deletion(cache: &Cache) {
        let mark = Bytes::from(crate::crypto::random_token());
        cache.set(DELETIONS, mark, Duration::from_secs(30 * 86_400)).await;
    }

    /// Drops every hot file when another process deleted one. Reads the
    /// mark at most once a second; while the cache is away, files expire
    /// after [`HOT_SECONDS`] as before.
    async fn follow_deletions(&self, cache: &Cache) {
        {
            let mut seen = self.deletions.lock().unwrap();
            if seen.0.elapsed() < Duration::from_secs(1) {
                return;
            }
            seen.0 = Instant::now();
        }
        let Some(mark) = cache.get(DELETIONS).await else { return };
        let changed = {
            let mut seen = self.deletions.lock().unwrap();
            let changed = seen.1.as_ref() != Some(&mark);
            seen.1 = Some(mark);
            changed
        };
        if changed {
            self.files.invalidate_all();
        }
    }
}

pub async fn media(State(state): State<AppState>, Path(key): Path<String>, headers: HeaderMap) -> AppResult<Response> {
    if !crate::media::valid_key(&key) || key.starts_with("originals/") {
        return Err(AppError::NotFound);
    }
    let etag = HeaderValue::from_str(&format!("\"{}\"", &crate::crypto::sha256_hex(key.as_bytes())[..16]))
        .expect("hex is a valid header");
    let mut response = if assets::not_modified(&headers, &etag) {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        state.media.hot.follow_deletions(&state.cache).await;
        let body = match state.media.hot.files.get(&key).await {
            Some(body) => body,
            None => {
                let body = match state.media.get(&key).await? {
                    Some(body) => body,
                    // A photo size configured after the upload is made now.
                    None => crate::photos::sizes::on_request(&state, &key).await?.ok_or(AppError::NotFound)?,
                };
                if body.len() <= HOT_MAX_FILE {
                    state.media.hot.files.insert(key.clone(), body.clone()).await;
                }
                body
            }
        };
        crate::web::ranges::select(&headers, body, &etag).into_response()
    };
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(assets::content_type(&key)));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(assets::IMMUTABLE));
    h.insert(header::ETAG, etag);
    Ok(response)
}
