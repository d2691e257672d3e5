//! The anonymous page cache through the real router: what is cached and
//! what never is, exact invalidation after every kind of write (in one
//! process, and across two processes sharing memcached or Redis),
//! conditional requests, stampede protection, and a cache that is down.

mod common;

use common::{Backend, Page, TestApp};
use reqwest::{Client, StatusCode};

const PW: &str = "velvet-harbor-lantern-91";

backend_tests!(
    visitors_get_cached_pages_and_members_never_do,
    every_write_kind_shows_at_once_to_visitors,
    conditional_requests_and_compression,
    a_cold_page_under_a_crowd_is_rendered_once,
    a_scheduled_post_appears_when_due_on_cached_lists,
    hits_answered_before_routing_carry_every_header_and_are_counted,
    a_vote_on_a_photo_redoes_only_the_pages_that_show_it,
);

/// A forum, a topic by ava and a published blog post by ava.
struct Site {
    app: TestApp,
    ava: Client,
    ben: Client,
    topic: String,
}

async fn site(app: TestApp) -> Site {
    for (name, role) in [("ava", "member"), ("ben", "member"), ("nina", "moderator")] {
        app.member(name, PW, role).await;
    }
    app.forums(&[("general", "public")]).await;
    let (ava, ben) = (logged_in(&app, "ava").await, logged_in(&app, "ben").await);
    let made = app
        .post_with(&ava, "/forums/general/new", "/forums/general/new", &[("title", "Linen care"), ("body", "Cold wash, line dry.")])
        .await;
    assert_eq!(made.status, StatusCode::SEE_OTHER, "{}", made.text);
    let topic = made.location().to_string();
    let post = app.post_with(&ava, "/blog/new", "/blog/new", &[("title", "Capsule notes"), ("body", "Ten pieces."), ("action", "publish")]).await;
    assert_eq!(post.status, StatusCode::SEE_OTHER, "{}", post.text);
    Site { app, ava, ben, topic }
}

async fn logged_in(app: &TestApp, name: &str) -> Client {
    let client = common::client();
    assert_eq!(app.login_with(&client, name, PW).await.status, StatusCode::SEE_OTHER);
    client
}

/// A visitor's view of `path`, from a client with no cookies at all.
async fn visit(app: &TestApp, path: &str) -> Page {
    app.get_with(&reqwest::Client::new(), path).await
}

/// Visits twice, so the second answer comes from the cache, and checks it did.
async fn cached(app: &TestApp, path: &str) -> Page {
    visit(app, path).await;
    let page = visit(app, path).await;
    assert_eq!(page.status, StatusCode::OK, "{path}");
    assert_eq!(page.header("x-cache"), "HIT", "{path} was not served from the cache");
    page
}

fn pages(app: &TestApp) -> (u64, u64) {
    use std::sync::atomic::Ordering::Relaxed;
    let s = &app.state.pages.stats;
    (s.hits.load(Relaxed), s.stored.load(Relaxed))
}

/// The first score on the page.
fn score(p: &Page) -> Option<String> {
    p.text.split("class=\"score\"").nth(1).and_then(|r| r.split(['>', '<']).nth(1)).map(str::to_string)
}

