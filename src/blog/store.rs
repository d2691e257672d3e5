//! Blog posts as stored.

use serde::Serialize;
use sqlx::Row as _;

use crate::accounts::store::Author;
use crate::db::{now, Db, Row};
use crate::web::error::AppResult;

pub const MAX_TITLE: usize = 200;
pub const MAX_BODY: usize = 100_000;
pub const PER_PAGE: i64 = 12;

#[derive(Clone, Debug)]
pub struct Post {
    pub id: i64,
    pub user_id: i64,
    pub title: String,
    pub slug: String,
    pub body: String,
    pub body_html: String,
    pub excerpt: String,
    pub status: String,
    pub published_at: Option<i64>,
    pub featured: bool,
    pub created_at: i64,
    pub updated_at: i64,
    pub score: i64,
    pub comment_count: i64,
    pub cover: Option<super::cover::Cover>,
}

impl Post {
    pub fn from_row(row: &Row) -> Result<Post, sqlx::Error> {
        Ok(Post {
            id: row.try_get("id")?,
            user_id: row.try_get("user_id")?,
            title: row.try_get("title")?,
            slug: row.try_get("slug")?,
            body: crate::db::text(row, "body")?,
            body_html: crate::db::text(row, "body_html")?,
            excerpt: row.try_get("excerpt")?,
            status: row.try_get("status")?,
            published_at: row.try_get("published_at")?,
            featured: row.try_get::<i64, _>("featured")? != 0,
            created_at: row.try_get("created_at")?,
            updated_at: row.try_get("updated_at")?,
            score: row.try_get("score")?,
            comment_count: row.try_get("comment_count")?,
            cover: super::cover::Cover::from_row(row)?,
        })
    }

    pub fn is_visible(&self) -> bool {
        self.status != "draft" && self.published_at.is_some_and(|t| t <= now())
    }

    /// "draft", "scheduled" (not yet due) or "published".
    pub fn state(&self) -> &'static str {
        match (self.status.as_str(), self.is_visible()) {
            ("draft", _) => "draft",
            (_, false) => "scheduled",
            _ => "published",
        }
    }
}

/// A post as list and post pages show it.
#[derive(Serialize, Debug)]
pub struct PostView {
    pub id: i64,
    pub title: String,
    pub slug: String,
    pub url: String,
    pub excerpt: String,
    pub body_html: String,
    pub state: &'static str,
    pub published_at: Option<i64>,
    pub updated_at: i64,
    pub featured: bool,
    pub score: i64,
    pub comment_count: i64,
    pub author: Author,
    pub tags: Vec<String>,
    pub cover: Option<super::cover::CoverView>,
}

pub fn url(username: &str, slug: &str) -> String {
    format!("/blog/{username}/{slug}")
}

/// A URL part from a title: lower-case letters, digits and hyphens.
pub fn slugify(text: &str) -> String {
    let mut slug = String::new();
    for c in text.trim().chars().flat_map(|c| c.to_lowercase()) {
        let c = match c {
            'a'..='z' | '0'..='9' => c,
            'à' | 'á' | 'â' | 'ä' | 'ã' | 'å' => 'a',
            'è' | 'é' | 'ê' | 'ë' => 'e',
            'ì' | 'í' | 'î' | 'ï' => 'i',
            'ò' | 'ó' | 'ô' | 'ö' | 'õ' | 'ø' => 'o',
            'ù' | 'ú' | 'û' | 'ü' => 'u',
            'ç' => 'c',
            'ñ' => 'n',
            _ => '-',
        };
        if c == '-' && (slug.is_empty() || slug.ends_with('-')) {
            continue;
        }
        slug.push(c);
        if slug.len() >= 80 {
            break;
        }
    }
    let slug = slug.trim_end_matches('-').to_string();
    if slug.is_empty() || slug.chars().all(|c| c.is_ascii_digit()) { format!("post-{slug}").trim_end_matches('-').to_string() } else { slug }
}

