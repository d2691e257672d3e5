//! Blog tags and month archives through the real router.

mod common;

use common::{Backend, TestApp};
use reqwest::StatusCode;

const PW: &str = "velvet-harbor-lantern-91";

backend_tests!(
    tags_are_saved_shown_and_listed,
    bad_tag_lists_change_nothing,
    tag_pages_paginate_and_normalise,
    month_lists_and_archives,
    bad_months_are_not_found,
    month_counts_follow_edits_and_deletes,
    concurrent_posts_are_all_counted,
    the_migration_counts_months_as_writes_do,
    new_forms_need_the_csrf_token,
);

async fn with_ava(b: Backend) -> TestApp {
    let app = TestApp::spawn(b).await;
    app.member("ava", PW, "member").await;
    app.member("leo", PW, "member").await;
    app.login("ava", PW).await;
    app
}

async fn write(app: &TestApp, fields: &[(&str, &str)]) -> common::Page {
    app.post("/blog/new", "/blog/new", fields).await
}

async fn tags_are_saved_shown_and_listed(b: Backend) {
    let app = with_ava(b).await;
    let done = write(&app, &[("title", "Linen in summer"), ("body", "Crisp."), ("tags", "Linen, Summer look, #linen"), ("action", "publish")]).await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.text);
    assert_eq!(app.count("SELECT COUNT(*) FROM blog_post_tags").await, 2, "duplicates fold into one tag");
    let visitor = common::client();
    let post = app.get_with(&visitor, "/blog/ava/linen-in-summer").await;
    assert!(post.text.contains("href=\"/blog/tag/linen\"") && post.text.contains("href=\"/blog/tag/summer-look\""));
    assert!(post.text.contains("article:tag"));
    assert!(app.get_with(&visitor, "/blog").await.text.contains("href=\"/blog/tag/summer-look\""), "cards show tags");
    let tag = app.get_with(&visitor, "/blog/tag/linen").await;
    assert_eq!(tag.status, StatusCode::OK);
    assert!(tag.text.contains("/blog/ava/linen-in-summer"));
    // A draft with the tag is not listed; publishing it lists it.
    write(&app, &[("title", "Linen, later"), ("body", "Soon."), ("tags", "linen"), ("action", "draft")]).await;
    write(&app, &[("title", "Linen next year"), ("body", "Later."), ("tags", "linen"), ("action", "schedule"), ("publish_at", "2099-01-01T09:00")]).await;
    let tag = app.get_with(&visitor, "/blog/tag/linen").await.text;
    assert!(!tag.contains("linen-later") && !tag.contains("linen-next-year"));
    // The edit form shows the tags; editing replaces them.
    let edit = app.get("/blog/ava/linen-in-summer/edit").await;
    assert!(edit.text.contains("value=\"linen, summer-look\""), "{}", edit.text);
    let url = "/blog/ava/linen-in-summer/edit";
    let saved = app.post(url, url, &[("title", "Linen in summer"), ("body", "Crisp."), ("tags", "cotton"), ("action", "publish")]).await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER);
    assert!(!app.get_with(&visitor, "/blog/tag/linen").await.text.contains("linen-in-summer"));
    assert!(app.get_with(&visitor, "/blog/tag/cotton").await.text.contains("linen-in-summer"));
    // Deleting the post removes its tags.
    app.post(url, "/blog/ava/linen-in-summer/delete", &[]).await;
    assert_eq!(app.count("SELECT COUNT(*) FROM blog_post_tags WHERE tag = 'cotton'").await, 0);
}

async fn bad_tag_lists_change_nothing(b: Backend) {
    let app = with_ava(b).await;
    let eleven = (0..11).map(|i| format!("t{i}")).collect::<Vec<_>>().join(",");
    let long = "x".repeat(33);
    for (tags, message) in [("<script>", "only have letters"), ("a/b, c", "only have letters"), (long.as_str(), "at most 32"), (eleven.as_str(), "at most 10 tags")] {
        let page = write(&app, &[("title", "Tagged"), ("body", "x"), ("tags", tags), ("action", "publish")]).await;
        assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY, "{tags}");
        assert!(page.text.contains(message), "{message} for {tags}");
        assert!(page.text.contains("aria-invalid=\"true\""), "the tags field is marked");
        assert!(!page.text.contains("<script>"), "the bad value is escaped when shown again");
    }
    assert_eq!(app.count("SELECT COUNT(*) FROM blog_posts").await, 0);
    assert_eq!(app.count("SELECT COUNT(*) FROM blog_post_tags").await, 0);
    // An edit with a bad list keeps the old tags and text.
    write(&app, &[("title", "Kept"), ("body", "Original."), ("tags", "wool"), ("action", "publish")]).await;
    let url = "/blog/ava/kept/edit";
    let bad = app.post(url, url, &[("title", "Changed"), ("body", "New."), ("tags", "no/slashes"), ("action", "publish")]).await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(app.count("SELECT COUNT(*) FROM blog_posts WHERE title = 'Kept'").await, 1);
    assert_eq!(app.count("SELECT COUNT(*) FROM blog_post_tags WHERE tag = 'wool'").await, 1);
}

