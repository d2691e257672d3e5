//! Forums through the real router: reading, posting, moderation, unread
//! marks, subscriptions, staff management, and every bad input refused
//! with nothing changed.

mod common;

use std::time::Duration;

use common::{Backend, Page, TestApp};
use coterie::forums::{store, write};
use reqwest::{Client, StatusCode};
use sqlx::Row as _;

const PW: &str = "velvet-harbor-lantern-91";

backend_tests!(
    start_a_topic_reply_and_see_the_counters,
    forum_index_shows_counts_and_latest_post,
    topic_urls_permalinks_and_page_numbers,
    topic_list_puts_sticky_first_and_pages_by_keyset,
    quote_prefills_the_reply,
    edit_own_post_is_marked_and_others_are_refused,
    delete_own_post_keeps_the_thread_shape,
    locked_topic_takes_no_replies,
    read_only_and_staff_only_forums_are_enforced,
    moderators_pin_lock_move_and_delete_with_a_log,
    non_moderators_cannot_moderate,
    bad_posts_change_nothing,
    missing_csrf_token_changes_nothing,
    posting_is_rate_limited,
    unread_marks_and_mark_all_read,
    subscriptions_email_once_and_unsubscribe_in_one_click,
    staff_manage_categories_and_forums,
    signature_shows_under_posts,
    concurrent_replies_get_distinct_numbers_and_exact_counters,
    views_are_counted_and_member_pages_are_private,
    deleted_account_leaves_its_posts,
    moderators_split_replies_into_a_new_topic,
    a_deactivated_members_posts_are_hidden,
    demo_forums_are_consistent,
    vote_on_a_post_change_it_and_take_it_back,
    votes_refused_on_own_deleted_hidden_and_staff_only_posts,
    thirty_members_vote_on_one_post_at_once,
    top_topics_by_opening_post_score_page_by_keyset,
    votes_racing_the_delete_of_an_opening_post_never_fail_it,
);

/// A site with members ava and ben, moderator nina, staff sam, and three
/// forums in one category: general (public), news (read-only), team (staff).
async fn site(b: Backend) -> TestApp {
    let app = TestApp::spawn(b).await;
    for (name, role) in [("ava", "member"), ("ben", "member"), ("nina", "moderator"), ("sam", "staff")] {
        app.member(name, PW, role).await;
    }
    app.forums(&[("general", "public"), ("news", "readonly"), ("team", "staff")]).await;
    app
}

async fn as_member(app: &TestApp, name: &str) -> Client {
    let client = common::client();
    assert_eq!(app.login_with(&client, name, PW).await.status, StatusCode::SEE_OTHER);
    client
}

/// Any member page gives the session's CSRF token; this one has no side effects.
const FORM_PAGE: &str = "/forums/settings";

async fn start_topic(app: &TestApp, client: &Client, forum: &str, title: &str, body: &str) -> Page {
    let action = format!("/forums/{forum}/new");
    app.post_with(client, FORM_PAGE, &action, &[("title", title), ("body", body)]).await
}

/// Starts a topic and returns its id.
async fn topic(app: &TestApp, client: &Client, forum: &str, title: &str) -> i64 {
    let page = start_topic(app, client, forum, title, "The opening post.").await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.text);
    let rest = page.location().strip_prefix("/forums/t/").expect("redirect to the topic");
    rest.split('-').next().unwrap().parse().unwrap()
}

async fn reply(app: &TestApp, client: &Client, topic: i64, body: &str) -> Page {
    app.post_with(client, FORM_PAGE, &format!("/forums/t/{topic}/reply"), &[("body", body)]).await
}

async fn moderate(app: &TestApp, client: &Client, topic: i64, fields: &[(&str, &str)]) -> Page {
    app.post_with(client, FORM_PAGE, &format!("/forums/t/{topic}/moderate"), fields).await
}

/// One number from the database, for a query with one id.
async fn num(app: &TestApp, sql: &'static str, id: i64) -> i64 {
    app.state.db.query(sql).bind(id).fetch_one(app.state.db.w()).await.unwrap().get::<i64, _>(0)
}

async fn forum_id(app: &TestApp, slug: &str) -> i64 {
    store::forum_by_slug(&app.state.db, slug).await.unwrap().unwrap().id
}

async fn user_id(app: &TestApp, name: &str) -> i64 {
    coterie::accounts::store::by_username(&app.state.db, name).await.unwrap().unwrap().id
}

/// Adds `n` replies by `author` straight through the store (no rate limit).
async fn add_replies(app: &TestApp, topic: i64, author: i64, n: usize) {
    for i in 0..n {
        let body = format!("Reply number {i}.");
        let post = write::NewPost { author, body: &body, at: coterie::db::now(), subscribe: false };
        write::reply(&app.state.db, topic, post, false).await.unwrap().unwrap();
    }
}

/// The counters kept in columns agree with the rows (counted here, in a
/// test, never on a page).
async fn assert_counters_exact(app: &TestApp, forum: i64) {
    let topics = num(app, "SELECT COUNT(*) FROM forum_topics WHERE forum_id = ? AND deleted = 0", forum).await;
    let posts = num(
        app,
        "SELECT COUNT(*) FROM forum_posts p JOIN forum_topics t ON t.id = p.topic_id WHERE t.forum_id = ? AND t.deleted = 0 AND p.deleted = 0",
        forum,
    )
    .await;
    assert_eq!(num(app, "SELECT topic_count FROM forums WHERE id = ?", forum).await, topics, "topic_count");
    assert_eq!(num(app, "SELECT post_count FROM forums WHERE id = ?", forum).await, posts, "post_count");
}

async fn start_a_topic_reply_and_see_the_counters(b: Backend) {
    let app = site(b).await;
    let (ava, ben) = (as_member(&app, "ava").await, as_member(&app, "ben").await);
    let started = start_topic(&app, &ava, "general", "Linen in winter?", "Does **linen** work with wool?").await;
    assert_eq!(started.status, StatusCode::SEE_OTHER, "{}", started.text);
    let path = started.location().to_string();
    assert!(path.starts_with("/forums/t/") && path.ends_with("-linen-in-winter"), "{path}");
    let id: i64 = path["/forums/t/".len()..].split('-').next().unwrap().parse().unwrap();

    let replied = reply(&app, &ben, id, "Layer it under a *wool* coat.").await;
    assert_eq!(replied.status, StatusCode::SEE_OTHER, "{}", replied.text);
    let second = num(&app, "SELECT id FROM forum_posts WHERE topic_id = ? AND number = 2", id).await;
    assert_eq!(replied.location(), format!("{path}#post-{second}"));

    let page = app.get(&path).await;
    assert_eq!(page.status, StatusCode::OK);
    let (first, reply_at) = (page.text.find("<strong>linen</strong>").unwrap(), page.text.find("<em>wool</em>").unwrap());
    assert!(first < reply_at, "posts in order");
    assert!(page.text.contains(&format!("id=\"post-{second}\"")));
    assert!(page.text.contains("Log in</a> or <a href=\"/accounts/signup\">join</a> to reply"));

    let general = forum_id(&app, "general").await;
    assert_eq!(num(&app, "SELECT topic_count FROM forums WHERE id = ?", general).await, 1);
    assert_eq!(num(&app, "SELECT post_count FROM forums WHERE id = ?", general).await, 2);
    assert_eq!(num(&app, "SELECT last_post_id FROM forums WHERE id = ?", general).await, second);
    assert_eq!(num(&app, "SELECT reply_count FROM forum_topics WHERE id = ?", id).await, 1);
    assert_eq!(num(&app, "SELECT last_post_id FROM forum_topics WHERE id = ?", id).await, second);
    let ben_id = user_id(&app, "ben").await;
    assert_eq!(num(&app, "SELECT post_count FROM forum_members WHERE user_id = ?", ben_id).await, 1);
    assert_counters_exact(&app, general).await;
}

