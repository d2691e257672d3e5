//! Comments and votes, attached to blog posts, through the real router.

mod common;

use common::{Backend, TestApp};
use reqwest::StatusCode;

const PW: &str = "velvet-harbor-lantern-91";

backend_tests!(
    comment_reply_and_thread_shape,
    fifty_members_vote_at_once,
    fifty_members_vote_on_one_photo_at_once,
    one_member_racing_up_and_down_keeps_one_vote,
    twenty_concurrent_replies_land_in_their_thread,
    bad_comments_change_nothing,
    bad_votes_change_nothing,
    edit_window_and_ownership,
    delete_keeps_the_shape_and_moderators_remove_with_a_reason,
    deep_threads_continue_on_their_own_page,
    inline_posting_and_voting_answer_json,
    deleting_an_account_takes_back_votes_and_comments,
    deactivating_a_member_hides_all_their_content_at_once,
);

/// A site with a published post by `author` (id returned) and member `ava` logged in.
async fn site(b: Backend) -> (TestApp, i64) {
    let app = TestApp::spawn(b).await;
    let author = app.member("author", PW, "member").await;
    app.member("ava", PW, "member").await;
    let writer = app.client_for(author).await;
    let done = app.post_with(&writer, "/blog/new", "/blog/new", &[("title", "Linen"), ("body", "About linen."), ("action", "publish")]).await;
    assert_eq!(done.status, StatusCode::SEE_OTHER);
    app.login("ava", PW).await;
    let post = app.count("SELECT id FROM blog_posts").await;
    (app, post)
}

const POST: &str = "/blog/author/linen";

async fn comment(app: &TestApp, client: &reqwest::Client, post: i64, body: &str, parent: Option<i64>) -> common::Page {
    let parent = parent.map(|p| p.to_string()).unwrap_or_default();
    app.post_with(client, POST, &format!("/comments/blog_post/{post}"), &[("body", body), ("parent", &parent), ("next", POST)]).await
}

async fn last_comment(app: &TestApp) -> i64 {
    app.count("SELECT MAX(id) FROM comments").await
}

async fn comment_reply_and_thread_shape(b: Backend) {
    let (app, post) = site(b).await;
    let first = comment(&app, &app.client, post, "Great **tips**", None).await;
    assert_eq!(first.status, StatusCode::SEE_OTHER);
    let root = last_comment(&app).await;
    assert_eq!(first.location(), format!("{POST}#comment-{root}"));
    let author = app.client_for(1).await;
    comment(&app, &author, post, "Thank you!", Some(root)).await;
    let reply = last_comment(&app).await;
    assert_eq!(app.count("SELECT comment_count FROM blog_posts").await, 2);
    assert_eq!(app.count("SELECT reply_count FROM comments WHERE parent_id IS NULL").await, 1);
    let page = app.get_with(&common::client(), POST).await.text;
    assert!(page.contains("<strong>tips</strong>"));
    // The reply's element sits inside its parent comment's element.
    let parent_at = page.find(&format!("id=\"comment-{root}\"")).unwrap();
    let reply_at = page.find(&format!("id=\"comment-{reply}\"")).unwrap();
    let parent_end = parent_at + page[parent_at..].find("</li>\n</ol>").unwrap_or(page.len() - parent_at);
    assert!(reply_at > parent_at && reply_at < parent_end + 20, "the reply is nested in its parent");
    assert!(page.contains("2 comments"));
    // Sorting and the permalink page.
    assert_eq!(app.get(&format!("{POST}?comments=top")).await.status, StatusCode::OK);
    assert_eq!(app.get(&format!("{POST}?comments=new&cpage=x")).await.status, StatusCode::NOT_FOUND);
    let own = app.get(&format!("/comments/{reply}")).await;
    assert_eq!(own.status, StatusCode::OK);
    assert!(own.text.contains("Thank you!"));
}

async fn fifty_members_vote_at_once(b: Backend) {
    let (app, post) = site(b).await;
    fifty_voters(&app, "blog_post", "blog_posts", post, POST).await;
}

