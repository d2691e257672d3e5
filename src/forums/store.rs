//! Forums as stored: the rows, and the reads every page needs. Writes that
//! touch counters live in `write.rs`, each in one transaction.

use sqlx::Row as _;

use crate::accounts::store::User;
use crate::db::{text, Db, Row};
use crate::web::error::AppError;

/// The columns of a member joined as alias `$a`, prefixed `$a_`, enough to
/// show a name, an avatar and a joined date.
macro_rules! member_cols {
    ($a:literal) => {
        concat!(
            $a, ".id AS ", $a, "_id, ", $a, ".username AS ", $a, "_username, ",
            $a, ".display_name AS ", $a, "_display_name, ", $a, ".email AS ", $a, "_email, ",
            $a, ".role AS ", $a, "_role, ", $a, ".avatar_mode AS ", $a, "_avatar_mode, ",
            $a, ".avatar_key AS ", $a, "_avatar_key, ", $a, ".created_at AS ", $a, "_created_at, ",
            $a, ".is_active AS ", $a, "_is_active"
        )
    };
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Visibility {
    Public,
    /// Everyone reads; only moderators and staff post (announcements).
    ReadOnly,
    /// Only moderators and staff see it at all.
    Staff,
}

impl Visibility {
    pub const ALL: [Visibility; 3] = [Visibility::Public, Visibility::ReadOnly, Visibility::Staff];

    pub fn as_str(self) -> &'static str {
        match self {
            Visibility::Public => "public",
            Visibility::ReadOnly => "readonly",
            Visibility::Staff => "staff",
        }
    }

    pub fn parse(s: &str) -> Option<Visibility> {
        Visibility::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

#[derive(Clone, Debug)]
pub struct Category {
    pub id: i64,
    pub name: String,
    pub slug: String,
    pub description: String,
    pub position: i64,
}

#[derive(Clone, Debug)]
pub struct Forum {
    pub id: i64,
    pub category_id: i64,
    pub name: String,
    pub slug: String,
    pub description: String,
    pub position: i64,
    pub visibility: Visibility,
    pub topic_count: i64,
    pub post_count: i64,
    pub last_post_id: Option<i64>,
    pub last_post_at: Option<i64>,
    pub last_topic_id: Option<i64>,
}

#[derive(Clone, Debug)]
pub struct Topic {
    pub id: i64,
    pub forum_id: i64,
    pub user_id: Option<i64>,
    pub title: String,
    pub slug: String,
    pub sticky: bool,
    pub locked: bool,
    pub deleted: bool,
    pub post_count: i64,
    pub reply_count: i64,
    /// The number of the newest post, deleted or not: the topic's length.
    pub last_number: i64,
    pub view_count: i64,
    pub created_at: i64,
    pub last_post_at: i64,
    pub last_post_id: Option<i64>,
    /// The opening post's score.
    pub score: i64,
}

#[derive(Clone, Debug)]
pub struct Post {
    pub id: i64,
    pub topic_id: i64,
    pub user_id: Option<i64>,
    pub number: i64,
    pub body: String,
    pub body_html: String,
    pub created_at: i64,
    pub edited_at: Option<i64>,
    pub edited_by: Option<i64>,
    pub deleted: bool,
    pub score: i64,
}

/// A forum on the index, with who posted last and in which topic.
pub struct ForumSummary {
    pub forum: Forum,
    pub last_poster: Option<User>,
    pub last_topic_title: Option<String>,
}

/// A topic in a list, with its starter, last poster and how far the
/// viewer has read it.
pub struct TopicSummary {
    pub topic: Topic,
    pub author: Option<User>,
    pub last_poster: Option<User>,
    pub read_number: Option<i64>,
}

/// A post on a topic page, with its author's card.
pub struct PostWithAuthor {
    pub post: Post,
    pub author: Option<User>,
    pub author_posts: i64,
    pub signature_html: String,
    pub editor: Option<String>,
}

/// A member's forum data; the defaults when they have never posted.
#[derive(Clone, Debug, Default)]
pub struct ForumMember {
    pub post_count: i64,
    pub signature: String,
    pub auto_subscribe: bool,
    pub read_all_at: i64,
}

fn flag(row: &Row, column: &str) -> Result<bool, sqlx::Error> {
    Ok(row.try_get::<i64, _>(column)? != 0)
}

impl Category {
    fn from_row(row: &Row) -> Result<Category, sqlx::Error> {
        Ok(Category {
            id: row.try_get("id")?,
            name: row.try_get("name")?,
            slug: row.try_get("slug")?,
            description: text(row, "description")?,
            position: row.try_get("position")?,
        })
    }
}

impl Forum {
    fn from_row(row: &Row) -> Result<Forum, sqlx::Error> {
        let visibility: String = row.try_get("visibility")?;
        Ok(Forum {
            id: row.try_get("id")?,
            category_id: row.try_get("category_id")?,
            name: row.try_get("name")?,
            slug: row.try_get("slug")?,
            description: text(row, "description")?,
            position: row.try_get("position")?,
            // An unknown word (a hand-edited row) fails closed.
            visibility: Visibility::parse(&visibility).unwrap_or(Visibility::Staff),
            topic_count: row.try_get("topic_count")?,
            post_count: row.try_get("post_count")?,
            last_post_id: row.try_get("last_post_id")?,
            last_post_at: row.try_get("last_post_at")?,
            last_topic_id: row.try_get("last_topic_id")?,
        })
    }
}

impl Topic {
    fn from_row(row: &Row) -> Result<Topic, sqlx::Error> {
        Ok(Topic {
            id: row.try_get("id")?,
            forum_id: row.try_get("forum_id")?,
            user_id: row.try_get("user_id")?,
            title: row.try_get("title")?,
            slug: row.try_get("slug")?,
            sticky: flag(row, "sticky")?,
            locked: flag(row, "locked")?,
            deleted: flag(row, "deleted")?,
            post_count: row.try_get("post_count")?,
            reply_count: row.try_get("reply_count")?,
            last_number: row.try_get("last_number")?,
            view_count: row.try_get("view_count")?,
            created_at: row.try_get("created_at")?,
            last_post_at: row.try_get("last_post_at")?,
            last_post_id: row.try_get("last_post_id")?,
            score: row.try_get("score")?,
        })
    }

    /// The canonical path: `/forums/t/{id}-{slug}`.
    pub fn path(&self) -> String {
        format!("/forums/t/{}-{}", self.id, self.slug)
    }
}

impl Post {
    fn from_row(row: &Row) -> Result<Post, sqlx::Error> {
        Ok(Post {
            id: row.try_get("id")?,
            topic_id: row.try_get("topic_id")?,
            user_id: row.try_get("user_id")?,
            number: row.try_get("number")?,
            body: text(row, "body")?,
            body_html: text(row, "body_html")?,
            created_at: row.try_get("created_at")?,
            edited_at: row.try_get("edited_at")?,
            edited_by: row.try_get("edited_by")?,
            deleted: flag(row, "deleted")?,
            score: row.try_get("score")?,
        })
    }
}

/// The member joined with prefix `p` (see [`member_cols`]), if there is one
/// (a deleted account leaves NULL). Only what names, avatars and hiding a
/// deactivated member's posts need is read.
fn member_at(row: &Row, p: &str) -> Result<Option<User>, sqlx::Error> {
    let col = |name: &str| format!("{p}_{name}");
    let Some(id) = row.try_get::<Option<i64>, _>(col("id").as_str())? else { return Ok(None) };
    Ok(Some(User {
        id,
        username: row.try_get(col("username").as_str())?,
        email: row.try_get(col("email").as_str())?,
        password_hash: String::new(),
        role: row.try_get(col("role").as_str())?,
        is_active: row.try_get::<i64, _>(col("is_active").as_str())? != 0,
        email_confirmed: true,
        display_name: row.try_get(col("display_name").as_str())?,
        bio: String::new(),
        bio_html: String::new(),
        location: String::new(),
        website: String::new(),
        avatar_mode: row.try_get(col("avatar_mode").as_str())?,
        avatar_key: row.try_get(col("avatar_key").as_str())?,
        created_at: row.try_get(col("created_at").as_str())?,
    }))
}

fn all<T>(rows: &[Row], f: impl Fn(&Row) -> Result<T, sqlx::Error>) -> Result<Vec<T>, AppError> {
    Ok(rows.iter().map(f).collect::<Result<_, _>>()?)
}

pub async fn categories(db: &Db) -> Result<Vec<Category>, AppError> {
    let rows = db.query("SELECT * FROM forum_categories ORDER BY position, id").fetch_all(db.r()).await?;
    all(&rows, Category::from_row)
}

pub async fn category_by_id(db: &Db, id: i64) -> Result<Option<Category>, AppError> {
    let row = db.query("SELECT * FROM forum_categories WHERE id = ?").bind(id).fetch_optional(db.w()).await?;
    Ok(row.as_ref().map(Category::from_row).transpose()?)
}

/// Every forum with its latest post's author and topic, in index order.
pub async fn forum_summaries(db: &Db) -> Result<Vec<ForumSummary>, AppError> {
    let rows = db
        .query(concat!(
            "SELECT f.*, t.title AS last_topic_title, ",
            member_cols!("l"),
            " FROM forums f LEFT JOIN forum_topics t ON t.id = f.last_topic_id \
             LEFT JOIN users l ON l.id = f.last_poster_id ORDER BY f.position, f.id"
        ))
        .fetch_all(db.r())
        .await?;
    all(&rows, |row| {
        Ok(ForumSummary {
            forum: Forum::from_row(row)?,
            last_poster: member_at(row, "l")?,
            last_topic_title: row.try_get("last_topic_title")?,
        })
    })
}

pub async fn forums(db: &Db) -> Result<Vec<Forum>, AppError> {
    let rows = db.query("SELECT * FROM forums ORDER BY position, id").fetch_all(db.r()).await?;
    all(&rows, Forum::from_row)
}

pub async fn forum_by_slug(db: &Db, slug: &str) -> Result<Option<Forum>, AppError> {
    let row = db.query("SELECT * FROM forums WHERE slug = ?").bind(slug.to_ascii_lowercase()).fetch_optional(db.r()).await?;
    Ok(row.as_ref().map(Forum::from_row).transpose()?)
}

pub async fn forum_by_id(db: &Db, id: i64) -> Result<Option<Forum>, AppError> {
    let row = db.query("SELECT * FROM forums WHERE id = ?").bind(id).fetch_optional(db.w()).await?;
    Ok(row.as_ref().map(Forum::from_row).transpose()?)
}

/// A topic that is not deleted.
pub async fn topic_by_id(db: &Db, id: i64) -> Result<Option<Topic>, AppError> {
    let row = db.query("SELECT * FROM forum_topics WHERE id = ? AND deleted = 0").bind(id).fetch_optional(db.w()).await?;
    Ok(row.as_ref().map(Topic::from_row).transpose()?)
}

pub async fn post_by_id(db: &Db, id: i64) -> Result<Option<Post>, AppError> {
    let row = db.query("SELECT * FROM forum_posts WHERE id = ?").bind(id).fetch_optional(db.w()).await?;
    Ok(row.as_ref().map(Post::from_row).transpose()?)
}

/// The (id, number) of the post at `number` in a topic, or of the next one.
pub async fn post_from(db: &Db, topic_id: i64, number: i64) -> Result<Option<(i64, i64)>, AppError> {
    let row = db
        .query("SELECT id, number FROM forum_posts WHERE topic_id = ? AND number >= ? ORDER BY number LIMIT 1")
        .bind(topic_id)
        .bind(number)
        .fetch_optional(db.r())
        .await?;
    Ok(row.map(|r| (r.get::<i64, _>(0), r.get::<i64, _>(1))))
}

/// Where a topic list page starts: the top, after a topic, or before one.
/// Keys are (sort key, id): the key is `last_post_at` in the latest order
/// (non-sticky topics), `score` in the top order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cursor {
    First,
    After(i64, i64),
    Before(i64, i64),
}

/// How a forum lists its topics.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TopicOrder {
    /// Sticky topics first (on the first page), then the latest activity.
    Latest,
    /// Every topic by its opening post's score, highest first.
    Top,
}

