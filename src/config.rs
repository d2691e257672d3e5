//! One configuration struct: defaults, then the TOML file, then `COTERIE_*`
//! environment variables (`COTERIE_ADDR`, or `COTERIE_AVATARS_MAX_BYTES` for
//! the `max_bytes` key of the `[avatars]` section).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address the HTTP server listens on.
    pub addr: SocketAddr,
    /// Folder for the embedded defaults: SQLite database, media, outbox.
    pub data_dir: PathBuf,
    /// Public base URL; empty means `http://{addr}`.
    pub public_url: String,
    /// Empty means `sqlite://{data_dir}/coterie.db`.
    pub database_url: String,
    /// `memory://`, `memcache://host:port` or `redis://host:port`.
    pub cache_url: String,
    /// Empty means `file://{data_dir}/media`; `s3://bucket/prefix` stores
    /// media in an S3-compatible store set up in `[s3]`.
    pub media_url: String,
    /// Empty means messages are written to `{data_dir}/outbox/`.
    pub smtp_url: String,
    /// Sender address of outgoing email.
    pub email_from: String,
    /// A folder whose `templates/` and `static/` override the embedded theme.
    pub theme_dir: Option<PathBuf>,
    pub site_name: String,
    /// Key for signing tokens. Empty: one is generated and kept in the
    /// database, so every app process sharing the database shares it.
    pub secret_key: String,
    /// Database connections per process.
    pub database_pool_size: u32,
    /// Client addresses are read from X-Forwarded-For only when the direct
    /// peer is one of these (nginx in front); otherwise the peer address counts.
    pub trusted_proxies: Vec<String>,
    pub accounts: AccountsConfig,
    pub avatars: AvatarsConfig,
    pub rate_limits: RateLimitsConfig,
    pub comments: CommentsConfig,
    pub votes: VotesConfig,
    pub page_cache: PageCacheConfig,
    pub metrics: MetricsConfig,
    pub photos: PhotosConfig,
    pub blog: BlogConfig,
    pub s3: S3Config,
    pub jobs: JobsConfig,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MetricsConfig {
    /// Client addresses that may read /metrics.
    pub allow: Vec<String>,
    /// Or anyone sending `Authorization: Bearer {token}` (empty: no token works).
    pub token: String,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        MetricsConfig { allow: vec!["127.0.0.1".into(), "::1".into()], token: String::new() }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PageCacheConfig {
    /// Serve visitors who are not logged in from the page cache.
    pub enabled: bool,
    /// The longest a page is kept. Writes invalidate pages at once; this
    /// only bounds how long an unvisited page takes room.
    pub max_age_seconds: u64,
}

impl Default for PageCacheConfig {
    fn default() -> Self {
        PageCacheConfig { enabled: true, max_age_seconds: 3600 }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PhotosConfig {
    /// Largest file accepted, in bytes (each file, and each image in a ZIP).
    pub max_bytes: usize,
    /// Largest picture, as width × height claimed by its header.
    pub max_pixels: u64,
    /// Files one upload may carry.
    pub max_files_per_upload: usize,
    /// Keep the uploaded file under `originals/` (never served).
    pub keep_originals: bool,
    /// Bytes of uploads this process holds in memory at once, over all
    /// requests; an upload past it is asked to try again shortly (429).
    pub upload_memory_bytes: usize,
    /// The sizes made at upload (`[[photos.sizes]]`).
    pub sizes: Vec<crate::media::pipeline::PhotoSize>,
}

impl Default for PhotosConfig {
    fn default() -> Self {
        PhotosConfig {
            max_bytes: 20 * 1024 * 1024,
            max_pixels: 50_000_000,
            max_files_per_upload: 20,
            keep_originals: true,
            upload_memory_bytes: 512 * 1024 * 1024,
            sizes: crate::media::pipeline::PhotoSize::defaults(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CommentsConfig {
    /// Authors may edit a comment this long after posting it.
    pub edit_minutes: i64,
    /// Comments per member per rate-limit window (a third of it in a member's first day).
    pub per_window: u64,
}

impl Default for CommentsConfig {
    fn default() -> Self {
        CommentsConfig { edit_minutes: 15, per_window: 30 }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct VotesConfig {
    /// May members vote on their own content?
    pub allow_self: bool,
}

impl Default for VotesConfig {
    fn default() -> Self {
        VotesConfig { allow_self: false }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AccountsConfig {
    pub min_password_length: usize,
    /// Members must click the emailed link before they can log in.
    pub require_email_confirmation: bool,
    pub confirm_token_hours: i64,
    pub reset_token_hours: i64,
    pub session_days: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AvatarsConfig {
    pub max_bytes: usize,
    pub max_pixels: u64,
    /// Square sizes in pixels: small, medium and large.
    pub sizes: [u32; 3],
    /// `gravatar` or `upload`: what a member shows by default.
    pub default_mode: String,
    /// Members without an upload show their Gravatar; when false, a
    /// picture from the theme instead (no requests to gravatar.com).
    pub gravatar: bool,
    /// Gravatar's picture for addresses it does not know (`identicon`, `mp`, `retro`, ...).
    pub gravatar_default: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RateLimitsConfig {
    /// Attempts per IP address per window on log-in, sign-up and password reset.
    pub auth_per_ip: u64,
    /// Failed log-ins per account per window.
    pub login_per_account: u64,
    pub window_seconds: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            addr: "127.0.0.1:8000".parse().expect("valid default address"),
            data_dir: PathBuf::from("./data"),
            public_url: String::new(),
            database_url: String::new(),
            cache_url: "memory://".into(),
            media_url: String::new(),
            smtp_url: String::new(),
            email_from: "Coterie <no-reply@localhost>".into(),
            theme_dir: None,
            site_name: "Coterie".into(),
            secret_key: String::new(),
            database_pool_size: 8,
            trusted_proxies: vec![],
            accounts: AccountsConfig::default(),
            avatars: AvatarsConfig::default(),
            rate_limits: RateLimitsConfig::default(),
            comments: CommentsConfig::default(),
            votes: VotesConfig::default(),
            page_cache: PageCacheConfig::default(),
            metrics: MetricsConfig::default(),
            photos: PhotosConfig::default(),
            blog: BlogConfig::default(),
            s3: S3Config::default(),
            jobs: JobsConfig::default(),
        }
    }
}

impl Default for AccountsConfig {
    fn default() -> Self {
        AccountsConfig {
            min_password_length: 10,
            require_email_confirmation: true,
            confirm_token_hours: 48,
            reset_token_hours: 2,
            session_days: 30,
        }
    }
}

impl Default for AvatarsConfig {
    fn default() -> Self {
        AvatarsConfig {
            max_bytes: 5 * 1024 * 1024,
            max_pixels: 40_000_000,
            sizes: [40, 80, 200],
            default_mode: "gravatar".into(),
            gravatar: true,
            gravatar_default: "identicon".into(),
        }
    }
}

impl Default for RateLimitsConfig {
    fn default() -> Self {
        RateLimitsConfig { auth_per_ip: 20, login_per_account: 10, window_seconds: 600 }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BlogConfig {
    /// Largest cover image upload, in bytes.
    pub cover_max_bytes: usize,
    /// Largest cover image, in pixels (width × height), checked before decoding.
    pub cover_max_pixels: u64,
}

impl Default for BlogConfig {
    fn default() -> Self {
        BlogConfig { cover_max_bytes: 10 * 1024 * 1024, cover_max_pixels: 50_000_000 }
    }
}

/// The S3-compatible store behind `media_url = "s3://bucket/prefix"`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct S3Config {
    /// Empty: AWS itself, in `region`. Otherwise the store's base URL
    /// (`http://127.0.0.1:9000`), addressed path-style (`{endpoint}/{bucket}/{key}`).
    pub endpoint: String,
    pub region: String,
    /// Empty: the standard `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` environment.
    pub access_key_id: String,
    pub secret_access_key: String,
    /// Allow an `http://` endpoint (a store on this machine or network).
    pub allow_http: bool,
}

impl Default for S3Config {
    fn default() -> Self {
        S3Config {
            endpoint: String::new(),
            region: "us-east-1".into(),
            access_key_id: String::new(),
            secret_access_key: String::new(),
            allow_http: false,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct JobsConfig {
    /// Workers running queued jobs in this process (0: this process only enqueues).
    pub workers: usize,
    /// How often an idle worker looks for jobs that other processes enqueued.
    pub poll_seconds: u64,
    /// A claimed job is another worker's to take once this long has passed
    /// (its process died mid-job); longer than any job takes.
    pub lease_seconds: u64,
    /// Tries before a failing job is kept as dead and no longer retried.
    pub max_attempts: i64,
    /// Wait before the first retry; doubled each further try, up to backoff_max_seconds.
    pub backoff_seconds: u64,
    pub backoff_max_seconds: u64,
}

impl Default for JobsConfig {
    fn default() -> Self {
        JobsConfig { workers: 2, poll_seconds: 5, lease_seconds: 300, max_attempts: 8, backoff_seconds: 10, backoff_max_seconds: 3600 }
    }
}

const ENV_PREFIX: &str = "COTERIE_";

impl Config {
    /// Defaults, then `file` (if any), then the environment.
    pub fn load(file: Option<&Path>) -> anyhow::Result<Config> {
        let env: Vec<(String, String)> = std::env::vars().collect();
        Self::load_from(file, &env)
    }

    pub fn load_from(file: Option<&Path>, env: &[(String, String)]) -> anyhow::Result<Config> {
        let mut tree = toml::Value::try_from(Config::default())?;
        if let Some(path) = file {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read the configuration file {}", path.display()))?;
            let from_file: toml::Value = toml::from_str(&text)
                .with_context(|| format!("{} is not valid TOML", path.display()))?;
            merge(&mut tree, from_file);
        }
        for (name, value) in env {
            apply_env(&mut tree, name, value)?;
        }
        let config: Config = tree.try_into().context("invalid configuration")?;
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> anyhow::Result<()> {
        if !matches!(self.avatars.default_mode.as_str(), "gravatar" | "upload") {
            bail!("avatars.default_mode must be \"gravatar\" or \"upload\"");
        }
        if self.avatars.sizes.iter().any(|&s| s == 0 || s > 1024) {
            bail!("avatars.sizes must be between 1 and 1024 pixels");
        }
        if self.accounts.min_password_length < 8 {
            bail!("accounts.min_password_length must be at least 8");
        }
        self.validate_photos()?;
        if self.jobs.poll_seconds == 0 || self.jobs.lease_seconds == 0 || self.jobs.max_attempts < 1 {
            bail!("jobs.poll_seconds and jobs.lease_seconds must be above 0, and jobs.max_attempts at least 1");
        }
        if self.database_pool_size == 0 {
            bail!("database_pool_size must be at least 1");
        }
        let public = self.public_url();
        if !(public.starts_with("http://") || public.starts_with("https://")) {
            bail!("public_url must start with http:// or https://");
        }
        Ok(())
    }

    fn validate_photos(&self) -> anyhow::Result<()> {
        let p = &self.photos;
        if p.max_bytes == 0 || p.max_pixels == 0 || p.max_files_per_upload == 0 {
            bail!("photos.max_bytes, max_pixels and max_files_per_upload must be above 0");
        }
        if p.sizes.is_empty() || p.sizes.iter().any(|s| s.formats.is_empty() || s.name.is_empty()) {
            bail!("photos.sizes needs at least one size, each with a name and a format");
        }
        let names_ok = p.sizes.iter().all(|s| s.name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'));
        if !names_ok || p.sizes.iter().enumerate().any(|(i, s)| p.sizes[..i].iter().any(|t| t.name == s.name)) {
            bail!("photos.sizes names must be distinct words of letters, digits and _");
        }
        Ok(())
    }

    pub fn public_url(&self) -> String {
        if self.public_url.is_empty() {
            format!("http://{}", self.addr)
        } else {
            self.public_url.trim_end_matches('/').to_string()
        }
    }

    /// Cookies get the Secure flag when the site is served over https.
    pub fn secure_cookies(&self) -> bool {
        self.public_url().starts_with("https://")
    }

    pub fn database_url(&self) -> String {
        if self.database_url.is_empty() {
            format!("sqlite://{}/coterie.db", self.data_dir.display())
        } else {
            self.database_url.clone()
        }
    }

    pub fn media_url(&self) -> String {
        if self.media_url.is_empty() {
            format!("file://{}/media", self.data_dir.display())
        } else {
            self.media_url.clone()
        }
    }

    pub fn outbox_dir(&self) -> PathBuf {
        self.data_dir.join("outbox")
    }
}

/// Recursively overlays `over` onto `base`, table by table.
fn merge(base: &mut toml::Value, over: toml::Value) {
    match (base, over) {
        (toml::Value::Table(base), toml::Value::Table(over)) => {
            for (key, value) in over {
                match base.get_mut(&key) {
                    Some(slot) => merge(slot, value),
                    None => {
                        base.insert(key, value);
                    }
                }
            }
        }
        (slot, value) => *slot = value,
    }
}

/// Maps `COTERIE_SECTION_KEY` onto the configuration tree. Variables that
/// name no setting (such as `COTERIE_TEST_*`) are left alone.
fn apply_env(tree: &mut toml::Value, name: &str, raw: &str) -> anyhow::Result<()> {
    let Some(rest) = name.strip_prefix(ENV_PREFIX) else { return Ok(()) };
    let key = rest.to_ascii_lowercase();
    let table = tree.as_table_mut().expect("configuration is a table");
    if let Some(slot) = table.get_mut(&key) {
        *slot = env_value(slot, raw).with_context(|| format!("{name} has an invalid value"))?;
        return Ok(());
    }
    // The theme folder has no default, so it is absent from the tree.
    if key == "theme_dir" {
        table.insert(key, toml::Value::String(raw.to_string()));
        return Ok(());
    }
    for (section, value) in table.iter_mut() {
        let Some(inner) = key.strip_prefix(&format!("{section}_")) else { continue };
        if let Some(slot) = value.as_table_mut().and_then(|t| t.get_mut(inner)) {
            *slot = env_value(slot, raw).with_context(|| format!("{name} has an invalid value"))?;
            return Ok(());
        }
    }
    Ok(())
}

/// Parses an environment string into the type the default has.
fn env_value(current: &toml::Value, raw: &str) -> anyhow::Result<toml::Value> {
    Ok(match current {
        toml::Value::Integer(_) => toml::Value::Integer(raw.trim().parse()?),
        toml::Value::Boolean(_) => toml::Value::Boolean(match raw.trim() {
            "1" | "true" | "yes" | "on" => true,
            "0" | "false" | "no" | "off" => false,
            other => bail!("expected true or false, got {other:?}"),
        }),
        toml::Value::Float(_) => toml::Value::Float(raw.trim().parse()?),
        toml::Value::Array(_) => {
            let parsed: toml::Value = toml::from_str(&format!("v = {raw}"))
                .or_else(|_| {
                    let items: Vec<String> =
                        raw.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect();
                    toml::Value::try_from(std::collections::BTreeMap::from([("v", items)]))
                })?;
            parsed.get("v").cloned().unwrap_or(toml::Value::Array(vec![]))
        }
        _ => toml::Value::String(raw.to_string()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn defaults_keep_everything_under_data() {
        let c = Config::load_from(None, &[]).unwrap();
        assert_eq!(c.database_url(), "sqlite://./data/coterie.db");
        assert_eq!(c.media_url(), "file://./data/media");
        assert_eq!(c.cache_url, "memory://");
        assert_eq!(c.public_url(), "http://127.0.0.1:8000");
    }

    #[test]
    fn environment_overrides_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(&path, "site_name = \"Atelier\"\n[avatars]\nmax_bytes = 100\n").unwrap();
        let c = Config::load_from(
            Some(&path),
            &env(&[
                ("COTERIE_AVATARS_MAX_BYTES", "200"),
                ("COTERIE_ADDR", "127.0.0.1:9000"),
                ("COTERIE_TEST_POSTGRES_URL", "ignored"),
                ("COTERIE_THEME_DIR", "/themes/a"),
                ("COTERIE_TRUSTED_PROXIES", "127.0.0.1, ::1"),
            ]),
        )
        .unwrap();
        assert_eq!(c.site_name, "Atelier");
        assert_eq!(c.avatars.max_bytes, 200);
        assert_eq!(c.addr.port(), 9000);
        assert_eq!(c.theme_dir.as_deref(), Some(Path::new("/themes/a")));
        assert_eq!(c.trusted_proxies, vec!["127.0.0.1", "::1"]);
    }

    #[test]
    fn typos_and_bad_values_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(&path, "site_nmae = \"x\"\n").unwrap();
        assert!(Config::load_from(Some(&path), &[]).is_err());
        assert!(Config::load_from(None, &env(&[("COTERIE_DATABASE_POOL_SIZE", "lots")])).is_err());
        assert!(Config::load_from(None, &env(&[("COTERIE_AVATARS_DEFAULT_MODE", "paint")])).is_err());
    }
}

#[cfg(test)]
mod example_file {
    use super::*;

    /// The documented example must stay loadable and equal to the defaults.
    #[test]
    fn example_matches_defaults() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("coterie.example.toml");
        let loaded = Config::load_from(Some(&path), &[]).unwrap();
        assert_eq!(toml::to_string(&loaded).unwrap(), toml::to_string(&Config::default()).unwrap());
    }
}

#[cfg(test)]
mod photo_config {
    use super::*;

    #[test]
    fn photo_settings_are_checked() {
        let mut c = Config::default();
        assert!(c.validate().is_ok());
        c.photos.sizes.push(c.photos.sizes[0].clone());
        assert!(c.validate().is_err(), "two sizes with one name");
        c.photos.sizes = vec![];
        assert!(c.validate().is_err(), "no sizes");
        let mut c = Config::default();
        c.photos.sizes[0].name = "../x".into();
        assert!(c.validate().is_err(), "a size name that would make a path");
        let mut c = Config::default();
        c.photos.max_files_per_upload = 0;
        assert!(c.validate().is_err());
        let env = [("COTERIE_PHOTOS_MAX_BYTES".to_string(), "1000".to_string())];
        assert_eq!(Config::load_from(None, &env).unwrap().photos.max_bytes, 1000);
    }
}
