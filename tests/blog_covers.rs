//! Blog cover images through the real router: made into sizes, shown with
//! their dimensions, named in OpenGraph tags, replaced and removed cleanly,
//! and refused (storing nothing) when the upload is bad.

mod common;

use common::{png, with_file, Backend, TestApp};
use reqwest::multipart::Form;
use reqwest::StatusCode;

const PW: &str = "velvet-harbor-lantern-91";

backend_tests!(
    a_cover_is_shown_and_shared,
    replacing_or_removing_a_cover_deletes_its_files,
    bad_covers_change_nothing,
    deleting_an_account_removes_posts_counts_and_covers,
);

async fn with_ava(b: Backend) -> TestApp {
    let app = TestApp::with(b).config(|c| c.blog.cover_max_bytes = 300_000).spawn().await;
    app.member("ava", PW, "member").await;
    app.login("ava", PW).await;
    app
}

fn fields(title: &str) -> Form {
    Form::new().text("title", title.to_string()).text("body", "Words.").text("tags", "linen").text("action", "publish")
}

/// The stored cover files, sorted.
fn cover_files(app: &TestApp) -> Vec<String> {
    let dir = app.data.path().join("media/covers");
    let mut files: Vec<String> = walk(&dir).into_iter().map(|p| p.strip_prefix(&dir).unwrap().display().to_string()).collect();
    files.sort();
    files
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    entries.flatten().flat_map(|e| if e.path().is_dir() { walk(&e.path()) } else { vec![e.path()] }).collect()
}

async fn a_cover_is_shown_and_shared(b: Backend) {
    let app = with_ava(b).await;
    let done = app.post_multipart("/blog/new", "/blog/new", with_file(fields("Covered"), png(1600, 1000), "cover.png"), true).await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.text);
    let files = cover_files(&app);
    assert_eq!(files.len(), 4, "{files:?}");
    for suffix in ["-wide.jpg", "-wide.webp", "-card.jpg", "-card.webp"] {
        assert!(files.iter().any(|f| f.ends_with(suffix)), "{suffix} in {files:?}");
    }
    let page = app.get_with(&common::client(), "/blog/ava/covered").await;
    assert!(page.text.contains("<picture class=\"cover cover--photo post__cover\">"), "{}", page.text);
    assert!(page.text.contains("type=\"image/webp\""));
    assert!(page.text.contains("width=\"1200\" height=\"630\""), "the wide size is 1200x630");
    assert!(page.text.contains("name=\"twitter:card\" content=\"summary_large_image\""));
    let wide = files.iter().find(|f| f.ends_with("-wide.jpg")).unwrap();
    let og = format!("property=\"og:image\" content=\"{}/media/covers/{wide}\"", app.base);
    assert!(page.text.contains(&og), "og:image is absolute: {og}");
    assert!(page.text.contains(&format!("name=\"twitter:image\" content=\"{}/media/covers/{wide}\"", app.base)));
    // The files are served, the right size.
    let served = app.client.get(app.url(&format!("/media/covers/{wide}"))).send().await.unwrap();
    assert_eq!(served.status(), StatusCode::OK);
    assert_eq!(served.headers()["content-type"], "image/jpeg");
    let img = image::load_from_memory(&served.bytes().await.unwrap()).unwrap();
    assert_eq!((img.width(), img.height()), (1200, 630));
    let card = files.iter().find(|f| f.ends_with("-card.jpg")).unwrap();
    let list = app.get_with(&common::client(), "/blog").await.text;
    assert!(list.contains(&format!("/media/covers/{card}")) && list.contains("width=\"1200\" height=\"630\""), "cards show the cover");
    // A post without one keeps the swatch and a small card.
    app.post("/blog/new", "/blog/new", &[("title", "Plain"), ("body", "x"), ("action", "publish")]).await;
    let plain = app.get("/blog/ava/plain").await.text;
    assert!(plain.contains("cover--") && !plain.contains("og:image") && plain.contains("content=\"summary\""));
}

