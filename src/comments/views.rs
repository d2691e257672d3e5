//! Posting, editing, deleting and removing comments, and a comment's own page.

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Form, Json};
use minijinja::context;
use serde::Deserialize;

use super::store::{self, Comment, DELETED, MAX_BODY, MAX_DEPTH, REMOVED, VISIBLE};
use crate::accounts::store as members;
use crate::app::AppState;
use crate::content::{self, Kind};
use crate::db::now;
use crate::web::error::{AppError, AppResult};
use crate::web::page::{redirect_with_flash, Page};
use crate::web::session::Member;
use crate::web::{rate_limit, safe_next};

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct CommentForm {
    body: String,
    /// The comment being replied to.
    parent: String,
    next: String,
    /// A field people never see; bots fill it in.
    homepage: String,
}

fn wants_json(headers: &HeaderMap) -> bool {
    headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|a| a.contains("application/json"))
}

/// Where to go back to: the page the form was on, at the comment.
fn back(kind: &Kind, target_id: i64, next: &str, anchor: &str) -> String {
    let base = if next.is_empty() { kind.permalink(target_id) } else { safe_next(Some(next)) };
    let base = base.split('#').next().unwrap_or("/").to_string();
    format!("{base}#{anchor}")
}

/// Checks a comment body; the message is for the form.
fn check_body(body: &str) -> Result<(), String> {
    if body.trim().is_empty() {
        return Err("Write something first.".into());
    }
    if body.chars().count() > MAX_BODY {
        return Err(format!("Keep comments under {MAX_BODY} characters."));
    }
    Ok(())
}

fn refuse(headers: &HeaderMap, state: &AppState, kind: &Kind, target_id: i64, next: &str, message: String) -> Response {
    if wants_json(headers) {
        return (StatusCode::UNPROCESSABLE_ENTITY, Json(serde_json::json!({ "error": message }))).into_response();
    }
    let mut response = redirect_with_flash(state, &back(kind, target_id, next, "comments"), "error", &message);
    *response.status_mut() = StatusCode::SEE_OTHER;
    response
}

pub async fn create(
    State(state): State<AppState>,
    Member(me): Member,
    Path((kind, target_id)): Path<(String, i64)>,
    headers: HeaderMap,
    Form(form): Form<CommentForm>,
) -> AppResult<Response> {
    let kind = content::kind(&kind).filter(|k| k.comments).ok_or(AppError::NotFound)?;
    if !form.homepage.is_empty() {
        return Err(AppError::BadRequest("That did not look like a person posting.".into()));
    }
    content::owner(&state, kind, target_id).await?.ok_or(AppError::NotFound)?;
    let new_member = now() - me.user.created_at < 86_400;
    let limit = state.config.comments.per_window;
    rate_limit(&state, "comment", &me.user.id.to_string(), if new_member { (limit / 3).max(1) } else { limit }).await?;
    if let Err(message) = check_body(&form.body) {
        return Ok(refuse(&headers, &state, kind, target_id, &form.next, message));
    }
    let parent = match form.parent.trim() {
        "" => None,
        id => {
            let id: i64 = id.parse().map_err(|_| AppError::BadRequest("That is not a comment to reply to.".into()))?;
            let parent = store::by_id(&state, id).await?.ok_or(AppError::NotFound)?;
            if parent.kind != kind.name || parent.target_id != target_id {
                return Err(AppError::BadRequest("You can only reply to a comment on the same page.".into()));
            }
            if parent.status != VISIBLE {
                return Ok(refuse(&headers, &state, kind, target_id, &form.next, "That comment has been deleted; it cannot take replies.".into()));
            }
            if parent.depth >= MAX_DEPTH {
                return Ok(refuse(&headers, &state, kind, target_id, &form.next, "This thread is too deep: reply further up.".into()));
            }
            Some(parent)
        }
    };
    if store::last_body_by(&state, me.user.id).await?.is_some_and(|last| last.trim() == form.body.trim()) {
        return Ok(refuse(&headers, &state, kind, target_id, &form.next, "You just posted that.".into()));
    }
    let id = store::create(&state, kind, target_id, me.user.id, parent.as_ref(), &form.body).await?;
    if wants_json(&headers) {
        let comment = store::by_id(&state, id).await?.ok_or(AppError::NotFound)?;
        let views = store::subtree(&state, comment, Some(&me.user)).await?;
        let html = state.templates.render(
            "comments/one.html",
            context! { comment => views.into_iter().next(), csrf_token => crate::web::csrf::token(&state, Some(&me), None), user => me.user.view(&state.config), kind => kind.name, target_id => target_id },
        )?;
        return Ok(Json(serde_json::json!({ "id": id, "html": html })).into_response());
    }
    Ok(Redirect::to(&back(kind, target_id, &form.next, &format!("comment-{id}"))).into_response())
}

