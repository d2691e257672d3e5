//! Where a photo's files live in media storage, and the URLs pages use.
//! Keys carry the content hash, so a file never changes under its URL.

use bytes::Bytes;
use serde::Serialize;

use crate::app::AppState;
use crate::media::pipeline::{Format, PhotoSize, Rendered};

pub fn key(user_id: i64, hash: &str, size: &str, format: Format) -> String {
    format!("photos/{user_id}/{hash}-{size}.{}", format.extension())
}

/// The upload as sent; `originals/` is never served.
pub fn original_key(user_id: i64, hash: &str) -> String {
    format!("originals/photos/{user_id}/{hash}")
}

/// Stores every output (and the original when configured). On a failure,
/// what was written is removed again, so nothing half-stored remains.
pub async fn store(state: &AppState, user_id: i64, hash: &str, rendered: Rendered, original: Option<Vec<u8>>) -> anyhow::Result<()> {
    let mut written = Vec::new();
    let mut files: Vec<(String, Vec<u8>)> =
        rendered.outputs.into_iter().map(|o| (key(user_id, hash, &o.size, o.format), o.bytes)).collect();
    if let Some(bytes) = original {
        files.push((original_key(user_id, hash), bytes));
    }
    for (key, bytes) in files {
        if let Err(e) = state.media.put(&key, Bytes::from(bytes)).await {
            remove_keys(state, &written).await;
            return Err(e);
        }
        written.push(key);
    }
    Ok(())
}

/// Removes every file of a photo. Failures are logged: the row is gone
/// already, and a leftover file is only wasted space.
pub async fn remove(state: &AppState, user_id: i64, hash: &str) {
    let mut keys: Vec<String> = state
        .config
        .photos
        .sizes
        .iter()
        .flat_map(|s| s.formats.iter().map(move |f| key(user_id, hash, &s.name, *f)))
        .collect();
    keys.push(original_key(user_id, hash));
    remove_keys(state, &keys).await;
}

async fn remove_keys(state: &AppState, keys: &[String]) {
    for key in keys {
        if let Err(e) = state.media.delete(key).await {
            tracing::warn!(error = %e, key, "could not remove a photo file");
        }
    }
}

/// What a page needs to show one photo responsively.
#[derive(Serialize, Debug, Clone)]
pub struct Picture {
    /// The largest fitted size, for `<img src>` and its `width`/`height`.
    pub src: String,
    pub width: u32,
    pub height: u32,
    /// Every fitted size, for `srcset`, in JPEG and WebP.
    pub srcset_jpeg: String,
    pub srcset_webp: String,
    /// The smallest cropped size (a square thumbnail), when configured.
    pub thumb: Option<String>,
    /// The smallest fitted size, for grids.
    pub small: String,
    pub small_width: u32,
    pub small_height: u32,
}

/// The picture of a photo `width`×`height` stored under `hash`.
pub fn picture(sizes: &[PhotoSize], user_id: i64, hash: &str, width: u32, height: u32) -> Picture {
    let mut fitted: Vec<(&PhotoSize, u32, u32)> =
        sizes.iter().filter(|s| !s.crop).map(|s| { let (w, h) = s.output_dimensions(width, height); (s, w, h) }).collect();
    fitted.sort_by_key(|(_, w, _)| *w);
    let srcset = |format: Format| {
        let list: Vec<String> = fitted
            .iter()
            .filter(|(s, _, _)| s.formats.contains(&format))
            .map(|(s, w, _)| format!("{} {w}w", crate::media::url(&key(user_id, hash, &s.name, format))))
            .collect();
        list.join(", ")
    };
    let url_of = |s: &PhotoSize| {
        let format = if s.formats.contains(&Format::Jpeg) { Format::Jpeg } else { s.formats[0] };
        crate::media::url(&key(user_id, hash, &s.name, format))
    };
    let thumb = sizes.iter().filter(|s| s.crop).min_by_key(|s| s.width).map(url_of);
    // Configuration always has a size; with only crops, the crop stands in.
    let fallback = sizes.first().map(|s| { let (w, h) = s.output_dimensions(width, height); (s, w, h) });
    let (large, small) = match (fitted.last(), fitted.first()) {
        (Some(l), Some(s)) => (*l, *s),
        _ => (fallback.expect("at least one size"), fallback.expect("at least one size")),
    };
    Picture {
        src: url_of(large.0),
        width: large.1,
        height: large.2,
        srcset_jpeg: srcset(Format::Jpeg),
        srcset_webp: srcset(Format::Webp),
        thumb,
        small: url_of(small.0),
        small_width: small.1,
        small_height: small.2,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pictures_list_every_fitted_size() {
        let p = picture(&PhotoSize::defaults(), 7, "abc", 3200, 2400);
        assert_eq!(p.src, "/media/photos/7/abc-large.jpg");
        assert_eq!((p.width, p.height), (1600, 1200));
        assert_eq!(p.srcset_webp, "/media/photos/7/abc-display.webp 640w, /media/photos/7/abc-large.webp 1600w");
        assert_eq!(p.thumb.as_deref(), Some("/media/photos/7/abc-thumb.jpg"));
        assert_eq!((p.small_width, p.small_height), (640, 480));
        // A small upload is never upscaled: its sizes say its real size.
        let tiny = picture(&PhotoSize::defaults(), 7, "abc", 300, 200);
        assert_eq!((tiny.width, tiny.height), (300, 200));
    }
}
