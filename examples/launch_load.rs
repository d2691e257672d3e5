//! The launch-day scenario: virtual visitors browse and write on a running
//! Coterie, each one a session of page requests with no think time (a
//! closed loop of `--concurrency` visitors at once), until `--visitors`
//! sessions are done or `--duration` seconds have passed, whichever comes
//! first. Run by `bench/launch.sh`, which seeds the site and starts the
//! server; the pages to visit come from `bench/launch_fill.py --targets`.
//!
//! Visitors, drawn by weight:
//! - anonymous (80 %): home, /forums, a forum, topics (popular ones more
//!   often, page 2 now and then), /photos grids, photo pages, galleries,
//!   /blog, blog posts, profiles and /members;
//! - members (15 %): log in through the real form (`/accounts/login`, with
//!   the form's `csrf_token`), then browse the same pages;
//! - writers (5 %): log in, browse, then write: a forum reply, a blog
//!   comment, votes on a photo and a blog post, and now and then a photo
//!   upload (a small JPEG made here, each one different).
//!
//! Every response is checked: 200 for a page, 303 for a form post (whose
//! redirect is then followed, as a browser does). Anything else is an
//! error; the first few are printed with their URL and status. Requests
//! ask for `br, gzip` as browsers do. The report gives requests, visitors,
//! req/s, latency percentiles overall and per page kind, errors by kind,
//! the page cache's answers per page kind (its `X-Cache` header),
//! and, read from the server itself, the page and object cache hits during
//! the run (`/metrics`) and the server's peak memory (VmHWM of `--server-pid`).
//!
//!     cargo run --release --example launch_load -- --base http://127.0.0.1:18200 \
//!         --targets targets.txt --members 2000 --password '...' --visitors 500 --duration 60

use std::collections::{BTreeMap, HashMap};
use std::io::Read as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::Parser;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use reqwest::header::{HeaderMap, HeaderValue, ACCEPT_ENCODING, CONTENT_ENCODING, LOCATION, ORIGIN, REFERER};
use reqwest::{Client, Method, StatusCode};

#[derive(Parser, Clone)]
#[command(about = "The launch-day scenario load test against a running Coterie")]
struct Args {
    /// The site, e.g. http://127.0.0.1:18200.
    #[arg(long)]
    base: String,
    /// Pages to visit: `KIND PATH [PAGES]` lines, most popular first per kind.
    #[arg(long)]
    targets: String,
    /// Members are member1..memberN, all with `--password`.
    #[arg(long)]
    members: u64,
    #[arg(long)]
    password: String,
    /// Stop after this many visitors have started (each finishes its session).
    #[arg(long, default_value_t = 200_000)]
    visitors: u64,
    /// ... or after this many seconds, whichever comes first.
    #[arg(long, default_value_t = 60)]
    duration: u64,
    /// Visitors at once.
    #[arg(long, default_value_t = 32)]
    concurrency: u64,
    /// Page views per session: at least this many.
    #[arg(long, default_value_t = 10)]
    pages: u32,
    /// Percent of visitors that browse anonymously, log in and browse, log in and write.
    #[arg(long, default_value = "80,15,5")]
    mix: String,
    /// The server's process, for its peak memory.
    #[arg(long)]
    server_pid: Option<u32>,
    #[arg(long, default_value_t = 7)]
    seed: u64,
}

/// Errors printed as they happen, beyond which they are only counted.
const SHOWN_ERRORS: usize = 10;

