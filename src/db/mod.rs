//! Database access for SQLite, PostgreSQL and MySQL/MariaDB through one code
//! path (sqlx's `Any` driver). Queries are written once with `?`
//! placeholders; [`Db::sql`] adapts them to the backend in use.

pub mod migrations;
pub mod transfer;

use std::collections::HashMap;
use std::sync::RwLock;
use std::time::Duration;

use anyhow::Context;
use sqlx::any::{AnyArguments, AnyPoolOptions, AnyQueryResult, AnyRow};
use sqlx::query::Query;
use sqlx::{Any, AnyPool, Executor};

pub type Row = AnyRow;
pub type Q<'q> = Query<'q, Any, AnyArguments<'q>>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
    Mysql,
}

impl Backend {
    pub fn from_url(url: &str) -> anyhow::Result<Backend> {
        let scheme = url.split(':').next().unwrap_or_default();
        Ok(match scheme {
            "sqlite" => Backend::Sqlite,
            "postgres" | "postgresql" => Backend::Postgres,
            "mysql" | "mariadb" => Backend::Mysql,
            other => anyhow::bail!(
                "unsupported database URL scheme {other:?}: use sqlite://, postgres:// or mysql://"
            ),
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "SQLite",
            Backend::Postgres => "PostgreSQL",
            Backend::Mysql => "MySQL",
        }
    }
}

/// The connection pools. On SQLite every write goes through a pool of one
/// connection, so writers queue in-process instead of failing with
/// SQLITE_BUSY; readers never block in WAL mode. On the servers both names
/// point at one pool.
#[derive(Clone)]
pub struct Db {
    pub backend: Backend,
    read: AnyPool,
    write: AnyPool,
}

/// Queries rewritten for PostgreSQL, kept so each is rewritten once.
static POSTGRES_SQL: RwLock<Option<HashMap<&'static str, &'static str>>> = RwLock::new(None);

impl Db {
    pub async fn connect(url: &str, pool_size: u32) -> anyhow::Result<Db> {
        sqlx::any::install_default_drivers();
        let backend = Backend::from_url(url)?;
        let url = match backend {
            Backend::Sqlite => sqlite_url(url)?,
            _ => url.to_string(),
        };
        let options = || {
            AnyPoolOptions::new()
                .acquire_timeout(Duration::from_secs(10))
                .after_connect(move |conn, _meta| {
                    Box::pin(async move {
                        for statement in session_setup(backend) {
                            conn.execute(*statement).await?;
                        }
                        Ok(())
                    })
                })
        };
        let read = options()
            .max_connections(pool_size)
            .connect(&url)
            .await
            .with_context(|| format!("cannot connect to the {} database", backend.name()))?;
        let write = match backend {
            Backend::Sqlite => options().max_connections(1).connect(&url).await?,
            _ => read.clone(),
        };
        Ok(Db { backend, read, write })
    }

    /// (name, open connections, idle connections) of each pool, for /metrics.
    pub fn pools(&self) -> Vec<(&'static str, u32, usize)> {
        let mut pools = vec![("read", self.read.size(), self.read.num_idle())];
        if self.backend == Backend::Sqlite {
            pools.push(("write", self.write.size(), self.write.num_idle()));
        }
        pools
    }

    /// The pool for reads.
    pub fn r(&self) -> &AnyPool {
        &self.read
    }

    /// The pool for writes and for reads that must see the latest write.
    pub fn w(&self) -> &AnyPool {
        &self.write
    }

