//! Every write that moves a counter or the "latest post", each in one
//! transaction with the counters it moves. Rows are locked in one order
//! (topic, then forums by id, then member rows) so concurrent writers on
//! PostgreSQL and MySQL never deadlock; SQLite has a single writer.

use sqlx::{AnyConnection, Row as _};

use super::store::{Forum, Topic, Visibility};
use crate::db::{Backend, Db, Q};

/// Why a write was refused after all; nothing was changed.
#[derive(Debug, PartialEq, Eq)]
pub enum Refused {
    /// The topic is locked (and the writer is no moderator).
    Locked,
    /// The topic or post is gone (deleted meanwhile).
    Gone,
    /// Moving a topic to the forum it is in.
    SameForum,
    /// Splitting posts that are not live replies of the topic.
    NotReplies,
}

/// The same statement in the two upsert dialects: `ON CONFLICT` (SQLite,
/// PostgreSQL) and `ON DUPLICATE KEY` (MySQL).
fn upsert(db: &Db, on_conflict: &'static str, on_duplicate: &'static str) -> Q<'static> {
    db.query(if db.backend == Backend::Mysql { on_duplicate } else { on_conflict })
}

pub struct NewPost<'a> {
    pub author: i64,
    pub body: &'a str,
    /// When it was posted (now, except for demo content).
    pub at: i64,
    /// Subscribe the author to the topic (their setting).
    pub subscribe: bool,
}

/// Starts a topic with its opening post. Returns (topic id, post id).
pub async fn create_topic(db: &Db, forum: &Forum, title: &str, post: NewPost<'_>) -> Result<(i64, i64), sqlx::Error> {
    let mut tx = db.w().begin().await?;
    let topic_id = db
        .insert(
            "INSERT INTO forum_topics (forum_id, user_id, title, slug, post_count, reply_count, last_number, \
             created_at, last_post_at, last_poster_id) VALUES (?, ?, ?, ?, 1, 0, 1, ?, ?, ?)",
        )
        .bind(forum.id)
        .bind(post.author)
        .bind(super::clean_title(title))
        .bind(super::slugify(title, 80))
        .bind(post.at)
        .bind(post.at)
        .bind(post.author)
        .run(&mut *tx)
        .await?;
    let post_id = insert_post(db, &mut tx, topic_id, 1, &post).await?;
    db.query("UPDATE forum_topics SET first_post_id = ?, last_post_id = ? WHERE id = ?")
        .bind(post_id)
        .bind(post_id)
        .bind(topic_id)
        .execute(&mut *tx)
        .await?;
    db.query(
        "UPDATE forums SET topic_count = topic_count + 1, post_count = post_count + 1, last_post_id = ?, \
         last_post_at = ?, last_poster_id = ?, last_topic_id = ? WHERE id = ?",
    )
    .bind(post_id)
    .bind(post.at)
    .bind(post.author)
    .bind(topic_id)
    .bind(forum.id)
    .execute(&mut *tx)
    .await?;
    after_post(db, &mut tx, topic_id, 1, &post).await?;
    tx.commit().await?;
    Ok((topic_id, post_id))
}

/// Adds a reply at the end of a topic. Returns (post id, its number).
pub async fn reply(db: &Db, topic_id: i64, post: NewPost<'_>, moderator: bool) -> Result<Result<(i64, i64), Refused>, sqlx::Error> {
    let mut tx = db.w().begin().await?;
    // Taking the next number locks the topic row, so concurrent replies get
    // distinct numbers, and a topic locked meanwhile takes no reply.
    let taken = db
        .query(
            "UPDATE forum_topics SET last_number = last_number + 1, post_count = post_count + 1, \
             reply_count = reply_count + 1, last_post_at = ?, last_poster_id = ? \
             WHERE id = ? AND deleted = 0 AND (locked = 0 OR ? = 1)",
        )
        .bind(post.at)
        .bind(post.author)
        .bind(topic_id)
        .bind(moderator as i64)
        .execute(&mut *tx)
        .await?;
    if taken.rows_affected() == 0 {
        let locked = db.query("SELECT locked FROM forum_topics WHERE id = ? AND deleted = 0").bind(topic_id).fetch_optional(&mut *tx).await?;
        return Ok(Err(if locked.is_some() { Refused::Locked } else { Refused::Gone }));
    }
    let row = db.query("SELECT last_number, forum_id FROM forum_topics WHERE id = ?").bind(topic_id).fetch_one(&mut *tx).await?;
    let (number, forum_id): (i64, i64) = (row.try_get(0)?, row.try_get(1)?);
    let post_id = insert_post(db, &mut tx, topic_id, number, &post).await?;
    db.query("UPDATE forum_topics SET last_post_id = ? WHERE id = ?").bind(post_id).bind(topic_id).execute(&mut *tx).await?;
    db.query(
        "UPDATE forums SET post_count = post_count + 1, last_post_id = ?, last_post_at = ?, last_poster_id = ?, \
         last_topic_id = ? WHERE id = ?",
    )
    .bind(post_id)
    .bind(post.at)
    .bind(post.author)
    .bind(topic_id)
    .bind(forum_id)
    .execute(&mut *tx)
    .await?;
    after_post(db, &mut tx, topic_id, number, &post).await?;
    tx.commit().await?;
    Ok(Ok((post_id, number)))
}

