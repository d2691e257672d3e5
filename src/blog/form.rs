//! The writing form: its fields (sent as a plain form, or as multipart when
//! it carries a cover picture), and the checks that turn them into a draft.

use axum::extract::{FromRequest, Multipart, Request};
use axum::http::header;
use axum::Form;
use minijinja::{context, Value};
use serde::Deserialize;

use super::store::{self, Draft, Post, MAX_BODY, MAX_TITLE};
use crate::app::AppState;
use crate::db::now;
use crate::web::error::AppError;
use crate::web::FieldErrors;

#[derive(Deserialize, Default, Clone)]
#[serde(default)]
pub struct PostForm {
    pub title: String,
    pub body: String,
    pub slug: String,
    /// Comma-separated, as members type them.
    pub tags: String,
    /// `draft`, `publish` or `schedule` (the button pressed), or `preview`.
    pub action: String,
    /// For scheduling: `YYYY-MM-DDTHH:MM` in UTC, as a datetime-local field sends it.
    pub publish_at: String,
    /// `1` to take the cover off (an edit).
    pub remove_cover: String,
}

/// The cover picture sent with the form (field `file`).
pub enum Upload {
    None,
    /// Larger than the configured limit: reading stopped there.
    TooLarge,
    File(Vec<u8>),
}

/// The form and its upload.
pub struct Submission {
    pub form: PostForm,
    pub upload: Upload,
}

impl FromRequest<AppState> for Submission {
    type Rejection = AppError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let multipart = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("multipart/form-data"));
        if !multipart {
            let Form(form) = Form::<PostForm>::from_request(request, state).await.map_err(|e| AppError::BadRequest(e.body_text()))?;
            return Ok(Submission { form, upload: Upload::None });
        }
        let bad = |e: axum::extract::multipart::MultipartError| AppError::BadRequest(e.body_text());
        let mut multipart = Multipart::from_request(request, state).await.map_err(|e| AppError::BadRequest(e.body_text()))?;
        let max = state.config.blog.cover_max_bytes;
        let mut form = PostForm::default();
        let mut upload = Upload::None;
        while let Some(mut field) = multipart.next_field().await.map_err(bad)? {
            let name = field.name().unwrap_or_default().to_string();
            if name == "file" {
                // A file input left empty still sends a part, with no file name.
                let named = field.file_name().is_some_and(|n| !n.is_empty());
                let mut data = Vec::new();
                while let Some(chunk) = field.chunk().await.map_err(bad)? {
                    if data.len() + chunk.len() > max {
                        upload = Upload::TooLarge;
                        break;
                    }
                    data.extend_from_slice(&chunk);
                }
                if !matches!(upload, Upload::TooLarge) && (named || !data.is_empty()) {
                    upload = Upload::File(data);
                }
                continue;
            }
            let text = field.text().await.map_err(bad)?;
            let slot = match name.as_str() {
                "title" => &mut form.title,
                "body" => &mut form.body,
                "slug" => &mut form.slug,
                "tags" => &mut form.tags,
                "action" => &mut form.action,
                "publish_at" => &mut form.publish_at,
                "remove_cover" => &mut form.remove_cover,
                _ => continue,
            };
            *slot = text;
        }
        Ok(Submission { form, upload })
    }
}

/// The values a re-rendered form shows.
pub fn values(form: &PostForm) -> Value {
    context! { title => form.title, body => form.body, slug => form.slug, tags => form.tags, publish_at => form.publish_at }
}

/// Parses `2026-12-01T09:30` (UTC).
fn parse_time(raw: &str) -> Option<i64> {
    let format = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]");
    let long = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]");
    time::PrimitiveDateTime::parse(raw.trim(), &format)
        .or_else(|_| time::PrimitiveDateTime::parse(raw.trim(), &long))
        .ok()
        .map(|t| t.assume_utc().unix_timestamp())
}

/// Checks the form; on success, the fields to save (slug not yet made
/// unique, cover as the post had it).
pub fn check(form: &PostForm, current: Option<&Post>) -> Result<Draft, FieldErrors> {
    let mut errors = FieldErrors::new();
    let title = form.title.trim();
    if title.is_empty() {
        errors.insert("title", "Give your post a title.".into());
    } else if title.chars().count() > MAX_TITLE {
        errors.insert("title", format!("Keep the title under {MAX_TITLE} characters."));
    }
    if form.body.trim().is_empty() {
        errors.insert("body", "Write something first.".into());
    } else if form.body.chars().count() > MAX_BODY {
        errors.insert("body", format!("Posts can be up to {MAX_BODY} characters."));
    }
    let tags = crate::tags::parse(&form.tags).unwrap_or_else(|message| {
        errors.insert("tags", message);
        Vec::new()
    });
    let wanted = if form.slug.trim().is_empty() { title } else { form.slug.trim() };
    let slug = store::slugify(wanted);
    let now = now();
    let (status, published_at) = match form.action.as_str() {
        "publish" => ("published", Some(current.and_then(|p| p.published_at.filter(|_| p.is_visible())).unwrap_or(now))),
        "schedule" => match parse_time(&form.publish_at) {
            // A time already past publishes now.
            Some(t) => ("scheduled", Some(t.max(now))),
            None => {
                errors.insert("publish_at", "Choose a date and time to publish, such as 2026-12-01T09:00.".into());
                ("scheduled", None)
            }
        },
        _ => ("draft", None),
    };
    if !errors.is_empty() {
        return Err(errors);
    }
    let cover = current.and_then(|p| p.cover.clone()).filter(|_| form.remove_cover != "1");
    Ok(Draft { title: title.to_string(), slug, body: form.body.clone(), status, published_at, tags, cover })
}
