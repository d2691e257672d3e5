//! Blog pages: latest posts, a member's blog, a post, and the writing page.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use minijinja::{context, Value};
use serde::Deserialize;

use super::store::{self, Draft, Order, Post, PostView, MAX_BODY, MAX_TITLE};
use crate::accounts::store::{self as members, User};
use crate::app::AppState;
use crate::comments;
use crate::db::now;
use crate::pagecache::tags;
use crate::web::error::{AppError, AppResult};
use crate::web::page::{redirect_with_flash, Page};
use crate::web::session::Member;
use crate::web::{rate_limit, FieldErrors};

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct ListQuery {
    page: String,
    /// `new` (default), `hot` or `top`.
    sort: String,
    /// For `top`: `day`, `week` or `all` (default).
    period: String,
    comments: String,
    cpage: String,
}

/// `?page=` as a number from 1; anything else is a page that does not exist.
pub fn page_number(raw: &str) -> AppResult<i64> {
    match raw.trim() {
        "" => Ok(1),
        n => n.parse::<i64>().ok().filter(|n| (1..=100_000).contains(n)).ok_or(AppError::NotFound),
    }
}

fn view(state: &AppState, post: &Post, author: &User) -> PostView {
    PostView {
        id: post.id,
        title: post.title.clone(),
        slug: post.slug.clone(),
        url: store::url(&author.username, &post.slug),
        excerpt: post.excerpt.clone(),
        body_html: post.body_html.clone(),
        state: post.state(),
        published_at: post.published_at,
        updated_at: post.updated_at,
        featured: post.featured,
        score: post.score,
        comment_count: post.comment_count,
        author: author.author(&state.config),
    }
}

/// Views of posts with their authors, loaded in one query.
pub async fn views(state: &AppState, posts: &[Post]) -> AppResult<Vec<PostView>> {
    let ids: Vec<i64> = posts.iter().map(|p| p.user_id).collect();
    let authors = members::by_ids(&state.db, &ids).await?;
    // A deactivated member's posts are hidden with them.
    Ok(posts
        .iter()
        .filter_map(|p| authors.get(&p.user_id).filter(|a| a.is_active).map(|a| view(state, p, a)))
        .collect())
}

/// The list order from `?sort=` and `?period=`; unknown values are a 404.
fn order(q: &ListQuery) -> AppResult<(Order, &'static str, &'static str)> {
    let period = match q.period.as_str() {
        "" | "all" => ("all", 0),
        "week" => ("week", 7),
        "day" => ("day", 1),
        _ => return Err(AppError::NotFound),
    };
    Ok(match q.sort.as_str() {
        "" | "new" => (Order::New, "new", "all"),
        "hot" => (Order::Hot, "hot", "all"),
        "top" => (Order::Top { days: period.1 }, "top", period.0),
        _ => return Err(AppError::NotFound),
    })
}

pub async fn latest(State(state): State<AppState>, page: Page, Query(q): Query<ListQuery>) -> AppResult<Response> {
    let number = page_number(&q.page)?;
    let (order, sort, period) = order(&q)?;
    let (posts, has_next) = store::list(&state.db, None, order, number).await?;
    if posts.is_empty() && number > 1 {
        return Err(AppError::NotFound);
    }
    let posts = views(&state, &posts).await?;
    let page = page.tagged(author_tags(&posts)).tagged([tags::BLOG.to_string()]).changes_at(store::next_due(&state.db, None).await?);
    // Pages keep the order in their links.
    let base = match sort {
        "new" => "/blog".to_string(),
        "top" => format!("/blog?sort=top&period={period}"),
        other => format!("/blog?sort={other}"),
    };
    page.render(
        "blog/index.html",
        context! { posts => posts, page => number, has_next => has_next, has_prev => number > 1, base => base, sort => sort, period => period },
    )
}

