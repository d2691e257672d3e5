//! `coterie demo` fills an empty site, once, on every backend.

mod common;

use common::{Backend, TestApp};
use reqwest::StatusCode;

backend_tests!(demo_fills_an_empty_site_once);

async fn demo_fills_an_empty_site_once(b: Backend) {
    let app = TestApp::spawn(b).await;
    coterie::demo::fill_if_empty(&app.state).await.unwrap();
    assert_eq!(app.count("SELECT value FROM counters WHERE name = 'members'").await, 12);
    assert_eq!(app.count("SELECT COUNT(*) FROM users WHERE avatar_key IS NOT NULL").await, 12, "every demo member has a picture");
    assert!(app.count("SELECT COUNT(*) FROM blog_posts").await >= 5);
    assert!(app.count("SELECT COUNT(*) FROM comments").await >= 3);
    assert!(app.count("SELECT COUNT(*) FROM votes").await >= 10);
    // Counters agree with the rows they count.
    assert_eq!(
        app.sum("SELECT comment_count FROM blog_posts").await,
        app.count("SELECT COUNT(*) FROM comments WHERE status = 0 AND kind = 'blog_post'").await
    );
    assert_eq!(app.sum("SELECT score FROM blog_posts").await, app.sum("SELECT value FROM votes WHERE kind = 'blog_post'").await);
    // Photos have votes and comments too, counted on them.
    assert!(app.count("SELECT COUNT(*) FROM votes WHERE kind = 'photo'").await >= 20);
    assert_eq!(app.sum("SELECT score FROM photos").await, app.sum("SELECT value FROM votes WHERE kind = 'photo'").await);
    assert_eq!(
        app.sum("SELECT comment_count FROM photos").await,
        app.count("SELECT COUNT(*) FROM comments WHERE status = 0 AND kind = 'photo'").await
    );
    assert!(app.count("SELECT COUNT(*) FROM comments WHERE kind = 'photo'").await >= 5);
    assert!(app.count("SELECT COUNT(*) FROM blog_posts WHERE cover_key IS NOT NULL").await >= 3, "demo posts have covers");
    assert!(app.count("SELECT COUNT(*) FROM blog_post_tags").await >= 6, "demo posts have tags");
    assert_eq!(
        app.sum("SELECT post_count FROM blog_months WHERE user_id = 0").await,
        app.count("SELECT COUNT(*) FROM blog_posts WHERE status <> 'draft'").await,
        "month counts agree with the posts"
    );
    coterie::demo::fill_if_empty(&app.state).await.unwrap();
    assert_eq!(app.count("SELECT COUNT(*) FROM users").await, 12, "a second run adds nothing");
    let home = app.get("/").await;
    assert_eq!(home.status, StatusCode::OK);
    assert!(home.text.contains("Featured stories"));
    for path in ["/members", "/blog", "/blog/ava_martin", "/u/ava_martin"] {
        assert_eq!(app.get(path).await.status, StatusCode::OK, "{path}");
    }
}
