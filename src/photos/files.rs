//! Where a photo's files live in media storage, and the URLs pages use.
//! Keys carry the content hash, so a file never changes under its URL.

use anyhow::Context;
use bytes::Bytes;
use serde::Serialize;

use crate::app::AppState;
use crate::media::pipeline::{Format, PhotoSize, Rendered};

/// `photos/{user}/{hash}/{size}-{spec}.{ext}`: `spec` changes with the
/// size's settings, so a size whose configuration changed gets new files
/// under new names (made on first request or by `coterie photos
/// regenerate`) and the old ones stay valid for whoever cached them.
pub fn key(user_id: i64, hash: &str, size: &PhotoSize, format: Format) -> String {
    format!("{}/{}-{}.{}", folder(user_id, hash), size.name, spec(size, format), format.extension())
}

/// The folder of one photo's sizes.
pub fn folder(user_id: i64, hash: &str) -> String {
    format!("photos/{user_id}/{hash}")
}

/// Six hex digits of the settings that shape one size in one format.
pub fn spec(size: &PhotoSize, format: Format) -> String {
    let quality = match format {
        Format::Jpeg => size.quality,
        Format::Webp => size.webp_quality,
    };
    let settings = format!("{}x{} crop={} upscale={} q={quality}", size.width, size.height, size.crop, size.upscale);
    crate::crypto::sha256_hex(settings.as_bytes())[..6].to_string()
}

/// The upload as sent; `originals/` is never served.
pub fn original_key(user_id: i64, hash: &str) -> String {
    format!("originals/photos/{user_id}/{hash}")
}

/// Stores every output (and the original when configured). On a failure,
/// what was written is removed again, so nothing half-stored remains.
pub async fn store(state: &AppState, user_id: i64, hash: &str, rendered: Rendered, original: Option<Vec<u8>>) -> anyhow::Result<()> {
    let mut written = Vec::new();
    let sizes = &state.config.photos.sizes;
    let mut files: Vec<(String, Vec<u8>)> = Vec::new();
    for output in rendered.outputs {
        let size = sizes.iter().find(|s| s.name == output.size).context("an output of a size that is not configured")?;
        files.push((key(user_id, hash, size, output.format), output.bytes));
    }
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
    // Every size ever made, including those of settings since changed.
    let mut keys = match state.media.keys(&folder(user_id, hash)).await {
        Ok(keys) => keys,
        Err(e) => {
            tracing::warn!(error = %e, "could not list a photo's files; removing the configured sizes");
            configured_keys(&state.config.photos.sizes, user_id, hash)
        }
    };
    keys.push(original_key(user_id, hash));
    remove_keys(state, &keys).await;
}

/// The keys of every configured size of a photo, in every format.
pub fn configured_keys(sizes: &[PhotoSize], user_id: i64, hash: &str) -> Vec<String> {
    sizes.iter().flat_map(|s| s.formats.iter().map(move |f| key(user_id, hash, s, *f))).collect()
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
            .map(|(s, w, _)| format!("{} {w}w", crate::media::url(&key(user_id, hash, s, format))))
            .collect();
        list.join(", ")
    };
    let url_of = |s: &PhotoSize| {
        let format = if s.formats.contains(&Format::Jpeg) { Format::Jpeg } else { s.formats[0] };
        crate::media::url(&key(user_id, hash, s, format))
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
        let sizes = PhotoSize::defaults();
        let p = picture(&sizes, 7, "abc", 3200, 2400);
        let (large, display, thumb) = (&sizes[2], &sizes[1], &sizes[0]);
        assert_eq!(p.src, format!("/media/photos/7/abc/large-{}.jpg", spec(large, Format::Jpeg)));
        assert_eq!((p.width, p.height), (1600, 1200));
        assert_eq!(
            p.srcset_webp,
            format!(
                "/media/photos/7/abc/display-{}.webp 640w, /media/photos/7/abc/large-{}.webp 1600w",
                spec(display, Format::Webp),
                spec(large, Format::Webp)
            )
        );
        assert_eq!(p.thumb, Some(format!("/media/photos/7/abc/thumb-{}.jpg", spec(thumb, Format::Jpeg))));
        assert_eq!((p.small_width, p.small_height), (640, 480));
        // A small upload is never upscaled: its sizes say its real size.
        let tiny = picture(&PhotoSize::defaults(), 7, "abc", 300, 200);
        assert_eq!((tiny.width, tiny.height), (300, 200));
    }

    #[test]
    fn a_changed_setting_changes_the_name() {
        let display = PhotoSize::fit("display", 640, 0);
        let wider = PhotoSize::fit("display", 800, 0);
        let sharper = PhotoSize { webp_quality: 90, ..display.clone() };
        assert_ne!(key(1, "h", &display, Format::Jpeg), key(1, "h", &wider, Format::Jpeg));
        assert_eq!(key(1, "h", &display, Format::Jpeg), key(1, "h", &sharper, Format::Jpeg), "the JPEG did not change");
        assert_ne!(key(1, "h", &display, Format::Webp), key(1, "h", &sharper, Format::Webp));
        assert!(key(1, "h", &display, Format::Webp).starts_with(&format!("{}/", folder(1, "h"))));
    }
}