/// `wanted`, or `wanted-2`, `wanted-3`, ... : the first not used by this
/// author on another post (old slugs included, so they keep redirecting).
pub async fn free_slug(db: &Db, user_id: i64, wanted: &str, except: Option<i64>) -> AppResult<String> {
    let mut candidate = wanted.to_string();
    for n in 2.. {
        let taken = db
            .query("SELECT id FROM blog_posts WHERE user_id = ? AND slug = ? AND id <> ?")
            .bind(user_id)
            .bind(candidate.clone())
            .bind(except.unwrap_or(0))
            .fetch_optional(db.w())
            .await?
            .is_some()
            || db
                .query("SELECT post_id FROM blog_old_slugs WHERE user_id = ? AND slug = ? AND post_id <> ?")
                .bind(user_id)
                .bind(candidate.clone())
                .bind(except.unwrap_or(0))
                .fetch_optional(db.w())
                .await?
                .is_some();
        if !taken {
            break;
        }
        candidate = format!("{wanted}-{n}");
    }
    Ok(candidate)
}

/// What a post's fields become when saved.
pub struct Draft {
    pub title: String,
    pub slug: String,
    pub body: String,
    pub status: &'static str,
    pub published_at: Option<i64>,
    pub tags: Vec<String>,
    /// The cover to keep or set; `None` means none (or removes the old one).
    pub cover: Option<super::cover::Cover>,
}

impl Draft {
    /// The publication time a tag row and a month count go by: none for a draft.
    fn listed_at(&self) -> Option<i64> {
        listed_at(self.status, self.published_at)
    }
}

fn listed_at(status: &str, published_at: Option<i64>) -> Option<i64> {
    published_at.filter(|_| status != "draft")
}

/// Creates a post with its tags and month count, in one transaction.
pub async fn create(db: &Db, user_id: i64, d: &Draft) -> AppResult<i64> {
    Ok(crate::db::retry_deadlocks(|| try_create(db, user_id, d)).await?)
}

