//! The test app: a real server on a free port with its own data folder and
//! its own database (SQLite, or a fresh database on the PostgreSQL or MySQL
//! server named by COTERIE_TEST_POSTGRES_URL / COTERIE_TEST_MYSQL_URL),
//! driven over real HTTP.
#![allow(dead_code)]

use std::path::PathBuf;

use coterie::app::{self, AppState};
use coterie::config::Config;
use coterie::jobs::Registry;
use reqwest::header::HeaderMap;
use reqwest::{redirect, StatusCode};
use sqlx::{Connection, Row};
use tokio::sync::oneshot;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
    Mysql,
}

/// Runs a test body once per backend: `backend_tests!(name);` makes
/// `sqlite::name`, `postgres::name` and `mysql::name` from `async fn name(b: Backend)`.
#[macro_export]
macro_rules! backend_tests {
    ($($name:ident),* $(,)?) => {
        mod sqlite { $( #[tokio::test(flavor = "multi_thread", worker_threads = 2)] async fn $name() { super::$name(super::common::Backend::Sqlite).await } )* }
        mod postgres { $( #[tokio::test(flavor = "multi_thread", worker_threads = 2)] async fn $name() { if super::common::available(super::common::Backend::Postgres) { super::$name(super::common::Backend::Postgres).await } } )* }
        mod mysql { $( #[tokio::test(flavor = "multi_thread", worker_threads = 2)] async fn $name() { if super::common::available(super::common::Backend::Mysql) { super::$name(super::common::Backend::Mysql).await } } )* }
    };
}

pub fn server_url(backend: Backend) -> Option<String> {
    let var = match backend {
        Backend::Sqlite => return None,
        Backend::Postgres => "COTERIE_TEST_POSTGRES_URL",
        Backend::Mysql => "COTERIE_TEST_MYSQL_URL",
    };
    std::env::var(var).ok().filter(|v| !v.is_empty())
}

/// Is this backend's server configured? Says so on stderr when it is not.
pub fn available(backend: Backend) -> bool {
    if backend == Backend::Sqlite || server_url(backend).is_some() {
        return true;
    }
    eprintln!("SKIPPED on {backend:?}: set COTERIE_TEST_{}_URL to run it", format!("{backend:?}").to_uppercase());
    false
}

pub struct TestApp {
    pub base: String,
    pub state: AppState,
    pub client: reqwest::Client,
    pub data: tempfile::TempDir,
    stop: Option<oneshot::Sender<()>>,
    served: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

pub struct Builder {
    backend: Backend,
    tweak: Vec<Box<dyn FnOnce(&mut Config)>>,
    jobs: Registry,
    database_url: Option<String>,
}

/// A bucket of its own on the S3-compatible test server named by
/// COTERIE_TEST_S3_URL (`scripts/s3-server` starts one).
pub struct TestBucket {
    pub endpoint: String,
    pub name: String,
}

impl TestBucket {
    /// A new, empty bucket; None (saying so) when no server is configured.
    pub async fn create() -> Option<TestBucket> {
        let Some(endpoint) = std::env::var("COTERIE_TEST_S3_URL").ok().filter(|v| !v.is_empty()) else {
            eprintln!("SKIPPED on S3: set COTERIE_TEST_S3_URL to run it");
            return None;
        };
        let bucket = TestBucket { endpoint: endpoint.trim_end_matches('/').to_string(), name: format!("coterie-t-{:08x}", rand_u32()) };
        // object_store cannot make buckets; the test server takes a plain PUT.
        let made = reqwest::Client::new().put(bucket.object_url("")).send().await.expect("the S3 test server answers");
        assert!(made.status().is_success(), "creating bucket {}: {}", bucket.name, made.status());
        Some(bucket)
    }

    /// How the app reaches it (the test server takes any key pair).
    pub fn settings(&self) -> coterie::config::S3Config {
        coterie::config::S3Config {
            endpoint: self.endpoint.clone(),
            access_key_id: "coterie-test".into(),
            secret_access_key: "coterie-test-secret".into(),
            allow_http: true,
            ..Default::default()
        }
    }

    /// The bucket's address on the server.
    pub fn object_url(&self, name: &str) -> String {
        format!("{}/{}/{name}", self.endpoint, self.name)
    }

    /// A client of the whole bucket that goes past the app's store (no
    /// prefix, no key checks): what any other S3 tool would see.
    pub fn client(&self) -> object_store::aws::AmazonS3 {
        let s = self.settings();
        object_store::aws::AmazonS3Builder::new()
            .with_bucket_name(&self.name)
            .with_endpoint(&s.endpoint)
            .with_region(&s.region)
            .with_access_key_id(&s.access_key_id)
            .with_secret_access_key(&s.secret_access_key)
            .with_allow_http(true)
            .build()
            .unwrap()
    }
}

impl TestApp {
    pub fn with(backend: Backend) -> Builder {
        Builder { backend, tweak: Vec::new(), jobs: Registry::builtin(), database_url: None }
    }

    pub async fn spawn(backend: Backend) -> TestApp {
        Self::with(backend).spawn().await
    }
}

impl Builder {
    pub fn config(mut self, f: impl FnOnce(&mut Config) + 'static) -> Builder {
        self.tweak.push(Box::new(f));
        self
    }

    /// Media in `bucket`, under the key prefix `prefix`.
    pub fn media_s3(self, bucket: &TestBucket, prefix: &str) -> Builder {
        let (url, settings) = (format!("s3://{}/{prefix}", bucket.name), bucket.settings());
        self.config(move |c| {
            c.media_url = url;
            c.s3 = settings;
        })
    }

    /// Adds a job kind that only this test knows.
    pub fn job<F, Fut>(mut self, kind: &'static str, run: F) -> Builder
    where
        F: Fn(AppState, serde_json::Value) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = anyhow::Result<()>> + Send + 'static,
    {
        self.jobs = self.jobs.with(kind, run);
        self
    }

    /// Uses `other`'s database instead of a fresh one: a second app process
    /// beside it, or the same site started again.
    pub fn sharing(mut self, other: &TestApp) -> Builder {
        self.database_url = Some(other.state.config.database_url());
        self
    }

    pub async fn spawn(self) -> TestApp {
        // Errors the app logs show in a failing test's output; database
        // statements are counted as `coterie serve` counts them.
        use tracing_subscriber::Layer as _;
        let log = tracing_subscriber::fmt::layer().with_test_writer().with_filter(tracing_subscriber::EnvFilter::new("warn"));
        let _ = coterie::metrics::queries::install(log);
        let data = tempfile::tempdir().unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut config = Config::load_from(None, &[]).unwrap();
        config.addr = addr;
        config.data_dir = data.path().to_path_buf();
        config.public_url = format!("http://{addr}");
        config.database_pool_size = 4;
        config.avatars.gravatar = false;
        config.database_url = match (self.database_url, self.backend) {
            (Some(shared), _) => shared,
            (None, Backend::Sqlite) => String::new(),
            (None, backend) => fresh_database(backend).await,
        };
        for f in self.tweak {
            f(&mut config);
        }
        let state = AppState::build_with(config, self.jobs).await.expect("the app starts");
        let (stop, stopped) = oneshot::channel::<()>();
        let served = tokio::spawn(app::serve(state.clone(), listener, async move {
            let _ = stopped.await;
        }));
        TestApp { base: format!("http://{addr}"), state, client: client(), data, stop: Some(stop), served: Some(served) }
    }
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder().cookie_store(true).redirect(redirect::Policy::none()).build().unwrap()
}

impl TestApp {
    /// Stops the server as `serve` stops on SIGTERM, and waits until it has
    /// (its workers finished, the database closed). The data folder stays.
    pub async fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(served) = self.served.take() {
            served.await.expect("serve did not panic").expect("serve stopped cleanly");
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// A response read whole.
pub struct Page {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub text: String,
}

impl Page {
    pub fn header(&self, name: &str) -> &str {
        self.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
    }

    pub fn location(&self) -> &str {
        self.header("location")
    }

    /// The CSRF token of the first form on the page.
    pub fn csrf(&self) -> String {
        let marker = "name=\"csrf_token\" value=\"";
        let start = self.text.find(marker).unwrap_or_else(|| panic!("no CSRF token on the page:\n{}", self.text)) + marker.len();
        let end = self.text[start..].find('"').unwrap();
        self.text[start..start + end].to_string()
    }
}

async fn read(response: reqwest::Response) -> Page {
    Page { status: response.status(), headers: response.headers().clone(), text: response.text().await.unwrap() }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn get(&self, path: &str) -> Page {
        self.get_with(&self.client, path).await
    }

    pub async fn get_with(&self, client: &reqwest::Client, path: &str) -> Page {
        read(client.get(self.url(path)).send().await.unwrap()).await
    }

    /// Posts a form with the CSRF token of the page at `form_page`.
    pub async fn post(&self, form_page: &str, action: &str, fields: &[(&str, &str)]) -> Page {
        self.post_with(&self.client, form_page, action, fields).await
    }

    pub async fn post_with(&self, client: &reqwest::Client, form_page: &str, action: &str, fields: &[(&str, &str)]) -> Page {
        let token = self.get_with(client, form_page).await.csrf();
        let mut all: Vec<(&str, &str)> = vec![("csrf_token", &token)];
        all.extend_from_slice(fields);
        self.post_raw(client, action, &all).await
    }

    /// Posts exactly these fields, with no token added.
    pub async fn post_raw(&self, client: &reqwest::Client, action: &str, fields: &[(&str, &str)]) -> Page {
        read(client.post(self.url(action)).form(fields).send().await.unwrap()).await
    }

    pub async fn post_multipart(&self, form_page: &str, action: &str, form: reqwest::multipart::Form, with_token: bool) -> Page {
        let form = if with_token { form.text("csrf_token", self.get(form_page).await.csrf()) } else { form };
        read(self.client.post(self.url(action)).multipart(form).send().await.unwrap()).await
    }

    /// Creates a confirmed member directly in the database.
    pub async fn member(&self, username: &str, password: &str, role: &str) -> i64 {
        let hash = coterie::accounts::password::hash(password.to_string()).await.unwrap();
        coterie::accounts::store::create(
            &self.state.db,
            coterie::accounts::store::NewUser {
                username,
                email: &format!("{username}@example.com"),
                password_hash: hash,
                role,
                email_confirmed: true,
                avatar_mode: "gravatar",
            },
        )
        .await
        .unwrap()
    }

    /// A category "Talk" with these forums (slug, visibility), named
    /// "The {slug} forum", straight into the database.
    pub async fn forums(&self, forums: &[(&str, &str)]) {
        let db = &self.state.db;
        let category = db
            .insert("INSERT INTO forum_categories (name, slug, description, position, created_at) VALUES ('Talk', 'talk', 'Everything.', 1, 0)")
            .run(db.w())
            .await
            .unwrap();
        for (i, (slug, visibility)) in forums.iter().enumerate() {
            db.insert(
                "INSERT INTO forums (category_id, name, slug, description, position, visibility, created_at) VALUES (?, ?, ?, '', ?, ?, 0)",
            )
            .bind(category)
            .bind(format!("The {slug} forum"))
            .bind(slug.to_string())
            .bind(i as i64)
            .bind(visibility.to_string())
            .run(db.w())
            .await
            .unwrap();
        }
    }

    /// A client logged in as `user_id` without going through the form (for
    /// tests that need many members at once).
    pub async fn client_for(&self, user_id: i64) -> reqwest::Client {
        let cookie = coterie::web::session::start(&self.state, user_id, "127.0.0.1", "test").await.unwrap();
        let pair = cookie.to_str().unwrap().split(';').next().unwrap().to_string();
        let jar = std::sync::Arc::new(reqwest::cookie::Jar::default());
        jar.add_cookie_str(&pair, &self.base.parse().unwrap());
        reqwest::Client::builder().cookie_provider(jar).redirect(redirect::Policy::none()).build().unwrap()
    }

    /// Logs `client` in through the form.
    pub async fn login_with(&self, client: &reqwest::Client, login: &str, password: &str) -> Page {
        self.post_with(client, "/accounts/login", "/accounts/login", &[("login", login), ("password", password)]).await
    }

    pub async fn login(&self, login: &str, password: &str) -> Page {
        self.login_with(&self.client, login, password).await
    }

    /// Runs the queued jobs that are due until none is left, waiting for
    /// those the app's own workers are running.
    pub async fn run_jobs(&self) {
        let db = &self.state.db;
        for _ in 0..3000 {
            coterie::jobs::run_pending(&self.state).await.expect("the job queue answers");
            let due = db
                .query("SELECT COUNT(*) FROM jobs WHERE dead_at IS NULL AND run_at <= ?")
                .bind(coterie::db::now())
                .fetch_one(db.w())
                .await
                .unwrap()
                .get::<i64, _>(0);
            if due == 0 {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        panic!("queued jobs did not finish");
    }

    /// The emails written to the outbox, oldest first, once every queued
    /// job that is due has run.
    pub async fn outbox(&self) -> Vec<String> {
        self.run_jobs().await;
        self.sent()
    }

    /// The emails in the outbox now, oldest first.
    pub fn sent(&self) -> Vec<String> {
        let dir = self.data.path().join("outbox");
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .map(|d| d.flatten().map(|e| e.path()).collect())
            .unwrap_or_default();
        files.sort();
        files.iter().map(|f| std::fs::read_to_string(f).unwrap()).collect()
    }

    /// The first link to this site in the newest email, as a path.
    pub async fn last_link(&self) -> String {
        let mail = self.outbox().await.pop().expect("an email was sent");
        let mail = unfold_quoted_printable(&mail);
        let start = mail.find(&self.base).expect("the email links to the site");
        let link: String = mail[start..].chars().take_while(|c| !c.is_whitespace()).collect();
        link.trim_start_matches(&self.base).to_string()
    }

    /// The sum of the first column over all rows (SUM() is not an integer on every backend).
    pub async fn sum(&self, sql: &'static str) -> i64 {
        let rows = self.state.db.query(sql).fetch_all(self.state.db.w()).await.unwrap();
        rows.iter().map(|r| r.get::<i64, _>(0)).sum()
    }

    pub async fn count(&self, sql: &'static str) -> i64 {
        self.state.db.query(sql).fetch_one(self.state.db.w()).await.unwrap().get::<i64, _>(0)
    }
}

/// Undoes soft line breaks and `=3D` in a quoted-printable body.
fn unfold_quoted_printable(mail: &str) -> String {
    mail.replace("=\r\n", "").replace("=\n", "").replace("=3D", "=")
}

/// A new, empty database on the server, named after this process so that
/// databases left by earlier test processes can be found and dropped.
pub async fn fresh_database(backend: Backend) -> String {
    let server = server_url(backend).expect("server URL");
    let pid = std::process::id();
    let name = format!("coterie_t_{pid}_{:08x}", rand_u32());
    let mut conn = sqlx::AnyConnection::connect(&server_any(&server)).await.expect("the test database server answers");
    let list = match backend {
        Backend::Postgres => "SELECT datname::text FROM pg_database WHERE datname LIKE 'coterie_t_%'",
        _ => "SELECT schema_name FROM information_schema.schemata WHERE schema_name LIKE 'coterie_t_%'",
    };
    let existing: Vec<String> = sqlx::query(list).fetch_all(&mut conn).await.unwrap().iter().map(|r| r.get::<String, _>(0)).collect();
    for old in existing {
        let owner: Option<u32> = old.split('_').nth(2).and_then(|p| p.parse().ok());
        if owner.is_some_and(|p| p != pid && !std::path::Path::new(&format!("/proc/{p}")).exists()) {
            let drop = match backend {
                Backend::Postgres => format!("DROP DATABASE IF EXISTS {old} WITH (FORCE)"),
                _ => format!("DROP DATABASE IF EXISTS {old}"),
            };
            let _ = sqlx::query(&drop).execute(&mut conn).await;
        }
    }
    sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut conn).await.expect("create the test database");
    let (base, _) = server.rsplit_once('/').expect("the URL names a database");
    format!("{base}/{name}")
}

fn server_any(url: &str) -> String {
    sqlx::any::install_default_drivers();
    url.to_string()
}

fn rand_u32() -> u32 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos());
    h.finish() as u32
}

/// A small real PNG of `w`×`h` colour blocks.
pub fn png(w: u32, h: u32) -> Vec<u8> {
    let img = image::RgbImage::from_fn(w, h, |x, y| image::Rgb([(x * 255 / w.max(1)) as u8, (y * 255 / h.max(1)) as u8, 120]));
    let mut out = Vec::new();
    img.write_to(&mut std::io::Cursor::new(&mut out), image::ImageFormat::Png).unwrap();
    out
}

/// Runs a Python 3 `script` with `input` on its standard input and returns
/// what it printed. Fails the test, saying what to install, when python3 or
/// a module the script imports is missing (`scripts/setup` installs them).
pub fn python(script: &str, input: &str) -> String {
    use std::io::Write as _;
    let mut child = std::process::Command::new("python3")
        .args(["-c", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("python3 is needed for this test and could not be run ({e}); run scripts/setup"));
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    if stderr.contains("ModuleNotFoundError") {
        panic!("a Python module this test needs is missing; run scripts/setup (it installs feedparser):\n{stderr}");
    }
    assert!(out.status.success(), "the Python check failed:\n{stderr}");
    String::from_utf8(out.stdout).unwrap()
}

/// A multipart form with `bytes` as the file field `file`.
pub fn with_file(form: reqwest::multipart::Form, bytes: Vec<u8>, name: &str) -> reqwest::multipart::Form {
    form.part("file", reqwest::multipart::Part::bytes(bytes).file_name(name.to_string()).mime_str("application/octet-stream").unwrap())
}

/// A tiny PNG whose header claims `w`×`h` pixels: a decompression bomb's shape.
pub fn png_claiming(w: u32, h: u32) -> Vec<u8> {
    let mut bomb = png(8, 8);
    bomb[16..20].copy_from_slice(&w.to_be_bytes());
    bomb[20..24].copy_from_slice(&h.to_be_bytes());
    let crc = crc32(&bomb[12..29]);
    bomb[29..33].copy_from_slice(&crc.to_be_bytes());
    bomb
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &byte in data {
        crc ^= byte as u32;
        for _ in 0..8 {
            crc = if crc & 1 != 0 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
        }
    }
    !crc
}

/// Every file under `root`, as paths relative to it with `/` between parts.
pub fn files_under(root: &std::path::Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if let Ok(rel) = path.strip_prefix(root) {
                found.push(rel.to_string_lossy().replace('\\', "/"));
            }
        }
    }
    found
}
