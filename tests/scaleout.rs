//! The site scaled out, on real parts: two `coterie serve` processes behind
//! the real nginx (deploy/nginx.conf) on PostgreSQL + Redis and on MySQL +
//! memcached. They must behave as one site, survive losing a process, the
//! cache server or the database, and see each visitor's real address.

mod common;
#[path = "scaleout/cluster.rs"]
mod cluster;
#[path = "scaleout/gate.rs"]
mod gate;

use std::collections::HashMap;
use std::net::IpAddr;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cluster::{browser, get, login, post, try_post, Cluster, Proc};
use common::Backend;
use reqwest::StatusCode;
use sqlx::{Connection, Row};

const PW: &str = "velvet-harbor-lantern-91";

fn from(ip: &str) -> IpAddr {
    ip.parse().unwrap()
}

/// The pairs the issue names: PostgreSQL with Redis, MySQL with memcached.
#[derive(Clone, Copy, Debug)]
enum Stack {
    PostgresRedis,
    MysqlMemcached,
}

impl Stack {
    fn backend(self) -> Backend {
        match self {
            Stack::PostgresRedis => Backend::Postgres,
            Stack::MysqlMemcached => Backend::Mysql,
        }
    }

    fn cache_var(self) -> &'static str {
        match self {
            Stack::PostgresRedis => "COTERIE_TEST_REDIS_URL",
            Stack::MysqlMemcached => "COTERIE_TEST_MEMCACHED_URL",
        }
    }

    /// Everything this stack needs is here; otherwise says what is missing.
    fn available(self) -> bool {
        if !cluster::nginx_available() || !common::available(self.backend()) {
            return false;
        }
        if std::env::var(self.cache_var()).map_or(true, |v| v.is_empty()) {
            eprintln!("SKIPPED on {self:?}: set {} to run it", self.cache_var());
            return false;
        }
        true
    }

    /// The shared cache server, under a namespace of this test's own.
    fn cache_url(self) -> String {
        let url = std::env::var(self.cache_var()).unwrap();
        format!("{url}?namespace=s{}x{}:", std::process::id(), rand::random::<u32>())
    }

    /// `host:port` of the database server.
    fn database_server(self) -> String {
        let url = common::server_url(self.backend()).unwrap();
        let rest = url.split_once('@').map_or(url.as_str(), |(_, r)| r);
        rest.split('/').next().unwrap().to_string()
    }
}

/// The value bound to a query's one `?`.
enum Arg<'a> {
    Text(&'a str),
    Id(i64),
}

/// One number from the site's database.
async fn count(database_url: &str, sql: &str, arg: Arg<'_>) -> i64 {
    sqlx::any::install_default_drivers();
    let mut conn = sqlx::AnyConnection::connect(database_url).await.unwrap();
    let sql = if database_url.starts_with("postgres") { sql.replace('?', "$1") } else { sql.to_string() };
    let query = match arg {
        Arg::Text(text) => sqlx::query(&sql).bind(text.to_string()),
        Arg::Id(id) => sqlx::query(&sql).bind(id),
    };
    query.fetch_one(&mut conn).await.unwrap().get::<i64, _>(0)
}

/// Bob's published post; returns (its page path, its id).
async fn bobs_post(site: &Cluster, base: &str, title: &str) -> (String, i64) {
    let bob = browser(from("127.0.0.1"));
    login(&bob, base, "bob", PW).await;
    let new = format!("{base}/blog/new");
    let done = post(&bob, &new, &new, &[("title", title), ("body", "Linen, layered."), ("action", "publish")]).await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.text);
    let path = done.header("location").to_string();
    let id = count(&site.database_url, "SELECT MAX(id) FROM blog_posts WHERE title = ?", Arg::Text(title)).await;
    (path, id)
}

