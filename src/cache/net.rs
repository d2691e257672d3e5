//! What the memcached and Redis backends share: URL options, key mapping,
//! a bounded connection pool per server, and the back-off that turns an
//! unreachable server into instant misses instead of a timeout per request.

use std::collections::HashSet;
use std::fmt;
use std::io;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::net::TcpStream;
use tokio::sync::{Semaphore, SemaphorePermit};

use super::memory::MemoryCache;
use super::Counters;

/// Tunables, settable as URL query parameters.
#[derive(Clone, Debug)]
pub(crate) struct Settings {
    pub namespace: String,
    pub pool_size: usize,
    pub connect_timeout: Duration,
    pub op_timeout: Duration,
    pub backoff: Duration,
    pub warn_every: Duration,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            namespace: "coterie:".into(),
            pool_size: 16,
            connect_timeout: Duration::from_millis(100),
            op_timeout: Duration::from_millis(250),
            backoff: Duration::from_secs(1),
            warn_every: Duration::from_secs(10),
        }
    }
}

/// The parts of a `memcache://` or `redis://` URL.
#[derive(Debug, Default)]
pub(crate) struct Target {
    pub user: Option<String>,
    pub password: Option<String>,
    pub hosts: Vec<String>,
    /// After the host list, without the leading slash.
    pub path: String,
    pub settings: Settings,
}

impl Target {
    pub fn parse(url: &str, default_port: u16) -> anyhow::Result<Target> {
        let rest = url.split_once("://").map(|(_, r)| r).unwrap_or_default();
        let (rest, query) = rest.split_once('?').unwrap_or((rest, ""));
        let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
        let mut target = Target { path: path.to_string(), ..Target::default() };
        let hosts = match authority.rsplit_once('@') {
            Some((userinfo, hosts)) => {
                let (user, password) = userinfo.split_once(':').unwrap_or(("", userinfo));
                let decode = |s: &str| percent_encoding::percent_decode_str(s).decode_utf8_lossy().into_owned();
                target.user = Some(decode(user)).filter(|u| !u.is_empty());
                target.password = Some(decode(password)).filter(|p| !p.is_empty());
                hosts
            }
            None => authority,
        };
        for host in hosts.split(',').map(str::trim).filter(|h| !h.is_empty()) {
            // "[::1]" and "name" have no port; "[::1]:1" and "name:1" do.
            let has_port = match host.rfind(':') {
                Some(i) => !host.ends_with(']') && host[i + 1..].parse::<u16>().is_ok(),
                None => false,
            };
            if !has_port && host.contains(':') && !host.ends_with(']') {
                anyhow::bail!("bad cache server {host:?} in {url:?}: expected host:port");
            }
            target.hosts.push(if has_port { host.to_string() } else { format!("{host}:{default_port}") });
        }
        if target.hosts.is_empty() {
            anyhow::bail!("cache URL {url:?} names no server");
        }
        let s = &mut target.settings;
        for (name, value) in serde_urlencoded::from_str::<Vec<(String, String)>>(query)? {
            let ms = || -> anyhow::Result<Duration> {
                let n: u64 =
                    value.parse().map_err(|_| anyhow::anyhow!("cache URL option {name}={value:?} is not a number"))?;
                Ok(Duration::from_millis(n.max(1)))
            };
            match name.as_str() {
                "namespace" => s.namespace = value.clone(),
                "pool" => {
                    s.pool_size = value
                        .parse::<usize>()
                        .ok()
                        .filter(|n| (1..=1024).contains(n))
                        .ok_or_else(|| anyhow::anyhow!("cache URL option pool={value:?} must be 1 to 1024"))?
                }
                "connect_timeout_ms" => s.connect_timeout = ms()?,
                "timeout_ms" => s.op_timeout = ms()?,
                "backoff_ms" => s.backoff = ms()?,
                other => anyhow::bail!(
                    "unknown cache URL option {other:?} (known: namespace, pool, connect_timeout_ms, timeout_ms, backoff_ms)"
                ),
            }
        }
        if s.namespace.len() > 64 || !s.namespace.bytes().all(safe_key_byte) {
            anyhow::bail!(
                "cache namespace {:?} must be at most 64 printable ASCII characters without spaces",
                s.namespace
            );
        }
        Ok(target)
    }
}

