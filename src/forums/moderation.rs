//! Moderators' actions on topics (sticky, lock, move, delete), each
//! recorded in the audit log, and the log page that shows them.

use axum::extract::{Path, State};
use axum::response::Response;
use axum::Form;
use minijinja::context;
use serde::Deserialize;
use sqlx::Row as _;

use super::write::{self, Flag, Refused};
use super::{parse_topic_param, visible_topic, when};
use crate::accounts::store::audit;
use crate::app::AppState;
use crate::web::error::{AppError, AppResult};
use crate::web::page::{redirect_with_flash, Page};
use crate::web::session::Member;

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct ModerateForm {
    action: String,
    /// The target forum's id, for `move`.
    forum: String,
}

pub async fn moderate(State(state): State<AppState>, Member(me): Member, Path(param): Path<String>, Form(form): Form<ModerateForm>) -> AppResult<Response> {
    if !me.user.is_moderator() {
        return Err(AppError::forbidden("Only moderators and staff can do that."));
    }
    let (topic, forum) = visible_topic(&state, parse_topic_param(&param)?.0, Some(&me.user)).await?;
    let (message, detail) = match form.action.as_str() {
        action @ ("sticky" | "unsticky" | "lock" | "unlock") => {
            let (flag, on, text) = match action {
                "sticky" => (Flag::Sticky, true, "The topic is pinned to the top of its forum."),
                "unsticky" => (Flag::Sticky, false, "The topic is no longer pinned."),
                "lock" => (Flag::Locked, true, "The topic is locked: no new replies."),
                _ => (Flag::Locked, false, "The topic is open for replies again."),
            };
            write::set_flag(&state.db, topic.id, flag, on).await?;
            (text.to_string(), topic.title.clone())
        }
        "move" => {
            let target = form.forum.trim().parse::<i64>().ok();
            let Some(target) = target.map(|id| super::store::forum_by_id(&state.db, id)) else {
                return Err(AppError::BadRequest("Choose the forum to move the topic to.".into()));
            };
            let target = target.await?.ok_or_else(|| AppError::BadRequest("That forum does not exist: the topic was not moved.".into()))?;
            match write::move_topic(&state.db, topic.id, target.id).await? {
                Ok(_) => {}
                Err(Refused::SameForum) => return Err(AppError::BadRequest("The topic is already in that forum.".into())),
                Err(_) => return Err(AppError::NotFound),
            }
            (format!("The topic is moved to {}.", target.name), format!("{} (from {} to {})", topic.title, forum.slug, target.slug))
        }
        "delete" => {
            if write::delete_topic(&state.db, topic.id).await?.is_err() {
                return Err(AppError::NotFound);
            }
            audit(&state.db, me.user.id, "forum.topic.delete", "forum_topic", topic.id, &topic.title).await?;
            return Ok(redirect_with_flash(&state, &format!("/forums/{}", forum.slug), "success", "The topic is deleted."));
        }
        _ => return Err(AppError::BadRequest("Unknown moderation action.".into())),
    };
    let action = format!("forum.topic.{}", form.action);
    audit(&state.db, me.user.id, &action, "forum_topic", topic.id, &detail).await?;
    Ok(redirect_with_flash(&state, &topic.path(), "success", &message))
}

/// The latest forum moderation actions, for the team.
pub async fn log(State(state): State<AppState>, Member(me): Member, page: Page) -> AppResult<Response> {
    if !me.user.is_moderator() {
        return Err(AppError::forbidden("Only moderators and staff can read the moderation log."));
    }
    let rows = state
        .db
        .query(
            "SELECT a.action, a.target_kind, a.target_id, a.detail, a.created_at, u.username FROM audit_log a \
             LEFT JOIN users u ON u.id = a.actor_id WHERE a.action LIKE 'forum.%' ORDER BY a.created_at DESC, a.id DESC LIMIT 200",
        )
        .fetch_all(state.db.r())
        .await?;
    let mut entries = Vec::with_capacity(rows.len());
    for row in &rows {
        let kind: String = row.try_get("target_kind")?;
        let id: i64 = row.try_get("target_id")?;
        let at: i64 = row.try_get("created_at")?;
        let link = match kind.as_str() {
            "forum_post" => Some(format!("/forums/p/{id}")),
            "forum_topic" => Some(format!("/forums/t/{id}")),
            _ => None,
        };
        entries.push(context! {
            action => row.try_get::<String, _>("action")?, detail => crate::db::text(row, "detail")?,
            actor => row.try_get::<Option<String>, _>("username")?, at => at, when => when(at), link => link,
        });
    }
    page.render("forums/log.html", context! { entries => entries })
}