async fn forum_index_shows_counts_and_latest_post(b: Backend) {
    let app = site(b).await;
    let empty = app.get("/forums").await;
    assert_eq!(empty.status, StatusCode::OK);
    assert!(empty.text.contains("The general forum") && empty.text.contains("No posts yet"));
    let ava = as_member(&app, "ava").await;
    let id = topic(&app, &ava, "general", "Best white shirt").await;
    reply(&app, &as_member(&app, "ben").await, id, "Oxford cloth, always.").await;
    let index = app.get("/forums").await;
    assert!(index.text.contains("Best white shirt"), "the latest topic is named");
    assert!(index.text.contains("href=\"/u/ben\""), "the last poster is linked");
    let last = num(&app, "SELECT last_post_id FROM forum_topics WHERE id = ?", id).await;
    assert!(index.text.contains(&format!("href=\"/forums/p/{last}\"")));
    assert!(index.text.contains("<dt>Posts</dt><dd>2</dd>"), "{}", index.text);
    assert!(!index.text.contains("The team forum"), "staff-only forums are not listed for visitors");
    let nina = as_member(&app, "nina").await;
    assert!(app.get_with(&nina, "/forums").await.text.contains("The team forum"));
}

async fn topic_urls_permalinks_and_page_numbers(b: Backend) {
    let app = site(b).await;
    let ava = as_member(&app, "ava").await;
    let id = topic(&app, &ava, "general", "A long thread").await;
    add_replies(&app, id, user_id(&app, "ava").await, 44).await;
    let canonical = format!("/forums/t/{id}-a-long-thread");
    assert_eq!(app.get(&format!("/forums/t/{id}")).await.status, StatusCode::OK);
    let wrong = app.get(&format!("/forums/t/{id}-old-title?page=2")).await;
    assert_eq!(wrong.status, StatusCode::PERMANENT_REDIRECT);
    assert_eq!(wrong.location(), format!("{canonical}?page=2"));

    // 45 posts, 20 a page: the third page holds #41 to #45.
    let third = app.get(&format!("{canonical}?page=3")).await;
    assert_eq!(third.status, StatusCode::OK);
    assert!(third.text.contains(">#41<") && third.text.contains(">#45<") && !third.text.contains(">#40<"));
    for bad in ["4", "0", "-1", "abc", "1.5", "", "99999999999999999999"] {
        let page = app.get(&format!("{canonical}?page={bad}")).await;
        assert_eq!(page.status, StatusCode::NOT_FOUND, "page={bad}");
    }
    for bad in ["/forums/t/abc", "/forums/t/0", "/forums/t/999999", "/forums/p/999999", "/forums/p/x", "/forums/nowhere"] {
        assert_eq!(app.get(bad).await.status, StatusCode::NOT_FOUND, "{bad}");
    }

    let post_25 = num(&app, "SELECT id FROM forum_posts WHERE topic_id = ? AND number = 25", id).await;
    let link = app.get(&format!("/forums/p/{post_25}")).await;
    assert_eq!(link.status, StatusCode::SEE_OTHER);
    assert_eq!(link.location(), format!("{canonical}?page=2#post-{post_25}"));
}

async fn topic_list_puts_sticky_first_and_pages_by_keyset(b: Backend) {
    let app = site(b).await;
    let db = &app.state.db;
    let general = store::forum_by_slug(db, "general").await.unwrap().unwrap();
    let ava = user_id(&app, "ava").await;
    let mut ids = Vec::new();
    // 30 topics, one a minute apart; topic 00 is the oldest.
    for i in 0..30 {
        let title = format!("Topic {i:02}");
        let post = write::NewPost { author: ava, body: "Hello.", at: 1_700_000_000 + i * 60, subscribe: false };
        ids.push(write::create_topic(db, &general, &title, post).await.unwrap().0);
    }
    write::set_flag(db, ids[3], write::Flag::Sticky, true).await.unwrap();
    let first = app.get("/forums/general").await;
    assert_eq!(first.status, StatusCode::OK);
    let at = |page: &Page, title: &str| page.text.find(&format!(">{title}</a>"));
    assert!(at(&first, "Topic 03").unwrap() < at(&first, "Topic 29").unwrap(), "sticky first");
    assert!(at(&first, "Topic 29").unwrap() < at(&first, "Topic 28").unwrap(), "then latest activity");
    assert!(at(&first, "Topic 05").is_some() && at(&first, "Topic 04").is_none(), "25 non-sticky topics on a page");

    let next = first.text.split("rel=\"next\" href=\"").nth(1).unwrap().split('"').next().unwrap().to_string();
    assert!(next.starts_with("/forums/general?after="), "{next}");
    let second = app.get(&next).await;
    assert_eq!(second.status, StatusCode::OK);
    assert!(at(&second, "Topic 04").is_some() && at(&second, "Topic 00").is_some());
    assert!(at(&second, "Topic 05").is_none() && at(&second, "Topic 03").is_none(), "sticky topics only on the first page");
    assert!(!second.text.contains("rel=\"next\""));
    let prev = second.text.split("rel=\"prev\" href=\"").nth(1).unwrap().split('"').next().unwrap().to_string();
    let back = app.get(&prev).await;
    assert_eq!(back.status, StatusCode::SEE_OTHER, "fewer than a page before: back to the first page");
    assert_eq!(back.location(), "/forums/general");

    for bad in ["after=abc", "after=1.x", "after=-5.2", "before=", "after=1.2&before=1.2"] {
        assert_eq!(app.get(&format!("/forums/general?{bad}")).await.status, StatusCode::NOT_FOUND, "{bad}");
    }
    let past_the_end = app.get(&format!("/forums/general?after=1000.{}", ids[0])).await;
    assert_eq!(past_the_end.status, StatusCode::NOT_FOUND);
}

async fn quote_prefills_the_reply(b: Backend) {
    let app = site(b).await;
    let (ava, ben) = (as_member(&app, "ava").await, as_member(&app, "ben").await);
    let id = topic(&app, &ava, "general", "Quote me").await;
    reply(&app, &ava, id, "First line.\n\nSecond line.").await;
    let quoted = num(&app, "SELECT id FROM forum_posts WHERE topic_id = ? AND number = 2", id).await;
    let page = app.get_with(&ben, &format!("/forums/t/{id}?quote={quoted}")).await;
    assert_eq!(page.status, StatusCode::OK);
    let expected = format!("&gt; **@ava** [wrote](/forums/p/{quoted}):\n&gt;\n&gt; First line.\n&gt;\n&gt; Second line.");
    // Autoescaping writes / as &#x2f; in the textarea; browsers read it back as /.
    assert!(page.text.replace("&#x2f;", "/").contains(&expected), "{}", page.text);
    // A post from another topic is not quoted.
    let other = topic(&app, &ava, "general", "Elsewhere").await;
    let foreign = num(&app, "SELECT first_post_id FROM forum_topics WHERE id = ?", other).await;
    let page = app.get_with(&ben, &format!("/forums/t/{id}?quote={foreign}")).await;
    assert!(!page.text.contains("[wrote]"));
    let done = reply(&app, &ben, id, &format!("> **@ava** [wrote](/forums/p/{quoted}):\n>\n> First line.\n\nAgreed.")).await;
    assert_eq!(done.status, StatusCode::SEE_OTHER);
    assert!(app.get(&format!("/forums/t/{id}")).await.text.contains("<blockquote>"));
}

async fn edit_own_post_is_marked_and_others_are_refused(b: Backend) {
    let app = site(b).await;
    let (ava, ben) = (as_member(&app, "ava").await, as_member(&app, "ben").await);
    let id = topic(&app, &ava, "general", "Edit me").await;
    let post = num(&app, "SELECT first_post_id FROM forum_topics WHERE id = ?", id).await;
    let edit = format!("/forums/p/{post}/edit");
    assert_eq!(app.get_with(&ben, &edit).await.status, StatusCode::FORBIDDEN);
    let refused = app.post_with(&ben, FORM_PAGE, &edit, &[("body", "Hijacked")]).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert!(refused.text.contains("only change your own posts"), "{}", refused.text);

    assert_eq!(app.get_with(&ava, &edit).await.status, StatusCode::OK);
    let saved = app.post_with(&ava, FORM_PAGE, &edit, &[("title", "Edited title"), ("body", "Now *better*.")]).await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.text);
    let page = app.get(&format!("/forums/t/{id}")).await;
    assert!(page.text.contains("Now <em>better</em>.") && page.text.contains("Edited title"));
    assert!(page.text.contains("edited "), "the edit is marked");
    assert!(!page.text.contains("Hijacked"));
    // A moderator's edit says who made it, and is logged.
    let nina = as_member(&app, "nina").await;
    let by_mod = app.post_with(&nina, FORM_PAGE, &edit, &[("body", "Tidied by a moderator.")]).await;
    assert_eq!(by_mod.status, StatusCode::SEE_OTHER);
    assert!(app.get(&format!("/forums/t/{id}")).await.text.contains("by nina"));
    assert_eq!(num(&app, "SELECT COUNT(*) FROM audit_log WHERE action = 'forum.post.edit' AND target_id = ?", post).await, 1);
    // Bad edits change nothing.
    let empty = app.post_with(&ava, FORM_PAGE, &edit, &[("body", "   ")]).await;
    assert_eq!(empty.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(app.get(&format!("/forums/t/{id}")).await.text.contains("Tidied by a moderator."));
}

