//! Forums: categories of forums, forums of topics, topics of posts; unread
//! marks, subscriptions by email, moderation, and staff management of the
//! forums themselves.

pub mod migrations;
pub mod store;
pub mod write;

mod manage;
mod moderation;
mod posting;
mod reading;
mod subscriptions;
mod views;

/// The job that emails a topic's subscribers about a new reply.
pub use subscriptions::{run_notify, NOTIFY_KIND};

use axum::routing::{get, post};
use axum::Router;

use crate::accounts::store::User;
use crate::app::AppState;
use crate::web::error::{AppError, AppResult};
use store::{Forum, Topic, Visibility};

/// Field name to message, for forms re-rendered with their errors.
pub type FieldErrors = std::collections::BTreeMap<&'static str, String>;

/// Topics on a forum page, and posts on a topic page.
pub const TOPICS_PER_PAGE: i64 = 25;
pub const POSTS_PER_PAGE: i64 = 20;
/// Sticky topics shown above the list (a forum should never need more).
pub const MAX_STICKY: i64 = 50;
pub const MAX_TITLE: usize = 150;
pub const MIN_TITLE: usize = 3;
pub const MAX_BODY: usize = 20_000;
pub const MAX_SIGNATURE: usize = 500;
/// New topics and replies per member per rate-limit window.
pub const POSTS_PER_WINDOW: u64 = 20;
/// Posts older than this count as read: it bounds the work of unread marks.
pub const UNREAD_DAYS: i64 = 30;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/forums", get(views::index))
        .route("/forums/read", post(reading::mark_all_read))
        .route("/forums/settings", get(reading::settings_page).post(reading::save_settings))
        .route("/forums/log", get(moderation::log))
        .route("/forums/manage", get(manage::page))
        .route("/forums/manage/categories", post(manage::save_category))
        .route("/forums/manage/forums", post(manage::save_forum))
        .route("/forums/unsubscribe/{token}", get(subscriptions::unsubscribe_link))
        .route("/forums/t/{topic}", get(views::topic))
        .route("/forums/t/{topic}/unread", get(views::first_unread))
        .route("/forums/t/{topic}/reply", post(posting::reply))
        .route("/forums/t/{topic}/subscribe", post(subscriptions::toggle))
        .route("/forums/t/{topic}/moderate", post(moderation::moderate))
        .route("/forums/t/{topic}/split", post(moderation::split))
        .route("/forums/p/{post}", get(views::permalink))
        .route("/forums/p/{post}/edit", get(posting::edit_page).post(posting::edit))
        .route("/forums/p/{post}/delete", post(posting::delete))
        .route("/forums/{slug}", get(views::forum))
        .route("/forums/{slug}/new", get(posting::new_topic_page).post(posting::new_topic))
}

/// After a post is written, edited or deleted: its topic's pages, its
/// forum's list, the forum index, and the author's card (post count) on
/// every page that shows it.
pub async fn touch_post(state: &AppState, topic_id: i64, forum_id: i64, author: Option<i64>) {
    use crate::pagecache::tags;
    let mut changed = vec![tags::topic(topic_id), tags::forum(forum_id), tags::FORUMS.to_string()];
    changed.extend(author.map(tags::user));
    tags::touch(state, &changed).await;
}

/// A post members may see and vote on (`?` is now, unused): live, by an
/// active member, in a live topic of a forum that is not staff-only.
pub const VISIBLE: &str = "deleted = 0 AND 0 < ? \
    AND EXISTS (SELECT 1 FROM users u WHERE u.id = forum_posts.user_id AND u.is_active = 1) \
    AND EXISTS (SELECT 1 FROM forum_topics t JOIN forums f ON f.id = t.forum_id \
    WHERE t.id = forum_posts.topic_id AND t.deleted = 0 AND f.visibility <> 'staff')";

/// A topic's score is its opening post's: "top" lists order by it.
pub const TOPIC_SCORE_COPY: &str = "UPDATE forum_topics SET score = ? WHERE id = (SELECT topic_id FROM forum_posts WHERE id = ? AND number = 1)";

/// Locks a post's topic before a vote locks the post: every forum writer
/// takes the topic first, so a vote and a delete of the post never wait on
/// each other in opposite order.
pub const TOPIC_SCORE_LOCK: &str = "SELECT id FROM forum_topics WHERE id = (SELECT topic_id FROM forum_posts WHERE id = ?) FOR UPDATE";

/// Words a forum or category slug cannot be: the forums' own paths.
pub const RESERVED_SLUGS: &[&str] = &["t", "p", "read", "settings", "log", "manage", "unsubscribe", "new"];

/// Can this visitor see the forum at all? Staff-only forums are for the
/// team: staff and moderators.
pub fn can_see(forum: &Forum, user: Option<&User>) -> bool {
    forum.visibility != Visibility::Staff || user.is_some_and(User::is_moderator)
}

