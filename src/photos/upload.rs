//! `/photos/upload`: one or many files (or a ZIP of images) in the `file`
//! field. Every size is made before the answer; if any file is refused,
//! nothing is stored and the form says which file and why.

use axum::body::Body;
use axum::extract::{Multipart, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use minijinja::context;

use super::store::{self, NewPhoto, PhotoText};
use super::{files, text};
use crate::accounts::settings::human_size;
use crate::app::AppState;
use crate::media::images::ImageLimits;
use crate::media::pipeline::{self, Rendered};
use crate::web::error::{AppError, AppResult};
use crate::web::page::{redirect_with_flash, Page};
use crate::web::session::Member;
use crate::web::{rate_limit, FieldErrors};

/// Uploads per member per rate-limit window.
const UPLOADS_PER_WINDOW: u64 = 30;

#[derive(serde::Deserialize, Default)]
#[serde(default)]
pub struct FormQuery {
    /// The gallery chosen beforehand (after making one).
    gallery: String,
}

pub async fn form(State(state): State<AppState>, Member(me): Member, page: Page, Query(q): Query<FormQuery>) -> AppResult<Response> {
    let fields = Fields { gallery: q.gallery, ..Fields::default() };
    render(&state, page, me.user.id, StatusCode::OK, &fields, FieldErrors::new()).await
}

/// The text fields of the form, as sent.
#[derive(Default, Debug)]
struct Fields {
    title: String,
    caption: String,
    tags: String,
    gallery: String,
}

/// One file as sent: its name (for messages and default titles) and bytes.
pub struct Upload {
    pub name: String,
    pub bytes: Vec<u8>,
}

async fn render(state: &AppState, page: Page, user_id: i64, status: StatusCode, fields: &Fields, errors: FieldErrors) -> AppResult<Response> {
    let galleries: Vec<_> = store::galleries_of(&state.db, user_id, 200)
        .await?
        .into_iter()
        .map(|g| context! { id => g.id, title => g.title })
        .collect();
    let p = &state.config.photos;
    page.with_csrf().render_status(
        status,
        "photos/upload.html",
        context! {
            form => context! { title => fields.title, caption => fields.caption, tags => fields.tags, gallery => fields.gallery },
            errors => errors, galleries => galleries,
            max_files => p.max_files_per_upload, max_size => human_size(p.max_bytes),
        },
    )
}

/// The share of `upload_memory` an upload holds while it is read and
/// processed, in KiB; given back when dropped.
#[derive(Default)]
struct Held(Vec<tokio::sync::OwnedSemaphorePermit>);

impl Held {
    /// Takes room for `bytes` more, or refuses: this process holds as many
    /// uploads as it may, so the visitor is asked to try again shortly.
    fn take(&mut self, state: &AppState, bytes: usize) -> AppResult<()> {
        let kib = bytes.div_ceil(1024) as u32;
        match state.upload_memory.clone().try_acquire_many_owned(kib) {
            Ok(permit) => {
                self.0.push(permit);
                Ok(())
            }
            Err(_) => {
                tracing::warn!(bytes, "upload refused: the upload memory budget is in use");
                Err(AppError::TooManyRequests { retry_after: 30 })
            }
        }
    }
}

/// Reads the form. Files past the byte or count limit stop the reading:
/// the error is known, and the rest need not be held in memory.
async fn read(state: &AppState, multipart: &mut Multipart, held: &mut Held) -> AppResult<(Fields, Vec<Upload>, Option<String>)> {
    let p = &state.config.photos;
    let bad = |e: axum::extract::multipart::MultipartError| AppError::BadRequest(e.body_text());
    let mut fields = Fields::default();
    let mut uploads = Vec::new();
    while let Some(mut field) = multipart.next_field().await.map_err(bad)? {
        let name = field.name().unwrap_or_default().to_string();
        if name != "file" {
            let value = field.text().await.map_err(bad)?;
            match name.as_str() {
                "title" => fields.title = value,
                "caption" => fields.caption = value,
                "tags" => fields.tags = value,
                "gallery" => fields.gallery = value,
                _ => {}
            }
            continue;
        }
        let file_name = field.file_name().map(base_name).unwrap_or_default();
        let mut bytes = Vec::new();
        while let Some(chunk) = field.chunk().await.map_err(bad)? {
            if bytes.len() + chunk.len() > p.max_bytes {
                return Ok((fields, uploads, Some(format!("{}: that file is larger than {}.", shown(&file_name), human_size(p.max_bytes)))));
            }
            held.take(state, chunk.len())?;
            bytes.extend_from_slice(&chunk);
        }
        // A file input left empty still sends a part, with no name.
        if file_name.is_empty() && bytes.is_empty() {
            continue;
        }
        if uploads.len() >= p.max_files_per_upload {
            return Ok((fields, uploads, Some(too_many(p.max_files_per_upload))));
        }
        uploads.push(Upload { name: file_name, bytes });
    }
    Ok((fields, uploads, None))
}

pub(super) fn too_many(max: usize) -> String {
    format!("Upload at most {max} photos at once.")
}

/// The last part of a file name as a browser sends it (some send a path).
pub(super) fn base_name(raw: &str) -> String {
    raw.rsplit(['/', '\\']).next().unwrap_or_default().chars().filter(|c| !c.is_control()).take(200).collect()
}

fn shown(name: &str) -> &str {
    if name.is_empty() { "The file" } else { name }
}

pub async fn submit(State(state): State<AppState>, Member(me): Member, page: Page, headers: HeaderMap, mut multipart: Multipart) -> AppResult<Response> {
    rate_limit(&state, "photo-upload", &me.user.id.to_string(), UPLOADS_PER_WINDOW).await?;
    let user_id = me.user.id;
    // Held until the answer: the files stay in memory until their sizes are made.
    let mut held = Held::default();
    let (fields, uploads, refused) = read(&state, &mut multipart, &mut held).await?;
    let fail = |fields: Fields, key: &'static str, message: String| {
        let state = state.clone();
        async move { render(&state, page, user_id, StatusCode::UNPROCESSABLE_ENTITY, &fields, FieldErrors::from([(key, message)])).await }
    };
    if let Some(message) = refused {
        return fail(fields, "file", message).await;
    }
    let text = match text::check(&fields.title, &fields.caption, &fields.tags) {
        Ok(t) => t,
        Err((key, message)) => return fail(fields, key, message).await,
    };
    let gallery = match fields.gallery.trim() {
        "" => None,
        raw => match raw.parse::<i64>().ok() {
            Some(id) if store::gallery(&state.db, id).await?.is_some_and(|g| g.user_id == user_id) => Some(id),
            _ => return fail(fields, "gallery", "Choose one of your own galleries.".into()).await,
        },
    };
    let uploads = match expand_zips(&state, uploads).await? {
        Ok(u) => u,
        Err(message) => return fail(fields, "file", message).await,
    };
    if uploads.is_empty() {
        return fail(fields, "file", "Choose a photo to upload.".into()).await;
    }
    let ids = match add(&state, user_id, gallery, &text, uploads).await? {
        Ok(ids) => ids,
        Err(message) => return fail(fields, "file", message).await,
    };
    let to = match (gallery, ids.as_slice()) {
        (Some(g), _) => format!("/galleries/{g}"),
        (None, [one]) => format!("/photos/{one}"),
        _ => format!("/u/{}", me.user.username),
    };
    let said = if ids.len() == 1 { "Your photo is up.".to_string() } else { format!("Your {} photos are up.", ids.len()) };
    tracing::info!(count = ids.len(), user_id, "photos uploaded");
    let done = redirect_with_flash(&state, &to, "success", &said);
    let wants_json = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|a| a.contains("application/json"));
    Ok(if wants_json { for_script(done, &to) } else { done })
}