async fn insert_post(db: &Db, conn: &mut AnyConnection, topic_id: i64, number: i64, post: &NewPost<'_>) -> Result<i64, sqlx::Error> {
    db.insert("INSERT INTO forum_posts (topic_id, user_id, number, body, body_html, created_at, hot) VALUES (?, ?, ?, ?, ?, ?, ?)")
        .bind(topic_id)
        .bind(post.author)
        .bind(number)
        .bind(post.body.to_string())
        .bind(crate::markdown::render(post.body))
        .bind(post.at)
        .bind(crate::content::hot(0, post.at))
        .run(conn)
        .await
}

/// The author's post count, their read mark (they have read their own
/// post) and their subscription, in the post's transaction.
async fn after_post(db: &Db, conn: &mut AnyConnection, topic_id: i64, number: i64, post: &NewPost<'_>) -> Result<(), sqlx::Error> {
    upsert(
        db,
        "INSERT INTO forum_members (user_id, post_count, signature, signature_html) VALUES (?, 1, '', '') \
         ON CONFLICT (user_id) DO UPDATE SET post_count = forum_members.post_count + 1",
        "INSERT INTO forum_members (user_id, post_count, signature, signature_html) VALUES (?, 1, '', '') \
         ON DUPLICATE KEY UPDATE post_count = post_count + 1",
    )
    .bind(post.author)
    .execute(&mut *conn)
    .await?;
    mark_read_on(db, &mut *conn, post.author, topic_id, number).await?;
    if post.subscribe {
        subscribe_on(db, conn, post.author, topic_id).await?;
    }
    Ok(())
}

/// Moves a member's read mark on a topic forward to `number` (never back).
pub async fn mark_read(db: &Db, user_id: i64, topic_id: i64, number: i64) -> Result<(), sqlx::Error> {
    let mut conn = db.w().acquire().await?;
    mark_read_on(db, &mut conn, user_id, topic_id, number).await
}

async fn mark_read_on(db: &Db, conn: &mut AnyConnection, user_id: i64, topic_id: i64, number: i64) -> Result<(), sqlx::Error> {
    upsert(
        db,
        "INSERT INTO forum_reads (user_id, topic_id, last_read_number) VALUES (?, ?, ?) ON CONFLICT (user_id, topic_id) \
         DO UPDATE SET last_read_number = CASE WHEN forum_reads.last_read_number < excluded.last_read_number \
         THEN excluded.last_read_number ELSE forum_reads.last_read_number END",
        "INSERT INTO forum_reads (user_id, topic_id, last_read_number) VALUES (?, ?, ?) \
         ON DUPLICATE KEY UPDATE last_read_number = GREATEST(last_read_number, VALUES(last_read_number))",
    )
    .bind(user_id)
    .bind(topic_id)
    .bind(number)
    .execute(conn)
    .await?;
    Ok(())
}

/// Everything older than now counts as read for this member.
pub async fn mark_all_read(db: &Db, user_id: i64, at: i64) -> Result<(), sqlx::Error> {
    upsert(
        db,
        "INSERT INTO forum_members (user_id, signature, signature_html, read_all_at) VALUES (?, '', '', ?) \
         ON CONFLICT (user_id) DO UPDATE SET read_all_at = excluded.read_all_at",
        "INSERT INTO forum_members (user_id, signature, signature_html, read_all_at) VALUES (?, '', '', ?) \
         ON DUPLICATE KEY UPDATE read_all_at = VALUES(read_all_at)",
    )
    .bind(user_id)
    .bind(at)
    .execute(db.w())
    .await?;
    Ok(())
}

