//! Shared state, and the router: every app's routes wired in one place.

use std::net::SocketAddr;
use std::ops::Deref;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::extract::State;
use axum::http::{header, HeaderValue, Request, StatusCode};
use axum::middleware::from_fn_with_state;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use minijinja::context;
use tokio::sync::Semaphore;
use tower_http::request_id::{MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer};
use tower_http::trace::{DefaultOnResponse, TraceLayer};

use crate::cache::Cache;
use crate::config::Config;
use crate::db::{migrations, Db};
use crate::mail::Mailer;
use crate::pagecache::{tags, PageCache};
use crate::media::MediaStore;
use crate::web::assets::{self, Assets};
use crate::web::error::{AppError, AppResult};
use crate::web::page::Page;
use crate::web::render::Templates;
use crate::content::Kind;
use crate::{accounts, blog, comments, forums, photos, profiles, votes, web};

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/embedded.rs"));
}

/// Every app's migrations, in the order they apply.
pub const MIGRATIONS: &[migrations::AppMigrations] = &[
    migrations::AppMigrations { app: "accounts", migrations: accounts::migrations::MIGRATIONS },
    migrations::AppMigrations { app: "votes", migrations: votes::MIGRATIONS },
    migrations::AppMigrations { app: "comments", migrations: comments::MIGRATIONS },
    migrations::AppMigrations { app: "blog", migrations: blog::MIGRATIONS },
    migrations::AppMigrations { app: "forums", migrations: forums::migrations::MIGRATIONS },
    migrations::AppMigrations { app: "photos", migrations: photos::MIGRATIONS },
    migrations::AppMigrations { app: "jobs", migrations: crate::jobs::migrations::MIGRATIONS },
];

/// The site's main sections, in navigation order: (path, label).
pub const SECTIONS: &[(&str, &str)] = &[("/members", "Members"), ("/blog", "Blog"), ("/forums", "Forums"), ("/photos", "Photos")];

/// Content that comments and votes attach to: one line per kind.
pub const KINDS: &[Kind] = &[
    Kind { name: "blog_post", table: "blog_posts", visible: blog::VISIBLE, time: "published_at", link: "/blog/p/", comments: true, votes: true, lists: &[tags::BLOG], within: None },
    Kind { name: "photo", table: "photos", visible: photos::VISIBLE, time: "created_at", link: "/photos/", comments: true, votes: true, lists: &[tags::PHOTOS], within: Some(("gallery", "SELECT gallery_id FROM {table} WHERE id = ? AND gallery_id IS NOT NULL")) },
    Kind { name: "comment", table: "comments", visible: "status = 0 AND 0 < ?", time: "created_at", link: "/comments/", comments: false, votes: true, lists: &[], within: None },
    Kind { name: "forum_post", table: "forum_posts", visible: forums::VISIBLE, time: "created_at", link: "/forums/p/", comments: false, votes: true, lists: &[], within: Some(("topic", "SELECT topic_id FROM {table} WHERE id = ?")) },
];

/// Copies of an item's score kept elsewhere for ordering, refreshed in the
/// vote's transaction: (kind, statement locking the copy's row first,
/// binding the id; statement binding the new score, then the id).
pub const SCORE_COPIES: &[(&str, &str, &str)] = &[("forum_post", forums::TOPIC_SCORE_LOCK, forums::TOPIC_SCORE_COPY)];

pub struct Shared {
    pub config: Config,
    pub db: Db,
    pub cache: Cache,
    pub media: MediaStore,
    pub mailer: Mailer,
    /// The durable queue of background work (email, ...).
    pub jobs: crate::jobs::Jobs,
    pub templates: Templates,
    pub assets: Arc<Assets>,
    /// Signs CSRF tokens and flash cookies.
    pub secret: Vec<u8>,
    /// Bounds image work running at once.
    pub image_jobs: Semaphore,
    pub pages: PageCache,
    pub views: crate::views::ViewCounts,
    pub metrics: crate::metrics::Metrics,
    /// How many image jobs may run at once (`image_jobs` starts with this many permits).
    pub image_workers: usize,
    /// Upload bytes held in memory, in KiB permits (`photos.upload_memory_bytes`).
    pub upload_memory: Arc<Semaphore>,
}

