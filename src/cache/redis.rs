//! Redis over RESP2: GET, SET PX, DEL, an INCR script, PING, and AUTH/SELECT
//! on each new connection.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::io::AsyncWriteExt;

use super::net::{parse_num, read_block, read_line, wire_key, Common, Conn, Fail, Node, Target};

/// Counts and sets the expiry in one atomic step, so a counter can never be
/// left without one (which would rate-limit someone forever). The PTTL check
/// repairs a counter that somehow lost its expiry.
const INCR_SCRIPT: &str = "local n = redis.call('INCR', KEYS[1]) \
if n == 1 or redis.call('PTTL', KEYS[1]) < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end \
return n";

#[derive(Clone)]
pub struct Redis {
    inner: Arc<Inner>,
}

struct Inner {
    node: Node,
    /// Sent on each new connection: AUTH and SELECT.
    handshake: Vec<Vec<Vec<u8>>>,
    common: Common,
}

enum Reply {
    Status(Vec<u8>),
    Int(i64),
    Bulk(Option<Bytes>),
    /// An array of bulk strings (MGET).
    Array(Vec<Option<Bytes>>),
}

impl Redis {
    pub(crate) fn new(target: Target) -> anyhow::Result<Redis> {
        let [host] = &target.hosts[..] else {
            anyhow::bail!("a redis:// URL names one server (got {})", target.hosts.join(","));
        };
        let db: u32 = match target.path.trim_matches('/') {
            "" => 0,
            db => {
                db.parse().map_err(|_| anyhow::anyhow!("the Redis database in the URL must be a number, not {db:?}"))?
            }
        };
        let mut handshake = Vec::new();
        match (&target.user, &target.password) {
            (Some(user), Some(pass)) => {
                handshake.push(vec![b"AUTH".to_vec(), user.clone().into(), pass.clone().into()])
            }
            (None, Some(pass)) => handshake.push(vec![b"AUTH".to_vec(), pass.clone().into()]),
            (Some(_), None) => anyhow::bail!("the Redis URL names a user but no password"),
            (None, None) => {}
        }
        if db != 0 {
            handshake.push(vec![b"SELECT".to_vec(), db.to_string().into()]);
        }
        let node = Node::new(host.clone(), target.settings.clone());
        Ok(Redis { inner: Arc::new(Inner { node, handshake, common: Common::new(target.settings) }) })
    }

    pub(crate) fn common(&self) -> &Common {
        &self.inner.common
    }

    fn key(&self, key: &str) -> String {
        wire_key(&self.inner.common.settings.namespace, key)
    }

    pub async fn get(&self, key: &str) -> Option<Bytes> {
        let key = self.key(key);
        match self.exec(&[b"GET", key.as_bytes()], false).await {
            Ok(Reply::Bulk(v)) => v,
            Ok(_) => None,
            Err(e) => {
                self.inner.common.error(&e);
                None
            }
        }
    }

    pub async fn get_many(&self, keys: &[String]) -> Vec<Option<Bytes>> {
        let wire: Vec<String> = keys.iter().map(|k| self.key(k)).collect();
        let mut args: Vec<&[u8]> = vec![b"MGET"];
        args.extend(wire.iter().map(|k| k.as_bytes()));
        match self.exec(&args, false).await {
            Ok(Reply::Array(values)) if values.len() == keys.len() => values,
            Ok(_) => {
                self.inner.common.error(&Fail::Protocol("MGET answered with the wrong shape".into()));
                vec![None; keys.len()]
            }
            Err(e) => {
                self.inner.common.error(&e);
                vec![None; keys.len()]
            }
        }
    }

    pub async fn add(&self, key: &str, value: Bytes, ttl: Duration) -> bool {
        let key = self.key(key);
        let ms = ttl.as_millis().max(1).to_string();
        match self.exec(&[b"SET", key.as_bytes(), &value, b"PX", ms.as_bytes(), b"NX"], false).await {
            Ok(Reply::Status(s)) => s == b"OK",
            Ok(_) => false,
            Err(e) => {
                self.inner.common.error(&e);
                false
            }
        }
    }

    pub fn settled(&self) -> bool {
        self.inner.node.settled()
    }

    pub async fn set(&self, key: &str, value: Bytes, ttl: Duration) {
        let key = self.key(key);
        let ms = ttl.as_millis().max(1).to_string();
        if let Err(e) = self.exec(&[b"SET", key.as_bytes(), &value, b"PX", ms.as_bytes()], false).await {
            self.inner.common.error(&e);
            // The old value may still be there, and it is now stale.
            self.inner.node.remember_stale(key);
        }
    }

    pub async fn delete(&self, key: &str) {
        let key = self.key(key);
        if let Err(e) = self.exec(&[b"DEL", key.as_bytes()], false).await {
            self.inner.common.error(&e);
            self.inner.node.remember_stale(key);
        }
    }

