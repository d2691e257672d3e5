//! Galleries: a member's ordered sets of photos, with a cover.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Form;
use minijinja::context;
use serde::Deserialize;

use super::store::{self, Gallery, GalleryEdit, MAX_CAPTION, MAX_TITLE};
use super::views;
use crate::accounts::store::{self as members, User};
use crate::app::AppState;
use crate::web::error::{AppError, AppResult};
use crate::web::page::{redirect_with_flash, Page};
use crate::web::session::Member;
use crate::web::{rate_limit, FieldErrors};

pub async fn gallery_page(State(state): State<AppState>, page: Page, Path(id): Path<i64>) -> AppResult<Response> {
    let gallery = store::gallery(&state.db, id).await?.ok_or(AppError::NotFound)?;
    let owner = members::by_id(&state.db, gallery.user_id).await?.filter(|u| u.is_active).ok_or(AppError::NotFound)?;
    let photos: Vec<_> = store::in_gallery(&state.db, gallery.id).await?.iter().map(|p| views::view(&state, p, &owner)).collect();
    let is_owner = page.session.as_ref().is_some_and(|s| s.user.id == owner.id);
    // Owners delete from the edit page; moderators and staff remove anyone else's here.
    let can_remove = !is_owner && page.session.as_ref().is_some_and(|s| s.user.is_moderator());
    use crate::pagecache::tags;
    let page = page.tagged([tags::PHOTO_SETS.to_string(), tags::gallery(gallery.id), tags::user(owner.id)]);
    page.render(
        "photos/gallery.html",
        context! {
            gallery => context! { id => gallery.id, title => gallery.title, description_html => gallery.description_html, photo_count => gallery.photo_count, updated_at => gallery.updated_at },
            owner => owner.author(&state.config), photos => photos, is_owner => is_owner, can_remove => can_remove,
        },
    )
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct NewForm {
    title: String,
    description: String,
}

fn check_text(title: &str, description: &str) -> Result<(String, String), FieldErrors> {
    let title = title.trim();
    if title.is_empty() {
        return Err(FieldErrors::from([("title", "Give your gallery a title.".to_string())]));
    }
    if title.chars().count() > MAX_TITLE {
        return Err(FieldErrors::from([("title", format!("Keep the title under {MAX_TITLE} characters."))]));
    }
    if description.chars().count() > MAX_CAPTION {
        return Err(FieldErrors::from([("description", format!("Descriptions can be up to {MAX_CAPTION} characters."))]));
    }
    Ok((title.to_string(), description.trim().to_string()))
}

pub async fn new_page(Member(_me): Member, page: Page) -> AppResult<Response> {
    page.with_csrf().render("photos/gallery_new.html", context! { form => context! {}, errors => context! {} })
}

pub async fn create(State(state): State<AppState>, Member(me): Member, page: Page, Form(form): Form<NewForm>) -> AppResult<Response> {
    rate_limit(&state, "gallery-new", &me.user.id.to_string(), 20).await?;
    let (title, description) = match check_text(&form.title, &form.description) {
        Ok(t) => t,
        Err(errors) => {
            return page.with_csrf().render_status(
                StatusCode::UNPROCESSABLE_ENTITY,
                "photos/gallery_new.html",
                context! { form => context! { title => form.title, description => form.description }, errors => errors },
            )
        }
    };
    let id = store::create_gallery(&state.db, me.user.id, &title, &description).await?;
    super::touch(&state, me.user.id).await;
    Ok(redirect_with_flash(&state, &format!("/photos/upload?gallery={id}"), "success", "Your gallery is made. Now add some photos."))
}

/// The gallery, if it is `me`'s.
async fn own(state: &AppState, me: &User, id: i64) -> AppResult<Gallery> {
    let gallery = store::gallery(&state.db, id).await?.ok_or(AppError::NotFound)?;
    if gallery.user_id != me.id {
        return Err(AppError::forbidden("You can only change your own galleries."));
    }
    Ok(gallery)
}

async fn edit_render(state: &AppState, page: Page, gallery: &Gallery, form: Option<&[(String, String)]>, errors: FieldErrors) -> AppResult<Response> {
    let owner = members::by_id(&state.db, gallery.user_id).await?.ok_or(AppError::NotFound)?;
    let photos: Vec<_> = store::in_gallery(&state.db, gallery.id).await?.iter().map(|p| (p.position, views::view(state, p, &owner))).collect();
    let sent = |name: &str| form.and_then(|f| f.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()));
    let rows: Vec<_> = photos
        .iter()
        .enumerate()
        .map(|(i, (_, p))| context! { photo => p, position => sent(&format!("position_{}", p.id)).unwrap_or_else(|| (i + 1).to_string()) })
        .collect();
    let cover = sent("cover").unwrap_or_else(|| gallery.cover_photo_id.map(|c| c.to_string()).unwrap_or_default());
    let status = if errors.is_empty() { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
    page.with_csrf().render_status(
        status,
        "photos/gallery_edit.html",
        context! {
            gallery => context! { id => gallery.id, title => gallery.title, photo_count => gallery.photo_count },
            form => context! {
                title => sent("title").unwrap_or_else(|| gallery.title.clone()),
                description => sent("description").unwrap_or_else(|| gallery.description.clone()),
            },
            rows => rows, cover => cover, errors => errors,
        },
    )
}

pub async fn edit_page(State(state): State<AppState>, Member(me): Member, page: Page, Path(id): Path<i64>) -> AppResult<Response> {
    let gallery = own(&state, &me.user, id).await?;
    edit_render(&state, page, &gallery, None, FieldErrors::new()).await
}

/// One form saves the text, the cover (field `cover`, a photo id or empty)
/// and the order (fields `position_{photo id}`, numbers from 1).
pub async fn update(State(state): State<AppState>, Member(me): Member, page: Page, Path(id): Path<i64>, Form(form): Form<Vec<(String, String)>>) -> AppResult<Response> {
    let gallery = own(&state, &me.user, id).await?;
    let field = |name: &str| form.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str()).unwrap_or_default();
    let (title, description) = match check_text(field("title"), field("description")) {
        Ok(t) => t,
        Err(errors) => return edit_render(&state, page, &gallery, Some(&form), errors).await,
    };
    let members_of: Vec<i64> = store::in_gallery(&state.db, gallery.id).await?.iter().map(|p| p.id).collect();
    let cover = match field("cover").trim() {
        "" => None,
        raw => match raw.parse::<i64>().ok().filter(|c| members_of.contains(c)) {
            Some(c) => Some(c),
            None => {
                let errors = FieldErrors::from([("cover", "Choose a photo of this gallery as its cover.".to_string())]);
                return edit_render(&state, page, &gallery, Some(&form), errors).await;
            }
        },
    };
    let mut positions = Vec::new();
    for (name, value) in &form {
        let Some(photo) = name.strip_prefix("position_").and_then(|p| p.parse::<i64>().ok()) else { continue };
        let position = value.trim().parse::<i64>().ok().filter(|p| (1..=100_000).contains(p));
        match position {
            Some(p) if members_of.contains(&photo) => positions.push((photo, p)),
            _ => {
                let errors = FieldErrors::from([("positions", "Give each photo a position: a whole number from 1.".to_string())]);
                return edit_render(&state, page, &gallery, Some(&form), errors).await;
            }
        }
    }
    store::update_gallery(&state.db, gallery.id, &GalleryEdit { title, description, cover, positions }).await?;
    super::touch(&state, me.user.id).await;
    Ok(redirect_with_flash(&state, &format!("/galleries/{}", gallery.id), "success", "Your gallery is saved."))
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct DeleteForm {
    /// `keep` (they stay, outside any gallery) or `delete` (they go too).
    photos: String,
}

pub async fn delete(State(state): State<AppState>, Member(me): Member, Path(id): Path<i64>, Form(form): Form<DeleteForm>) -> AppResult<Response> {
    let gallery = own(&state, &me.user, id).await?;
    let delete_photos = match form.photos.as_str() {
        "keep" => false,
        "delete" => true,
        _ => return Err(AppError::BadRequest("Say whether the photos stay (photos=keep) or go with the gallery (photos=delete).".into())),
    };
    unmake(&state, &gallery, delete_photos).await?;
    let text = if delete_photos { "The gallery and its photos are deleted." } else { "The gallery is deleted; its photos are still on your profile." };
    Ok(redirect_with_flash(&state, &format!("/u/{}", me.user.username), "success", text))
}

/// The gallery goes; its photos go too, or stay the owner's outside any gallery.
async fn unmake(state: &AppState, gallery: &Gallery, delete_photos: bool) -> AppResult<()> {
    // In batches: a gallery page shows at most GALLERY_LIMIT photos, but may hold more.
    while delete_photos {
        let batch = store::in_gallery(&state.db, gallery.id).await?;
        if batch.is_empty() {
            break;
        }
        for photo in &batch {
            views::remove(state, photo).await?;
        }
    }
    store::delete_gallery(&state.db, gallery.id).await?;
    super::touch(state, gallery.user_id).await;
    Ok(())
}

/// The longest reason a moderator may give.
const MAX_REASON: usize = 500;

/// Why a moderator removes a gallery, for the audit log.
#[derive(Deserialize, Default)]
#[serde(default)]
pub struct RemoveForm {
    reason: String,
}

impl RemoveForm {
    /// The reason, trimmed; an empty or overlong one is refused.
    fn reason(&self) -> AppResult<&str> {
        let reason = self.reason.trim();
        match reason.chars().count() {
            1..=MAX_REASON => Ok(reason),
            _ => Err(AppError::BadRequest(format!("Give a reason (up to {MAX_REASON} characters) for removing the gallery."))),
        }
    }
}

/// Any gallery, if `me` moderates: a moderator or staff member.
async fn moderated(state: &AppState, me: &User, id: i64) -> AppResult<Gallery> {
    if !me.is_moderator() {
        return Err(AppError::forbidden("Only moderators and staff can remove galleries."));
    }
    store::gallery(&state.db, id).await?.ok_or(AppError::NotFound)
}

/// A moderator removes anyone's gallery, with the reason in the audit log.
/// Its photos stay the owner's, outside any gallery, as when an owner
/// deletes a gallery and keeps its photos.
pub async fn remove(State(state): State<AppState>, Member(me): Member, Path(id): Path<i64>, Form(form): Form<RemoveForm>) -> AppResult<Response> {
    let gallery = moderated(&state, &me.user, id).await?;
    let reason = form.reason()?;
    let owner = members::by_id(&state.db, gallery.user_id).await?.ok_or(AppError::NotFound)?;
    unmake(&state, &gallery, false).await?;
    // The gallery is gone, so the log keeps its title beside the reason.
    members::audit(&state.db, me.user.id, "gallery.remove", "gallery", gallery.id, &format!("{}: {reason}", gallery.title)).await?;
    let text = format!("The gallery is removed; its photos are still on {}'s profile.", owner.username);
    Ok(redirect_with_flash(&state, &format!("/u/{}", owner.username), "success", &text))
}