async fn visitors_get_cached_pages_and_members_never_do(b: Backend) {
    let s = site(TestApp::spawn(b).await).await;
    let app = &s.app;
    for path in ["/", "/forums", "/forums/general", s.topic.as_str(), "/blog", "/blog/ava", "/blog/ava/capsule-notes", "/u/ava", "/members"] {
        let first = visit(app, path).await;
        assert_eq!(first.status, StatusCode::OK, "{path}");
        assert_eq!(first.header("x-cache"), "MISS", "{path}");
        let page = cached(app, path).await;
        assert_eq!(page.header("cache-control"), "no-cache", "{path}");
        assert_eq!(page.header("vary"), "Accept-Encoding, Cookie", "{path}");
        assert!(page.header("etag").starts_with('"'), "{path}");
        assert!(page.headers.get("set-cookie").is_none(), "{path} set a cookie from the cache");
        assert!(!page.text.contains("csrf_token"), "{path} carries a CSRF token");
        assert!(page.header("content-security-policy").contains("default-src"), "{path} lost its security headers");
        assert_eq!(first.text, page.text, "{path}");
    }
    // A member sees their own page, never the visitors' copy, and it is stored nowhere.
    let (hits, stored) = pages(app);
    for path in ["/", "/forums", s.topic.as_str(), "/blog/ava/capsule-notes", "/u/ava"] {
        let page = app.get_with(&s.ava, path).await;
        assert_eq!(page.header("cache-control"), "private, no-store", "{path}");
        assert!(page.headers.get("x-cache").is_none(), "{path}");
        assert!(page.text.contains("csrf_token"), "{path} is the member's own page");
    }
    assert_eq!(pages(app), (hits, stored), "a member's request touched the page cache");
    // Any session cookie, even one that is no longer good, passes the cache by.
    let stale = reqwest::Client::new()
        .get(app.url(&s.topic))
        .header("cookie", "coterie_session=not-a-real-session")
        .send()
        .await
        .unwrap();
    assert!(stale.headers().get("x-cache").is_none());
    // Pages with a form for visitors carry a token: never cached.
    for path in ["/accounts/login", "/accounts/signup", "/accounts/password/reset"] {
        visit(app, path).await;
        let page = visit(app, path).await;
        assert!(page.headers.get("x-cache").is_none() || page.header("x-cache") == "MISS", "{path} came from the cache");
        assert_ne!(page.header("cache-control"), "no-cache", "{path}");
    }
    // Errors are not stored either.
    visit(app, "/forums/no-such-forum").await;
    assert_eq!(visit(app, "/forums/no-such-forum").await.status, StatusCode::NOT_FOUND);
    assert_ne!(visit(app, "/forums/no-such-forum").await.header("x-cache"), "HIT");
}

/// Caches `path` for visitors, runs the write, and checks visitors then see `expected`.
macro_rules! after_write {
    ($app:expr, $path:expr, $expected:expr, $write:expr) => {{
        let (path, expected): (&str, &str) = ($path, &$expected);
        let before = cached($app, path).await;
        assert!(!before.text.contains(expected), "{path} already shows {expected:?}");
        let done: Page = $write.await;
        assert!(done.status.is_redirection() || done.status.is_success(), "the write failed: {} {}", done.status, done.text);
        let after = visit($app, path).await;
        assert!(after.text.contains(expected), "{path} is stale after the write: no {expected:?}");
    }};
}

async fn every_write_kind_shows_at_once_to_visitors(b: Backend) {
    let s = site(TestApp::spawn(b).await).await;
    every_write_kind_shows_at_once(&s, &s.app).await;
}

/// A multipart form sent by `client`, with a CSRF token from `form_page`.
async fn multipart_with(app: &TestApp, client: &Client, form_page: &str, action: &str, form: reqwest::multipart::Form) -> Page {
    let form = form.text("csrf_token", app.get_with(client, form_page).await.csrf());
    let response = client.post(app.url(action)).multipart(form).send().await.unwrap();
    Page { status: response.status(), headers: response.headers().clone(), text: response.text().await.unwrap() }
}