async fn two_nodes_act_as_one(stack: Stack) {
    if !stack.available() {
        return;
    }
    let database = common::fresh_database(stack.backend()).await;
    let site = Cluster::start(&database, &stack.cache_url(), 2, &[]).await;
    for name in ["alice", "bob"] {
        site.member(name, PW);
    }
    let voters: Vec<String> = (0..8).map(|i| format!("voter{i}")).collect();
    for name in &voters {
        site.member(name, PW);
    }
    let (one, two) = (site.node_url(0, ""), site.node_url(1, ""));
    let (path, id) = bobs_post(&site, &two, "Autumn layers").await;

    // A visitor reads the post through the first process, which caches it.
    let visitor = browser(from("127.0.0.1"));
    get(&visitor, &site.node_url(0, &path)).await;
    let cached = get(&visitor, &site.node_url(0, &path)).await;
    assert_eq!(cached.header("x-cache"), "HIT", "the first process serves the page from the shared cache");
    assert_eq!(cached.score(), 0);

    // Alice logs in through the first process, then votes and comments through the second.
    let alice = browser(from("127.0.0.1"));
    login(&alice, &one, "alice", PW).await;
    let vote = post(&alice, &site.node_url(1, &path), &site.node_url(1, &format!("/votes/blog_post/{id}")), &[("value", "1")]).await;
    assert_eq!(vote.status, StatusCode::SEE_OTHER, "{}", vote.text);
    let comment = post(&alice, &site.node_url(1, &path), &site.node_url(1, &format!("/comments/blog_post/{id}")), &[("body", "The rust scarf is perfect.")]).await;
    assert_eq!(comment.status, StatusCode::SEE_OTHER, "{}", comment.text);

    // Read through the first: nothing stale, for the visitor or for Alice.
    let fresh = get(&visitor, &site.node_url(0, &path)).await;
    assert_eq!(fresh.score(), 1, "the vote made through the second process shows on the first");
    assert!(fresh.text.contains("The rust scarf is perfect."), "the comment shows on the first process");
    let mine = get(&alice, &site.node_url(0, &path)).await;
    assert!(mine.text.contains("alice"), "Alice's session holds on the first process");
    assert_eq!(mine.header("cache-control"), "private, no-store");
    for base in [&one, &two, &site.url("")] {
        let settings = get(&alice, &format!("{base}/accounts/settings")).await;
        assert_eq!(settings.status, StatusCode::OK, "the session holds at {base}");
        assert!(settings.text.contains("alice@example.com"), "{base}");
    }

    // Eight members vote at once through nginx, which spreads them over both processes.
    let mut votes = Vec::new();
    for name in voters.clone() {
        let (site_url, path) = (site.url(""), path.clone());
        votes.push(tokio::spawn(async move {
            let member = browser(from("127.0.0.1"));
            login(&member, &site_url, &name, PW).await;
            let page = format!("{site_url}{path}");
            let done = post(&member, &page, &format!("{site_url}/votes/blog_post/{id}"), &[("value", "1")]).await;
            assert_eq!(done.status, StatusCode::SEE_OTHER, "{name}: {}", done.text);
        }));
    }
    for v in votes {
        v.await.unwrap();
    }
    let score = count(&database, "SELECT score FROM blog_posts WHERE id = ?", Arg::Id(id)).await;
    assert_eq!(score, 9, "every vote counted exactly once");
    for i in 0..2 {
        assert_eq!(get(&visitor, &site.node_url(i, &path)).await.score(), 9, "process {i} shows the exact score");
    }
    let log = site.node_log(0) + &site.node_log(1);
    assert!(!log.contains("ERROR"), "the app processes logged errors:\n{log}");
}

/// nginx passes the client's address; the app trusts it only from nginx.
async fn rate_limits_see_the_real_address(stack: Stack) {
    if !stack.available() {
        return;
    }
    let database = common::fresh_database(stack.backend()).await;
    let site = Cluster::start(&database, &stack.cache_url(), 2, &[("COTERIE_RATE_LIMITS_AUTH_PER_IP", "3")]).await;
    let login = site.url("/accounts/login");
    let mallory = browser(from("127.0.0.2"));
    for _ in 0..3 {
        assert_ne!(failed_login(&mallory, &login, None).await, StatusCode::TOO_MANY_REQUESTS);
    }
    assert_eq!(failed_login(&mallory, &login, None).await, StatusCode::TOO_MANY_REQUESTS, "the fourth attempt from one address is refused");
    // A forged X-Forwarded-For does not get Mallory a fresh allowance: nginx sets the header.
    assert_eq!(failed_login(&mallory, &login, Some("203.0.113.9")).await, StatusCode::TOO_MANY_REQUESTS);

    // Another visitor through the same nginx is not limited by Mallory's attempts.
    let other = browser(from("127.0.0.3"));
    assert_ne!(failed_login(&other, &login, None).await, StatusCode::TOO_MANY_REQUESTS);

    // Straight to an app process from an address that is not a trusted proxy:
    // the header is ignored and the peer's own address counts.
    let direct = browser(from("127.0.0.4"));
    let url = site.node_url(0, "/accounts/login");
    for _ in 0..3 {
        assert_ne!(failed_login(&direct, &url, Some("127.0.0.3")).await, StatusCode::TOO_MANY_REQUESTS);
    }
    assert_eq!(failed_login(&direct, &url, None).await, StatusCode::TOO_MANY_REQUESTS, "counted under 127.0.0.4, not the forged address");
}

