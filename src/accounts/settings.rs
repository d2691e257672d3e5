//! The settings page and its forms: profile, avatar, email, password,
//! sessions, and deleting the account.

use axum::extract::{DefaultBodyLimit, Multipart, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use minijinja::{context, Value};
use serde::Deserialize;
use sqlx::Row as _;

use super::store::{self, User};
use super::tokens::{self, Purpose};
use super::{password, send_link_email, validate};
use crate::app::AppState;
use crate::profiles::avatar;
use crate::web::error::{AppError, AppResult};
use crate::pagecache::tags;
use crate::web::page::{redirect_with_flash, Page};
use crate::web::session::{self, Member};
use crate::web::{cookies, rate_limit, FieldErrors};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/accounts/settings", get(page))
        .route("/accounts/settings/profile", post(save_profile))
        .route("/accounts/settings/avatar", post(save_avatar).layer(DefaultBodyLimit::max(64 * 1024 * 1024)))
        .route("/accounts/settings/email", post(change_email))
        .route("/accounts/settings/password", post(change_password))
        .route("/accounts/settings/sessions", post(end_other_sessions))
        .route("/accounts/delete", post(delete_account))
}

const SETTINGS: &str = "/accounts/settings";

/// Renders the settings page, with `form` and `errors` from a failed form.
async fn render(state: &AppState, page: Page, user: &User, status: StatusCode, form: Value, errors: FieldErrors) -> AppResult<Response> {
    let sessions = state
        .db
        .query("SELECT COUNT(*) FROM sessions WHERE user_id = ? AND expires_at > ?")
        .bind(user.id)
        .bind(crate::db::now())
        .fetch_one(state.db.r())
        .await?
        .try_get::<i64, _>(0)?;
    let pending = tokens::pending_email(&state.db, user.id).await?;
    page.with_csrf().render_status(
        status,
        "accounts/settings.html",
        context! {
            profile => user.profile(&state.config), form => form, errors => errors,
            avatar_mode => user.avatar_mode.clone(), has_upload => user.avatar_key.is_some(),
            sessions => sessions, pending_email => pending, email => user.email.clone(),
            max_avatar_mb => state.config.avatars.max_bytes / (1024 * 1024),
        },
    )
}

