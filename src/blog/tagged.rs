//! Posts by tag: each post's tags in `blog_post_tags`, with the post's
//! publication time beside them so a tag page walks the (tag, published_at)
//! index newest first and never sorts the tag's posts.

use std::collections::HashMap;

use sqlx::Row as _;

use super::store::{Post, PER_PAGE};
use crate::db::{now, Db};
use crate::web::error::AppResult;

/// Sets a post's tags (inside the post's write transaction). `listed_at` is
/// its publication time, or None for a draft, which no tag page lists.
pub async fn replace(db: &Db, tx: &mut sqlx::AnyConnection, post_id: i64, tags: &[String], listed_at: Option<i64>) -> Result<(), sqlx::Error> {
    db.query("DELETE FROM blog_post_tags WHERE post_id = ?").bind(post_id).execute(&mut *tx).await?;
    add(db, tx, post_id, tags, listed_at).await
}

/// Tags a new post (no DELETE first: on MySQL its gap locks would make
/// concurrent new posts deadlock).
pub async fn add(db: &Db, tx: &mut sqlx::AnyConnection, post_id: i64, tags: &[String], listed_at: Option<i64>) -> Result<(), sqlx::Error> {
    for tag in tags {
        db.query("INSERT INTO blog_post_tags (tag, post_id, published_at) VALUES (?, ?, ?)")
            .bind(tag.clone())
            .bind(post_id)
            .bind(listed_at)
            .execute(&mut *tx)
            .await?;
    }
    Ok(())
}

/// The tags of each of `post_ids`, alphabetically, in one query.
pub async fn for_posts(db: &Db, post_ids: &[i64]) -> AppResult<HashMap<i64, Vec<String>>> {
    let mut ids = post_ids.to_vec();
    ids.sort_unstable();
    ids.dedup();
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    // The ids are integers formatted here, so inlining them is safe.
    let list = ids.iter().map(|id| id.to_string()).collect::<Vec<_>>().join(",");
    let rows = sqlx::query(&format!("SELECT post_id, tag FROM blog_post_tags WHERE post_id IN ({list}) ORDER BY tag"))
        .fetch_all(db.r())
        .await?;
    let mut tags: HashMap<i64, Vec<String>> = HashMap::new();
    for row in rows {
        tags.entry(row.try_get("post_id")?).or_default().push(row.try_get("tag")?);
    }
    Ok(tags)
}

/// Visible posts with `tag`, newest first: page `page` of [`PER_PAGE`], and
/// whether there is a next page.
pub async fn page(db: &Db, tag: &str, page: i64) -> AppResult<(Vec<Post>, bool)> {
    super::store::one_page(&rows(db, tag, PER_PAGE + 1, (page - 1) * PER_PAGE).await?)
}

/// The newest `limit` visible posts with `tag` (feeds).
pub async fn newest(db: &Db, tag: &str, limit: i64) -> AppResult<Vec<Post>> {
    Ok(rows(db, tag, limit, 0).await?.iter().map(Post::from_row).collect::<Result<Vec<_>, _>>()?)
}

async fn rows(db: &Db, tag: &str, limit: i64, offset: i64) -> AppResult<Vec<crate::db::Row>> {
    Ok(db
        .query(
            "SELECT p.* FROM blog_post_tags t JOIN blog_posts p ON p.id = t.post_id \
             WHERE t.tag = ? AND t.published_at <= ? ORDER BY t.published_at DESC, t.post_id DESC LIMIT ? OFFSET ?",
        )
        .bind(tag.to_string())
        .bind(now())
        .bind(limit)
        .bind(offset)
        .fetch_all(db.r())
        .await?)
}
