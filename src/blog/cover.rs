//! Cover images: made once at upload, off the async runtime, into a wide
//! 1200×630 crop (the post page, OpenGraph and Twitter cards) and a 640×336
//! card crop of the same shape, each as JPEG and WebP, stored under keys that
//! change with the picture: `covers/{user}/{hash}-{size}.{ext}`.

use bytes::Bytes;
use serde::Serialize;
use sqlx::Row as _;

use crate::app::AppState;
use crate::db::Row;
use crate::media::images::ImageLimits;
use crate::media::pipeline::{self, Format, PhotoSize};
use crate::web::error::AppError;

const WIDE: &str = "wide";
const CARD: &str = "card";

fn sizes() -> Vec<PhotoSize> {
    vec![PhotoSize::crop(WIDE, 1200, 630), PhotoSize::crop(CARD, 640, 336)]
}

/// A post's cover as stored: its content hash and the sizes of its images.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cover {
    pub key: String,
    pub width: i64,
    pub height: i64,
    pub card_width: i64,
    pub card_height: i64,
}

impl Cover {
    pub fn from_row(row: &Row) -> Result<Option<Cover>, sqlx::Error> {
        let Some(key) = row.try_get::<Option<String>, _>("cover_key")? else { return Ok(None) };
        Ok(Some(Cover {
            key,
            width: row.try_get("cover_width")?,
            height: row.try_get("cover_height")?,
            card_width: row.try_get("cover_card_width")?,
            card_height: row.try_get("cover_card_height")?,
        }))
    }
}

/// The cover columns of a post row, for INSERT and UPDATE.
pub struct Columns {
    pub key: Option<String>,
    pub width: i64,
    pub height: i64,
    pub card_width: i64,
    pub card_height: i64,
}

impl Columns {
    pub fn of(cover: Option<&Cover>) -> Columns {
        match cover {
            Some(c) => Columns { key: Some(c.key.clone()), width: c.width, height: c.height, card_width: c.card_width, card_height: c.card_height },
            None => Columns { key: None, width: 0, height: 0, card_width: 0, card_height: 0 },
        }
    }
}

fn file_key(user_id: i64, key: &str, size: &str, format: Format) -> String {
    format!("covers/{user_id}/{key}-{size}.{}", format.extension())
}

/// What templates show: media URLs of each size and format, and the wide
/// JPEG as an absolute URL for `og:image`.
#[derive(Serialize, Debug)]
pub struct CoverView {
    pub jpeg: String,
    pub webp: String,
    pub width: i64,
    pub height: i64,
    pub card_jpeg: String,
    pub card_webp: String,
    pub card_width: i64,
    pub card_height: i64,
    pub absolute: String,
}

pub fn view(state: &AppState, user_id: i64, cover: &Cover) -> CoverView {
    let url = |size, format| crate::media::url(&file_key(user_id, &cover.key, size, format));
    CoverView {
        jpeg: url(WIDE, Format::Jpeg),
        webp: url(WIDE, Format::Webp),
        width: cover.width,
        height: cover.height,
        card_jpeg: url(CARD, Format::Jpeg),
        card_webp: url(CARD, Format::Webp),
        card_width: cover.card_width,
        card_height: cover.card_height,
        absolute: format!("{}{}", state.config.public_url(), url(WIDE, Format::Jpeg)),
    }
}

/// Makes and stores the sizes of an upload. The outer error is ours
/// (storage); the inner one is the member's (empty, too large, not an
/// image, too many pixels, damaged), and then nothing is stored.
pub async fn store(state: &AppState, user_id: i64, upload: Vec<u8>) -> Result<Result<Cover, String>, AppError> {
    let limits = ImageLimits { max_bytes: state.config.blog.cover_max_bytes, max_pixels: state.config.blog.cover_max_pixels };
    let key = crate::crypto::sha256_hex(&upload)[..16].to_string();
    let made = {
        // Bounded: a burst of uploads queues here instead of exhausting memory.
        let _permit = state.image_jobs.acquire().await.map_err(|e| AppError::Internal(e.into()))?;
        tokio::task::spawn_blocking(move || pipeline::render(&upload, &limits, &sizes()))
            .await
            .map_err(|e| AppError::Internal(e.into()))?
    };
    let rendered = match made {
        Ok(r) => r,
        Err(e) => return Ok(Err(e.to_string())),
    };
    let mut cover = Cover { key: key.clone(), width: 0, height: 0, card_width: 0, card_height: 0 };
    for out in rendered.outputs {
        if out.size == WIDE {
            (cover.width, cover.height) = (out.width.into(), out.height.into());
        } else {
            (cover.card_width, cover.card_height) = (out.width.into(), out.height.into());
        }
        state.media.put(&file_key(user_id, &key, &out.size, out.format), Bytes::from(out.bytes)).await?;
    }
    Ok(Ok(cover))
}

/// Removes a cover's files once no post of the member uses it any more (the
/// same picture on two posts shares its files).
pub async fn remove_if_unused(state: &AppState, user_id: i64, cover: &Cover) {
    let used = state
        .db
        .query("SELECT id FROM blog_posts WHERE user_id = ? AND cover_key = ? LIMIT 1")
        .bind(user_id)
        .bind(cover.key.clone())
        .fetch_optional(state.db.w())
        .await;
    match used {
        Ok(None) => {}
        Ok(Some(_)) => return,
        Err(e) => {
            tracing::warn!(error = %e, user_id, "could not check whether a cover is still used; keeping its files");
            return;
        }
    }
    for size in [WIDE, CARD] {
        for format in [Format::Jpeg, Format::Webp] {
            if let Err(e) = state.media.delete(&file_key(user_id, &cover.key, size, format)).await {
                tracing::warn!(error = %e, user_id, "could not remove an old cover file");
            }
        }
    }
}