async fn find(state: &AppState, id: i64) -> AppResult<(Comment, &'static Kind)> {
    let comment = store::by_id(state, id).await?.ok_or(AppError::NotFound)?;
    let kind = content::kind(&comment.kind).ok_or(AppError::NotFound)?;
    Ok((comment, kind))
}

/// A comment with its replies on a page of its own: its permalink, and where
/// "continue this thread" leads.
pub async fn permalink(State(state): State<AppState>, page: Page, Path(id): Path<i64>) -> AppResult<Response> {
    let (comment, kind) = find(&state, id).await?;
    content::owner(&state, kind, comment.target_id).await?.ok_or(AppError::NotFound)?;
    let viewer = page.session.as_ref().map(|s| s.user.clone());
    let target = kind.permalink(comment.target_id);
    let (parent, target_id) = (comment.parent_id, comment.target_id);
    let views = store::subtree(&state, comment, viewer.as_ref()).await?;
    let mut shown = vec![crate::pagecache::tags::item(kind.name, target_id)];
    store::author_tags(&views, &mut shown);
    page.tagged(shown).render(
        "comments/permalink.html",
        context! { comments => views, target => target, parent => parent, kind => kind.name, target_id => target_id },
    )
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct EditForm {
    body: String,
}

/// May `me` still edit `comment`? Only its author, within the window.
fn editable(state: &AppState, me: &members::User, comment: &Comment) -> AppResult<()> {
    if comment.user_id != Some(me.id) || comment.status != VISIBLE {
        return Err(AppError::forbidden("You can only edit your own comments."));
    }
    let window = state.config.comments.edit_minutes;
    if now() - comment.created_at > window * 60 {
        return Err(AppError::forbidden(&format!("Comments can be edited for {window} minutes after posting.")));
    }
    Ok(())
}

pub async fn edit_page(State(state): State<AppState>, Member(me): Member, page: Page, Path(id): Path<i64>) -> AppResult<Response> {
    let (comment, kind) = find(&state, id).await?;
    editable(&state, &me.user, &comment)?;
    let back = back(kind, comment.target_id, "", &format!("comment-{id}"));
    page.render("comments/edit.html", context! { id => id, body => comment.body, back => back, errors => context! {} })
}

pub async fn edit(State(state): State<AppState>, Member(me): Member, page: Page, Path(id): Path<i64>, Form(form): Form<EditForm>) -> AppResult<Response> {
    let (comment, kind) = find(&state, id).await?;
    editable(&state, &me.user, &comment)?;
    let back = back(kind, comment.target_id, "", &format!("comment-{id}"));
    if let Err(message) = check_body(&form.body) {
        return page.render_status(
            StatusCode::UNPROCESSABLE_ENTITY,
            "comments/edit.html",
            context! { id => id, body => form.body, back => back, errors => context! { body => message } },
        );
    }
    state
        .db
        .query("UPDATE comments SET body = ?, body_html = ?, edited_at = ? WHERE id = ? AND status = 0")
        .bind(form.body.clone())
        .bind(crate::markdown::render(&form.body))
        .bind(now())
        .bind(id)
        .execute(state.db.w())
        .await?;
    content::touch(&state, kind, comment.target_id).await;
    Ok(Redirect::to(&back).into_response())
}

/// The author deletes: the text goes, "[deleted]" keeps the thread's shape.
pub async fn delete(State(state): State<AppState>, Member(me): Member, Path(id): Path<i64>) -> AppResult<Response> {
    let (comment, kind) = find(&state, id).await?;
    if comment.user_id != Some(me.user.id) {
        return Err(AppError::forbidden("You can only delete your own comments."));
    }
    store::hide(&state, kind, &comment, DELETED).await?;
    let back = back(kind, comment.target_id, "", &format!("comment-{id}"));
    Ok(redirect_with_flash(&state, &back, "success", "Your comment is deleted."))
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct RemoveForm {
    reason: String,
}

/// A moderator removes someone's comment, with a reason kept in the log.
pub async fn remove(State(state): State<AppState>, Member(me): Member, Path(id): Path<i64>, Form(form): Form<RemoveForm>) -> AppResult<Response> {
    if !me.user.is_moderator() {
        return Err(AppError::forbidden("Only moderators can remove comments."));
    }
    let (comment, kind) = find(&state, id).await?;
    let reason = form.reason.trim();
    if reason.is_empty() || reason.chars().count() > 500 {
        return Err(AppError::BadRequest("Give a reason (up to 500 characters) for removing the comment.".into()));
    }
    store::hide(&state, kind, &comment, REMOVED).await?;
    members::audit(&state.db, me.user.id, "comment.remove", "comment", id, reason).await?;
    let back = back(kind, comment.target_id, "", &format!("comment-{id}"));
    Ok(redirect_with_flash(&state, &back, "success", "The comment is removed."))
}