/// The same crowd on a photo.
async fn fifty_members_vote_on_one_photo_at_once(b: Backend) {
    let (app, _) = site(b).await;
    let owner = app.count("SELECT MIN(id) FROM users").await;
    let text = coterie::photos::store::PhotoText { title: "Coat".into(), caption: String::new(), tags: vec![] };
    let new = [coterie::photos::store::NewPhoto { text, width: 640, height: 800, content_hash: format!("{:020}", 1) }];
    let photo = coterie::photos::store::create_photos(&app.state.db, owner, None, &new).await.unwrap()[0];
    fifty_voters(&app, "photo", "photos", photo, &format!("/photos/{photo}")).await;
}

/// 50 members vote on one item at once, one in five down: the counters on
/// the item are exact and the page shows the score.
async fn fifty_voters(app: &TestApp, kind: &str, table: &str, id: i64, page: &str) {
    let mut clients = Vec::new();
    for i in 0..50 {
        let member = app.member(&format!("voter{i:02}"), PW, "member").await;
        let client = app.client_for(member).await;
        let token = app.get_with(&client, page).await.csrf();
        clients.push((client, token));
    }
    let url = app.url(&format!("/votes/{kind}/{id}"));
    let tasks: Vec<_> = clients
        .into_iter()
        .enumerate()
        .map(|(i, (client, token))| {
            let url = url.clone();
            let value = if i % 5 == 0 { "-1" } else { "1" };
            tokio::spawn(async move { client.post(url).form(&[("csrf_token", token.as_str()), ("value", value)]).send().await.unwrap().status() })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.unwrap(), StatusCode::SEE_OTHER);
    }
    // 40 up, 10 down.
    let counter = |column: &str| {
        let sql: &'static str = Box::leak(format!("SELECT {column} FROM {table} WHERE id = {id}").into_boxed_str());
        app.count(sql)
    };
    assert_eq!(counter("score").await, 30);
    assert_eq!(counter("up_count").await, 40);
    assert_eq!(counter("down_count").await, 10);
    let sql: &'static str = Box::leak(format!("SELECT COUNT(*) FROM votes WHERE kind = '{kind}' AND target_id = {id}").into_boxed_str());
    assert_eq!(app.count(sql).await, 50);
    let text = app.get(page).await.text;
    assert!(text.contains("<span class=\"score\" aria-label=\"Score\">30</span>"), "{page} shows the score");
}

async fn one_member_racing_up_and_down_keeps_one_vote(b: Backend) {
    let (app, post) = site(b).await;
    let token = app.get(POST).await.csrf();
    let url = app.url(&format!("/votes/blog_post/{post}"));
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let (client, url, token) = (app.client.clone(), url.clone(), token.clone());
            let value = if i % 2 == 0 { "1" } else { "-1" };
            tokio::spawn(async move { client.post(url).form(&[("csrf_token", token.as_str()), ("value", value)]).send().await.unwrap().status() })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.unwrap(), StatusCode::SEE_OTHER);
    }
    assert_eq!(app.count("SELECT COUNT(*) FROM votes").await, 1);
    let value = app.count("SELECT value FROM votes").await;
    assert_eq!(app.count("SELECT score FROM blog_posts").await, value, "the score is the one vote");
    assert_eq!(app.count("SELECT up_count + down_count FROM blog_posts").await, 1);
}