/// Every kind of write made through `s.app` shows at once to visitors of
/// `reader` (the same process, or another sharing its cache).
async fn every_write_kind_shows_at_once(s: &Site, reader: &TestApp) {
    let (app, ava, ben, topic) = (&s.app, &s.ava, &s.ben, s.topic.as_str());
    let settings = "/accounts/settings";
    let topic_id: i64 = topic.trim_start_matches("/forums/t/").split('-').next().unwrap().parse().unwrap();
    let post = "/blog/ava/capsule-notes";
    let post_id = app.count("SELECT id FROM blog_posts").await;

    // Forum reply: the topic, the forum's list and the index.
    for path in [topic, "/forums/general", "/forums"] {
        let next = app.count("SELECT MAX(id) FROM forum_posts").await + 1;
        let body = format!("Reply number {next} about wool.");
        // The lists link to the latest post.
        let expected = if path == topic { body.clone() } else { format!("/forums/p/{next}") };
        after_write!(reader, path, &expected, app.post_with(ben, settings, &format!("/forums/t/{topic_id}/reply"), &[("body", &body)]));
    }
    // Editing a post.
    let first_post = app.count("SELECT MIN(id) FROM forum_posts").await;
    after_write!(reader, topic, "Warm iron, edited.", app.post_with(ava, settings, &format!("/forums/p/{first_post}/edit"), &[("title", "Linen care"), ("body", "Warm iron, edited.")]));
    // Deleting a reply takes it off the topic.
    let reply_to = format!("/forums/t/{topic_id}/reply");
    after_write!(reader, topic, "Mind the moths.", app.post_with(ava, settings, &reply_to, &[("body", "Mind the moths.")]));
    let reply = app.count("SELECT MAX(id) FROM forum_posts").await;
    cached(reader, topic).await;
    let removed = app.post_with(ava, settings, &format!("/forums/p/{reply}/delete"), &[]).await;
    assert!(removed.status.is_redirection(), "{}", removed.text);
    assert!(!visit(reader, topic).await.text.contains("Mind the moths."), "a deleted reply is still shown");
    // A moderator locks the topic.
    let nina = logged_in(app, "nina").await;
    after_write!(reader, topic, "badge--locked", app.post_with(&nina, settings, &format!("/forums/t/{topic_id}/moderate"), &[("action", "lock")]));
    // A new signature shows under every post.
    after_write!(reader, topic, "Mending over buying.", app.post_with(ava, "/forums/settings", "/forums/settings", &[("signature", "Mending over buying.")]));
    // A profile change shows wherever the member appears.
    after_write!(reader, topic, "Ava Linen", app.post_with(ava, settings, "/accounts/settings/profile", &[("display_name", "Ava Linen"), ("bio", "Wool."), ("location", ""), ("website", "")]));
    after_write!(reader, "/members", "Ben Tweed", app.post_with(ben, settings, "/accounts/settings/profile", &[("display_name", "Ben Tweed"), ("bio", ""), ("location", ""), ("website", "")]));
    // A comment on a blog post, and a vote on it.
    after_write!(reader, post, "Lovely capsule.", app.post_with(ben, post, &format!("/comments/blog_post/{post_id}"), &[("body", "Lovely capsule."), ("parent", ""), ("next", post)]));
    let before = cached(reader, post).await;
    assert_eq!(score(&before).as_deref(), Some("0"));
    let vote = app.post_with(ben, post, &format!("/votes/blog_post/{post_id}"), &[("value", "1")]).await;
    assert!(vote.status.is_redirection(), "{}", vote.text);
    assert_eq!(score(&visit(reader, post).await).as_deref(), Some("1"), "the score is stale");
    // A vote on the comment changes the post's page too.
    let comment_id = app.count("SELECT MAX(id) FROM comments").await;
    cached(reader, post).await;
    let up = app.post_with(ava, post, &format!("/votes/comment/{comment_id}"), &[("value", "1")]).await;
    assert!(up.status.is_redirection(), "{}", up.text);
    assert_eq!(visit(reader, post).await.header("x-cache"), "MISS", "a comment's vote left the post's page cached");
    // A new blog post shows on the lists and the home page.
    for path in ["/blog", "/blog/ava"] {
        let title = format!("Wool guide for {}", path.len());
        after_write!(reader, path, &title, app.post_with(ava, "/blog/new", "/blog/new", &[("title", &title), ("body", "Warm."), ("action", "publish")]));
    }
    after_write!(reader, "/blog", "Capsule notes, revised", app.post_with(ava, &format!("{post}/edit"), &format!("{post}/edit"), &[("title", "Capsule notes, revised"), ("body", "Ten pieces."), ("action", "publish")]));
    // Deactivating a member hides them everywhere.
    let staff = app.member("sam", PW, "staff").await;
    let sam = app.client_for(staff).await;
    let before = cached(reader, "/members").await;
    assert!(before.text.contains("Ben Tweed"));
    let off = app.post_with(&sam, "/u/ben", "/u/ben/deactivate", &[("active", "0")]).await;
    assert!(off.status.is_redirection(), "{}", off.text);
    assert!(!visit(reader, "/members").await.text.contains("Ben Tweed"), "a deactivated member is still listed");
    // A new picture shows wherever the member appears.
    let picture = common::with_file(reqwest::multipart::Form::new(), common::png(120, 120), "me.png");
    after_write!(reader, topic, "/media/avatars/", multipart_with(app, ava, settings, "/accounts/settings/avatar", picture));
    // An upload shows on the photo grid; deleting it takes it away.
    let photo = common::with_file(reqwest::multipart::Form::new().text("title", "Rust cardigan"), common::png(400, 300), "look.png");
    after_write!(reader, "/photos", "Rust cardigan", multipart_with(app, ava, "/photos/upload", "/photos/upload", photo));
    let photo_id = app.count("SELECT MAX(id) FROM photos").await;
    cached(reader, "/photos").await;
    let gone = app.post_with(ava, &format!("/photos/{photo_id}"), &format!("/photos/{photo_id}/delete"), &[]).await;
    assert!(gone.status.is_redirection(), "{}", gone.text);
    assert!(!visit(reader, "/photos").await.text.contains("Rust cardigan"), "a deleted photo is still on the grid");
}

