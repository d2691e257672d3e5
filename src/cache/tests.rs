//! One suite run against every backend: memory always, Redis and memcached
//! when COTERIE_TEST_REDIS_URL / COTERIE_TEST_MEMCACHED_URL are set. Failure
//! tests need no server (a closed port, a silent listener) or start their
//! own throwaway server when the binary is installed.

use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use tokio::net::{TcpListener, TcpStream};

use super::net::{wire_key, Target};
use super::*;

const MINUTE: Duration = Duration::from_secs(60);

fn env_url(var: &str, backend: &str, test: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(url) if !url.trim().is_empty() => Some(url),
        _ => {
            eprintln!("SKIPPED: {backend} (set {var}) in {test}");
            None
        }
    }
}

/// A namespace no other test or earlier run uses, so they cannot meet on a
/// shared server.
fn unique_namespace() -> String {
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos() % 1_000_000_000_000;
    format!("t{}-{nanos}-{}:", std::process::id(), SEQ.fetch_add(1, Ordering::Relaxed))
}

fn with_option(url: &str, option: &str) -> String {
    if url.starts_with("memory:") {
        return url.to_string();
    }
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}{option}")
}

/// A cache on `base` with a fresh namespace, the namespaced URL, and the namespace.
fn open(base: &str) -> (Cache, String, String) {
    let ns = unique_namespace();
    // Generous timeouts: these tests check behaviour, and CI machines stall.
    let url = with_option(base, &format!("namespace={ns}&connect_timeout_ms=2000&timeout_ms=5000"));
    (Cache::from_url(&url).expect("cache URL"), url, ns)
}

fn b(s: &str) -> Bytes {
    Bytes::copy_from_slice(s.as_bytes())
}

// ---------------------------------------------------------------- the suite

async fn round_trip_with_binary_values(base: &str) {
    let (c, _, _) = open(base);
    let all_bytes: Vec<u8> = (0..=255u8).cycle().take(1024).collect();
    let large: Vec<u8> = (0..300_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    let values: Vec<(&str, Bytes)> = vec![
        ("all-bytes", Bytes::from(all_bytes)),
        // Looks like protocol: must be carried as data.
        ("protocol-ish", Bytes::from_static(b"END\r\nVALUE x 0 1\r\n$-1\r\n+OK\r\n")),
        ("empty", Bytes::new()),
        ("large", Bytes::from(large)),
    ];
    for (k, v) in &values {
        c.set(k, v.clone(), MINUTE).await;
    }
    for (k, v) in &values {
        assert_eq!(c.get(k).await.as_ref(), Some(v), "{} value for {k:?}", c.kind());
    }
    c.set("all-bytes", b("second"), MINUTE).await;
    assert_eq!(c.get("all-bytes").await, Some(b("second")), "overwrite");
    c.delete("all-bytes").await;
    assert_eq!(c.get("all-bytes").await, None, "deleted");
    c.delete("never-set").await;
    assert_eq!(c.get("never-set").await, None);
    assert_eq!(c.stats(), CacheStats { hits: values.len() as u64 + 1, misses: 2, errors: 0 }, "{} stats", c.kind());
    assert!((c.stats().hit_rate() - 5.0 / 7.0).abs() < 1e-9);
}

async fn entries_expire(base: &str) {
    let (c, _, _) = open(base);
    // memcached counts whole seconds: 2 s lives at least 1 s and at most 2 s.
    c.set("short", b("s"), Duration::from_secs(2)).await;
    c.set("long", b("l"), MINUTE).await;
    // Beyond 30 days memcached wants a Unix time; sent as seconds it would expire at once.
    c.set("forty-days", b("f"), Duration::from_secs(40 * 24 * 3600)).await;
    assert_eq!(c.get("short").await, Some(b("s")));
    assert_eq!(c.get("forty-days").await, Some(b("f")));
    tokio::time::sleep(Duration::from_millis(3500)).await;
    assert_eq!(c.get("short").await, None, "{} entry outlived its ttl", c.kind());
    assert_eq!(c.get("long").await, Some(b("l")));
    assert_eq!(c.get("forty-days").await, Some(b("f")));
}

async fn concurrent_incr_counts_exactly(base: &str) {
    let (c, _, _) = open(base);
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let c = c.clone();
            tokio::spawn(async move { c.incr("hits", MINUTE).await })
        })
        .collect();
    let mut seen = Vec::new();
    for t in tasks {
        seen.push(t.await.unwrap());
    }
    seen.sort_unstable();
    assert_eq!(seen, (1..=50).collect::<Vec<u64>>(), "{}: each increment sees its own count", c.kind());
    assert_eq!(c.incr("hits", MINUTE).await, 51);
    assert_eq!(c.incr("other", MINUTE).await, 1);
    assert_eq!(c.stats().errors, 0);
}

