//! `/sitemap.xml` and `/robots.txt`: what search engines may index.
//!
//! `/sitemap.xml` is a sitemap index naming one file per section and per
//! block of 50,000 ids (the protocol's limit per file): `/sitemaps/posts-0.xml`
//! holds the visible blog posts with ids 1 to 50,000, and so on, so every
//! file is one indexed range read however large the site grows. Sections:
//! the main pages, blog posts, active members' profiles, forum topics
//! anyone may read, photos and galleries. URLs are absolute, with the time
//! each last changed. Every file is kept in the page cache until what it
//! lists changes.

use axum::extract::{Path, State};
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use sqlx::Row as _;

use crate::app::AppState;
use crate::db::now;
use crate::pagecache::tags;
use crate::web::error::{AppError, AppResult};
use crate::xml::{escape, rfc3339};

/// Ids per sitemap file: the protocol allows 50,000 URLs in one.
const BLOCK: i64 = 50_000;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/sitemap.xml", get(index))
        .route("/sitemaps/{file}", get(section_file))
        .route("/robots.txt", get(robots))
}

async fn robots(State(state): State<AppState>) -> Response {
    let body = format!("User-agent: *\nDisallow: /accounts/\nAllow: /\n\nSitemap: {}/sitemap.xml\n", state.config.public_url());
    text(body, "text/plain; charset=utf-8")
}

/// A part of the site listed in files of its own.
struct Section {
    name: &'static str,
    /// The largest id of the table that splits the section into files
    /// (None: one file).
    max_id: Option<&'static str>,
    /// What a change to the section touches in the page cache.
    tag: &'static str,
}

const SECTIONS: &[Section] = &[
    Section { name: "pages", max_id: None, tag: tags::SITE },
    Section { name: "posts", max_id: Some("SELECT MAX(id) FROM blog_posts"), tag: tags::BLOG },
    Section { name: "members", max_id: Some("SELECT MAX(id) FROM users"), tag: tags::MEMBERS },
    Section { name: "topics", max_id: Some("SELECT MAX(id) FROM forum_topics"), tag: tags::FORUMS },
    Section { name: "photos", max_id: Some("SELECT MAX(id) FROM photos"), tag: tags::PHOTOS },
    Section { name: "galleries", max_id: Some("SELECT MAX(id) FROM galleries"), tag: tags::PHOTOS },
];

async fn index(State(state): State<AppState>) -> AppResult<Response> {
    let base = state.config.public_url();
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<sitemapindex xmlns=\"http://www.sitemaps.org/schemas/sitemap/0.9\">\n");
    for section in SECTIONS {
        let blocks = match section.max_id {
            None => 1,
            Some(sql) => {
                let row = state.db.query(sql).fetch_one(state.db.r()).await?;
                let max: Option<i64> = row.try_get(0)?;
                max.map_or(0, |m| (m + BLOCK - 1) / BLOCK)
            }
        };
        for n in 0..blocks {
            out.push_str(&format!("<sitemap><loc>{}</loc></sitemap>\n", escape(&format!("{base}/sitemaps/{}-{n}.xml", section.name))));
        }
    }
    out.push_str("</sitemapindex>\n");
    let mut response = text(out, "application/xml; charset=utf-8");
    let every = SECTIONS.iter().map(|s| s.tag.to_string());
    crate::pagecache::keep(&mut response, every, None);
    Ok(response)
}

/// One URL: its path and when it last changed (None: it changes all the time).
type Entry = (String, Option<i64>);

/// `/sitemaps/{section}-{n}.xml`.
async fn section_file(State(state): State<AppState>, Path(file): Path<String>) -> AppResult<Response> {
    let (name, n) = file
        .strip_suffix(".xml")
        .and_then(|f| f.rsplit_once('-'))
        .and_then(|(name, n)| Some((name, n.parse::<i64>().ok().filter(|n| (0..1_000_000).contains(n))?)))
        .ok_or(AppError::NotFound)?;
    let section = SECTIONS.iter().find(|s| s.name == name).ok_or(AppError::NotFound)?;
    let (after, upto) = (n * BLOCK, (n + 1) * BLOCK);
    let mut until = None;
    let entries = match section.name {
        "pages" if n == 0 => ["/", "/blog", "/forums", "/photos", "/members"].iter().map(|p| (p.to_string(), None)).collect(),
        "posts" => {
            until = crate::blog::store::next_due(&state.db, None).await?;
            blog_posts(&state, after, upto).await?
        }
        "members" => profiles(&state, after, upto).await?,
        "topics" => topics(&state, after, upto).await?,
        "photos" => photos(&state, after, upto).await?,
        "galleries" => galleries(&state, after, upto).await?,
        _ => return Err(AppError::NotFound),
    };
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
    let mut response = text(out, "application/xml; charset=utf-8");
    // Member names are in every URL but the main pages'.
    crate::pagecache::keep(&mut response, [section.tag.to_string(), tags::MEMBERS.to_string()], until);
    Ok(response)
}

