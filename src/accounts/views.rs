//! Sign-up, confirmation, log-in, log-out and password reset pages.

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use minijinja::context;
use serde::Deserialize;

use super::store::{self, NewUser};
use super::tokens::{self, Purpose};
use super::{password, send_link_email, validate};
use crate::app::AppState;
use crate::db::is_unique_violation;
use crate::web::error::AppResult;
use crate::web::page::{redirect_with_flash, Page};
use crate::web::session::{self, Visitor};
use crate::web::{cookies, csrf, rate_limit, safe_next, ClientIp, FieldErrors};

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct SignupForm {
    username: String,
    email: String,
    password: String,
}

pub async fn signup_page(State(state): State<AppState>, page: Page, Visitor(visitor): Visitor) -> AppResult<Response> {
    if visitor.is_some() {
        return Ok(Redirect::to("/").into_response());
    }
    let min = state.config.accounts.min_password_length;
    page.with_csrf().render("accounts/signup.html", context! { form => context!{}, errors => context!{}, min_password_length => min })
}

pub async fn signup(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    page: Page,
    Form(form): Form<SignupForm>,
) -> AppResult<Response> {
    rate_limit(&state, "signup", &ip.to_string(), state.config.rate_limits.auth_per_ip).await?;
    let min = state.config.accounts.min_password_length;
    let mut errors = FieldErrors::new();
    if let Err(e) = validate::username(&form.username) {
        errors.insert("username", e);
    }
    if let Err(e) = validate::email(&form.email) {
        errors.insert("email", e);
    }
    if let Some(e) = password::weakness(&form.password, min, form.username.trim(), form.email.trim()) {
        errors.insert("password", e);
    }
    if !errors.contains_key("username") && store::username_taken(&state.db, &form.username).await? {
        errors.insert("username", "That username is taken. Please choose another.".into());
    }
    if !errors.contains_key("email") && store::email_taken(&state.db, &form.email).await? {
        errors.insert("email", "An account with that email address already exists. Log in, or reset your password.".into());
    }
    let rerender = |page: Page, errors: FieldErrors| {
        page.with_csrf().render_status(
            StatusCode::UNPROCESSABLE_ENTITY,
            "accounts/signup.html",
            context! {
                form => context! { username => form.username.trim(), email => form.email.trim() },
                errors => errors, min_password_length => min,
            },
        )
    };
    if !errors.is_empty() {
        return rerender(page, errors);
    }
    let confirm = state.config.accounts.require_email_confirmation;
    let new = NewUser {
        username: &form.username,
        email: &form.email,
        password_hash: password::hash(form.password.clone()).await?,
        role: "member",
        email_confirmed: !confirm,
        avatar_mode: &state.config.avatars.default_mode,
    };
    let id = match store::create(&state.db, new).await {
        Ok(id) => id,
        Err(e) if is_unique_violation(&e) => {
            // Someone took the name or address between our check and the insert.
            errors.insert("_form", "That username or email address was just taken. Please try another.".into());
            return rerender(page, errors);
        }
        Err(e) => return Err(e.into()),
    };
    crate::pagecache::tags::touch_member(&state, id).await;
    if confirm {
        send_confirmation(&state, id, form.username.trim(), form.email.trim()).await?;
        page.render("accounts/signup_done.html", context! { email => form.email.trim() })
    } else {
        let cookie = session::start(&state, id, &ip.to_string(), "").await?;
        let mut response = redirect_with_flash(&state, "/accounts/settings", "success", "Welcome! Add a picture and a few words about yourself.");
        response.headers_mut().append(header::SET_COOKIE, cookie);
        Ok(response)
    }
}

pub async fn send_confirmation(state: &AppState, id: i64, username: &str, email: &str) -> AppResult<()> {
    let hours = state.config.accounts.confirm_token_hours;
    let token = tokens::issue(&state.db, id, Purpose::Confirm, "", hours).await?;
    let link = format!("{}/accounts/confirm/{token}", state.config.public_url());
    send_link_email(state, email, "confirm", "Confirm your email address", username, link, hours).await
}