async fn delete_own_post_keeps_the_thread_shape(b: Backend) {
    let app = site(b).await;
    let (ava, ben) = (as_member(&app, "ava").await, as_member(&app, "ben").await);
    let id = topic(&app, &ava, "general", "Delete me").await;
    reply(&app, &ben, id, "Ben's reply.").await;
    reply(&app, &ava, id, "Ava's last word.").await;
    let bens = num(&app, "SELECT id FROM forum_posts WHERE topic_id = ? AND number = 2", id).await;
    let avas = num(&app, "SELECT id FROM forum_posts WHERE topic_id = ? AND number = 3", id).await;
    let refused = app.post_with(&ava, FORM_PAGE, &format!("/forums/p/{bens}/delete"), &[]).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    let general = forum_id(&app, "general").await;
    assert_eq!(num(&app, "SELECT post_count FROM forums WHERE id = ?", general).await, 3);

    let done = app.post_with(&ava, FORM_PAGE, &format!("/forums/p/{avas}/delete"), &[]).await;
    assert_eq!(done.status, StatusCode::SEE_OTHER);
    let page = app.get(&format!("/forums/t/{id}")).await;
    assert!(page.text.contains("This post was deleted.") && !page.text.contains("Ava's last word."));
    assert!(page.text.contains(">#3<"), "the deleted post keeps its place");
    assert_eq!(num(&app, "SELECT post_count FROM forums WHERE id = ?", general).await, 2);
    assert_eq!(num(&app, "SELECT last_post_id FROM forum_topics WHERE id = ?", id).await, bens, "the latest post falls back");
    assert_eq!(num(&app, "SELECT last_post_id FROM forums WHERE id = ?", general).await, bens);
    assert_eq!(app.post_with(&ava, FORM_PAGE, &format!("/forums/p/{avas}/delete"), &[]).await.status, StatusCode::NOT_FOUND);
    assert_counters_exact(&app, general).await;

    // A topic whose last live post goes, goes too.
    let lonely = topic(&app, &ben, "general", "Alone").await;
    let only = num(&app, "SELECT first_post_id FROM forum_topics WHERE id = ?", lonely).await;
    app.post_with(&ben, FORM_PAGE, &format!("/forums/p/{only}/delete"), &[]).await;
    assert_eq!(app.get(&format!("/forums/t/{lonely}")).await.status, StatusCode::NOT_FOUND);
    assert_counters_exact(&app, general).await;
}

async fn locked_topic_takes_no_replies(b: Backend) {
    let app = site(b).await;
    let (ava, nina) = (as_member(&app, "ava").await, as_member(&app, "nina").await);
    let id = topic(&app, &ava, "general", "Lock me").await;
    assert_eq!(moderate(&app, &nina, id, &[("action", "lock")]).await.status, StatusCode::SEE_OTHER);
    let refused = reply(&app, &ava, id, "Can I still post?").await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert!(refused.text.contains("locked"));
    assert_eq!(num(&app, "SELECT COUNT(*) FROM forum_posts WHERE topic_id = ?", id).await, 1);
    let post = num(&app, "SELECT first_post_id FROM forum_topics WHERE id = ?", id).await;
    let edit = app.post_with(&ava, FORM_PAGE, &format!("/forums/p/{post}/edit"), &[("body", "Changed")]).await;
    assert_eq!(edit.status, StatusCode::FORBIDDEN, "a locked topic is frozen for its members");
    assert_eq!(reply(&app, &nina, id, "Moderators may still answer.").await.status, StatusCode::SEE_OTHER);
    let page = app.get_with(&ava, &format!("/forums/t/{id}")).await;
    assert!(page.text.contains("This topic is locked") && !page.text.contains("Post reply"));
    assert_eq!(num(&app, "SELECT COUNT(*) FROM audit_log WHERE action = 'forum.topic.lock' AND target_id = ?", id).await, 1);
}

async fn read_only_and_staff_only_forums_are_enforced(b: Backend) {
    let app = site(b).await;
    let (ava, sam) = (as_member(&app, "ava").await, as_member(&app, "sam").await);
    // Read-only: members read, the team posts.
    assert_eq!(app.get_with(&ava, "/forums/news/new").await.status, StatusCode::FORBIDDEN);
    let refused = start_topic(&app, &ava, "news", "Members post here?", "No.").await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert!(refused.text.contains("read it"), "{}", refused.text);
    let news = topic(&app, &sam, "news", "Launch news").await;
    assert_eq!(app.get_with(&ava, &format!("/forums/t/{news}")).await.status, StatusCode::OK);
    assert_eq!(reply(&app, &ava, news, "A member's reply").await.status, StatusCode::FORBIDDEN);
    assert_eq!(num(&app, "SELECT post_count FROM forum_topics WHERE id = ?", news).await, 1);

    // Staff only: members do not even see it.
    let team = topic(&app, &sam, "team", "Rota").await;
    let post = num(&app, "SELECT first_post_id FROM forum_topics WHERE id = ?", team).await;
    for path in ["/forums/team".to_string(), format!("/forums/t/{team}"), format!("/forums/p/{post}"), "/forums/team/new".to_string()] {
        assert_eq!(app.get_with(&ava, &path).await.status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(app.get(&path).await.status, if path.ends_with("/new") { StatusCode::SEE_OTHER } else { StatusCode::NOT_FOUND }, "{path}");
    }
    assert_eq!(reply(&app, &ava, team, "Let me in").await.status, StatusCode::NOT_FOUND);
    assert_eq!(start_topic(&app, &ava, "team", "Sneaky", "Hello").await.status, StatusCode::NOT_FOUND);
    assert_eq!(num(&app, "SELECT topic_count FROM forums WHERE id = ?", forum_id(&app, "team").await).await, 1);
    let nina = as_member(&app, "nina").await;
    assert_eq!(app.get_with(&nina, &format!("/forums/t/{team}")).await.status, StatusCode::OK, "moderators are the team");
}

async fn moderators_pin_lock_move_and_delete_with_a_log(b: Backend) {
    let app = site(b).await;
    let (ava, nina) = (as_member(&app, "ava").await, as_member(&app, "nina").await);
    let (general, news) = (forum_id(&app, "general").await, forum_id(&app, "news").await);
    let old = topic(&app, &ava, "general", "Older topic").await;
    let id = topic(&app, &ava, "general", "Move me").await;
    reply(&app, &ava, id, "A reply that moves too.").await;

    assert_eq!(moderate(&app, &nina, id, &[("action", "sticky")]).await.status, StatusCode::SEE_OTHER);
    assert_eq!(num(&app, "SELECT sticky FROM forum_topics WHERE id = ?", id).await, 1);
    let moved = moderate(&app, &nina, id, &[("action", "move"), ("forum", &news.to_string())]).await;
    assert_eq!(moved.status, StatusCode::SEE_OTHER, "{}", moved.text);
    assert_eq!(num(&app, "SELECT forum_id FROM forum_topics WHERE id = ?", id).await, news);
    assert_eq!(num(&app, "SELECT topic_count FROM forums WHERE id = ?", general).await, 1);
    assert_eq!(num(&app, "SELECT post_count FROM forums WHERE id = ?", news).await, 2);
    assert_eq!(num(&app, "SELECT last_topic_id FROM forums WHERE id = ?", general).await, old, "the latest post falls back");
    assert_eq!(num(&app, "SELECT last_topic_id FROM forums WHERE id = ?", news).await, id);
    assert_counters_exact(&app, general).await;
    assert_counters_exact(&app, news).await;

    // Moving to a missing forum, or where it already is, changes nothing.
    for target in ["999999", "", "abc", &news.to_string()] {
        let refused = moderate(&app, &nina, id, &[("action", "move"), ("forum", target)]).await;
        assert_eq!(refused.status, StatusCode::BAD_REQUEST, "forum={target}");
        assert_eq!(num(&app, "SELECT forum_id FROM forum_topics WHERE id = ?", id).await, news);
    }
    assert!(moderate(&app, &nina, id, &[("action", "move"), ("forum", "999999")]).await.text.contains("does not exist"));
    assert_eq!(moderate(&app, &nina, id, &[("action", "explode")]).await.status, StatusCode::BAD_REQUEST);

    assert_eq!(moderate(&app, &nina, id, &[("action", "delete")]).await.status, StatusCode::SEE_OTHER);
    assert_eq!(app.get(&format!("/forums/t/{id}")).await.status, StatusCode::NOT_FOUND);
    assert_eq!(num(&app, "SELECT topic_count FROM forums WHERE id = ?", news).await, 0);
    assert_eq!(num(&app, "SELECT COUNT(*) FROM forums WHERE id = ? AND last_post_id IS NULL", news).await, 1);
    assert_counters_exact(&app, news).await;

    // A moderator deletes any post.
    reply(&app, &ava, old, "Spam spam spam").await;
    let spam = num(&app, "SELECT id FROM forum_posts WHERE topic_id = ? AND number = 2", old).await;
    assert_eq!(app.post_with(&nina, FORM_PAGE, &format!("/forums/p/{spam}/delete"), &[]).await.status, StatusCode::SEE_OTHER);
    assert_counters_exact(&app, general).await;

    let nina_id = user_id(&app, "nina").await;
    for action in ["forum.topic.sticky", "forum.topic.move", "forum.topic.delete", "forum.post.delete"] {
        let logged = app
            .state
            .db
            .query("SELECT COUNT(*) FROM audit_log WHERE actor_id = ? AND action = ?")
            .bind(nina_id)
            .bind(action)
            .fetch_one(app.state.db.w())
            .await
            .unwrap()
            .get::<i64, _>(0);
        assert_eq!(logged, 1, "{action} is logged");
    }
    let log = app.get_with(&nina, "/forums/log").await;
    assert_eq!(log.status, StatusCode::OK);
    assert!(log.text.contains("forum.topic.move") && log.text.contains("Move me (from general to news)"));
}

async fn non_moderators_cannot_moderate(b: Backend) {
    let app = site(b).await;
    let ava = as_member(&app, "ava").await;
    let id = topic(&app, &ava, "general", "Mine").await;
    let news = forum_id(&app, "news").await.to_string();
    for fields in [vec![("action", "sticky")], vec![("action", "lock")], vec![("action", "delete")], vec![("action", "move"), ("forum", news.as_str())]] {
        let refused = moderate(&app, &ava, id, &fields).await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN, "{fields:?}");
        assert!(refused.text.contains("Only moderators"));
    }
    let row = app.state.db.query("SELECT sticky, locked, deleted, forum_id FROM forum_topics WHERE id = ?").bind(id).fetch_one(app.state.db.w()).await.unwrap();
    assert_eq!((row.get::<i64, _>(0), row.get::<i64, _>(1), row.get::<i64, _>(2)), (0, 0, 0));
    assert_eq!(row.get::<i64, _>(3), forum_id(&app, "general").await);
    assert_eq!(app.get_with(&ava, "/forums/log").await.status, StatusCode::FORBIDDEN);
    assert_eq!(app.get_with(&ava, "/forums/manage").await.status, StatusCode::FORBIDDEN);
    assert_eq!(app.count("SELECT COUNT(*) FROM audit_log").await, 0);
    // Visitors are sent to log in.
    let visitor = app.post_raw(&app.client, &format!("/forums/t/{id}/moderate"), &[("action", "lock")]).await;
    assert_eq!(visitor.status, StatusCode::FORBIDDEN, "no session, no CSRF token");
}