const MAX_WIRE_KEY: usize = 250;

fn safe_key_byte(b: u8) -> bool {
    (0x21..0x7f).contains(&b)
}

/// The key as sent to the server: namespaced, and hashed when it would break
/// memcached's rules (at most 250 bytes, no spaces or control characters).
/// Hashed keys start with '#', so keys that start with '#' are hashed too and
/// can never collide with one.
pub(crate) fn wire_key(namespace: &str, key: &str) -> String {
    let fits = namespace.len() + key.len() <= MAX_WIRE_KEY
        && !key.is_empty()
        && !key.starts_with('#')
        && key.bytes().all(safe_key_byte);
    if fits {
        format!("{namespace}{key}")
    } else {
        format!("{namespace}#{}", hex::encode(Sha256::digest(key.as_bytes())))
    }
}

pub(crate) fn hash64(data: &[u8]) -> u64 {
    let d = Sha256::digest(data);
    u64::from_be_bytes(d[..8].try_into().expect("8 bytes"))
}

/// Why an operation did not reach an answer.
#[derive(Debug)]
pub(crate) enum Fail {
    /// The server failed recently; we are in its back-off window.
    Skipped,
    /// Every pooled connection stayed busy for the whole operation timeout.
    Busy,
    Io(io::Error),
    Timeout,
    /// A reply we could not follow; the connection is out of step.
    Protocol(String),
    /// An error reply; the connection is still in step and reusable.
    Server(String),
}

impl Fail {
    /// Does this say the server is unreachable or broken (as opposed to one
    /// request being refused)?
    fn trips(&self) -> bool {
        matches!(self, Fail::Io(_) | Fail::Timeout | Fail::Protocol(_))
    }
}

impl fmt::Display for Fail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fail::Skipped => f.write_str("in back-off after a failure"),
            Fail::Busy => f.write_str("every connection busy"),
            Fail::Io(e) => write!(f, "{e}"),
            Fail::Timeout => f.write_str("timed out"),
            Fail::Protocol(m) => write!(f, "unexpected reply: {m}"),
            Fail::Server(m) => write!(f, "server said: {m}"),
        }
    }
}

pub(crate) type Conn = BufReader<TcpStream>;

/// Milliseconds on a process-wide monotonic clock; never 0, so 0 can mean "unset".
fn now_ms() -> u64 {
    static BASE: OnceLock<Instant> = OnceLock::new();
    BASE.get_or_init(Instant::now).elapsed().as_millis() as u64 + 1
}

/// Keys whose delete (or overwrite) may not have reached the server; deleted
/// again once it answers, so an outage cannot leave a stale entry behind.
const MAX_STALE: usize = 50_000;

/// One server: its pool and its health.
pub(crate) struct Node {
    pub addr: String,
    settings: Settings,
    idle: Mutex<Vec<Conn>>,
    permits: Semaphore,
    /// 0 when healthy; else when the next probe may go out.
    down_until: AtomicU64,
    last_warn: AtomicU64,
    quiet_failures: AtomicU64,
    stale: Mutex<HashSet<String>>,
    has_stale: AtomicBool,
    replaying: AtomicBool,
    overflowed: AtomicBool,
}

pub(crate) struct Lease<'a> {
    pub conn: Conn,
    /// A new connection (needs any handshake; a failure on it is not a stale socket).
    pub fresh: bool,
    _permit: SemaphorePermit<'a>,
}

