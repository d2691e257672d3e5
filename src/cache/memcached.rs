//! memcached over its text protocol: get, set, add, delete, incr, version.
//! Several servers share the keys by consistent hashing.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use tokio::io::AsyncWriteExt;

use super::net::{self, hash64, read_block, read_line, wire_key, Common, Conn, Fail, Node, Target};

/// memcached reads a relative expiry above 30 days as a Unix time.
const MAX_RELATIVE: u64 = 30 * 24 * 3600;
/// Points per server on the ring: enough to spread keys within a few percent.
const POINTS: u32 = 160;

#[derive(Clone)]
pub struct Memcached {
    inner: Arc<Inner>,
}

struct Inner {
    nodes: Vec<Node>,
    /// (point, node index), sorted by point.
    ring: Vec<(u64, usize)>,
    common: Common,
}

enum Cmd<'a> {
    Get(&'a str),
    /// Several keys on one server.
    GetMany(&'a [String]),
    Set(&'a str, &'a [u8], u64),
    Add(&'a str, &'a [u8], u64),
    Delete(&'a str),
    Incr(&'a str),
    Version,
}

enum Reply {
    Value(Option<Bytes>),
    Values(Vec<(String, Bytes)>),
    Stored(bool),
    Done,
    Count(Option<u64>),
}

impl Memcached {
    pub(crate) fn new(target: Target) -> Memcached {
        let ring = ring(&target.hosts);
        let nodes = target.hosts.iter().map(|h| Node::new(h.clone(), target.settings.clone())).collect();
        Memcached { inner: Arc::new(Inner { nodes, ring, common: Common::new(target.settings) }) }
    }

    pub(crate) fn common(&self) -> &Common {
        &self.inner.common
    }

    /// A server that fails keeps its keys: they miss until it is back.
    /// Moving them to the other servers would let app processes that
    /// disagree on who is down read and write different copies.
    fn node_for(&self, wire_key: &str) -> usize {
        node_index(&self.inner.ring, self.inner.nodes.len(), wire_key)
    }

    pub async fn get(&self, key: &str) -> Option<Bytes> {
        let key = wire_key(&self.inner.common.settings.namespace, key);
        let n = self.node_for(&key);
        match self.exec(n, &Cmd::Get(&key), false).await {
            Ok(Reply::Value(v)) => v,
            Ok(_) => None,
            Err(e) => {
                self.inner.common.error(&e);
                None
            }
        }
    }

    pub async fn get_many(&self, keys: &[String]) -> Vec<Option<Bytes>> {
        let ns = &self.inner.common.settings.namespace;
        let wire: Vec<String> = keys.iter().map(|k| wire_key(ns, k)).collect();
        let mut by_node: Vec<Vec<String>> = vec![Vec::new(); self.inner.nodes.len()];
        for k in &wire {
            by_node[self.node_for(k)].push(k.clone());
        }
        let mut found = std::collections::HashMap::new();
        for (n, keys) in by_node.iter().enumerate().filter(|(_, k)| !k.is_empty()) {
            match self.exec(n, &Cmd::GetMany(keys), false).await {
                Ok(Reply::Values(values)) => found.extend(values),
                Ok(_) => {}
                Err(e) => self.inner.common.error(&e),
            }
        }
        wire.iter().map(|k| found.get(k).cloned()).collect()
    }

    pub async fn add(&self, key: &str, value: Bytes, ttl: Duration) -> bool {
        let key = wire_key(&self.inner.common.settings.namespace, key);
        let n = self.node_for(&key);
        match self.exec(n, &Cmd::Add(&key, &value, exptime(ttl)), false).await {
            Ok(Reply::Stored(stored)) => stored,
            Ok(_) => false,
            Err(e) => {
                self.inner.common.error(&e);
                false
            }
        }
    }

    pub fn settled(&self) -> bool {
        self.inner.nodes.iter().all(Node::settled)
    }

    pub async fn set(&self, key: &str, value: Bytes, ttl: Duration) {
        let key = wire_key(&self.inner.common.settings.namespace, key);
        let n = self.node_for(&key);
        match self.exec(n, &Cmd::Set(&key, &value, exptime(ttl)), false).await {
            Ok(_) => {}
            Err(Fail::Server(e)) => {
                // Refused (too large, out of memory): the old value must not outlive the new one.
                self.inner.common.error(&Fail::Server(e));
                if self.exec(n, &Cmd::Delete(&key), false).await.is_err() {
                    self.inner.nodes[n].remember_stale(key);
                }
            }
            Err(e) => {
                self.inner.common.error(&e);
                // The old value may still be there, and it is now stale.
                self.inner.nodes[n].remember_stale(key);
            }
        }
    }

    pub async fn delete(&self, key: &str) {
        let key = wire_key(&self.inner.common.settings.namespace, key);
        let n = self.node_for(&key);
        if let Err(e) = self.exec(n, &Cmd::Delete(&key), false).await {
            self.inner.common.error(&e);
            self.inner.nodes[n].remember_stale(key);
        }
    }

    pub async fn incr(&self, key: &str, ttl: Duration) -> u64 {
        let key = wire_key(&self.inner.common.settings.namespace, key);
        let n = self.node_for(&key);
        match self.try_incr(n, &key, ttl).await {
            Ok(count) => count,
            Err(e) => {
                self.inner.common.error(&e);
                self.inner.common.fallback.incr(&key, ttl).await
            }
        }
    }

    /// `incr` only works on an existing item; `add` creates it with its
    /// expiry in one step and fails if another process got there first.
    async fn try_incr(&self, n: usize, key: &str, ttl: Duration) -> Result<u64, Fail> {
        for _ in 0..3 {
            if let Reply::Count(Some(count)) = self.exec(n, &Cmd::Incr(key), false).await? {
                return Ok(count);
            }
            if let Reply::Stored(true) = self.exec(n, &Cmd::Add(key, b"1", exptime(ttl)), false).await? {
                return Ok(1);
            }
        }
        Err(Fail::Server("counter kept disappearing between incr and add".into()))
    }

    /// True when every server answers.
    pub async fn ping(&self) -> bool {
        for n in 0..self.inner.nodes.len() {
            if let Err(e) = self.exec(n, &Cmd::Version, true).await {
                tracing::debug!(server = %self.inner.nodes[n].addr, error = %e, "memcached ping failed");
                return false;
            }
        }
        true
    }

    async fn exec(&self, n: usize, cmd: &Cmd<'_>, force: bool) -> Result<Reply, Fail> {
        let node = &self.inner.nodes[n];
        let mut retried = false;
        loop {
            let mut lease = node.lease(force).await?;
            let outcome =
                match tokio::time::timeout(self.inner.common.settings.op_timeout, call(&mut lease.conn, cmd)).await {
                    Ok(r) => r,
                    Err(_) => Err(Fail::Timeout),
                };
            if !retried && !lease.fresh && matches!(outcome, Err(Fail::Io(_))) {
                // A pooled connection the server had closed: one more try on a new one.
                node.discard(lease);
                retried = true;
                continue;
            }
            let outcome = node.release(lease, outcome);
            if outcome.is_ok() {
                self.replay_stale(n);
            }
            return outcome;
        }
    }

    fn replay_stale(&self, n: usize) {
        let Some(keys) = self.inner.nodes[n].begin_replay() else { return };
        let me = self.clone();
        tokio::spawn(async move {
            let mut keys = keys.into_iter();
            while let Some(key) = keys.next() {
                if me.exec(n, &Cmd::Delete(&key), false).await.is_err() {
                    let leftover = std::iter::once(key).chain(keys).collect();
                    me.inner.nodes[n].end_replay(leftover);
                    return;
                }
            }
            me.inner.nodes[n].end_replay(Vec::new());
        });
    }
}

async fn call(conn: &mut Conn, cmd: &Cmd<'_>) -> Result<Reply, Fail> {
    let mut req = Vec::with_capacity(64);
    let storing = match cmd {
        Cmd::Get(k) => {
            req.extend_from_slice(format!("get {k}\r\n").as_bytes());
            false
        }
        Cmd::GetMany(keys) => {
            req.extend_from_slice(format!("get {}\r\n", keys.join(" ")).as_bytes());
            false
        }
        Cmd::Set(k, v, exp) | Cmd::Add(k, v, exp) => {
            let verb = if matches!(cmd, Cmd::Set(..)) { "set" } else { "add" };
            req.reserve(v.len() + 2);
            req.extend_from_slice(format!("{verb} {k} 0 {exp} {}\r\n", v.len()).as_bytes());
            req.extend_from_slice(v);
            req.extend_from_slice(b"\r\n");
            true
        }
        Cmd::Delete(k) => {
            req.extend_from_slice(format!("delete {k}\r\n").as_bytes());
            false
        }
        Cmd::Incr(k) => {
            req.extend_from_slice(format!("incr {k} 1\r\n").as_bytes());
            false
        }
        Cmd::Version => {
            req.extend_from_slice(b"version\r\n");
            false
        }
    };
    conn.write_all(&req).await.map_err(Fail::Io)?;
    conn.flush().await.map_err(Fail::Io)?;

    let line = read_line(conn).await?;
    if line.starts_with(b"SERVER_ERROR") || (!storing && line.starts_with(b"CLIENT_ERROR")) {
        // Refused, but the reply is complete: the connection stays in step.
        return Err(Fail::Server(String::from_utf8_lossy(&line).into_owned()));
    }
    let unexpected = || Fail::Protocol(String::from_utf8_lossy(&line).into_owned());
    Ok(match cmd {
        Cmd::Get(_) if line == b"END" => Reply::Value(None),
        Cmd::Get(_) => {
            let (_, len) = value_header(&line)?;
            let value = read_block(conn, len).await?;
            if read_line(conn).await? != b"END" {
                return Err(Fail::Protocol("no END after a value".into()));
            }
            Reply::Value(Some(value))
        }
        Cmd::GetMany(_) => {
            let mut values = Vec::new();
            let mut line = line;
            while line != b"END" {
                let (key, len) = value_header(&line)?;
                values.push((key, read_block(conn, len).await?));
                line = read_line(conn).await?;
            }
            Reply::Values(values)
        }
        Cmd::Set(..) | Cmd::Add(..) => match &line[..] {
            b"STORED" => Reply::Stored(true),
            b"NOT_STORED" => Reply::Stored(false),
            _ => return Err(unexpected()),
        },
        Cmd::Delete(_) => match &line[..] {
            b"DELETED" | b"NOT_FOUND" => Reply::Done,
            _ => return Err(unexpected()),
        },
        Cmd::Incr(_) if line == b"NOT_FOUND" => Reply::Count(None),
        Cmd::Incr(_) => Reply::Count(Some(net::parse_num(&line)?)),
        Cmd::Version if line.starts_with(b"VERSION") => Reply::Done,
        Cmd::Version => return Err(unexpected()),
    })
}

/// The key and length of a `VALUE <key> <flags> <bytes> [<cas>]` line.
fn value_header(line: &[u8]) -> Result<(String, usize), Fail> {
    let unexpected = || Fail::Protocol(String::from_utf8_lossy(line).into_owned());
    let mut parts = line.split(|&b| b == b' ');
    if parts.next() != Some(b"VALUE") {
        return Err(unexpected());
    }
    let key = String::from_utf8(parts.next().ok_or_else(unexpected)?.to_vec()).map_err(|_| unexpected())?;
    let len: usize = net::parse_num(parts.nth(1).ok_or_else(unexpected)?)?;
    Ok((key, len))
}

/// Whole seconds, rounded up and at least 1 (0 would mean "never expires");
/// past 30 days as an absolute Unix time, as memcached requires.
pub(crate) fn exptime(ttl: Duration) -> u64 {
    let secs = (ttl.as_secs() + u64::from(ttl.subsec_nanos() > 0)).clamp(1, 10 * 365 * 24 * 3600);
    if secs <= MAX_RELATIVE {
        secs
    } else {
        SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_secs() + secs
    }
}

fn ring(hosts: &[String]) -> Vec<(u64, usize)> {
    let mut ring: Vec<(u64, usize)> = hosts
        .iter()
        .enumerate()
        .flat_map(|(i, h)| (0..POINTS).map(move |p| (hash64(format!("{h}-{p}").as_bytes()), i)))
        .collect();
    ring.sort_unstable();
    ring
}

fn node_index(ring: &[(u64, usize)], nodes: usize, wire_key: &str) -> usize {
    if nodes == 1 {
        return 0;
    }
    let h = hash64(wire_key.as_bytes());
    let i = ring.partition_point(|&(point, _)| point < h);
    ring[i % ring.len()].1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_is_relative_up_to_30_days_then_absolute() {
        assert_eq!(exptime(Duration::from_millis(1)), 1);
        assert_eq!(exptime(Duration::from_millis(1500)), 2);
        assert_eq!(exptime(Duration::from_secs(60)), 60);
        assert_eq!(exptime(Duration::from_secs(MAX_RELATIVE)), MAX_RELATIVE);
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
        let forty_days = 40 * 24 * 3600;
        let abs = exptime(Duration::from_secs(forty_days));
        assert!((now + forty_days..=now + forty_days + 5).contains(&abs), "{abs} is not now + 40 days");
    }

    #[test]
    fn adding_a_server_moves_only_its_share_of_keys() {
        let three: Vec<String> = (1..=3).map(|i| format!("10.0.0.{i}:11211")).collect();
        let mut four = three.clone();
        four.push("10.0.0.4:11211".into());
        let (r3, r4) = (ring(&three), ring(&four));
        let keys: Vec<String> = (0..10_000).map(|i| format!("coterie:k{i}")).collect();
        let mut per_node = [0usize; 4];
        let mut moved = 0;
        for k in &keys {
            let (a, b) = (node_index(&r3, 3, k), node_index(&r4, 4, k));
            per_node[b] += 1;
            if a != b {
                assert_eq!(b, 3, "a key moved between two old servers");
                moved += 1;
            }
        }
        // Ideal: a quarter moves, each server holds a quarter.
        assert!((1_500..3_500).contains(&moved), "{moved} of 10000 keys moved");
        for (i, n) in per_node.iter().enumerate() {
            assert!((1_500..3_500).contains(n), "server {i} holds {n} of 10000 keys");
        }
    }
}
