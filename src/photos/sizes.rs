//! Sizes made after the upload: a size added to the configuration (or one
//! whose settings changed) is made the first time someone asks for it, once
//! even when many ask at once, and `coterie photos regenerate` makes every
//! missing size of every photo ahead of time.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::Ordering;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

use anyhow::Context;
use bytes::Bytes;
use indicatif::{ProgressBar, ProgressStyle};

use super::files;
use crate::app::AppState;
use crate::media::images::ImageLimits;
use crate::media::pipeline::{self, PhotoSize};

/// A configured size of one photo, named by a media key.
struct Wanted<'a> {
    user_id: i64,
    hash: String,
    size: &'a PhotoSize,
}

/// `photos/{user}/{hash}/{size}-{spec}.{ext}` of a size configured now.
fn wanted<'a>(sizes: &'a [PhotoSize], key: &str) -> Option<Wanted<'a>> {
    let mut parts = key.strip_prefix("photos/")?.split('/');
    let user_id: i64 = parts.next()?.parse().ok()?;
    let hash = parts.next()?;
    let size = sizes.iter().find(|s| s.formats.iter().any(|f| files::key(user_id, hash, s, *f) == key))?;
    Some(Wanted { user_id, hash: hash.to_string(), size })
}

/// Makes the file behind `key` if it is a configured size of a photo that
/// exists, and returns it; None when the key names nothing we can make.
pub async fn on_request(state: &AppState, key: &str) -> anyhow::Result<Option<Bytes>> {
    let Some(wanted) = wanted(&state.config.photos.sizes, key) else { return Ok(None) };
    if !super::store::hash_in_use(&state.db, wanted.user_id, &wanted.hash).await? {
        return Ok(None);
    }
    // One maker per key in this process; the others wait for its file.
    let flight = {
        let mut flights = FLIGHTS.lock().unwrap();
        flights.entry(key.to_string()).or_insert_with(|| Arc::new(tokio::sync::Mutex::new(()))).clone()
    };
    let _turn = flight.lock().await;
    let result = async {
        if let Some(made) = state.media.get(key).await? {
            return Ok(Some(made));
        }
        // Across processes, the shared cache holds the maker's claim.
        let claim = format!("photos:sizing:{key}");
        if !state.cache.add(&claim, Bytes::from_static(b"1"), Duration::from_secs(120)).await {
            for _ in 0..300 {
                tokio::time::sleep(Duration::from_millis(100)).await;
                if let Some(made) = state.media.get(key).await? {
                    return Ok(Some(made));
                }
            }
        }
        let made = make(state, wanted.user_id, &wanted.hash, wanted.size).await;
        state.cache.delete(&claim).await;
        made?;
        state.media.get(key).await
    }
    .await;
    FLIGHTS.lock().unwrap().remove(key);
    result
}

static FLIGHTS: LazyLock<Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>> = LazyLock::new(Default::default);

/// Makes `size` of one photo in each of its formats, from the original when
/// it was kept, otherwise from the largest file of the photo there is.
pub async fn make(state: &AppState, user_id: i64, hash: &str, size: &PhotoSize) -> anyhow::Result<()> {
    let source = match state.media.get(&files::original_key(user_id, hash)).await? {
        Some(original) => original,
        None => largest_file(state, user_id, hash).await?.context("the photo has no original and no stored size to make a size from")?,
    };
    let p = &state.config.photos;
    let limits = ImageLimits { max_bytes: p.max_bytes.max(source.len()), max_pixels: p.max_pixels };
    let sizes = vec![size.clone()];
    let rendered = {
        let _permit = state.image_jobs.acquire().await?;
        tokio::task::spawn_blocking(move || pipeline::render(&source, &limits, &sizes)).await?
    }
    .map_err(|e| anyhow::anyhow!("cannot make size {}: {e}", size.name))?;
    for output in rendered.outputs {
        state.media.put(&files::key(user_id, hash, size, output.format), Bytes::from(output.bytes)).await?;
    }
    state.metrics.photo_sizes_made.fetch_add(1, Ordering::Relaxed);
    Ok(())
}

async fn largest_file(state: &AppState, user_id: i64, hash: &str) -> anyhow::Result<Option<Bytes>> {
    let mut best: Option<Bytes> = None;
    for key in state.media.keys(&files::folder(user_id, hash)).await? {
        if let Some(file) = state.media.get(&key).await? {
            if best.as_ref().is_none_or(|b| file.len() > b.len()) {
                best = Some(file);
            }
        }
    }
    Ok(best)
}

/// What `regenerate` did.
#[derive(Debug, Default)]
pub struct Regenerated {
    pub photos: u64,
    pub made: u64,
    pub pruned: u64,
    pub failed: u64,
}

