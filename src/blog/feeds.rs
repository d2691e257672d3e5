//! RSS 2.0 and Atom feeds of the newest visible posts: the whole blog's, a
//! member's, and a tag's. Every URL is absolute (from `public_url`), and
//! every piece of text is escaped for XML, post bodies included.

use axum::extract::{Path, State};
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};

use super::store::{self, PostView};
use super::views::views;
use crate::accounts::store as members;
use crate::app::AppState;
use crate::pagecache::tags;
use crate::web::error::{AppError, AppResult};
use crate::xml::{element, escape, rfc2822, rfc3339};

/// Posts in a feed.
const ENTRIES: i64 = 20;

#[derive(Clone, Copy)]
pub enum Format {
    Rss,
    Atom,
}

impl Format {
    fn content_type(self) -> &'static str {
        match self {
            Format::Rss => "application/rss+xml; charset=utf-8",
            Format::Atom => "application/atom+xml; charset=utf-8",
        }
    }
}

/// A feed before it is written: `path` is the HTML page it follows.
struct Feed {
    title: String,
    description: String,
    path: String,
    posts: Vec<PostView>,
}

pub async fn site_rss(State(state): State<AppState>) -> AppResult<Response> {
    site(&state, Format::Rss).await
}

pub async fn site_atom(State(state): State<AppState>) -> AppResult<Response> {
    site(&state, Format::Atom).await
}

pub async fn member_rss(State(state): State<AppState>, Path(username): Path<String>) -> AppResult<Response> {
    member(&state, &username, Format::Rss).await
}

pub async fn member_atom(State(state): State<AppState>, Path(username): Path<String>) -> AppResult<Response> {
    member(&state, &username, Format::Atom).await
}

pub async fn tag_rss(State(state): State<AppState>, Path(raw): Path<String>) -> AppResult<Response> {
    tag(&state, &raw, Format::Rss).await
}

pub async fn tag_atom(State(state): State<AppState>, Path(raw): Path<String>) -> AppResult<Response> {
    tag(&state, &raw, Format::Atom).await
}

async fn site(state: &AppState, format: Format) -> AppResult<Response> {
    let posts = store::newest(&state.db, None, ENTRIES).await?;
    let feed = Feed {
        title: format!("{} blog", state.config.site_name),
        description: "The newest posts by members.".into(),
        path: "/blog".into(),
        posts: views(state, &posts).await?,
    };
    respond(state, &feed, format, None).await
}

async fn member(state: &AppState, username: &str, format: Format) -> AppResult<Response> {
    let author = members::by_username(&state.db, username).await?.filter(|u| u.is_active).ok_or(AppError::NotFound)?;
    let posts = store::newest(&state.db, Some(author.id), ENTRIES).await?;
    let feed = Feed {
        title: format!("{}'s blog · {}", author.name(), state.config.site_name),
        description: format!("The newest posts by {}.", author.name()),
        path: format!("/blog/{}", author.username),
        posts: views(state, &posts).await?,
    };
    respond(state, &feed, format, Some(author.id)).await
}

async fn tag(state: &AppState, raw: &str, format: Format) -> AppResult<Response> {
    let tag = super::pages::tag_from_url(raw)?;
    let posts = super::tagged::newest(&state.db, &tag, ENTRIES).await?;
    let feed = Feed {
        title: format!("#{tag} · {}", state.config.site_name),
        description: format!("The newest posts tagged \u{201c}{tag}\u{201d}."),
        path: format!("/blog/tag/{}", super::pages::urlencoding(&tag)),
        posts: views(state, &posts).await?,
    };
    respond(state, &feed, format, None).await
}

/// The feed, kept in the page cache until a post, its author or the next
/// scheduled post of the feed (`member`'s, or anyone's) changes it.
async fn respond(state: &AppState, feed: &Feed, format: Format, member: Option<i64>) -> AppResult<Response> {
    let base = state.config.public_url();
    let body = match format {
        Format::Rss => rss(&base, feed),
        Format::Atom => atom(&base, feed),
    };
    let mut response = body.into_response();
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(format.content_type()));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    let mut tags = vec![tags::BLOG.to_string()];
    tags.extend(member.into_iter().flat_map(|m| [tags::member_blog(m), tags::user(m)]));
    tags.extend(feed.posts.iter().map(|p| tags::user(p.author.id)));
    crate::pagecache::keep(&mut response, tags, store::next_due(&state.db, member).await?);
    Ok(response)
}

/// When a post last changed as a reader sees it: a scheduled post "changes"
/// when it appears.
fn updated(p: &PostView) -> i64 {
    p.updated_at.max(p.published_at.unwrap_or(0))
}

