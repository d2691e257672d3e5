//! Member blogs through the real router.

mod common;

use common::{Backend, TestApp};
use reqwest::StatusCode;

const PW: &str = "velvet-harbor-lantern-91";

backend_tests!(
    write_publish_and_read,
    drafts_and_scheduled_posts_are_private_until_due,
    slugs_are_unique_per_author_and_old_ones_redirect,
    bad_posts_change_nothing,
    only_the_author_edits_or_deletes,
    staff_feature_posts,
);

async fn with_members(b: Backend) -> TestApp {
    let app = TestApp::spawn(b).await;
    app.member("ava", PW, "member").await;
    app.member("leo", PW, "member").await;
    app.login("ava", PW).await;
    app
}

async fn write(app: &TestApp, client: &reqwest::Client, fields: &[(&str, &str)]) -> common::Page {
    app.post_with(client, "/blog/new", "/blog/new", fields).await
}

async fn write_publish_and_read(b: Backend) {
    let app = with_members(b).await;
    let preview = write(&app, &app.client, &[("title", "Linen in summer"), ("body", "Why **linen** wins."), ("action", "preview")]).await;
    assert_eq!(preview.status, StatusCode::OK);
    assert!(preview.text.contains("<strong>linen</strong>"));
    assert_eq!(app.count("SELECT COUNT(*) FROM blog_posts").await, 0, "a preview saves nothing");

    let done = write(&app, &app.client, &[("title", "Linen in summer"), ("body", "Why **linen** wins."), ("action", "publish")]).await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.text);
    assert_eq!(done.location(), "/blog/ava/linen-in-summer");
    let visitor = common::client();
    let page = app.get_with(&visitor, "/blog/ava/linen-in-summer").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.text.contains("<strong>linen</strong>") && page.text.contains("Linen in summer"));
    assert!(page.text.contains("rel=\"canonical\""));
    for list in ["/blog", "/blog/ava"] {
        assert!(app.get_with(&visitor, list).await.text.contains("/blog/ava/linen-in-summer"), "{list}");
    }
    let id = app.count("SELECT id FROM blog_posts").await;
    let by_id = app.get_with(&visitor, &format!("/blog/p/{id}")).await;
    assert_eq!(by_id.location(), "/blog/ava/linen-in-summer");
    assert_eq!(app.get("/blog/ava/nothing-here").await.status, StatusCode::NOT_FOUND);
    assert_eq!(app.get("/blog?page=x").await.status, StatusCode::NOT_FOUND);
    assert_eq!(app.get("/blog/nobody").await.status, StatusCode::NOT_FOUND);
}