/// A topic-list query: topics with starter, last poster and the viewer's
/// read mark (the first `?` is the viewer), then `$rest`.
macro_rules! concat_topic {
    ($rest:literal) => {
        concat!(
            "SELECT t.*, r.last_read_number AS read_number, ",
            member_cols!("a"),
            ", ",
            member_cols!("l"),
            " FROM forum_topics t LEFT JOIN users a ON a.id = t.user_id LEFT JOIN users l ON l.id = t.last_poster_id \
             LEFT JOIN forum_reads r ON r.topic_id = t.id AND r.user_id = ? ",
            $rest
        )
    };
}

fn topic_summary(row: &Row) -> Result<TopicSummary, sqlx::Error> {
    Ok(TopicSummary {
        topic: Topic::from_row(row)?,
        author: member_at(row, "a")?,
        last_poster: member_at(row, "l")?,
        read_number: row.try_get("read_number")?,
    })
}

/// The sticky topics of a forum (shown on its first page), newest activity first.
pub async fn sticky_topics(db: &Db, forum_id: i64, viewer: i64, limit: i64) -> Result<Vec<TopicSummary>, AppError> {
    let rows = db
        .query(concat_topic!(
            "WHERE t.forum_id = ? AND t.deleted = 0 AND t.sticky = 1 ORDER BY t.last_post_at DESC, t.id DESC LIMIT ?"
        ))
        .bind(viewer)
        .bind(forum_id)
        .bind(limit)
        .fetch_all(db.r())
        .await?;
    all(&rows, topic_summary)
}

