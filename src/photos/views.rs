//! Photo pages: the site-wide grid, a photo, a tag, editing and deleting,
//! and the section of a member's profile.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Form;
use minijinja::context;
use serde::{Deserialize, Serialize};

use super::files::{self, Picture};
use super::store::{self, Gallery, Photo};
use crate::accounts::store::{self as members, Author, User};
use crate::app::AppState;
use crate::web::error::{AppError, AppResult};
use crate::pagecache::tags;
use crate::web::page::{redirect_with_flash, Page};
use crate::web::session::Member;
use crate::web::FieldErrors;

/// A photo as pages show it.
#[derive(Serialize, Debug, Clone)]
pub struct PhotoView {
    pub id: i64,
    pub url: String,
    pub title: String,
    pub caption_html: String,
    pub picture: Picture,
    pub author: Author,
    pub score: i64,
    pub comment_count: i64,
    pub view_count: i64,
    pub created_at: i64,
    pub gallery_id: Option<i64>,
}

pub fn view(state: &AppState, photo: &Photo, owner: &User) -> PhotoView {
    PhotoView {
        id: photo.id,
        url: format!("/photos/{}", photo.id),
        title: photo.title.clone(),
        caption_html: photo.caption_html.clone(),
        picture: files::picture(&state.config.photos.sizes, photo.user_id, &photo.content_hash, photo.width as u32, photo.height as u32),
        author: owner.author(&state.config),
        score: photo.score,
        comment_count: photo.comment_count,
        view_count: photo.view_count,
        created_at: photo.created_at,
        gallery_id: photo.gallery_id,
    }
}