async fn tag_pages_paginate_and_normalise(b: Backend) {
    let app = with_ava(b).await;
    for i in 0..13 {
        write(&app, &[("title", &format!("Knit {i:02}")), ("body", "x"), ("tags", "knitwear"), ("action", "publish")]).await;
    }
    // Distinct times so the order is certain: Knit 12 is the newest.
    app.state.db.query("UPDATE blog_post_tags SET published_at = post_id").execute(app.state.db.w()).await.unwrap();
    let first = app.get("/blog/tag/knitwear").await;
    assert!(first.text.contains("/blog/ava/knit-12") && !first.text.contains("/blog/ava/knit-00\""));
    assert!(first.text.contains("href=\"/blog/tag/knitwear?page=2\""));
    let second = app.get("/blog/tag/knitwear?page=2").await;
    assert_eq!(second.status, StatusCode::OK);
    assert!(second.text.contains("/blog/ava/knit-00") && !second.text.contains("/blog/ava/knit-12"));
    assert_eq!(app.get("/blog/tag/knitwear?page=3").await.status, StatusCode::NOT_FOUND);
    assert_eq!(app.get("/blog/tag/knitwear?page=x").await.status, StatusCode::NOT_FOUND);
    let upper = app.get("/blog/tag/Knitwear").await;
    assert_eq!(upper.status, StatusCode::PERMANENT_REDIRECT);
    assert_eq!(upper.location(), "/blog/tag/knitwear");
    assert_eq!(app.get("/blog/tag/a%2Cb").await.status, StatusCode::NOT_FOUND);
    assert_eq!(app.get("/blog/tag/%3Cscript%3E").await.status, StatusCode::NOT_FOUND);
    assert_eq!(app.get("/blog/tag/nothing-here").await.status, StatusCode::OK, "a tag with no posts is an empty page");
}

/// The UTC month of a Unix time, as `yyyy/mm`.
fn month_path(t: i64) -> String {
    let d = time::OffsetDateTime::from_unix_timestamp(t).unwrap();
    format!("{:04}/{:02}", d.year(), u8::from(d.month()))
}

async fn set_time(app: &TestApp, slug: &str, at: i64) {
    // Moving a post in time by hand moves its month count too, as an edit would.
    let db = &app.state.db;
    let row: (i64, i64) = {
        use sqlx::Row as _;
        let r = db.query("SELECT user_id, published_at FROM blog_posts WHERE slug = ?").bind(slug.to_string()).fetch_one(db.w()).await.unwrap();
        (r.get(0), r.get(1))
    };
    let mut tx = db.w().begin().await.unwrap();
    coterie::blog::months::moved(db, &mut tx, row.0, Some(row.1), Some(at)).await.unwrap();
    db.query("UPDATE blog_posts SET published_at = ? WHERE slug = ?").bind(at).bind(slug.to_string()).execute(&mut *tx).await.unwrap();
    tx.commit().await.unwrap();
}