async fn drafts_and_scheduled_posts_are_private_until_due(b: Backend) {
    let app = with_members(b).await;
    write(&app, &app.client, &[("title", "Work in progress"), ("body", "Not yet."), ("action", "draft")]).await;
    write(&app, &app.client, &[("title", "Next week"), ("body", "Soon."), ("action", "schedule"), ("publish_at", "2099-01-01T09:00")]).await;
    write(&app, &app.client, &[("title", "Back-dated"), ("body", "Now."), ("action", "schedule"), ("publish_at", "2001-01-01T09:00")]).await;
    let leo = common::client();
    app.login_with(&leo, "leo", PW).await;
    for path in ["/blog/ava/work-in-progress", "/blog/ava/next-week"] {
        assert_eq!(app.get_with(&leo, path).await.status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(app.get(path).await.status, StatusCode::OK, "the author sees {path}");
    }
    assert_eq!(app.get_with(&leo, "/blog/ava/back-dated").await.status, StatusCode::OK, "a past time publishes now");
    let list = app.get_with(&leo, "/blog").await.text;
    assert!(!list.contains("work-in-progress") && !list.contains("next-week") && list.contains("back-dated"));
    // When the time comes, the post appears with nothing else to run.
    app.state.db.query("UPDATE blog_posts SET published_at = 1000 WHERE slug = 'next-week'").execute(app.state.db.w()).await.unwrap();
    assert_eq!(app.get_with(&leo, "/blog/ava/next-week").await.status, StatusCode::OK);
    let bad = write(&app, &app.client, &[("title", "When"), ("body", "x"), ("action", "schedule"), ("publish_at", "someday")]).await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
}

async fn slugs_are_unique_per_author_and_old_ones_redirect(b: Backend) {
    let app = with_members(b).await;
    let first = write(&app, &app.client, &[("title", "Capsule wardrobe"), ("body", "One."), ("action", "publish")]).await;
    let second = write(&app, &app.client, &[("title", "Capsule wardrobe"), ("body", "Two."), ("action", "publish")]).await;
    assert_eq!(first.location(), "/blog/ava/capsule-wardrobe");
    assert_eq!(second.location(), "/blog/ava/capsule-wardrobe-2");
    let odd = write(&app, &app.client, &[("title", "Odd"), ("slug", "../../Été <b>2026</b>!"), ("body", "x"), ("action", "publish")]).await;
    assert_eq!(odd.location(), "/blog/ava/ete-b-2026-b");
    // Another author may use the same slug.
    let leo = common::client();
    app.login_with(&leo, "leo", PW).await;
    assert_eq!(write(&app, &leo, &[("title", "Capsule wardrobe"), ("body", "Mine."), ("action", "publish")]).await.location(), "/blog/leo/capsule-wardrobe");
    // Editing keeps the slug; changing it redirects the old address.
    let edit = "/blog/ava/capsule-wardrobe/edit";
    let kept = app.post(edit, edit, &[("title", "Capsule wardrobe, revised"), ("body", "One, again."), ("slug", "capsule-wardrobe"), ("action", "publish")]).await;
    assert_eq!(kept.location(), "/blog/ava/capsule-wardrobe");
    let moved = app.post(edit, edit, &[("title", "A smaller wardrobe"), ("body", "One, again."), ("slug", "smaller-wardrobe"), ("action", "publish")]).await;
    assert_eq!(moved.location(), "/blog/ava/smaller-wardrobe");
    let old = app.get("/blog/ava/capsule-wardrobe").await;
    assert_eq!(old.status, StatusCode::PERMANENT_REDIRECT);
    assert_eq!(old.location(), "/blog/ava/smaller-wardrobe");
    // A new post cannot take the old slug away from its redirect.
    let again = write(&app, &app.client, &[("title", "Capsule wardrobe"), ("body", "Three."), ("action", "publish")]).await;
    assert_eq!(again.location(), "/blog/ava/capsule-wardrobe-3");
}

async fn bad_posts_change_nothing(b: Backend) {
    let app = with_members(b).await;
    let long = "x".repeat(100_001);
    for (fields, message) in [
        (vec![("title", ""), ("body", "text"), ("action", "publish")], "title"),
        (vec![("title", "T"), ("body", "   "), ("action", "publish")], "Write something"),
        (vec![("title", "T"), ("body", long.as_str()), ("action", "publish")], "up to"),
    ] {
        let page = write(&app, &app.client, &fields).await;
        assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(page.text.contains(message), "{message}");
    }
    assert_eq!(app.count("SELECT COUNT(*) FROM blog_posts").await, 0);
    let hostile = "<script>alert(1)</script>\n\n<p onclick=\"x()\" style=\"color:red\">hi</p>\n\n[a](javascript:alert(2))";
    write(&app, &app.client, &[("title", "<script>t</script>"), ("body", hostile), ("action", "publish")]).await;
    let page = app.get("/blog/ava/script-t-script").await;
    assert_eq!(page.status, StatusCode::OK);
    for bad in ["<script>", "onclick", "javascript:alert", "color:red"] {
        assert!(!page.text.contains(bad), "{bad} reached the page");
    }
    // Without the CSRF token nothing is written.
    let raw = app.post_raw(&app.client, "/blog/new", &[("title", "x"), ("body", "y"), ("action", "publish")]).await;
    assert_eq!(raw.status, StatusCode::FORBIDDEN);
    assert_eq!(app.count("SELECT COUNT(*) FROM blog_posts").await, 1);
    // Visitors are sent to log in.
    assert_eq!(app.get_with(&common::client(), "/blog/new").await.status, StatusCode::SEE_OTHER);
}

async fn only_the_author_edits_or_deletes(b: Backend) {
    let app = with_members(b).await;
    write(&app, &app.client, &[("title", "Mine"), ("body", "x"), ("action", "publish")]).await;
    let leo = common::client();
    app.login_with(&leo, "leo", PW).await;
    assert_eq!(app.get_with(&leo, "/blog/ava/mine/edit").await.status, StatusCode::FORBIDDEN);
    let edit = app.post_with(&leo, "/blog", "/blog/ava/mine/edit", &[("title", "Taken over"), ("body", "y"), ("action", "publish")]).await;
    assert_eq!(edit.status, StatusCode::FORBIDDEN);
    let delete = app.post_with(&leo, "/blog", "/blog/ava/mine/delete", &[]).await;
    assert_eq!(delete.status, StatusCode::FORBIDDEN);
    assert_eq!(app.count("SELECT COUNT(*) FROM blog_posts WHERE title = 'Mine'").await, 1);
    let gone = app.post("/blog/ava/mine/edit", "/blog/ava/mine/delete", &[]).await;
    assert_eq!(gone.status, StatusCode::SEE_OTHER);
    assert_eq!(app.count("SELECT COUNT(*) FROM blog_posts").await, 0);
    assert_eq!(app.get("/blog/ava/mine").await.status, StatusCode::NOT_FOUND);
}

async fn staff_feature_posts(b: Backend) {
    let app = with_members(b).await;
    app.member("studio_team", PW, "staff").await;
    write(&app, &app.client, &[("title", "Worth reading"), ("body", "x"), ("action", "publish")]).await;
    let not_staff = app.post("/blog/ava/worth-reading", "/blog/ava/worth-reading/feature", &[("featured", "1")]).await;
    assert_eq!(not_staff.status, StatusCode::FORBIDDEN);
    let staff = common::client();
    app.login_with(&staff, "studio_team", PW).await;
    let done = app.post_with(&staff, "/blog/ava/worth-reading", "/blog/ava/worth-reading/feature", &[("featured", "1")]).await;
    assert_eq!(done.status, StatusCode::SEE_OTHER);
    let home = app.get_with(&common::client(), "/").await;
    assert!(home.text.contains("/blog/ava/worth-reading"), "featured posts lead the home page");
}

mod listings {
    use super::common::{Backend, TestApp};
    use super::PW;
    use reqwest::StatusCode;

    /// New, hot and top (day, week, all time) orders, from the counters.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn posts_by_new_hot_and_top() {
        let app = TestApp::spawn(Backend::Sqlite).await;
        let ava = app.member("ava", PW, "member").await;
        let writer = app.client_for(ava).await;
        for title in ["Old favourite", "Fresh but quiet", "Last month"] {
            app.post_with(&writer, "/blog/new", "/blog/new", &[("title", title), ("body", "x"), ("action", "publish")]).await;
        }
        let day = 86_400;
        let db = &app.state.db;
        let now = coterie::db::now();
        // "Old favourite": three days old with many votes; "Last month": older, most votes.
        for (slug, age, score) in [("old-favourite", 3 * day, 40), ("fresh-but-quiet", 60, 1), ("last-month", 30 * day, 90)] {
            db.query("UPDATE blog_posts SET published_at = ?, score = ?, hot = ? WHERE slug = ?")
                .bind(now - age)
                .bind(score)
                .bind(coterie::content::hot(score, now - age))
                .bind(slug)
                .execute(db.w())
                .await
                .unwrap();
        }
        let order = |text: &str| {
            let mut found: Vec<(usize, &str)> =
                ["old-favourite", "fresh-but-quiet", "last-month"].iter().filter_map(|s| text.find(&format!("/blog/ava/{s}")).map(|i| (i, *s))).collect();
            found.sort();
            found.into_iter().map(|(_, s)| s.to_string()).collect::<Vec<_>>()
        };
        assert_eq!(order(&app.get("/blog").await.text), ["fresh-but-quiet", "old-favourite", "last-month"]);
        assert_eq!(order(&app.get("/blog?sort=top").await.text), ["last-month", "old-favourite", "fresh-but-quiet"]);
        assert_eq!(order(&app.get("/blog?sort=top&period=week").await.text), ["old-favourite", "fresh-but-quiet"]);
        let today = app.get("/blog?sort=top&period=day").await.text;
        assert_eq!(order(&today), ["fresh-but-quiet"]);
        assert!(today.contains("<a href=\"/blog?sort=top&amp;period=day\" aria-current=\"true\">Top today</a>"), "the day's order is linked and marked");
        // Age outweighs votes over days: a tenfold score is worth 12.5 hours.
        assert_eq!(order(&app.get("/blog?sort=hot").await.text), ["fresh-but-quiet", "old-favourite", "last-month"]);
        assert_eq!(app.get("/blog?sort=loud").await.status, StatusCode::NOT_FOUND);
        assert_eq!(app.get("/blog?sort=top&period=year").await.status, StatusCode::NOT_FOUND);
    }
}