async fn twenty_concurrent_replies_land_in_their_thread(b: Backend) {
    let (app, post) = site(b).await;
    comment(&app, &app.client, post, "Root", None).await;
    let root = last_comment(&app).await;
    let mut tasks = Vec::new();
    for i in 0..20 {
        let id = app.member(&format!("replier{i:02}"), PW, "member").await;
        let client = app.client_for(id).await;
        let token = app.get_with(&client, POST).await.csrf();
        let url = app.url(&format!("/comments/blog_post/{post}"));
        tasks.push(tokio::spawn(async move {
            let body = format!("Reply number {i}");
            let fields = [("csrf_token", token.as_str()), ("body", body.as_str()), ("parent", &root.to_string())];
            client.post(url).form(&fields).send().await.unwrap().status()
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), StatusCode::SEE_OTHER);
    }
    assert_eq!(app.count("SELECT COUNT(*) FROM comments WHERE parent_id IS NOT NULL").await, 20);
    assert_eq!(app.count("SELECT reply_count FROM comments WHERE parent_id IS NULL").await, 20);
    assert_eq!(app.count("SELECT COUNT(*) FROM comments WHERE root_id IS NOT NULL AND root_id <> id AND depth = 1").await, 20);
    assert_eq!(app.count("SELECT comment_count FROM blog_posts").await, 21);
    let page = app.get(POST).await.text;
    assert_eq!(page.matches("Reply number").count(), 20);
}

async fn bad_comments_change_nothing(b: Backend) {
    let (app, post) = site(b).await;
    // A second post, to reply across.
    let writer = app.client_for(1).await;
    app.post_with(&writer, "/blog/new", "/blog/new", &[("title", "Wool"), ("body", "About wool."), ("action", "publish")]).await;
    let other_post = app.count("SELECT MAX(id) FROM blog_posts").await;
    comment(&app, &app.client, other_post, "On wool", None).await;
    let elsewhere = last_comment(&app).await;
    let before = app.count("SELECT COUNT(*) FROM comments").await;

    let across = comment(&app, &app.client, post, "Crossing over", Some(elsewhere)).await;
    assert_eq!(across.status, StatusCode::BAD_REQUEST);
    let missing = comment(&app, &app.client, post, "To nobody", Some(999_999)).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    let empty = comment(&app, &app.client, post, "   ", None).await;
    assert_eq!(empty.status, StatusCode::SEE_OTHER, "sent back with a message");
    let long = "y".repeat(10_001);
    comment(&app, &app.client, post, &long, None).await;
    let no_target = app.post(POST, "/comments/blog_post/999999", &[("body", "Hello")]).await;
    assert_eq!(no_target.status, StatusCode::NOT_FOUND);
    let no_kind = app.post(POST, &format!("/comments/spaceship/{post}"), &[("body", "Hello")]).await;
    assert_eq!(no_kind.status, StatusCode::NOT_FOUND);
    let raw = app.post_raw(&app.client, &format!("/comments/blog_post/{post}"), &[("body", "No token")]).await;
    assert_eq!(raw.status, StatusCode::FORBIDDEN);
    let bot = app.post(POST, &format!("/comments/blog_post/{post}"), &[("body", "Buy now"), ("homepage", "http://spam.example")]).await;
    assert_eq!(bot.status, StatusCode::BAD_REQUEST);
    assert_eq!(app.count("SELECT COUNT(*) FROM comments").await, before);

    // Replying to a deleted comment is refused.
    comment(&app, &app.client, post, "Soon gone", None).await;
    let gone = last_comment(&app).await;
    app.post(POST, &format!("/comments/{gone}/delete"), &[]).await;
    comment(&app, &app.client, post, "Too late", Some(gone)).await;
    assert_eq!(app.count("SELECT COUNT(*) FROM comments WHERE parent_id IS NOT NULL").await, 0);
    // The same comment twice in a row is refused.
    comment(&app, &app.client, post, "Same again", None).await;
    comment(&app, &app.client, post, "Same again", None).await;
    assert_eq!(app.count("SELECT COUNT(*) FROM comments WHERE body = 'Same again'").await, 1);
    // Script in markdown is sanitized away.
    comment(&app, &app.client, post, "<script>alert(1)</script>\n\n<img src=x onerror=alert(2)> ok", None).await;
    let page = app.get(POST).await.text;
    assert!(!page.contains("<script>alert") && !page.contains("onerror"));
    // Visitors are asked to log in.
    let visitor = common::client();
    let page = app.get_with(&visitor, POST).await;
    assert!(page.text.contains("Log in</a> or"));
}

async fn bad_votes_change_nothing(b: Backend) {
    let (app, post) = site(b).await;
    let vote = |path: String, value: &'static str| {
        let app = &app;
        async move { app.post(POST, &path, &[("value", value)]).await.status }
    };
    assert_eq!(vote(format!("/votes/blog_post/{post}"), "7").await, StatusCode::BAD_REQUEST);
    assert_eq!(vote("/votes/blog_post/999999".into(), "1").await, StatusCode::NOT_FOUND);
    assert_eq!(vote(format!("/votes/spaceship/{post}"), "1").await, StatusCode::NOT_FOUND);
    let own = app.client_for(1).await;
    let self_vote = app.post_with(&own, POST, &format!("/votes/blog_post/{post}"), &[("value", "1")]).await;
    assert_eq!(self_vote.status, StatusCode::FORBIDDEN, "no voting on your own post");
    let raw = app.post_raw(&app.client, &format!("/votes/blog_post/{post}"), &[("value", "1")]).await;
    assert_eq!(raw.status, StatusCode::FORBIDDEN);
    let visitor = common::client();
    let token = app.get_with(&visitor, "/accounts/login").await.csrf();
    let anon = app.post_raw(&visitor, &format!("/votes/blog_post/{post}"), &[("csrf_token", &token), ("value", "1")]).await;
    assert_eq!(anon.status, StatusCode::SEE_OTHER);
    assert!(anon.location().starts_with("/accounts/login"));
    assert_eq!(app.count("SELECT COUNT(*) FROM votes").await, 0);
    assert_eq!(app.count("SELECT score FROM blog_posts").await, 0);
    // Changing and withdrawing a vote.
    assert_eq!(vote(format!("/votes/blog_post/{post}"), "1").await, StatusCode::SEE_OTHER);
    assert_eq!(app.count("SELECT score FROM blog_posts").await, 1);
    vote(format!("/votes/blog_post/{post}"), "-1").await;
    assert_eq!(app.count("SELECT score FROM blog_posts").await, -1);
    assert_eq!(app.count("SELECT down_count FROM blog_posts").await, 1);
    assert_eq!(app.count("SELECT up_count FROM blog_posts").await, 0);
    vote(format!("/votes/blog_post/{post}"), "0").await;
    assert_eq!(app.count("SELECT score FROM blog_posts").await, 0);
    assert_eq!(app.count("SELECT COUNT(*) FROM votes").await, 0);
}

