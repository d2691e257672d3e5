//! Following topics: the subscribe button, emails when someone replies,
//! and the one-click unsubscribe link those emails carry.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Form;
use minijinja::context;
use serde::{Deserialize, Serialize};
use sqlx::Row as _;

use super::store::{self, Topic};
use super::{can_see, parse_topic_param, visible_topic, write};
use crate::accounts::store::User;
use crate::app::AppState;
use crate::crypto;
use crate::jobs::email::{self, Email};
use crate::web::error::{AppError, AppResult};
use crate::web::page::{redirect_with_flash, Page};
use crate::web::session::Member;

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct SubscribeForm {
    subscribe: String,
}

pub async fn toggle(State(state): State<AppState>, Member(me): Member, Path(param): Path<String>, Form(form): Form<SubscribeForm>) -> AppResult<Response> {
    let (topic, _) = visible_topic(&state, parse_topic_param(&param)?.0, Some(&me.user)).await?;
    let text = match form.subscribe.as_str() {
        "1" => {
            write::subscribe(&state.db, me.user.id, topic.id).await?;
            "You are following this topic: we will email you when someone replies."
        }
        "0" => {
            write::unsubscribe(&state.db, me.user.id, topic.id).await?;
            "You no longer follow this topic."
        }
        _ => return Err(AppError::BadRequest("Say subscribe=1 or subscribe=0.".into())),
    };
    Ok(redirect_with_flash(&state, &topic.path(), "success", text))
}

/// The unsubscribe link's token: who, which topic, signed with the site's secret.
pub fn unsubscribe_token(secret: &[u8], user_id: i64, topic_id: i64) -> String {
    let signature = crypto::sign(secret, &format!("forum-unsubscribe:{user_id}:{topic_id}"));
    format!("{user_id}.{topic_id}.{signature}")
}

fn read_token(secret: &[u8], token: &str) -> Option<(i64, i64)> {
    let mut parts = token.splitn(3, '.');
    let user_id = parts.next()?.parse::<i64>().ok()?;
    let topic_id = parts.next()?.parse::<i64>().ok()?;
    let expected = unsubscribe_token(secret, user_id, topic_id);
    crypto::equal(token, &expected).then_some((user_id, topic_id))
}

/// One click from the email unsubscribes, logged in or not. Doing it again
/// is harmless, so a link checker following it does no damage.
pub async fn unsubscribe_link(State(state): State<AppState>, page: Page, Path(token): Path<String>) -> AppResult<Response> {
    let Some((user_id, topic_id)) = read_token(&state.secret, &token) else {
        return page.render_status(StatusCode::BAD_REQUEST, "forums/unsubscribed.html", context! { ok => false });
    };
    write::unsubscribe(&state.db, user_id, topic_id).await?;
    let topic = store::topic_by_id(&state.db, topic_id).await?;
    let topic = topic.map(|t| context! { title => t.title.clone(), url => t.path() });
    page.render("forums/unsubscribed.html", context! { ok => true, topic => topic })
}

/// The job that emails a topic's subscribers about a new reply.
pub const NOTIFY_KIND: &str = "forum_reply";

#[derive(Serialize, Deserialize)]
struct Reply {
    topic_id: i64,
    author_id: i64,
    post_id: i64,
    number: i64,
    excerpt: String,
}

/// Queues the emails about a new reply: a slow mail server never holds up
/// the member who posted, and a restart loses none. The reply is posted
/// already, so a failure here is logged, not shown.
pub async fn notify(state: &AppState, topic: &Topic, author: &User, post_id: i64, number: i64, body: &str) {
    let reply = Reply { topic_id: topic.id, author_id: author.id, post_id, number, excerpt: body.trim().chars().take(600).collect() };
    let payload = serde_json::to_value(&reply).expect("a reply is plain fields");
    if let Err(err) = state.jobs.enqueue(NOTIFY_KIND, &payload, crate::db::now()).await {
        tracing::error!(error = ?err, topic = topic.id, "reply notifications could not be queued");
    }
}

/// Runs a [`NOTIFY_KIND`] job.
pub async fn run_notify(state: AppState, payload: serde_json::Value) -> anyhow::Result<()> {
    let reply: Reply = serde_json::from_value(payload)?;
    let Some(topic) = store::topic_by_id(&state.db, reply.topic_id).await? else { return Ok(()) };
    let Some(author) = crate::accounts::store::by_id(&state.db, reply.author_id).await? else { return Ok(()) };
    send(&state, &topic, &author, reply.post_id, reply.number, &reply.excerpt).await
}

/// Queues an email to each subscriber who had read up to this reply: one
/// email until they come back, not one per reply.
async fn send(state: &AppState, topic: &Topic, author: &User, post_id: i64, number: i64, excerpt: &str) -> anyhow::Result<()> {
    let forum = store::forum_by_id(&state.db, topic.forum_id).await.map_err(|e| anyhow::anyhow!("{e}"))?;
    let Some(forum) = forum else { return Ok(()) };
    let rows = state
        .db
        .query(
            "SELECT u.*, r.last_read_number AS read_number FROM forum_subscriptions s JOIN users u ON u.id = s.user_id \
             LEFT JOIN forum_reads r ON r.user_id = s.user_id AND r.topic_id = s.topic_id \
             WHERE s.topic_id = ? AND s.user_id <> ? AND u.is_active = 1 AND u.email_confirmed = 1",
        )
        .bind(topic.id)
        .bind(author.id)
        .fetch_all(state.db.r())
        .await?;
    let public = state.config.public_url();
    let mut emails = Vec::new();
    for row in rows {
        let user = User::from_row(&row)?;
        let caught_up = row.try_get::<Option<i64>, _>("read_number")?.unwrap_or(0) >= number - 1;
        if !caught_up || !can_see(&forum, Some(&user)) {
            continue;
        }
        let body = state.templates.render(
            "emails/forum_reply.txt",
            context! {
                site => context! { name => state.config.site_name.clone(), public_url => public.clone() },
                user => context! { username => user.username.clone() },
                author => author.name(), topic => context! { title => topic.title.clone() }, excerpt => excerpt,
                link => format!("{public}/forums/p/{post_id}"),
                unsubscribe => format!("{public}/forums/unsubscribe/{}", unsubscribe_token(&state.secret, user.id, topic.id)),
            },
        )?;
        let subject = format!("New reply: {} · {}", topic.title, state.config.site_name);
        emails.push(Email { to: user.email, subject, body });
    }
    // One job per email, so one bad address costs no other subscriber
    // theirs; all in one transaction, so a failure part-way queues none and
    // the retry sends none twice.
    let mut tx = state.db.w().begin().await?;
    for email in &emails {
        state.jobs.enqueue_in(&mut *tx, email::KIND, &email.payload(), crate::db::now()).await?;
    }
    tx.commit().await?;
    state.jobs.wake();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_bound_to_member_topic_and_secret() {
        let token = unsubscribe_token(b"k", 4, 9);
        assert_eq!(read_token(b"k", &token), Some((4, 9)));
        assert_eq!(read_token(b"other", &token), None);
        let forged = token.replacen("4.", "5.", 1);
        assert_eq!(read_token(b"k", &forged), None);
        assert_eq!(read_token(b"k", "4.9"), None);
    }
}
