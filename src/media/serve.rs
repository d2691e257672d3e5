//! `/media/{key}`: uploaded files, with small hot files kept in memory so a
//! popular photo is served without touching the disk or the object store.
//! Keys change with content, so files are immutable; a deleted file may be
//! served from memory for up to [`HOT_SECONDS`] more.

use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use moka::future::Cache as Moka;

use crate::app::AppState;
use crate::web::assets;
use crate::web::error::{AppError, AppResult};

/// Files up to this size are kept in memory.
const HOT_MAX_FILE: usize = 2 * 1024 * 1024;
/// How long a file stays in memory after it was read.
pub const HOT_SECONDS: u64 = 60;

pub struct HotFiles(Moka<String, Bytes>);

impl HotFiles {
    pub async fn forget(&self, key: &str) {
        self.0.invalidate(key).await;
    }

    pub fn new(max_bytes: u64) -> HotFiles {
        HotFiles(
            Moka::builder()
                .max_capacity(max_bytes)
                .weigher(|key: &String, body: &Bytes| (key.len() + body.len()).min(u32::MAX as usize) as u32)
                .time_to_live(Duration::from_secs(HOT_SECONDS))
                .build(),
        )
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
        let body = match state.media.hot.0.get(&key).await {
            Some(body) => body,
            None => {
                let body = match state.media.get(&key).await? {
                    Some(body) => body,
                    // A photo size configured after the upload is made now.
                    None => crate::photos::sizes::on_request(&state, &key).await?.ok_or(AppError::NotFound)?,
                };
                if body.len() <= HOT_MAX_FILE {
                    state.media.hot.0.insert(key.clone(), body.clone()).await;
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