async fn edit_window_and_ownership(b: Backend) {
    let (app, post) = site(b).await;
    comment(&app, &app.client, post, "Fist draft", None).await;
    let id = last_comment(&app).await;
    let edit = format!("/comments/{id}/edit");
    let fixed = app.post(&edit, &edit, &[("body", "First draft")]).await;
    assert_eq!(fixed.status, StatusCode::SEE_OTHER);
    assert!(app.get(POST).await.text.contains("edited"));
    let empty = app.post(&edit, &edit, &[("body", "")]).await;
    assert_eq!(empty.status, StatusCode::UNPROCESSABLE_ENTITY);
    // Someone else cannot edit or delete it.
    let other = app.client_for(1).await;
    assert_eq!(app.get_with(&other, &edit).await.status, StatusCode::FORBIDDEN);
    let token = app.get_with(&other, POST).await.csrf();
    assert_eq!(app.post_raw(&other, &edit, &[("csrf_token", &token), ("body", "Hijacked")]).await.status, StatusCode::FORBIDDEN);
    assert_eq!(app.post_raw(&other, &format!("/comments/{id}/delete"), &[("csrf_token", &token)]).await.status, StatusCode::FORBIDDEN);
    // After the window, not even the author.
    app.state.db.query("UPDATE comments SET created_at = created_at - 3600").execute(app.state.db.w()).await.unwrap();
    let token = app.get(POST).await.csrf();
    let late = app.post_raw(&app.client, &edit, &[("csrf_token", &token), ("body", "Too late")]).await;
    assert_eq!(late.status, StatusCode::FORBIDDEN);
    assert_eq!(app.count("SELECT COUNT(*) FROM comments WHERE body = 'First draft'").await, 1);
}