async fn bad_posts_change_nothing(b: Backend) {
    let app = site(b).await;
    let ava = as_member(&app, "ava").await;
    let long_body = "x".repeat(coterie::forums::MAX_BODY + 1);
    let long_title = "t".repeat(coterie::forums::MAX_TITLE + 1);
    let cases: [(&str, &str, &str); 5] = [
        ("A fine title", "   ", "empty"),
        ("A fine title", &long_body, "under 20000 characters"),
        ("", "Body", "title of at least"),
        ("ab", "Body", "title of at least"),
        (&long_title, "Body", "under 150 characters"),
    ];
    for (title, body, message) in cases {
        let page = start_topic(&app, &ava, "general", title, body).await;
        assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY, "{message}");
        assert!(page.text.contains(message), "{message}: {}", page.text);
        assert!(page.text.contains("field-error"));
    }
    assert_eq!(app.count("SELECT COUNT(*) FROM forum_topics").await, 0);
    let id = topic(&app, &ava, "general", "Replies").await;
    for body in ["", "  \n ", &long_body] {
        let page = reply(&app, &ava, id, body).await;
        assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(page.text.contains("id=\"body-error\""), "the reply form shows the error");
    }
    assert_eq!(app.count("SELECT COUNT(*) FROM forum_posts").await, 1);
    assert_eq!(num(&app, "SELECT post_count FROM forums WHERE id = ?", forum_id(&app, "general").await).await, 1);

    let hostile = "<script>alert(1)</script>\n\n<img src=x onerror=alert(2)>\n\n[click](javascript:alert(3)) *fine*";
    assert_eq!(reply(&app, &ava, id, hostile).await.status, StatusCode::SEE_OTHER);
    let page = app.get(&format!("/forums/t/{id}")).await;
    assert!(page.text.contains("<em>fine</em>"));
    for bad in ["<script>alert", "onerror", "javascript:alert"] {
        assert!(!page.text.contains(bad), "{bad} reached the page");
    }
    let script_title = start_topic(&app, &ava, "general", "<script>alert(1)</script>", "Body").await;
    let page = app.get(script_title.location()).await;
    assert!(page.text.contains("&lt;script&gt;") && !page.text.contains("<script>alert"));
}

async fn missing_csrf_token_changes_nothing(b: Backend) {
    let app = site(b).await;
    let ava = as_member(&app, "ava").await;
    let id = topic(&app, &ava, "general", "Guarded").await;
    let post = num(&app, "SELECT first_post_id FROM forum_topics WHERE id = ?", id).await;
    let posts = [
        ("/forums/general/new".to_string(), vec![("title", "No token"), ("body", "x")]),
        (format!("/forums/t/{id}/reply"), vec![("body", "No token")]),
        (format!("/forums/p/{post}/edit"), vec![("body", "No token")]),
        (format!("/forums/p/{post}/delete"), vec![]),
        (format!("/forums/t/{id}/subscribe"), vec![("subscribe", "0")]),
        ("/forums/read".to_string(), vec![]),
    ];
    for (action, fields) in posts {
        let page = app.post_raw(&ava, &action, &fields).await;
        assert_eq!(page.status, StatusCode::FORBIDDEN, "{action}");
        let wrong: Vec<_> = fields.iter().copied().chain([("csrf_token", "forged")]).collect();
        assert_eq!(app.post_raw(&ava, &action, &wrong).await.status, StatusCode::FORBIDDEN, "{action}");
    }
    assert_eq!(app.count("SELECT COUNT(*) FROM forum_posts").await, 1);
    assert_eq!(app.count("SELECT COUNT(*) FROM forum_posts WHERE edited_at IS NOT NULL OR deleted = 1").await, 0);
    assert_eq!(app.count("SELECT COUNT(*) FROM forum_subscriptions").await, 1, "still following");
}

async fn posting_is_rate_limited(b: Backend) {
    let app = site(b).await;
    let ava = as_member(&app, "ava").await;
    let id = topic(&app, &ava, "general", "Chatty").await;
    let limit = coterie::forums::POSTS_PER_WINDOW as usize;
    for i in 1..limit {
        assert_eq!(reply(&app, &ava, id, &format!("Message {i}")).await.status, StatusCode::SEE_OTHER, "post {i}");
    }
    let refused = reply(&app, &ava, id, "One too many").await;
    assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(!refused.header("retry-after").is_empty());
    assert_eq!(num(&app, "SELECT post_count FROM forum_topics WHERE id = ?", id).await, limit as i64);
    // Others are not held back by ava's limit.
    let ben = as_member(&app, "ben").await;
    assert_eq!(reply(&app, &ben, id, "My turn").await.status, StatusCode::SEE_OTHER);
}

