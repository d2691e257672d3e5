//! Blog feeds (read with Python's feedparser, as feed readers do) and the
//! sitemap (read with Python's XML parser), through the real router.

mod common;

use common::{Backend, TestApp};
use reqwest::StatusCode;

const PW: &str = "velvet-harbor-lantern-91";

backend_tests!(feeds_carry_visible_posts_only, sitemap_lists_what_anyone_may_read);

/// Parses a feed with feedparser and prints one line per fact the test checks.
const FEEDPARSER: &str = r#"
import sys, json, feedparser
d = feedparser.parse(sys.stdin.read())
print(json.dumps({
    "bozo": int(d.bozo),
    "error": str(d.get("bozo_exception", "")),
    "version": d.version,
    "title": d.feed.get("title", ""),
    "link": d.feed.get("link", ""),
    "entries": [{
        "title": e.title,
        "link": e.link,
        "published": list(e.published_parsed)[:6] if e.get("published_parsed") else None,
        "content": (e.content[0].value if e.get("content") else e.get("summary", "")),
        "tags": [t.term for t in e.get("tags", [])],
        "author": e.get("author", ""),
    } for e in d.entries],
}))
"#;

async fn ava_writes(app: &TestApp) {
    let hostile = "Salt & pepper: <b>bold</b> and a ]]> in the middle.\n\n<script>alert(1)</script>";
    for (title, body, tags, action, at) in [
        ("Salt & <pepper>", hostile, "spice, linen", "publish", ""),
        ("Second post", "More words.", "linen", "publish", ""),
        ("Secret draft", "Not yet.", "linen", "draft", ""),
        ("Next year", "Later.", "linen", "schedule", "2099-01-01T09:00"),
    ] {
        let page = app.post("/blog/new", "/blog/new", &[("title", title), ("body", body), ("tags", tags), ("action", action), ("publish_at", at)]).await;
        assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.text);
    }
    // Known times, one after the other.
    let db = &app.state.db;
    db.query("UPDATE blog_posts SET published_at = 1750000000 WHERE slug = 'salt-pepper'").execute(db.w()).await.unwrap();
    db.query("UPDATE blog_posts SET published_at = 1750086400 WHERE slug = 'second-post'").execute(db.w()).await.unwrap();
    db.query("UPDATE blog_post_tags SET published_at = 1750000000 WHERE post_id = (SELECT id FROM blog_posts WHERE slug = 'salt-pepper')").execute(db.w()).await.unwrap();
}