async fn delete_keeps_the_shape_and_moderators_remove_with_a_reason(b: Backend) {
    let (app, post) = site(b).await;
    comment(&app, &app.client, post, "Parent words", None).await;
    let parent = last_comment(&app).await;
    let author = app.client_for(1).await;
    comment(&app, &author, post, "Child words", Some(parent)).await;
    let child = last_comment(&app).await;
    app.post(POST, &format!("/comments/{parent}/delete"), &[]).await;
    let page = app.get(POST).await.text;
    assert!(!page.contains("Parent words") && page.contains("[deleted]") && page.contains("Child words"));
    assert!(page.contains(&format!("id=\"comment-{parent}\"")), "the deleted comment keeps its place");
    assert_eq!(app.count("SELECT comment_count FROM blog_posts").await, 1);
    // A member cannot remove; a moderator can, with a reason.
    let member_try = app.post_with(&author, POST, &format!("/comments/{child}/remove"), &[("reason", "spam")]).await;
    assert_eq!(member_try.status, StatusCode::FORBIDDEN);
    let moderator = app.member("nina", PW, "moderator").await;
    let nina = app.client_for(moderator).await;
    let no_reason = app.post_with(&nina, POST, &format!("/comments/{child}/remove"), &[("reason", " ")]).await;
    assert_eq!(no_reason.status, StatusCode::BAD_REQUEST);
    let removed = app.post_with(&nina, POST, &format!("/comments/{child}/remove"), &[("reason", "Off topic")]).await;
    assert_eq!(removed.status, StatusCode::SEE_OTHER);
    assert_eq!(app.count("SELECT COUNT(*) FROM audit_log WHERE action = 'comment.remove'").await, 1);
    assert!(app.get(POST).await.text.contains("removed by a moderator"));
    assert_eq!(app.count("SELECT comment_count FROM blog_posts").await, 0);
}

async fn deep_threads_continue_on_their_own_page(b: Backend) {
    let (app, post) = site(b).await;
    let other = app.client_for(1).await;
    let mut parent = None;
    for depth in 0..8 {
        let client = if depth % 2 == 0 { &app.client } else { &other };
        comment(&app, client, post, &format!("Level {depth}"), parent).await;
        parent = Some(last_comment(&app).await);
    }
    let page = app.get(POST).await.text;
    assert!(page.contains("Level 5") && !page.contains("Level 6"), "replies fold below the shown depth");
    assert!(page.contains("Continue this thread"));
    let level5 = app.count("SELECT id FROM comments WHERE depth = 5").await;
    let more = app.get(&format!("/comments/{level5}")).await.text;
    assert!(more.contains("Level 6") && more.contains("Level 7"));
}

async fn inline_posting_and_voting_answer_json(b: Backend) {
    let (app, post) = site(b).await;
    let token = app.get(POST).await.csrf();
    let posted = app
        .client
        .post(app.url(&format!("/comments/blog_post/{post}")))
        .header("accept", "application/json")
        .form(&[("csrf_token", token.as_str()), ("body", "Inline *hello*")])
        .send()
        .await
        .unwrap();
    assert_eq!(posted.status(), StatusCode::OK);
    let json: serde_json::Value = serde_json::from_str(&posted.text().await.unwrap()).unwrap();
    assert!(json["html"].as_str().unwrap().contains("<em>hello</em>"));
    let voted = app
        .client
        .post(app.url(&format!("/votes/blog_post/{post}")))
        .header("accept", "application/json")
        .header("x-csrf-token", token.as_str())
        .form(&[("value", "1")])
        .send()
        .await
        .unwrap();
    let json: serde_json::Value = serde_json::from_str(&voted.text().await.unwrap()).unwrap();
    assert_eq!(json["score"], 1);
    assert_eq!(json["mine"], 1);
    // A refused comment answers its reason as JSON, for the script to show.
    let refused = app
        .client
        .post(app.url(&format!("/comments/blog_post/{post}")))
        .header("accept", "application/json")
        .form(&[("csrf_token", token.as_str()), ("body", "  ")])
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let json: serde_json::Value = serde_json::from_str(&refused.text().await.unwrap()).unwrap();
    assert_eq!(json["error"], "Write something first.");
}