async fn conditional_requests_and_compression(b: Backend) {
    let s = site(TestApp::spawn(b).await).await;
    let app = &s.app;
    let page = cached(app, &s.topic).await;
    let etag = page.header("etag").to_string();
    let client = reqwest::Client::new();
    let again = client.get(app.url(&s.topic)).header("if-none-match", &etag).send().await.unwrap();
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(again.headers()["etag"].to_str().unwrap(), etag);
    assert!(again.bytes().await.unwrap().is_empty());
    let other = client.get(app.url(&s.topic)).header("if-none-match", "\"something-else\"").send().await.unwrap();
    assert_eq!(other.status(), StatusCode::OK);
    // Each encoding is its own entry, compressed once.
    for (accept, encoding) in [("gzip, deflate, br", "br"), ("gzip", "gzip")] {
        let get = || client.get(app.url(&s.topic)).header("accept-encoding", accept).send();
        get().await.unwrap();
        let response = get().await.unwrap();
        assert_eq!(response.headers()["content-encoding"], encoding);
        assert_eq!(response.headers()["x-cache"], "HIT");
        assert_ne!(response.headers()["etag"].to_str().unwrap(), etag, "an encoding shares the plain page's validator");
        let body = response.bytes().await.unwrap();
        assert!(body.len() < page.text.len() / 2, "{encoding} did not compress: {} of {}", body.len(), page.text.len());
    }
    // A member's page, made for one request, is compressed too (at a cheaper level).
    let plain = s.ava.get(app.url(&s.topic)).header("accept-encoding", "identity").send().await.unwrap().bytes().await.unwrap().len();
    for (accept, encoding) in [("gzip, deflate, br", "br"), ("gzip", "gzip")] {
        let mine = s.ava.get(app.url(&s.topic)).header("accept-encoding", accept).send().await.unwrap();
        assert_eq!(mine.headers()["content-encoding"], encoding);
        assert_eq!(mine.headers()["cache-control"], "private, no-store");
        let packed = mine.bytes().await.unwrap().len();
        assert!(packed < plain * 2 / 3, "a member's page was not compressed: {encoding} {packed} of {plain}");
    }
    // After a write the old validator no longer matches.
    app.post_with(&s.ben, "/forums/settings", &format!("{}/reply", s.topic.split('-').next().unwrap()), &[("body", "Changes the page.")]).await;
    let stale = client.get(app.url(&s.topic)).header("if-none-match", &etag).send().await.unwrap();
    assert_eq!(stale.status(), StatusCode::OK);
}

