//! Member accounts: sign-up, email confirmation, log-in and log-out,
//! password reset, and the settings page.

pub mod migrations;
pub mod password;
pub mod settings;
pub mod store;
pub mod tokens;
pub mod validate;
mod views;

use axum::routing::{get, post};
use axum::Router;

use crate::app::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/accounts/signup", get(views::signup_page).post(views::signup))
        .route("/accounts/login", get(views::login_page).post(views::login))
        .route("/accounts/logout", post(views::logout))
        .route("/accounts/confirm/{token}", get(views::confirm))
        .route("/accounts/password/reset", get(views::reset_page).post(views::reset_request))
        .route("/accounts/password/reset/{token}", get(views::reset_token_page).post(views::reset_confirm))
        .merge(settings::router())
}

/// Queues one of the account emails (templates/emails/NAME.txt) to `to`.
pub async fn send_link_email(
    state: &AppState,
    to: &str,
    template: &str,
    subject: &str,
    username: &str,
    link: String,
    expires_hours: i64,
) -> Result<(), crate::web::error::AppError> {
    let body = state.templates.render(
        &format!("emails/{template}.txt"),
        minijinja::context! {
            site => minijinja::context! { name => state.config.site_name.clone(), public_url => state.config.public_url() },
            user => minijinja::context! { username => username },
            link => link, expires_hours => expires_hours,
        },
    )?;
    let email = crate::jobs::email::Email { to: to.to_string(), subject: format!("{subject} · {}", state.config.site_name), body };
    state.jobs.enqueue(crate::jobs::email::KIND, &email.payload(), crate::db::now()).await?;
    Ok(())
}