async fn feeds_carry_visible_posts_only(b: Backend) {
    let app = TestApp::spawn(b).await;
    app.member("ava", PW, "member").await;
    app.login("ava", PW).await;
    ava_writes(&app).await;
    let visitor = common::client();
    for (path, kind, titles) in [
        ("/blog/feed.rss", "rss20", vec!["Second post", "Salt & <pepper>"]),
        ("/blog/feed.atom", "atom10", vec!["Second post", "Salt & <pepper>"]),
        ("/blog/ava/feed.rss", "rss20", vec!["Second post", "Salt & <pepper>"]),
        ("/blog/ava/feed.atom", "atom10", vec!["Second post", "Salt & <pepper>"]),
        ("/blog/tag/spice/feed.rss", "rss20", vec!["Salt & <pepper>"]),
        ("/blog/tag/spice/feed.atom", "atom10", vec!["Salt & <pepper>"]),
    ] {
        let feed = app.get_with(&visitor, path).await;
        assert_eq!(feed.status, StatusCode::OK, "{path}");
        let want = if kind == "rss20" { "application/rss+xml" } else { "application/atom+xml" };
        assert!(feed.header("content-type").starts_with(want), "{path}: {}", feed.header("content-type"));
        assert!(!feed.text.contains("Secret draft") && !feed.text.contains("Next year"), "{path} leaks an unpublished post");
        assert!(!feed.text.contains("<script>") && !feed.text.contains("<pepper>"), "{path} escapes what members write");
        let parsed: serde_json::Value = serde_json::from_str(&common::python(FEEDPARSER, &feed.text)).unwrap();
        assert_eq!(parsed["bozo"], 0, "{path} is well-formed: {}", parsed["error"]);
        assert_eq!(parsed["version"], kind, "{path}");
        let entries = parsed["entries"].as_array().unwrap();
        let got: Vec<&str> = entries.iter().map(|e| e["title"].as_str().unwrap()).collect();
        assert_eq!(got, titles, "{path}");
        let salt = entries.iter().find(|e| e["title"] == "Salt & <pepper>").unwrap();
        assert_eq!(salt["link"], app.url("/blog/ava/salt-pepper"), "{path}: absolute links");
        assert_eq!(salt["published"], serde_json::json!([2025, 6, 15, 15, 6, 40]), "{path}: the publication time");
        assert!(salt["content"].as_str().unwrap().contains("]]&gt;") || salt["content"].as_str().unwrap().contains("]]>"), "{path}");
        assert!(!salt["content"].as_str().unwrap().contains("<script"), "{path}: the body is the sanitized HTML");
        assert_eq!(salt["tags"], serde_json::json!(["linen", "spice"]), "{path}");
        assert!(parsed["link"].as_str().unwrap().starts_with(&app.base), "{path}: the feed links its page");
    }
    // Feeds are kept in the page cache; when a scheduled post's time comes,
    // it appears in them with nothing else to run.
    let due = time::OffsetDateTime::now_utc() + time::Duration::seconds(3);
    let at = due.format(time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]")).unwrap();
    let made = app.post("/blog/new", "/blog/new", &[("title", "Timed drop"), ("body", "Soon."), ("action", "schedule"), ("publish_at", &at)]).await;
    assert_eq!(made.status, StatusCode::SEE_OTHER, "{}", made.text);
    for path in ["/blog/feed.rss", "/blog/ava/feed.atom"] {
        assert!(!app.get_with(&visitor, path).await.text.contains("Timed drop"));
        let again = app.get_with(&visitor, path).await;
        assert_eq!(again.header("x-cache"), "HIT", "{path} is kept");
    }
    tokio::time::sleep(std::time::Duration::from_millis(4200)).await;
    for path in ["/blog/feed.rss", "/blog/ava/feed.atom"] {
        assert!(app.get_with(&visitor, path).await.text.contains("Timed drop"), "{path} outlived the scheduled time");
    }
    // A new post shows at once.
    assert_eq!(app.post("/blog/new", "/blog/new", &[("title", "Fresh"), ("body", "Now."), ("action", "publish")]).await.status, StatusCode::SEE_OTHER);
    assert!(app.get_with(&visitor, "/blog/feed.rss").await.text.contains("<title>Fresh</title>"));
    // Pages name their feeds.
    for (page, feed) in [("/blog", "/blog/feed.rss"), ("/blog/ava", "/blog/ava/feed.atom"), ("/blog/tag/linen", "/blog/tag/linen/feed.rss"), ("/blog/ava/second-post", "/blog/ava/feed.rss")] {
        let text = app.get_with(&visitor, page).await.text;
        assert!(text.contains(&format!("rel=\"alternate\" type=\"application/")) && text.contains(&format!("href=\"{feed}\"")), "{page} names {feed}");
    }
    assert_eq!(app.get("/blog/nobody/feed.rss").await.status, StatusCode::NOT_FOUND);
    assert_eq!(app.get("/blog/tag/%3Cx%3E/feed.atom").await.status, StatusCode::NOT_FOUND);
    // feed.rss is the feed, not a post with that slug.
    assert!(app.get("/blog/ava/feed.rss").await.header("content-type").starts_with("application/rss+xml"));
}

/// Parses a sitemap and prints each URL with its lastmod.
const SITEMAP: &str = r#"
import sys, json, xml.etree.ElementTree as ET
root = ET.fromstring(sys.stdin.read())
ns = {"s": "http://www.sitemaps.org/schemas/sitemap/0.9"}
assert root.tag == "{http://www.sitemaps.org/schemas/sitemap/0.9}urlset", root.tag
print(json.dumps([[u.find("s:loc", ns).text, (u.find("s:lastmod", ns).text if u.find("s:lastmod", ns) is not None else None)] for u in root.findall("s:url", ns)]))
"#;

/// Parses a sitemap index and prints the sitemaps it names.
const SITEMAP_INDEX: &str = r#"
import sys, json, xml.etree.ElementTree as ET
root = ET.fromstring(sys.stdin.read())
ns = {"s": "http://www.sitemaps.org/schemas/sitemap/0.9"}
assert root.tag == "{http://www.sitemaps.org/schemas/sitemap/0.9}sitemapindex", root.tag
print(json.dumps([m.find("s:loc", ns).text for m in root.findall("s:sitemap", ns)]))
"#;

