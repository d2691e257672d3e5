//! Reading threads and writing comments.

use std::collections::HashMap;

use serde::Serialize;
use sqlx::Row as _;

use crate::accounts::store::{self as members, Author, User};
use crate::app::AppState;
use crate::content::{kind_sql, Kind};
use crate::db::{now, Row};
use crate::web::error::AppResult;

/// Replies nest this deep on a page; deeper ones are behind "continue this thread".
pub const SHOWN_DEPTH: i64 = 5;
/// Replies can nest this deep at all (the path column's length allows it).
pub const MAX_DEPTH: i64 = 18;
pub const ROOTS_PER_PAGE: i64 = 20;
/// At most this many replies are loaded under one page of top-level comments.
const REPLIES_PER_PAGE: i64 = 600;
pub const MAX_BODY: usize = 10_000;

pub const VISIBLE: i64 = 0;
pub const DELETED: i64 = 1;
pub const REMOVED: i64 = 2;

#[derive(Clone, Debug)]
pub struct Comment {
    pub id: i64,
    pub kind: String,
    pub target_id: i64,
    pub user_id: Option<i64>,
    pub parent_id: Option<i64>,
    pub root_id: Option<i64>,
    pub depth: i64,
    pub path: String,
    pub body: String,
    pub body_html: String,
    pub status: i64,
    pub created_at: i64,
    pub edited_at: Option<i64>,
    pub reply_count: i64,
    pub score: i64,
}

impl Comment {
    pub fn from_row(row: &Row) -> Result<Comment, sqlx::Error> {
        Ok(Comment {
            id: row.try_get("id")?,
            kind: row.try_get("kind")?,
            target_id: row.try_get("target_id")?,
            user_id: row.try_get("user_id")?,
            parent_id: row.try_get("parent_id")?,
            root_id: row.try_get("root_id")?,
            depth: row.try_get("depth")?,
            path: row.try_get("path")?,
            body: crate::db::text(row, "body")?,
            body_html: crate::db::text(row, "body_html")?,
            status: row.try_get("status")?,
            created_at: row.try_get("created_at")?,
            edited_at: row.try_get("edited_at")?,
            reply_count: row.try_get("reply_count")?,
            score: row.try_get("score")?,
        })
    }
}

pub async fn by_id(state: &AppState, id: i64) -> AppResult<Option<Comment>> {
    let row = state.db.query("SELECT * FROM comments WHERE id = ?").bind(id).fetch_optional(state.db.w()).await?;
    Ok(row.as_ref().map(Comment::from_row).transpose()?)
}

/// One path segment: fixed width, so paths sort in thread order.
fn segment(id: i64) -> String {
    format!("{id:012}")
}