/// Up to `limit` topics from `cursor` in `order`. Each query seeks an index
/// (forum_topics_list or forum_topics_top) to the cursor: no page reads the
/// rows before it, however deep it is.
pub async fn topics(db: &Db, forum_id: i64, viewer: i64, order: TopicOrder, cursor: Cursor, limit: i64) -> Result<Vec<TopicSummary>, AppError> {
    if order == TopicOrder::Top {
        return top_topics(db, forum_id, viewer, cursor, limit).await;
    }
    let query = match cursor {
        Cursor::First => db
            .query(concat_topic!("WHERE t.forum_id = ? AND t.deleted = 0 AND t.sticky = 0 ORDER BY t.last_post_at DESC, t.id DESC LIMIT ?"))
            .bind(viewer)
            .bind(forum_id),
        Cursor::After(at, id) => db
            .query(concat_topic!(
                "WHERE t.forum_id = ? AND t.deleted = 0 AND t.sticky = 0 AND t.last_post_at <= ? \
                 AND (t.last_post_at < ? OR t.id < ?) ORDER BY t.last_post_at DESC, t.id DESC LIMIT ?"
            ))
            .bind(viewer)
            .bind(forum_id)
            .bind(at)
            .bind(at)
            .bind(id),
        Cursor::Before(at, id) => db
            .query(concat_topic!(
                "WHERE t.forum_id = ? AND t.deleted = 0 AND t.sticky = 0 AND t.last_post_at >= ? \
                 AND (t.last_post_at > ? OR t.id > ?) ORDER BY t.last_post_at ASC, t.id ASC LIMIT ?"
            ))
            .bind(viewer)
            .bind(forum_id)
            .bind(at)
            .bind(at)
            .bind(id),
    };
    in_list_order(query, cursor, limit, db).await
}