async fn replacing_or_removing_a_cover_deletes_its_files(b: Backend) {
    let app = with_ava(b).await;
    app.post_multipart("/blog/new", "/blog/new", with_file(fields("Covered"), png(800, 500), "a.png"), true).await;
    let first = cover_files(&app);
    assert_eq!(first.len(), 4);
    let edit = "/blog/ava/covered/edit";
    // An edit without a file keeps the cover.
    let kept = app.post(edit, edit, &[("title", "Covered"), ("body", "Changed."), ("action", "publish")]).await;
    assert_eq!(kept.status, StatusCode::SEE_OTHER);
    assert_eq!(cover_files(&app), first);
    // A new picture replaces it: the old files go.
    let replaced = app.post_multipart(edit, edit, with_file(fields("Covered"), png(900, 600), "b.png"), true).await;
    assert_eq!(replaced.status, StatusCode::SEE_OTHER, "{}", replaced.text);
    let second = cover_files(&app);
    assert_eq!(second.len(), 4);
    assert!(second.iter().all(|f| !first.contains(f)), "old files removed: {first:?} -> {second:?}");
    // The same picture on another post shares files; removing it from one keeps them for the other.
    app.post_multipart("/blog/new", "/blog/new", with_file(fields("Twin"), png(900, 600), "b.png"), true).await;
    assert_eq!(cover_files(&app), second);
    let removed = app.post(edit, edit, &[("title", "Covered"), ("body", "x"), ("remove_cover", "1"), ("action", "publish")]).await;
    assert_eq!(removed.status, StatusCode::SEE_OTHER);
    assert_eq!(cover_files(&app), second, "still used by the twin");
    assert!(!app.get("/blog/ava/covered").await.text.contains("cover--photo"));
    app.post("/blog/ava/twin/edit", "/blog/ava/twin/delete", &[]).await;
    assert!(cover_files(&app).is_empty(), "deleting the last post using it removes the files");
    assert_eq!(app.count("SELECT COUNT(*) FROM blog_posts WHERE cover_key IS NOT NULL").await, 0);
}

async fn bad_covers_change_nothing(b: Backend) {
    let app = with_ava(b).await;
    let bomb = common::png_claiming(100_000, 100_000);
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (b"#!/bin/sh\necho not a picture\n".to_vec(), "not a JPEG, PNG, WebP or GIF"),
        (Vec::new(), "That file is empty"),
        (vec![0x89; 300_001], "larger than"),
        (bomb, "megapixels"),
    ];
    for (bytes, message) in &cases {
        let page = app.post_multipart("/blog/new", "/blog/new", with_file(fields("Bad cover"), bytes.clone(), "c.png"), true).await;
        assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY, "{message}");
        assert!(page.text.contains(message), "expected {message:?}");
        assert!(page.text.contains("id=\"file-error\""), "the message sits on the file field");
        assert!(page.text.contains("value=\"Bad cover\""), "the rest of the form is kept");
    }
    assert_eq!(app.count("SELECT COUNT(*) FROM blog_posts").await, 0);
    assert!(cover_files(&app).is_empty());
    // On an edit, a bad picture keeps the post and its cover as they were.
    app.post_multipart("/blog/new", "/blog/new", with_file(fields("Good"), png(700, 400), "g.png"), true).await;
    let before = cover_files(&app);
    let edit = "/blog/ava/good/edit";
    for (bytes, message) in cases {
        let page = app.post_multipart(edit, edit, with_file(fields("Changed"), bytes, "c.png"), true).await;
        assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY, "{message}");
    }
    assert_eq!(cover_files(&app), before);
    assert_eq!(app.count("SELECT COUNT(*) FROM blog_posts WHERE title = 'Good' AND cover_key IS NOT NULL").await, 1);
    // Without the CSRF token nothing is stored.
    let page = app.post_multipart("/blog/new", "/blog/new", with_file(fields("No token"), png(700, 400), "n.png"), false).await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    assert_eq!(cover_files(&app), before);
}

async fn deleting_an_account_removes_posts_counts_and_covers(b: Backend) {
    let app = with_ava(b).await;
    app.post_multipart("/blog/new", "/blog/new", with_file(fields("Covered"), png(800, 500), "a.png"), true).await;
    app.post("/blog/new", "/blog/new", &[("title", "Plain"), ("body", "x"), ("tags", "wool"), ("action", "publish")]).await;
    assert_eq!(app.sum("SELECT post_count FROM blog_months WHERE user_id = 0").await, 2);
    assert_eq!(cover_files(&app).len(), 4);
    let gone = app.post("/accounts/settings", "/accounts/delete", &[("password", PW)]).await;
    assert_eq!(gone.status, StatusCode::SEE_OTHER, "{}", gone.text);
    assert_eq!(app.count("SELECT COUNT(*) FROM blog_posts").await, 0);
    assert_eq!(app.count("SELECT COUNT(*) FROM blog_post_tags").await, 0);
    assert_eq!(app.sum("SELECT post_count FROM blog_months WHERE user_id = 0").await, 0, "the site's month counts follow");
    assert!(cover_files(&app).is_empty(), "cover files are removed");
}