/// Confirms an address: a new member's, or the one a member is moving to.
pub async fn confirm(State(state): State<AppState>, page: Page, Path(token): Path<String>) -> AppResult<Response> {
    let claim = tokens::redeem(&state.db, &token, &[Purpose::Confirm, Purpose::ChangeEmail]).await?;
    let outcome = match claim {
        None => Err("This link has expired or has already been used. Log in to get a new one."),
        Some(claim) if claim.purpose == Purpose::Confirm => {
            state
                .db
                .query("UPDATE users SET email_confirmed = 1, updated_at = ? WHERE id = ?")
                .bind(crate::db::now())
                .bind(claim.user_id)
                .execute(state.db.w())
                .await?;
            Ok("Your email address is confirmed. Welcome!")
        }
        Some(claim) => {
            let changed = state
                .db
                .query("UPDATE users SET email = ?, email_key = ?, email_confirmed = 1, updated_at = ? WHERE id = ?")
                .bind(claim.data.clone())
                .bind(store::fold(&claim.data))
                .bind(crate::db::now())
                .bind(claim.user_id)
                .execute(state.db.w())
                .await;
            match changed {
                Ok(_) => {
                    // The Gravatar follows the address.
                    crate::pagecache::tags::touch_member(&state, claim.user_id).await;
                    Ok("Your new email address is confirmed.")
                }
                Err(e) if is_unique_violation(&e) => Err("Another account now uses that email address, so it was not changed."),
                Err(e) => return Err(e.into()),
            }
        }
    };
    let (ok, message) = match outcome {
        Ok(m) => (true, m),
        Err(m) => (false, m),
    };
    let status = if ok { StatusCode::OK } else { StatusCode::BAD_REQUEST };
    page.render_status(status, "accounts/confirm.html", context! { ok => ok, message => message })
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct LoginForm {
    login: String,
    password: String,
    next: String,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct NextQuery {
    next: String,
}

pub async fn login_page(page: Page, Visitor(visitor): Visitor, Query(q): Query<NextQuery>) -> AppResult<Response> {
    let next = safe_next(Some(&q.next));
    if visitor.is_some() {
        return Ok(Redirect::to(&next).into_response());
    }
    page.with_csrf().render("accounts/login.html", context! { form => context!{}, errors => context!{}, next => next })
}

pub async fn login(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    page: Page,
    Form(form): Form<LoginForm>,
) -> AppResult<Response> {
    let limits = &state.config.rate_limits;
    rate_limit(&state, "login-ip", &ip.to_string(), limits.auth_per_ip).await?;
    rate_limit(&state, "login-account", &store::fold(&form.login), limits.login_per_account).await?;
    let next = safe_next(Some(&form.next));
    let fail = |page: Page, message: &str| {
        page.with_csrf().render_status(
            StatusCode::UNPROCESSABLE_ENTITY,
            "accounts/login.html",
            context! { form => context! { login => form.login.trim() }, errors => context! { _form => message }, next => next },
        )
    };
    let user = if form.login.trim().is_empty() { None } else { store::by_login(&state.db, &form.login).await? };
    let ok = password::verify(form.password.clone(), user.as_ref().map(|u| u.password_hash.clone())).await?;
    let user = match user {
        Some(user) if ok => user,
        _ => return fail(page, "That username or email and password do not match. Please try again."),
    };
    if !user.is_active {
        return fail(page, "This account has been deactivated. Contact the community team if you think this is a mistake.");
    }
    if !user.email_confirmed {
        send_confirmation(&state, user.id, &user.username, &user.email).await?;
        return fail(page, "Please confirm your email address first: we have just sent you a new link.");
    }
    if let Some(old) = &page.session {
        session::end(&state, &old.id).await?;
    }
    let agent = headers.get(header::USER_AGENT).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let cookie = session::start(&state, user.id, &ip.to_string(), agent).await?;
    let mut response = Redirect::to(&next).into_response();
    let h = response.headers_mut();
    h.append(header::SET_COOKIE, cookie);
    // The visitor's form token is spent; the session brings its own.
    h.append(header::SET_COOKIE, cookies::clear(csrf::COOKIE, state.config.secure_cookies()));
    Ok(response)
}

pub async fn logout(State(state): State<AppState>, Visitor(visitor): Visitor) -> AppResult<Response> {
    if let Some(s) = visitor {
        session::end(&state, &s.id).await?;
    }
    let mut response = redirect_with_flash(&state, "/", "info", "You have logged out. See you soon.");
    response.headers_mut().append(header::SET_COOKIE, cookies::clear(session::COOKIE, state.config.secure_cookies()));
    Ok(response)
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct ResetForm {
    email: String,
}

pub async fn reset_page(page: Page) -> AppResult<Response> {
    page.with_csrf().render("accounts/password_reset.html", context! { form => context!{}, errors => context!{} })
}

/// Always answers the same way, so the form does not tell who is a member.
pub async fn reset_request(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    page: Page,
    Form(form): Form<ResetForm>,
) -> AppResult<Response> {
    rate_limit(&state, "reset-ip", &ip.to_string(), state.config.rate_limits.auth_per_ip).await?;
    if let Err(e) = validate::email(&form.email) {
        return page.with_csrf().render_status(
            StatusCode::UNPROCESSABLE_ENTITY,
            "accounts/password_reset.html",
            context! { form => context! { email => form.email.trim() }, errors => context! { email => e } },
        );
    }
    rate_limit(&state, "reset-account", &store::fold(&form.email), state.config.rate_limits.login_per_account).await?;
    let user = store::by_login(&state.db, &form.email).await?.filter(|u| u.is_active && store::fold(&u.email) == store::fold(&form.email));
    if let Some(user) = user {
        let hours = state.config.accounts.reset_token_hours;
        let token = tokens::issue(&state.db, user.id, Purpose::Reset, "", hours).await?;
        let link = format!("{}/accounts/password/reset/{token}", state.config.public_url());
        send_link_email(&state, &user.email, "reset", "Reset your password", &user.username, link, hours).await?;
    }
    page.render("accounts/password_reset_sent.html", context! {})
}

pub async fn reset_token_page(State(state): State<AppState>, page: Page, Path(token): Path<String>) -> AppResult<Response> {
    let valid = tokens::peek(&state.db, &token, &[Purpose::Reset]).await?.is_some();
    let status = if valid { StatusCode::OK } else { StatusCode::BAD_REQUEST };
    let min = state.config.accounts.min_password_length;
    page.with_csrf().render_status(
        status,
        "accounts/password_reset_confirm.html",
        context! { token => token, valid => valid, errors => context!{}, min_password_length => min },
    )
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct NewPasswordForm {
    password: String,
}

pub async fn reset_confirm(
    State(state): State<AppState>,
    page: Page,
    Path(token): Path<String>,
    Form(form): Form<NewPasswordForm>,
) -> AppResult<Response> {
    let min = state.config.accounts.min_password_length;
    let render = |page: Page, valid: bool, errors: FieldErrors| {
        page.with_csrf().render_status(
            if valid { StatusCode::UNPROCESSABLE_ENTITY } else { StatusCode::BAD_REQUEST },
            "accounts/password_reset_confirm.html",
            context! { token => token.clone(), valid => valid, errors => errors, min_password_length => min },
        )
    };
    let Some(claim) = tokens::peek(&state.db, &token, &[Purpose::Reset]).await? else {
        return render(page, false, FieldErrors::new());
    };
    let Some(user) = store::by_id(&state.db, claim.user_id).await? else {
        return render(page, false, FieldErrors::new());
    };
    if let Some(e) = password::weakness(&form.password, min, &user.username, &user.email) {
        return render(page, true, FieldErrors::from([("password", e)]));
    }
    let hash = password::hash(form.password).await?;
    // Redeem last: a weak password does not burn the link, a used link cannot be replayed.
    if tokens::redeem(&state.db, &token, &[Purpose::Reset]).await?.is_none() {
        return render(page, false, FieldErrors::new());
    }
    store::set_password(&state.db, user.id, hash).await?;
    state
        .db
        .query("UPDATE users SET email_confirmed = 1 WHERE id = ?")
        .bind(user.id)
        .execute(state.db.w())
        .await?;
    session::end_all(&state, user.id, None).await?;
    Ok(redirect_with_flash(&state, "/accounts/login", "success", "Your password has been changed. Log in with your new password."))
}