/// Topics by score, highest first, ties by newest id.
async fn top_topics(db: &Db, forum_id: i64, viewer: i64, cursor: Cursor, limit: i64) -> Result<Vec<TopicSummary>, AppError> {
    let query = match cursor {
        Cursor::First => db
            .query(concat_topic!("WHERE t.forum_id = ? AND t.deleted = 0 ORDER BY t.score DESC, t.id DESC LIMIT ?"))
            .bind(viewer)
            .bind(forum_id),
        Cursor::After(score, id) => db
            .query(concat_topic!(
                "WHERE t.forum_id = ? AND t.deleted = 0 AND t.score <= ? \
                 AND (t.score < ? OR t.id < ?) ORDER BY t.score DESC, t.id DESC LIMIT ?"
            ))
            .bind(viewer)
            .bind(forum_id)
            .bind(score)
            .bind(score)
            .bind(id),
        Cursor::Before(score, id) => db
            .query(concat_topic!(
                "WHERE t.forum_id = ? AND t.deleted = 0 AND t.score >= ? \
                 AND (t.score > ? OR t.id > ?) ORDER BY t.score ASC, t.id ASC LIMIT ?"
            ))
            .bind(viewer)
            .bind(forum_id)
            .bind(score)
            .bind(score)
            .bind(id),
    };
    in_list_order(query, cursor, limit, db).await
}

