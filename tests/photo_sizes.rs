//! Photo sizes made after the upload: a size added to the configuration is
//! made on its first request, once under a crowd, and `coterie photos
//! regenerate` makes (and with --prune clears) sizes for every photo.

mod common;

use std::sync::atomic::Ordering;

use coterie::media::pipeline::PhotoSize;
use common::{Backend, TestApp};
use reqwest::StatusCode;

const PW: &str = "velvet-harbor-lantern-91";

/// A member's photo of `w`×`h`; returns its id.
async fn photo(app: &TestApp, w: u32, h: u32) -> i64 {
    app.member("mira", PW, "member").await;
    app.login("mira", PW).await;
    let form = common::with_file(reqwest::multipart::Form::new().text("title", "Coat"), common::png(w, h), "coat.png");
    let done = app.post_multipart("/photos/upload", "/photos/upload", form, true).await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.text);
    app.count("SELECT MAX(id) FROM photos").await
}

/// Another process of the same site, with one more size configured.
async fn with_wide_size(app: &TestApp, b: Backend) -> TestApp {
    let (database, media) = (app.state.config.database_url(), app.state.config.media_url());
    TestApp::with(b)
        .config(move |c| {
            c.database_url = database;
            c.media_url = media;
            c.photos.sizes.push(PhotoSize::fit("wide", 720, 0));
        })
        .spawn()
        .await
}

fn media_url_containing(text: &str, needle: &str, ext: &str) -> String {
    text.split(['"', ' ', ','])
        .find(|s| s.starts_with("/media/") && s.contains(needle) && s.ends_with(ext))
        .unwrap_or_else(|| panic!("a {needle}*{ext} file on the page"))
        .to_string()
}

async fn a_size_added_later_is_made_once_on_first_request(b: Backend) {
    let app = TestApp::spawn(b).await;
    let id = photo(&app, 960, 720).await;
    let wider = with_wide_size(&app, b).await;
    let page = wider.get(&format!("/photos/{id}")).await;
    let url = media_url_containing(&page.text, "/wide-", ".webp");
    assert!(!app.data.path().join("media").join(url.trim_start_matches("/media/")).exists(), "not made before it is asked for");

    let mut crowd = Vec::new();
    for _ in 0..8 {
        let (client, url) = (common::client(), wider.url(&url));
        crowd.push(tokio::spawn(async move {
            let answer = client.get(url).send().await.unwrap();
            (answer.status(), answer.headers()["content-type"].to_str().unwrap().to_string(), answer.bytes().await.unwrap())
        }));
    }
    let mut bodies = Vec::new();
    for request in crowd {
        let (status, content_type, body) = request.await.unwrap();
        assert_eq!(status, StatusCode::OK);
        assert_eq!(content_type, "image/webp");
        bodies.push(body);
    }
    assert!(bodies.windows(2).all(|w| w[0] == w[1]), "everyone got the same file");
    let image = image::load_from_memory(&bodies[0]).unwrap();
    assert_eq!((image.width(), image.height()), (720, 540));
    assert_eq!(wider.state.metrics.photo_sizes_made.load(Ordering::Relaxed), 1, "made once for the whole crowd");
    // The JPEG of the size came with it.
    let jpeg = wider.get(&media_url_containing(&page.text, "/wide-", ".jpg")).await;
    assert_eq!(jpeg.status, StatusCode::OK);
    assert_eq!(wider.state.metrics.photo_sizes_made.load(Ordering::Relaxed), 1);

    // A size that is not configured, or of a photo that does not exist, is not made.
    let stranger = url.replace(&format!("/photos/{}/", app.count("SELECT MAX(user_id) FROM photos").await), "/photos/999/");
    assert_eq!(wider.get(&stranger).await.status, StatusCode::NOT_FOUND);
    assert_eq!(app.get(&url).await.status, StatusCode::OK, "the first process serves the file the other made");
    let unknown = url.replace("/wide-", "/huge-");
    assert_eq!(wider.get(&unknown).await.status, StatusCode::NOT_FOUND);
}

/// `coterie photos regenerate` on a site whose configuration gained a size
/// and lost one.
async fn regenerate_makes_what_is_missing_and_prunes(b: Backend) {
    let app = TestApp::spawn(b).await;
    photo(&app, 800, 600).await;
    app.post_multipart(
        "/photos/upload",
        "/photos/upload",
        common::with_file(reqwest::multipart::Form::new().text("title", "Scarf"), common::png(640, 900), "scarf.png"),
        true,
    )
    .await;
    let config = app.data.path().join("coterie.toml");
    std::fs::write(
        &config,
        "[[photos.sizes]]\nname = \"thumb\"\nwidth = 150\nheight = 150\ncrop = true\n\n\
         [[photos.sizes]]\nname = \"wide\"\nwidth = 720\nheight = 0\n",
    )
    .unwrap();
    let run = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_coterie"))
            .args(["--config", config.to_str().unwrap(), "--data-dir", app.data.path().to_str().unwrap(), "photos", "regenerate"])
            .args(args)
            .env("COTERIE_DATABASE_URL", app.state.config.database_url())
            .env("RUST_LOG", "warn")
            .output()
            .unwrap();
        (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
    };
    let (ok, out) = run(&["--size", "nosuch"]);
    assert!(!ok && out.contains("no size named \"nosuch\"") && out.contains("thumb, wide"), "{out}");

    let (ok, out) = run(&[]);
    assert!(ok && out.contains("2 photos: 2 sizes made, 0 old files removed, 0 failed"), "{out}");
    let (ok, out) = run(&[]);
    assert!(ok && out.contains("2 photos: 0 sizes made"), "a second run finds nothing missing: {out}");
    let media = app.data.path().join("media/photos");
    let files = || common::files_under(&media);
    assert_eq!(files().iter().filter(|f| f.contains("/wide-")).count(), 4, "{:?}", files());
    assert_eq!(files().iter().filter(|f| f.contains("/display-")).count(), 4, "kept without --prune");

    let (ok, out) = run(&["--prune"]);
    assert!(ok && out.contains("0 sizes made, 8 old files removed"), "display and large go: {out}");
    assert!(files().iter().all(|f| f.contains("/thumb-") || f.contains("/wide-")), "{:?}", files());
    assert_eq!(files().len(), 8);
}

backend_tests!(a_size_added_later_is_made_once_on_first_request, regenerate_makes_what_is_missing_and_prunes);