pub async fn save_member_settings(db: &Db, user_id: i64, signature: &str, auto_subscribe: bool) -> Result<(), sqlx::Error> {
    upsert(
        db,
        "INSERT INTO forum_members (user_id, signature, signature_html, auto_subscribe) VALUES (?, ?, ?, ?) \
         ON CONFLICT (user_id) DO UPDATE SET signature = excluded.signature, signature_html = excluded.signature_html, \
         auto_subscribe = excluded.auto_subscribe",
        "INSERT INTO forum_members (user_id, signature, signature_html, auto_subscribe) VALUES (?, ?, ?, ?) \
         ON DUPLICATE KEY UPDATE signature = VALUES(signature), signature_html = VALUES(signature_html), \
         auto_subscribe = VALUES(auto_subscribe)",
    )
    .bind(user_id)
    .bind(signature.to_string())
    .bind(crate::markdown::render(signature))
    .bind(auto_subscribe as i64)
    .execute(db.w())
    .await?;
    Ok(())
}

pub async fn subscribe(db: &Db, user_id: i64, topic_id: i64) -> Result<(), sqlx::Error> {
    let mut conn = db.w().acquire().await?;
    subscribe_on(db, &mut conn, user_id, topic_id).await
}

async fn subscribe_on(db: &Db, conn: &mut AnyConnection, user_id: i64, topic_id: i64) -> Result<(), sqlx::Error> {
    upsert(
        db,
        "INSERT INTO forum_subscriptions (user_id, topic_id, created_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
        "INSERT INTO forum_subscriptions (user_id, topic_id, created_at) VALUES (?, ?, ?) \
         ON DUPLICATE KEY UPDATE user_id = user_id",
    )
    .bind(user_id)
    .bind(topic_id)
    .bind(crate::db::now())
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn unsubscribe(db: &Db, user_id: i64, topic_id: i64) -> Result<(), sqlx::Error> {
    db.query("DELETE FROM forum_subscriptions WHERE user_id = ? AND topic_id = ?")
        .bind(user_id)
        .bind(topic_id)
        .execute(db.w())
        .await?;
    Ok(())
}

/// Replaces a post's text (and, for an opening post, the topic's title),
/// marking who edited it and when.
pub async fn edit_post(db: &Db, post_id: i64, body: &str, title: Option<&str>, editor: i64, at: i64) -> Result<Result<(), Refused>, sqlx::Error> {
    let mut tx = db.w().begin().await?;
    let done = db
        .query("UPDATE forum_posts SET body = ?, body_html = ?, edited_at = ?, edited_by = ? WHERE id = ? AND deleted = 0")
        .bind(body.to_string())
        .bind(crate::markdown::render(body))
        .bind(at)
        .bind(editor)
        .bind(post_id)
        .execute(&mut *tx)
        .await?;
    if done.rows_affected() == 0 {
        return Ok(Err(Refused::Gone));
    }
    if let Some(title) = title {
        db.query("UPDATE forum_topics SET title = ?, slug = ? WHERE id = (SELECT topic_id FROM forum_posts WHERE id = ?)")
            .bind(super::clean_title(title))
            .bind(super::slugify(title, 80))
            .bind(post_id)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(Ok(()))
}

/// Deletes a post softly: its place in the thread stays ("deleted"), its
/// text is kept but never shown. A topic left with no live post goes too.
/// Returns whether the topic went.
pub async fn delete_post(db: &Db, post_id: i64, topic: &Topic) -> Result<Result<bool, Refused>, sqlx::Error> {
    let mut tx = db.w().begin().await?;
    // Lock the topic first, as every writer does.
    let locked = db
        .query(
            "UPDATE forum_topics SET post_count = post_count - 1, \
             reply_count = CASE WHEN reply_count > 0 THEN reply_count - 1 ELSE 0 END WHERE id = ? AND deleted = 0",
        )
        .bind(topic.id)
        .execute(&mut *tx)
        .await?;
    let gone = db.query("UPDATE forum_posts SET deleted = 1 WHERE id = ? AND deleted = 0").bind(post_id).execute(&mut *tx).await?;
    if locked.rows_affected() == 0 || gone.rows_affected() == 0 {
        return Ok(Err(Refused::Gone));
    }
    // A deleted opening post takes no more votes: its topic stops ranking on them.
    db.query("UPDATE forum_topics SET score = 0 WHERE id = ? AND first_post_id = ?").bind(topic.id).bind(post_id).execute(&mut *tx).await?;
    let forum_id: i64 = db.query("SELECT forum_id FROM forum_topics WHERE id = ?").bind(topic.id).fetch_one(&mut *tx).await?.try_get(0)?;
    let topic_gone = refresh_topic(db, &mut tx, topic.id).await?;
    db.query("UPDATE forums SET post_count = post_count - 1, topic_count = topic_count - ? WHERE id = ?")
        .bind(topic_gone as i64)
        .bind(forum_id)
        .execute(&mut *tx)
        .await?;
    refresh_latest(db, &mut tx, forum_id).await?;
    tx.commit().await?;
    Ok(Ok(topic_gone))
}

/// Deletes a whole topic softly (a moderator's action).
pub async fn delete_topic(db: &Db, topic_id: i64) -> Result<Result<(), Refused>, sqlx::Error> {
    let mut tx = db.w().begin().await?;
    let done = db.query("UPDATE forum_topics SET deleted = 1 WHERE id = ? AND deleted = 0").bind(topic_id).execute(&mut *tx).await?;
    if done.rows_affected() == 0 {
        return Ok(Err(Refused::Gone));
    }
    let row = db.query("SELECT forum_id, post_count FROM forum_topics WHERE id = ?").bind(topic_id).fetch_one(&mut *tx).await?;
    let (forum_id, posts): (i64, i64) = (row.try_get(0)?, row.try_get(1)?);
    db.query("UPDATE forums SET topic_count = topic_count - 1, post_count = post_count - ? WHERE id = ?")
        .bind(posts)
        .bind(forum_id)
        .execute(&mut *tx)
        .await?;
    refresh_latest(db, &mut tx, forum_id).await?;
    tx.commit().await?;
    Ok(Ok(()))
}

/// Moves a topic to another forum, fixing both forums' counters and latest
/// posts. Returns the forum it came from.
pub async fn move_topic(db: &Db, topic_id: i64, to: i64) -> Result<Result<i64, Refused>, sqlx::Error> {
    let mut tx = db.w().begin().await?;
    let row = db
        .query("SELECT forum_id, post_count FROM forum_topics WHERE id = ? AND deleted = 0")
        .bind(topic_id)
        .fetch_optional(&mut *tx)
        .await?;
    let Some(row) = row else { return Ok(Err(Refused::Gone)) };
    let (from, posts): (i64, i64) = (row.try_get(0)?, row.try_get(1)?);
    if from == to {
        return Ok(Err(Refused::SameForum));
    }
    // Conditional on the forum read above: a concurrent move makes this one miss.
    let moved = db
        .query("UPDATE forum_topics SET forum_id = ? WHERE id = ? AND forum_id = ? AND deleted = 0")
        .bind(to)
        .bind(topic_id)
        .bind(from)
        .execute(&mut *tx)
        .await?;
    if moved.rows_affected() == 0 {
        return Ok(Err(Refused::Gone));
    }
    let mut pair = [(from, -1i64), (to, 1i64)];
    pair.sort();
    for (forum_id, sign) in pair {
        db.query("UPDATE forums SET topic_count = topic_count + ?, post_count = post_count + ? WHERE id = ?")
            .bind(sign)
            .bind(sign * posts)
            .bind(forum_id)
            .execute(&mut *tx)
            .await?;
        refresh_latest(db, &mut tx, forum_id).await?;
    }
    tx.commit().await?;
    Ok(Ok(from))
}

/// Moves replies (live posts after the first) of a topic into a new topic
/// in forum `to`, numbered from 1 in their order. Both topics' and both
/// forums' counters and latest posts follow. Returns the new topic's id.
pub async fn split_topic(db: &Db, topic_id: i64, post_ids: &[i64], to: i64, title: &str) -> Result<Result<i64, Refused>, sqlx::Error> {
    let mut tx = db.w().begin().await?;
    // Lock the topic first, as every writer does.
    db.query("UPDATE forum_topics SET forum_id = forum_id WHERE id = ?").bind(topic_id).execute(&mut *tx).await?;
    let Some(from) = db.query("SELECT forum_id FROM forum_topics WHERE id = ? AND deleted = 0").bind(topic_id).fetch_optional(&mut *tx).await? else {
        return Ok(Err(Refused::Gone));
    };
    let from: i64 = from.try_get(0)?;
    // (number, id, author, created_at) of each chosen post, in thread order.
    let mut posts = Vec::with_capacity(post_ids.len());
    for id in post_ids {
        let row = db
            .query("SELECT number, id, user_id, created_at FROM forum_posts WHERE id = ? AND topic_id = ? AND deleted = 0 AND number > 1")
            .bind(*id)
            .bind(topic_id)
            .fetch_optional(&mut *tx)
            .await?;
        let Some(row) = row else { return Ok(Err(Refused::NotReplies)) };
        posts.push((row.try_get::<i64, _>(0)?, row.try_get::<i64, _>(1)?, row.try_get::<Option<i64>, _>(2)?, row.try_get::<i64, _>(3)?));
    }
    posts.sort();
    posts.dedup();
    let (Some(first), Some(last)) = (posts.first().copied(), posts.last().copied()) else { return Ok(Err(Refused::NotReplies)) };
    let moved = posts.len() as i64;
    let new_topic = db
        .insert(
            "INSERT INTO forum_topics (forum_id, user_id, title, slug, post_count, reply_count, last_number, \
             created_at, last_post_at, last_poster_id, first_post_id, last_post_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(to)
        .bind(first.2)
        .bind(super::clean_title(title))
        .bind(super::slugify(title, 80))
        .bind(moved)
        .bind(moved - 1)
        .bind(moved)
        .bind(first.3)
        .bind(last.3)
        .bind(last.2)
        .bind(first.1)
        .bind(last.1)
        .run(&mut *tx)
        .await?;
    for (number, (_, id, _, _)) in (1i64..).zip(&posts) {
        db.query("UPDATE forum_posts SET topic_id = ?, number = ? WHERE id = ?").bind(new_topic).bind(number).bind(*id).execute(&mut *tx).await?;
    }
    // The new topic's score is its new opening post's.
    db.query("UPDATE forum_topics SET score = (SELECT score FROM forum_posts WHERE id = ?) WHERE id = ?")
        .bind(first.1)
        .bind(new_topic)
        .execute(&mut *tx)
        .await?;
    // The old topic keeps its numbers; its length ends at its last post left.
    db.query(
        "UPDATE forum_topics SET post_count = post_count - ?, reply_count = CASE WHEN reply_count > ? THEN reply_count - ? ELSE 0 END, \
         last_number = (SELECT MAX(number) FROM forum_posts WHERE topic_id = ?) WHERE id = ?",
    )
    .bind(moved)
    .bind(moved)
    .bind(moved)
    .bind(topic_id)
    .bind(topic_id)
    .execute(&mut *tx)
    .await?;
    let old_gone = refresh_topic(db, &mut tx, topic_id).await?;
    let mut pair = [(from, -(old_gone as i64), -moved), (to, 1, moved)];
    pair.sort();
    for (forum_id, topics, posts) in pair {
        db.query("UPDATE forums SET topic_count = topic_count + ?, post_count = post_count + ? WHERE id = ?")
            .bind(topics)
            .bind(posts)
            .bind(forum_id)
            .execute(&mut *tx)
            .await?;
        refresh_latest(db, &mut tx, forum_id).await?;
    }
    tx.commit().await?;
    Ok(Ok(new_topic))
}

/// Sets a topic's sticky or locked flag.
pub async fn set_flag(db: &Db, topic_id: i64, flag: Flag, on: bool) -> Result<(), sqlx::Error> {
    let sql = match flag {
        Flag::Sticky => "UPDATE forum_topics SET sticky = ? WHERE id = ?",
        Flag::Locked => "UPDATE forum_topics SET locked = ? WHERE id = ?",
    };
    db.query(sql).bind(on as i64).bind(topic_id).execute(db.w()).await?;
    Ok(())
}

#[derive(Clone, Copy, Debug)]
pub enum Flag {
    Sticky,
    Locked,
}

/// Sets a topic's latest post from its newest live post after posts left
/// it; a topic left with none is deleted. Returns whether it was.
async fn refresh_topic(db: &Db, conn: &mut AnyConnection, topic_id: i64) -> Result<bool, sqlx::Error> {
    let latest = db
        .query("SELECT id, created_at, user_id FROM forum_posts WHERE topic_id = ? AND deleted = 0 ORDER BY number DESC LIMIT 1")
        .bind(topic_id)
        .fetch_optional(&mut *conn)
        .await?;
    let Some(row) = latest else {
        db.query("UPDATE forum_topics SET deleted = 1 WHERE id = ?").bind(topic_id).execute(conn).await?;
        return Ok(true);
    };
    db.query("UPDATE forum_topics SET last_post_id = ?, last_post_at = ?, last_poster_id = ? WHERE id = ?")
        .bind(row.try_get::<i64, _>(0)?)
        .bind(row.try_get::<i64, _>(1)?)
        .bind(row.try_get::<Option<i64>, _>(2)?)
        .bind(topic_id)
        .execute(conn)
        .await?;
    Ok(false)
}

/// Sets a forum's latest post from its most recently active topic (after
/// a delete or a move). One indexed row.
async fn refresh_latest(db: &Db, conn: &mut AnyConnection, forum_id: i64) -> Result<(), sqlx::Error> {
    let latest = db
        .query(
            "SELECT id, last_post_id, last_post_at, last_poster_id FROM forum_topics \
             WHERE forum_id = ? AND deleted = 0 ORDER BY last_post_at DESC, id DESC LIMIT 1",
        )
        .bind(forum_id)
        .fetch_optional(&mut *conn)
        .await?;
    let (topic, post, at, poster) = match latest {
        Some(r) => (Some(r.try_get::<i64, _>(0)?), r.try_get::<Option<i64>, _>(1)?, Some(r.try_get::<i64, _>(2)?), r.try_get::<Option<i64>, _>(3)?),
        None => (None, None, None, None),
    };
    db.query("UPDATE forums SET last_topic_id = ?, last_post_id = ?, last_post_at = ?, last_poster_id = ? WHERE id = ?")
        .bind(topic)
        .bind(post)
        .bind(at)
        .bind(poster)
        .bind(forum_id)
        .execute(conn)
        .await?;
    Ok(())
}

/// A view: one row update, no read.
/// What categories and forums have in common.
pub struct Named<'a> {
    pub name: &'a str,
    pub slug: &'a str,
    pub description: &'a str,
    pub position: i64,
}

/// Creates a category (`id` None) or changes one. Returns its id, or None
/// when there is no category `id`. A taken slug is a unique violation.
pub async fn save_category(db: &Db, id: Option<i64>, n: &Named<'_>) -> Result<Option<i64>, sqlx::Error> {
    let Some(id) = id else {
        return db
            .insert("INSERT INTO forum_categories (name, slug, description, position, created_at) VALUES (?, ?, ?, ?, ?)")
            .bind(n.name.to_string())
            .bind(n.slug.to_string())
            .bind(n.description.to_string())
            .bind(n.position)
            .bind(crate::db::now())
            .run(db.w())
            .await
            .map(Some);
    };
    db.query("UPDATE forum_categories SET name = ?, slug = ?, description = ?, position = ? WHERE id = ?")
        .bind(n.name.to_string())
        .bind(n.slug.to_string())
        .bind(n.description.to_string())
        .bind(n.position)
        .bind(id)
        .execute(db.w())
        .await?;
    exists(db, "SELECT id FROM forum_categories WHERE id = ?", id).await
}

/// Creates a forum (`id` None) or changes one; as [`save_category`].
pub async fn save_forum(db: &Db, id: Option<i64>, category: i64, visibility: Visibility, n: &Named<'_>) -> Result<Option<i64>, sqlx::Error> {
    let Some(id) = id else {
        return db
            .insert(
                "INSERT INTO forums (category_id, name, slug, description, position, visibility, created_at) \
                 VALUES (?, ?, ?, ?, ?, ?, ?)",
            )
            .bind(category)
            .bind(n.name.to_string())
            .bind(n.slug.to_string())
            .bind(n.description.to_string())
            .bind(n.position)
            .bind(visibility.as_str())
            .bind(crate::db::now())
            .run(db.w())
            .await
            .map(Some);
    };
    db.query("UPDATE forums SET category_id = ?, name = ?, slug = ?, description = ?, position = ?, visibility = ? WHERE id = ?")
        .bind(category)
        .bind(n.name.to_string())
        .bind(n.slug.to_string())
        .bind(n.description.to_string())
        .bind(n.position)
        .bind(visibility.as_str())
        .bind(id)
        .execute(db.w())
        .await?;
    exists(db, "SELECT id FROM forums WHERE id = ?", id).await
}

/// `id` if the row is there. (MySQL counts only changed rows as affected,
/// so an UPDATE's count cannot say whether the row exists.)
async fn exists(db: &Db, sql: &'static str, id: i64) -> Result<Option<i64>, sqlx::Error> {
    Ok(db.query(sql).bind(id).fetch_optional(db.w()).await?.map(|_| id))
}
