//! What the site is doing, for operators: `/metrics` in the Prometheus
//! text format (for their scraper), and `/status`, a page for staff with
//! the few figures that matter at a glance.
//!
//! Requests are counted by route template (`/forums/t/{topic}`, never the
//! raw path, so the number of series stays bounded) and status, with a
//! latency histogram per route. Database statements are counted and timed
//! process-wide (see [`queries`]).

pub mod queries;

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use minijinja::context;

use crate::app::AppState;
use crate::web::error::{AppError, AppResult};
use crate::web::page::Page;
use crate::web::session::Member;
use crate::web::ClientIp;

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 12] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5];
/// Seconds of history for the requests-per-second figure.
const WINDOW: usize = 60;

#[derive(Default)]
struct Histogram {
    /// One more than BUCKETS: the last counts everything slower.
    buckets: [AtomicU64; BUCKETS.len() + 1],
    count: AtomicU64,
    sum_micros: AtomicU64,
}

impl Histogram {
    /// An empty histogram, for a `static`.
    const fn new() -> Histogram {
        Histogram { buckets: [const { AtomicU64::new(0) }; BUCKETS.len() + 1], count: AtomicU64::new(0), sum_micros: AtomicU64::new(0) }
    }

    fn observe(&self, seconds: f64) {
        let i = BUCKETS.iter().position(|b| seconds <= *b).unwrap_or(BUCKETS.len());
        self.buckets[i].fetch_add(1, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_micros.fetch_add((seconds * 1e6) as u64, Ordering::Relaxed);
    }

    /// The bucket bound under which `q` of the requests finished.
    fn quantile(&self, q: f64) -> Option<f64> {
        let total = self.count.load(Ordering::Relaxed);
        if total == 0 {
            return None;
        }
        let wanted = (total as f64 * q).ceil() as u64;
        let mut seen = 0;
        for (i, b) in self.buckets.iter().enumerate() {
            seen += b.load(Ordering::Relaxed);
            if seen >= wanted {
                return Some(BUCKETS.get(i).copied().unwrap_or(f64::INFINITY));
            }
        }
        Some(f64::INFINITY)
    }

    /// Mean in seconds, if anything was observed.
    fn mean(&self) -> Option<f64> {
        let count = self.count.load(Ordering::Relaxed);
        (count > 0).then(|| self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6 / count as f64)
    }

    /// Writes the `_bucket`, `_sum` and `_count` lines of `name`, with
    /// `labels` (`a="b"`, or empty) on each, and returns the count written:
    /// the sum of the buckets read, so a scrape is consistent even while
    /// observations land.
    fn write(&self, out: &mut String, name: &str, labels: &str) -> u64 {
        let sep = if labels.is_empty() { "" } else { "," };
        let mut cumulative = 0;
        for (i, bound) in BUCKETS.iter().enumerate() {
            cumulative += self.buckets[i].load(Ordering::Relaxed);
            let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"{bound}\"}} {cumulative}");
        }
        let count = cumulative + self.buckets[BUCKETS.len()].load(Ordering::Relaxed);
        let braced = if labels.is_empty() { String::new() } else { format!("{{{labels}}}") };
        let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {count}");
        let _ = writeln!(out, "{name}_sum{braced} {}", self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6);
        let _ = writeln!(out, "{name}_count{braced} {count}");
        count
    }

    fn merge_into(&self, all: &Histogram) {
        for (a, b) in all.buckets.iter().zip(&self.buckets) {
            a.fetch_add(b.load(Ordering::Relaxed), Ordering::Relaxed);
        }
        all.count.fetch_add(self.count.load(Ordering::Relaxed), Ordering::Relaxed);
        all.sum_micros.fetch_add(self.sum_micros.load(Ordering::Relaxed), Ordering::Relaxed);
    }
}

/// Events per second over the last minute: (second, count) slots, one per
/// second of the window, reused as time goes round.
struct Rate([(AtomicU64, AtomicU64); WINDOW]);

impl Rate {
    const fn new() -> Rate {
        Rate([const { (AtomicU64::new(0), AtomicU64::new(0)) }; WINDOW])
    }

