//! Rendering a page for a request: the context every template gets (site,
//! member, CSRF token, flash message, path), the right Cache-Control, and
//! the cookies that go with it.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use minijinja::{context, Value};
use serde::Serialize;

use crate::app::AppState;
use crate::crypto;
use crate::pagecache::PageTags;
use crate::web::error::AppResult;
use crate::web::session::Session;
use crate::web::{cookies, csrf};

pub const FLASH_COOKIE: &str = "coterie_flash";

#[derive(Serialize, Clone)]
pub struct Flash {
    pub kind: String,
    pub text: String,
}

pub struct Page {
    state: AppState,
    pub session: Option<Session>,
    path: String,
    flash: Option<Flash>,
    visitor_csrf: Option<String>,
    with_csrf: bool,
    /// What the page shows, for the page cache (empty: never cached).
    tags: Vec<String>,
    until: Option<i64>,
    views: Option<(&'static str, i64)>,
}

impl FromRequestParts<AppState> for Page {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let flash = cookies::get(&parts.headers, FLASH_COOKIE).and_then(|c| read_flash(state, c));
        Ok(Page {
            state: state.clone(),
            session: parts.extensions.get::<Session>().cloned(),
            path: parts.uri.path().to_string(),
            flash,
            visitor_csrf: cookies::get(&parts.headers, csrf::COOKIE).map(str::to_string),
            with_csrf: false,
            tags: Vec::new(),
            until: None,
            views: None,
        })
    }
}

impl Page {
    /// This page carries a form: give it a CSRF token.
    pub fn with_csrf(mut self) -> Page {
        self.with_csrf = true;
        self
    }

    /// The page shows these (see `pagecache::tags`): a visitor's copy may be
    /// served from the page cache until a write touches one of them.
    pub fn tagged(mut self, tags: impl IntoIterator<Item = String>) -> Page {
        self.tags.extend(tags);
        self
    }

    /// The page changes by itself at this Unix time (a scheduled post falls due).
    pub fn changes_at(mut self, at: Option<i64>) -> Page {
        self.until = match (self.until, at) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self
    }

    /// Showing this page from the cache counts a view of this row.
    pub fn counting_view(mut self, table: &'static str, id: i64) -> Page {
        self.views = Some((table, id));
        self
    }

    pub fn render(self, template: &str, extra: Value) -> AppResult<Response> {
        self.render_status(StatusCode::OK, template, extra)
    }

    pub fn render_status(self, status: StatusCode, template: &str, extra: Value) -> AppResult<Response> {
        let secure = self.state.config.secure_cookies();
        let mut set_cookies = Vec::new();
        let mut token = None;
        if self.session.is_some() || self.with_csrf {
            let visitor = match (&self.session, &self.visitor_csrf) {
                (None, None) => {
                    let fresh = crypto::random_token();
                    set_cookies.push(cookies::set(csrf::COOKIE, &fresh, None, secure));
                    Some(fresh)
                }
                (_, existing) => existing.clone(),
            };
            token = csrf::token(&self.state, self.session.as_ref(), visitor.as_deref());
        }
        if self.flash.is_some() {
            set_cookies.push(cookies::clear(FLASH_COOKIE, secure));
        }
        let user = self.session.as_ref().map(|s| s.user.view(&self.state.config));
        let personal = self.session.is_some() || token.is_some() || self.flash.is_some();
        let base = context! {
            site => context! { name => self.state.config.site_name.clone(), public_url => self.state.config.public_url() },
            user => user,
            csrf_token => token,
            flash => self.flash,
            path => self.path,
        };
        let html = self.state.templates.render(template, context! { ..extra, ..base })?;
        let mut response = (status, Html(html)).into_response();
        if !personal && status == StatusCode::OK && !self.tags.is_empty() {
            response.extensions_mut().insert(PageTags::new(self.tags, self.until, self.views));
        }
        let headers = response.headers_mut();
        // Pages for one person are never stored anywhere; the rest revalidate.
        let cache = if personal { "private, no-store" } else { "no-cache" };
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
        for cookie in set_cookies {
            headers.append(header::SET_COOKIE, cookie);
        }
        Ok(response)
    }
}

/// A redirect that shows `text` once on the next page.
pub fn redirect_with_flash(state: &AppState, to: &str, kind: &str, text: &str) -> Response {
    let payload = URL_SAFE_NO_PAD.encode(format!("{kind}|{text}"));
    let signature = crypto::sign(&state.secret, &format!("flash:{payload}"));
    let cookie = cookies::set(FLASH_COOKIE, &format!("{payload}.{signature}"), None, state.config.secure_cookies());
    let mut response = Redirect::to(to).into_response();
    response.headers_mut().append(header::SET_COOKIE, cookie);
    response
}

fn read_flash(state: &AppState, cookie: &str) -> Option<Flash> {
    let (payload, signature) = cookie.split_once('.')?;
    if !crypto::equal(signature, &crypto::sign(&state.secret, &format!("flash:{payload}"))) {
        return None;
    }
    let text = String::from_utf8(URL_SAFE_NO_PAD.decode(payload).ok()?).ok()?;
    let (kind, text) = text.split_once('|')?;
    Some(Flash { kind: kind.to_string(), text: text.to_string() })
}