/// The redirect as a script's answer: `{"location": ...}`, with the flash
/// cookie, for the page to go there itself. An XMLHttpRequest would follow
/// a redirect on its own, and that hidden request would use up the flash
/// and count a view of the new photo that nobody saw.
fn for_script(redirect: Response, to: &str) -> Response {
    let (mut parts, _) = redirect.into_parts();
    parts.status = StatusCode::OK;
    parts.headers.remove(header::LOCATION);
    parts.headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    parts.headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Response::from_parts(parts, Body::from(serde_json::json!({ "location": to }).to_string()))
}

/// Makes every size of every upload, then stores them all as photos of
/// `user_id` (in `gallery`, already checked to be theirs). The inner error
/// names the file refused; then nothing is stored.
pub async fn add(state: &AppState, user_id: i64, gallery: Option<i64>, text: &PhotoText, uploads: Vec<Upload>) -> AppResult<Result<Vec<i64>, String>> {
    let mut made = Vec::with_capacity(uploads.len());
    for upload in uploads {
        match process(state, &upload.bytes).await? {
            Ok(rendered) => made.push((upload, rendered)),
            Err(message) => return Ok(Err(format!("{}: {message}", shown(&upload.name)))),
        }
    }
    Ok(Ok(save(state, user_id, gallery, text, made).await?))
}

