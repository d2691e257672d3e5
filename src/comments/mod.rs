//! Threaded comments on any content kind that opts in: markdown rendered
//! when saved, nested replies, sorting, pagination by top-level comment,
//! edit window, deletion that keeps the thread's shape, moderation.

pub mod store;
mod views;

use axum::routing::{get, post};
use axum::Router;

use crate::app::AppState;
use crate::db::migrations::Migration;

pub use store::{forget_member, thread, Sort, Thread};

pub const MIGRATIONS: &[Migration] = &[Migration {
    version: 1,
    name: "comments",
    statements: &[
        "CREATE TABLE comments (
            id {id},
            kind {str 32} NOT NULL,
            target_id {int} NOT NULL,
            user_id {int} NULL,
            parent_id {int} NULL,
            root_id {int} NULL,
            depth {int} NOT NULL DEFAULT 0,
            path {str 255} NOT NULL DEFAULT '',
            body {text} NOT NULL,
            body_html {text} NOT NULL,
            status {int} NOT NULL DEFAULT 0,
            created_at {int} NOT NULL,
            edited_at {int} NULL,
            reply_count {int} NOT NULL DEFAULT 0,
            score {int} NOT NULL DEFAULT 0,
            up_count {int} NOT NULL DEFAULT 0,
            down_count {int} NOT NULL DEFAULT 0,
            comment_count {int} NOT NULL DEFAULT 0,
            hot {int} NOT NULL DEFAULT 0,
            FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE SET NULL
        ) {table}",
        "CREATE INDEX comments_roots ON comments (kind, target_id, parent_id, created_at)",
        "CREATE INDEX comments_top ON comments (kind, target_id, parent_id, score)",
        "CREATE INDEX comments_thread ON comments (root_id, path)",
        "CREATE INDEX comments_by_member ON comments (user_id, created_at)",
    ],
}];

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/comments/{kind}/{id}", post(views::create))
        .route("/comments/{id}", get(views::permalink))
        .route("/comments/{id}/edit", get(views::edit_page).post(views::edit))
        .route("/comments/{id}/delete", post(views::delete))
        .route("/comments/{id}/remove", post(views::remove))
}