async fn unread_marks_and_mark_all_read(b: Backend) {
    let app = site(b).await;
    let (ava, ben) = (as_member(&app, "ava").await, as_member(&app, "ben").await);
    let id = topic(&app, &ben, "general", "Fresh").await;
    let index = app.get_with(&ava, "/forums").await;
    assert!(index.text.contains("(new posts)"), "the forum is marked");
    let list = app.get_with(&ava, "/forums/general").await;
    assert!(list.text.contains(&format!("href=\"/forums/t/{id}/unread\"")), "the topic is marked");
    assert!(!app.get_with(&ben, "/forums").await.text.contains("(new posts)"), "your own posts are read");

    app.get_with(&ava, &format!("/forums/t/{id}")).await;
    assert!(!app.get_with(&ava, "/forums").await.text.contains("(new posts)"));
    reply(&app, &ben, id, "Something new").await;
    assert!(app.get_with(&ava, "/forums").await.text.contains("(new posts)"));
    let newest = num(&app, "SELECT id FROM forum_posts WHERE topic_id = ? AND number = 2", id).await;
    let jump = app.get_with(&ava, &format!("/forums/t/{id}/unread")).await;
    assert_eq!(jump.status, StatusCode::SEE_OTHER);
    assert!(jump.location().ends_with(&format!("#post-{newest}")), "{}", jump.location());

    topic(&app, &ben, "general", "Another").await;
    // Later than every post so far, by the clock's second.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(app.post_with(&ava, FORM_PAGE, "/forums/read", &[]).await.status, StatusCode::SEE_OTHER);
    assert!(!app.get_with(&ava, "/forums").await.text.contains("(new posts)"));
    assert!(!app.get_with(&ava, "/forums/general").await.text.contains("/unread\""));
    assert!(!app.get("/forums").await.text.contains("(new posts)"), "visitors see no marks");
}

async fn subscriptions_email_once_and_unsubscribe_in_one_click(b: Backend) {
    let app = site(b).await;
    let (ava, ben) = (as_member(&app, "ava").await, as_member(&app, "ben").await);
    let id = topic(&app, &ava, "general", "Follow me").await;
    assert_eq!(app.count("SELECT COUNT(*) FROM forum_subscriptions").await, 1, "starting a topic follows it");
    reply(&app, &ben, id, "First reply from ben").await;
    let mails = app.outbox().await;
    assert_eq!(mails.len(), 1);
    let mail = mails[0].replace("=\r\n", "").replace("=3D", "=");
    assert!(mail.contains("To: ava@example.com") && mail.contains("First reply from ben") && mail.contains("Follow me"));
    // Ben follows too (he replied); ava has not read the reply: no second email to her.
    reply(&app, &ben, id, "Second reply from ben").await;
    assert_eq!(app.outbox().await.len(), 1, "one email until she comes back");
    app.get_with(&ava, &format!("/forums/t/{id}")).await;
    reply(&app, &ben, id, "Third reply from ben").await;
    assert_eq!(app.outbox().await.len(), 2);

    let link = app.last_link().await;
    let unsubscribe = mail_link(&app.outbox().await[1], "/forums/unsubscribe/");
    assert!(link.starts_with("/forums/p/"), "{link}");
    let forged = app.get(&format!("{}x", unsubscribe.trim_end_matches(|c: char| c != '.'))).await;
    assert_eq!(forged.status, StatusCode::BAD_REQUEST);
    let done = app.get_with(&common::client(), &unsubscribe).await;
    assert_eq!(done.status, StatusCode::OK, "one click, even logged out");
    assert!(done.text.contains("You are unsubscribed") && done.text.contains("Follow me"));
    assert_eq!(app.count("SELECT COUNT(*) FROM forum_subscriptions").await, 1, "only ben follows now");
    app.get_with(&ava, &format!("/forums/t/{id}")).await;
    reply(&app, &ben, id, "Fourth reply").await;
    assert_eq!(app.outbox().await.len(), 2);

    // The Follow button, both ways.
    let follow = app.post_with(&ava, FORM_PAGE, &format!("/forums/t/{id}/subscribe"), &[("subscribe", "1")]).await;
    assert_eq!(follow.status, StatusCode::SEE_OTHER);
    assert!(app.get_with(&ava, &format!("/forums/t/{id}")).await.text.contains("aria-pressed=\"true\""));
    app.post_with(&ben, FORM_PAGE, &format!("/forums/t/{id}/subscribe"), &[("subscribe", "0")]).await;
    let bad = app.post_with(&ben, FORM_PAGE, &format!("/forums/t/{id}/subscribe"), &[("subscribe", "maybe")]).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert_eq!(app.count("SELECT COUNT(*) FROM forum_subscriptions").await, 1);
}

/// The first link in an email that starts with `prefix`, as a path.
fn mail_link(mail: &str, prefix: &str) -> String {
    let mail = mail.replace("=\r\n", "").replace("=\n", "").replace("=3D", "=");
    let start = mail.find(prefix).expect("the link is in the email");
    mail[start..].chars().take_while(|c| !c.is_whitespace()).collect()
}

async fn staff_manage_categories_and_forums(b: Backend) {
    let app = site(b).await;
    let (sam, ava) = (as_member(&app, "sam").await, as_member(&app, "ava").await);
    assert_eq!(app.get_with(&sam, "/forums/manage").await.status, StatusCode::OK);
    let made = app
        .post_with(&sam, "/forums/manage", "/forums/manage/categories", &[("name", "Shop talk"), ("slug", ""), ("description", "About the shop."), ("position", "5")])
        .await;
    assert_eq!(made.status, StatusCode::SEE_OTHER, "{}", made.text);
    let category = app.count("SELECT id FROM forum_categories WHERE slug = 'shop-talk'").await;
    let cat = category.to_string();
    let fields = [("name", "Orders"), ("slug", "orders"), ("description", "Delivery, returns."), ("position", "1"), ("visibility", "public"), ("category", &cat)];
    let made = app.post_with(&sam, "/forums/manage", "/forums/manage/forums", &fields).await;
    assert_eq!(made.status, StatusCode::SEE_OTHER, "{}", made.text);
    let index = app.get("/forums").await;
    assert!(index.text.contains("Shop talk") && index.text.contains("href=\"/forums/orders\""));

    // Bad input, each with its message, nothing saved.
    let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
        (vec![("slug", "general")], "already has that address"),
        (vec![("slug", "new")], "used by the forums themselves"),
        (vec![("slug", "Bad Slug!")], "lower-case letters"),
        (vec![("visibility", "secret")], "Choose who can see"),
        (vec![("category", "999999")], "Choose a category"),
        (vec![("position", "first")], "whole number"),
        (vec![("name", "")], "Give it a name"),
    ];
    for (overrides, message) in cases {
        let mut fields: Vec<(&str, &str)> = vec![("name", "Other"), ("slug", "other"), ("description", ""), ("position", "2"), ("visibility", "public"), ("category", &cat)];
        for (k, v) in overrides {
            fields.retain(|(name, _)| *name != k);
            fields.push((k, v));
        }
        let page = app.post_with(&sam, "/forums/manage", "/forums/manage/forums", &fields).await;
        assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY, "{message}");
        assert!(page.text.contains(message), "{message}");
    }
    assert_eq!(app.count("SELECT COUNT(*) FROM forums").await, 4);

    // Rename and make it staff-only.
    let orders = forum_id(&app, "orders").await.to_string();
    let mut edit = vec![("id", orders.as_str()), ("category", &cat)];
    edit.extend([("name", "Orders and returns"), ("slug", "orders"), ("description", ""), ("position", "1"), ("visibility", "staff")]);
    assert_eq!(app.post_with(&sam, "/forums/manage", "/forums/manage/forums", &edit).await.status, StatusCode::SEE_OTHER);
    assert_eq!(app.get_with(&ava, "/forums/orders").await.status, StatusCode::NOT_FOUND);
    assert!(app.get_with(&sam, "/forums/orders").await.text.contains("Orders and returns"));
    let missing = [("id", "999999"), ("name", "Ghost"), ("slug", "ghost"), ("position", "1")];
    assert_eq!(app.post_with(&sam, "/forums/manage", "/forums/manage/categories", &missing).await.status, StatusCode::NOT_FOUND);

    let refused = app.post_with(&ava, FORM_PAGE, "/forums/manage/categories", &[("name", "Mine"), ("slug", "mine")]).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(app.count("SELECT COUNT(*) FROM forum_categories").await, 2);
    assert_eq!(app.count("SELECT COUNT(*) FROM audit_log WHERE action LIKE 'forum.%.save'").await, 3);
}