pub async fn member_blog(State(state): State<AppState>, page: Page, Path(username): Path<String>, Query(q): Query<ListQuery>) -> AppResult<Response> {
    let number = page_number(&q.page)?;
    let author = members::by_username(&state.db, &username).await?.filter(|u| u.is_active).ok_or(AppError::NotFound)?;
    let (posts, has_next) = store::list(&state.db, Some(author.id), Order::New, number).await?;
    if posts.is_empty() && number > 1 {
        return Err(AppError::NotFound);
    }
    let is_self = page.session.as_ref().is_some_and(|s| s.user.id == author.id);
    let pending = if is_self { store::unpublished(&state.db, author.id).await? } else { Vec::new() };
    let posts = views(&state, &posts).await?;
    let pending = views(&state, &pending).await?;
    let page = page.tagged([tags::member_blog(author.id), tags::user(author.id)]).changes_at(store::next_due(&state.db, Some(author.id)).await?);
    page.render(
        "blog/member.html",
        context! {
            author => author.profile(&state.config), posts => posts, pending => pending, is_self => is_self,
            page => number, has_next => has_next, has_prev => number > 1, base => format!("/blog/{}", author.username),
        },
    )
}

/// Finds a post for a viewer: drafts and scheduled posts only for their author.
async fn find(state: &AppState, username: &str, slug: &str, viewer: Option<&User>) -> AppResult<(Post, User, bool)> {
    let author = members::by_username(&state.db, username).await?.filter(|u| u.is_active).ok_or(AppError::NotFound)?;
    let (post, old_slug) = store::by_slug(&state.db, author.id, slug).await?.ok_or(AppError::NotFound)?;
    let is_author = viewer.is_some_and(|v| v.id == author.id);
    if !post.is_visible() && !is_author {
        return Err(AppError::NotFound);
    }
    Ok((post, author, old_slug))
}

pub async fn by_id(State(state): State<AppState>, Path(id): Path<i64>) -> AppResult<Response> {
    let post = store::by_id(&state.db, id).await?.filter(|p| p.is_visible()).ok_or(AppError::NotFound)?;
    let author = members::by_id(&state.db, post.user_id).await?.ok_or(AppError::NotFound)?;
    Ok(Redirect::permanent(&store::url(&author.username, &post.slug)).into_response())
}

pub async fn post_page(
    State(state): State<AppState>,
    page: Page,
    Path((username, slug)): Path<(String, String)>,
    Query(q): Query<ListQuery>,
) -> AppResult<Response> {
    let viewer = page.session.as_ref().map(|s| s.user.clone());
    let (post, author, old_slug) = find(&state, &username, &slug, viewer.as_ref()).await?;
    if old_slug || author.username != username {
        return Ok(Redirect::permanent(&store::url(&author.username, &post.slug)).into_response());
    }
    let kind = crate::content::kind("blog_post").expect("blog posts are a kind");
    let sort = comments::Sort::parse(&q.comments);
    let cpage = page_number(&q.cpage)?;
    let thread = comments::thread(&state, kind, post.id, post.comment_count, sort, cpage, viewer.as_ref()).await?;
    let my_vote = match &viewer {
        Some(v) => crate::votes::mine(&state, kind, &[post.id], v.id).await?.first().map(|(_, v)| *v).unwrap_or(0),
        None => 0,
    };
    let (older, newer) = store::neighbours(&state.db, &post).await?;
    let neighbours: Vec<Post> = older.iter().chain(newer.iter()).cloned().collect();
    let neighbour_views = views(&state, &neighbours).await?;
    let (older_view, newer_view) = split_neighbours(neighbour_views, older.is_some());
    let is_author = viewer.as_ref().is_some_and(|v| v.id == author.id);
    let can_feature = viewer.as_ref().is_some_and(|v| v.is_staff());
    let canonical = format!("{}{}", state.config.public_url(), store::url(&author.username, &post.slug));
    // Older and newer links change with the author's other posts.
    let mut shown = vec![tags::item(kind.name, post.id), tags::member_blog(author.id), tags::user(author.id)];
    comments::store::author_tags(&thread.comments, &mut shown);
    let page = page.tagged(shown).changes_at(store::next_due(&state.db, Some(author.id)).await?);
    page.render(
        "blog/post.html",
        context! {
            post => view(&state, &post, &author), author_profile => author.profile(&state.config),
            thread => thread, my_vote => my_vote, older => older_view, newer => newer_view,
            is_author => is_author, can_feature => can_feature, canonical => canonical,
        },
    )
}