async fn deleting_an_account_takes_back_votes_and_comments(b: Backend) {
    let (app, post) = site(b).await;
    app.post(POST, &format!("/votes/blog_post/{post}"), &[("value", "1")]).await;
    comment(&app, &app.client, post, "Bye for now", None).await;
    assert_eq!(app.count("SELECT score FROM blog_posts").await, 1);
    app.post("/accounts/settings", "/accounts/delete", &[("password", PW)]).await;
    assert_eq!(app.count("SELECT score FROM blog_posts").await, 0);
    assert_eq!(app.count("SELECT comment_count FROM blog_posts").await, 0);
    assert!(!app.get(POST).await.text.contains("Bye for now"));
}

/// One staff action, deactivation, hides everything a member wrote: their
/// blog post, their comment on someone else's post, their photo and their
/// forum reply, from every page (cached pages included), at once.
async fn deactivating_a_member_hides_all_their_content_at_once(b: Backend) {
    let (app, _) = site(b).await;
    app.forums(&[("general", "public")]).await;
    app.member("studio_admin", PW, "staff").await;
    let mallory = app.member("mallory", PW, "member").await;
    let ava = app.count("SELECT id FROM users WHERE username = 'ava'").await;
    let writer = app.client_for(mallory).await;
    let done = app.post_with(&writer, "/blog/new", "/blog/new", &[("title", "Mallory writes"), ("body", "Spam, mostly."), ("action", "publish")]).await;
    assert_eq!(done.status, StatusCode::SEE_OTHER);
    let post = app.count("SELECT id FROM blog_posts WHERE title = 'Linen'").await;
    assert_eq!(comment(&app, &writer, post, "Mallory was here.", None).await.status, StatusCode::SEE_OTHER);
    let text = coterie::photos::store::PhotoText { title: "Mallory snaps".into(), caption: String::new(), tags: vec![] };
    let new = [coterie::photos::store::NewPhoto { text, width: 640, height: 800, content_hash: format!("{:020}", 9) }];
    let photo = coterie::photos::store::create_photos(&app.state.db, mallory, None, &new).await.unwrap()[0];
    let db = &app.state.db;
    let general = coterie::forums::store::forum_by_slug(db, "general").await.unwrap().unwrap();
    let opening = coterie::forums::write::NewPost { author: ava, body: "Show your coats.", at: 1_750_000_000, subscribe: false };
    let (topic, _) = coterie::forums::write::create_topic(db, &general, "Coats", opening).await.unwrap();
    let reply = coterie::forums::write::NewPost { author: mallory, body: "Mallory replies.", at: 1_750_000_100, subscribe: false };
    coterie::forums::write::reply(db, topic, reply, false).await.unwrap().unwrap();

    let visitor = common::client();
    let pages: [(String, &str); 6] = [
        ("/blog/mallory/mallory-writes".into(), "Spam, mostly."),
        ("/blog".into(), "Mallory writes"),
        (POST.into(), "Mallory was here."),
        (format!("/photos/{photo}"), "Mallory snaps"),
        ("/photos".into(), "Mallory snaps"),
        (format!("/forums/t/{topic}"), "Mallory replies."),
    ];
    for (path, text) in &pages {
        // Twice, so the visitor's copy is a cached one.
        app.get_with(&visitor, path).await;
        assert!(app.get_with(&visitor, path).await.text.contains(text), "{path} shows {text:?} before");
    }
    let staff = app.client_for(app.count("SELECT id FROM users WHERE username = 'studio_admin'").await).await;
    let off = app.post_with(&staff, "/u/mallory", "/u/mallory/deactivate", &[("active", "0")]).await;
    assert_eq!(off.status, StatusCode::SEE_OTHER, "{}", off.text);
    for (path, text) in &pages {
        let page = app.get_with(&visitor, path).await;
        assert!(!page.text.contains(text), "{path} still shows {text:?} ({})", page.status);
    }
    assert_eq!(app.get_with(&visitor, "/blog/mallory/mallory-writes").await.status, StatusCode::NOT_FOUND);
    assert_eq!(app.get_with(&visitor, &format!("/photos/{photo}")).await.status, StatusCode::NOT_FOUND);
    assert!(app.get_with(&visitor, POST).await.text.contains("Linen"), "the post Mallory commented on stays");
}
