//! One cache interface. The backend is chosen by the cache URL; every
//! operation degrades to a miss (never an error page) when a shared cache
//! server is unreachable.

mod memory;

use std::time::Duration;

use bytes::Bytes;

pub use memory::MemoryCache;

#[derive(Clone)]
pub enum Cache {
    Memory(MemoryCache),
}

impl Cache {
    pub fn from_url(url: &str) -> anyhow::Result<Cache> {
        match url.split("://").next().unwrap_or_default() {
            "memory" => Ok(Cache::Memory(MemoryCache::new(64 * 1024 * 1024))),
            other => anyhow::bail!("unsupported cache URL scheme {other:?}: this build supports memory://"),
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Cache::Memory(_) => "memory",
        }
    }

    pub async fn get(&self, key: &str) -> Option<Bytes> {
        match self {
            Cache::Memory(c) => c.get(key).await,
        }
    }

    pub async fn set(&self, key: &str, value: Bytes, ttl: Duration) {
        match self {
            Cache::Memory(c) => c.set(key, value, ttl).await,
        }
    }

    pub async fn delete(&self, key: &str) {
        match self {
            Cache::Memory(c) => c.delete(key).await,
        }
    }

    /// Adds one to a counter that lives `ttl` from its first increment, and
    /// returns the new count. Used for rate limits.
    pub async fn incr(&self, key: &str, ttl: Duration) -> u64 {
        match self {
            Cache::Memory(c) => c.incr(key, ttl).await,
        }
    }

    /// Is the cache answering?
    pub async fn ping(&self) -> bool {
        match self {
            Cache::Memory(_) => true,
        }
    }
}