/// Views with their owners, loaded in one query; a deactivated member's
/// photos are hidden with them.
pub async fn views(state: &AppState, photos: &[Photo]) -> AppResult<Vec<PhotoView>> {
    let ids: Vec<i64> = photos.iter().map(|p| p.user_id).collect();
    let owners = members::by_ids(&state.db, &ids).await?;
    Ok(photos
        .iter()
        .filter_map(|p| owners.get(&p.user_id).filter(|o| o.is_active).map(|o| view(state, p, o)))
        .collect())
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct GridQuery {
    /// `new` (default), `top` (popular) or `hot` (trending).
    sort: String,
    /// The cursor: the last photo's id, or `rank_id` for `top` and `hot`.
    after: String,
    comments: String,
    cpage: String,
}

/// Where a page starts, from `?sort=` and `?after=`; anything unreadable is a 404.
#[derive(Clone, Copy)]
enum Start {
    Latest(Option<i64>),
    Ranked(store::Rank, Option<(i64, i64)>),
}

fn start(q: &GridQuery) -> AppResult<Start> {
    let number = |raw: &str| raw.parse::<i64>().map_err(|_| AppError::NotFound);
    let after = (!q.after.is_empty()).then_some(q.after.as_str());
    match q.sort.as_str() {
        "" | "new" => Ok(Start::Latest(after.map(number).transpose()?)),
        "top" | "hot" => {
            let pair = |raw: &str| {
                let (value, id) = raw.split_once('_').ok_or(AppError::NotFound)?;
                Ok::<_, AppError>((number(value)?, number(id)?))
            };
            let rank = if q.sort == "top" { store::Rank::Score } else { store::Rank::Hot };
            Ok(Start::Ranked(rank, after.map(pair).transpose()?))
        }
        _ => Err(AppError::NotFound),
    }
}

pub async fn latest(State(state): State<AppState>, page: Page, Query(q): Query<GridQuery>) -> AppResult<Response> {
    let start = start(&q)?;
    let (photos, has_more, first, sort) = match start {
        Start::Latest(before) => {
            let (photos, more) = store::latest(&state.db, None, before).await?;
            (photos, more, before.is_none(), "new")
        }
        Start::Ranked(rank, after) => {
            let (photos, more) = store::ranked(&state.db, rank, after).await?;
            (photos, more, after.is_none(), if rank == store::Rank::Score { "top" } else { "hot" })
        }
    };
    let next = match (has_more, photos.last(), &start) {
        (true, Some(last), Start::Ranked(rank, _)) => Some(format!("/photos?sort={sort}&after={}_{}", rank.of(last), last.id)),
        (true, Some(last), Start::Latest(_)) => Some(format!("/photos?after={}", last.id)),
        _ => None,
    };
    let photos = views(&state, &photos).await?;
    let page = page.tagged([tags::PHOTOS.to_string()]).tagged(photos.iter().map(|p| tags::user(p.author.id)));
    page.render("photos/index.html", context! { photos => photos, next => next, sort => sort, first => first })
}

pub async fn tag_page(State(state): State<AppState>, page: Page, Path(raw): Path<String>, Query(q): Query<GridQuery>) -> AppResult<Response> {
    let tag = crate::tags::normalise(&raw).ok_or(AppError::NotFound)?;
    if tag != raw {
        let to = format!("/tags/{}", percent_encoding::utf8_percent_encode(&tag, percent_encoding::NON_ALPHANUMERIC));
        return Ok(axum::response::Redirect::permanent(&to).into_response());
    }
    let before = match q.after.as_str() {
        "" => i64::MAX,
        n => n.parse().map_err(|_| AppError::NotFound)?,
    };
    let (photos, has_more) = store::tagged(&state.db, &tag, before).await?;
    let next = match (has_more, photos.last()) {
        (true, Some(last)) => Some(format!("?after={}", last.id)),
        _ => None,
    };
    let photos = views(&state, &photos).await?;
    let page = page.tagged([tags::PHOTOS.to_string()]).tagged(photos.iter().map(|p| tags::user(p.author.id)));
    page.render("photos/tag.html", context! { tag => tag, photos => photos, next => next })
}

/// The gallery a photo sits in, as its page names it.
#[derive(Serialize)]
struct GalleryLink {
    id: i64,
    title: String,
    url: String,
}

pub async fn photo_page(State(state): State<AppState>, page: Page, Path(id): Path<i64>, Query(q): Query<GridQuery>) -> AppResult<Response> {
    let photo = store::photo(&state.db, id).await?.ok_or(AppError::NotFound)?;
    let owner = members::by_id(&state.db, photo.user_id).await?.filter(|u| u.is_active).ok_or(AppError::NotFound)?;
    state.views.count("photos", photo.id);
    let viewer = page.session.as_ref().map(|s| s.user.clone());
    let kind = crate::content::kind("photo").expect("photos are a kind");
    let sort = crate::comments::Sort::parse(&q.comments);
    let cpage = match q.cpage.as_str() {
        "" => 1,
        n => n.parse::<i64>().ok().filter(|n| (1..=100_000).contains(n)).ok_or(AppError::NotFound)?,
    };
    let thread = crate::comments::thread(&state, kind, photo.id, photo.comment_count, sort, cpage, viewer.as_ref()).await?;
    let my_vote = match &viewer {
        Some(v) => crate::votes::mine(&state, kind, &[photo.id], v.id).await?.first().map(|(_, v)| *v).unwrap_or(0),
        None => 0,
    };
    let gallery = match photo.gallery_id {
        Some(g) => store::gallery(&state.db, g).await?.map(|g| GalleryLink { id: g.id, url: format!("/galleries/{}", g.id), title: g.title }),
        None => None,
    };
    let (prev, next) = store::gallery_neighbours(&state.db, &photo).await?;
    let tags = store::tags_of(&state.db, photo.id).await?;
    let is_owner = viewer.as_ref().is_some_and(|v| v.id == owner.id);
    let can_remove = viewer.as_ref().is_some_and(|v| v.is_moderator());
    let mut shown = view(&state, &photo, &owner);
    // Views not yet written show already, this one included.
    shown.view_count += state.views.pending("photos", photo.id);
    // Votes and comments on other photos change no part of this page.
    let mut depends = vec![tags::PHOTO_SETS.to_string(), tags::item(kind.name, photo.id), tags::user(owner.id)];
    crate::comments::store::author_tags(&thread.comments, &mut depends);
    let page = page.tagged(depends).counting_view("photos", photo.id);
    page.render(
        "photos/photo.html",
        context! {
            photo => shown, owner_profile => owner.profile(&state.config), tags => tags, gallery => gallery,
            prev => prev.map(|p| view(&state, &p, &owner)), next => next.map(|p| view(&state, &p, &owner)),
            thread => thread, my_vote => my_vote, is_owner => is_owner, can_remove => can_remove || is_owner,
        },
    )
}

/// The photo, if `me` may change it: its owner (edit and delete) or, with
/// `moderate`, a moderator or staff member (delete only).
async fn changeable(state: &AppState, me: &User, id: i64, moderate: bool) -> AppResult<Photo> {
    let photo = store::photo(&state.db, id).await?.ok_or(AppError::NotFound)?;
    if photo.user_id != me.id && !(moderate && me.is_moderator()) {
        return Err(AppError::forbidden("You can only change your own photos."));
    }
    Ok(photo)
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct EditForm {
    title: String,
    caption: String,
    tags: String,
}

fn edit_render(page: Page, photo: &Photo, form: &EditForm, errors: FieldErrors, status: StatusCode) -> AppResult<Response> {
    page.with_csrf().render_status(
        status,
        "photos/edit.html",
        context! { photo => context! { id => photo.id, title => photo.title }, form => context! { title => form.title, caption => form.caption, tags => form.tags }, errors => errors },
    )
}

pub async fn edit_page(State(state): State<AppState>, Member(me): Member, page: Page, Path(id): Path<i64>) -> AppResult<Response> {
    let photo = changeable(&state, &me.user, id, false).await?;
    let tags = store::tags_of(&state.db, photo.id).await?;
    let form = EditForm { title: photo.title.clone(), caption: photo.caption.clone(), tags: crate::tags::join(&tags) };
    edit_render(page, &photo, &form, FieldErrors::new(), StatusCode::OK)
}

pub async fn update(State(state): State<AppState>, Member(me): Member, page: Page, Path(id): Path<i64>, Form(form): Form<EditForm>) -> AppResult<Response> {
    let photo = changeable(&state, &me.user, id, false).await?;
    let mut text = match super::text::check(&form.title, &form.caption, &form.tags) {
        Ok(t) => t,
        Err((key, message)) => return edit_render(page, &photo, &form, FieldErrors::from([(key, message)]), StatusCode::UNPROCESSABLE_ENTITY),
    };
    if text.title.is_empty() {
        text.title = photo.title.clone();
    }
    store::update_photo(&state.db, photo.id, &text).await?;
    super::touch(&state, photo.user_id).await;
    Ok(redirect_with_flash(&state, &format!("/photos/{}", photo.id), "success", "Your photo is saved."))
}

/// Deletes a photo: its row, tags and gallery count in one transaction,
/// then its comments and votes, then its files.
pub async fn delete(State(state): State<AppState>, Member(me): Member, Path(id): Path<i64>) -> AppResult<Response> {
    let photo = changeable(&state, &me.user, id, true).await?;
    remove(&state, &photo).await?;
    if photo.user_id != me.user.id {
        members::audit(&state.db, me.user.id, "photo.remove", "photo", photo.id, &photo.title).await?;
    }
    let to = match photo.gallery_id {
        Some(g) => format!("/galleries/{g}"),
        None => "/photos".to_string(),
    };
    Ok(redirect_with_flash(&state, &to, "success", "The photo is deleted."))
}

/// Everything of one photo goes; a second call for the same photo does nothing.
pub(super) async fn remove(state: &AppState, photo: &Photo) -> AppResult<()> {
    if !store::delete_photo(&state.db, photo).await? {
        return Ok(());
    }
    super::touch(state, photo.user_id).await;
    crate::content::remove_attachments(state, "photo", photo.id).await?;
    if !store::hash_in_use(&state.db, photo.user_id, &photo.content_hash).await? {
        files::remove(state, photo.user_id, &photo.content_hash).await;
    }
    Ok(())
}

/// A gallery as cards show it: its cover, when it has one.
#[derive(Serialize, Debug)]
pub struct GalleryCard {
    pub id: i64,
    pub url: String,
    pub title: String,
    pub photo_count: i64,
    pub cover: Option<Picture>,
}

pub async fn gallery_cards(state: &AppState, galleries: &[Gallery]) -> AppResult<Vec<GalleryCard>> {
    let cover_ids: Vec<i64> = galleries.iter().filter_map(|g| g.cover_photo_id).collect();
    let covers = store::by_ids(&state.db, &cover_ids).await?;
    Ok(galleries
        .iter()
        .map(|g| GalleryCard {
            id: g.id,
            url: format!("/galleries/{}", g.id),
            title: g.title.clone(),
            photo_count: g.photo_count,
            cover: g.cover_photo_id.and_then(|c| covers.get(&c)).map(|p| {
                files::picture(&state.config.photos.sizes, p.user_id, &p.content_hash, p.width as u32, p.height as u32)
            }),
        })
        .collect())
}

/// What a member's profile shows of their photos.
#[derive(Serialize, Debug)]
pub struct ProfileSection {
    pub photos: Vec<PhotoView>,
    pub more: bool,
    pub galleries: Vec<GalleryCard>,
}

pub async fn profile_section(state: &AppState, owner: &User) -> AppResult<ProfileSection> {
    let (photos, more) = store::latest(&state.db, Some(owner.id), None).await?;
    let galleries = store::galleries_of(&state.db, owner.id, 24).await?;
    Ok(ProfileSection {
        photos: photos.iter().map(|p| view(state, p, owner)).collect(),
        more,
        galleries: gallery_cards(state, &galleries).await?,
    })
}
