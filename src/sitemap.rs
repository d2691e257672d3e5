//! `/sitemap.xml` and `/robots.txt`: what search engines may index. The
//! sitemap lists the main sections, visible blog posts, active members'
//! profiles and forum topics anyone may read, with absolute URLs and the
//! time each last changed. One file holds at most 50,000 URLs (the
//! protocol's limit); past that the newest are listed and the rest left
//! out, as a sitemap index is not made yet.

use axum::extract::State;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use sqlx::Row as _;

use crate::app::AppState;
use crate::xml::{escape, rfc3339};
use crate::db::now;
use crate::web::error::AppResult;

const MAX_URLS: i64 = 50_000;

pub fn router() -> Router<AppState> {
    Router::new().route("/sitemap.xml", get(sitemap)).route("/robots.txt", get(robots))
}

async fn robots(State(state): State<AppState>) -> Response {
    let body = format!("User-agent: *\nDisallow: /accounts/\nAllow: /\n\nSitemap: {}/sitemap.xml\n", state.config.public_url());
    text(body, "text/plain; charset=utf-8")
}

/// One URL: its path and when it last changed (None: it changes all the time).
type Entry = (String, Option<i64>);

async fn sitemap(State(state): State<AppState>) -> AppResult<Response> {
    let mut entries: Vec<Entry> = ["/", "/blog", "/forums", "/members"].iter().map(|p| (p.to_string(), None)).collect();
    entries.extend(blog_posts(&state, MAX_URLS - entries.len() as i64).await?);
    entries.extend(profiles(&state, MAX_URLS - entries.len() as i64).await?);
    entries.extend(topics(&state, MAX_URLS - entries.len() as i64).await?);
    let base = state.config.public_url();
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<urlset xmlns=\"http://www.sitemaps.org/schemas/sitemap/0.9\">\n");
    for (path, changed) in entries {
        out.push_str("<url><loc>");
        out.push_str(&escape(&format!("{base}{path}")));
        out.push_str("</loc>");
        if let Some(t) = changed {
            out.push_str(&format!("<lastmod>{}</lastmod>", rfc3339(t)));
        }
        out.push_str("</url>\n");
    }
    out.push_str("</urlset>\n");
    Ok(text(out, "application/xml; charset=utf-8"))
}

fn text(body: String, content_type: &'static str) -> Response {
    let mut response = body.into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

/// Published posts (and scheduled ones that are due) of active members.
async fn blog_posts(state: &AppState, limit: i64) -> AppResult<Vec<Entry>> {
    let db = &state.db;
    let rows = db
        .query(
            "SELECT u.username, p.slug, p.updated_at, p.published_at FROM blog_posts p JOIN users u ON u.id = p.user_id \
             WHERE u.is_active = 1 AND p.status <> 'draft' AND p.published_at <= ? ORDER BY p.published_at DESC LIMIT ?",
        )
        .bind(now())
        .bind(limit.max(0))
        .fetch_all(db.r())
        .await?;
    let mut entries = Vec::with_capacity(rows.len());
    for row in rows {
        let (username, slug): (String, String) = (row.try_get("username")?, row.try_get("slug")?);
        let changed = row.try_get::<i64, _>("updated_at")?.max(row.try_get::<i64, _>("published_at")?);
        entries.push((crate::blog::store::url(&username, &slug), Some(changed)));
    }
    Ok(entries)
}

async fn profiles(state: &AppState, limit: i64) -> AppResult<Vec<Entry>> {
    let db = &state.db;
    let rows = db
        .query("SELECT username, updated_at FROM users WHERE is_active = 1 ORDER BY id DESC LIMIT ?")
        .bind(limit.max(0))
        .fetch_all(db.r())
        .await?;
    let mut entries = Vec::with_capacity(rows.len());
    for row in rows {
        entries.push((format!("/u/{}", row.try_get::<String, _>("username")?), Some(row.try_get("updated_at")?)));
    }
    Ok(entries)
}

/// Live topics in forums everyone may read (not the staff-only ones).
async fn topics(state: &AppState, limit: i64) -> AppResult<Vec<Entry>> {
    let db = &state.db;
    let rows = db
        .query(
            "SELECT t.id, t.slug, t.last_post_at FROM forum_topics t JOIN forums f ON f.id = t.forum_id \
             WHERE t.deleted = 0 AND f.visibility IN ('public', 'readonly') ORDER BY t.last_post_at DESC LIMIT ?",
        )
        .bind(limit.max(0))
        .fetch_all(db.r())
        .await?;
    let mut entries = Vec::with_capacity(rows.len());
    for row in rows {
        let (id, slug): (i64, String) = (row.try_get("id")?, row.try_get("slug")?);
        entries.push((format!("/forums/t/{id}-{slug}"), Some(row.try_get("last_post_at")?)));
    }
    Ok(entries)
}