fn text(body: String, content_type: &'static str) -> Response {
    let mut response = body.into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

/// Published posts (and scheduled ones that are due) of active members.
async fn blog_posts(state: &AppState, after: i64, upto: i64) -> AppResult<Vec<Entry>> {
    let db = &state.db;
    let rows = db
        .query(
            "SELECT u.username, p.slug, p.updated_at, p.published_at FROM blog_posts p JOIN users u ON u.id = p.user_id \
             WHERE p.id > ? AND p.id <= ? AND u.is_active = 1 AND p.status <> 'draft' AND p.published_at <= ? ORDER BY p.id",
        )
        .bind(after)
        .bind(upto)
        .bind(now())
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

async fn profiles(state: &AppState, after: i64, upto: i64) -> AppResult<Vec<Entry>> {
    let db = &state.db;
    let rows = db
        .query("SELECT username, updated_at FROM users WHERE id > ? AND id <= ? AND is_active = 1 ORDER BY id")
        .bind(after)
        .bind(upto)
        .fetch_all(db.r())
        .await?;
    let mut entries = Vec::with_capacity(rows.len());
    for row in rows {
        entries.push((format!("/u/{}", row.try_get::<String, _>("username")?), Some(row.try_get("updated_at")?)));
    }
    Ok(entries)
}

/// Live topics in forums everyone may read (not the staff-only ones).
async fn topics(state: &AppState, after: i64, upto: i64) -> AppResult<Vec<Entry>> {
    let db = &state.db;
    let rows = db
        .query(
            "SELECT t.id, t.slug, t.last_post_at FROM forum_topics t JOIN forums f ON f.id = t.forum_id \
             WHERE t.id > ? AND t.id <= ? AND t.deleted = 0 AND f.visibility IN ('public', 'readonly') ORDER BY t.id",
        )
        .bind(after)
        .bind(upto)
        .fetch_all(db.r())
        .await?;
    let mut entries = Vec::with_capacity(rows.len());
    for row in rows {
        let (id, slug): (i64, String) = (row.try_get("id")?, row.try_get("slug")?);
        entries.push((format!("/forums/t/{id}-{slug}"), Some(row.try_get("last_post_at")?)));
    }
    Ok(entries)
}

/// Photos of active members.
async fn photos(state: &AppState, after: i64, upto: i64) -> AppResult<Vec<Entry>> {
    owned_items(state, "SELECT p.id, p.updated_at FROM photos p JOIN users u ON u.id = p.user_id \
         WHERE p.id > ? AND p.id <= ? AND u.is_active = 1 ORDER BY p.id", "/photos/", after, upto).await
}

/// Galleries of active members that hold a photo.
async fn galleries(state: &AppState, after: i64, upto: i64) -> AppResult<Vec<Entry>> {
    owned_items(state, "SELECT g.id, g.updated_at FROM galleries g JOIN users u ON u.id = g.user_id \
         WHERE g.id > ? AND g.id <= ? AND u.is_active = 1 AND g.photo_count > 0 ORDER BY g.id", "/galleries/", after, upto).await
}

/// Rows of (id, updated_at) as `{link}{id}` URLs.
async fn owned_items(state: &AppState, sql: &'static str, link: &str, after: i64, upto: i64) -> AppResult<Vec<Entry>> {
    let rows = state.db.query(sql).bind(after).bind(upto).fetch_all(state.db.r()).await?;
    let mut entries = Vec::with_capacity(rows.len());
    for row in rows {
        entries.push((format!("{link}{}", row.try_get::<i64, _>("id")?), Some(row.try_get("updated_at")?)));
    }
    Ok(entries)
}