async fn signature_shows_under_posts(b: Backend) {
    let app = site(b).await;
    let ava = as_member(&app, "ava").await;
    let long = "s".repeat(coterie::forums::MAX_SIGNATURE + 1);
    let refused = app.post_with(&ava, FORM_PAGE, "/forums/settings", &[("signature", &long)]).await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    let saved = app.post_with(&ava, FORM_PAGE, "/forums/settings", &[("signature", "*Linen forever*")]).await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER);
    let id = topic(&app, &ava, "general", "Signed").await;
    let page = app.get(&format!("/forums/t/{id}")).await;
    assert!(page.text.contains("forum-post__signature") && page.text.contains("<em>Linen forever</em>"));
    assert_eq!(app.count("SELECT COUNT(*) FROM forum_subscriptions").await, 0, "the setting was left unticked");
}

async fn concurrent_replies_get_distinct_numbers_and_exact_counters(b: Backend) {
    let app = site(b).await;
    let ava = as_member(&app, "ava").await;
    let id = topic(&app, &ava, "general", "Busy").await;
    let author = user_id(&app, "ben").await;
    let mut tasks = Vec::new();
    for i in 0..20 {
        let db = app.state.db.clone();
        tasks.push(tokio::spawn(async move {
            let body = format!("Concurrent {i}");
            let post = write::NewPost { author, body: &body, at: coterie::db::now(), subscribe: true };
            write::reply(&db, id, post, false).await.unwrap().unwrap().1
        }));
    }
    let mut numbers = Vec::new();
    for task in tasks {
        numbers.push(task.await.unwrap());
    }
    numbers.sort();
    assert_eq!(numbers, (2..=21).collect::<Vec<i64>>());
    assert_eq!(num(&app, "SELECT post_count FROM forum_topics WHERE id = ?", id).await, 21);
    assert_eq!(num(&app, "SELECT post_count FROM forum_members WHERE user_id = ?", author).await, 20);
    assert_counters_exact(&app, forum_id(&app, "general").await).await;
}

async fn views_are_counted_and_member_pages_are_private(b: Backend) {
    let app = site(b).await;
    let ava = as_member(&app, "ava").await;
    let id = topic(&app, &ava, "general", "Watched").await;
    let visitor = app.get(&format!("/forums/t/{id}")).await;
    assert_eq!(visitor.header("cache-control"), "no-cache");
    let member = app.get_with(&ava, &format!("/forums/t/{id}")).await;
    assert_eq!(member.header("cache-control"), "private, no-store");
    // Views are written in batches: flush as the server does every few seconds.
    app.state.views.flush(&app.state.db).await.unwrap();
    assert_eq!(num(&app, "SELECT view_count FROM forum_topics WHERE id = ?", id).await, 2);
    for path in ["/forums", "/forums/general", "/forums/general/new", "/forums/settings"] {
        assert_eq!(app.get_with(&ava, path).await.header("cache-control"), "private, no-store", "{path}");
    }
}

async fn deleted_account_leaves_its_posts(b: Backend) {
    let app = site(b).await;
    let ben = as_member(&app, "ben").await;
    let id = topic(&app, &ben, "general", "Ben was here").await;
    coterie::accounts::store::delete(&app.state.db, user_id(&app, "ben").await).await.unwrap();
    let page = app.get(&format!("/forums/t/{id}")).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.text.contains("Former member") && page.text.contains("The opening post."));
    assert!(app.get("/forums").await.text.contains("Former member"));
}

async fn moderators_split_replies_into_a_new_topic(b: Backend) {
    let app = site(b).await;
    let (ava, nina) = (as_member(&app, "ava").await, as_member(&app, "nina").await);
    let (general, news) = (forum_id(&app, "general").await, forum_id(&app, "news").await);
    let id = topic(&app, &ava, "general", "Wandering thread").await;
    add_replies(&app, id, user_id(&app, "ben").await, 5).await;
    let rows = app.state.db.query("SELECT id FROM forum_posts WHERE topic_id = ? ORDER BY number").bind(id).fetch_all(app.state.db.w()).await.unwrap();
    let ids: Vec<String> = rows.iter().map(|r| r.get::<i64, _>(0).to_string()).collect();
    let split = format!("/forums/t/{id}/split");
    let to = news.to_string();
    // Bad input: nothing selected, the opening post, a missing forum, no title, not a number.
    let cases: [(&[(&str, &str)], &str); 5] = [
        (&[("title", "Off topic"), ("forum", &to)], "Choose between 1 and 100"),
        (&[("posts", &ids[0]), ("title", "Off topic"), ("forum", &to)], "Only replies"),
        (&[("posts", &ids[2]), ("title", "Off topic"), ("forum", "999999")], "does not exist"),
        (&[("posts", &ids[2]), ("title", ""), ("forum", &to)], "needs a title"),
        (&[("posts", "x"), ("title", "Off topic"), ("forum", &to)], "Choose the posts"),
    ];
    for (fields, message) in cases {
        let page = app.post_with(&nina, FORM_PAGE, &split, fields).await;
        assert_eq!(page.status, StatusCode::BAD_REQUEST, "{message}");
        assert!(page.text.contains(message), "{message}: {}", page.text);
    }
    let refused = app.post_with(&ava, FORM_PAGE, &split, &[("posts", &ids[2]), ("title", "Mine now"), ("forum", &to)]).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(app.count("SELECT COUNT(*) FROM forum_topics").await, 1, "nothing was split");

    // Posts #3 and #5 go to a new topic in news, in order, numbered 1 and 2.
    let fields = [("posts", ids[4].as_str()), ("posts", &ids[2]), ("title", "A tangent"), ("forum", &to)];
    let done = app.post_with(&nina, FORM_PAGE, &split, &fields).await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.text);
    let new_topic = num(&app, "SELECT id FROM forum_topics WHERE forum_id = ?", news).await;
    assert_eq!(done.location(), format!("/forums/t/{new_topic}"));
    let page = app.get(&format!("/forums/t/{new_topic}")).await;
    assert!(page.text.find("Reply number 1.").unwrap() < page.text.find("Reply number 3.").unwrap());
    assert!(page.text.contains(">#1<") && page.text.contains(">#2<") && !page.text.contains(">#3<"));
    assert_eq!(num(&app, "SELECT post_count FROM forum_topics WHERE id = ?", new_topic).await, 2);
    assert_eq!(num(&app, "SELECT post_count FROM forum_topics WHERE id = ?", id).await, 4);
    assert_eq!(num(&app, "SELECT last_number FROM forum_topics WHERE id = ?", id).await, 6, "#6 stays in the old topic");
    assert!(!app.get(&format!("/forums/t/{id}")).await.text.contains("Reply number 3."));
    assert_counters_exact(&app, general).await;
    assert_counters_exact(&app, news).await;
    assert_eq!(app.count("SELECT COUNT(*) FROM audit_log WHERE action = 'forum.topic.split'").await, 1);
    // A reply to the old topic takes the number after its last.
    reply(&app, &ava, id, "Back on topic").await;
    assert_eq!(num(&app, "SELECT last_number FROM forum_topics WHERE id = ?", id).await, 7);
}

async fn a_deactivated_members_posts_are_hidden(b: Backend) {
    let app = site(b).await;
    let (ava, ben) = (as_member(&app, "ava").await, as_member(&app, "ben").await);
    let id = topic(&app, &ava, "general", "Still here").await;
    reply(&app, &ben, id, "Ben's words").await;
    app.state.db.query("UPDATE users SET is_active = 0 WHERE id = ?").bind(user_id(&app, "ben").await).execute(app.state.db.w()).await.unwrap();
    let page = app.get_with(&ava, &format!("/forums/t/{id}")).await;
    assert!(!page.text.contains("Ben's words") && page.text.contains("posts are hidden"));
    assert!(page.text.contains(">#2<"), "the thread keeps its shape");
    let nina = as_member(&app, "nina").await;
    assert!(app.get_with(&nina, &format!("/forums/t/{id}")).await.text.contains("Ben's words"), "moderators still see it");
}