/// The page-cache tags of the authors of `posts`.
fn author_tags(posts: &[PostView]) -> Vec<String> {
    posts.iter().map(|p| tags::user(p.author.id)).collect()
}

/// After a post is written, edited, deleted or (un)featured: the blog's
/// lists and feeds, the author's blog, the post's page, the home page.
async fn touch_post(state: &AppState, author: i64, post: i64) {
    tags::touch(state, &[tags::BLOG.to_string(), tags::member_blog(author), tags::item("blog_post", post)]).await;
}

fn split_neighbours(mut views: Vec<PostView>, has_older: bool) -> (Option<PostView>, Option<PostView>) {
    let newer = if views.len() == 2 || (!has_older && views.len() == 1) { views.pop() } else { None };
    (views.pop(), newer)
}

#[derive(Deserialize, Default, Clone)]
#[serde(default)]
pub struct PostForm {
    title: String,
    body: String,
    slug: String,
    /// `draft`, `publish` or `schedule` (the button pressed), or `preview`.
    action: String,
    /// For scheduling: `YYYY-MM-DDTHH:MM` in UTC, as a datetime-local field sends it.
    publish_at: String,
}

fn form_values(form: &PostForm) -> Value {
    context! { title => form.title, body => form.body, slug => form.slug, publish_at => form.publish_at }
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

/// Checks the form; on success, the fields to save (slug not yet made unique).
fn check(form: &PostForm, current: Option<&Post>) -> Result<Draft, FieldErrors> {
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
    Ok(Draft { title: title.to_string(), slug, body: form.body.clone(), status, published_at })
}

pub async fn new_page(Member(_me): Member, page: Page) -> AppResult<Response> {
    page.with_csrf().render("blog/edit.html", context! { form => context! {}, errors => context! {}, editing => false, action => "/blog/new" })
}

/// Re-renders the writing page with errors, or with a preview.
fn rerender(page: Page, form: &PostForm, errors: FieldErrors, action: &str, editing: bool) -> AppResult<Response> {
    let status = if errors.is_empty() { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
    let preview = errors.is_empty().then(|| crate::markdown::render(&form.body));
    page.with_csrf().render_status(
        status,
        "blog/edit.html",
        context! { form => form_values(form), errors => errors, preview => preview, editing => editing, action => action },
    )
}

pub async fn create(State(state): State<AppState>, Member(me): Member, page: Page, Form(form): Form<PostForm>) -> AppResult<Response> {
    if form.action == "preview" {
        return rerender(page, &form, FieldErrors::new(), "/blog/new", false);
    }
    rate_limit(&state, "blog-post", &me.user.id.to_string(), 20).await?;
    let mut draft = match check(&form, None) {
        Ok(d) => d,
        Err(errors) => return rerender(page, &form, errors, "/blog/new", false),
    };
    draft.slug = store::free_slug(&state.db, me.user.id, &draft.slug, None).await?;
    let id = store::create(&state.db, me.user.id, &draft).await?;
    touch_post(&state, me.user.id, id).await;
    let url = store::url(&me.user.username, &draft.slug);
    let text = match draft.status {
        "draft" => "Draft saved. Only you can see it.",
        "scheduled" if draft.published_at.is_some_and(|t| t > now()) => "Scheduled: it will appear at the time you chose.",
        _ => "Published.",
    };
    tracing::info!(post = id, "blog post saved");
    Ok(redirect_with_flash(&state, &url, "success", text))
}

/// The author's own post, for editing and deleting.
async fn own(state: &AppState, me: &User, username: &str, slug: &str) -> AppResult<Post> {
    let (post, author, _) = find(state, username, slug, Some(me)).await?;
    if author.id != me.id {
        return Err(AppError::forbidden("You can only change your own posts."));
    }
    Ok(post)
}

pub async fn edit_page(State(state): State<AppState>, Member(me): Member, page: Page, Path((username, slug)): Path<(String, String)>) -> AppResult<Response> {
    let post = own(&state, &me.user, &username, &slug).await?;
    let publish_at = post
        .published_at
        .and_then(|t| time::OffsetDateTime::from_unix_timestamp(t).ok())
        .and_then(|t| t.format(time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]")).ok())
        .unwrap_or_default();
    let action = format!("{}/edit", store::url(&me.user.username, &post.slug));
    page.with_csrf().render(
        "blog/edit.html",
        context! {
            form => context! { title => post.title, body => post.body, slug => post.slug, publish_at => publish_at },
            errors => context! {}, editing => true, action => action, state => post.state(),
            delete_action => format!("{}/delete", store::url(&me.user.username, &post.slug)),
        },
    )
}

pub async fn update(
    State(state): State<AppState>,
    Member(me): Member,
    page: Page,
    Path((username, slug)): Path<(String, String)>,
    Form(form): Form<PostForm>,
) -> AppResult<Response> {
    let post = own(&state, &me.user, &username, &slug).await?;
    let action = format!("{}/edit", store::url(&me.user.username, &post.slug));
    if form.action == "preview" {
        return rerender(page, &form, FieldErrors::new(), &action, true);
    }
    let mut draft = match check(&form, Some(&post)) {
        Ok(d) => d,
        Err(errors) => return rerender(page, &form, errors, &action, true),
    };
    // The slug stays unless the author changed it.
    draft.slug = if form.slug.trim().is_empty() || store::slugify(form.slug.trim()) == post.slug {
        post.slug.clone()
    } else {
        store::free_slug(&state.db, me.user.id, &draft.slug, Some(post.id)).await?
    };
    store::update(&state.db, &post, &draft).await?;
    touch_post(&state, me.user.id, post.id).await;
    Ok(redirect_with_flash(&state, &store::url(&me.user.username, &draft.slug), "success", "Your post is saved."))
}

pub async fn delete(State(state): State<AppState>, Member(me): Member, Path((username, slug)): Path<(String, String)>) -> AppResult<Response> {
    let post = own(&state, &me.user, &username, &slug).await?;
    state.db.query("DELETE FROM blog_posts WHERE id = ?").bind(post.id).execute(state.db.w()).await?;
    crate::content::remove_attachments(&state, "blog_post", post.id).await?;
    touch_post(&state, me.user.id, post.id).await;
    Ok(redirect_with_flash(&state, &format!("/blog/{}", me.user.username), "success", "Your post is deleted."))
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct FeatureForm {
    featured: String,
}

/// Staff feature a post on the home page, or stop featuring it.
pub async fn feature(
    State(state): State<AppState>,
    Member(me): Member,
    Path((username, slug)): Path<(String, String)>,
    Form(form): Form<FeatureForm>,
) -> AppResult<Response> {
    if !me.user.is_staff() {
        return Err(AppError::forbidden("Only staff can feature posts."));
    }
    let (post, author, _) = find(&state, &username, &slug, None).await?;
    let featured = form.featured == "1";
    state.db.query("UPDATE blog_posts SET featured = ? WHERE id = ?").bind(featured as i64).bind(post.id).execute(state.db.w()).await?;
    touch_post(&state, author.id, post.id).await;
    members::audit(&state.db, me.user.id, if featured { "blog.feature" } else { "blog.unfeature" }, "blog_post", post.id, &post.title).await?;
    let text = if featured { "Featured on the home page." } else { "No longer featured." };
    Ok(redirect_with_flash(&state, &store::url(&author.username, &post.slug), "success", text))
}
