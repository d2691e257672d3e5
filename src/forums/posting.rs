//! Writing: new topics, replies, editing and deleting posts. Every refusal
//! says why and changes nothing.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use minijinja::context;
use serde::Deserialize;

use super::store::{self, Forum, Post, Topic};
use super::views::{render_topic, Draft};
use super::write::{self, NewPost, Refused};
use super::{can_post, can_see, page_of, parse_id, parse_topic_param, topic_page_path, visible_topic, FieldErrors};
use super::{MAX_BODY, MAX_TITLE, MIN_TITLE, POSTS_PER_WINDOW};
use crate::accounts::store::{audit, User};
use crate::app::AppState;
use crate::db::now;
use crate::web::error::{AppError, AppResult};
use crate::web::page::{redirect_with_flash, Page};
use crate::web::rate_limit;
use crate::web::session::Member;

fn check_body(body: &str, errors: &mut FieldErrors) {
    let length = body.chars().count();
    if body.trim().is_empty() {
        errors.insert("body", "Write something first: the post is empty.".into());
    } else if length > MAX_BODY {
        errors.insert("body", format!("Keep posts under {MAX_BODY} characters; this one has {length}."));
    }
}

pub(super) fn check_title(title: &str, errors: &mut FieldErrors) {
    let length = super::clean_title(title).chars().count();
    if length < MIN_TITLE {
        errors.insert("title", format!("Give the topic a title of at least {MIN_TITLE} characters."));
    } else if length > MAX_TITLE {
        errors.insert("title", format!("Keep the title under {MAX_TITLE} characters; this one has {length}."));
    }
}

const LOCKED: &str = "This topic is locked: it takes no new replies.";

/// Why this member may not post in the forum, if they may not.
fn posting_refusal(forum: &Forum, user: &User) -> Option<AppError> {
    (!can_post(forum, user)).then(|| {
        AppError::forbidden("Only moderators and staff post in this forum; members can read it.")
    })
}

async fn postable_forum(state: &AppState, slug: &str, user: &User) -> AppResult<Forum> {
    let forum = store::forum_by_slug(&state.db, slug).await?.filter(|f| can_see(f, Some(user))).ok_or(AppError::NotFound)?;
    match posting_refusal(&forum, user) {
        Some(refusal) => Err(refusal),
        None => Ok(forum),
    }
}

/// A post by `user` now, if their rate limit allows it, following the
/// topic if their setting says so.
async fn new_post<'a>(state: &AppState, user: &User, body: &'a str) -> AppResult<NewPost<'a>> {
    rate_limit(state, "forum-post", &user.id.to_string(), POSTS_PER_WINDOW).await?;
    let subscribe = store::forum_member(&state.db, user.id).await?.auto_subscribe;
    Ok(NewPost { author: user.id, body, at: now(), subscribe })
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct TopicForm {
    title: String,
    body: String,
}

fn render_new_topic(page: Page, forum: &Forum, status: StatusCode, form: &TopicForm, errors: FieldErrors) -> AppResult<Response> {
    page.with_csrf().render_status(
        status,
        "forums/new_topic.html",
        context! {
            forum => context! { name => forum.name.clone(), slug => forum.slug.clone(), url => format!("/forums/{}", forum.slug) },
            form => context! { title => form.title.clone(), body => form.body.clone() }, errors => errors,
            max_title => MAX_TITLE, max_body => MAX_BODY,
        },
    )
}

pub async fn new_topic_page(State(state): State<AppState>, Member(me): Member, page: Page, Path(slug): Path<String>) -> AppResult<Response> {
    let forum = postable_forum(&state, &slug, &me.user).await?;
    render_new_topic(page, &forum, StatusCode::OK, &TopicForm::default(), FieldErrors::new())
}

