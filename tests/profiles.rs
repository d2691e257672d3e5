//! Profiles and avatars through the real router, with hostile uploads.

mod common;

use common::{png, Backend, TestApp};
use reqwest::multipart::{Form, Part};
use reqwest::StatusCode;

const PW: &str = "velvet-harbor-lantern-91";

backend_tests!(
    edit_profile_and_see_it,
    hostile_profile_input_is_refused_or_sanitized,
    upload_avatar_and_see_it_on_the_profile,
    bad_avatar_uploads_change_nothing,
    avatar_upload_needs_the_csrf_token,
    member_directory_paginates,
);

async fn logged_in(b: Backend) -> TestApp {
    let app = TestApp::spawn(b).await;
    app.member("ava", PW, "member").await;
    assert_eq!(app.login("ava", PW).await.status, StatusCode::SEE_OTHER);
    app
}

async fn edit_profile_and_see_it(b: Backend) {
    let app = logged_in(b).await;
    let saved = app
        .post(
            "/accounts/settings",
            "/accounts/settings/profile",
            &[("display_name", "Ava Martin"), ("bio", "Linen in **summer**."), ("location", "Paris"), ("website", "https://ava.example")],
        )
        .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.text);
    assert_eq!(saved.location(), "/u/ava");
    let profile = app.get_with(&common::client(), "/u/ava").await;
    assert_eq!(profile.status, StatusCode::OK);
    assert!(profile.text.contains("Ava Martin"));
    assert!(profile.text.contains("<strong>summer</strong>"));
    assert!(profile.text.contains("Paris"));
    assert!(profile.text.contains("ava.example"));
    assert!(profile.text.contains("nofollow"), "member links are nofollow ugc");
    assert_eq!(app.get("/u/AVA").await.status, StatusCode::OK, "usernames match in any case");
    assert_eq!(app.get("/u/nobody").await.status, StatusCode::NOT_FOUND);
}

async fn hostile_profile_input_is_refused_or_sanitized(b: Backend) {
    let app = logged_in(b).await;
    let bad_site = app.post("/accounts/settings", "/accounts/settings/profile", &[("website", "javascript:alert(1)")]).await;
    assert_eq!(bad_site.status, StatusCode::UNPROCESSABLE_ENTITY);
    let long = "x".repeat(2001);
    let too_long = app.post("/accounts/settings", "/accounts/settings/profile", &[("bio", &long)]).await;
    assert_eq!(too_long.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(app.count("SELECT COUNT(*) FROM users WHERE bio <> ''").await, 0, "nothing saved");
    let script = "<script>alert(1)</script>\n\n<img src=x onerror=alert(2)>\n\n[click](javascript:alert(3)) *ok*";
    app.post("/accounts/settings", "/accounts/settings/profile", &[("bio", script)]).await;
    let profile = app.get("/u/ava").await;
    assert!(profile.text.contains("<em>ok</em>"));
    for bad in ["<script>alert", "onerror", "javascript:alert"] {
        assert!(!profile.text.contains(bad), "{bad} reached the page");
    }
}

fn upload(bytes: Vec<u8>, name: &str) -> Form {
    Form::new().part("file", Part::bytes(bytes).file_name(name.to_string()).mime_str("image/jpeg").unwrap())
}

async fn upload_avatar_and_see_it_on_the_profile(b: Backend) {
    let app = logged_in(b).await;
    let done = app.post_multipart("/accounts/settings", "/accounts/settings/avatar", upload(png(300, 240), "me.png"), true).await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.text);
    let profile = app.get("/u/ava").await;
    let start = profile.text.find("/media/avatars/").expect("the profile shows the uploaded avatar");
    let url: String = profile.text[start..].chars().take_while(|c| *c != '"').collect();
    let file = app.client.get(app.url(&url)).send().await.unwrap();
    assert_eq!(file.status(), StatusCode::OK);
    assert_eq!(file.headers()["content-type"], "image/jpeg");
    assert!(file.headers()["cache-control"].to_str().unwrap().contains("immutable"));
    let etag = file.headers()["etag"].clone();
    let body = file.bytes().await.unwrap();
    let decoded = image::load_from_memory(&body).unwrap();
    assert_eq!(decoded.width(), decoded.height(), "avatars are square");
    assert!(!body.windows(4).any(|w| w == b"Exif"), "no metadata is served");
    let again = app.client.get(app.url(&url)).header("if-none-match", etag).send().await.unwrap();
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);

    // A new picture gets a new URL.
    app.post_multipart("/accounts/settings", "/accounts/settings/avatar", upload(png(200, 200), "new.png"), true).await;
    let newer = app.get("/u/ava").await;
    assert!(!newer.text.contains(&url), "the avatar URL changes with the picture");
    assert_eq!(app.client.get(app.url(&url)).send().await.unwrap().status(), StatusCode::NOT_FOUND, "old files are removed");
}

async fn bad_avatar_uploads_change_nothing(b: Backend) {
    let app = TestApp::with(b).config(|c| c.avatars.max_bytes = 200_000).spawn().await;
    app.member("ava", PW, "member").await;
    app.login("ava", PW).await;
    let bomb = common::png_claiming(100_000, 100_000);
    let jpeg = {
        let mut out = Vec::new();
        image::RgbImage::from_pixel(64, 64, image::Rgb([200, 10, 10]))
            .write_to(&mut std::io::Cursor::new(&mut out), image::ImageFormat::Jpeg)
            .unwrap();
        out
    };
    let truncated = jpeg[..jpeg.len() / 2].to_vec();
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (b"#!/bin/sh\necho this is not a picture\n".to_vec(), "not a JPEG"),
        (truncated, "damaged"),
        (vec![0xFF; 300_000], "larger than"),
        (bomb, "megapixels"),
    ];
    for (bytes, message) in cases {
        let page = app.post_multipart("/accounts/settings", "/accounts/settings/avatar", upload(bytes, "me.jpg"), true).await;
        assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY, "{message}");
        assert!(page.text.contains(message), "expected {message:?}");
    }
    assert_eq!(app.count("SELECT COUNT(*) FROM users WHERE avatar_key IS NOT NULL").await, 0);
    assert!(!app.data.path().join("media/avatars").exists(), "no file was stored");
}

async fn avatar_upload_needs_the_csrf_token(b: Backend) {
    let app = logged_in(b).await;
    let page = app.post_multipart("/accounts/settings", "/accounts/settings/avatar", upload(png(64, 64), "me.png"), false).await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    assert_eq!(app.count("SELECT COUNT(*) FROM users WHERE avatar_key IS NOT NULL").await, 0);
}

async fn member_directory_paginates(b: Backend) {
    let app = TestApp::spawn(b).await;
    for i in 0..30 {
        app.member(&format!("member{i:02}"), PW, "member").await;
    }
    let first = app.get("/members").await;
    assert_eq!(first.status, StatusCode::OK);
    assert!(first.text.contains("member29") && !first.text.contains("member05"));
    let second = app.get("/members?page=2").await;
    assert!(second.text.contains("member05"));
    assert_eq!(app.get("/members?page=9").await.status, StatusCode::NOT_FOUND);
    assert_eq!(app.get("/members?page=abc").await.status, StatusCode::NOT_FOUND);
}