impl Node {
    pub fn new(addr: String, settings: Settings) -> Node {
        Node {
            addr,
            permits: Semaphore::new(settings.pool_size),
            settings,
            idle: Mutex::new(Vec::new()),
            down_until: AtomicU64::new(0),
            last_warn: AtomicU64::new(0),
            quiet_failures: AtomicU64::new(0),
            stale: Mutex::new(HashSet::new()),
            has_stale: AtomicBool::new(false),
            replaying: AtomicBool::new(false),
            overflowed: AtomicBool::new(false),
        }
    }

    /// Refuses while in back-off. When the back-off is over, exactly one
    /// caller goes out as the probe; the others keep getting misses until it
    /// comes back, so a dead server costs one timeout per back-off period.
    fn admit(&self) -> Result<(), Fail> {
        let until = self.down_until.load(Ordering::Acquire);
        if until == 0 {
            return Ok(());
        }
        let now = now_ms();
        if now < until {
            return Err(Fail::Skipped);
        }
        let next = now + self.settings.backoff.as_millis() as u64;
        self.down_until
            .compare_exchange(until, next, Ordering::AcqRel, Ordering::Relaxed)
            .map(|_| ())
            .map_err(|_| Fail::Skipped)
    }

    /// A connection from the pool, or a new one. `force` ignores the back-off
    /// (for `ping`, which must really ask).
    pub async fn lease(&self, force: bool) -> Result<Lease<'_>, Fail> {
        if !force {
            self.admit()?;
        }
        let permit = match tokio::time::timeout(self.settings.op_timeout, self.permits.acquire()).await {
            Ok(p) => p.expect("the semaphore is never closed"),
            Err(_) => return Err(Fail::Busy),
        };
        let pooled = self.idle.lock().expect("pool lock").pop();
        if let Some(conn) = pooled {
            return Ok(Lease { conn, fresh: false, _permit: permit });
        }
        let connected = tokio::time::timeout(self.settings.connect_timeout, TcpStream::connect(&self.addr)).await;
        let stream = match connected {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => return Err(self.failed(Fail::Io(e))),
            Err(_) => return Err(self.failed(Fail::Timeout)),
        };
        // Requests are small and answered one at a time: Nagle would only add delay.
        let _ = stream.set_nodelay(true);
        Ok(Lease { conn: BufReader::with_capacity(16 * 1024, stream), fresh: true, _permit: permit })
    }

    /// Returns the connection to the pool when it is still in step, and
    /// updates the server's health from the outcome.
    pub fn release<T>(&self, lease: Lease<'_>, outcome: Result<T, Fail>) -> Result<T, Fail> {
        match outcome {
            Ok(_) | Err(Fail::Server(_)) => {
                self.idle.lock().expect("pool lock").push(lease.conn);
                self.answered();
                outcome
            }
            Err(e) => {
                drop(lease);
                Err(self.failed(e))
            }
        }
    }

    /// Drops a pooled connection the server had closed (it restarted, or
    /// dropped idle clients), and the rest of the pool with it: they are
    /// likely closed too. Not a failure of the server.
    pub fn discard(&self, lease: Lease<'_>) {
        drop(lease);
        self.idle.lock().expect("pool lock").clear();
    }

    fn answered(&self) {
        if self.down_until.load(Ordering::Relaxed) != 0 && self.down_until.swap(0, Ordering::AcqRel) != 0 {
            tracing::info!(server = %self.addr, "cache server is answering again");
        }
    }

    fn failed(&self, e: Fail) -> Fail {
        if !e.trips() {
            return e;
        }
        self.idle.lock().expect("pool lock").clear();
        self.down_until.store(now_ms() + self.settings.backoff.as_millis() as u64, Ordering::Release);
        let now = now_ms();
        let last = self.last_warn.load(Ordering::Relaxed);
        let due = last == 0 || now.saturating_sub(last) >= self.settings.warn_every.as_millis() as u64;
        if due && self.last_warn.compare_exchange(last, now, Ordering::AcqRel, Ordering::Relaxed).is_ok() {
            let quiet = self.quiet_failures.swap(0, Ordering::Relaxed);
            tracing::warn!(
                server = %self.addr,
                error = %e,
                failures_since_last_warning = quiet,
                "cache server is not answering: serving misses and counting rate limits in this process, retrying every {:?}",
                self.settings.backoff
            );
        } else {
            self.quiet_failures.fetch_add(1, Ordering::Relaxed);
        }
        e
    }

    pub fn remember_stale(&self, wire_key: String) {
        let mut stale = self.stale.lock().expect("stale lock");
        if stale.len() >= MAX_STALE {
            if !self.overflowed.swap(true, Ordering::Relaxed) {
                tracing::error!(server = %self.addr, "too many cache writes missed during the outage; some entries may stay stale until they expire");
            }
            return;
        }
        stale.insert(wire_key);
        self.has_stale.store(true, Ordering::Release);
    }

    /// The keys to delete again, if any and if no one else is on it.
    pub fn begin_replay(&self) -> Option<Vec<String>> {
        if !self.has_stale.load(Ordering::Acquire) || self.replaying.swap(true, Ordering::AcqRel) {
            return None;
        }
        let keys: Vec<String> = self.stale.lock().expect("stale lock").drain().collect();
        self.has_stale.store(false, Ordering::Release);
        self.overflowed.store(false, Ordering::Relaxed);
        Some(keys)
    }

    /// No missed delete is waiting to be replayed.
    pub fn settled(&self) -> bool {
        !self.has_stale.load(Ordering::Acquire) && !self.replaying.load(Ordering::Acquire)
    }

    pub fn end_replay(&self, leftover: Vec<String>) {
        for key in leftover {
            self.remember_stale(key);
        }
        self.replaying.store(false, Ordering::Release);
    }
}