async fn counters_reset_after_their_window(base: &str) {
    let (c, _, _) = open(base);
    // memcached counts whole seconds: a 3 s window lasts between 2 and 3 s.
    let window = Duration::from_secs(3);
    assert_eq!(c.incr("n", window).await, 1);
    assert_eq!(c.incr("n", window).await, 2);
    // Increments must not push the expiry back.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(c.incr("n", window).await, 3);
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(c.incr("n", window).await, 1, "{} counter outlived its window", c.kind());
    assert_eq!(c.incr("n", window).await, 2);
}

async fn long_and_odd_keys(base: &str) {
    let (c, _, ns) = open(base);
    c.set("canary", b("alive"), MINUTE).await;
    let room = 250 - ns.len();
    let keys: Vec<String> = vec![
        "a".repeat(300),
        "a".repeat(301),
        "b".repeat(room),
        "b".repeat(room + 1),
        "with space".into(),
        "new\nline".into(),
        "tab\tkey".into(),
        "del\u{7f}".into(),
        "ünïcödé 🙂".into(),
        String::new(),
        "#looks-hashed".into(),
        // Injection attempts: must stay one key, not become commands.
        format!("x\r\ndelete {ns}canary"),
        format!("y 0 0 1\r\nZ\r\nset {ns}canary 0 0 4\r\ndead"),
        "rl:login:abc:123".into(),
    ];
    for (i, k) in keys.iter().enumerate() {
        c.set(k, Bytes::from(format!("value {i}")), MINUTE).await;
    }
    for (i, k) in keys.iter().enumerate() {
        assert_eq!(c.get(k).await, Some(Bytes::from(format!("value {i}"))), "{} key {k:?}", c.kind());
    }
    assert_eq!(c.get("canary").await, Some(b("alive")), "a key was read as a command");
    for k in &keys {
        c.delete(k).await;
        assert_eq!(c.get(k).await, None, "{} key {k:?} after delete", c.kind());
    }
    assert_eq!(c.incr(&"c".repeat(400), MINUTE).await, 1);
    assert_eq!(c.incr(&"c".repeat(400), MINUTE).await, 2);
    assert_eq!(c.stats().errors, 0);
}

async fn two_processes_share_entries(base: &str) {
    let (a, url, _) = open(base);
    let other = Cache::from_url(&url).unwrap();
    a.set("page", b("v1"), MINUTE).await;
    if a.kind() == "memory" {
        // Each process has its own: this is why production needs a shared backend.
        assert_eq!(other.get("page").await, None);
        return;
    }
    assert_eq!(other.get("page").await, Some(b("v1")), "{} write not seen by the other process", a.kind());
    other.set("page", b("v2"), MINUTE).await;
    assert_eq!(a.get("page").await, Some(b("v2")));
    other.delete("page").await;
    assert_eq!(a.get("page").await, None, "{} delete not seen by the other process", a.kind());
    assert_eq!(a.incr("limit", MINUTE).await, 1);
    assert_eq!(other.incr("limit", MINUTE).await, 2);
    assert_eq!(a.incr("limit", MINUTE).await, 3);
    // A different namespace is a different site.
    let (stranger, _, _) = open(base);
    a.set("page", b("mine"), MINUTE).await;
    assert_eq!(stranger.get("page").await, None);
}

