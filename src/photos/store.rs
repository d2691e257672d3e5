//! Photos, galleries and tags as stored. Every write is one function here,
//! in one transaction, with the counters it changes.

use sqlx::Row as _;

use crate::db::{now, Db, Row};
use crate::web::error::AppResult;

pub const MAX_TITLE: usize = 200;
pub const MAX_CAPTION: usize = 5_000;
/// Photos on a grid page.
pub const PER_PAGE: i64 = 24;

#[derive(Clone, Debug)]
pub struct Photo {
    pub id: i64,
    pub user_id: i64,
    pub gallery_id: Option<i64>,
    pub title: String,
    pub caption: String,
    pub caption_html: String,
    pub width: i64,
    pub height: i64,
    pub content_hash: String,
    pub position: i64,
    pub view_count: i64,
    pub created_at: i64,
    pub score: i64,
    /// The rank that decays with age (see `content::hot`).
    pub hot: i64,
    pub comment_count: i64,
}

impl Photo {
    fn from_row(row: &Row) -> Result<Photo, sqlx::Error> {
        Ok(Photo {
            id: row.try_get("id")?,
            user_id: row.try_get("user_id")?,
            gallery_id: row.try_get("gallery_id")?,
            title: row.try_get("title")?,
            caption: crate::db::text(row, "caption")?,
            caption_html: crate::db::text(row, "caption_html")?,
            width: row.try_get("width")?,
            height: row.try_get("height")?,
            content_hash: row.try_get("content_hash")?,
            position: row.try_get("position")?,
            view_count: row.try_get("view_count")?,
            created_at: row.try_get("created_at")?,
            score: row.try_get("score")?,
            hot: row.try_get("hot")?,
            comment_count: row.try_get("comment_count")?,
        })
    }
}

#[derive(Clone, Debug)]
pub struct Gallery {
    pub id: i64,
    pub user_id: i64,
    pub title: String,
    pub description: String,
    pub description_html: String,
    pub cover_photo_id: Option<i64>,
    pub photo_count: i64,
    pub updated_at: i64,
}

impl Gallery {
    fn from_row(row: &Row) -> Result<Gallery, sqlx::Error> {
        Ok(Gallery {
            id: row.try_get("id")?,
            user_id: row.try_get("user_id")?,
            title: row.try_get("title")?,
            description: crate::db::text(row, "description")?,
            description_html: crate::db::text(row, "description_html")?,
            cover_photo_id: row.try_get("cover_photo_id")?,
            photo_count: row.try_get("photo_count")?,
            updated_at: row.try_get("updated_at")?,
        })
    }
}

fn photos(rows: &[Row]) -> Result<Vec<Photo>, sqlx::Error> {
    rows.iter().map(Photo::from_row).collect()
}

/// A photo's stored fields as a member wrote them.
pub struct PhotoText {
    pub title: String,
    pub caption: String,
    pub tags: Vec<String>,
}

/// One processed upload, ready to record.
pub struct NewPhoto {
    pub text: PhotoText,
    pub width: i64,
    pub height: i64,
    pub content_hash: String,
}

