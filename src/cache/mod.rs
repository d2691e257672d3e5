//! One cache interface. The backend is chosen by the cache URL; every
//! operation degrades to a miss (never an error page) when a shared cache
//! server is unreachable.
//!
//! - `memory://`: in this process (moka).
//! - `memcache://host:port[,host:port...]`: memcached, keys spread over the
//!   servers by consistent hashing.
//! - `redis://[[user]:password@]host:port[/db]`: Redis.
//!
//! Shared backends take options as query parameters: `namespace` (prefix of
//! every key, default `coterie:`), `pool` (connections per server, 16),
//! `connect_timeout_ms` (100), `timeout_ms` (250), `backoff_ms` (1000: how
//! long to serve misses without trying after a failure).

mod memcached;
mod memory;
mod net;
mod redis;
#[cfg(test)]
mod tests;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;

pub use memcached::Memcached;
pub use memory::MemoryCache;
pub use redis::Redis;

#[derive(Clone)]
pub enum Cache {
    Memory(MemoryCache),
    Memcached(Memcached),
    Redis(Redis),
}

/// Counts since the cache was opened, for /metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CacheStats {
    pub hits: u64,
    /// Includes gets that failed (they are misses to the caller).
    pub misses: u64,
    /// Operations that did not reach the server, or that it refused.
    pub errors: u64,
}

impl CacheStats {
    /// Hits over gets, 0 when nothing was read yet.
    pub fn hit_rate(&self) -> f64 {
        let gets = self.hits + self.misses;
        if gets == 0 {
            0.0
        } else {
            self.hits as f64 / gets as f64
        }
    }
}

#[derive(Default)]
pub(crate) struct Counters {
    hits: AtomicU64,
    misses: AtomicU64,
    errors: AtomicU64,
}

impl Cache {
    pub fn from_url(url: &str) -> anyhow::Result<Cache> {
        let scheme = url.split("://").next().unwrap_or_default();
        match scheme {
            "memory" => Ok(Cache::Memory(MemoryCache::new(64 * 1024 * 1024))),
            "memcache" | "memcached" => Ok(Cache::Memcached(Memcached::new(net::Target::parse(url, 11211)?))),
            "redis" => Ok(Cache::Redis(Redis::new(net::Target::parse(url, 6379)?)?)),
            other => anyhow::bail!(
                "unsupported cache URL scheme {other:?}: use memory://, memcache://host:port or redis://host:port"
            ),
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Cache::Memory(_) => "memory",
            Cache::Memcached(_) => "memcached",
            Cache::Redis(_) => "redis",
        }
    }

    /// Is this the in-process cache (no other process shares it)?
    pub fn is_local(&self) -> bool {
        matches!(self, Cache::Memory(_))
    }

    /// With the in-process cache, how many deletes it has had: while this
    /// stays the same, nothing checked against it has changed (no other
    /// process can change it). None with a shared cache.
    pub fn local_changes(&self) -> Option<u64> {
        match self {
            Cache::Memory(c) => Some(c.deletes()),
            _ => None,
        }
    }

    fn counters(&self) -> &Counters {
        match self {
            Cache::Memory(c) => &c.counters,
            Cache::Memcached(c) => &c.common().counters,
            Cache::Redis(c) => &c.common().counters,
        }
    }

    pub fn stats(&self) -> CacheStats {
        let c = self.counters();
        CacheStats {
            hits: c.hits.load(Ordering::Relaxed),
            misses: c.misses.load(Ordering::Relaxed),
            errors: c.errors.load(Ordering::Relaxed),
        }
    }

    pub async fn get(&self, key: &str) -> Option<Bytes> {
        let value = match self {
            Cache::Memory(c) => c.get(key).await,
            Cache::Memcached(c) => c.get(key).await,
            Cache::Redis(c) => c.get(key).await,
        };
        let counter = if value.is_some() { &self.counters().hits } else { &self.counters().misses };
        counter.fetch_add(1, Ordering::Relaxed);
        value
    }

    /// Several keys at once, in the order asked: one round trip per server.
    pub async fn get_many(&self, keys: &[String]) -> Vec<Option<Bytes>> {
        if keys.is_empty() {
            return Vec::new();
        }
        let values = match self {
            Cache::Memory(c) => c.get_many(keys).await,
            Cache::Memcached(c) => c.get_many(keys).await,
            Cache::Redis(c) => c.get_many(keys).await,
        };
        let found = values.iter().filter(|v| v.is_some()).count() as u64;
        self.counters().hits.fetch_add(found, Ordering::Relaxed);
        self.counters().misses.fetch_add(values.len() as u64 - found, Ordering::Relaxed);
        values
    }

    /// Stores `value` only if `key` holds nothing yet; true if it was
    /// stored. False too when the server could not be reached.
    pub async fn add(&self, key: &str, value: Bytes, ttl: Duration) -> bool {
        match self {
            Cache::Memory(c) => c.add(key, value, ttl).await,
            Cache::Memcached(c) => c.add(key, value, ttl).await,
            Cache::Redis(c) => c.add(key, value, ttl).await,
        }
    }

    /// False while deletes missed during an outage are still to be replayed:
    /// until then an entry may be stale, so nothing should be served from it
    /// that must be exact.
    pub fn settled(&self) -> bool {
        match self {
            Cache::Memory(_) => true,
            Cache::Memcached(c) => c.settled(),
            Cache::Redis(c) => c.settled(),
        }
    }

    pub async fn set(&self, key: &str, value: Bytes, ttl: Duration) {
        match self {
            Cache::Memory(c) => c.set(key, value, ttl).await,
            Cache::Memcached(c) => c.set(key, value, ttl).await,
            Cache::Redis(c) => c.set(key, value, ttl).await,
        }
    }

    pub async fn delete(&self, key: &str) {
        match self {
            Cache::Memory(c) => c.delete(key).await,
            Cache::Memcached(c) => c.delete(key).await,
            Cache::Redis(c) => c.delete(key).await,
        }
    }

    /// Adds one to a counter that lives `ttl` from its first increment, and
    /// returns the new count. Used for rate limits. While a shared server is
    /// unreachable, counts in this process instead, so limits still hold.
    /// memcached counts in whole seconds (a `ttl` is rounded up).
    pub async fn incr(&self, key: &str, ttl: Duration) -> u64 {
        match self {
            Cache::Memory(c) => c.incr(key, ttl).await,
            Cache::Memcached(c) => c.incr(key, ttl).await,
            Cache::Redis(c) => c.incr(key, ttl).await,
        }
    }

    /// Is the cache answering? Asks the server(s) even during a back-off.
    pub async fn ping(&self) -> bool {
        match self {
            Cache::Memory(_) => true,
            Cache::Memcached(c) => c.ping().await,
            Cache::Redis(c) => c.ping().await,
        }
    }
}