async fn get_many_answers_in_order(base: &str) {
    let (c, _, _) = open(base);
    c.set("m1", b("one"), MINUTE).await;
    c.set("m3", Bytes::from_static(b"\r\nEND\r\n\x00"), MINUTE).await;
    let keys: Vec<String> = ["m1", "m2", "m3", "m1"].iter().map(|k| k.to_string()).collect();
    let got = c.get_many(&keys).await;
    assert_eq!(
        got,
        vec![Some(b("one")), None, Some(Bytes::from_static(b"\r\nEND\r\n\x00")), Some(b("one"))],
        "{}",
        c.kind()
    );
    assert_eq!(c.get_many(&[]).await, Vec::<Option<Bytes>>::new());
    // Many keys in one request (memcached's line, Redis's array).
    let many: Vec<String> = (0..300).map(|i| format!("many-{i}")).collect();
    for k in many.iter().step_by(3) {
        c.set(k, b(k), MINUTE).await;
    }
    let got = c.get_many(&many).await;
    for (i, (k, v)) in many.iter().zip(&got).enumerate() {
        let expected = (i % 3 == 0).then(|| b(k));
        assert_eq!(v, &expected, "{} {k}", c.kind());
    }
    assert_eq!(c.stats().errors, 0);
}

async fn add_stores_only_once(base: &str) {
    let (c, _, _) = open(base);
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let c = c.clone();
            tokio::spawn(async move { (c.add("once", b(&format!("v{i}")), MINUTE).await, i) })
        })
        .collect();
    let mut winners = Vec::new();
    for t in tasks {
        let (stored, i) = t.await.unwrap();
        if stored {
            winners.push(i);
        }
    }
    assert_eq!(winners.len(), 1, "{}: add stored {} times", c.kind(), winners.len());
    assert_eq!(c.get("once").await, Some(b(&format!("v{}", winners[0]))));
    assert!(c.settled());
    c.delete("once").await;
    assert!(c.add("once", b("again"), MINUTE).await, "{}: add after delete", c.kind());
}

async fn ping_and_kind(base: &str) {
    let (c, _, _) = open(base);
    let expected = match base.split("://").next().unwrap() {
        "memcache" | "memcached" => "memcached",
        other => other,
    };
    assert_eq!(c.kind(), expected);
    assert!(c.ping().await, "{} ping", c.kind());
}

macro_rules! suite {
    ($backend:ident, $var:literal, [$($test:ident),* $(,)?]) => {
        mod $backend {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $test() {
                    let url = if $var.is_empty() {
                        Some("memory://".to_string())
                    } else {
                        super::env_url($var, stringify!($backend), stringify!($test))
                    };
                    if let Some(url) = url {
                        super::$test(&url).await;
                    }
                }
            )*
        }
    };
}

macro_rules! full_suite {
    ($backend:ident, $var:literal) => {
        suite!(
            $backend,
            $var,
            [
                round_trip_with_binary_values,
                entries_expire,
                concurrent_incr_counts_exactly,
                counters_reset_after_their_window,
                long_and_odd_keys,
                two_processes_share_entries,
                get_many_answers_in_order,
                add_stores_only_once,
                ping_and_kind,
            ]
        );
    };
}

full_suite!(memory, "");
full_suite!(redis, "COTERIE_TEST_REDIS_URL");
full_suite!(memcached, "COTERIE_TEST_MEMCACHED_URL");

// ------------------------------------------------- when the server is away

