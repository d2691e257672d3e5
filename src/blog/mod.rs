//! Member blogs: every member has one. Posts are drafts, published, or
//! scheduled (visible from their time on, with no job to run: a scheduled
//! post is simply one whose publication time is in the future).

pub mod store;
mod views;

use axum::routing::{get, post};
use axum::Router;

use crate::app::AppState;
use crate::db::migrations::Migration;

pub use store::Post;

/// Featured posts for the home page, newest first.
pub async fn featured(state: &AppState, limit: i64) -> crate::web::error::AppResult<Vec<store::PostView>> {
    let posts = store::featured(&state.db, limit).await?;
    views::views(state, &posts).await
}

pub const MIGRATIONS: &[Migration] = &[Migration {
    version: 1,
    name: "blog",
    statements: &[
        "CREATE TABLE blog_posts (
            id {id},
            user_id {int} NOT NULL,
            title {str 200} NOT NULL,
            slug {str 100} NOT NULL,
            body {text} NOT NULL,
            body_html {text} NOT NULL,
            excerpt {str 400} NOT NULL DEFAULT '',
            status {str 16} NOT NULL,
            published_at {int} NULL,
            featured {int} NOT NULL DEFAULT 0,
            created_at {int} NOT NULL,
            updated_at {int} NOT NULL,
            score {int} NOT NULL DEFAULT 0,
            up_count {int} NOT NULL DEFAULT 0,
            down_count {int} NOT NULL DEFAULT 0,
            comment_count {int} NOT NULL DEFAULT 0,
            hot {int} NOT NULL DEFAULT 0,
            FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE
        ) {table}",
        "CREATE UNIQUE INDEX blog_posts_slug ON blog_posts (user_id, slug)",
        "CREATE INDEX blog_posts_latest ON blog_posts (status, published_at)",
        "CREATE INDEX blog_posts_member ON blog_posts (user_id, status, published_at)",
        "CREATE INDEX blog_posts_hot ON blog_posts (status, hot)",
        "CREATE INDEX blog_posts_top ON blog_posts (status, score)",
        "CREATE TABLE blog_old_slugs (
            user_id {int} NOT NULL,
            slug {str 100} NOT NULL,
            post_id {int} NOT NULL,
            PRIMARY KEY (user_id, slug),
            FOREIGN KEY (post_id) REFERENCES blog_posts (id) ON DELETE CASCADE
        ) {table}",
    ],
}];

/// Visible to everyone: published, or scheduled and due (`?` is now).
pub const VISIBLE: &str = "status <> 'draft' AND published_at <= ?";

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/blog", get(views::latest))
        .route("/blog/new", get(views::new_page).post(views::create))
        .route("/blog/p/{id}", get(views::by_id))
        .route("/blog/{username}", get(views::member_blog))
        .route("/blog/{username}/{slug}", get(views::post_page))
        .route("/blog/{username}/{slug}/edit", get(views::edit_page).post(views::update))
        .route("/blog/{username}/{slug}/delete", post(views::delete))
        .route("/blog/{username}/{slug}/feature", post(views::feature))
}
