//! Uploaded avatars: made into square JPEGs once, at upload, off the async
//! runtime, and stored under names that change with the picture.

use bytes::Bytes;

use crate::accounts::store::{avatar_key, User};
use crate::app::AppState;
use crate::media::images::{self, ImageLimits};
use crate::web::error::AppError;

/// Replaces `user`'s picture. The outer error is ours (storage, database);
/// the inner one is the member's (not an image, too large, ...).
pub async fn replace(state: &AppState, user: &User, upload: Vec<u8>) -> Result<Result<(), String>, AppError> {
    let limits = ImageLimits { max_bytes: state.config.avatars.max_bytes, max_pixels: state.config.avatars.max_pixels };
    let sizes = state.config.avatars.sizes;
    let key = crate::crypto::sha256_hex(&upload)[..16].to_string();
    let made = {
        // Bounded: a burst of uploads queues here instead of exhausting memory.
        let _permit = state.image_jobs.acquire().await.map_err(|e| AppError::Internal(e.into()))?;
        tokio::task::spawn_blocking(move || images::avatar_sizes(&upload, &limits, &sizes))
            .await
            .map_err(|e| AppError::Internal(e.into()))?
    };
    let files = match made {
        Ok(files) => files,
        Err(e) => return Ok(Err(e.to_string())),
    };
    for (size, jpeg) in files {
        state.media.put(&avatar_key(user.id, &key, size), Bytes::from(jpeg)).await?;
    }
    state
        .db
        .query("UPDATE users SET avatar_key = ?, avatar_mode = 'upload', updated_at = ? WHERE id = ?")
        .bind(key.clone())
        .bind(crate::db::now())
        .bind(user.id)
        .execute(state.db.w())
        .await?;
    crate::pagecache::tags::touch_member(state, user.id).await;
    if let Some(old) = user.avatar_key.as_deref().filter(|old| *old != key) {
        remove_sizes(state, user.id, old).await;
    }
    Ok(Ok(()))
}

/// Removes a member's stored pictures (after their account is deleted).
pub async fn remove_files(state: &AppState, user: &User) {
    if let Some(key) = &user.avatar_key {
        remove_sizes(state, user.id, key).await;
    }
}

async fn remove_sizes(state: &AppState, user_id: i64, key: &str) {
    for size in state.config.avatars.sizes {
        if let Err(e) = state.media.delete(&avatar_key(user_id, key, size)).await {
            tracing::warn!(error = %e, user_id, "could not remove an old avatar file");
        }
    }
}