/// Port 1 on loopback refuses at once: every operation must miss, and
/// counting must go on in this process.
async fn down_server_gives_quick_misses(scheme: &str) {
    let c = Cache::from_url(&format!("{scheme}://127.0.0.1:1")).unwrap();
    let start = Instant::now();
    for i in 1..=5u64 {
        assert_eq!(c.get("k").await, None);
        c.set("k", b("v"), MINUTE).await;
        c.delete("k").await;
        assert_eq!(c.incr("limit", MINUTE).await, i, "the local fallback must still count");
    }
    let elapsed = start.elapsed();
    assert!(elapsed < Duration::from_secs(2), "20 operations on a down {scheme} server took {elapsed:?}");
    assert_eq!(c.stats(), CacheStats { hits: 0, misses: 5, errors: 20 });
    assert!(!c.ping().await, "ping must fail when the server is down");
}

/// A server that accepts and never answers: the first operation pays the
/// timeout, then the back-off must keep the others off the network.
async fn silent_server_is_skipped_during_backoff(scheme: &str) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let accepted = Arc::new(AtomicUsize::new(0));
    let counter = accepted.clone();
    let hold = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            held.push(s);
        }
    });
    let c = Cache::from_url(&format!("{scheme}://127.0.0.1:{port}?backoff_ms=5000")).unwrap();
    let start = Instant::now();
    for i in 1..=5u64 {
        assert_eq!(c.get("k").await, None);
        c.set("k", b("v"), MINUTE).await;
        c.delete("k").await;
        assert_eq!(c.incr("limit", MINUTE).await, i);
    }
    let elapsed = start.elapsed();
    let connections = accepted.load(Ordering::SeqCst);
    hold.abort();
    // Without the back-off: 20 timeouts of 250 ms and 20 connections.
    assert!(elapsed < Duration::from_secs(2), "20 operations on a silent {scheme} server took {elapsed:?}");
    assert_eq!(connections, 1, "the back-off should allow one attempt, saw {connections} connections");
    assert_eq!(c.stats().errors, 20);
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A throwaway memcached or redis-server, stopped on drop.
struct Throwaway {
    kind: &'static str,
    port: u16,
    child: Option<Child>,
}

impl Throwaway {
    fn start(kind: &'static str, port: u16) -> Result<Throwaway, String> {
        let mut t = Throwaway { kind, port, child: None };
        t.restart()?;
        Ok(t)
    }

