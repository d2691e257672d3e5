//! Blog pages: latest posts, a member's blog, a post, and the writing page.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use minijinja::context;
use serde::Deserialize;

use super::form::{self, PostForm, Submission, Upload};
use super::store::{self, Order, Post, PostView};
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

impl ListQuery {
    pub fn page(&self) -> &str {
        &self.page
    }
}

/// `?page=` as a number from 1; anything else is a page that does not exist.
pub fn page_number(raw: &str) -> AppResult<i64> {
    match raw.trim() {
        "" => Ok(1),
        n => n.parse::<i64>().ok().filter(|n| (1..=100_000).contains(n)).ok_or(AppError::NotFound),
    }
}

fn view(state: &AppState, post: &Post, author: &User, tags: Vec<String>) -> PostView {
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
        tags,
        cover: post.cover.as_ref().map(|c| super::cover::view(state, post.user_id, c)),
    }
}

/// Views of posts with their authors and tags, loaded in one query each.
pub async fn views(state: &AppState, posts: &[Post]) -> AppResult<Vec<PostView>> {
    let ids: Vec<i64> = posts.iter().map(|p| p.user_id).collect();
    let authors = members::by_ids(&state.db, &ids).await?;
    let post_ids: Vec<i64> = posts.iter().map(|p| p.id).collect();
    let mut tags = super::tagged::for_posts(&state.db, &post_ids).await?;
    // A deactivated member's posts are hidden with them.
    Ok(posts
        .iter()
        .filter_map(|p| {
            let author = authors.get(&p.user_id).filter(|a| a.is_active)?;
            Some(view(state, p, author, tags.remove(&p.id).unwrap_or_default()))
        })
        .collect())
}

/// One post's view, with its tags.
async fn full_view(state: &AppState, post: &Post, author: &User) -> AppResult<PostView> {
    let tags = super::tagged::for_posts(&state.db, &[post.id]).await?.remove(&post.id).unwrap_or_default();
    Ok(view(state, post, author, tags))
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
    let latest_month = super::months::list(&state.db, None).await?.into_iter().next().map(|m| m.path);
    page.render(
        "blog/index.html",
        context! {
            posts => posts, page => number, has_next => has_next, has_prev => number > 1, base => base, sort => sort, period => period,
            latest_month => latest_month,
        },
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
    let months = super::months::list(&state.db, Some(author.id)).await?;
    page.render(
        "blog/member.html",
        context! {
            author => author.profile(&state.config), posts => posts, pending => pending, is_self => is_self, months => months,
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
            post => full_view(&state, &post, &author).await?, author_profile => author.profile(&state.config),
            thread => thread, my_vote => my_vote, older => older_view, newer => newer_view,
            is_author => is_author, can_feature => can_feature, canonical => canonical,
        },
    )
}

/// The page-cache tags of the authors of `posts`.
fn author_tags(posts: &[PostView]) -> Vec<String> {
    posts.iter().map(|p| tags::user(p.author.id)).collect()
}

fn split_neighbours(mut views: Vec<PostView>, has_older: bool) -> (Option<PostView>, Option<PostView>) {
    let newer = if views.len() == 2 || (!has_older && views.len() == 1) { views.pop() } else { None };
    (views.pop(), newer)
}

pub async fn new_page(State(state): State<AppState>, Member(_me): Member, page: Page) -> AppResult<Response> {
    page.with_csrf().render(
        "blog/edit.html",
        context! { form => context! {}, errors => context! {}, editing => false, action => "/blog/new", max_cover => max_cover(&state) },
    )
}

/// The cover size limit, as the form's hint says it ("10 MB").
fn max_cover(state: &AppState) -> String {
    crate::media::images::describe_bytes(state.config.blog.cover_max_bytes)
}

/// What the writing page shows besides the form: where it posts, and the
/// post's current cover when editing.
struct Writing<'a> {
    action: &'a str,
    current: Option<&'a Post>,
}