fn feed_updated(feed: &Feed) -> i64 {
    feed.posts.iter().map(updated).max().unwrap_or(0)
}

fn rss(base: &str, feed: &Feed) -> String {
    let page = format!("{base}{}", feed.path);
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n");
    out.push_str("<rss version=\"2.0\" xmlns:atom=\"http://www.w3.org/2005/Atom\" xmlns:dc=\"http://purl.org/dc/elements/1.1/\">\n<channel>\n");
    element(&mut out, "title", &feed.title);
    element(&mut out, "link", &page);
    element(&mut out, "description", &feed.description);
    out.push_str(&format!("<atom:link href=\"{}\" rel=\"self\" type=\"application/rss+xml\"/>\n", escape(&format!("{page}/feed.rss"))));
    element(&mut out, "lastBuildDate", &rfc2822(feed_updated(feed)));
    for p in &feed.posts {
        out.push_str("<item>\n");
        element(&mut out, "title", &p.title);
        element(&mut out, "link", &format!("{base}{}", p.url));
        out.push_str(&format!("<guid isPermaLink=\"false\">{}</guid>\n", escape(&format!("{base}/blog/p/{}", p.id))));
        element(&mut out, "pubDate", &rfc2822(p.published_at.unwrap_or(0)));
        element(&mut out, "dc:creator", &p.author.display_name);
        for tag in &p.tags {
            element(&mut out, "category", tag);
        }
        element(&mut out, "description", &p.body_html);
        out.push_str("</item>\n");
    }
    out.push_str("</channel>\n</rss>\n");
    out
}

fn atom(base: &str, feed: &Feed) -> String {
    let page = format!("{base}{}", feed.path);
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<feed xmlns=\"http://www.w3.org/2005/Atom\">\n");
    element(&mut out, "title", &feed.title);
    element(&mut out, "subtitle", &feed.description);
    element(&mut out, "id", &format!("{page}/feed.atom"));
    out.push_str(&format!("<link rel=\"alternate\" type=\"text/html\" href=\"{}\"/>\n", escape(&page)));
    out.push_str(&format!("<link rel=\"self\" type=\"application/atom+xml\" href=\"{}\"/>\n", escape(&format!("{page}/feed.atom"))));
    element(&mut out, "updated", &rfc3339(feed_updated(feed)));
    for p in &feed.posts {
        out.push_str("<entry>\n");
        element(&mut out, "title", &p.title);
        element(&mut out, "id", &format!("{base}/blog/p/{}", p.id));
        out.push_str(&format!("<link rel=\"alternate\" type=\"text/html\" href=\"{}\"/>\n", escape(&format!("{base}{}", p.url))));
        element(&mut out, "published", &rfc3339(p.published_at.unwrap_or(0)));
        element(&mut out, "updated", &rfc3339(updated(p)));
        out.push_str("<author>");
        element(&mut out, "name", &p.author.display_name);
        element(&mut out, "uri", &format!("{base}/blog/{}", p.author.username));
        out.push_str("</author>\n");
        for tag in &p.tags {
            out.push_str(&format!("<category term=\"{}\"/>\n", escape(tag)));
        }
        element(&mut out, "summary", &p.excerpt);
        out.push_str(&format!("<content type=\"html\">{}</content>\n", escape(&p.body_html)));
        out.push_str("</entry>\n");
    }
    out.push_str("</feed>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn feeds_escape_what_members_write() {
        let author = crate::accounts::store::Author {
            id: 1,
            username: "ava".into(),
            display_name: "Ava & co".into(),
            avatar: crate::accounts::store::Avatar { small: String::new(), medium: String::new(), large: String::new(), uploaded: false },
            is_staff: false,
            is_moderator: false,
        };
        let post = PostView {
            id: 1, title: "Salt & <pepper>".into(), slug: "s".into(), url: "/blog/ava/s".into(), excerpt: "x".into(),
            body_html: "<p>a ]]> b</p>".into(), state: "published", published_at: Some(0), updated_at: 0, featured: false,
            score: 0, comment_count: 0, author, tags: vec!["linen".into()], cover: None,
        };
        let feed = Feed { title: "T".into(), description: "D".into(), path: "/blog".into(), posts: vec![post] };
        for xml in [rss("http://x", &feed), atom("http://x", &feed)] {
            assert!(xml.contains("Salt &amp; &lt;pepper&gt;") && xml.contains("&lt;p&gt;a ]]&gt; b&lt;/p&gt;"), "{xml}");
            assert!(!xml.contains("<pepper>") && !xml.contains("<p>"));
        }
    }
}
