//! Up and down votes on any content kind that opts in. The target's score,
//! up and down counts and hot rank change in the same transaction as the
//! vote, with the target row locked, so they stay exact under concurrency.

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::post;
use axum::{Form, Json, Router};
use serde::{Deserialize, Serialize};
use sqlx::Row as _;

use crate::app::AppState;
use crate::content::{self, kind_sql, Kind};
use crate::db::{migrations::Migration, now, Backend};
use crate::web::error::{AppError, AppResult};
use crate::web::session::Member;
use crate::web::{rate_limit, safe_next};

pub const MIGRATIONS: &[Migration] = &[Migration {
    version: 1,
    name: "votes",
    statements: &[
        "CREATE TABLE votes (
            id {id},
            kind {str 32} NOT NULL,
            target_id {int} NOT NULL,
            user_id {int} NOT NULL,
            value {int} NOT NULL,
            created_at {int} NOT NULL,
            FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE
        ) {table}",
        "CREATE UNIQUE INDEX votes_one_per_member ON votes (kind, target_id, user_id)",
        "CREATE INDEX votes_by_member ON votes (user_id, created_at)",
    ],
}];

pub fn router() -> Router<AppState> {
    Router::new().route("/votes/{kind}/{id}", post(vote))
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct VoteForm {
    /// 1 up, -1 down, 0 to take the vote back.
    value: String,
    next: String,
}

/// The target's counts after a vote, and the member's vote.
#[derive(Serialize, Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tally {
    pub score: i64,
    pub up: i64,
    pub down: i64,
    pub mine: i64,
}

async fn vote(
    State(state): State<AppState>,
    Member(me): Member,
    Path((kind, id)): Path<(String, i64)>,
    headers: HeaderMap,
    Form(form): Form<VoteForm>,
) -> AppResult<Response> {
    let kind = content::kind(&kind).filter(|k| k.votes).ok_or(AppError::NotFound)?;
    let value: i64 = match form.value.trim() {
        "1" | "+1" => 1,
        "-1" => -1,
        "0" => 0,
        _ => return Err(AppError::BadRequest("A vote is 1 (up), -1 (down) or 0 (take it back).".into())),
    };
    let new_member = now() - me.user.created_at < 86_400;
    rate_limit(&state, "vote", &me.user.id.to_string(), if new_member { 30 } else { 120 }).await?;
    let tally = cast(&state, kind, id, me.user.id, value).await?;
    let wants_json = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|a| a.contains("application/json"));
    if wants_json {
        return Ok(Json(tally).into_response());
    }
    let back = if form.next.is_empty() { kind.permalink(id) } else { safe_next(Some(&form.next)) };
    Ok(Redirect::to(&back).into_response())
}

/// Records `user_id`'s vote of `value` on (kind, id). Refuses a missing or
/// hidden target, and one's own content.
pub async fn cast(state: &AppState, kind: &Kind, id: i64, user_id: i64, value: i64) -> AppResult<Tally> {
    let owner = content::owner(state, kind, id).await?.ok_or(AppError::NotFound)?;
    if owner == user_id && !state.config.votes.allow_self {
        return Err(AppError::forbidden("You cannot vote on your own post."));
    }
    // A deadlock or serialization failure between two racing votes is retried.
    let mut attempt = 0;
    let tally = loop {
        match try_cast(state, kind, id, user_id, value).await {
            Err(e) if attempt < 5 && retryable(&e) => attempt += 1,
            result => break result?,
        }
    };
    content::touch(state, kind, id).await;
    Ok(tally)
}

