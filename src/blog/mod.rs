//! Member blogs: every member has one. Posts are drafts, published, or
//! scheduled (visible from their time on, with no job to run: a scheduled
//! post is simply one whose publication time is in the future).

pub mod cover;
mod feeds;
mod form;
pub mod months;
mod pages;
pub mod store;
pub mod tagged;
mod views;

use axum::extract::DefaultBodyLimit;
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

/// Deletes a post with everything that hangs on it: tags, month counts,
/// comments and votes, and its cover files once no other post uses them.
pub async fn delete_post(state: &AppState, id: i64) -> crate::web::error::AppResult<()> {
    if let Some(gone) = store::delete(&state.db, id).await? {
        crate::content::remove_attachments(state, "blog_post", gone.id).await?;
        if let Some(c) = &gone.cover {
            cover::remove_if_unused(state, gone.user_id, c).await;
        }
        touch_post(state, gone.user_id, gone.id).await;
    }
    Ok(())
}

/// After a post is written, edited, deleted or (un)featured: the blog's
/// lists, tag and archive pages and feeds, the author's blog, the post's
/// page, the home page, the sitemap.
pub(crate) async fn touch_post(state: &AppState, author: i64, post: i64) {
    use crate::pagecache::tags;
    tags::touch(state, &[tags::BLOG.to_string(), tags::member_blog(author), tags::item("blog_post", post)]).await;
}

/// Before a member's account is deleted: their posts go one by one through
/// [`delete_post`], so the site's month counts and the cover files follow.
pub async fn forget_member(state: &AppState, user_id: i64) -> crate::web::error::AppResult<()> {
    use sqlx::Row as _;
    let rows = state.db.query("SELECT id FROM blog_posts WHERE user_id = ?").bind(user_id).fetch_all(state.db.w()).await?;
    for row in rows {
        delete_post(state, row.try_get("id")?).await?;
    }
    Ok(())
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
}, Migration {
    version: 2,
    name: "blog tags and months",
    statements: &[
        // A post's publication time is copied beside each of its tags (NULL
        // for a draft), so a tag page walks one index, newest first.
        "CREATE TABLE blog_post_tags (
            tag {str 64} NOT NULL,
            post_id {int} NOT NULL,
            published_at {int} NULL,
            PRIMARY KEY (tag, post_id),
            FOREIGN KEY (post_id) REFERENCES blog_posts (id) ON DELETE CASCADE
        ) {table}",
        "CREATE INDEX blog_post_tags_page ON blog_post_tags (tag, published_at)",
        "CREATE INDEX blog_post_tags_post ON blog_post_tags (post_id)",
        // Published and scheduled posts per UTC month (yyyymm), per member
        // and for the whole site (user_id 0), kept in each write's
        // transaction: the month lists read a few rows, never the posts.
        "CREATE TABLE blog_months (
            user_id {int} NOT NULL,
            month {int} NOT NULL,
            post_count {int} NOT NULL DEFAULT 0,
            PRIMARY KEY (user_id, month)
        ) {table}",
        "INSERT INTO blog_months (user_id, month, post_count)
            SELECT user_id, {month published_at}, COUNT(*) FROM blog_posts
            WHERE status <> 'draft' AND published_at IS NOT NULL GROUP BY user_id, {month published_at}",
        "INSERT INTO blog_months (user_id, month, post_count)
            SELECT 0, {month published_at}, COUNT(*) FROM blog_posts
            WHERE status <> 'draft' AND published_at IS NOT NULL GROUP BY {month published_at}",
    ],
}, Migration {
    version: 3,
    name: "blog covers",
    statements: &[
        // The cover's content hash (its files are covers/{user}/{key}-{size}.{ext})
        // and the pixel sizes of its wide and card images.
        "ALTER TABLE blog_posts ADD COLUMN cover_key {str 64} NULL",
        "ALTER TABLE blog_posts ADD COLUMN cover_width {int} NOT NULL DEFAULT 0",
        "ALTER TABLE blog_posts ADD COLUMN cover_height {int} NOT NULL DEFAULT 0",
        "ALTER TABLE blog_posts ADD COLUMN cover_card_width {int} NOT NULL DEFAULT 0",
        "ALTER TABLE blog_posts ADD COLUMN cover_card_height {int} NOT NULL DEFAULT 0",
    ],
}];

/// Visible to everyone: published, or scheduled and due (`?` is now).
pub const VISIBLE: &str = "status <> 'draft' AND published_at <= ?";

/// Writing forms may carry a cover picture; its own limit is checked as it is read.
const MAX_FORM_BYTES: usize = 64 * 1024 * 1024;

/// Static segments (`feed.rss`, `tag`, `archive`) win over `{username}` and
/// `{slug}`; usernames cannot be `tag` or `archive` (reserved) nor contain
/// a dot, and slugs have no dots either.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/blog", get(views::latest))
        .route("/blog/feed.rss", get(feeds::site_rss))
        .route("/blog/feed.atom", get(feeds::site_atom))
        .route("/blog/new", get(views::new_page).post(views::create).layer(DefaultBodyLimit::max(MAX_FORM_BYTES)))
        .route("/blog/p/{id}", get(views::by_id))
        .route("/blog/tag/{tag}", get(pages::tag_page))
        .route("/blog/tag/{tag}/feed.rss", get(feeds::tag_rss))
        .route("/blog/tag/{tag}/feed.atom", get(feeds::tag_atom))
        .route("/blog/archive/{year}/{month}", get(pages::site_archive))
        .route("/blog/{username}", get(views::member_blog))
        .route("/blog/{username}/feed.rss", get(feeds::member_rss))
        .route("/blog/{username}/feed.atom", get(feeds::member_atom))
        .route("/blog/{username}/archive/{year}/{month}", get(pages::member_archive))
        .route("/blog/{username}/{slug}", get(views::post_page))
        .route(
            "/blog/{username}/{slug}/edit",
            get(views::edit_page).post(views::update).layer(DefaultBodyLimit::max(MAX_FORM_BYTES)),
        )
        .route("/blog/{username}/{slug}/delete", post(views::delete))
        .route("/blog/{username}/{slug}/feature", post(views::feature))
}