async fn try_create(db: &Db, user_id: i64, d: &Draft) -> Result<i64, sqlx::Error> {
    let now = now();
    let cover = super::cover::Columns::of(d.cover.as_ref());
    let mut tx = db.w().begin().await?;
    let id = db
        .insert(
            "INSERT INTO blog_posts (user_id, title, slug, body, body_html, excerpt, status, published_at, created_at, updated_at, hot, \
             cover_key, cover_width, cover_height, cover_card_width, cover_card_height) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(user_id)
        .bind(d.title.clone())
        .bind(d.slug.clone())
        .bind(d.body.clone())
        .bind(crate::markdown::render(&d.body))
        .bind(crate::markdown::excerpt(&d.body, 280))
        .bind(d.status)
        .bind(d.published_at)
        .bind(now)
        .bind(now)
        .bind(crate::content::hot(0, d.published_at.unwrap_or(now)))
        .bind(cover.key)
        .bind(cover.width)
        .bind(cover.height)
        .bind(cover.card_width)
        .bind(cover.card_height)
        .run(&mut *tx)
        .await?;
    super::tagged::add(db, &mut tx, id, &d.tags, d.listed_at()).await?;
    super::months::moved(db, &mut tx, user_id, None, d.listed_at()).await?;
    tx.commit().await?;
    Ok(id)
}

/// The post's row as it is now, locked for the rest of the transaction
/// (the no-op update takes the row lock on every backend before the read).
async fn lock(db: &Db, tx: &mut sqlx::AnyConnection, id: i64) -> Result<Option<Post>, sqlx::Error> {
    db.query("UPDATE blog_posts SET updated_at = updated_at WHERE id = ?").bind(id).execute(&mut *tx).await?;
    let row = db.query("SELECT * FROM blog_posts WHERE id = ?").bind(id).fetch_optional(&mut *tx).await?;
    row.as_ref().map(Post::from_row).transpose()
}

/// Saves new fields, tags and cover; an old slug is kept so its URL
/// redirects. Returns the cover the post had before, when it changed, so
/// its files can be removed once the change is committed.
pub async fn update(db: &Db, post: &Post, d: &Draft) -> AppResult<Option<super::cover::Cover>> {
    crate::db::retry_deadlocks(|| try_update(db, post.id, d)).await?.ok_or(crate::web::error::AppError::NotFound)
}

/// None when the post is gone; else the replaced cover, if any.
async fn try_update(db: &Db, id: i64, d: &Draft) -> Result<Option<Option<super::cover::Cover>>, sqlx::Error> {
    let mut tx = db.w().begin().await?;
    let Some(current) = lock(db, &mut tx, id).await? else { return Ok(None) };
    if d.slug != current.slug {
        db.query("DELETE FROM blog_old_slugs WHERE user_id = ? AND slug = ?")
            .bind(current.user_id)
            .bind(current.slug.clone())
            .execute(&mut *tx)
            .await?;
        db.query("INSERT INTO blog_old_slugs (user_id, slug, post_id) VALUES (?, ?, ?)")
            .bind(current.user_id)
            .bind(current.slug.clone())
            .bind(current.id)
            .execute(&mut *tx)
            .await?;
    }
    let cover = super::cover::Columns::of(d.cover.as_ref());
    db.query(
        "UPDATE blog_posts SET title = ?, slug = ?, body = ?, body_html = ?, excerpt = ?, status = ?, published_at = ?, updated_at = ?, \
         cover_key = ?, cover_width = ?, cover_height = ?, cover_card_width = ?, cover_card_height = ? WHERE id = ?",
    )
    .bind(d.title.clone())
    .bind(d.slug.clone())
    .bind(d.body.clone())
    .bind(crate::markdown::render(&d.body))
    .bind(crate::markdown::excerpt(&d.body, 280))
    .bind(d.status)
    .bind(d.published_at)
    .bind(now())
    .bind(cover.key)
    .bind(cover.width)
    .bind(cover.height)
    .bind(cover.card_width)
    .bind(cover.card_height)
    .bind(current.id)
    .execute(&mut *tx)
    .await?;
    super::tagged::replace(db, &mut tx, current.id, &d.tags, d.listed_at()).await?;
    let was = listed_at(&current.status, current.published_at);
    super::months::moved(db, &mut tx, current.user_id, was, d.listed_at()).await?;
    tx.commit().await?;
    let replaced = current.cover.filter(|old| d.cover.as_ref().map(|c| &c.key) != Some(&old.key));
    Ok(Some(replaced))
}

/// Deletes a post with its tags and month count. Returns what was deleted
/// (for its cover files and attachments), or None when it was already gone.
pub async fn delete(db: &Db, id: i64) -> AppResult<Option<Post>> {
    Ok(crate::db::retry_deadlocks(|| try_delete(db, id)).await?)
}

async fn try_delete(db: &Db, id: i64) -> Result<Option<Post>, sqlx::Error> {
    let mut tx = db.w().begin().await?;
    let Some(current) = lock(db, &mut tx, id).await? else { return Ok(None) };
    db.query("DELETE FROM blog_post_tags WHERE post_id = ?").bind(id).execute(&mut *tx).await?;
    db.query("DELETE FROM blog_old_slugs WHERE post_id = ?").bind(id).execute(&mut *tx).await?;
    db.query("DELETE FROM blog_posts WHERE id = ?").bind(id).execute(&mut *tx).await?;
    super::months::moved(db, &mut tx, current.user_id, listed_at(&current.status, current.published_at), None).await?;
    tx.commit().await?;
    Ok(Some(current))
}

pub async fn by_id(db: &Db, id: i64) -> AppResult<Option<Post>> {
    let row = db.query("SELECT * FROM blog_posts WHERE id = ?").bind(id).fetch_optional(db.w()).await?;
    Ok(row.as_ref().map(Post::from_row).transpose()?)
}

/// A post by its author and slug; `Err(id)`-like second value when the slug
/// is an old one that now redirects.
pub async fn by_slug(db: &Db, user_id: i64, slug: &str) -> AppResult<Option<(Post, bool)>> {
    let row = db
        .query("SELECT * FROM blog_posts WHERE user_id = ? AND slug = ?")
        .bind(user_id)
        .bind(slug.to_string())
        .fetch_optional(db.r())
        .await?;
    if let Some(row) = row {
        return Ok(Some((Post::from_row(&row)?, false)));
    }
    let old = db
        .query("SELECT post_id FROM blog_old_slugs WHERE user_id = ? AND slug = ?")
        .bind(user_id)
        .bind(slug.to_string())
        .fetch_optional(db.r())
        .await?;
    match old {
        Some(row) => Ok(by_id(db, row.get::<i64, _>(0)).await?.map(|p| (p, true))),
        None => Ok(None),
    }
}

/// How a list of posts is ordered.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Order {
    /// Newest first.
    New,
    /// By the hot rank: votes weighed against age.
    Hot,
    /// By score, over the last `days` days (0: all time).
    Top { days: i64 },
}