async fn demo_forums_are_consistent(b: Backend) {
    let app = TestApp::spawn(b).await;
    coterie::demo::fill_if_empty(&app.state).await.unwrap();
    for forum in store::forums(&app.state.db).await.unwrap() {
        assert_counters_exact(&app, forum.id).await;
    }
    assert_eq!(app.count("SELECT COUNT(*) FROM forum_topics WHERE sticky = 1").await, 1, "a pinned welcome");
    assert_eq!(app.count("SELECT COUNT(*) FROM forum_topics WHERE locked = 1").await, 1, "a locked announcement");
    let busy = app.count("SELECT MAX(last_number) FROM forum_topics").await;
    assert!(busy > 3 * coterie::forums::POSTS_PER_PAGE, "a topic over several pages ({busy} posts)");
    let index = app.get("/forums").await;
    assert!(index.text.contains("Welcome &amp; introductions") && !index.text.contains("Moderators"), "staff-only stays hidden");
    assert_eq!(app.get("/forums/style-advice").await.status, StatusCode::OK);
    let welcome = app.count("SELECT id FROM forum_topics WHERE sticky = 1").await;
    assert_eq!(app.get(&format!("/forums/t/{welcome}")).await.status, StatusCode::OK);
}

/// A vote on a forum post as `client`, without following the redirect.
async fn vote(app: &TestApp, client: &Client, post: i64, value: &str) -> Page {
    app.post_with(client, FORM_PAGE, &format!("/votes/forum_post/{post}"), &[("value", value)]).await
}

/// A post's (score, up_count, down_count).
async fn tally(app: &TestApp, post: i64) -> (i64, i64, i64) {
    let row = app.state.db.query("SELECT score, up_count, down_count FROM forum_posts WHERE id = ?").bind(post).fetch_one(app.state.db.w()).await.unwrap();
    (row.get::<i64, _>(0), row.get::<i64, _>(1), row.get::<i64, _>(2))
}

async fn vote_on_a_post_change_it_and_take_it_back(b: Backend) {
    let app = site(b).await;
    let (ava, ben) = (as_member(&app, "ava").await, as_member(&app, "ben").await);
    let id = topic(&app, &ava, "general", "Rate my coat").await;
    add_replies(&app, id, user_id(&app, "ava").await, 25).await;
    let opening = num(&app, "SELECT id FROM forum_posts WHERE topic_id = ? AND number = 1", id).await;
    let on_page_two = num(&app, "SELECT id FROM forum_posts WHERE topic_id = ? AND number = 22", id).await;

    // Without JavaScript: the form posts, the answer goes back to the post.
    let page_two = app.get_with(&ben, &format!("/forums/t/{id}?page=2")).await;
    let back = format!("/forums/t/{id}-rate-my-coat?page=2#post-{on_page_two}");
    assert!(page_two.text.contains(&format!("action=\"/votes/forum_post/{on_page_two}\"")), "a vote box on each post");
    assert!(page_two.text.contains(&format!("name=\"next\" value=\"{back}\"")));
    let up = app.post_raw(&ben, &format!("/votes/forum_post/{on_page_two}"), &[("csrf_token", &page_two.csrf()), ("value", "1"), ("next", &back)]).await;
    assert_eq!(up.status, StatusCode::SEE_OTHER);
    assert_eq!(up.location(), back);
    assert_eq!(tally(&app, on_page_two).await, (1, 1, 0));
    let shown = app.get_with(&ben, &format!("/forums/t/{id}?page=2")).await.text;
    assert!(shown.contains("<span class=\"score\" aria-label=\"Score\">1</span>"));
    assert!(shown.contains("aria-pressed=\"true\" aria-label=\"Upvote post #22\""), "the member's vote shows");

    // With JavaScript: JSON back, and the opening post's score is the topic's.
    let json = ben
        .post(app.url(&format!("/votes/forum_post/{opening}")))
        .header("Accept", "application/json")
        .form(&[("csrf_token", page_two.csrf().as_str()), ("value", "1")])
        .send()
        .await
        .unwrap();
    assert_eq!(json.status(), StatusCode::OK);
    let answer: serde_json::Value = serde_json::from_str(&json.text().await.unwrap()).unwrap();
    assert_eq!((answer["score"].as_i64(), answer["mine"].as_i64()), (Some(1), Some(1)));
    assert_eq!(num(&app, "SELECT score FROM forum_topics WHERE id = ?", id).await, 1);

    // Changed, then taken back.
    assert_eq!(vote(&app, &ben, opening, "-1").await.status, StatusCode::SEE_OTHER);
    assert_eq!(tally(&app, opening).await, (-1, 0, 1));
    assert_eq!(num(&app, "SELECT score FROM forum_topics WHERE id = ?", id).await, -1);
    assert_eq!(vote(&app, &ben, opening, "0").await.status, StatusCode::SEE_OTHER);
    assert_eq!(tally(&app, opening).await, (0, 0, 0));
    assert_eq!(num(&app, "SELECT score FROM forum_topics WHERE id = ?", id).await, 0);
    assert_eq!(app.count("SELECT COUNT(*) FROM votes WHERE kind = 'forum_post'").await, 1, "the reply's vote stays");

    // A vote on a reply does not move the topic's score.
    assert_eq!(num(&app, "SELECT score FROM forum_topics WHERE id = ?", id).await, 0);
    // Visitors see scores and a way to log in.
    let visitor = app.get(&format!("/forums/t/{id}?page=2")).await.text;
    assert!(visitor.contains("<span class=\"score\" aria-label=\"Score\">1</span>") && visitor.contains("Log in to vote"));
}

async fn votes_refused_on_own_deleted_hidden_and_staff_only_posts(b: Backend) {
    let app = site(b).await;
    let (ava, ben, nina) = (as_member(&app, "ava").await, as_member(&app, "ben").await, as_member(&app, "nina").await);
    let id = topic(&app, &ava, "general", "Vote rules").await;
    let opening = num(&app, "SELECT id FROM forum_posts WHERE topic_id = ? AND number = 1", id).await;
    assert_eq!(vote(&app, &ava, opening, "1").await.status, StatusCode::FORBIDDEN, "no voting on your own post");

    // A post in a staff-only forum: no vote box, and a vote is refused, even for the team.
    let team = topic(&app, &nina, "team", "Rota").await;
    let team_post = num(&app, "SELECT id FROM forum_posts WHERE topic_id = ? AND number = 1", team).await;
    assert!(!app.get_with(&nina, &format!("/forums/t/{team}")).await.text.contains("/votes/forum_post/"));
    assert_eq!(vote(&app, &ben, team_post, "1").await.status, StatusCode::NOT_FOUND, "a member cannot see it");
    assert_eq!(vote(&app, &as_member(&app, "sam").await, team_post, "1").await.status, StatusCode::NOT_FOUND);

    // A deleted post.
    reply(&app, &ben, id, "Soon gone.").await;
    let gone = num(&app, "SELECT id FROM forum_posts WHERE topic_id = ? AND number = 2", id).await;
    let deleted = app.post_with(&ben, FORM_PAGE, &format!("/forums/p/{gone}/delete"), &[]).await;
    assert_eq!(deleted.status, StatusCode::SEE_OTHER);
    assert_eq!(vote(&app, &ava, gone, "1").await.status, StatusCode::NOT_FOUND);

    // A post of a deactivated member, and a post in a deleted topic.
    reply(&app, &ben, id, "Ben again.").await;
    let bens = num(&app, "SELECT id FROM forum_posts WHERE topic_id = ? AND number = 3", id).await;
    app.state.db.query("UPDATE users SET is_active = 0 WHERE id = ?").bind(user_id(&app, "ben").await).execute(app.state.db.w()).await.unwrap();
    assert_eq!(vote(&app, &ava, bens, "1").await.status, StatusCode::NOT_FOUND);
    let doomed = topic(&app, &nina, "general", "Doomed").await;
    let doomed_post = num(&app, "SELECT id FROM forum_posts WHERE topic_id = ? AND number = 1", doomed).await;
    assert_eq!(moderate(&app, &nina, doomed, &[("action", "delete")]).await.status, StatusCode::SEE_OTHER);
    assert_eq!(vote(&app, &ava, doomed_post, "1").await.status, StatusCode::NOT_FOUND);

    // Bad values, and no CSRF token.
    let other = topic(&app, &nina, "general", "Fine to vote on").await;
    let fine = num(&app, "SELECT id FROM forum_posts WHERE topic_id = ? AND number = 1", other).await;
    assert_eq!(vote(&app, &ava, fine, "2").await.status, StatusCode::BAD_REQUEST);
    let raw = app.post_raw(&ava, &format!("/votes/forum_post/{fine}"), &[("value", "1")]).await;
    assert_eq!(raw.status, StatusCode::FORBIDDEN, "no CSRF token");
    assert_eq!(app.count("SELECT COUNT(*) FROM votes").await, 0, "nothing was recorded");
    assert_eq!(app.sum("SELECT score FROM forum_posts").await, 0);
    assert_eq!(app.sum("SELECT score FROM forum_topics").await, 0);
}