#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl Deref for AppState {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.0
    }
}

impl AppState {
    /// Connects every part, migrating the database first.
    pub async fn build(config: Config) -> anyhow::Result<AppState> {
        Self::build_with(config, crate::jobs::Registry::builtin()).await
    }

    /// [`AppState::build`] with these job handlers (the built-in ones and
    /// any a test adds).
    pub async fn build_with(config: Config, handlers: crate::jobs::Registry) -> anyhow::Result<AppState> {
        std::fs::create_dir_all(&config.data_dir)
            .with_context(|| format!("cannot create the data folder {}", config.data_dir.display()))?;
        let db = Db::connect(&config.database_url(), config.database_pool_size).await?;
        let applied = migrations::run(&db).await?;
        if !applied.is_empty() {
            tracing::info!(?applied, backend = db.backend.name(), "database migrated");
        }
        let secret = site_secret(&db, &config).await?;
        let cache = Cache::from_url(&config.cache_url)?;
        let media = MediaStore::open(&config.media_url(), &config.s3)?.announcing_deletions(cache.clone());
        let mailer = Mailer::new(&config.smtp_url, config.outbox_dir(), &config.email_from)?;
        let assets = Arc::new(load_assets(&config)?);
        let templates = Templates::load(embedded::TEMPLATES, config.theme_dir.clone(), assets.clone(), SECTIONS)?;
        let workers = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
        let upload_memory_kib = config.photos.upload_memory_bytes / 1024;
        let pages = PageCache::new(config.page_cache.enabled, Duration::from_secs(config.page_cache.max_age_seconds.max(1)));
        let jobs = crate::jobs::Jobs::new(db.clone(), handlers, config.jobs.clone());
        Ok(AppState(Arc::new(Shared {
            config,
            db,
            cache,
            media,
            mailer,
            jobs,
            templates,
            assets,
            secret,
            image_jobs: Semaphore::new(workers),
            pages,
            views: Default::default(),
            metrics: Default::default(),
            image_workers: workers,
            upload_memory: Arc::new(Semaphore::new((upload_memory_kib).max(1))),
        })))
    }
}

/// The theme's static files: the embedded ones overlaid by the theme folder.
pub fn load_assets(config: &Config) -> anyhow::Result<Assets> {
    Assets::load(embedded::STATIC_FILES, config.theme_dir.as_deref())
}

/// The configured key, or one made once and kept in the database so every
/// app process sharing the database signs alike.
async fn site_secret(db: &Db, config: &Config) -> anyhow::Result<Vec<u8>> {
    if !config.secret_key.is_empty() {
        return Ok(config.secret_key.as_bytes().to_vec());
    }
    let read = || async {
        db.query("SELECT value FROM settings WHERE name = 'secret_key'")
            .fetch_optional(db.w())
            .await
            .and_then(|row| row.map(|r| crate::db::text(&r, "value")).transpose())
    };
    if let Some(secret) = read().await? {
        return Ok(secret.into_bytes());
    }
    let fresh = crate::crypto::random_token();
    // Two processes starting at once: one insert wins, both read the winner.
    let _ = db
        .query("INSERT INTO settings (name, value) VALUES ('secret_key', ?)")
        .bind(fresh)
        .execute(db.w())
        .await;
    Ok(read().await?.context("the site secret could not be stored")?.into_bytes())
}

#[derive(Clone, Default)]
struct RandomRequestId;

impl MakeRequestId for RandomRequestId {
    fn make_request_id<B>(&mut self, _request: &Request<B>) -> Option<RequestId> {
        let id = format!("{:016x}", rand::random::<u64>());
        Some(RequestId::new(HeaderValue::from_str(&id).expect("hex is a valid header")))
    }
}

