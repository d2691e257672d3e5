//! Server-side sessions kept in the database, so several app processes
//! share them. The cookie holds a random token; the table holds its digest.

use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use sqlx::Row as _;

use crate::accounts::store::{self, User};
use crate::app::AppState;
use crate::crypto;
use crate::db::now;
use crate::web::cookies;
use crate::web::error::AppError;

pub const COOKIE: &str = "coterie_session";
/// How often `last_seen_at` is written while a member keeps browsing.
const TOUCH_EVERY: i64 = 300;

/// The logged-in member of this request.
#[derive(Clone, Debug)]
pub struct Session {
    /// Digest of the cookie's token: the row's key.
    pub id: String,
    pub user: User,
}

/// Loads the session named by the cookie into the request, and drops a
/// cookie that names no live session.
pub async fn load(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let Some(token) = cookies::get(request.headers(), COOKIE).map(str::to_string) else {
        return next.run(request).await;
    };
    let id = crypto::sha256_hex(token.as_bytes());
    match find(&state, &id).await {
        Ok(Some(session)) => {
            request.extensions_mut().insert(session);
            next.run(request).await
        }
        Ok(None) => {
            let mut response = next.run(request).await;
            response
                .headers_mut()
                .append(axum::http::header::SET_COOKIE, cookies::clear(COOKIE, state.config.secure_cookies()));
            response
        }
        Err(err) => crate::web::themed_error(&state, err.into_response(), None),
    }
}

async fn find(state: &AppState, id: &str) -> Result<Option<Session>, AppError> {
    let sql = state.db.sql(
        "SELECT s.expires_at, s.last_seen_at, u.* FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.id = ?",
    );
    let Some(row) = sqlx::query(sql).bind(id).fetch_optional(state.db.r()).await? else {
        return Ok(None);
    };
    let now = now();
    let user = User::from_row(&row)?;
    if row.try_get::<i64, _>("expires_at")? < now || !user.is_active {
        return Ok(None);
    }
    if now - row.try_get::<i64, _>("last_seen_at")? > TOUCH_EVERY {
        let extended = now + state.config.accounts.session_days * 86400;
        state
            .db
            .query("UPDATE sessions SET last_seen_at = ?, expires_at = ? WHERE id = ?")
            .bind(now)
            .bind(extended)
            .bind(id.to_string())
            .execute(state.db.w())
            .await?;
    }
    Ok(Some(Session { id: id.to_string(), user }))
}

/// Starts a new session for `user` (a new id at every log-in) and returns
/// the Set-Cookie header for it.
pub async fn start(
    state: &AppState,
    user_id: i64,
    ip: &str,
    user_agent: &str,
) -> Result<axum::http::HeaderValue, AppError> {
    let token = crypto::random_token();
    let now = now();
    let days = state.config.accounts.session_days;
    let agent: String = user_agent.chars().take(255).collect();
    state
        .db
        .query(
            "INSERT INTO sessions (id, user_id, created_at, last_seen_at, expires_at, ip, user_agent) VALUES (?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(crypto::sha256_hex(token.as_bytes()))
        .bind(user_id)
        .bind(now)
        .bind(now)
        .bind(now + days * 86400)
        .bind(ip.chars().take(64).collect::<String>())
        .bind(agent)
        .execute(state.db.w())
        .await?;
    store::touch_login(state, user_id).await?;
    Ok(cookies::set(COOKIE, &token, Some(days * 86400), state.config.secure_cookies()))
}

pub async fn end(state: &AppState, id: &str) -> Result<(), AppError> {
    state.db.query("DELETE FROM sessions WHERE id = ?").bind(id.to_string()).execute(state.db.w()).await?;
    Ok(())
}

/// Ends every session of `user_id` except `keep` (none to end them all).
pub async fn end_all(state: &AppState, user_id: i64, keep: Option<&str>) -> Result<u64, AppError> {
    let done = state
        .db
        .query("DELETE FROM sessions WHERE user_id = ? AND id <> ?")
        .bind(user_id)
        .bind(keep.unwrap_or("").to_string())
        .execute(state.db.w())
        .await?;
    Ok(done.rows_affected())
}

/// The logged-in member, or a redirect to the log-in page.
pub struct Member(pub Session);

impl FromRequestParts<AppState> for Member {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _state: &AppState) -> Result<Self, Self::Rejection> {
        match parts.extensions.get::<Session>() {
            Some(session) => Ok(Member(session.clone())),
            None => {
                // After a form post, come back to the page the form was on.
                let referer_path = || {
                    let referer = parts.headers.get(axum::http::header::REFERER)?.to_str().ok()?;
                    let host = parts.headers.get(axum::http::header::HOST)?.to_str().ok()?;
                    let rest = referer.strip_prefix("http://").or_else(|| referer.strip_prefix("https://"))?;
                    rest.strip_prefix(host).filter(|p| p.starts_with('/')).map(str::to_string)
                };
                let next = if parts.method == axum::http::Method::GET {
                    parts.uri.path_and_query().map(|p| p.as_str().to_string()).unwrap_or_else(|| "/".into())
                } else {
                    referer_path().unwrap_or_else(|| "/".into())
                };
                let next = next.as_str();
                let target = format!(
                    "/accounts/login?next={}",
                    percent_encoding::utf8_percent_encode(next, percent_encoding::NON_ALPHANUMERIC)
                );
                Err(Redirect::to(&target).into_response())
            }
        }
    }
}

/// The logged-in member if there is one.
pub struct Visitor(pub Option<Session>);

impl FromRequestParts<AppState> for Visitor {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &AppState) -> Result<Self, Self::Rejection> {
        Ok(Visitor(parts.extensions.get::<Session>().cloned()))
    }
}
