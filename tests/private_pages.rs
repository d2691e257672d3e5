//! Every page that depends on who is logged in is private: `no-store`, so no
//! browser cache, proxy or CDN keeps a member's page, and never served from
//! the page cache. The route list is walked as a member, a moderator and
//! staff; a route added for members belongs here.

mod common;

use common::{Backend, TestApp};
use reqwest::StatusCode;

const PW: &str = "velvet-harbor-lantern-91";

backend_tests!(
    member_pages_are_never_stored,
    operators_read_metrics_and_staff_read_the_status_page,
    database_statements_are_counted_and_timed
);

/// A site with a member's topic, blog post and comment; returns the paths to walk.
async fn site(app: &TestApp) -> Vec<String> {
    app.forums(&[("general", "public")]).await;
    let ava = app.client_for(app.member("ava", PW, "member").await).await;
    let topic = app.post_with(&ava, "/forums/general/new", "/forums/general/new", &[("title", "Linen care"), ("body", "Cold wash.")]).await;
    let topic = topic.location().to_string();
    app.post_with(&ava, "/blog/new", "/blog/new", &[("title", "Capsule notes"), ("body", "Ten pieces."), ("action", "publish")]).await;
    let post_id = app.count("SELECT id FROM blog_posts").await;
    app.post_with(&ava, "/blog/ava/capsule-notes", &format!("/comments/blog_post/{post_id}"), &[("body", "A first comment."), ("parent", "")]).await;
    let comment = app.count("SELECT id FROM comments").await;
    let first_post = app.count("SELECT MIN(id) FROM forum_posts").await;
    [
        "/", "/members", "/u/ava", "/accounts/settings", "/blog", "/blog?sort=hot", "/blog?sort=top&period=week", "/blog/new", "/blog/ava",
        "/blog/ava/capsule-notes", "/blog/ava/capsule-notes/edit", "/forums", "/forums/general", "/forums/general/new", "/forums/settings",
        "/forums/log", "/forums/manage", "/status",
    ]
    .iter()
    .map(|p| p.to_string())
    .chain([topic.clone(), format!("{topic}?quote={first_post}"), format!("/comments/{comment}"), format!("/comments/{comment}/edit"), format!("/forums/p/{first_post}/edit")])
    .collect()
}

async fn member_pages_are_never_stored(b: Backend) {
    let app = TestApp::spawn(b).await;
    let paths = site(&app).await;
    let ava = app.client_for(coterie::accounts::store::by_username(&app.state.db, "ava").await.unwrap().unwrap().id).await;
    let nina = app.client_for(app.member("nina", PW, "moderator").await).await;
    let sam = app.client_for(app.member("sam", PW, "staff").await).await;
    for (who, client) in [("ava", &ava), ("nina", &nina), ("sam", &sam)] {
        for path in &paths {
            let page = app.get_with(client, path).await;
            assert_eq!(page.status == StatusCode::OK, may_open(who, path), "{who} {path}: {}", page.status);
            assert_eq!(page.header("cache-control"), "private, no-store", "{who} {path}");
            assert!(page.headers.get("x-cache").is_none(), "{who} {path} came from the page cache");
            assert!(page.headers.get("etag").is_none(), "{who} {path} has a validator");
        }
    }
}

/// Who may open what: ava is a member and the author of everything, nina a
/// moderator, sam staff.
fn may_open(who: &str, path: &str) -> bool {
    match path {
        "/forums/log" => who != "ava",
        "/forums/manage" | "/status" => who == "sam",
        p if p.ends_with("/edit") && !p.starts_with("/forums/") => who == "ava",
        _ => true,
    }
}