/// Runs a topic-list query; a page read backwards (before a cursor) is
/// turned back into list order.
async fn in_list_order(query: crate::db::Q<'static>, cursor: Cursor, limit: i64, db: &Db) -> Result<Vec<TopicSummary>, AppError> {
    let rows = query.bind(limit).fetch_all(db.r()).await?;
    let mut topics = all(&rows, topic_summary)?;
    if matches!(cursor, Cursor::Before(..)) {
        topics.reverse();
    }
    Ok(topics)
}

/// Posts `from..=to` (by number) of a topic, with their authors' cards.
pub async fn posts(db: &Db, topic_id: i64, from: i64, to: i64) -> Result<Vec<PostWithAuthor>, AppError> {
    let rows = db
        .query(concat!(
            "SELECT p.*, COALESCE(m.post_count, 0) AS m_post_count, COALESCE(m.signature_html, '') AS m_signature_html, \
             e.username AS editor, ",
            member_cols!("a"),
            " FROM forum_posts p LEFT JOIN users a ON a.id = p.user_id \
             LEFT JOIN forum_members m ON m.user_id = p.user_id LEFT JOIN users e ON e.id = p.edited_by \
             WHERE p.topic_id = ? AND p.number >= ? AND p.number <= ? ORDER BY p.number"
        ))
        .bind(topic_id)
        .bind(from)
        .bind(to)
        .fetch_all(db.r())
        .await?;
    all(&rows, |row| {
        Ok(PostWithAuthor {
            post: Post::from_row(row)?,
            author: member_at(row, "a")?,
            author_posts: row.try_get("m_post_count")?,
            signature_html: text(row, "m_signature_html")?,
            editor: row.try_get("editor")?,
        })
    })
}

pub async fn forum_member(db: &Db, user_id: i64) -> Result<ForumMember, AppError> {
    let row = db
        .query("SELECT post_count, signature, auto_subscribe, read_all_at FROM forum_members WHERE user_id = ?")
        .bind(user_id)
        .fetch_optional(db.w())
        .await?;
    let Some(row) = row else { return Ok(ForumMember { auto_subscribe: true, ..ForumMember::default() }) };
    Ok(ForumMember {
        post_count: row.try_get("post_count")?,
        signature: text(&row, "signature")?,
        auto_subscribe: flag(&row, "auto_subscribe")?,
        read_all_at: row.try_get("read_all_at")?,
    })
}

/// How far a member has read a topic (0: not at all).
pub async fn read_number(db: &Db, user_id: i64, topic_id: i64) -> Result<i64, AppError> {
    let row = db
        .query("SELECT last_read_number FROM forum_reads WHERE user_id = ? AND topic_id = ?")
        .bind(user_id)
        .bind(topic_id)
        .fetch_optional(db.w())
        .await?;
    Ok(row.map(|r| r.get::<i64, _>(0)).unwrap_or(0))
}

pub async fn is_subscribed(db: &Db, user_id: i64, topic_id: i64) -> Result<bool, AppError> {
    let row = db
        .query("SELECT user_id FROM forum_subscriptions WHERE user_id = ? AND topic_id = ?")
        .bind(user_id)
        .bind(topic_id)
        .fetch_optional(db.w())
        .await?;
    Ok(row.is_some())
}

/// The forums (by id) holding a topic with posts `viewer` has not read,
/// active after `since`. One indexed probe per forum, stopping at the first hit.
pub async fn forums_with_unread(db: &Db, viewer: i64, since: i64) -> Result<Vec<i64>, AppError> {
    let rows = db
        .query(
            "SELECT f.id FROM forums f WHERE EXISTS (SELECT 1 FROM forum_topics t \
             LEFT JOIN forum_reads r ON r.topic_id = t.id AND r.user_id = ? \
             WHERE t.forum_id = f.id AND t.deleted = 0 AND t.last_post_at > ? \
             AND (r.last_read_number IS NULL OR r.last_read_number < t.last_number))",
        )
        .bind(viewer)
        .bind(since)
        .fetch_all(db.r())
        .await?;
    Ok(rows.iter().map(|r| r.get::<i64, _>(0)).collect())
}