async fn month_lists_and_archives(b: Backend) {
    let app = with_ava(b).await;
    for title in ["March one", "March two", "This month"] {
        write(&app, &[("title", title), ("body", "x"), ("action", "publish")]).await;
    }
    write(&app, &[("title", "Draft"), ("body", "x"), ("action", "draft")]).await;
    let march = 1_710_000_000; // 2024-03-09
    set_time(&app, "march-one", march).await;
    set_time(&app, "march-two", march + 86_400).await;
    let leo = common::client();
    app.login_with(&leo, "leo", PW).await;
    app.post_with(&leo, "/blog/new", "/blog/new", &[("title", "Leo in March"), ("body", "x"), ("action", "publish")]).await;
    set_time(&app, "leo-in-march", march + 3600).await;

    let blog = app.get_with(&common::client(), "/blog/ava").await.text;
    assert!(blog.contains("href=\"/blog/ava/archive/2024/03\""), "{blog}");
    assert!(blog.contains("March 2024</span> <span class=\"archive-months__count\">2</span>"));
    let now_path = month_path(coterie::db::now());
    assert!(blog.contains(&format!("href=\"/blog/ava/archive/{now_path}\"")));

    let archive = app.get("/blog/ava/archive/2024/03").await;
    assert_eq!(archive.status, StatusCode::OK);
    assert!(archive.text.contains("/blog/ava/march-one") && archive.text.contains("/blog/ava/march-two"));
    assert!(!archive.text.contains("/blog/ava/this-month") && !archive.text.contains("/blog/leo/leo-in-march"));
    let site = app.get("/blog/archive/2024/03").await;
    assert!(site.text.contains("/blog/ava/march-one") && site.text.contains("/blog/leo/leo-in-march"));
    assert!(!site.text.contains("/blog/ava/this-month"));
    let empty = app.get("/blog/ava/archive/2024/04").await;
    assert_eq!(empty.status, StatusCode::OK);
    assert!(empty.text.contains("published nothing this month"));
    assert_eq!(app.count("SELECT post_count FROM blog_months WHERE user_id = 0 AND month = 202403").await, 3);
    assert_eq!(app.get("/blog/nobody/archive/2024/03").await.status, StatusCode::NOT_FOUND);
}

async fn bad_months_are_not_found(b: Backend) {
    let app = with_ava(b).await;
    for path in [
        "/blog/archive/2024/13",
        "/blog/archive/2024/00",
        "/blog/archive/2024/1",
        "/blog/archive/abcd/01",
        "/blog/archive/2024/ab",
        "/blog/archive/1999/12",
        "/blog/archive/9999/01",
        "/blog/archive/-2024/01",
        "/blog/ava/archive/2024/13",
        "/blog/ava/archive/3000/01",
        "/blog/ava/archive/x/y",
    ] {
        let page = app.get(path).await;
        assert_eq!(page.status, StatusCode::NOT_FOUND, "{path}");
        assert!(page.text.contains("Page not found"), "{path} says so");
    }
}

async fn month_counts_follow_edits_and_deletes(b: Backend) {
    let app = with_ava(b).await;
    let count = || app.sum("SELECT post_count FROM blog_months WHERE user_id <> 0");
    write(&app, &[("title", "Counted"), ("body", "x"), ("action", "draft")]).await;
    assert_eq!(count().await, 0, "drafts are not counted");
    let url = "/blog/ava/counted/edit";
    app.post(url, url, &[("title", "Counted"), ("body", "x"), ("action", "publish")]).await;
    assert_eq!(count().await, 1);
    app.post(url, url, &[("title", "Counted"), ("body", "y"), ("action", "publish")]).await;
    assert_eq!(count().await, 1, "an edit in the same month moves nothing");
    app.post(url, url, &[("title", "Counted"), ("body", "x"), ("action", "schedule"), ("publish_at", "2099-01-01T09:00")]).await;
    assert_eq!(app.count("SELECT post_count FROM blog_months WHERE user_id <> 0 AND month = 209901").await, 1, "moved to its new month");
    assert_eq!(count().await, 1);
    assert!(!app.get_with(&common::client(), "/blog/ava").await.text.contains("2099/01"), "a future month is not listed yet");
    app.post(url, url, &[("title", "Counted"), ("body", "x"), ("action", "draft")]).await;
    assert_eq!(count().await, 0, "back to a draft");
    app.post(url, url, &[("title", "Counted"), ("body", "x"), ("action", "publish")]).await;
    app.post(url, "/blog/ava/counted/delete", &[]).await;
    assert_eq!(count().await, 0, "deleted");
    assert_eq!(app.sum("SELECT post_count FROM blog_months WHERE user_id = 0").await, 0);
}

