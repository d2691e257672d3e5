//! The web foundation: health, static files, error pages, headers.

mod common;

use common::{Backend, TestApp};
use reqwest::StatusCode;

backend_tests!(
    health_and_readiness,
    static_files_are_hashed_compressed_and_cached,
    static_files_and_media_answer_byte_ranges,
    friendly_error_pages,
    security_headers_everywhere
);

async fn health_and_readiness(b: Backend) {
    let app = TestApp::spawn(b).await;
    assert_eq!(app.get("/healthz").await.status, StatusCode::OK);
    assert_eq!(app.get("/readyz").await.status, StatusCode::OK);
    app.state.db.close().await;
    let down = app.get("/readyz").await;
    assert_eq!(down.status, StatusCode::SERVICE_UNAVAILABLE);
    let page = app.get("/").await;
    assert_eq!(page.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(page.text.contains("Back soon"), "{}", page.text);
}

async fn static_files_are_hashed_compressed_and_cached(b: Backend) {
    let app = TestApp::spawn(b).await;
    let home = app.get("/").await;
    let start = home.text.find("/static/css/coterie.").expect("the page links the hashed stylesheet");
    let url: String = home.text[start..].chars().take_while(|c| *c != '"').collect();
    let plain = reqwest::Client::builder().no_gzip().no_brotli().build().unwrap();
    let css = plain.get(app.url(&url)).send().await.unwrap();
    assert_eq!(css.status(), StatusCode::OK);
    assert_eq!(css.headers()["cache-control"], "public, max-age=31536000, immutable");
    assert!(css.headers()["content-type"].to_str().unwrap().starts_with("text/css"));
    let etag = css.headers()["etag"].clone();
    let size = css.bytes().await.unwrap().len();
    for coding in ["br", "gzip"] {
        let packed = plain.get(app.url(&url)).header("accept-encoding", coding).send().await.unwrap();
        assert_eq!(packed.headers()["content-encoding"], coding);
        assert!(packed.bytes().await.unwrap().len() < size);
    }
    let again = plain.get(app.url(&url)).header("if-none-match", etag).send().await.unwrap();
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(app.get("/static/css/missing.css").await.status, StatusCode::NOT_FOUND);
    assert_eq!(app.get("/static/../Cargo.toml").await.status, StatusCode::NOT_FOUND);
}

async fn static_files_and_media_answer_byte_ranges(b: Backend) {
    let app = TestApp::spawn(b).await;
    let home = app.get("/").await;
    let start = home.text.find("/static/css/coterie.").unwrap();
    let css: String = home.text[start..].chars().take_while(|c| *c != '"').collect();
    let photo: Vec<u8> = (0..=255u8).cycle().take(300_000).collect();
    app.state.media.put("photos/1/0123abcd-large.jpg", photo.clone().into()).await.unwrap();
    let plain = reqwest::Client::new();
    for path in [css.as_str(), "/media/photos/1/0123abcd-large.jpg"] {
        let whole = plain.get(app.url(path)).send().await.unwrap();
        assert_eq!(whole.headers()["accept-ranges"], "bytes", "{path}");
        let etag = whole.headers()["etag"].clone();
        let full = whole.bytes().await.unwrap();
        if path.starts_with("/media/") {
            assert_eq!(full, photo, "the stored file");
        }
        let len = full.len();
        let part = plain.get(app.url(path)).header("range", "bytes=10-19").send().await.unwrap();
        assert_eq!(part.status(), StatusCode::PARTIAL_CONTENT, "{path}");
        assert_eq!(part.headers()["content-range"].to_str().unwrap(), format!("bytes 10-19/{len}"));
        assert_eq!(part.bytes().await.unwrap(), full.slice(10..20));
        let tail = plain.get(app.url(path)).header("range", "bytes=-5").send().await.unwrap();
        assert_eq!(tail.bytes().await.unwrap(), full.slice(len - 5..));
        let past = plain.get(app.url(path)).header("range", format!("bytes={len}-")).send().await.unwrap();
        assert_eq!(past.status(), StatusCode::RANGE_NOT_SATISFIABLE);
        assert_eq!(past.headers()["content-range"].to_str().unwrap(), format!("bytes */{len}"));
        // A range of another version gets the current file whole.
        let changed = plain.get(app.url(path)).header("range", "bytes=0-9").header("if-range", "\"old\"").send().await.unwrap();
        assert_eq!(changed.status(), StatusCode::OK);
        let same = plain.get(app.url(path)).header("range", "bytes=0-9").header("if-range", etag).send().await.unwrap();
        assert_eq!(same.status(), StatusCode::PARTIAL_CONTENT);
    }
    assert_eq!(app.get("/media/photos/1/missing.jpg").await.status, StatusCode::NOT_FOUND);
}

async fn friendly_error_pages(b: Backend) {
    let app = TestApp::spawn(b).await;
    let missing = app.get("/no/such/page").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert!(missing.header("content-type").starts_with("text/html"));
    assert!(missing.text.contains("Page not found"));
    assert!(missing.text.contains("</html>"), "the full themed page");
    // Members keep their own header on error pages.
    app.member("ava", "velvet-harbor-lantern-91", "member").await;
    app.login("ava", "velvet-harbor-lantern-91").await;
    let mine = app.get("/no/such/page").await;
    assert_eq!(mine.status, StatusCode::NOT_FOUND);
    assert!(mine.text.contains("/u/ava"), "the member menu is on the error page");
    let wrong_method = app.client.delete(app.url("/members")).send().await.unwrap();
    assert_eq!(wrong_method.status(), StatusCode::FORBIDDEN, "unsafe methods need a token first");
}

async fn security_headers_everywhere(b: Backend) {
    let app = TestApp::spawn(b).await;
    for path in ["/", "/accounts/login", "/nope"] {
        let page = app.get(path).await;
        let csp = page.header("content-security-policy");
        assert!(csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"), "{path}: {csp}");
        assert!(csp.contains("frame-ancestors 'none'"));
        assert_eq!(page.header("x-content-type-options"), "nosniff");
        assert!(!page.header("referrer-policy").is_empty());
        assert!(!page.header("x-request-id").is_empty());
    }
}

mod theme {
    use super::common::{Backend, TestApp};

    /// A theme folder overrides any template or static file; the rest falls back.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn theme_folder_overrides_templates_and_static_files() {
        let theme = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(theme.path().join("templates/errors")).unwrap();
        std::fs::create_dir_all(theme.path().join("static/css")).unwrap();
        std::fs::write(
            theme.path().join("templates/errors/error.html"),
            "<!doctype html><title>{{ status }}</title><h1>Maison Élan: {{ title }}</h1>",
        )
        .unwrap();
        std::fs::write(theme.path().join("static/css/coterie.css"), "body { color: rebeccapurple }").unwrap();
        let dir = theme.path().to_path_buf();
        let app = TestApp::with(Backend::Sqlite).config(move |c| c.theme_dir = Some(dir)).spawn().await;
        let missing = app.get("/nowhere").await;
        assert!(missing.text.contains("Maison Élan: Page not found"), "{}", missing.text);
        let home = app.get("/").await;
        assert!(home.text.contains("New members"), "templates the theme lacks come from the default");
        let start = home.text.find("/static/css/coterie.").unwrap();
        let url: String = home.text[start..].chars().take_while(|c| *c != '"').collect();
        assert!(app.get(&url).await.text.contains("rebeccapurple"));
    }
}