/// Re-renders the writing page with errors, or with a preview.
fn rerender(state: &AppState, page: Page, form: &PostForm, errors: FieldErrors, writing: Writing) -> AppResult<Response> {
    let status = if errors.is_empty() { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
    let preview = errors.is_empty().then(|| crate::markdown::render(&form.body));
    let cover = writing.current.and_then(|p| p.cover.as_ref().map(|c| super::cover::view(state, p.user_id, c)));
    page.with_csrf().render_status(
        status,
        "blog/edit.html",
        context! {
            form => form::values(form), errors => errors, preview => preview, editing => writing.current.is_some(),
            action => writing.action, cover => cover, max_cover => max_cover(state),
        },
    )
}

/// The cover a save ends with: a new upload made into its sizes, or the
/// draft's (kept or removed). Err is the member's message for the `file` field.
async fn cover_of(state: &AppState, user_id: i64, upload: Upload, kept: Option<super::cover::Cover>) -> AppResult<Result<Option<super::cover::Cover>, String>> {
    match upload {
        Upload::None => Ok(Ok(kept)),
        Upload::TooLarge => Ok(Err(crate::media::images::ImageError::TooLarge { max_bytes: state.config.blog.cover_max_bytes }.to_string())),
        Upload::File(bytes) => Ok(super::cover::store(state, user_id, bytes).await?.map(Some)),
    }
}

pub async fn create(State(state): State<AppState>, Member(me): Member, page: Page, submission: Submission) -> AppResult<Response> {
    let Submission { form, upload } = submission;
    let writing = Writing { action: "/blog/new", current: None };
    if form.action == "preview" {
        return rerender(&state, page, &form, FieldErrors::new(), writing);
    }
    rate_limit(&state, "blog-post", &me.user.id.to_string(), 20).await?;
    let mut draft = match form::check(&form, None) {
        Ok(d) => d,
        Err(errors) => return rerender(&state, page, &form, errors, writing),
    };
    draft.cover = match cover_of(&state, me.user.id, upload, None).await? {
        Ok(cover) => cover,
        Err(message) => return rerender(&state, page, &form, FieldErrors::from([("file", message)]), writing),
    };
    draft.slug = store::free_slug(&state.db, me.user.id, &draft.slug, None).await?;
    let id = store::create(&state.db, me.user.id, &draft).await?;
    super::touch_post(&state, me.user.id, id).await;
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
    let tags = super::tagged::for_posts(&state.db, &[post.id]).await?.remove(&post.id).unwrap_or_default();
    let cover = post.cover.as_ref().map(|c| super::cover::view(&state, post.user_id, c));
    page.with_csrf().render(
        "blog/edit.html",
        context! {
            form => context! { title => post.title, body => post.body, slug => post.slug, tags => crate::tags::join(&tags), publish_at => publish_at },
            errors => context! {}, editing => true, action => action, state => post.state(), cover => cover,
            max_cover => max_cover(&state),
            delete_action => format!("{}/delete", store::url(&me.user.username, &post.slug)),
        },
    )
}

pub async fn update(
    State(state): State<AppState>,
    Member(me): Member,
    page: Page,
    Path((username, slug)): Path<(String, String)>,
    submission: Submission,
) -> AppResult<Response> {
    let Submission { form, upload } = submission;
    let post = own(&state, &me.user, &username, &slug).await?;
    let action = format!("{}/edit", store::url(&me.user.username, &post.slug));
    let writing = Writing { action: &action, current: Some(&post) };
    if form.action == "preview" {
        return rerender(&state, page, &form, FieldErrors::new(), writing);
    }
    let mut draft = match form::check(&form, Some(&post)) {
        Ok(d) => d,
        Err(errors) => return rerender(&state, page, &form, errors, writing),
    };
    draft.cover = match cover_of(&state, me.user.id, upload, draft.cover.take()).await? {
        Ok(cover) => cover,
        Err(message) => return rerender(&state, page, &form, FieldErrors::from([("file", message)]), writing),
    };
    // The slug stays unless the author changed it.
    draft.slug = if form.slug.trim().is_empty() || store::slugify(form.slug.trim()) == post.slug {
        post.slug.clone()
    } else {
        store::free_slug(&state.db, me.user.id, &draft.slug, Some(post.id)).await?
    };
    if let Some(old) = store::update(&state.db, &post, &draft).await? {
        super::cover::remove_if_unused(&state, me.user.id, &old).await;
    }
    super::touch_post(&state, me.user.id, post.id).await;
    Ok(redirect_with_flash(&state, &store::url(&me.user.username, &draft.slug), "success", "Your post is saved."))
}

pub async fn delete(State(state): State<AppState>, Member(me): Member, Path((username, slug)): Path<(String, String)>) -> AppResult<Response> {
    let post = own(&state, &me.user, &username, &slug).await?;
    super::delete_post(&state, post.id).await?;
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
    super::touch_post(&state, author.id, post.id).await;
    members::audit(&state.db, me.user.id, if featured { "blog.feature" } else { "blog.unfeature" }, "blog_post", post.id, &post.title).await?;
    let text = if featured { "Featured on the home page." } else { "No longer featured." };
    Ok(redirect_with_flash(&state, &store::url(&author.username, &post.slug), "success", text))
}