async fn thirty_members_vote_on_one_post_at_once(b: Backend) {
    let app = site(b).await;
    let ava = as_member(&app, "ava").await;
    let id = topic(&app, &ava, "general", "Popular").await;
    let post = num(&app, "SELECT id FROM forum_posts WHERE topic_id = ? AND number = 1", id).await;
    let mut voters = Vec::new();
    for i in 0..30 {
        let member = app.member(&format!("fan{i:02}"), PW, "member").await;
        let client = app.client_for(member).await;
        let token = app.get_with(&client, FORM_PAGE).await.csrf();
        voters.push((client, token));
    }
    let url = app.url(&format!("/votes/forum_post/{post}"));
    let tasks: Vec<_> = voters
        .into_iter()
        .enumerate()
        .map(|(i, (client, token))| {
            let url = url.clone();
            // One in three votes down: 20 up, 10 down.
            let value = if i % 3 == 0 { "-1" } else { "1" };
            tokio::spawn(async move { client.post(url).form(&[("csrf_token", token.as_str()), ("value", value)]).send().await.unwrap().status() })
        })
        .collect();
    for task in tasks {
        assert_eq!(task.await.unwrap(), StatusCode::SEE_OTHER);
    }
    assert_eq!(tally(&app, post).await, (10, 20, 10));
    assert_eq!(num(&app, "SELECT score FROM forum_topics WHERE id = ?", id).await, 10, "the topic's copy agrees");
    assert_eq!(app.count("SELECT COUNT(*) FROM votes WHERE kind = 'forum_post'").await, 30);
}

async fn top_topics_by_opening_post_score_page_by_keyset(b: Backend) {
    let app = site(b).await;
    let db = &app.state.db;
    let (general, ava, voters, kind) = voting(&app).await;
    let mut ids = Vec::new();
    // 30 topics; topic i scores (i % 4) - 1: from -1 to 2, many ties.
    for i in 0..30i64 {
        let post = write::NewPost { author: ava, body: "Hello.", at: 1_700_000_000 + i * 60, subscribe: false };
        let (topic, _) = write::create_topic(db, &general, &format!("Topic {i:02}"), post).await.unwrap();
        let opening = num(&app, "SELECT id FROM forum_posts WHERE topic_id = ? AND number = 1", topic).await;
        let score = i % 4 - 1;
        for voter in voters.iter().take(score.unsigned_abs() as usize) {
            coterie::votes::cast(&app.state, kind, opening, *voter, score.signum()).await.unwrap();
        }
        ids.push((topic, score));
    }
    write::set_flag(db, ids[0].0, write::Flag::Sticky, true).await.unwrap();
    // The expected order: score down, then newest id first.
    let mut expected = ids.clone();
    expected.sort_by(|a, b| b.1.cmp(&a.1).then(b.0.cmp(&a.0)));
    let titles = |page: &Page| -> Vec<i64> {
        page.text
            .split("class=\"topic-row__title\"")
            .skip(1)
            .map(|row| {
                let title = row.split("\">Topic ").nth(1).unwrap();
                let n: i64 = title[..2].parse().unwrap();
                ids[n as usize].0
            })
            .collect()
    };
    let first = app.get("/forums/general?sort=top").await;
    assert_eq!(first.status, StatusCode::OK);
    assert!(first.text.contains("<dt>Score</dt><dd>2</dd>"));
    assert_eq!(titles(&first), expected[..25].iter().map(|t| t.0).collect::<Vec<_>>(), "sticky topics rank like any other");
    let next = first.text.split("rel=\"next\" href=\"").nth(1).unwrap().split('"').next().unwrap().replace("&amp;", "&");
    assert!(next.starts_with("/forums/general?sort=top&after=-1."), "{next}");
    let second = app.get(&next).await;
    assert_eq!(titles(&second), expected[25..].iter().map(|t| t.0).collect::<Vec<_>>());
    let prev = second.text.split("rel=\"prev\" href=\"").nth(1).unwrap().split('"').next().unwrap().replace("&amp;", "&");
    assert_eq!(app.get(&prev).await.location(), "/forums/general?sort=top");

    for bad in ["sort=best", "sort=top&after=x.1", "sort=top&after=--1.2", "sort=top&after=1.-2"] {
        assert_eq!(app.get(&format!("/forums/general?{bad}")).await.status, StatusCode::NOT_FOUND, "{bad}");
    }
    // Deleting an opening post takes its topic's score away; a split topic
    // takes its new opening post's.
    let top = expected[0].0;
    let opening = num(&app, "SELECT id FROM forum_posts WHERE topic_id = ? AND number = 1", top).await;
    add_replies(&app, top, ava, 2).await;
    let topic = store::topic_by_id(db, top).await.unwrap().unwrap();
    write::delete_post(db, opening, &topic).await.unwrap().unwrap();
    assert_eq!(num(&app, "SELECT score FROM forum_topics WHERE id = ?", top).await, 0);
    let third = num(&app, "SELECT id FROM forum_posts WHERE topic_id = ? AND number = 3", top).await;
    coterie::votes::cast(&app.state, kind, third, voters[0], 1).await.unwrap();
    let split = write::split_topic(db, top, &[third], general.id, "Split off").await.unwrap().unwrap();
    assert_eq!(num(&app, "SELECT score FROM forum_topics WHERE id = ?", split).await, 1);
}

/// The general forum, its author ava, three voters, and the forum post kind.
async fn voting(app: &TestApp) -> (coterie::forums::store::Forum, i64, [i64; 3], &'static coterie::content::Kind) {
    let general = store::forum_by_slug(&app.state.db, "general").await.unwrap().unwrap();
    let voters = [user_id(app, "ben").await, user_id(app, "nina").await, user_id(app, "sam").await];
    (general, user_id(app, "ava").await, voters, coterie::content::kind("forum_post").unwrap())
}

/// Votes lock a topic before its opening post, as every forum writer does:
/// a delete of that post racing a crowd of votes on it always completes,
/// and the votes land whole or are refused as gone.
async fn votes_racing_the_delete_of_an_opening_post_never_fail_it(b: Backend) {
    let app = site(b).await;
    let db = &app.state.db;
    let (general, ava, voters, kind) = voting(&app).await;
    for round in 0..5i64 {
        let post = write::NewPost { author: ava, body: "Hello.", at: 1_700_000_000 + round, subscribe: false };
        let (topic_id, _) = write::create_topic(db, &general, &format!("Race {round}"), post).await.unwrap();
        add_replies(&app, topic_id, ava, 1).await;
        let opening = num(&app, "SELECT id FROM forum_posts WHERE topic_id = ? AND number = 1", topic_id).await;
        let votes: Vec<_> = voters
            .iter()
            .map(|voter| {
                let (state, voter) = (app.state.clone(), *voter);
                tokio::spawn(async move { coterie::votes::cast(&state, kind, opening, voter, 1).await.map(|t| t.score) })
            })
            .collect();
        let topic = store::topic_by_id(db, topic_id).await.unwrap().unwrap();
        write::delete_post(db, opening, &topic).await.expect("the delete is never a deadlock's victim").unwrap();
        for vote in votes {
            match vote.await.unwrap() {
                Ok(score) => assert!((1..=3).contains(&score)),
                Err(e) => assert!(matches!(e, coterie::web::error::AppError::NotFound | coterie::web::error::AppError::Forbidden(_)), "{e}"),
            }
        }
        assert_eq!(num(&app, "SELECT score FROM forum_topics WHERE id = ?", topic_id).await, 0, "a deleted opening post ranks its topic no more");
        let stored = num(&app, "SELECT score FROM forum_posts WHERE id = ?", opening).await;
        let counted = num(&app, "SELECT COUNT(*) FROM votes WHERE kind = 'forum_post' AND target_id = ?", opening).await;
        assert_eq!(stored, counted, "the post's score is its votes");
    }
}