/// A log-in with a wrong password, optionally claiming to be forwarded for `forwarded_for`.
async fn failed_login(client: &reqwest::Client, url: &str, forwarded_for: Option<&str>) -> StatusCode {
    let token = get(client, url).await.csrf();
    // A new name each time, so only the per-address limit is reached.
    let name = format!("nobody{}", rand::random::<u32>());
    let mut request = client.post(url).form(&[("csrf_token", token.as_str()), ("login", name.as_str()), ("password", "wrong-password-123")]);
    if let Some(address) = forwarded_for {
        request = request.header("x-forwarded-for", address);
    }
    request.send().await.unwrap().status()
}

/// SIGKILL one process in the middle of a burst of comments through nginx:
/// nginx sends the rest to the other; every acknowledged comment is stored
/// once, and nothing is stored twice.
async fn losing_a_process_loses_no_acknowledged_write(stack: Stack) {
    if !stack.available() {
        return;
    }
    let database = common::fresh_database(stack.backend()).await;
    let mut site = Cluster::start(&database, &stack.cache_url(), 2, &[("COTERIE_COMMENTS_PER_WINDOW", "100000")]).await;
    site.member("alice", PW);
    site.member("bob", PW);
    let (path, id) = bobs_post(&site, &site.url(""), "Burst").await;
    let alice = browser(from("127.0.0.1"));
    login(&alice, &site.url(""), "alice", PW).await;
    let token = get(&alice, &site.url(&path)).await.csrf();

    const TOTAL: usize = 160;
    const WORKERS: usize = 8;
    let next = Arc::new(AtomicUsize::new(0));
    let acknowledged = Arc::new(AtomicUsize::new(0));
    let action = site.url(&format!("/comments/blog_post/{id}"));
    let mut workers = Vec::new();
    for _ in 0..WORKERS {
        let (alice, token, action, next, acknowledged) = (alice.clone(), token.clone(), action.clone(), next.clone(), acknowledged.clone());
        workers.push(tokio::spawn(async move {
            let mut outcomes = Vec::new();
            loop {
                let n = next.fetch_add(1, Ordering::SeqCst);
                if n >= TOTAL {
                    return outcomes;
                }
                let body = format!("Burst comment number {n:04}");
                let status = try_post(&alice, &action, &token, &[("body", &body)]).await.map(|a| a.status).ok();
                if status == Some(StatusCode::SEE_OTHER) {
                    acknowledged.fetch_add(1, Ordering::SeqCst);
                }
                outcomes.push((n, body, status));
            }
        }));
    }
    while acknowledged.load(Ordering::SeqCst) < TOTAL / 4 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    site.kill_node(1);
    let mut outcomes = Vec::new();
    for w in workers {
        outcomes.extend(w.await.unwrap());
    }
    outcomes.sort_by_key(|o| o.0);

    let mut failed = Vec::new();
    for (n, body, status) in &outcomes {
        let stored = count(&database, "SELECT COUNT(*) FROM comments WHERE body = ?", Arg::Text(body)).await;
        assert!(stored <= 1, "comment {n} stored {stored} times");
        if *status == Some(StatusCode::SEE_OTHER) {
            assert_eq!(stored, 1, "acknowledged comment {n} is in the database");
        } else {
            failed.push((*n, *status));
        }
    }
    // Only requests in flight when the process died may fail; once nginx has
    // seen it gone, everything goes to the survivor.
    assert!(failed.len() <= 2 * WORKERS, "too many failed requests after failover: {failed:?}");
    assert!(failed.iter().all(|(n, _)| *n < TOTAL / 2 + 2 * WORKERS), "late requests failed: {failed:?}");
    let rows = count(&database, "SELECT COUNT(*) FROM comments WHERE target_id = ?", Arg::Id(id)).await;
    let counter = count(&database, "SELECT comment_count FROM blog_posts WHERE id = ?", Arg::Id(id)).await;
    assert_eq!(counter, rows, "the comment counter matches the rows");
    assert!(rows as usize >= TOTAL - failed.len());
}