/// Visible posts in `order`: site-wide, or one member's. Each order walks
/// an index (status + published_at, hot or score); "top of the week" reads
/// only the week's posts.
pub async fn list(db: &Db, member: Option<i64>, order: Order, page: i64) -> AppResult<(Vec<Post>, bool)> {
    let offset = (page - 1) * PER_PAGE;
    let now = now();
    let since = match order {
        Order::Top { days } if days > 0 => now - days * 86_400,
        _ => 0,
    };
    let sql: &'static str = match (member.is_some(), order) {
        (false, Order::New) => "SELECT * FROM blog_posts WHERE status <> 'draft' AND published_at <= ? AND published_at >= ? AND 0 = ? ORDER BY published_at DESC, id DESC LIMIT ? OFFSET ?",
        (false, Order::Hot) => "SELECT * FROM blog_posts WHERE status <> 'draft' AND published_at <= ? AND published_at >= ? AND 0 = ? ORDER BY hot DESC, id DESC LIMIT ? OFFSET ?",
        (false, Order::Top { .. }) => "SELECT * FROM blog_posts WHERE status <> 'draft' AND published_at <= ? AND published_at >= ? AND 0 = ? ORDER BY score DESC, id DESC LIMIT ? OFFSET ?",
        (true, Order::New) => "SELECT * FROM blog_posts WHERE status <> 'draft' AND published_at <= ? AND published_at >= ? AND user_id = ? ORDER BY published_at DESC, id DESC LIMIT ? OFFSET ?",
        (true, Order::Hot) => "SELECT * FROM blog_posts WHERE status <> 'draft' AND published_at <= ? AND published_at >= ? AND user_id = ? ORDER BY hot DESC, id DESC LIMIT ? OFFSET ?",
        (true, Order::Top { .. }) => "SELECT * FROM blog_posts WHERE status <> 'draft' AND published_at <= ? AND published_at >= ? AND user_id = ? ORDER BY score DESC, id DESC LIMIT ? OFFSET ?",
    };
    let rows = db
        .query(sql)
        .bind(now)
        .bind(since)
        .bind(member.unwrap_or(0))
        .bind(PER_PAGE + 1)
        .bind(offset)
        .fetch_all(db.r())
        .await?;
    one_page(&rows)
}

/// A page of posts from rows fetched with `LIMIT PER_PAGE + 1`, and whether
/// another page follows.
pub fn one_page(rows: &[Row]) -> AppResult<(Vec<Post>, bool)> {
    let mut posts = rows.iter().map(Post::from_row).collect::<Result<Vec<_>, _>>()?;
    let more = posts.len() as i64 > PER_PAGE;
    posts.truncate(PER_PAGE as usize);
    Ok((posts, more))
}

