//! The blog's other lists: posts with a tag, and posts of a month (the
//! site's or one member's).

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use minijinja::context;

use super::months::{self, Month};
use super::views::{page_number, views, ListQuery};
use crate::accounts::store as members;
use crate::app::AppState;
use crate::web::error::{AppError, AppResult};
use crate::web::page::Page;

/// A tag from the URL as stored, or a 404 for one that cannot be a tag.
pub fn tag_from_url(raw: &str) -> AppResult<String> {
    match crate::tags::parse(raw).ok().as_deref() {
        Some([tag]) if !raw.contains(',') => Ok(tag.clone()),
        _ => Err(AppError::NotFound),
    }
}

pub async fn tag_page(State(state): State<AppState>, page: Page, Path(raw): Path<String>, Query(q): Query<ListQuery>) -> AppResult<Response> {
    let tag = tag_from_url(&raw)?;
    if tag != raw {
        return Ok(Redirect::permanent(&format!("/blog/tag/{}", urlencoding(&tag))).into_response());
    }
    let number = page_number(q.page())?;
    let (posts, has_next) = super::tagged::page(&state.db, &tag, number).await?;
    if posts.is_empty() && number > 1 {
        return Err(AppError::NotFound);
    }
    let base = format!("/blog/tag/{}", urlencoding(&tag));
    let page = page.tagged([crate::pagecache::tags::BLOG.to_string()]).changes_at(super::store::next_due(&state.db, None).await?);
    page.render(
        "blog/listing.html",
        context! {
            title => format!("#{tag}"), eyebrow => "Tagged", heading => format!("#{tag}"),
            lead => format!("Posts tagged \u{201c}{tag}\u{201d}, newest first."),
            empty => "No posts with this tag yet.",
            posts => views(&state, &posts).await?, page => number, has_next => has_next, has_prev => number > 1,
            feed => base.clone(), base => base,
        },
    )
}

pub async fn site_archive(State(state): State<AppState>, page: Page, Path((year, month)): Path<(String, String)>, Query(q): Query<ListQuery>) -> AppResult<Response> {
    let month = Month::parse(&year, &month)?;
    let number = page_number(q.page())?;
    let (posts, has_next) = months::posts(&state.db, None, month, number).await?;
    if posts.is_empty() && number > 1 {
        return Err(AppError::NotFound);
    }
    let page = page.tagged([crate::pagecache::tags::BLOG.to_string()]).changes_at(super::store::next_due(&state.db, None).await?);
    page.render(
        "blog/listing.html",
        context! {
            title => format!("Blog · {}", month.label()), eyebrow => "Archive", heading => month.label(),
            lead => "Everything members published this month.", empty => "Nothing was published this month.",
            posts => views(&state, &posts).await?, page => number, has_next => has_next, has_prev => number > 1,
            months => months::list(&state.db, None).await?, months_base => "/blog/archive",
            base => format!("/blog/archive/{}", month.path()), feed => "/blog", current_month => month.path(),
        },
    )
}

pub async fn member_archive(
    State(state): State<AppState>,
    page: Page,
    Path((username, year, month)): Path<(String, String, String)>,
    Query(q): Query<ListQuery>,
) -> AppResult<Response> {
    let author = members::by_username(&state.db, &username).await?.filter(|u| u.is_active).ok_or(AppError::NotFound)?;
    let month = Month::parse(&year, &month)?;
    let number = page_number(q.page())?;
    let (posts, has_next) = months::posts(&state.db, Some(author.id), month, number).await?;
    if posts.is_empty() && number > 1 {
        return Err(AppError::NotFound);
    }
    let profile = author.profile(&state.config);
    let blog = format!("/blog/{}", author.username);
    let page = page.tagged([crate::pagecache::tags::BLOG.to_string()]).changes_at(super::store::next_due(&state.db, None).await?);
    page.render(
        "blog/listing.html",
        context! {
            title => format!("{} · {}", profile.display_name, month.label()), eyebrow => format!("{}'s blog", profile.display_name),
            heading => month.label(), empty => format!("{} published nothing this month.", profile.display_name),
            back => context! { href => blog.clone(), label => format!("All posts by {}", profile.display_name) },
            posts => views(&state, &posts).await?, page => number, has_next => has_next, has_prev => number > 1,
            months => months::list(&state.db, Some(author.id)).await?, months_base => format!("{blog}/archive"),
            base => format!("{blog}/archive/{}", month.path()), feed => blog, show_author => false, current_month => month.path(),
        },
    )
}

/// A tag as a URL path segment: tags are letters, digits and hyphens, so
/// only non-ASCII letters need escaping.
pub fn urlencoding(tag: &str) -> String {
    let mut out = String::new();
    for b in tag.bytes() {
        if b.is_ascii_alphanumeric() || b == b'-' {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