async fn page(State(state): State<AppState>, Member(me): Member, page: Page) -> AppResult<Response> {
    render(&state, page, &me.user, StatusCode::OK, context! {}, FieldErrors::new()).await
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ProfileForm {
    display_name: String,
    bio: String,
    location: String,
    website: String,
}

async fn save_profile(State(state): State<AppState>, Member(me): Member, page: Page, Form(form): Form<ProfileForm>) -> AppResult<Response> {
    let mut errors = FieldErrors::new();
    if form.display_name.trim().chars().count() > 60 {
        errors.insert("display_name", "Use at most 60 characters.".into());
    }
    if form.bio.chars().count() > 2000 {
        errors.insert("bio", "Keep your bio under 2,000 characters.".into());
    }
    if form.location.trim().chars().count() > 80 {
        errors.insert("location", "Use at most 80 characters.".into());
    }
    if let Err(e) = validate::website(&form.website) {
        errors.insert("website", e);
    }
    if !errors.is_empty() {
        let values = context! { display_name => form.display_name, bio => form.bio, location => form.location, website => form.website };
        return render(&state, page, &me.user, StatusCode::UNPROCESSABLE_ENTITY, values, errors).await;
    }
    state
        .db
        .query("UPDATE users SET display_name = ?, bio = ?, bio_html = ?, location = ?, website = ?, updated_at = ? WHERE id = ?")
        .bind(form.display_name.trim().to_string())
        .bind(form.bio.clone())
        .bind(crate::markdown::render(&form.bio))
        .bind(form.location.trim().to_string())
        .bind(form.website.trim().to_string())
        .bind(crate::db::now())
        .bind(me.user.id)
        .execute(state.db.w())
        .await?;
    tags::touch_member(&state, me.user.id).await;
    Ok(redirect_with_flash(&state, &format!("/u/{}", me.user.username), "success", "Your profile is saved."))
}

/// A new picture (field `file`), or a choice between it and Gravatar
/// (field `avatar_mode`).
async fn save_avatar(State(state): State<AppState>, Member(me): Member, page: Page, mut multipart: Multipart) -> AppResult<Response> {
    rate_limit(&state, "avatar", &me.user.id.to_string(), 30).await?;
    let max = state.config.avatars.max_bytes;
    let mut mode = None;
    let mut upload: Option<Vec<u8>> = None;
    let mut too_large = false;
    while let Some(mut field) = multipart.next_field().await.map_err(|e| AppError::BadRequest(e.body_text()))? {
        match field.name() {
            Some("avatar_mode") => mode = Some(field.text().await.map_err(|e| AppError::BadRequest(e.body_text()))?),
            Some("file") => {
                let mut data = Vec::new();
                while let Some(chunk) = field.chunk().await.map_err(|e| AppError::BadRequest(e.body_text()))? {
                    if data.len() + chunk.len() > max {
                        too_large = true;
                        break;
                    }
                    data.extend_from_slice(&chunk);
                }
                if !data.is_empty() || too_large {
                    upload = Some(data);
                }
            }
            _ => {}
        }
    }
    let fail = |page: Page, message: String| async {
        render(&state, page, &me.user, StatusCode::UNPROCESSABLE_ENTITY, context! {}, FieldErrors::from([("file", message)])).await
    };
    if too_large {
        return fail(page, format!("That file is larger than {}.", human_size(max))).await;
    }
    if let Some(bytes) = upload {
        match avatar::replace(&state, &me.user, bytes).await? {
            Ok(()) => return Ok(redirect_with_flash(&state, SETTINGS, "success", "Your new picture is up.")),
            Err(message) => return fail(page, message).await,
        }
    }
    match mode.as_deref() {
        Some(m @ ("gravatar" | "upload")) => {
            if m == "upload" && me.user.avatar_key.is_none() {
                return fail(page, "Choose a picture to upload first.".into()).await;
            }
            state
                .db
                .query("UPDATE users SET avatar_mode = ?, updated_at = ? WHERE id = ?")
                .bind(m.to_string())
                .bind(crate::db::now())
                .bind(me.user.id)
                .execute(state.db.w())
                .await?;
            tags::touch_member(&state, me.user.id).await;
            Ok(redirect_with_flash(&state, SETTINGS, "success", "Your picture setting is saved."))
        }
        Some(_) => fail(page, "Choose Gravatar or your uploaded picture.".into()).await,
        None => fail(page, "Choose a picture to upload.".into()).await,
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct EmailForm {
    email: String,
    password: String,
}

async fn change_email(State(state): State<AppState>, Member(me): Member, page: Page, Form(form): Form<EmailForm>) -> AppResult<Response> {
    rate_limit(&state, "email-change", &me.user.id.to_string(), state.config.rate_limits.login_per_account).await?;
    let mut errors = FieldErrors::new();
    if let Err(e) = validate::email(&form.email) {
        errors.insert("email", e);
    } else if store::fold(&form.email) == store::fold(&me.user.email) {
        errors.insert("email", "That is already your email address.".into());
    } else if store::email_taken(&state.db, &form.email).await? {
        errors.insert("email", "Another account uses that email address.".into());
    }
    if !password::verify(form.password.clone(), Some(me.user.password_hash.clone())).await? {
        errors.insert("password", "That is not your current password.".into());
    }
    if !errors.is_empty() {
        return render(&state, page, &me.user, StatusCode::UNPROCESSABLE_ENTITY, context! { email => form.email.trim() }, errors).await;
    }
    let hours = state.config.accounts.confirm_token_hours;
    let email = form.email.trim();
    let token = tokens::issue(&state.db, me.user.id, Purpose::ChangeEmail, email, hours).await?;
    let link = format!("{}/accounts/confirm/{token}", state.config.public_url());
    send_link_email(&state, email, "email_change", "Confirm your new email address", &me.user.username, link, hours).await?;
    let text = format!("We sent a link to {email}. Your address changes when you click it.");
    Ok(redirect_with_flash(&state, SETTINGS, "info", &text))
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct PasswordForm {
    current_password: String,
    password: String,
}

async fn change_password(State(state): State<AppState>, Member(me): Member, page: Page, Form(form): Form<PasswordForm>) -> AppResult<Response> {
    rate_limit(&state, "password-change", &me.user.id.to_string(), state.config.rate_limits.login_per_account).await?;
    let mut errors = FieldErrors::new();
    if !password::verify(form.current_password.clone(), Some(me.user.password_hash.clone())).await? {
        errors.insert("current_password", "That is not your current password.".into());
    }
    let min = state.config.accounts.min_password_length;
    if let Some(e) = password::weakness(&form.password, min, &me.user.username, &me.user.email) {
        errors.insert("password", e);
    }
    if !errors.is_empty() {
        return render(&state, page, &me.user, StatusCode::UNPROCESSABLE_ENTITY, context! {}, errors).await;
    }
    store::set_password(&state.db, me.user.id, password::hash(form.password).await?).await?;
    session::end_all(&state, me.user.id, Some(&me.id)).await?;
    Ok(redirect_with_flash(&state, SETTINGS, "success", "Your password is changed. Other devices have been logged out."))
}

async fn end_other_sessions(State(state): State<AppState>, Member(me): Member) -> AppResult<Response> {
    let ended = session::end_all(&state, me.user.id, Some(&me.id)).await?;
    let text = match ended {
        0 => "You were not logged in anywhere else.".to_string(),
        1 => "Logged out of 1 other session.".to_string(),
        n => format!("Logged out of {n} other sessions."),
    };
    Ok(redirect_with_flash(&state, SETTINGS, "success", &text))
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct DeleteForm {
    password: String,
}

async fn delete_account(State(state): State<AppState>, Member(me): Member, page: Page, Form(form): Form<DeleteForm>) -> AppResult<Response> {
    if !password::verify(form.password, Some(me.user.password_hash.clone())).await? {
        let errors = FieldErrors::from([("delete_password", "That is not your current password.".to_string())]);
        return render(&state, page, &me.user, StatusCode::UNPROCESSABLE_ENTITY, context! {}, errors).await;
    }
    crate::comments::forget_member(&state, me.user.id).await?;
    crate::votes::forget_member(&state, me.user.id).await?;
    crate::photos::forget_member(&state, me.user.id).await?;
    crate::blog::forget_member(&state, me.user.id).await?;
    store::delete(&state.db, me.user.id).await?;
    // Their name leaves every page they were on.
    tags::touch(&state, &[tags::SITE]).await;
    avatar::remove_files(&state, &me.user).await;
    let mut response = redirect_with_flash(&state, "/", "info", "Your account and profile have been deleted.");
    response.headers_mut().append(header::SET_COOKIE, cookies::clear(session::COOKIE, state.config.secure_cookies()));
    Ok(response.into_response())
}

/// `5242880` as "5 MB", `200000` as "195 KB".
pub fn human_size(bytes: usize) -> String {
    if bytes >= 1024 * 1024 {
        format!("{} MB", (bytes as f64 / (1024.0 * 1024.0)).round())
    } else {
        format!("{} KB", (bytes as f64 / 1024.0).round())
    }
}