/// Opens any ZIP among the uploads, off the async runtime (inflating is CPU work).
async fn expand_zips(state: &AppState, uploads: Vec<Upload>) -> AppResult<Result<Vec<Upload>, String>> {
    if !uploads.iter().any(|u| super::zip::is_zip(&u.bytes)) {
        return Ok(Ok(uploads));
    }
    let config = state.config.photos.clone();
    let _permit = state.image_jobs.acquire().await.map_err(|e| AppError::Internal(e.into()))?;
    tokio::task::spawn_blocking(move || super::zip::expand(uploads, &config)).await.map_err(|e| AppError::Internal(e.into()))
}

/// Makes every size off the async runtime, a bounded number at once. The
/// outer error is ours; the inner one is a sentence for the member.
async fn process(state: &AppState, bytes: &[u8]) -> AppResult<Result<Rendered, String>> {
    let p = &state.config.photos;
    let limits = ImageLimits { max_bytes: p.max_bytes, max_pixels: p.max_pixels };
    let sizes = p.sizes.clone();
    let bytes = bytes.to_vec();
    let _permit = state.image_jobs.acquire().await.map_err(|e| AppError::Internal(e.into()))?;
    let made = tokio::task::spawn_blocking(move || pipeline::render(&bytes, &limits, &sizes))
        .await
        .map_err(|e| AppError::Internal(e.into()))?;
    Ok(made.map_err(|e| e.to_string()))
}

/// Stores the files, then the rows. If the rows cannot be written, the
/// files go again, so a failure leaves nothing behind.
async fn save(state: &AppState, user_id: i64, gallery: Option<i64>, text: &PhotoText, made: Vec<(Upload, Rendered)>) -> AppResult<Vec<i64>> {
    let many = made.len() > 1;
    let mut new = Vec::with_capacity(made.len());
    let mut hashes: Vec<String> = Vec::with_capacity(made.len());
    for (n, (upload, rendered)) in made.into_iter().enumerate() {
        let hash = crate::crypto::sha256_hex(&upload.bytes)[..20].to_string();
        let title = text::title_for(&text.title, &upload.name, many.then_some(n + 1));
        let (width, height) = (rendered.width as i64, rendered.height as i64);
        let original = state.config.photos.keep_originals.then_some(upload.bytes);
        if let Err(e) = files::store(state, user_id, &hash, rendered, original).await {
            remove_unused(state, user_id, &hashes).await;
            return Err(AppError::Internal(e));
        }
        hashes.push(hash.clone());
        new.push(NewPhoto { text: PhotoText { title, caption: text.caption.clone(), tags: text.tags.clone() }, width, height, content_hash: hash });
    }
    match store::create_photos(&state.db, user_id, gallery, &new).await {
        Ok(ids) => {
            super::touch(state, user_id).await;
            Ok(ids)
        }
        Err(e) => {
            remove_unused(state, user_id, &hashes).await;
            Err(e)
        }
    }
}

/// Takes back the files of a failed upload, except those another photo of
/// the member's (the same bytes uploaded before) still shows.
async fn remove_unused(state: &AppState, user_id: i64, hashes: &[String]) {
    for hash in hashes {
        if !store::hash_in_use(&state.db, user_id, hash).await.unwrap_or(true) {
            files::remove(state, user_id, hash).await;
        }
    }
}