/// Every URL of the site's sitemaps, read through the index as a crawler does.
async fn sitemap_urls(app: &TestApp) -> Vec<(String, Option<String>)> {
    let index = app.get_with(&common::client(), "/sitemap.xml").await;
    assert_eq!(index.status, StatusCode::OK);
    assert!(index.header("content-type").starts_with("application/xml"));
    let files: Vec<String> = serde_json::from_str(&common::python(SITEMAP_INDEX, &index.text)).unwrap();
    let mut urls = Vec::new();
    for file in files {
        let path = file.strip_prefix(&app.base).unwrap_or_else(|| panic!("{file} is on this site"));
        let part = app.get_with(&common::client(), path).await;
        assert_eq!(part.status, StatusCode::OK, "{path}");
        let found: Vec<(String, Option<String>)> = serde_json::from_str(&common::python(SITEMAP, &part.text)).unwrap();
        urls.extend(found);
    }
    urls
}

async fn sitemap_lists_what_anyone_may_read(b: Backend) {
    let app = TestApp::spawn(b).await;
    app.member("ava", PW, "member").await;
    let gone = app.member("gone", PW, "member").await;
    app.login("ava", PW).await;
    ava_writes(&app).await;
    let db = &app.state.db;
    db.query("UPDATE users SET is_active = 0 WHERE id = ?").bind(gone).execute(db.w()).await.unwrap();
    let category = db
        .insert("INSERT INTO forum_categories (name, slug, description, position, created_at) VALUES ('Talk', 'talk', '', 1, 0)")
        .run(db.w())
        .await
        .unwrap();
    for (slug, visibility, topic) in [("general", "public", "Open topic"), ("team", "staff", "Staff topic")] {
        let forum = db
            .insert("INSERT INTO forums (category_id, name, slug, description, position, visibility, created_at) VALUES (?, ?, ?, '', 0, ?, 0)")
            .bind(category)
            .bind(slug)
            .bind(slug)
            .bind(visibility)
            .run(db.w())
            .await
            .unwrap();
        db.insert("INSERT INTO forum_topics (forum_id, title, slug, created_at, last_post_at) VALUES (?, ?, ?, 1750000000, 1750000000)")
            .bind(forum)
            .bind(topic)
            .bind(coterie::blog::store::slugify(topic))
            .run(db.w())
            .await
            .unwrap();
    }
    let form = common::with_file(reqwest::multipart::Form::new().text("title", "Coat"), common::png(64, 48), "coat.png");
    assert_eq!(app.post_multipart("/photos/upload", "/photos/upload", form, true).await.status, StatusCode::SEE_OTHER);
    let photo = app.count("SELECT MAX(id) FROM photos").await;
    let urls = sitemap_urls(&app).await;
    let locs: Vec<&str> = urls.iter().map(|(u, _)| u.as_str()).collect();
    let photo_page = format!("/photos/{photo}");
    for want in ["/", "/blog", "/blog/ava/salt-pepper", "/blog/ava/second-post", "/u/ava", "/forums/t/", photo_page.as_str()] {
        assert!(locs.iter().any(|l| l.starts_with(&app.url(want)) && (want.ends_with('/') || *l == app.url(want))), "{want} in {locs:?}");
    }
    for unwanted in ["secret-draft", "next-year", "/u/gone", "staff-topic"] {
        assert!(!locs.iter().any(|l| l.contains(unwanted)), "{unwanted} must not be listed");
    }
    let topic = urls.iter().find(|(u, _)| u.contains("open-topic")).expect("the public topic is listed");
    assert_eq!(topic.1.as_deref(), Some("2025-06-15T15:06:40Z"));
    let post = urls.iter().find(|(u, _)| u.ends_with("/blog/ava/salt-pepper")).unwrap();
    assert!(post.1.is_some(), "posts carry lastmod");
    // Kept in the page cache, and fresh after a write.
    let part = format!("/sitemaps/photos-{}.xml", (photo - 1) / 50_000);
    app.get_with(&common::client(), &part).await;
    assert_eq!(app.get_with(&common::client(), &part).await.header("x-cache"), "HIT");
    let form = common::with_file(reqwest::multipart::Form::new().text("title", "Scarf"), common::png(48, 64), "scarf.png");
    assert_eq!(app.post_multipart("/photos/upload", "/photos/upload", form, true).await.status, StatusCode::SEE_OTHER);
    let newer = app.count("SELECT MAX(id) FROM photos").await;
    assert!(app.get_with(&common::client(), &part).await.text.contains(&format!("/photos/{newer}<")), "the new photo is listed");
    assert_eq!(app.get("/sitemaps/photos-x.xml").await.status, StatusCode::NOT_FOUND);
    assert_eq!(app.get("/sitemaps/nothing-0.xml").await.status, StatusCode::NOT_FOUND);
    let robots = app.get("/robots.txt").await;
    assert!(robots.header("content-type").starts_with("text/plain"));
    assert!(robots.text.contains(&format!("Sitemap: {}/sitemap.xml", app.base)));
}