    fn restart(&mut self) -> Result<(), String> {
        let p = self.port.to_string();
        let mut cmd = match self.kind {
            "memcached" => {
                let mut c = Command::new("memcached");
                c.args(["-l", "127.0.0.1", "-p", &p, "-U", "0", "-m", "16", "-u", "root"]);
                c
            }
            _ => {
                let mut c = Command::new("redis-server");
                c.args(["--bind", "127.0.0.1", "--port", &p, "--save", "", "--appendonly", "no"]);
                c
            }
        };
        let bin = cmd.get_program().to_string_lossy().into_owned();
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot run {bin}: {e}"))?;
        self.child = Some(child);
        Ok(())
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    async fn listening(&self) -> bool {
        for _ in 0..100 {
            if TcpStream::connect(("127.0.0.1", self.port)).await.is_ok() {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        false
    }
}

impl Drop for Throwaway {
    fn drop(&mut self) {
        self.stop();
    }
}

fn start_throwaway(kind: &'static str, test: &str) -> Option<Throwaway> {
    match Throwaway::start(kind, free_port()) {
        Ok(t) => Some(t),
        Err(why) => {
            eprintln!("SKIPPED: {kind} {test} ({why})");
            None
        }
    }
}

async fn recovers_when_the_server_returns(kind: &'static str, scheme: &str) {
    let Some(mut server) = start_throwaway(kind, "recovery") else { return };
    assert!(server.listening().await, "{kind} did not start");
    let url = format!("{scheme}://127.0.0.1:{}?backoff_ms=300", server.port);
    let c = Cache::from_url(&url).unwrap();
    c.set("k", b("before"), MINUTE).await;
    assert_eq!(c.get("k").await, Some(b("before")));

    // A restart between requests leaves only closed connections in the
    // pool: the next request must get through on a new one, not miss.
    server.stop();
    server.restart().unwrap();
    assert!(server.listening().await, "{kind} did not restart");
    c.set("k", b("restarted"), MINUTE).await;
    assert_eq!(c.get("k").await, Some(b("restarted")), "first request after a restart");
    assert_eq!(c.stats().errors, 0);

    server.stop();
    let start = Instant::now();
    for _ in 0..10 {
        assert_eq!(c.get("k").await, None);
        c.set("k", b("during"), MINUTE).await;
    }
    assert_eq!(c.incr("n", MINUTE).await, 1);
    assert_eq!(c.incr("n", MINUTE).await, 2, "counting goes on in this process");
    assert!(!c.ping().await);
    let elapsed = start.elapsed();
    assert!(elapsed < Duration::from_secs(2), "operations on a stopped {kind} took {elapsed:?}");

    server.restart().unwrap();
    assert!(server.listening().await, "{kind} did not come back");
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        c.set("k2", b("after"), MINUTE).await;
        if c.get("k2").await == Some(b("after")) {
            break;
        }
        assert!(Instant::now() < deadline, "caching did not resume after {kind} came back");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(c.ping().await);
    // Counting is shared again: another process sees the same counter.
    let other = Cache::from_url(&url).unwrap();
    assert_eq!(c.incr("m", MINUTE).await, 1);
    assert_eq!(other.incr("m", MINUTE).await, 2);
}

/// Forwards to a real server until cut; while cut, closes every connection.
struct Proxy {
    port: u16,
    open: Arc<AtomicBool>,
    accepted: Arc<AtomicUsize>,
    links: Arc<Mutex<Vec<tokio::task::JoinHandle<()>>>>,
    accept: tokio::task::JoinHandle<()>,
}

impl Proxy {
    async fn start(upstream: String) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let open = Arc::new(AtomicBool::new(true));
        let links = Arc::new(Mutex::new(Vec::new()));
        let accepted = Arc::new(AtomicUsize::new(0));
        let (o, l, n) = (open.clone(), links.clone(), accepted.clone());
        let accept = tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                n.fetch_add(1, Ordering::SeqCst);
                if !o.load(Ordering::SeqCst) {
                    continue;
                }
                let upstream = upstream.clone();
                l.lock().unwrap().push(tokio::spawn(async move {
                    if let Ok(mut server) = TcpStream::connect(&upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                }));
            }
        });
        Proxy { port, open, accepted, links, accept }
    }

