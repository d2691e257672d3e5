//! Member profiles: `/u/{username}`, the member directory, and staff
//! deactivating a member.

pub mod avatar;

use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Form, Router};
use minijinja::context;
use serde::Deserialize;

use crate::accounts::store;
use crate::app::AppState;
use crate::web::error::{AppError, AppResult};
use crate::web::page::{redirect_with_flash, Page};
use crate::web::session::{self, Member};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/u/{username}", get(profile))
        .route("/u/{username}/deactivate", post(set_active))
        .route("/members", get(members))
}

async fn profile(State(state): State<AppState>, page: Page, Path(username): Path<String>) -> AppResult<Response> {
    let user = store::by_username(&state.db, &username).await?.ok_or(AppError::NotFound)?;
    let viewer = page.session.as_ref().map(|s| &s.user);
    // A deactivated member's profile is hidden from everyone but staff.
    if !user.is_active && !viewer.is_some_and(|v| v.is_staff()) {
        return Err(AppError::NotFound);
    }
    let is_self = viewer.is_some_and(|v| v.id == user.id);
    let photos = crate::photos::profile_section(&state, &user).await?;
    // The photo section shows scores and counts of any of their photos.
    let page = page.tagged([crate::pagecache::tags::user(user.id), crate::pagecache::tags::PHOTOS.to_string()]);
    page.render("profiles/profile.html", context! { profile => user.profile(&state.config), is_self => is_self, photos => photos })
}

const PER_PAGE: i64 = 24;

#[derive(Deserialize)]
struct PageQuery {
    page: Option<String>,
}

async fn members(State(state): State<AppState>, page: Page, Query(q): Query<PageQuery>) -> AppResult<Response> {
    let number = match q.page.as_deref() {
        None | Some("") => 1,
        Some(n) => n.parse::<i64>().ok().filter(|n| (1..=10_000).contains(n)).ok_or(AppError::NotFound)?,
    };
    let mut users = store::newest(&state.db, PER_PAGE + 1, (number - 1) * PER_PAGE).await?;
    let has_next = users.len() as i64 > PER_PAGE;
    users.truncate(PER_PAGE as usize);
    if users.is_empty() && number > 1 {
        return Err(AppError::NotFound);
    }
    let members: Vec<_> = users.iter().map(|u| u.profile(&state.config)).collect();
    page.tagged([crate::pagecache::tags::MEMBERS.to_string()]).render(
        "members.html",
        context! { members => members, page => number, has_next => has_next, has_prev => number > 1 },
    )
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ActiveForm {
    active: String,
}

/// Staff turn a member off (they cannot log in, their sessions end at once)
/// or back on. Recorded in the audit log.
async fn set_active(
    State(state): State<AppState>,
    Member(me): Member,
    Path(username): Path<String>,
    Form(form): Form<ActiveForm>,
) -> AppResult<Response> {
    if !me.user.is_staff() {
        return Err(AppError::forbidden("Only staff can deactivate members."));
    }
    let user = store::by_username(&state.db, &username).await?.ok_or(AppError::NotFound)?;
    let active = match form.active.as_str() {
        "1" => true,
        "0" => false,
        _ => return Err(AppError::BadRequest("Say active=1 or active=0.".into())),
    };
    if user.id == me.user.id {
        return Err(AppError::forbidden("You cannot deactivate your own account."));
    }
    state
        .db
        .query("UPDATE users SET is_active = ?, updated_at = ? WHERE id = ?")
        .bind(active as i64)
        .bind(crate::db::now())
        .bind(user.id)
        .execute(state.db.w())
        .await?;
    if !active {
        session::end_all(&state, user.id, None).await?;
    }
    // Their content is hidden, or shown again, on every page.
    crate::pagecache::tags::touch(&state, &[crate::pagecache::tags::SITE]).await;
    let action = if active { "member.reactivate" } else { "member.deactivate" };
    store::audit(&state.db, me.user.id, action, "user", user.id, &user.username).await?;
    let text = if active { format!("{} can log in again.", user.username) } else { format!("{} is deactivated and logged out.", user.username) };
    Ok(redirect_with_flash(&state, &format!("/u/{}", user.username), "success", &text))
}
