//! The web foundation shared by every app: errors, sessions, CSRF,
//! rendering, static files, security headers, client addresses, rate limits.

pub mod assets;
pub mod cookies;
pub mod csrf;
pub mod error;
pub mod page;
pub mod ranges;
pub mod render;
pub mod session;

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Response};
use minijinja::context;

use crate::app::AppState;
use error::{AppError, ErrorPage};

/// Form errors by field name; `_form` holds an error about the whole form.
pub type FieldErrors = std::collections::BTreeMap<&'static str, String>;

/// Security headers on every response. The policy allows no inline script
/// and no inline style; avatars may come from Gravatar.
pub async fn security_headers(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    add_security_headers(&state.config, response.headers_mut());
    response
}

/// The headers of [`security_headers`], added to `h`.
pub fn add_security_headers(config: &crate::config::Config, h: &mut axum::http::HeaderMap) {
    let csp = "default-src 'self'; img-src 'self' data: https://www.gravatar.com https://gravatar.com; \
               style-src 'self'; script-src 'self'; object-src 'none'; base-uri 'self'; \
               form-action 'self'; frame-ancestors 'none'";
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(csp));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("strict-origin-when-cross-origin"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert("permissions-policy", HeaderValue::from_static("camera=(), microphone=(), geolocation=()"));
    if config.secure_cookies() {
        h.insert(header::STRICT_TRANSPORT_SECURITY, HeaderValue::from_static("max-age=31536000"));
    }
}

/// Turns every error response into the theme's friendly error page.
pub async fn error_pages(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if request.uri().path().starts_with("/metrics") {
        return next.run(request).await;
    }
    let session = request.extensions().get::<session::Session>().cloned();
    let response = next.run(request).await;
    themed_error(&state, response, session.as_ref())
}

/// `response` as the themed error page if it is an error without a page of
/// its own (a form re-rendered with its errors keeps its body).
pub fn themed_error(state: &AppState, response: Response, session: Option<&session::Session>) -> Response {
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let content_type = response.headers().get(header::CONTENT_TYPE).map(|v| v.as_bytes().to_vec()).unwrap_or_default();
    let page = response.extensions().get::<ErrorPage>().cloned();
    // A form re-rendered with its errors, or an answer to a script, keeps its body.
    if page.is_none() && (content_type.starts_with(b"text/html") || content_type.starts_with(b"application/json")) {
        return response;
    }
    let page = page.unwrap_or_else(|| ErrorPage::for_status(status));
    let body = state
        .templates
        .render(
            "errors/error.html",
            context! {
                status => status.as_u16(), title => page.title, message => page.message,
                site => context! { name => state.config.site_name.clone(), public_url => state.config.public_url() },
                path => "",
                user => session.map(|s| s.user.view(&state.config)),
                csrf_token => session.and_then(|s| csrf::token(state, Some(s), None)),
            },
        )
        .unwrap_or_else(|err| {
            tracing::error!(error = %err, "the error page template failed");
            format!("<!doctype html><title>{0}</title><h1>{0}</h1>", status.as_u16())
        });
    let (mut parts, _) = response.into_parts();
    parts.headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    parts.headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("private, no-store"));
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.remove(header::CONTENT_ENCODING);
    Response::from_parts(parts, Html(body).into_response().into_body())
}

/// The client's address: the peer, or, when the peer is a trusted proxy,
/// the last address in X-Forwarded-For that is not one.
#[derive(Clone, Debug)]
pub struct ClientIp(pub IpAddr);

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip())
            .unwrap_or(IpAddr::from([127, 0, 0, 1]));
        let trusted = |ip: &IpAddr| state.config.trusted_proxies.iter().any(|t| t.parse::<IpAddr>().ok() == Some(*ip));
        if !trusted(&peer) {
            return Ok(ClientIp(peer));
        }
        let forwarded = parts
            .headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(|s| s.trim().parse::<IpAddr>().ok())
            .collect::<Vec<_>>();
        Ok(ClientIp(forwarded.into_iter().rev().find(|ip| !trusted(ip)).unwrap_or(peer)))
    }
}

/// Counts one attempt at `scope` by `who`, and refuses it past `limit` per
/// window. Counters live in the cache, so app processes sharing a cache
/// share the limits.
pub async fn rate_limit(state: &AppState, scope: &str, who: &str, limit: u64) -> Result<(), AppError> {
    let window = state.config.rate_limits.window_seconds.max(1);
    let slot = crate::db::now() as u64 / window;
    let key = format!("rl:{scope}:{}:{slot}", crate::crypto::sha256_hex(who.as_bytes()));
    let count = state.cache.incr(&key, Duration::from_secs(window)).await;
    if count > limit {
        let retry_after = window - (crate::db::now() as u64 % window);
        return Err(AppError::TooManyRequests { retry_after });
    }
    Ok(())
}

/// Where to go after logging in: a path on this site, never another site.
pub fn safe_next(next: Option<&str>) -> String {
    match next.map(str::trim) {
        Some(n)
            if n.starts_with('/')
                && !n.starts_with("//")
                && !n.starts_with("/\\")
                && !n.chars().any(|c| c.is_control() || c == '\\') =>
        {
            n.to_string()
        }
        _ => "/".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_stays_on_this_site() {
        assert_eq!(safe_next(Some("/u/ava?tab=photos")), "/u/ava?tab=photos");
        for bad in ["https://evil.example/", "//evil.example", "/\\evil.example", "javascript:alert(1)", "/\t/evil", ""] {
            assert_eq!(safe_next(Some(bad)), "/", "{bad}");
        }
        assert_eq!(safe_next(None), "/");
    }
}