    fn cut(&self) {
        self.open.store(false, Ordering::SeqCst);
        for link in self.links.lock().unwrap().drain(..) {
            link.abort();
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.cut();
        self.accept.abort();
    }
}

/// host:port of the first server in a cache URL.
fn server_of(url: &str) -> String {
    let rest = url.split_once("://").unwrap().1;
    let rest = rest.split(['/', '?']).next().unwrap();
    let rest = rest.rsplit_once('@').map_or(rest, |(_, h)| h);
    rest.split(',').next().unwrap().to_string()
}

/// A delete that could not reach the server while this process was cut
/// off from it must still happen once it is back, or another process keeps
/// reading the stale entry.
async fn missed_invalidation_is_replayed(base: &str) {
    let (direct, url, ns) = open(base);
    let server = server_of(base);
    let proxy = Proxy::start(server.clone()).await;
    let proxied = with_option(&url.replacen(&server, &format!("127.0.0.1:{}", proxy.port), 1), "backoff_ms=200");
    let cut_off = Cache::from_url(&proxied).unwrap();
    assert!(proxied.contains(&ns));

    cut_off.set("page", b("v1"), MINUTE).await;
    assert_eq!(direct.get("page").await, Some(b("v1")));
    proxy.cut();
    cut_off.delete("page").await;
    assert_eq!(direct.get("page").await, Some(b("v1")), "the delete should not have arrived yet");
    assert!(!cut_off.settled(), "a missed delete leaves the cache unsettled");
    proxy.open.store(true, Ordering::SeqCst);

    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        // Any answered operation lets the replay go out.
        let _ = cut_off.get("anything").await;
        if direct.get("page").await.is_none() && cut_off.settled() {
            break;
        }
        assert!(Instant::now() < deadline, "the missed delete was never replayed");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Connections are kept and reused, and never more than the pool allows.
async fn pool_reuses_connections(base: &str) {
    let (_, url, _) = open(base);
    let server = server_of(base);
    let proxy = Proxy::start(server.clone()).await;
    let proxied = url.replacen(&server, &format!("127.0.0.1:{}", proxy.port), 1);
    let c = Cache::from_url(&with_option(&proxied, "pool=4")).unwrap();
    for i in 0..100 {
        c.set("k", Bytes::from(format!("{i}")), MINUTE).await;
        assert_eq!(c.get("k").await, Some(Bytes::from(format!("{i}"))));
    }
    assert_eq!(proxy.accepted.load(Ordering::SeqCst), 1, "sequential requests should share one connection");
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let c = c.clone();
            tokio::spawn(async move { c.get("k").await })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.unwrap(), Some(b("99")));
    }
    let n = proxy.accepted.load(Ordering::SeqCst);
    assert!((1..=4).contains(&n), "{n} connections for a pool of 4");
}