pub async fn new_topic(
    State(state): State<AppState>,
    Member(me): Member,
    page: Page,
    Path(slug): Path<String>,
    Form(form): Form<TopicForm>,
) -> AppResult<Response> {
    let forum = postable_forum(&state, &slug, &me.user).await?;
    let mut errors = FieldErrors::new();
    check_title(&form.title, &mut errors);
    check_body(&form.body, &mut errors);
    if !errors.is_empty() {
        return render_new_topic(page, &forum, StatusCode::UNPROCESSABLE_ENTITY, &form, errors);
    }
    let post = new_post(&state, &me.user, &form.body).await?;
    let (topic_id, _) = write::create_topic(&state.db, &forum, &form.title, post).await?;
    super::touch_post(&state, topic_id, forum.id, Some(me.user.id)).await;
    let topic = store::topic_by_id(&state.db, topic_id).await?.ok_or(AppError::NotFound)?;
    Ok(Redirect::to(&topic.path()).into_response())
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct ReplyForm {
    body: String,
}

pub async fn reply(
    State(state): State<AppState>,
    Member(me): Member,
    page: Page,
    Path(param): Path<String>,
    Form(form): Form<ReplyForm>,
) -> AppResult<Response> {
    let (topic, forum) = visible_topic(&state, parse_topic_param(&param)?.0, Some(&me.user)).await?;
    if let Some(refusal) = posting_refusal(&forum, &me.user) {
        return Err(refusal);
    }
    let moderator = me.user.is_moderator();
    if topic.locked && !moderator {
        return Err(AppError::forbidden(LOCKED));
    }
    let mut errors = FieldErrors::new();
    check_body(&form.body, &mut errors);
    if !errors.is_empty() {
        let last = page_of(topic.last_number);
        let draft = Draft { body: form.body, errors };
        return render_topic(&state, page, &topic, &forum, last, draft, StatusCode::UNPROCESSABLE_ENTITY).await;
    }
    let post = new_post(&state, &me.user, &form.body).await?;
    let (post_id, number) = match write::reply(&state.db, topic.id, post, moderator).await? {
        Ok(done) => done,
        Err(Refused::Locked) => return Err(AppError::forbidden(LOCKED)),
        Err(_) => return Err(AppError::NotFound),
    };
    super::touch_post(&state, topic.id, forum.id, Some(me.user.id)).await;
    super::subscriptions::notify(&state, &topic, &me.user, post_id, number, &form.body).await;
    Ok(Redirect::to(&topic_page_path(&topic, page_of(number), Some(post_id))).into_response())
}

/// A post with its topic and forum, if this member may change it: their
/// own in an open topic, or any as a moderator.
async fn changeable_post(state: &AppState, param: &str, user: &User) -> AppResult<(Post, Topic, Forum)> {
    let post = store::post_by_id(&state.db, parse_id(param)?).await?.filter(|p| !p.deleted).ok_or(AppError::NotFound)?;
    let (topic, forum) = visible_topic(state, post.topic_id, Some(user)).await?;
    if user.is_moderator() {
        return Ok((post, topic, forum));
    }
    if post.user_id != Some(user.id) {
        return Err(AppError::forbidden("You can only change your own posts."));
    }
    if topic.locked {
        return Err(AppError::forbidden(LOCKED));
    }
    Ok((post, topic, forum))
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct EditForm {
    title: Option<String>,
    body: String,
}

fn render_edit(page: Page, post: &Post, topic: &Topic, status: StatusCode, title: &str, body: &str, errors: FieldErrors) -> AppResult<Response> {
    page.with_csrf().render_status(
        status,
        "forums/edit_post.html",
        context! {
            post => context! { id => post.id, number => post.number, url => format!("/forums/p/{}", post.id) },
            topic => context! { title => topic.title.clone(), url => topic.path() },
            with_title => post.number == 1,
            form => context! { title => title, body => body }, errors => errors,
            max_title => MAX_TITLE, max_body => MAX_BODY,
        },
    )
}

pub async fn edit_page(State(state): State<AppState>, Member(me): Member, page: Page, Path(param): Path<String>) -> AppResult<Response> {
    let (post, topic, _) = changeable_post(&state, &param, &me.user).await?;
    render_edit(page, &post, &topic, StatusCode::OK, &topic.title, &post.body, FieldErrors::new())
}

pub async fn edit(
    State(state): State<AppState>,
    Member(me): Member,
    page: Page,
    Path(param): Path<String>,
    Form(form): Form<EditForm>,
) -> AppResult<Response> {
    let (post, topic, forum) = changeable_post(&state, &param, &me.user).await?;
    let mut errors = FieldErrors::new();
    // Only an opening post carries the topic's title.
    let title = form.title.as_deref().filter(|_| post.number == 1);
    if let Some(title) = title {
        check_title(title, &mut errors);
    }
    check_body(&form.body, &mut errors);
    if !errors.is_empty() {
        let shown_title = title.unwrap_or(&topic.title);
        return render_edit(page, &post, &topic, StatusCode::UNPROCESSABLE_ENTITY, shown_title, &form.body, errors);
    }
    rate_limit(&state, "forum-edit", &me.user.id.to_string(), POSTS_PER_WINDOW * 3).await?;
    if write::edit_post(&state.db, post.id, &form.body, title, me.user.id, now()).await?.is_err() {
        return Err(AppError::NotFound);
    }
    super::touch_post(&state, topic.id, forum.id, None).await;
    if post.user_id != Some(me.user.id) {
        audit(&state.db, me.user.id, "forum.post.edit", "forum_post", post.id, &topic.title).await?;
    }
    Ok(redirect_with_flash(&state, &format!("/forums/p/{}", post.id), "success", "Your changes are saved."))
}

pub async fn delete(State(state): State<AppState>, Member(me): Member, Path(param): Path<String>) -> AppResult<Response> {
    let (post, topic, forum) = changeable_post(&state, &param, &me.user).await?;
    let topic_gone = match write::delete_post(&state.db, post.id, &topic).await? {
        Ok(gone) => gone,
        Err(_) => return Err(AppError::NotFound),
    };
    super::touch_post(&state, topic.id, forum.id, post.user_id).await;
    audit(&state.db, me.user.id, "forum.post.delete", "forum_post", post.id, &topic.title).await?;
    if topic_gone {
        return Ok(redirect_with_flash(&state, &format!("/forums/{}", forum.slug), "success", "The post and its topic are deleted."));
    }
    let back = topic_page_path(&topic, page_of(post.number), Some(post.id));
    Ok(redirect_with_flash(&state, &back, "success", "The post is deleted."))
}