async fn try_cast(state: &AppState, kind: &Kind, id: i64, user_id: i64, value: i64) -> Result<Tally, sqlx::Error> {
    let db = &state.db;
    let mut tx = db.w().begin().await?;
    let copies = || crate::app::SCORE_COPIES.iter().filter(|(name, _, _)| *name == kind.name);
    if db.backend != Backend::Sqlite {
        for (_, lock_first, _) in copies() {
            db.query(lock_first).bind(id).fetch_optional(&mut *tx).await?;
        }
    }
    // Lock the target: votes on one item queue here (SQLite has one writer).
    // It must still be visible now that it is locked: a delete may have
    // come between the caller's check and this transaction.
    let lock = match db.backend {
        Backend::Sqlite => "SELECT {time} FROM {table} WHERE id = ? AND ({visible})",
        _ => "SELECT {time} FROM {table} WHERE id = ? AND ({visible}) FOR UPDATE",
    };
    let row = sqlx::query(db.sql(kind_sql(kind, lock))).bind(id).bind(now()).fetch_optional(&mut *tx).await?;
    let Some(row) = row else { return Err(sqlx::Error::RowNotFound) };
    let published_at: i64 = row.try_get::<Option<i64>, _>(0)?.unwrap_or_else(now);
    let old: i64 = db
        .query("SELECT value FROM votes WHERE kind = ? AND target_id = ? AND user_id = ?")
        .bind(kind.name)
        .bind(id)
        .bind(user_id)
        .fetch_optional(&mut *tx)
        .await?
        .map(|r| r.get::<i64, _>(0))
        .unwrap_or(0);
    if old != value {
        match (old, value) {
            (0, v) => {
                db.query("INSERT INTO votes (kind, target_id, user_id, value, created_at) VALUES (?, ?, ?, ?, ?)")
                    .bind(kind.name)
                    .bind(id)
                    .bind(user_id)
                    .bind(v)
                    .bind(now())
                    .execute(&mut *tx)
                    .await?;
            }
            (_, 0) => {
                db.query("DELETE FROM votes WHERE kind = ? AND target_id = ? AND user_id = ?")
                    .bind(kind.name)
                    .bind(id)
                    .bind(user_id)
                    .execute(&mut *tx)
                    .await?;
            }
            (_, v) => {
                db.query("UPDATE votes SET value = ? WHERE kind = ? AND target_id = ? AND user_id = ?")
                    .bind(v)
                    .bind(kind.name)
                    .bind(id)
                    .bind(user_id)
                    .execute(&mut *tx)
                    .await?;
            }
        }
        let up = (value == 1) as i64 - (old == 1) as i64;
        let down = (value == -1) as i64 - (old == -1) as i64;
        let update = "UPDATE {table} SET score = score + ?, up_count = up_count + ?, down_count = down_count + ? WHERE id = ?";
        sqlx::query(db.sql(kind_sql(kind, update))).bind(value - old).bind(up).bind(down).bind(id).execute(&mut *tx).await?;
    }
    let row = sqlx::query(db.sql(kind_sql(kind, "SELECT score, up_count, down_count FROM {table} WHERE id = ?")))
        .bind(id)
        .fetch_one(&mut *tx)
        .await?;
    let tally = Tally { score: row.try_get(0)?, up: row.try_get(1)?, down: row.try_get(2)?, mine: value };
    if old != value {
        sqlx::query(db.sql(kind_sql(kind, "UPDATE {table} SET hot = ? WHERE id = ?")))
            .bind(content::hot(tally.score, published_at))
            .bind(id)
            .execute(&mut *tx)
            .await?;
        for (_, _, copy) in copies() {
            db.query(copy).bind(tally.score).bind(id).execute(&mut *tx).await?;
        }
    }
    tx.commit().await?;
    Ok(tally)
}

fn retryable(err: &sqlx::Error) -> bool {
    crate::db::is_unique_violation(err) || crate::db::is_deadlock(err)
}

/// The member's votes on these items of one kind, by item id.
pub async fn mine(state: &AppState, kind: &Kind, ids: &[i64], user_id: i64) -> Result<Vec<(i64, i64)>, sqlx::Error> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let list = ids.iter().map(|id| id.to_string()).collect::<Vec<_>>().join(",");
    // The ids are integers we formatted ourselves, so inlining them is safe.
    let sql = format!("SELECT target_id, value FROM votes WHERE kind = {} AND user_id = {} AND target_id IN ({list})", quote(kind.name), user_id);
    let rows = sqlx::query(&sql).fetch_all(state.db.r()).await?;
    Ok(rows.iter().map(|r| (r.get::<i64, _>(0), r.get::<i64, _>(1))).collect())
}

fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}


/// Before a member's account goes: their votes are taken back, so every
/// score stays the sum of the votes that remain.
pub async fn forget_member(state: &AppState, user_id: i64) -> AppResult<()> {
    let rows = state.db.query("SELECT kind, target_id FROM votes WHERE user_id = ?").bind(user_id).fetch_all(state.db.w()).await?;
    for row in rows {
        let (kind, id): (String, i64) = (row.try_get(0)?, row.try_get(1)?);
        if let Some(kind) = content::kind(&kind) {
            try_cast(state, kind, id, user_id, 0).await?;
        }
    }
    Ok(())
}