/// The newest `limit` visible posts, site-wide or one member's (feeds).
pub async fn newest(db: &Db, member: Option<i64>, limit: i64) -> AppResult<Vec<Post>> {
    let sql = if member.is_some() {
        "SELECT * FROM blog_posts WHERE user_id = ? AND status <> 'draft' AND published_at <= ? ORDER BY published_at DESC, id DESC LIMIT ?"
    } else {
        "SELECT * FROM blog_posts WHERE 0 = ? AND status <> 'draft' AND published_at <= ? ORDER BY published_at DESC, id DESC LIMIT ?"
    };
    let rows = db.query(sql).bind(member.unwrap_or(0)).bind(now()).bind(limit).fetch_all(db.r()).await?;
    Ok(rows.iter().map(Post::from_row).collect::<Result<Vec<_>, _>>()?)
}

/// The author's own drafts and scheduled posts, for their blog page.
pub async fn unpublished(db: &Db, user_id: i64) -> AppResult<Vec<Post>> {
    let rows = db
        .query("SELECT * FROM blog_posts WHERE user_id = ? AND (status = 'draft' OR published_at > ?) ORDER BY updated_at DESC LIMIT 50")
        .bind(user_id)
        .bind(now())
        .fetch_all(db.r())
        .await?;
    Ok(rows.iter().map(Post::from_row).collect::<Result<Vec<_>, _>>()?)
}

/// Featured posts, newest first, for the home page.
/// When the next scheduled post (of `member`, or of anyone) falls due:
/// pages listing posts change by themselves then.
pub async fn next_due(db: &Db, member: Option<i64>) -> AppResult<Option<i64>> {
    let row = match member {
        None => db.query("SELECT MIN(published_at) FROM blog_posts WHERE status = 'scheduled' AND published_at > ?").bind(now()),
        Some(id) => db
            .query("SELECT MIN(published_at) FROM blog_posts WHERE user_id = ? AND status = 'scheduled' AND published_at > ?")
            .bind(id)
            .bind(now()),
    }
    .fetch_one(db.r())
    .await?;
    Ok(row.try_get::<Option<i64>, _>(0)?)
}

pub async fn featured(db: &Db, limit: i64) -> AppResult<Vec<Post>> {
    let rows = db
        .query("SELECT * FROM blog_posts WHERE featured = 1 AND status <> 'draft' AND published_at <= ? ORDER BY published_at DESC LIMIT ?")
        .bind(now())
        .bind(limit)
        .fetch_all(db.r())
        .await?;
    Ok(rows.iter().map(Post::from_row).collect::<Result<Vec<_>, _>>()?)
}

/// The author's visible posts just before and after `post`.
pub async fn neighbours(db: &Db, post: &Post) -> AppResult<(Option<Post>, Option<Post>)> {
    let at = post.published_at.unwrap_or(0);
    let older = db
        .query(
            "SELECT * FROM blog_posts WHERE user_id = ? AND status <> 'draft' AND published_at <= ? \
             AND (published_at < ? OR (published_at = ? AND id < ?)) ORDER BY published_at DESC, id DESC LIMIT 1",
        )
        .bind(post.user_id)
        .bind(now())
        .bind(at)
        .bind(at)
        .bind(post.id)
        .fetch_optional(db.r())
        .await?;
    let newer = db
        .query(
            "SELECT * FROM blog_posts WHERE user_id = ? AND status <> 'draft' AND published_at <= ? \
             AND (published_at > ? OR (published_at = ? AND id > ?)) ORDER BY published_at ASC, id ASC LIMIT 1",
        )
        .bind(post.user_id)
        .bind(now())
        .bind(at)
        .bind(at)
        .bind(post.id)
        .fetch_optional(db.r())
        .await?;
    Ok((older.as_ref().map(Post::from_row).transpose()?, newer.as_ref().map(Post::from_row).transpose()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_from_titles() {
        assert_eq!(slugify("Linen in Summer!"), "linen-in-summer");
        assert_eq!(slugify("  Café crème — été  "), "cafe-creme-ete");
        assert_eq!(slugify("<script>alert(1)</script>"), "script-alert-1-script");
        assert_eq!(slugify("???"), "post");
        assert_eq!(slugify("2026"), "post-2026");
        assert!(slugify(&"long ".repeat(50)).len() <= 80);
    }
}