    /// Counts one event in second `now` (seconds since some start).
    fn count(&self, now: u64) {
        let (second, count) = &self.0[now as usize % WINDOW];
        if second.swap(now, Ordering::Relaxed) != now {
            count.store(0, Ordering::Relaxed);
        }
        count.fetch_add(1, Ordering::Relaxed);
    }

    /// Events per second over the last full minute before `now` (or since
    /// the start, in the first minute).
    fn per_second_at(&self, now: u64) -> f64 {
        let span = now.clamp(1, WINDOW as u64);
        let total: u64 = self
            .0
            .iter()
            .filter(|(s, _)| {
                let s = s.load(Ordering::Relaxed);
                s < now && now - s <= span
            })
            .map(|(_, c)| c.load(Ordering::Relaxed))
            .sum();
        total as f64 / span as f64
    }
}

/// One route template's figures.
#[derive(Default)]
struct Route {
    /// Status → count.
    statuses: HashMap<u16, u64>,
    latency: Histogram,
}

pub struct Metrics {
    started: Instant,
    /// By route template; looked up by `&str`, so a request allocates only
    /// the first time its route is seen.
    routes: Mutex<HashMap<String, Route>>,
    /// Requests per second over the last minute.
    seconds: Rate,
    /// Photo sizes made after their upload (first requests, regenerate).
    pub photo_sizes_made: AtomicU64,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            started: Instant::now(),
            routes: Mutex::default(),
            seconds: Rate::new(),
            photo_sizes_made: AtomicU64::new(0),
        }
    }
}

impl Metrics {
    pub(crate) fn record(&self, route: &str, status: u16, seconds: f64) {
        {
            let mut routes = self.routes.lock().expect("metrics lock");
            if !routes.contains_key(route) {
                routes.insert(route.to_string(), Route::default());
            }
            let figures = routes.get_mut(route).expect("inserted above");
            *figures.statuses.entry(status).or_insert(0) += 1;
            figures.latency.observe(seconds);
        }
        self.seconds.count(self.started.elapsed().as_secs());
    }

    /// Requests per second over the last full minute (or since start).
    fn per_second(&self) -> f64 {
        self.seconds.per_second_at(self.started.elapsed().as_secs())
    }

    fn overall(&self) -> Histogram {
        let all = Histogram::default();
        for route in self.routes.lock().expect("metrics lock").values() {
            route.latency.merge_into(&all);
        }
        all
    }
}

/// Counts every request by route and status, and times it.
pub async fn layer(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let route = request.extensions().get::<MatchedPath>().map(|p| p.as_str().to_string());
    let start = Instant::now();
    let response = next.run(request).await;
    let route = route.as_deref().unwrap_or("unmatched");
    state.metrics.record(route, response.status().as_u16(), start.elapsed().as_secs_f64());
    response
}

/// May this request read the figures? From an allowed address, or with
/// the configured token as a bearer token.
fn allowed(state: &AppState, ip: &ClientIp, headers: &axum::http::HeaderMap) -> bool {
    let config = &state.config.metrics;
    let by_address = config.allow.iter().any(|a| a.parse::<std::net::IpAddr>().ok() == Some(ip.0));
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|t| !config.token.is_empty() && crate::crypto::equal(t.trim(), &config.token));
    by_address || token
}