pub fn router(state: AppState) -> Router {
    let trace = TraceLayer::new_for_http()
        .make_span_with(|request: &Request<_>| {
            let id = request.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("-");
            tracing::info_span!("request", id, method = %request.method(), path = %request.uri().path())
        })
        .on_request(())
        .on_response(DefaultOnResponse::new().level(tracing::Level::INFO).latency_unit(tower_http::LatencyUnit::Micros));
    Router::new()
        .route("/", get(home))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(ready))
        .route("/metrics", get(crate::metrics::prometheus))
        .route("/status", get(crate::metrics::status_page))
        .route("/static/{*path}", get(assets::serve))
        .route("/media/{*key}", get(crate::media::serve::media))
        .merge(accounts::router())
        .merge(profiles::router())
        .merge(blog::router())
        .merge(comments::router())
        .merge(votes::router())
        .merge(forums::router())
        .merge(photos::router(&state.config))
        .merge(crate::sitemap::router())
        .fallback(|| async { AppError::NotFound })
        .layer(from_fn_with_state(state.clone(), web::csrf::guard))
        // A panic becomes a 500 that error_pages then dresses as the theme's page.
        .layer(tower_http::catch_panic::CatchPanicLayer::new())
        .layer(from_fn_with_state(state.clone(), web::error_pages))
        .layer(from_fn_with_state(state.clone(), web::session::load))
        .layer(compression(true))
        .layer(compression(false))
        .layer(from_fn_with_state(state.clone(), crate::pagecache::layer))
        .layer(from_fn_with_state(state.clone(), web::security_headers))
        // Outside the page cache, so pages served from it count too.
        .layer(from_fn_with_state(state.clone(), crate::metrics::layer))
        .layer(trace)
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(SetRequestIdLayer::x_request_id(RandomRequestId))
        .with_state(state)
}

/// HTML and JSON compressed on the way out (static files come compressed
/// already), in two layers: pages a visitor may get from the page cache
/// (those with `PageTags`) at brotli/gzip level 4, as they are compressed
/// once and sent many times; pages made for one request (members', forms,
/// errors) at level 1, which costs a fraction of the time of level 4.
fn compression(cacheable: bool) -> tower_http::compression::CompressionLayer<impl tower_http::compression::Predicate> {
    use tower_http::compression::predicate::{DefaultPredicate, Predicate as _};
    let level = if cacheable { 4 } else { 1 };
    let tagged = move |_: StatusCode, _: axum::http::Version, _: &axum::http::HeaderMap, extensions: &axum::http::Extensions| {
        extensions.get::<crate::pagecache::PageTags>().is_some() == cacheable
    };
    tower_http::compression::CompressionLayer::new()
        .no_deflate()
        .no_zstd()
        .quality(tower_http::CompressionLevel::Precise(level))
        .compress_when(DefaultPredicate::new().and(tagged))
}

async fn home(State(state): State<AppState>, page: Page) -> AppResult<Response> {
    let members: Vec<_> = crate::accounts::store::newest(&state.db, 12, 0)
        .await?
        .iter()
        .map(|u| u.profile(&state.config))
        .collect();
    let count = crate::accounts::store::counter(&state.db, "members").await?;
    let featured = blog::featured(&state, 3).await?;
    let page = page.tagged([tags::MEMBERS.to_string(), tags::BLOG.to_string()]).tagged(featured.iter().map(|p| tags::user(p.author.id)));
    page.render("home.html", context! { members => members, featured => featured, stats => context! { members => count } })
}

async fn ready(State(state): State<AppState>) -> Response {
    if state.db.ping().await {
        (StatusCode::OK, "ready").into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, [(header::CACHE_CONTROL, "no-store")], "database unreachable").into_response()
    }
}

/// Serves until `shutdown` resolves, then lets requests in flight finish.
pub async fn serve(
    state: AppState,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    // Remembered pages for visitors are answered before routing.
    let app = crate::pagecache::FastHits::new(state.clone(), router(state.clone()));
    let app = axum::ServiceExt::<axum::extract::Request>::into_make_service_with_connect_info::<SocketAddr>(app);
    crate::views::spawn_flusher(state.clone());
    let workers = crate::jobs::worker::start(&state);
    let served = axum::serve(listener, app).with_graceful_shutdown(shutdown).await;
    workers.stop().await;
    served?;
    if let Err(e) = state.views.flush(&state.db).await {
        tracing::warn!(error = %e, "the last view counts could not be written");
    }
    state.db.close().await;
    Ok(())
}

/// Resolves on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    tracing::info!("shutting down: finishing requests in flight");
}
