//! Moderators' actions on topics (sticky, lock, move, delete), each
//! recorded in the audit log, and the log page that shows them.

use axum::body::Bytes;
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
            crate::pagecache::tags::touch(&state, &[crate::pagecache::tags::SITE]).await;
            audit(&state.db, me.user.id, "forum.topic.delete", "forum_topic", topic.id, &topic.title).await?;
            return Ok(redirect_with_flash(&state, &format!("/forums/{}", forum.slug), "success", "The topic is deleted."));
        }
        _ => return Err(AppError::BadRequest("Unknown moderation action.".into())),
    };
    // Moderation is rare and moves things between pages: every page is redone.
    crate::pagecache::tags::touch(&state, &[crate::pagecache::tags::SITE]).await;
    let action = format!("forum.topic.{}", form.action);
    audit(&state.db, me.user.id, &action, "forum_topic", topic.id, &detail).await?;
    Ok(redirect_with_flash(&state, &topic.path(), "success", &message))
}

/// Moves the chosen replies (repeated field `posts`) into a new topic
/// (`title`) in a forum (`forum`). The checkboxes sit on the posts, outside
/// the form, so the body is read as a list of pairs.
pub async fn split(State(state): State<AppState>, Member(me): Member, Path(param): Path<String>, body: Bytes) -> AppResult<Response> {
    if !me.user.is_moderator() {
        return Err(AppError::forbidden("Only moderators and staff can do that."));
    }
    let (topic, _) = visible_topic(&state, parse_topic_param(&param)?.0, Some(&me.user)).await?;
    let fields: Vec<(String, String)> = serde_urlencoded::from_bytes(&body).map_err(|_| AppError::BadRequest("We could not read that form.".into()))?;
    let field = |name: &str| fields.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str()).unwrap_or_default();
    let mut posts = Vec::new();
    for (_, id) in fields.iter().filter(|(k, _)| k == "posts") {
        posts.push(id.parse::<i64>().map_err(|_| AppError::BadRequest("Choose the posts to split off.".into()))?);
    }
    if posts.is_empty() || posts.len() > 100 {
        return Err(AppError::BadRequest("Choose between 1 and 100 replies to split off.".into()));
    }
    let title = field("title");
    let mut errors = super::FieldErrors::new();
    super::posting::check_title(title, &mut errors);
    if let Some(message) = errors.remove("title") {
        return Err(AppError::BadRequest(format!("The new topic needs a title: {message}")));
    }
    let target = match field("forum").trim().parse::<i64>() {
        Ok(id) => super::store::forum_by_id(&state.db, id).await?,
        Err(_) => None,
    };
    let target = target.ok_or_else(|| AppError::BadRequest("That forum does not exist: nothing was split.".into()))?;
    let new_topic = match write::split_topic(&state.db, topic.id, &posts, target.id, title).await? {
        Ok(id) => id,
        Err(Refused::NotReplies) => {
            return Err(AppError::BadRequest("Only replies of this topic can be split off (not its opening post, not deleted posts).".into()))
        }
        Err(_) => return Err(AppError::NotFound),
    };
    crate::pagecache::tags::touch(&state, &[crate::pagecache::tags::SITE]).await;
    let detail = format!("{} posts from {} to {}", posts.len(), topic.title, super::clean_title(title));
    audit(&state.db, me.user.id, "forum.topic.split", "forum_topic", new_topic, &detail).await?;
    Ok(redirect_with_flash(&state, &format!("/forums/t/{new_topic}"), "success", "The posts are split into this new topic."))
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
