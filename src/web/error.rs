//! The one error type of every handler. A 500's details are logged, never
//! shown; every error becomes a friendly page (see `error_pages`).

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("not found")]
    NotFound,
    #[error("forbidden: {0}")]
    Forbidden(String),
    #[error("bad request: {0}")]
    BadRequest(String),
    #[error("CSRF check failed: {0}")]
    Csrf(&'static str),
    #[error("too many requests")]
    TooManyRequests { retry_after: u64 },
    #[error("payload too large")]
    PayloadTooLarge,
    #[error("service unavailable: {0}")]
    Unavailable(String),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

/// What the error page shows; attached to the response for `error_pages`.
#[derive(Debug, Clone)]
pub struct ErrorPage {
    pub title: &'static str,
    pub message: String,
}

impl ErrorPage {
    pub fn for_status(status: StatusCode) -> ErrorPage {
        let (title, message) = match status.as_u16() {
            400 => ("Bad request", "We could not understand that request."),
            403 => ("Not allowed", "You do not have permission to do that."),
            404 => ("Page not found", "The page you asked for does not exist, or has moved."),
            405 => ("Not allowed", "That action is not available on this page."),
            413 => ("File too large", "What you sent is larger than we accept."),
            415 | 422 => ("Bad request", "We could not read what you sent. Please check the form and try again."),
            429 => ("Slow down", "You have tried that too many times. Please wait a few minutes and try again."),
            503 => ("Back soon", "The site is having trouble reaching its database. Please try again in a moment."),
            _ => ("Something went wrong", "Something went wrong on our side. It has been logged; please try again."),
        };
        ErrorPage { title, message: message.to_string() }
    }
}

impl AppError {
    pub fn status(&self) -> StatusCode {
        match self {
            AppError::NotFound => StatusCode::NOT_FOUND,
            AppError::Forbidden(_) | AppError::Csrf(_) => StatusCode::FORBIDDEN,
            AppError::BadRequest(_) => StatusCode::BAD_REQUEST,
            AppError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            AppError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            AppError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn forbidden(message: &str) -> AppError {
        AppError::Forbidden(message.to_string())
    }
}

impl From<sqlx::Error> for AppError {
    fn from(err: sqlx::Error) -> AppError {
        match err {
            sqlx::Error::RowNotFound => AppError::NotFound,
            sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) | sqlx::Error::PoolClosed => {
                AppError::Unavailable(err.to_string())
            }
            other => AppError::Internal(other.into()),
        }
    }
}

impl From<minijinja::Error> for AppError {
    fn from(err: minijinja::Error) -> AppError {
        AppError::Internal(anyhow::Error::new(err).context("template failed"))
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let status = self.status();
        let mut page = ErrorPage::for_status(status);
        match &self {
            AppError::Internal(err) => tracing::error!(error = ?err, "request failed"),
            AppError::Unavailable(err) => tracing::warn!(error = %err, "service unavailable"),
            AppError::Forbidden(message) | AppError::BadRequest(message) => page.message = message.clone(),
            AppError::Csrf(why) => {
                tracing::info!(why, "CSRF check failed");
                page.message = "This form has expired or did not come from this site. Please go back, reload the page and try again.".into();
            }
            _ => {}
        }
        let mut response = (status, [(header::CACHE_CONTROL, "no-store")]).into_response();
        if let AppError::TooManyRequests { retry_after } = self {
            response.headers_mut().insert(header::RETRY_AFTER, retry_after.into());
        }
        response.extensions_mut().insert(page);
        response
    }
}

pub type AppResult<T> = Result<T, AppError>;