/// Can this member start topics and reply in the forum?
pub fn can_post(forum: &Forum, user: &User) -> bool {
    forum.visibility == Visibility::Public || user.is_moderator()
}

/// A title on one line: runs of whitespace and control characters become
/// one space, so a title never breaks a layout or an email header.
pub fn clean_title(title: &str) -> String {
    let spaced: String = title.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    spaced.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A URL-friendly form of a title: lower-case ASCII letters and digits
/// joined by hyphens, at most `max` bytes; "topic" when nothing is left.
pub fn slugify(title: &str, max: usize) -> String {
    let mut slug = String::with_capacity(title.len().min(max));
    for c in title.trim().chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() {
            slug.push(c);
        } else if !slug.is_empty() && !slug.ends_with('-') {
            slug.push('-');
        }
        if slug.len() >= max {
            break;
        }
    }
    let slug = slug.trim_end_matches('-');
    if slug.is_empty() { "topic".to_string() } else { slug.to_string() }
}

/// A positive id written plainly (no sign, no leading zero), or a 404.
fn parse_id(s: &str) -> AppResult<i64> {
    let plain = !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) && !s.starts_with('0');
    s.parse::<i64>().ok().filter(|_| plain).ok_or(AppError::NotFound)
}

/// The id in `/forums/t/{id}` or `/forums/t/{id}-{slug}`, and the slug.
fn parse_topic_param(param: &str) -> AppResult<(i64, Option<&str>)> {
    match param.split_once('-') {
        Some((id, slug)) => Ok((parse_id(id)?, Some(slug))),
        None => Ok((parse_id(param)?, None)),
    }
}

/// A live topic and its forum, if this visitor may see them.
async fn visible_topic(state: &AppState, id: i64, user: Option<&User>) -> AppResult<(Topic, Forum)> {
    let topic = store::topic_by_id(&state.db, id).await?.ok_or(AppError::NotFound)?;
    let forum = store::forum_by_id(&state.db, topic.forum_id).await?.ok_or(AppError::NotFound)?;
    if !can_see(&forum, user) {
        return Err(AppError::NotFound);
    }
    Ok((topic, forum))
}

/// The page of a topic that holds post `number`.
pub fn page_of(number: i64) -> i64 {
    (number.max(1) - 1) / POSTS_PER_PAGE + 1
}

/// The path of page `page` of a topic, with an optional anchor.
pub fn topic_page_path(topic: &Topic, page: i64, anchor: Option<i64>) -> String {
    let mut path = topic.path();
    if page > 1 {
        path.push_str(&format!("?page={page}"));
    }
    if let Some(post) = anchor {
        path.push_str(&format!("#post-{post}"));
    }
    path
}

/// A moment as people read it: "28 May 2026, 14:05" (UTC).
pub fn when(ts: i64) -> String {
    let format = time::macros::format_description!("[day padding:none] [month repr:short] [year], [hour]:[minute]");
    time::OffsetDateTime::from_unix_timestamp(ts).ok().and_then(|t| t.format(&format).ok()).unwrap_or_default()
}

/// The markdown that quotes a post at the start of a reply.
pub fn quote(author: &str, post_id: i64, body: &str) -> String {
    let mut out = format!("> **@{author}** [wrote](/forums/p/{post_id}):\n>\n");
    for line in body.trim().lines() {
        out.push_str(if line.is_empty() { ">" } else { "> " });
        out.push_str(line);
        out.push('\n');
    }
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_are_readable_and_bounded() {
        assert_eq!(slugify("  Hello, World! ", 80), "hello-world");
        assert_eq!(slugify("Café & crème -- 2026", 80), "caf-cr-me-2026");
        assert_eq!(slugify("¿¡!", 80), "topic");
        assert!(slugify(&"long words ".repeat(40), 80).len() <= 80);
        assert!(!slugify(&"ab ".repeat(40), 11).ends_with('-'));
    }

    #[test]
    fn titles_stay_on_one_line() {
        assert_eq!(clean_title("  Hello\r\nBcc: x@example.com\t\u{7} there  "), "Hello Bcc: x@example.com there");
    }

    #[test]
    fn topic_params() {
        assert_eq!(parse_topic_param("12").unwrap(), (12, None));
        assert_eq!(parse_topic_param("12-hello-world").unwrap(), (12, Some("hello-world")));
        for bad in ["", "-1", "x", "12x", "0", "+12", "012a-b", "99999999999999999999"] {
            assert!(parse_topic_param(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn quotes_every_line() {
        assert_eq!(quote("ava", 7, "one\n\ntwo\n"), "> **@ava** [wrote](/forums/p/7):\n>\n> one\n>\n> two\n\n");
    }

    #[test]
    fn pages_hold_posts_per_page() {
        assert_eq!(page_of(1), 1);
        assert_eq!(page_of(POSTS_PER_PAGE), 1);
        assert_eq!(page_of(POSTS_PER_PAGE + 1), 2);
    }
}
