//! Two app processes sharing one database and one cache server behave as
//! one site: sessions and rate limits hold across them.

mod common;

use common::{Backend, TestApp};
use reqwest::StatusCode;

const PW: &str = "velvet-harbor-lantern-91";

/// The cache server's URL with a namespace of this test's own, or None (and
/// a printed reason) when the server is not configured.
fn cache_url(var: &str) -> Option<String> {
    match std::env::var(var).ok().filter(|v| !v.is_empty()) {
        Some(url) => Some(format!("{url}?namespace=t{}:", std::process::id())),
        None => {
            eprintln!("SKIPPED: set {var} to run this test");
            None
        }
    }
}

async fn two_processes(cache: String) -> (TestApp, TestApp) {
    let first_cache = cache.clone();
    let first = TestApp::with(Backend::Sqlite)
        .config(move |c| {
            c.cache_url = first_cache;
            c.rate_limits.login_per_account = 5;
        })
        .spawn()
        .await;
    let database = format!("sqlite://{}/coterie.db", first.data.path().display());
    let media = first.state.config.media_url();
    let second = TestApp::with(Backend::Sqlite)
        .config(move |c| {
            c.cache_url = cache;
            c.database_url = database;
            c.media_url = media;
            c.rate_limits.login_per_account = 5;
        })
        .spawn()
        .await;
    (first, second)
}

async fn shared_limits_and_sessions(var: &str) {
    let Some(url) = cache_url(var) else { return };
    let (one, two) = two_processes(url).await;
    one.member("ava", PW, "member").await;
    // A session made through one process is good on the other.
    one.login("ava", PW).await;
    let cookie = one.client.get(one.url("/accounts/settings")).send().await.unwrap();
    assert_eq!(cookie.status(), StatusCode::OK);
    // Failed log-ins on both processes count against one limit.
    let attacker_one = common::client();
    let attacker_two = common::client();
    for _ in 0..2 {
        assert_eq!(one.login_with(&attacker_one, "ava", "wrong-password-here").await.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(two.login_with(&attacker_two, "ava", "wrong-password-here").await.status, StatusCode::UNPROCESSABLE_ENTITY);
    }
    // Five attempts in all (the first was the real log-in): the sixth, on either process, is refused.
    assert_eq!(two.login_with(&attacker_two, "ava", PW).await.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(one.login_with(&attacker_one, "ava", PW).await.status, StatusCode::TOO_MANY_REQUESTS);
}

/// A file deleted through one process stops being served from the other's
/// memory within a second.
async fn deleted_media_leaves_every_process(var: &str) {
    let Some(url) = cache_url(var) else { return };
    let (one, two) = two_processes(url).await;
    let key = "photos/1/0123456789abcdef0123/display-abcdef.jpg";
    one.state.media.put(key, bytes::Bytes::from_static(b"a small photo")).await.unwrap();
    for _ in 0..2 {
        assert_eq!(two.get(&format!("/media/{key}")).await.status, StatusCode::OK, "served, then kept in memory");
    }
    one.state.media.delete(key).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert_eq!(two.get(&format!("/media/{key}")).await.status, StatusCode::NOT_FOUND, "the other process forgot it");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_processes_forget_deleted_media() {
    deleted_media_leaves_every_process("COTERIE_TEST_REDIS_URL").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memcached_processes_forget_deleted_media() {
    deleted_media_leaves_every_process("COTERIE_TEST_MEMCACHED_URL").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_shares_rate_limits_and_sessions_between_processes() {
    shared_limits_and_sessions("COTERIE_TEST_REDIS_URL").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memcached_shares_rate_limits_and_sessions_between_processes() {
    shared_limits_and_sessions("COTERIE_TEST_MEMCACHED_URL").await;
}