#[derive(Default)]
struct Stats {
    /// Latencies in microseconds, by page kind.
    latency: BTreeMap<&'static str, Vec<u32>>,
    /// Page-cache answers (the X-Cache header) by page kind: (hits, answers).
    cached: BTreeMap<&'static str, (u64, u64)>,
    /// (page kind, what went wrong) → count.
    errors: BTreeMap<(&'static str, String), u64>,
    shown: usize,
    visitors: [u64; 3],
}

struct Shared {
    args: Args,
    targets: HashMap<String, Vec<(String, u32)>>,
    stats: Mutex<Stats>,
    deadline: Instant,
    uploads: AtomicU64,
}

/// Why a session stopped early.
enum Stop {
    /// The time is up: the session is not counted.
    Time,
    /// A request failed (already counted): the session cannot go on.
    Failed,
}

type Step<T> = Result<T, Stop>;

const VISITOR_KINDS: [&str; 3] = ["anonymous", "member", "writer"];

/// The browsing mix, in percent of page views.
const BROWSE: &[(&str, u32)] = &[
    ("home", 10),
    ("forums", 8),
    ("forum", 8),
    ("topic", 30),
    ("photos", 8),
    ("photo", 12),
    ("gallery", 3),
    ("blog", 5),
    ("blog-post", 8),
    ("profile", 6),
    ("members", 2),
];

/// One visitor's browser: its cookies, and the site.
struct Visitor {
    shared: Arc<Shared>,
    client: Client,
    rng: StdRng,
}

struct Page {
    location: Option<String>,
    body: String,
}

impl Visitor {
    /// One request, timed and checked against `expect`; the body decoded
    /// when `decode` (pages whose forms are read).
    async fn request(&mut self, kind: &'static str, req: reqwest::RequestBuilder, url: &str, expect: StatusCode, decode: bool) -> Step<Page> {
        if Instant::now() >= self.shared.deadline {
            return Err(Stop::Time);
        }
        let started = Instant::now();
        let outcome = async {
            let resp = req.send().await?;
            let status = resp.status();
            let location = resp.headers().get(LOCATION).and_then(|v| v.to_str().ok()).map(str::to_string);
            let encoding = resp.headers().get(CONTENT_ENCODING).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
            let cache = resp.headers().get("x-cache").map(|v| v.as_bytes() == b"HIT");
            let bytes = resp.bytes().await?;
            Ok::<_, reqwest::Error>((status, location, encoding, cache, bytes))
        }
        .await;
        let micros = started.elapsed().as_micros().min(u32::MAX as u128) as u32;
        let failure = match &outcome {
            Err(e) => Some(format!("request failed: {e}")),
            Ok((status, ..)) if *status != expect => Some(format!("status {status}")),
            Ok(_) => None,
        };
        let body = match &outcome {
            Ok((_, _, encoding, _, bytes)) if decode || failure.is_some() => decompress(encoding, bytes),
            _ => String::new(),
        };
        {
            let mut stats = self.shared.stats.lock().unwrap();
            stats.latency.entry(kind).or_default().push(micros);
            if let Ok((.., Some(hit), _)) = &outcome {
                let counts = stats.cached.entry(kind).or_default();
                counts.0 += *hit as u64;
                counts.1 += 1;
            }
            if let Some(what) = &failure {
                *stats.errors.entry((kind, what.clone())).or_insert(0) += 1;
                if stats.shown < SHOWN_ERRORS {
                    stats.shown += 1;
                    let text: String = strip_tags(&body).chars().take(300).collect();
                    eprintln!("launch_load: error on {kind} {url}: {what}\n    {text}");
                }
            }
        }
        match (outcome, failure) {
            (Ok((_, location, ..)), None) => Ok(Page { location, body }),
            _ => Err(Stop::Failed),
        }
    }

    async fn get(&mut self, kind: &'static str, path: &str, decode: bool) -> Step<Page> {
        let url = format!("{}{path}", self.shared.args.base);
        let req = self.client.get(&url);
        self.request(kind, req, &url, StatusCode::OK, decode).await
    }

    /// A form post from `from` (the page it is on), expecting its 303, then
    /// the page it leads to.
    async fn post(&mut self, kind: &'static str, path: &str, from: &str, body: PostBody) -> Step<Page> {
        let base = self.shared.args.base.clone();
        let url = format!("{base}{path}");
        let req = self.client.request(Method::POST, &url).header(ORIGIN, &base).header(REFERER, format!("{base}{from}"));
        let req = match body {
            PostBody::Form(fields) => req.form(&fields),
            PostBody::Multipart(form) => req.multipart(form),
        };
        let done = self.request(kind, req, &url, StatusCode::SEE_OTHER, false).await?;
        let next = done.location.clone().unwrap_or_else(|| "/".into());
        let next = next.strip_prefix(&base).unwrap_or(&next).split('#').next().unwrap_or("/").to_string();
        self.get("after-post", &next, false).await.map(|_| done)
    }