async fn a_cold_page_under_a_crowd_is_rendered_once(b: Backend) {
    use std::sync::atomic::Ordering::Relaxed;
    let s = site(TestApp::spawn(b).await).await;
    let app = &s.app;
    let url = app.url(&s.topic);
    let before_stored = app.state.pages.stats.stored.load(Relaxed);
    let (hits, coalesced) = (app.state.pages.stats.hits.load(Relaxed), app.state.pages.stats.coalesced.load(Relaxed));
    let crowd: Vec<_> = (0..50)
        .map(|_| {
            let url = url.clone();
            tokio::spawn(async move { reqwest::get(url).await.unwrap().text().await.unwrap() })
        })
        .collect();
    let mut bodies = Vec::new();
    for visitor in crowd {
        bodies.push(visitor.await.unwrap());
    }
    assert!(bodies.windows(2).all(|w| w[0] == w[1]), "the crowd saw different pages");
    let stats = &app.state.pages.stats;
    assert_eq!(stats.stored.load(Relaxed) - before_stored, 1, "the page was stored more than once");
    let served = (stats.hits.load(Relaxed) - hits) + (stats.coalesced.load(Relaxed) - coalesced);
    assert_eq!(served, 49, "every visitor but the first should have had the first one's page");
    // Every view counted, those from the cache too.
    app.state.views.flush(&app.state.db).await.unwrap();
    let topic_id: i64 = s.topic.trim_start_matches("/forums/t/").split('-').next().unwrap().parse().unwrap();
    let views = app.state.db.query("SELECT view_count FROM forum_topics WHERE id = ?").bind(topic_id).fetch_one(app.state.db.w()).await.unwrap();
    assert_eq!(sqlx::Row::get::<i64, _>(&views, 0), 50);
}

/// Hits on remembered pages, and static files, are answered before the
/// router (`pagecache::FastHits`): they must look and count exactly as if
/// the whole stack had answered them.
async fn hits_answered_before_routing_carry_every_header_and_are_counted(b: Backend) {
    let s = site(TestApp::spawn(b).await).await;
    let app = &s.app;
    let hits_before = pages(app).0;
    let first = cached(app, &s.topic).await;
    let hit = visit(app, &s.topic).await;
    assert_eq!(hit.header("x-cache"), "HIT");
    assert_eq!(hit.text, first.text);
    assert_eq!(pages(app).0 - hits_before, 2, "hits are counted once each");
    let css = app.get("/").await.text.split("href=\"/static/css/").nth(1).unwrap().split('"').next().unwrap().to_string();
    let file = visit(app, &format!("/static/css/{css}")).await;
    assert_eq!(file.status, StatusCode::OK);
    assert_eq!(file.header("cache-control"), "public, max-age=31536000, immutable");
    for answer in [&hit, &file] {
        for name in ["content-security-policy", "x-content-type-options", "x-frame-options", "referrer-policy", "permissions-policy"] {
            assert!(!answer.header(name).is_empty(), "no {name} on a fast answer");
        }
        assert_eq!(answer.header("x-request-id").len(), 16, "no request id on a fast answer");
    }
    let metrics = app.get("/metrics").await.text;
    let count = |route: &str| -> u64 {
        let prefix = format!("coterie_requests_total{{route=\"{route}\",status=\"200\"}} ");
        metrics.lines().find_map(|l| l.strip_prefix(prefix.as_str())).map_or(0, |n| n.parse().unwrap())
    };
    assert!(count("/forums/t/{topic}") >= 3, "topic views not counted:\n{metrics}");
    assert!(count("/static/{*path}") >= 1, "static files not counted:\n{metrics}");
}