    pub async fn incr(&self, key: &str, ttl: Duration) -> u64 {
        let key = self.key(key);
        let ms = ttl.as_millis().max(1).to_string();
        let args: [&[u8]; 5] = [b"EVAL", INCR_SCRIPT.as_bytes(), b"1", key.as_bytes(), ms.as_bytes()];
        match self.exec(&args, false).await {
            Ok(Reply::Int(n)) if n > 0 => n as u64,
            Ok(_) => {
                let e = Fail::Protocol("INCR script returned no positive count".into());
                self.inner.common.error(&e);
                self.inner.common.fallback.incr(&key, ttl).await
            }
            Err(e) => {
                self.inner.common.error(&e);
                self.inner.common.fallback.incr(&key, ttl).await
            }
        }
    }

    pub async fn ping(&self) -> bool {
        match self.exec(&[b"PING"], true).await {
            Ok(Reply::Status(s)) => s == b"PONG",
            Ok(_) => false,
            Err(e) => {
                tracing::debug!(server = %self.inner.node.addr, error = %e, "redis ping failed");
                false
            }
        }
    }

    async fn exec(&self, args: &[&[u8]], force: bool) -> Result<Reply, Fail> {
        let node = &self.inner.node;
        let mut retried = false;
        loop {
            let mut lease = node.lease(force).await?;
            let handshake: &[Vec<Vec<u8>>] = if lease.fresh { &self.inner.handshake[..] } else { &[] };
            let work = async {
                for cmd in handshake {
                    let cmd: Vec<&[u8]> = cmd.iter().map(Vec::as_slice).collect();
                    // A refused AUTH or SELECT makes every command fail: treat it as down.
                    call(&mut lease.conn, &cmd).await.map_err(|e| match e {
                        Fail::Server(m) => Fail::Protocol(format!("{} refused: {m}", String::from_utf8_lossy(cmd[0]))),
                        e => e,
                    })?;
                }
                call(&mut lease.conn, args).await
            };
            let outcome = match tokio::time::timeout(self.inner.common.settings.op_timeout, work).await {
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
                self.replay_stale();
            }
            return outcome;
        }
    }

    fn replay_stale(&self) {
        let Some(keys) = self.inner.node.begin_replay() else { return };
        let me = self.clone();
        tokio::spawn(async move {
            // Up to 100 keys per DEL, to catch up quickly after an outage.
            let mut leftover = Vec::new();
            for chunk in keys.chunks(100) {
                if !leftover.is_empty() {
                    leftover.extend_from_slice(chunk);
                    continue;
                }
                let mut args: Vec<&[u8]> = vec![b"DEL"];
                args.extend(chunk.iter().map(|k| k.as_bytes()));
                if me.exec(&args, false).await.is_err() {
                    leftover.extend_from_slice(chunk);
                }
            }
            me.inner.node.end_replay(leftover);
        });
    }
}

async fn call(conn: &mut Conn, args: &[&[u8]]) -> Result<Reply, Fail> {
    let mut req = Vec::with_capacity(32 + args.iter().map(|a| a.len() + 16).sum::<usize>());
    req.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
    for arg in args {
        req.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
        req.extend_from_slice(arg);
        req.extend_from_slice(b"\r\n");
    }
    conn.write_all(&req).await.map_err(Fail::Io)?;
    conn.flush().await.map_err(Fail::Io)?;

    let line = read_line(conn).await?;
    let (kind, rest) = line.split_first().ok_or_else(|| Fail::Protocol("empty reply".into()))?;
    match kind {
        b'+' => Ok(Reply::Status(rest.to_vec())),
        b'-' => Err(Fail::Server(String::from_utf8_lossy(rest).into_owned())),
        b':' => Ok(Reply::Int(parse_num(rest)?)),
        b'$' => Ok(Reply::Bulk(bulk(conn, rest).await?)),
        b'*' => {
            let n: usize = parse_num(rest)?;
            let mut items = Vec::with_capacity(n.min(1024));
            for _ in 0..n {
                let line = read_line(conn).await?;
                match line.split_first() {
                    Some((b'$', rest)) => items.push(bulk(conn, rest).await?),
                    _ => return Err(Fail::Protocol(String::from_utf8_lossy(&line).into_owned())),
                }
            }
            Ok(Reply::Array(items))
        }
        _ => Err(Fail::Protocol(String::from_utf8_lossy(&line).into_owned())),
    }
}

/// The rest of a bulk string whose `$<len>` header was `len`.
async fn bulk(conn: &mut Conn, len: &[u8]) -> Result<Option<Bytes>, Fail> {
    match parse_num::<i64>(len)? {
        -1 => Ok(None),
        n if n >= 0 => Ok(Some(read_block(conn, n as usize).await?)),
        n => Err(Fail::Protocol(format!("bulk length {n}"))),
    }
}