/// A cache server of the test's own, so it can be stopped.
fn cache_server(stack: Stack, port: u16) -> Proc {
    let mut command = match stack {
        Stack::PostgresRedis => {
            let mut c = Command::new("redis-server");
            c.args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]);
            c
        }
        Stack::MysqlMemcached => {
            let mut c = Command::new("memcached");
            c.args(["-l", "127.0.0.1", "-p", &port.to_string(), "-U", "0", "-m", "64", "-u", "root"]);
            c
        }
    };
    let child = command.stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null()).spawn().expect("the cache server starts");
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "the cache server did not listen on {port}");
        std::thread::sleep(Duration::from_millis(20));
    }
    Proc(child)
}

/// Stop the cache server under load: pages keep coming from the database,
/// and caching resumes when it returns, with no stale page.
async fn cache_server_outage(stack: Stack) {
    if !stack.available() {
        return;
    }
    let port = cluster::free_port();
    let mut cache = cache_server(stack, port);
    let scheme = match stack {
        Stack::PostgresRedis => "redis",
        Stack::MysqlMemcached => "memcache",
    };
    let database = common::fresh_database(stack.backend()).await;
    let site = Cluster::start(&database, &format!("{scheme}://127.0.0.1:{port}"), 2, &[]).await;
    site.member("alice", PW);
    site.member("bob", PW);
    let (path, id) = bobs_post(&site, &site.url(""), "Outage").await;
    let visitor = browser(from("127.0.0.1"));
    let page = site.node_url(0, &path);
    get(&visitor, &page).await;
    assert_eq!(get(&visitor, &page).await.header("x-cache"), "HIT");

    // Visitors keep reading through nginx the whole time.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut load = Vec::new();
    for worker in 0..4 {
        let (stop, url) = (stop.clone(), site.url(if worker % 2 == 0 { &path } else { "/blog" }));
        load.push(tokio::spawn(async move {
            let client = browser(from("127.0.0.1"));
            let mut statuses: HashMap<u16, usize> = HashMap::new();
            while !stop.load(Ordering::SeqCst) {
                let status = client.get(&url).send().await.map(|r| r.status().as_u16()).unwrap_or(0);
                *statuses.entry(status).or_default() += 1;
            }
            statuses
        }));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    cache.kill();
    let alice = browser(from("127.0.0.1"));
    login(&alice, &site.node_url(1, ""), "alice", PW).await;
    let comment = post(&alice, &site.node_url(1, &path), &site.node_url(1, &format!("/comments/blog_post/{id}")), &[("body", "Written while the cache was away.")]).await;
    assert_eq!(comment.status, StatusCode::SEE_OTHER, "{}", comment.text);
    let meanwhile = get(&visitor, &page).await;
    assert!(meanwhile.text.contains("Written while the cache was away."));

    let _back = cache_server(stack, port);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let answer = get(&visitor, &page).await;
        assert_eq!(answer.status, StatusCode::OK);
        assert!(answer.text.contains("Written while the cache was away."), "no stale page once the cache is back");
        if answer.header("x-cache") == "HIT" {
            break;
        }
        assert!(Instant::now() < deadline, "caching did not resume after the cache server came back");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    stop.store(true, Ordering::SeqCst);
    for worker in load {
        let statuses = worker.await.unwrap();
        assert_eq!(statuses.keys().collect::<Vec<_>>(), vec![&200], "every read under load succeeded: {statuses:?}");
    }
    // And invalidation works again: a vote through the second process shows on the first.
    let vote = post(&alice, &site.node_url(1, &path), &site.node_url(1, &format!("/votes/blog_post/{id}")), &[("value", "1")]).await;
    assert_eq!(vote.status, StatusCode::SEE_OTHER);
    assert_eq!(get(&visitor, &page).await.score(), 1);
}

/// Take the database away: pages answer a friendly 503 and /readyz fails;
/// when it returns the site recovers without a restart.
async fn database_outage(stack: Stack) {
    if !stack.available() {
        return;
    }
    let database = common::fresh_database(stack.backend()).await;
    let server = stack.database_server();
    let gate = gate::Gate::to(&server).await;
    let through_gate = database.replacen(&server, &format!("127.0.0.1:{}", gate.port), 1);
    let site = Cluster::start(&through_gate, &stack.cache_url(), 2, &[]).await;
    site.member("alice", PW);
    let alice = browser(from("127.0.0.1"));
    login(&alice, &site.url(""), "alice", PW).await;
    assert_eq!(get(&alice, &site.url("/accounts/settings")).await.status, StatusCode::OK);

    gate.cut();
    let ready = get(&alice, &site.url("/readyz")).await;
    assert_eq!(ready.status, StatusCode::SERVICE_UNAVAILABLE);
    for i in 0..2 {
        let settings = get(&alice, &site.node_url(i, "/accounts/settings")).await;
        assert_eq!(settings.status, StatusCode::SERVICE_UNAVAILABLE, "process {i}: {}", settings.text);
        assert!(settings.text.contains("Back soon"), "a friendly page: {}", settings.text);
        assert_eq!(settings.header("cache-control"), "private, no-store");
    }
    let through_nginx = get(&alice, &site.url("/accounts/settings")).await;
    assert_eq!(through_nginx.status, StatusCode::SERVICE_UNAVAILABLE, "nginx passes the app's 503 on");
    assert!(through_nginx.text.contains("Back soon"));

    gate.restore();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut answers: HashMap<usize, StatusCode> = HashMap::new();
    loop {
        for i in 0..2 {
            answers.insert(i, get(&alice, &site.node_url(i, "/readyz")).await.status);
        }
        if answers.values().all(|s| *s == StatusCode::OK) {
            break;
        }
        assert!(Instant::now() < deadline, "the site did not recover: {answers:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    for i in 0..2 {
        let settings = get(&alice, &site.node_url(i, "/accounts/settings")).await;
        assert_eq!(settings.status, StatusCode::OK, "process {i} recovered without a restart");
        assert!(settings.text.contains("alice@example.com"));
    }
}

/// nginx serves /static and media itself, with long cache lifetimes, and
/// never the private originals.
async fn nginx_serves_files(stack: Stack) {
    if !stack.available() {
        return;
    }
    let database = common::fresh_database(stack.backend()).await;
    let site = Cluster::start(&database, &stack.cache_url(), 1, &[]).await;
    let visitor = browser(from("127.0.0.1"));
    let home = get(&visitor, &site.url("/")).await;
    let css = home.text.split('"').find(|s| s.starts_with("/static/css/") && s.ends_with(".css")).expect("a stylesheet link").to_string();
    let answer = visitor.get(site.url(&css)).header("accept-encoding", "gzip").send().await.unwrap();
    assert_eq!(answer.status(), StatusCode::OK);
    assert_eq!(answer.headers()["cache-control"], "public, max-age=31536000, immutable");
    assert_eq!(answer.headers()["content-encoding"], "gzip", "the .gz copy is served");
    assert_eq!(answer.headers()["server"].to_str().unwrap().split('/').next(), Some("nginx"));

    std::fs::create_dir_all(site.media_dir().join("photos/1")).unwrap();
    std::fs::write(site.media_dir().join("photos/1/ab12-640.webp"), b"RIFF....WEBP").unwrap();
    std::fs::create_dir_all(site.media_dir().join("originals/photos/1")).unwrap();
    std::fs::write(site.media_dir().join("originals/photos/1/ab12"), b"secret exif").unwrap();
    let media = get(&visitor, &site.url("/media/photos/1/ab12-640.webp")).await;
    assert_eq!(media.status, StatusCode::OK);
    assert_eq!(media.header("content-type"), "image/webp");
    assert_eq!(media.header("cache-control"), "public, max-age=31536000, immutable");
    assert_eq!(get(&visitor, &site.url("/media/originals/photos/1/ab12")).await.status, StatusCode::NOT_FOUND);
    assert_eq!(get(&visitor, &site.url("/media/photos/1/missing.webp")).await.status, StatusCode::NOT_FOUND);
}

macro_rules! stacks {
    ($($name:ident),* $(,)?) => {
        mod postgres_redis { $( #[tokio::test(flavor = "multi_thread", worker_threads = 2)] async fn $name() { super::$name(super::Stack::PostgresRedis).await } )* }
        mod mysql_memcached { $( #[tokio::test(flavor = "multi_thread", worker_threads = 2)] async fn $name() { super::$name(super::Stack::MysqlMemcached).await } )* }
    };
}

stacks!(
    two_nodes_act_as_one,
    rate_limits_see_the_real_address,
    losing_a_process_loses_no_acknowledged_write,
    cache_server_outage,
    database_outage,
    nginx_serves_files,
);