/// Records processed uploads, in order, in one transaction: their tags, and
/// in a gallery their positions after the last, the gallery's count, and
/// the first photo as cover when the gallery has none.
pub async fn create_photos(db: &Db, user_id: i64, gallery: Option<i64>, new: &[NewPhoto]) -> AppResult<Vec<i64>> {
    let now = now();
    let mut tx = db.w().begin().await?;
    let mut next_position = 0;
    if let Some(g) = gallery {
        // Takes the gallery row's lock first, so concurrent uploads to it queue.
        db.query("UPDATE galleries SET photo_count = photo_count + ?, updated_at = ? WHERE id = ?")
            .bind(new.len() as i64)
            .bind(now)
            .bind(g)
            .execute(&mut *tx)
            .await?;
        let row = db
            .query("SELECT COALESCE(MAX(position), 0) FROM photos WHERE gallery_id = ?")
            .bind(g)
            .fetch_one(&mut *tx)
            .await?;
        next_position = row.try_get::<i64, _>(0)? + 1;
    }
    let mut ids = Vec::with_capacity(new.len());
    for (i, p) in new.iter().enumerate() {
        let id = db
            .insert(
                "INSERT INTO photos (user_id, gallery_id, title, caption, caption_html, width, height, content_hash, position, created_at, updated_at, hot) \
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            )
            .bind(user_id)
            .bind(gallery)
            .bind(p.text.title.clone())
            .bind(p.text.caption.clone())
            .bind(crate::markdown::render(&p.text.caption))
            .bind(p.width)
            .bind(p.height)
            .bind(p.content_hash.clone())
            .bind(if gallery.is_some() { next_position + i as i64 } else { 0 })
            .bind(now)
            .bind(now)
            .bind(crate::content::hot(0, now))
            .run(&mut *tx)
            .await?;
        insert_tags(db, &mut tx, id, &p.text.tags).await?;
        ids.push(id);
    }
    if let (Some(g), Some(first)) = (gallery, ids.first()) {
        db.query("UPDATE galleries SET cover_photo_id = ? WHERE id = ? AND cover_photo_id IS NULL")
            .bind(*first)
            .bind(g)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(ids)
}

async fn insert_tags(db: &Db, tx: &mut sqlx::Transaction<'_, sqlx::Any>, photo_id: i64, tags: &[String]) -> Result<(), sqlx::Error> {
    for tag in tags {
        db.query("INSERT INTO photo_tags (tag, photo_id) VALUES (?, ?)").bind(tag.clone()).bind(photo_id).execute(&mut **tx).await?;
    }
    Ok(())
}

/// New title, caption and tags.
pub async fn update_photo(db: &Db, id: i64, text: &PhotoText) -> AppResult<()> {
    let mut tx = db.w().begin().await?;
    db.query("UPDATE photos SET title = ?, caption = ?, caption_html = ?, updated_at = ? WHERE id = ?")
        .bind(text.title.clone())
        .bind(text.caption.clone())
        .bind(crate::markdown::render(&text.caption))
        .bind(now())
        .bind(id)
        .execute(&mut *tx)
        .await?;
    db.query("DELETE FROM photo_tags WHERE photo_id = ?").bind(id).execute(&mut *tx).await?;
    insert_tags(db, &mut tx, id, &text.tags).await?;
    tx.commit().await?;
    Ok(())
}

/// Deletes a photo with its tags, and takes it out of its gallery's count
/// and cover. False when it was already gone (a second delete changes nothing).
pub async fn delete_photo(db: &Db, photo: &Photo) -> AppResult<bool> {
    let mut tx = db.w().begin().await?;
    db.query("DELETE FROM photo_tags WHERE photo_id = ?").bind(photo.id).execute(&mut *tx).await?;
    let gone = db.query("DELETE FROM photos WHERE id = ?").bind(photo.id).execute(&mut *tx).await?.rows_affected();
    if gone == 0 {
        return Ok(false);
    }
    if let Some(g) = photo.gallery_id {
        db.query(
            "UPDATE galleries SET photo_count = photo_count - 1, updated_at = ?, \
             cover_photo_id = CASE WHEN cover_photo_id = ? THEN NULL ELSE cover_photo_id END WHERE id = ?",
        )
        .bind(now())
        .bind(photo.id)
        .bind(g)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(true)
}

/// One more view; a single-row update, no read first.
pub async fn photo(db: &Db, id: i64) -> AppResult<Option<Photo>> {
    let row = db.query("SELECT * FROM photos WHERE id = ?").bind(id).fetch_optional(db.w()).await?;
    Ok(row.as_ref().map(Photo::from_row).transpose()?)
}

pub async fn tags_of(db: &Db, photo_id: i64) -> AppResult<Vec<String>> {
    let rows = db.query("SELECT tag FROM photo_tags WHERE photo_id = ? ORDER BY tag").bind(photo_id).fetch_all(db.r()).await?;
    Ok(rows.iter().map(|r| r.try_get::<String, _>(0)).collect::<Result<_, _>>()?)
}

/// A page of photos, newest first, and whether there are more: site-wide
/// (`member` None) or one member's. Walks the primary key (or the member's
/// index) from the cursor, so page 1,000 costs what page 1 does.
pub async fn latest(db: &Db, member: Option<i64>, before_id: Option<i64>) -> AppResult<(Vec<Photo>, bool)> {
    let before = before_id.unwrap_or(i64::MAX);
    let query = match member {
        None => db.query("SELECT * FROM photos WHERE id < ? ORDER BY id DESC LIMIT ?").bind(before),
        Some(m) => db.query("SELECT * FROM photos WHERE user_id = ? AND id < ? ORDER BY id DESC LIMIT ?").bind(m).bind(before),
    };
    let rows = query.bind(PER_PAGE + 1).fetch_all(db.r()).await?;
    more(photos(&rows)?)
}

/// An order of photos by a number kept on each: its score (popular), or
/// its hot rank (trending: votes, decaying with age).
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Rank {
    Score,
    Hot,
}

impl Rank {
    pub fn of(self, photo: &Photo) -> i64 {
        match self {
            Rank::Score => photo.score,
            Rank::Hot => photo.hot,
        }
    }
}

/// A page of photos site-wide, highest `rank` first (then newest), after
/// the (rank, id) of the last photo of the page before; walks `photos_top`
/// or `photos_hot`.
pub async fn ranked(db: &Db, rank: Rank, after: Option<(i64, i64)>) -> AppResult<(Vec<Photo>, bool)> {
    let (value, id) = after.unwrap_or((i64::MAX, i64::MAX));
    let sql = match rank {
        Rank::Score => "SELECT * FROM photos WHERE score < ? OR (score = ? AND id < ?) ORDER BY score DESC, id DESC LIMIT ?",
        Rank::Hot => "SELECT * FROM photos WHERE hot < ? OR (hot = ? AND id < ?) ORDER BY hot DESC, id DESC LIMIT ?",
    };
    let rows = db
        .query(sql)
        .bind(value)
        .bind(value)
        .bind(id)
        .bind(PER_PAGE + 1)
        .fetch_all(db.r())
        .await?;
    more(photos(&rows)?)
}

fn more(mut list: Vec<Photo>) -> AppResult<(Vec<Photo>, bool)> {
    let has_more = list.len() as i64 > PER_PAGE;
    list.truncate(PER_PAGE as usize);
    Ok((list, has_more))
}

/// Photos with `tag`, newest first, from the tag index.
pub async fn tagged(db: &Db, tag: &str, before_id: i64) -> AppResult<(Vec<Photo>, bool)> {
    let rows = db
        .query(
            "SELECT p.* FROM photo_tags t JOIN photos p ON p.id = t.photo_id \
             WHERE t.tag = ? AND t.photo_id < ? ORDER BY t.photo_id DESC LIMIT ?",
        )
        .bind(tag.to_string())
        .bind(before_id)
        .bind(PER_PAGE + 1)
        .fetch_all(db.r())
        .await?;
    more(photos(&rows)?)
}

/// Most photos a gallery page shows; galleries are curated sets, not archives.
pub const GALLERY_LIMIT: i64 = 500;

/// A gallery's photos in their order.
pub async fn in_gallery(db: &Db, gallery_id: i64) -> AppResult<Vec<Photo>> {
    let rows = db
        .query("SELECT * FROM photos WHERE gallery_id = ? ORDER BY position, id LIMIT ?")
        .bind(gallery_id)
        .bind(GALLERY_LIMIT)
        .fetch_all(db.w())
        .await?;
    Ok(photos(&rows)?)
}

/// The photos just before and after `photo` in its gallery's order.
pub async fn gallery_neighbours(db: &Db, photo: &Photo) -> AppResult<(Option<Photo>, Option<Photo>)> {
    let Some(g) = photo.gallery_id else { return Ok((None, None)) };
    let prev = db
        .query(
            "SELECT * FROM photos WHERE gallery_id = ? AND (position < ? OR (position = ? AND id < ?)) \
             ORDER BY position DESC, id DESC LIMIT 1",
        )
        .bind(g)
        .bind(photo.position)
        .bind(photo.position)
        .bind(photo.id)
        .fetch_optional(db.r())
        .await?;
    let next = db
        .query(
            "SELECT * FROM photos WHERE gallery_id = ? AND (position > ? OR (position = ? AND id > ?)) \
             ORDER BY position, id LIMIT 1",
        )
        .bind(g)
        .bind(photo.position)
        .bind(photo.position)
        .bind(photo.id)
        .fetch_optional(db.r())
        .await?;
    Ok((prev.as_ref().map(Photo::from_row).transpose()?, next.as_ref().map(Photo::from_row).transpose()?))
}

/// Photos by id, for gallery covers.
pub async fn by_ids(db: &Db, ids: &[i64]) -> AppResult<std::collections::HashMap<i64, Photo>> {
    if ids.is_empty() {
        return Ok(Default::default());
    }
    // Integers formatted here, so inlining them is safe.
    let list = ids.iter().map(|id| id.to_string()).collect::<Vec<_>>().join(",");
    let rows = sqlx::query(&format!("SELECT * FROM photos WHERE id IN ({list})")).fetch_all(db.r()).await?;
    Ok(photos(&rows)?.into_iter().map(|p| (p.id, p)).collect())
}

pub async fn gallery(db: &Db, id: i64) -> AppResult<Option<Gallery>> {
    let row = db.query("SELECT * FROM galleries WHERE id = ?").bind(id).fetch_optional(db.w()).await?;
    Ok(row.as_ref().map(Gallery::from_row).transpose()?)
}

/// A member's galleries, newest first.
pub async fn galleries_of(db: &Db, user_id: i64, limit: i64) -> AppResult<Vec<Gallery>> {
    let rows = db
        .query("SELECT * FROM galleries WHERE user_id = ? ORDER BY id DESC LIMIT ?")
        .bind(user_id)
        .bind(limit)
        .fetch_all(db.r())
        .await?;
    Ok(rows.iter().map(Gallery::from_row).collect::<Result<_, _>>()?)
}

pub async fn create_gallery(db: &Db, user_id: i64, title: &str, description: &str) -> AppResult<i64> {
    let now = now();
    Ok(db
        .insert("INSERT INTO galleries (user_id, title, description, description_html, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)")
        .bind(user_id)
        .bind(title.to_string())
        .bind(description.to_string())
        .bind(crate::markdown::render(description))
        .bind(now)
        .bind(now)
        .run(db.w())
        .await?)
}

/// What the gallery form saves: its text, its cover, and new positions.
pub struct GalleryEdit {
    pub title: String,
    pub description: String,
    /// A photo of this gallery (checked by the caller), or None for no cover.
    pub cover: Option<i64>,
    /// (photo id, position) for photos of this gallery.
    pub positions: Vec<(i64, i64)>,
}

pub async fn update_gallery(db: &Db, id: i64, edit: &GalleryEdit) -> AppResult<()> {
    let mut tx = db.w().begin().await?;
    db.query("UPDATE galleries SET title = ?, description = ?, description_html = ?, cover_photo_id = ?, updated_at = ? WHERE id = ?")
        .bind(edit.title.clone())
        .bind(edit.description.clone())
        .bind(crate::markdown::render(&edit.description))
        .bind(edit.cover)
        .bind(now())
        .bind(id)
        .execute(&mut *tx)
        .await?;
    for (photo, position) in &edit.positions {
        db.query("UPDATE photos SET position = ? WHERE id = ? AND gallery_id = ?")
            .bind(*position)
            .bind(*photo)
            .bind(id)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Deletes a gallery; its photos stay, standalone. (Deleting them too is
/// done photo by photo first, so each one's files and attachments go.)
pub async fn delete_gallery(db: &Db, id: i64) -> AppResult<()> {
    let mut tx = db.w().begin().await?;
    db.query("UPDATE photos SET gallery_id = NULL, position = 0 WHERE gallery_id = ?").bind(id).execute(&mut *tx).await?;
    db.query("DELETE FROM galleries WHERE id = ?").bind(id).execute(&mut *tx).await?;
    tx.commit().await?;
    Ok(())
}

/// Does any photo of this member still use these files? (The same picture
/// uploaded twice shares them.)
pub async fn hash_in_use(db: &Db, user_id: i64, hash: &str) -> AppResult<bool> {
    let row = db
        .query("SELECT id FROM photos WHERE user_id = ? AND content_hash = ? LIMIT 1")
        .bind(user_id)
        .bind(hash.to_string())
        .fetch_optional(db.w())
        .await?;
    Ok(row.is_some())
}