/// A vote on one photo changes its page, its gallery and the grids, and
/// leaves every other photo's page in the cache.
async fn a_vote_on_a_photo_redoes_only_the_pages_that_show_it(b: Backend) {
    let s = site(TestApp::spawn(b).await).await;
    let (app, ava, ben) = (&s.app, &s.ava, &s.ben);
    let made = app.post_with(ava, "/galleries/new", "/galleries/new", &[("title", "Knits"), ("description", "")]).await;
    assert_eq!(made.status, StatusCode::SEE_OTHER, "{}", made.text);
    let gallery_id = made.location().trim_start_matches("/photos/upload?gallery=").to_string();
    for title in ["Moss cardigan", "Fern cardigan"] {
        let form = reqwest::multipart::Form::new().text("title", title).text("gallery", gallery_id.clone());
        let done = multipart_with(app, ava, "/photos/upload", "/photos/upload", common::with_file(form, common::png(320, 240), "k.png")).await;
        assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.text);
    }
    let (voted, other) = (app.count("SELECT MIN(id) FROM photos").await, app.count("SELECT MAX(id) FROM photos").await);
    let (voted_page, other_page, gallery) = (format!("/photos/{voted}"), format!("/photos/{other}"), format!("/galleries/{gallery_id}"));
    for path in [voted_page.as_str(), other_page.as_str(), gallery.as_str(), "/photos"] {
        let page = cached(app, path).await;
        assert!(score(&page).is_some(), "{path} shows no score");
    }
    let vote = app.post_with(ben, &voted_page, &format!("/votes/photo/{voted}"), &[("value", "1")]).await;
    assert!(vote.status.is_redirection(), "{}", vote.text);
    assert_eq!(score(&visit(app, &voted_page).await).as_deref(), Some("1"), "the photo's own page is stale");
    let tiles = visit(app, &gallery).await;
    assert_ne!(tiles.header("x-cache"), "HIT", "the gallery kept an old score");
    assert!(tiles.text.contains("class=\"score\" aria-label=\"Score\">1<"), "the gallery shows the old score");
    assert_ne!(visit(app, "/photos").await.header("x-cache"), "HIT", "the grid kept an old score");
    assert_eq!(visit(app, &other_page).await.header("x-cache"), "HIT", "a vote on another photo redid this photo's page");
}

async fn a_scheduled_post_appears_when_due_on_cached_lists(b: Backend) {
    let s = site(TestApp::spawn(b).await).await;
    let app = &s.app;
    // Two seconds ahead, to the second, as the form takes it.
    let due = time::OffsetDateTime::now_utc() + time::Duration::seconds(3);
    let at = due.format(time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]")).unwrap();
    let made = app
        .post_with(&s.ava, "/blog/new", "/blog/new", &[("title", "Timed drop"), ("body", "Soon."), ("action", "schedule"), ("publish_at", &at)])
        .await;
    assert_eq!(made.status, StatusCode::SEE_OTHER, "{}", made.text);
    let early = cached(app, "/blog").await;
    assert!(!early.text.contains("Timed drop"));
    tokio::time::sleep(std::time::Duration::from_millis(4200)).await;
    assert!(visit(app, "/blog").await.text.contains("Timed drop"), "the cached list outlived the scheduled time");
}

// ------------------------------------------ two processes, one shared cache

fn shared_cache(var: &str) -> Option<String> {
    match std::env::var(var).ok().filter(|v| !v.is_empty()) {
        Some(url) => Some(format!("{url}?namespace=pc{}-{}:", std::process::id(), rand_suffix())),
        None => {
            eprintln!("SKIPPED: set {var} to run this test");
            None
        }
    }
}

fn rand_suffix() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64 % 1_000_000_007
}

/// Two app processes sharing one database and the cache server named by
/// `var`, both known to the site by the first one's address (as behind a
/// proxy), or None when the server is not configured.
async fn two_processes(var: &str) -> Option<(TestApp, TestApp)> {
    let cache = shared_cache(var)?;
    let first_cache = cache.clone();
    let one = TestApp::with(Backend::Sqlite).config(move |c| c.cache_url = first_cache).spawn().await;
    let database = format!("sqlite://{}/coterie.db", one.data.path().display());
    let public_url = one.state.config.public_url();
    let two = TestApp::with(Backend::Sqlite)
        .config(move |c| {
            c.cache_url = cache;
            c.database_url = database;
            c.public_url = public_url;
        })
        .spawn()
        .await;
    Some((one, two))
}