    /// Adapts a query written with `?` placeholders to this backend.
    pub fn sql(&self, sql: &'static str) -> &'static str {
        if self.backend != Backend::Postgres {
            return sql;
        }
        if let Some(done) = POSTGRES_SQL.read().unwrap().as_ref().and_then(|m| m.get(sql)) {
            return done;
        }
        let rewritten: &'static str = Box::leak(numbered_placeholders(sql).into_boxed_str());
        POSTGRES_SQL.write().unwrap().get_or_insert_with(HashMap::new).insert(sql, rewritten);
        rewritten
    }

    /// A query with `?` placeholders, adapted to this backend.
    pub fn query(&self, sql: &'static str) -> Q<'static> {
        sqlx::query(self.sql(sql))
    }

    /// An INSERT that returns the new row's id on every backend (RETURNING
    /// where the backend has it; MySQL's last insert id otherwise). `sql`
    /// must not end with a semicolon.
    pub fn insert(&self, sql: &'static str) -> Insert {
        let sql = match self.backend {
            Backend::Mysql => sql,
            _ => self.sql(returning_id(sql)),
        };
        Insert { backend: self.backend, query: sqlx::query(sql) }
    }

    /// A consistent copy of the embedded SQLite database in a new file, taken
    /// while the site keeps running (`VACUUM INTO` reads one snapshot). The
    /// server databases have their own tools (pg_dump, mysqldump).
    pub async fn backup_sqlite(&self, to: &std::path::Path) -> anyhow::Result<()> {
        anyhow::ensure!(
            self.backend == Backend::Sqlite,
            "backup copies the embedded SQLite database; for {} use {}",
            self.backend.name(),
            if self.backend == Backend::Postgres { "pg_dump" } else { "mysqldump --single-transaction" }
        );
        anyhow::ensure!(!to.exists(), "{} exists already: name a new file", to.display());
        let target = to.to_str().context("the backup path is not valid UTF-8")?;
        sqlx::query("VACUUM INTO ?").bind(target.to_string()).execute(&self.read).await?;
        Ok(())
    }

    /// Is the database reachable?
    pub async fn ping(&self) -> bool {
        sqlx::query("SELECT 1").execute(&self.read).await.is_ok()
    }

    pub async fn close(&self) {
        self.write.close().await;
        self.read.close().await;
    }
}

/// `sql` with `RETURNING id`, made once per query text.
fn returning_id(sql: &'static str) -> &'static str {
    static DONE: RwLock<Option<HashMap<&'static str, &'static str>>> = RwLock::new(None);
    if let Some(done) = DONE.read().unwrap().as_ref().and_then(|m| m.get(sql)) {
        return done;
    }
    let with: &'static str = Box::leak(format!("{sql} RETURNING id").into_boxed_str());
    DONE.write().unwrap().get_or_insert_with(HashMap::new).insert(sql, with);
    with
}

/// An INSERT being built; see [`Db::insert`].
pub struct Insert {
    backend: Backend,
    query: Q<'static>,
}

impl Insert {
    pub fn bind<T>(mut self, value: T) -> Self
    where
        T: 'static + Send + sqlx::Encode<'static, Any> + sqlx::Type<Any>,
    {
        self.query = self.query.bind(value);
        self
    }

    pub async fn run<'c, E>(self, executor: E) -> Result<i64, sqlx::Error>
    where
        E: Executor<'c, Database = Any>,
    {
        if self.backend != Backend::Mysql {
            use sqlx::Row as _;
            let row = self.query.fetch_one(executor).await?;
            return row.try_get::<i64, _>(0);
        }
        let done: AnyQueryResult = self.query.execute(executor).await?;
        done.last_insert_id().ok_or_else(|| sqlx::Error::Protocol("no id for the inserted row".into()))
    }
}

/// A long-text column. MySQL's TEXT types reach the `Any` driver as BLOB,
/// so they are read as bytes there and checked to be UTF-8.
pub fn text(row: &Row, column: &str) -> Result<String, sqlx::Error> {
    use sqlx::Row as _;
    match row.try_get::<String, _>(column) {
        Ok(s) => Ok(s),
        Err(sqlx::Error::ColumnDecode { .. }) => {
            let bytes: Vec<u8> = row.try_get(column)?;
            String::from_utf8(bytes).map_err(|e| sqlx::Error::ColumnDecode { index: column.to_string(), source: Box::new(e) })
        }
        Err(e) => Err(e),
    }
}

/// Is this error a unique-key violation (a duplicate)?
pub fn is_unique_violation(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::Database(db) => {
            db.is_unique_violation()
                || matches!(db.code().as_deref(), Some("23505") | Some("1062") | Some("2067") | Some("1555"))
                || db.message().contains("UNIQUE constraint failed")
                || db.message().contains("Duplicate entry")
        }
        _ => false,
    }
}

/// Did the database cancel this transaction to break a deadlock or a
/// serialization conflict? Then running it again is safe.
pub fn is_deadlock(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::Database(db) => matches!(db.code().as_deref(), Some("40001") | Some("40P01") | Some("1213") | Some("1205")),
        _ => false,
    }
}

/// Runs a write transaction, again (up to five more times) when the
/// database cancelled it to break a deadlock.
pub async fn retry_deadlocks<T, F, Fut>(mut write: F) -> Result<T, sqlx::Error>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, sqlx::Error>>,
{
    let mut attempt = 0;
    loop {
        match write().await {
            Err(e) if attempt < 5 && is_deadlock(&e) => attempt += 1,
            result => return result,
        }
    }
}

/// Settings every new connection gets.
fn session_setup(backend: Backend) -> &'static [&'static str] {
    match backend {
        Backend::Sqlite => &[
            "PRAGMA journal_mode = WAL",
            "PRAGMA busy_timeout = 5000",
            "PRAGMA synchronous = NORMAL",
            "PRAGMA foreign_keys = ON",
        ],
        Backend::Postgres => &["SET TIME ZONE 'UTC'"],
        Backend::Mysql => &[
            "SET SESSION sql_mode = 'STRICT_ALL_TABLES,NO_ZERO_DATE,NO_ENGINE_SUBSTITUTION,ONLY_FULL_GROUP_BY'",
            "SET time_zone = '+00:00'",
        ],
    }
}

/// Makes sure the SQLite file's folder exists and the file is created.
fn sqlite_url(url: &str) -> anyhow::Result<String> {
    let rest = url.trim_start_matches("sqlite://").trim_start_matches("sqlite:");
    let path = rest.split('?').next().unwrap_or_default();
    if path.is_empty() || path == ":memory:" {
        anyhow::bail!("the SQLite database needs a file path");
    }
    if let Some(parent) = std::path::Path::new(path).parent() {
        if !parent.as_os_str().is_empty() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create the folder {}", parent.display()))?;
        }
    }
    Ok(if rest.contains("mode=") {
        format!("sqlite://{rest}")
    } else if rest.contains('?') {
        format!("sqlite://{rest}&mode=rwc")
    } else {
        format!("sqlite://{rest}?mode=rwc")
    })
}

/// `?` to `$1, $2, ...`, leaving quoted text alone.
fn numbered_placeholders(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 8);
    let mut n = 0;
    let mut quote: Option<char> = None;
    for c in sql.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (None, '\'' | '"') => quote = Some(c),
            (None, '?') => {
                n += 1;
                out.push('$');
                out.push_str(&n.to_string());
                continue;
            }
            _ => {}
        }
        out.push(c);
    }
    out
}

/// Seconds since the Unix epoch: the one time format every backend stores alike.
pub fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_numbered_outside_quotes() {
        assert_eq!(
            numbered_placeholders("SELECT a FROM t WHERE b = ? AND c = '?' AND d = ?"),
            "SELECT a FROM t WHERE b = $1 AND c = '?' AND d = $2"
        );
    }

    #[test]
    fn backend_comes_from_the_url() {
        assert_eq!(Backend::from_url("sqlite://x.db").unwrap(), Backend::Sqlite);
        assert_eq!(Backend::from_url("postgres://h/db").unwrap(), Backend::Postgres);
        assert_eq!(Backend::from_url("mysql://h/db").unwrap(), Backend::Mysql);
        assert!(Backend::from_url("oracle://h").is_err());
    }
}
