//! Content kinds that comments and votes attach to, as threadedcomments and
//! django-voting did: by (kind, id). A content type opts in with one
//! [`Kind`] line in `app::KINDS`; its table carries the counters.

use crate::app::AppState;

/// A kind of content. Its table has `id`, `user_id` (the owner), and the
/// counters `score`, `up_count`, `down_count`, `comment_count` and `hot`.
#[derive(Debug)]
pub struct Kind {
    /// As stored in `votes.kind` and `comments.kind`.
    pub name: &'static str,
    pub table: &'static str,
    /// A condition (on the table's columns) that makes a row visible to
    /// members, such as `status = 'published'`; `?` is bound to now.
    pub visible: &'static str,
    /// The column that dates an item for the hot rank.
    pub time: &'static str,
    /// Id-based permalink prefix: `{link}{id}` redirects to the canonical page.
    pub link: &'static str,
    pub comments: bool,
    pub votes: bool,
    /// Page-cache tags of the lists that show this kind's counters (see
    /// `pagecache::tags`); its own pages depend on `{name}:{id}`.
    pub lists: &'static [&'static str],
    /// The page an item is shown within, as (tag prefix, the query of its
    /// id): a forum post's score shows on `topic:{id}`, found by
    /// `SELECT topic_id FROM {table} WHERE id = ?`.
    pub within: Option<(&'static str, &'static str)>,
}

impl Kind {
    pub fn permalink(&self, id: i64) -> String {
        format!("{}{id}", self.link)
    }
}

pub fn kind(name: &str) -> Option<&'static Kind> {
    crate::app::KINDS.iter().find(|k| k.name == name)
}

/// A SQL text made once per kind and statement, kept for the process's life
/// (the set of kinds and statements is fixed, so this is bounded).
pub fn kind_sql(kind: &Kind, template: &'static str) -> &'static str {
    use std::collections::HashMap;
    use std::sync::RwLock;
    static MADE: RwLock<Option<HashMap<(&'static str, &'static str), &'static str>>> = RwLock::new(None);
    if let Some(done) = MADE.read().unwrap().as_ref().and_then(|m| m.get(&(kind.name, template))) {
        return done;
    }
    let sql = template.replace("{table}", kind.table).replace("{visible}", kind.visible).replace("{time}", kind.time);
    let made: &'static str = Box::leak(sql.into_boxed_str());
    MADE.write().unwrap().get_or_insert_with(HashMap::new).insert((kind.name, template), made);
    made
}

/// The owner of a visible item, or None if there is no such visible item.
pub async fn owner(state: &AppState, kind: &Kind, id: i64) -> Result<Option<i64>, sqlx::Error> {
    use sqlx::Row as _;
    let sql = state.db.sql(kind_sql(kind, "SELECT user_id FROM {table} WHERE id = ? AND ({visible})"));
    let row = sqlx::query(sql).bind(id).bind(crate::db::now()).fetch_optional(state.db.w()).await?;
    Ok(row.map(|r| r.get::<i64, _>(0)))
}

/// After a write to an item (a vote, a comment on it, an edit): every page
/// that shows it, on every app process. A comment also changes the item it
/// is attached to. Call it after the write commits.
pub async fn touch(state: &AppState, kind: &Kind, id: i64) {
    let mut changed = Vec::new();
    if let Err(e) = item_tags(state, kind, id, &mut changed).await {
        // Without the containing page, fall back to every page.
        tracing::warn!(error = %e, kind = kind.name, id, "could not find the pages of an item; all pages are redone");
        changed.push(crate::pagecache::tags::SITE.to_string());
    }
    crate::pagecache::tags::touch(state, &changed).await;
}

async fn item_tags(state: &AppState, kind: &Kind, id: i64, out: &mut Vec<String>) -> Result<(), sqlx::Error> {
    use sqlx::Row as _;
    out.push(crate::pagecache::tags::item(kind.name, id));
    out.extend(kind.lists.iter().map(|t| t.to_string()));
    if let Some((prefix, query)) = kind.within {
        let sql = state.db.sql(kind_sql(kind, query));
        if let Some(row) = sqlx::query(sql).bind(id).fetch_optional(state.db.w()).await? {
            out.push(format!("{prefix}:{}", row.try_get::<i64, _>(0)?));
        }
    }
    if kind.name == "comment" {
        let row = state.db.query("SELECT kind, target_id FROM comments WHERE id = ?").bind(id).fetch_optional(state.db.w()).await?;
        if let Some(row) = row {
            let target = crate::db::text(&row, "kind")?;
            if let Some(target_kind) = self::kind(&target).filter(|k| k.name != "comment") {
                Box::pin(item_tags(state, target_kind, row.try_get("target_id")?, out)).await?;
            }
        }
    }
    Ok(())
}

/// After an item is deleted: its comments and votes go too.
pub async fn remove_attachments(state: &AppState, kind: &str, id: i64) -> Result<(), sqlx::Error> {
    let mut tx = state.db.w().begin().await?;
    for sql in ["DELETE FROM comments WHERE kind = ? AND target_id = ?", "DELETE FROM votes WHERE kind = ? AND target_id = ?"] {
        state.db.query(sql).bind(kind.to_string()).bind(id).execute(&mut *tx).await?;
    }
    tx.commit().await
}

/// The "hot" rank: the score's order of magnitude plus time, so newer items
/// rise without any rank being recomputed later (one row written per vote).
/// Kept as an integer in millionths.
pub fn hot(score: i64, published_at: i64) -> i64 {
    let order = (score.unsigned_abs().max(1) as f64).log10();
    let sign = score.signum() as f64;
    // 45,000 s (12.5 h) of age weighs as much as a tenfold score.
    let rank = sign * order + (published_at - 1_700_000_000) as f64 / 45_000.0;
    (rank * 1_000_000.0).round() as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hot_rank_rises_with_score_and_recency() {
        let t = 1_800_000_000;
        assert!(hot(10, t) > hot(1, t));
        assert!(hot(-10, t) < hot(0, t));
        assert!(hot(1, t + 86_400) > hot(10, t), "a day newer beats ten times the votes");
        assert_eq!(hot(0, t), hot(1, t));
    }
}
