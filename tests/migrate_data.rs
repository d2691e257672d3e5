//! `coterie migrate-data` moves a demo site from the embedded SQLite to
//! PostgreSQL and to MySQL, with every row and media file, and the moved
//! site serves the same pages.

mod common;

use std::process::Command;

use common::{Backend, TestApp};
use reqwest::StatusCode;

const PW: &str = "velvet-harbor-lantern-91";

fn migrate_data(args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_coterie")).arg("migrate-data").args(args).env("RUST_LOG", "warn").output().unwrap();
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

/// A page with what differs between two running copies of one site taken
/// out: each copy's own address and the per-visitor CSRF token.
fn comparable(app: &TestApp, text: &str) -> String {
    let text = text.replace(&app.base, "BASE");
    let marker = "name=\"csrf_token\" value=\"";
    let mut out = String::new();
    let mut rest = text.as_str();
    while let Some(at) = rest.find(marker) {
        out.push_str(&rest[..at + marker.len()]);
        rest = &rest[at + marker.len()..];
        rest = &rest[rest.find('"').unwrap_or(0)..];
    }
    out.push_str(rest);
    out
}

/// Pages across the site: lists and one of each kind of item.
async fn pages_of(app: &TestApp) -> Vec<String> {
    let mut paths = vec!["/".to_string(), "/blog".into(), "/members".into(), "/photos".into(), "/forums".into(), "/blog/feed.atom".into(), "/sitemap.xml".into()];
    let home = app.get("/blog").await.text;
    let post = home.split('"').find(|s| s.starts_with("/blog/") && s.matches('/').count() == 3 && !s.contains("feed") && !s.contains("tag/")).expect("a blog post link").to_string();
    let member = post.split('/').nth(2).unwrap().to_string();
    paths.push(post);
    paths.push(format!("/u/{member}"));
    let forums = app.get("/forums").await.text;
    paths.extend(forums.split('"').find(|s| s.starts_with("/forums/") && !s.starts_with("/forums/t/") && !s.contains("log")).map(str::to_string));
    let photos = app.get("/photos").await.text;
    paths.extend(photos.split('"').find(|s| s.starts_with("/galleries/")).map(str::to_string));
    paths
}

async fn moves_a_whole_site(backend: Backend) {
    if !common::available(backend) {
        return;
    }
    let source = TestApp::spawn(Backend::Sqlite).await;
    coterie::demo::fill_if_empty(&source.state).await.unwrap();
    source.member("carrier", PW, "member").await;
    source.state.views.flush(&source.state.db).await.unwrap();
    let from = format!("sqlite://{}/coterie.db", source.data.path().display());
    let media_from = format!("file://{}/media", source.data.path().display());
    let target = common::fresh_database(backend).await;
    let elsewhere = tempfile::tempdir().unwrap();
    let media_to = format!("file://{}/media", elsewhere.path().display());

    let (ok, out) = migrate_data(&["--from", &from, "--to", &target, "--media-from", &media_from, "--media-to", &media_to]);
    assert!(ok, "{out}");
    assert!(out.contains("verified: every table has the same row count and digest"), "{out}");
    let files = source.state.media.keys("").await.unwrap();
    assert!(!files.is_empty());
    assert!(out.contains(&format!("copied and verified {} media files", files.len())), "{out}");
    for key in &files {
        let there = std::fs::read(elsewhere.path().join("media").join(key)).unwrap();
        assert_eq!(there, source.state.media.get(key).await.unwrap().unwrap().to_vec(), "{key}");
    }

    // Nothing is ever written into a site that has content.
    let (ok, again) = migrate_data(&["--from", &from, "--to", &target]);
    assert!(!ok && again.contains("not empty"), "{again}");

    let (target_url, media_url) = (target.clone(), media_to.clone());
    let moved = TestApp::with(Backend::Sqlite)
        .config(move |c| {
            c.database_url = target_url;
            c.media_url = media_url;
        })
        .spawn()
        .await;
    for table in ["users", "blog_posts", "comments", "votes", "photos", "forum_posts"] {
        let sql: &'static str = Box::leak(format!("SELECT COUNT(*) FROM {table}").into_boxed_str());
        assert_eq!(moved.count(sql).await, source.count(sql).await, "{table}");
    }
    for path in pages_of(&source).await {
        let (before, after) = (source.get(&path).await, moved.get(&path).await);
        assert_eq!(before.status, StatusCode::OK, "{path}");
        assert_eq!(after.status, StatusCode::OK, "{path}");
        let (before, after) = (comparable(&source, &before.text), comparable(&moved, &after.text));
        if before != after {
            let line = before.lines().zip(after.lines()).find(|(a, b)| a != b);
            panic!("{path} differs after the move: {line:?}");
        }
    }
    // The moved site takes new writes: its ids continue after the copied ones.
    let id = moved.member("newcomer", PW, "member").await;
    assert!(id > source.count("SELECT MAX(id) FROM users").await);
    // Members log in with the passwords they had.
    assert_eq!(moved.login("carrier", PW).await.status, StatusCode::SEE_OTHER);
}

async fn refuses_bad_sources(backend: Backend) {
    if !common::available(backend) {
        return;
    }
    let target = common::fresh_database(backend).await;
    let (ok, out) = migrate_data(&["--from", &target, "--to", &target]);
    assert!(!ok && out.contains("same database"), "{out}");
    let empty = tempfile::tempdir().unwrap();
    let nothing = format!("sqlite://{}/nothing.db", empty.path().display());
    let (ok, out) = migrate_data(&["--from", &nothing, "--to", &target]);
    assert!(!ok && out.contains("no Coterie tables"), "{out}");
}

/// Each test on PostgreSQL and on MySQL (the source is always SQLite).
macro_rules! server_tests {
    ($($name:ident),* $(,)?) => {
        mod postgres { $( #[tokio::test(flavor = "multi_thread", worker_threads = 2)] async fn $name() { super::$name(super::Backend::Postgres).await } )* }
        mod mysql { $( #[tokio::test(flavor = "multi_thread", worker_threads = 2)] async fn $name() { super::$name(super::Backend::Mysql).await } )* }
    };
}

server_tests!(moves_a_whole_site, refuses_bad_sources);