    fn pick(&mut self, kind: &str) -> (String, u32) {
        let list = &self.shared.targets[kind];
        // Popular first in the list; a cube skews picks towards its head
        // (half of them land in its first eighth).
        let u: f64 = self.rng.gen();
        list[((u * u * u) * list.len() as f64) as usize].clone()
    }

    /// One page view from the browsing mix.
    async fn browse(&mut self) -> Step<()> {
        let mut roll = self.rng.gen_range(0..100);
        let kind = BROWSE.iter().find(|(_, w)| if roll < *w { true } else { roll -= w; false }).map(|(k, _)| *k).unwrap_or("home");
        let path = match kind {
            "home" => "/".to_string(),
            "forums" => "/forums".to_string(),
            "forum" => self.pick("forum").0,
            "topic" => {
                let (path, pages) = self.pick("topic");
                if pages >= 2 && self.rng.gen_bool(0.2) {
                    self.get("topic-page-2", &format!("{path}?page=2"), false).await?;
                    return Ok(());
                }
                path
            }
            "photos" => ["/photos", "/photos", "/photos?sort=top", "/photos?sort=hot"][self.rng.gen_range(0..4)].to_string(),
            "photo" => self.pick("photo").0,
            "gallery" => self.pick("gallery").0,
            "blog" => "/blog".to_string(),
            "blog-post" => self.pick("blog").0,
            "profile" => self.pick("member").0,
            _ => "/members".to_string(),
        };
        self.get(kind, &path, false).await.map(|_| ())
    }

    async fn log_in(&mut self) -> Step<String> {
        let username = format!("member{}", self.rng.gen_range(1..=self.shared.args.members));
        let form = self.get("login-form", "/accounts/login", true).await?;
        let token = csrf(&form.body);
        let fields = vec![("login", username.clone()), ("password", self.shared.args.password.clone()), ("csrf_token", token), ("next", "/".into())];
        self.post("login", "/accounts/login", "/accounts/login", PostBody::Form(fields)).await?;
        Ok(username)
    }

    async fn reply(&mut self) -> Step<()> {
        let (path, _) = self.pick("topic");
        let page = self.get("topic", &path, true).await?;
        let id = path.trim_start_matches("/forums/t/").split('-').next().unwrap_or_default().to_string();
        let body = format!("Agreed on the {} - tried it this week. ({})", pick_word(&mut self.rng), self.rng.gen::<u32>());
        let fields = vec![("body", body), ("csrf_token", csrf(&page.body))];
        self.post("reply", &format!("/forums/t/{id}/reply"), &path, PostBody::Form(fields)).await.map(|_| ())
    }

    async fn comment(&mut self) -> Step<()> {
        let (path, _) = self.pick("blog");
        let page = self.get("blog-post", &path, true).await?;
        let Some(action) = form_action(&page.body, "/comments/blog_post/") else { return Ok(()) };
        let body = format!("Lovely {} - where is it from? ({})", pick_word(&mut self.rng), self.rng.gen::<u32>());
        let fields = vec![("body", body), ("next", path.clone()), ("csrf_token", csrf(&page.body))];
        self.post("comment", &action, &path, PostBody::Form(fields)).await.map(|_| ())
    }

    /// An up (or now and then down) vote on a photo or a blog post that is
    /// not the member's own.
    async fn vote(&mut self, username: &str) -> Step<()> {
        let (kind, page_kind, target) = if self.rng.gen_bool(0.6) { ("photo", "photo", "photo") } else { ("blog", "blog-post", "blog_post") };
        let (path, _) = self.pick(kind);
        let page = self.get(page_kind, &path, true).await?;
        if page.body.contains(&format!("href=\"/u/{username}\"")) && page.body.contains("/edit\"") {
            return Ok(()); // quite possibly their own: votes on it are refused
        }
        let Some(action) = form_action(&page.body, &format!("/votes/{target}/")) else { return Ok(()) };
        let value = if self.rng.gen_bool(0.85) { "1" } else { "-1" };
        let fields = vec![("value", value.to_string()), ("next", path.clone()), ("csrf_token", csrf(&page.body))];
        self.post("vote", &action, &path, PostBody::Form(fields)).await.map(|_| ())
    }