async fn operators_read_metrics_and_staff_read_the_status_page(b: Backend) {
    let app = TestApp::with(b).config(|c| c.metrics.token = "scrape-token-for-tests".into()).spawn().await;
    let paths = site(&app).await;
    for path in &paths[..3] {
        app.get(path).await;
        app.get(path).await;
    }
    // From this machine (an allowed address).
    let metrics = app.get("/metrics").await;
    assert_eq!(metrics.status, StatusCode::OK);
    assert!(metrics.header("content-type").starts_with("text/plain; version=0.0.4"));
    for needle in [
        "coterie_requests_total{route=\"/\",status=\"200\"}",
        "coterie_requests_total{route=\"/u/{username}\",status=\"200\"}",
        "coterie_request_seconds_bucket{route=\"/members\",le=\"+Inf\"}",
        "coterie_page_cache_total{outcome=\"hit\"}",
        "coterie_cache_hits_total{backend=\"memory\"}",
        "coterie_db_connections{pool=\"read\",state=\"open\"}",
        "coterie_image_jobs_running",
        "# TYPE coterie_db_queries_total counter",
        "# TYPE coterie_db_query_seconds histogram",
    ] {
        assert!(metrics.text.contains(needle), "no {needle} in\n{}", metrics.text);
    }
    let home_hits: u64 = metrics
        .text
        .lines()
        .find_map(|l| l.strip_prefix("coterie_requests_total{route=\"/\",status=\"200\"} "))
        .unwrap()
        .parse()
        .unwrap();
    assert!(home_hits >= 2, "the home page was asked for twice, counted {home_hits}");
    // From an address not allowed: only with the token.
    let closed = TestApp::with(b)
        .config(|c| {
            c.metrics.allow = vec![];
            c.metrics.token = "scrape-token-for-tests".into();
        })
        .spawn()
        .await;
    assert_eq!(closed.get("/metrics").await.status, StatusCode::NOT_FOUND);
    let with = |token: &str| reqwest::Client::new().get(closed.url("/metrics")).header("authorization", format!("Bearer {token}")).send();
    assert_eq!(with("scrape-token-for-tests").await.unwrap().status(), StatusCode::OK);
    assert_eq!(with("wrong-token").await.unwrap().status(), StatusCode::NOT_FOUND);
    // The status page is for staff.
    let sam = app.client_for(app.member("sam", PW, "staff").await).await;
    let status = app.get_with(&sam, "/status").await;
    assert_eq!(status.status, StatusCode::OK);
    assert!(status.text.contains("Requests per second") && status.text.contains("page cache"), "{}", status.text);
    assert!(status.text.contains("Database queries per second") && status.text.contains(" ms each;"), "{}", status.text);
    let ava = app.client_for(app.member("ben", PW, "member").await).await;
    assert_eq!(app.get_with(&ava, "/status").await.status, StatusCode::FORBIDDEN);
    assert_eq!(app.get("/status").await.status, StatusCode::SEE_OTHER);
}

/// The statement figures in a scrape: (coterie_db_queries_total, the
/// histogram's _count, its _sum, its buckets in order, +Inf last).
struct Statements {
    total: u64,
    count: u64,
    sum: f64,
    buckets: Vec<u64>,
}

fn statements(scrape: &str, backend: &str) -> Statements {
    let labels = format!("{{backend=\"{backend}\"}}");
    let value = |series: &str| -> &str {
        scrape
            .lines()
            .find_map(|l| l.strip_prefix(series).and_then(|rest| rest.strip_prefix(' ')))
            .unwrap_or_else(|| panic!("no {series} in\n{scrape}"))
    };
    let bucket_prefix = format!("coterie_db_query_seconds_bucket{{backend=\"{backend}\",le=");
    Statements {
        total: value(&format!("coterie_db_queries_total{labels}")).parse().unwrap(),
        count: value(&format!("coterie_db_query_seconds_count{labels}")).parse().unwrap(),
        sum: value(&format!("coterie_db_query_seconds_sum{labels}")).parse().unwrap(),
        buckets: scrape.lines().filter(|l| l.starts_with(&bucket_prefix)).map(|l| l.rsplit(' ').next().unwrap().parse().unwrap()).collect(),
    }
}

/// Every statement is counted and timed, whoever runs it: the app's
/// requests and the test's own, on each backend.
async fn database_statements_are_counted_and_timed(b: Backend) {
    let app = TestApp::spawn(b).await;
    let backend = match b {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgresql",
        Backend::Mysql => "mysql",
    };
    let before = statements(&app.get("/metrics").await.text, backend);
    assert!(before.total > 0, "the migrations ran statements already");
    // 25 statements run here, one insert for the member and one for the
    // session, and at least one (the session's) for each member page.
    for _ in 0..25 {
        app.count("SELECT COUNT(*) FROM users").await;
    }
    let ava = app.client_for(app.member("ava", PW, "member").await).await;
    for _ in 0..10 {
        let page = app.get_with(&ava, "/members").await;
        assert_eq!(page.status, StatusCode::OK);
        assert!(page.text.contains("ava"));
    }
    let after = statements(&app.get("/metrics").await.text, backend);
    assert!(after.total >= before.total + 25 + 2 + 10, "{} statements before, {} after", before.total, after.total);
    assert_eq!(after.count, after.total, "the histogram counts every statement the counter does");
    assert!(after.sum > before.sum, "the statements took time: {} s before, {} s after", before.sum, after.sum);
    assert_eq!(after.buckets.len(), 13, "12 bounds and +Inf");
    assert!(after.buckets.windows(2).all(|w| w[0] <= w[1]), "cumulative buckets: {:?}", after.buckets);
    assert_eq!(*after.buckets.last().unwrap(), after.count);
}