/// Writes through one process are seen at once by visitors of the other.
async fn two_processes_stay_exact(var: &str) {
    let Some((one, two)) = two_processes(var).await else { return };
    let s = site(one).await;
    let topic_id = s.topic.trim_start_matches("/forums/t/").split('-').next().unwrap().to_string();
    // Both processes serve the page from the shared cache.
    cached(&s.app, &s.topic).await;
    assert_eq!(visit(&two, &s.topic).await.header("x-cache"), "HIT", "the second process does not share the cache");
    // A reply through the second process: the first one's visitors see it.
    let ben = two.client_for(coterie::accounts::store::by_username(&two.state.db, "ben").await.unwrap().unwrap().id).await;
    let reply = two.post_with(&ben, "/forums/settings", &format!("/forums/t/{topic_id}/reply"), &[("body", "Written on the other node.")]).await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.text);
    assert!(visit(&s.app, &s.topic).await.text.contains("Written on the other node."), "the first process served a stale page");
    // A vote through the first: the second's visitors see the new score.
    let post = s.app.count("SELECT id FROM blog_posts").await;
    let path = "/blog/ava/capsule-notes";
    cached(&two, path).await;
    let vote = s.app.post_with(&s.ben, path, &format!("/votes/blog_post/{post}"), &[("value", "1")]).await;
    assert!(vote.status.is_redirection());
    let page = visit(&two, path).await;
    assert_ne!(page.header("x-cache"), "HIT");
    assert_eq!(score(&page).as_deref(), Some("1"), "the second process shows the old score");
}

/// Every kind of write through one process shows at once to visitors of
/// the other.
async fn every_write_kind_shows_across_processes(var: &str) {
    let Some((one, two)) = two_processes(var).await else { return };
    let s = site(one).await;
    every_write_kind_shows_at_once(&s, &two).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_shows_every_write_kind_across_processes() {
    every_write_kind_shows_across_processes("COTERIE_TEST_REDIS_URL").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memcached_shows_every_write_kind_across_processes() {
    every_write_kind_shows_across_processes("COTERIE_TEST_MEMCACHED_URL").await;
}

/// A crowd split over two processes asks for a page neither has: one
/// process makes it, once, and every other request gets that copy.
async fn a_cold_page_is_made_once_across_processes(var: &str) {
    use std::sync::atomic::Ordering::Relaxed;
    let Some((one, two)) = two_processes(var).await else { return };
    let s = site(one).await;
    let stored = |app: &TestApp| app.state.pages.stats.stored.load(Relaxed);
    let before = stored(&s.app) + stored(&two);
    let crowd: Vec<_> = (0..40)
        .map(|i| {
            let url = if i % 2 == 0 { s.app.url(&s.topic) } else { two.url(&s.topic) };
            tokio::spawn(async move {
                let response = reqwest::get(url).await.unwrap();
                assert_eq!(response.status(), StatusCode::OK);
                response.text().await.unwrap()
            })
        })
        .collect();
    let mut bodies = Vec::new();
    for visitor in crowd {
        bodies.push(visitor.await.unwrap());
    }
    assert!(bodies.windows(2).all(|w| w[0] == w[1]), "the crowd saw different pages");
    assert!(bodies[0].contains("Cold wash, line dry."));
    assert_eq!(stored(&s.app) + stored(&two) - before, 1, "the page was made by more than one process");
    assert_eq!(visit(&two, &s.topic).await.header("x-cache"), "HIT");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_makes_a_cold_page_once_across_processes() {
    a_cold_page_is_made_once_across_processes("COTERIE_TEST_REDIS_URL").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memcached_makes_a_cold_page_once_across_processes() {
    a_cold_page_is_made_once_across_processes("COTERIE_TEST_MEMCACHED_URL").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_keeps_two_processes_exact() {
    two_processes_stay_exact("COTERIE_TEST_REDIS_URL").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memcached_keeps_two_processes_exact() {
    two_processes_stay_exact("COTERIE_TEST_MEMCACHED_URL").await;
}

/// With the cache server gone, pages still come, from the database.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_are_served_while_the_cache_server_is_down() {
    let app = TestApp::with(Backend::Sqlite)
        .config(|c| c.cache_url = "memcache://127.0.0.1:1?timeout_ms=200&connect_timeout_ms=200".into())
        .spawn()
        .await;
    let s = site(app).await;
    for _ in 0..3 {
        let page = visit(&s.app, &s.topic).await;
        assert_eq!(page.status, StatusCode::OK);
        assert_ne!(page.header("x-cache"), "HIT");
        assert!(page.text.contains("Cold wash, line dry."));
    }
    let reply = s.app.post_with(&s.ben, "/forums/settings", &format!("{}/reply", s.topic.split('-').next().unwrap()), &[("body", "Still works.")]).await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
    assert!(visit(&s.app, &s.topic).await.text.contains("Still works."));
}
