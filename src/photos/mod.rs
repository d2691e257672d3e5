//! Photo sharing: members upload photos (one, many, or a ZIP of them),
//! arrange them in galleries, tag them, and the community votes and
//! comments on them. Every size is made at upload; pages only read.

pub mod files;
mod galleries;
pub mod sizes;
pub mod store;
mod text;
pub mod upload;
mod views;
mod zip;

use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use axum::Router;

use crate::app::AppState;
use crate::config::Config;
use crate::db::migrations::Migration;

pub use views::{profile_section, ProfileSection};

/// After any photo or gallery of `owner` changes: every photo page, grid,
/// gallery and tag page, and the owner's profile.
pub async fn touch(state: &AppState, owner: i64) {
    use crate::pagecache::tags;
    tags::touch(state, &[tags::PHOTOS.to_string(), tags::PHOTO_SETS.to_string(), tags::user(owner)]).await;
}

/// Before a member's account goes: each of their photos, with its files,
/// comments and votes (their galleries go with the account's row).
pub async fn forget_member(state: &AppState, user_id: i64) -> crate::web::error::AppResult<()> {
    loop {
        let (batch, _) = store::latest(&state.db, Some(user_id), None).await?;
        if batch.is_empty() {
            return Ok(());
        }
        for photo in &batch {
            views::remove(state, photo).await?;
        }
    }
}

pub const MIGRATIONS: &[Migration] = &[Migration {
    version: 1,
    name: "photos",
    statements: &[
        "CREATE TABLE galleries (
            id {id},
            user_id {int} NOT NULL,
            title {str 200} NOT NULL,
            description {text} NOT NULL,
            description_html {text} NOT NULL,
            cover_photo_id {int} NULL,
            photo_count {int} NOT NULL DEFAULT 0,
            created_at {int} NOT NULL,
            updated_at {int} NOT NULL,
            FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE
        ) {table}",
        "CREATE INDEX galleries_member ON galleries (user_id, id)",
        "CREATE TABLE photos (
            id {id},
            user_id {int} NOT NULL,
            gallery_id {int} NULL,
            title {str 200} NOT NULL,
            caption {text} NOT NULL,
            caption_html {text} NOT NULL,
            width {int} NOT NULL,
            height {int} NOT NULL,
            content_hash {str 64} NOT NULL,
            position {int} NOT NULL DEFAULT 0,
            view_count {int} NOT NULL DEFAULT 0,
            created_at {int} NOT NULL,
            updated_at {int} NOT NULL,
            score {int} NOT NULL DEFAULT 0,
            up_count {int} NOT NULL DEFAULT 0,
            down_count {int} NOT NULL DEFAULT 0,
            comment_count {int} NOT NULL DEFAULT 0,
            hot {int} NOT NULL DEFAULT 0,
            FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE,
            FOREIGN KEY (gallery_id) REFERENCES galleries (id) ON DELETE SET NULL
        ) {table}",
        "CREATE INDEX photos_member ON photos (user_id, id)",
        "CREATE INDEX photos_gallery ON photos (gallery_id, position, id)",
        "CREATE INDEX photos_top ON photos (score, id)",
        "CREATE TABLE photo_tags (
            tag {str 100} NOT NULL,
            photo_id {int} NOT NULL,
            PRIMARY KEY (tag, photo_id),
            FOREIGN KEY (photo_id) REFERENCES photos (id) ON DELETE CASCADE
        ) {table}",
        "CREATE INDEX photo_tags_photo ON photo_tags (photo_id)",
    ],
}, Migration {
    version: 2,
    name: "photos_hot",
    // The "trending" grid walks this (the rank is written once per vote).
    statements: &["CREATE INDEX photos_hot ON photos (hot, id)"],
}];

/// Every photo is public once stored (`?` is bound to now and unused).
pub const VISIBLE: &str = "0 < ?";

/// The request body an upload may send: every file at its limit, plus room
/// for the other fields and the multipart framing.
pub fn upload_body_limit(config: &Config) -> usize {
    config.photos.max_bytes.saturating_mul(config.photos.max_files_per_upload).saturating_add(1024 * 1024)
}

pub fn router(config: &Config) -> Router<AppState> {
    Router::new()
        .route("/photos", get(views::latest))
        .route(
            "/photos/upload",
            get(upload::form).post(upload::submit).layer(DefaultBodyLimit::max(upload_body_limit(config))),
        )
        .route("/photos/{id}", get(views::photo_page))
        .route("/photos/{id}/edit", get(views::edit_page).post(views::update))
        .route("/photos/{id}/delete", post(views::delete))
        .route("/tags/{tag}", get(views::tag_page))
        .route("/galleries/new", get(galleries::new_page).post(galleries::create))
        .route("/galleries/{id}", get(galleries::gallery_page))
        .route("/galleries/{id}/edit", get(galleries::edit_page).post(galleries::update))
        .route("/galleries/{id}/delete", post(galleries::delete))
        .route("/galleries/{id}/remove", post(galleries::remove))
}