pub async fn prometheus(State(state): State<AppState>, ip: ClientIp, headers: axum::http::HeaderMap) -> AppResult<Response> {
    if !allowed(&state, &ip, &headers) {
        return Err(AppError::NotFound);
    }
    let mut out = String::with_capacity(8 * 1024);
    let m = &state.metrics;
    out.push_str("# HELP coterie_requests_total Requests answered, by route template and status.\n# TYPE coterie_requests_total counter\n");
    let routes = m.routes.lock().expect("metrics lock");
    let mut names: Vec<&String> = routes.keys().collect();
    names.sort();
    for name in &names {
        let mut statuses: Vec<_> = routes[*name].statuses.iter().collect();
        statuses.sort();
        for (status, n) in statuses {
            let _ = writeln!(out, "coterie_requests_total{{route=\"{}\",status=\"{status}\"}} {n}", escape(name));
        }
    }
    out.push_str("# HELP coterie_request_seconds Time to answer, by route template.\n# TYPE coterie_request_seconds histogram\n");
    for name in &names {
        routes[*name].latency.write(&mut out, "coterie_request_seconds", &format!("route=\"{}\"", escape(name)));
    }
    drop(routes);
    queries::write(&mut out, &state.db.backend.name().to_ascii_lowercase());
    let cache = state.cache.stats();
    let kind = state.cache.kind();
    let gauge = |out: &mut String, name: &str, help: &str, kind_of: &str, lines: &[(String, f64)]| {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind_of}");
        for (labels, v) in lines {
            let _ = writeln!(out, "{name}{labels} {v}");
        }
    };
    let backend = format!("{{backend=\"{kind}\"}}");
    gauge(&mut out, "coterie_cache_hits_total", "Cache reads that found a value.", "counter", &[(backend.clone(), cache.hits as f64)]);
    gauge(&mut out, "coterie_cache_misses_total", "Cache reads that found nothing (or failed).", "counter", &[(backend.clone(), cache.misses as f64)]);
    gauge(&mut out, "coterie_cache_errors_total", "Cache operations that did not reach the server.", "counter", &[(backend.clone(), cache.errors as f64)]);
    gauge(&mut out, "coterie_cache_hit_ratio", "Hits over reads since start.", "gauge", &[(backend, cache.hit_rate())]);
    let p = &state.pages.stats;
    let page_lines: Vec<(String, f64)> = [("hit", &p.hits), ("miss", &p.misses), ("stored", &p.stored), ("bypassed", &p.bypassed), ("coalesced", &p.coalesced)]
        .iter()
        .map(|(what, n)| (format!("{{outcome=\"{what}\"}}"), n.load(Ordering::Relaxed) as f64))
        .collect();
    gauge(&mut out, "coterie_page_cache_total", "Anonymous page requests by outcome.", "counter", &page_lines);
    gauge(&mut out, "coterie_page_cache_hit_ratio", "Anonymous page requests served from the cache.", "gauge", &[(String::new(), page_hit_rate(&state))]);
    let pools = state.db.pools();
    let pool_lines: Vec<(String, f64)> = pools
        .iter()
        .flat_map(|(name, size, idle)| {
            [(format!("{{pool=\"{name}\",state=\"open\"}}"), *size as f64), (format!("{{pool=\"{name}\",state=\"idle\"}}"), *idle as f64)]
        })
        .collect();
    gauge(&mut out, "coterie_db_connections", "Database connections per pool.", "gauge", &pool_lines);
    let workers = state.image_workers as f64;
    let busy = workers - state.image_jobs.available_permits() as f64;
    gauge(&mut out, "coterie_image_jobs_running", "Image jobs running now (of image_workers).", "gauge", &[(String::new(), busy)]);
    let made = m.photo_sizes_made.load(Ordering::Relaxed) as f64;
    gauge(&mut out, "coterie_photo_sizes_made_total", "Photo sizes made after their upload.", "counter", &[(String::new(), made)]);
    gauge(&mut out, "coterie_uptime_seconds", "Seconds since this process started.", "gauge", &[(String::new(), m.started.elapsed().as_secs_f64())]);
    let mut response = out.into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"));
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

fn page_hit_rate(state: &AppState) -> f64 {
    let p = &state.pages.stats;
    let hits = p.hits.load(Ordering::Relaxed) + p.coalesced.load(Ordering::Relaxed);
    let asked = p.hits.load(Ordering::Relaxed) + p.misses.load(Ordering::Relaxed);
    if asked == 0 {
        0.0
    } else {
        hits as f64 / asked as f64
    }
}