/// Makes every missing configured size (or only `only`) of every photo,
/// `state.image_workers` at a time. What exists is kept, so a run that was
/// interrupted continues where it stopped. With `prune`, files of sizes no
/// longer configured go.
pub async fn regenerate(state: &AppState, only: Option<&str>, prune: bool) -> anyhow::Result<Regenerated> {
    let all = &state.config.photos.sizes;
    let sizes: Vec<PhotoSize> = match only {
        Some(name) => vec![all.iter().find(|s| s.name == name).cloned().with_context(|| {
            let names: Vec<&str> = all.iter().map(|s| s.name.as_str()).collect();
            format!("no size named {name:?} in the configuration (sizes: {})", names.join(", "))
        })?],
        None => all.clone(),
    };
    let total = state.db.query("SELECT COUNT(*) FROM photos").fetch_one(state.db.r()).await?;
    let total: i64 = sqlx::Row::try_get(&total, 0)?;
    let bar = ProgressBar::new(total as u64);
    bar.set_style(ProgressStyle::with_template("{bar:40} {pos}/{len} photos, {msg} ({eta})").expect("a valid template"));
    let mut report = Regenerated::default();
    let mut after = 0i64;
    loop {
        let rows = state
            .db
            .query("SELECT id, user_id, content_hash FROM photos WHERE id > ? ORDER BY id LIMIT 100")
            .bind(after)
            .fetch_all(state.db.r())
            .await?;
        let Some(last) = rows.last() else { break };
        after = sqlx::Row::try_get(last, "id")?;
        let mut work = tokio::task::JoinSet::new();
        for row in &rows {
            let user_id: i64 = sqlx::Row::try_get(row, "user_id")?;
            let hash = crate::db::text(row, "content_hash")?;
            let (worker_state, worker_sizes) = (state.clone(), sizes.clone());
            work.spawn(async move { one_photo(&worker_state, user_id, &hash, &worker_sizes, prune).await });
            while work.len() >= state.image_workers.max(1) {
                tally(&mut report, work.join_next().await, &bar);
            }
        }
        while !work.is_empty() {
            tally(&mut report, work.join_next().await, &bar);
        }
    }
    bar.finish_and_clear();
    Ok(report)
}

type PhotoResult = anyhow::Result<(u64, u64)>;

fn tally(report: &mut Regenerated, done: Option<Result<PhotoResult, tokio::task::JoinError>>, bar: &ProgressBar) {
    report.photos += 1;
    match done {
        Some(Ok(Ok((made, pruned)))) => {
            report.made += made;
            report.pruned += pruned;
        }
        Some(Ok(Err(e))) => {
            report.failed += 1;
            bar.suspend(|| eprintln!("warning: {e:#}"));
        }
        Some(Err(e)) => {
            report.failed += 1;
            bar.suspend(|| eprintln!("warning: a photo's sizes failed: {e}"));
        }
        None => {}
    }
    bar.set_message(format!("{} sizes made", report.made));
    bar.inc(1);
}

/// (sizes made, files pruned) for one photo.
async fn one_photo(state: &AppState, user_id: i64, hash: &str, sizes: &[PhotoSize], prune: bool) -> PhotoResult {
    let existing: HashSet<String> = state.media.keys(&files::folder(user_id, hash)).await?.into_iter().collect();
    let mut made = 0;
    for size in sizes {
        let missing = size.formats.iter().any(|f| !existing.contains(&files::key(user_id, hash, size, *f)));
        if missing {
            make(state, user_id, hash, size).await.with_context(|| format!("photo files {}", files::folder(user_id, hash)))?;
            made += 1;
        }
    }
    let mut pruned = 0;
    if prune {
        let keep: HashSet<String> = files::configured_keys(&state.config.photos.sizes, user_id, hash).into_iter().collect();
        for key in existing.iter().filter(|k| !keep.contains(*k)) {
            state.media.delete(key).await?;
            pruned += 1;
        }
    }
    Ok((made, pruned))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::pipeline::Format;

    #[test]
    fn keys_of_configured_sizes_are_recognised() {
        let sizes = PhotoSize::defaults();
        let key = files::key(7, "0123456789abcdef0123", &sizes[1], Format::Webp);
        let w = wanted(&sizes, &key).expect("a configured size");
        assert_eq!((w.user_id, w.hash.as_str(), w.size.name.as_str()), (7, "0123456789abcdef0123", "display"));
        let older = PhotoSize::fit("display", 500, 0);
        assert!(wanted(&sizes, &files::key(7, "0123456789abcdef0123", &older, Format::Webp)).is_none(), "settings no longer configured");
        assert!(wanted(&sizes, "photos/x/abc/display-123456.webp").is_none());
        assert!(wanted(&sizes, "avatars/7/abc-80.jpg").is_none());
    }
}