/// Adds a comment (a reply when `parent` is given) and counts it on the
/// target and the parent, in one transaction. Returns the new id.
pub async fn create(state: &AppState, kind: &Kind, target_id: i64, user_id: i64, parent: Option<&Comment>, body: &str) -> AppResult<i64> {
    let db = &state.db;
    let depth = parent.map(|p| p.depth + 1).unwrap_or(0);
    let mut tx = db.w().begin().await?;
    let id = db
        .insert(
            "INSERT INTO comments (kind, target_id, user_id, parent_id, root_id, depth, body, body_html, created_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(kind.name)
        .bind(target_id)
        .bind(user_id)
        .bind(parent.map(|p| p.id))
        .bind(parent.map(|p| p.root_id.unwrap_or(p.id)))
        .bind(depth)
        .bind(body.to_string())
        .bind(crate::markdown::render(body))
        .bind(now())
        .run(&mut *tx)
        .await?;
    let path = match parent {
        Some(p) => format!("{}/{}", p.path, segment(id)),
        None => segment(id),
    };
    // A top-level comment is the root of its own thread.
    db.query("UPDATE comments SET path = ?, root_id = COALESCE(root_id, id) WHERE id = ?")
        .bind(path)
        .bind(id)
        .execute(&mut *tx)
        .await?;
    if let Some(p) = parent {
        db.query("UPDATE comments SET reply_count = reply_count + 1 WHERE id = ?").bind(p.id).execute(&mut *tx).await?;
    }
    let count = "UPDATE {table} SET comment_count = comment_count + 1 WHERE id = ?";
    sqlx::query(db.sql(kind_sql(kind, count))).bind(target_id).execute(&mut *tx).await?;
    tx.commit().await?;
    crate::content::touch(state, kind, target_id).await;
    Ok(id)
}

/// Hides a comment's text, keeping its place in the thread, and uncounts it.
pub async fn hide(state: &AppState, kind: &Kind, comment: &Comment, status: i64) -> AppResult<()> {
    let db = &state.db;
    let mut tx = db.w().begin().await?;
    let done = db
        .query("UPDATE comments SET status = ?, body = '', body_html = '' WHERE id = ? AND status = 0")
        .bind(status)
        .bind(comment.id)
        .execute(&mut *tx)
        .await?;
    if done.rows_affected() == 1 {
        let count = "UPDATE {table} SET comment_count = comment_count - 1 WHERE id = ?";
        sqlx::query(db.sql(kind_sql(kind, count))).bind(comment.target_id).execute(&mut *tx).await?;
    }
    tx.commit().await?;
    crate::content::touch(state, kind, comment.target_id).await;
    Ok(())
}

/// A member's last comment, for refusing the same text twice in a row.
pub async fn last_body_by(state: &AppState, user_id: i64) -> AppResult<Option<String>> {
    let row = state
        .db
        .query("SELECT body FROM comments WHERE user_id = ? ORDER BY created_at DESC, id DESC LIMIT 1")
        .bind(user_id)
        .fetch_optional(state.db.w())
        .await?;
    Ok(row.map(|r| crate::db::text(&r, "body")).transpose()?)
}

/// Before a member's account goes: their comments become "[deleted]" (the
/// thread keeps its shape) and stop counting on their targets.
pub async fn forget_member(state: &AppState, user_id: i64) -> AppResult<()> {
    let rows = state
        .db
        .query("SELECT * FROM comments WHERE user_id = ? AND status = 0")
        .bind(user_id)
        .fetch_all(state.db.w())
        .await?;
    for row in rows {
        let comment = Comment::from_row(&row)?;
        if let Some(kind) = crate::content::kind(&comment.kind) {
            hide(state, kind, &comment, DELETED).await?;
        }
    }
    Ok(())
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Sort {
    Old,
    New,
    Top,
}

impl Sort {
    pub fn parse(s: &str) -> Sort {
        match s {
            "new" => Sort::New,
            "top" => Sort::Top,
            _ => Sort::Old,
        }
    }
}

/// A comment as pages show it, with its replies nested inside.
#[derive(Serialize, Debug)]
pub struct CommentView {
    pub id: i64,
    pub author: Option<Author>,
    pub body_html: String,
    pub deleted: bool,
    pub removed: bool,
    pub created_at: i64,
    pub edited: bool,
    pub score: i64,
    pub my_vote: i64,
    pub depth: i64,
    pub reply_count: i64,
    pub can_edit: bool,
    pub can_delete: bool,
    pub can_remove: bool,
    /// Replies exist below what is shown: link to the comment's own page.
    pub more: bool,
    pub replies: Vec<CommentView>,
}

/// The page-cache tags of everyone who wrote in `comments`, replies included.
pub fn author_tags(comments: &[CommentView], out: &mut Vec<String>) {
    for c in comments {
        out.extend(c.author.as_ref().map(|a| crate::pagecache::tags::user(a.id)));
        author_tags(&c.replies, out);
    }
}

#[derive(Serialize, Debug)]
pub struct Thread {
    pub kind: &'static str,
    pub target_id: i64,
    pub count: i64,
    pub sort: Sort,
    pub page: i64,
    pub has_next: bool,
    pub comments: Vec<CommentView>,
    /// Depth from which replies are folded, relative to the shown root.
    pub shown_depth: i64,
}

/// One page of a target's thread: top-level comments in `sort` order, each
/// with its replies to the shown depth. `count` is the target's counter.
pub async fn thread(state: &AppState, kind: &'static Kind, target_id: i64, count: i64, sort: Sort, page: i64, viewer: Option<&User>) -> AppResult<Thread> {
    let sql: &'static str = match sort {
        Sort::Old => "SELECT * FROM comments WHERE kind = ? AND target_id = ? AND parent_id IS NULL ORDER BY created_at ASC, id ASC LIMIT ? OFFSET ?",
        Sort::New => "SELECT * FROM comments WHERE kind = ? AND target_id = ? AND parent_id IS NULL ORDER BY created_at DESC, id DESC LIMIT ? OFFSET ?",
        Sort::Top => "SELECT * FROM comments WHERE kind = ? AND target_id = ? AND parent_id IS NULL ORDER BY score DESC, id ASC LIMIT ? OFFSET ?",
    };
    let rows = state
        .db
        .query(sql)
        .bind(kind.name)
        .bind(target_id)
        .bind(ROOTS_PER_PAGE + 1)
        .bind((page - 1) * ROOTS_PER_PAGE)
        .fetch_all(state.db.r())
        .await?;
    let mut roots = rows.iter().map(Comment::from_row).collect::<Result<Vec<_>, _>>()?;
    let has_next = roots.len() as i64 > ROOTS_PER_PAGE;
    roots.truncate(ROOTS_PER_PAGE as usize);
    let replies = if roots.is_empty() {
        Vec::new()
    } else {
        let ids = roots.iter().map(|c| c.id.to_string()).collect::<Vec<_>>().join(",");
        // The ids are integers formatted here, so inlining them is safe.
        let sql = format!(
            "SELECT * FROM comments WHERE root_id IN ({ids}) AND depth > 0 AND depth <= {SHOWN_DEPTH} ORDER BY path LIMIT {REPLIES_PER_PAGE}"
        );
        let rows = sqlx::query(&sql).fetch_all(state.db.r()).await?;
        rows.iter().map(Comment::from_row).collect::<Result<Vec<_>, _>>()?
    };
    let comments = assemble(state, roots, replies, sort, viewer, SHOWN_DEPTH).await?;
    Ok(Thread { kind: kind.name, target_id, count, sort, page, has_next, comments, shown_depth: SHOWN_DEPTH })
}

/// One comment with its replies, for its own page ("continue this thread").
pub async fn subtree(state: &AppState, root: Comment, viewer: Option<&User>) -> AppResult<Vec<CommentView>> {
    let max = root.depth + SHOWN_DEPTH;
    let rows = state
        .db
        .query("SELECT * FROM comments WHERE root_id = ? AND path LIKE ? AND depth > ? AND depth <= ? ORDER BY path LIMIT ?")
        .bind(root.root_id.unwrap_or(root.id))
        .bind(format!("{}/%", root.path))
        .bind(root.depth)
        .bind(max)
        .bind(REPLIES_PER_PAGE)
        .fetch_all(state.db.r())
        .await?;
    let replies = rows.iter().map(Comment::from_row).collect::<Result<Vec<_>, _>>()?;
    let limit = root.depth + SHOWN_DEPTH;
    assemble(state, vec![root], replies, Sort::Old, viewer, limit).await
}

/// Builds nested views: authors and the viewer's votes loaded once for all.
async fn assemble(
    state: &AppState,
    roots: Vec<Comment>,
    replies: Vec<Comment>,
    sort: Sort,
    viewer: Option<&User>,
    fold_at: i64,
) -> AppResult<Vec<CommentView>> {
    let all: Vec<&Comment> = roots.iter().chain(replies.iter()).collect();
    let author_ids: Vec<i64> = all.iter().filter_map(|c| c.user_id).collect();
    let authors = members::by_ids(&state.db, &author_ids).await?;
    let comment_kind = crate::content::kind("comment").expect("comments are a kind");
    let ids: Vec<i64> = all.iter().map(|c| c.id).collect();
    let votes: HashMap<i64, i64> = match viewer {
        Some(v) => crate::votes::mine(state, comment_kind, &ids, v.id).await?.into_iter().collect(),
        None => HashMap::new(),
    };
    let edit_window = state.config.comments.edit_minutes * 60;
    let view = |c: &Comment| -> CommentView {
        let author = c.user_id.and_then(|id| authors.get(&id)).filter(|u| u.is_active || viewer.is_some_and(|v| v.is_moderator()));
        let mine = viewer.is_some_and(|v| Some(v.id) == c.user_id);
        let visible = c.status == VISIBLE && author.is_some();
        CommentView {
            id: c.id,
            author: if visible { author.map(|u| u.author(&state.config)) } else { None },
            body_html: if visible { c.body_html.clone() } else { String::new() },
            deleted: c.status == DELETED || (c.status == VISIBLE && author.is_none()),
            removed: c.status == REMOVED,
            created_at: c.created_at,
            edited: c.edited_at.is_some(),
            score: c.score,
            my_vote: votes.get(&c.id).copied().unwrap_or(0),
            depth: c.depth,
            reply_count: c.reply_count,
            can_edit: visible && mine && now() - c.created_at <= edit_window,
            can_delete: visible && mine,
            can_remove: visible && viewer.is_some_and(|v| v.is_moderator()) && !mine,
            more: c.depth >= fold_at && c.reply_count > 0,
            replies: Vec::new(),
        }
    };
    // Children by parent, then built bottom-up from the roots.
    let mut children: HashMap<i64, Vec<&Comment>> = HashMap::new();
    for c in &replies {
        if let Some(p) = c.parent_id {
            children.entry(p).or_default().push(c);
        }
    }
    fn build(c: &Comment, children: &HashMap<i64, Vec<&Comment>>, sort: Sort, view: &dyn Fn(&Comment) -> CommentView) -> CommentView {
        let mut v = view(c);
        let mut kids: Vec<&Comment> = children.get(&c.id).cloned().unwrap_or_default();
        match sort {
            Sort::Old => kids.sort_by_key(|k| (k.created_at, k.id)),
            Sort::New => kids.sort_by_key(|k| (std::cmp::Reverse(k.created_at), std::cmp::Reverse(k.id))),
            Sort::Top => kids.sort_by_key(|k| (std::cmp::Reverse(k.score), k.id)),
        }
        v.replies = kids.into_iter().map(|k| build(k, children, sort, view)).collect();
        v
    }
    Ok(roots.iter().map(|r| build(r, &children, sort, &view)).collect())
}
