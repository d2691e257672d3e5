//! CSRF protection for every state-changing request: the Origin (or
//! Referer) must be this site, and the form must carry a token signed with
//! the site's secret and bound to the session (or, for visitors, to a
//! random cookie). Scripts may send the token as `X-CSRF-Token`.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::app::AppState;
use crate::crypto;
use crate::web::cookies;
use crate::web::error::AppError;
use crate::web::session::Session;

pub const COOKIE: &str = "coterie_csrf";
pub const FIELD: &str = "csrf_token";
/// Largest form body read for its token; uploads are bounded again by their handlers.
const MAX_FORM: usize = 1024 * 1024;
/// How far into a multipart body the token may sit. Only this much is held
/// to find it; the rest streams on to the handler and its own body limit.
const MAX_MULTIPART: usize = 64 * 1024 * 1024;

/// The token forms must carry for this visitor.
pub fn token(state: &AppState, session: Option<&Session>, visitor_cookie: Option<&str>) -> Option<String> {
    match (session, visitor_cookie) {
        (Some(s), _) => Some(crypto::sign(&state.secret, &format!("csrf:s:{}", s.id))),
        (None, Some(v)) if !v.is_empty() => Some(crypto::sign(&state.secret, &format!("csrf:v:{v}"))),
        _ => None,
    }
}

pub async fn guard(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if matches!(*request.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
        return next.run(request).await;
    }
    match check(&state, request).await {
        Ok(request) => next.run(request).await,
        Err(err) => err.into_response(),
    }
}

async fn check(state: &AppState, request: Request) -> Result<Request, AppError> {
    if !same_origin(state, request.headers()) {
        return Err(AppError::Csrf("the request came from another site"));
    }
    let expected = token(
        state,
        request.extensions().get::<Session>(),
        cookies::get(request.headers(), COOKIE),
    )
    .ok_or(AppError::Csrf("no CSRF cookie or session"))?;
    if let Some(sent) = request.headers().get("x-csrf-token").and_then(|v| v.to_str().ok()) {
        return if crypto::equal(sent, &expected) { Ok(request) } else { Err(AppError::Csrf("wrong header token")) };
    }
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let (parts, body) = request.into_parts();
    if content_type.starts_with("multipart/form-data") {
        let (sent, body) = multipart_field(&content_type, body).await?;
        return match sent {
            Some(sent) if crypto::equal(&sent, &expected) => Ok(Request::from_parts(parts, body)),
            Some(_) => Err(AppError::Csrf("wrong form token")),
            None => Err(AppError::Csrf("missing form token")),
        };
    }
    let bytes = axum::body::to_bytes(body, MAX_FORM).await.map_err(|_| AppError::PayloadTooLarge)?;
    let sent = if content_type.starts_with("application/x-www-form-urlencoded") { form_field(&bytes) } else { None };
    match sent {
        Some(sent) if crypto::equal(&sent, &expected) => Ok(Request::from_parts(parts, Body::from(bytes))),
        Some(_) => Err(AppError::Csrf("wrong form token")),
        None => Err(AppError::Csrf("missing form token")),
    }
}

fn form_field(body: &[u8]) -> Option<String> {
    serde_urlencoded::from_bytes::<Vec<(String, String)>>(body)
        .ok()?
        .into_iter()
        .find(|(k, _)| k == FIELD)
        .map(|(_, v)| v)
}

/// The token field of a multipart body, and the body to hand on: what was
/// read to find the token, then the rest, still unread. Reading stops at
/// the token, so a large upload is never held here whole.
async fn multipart_field(content_type: &str, body: Body) -> Result<(Option<String>, Body), AppError> {
    use futures_util::StreamExt;
    use std::sync::{Arc, Mutex};
    use std::task::Poll;

    let Ok(boundary) = multer::parse_boundary(content_type) else { return Ok((None, Body::empty())) };
    let source = Arc::new(Mutex::new(body.into_data_stream()));
    let read: Arc<Mutex<(Vec<bytes::Bytes>, usize)>> = Arc::default();
    let tee = {
        let (source, read) = (source.clone(), read.clone());
        futures_util::stream::poll_fn(move |cx| {
            let next = source.lock().unwrap().poll_next_unpin(cx);
            if let Poll::Ready(Some(Ok(chunk))) = &next {
                let mut read = read.lock().unwrap();
                read.1 += chunk.len();
                if read.1 > MAX_MULTIPART {
                    return Poll::Ready(Some(Err(std::io::Error::other("the form token is too far into the body"))));
                }
                read.0.push(chunk.clone());
            }
            next.map(|item| item.map(|r| r.map_err(std::io::Error::other)))
        })
    };
    let mut multipart = multer::Multipart::new(tee, boundary);
    let mut sent = None;
    while let Ok(Some(field)) = multipart.next_field().await {
        if field.name() == Some(FIELD) {
            sent = field.text().await.ok();
            break;
        }
    }
    drop(multipart);
    let (chunks, total) = std::mem::take(&mut *read.lock().unwrap());
    if sent.is_none() && total > MAX_MULTIPART {
        return Err(AppError::PayloadTooLarge);
    }
    let rest = futures_util::stream::poll_fn(move |cx| source.lock().unwrap().poll_next_unpin(cx));
    let read_part = futures_util::stream::iter(chunks.into_iter().map(Ok::<_, axum::Error>));
    Ok((sent, Body::from_stream(read_part.chain(rest))))
}

/// Browsers name the page a form was sent from; it must be this site.
/// Requests that name none (scripts, old clients) still need the token.
fn same_origin(state: &AppState, headers: &HeaderMap) -> bool {
    let source = match (headers.get(header::ORIGIN), headers.get(header::REFERER)) {
        (Some(origin), _) => origin.to_str().unwrap_or("null").to_string(),
        (None, Some(referer)) => referer.to_str().unwrap_or("null").to_string(),
        (None, None) => return true,
    };
    let Some(source_host) = authority(&source) else { return false };
    let public = state.config.public_url();
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    authority(&public) == Some(source_host) || host == Some(source_host)
}

/// `host:port` of an absolute http(s) URL.
fn authority(url: &str) -> Option<&str> {
    let rest = url.strip_prefix("https://").or_else(|| url.strip_prefix("http://"))?;
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    Some(&rest[..end]).filter(|a| !a.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authority_of_urls() {
        assert_eq!(authority("https://shop.example:8443/a?b"), Some("shop.example:8443"));
        assert_eq!(authority("http://127.0.0.1:8000"), Some("127.0.0.1:8000"));
        assert_eq!(authority("null"), None);
        assert_eq!(authority("javascript:alert(1)"), None);
    }

    #[test]
    fn token_in_a_urlencoded_body() {
        assert_eq!(form_field(b"a=1&csrf_token=abc%2Bd&b=2").as_deref(), Some("abc+d"));
        assert_eq!(form_field(b"a=1"), None);
    }
}