mod shared {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn memcached_pool_reuses_connections() {
        if let Some(url) = env_url("COTERIE_TEST_MEMCACHED_URL", "memcached", "pool_reuses_connections") {
            pool_reuses_connections(&url).await;
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn redis_pool_reuses_connections() {
        if let Some(url) = env_url("COTERIE_TEST_REDIS_URL", "redis", "pool_reuses_connections") {
            pool_reuses_connections(&url).await;
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn memcached_down_server_gives_quick_misses() {
        down_server_gives_quick_misses("memcache").await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn redis_down_server_gives_quick_misses() {
        down_server_gives_quick_misses("redis").await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn memcached_silent_server_is_skipped_during_backoff() {
        silent_server_is_skipped_during_backoff("memcache").await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn redis_silent_server_is_skipped_during_backoff() {
        silent_server_is_skipped_during_backoff("redis").await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn memcached_recovers_when_the_server_returns() {
        recovers_when_the_server_returns("memcached", "memcache").await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn redis_recovers_when_the_server_returns() {
        recovers_when_the_server_returns("redis", "redis").await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn memcached_missed_invalidation_is_replayed() {
        if let Some(url) = env_url("COTERIE_TEST_MEMCACHED_URL", "memcached", "missed_invalidation_is_replayed") {
            missed_invalidation_is_replayed(&url).await;
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn redis_missed_invalidation_is_replayed() {
        if let Some(url) = env_url("COTERIE_TEST_REDIS_URL", "redis", "missed_invalidation_is_replayed") {
            missed_invalidation_is_replayed(&url).await;
        }
    }

    /// Keys on a dead server miss; keys on the live one keep working.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn memcached_ring_with_a_dead_server() {
        let Some(url) = env_url("COTERIE_TEST_MEMCACHED_URL", "memcached", "ring_with_a_dead_server") else { return };
        let live = server_of(&url);
        let ns = unique_namespace();
        let c = Cache::from_url(&format!("memcache://{live},127.0.0.1:1?namespace={ns}")).unwrap();
        for i in 0..100 {
            c.set(&format!("k{i}"), b("v"), MINUTE).await;
        }
        let mut hits = 0;
        for i in 0..100 {
            hits += c.get(&format!("k{i}")).await.is_some() as usize;
            assert_eq!(c.incr(&format!("n{i}"), MINUTE).await, 1);
        }
        assert!((20..=80).contains(&hits), "{hits} of 100 keys on the live server");
        assert!(!c.ping().await, "ping must report the dead server");
    }

    /// Two throwaway servers: each key lives on exactly one, and both get some.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn memcached_ring_spreads_keys() {
        let Some(one) = start_throwaway("memcached", "ring_spreads_keys") else { return };
        let Some(two) = start_throwaway("memcached", "ring_spreads_keys") else { return };
        assert!(one.listening().await && two.listening().await);
        let ns = unique_namespace();
        let ring = Cache::from_url(&format!("memcache://127.0.0.1:{},127.0.0.1:{}?namespace={ns}", one.port, two.port))
            .unwrap();
        let alone = |port: u16| Cache::from_url(&format!("memcache://127.0.0.1:{port}?namespace={ns}")).unwrap();
        let (a, b2) = (alone(one.port), alone(two.port));
        assert!(ring.ping().await);
        let mut on = [0, 0];
        for i in 0..200 {
            let k = format!("k{i}");
            ring.set(&k, b("v"), MINUTE).await;
            let (x, y) = (a.get(&k).await.is_some(), b2.get(&k).await.is_some());
            assert!(x != y, "key {k} on {} servers", x as u8 + y as u8);
            on[y as usize] += 1;
        }
        assert!(on[0] >= 50 && on[1] >= 50, "keys split {on:?}");
    }
}

// ------------------------------------------------------------ pure parts

#[test]
fn wire_keys_are_namespaced_and_safe_for_memcached() {
    let ns = "coterie:";
    assert_eq!(wire_key(ns, "rl:login:1"), "coterie:rl:login:1");
    let odd = ["", "a b", "a\nb", "#x", "é", &"k".repeat(243)];
    let mut seen = std::collections::HashSet::new();
    for k in odd {
        let w = wire_key(ns, k);
        assert!(w.starts_with("coterie:#") && w.len() == ns.len() + 65, "{k:?} -> {w:?}");
        assert!(seen.insert(w));
    }
    assert_eq!(wire_key(ns, &"k".repeat(242)), format!("coterie:{}", "k".repeat(242)));
    assert_ne!(wire_key(ns, "a"), wire_key("other:", "a"));
}

#[test]
fn cache_urls_parse() {
    let t = Target::parse("memcache://a:1, b ,[::1]:3,[::1]", 11211).unwrap();
    assert_eq!(t.hosts, ["a:1", "b:11211", "[::1]:3", "[::1]:11211"]);
    assert_eq!(t.settings.namespace, "coterie:");
    let t = Target::parse("redis://:s%40cret@h:7/3?timeout_ms=50&pool=4&namespace=x:", 6379).unwrap();
    assert_eq!((t.user, t.password.as_deref(), t.path.as_str()), (None, Some("s@cret"), "3"));
    assert_eq!((t.settings.op_timeout, t.settings.pool_size), (Duration::from_millis(50), 4));
    assert_eq!(t.settings.namespace, "x:");
    let t = Target::parse("redis://me:pw@h", 6379).unwrap();
    assert_eq!(
        (t.user.as_deref(), t.password.as_deref(), &t.hosts[..]),
        (Some("me"), Some("pw"), &["h:6379".to_string()][..])
    );

    assert_eq!(Cache::from_url("memcache://a:1,b:2").unwrap().kind(), "memcached");
    assert_eq!(Cache::from_url("redis://127.0.0.1:6379/2").unwrap().kind(), "redis");
    for bad in [
        "memcache://",
        "redis://a:1,b:2",
        "redis://h/not-a-number",
        "redis://h?bogus=1",
        "redis://h?timeout_ms=soon",
        "memcache://h?pool=0",
        "memcache://h?namespace=a%20b",
        "memcache://h:notaport",
        "rediss://h",
        "ftp://h",
    ] {
        assert!(Cache::from_url(bad).is_err(), "{bad} should be refused");
    }
}