    async fn upload(&mut self) -> Step<()> {
        let form = self.get("upload-form", "/photos/upload", true).await?;
        let n = self.shared.uploads.fetch_add(1, Ordering::Relaxed);
        let jpeg = small_jpeg(self.shared.args.seed.wrapping_mul(1_000_003).wrapping_add(n));
        let file = reqwest::multipart::Part::bytes(jpeg).file_name(format!("look-{n}.jpg")).mime_str("image/jpeg").expect("a valid type");
        let body = reqwest::multipart::Form::new()
            .text("csrf_token", csrf(&form.body))
            .text("title", format!("Today's {}", pick_word(&mut self.rng)))
            .text("caption", "Launch day look.")
            .text("tags", pick_word(&mut self.rng))
            .part("file", file);
        self.post("upload", "/photos/upload", "/photos/upload", PostBody::Multipart(body)).await.map(|_| ())
    }

    async fn session(&mut self, which: usize) -> Step<()> {
        let pages = self.shared.args.pages + self.rng.gen_range(0..5);
        let username = if which > 0 { Some(self.log_in().await?) } else { None };
        for _ in 0..pages {
            self.browse().await?;
        }
        if let (2, Some(username)) = (which, username) {
            if self.rng.gen_bool(0.6) {
                self.reply().await?;
            }
            if self.rng.gen_bool(0.6) {
                self.comment().await?;
            }
            for _ in 0..self.rng.gen_range(1..=3) {
                self.vote(&username).await?;
            }
            if self.rng.gen_bool(0.25) {
                self.upload().await?;
            }
        }
        Ok(())
    }
}

enum PostBody {
    Form(Vec<(&'static str, String)>),
    Multipart(reqwest::multipart::Form),
}

fn pick_word(rng: &mut StdRng) -> String {
    const WORDS: &[&str] = &["linen", "denim", "wool", "boots", "tweed", "knit", "collar", "vintage"];
    WORDS[rng.gen_range(0..WORDS.len())].to_string()
}

fn decompress(encoding: &str, bytes: &[u8]) -> String {
    let mut out = Vec::new();
    let done = match encoding {
        "br" => brotli::Decompressor::new(bytes, 4096).read_to_end(&mut out).is_ok(),
        "gzip" => flate2::read::GzDecoder::new(bytes).read_to_end(&mut out).is_ok(),
        _ => {
            out.extend_from_slice(bytes);
            true
        }
    };
    if done { String::from_utf8_lossy(&out).into_owned() } else { String::new() }
}

fn strip_tags(html: &str) -> String {
    let mut text = String::new();
    let mut inside = false;
    for c in html.chars() {
        match c {
            '<' => inside = true,
            '>' => {
                inside = false;
                text.push(' ');
            }
            _ if !inside => text.push(c),
            _ => {}
        }
    }
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The page's CSRF token (every form carries the same one).
fn csrf(html: &str) -> String {
    let mark = "name=\"csrf_token\" value=\"";
    html.find(mark).map(|i| &html[i + mark.len()..]).and_then(|rest| rest.split('"').next()).unwrap_or_default().to_string()
}

/// The first form action starting with `prefix` followed by an id.
fn form_action(html: &str, prefix: &str) -> Option<String> {
    let mark = format!("action=\"{prefix}");
    let start = html.find(&mark)? + "action=\"".len();
    let action: String = html[start..].chars().take_while(|c| *c != '"').collect();
    action[prefix.len()..].chars().all(|c| c.is_ascii_digit()).then_some(action)
}

/// A small JPEG (480×360), different for each `seed`.
fn small_jpeg(seed: u64) -> Vec<u8> {
    let mut rng = StdRng::seed_from_u64(seed);
    let (r, g, b): (u8, u8, u8) = (rng.gen(), rng.gen(), rng.gen());
    let img = image::RgbImage::from_fn(480, 360, |x, y| {
        image::Rgb([r.wrapping_add((x / 3) as u8), g.wrapping_add((y / 2) as u8), b.wrapping_add(((x + y) / 5) as u8)])
    });
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 85).encode_image(&img).expect("a JPEG");
    out
}

fn load_targets(path: &str) -> anyhow::Result<HashMap<String, Vec<(String, u32)>>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {path}"))?;
    let mut targets: HashMap<String, Vec<(String, u32)>> = HashMap::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let mut words = line.split_whitespace();
        let (Some(kind), Some(path)) = (words.next(), words.next()) else { bail!("bad target line: {line}") };
        let pages = words.next().map(str::parse).transpose()?.unwrap_or(1);
        targets.entry(kind.to_string()).or_default().push((path.to_string(), pages));
    }
    for kind in ["forum", "topic", "blog", "photo", "gallery", "member"] {
        if targets.get(kind).is_none_or(|l| l.is_empty()) {
            bail!("{path} has no {kind} pages");
        }
    }
    Ok(targets)
}

/// The page and object cache counters from the server's /metrics, by `name{labels}`.
async fn metrics(client: &Client, base: &str) -> anyhow::Result<HashMap<String, f64>> {
    let text = client.get(format!("{base}/metrics")).send().await?.error_for_status()?.text().await?;
    Ok(text
        .lines()
        .filter(|l| l.starts_with("coterie_page_cache_total") || l.starts_with("coterie_cache_"))
        .filter_map(|l| l.rsplit_once(' ').and_then(|(k, v)| Some((k.to_string(), v.parse().ok()?))))
        .collect())
}

fn peak_memory_mb(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

fn percentile(sorted: &[u32], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i] as f64 / 1000.0
}

fn latency_row(name: &str, mut micros: Vec<u32>, errors: u64, cached: Option<(u64, u64)>) -> String {
    micros.sort_unstable();
    let hits = match cached {
        Some((hits, answers)) if answers > 0 => format!("{:.1} % of {answers}", 100.0 * hits as f64 / answers as f64),
        _ => "-".into(),
    };
    format!(
        "| {name} | {} | {errors} | {:.1} | {:.1} | {:.1} | {:.1} | {hits} |",
        micros.len(),
        percentile(&micros, 0.50),
        percentile(&micros, 0.90),
        percentile(&micros, 0.99),
        micros.last().copied().unwrap_or(0) as f64 / 1000.0
    )
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let mix: Vec<u32> = args.mix.split(',').map(|p| p.trim().parse()).collect::<Result<_, _>>().context("--mix is three percentages")?;
    if mix.len() != 3 || mix.iter().sum::<u32>() != 100 {
        bail!("--mix is three percentages that add up to 100");
    }
    let targets = load_targets(&args.targets)?;
    let plain = Client::new();
    let before = metrics(&plain, &args.base).await.context("cannot read /metrics (is [metrics] allow set for 127.0.0.1?)")?;
    let started = Instant::now();
    let shared = Arc::new(Shared {
        deadline: started + Duration::from_secs(args.duration),
        args: args.clone(),
        targets,
        stats: Mutex::default(),
        uploads: AtomicU64::new(0),
    });
    let next_visitor = Arc::new(AtomicU64::new(0));
    let mut workers = Vec::new();
    for _ in 0..args.concurrency {
        let (shared, next_visitor, mix) = (shared.clone(), next_visitor.clone(), mix.clone());
        workers.push(tokio::spawn(async move {
            loop {
                let n = next_visitor.fetch_add(1, Ordering::Relaxed);
                if n >= shared.args.visitors || Instant::now() >= shared.deadline {
                    return;
                }
                let mut rng = StdRng::seed_from_u64(shared.args.seed ^ n.wrapping_mul(0x9E37_79B9_7F4A_7C15));
                let roll = rng.gen_range(0..100);
                let which = if roll < mix[0] { 0 } else if roll < mix[0] + mix[1] { 1 } else { 2 };
                let mut headers = HeaderMap::new();
                headers.insert(ACCEPT_ENCODING, HeaderValue::from_static("br, gzip"));
                let client = Client::builder()
                    .cookie_store(true)
                    .redirect(reqwest::redirect::Policy::none())
                    .timeout(Duration::from_secs(30))
                    .default_headers(headers)
                    .user_agent("coterie-launch-load")
                    .build()
                    .expect("an HTTP client");
                let mut visitor = Visitor { shared: shared.clone(), client, rng };
                if let Ok(()) | Err(Stop::Failed) = visitor.session(which).await {
                    shared.stats.lock().unwrap().visitors[which] += 1;
                }
            }
        }));
    }
    let progress = {
        let shared = shared.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(10)).await;
                let stats = shared.stats.lock().unwrap();
                let requests: usize = stats.latency.values().map(Vec::len).sum();
                eprintln!(
                    "launch_load: {:>4.0} s, {requests} requests, {} visitors done, {} errors",
                    started.elapsed().as_secs_f64(),
                    stats.visitors.iter().sum::<u64>(),
                    stats.errors.values().sum::<u64>()
                );
            }
        })
    };
    for w in workers {
        w.await?;
    }
    progress.abort();
    let elapsed = started.elapsed().as_secs_f64();
    let after = metrics(&plain, &args.base).await?;
    let delta = |key: &str| after.get(key).copied().unwrap_or(0.0) - before.get(key).copied().unwrap_or(0.0);

    let stats = std::mem::take(&mut *shared.stats.lock().unwrap());
    let requests: usize = stats.latency.values().map(Vec::len).sum();
    let errors: u64 = stats.errors.values().sum();
    let done: u64 = stats.visitors.iter().sum();
    println!(
        "\n{done} visitors completed ({}), {requests} requests in {elapsed:.1} s: {:.1} req/s, {:.1} pages per visitor, {errors} errors",
        VISITOR_KINDS.iter().zip(stats.visitors).map(|(k, n)| format!("{n} {k}")).collect::<Vec<_>>().join(", "),
        requests as f64 / elapsed,
        requests as f64 / done.max(1) as f64,
    );
    println!("\n| page | requests | errors | p50 ms | p90 ms | p99 ms | max ms | page cache hits |\n| --- | --- | --- | --- | --- | --- | --- | --- |");
    let all: Vec<u32> = stats.latency.values().flatten().copied().collect();
    let all_cached = stats.cached.values().fold((0, 0), |(h, a), (hits, answers)| (h + hits, a + answers));
    println!("{}", latency_row("all", all, errors, Some(all_cached)));
    for (kind, micros) in &stats.latency {
        let failed: u64 = stats.errors.iter().filter(|((k, _), _)| k == kind).map(|(_, n)| n).sum();
        println!("{}", latency_row(kind, micros.clone(), failed, stats.cached.get(kind).copied()));
    }
    if errors > 0 {
        println!("\nerrors:");
        for ((kind, what), n) in &stats.errors {
            println!("  {n:>6}  {kind}: {what}");
        }
    }
    let (hits, misses) = (delta("coterie_page_cache_total{outcome=\"hit\"}"), delta("coterie_page_cache_total{outcome=\"miss\"}"));
    let (coalesced, bypassed) = (delta("coterie_page_cache_total{outcome=\"coalesced\"}"), delta("coterie_page_cache_total{outcome=\"bypassed\"}"));
    let backend = after.keys().find_map(|k| k.strip_prefix("coterie_cache_hits_total")).unwrap_or("").to_string();
    let (ohits, omisses) = (delta(&format!("coterie_cache_hits_total{backend}")), delta(&format!("coterie_cache_misses_total{backend}")));
    let ratio = |a: f64, b: f64| if b > 0.0 { 100.0 * a / b } else { 0.0 };
    println!(
        "\npage cache during the run: {hits} hits, {misses} misses ({coalesced} of them waited for another's render), {bypassed} bypassed (members): \
         hit rate {:.1} % of anonymous page requests",
        ratio(hits + coalesced, hits + misses)
    );
    println!(
        "object cache {backend}: {ohits} hits, {omisses} misses: hit rate {:.1} %, errors {}",
        ratio(ohits, ohits + omisses),
        delta(&format!("coterie_cache_errors_total{backend}"))
    );
    match args.server_pid.and_then(peak_memory_mb) {
        Some(mb) => println!("server peak memory (VmHWM): {mb:.1} MB"),
        None => println!("server peak memory: unknown (no --server-pid, or its /proc/PID/status is not readable)"),
    }
    if errors > 0 {
        std::process::exit(1);
    }
    Ok(())
}