fn escape(label: &str) -> String {
    label.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

/// `/status`: for staff, the figures at a glance.
pub async fn status_page(State(state): State<AppState>, Member(me): Member, page: Page) -> AppResult<Response> {
    if !me.user.is_staff() {
        return Err(AppError::forbidden("Only staff can see the status page."));
    }
    let all = state.metrics.overall();
    let ms = |q: f64| all.quantile(q).map(|s| if s.is_finite() { format!("≤ {} ms", s * 1000.0) } else { "over 2.5 s".into() });
    let cache = state.cache.stats();
    let p = &state.pages.stats;
    let (jobs_queued, jobs_dead) = crate::jobs::queue::depth(&state.db).await?;
    let (queries_per_second, requests_per_second) = (queries::per_second(), state.metrics.per_second());
    page.render(
        "status.html",
        context! {
            uptime => state.metrics.started.elapsed().as_secs(),
            per_second => format!("{requests_per_second:.1}"),
            requests => all.count.load(Ordering::Relaxed),
            p50 => ms(0.5), p99 => ms(0.99),
            page_hit_rate => format!("{:.1}", page_hit_rate(&state) * 100.0),
            page_hits => p.hits.load(Ordering::Relaxed), page_misses => p.misses.load(Ordering::Relaxed),
            cache_kind => state.cache.kind(), cache_hit_rate => format!("{:.1}", cache.hit_rate() * 100.0),
            cache_errors => cache.errors, cache_up => state.cache.ping().await,
            database => state.db.backend.name(), database_up => state.db.ping().await,
            queries => queries::count(), queries_per_second => format!("{queries_per_second:.1}"),
            queries_per_request => (requests_per_second > 0.0).then(|| format!("{:.1}", queries_per_second / requests_per_second)),
            query_mean => queries::mean_seconds().map(|s| format!("{:.2} ms", s * 1000.0)),
            jobs_queued => jobs_queued, jobs_dead => jobs_dead,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_come_from_the_buckets() {
        let h = Histogram::default();
        assert_eq!(h.quantile(0.5), None);
        for _ in 0..98 {
            h.observe(0.0007);
        }
        h.observe(0.2);
        h.observe(9.0);
        assert_eq!(h.quantile(0.5), Some(0.001));
        assert_eq!(h.quantile(0.99), Some(0.25));
        assert_eq!(h.quantile(1.0), Some(f64::INFINITY));
    }

    #[test]
    fn requests_per_second_counts_the_last_minute() {
        let m = Rate::new();
        (0..10).for_each(|_| m.count(5));
        (0..20).for_each(|_| m.count(6));
        // The second still running does not count yet.
        assert_eq!(m.per_second_at(6), 10.0 / 6.0);
        assert_eq!(m.per_second_at(7), 30.0 / 7.0);
        assert_eq!(m.per_second_at(100), 0.0, "seconds older than the window count no more");
        // A slot reused a minute later starts again from zero.
        m.count(65);
        assert_eq!(m.per_second_at(66), 21.0 / 60.0, "seconds 6 to 65");
        assert_eq!(m.per_second_at(67), 1.0 / 60.0, "seconds 7 to 66");
    }

    #[test]
    fn histogram_lines_add_up() {
        let h = Histogram::default();
        h.observe(0.0002);
        h.observe(0.003);
        h.observe(7.0);
        let mut out = String::new();
        assert_eq!(h.write(&mut out, "x", "backend=\"sqlite\""), 3);
        assert!(out.contains("x_bucket{backend=\"sqlite\",le=\"0.0005\"} 1\n"), "{out}");
        assert!(out.contains("x_bucket{backend=\"sqlite\",le=\"0.005\"} 2\n"), "{out}");
        assert!(out.contains("x_bucket{backend=\"sqlite\",le=\"2.5\"} 2\n"), "{out}");
        assert!(out.contains("x_bucket{backend=\"sqlite\",le=\"+Inf\"} 3\n"), "{out}");
        assert!(out.contains("x_sum{backend=\"sqlite\"} 7.0032\n"), "{out}");
        assert!(out.ends_with("x_count{backend=\"sqlite\"} 3\n"), "{out}");
        let mut bare = String::new();
        h.write(&mut bare, "y", "");
        assert!(bare.contains("y_bucket{le=\"+Inf\"} 3\n") && bare.contains("y_count 3\n"), "{bare}");
    }
}