/// State each network backend keeps beside its servers.
pub(crate) struct Common {
    pub settings: Settings,
    pub counters: Arc<Counters>,
    /// Counts rate limits in this process while the server is unreachable.
    pub fallback: MemoryCache,
}

impl Common {
    pub fn new(settings: Settings) -> Common {
        Common { settings, counters: Arc::new(Counters::default()), fallback: MemoryCache::new(8 * 1024 * 1024) }
    }

    pub fn error(&self, _e: &Fail) {
        self.counters.errors.fetch_add(1, Ordering::Relaxed);
    }
}

const MAX_LINE: u64 = 8 * 1024;
/// Far above any value we store; guards memory against a garbled length.
pub(crate) const MAX_VALUE: usize = 256 * 1024 * 1024;

/// One reply line, without its CRLF.
pub(crate) async fn read_line(conn: &mut Conn) -> Result<Vec<u8>, Fail> {
    let mut line = Vec::with_capacity(64);
    let n = (&mut *conn).take(MAX_LINE).read_until(b'\n', &mut line).await.map_err(Fail::Io)?;
    if n == 0 {
        return Err(Fail::Io(io::Error::new(io::ErrorKind::UnexpectedEof, "connection closed by the server")));
    }
    if !line.ends_with(b"\r\n") {
        return Err(Fail::Protocol(format!("line without CRLF: {}", String::from_utf8_lossy(&line))));
    }
    line.truncate(line.len() - 2);
    Ok(line)
}

/// A data block of `len` bytes followed by CRLF.
pub(crate) async fn read_block(conn: &mut Conn, len: usize) -> Result<bytes::Bytes, Fail> {
    if len > MAX_VALUE {
        return Err(Fail::Protocol(format!("value of {len} bytes")));
    }
    let mut buf = vec![0u8; len + 2];
    conn.read_exact(&mut buf).await.map_err(Fail::Io)?;
    if !buf.ends_with(b"\r\n") {
        return Err(Fail::Protocol("data block without CRLF".into()));
    }
    buf.truncate(len);
    Ok(bytes::Bytes::from(buf))
}

pub(crate) fn parse_num<T: std::str::FromStr>(s: &[u8]) -> Result<T, Fail> {
    std::str::from_utf8(s)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .ok_or_else(|| Fail::Protocol(format!("not a number: {}", String::from_utf8_lossy(s))))
}