async fn concurrent_posts_are_all_counted(b: Backend) {
    let app = with_ava(b).await;
    let mut writers = Vec::new();
    for name in ["mia", "noa", "ola", "pia", "quinn", "rae"] {
        let id = app.member(name, PW, "member").await;
        writers.push((name, app.client_for(id).await));
    }
    let mut tasks = Vec::new();
    for (name, client) in &writers {
        let token = app.get_with(client, "/blog/new").await.csrf();
        for i in 0..3 {
            let (client, token, url, title) = (client.clone(), token.clone(), app.url("/blog/new"), format!("{name} {i}"));
            tasks.push(tokio::spawn(async move {
                let fields = [("csrf_token", token.as_str()), ("title", title.as_str()), ("body", "x"), ("tags", "rush"), ("action", "publish")];
                client.post(url).form(&fields).send().await.unwrap().status()
            }));
        }
    }
    let mut statuses = Vec::new();
    for task in tasks {
        statuses.push(task.await.unwrap());
    }
    assert!(statuses.iter().all(|s| *s == StatusCode::SEE_OTHER), "{statuses:?}");
    assert_eq!(app.count("SELECT COUNT(*) FROM blog_posts").await, 18);
    assert_eq!(app.sum("SELECT post_count FROM blog_months WHERE user_id = 0").await, 18);
    assert_eq!(app.sum("SELECT post_count FROM blog_months WHERE user_id <> 0").await, 18);
    assert_eq!(app.count("SELECT COUNT(*) FROM blog_post_tags WHERE tag = 'rush'").await, 18);
}

async fn new_forms_need_the_csrf_token(b: Backend) {
    let app = with_ava(b).await;
    let raw = app.post_raw(&app.client, "/blog/new", &[("title", "x"), ("body", "y"), ("tags", "linen"), ("action", "publish")]).await;
    assert_eq!(raw.status, StatusCode::FORBIDDEN);
    let form = reqwest::multipart::Form::new().text("title", "x").text("body", "y").text("tags", "linen").text("action", "publish");
    let multipart = app.post_multipart("/blog/new", "/blog/new", common::with_file(form, common::png(64, 48), "c.png"), false).await;
    assert_eq!(multipart.status, StatusCode::FORBIDDEN);
    assert_eq!(app.count("SELECT COUNT(*) FROM blog_posts").await, 0);
    write(&app, &[("title", "Mine"), ("body", "x"), ("action", "publish")]).await;
    let edit = reqwest::multipart::Form::new().text("title", "Taken").text("body", "y").text("action", "publish");
    let page = app.post_multipart("/blog/ava/mine/edit", "/blog/ava/mine/edit", edit, false).await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    assert_eq!(app.count("SELECT COUNT(*) FROM blog_posts WHERE title = 'Mine'").await, 1);
    assert!(!app.data.path().join("media/covers").exists(), "no file was stored");
}

/// The migration that made `blog_months` counted existing posts with each
/// database's own date functions; they must agree with the writes' counts.
async fn the_migration_counts_months_as_writes_do(b: Backend) {
    use sqlx::Row as _;
    let app = with_ava(b).await;
    // Around month ends in UTC, where a time zone slip would show.
    for (title, at) in [("Jan end", 1_706_745_599), ("Feb start", 1_706_745_600), ("Leap day", 1_709_251_199), ("New year", 1_735_689_600)] {
        write(&app, &[("title", title), ("body", "x"), ("action", "publish")]).await;
        set_time(&app, &coterie::blog::store::slugify(title), at).await;
    }
    write(&app, &[("title", "Draft"), ("body", "x"), ("action", "draft")]).await;
    let db = &app.state.db;
    let rows = || async {
        let rows = db.query("SELECT user_id, month, post_count FROM blog_months WHERE post_count > 0 ORDER BY user_id, month").fetch_all(db.w()).await.unwrap();
        rows.iter().map(|r| (r.get::<i64, _>(0), r.get::<i64, _>(1), r.get::<i64, _>(2))).collect::<Vec<_>>()
    };
    let by_writes = rows().await;
    assert!(by_writes.iter().any(|r| r.1 == 202401 && r.2 == 1) && by_writes.iter().any(|r| r.1 == 202402 && r.2 == 2), "{by_writes:?}");
    db.query("DELETE FROM blog_months").execute(db.w()).await.unwrap();
    let backfill = coterie::blog::MIGRATIONS.iter().find(|m| m.version == 2).unwrap();
    for statement in backfill.statements.iter().filter(|s| s.trim_start().starts_with("INSERT")) {
        sqlx::query(&coterie::db::migrations::dialect(db.backend, statement)).execute(db.w()).await.unwrap();
    }
    assert_eq!(rows().await, by_writes);
}
