//! The in-process cache: moka, bounded by bytes, with a lifetime per entry.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use moka::future::Cache as Moka;
use moka::Expiry;

#[derive(Clone)]
struct Entry {
    value: Bytes,
    ttl: Duration,
    /// Counters keep their first expiry when incremented.
    expires: Instant,
}

struct PerEntry;

impl Expiry<String, Entry> for PerEntry {
    fn expire_after_create(&self, _key: &String, entry: &Entry, _now: Instant) -> Option<Duration> {
        Some(entry.ttl)
    }

    fn expire_after_update(
        &self,
        _key: &String,
        entry: &Entry,
        now: Instant,
        _left: Option<Duration>,
    ) -> Option<Duration> {
        Some(entry.expires.saturating_duration_since(now))
    }
}

#[derive(Clone)]
pub struct MemoryCache {
    inner: Arc<Moka<String, Entry>>,
    pub(crate) counters: Arc<super::Counters>,
    /// Deletes so far (see `Cache::local_changes`).
    deletes: Arc<AtomicU64>,
}

impl MemoryCache {
    pub fn new(max_bytes: u64) -> MemoryCache {
        let inner = Moka::builder()
            .max_capacity(max_bytes)
            .weigher(|key: &String, entry: &Entry| (key.len() + entry.value.len() + 64).min(u32::MAX as usize) as u32)
            .expire_after(PerEntry)
            .build();
        MemoryCache { inner: Arc::new(inner), counters: Arc::default(), deletes: Arc::default() }
    }

    pub async fn get(&self, key: &str) -> Option<Bytes> {
        self.inner.get(key).await.map(|e| e.value)
    }

    pub async fn get_many(&self, keys: &[String]) -> Vec<Option<Bytes>> {
        let mut values = Vec::with_capacity(keys.len());
        for key in keys {
            values.push(self.get(key).await);
        }
        values
    }

    pub async fn add(&self, key: &str, value: Bytes, ttl: Duration) -> bool {
        let entry = self
            .inner
            .entry(key.to_string())
            .or_insert_with(async move { Entry { value, ttl, expires: Instant::now() + ttl } })
            .await;
        entry.is_fresh()
    }

    pub async fn set(&self, key: &str, value: Bytes, ttl: Duration) {
        let entry = Entry { value, ttl, expires: Instant::now() + ttl };
        self.inner.insert(key.to_string(), entry).await;
    }

    pub async fn delete(&self, key: &str) {
        self.inner.invalidate(key).await;
        // Counted after the delete: whoever reads the count before checking
        // a value and finds it unchanged later saw no delete since.
        self.deletes.fetch_add(1, Ordering::AcqRel);
    }

    pub fn deletes(&self) -> u64 {
        self.deletes.load(Ordering::Acquire)
    }

    pub async fn incr(&self, key: &str, ttl: Duration) -> u64 {
        let updated = self
            .inner
            .entry(key.to_string())
            .and_upsert_with(|existing| async move {
                let now = Instant::now();
                match existing.map(|e| e.into_value()) {
                    Some(e) if e.expires > now => {
                        let n = parse_count(&e.value) + 1;
                        Entry { value: Bytes::from(n.to_string()), ..e }
                    }
                    _ => Entry { value: Bytes::from_static(b"1"), ttl, expires: now + ttl },
                }
            })
            .await;
        parse_count(&updated.into_value().value)
    }
}

fn parse_count(b: &[u8]) -> u64 {
    std::str::from_utf8(b).ok().and_then(|s| s.parse().ok()).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn set_get_delete_and_expiry() {
        let c = MemoryCache::new(1 << 20);
        c.set("a", Bytes::from_static(b"x"), Duration::from_millis(50)).await;
        assert_eq!(c.get("a").await.as_deref(), Some(&b"x"[..]));
        c.delete("a").await;
        assert!(c.get("a").await.is_none());
        c.set("b", Bytes::from_static(b"y"), Duration::from_millis(30)).await;
        tokio::time::sleep(Duration::from_millis(80)).await;
        assert!(c.get("b").await.is_none());
    }

    #[tokio::test]
    async fn counters_count_concurrently_and_reset_after_their_window() {
        let c = MemoryCache::new(1 << 20);
        let tasks: Vec<_> = (0..50)
            .map(|_| {
                let c = c.clone();
                tokio::spawn(async move { c.incr("n", Duration::from_secs(5)).await })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(c.incr("n", Duration::from_secs(5)).await, 51);
        assert_eq!(c.incr("short", Duration::from_millis(30)).await, 1);
        tokio::time::sleep(Duration::from_millis(80)).await;
        assert_eq!(c.incr("short", Duration::from_millis(30)).await, 1);
    }
}
