//! Schema migrations for all three backends. Each migration is written once
//! with a few type words in braces that [`dialect`] turns into the backend's
//! own: `{id}` an auto-increment primary key, `{str N}` an indexable string,
//! `{text}` long text, `{int}` a 64-bit integer, `{table}` the table options.

use anyhow::Context;
use sqlx::Row as _;

use super::{Backend, Db};

pub struct Migration {
    pub version: i64,
    pub name: &'static str,
    pub statements: &'static [&'static str],
}

pub const MIGRATIONS: &[Migration] = &[Migration {
    version: 1,
    name: "accounts",
    statements: &[
        "CREATE TABLE settings (
            name {str 100} NOT NULL PRIMARY KEY,
            value {text} NOT NULL
        ) {table}",
        "CREATE TABLE users (
            id {id},
            username {str 32} NOT NULL,
            username_key {str 32} NOT NULL,
            email {str 254} NOT NULL,
            email_key {str 254} NOT NULL,
            password_hash {str 255} NOT NULL,
            role {str 16} NOT NULL DEFAULT 'member',
            is_active {int} NOT NULL DEFAULT 1,
            email_confirmed {int} NOT NULL DEFAULT 0,
            display_name {str 100} NOT NULL DEFAULT '',
            bio {text} NOT NULL,
            bio_html {text} NOT NULL,
            location {str 100} NOT NULL DEFAULT '',
            website {str 255} NOT NULL DEFAULT '',
            avatar_mode {str 16} NOT NULL DEFAULT 'gravatar',
            avatar_key {str 64} NULL,
            created_at {int} NOT NULL,
            updated_at {int} NOT NULL,
            last_login_at {int} NULL
        ) {table}",
        "CREATE UNIQUE INDEX users_username_key ON users (username_key)",
        "CREATE UNIQUE INDEX users_email_key ON users (email_key)",
        "CREATE INDEX users_created ON users (created_at)",
        "CREATE TABLE sessions (
            id {str 64} NOT NULL PRIMARY KEY,
            user_id {int} NOT NULL,
            created_at {int} NOT NULL,
            last_seen_at {int} NOT NULL,
            expires_at {int} NOT NULL,
            ip {str 64} NOT NULL DEFAULT '',
            user_agent {str 255} NOT NULL DEFAULT '',
            FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE
        ) {table}",
        "CREATE INDEX sessions_user ON sessions (user_id)",
        "CREATE INDEX sessions_expires ON sessions (expires_at)",
        "CREATE TABLE account_tokens (
            id {str 64} NOT NULL PRIMARY KEY,
            user_id {int} NOT NULL,
            purpose {str 16} NOT NULL,
            data {str 254} NOT NULL DEFAULT '',
            created_at {int} NOT NULL,
            expires_at {int} NOT NULL,
            used_at {int} NULL,
            FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE
        ) {table}",
        "CREATE INDEX account_tokens_user ON account_tokens (user_id, purpose)",
        "CREATE TABLE audit_log (
            id {id},
            actor_id {int} NULL,
            action {str 64} NOT NULL,
            target_kind {str 32} NOT NULL,
            target_id {int} NOT NULL,
            detail {text} NOT NULL,
            created_at {int} NOT NULL
        ) {table}",
        "CREATE INDEX audit_log_created ON audit_log (created_at)",
        "CREATE TABLE counters (
            name {str 64} NOT NULL PRIMARY KEY,
            value {int} NOT NULL
        ) {table}",
        "INSERT INTO counters (name, value) VALUES ('members', 0)",
    ],
}];

/// Turns the braced type words into `backend`'s SQL.
pub fn dialect(backend: Backend, statement: &str) -> String {
    let mut out = String::with_capacity(statement.len() + 32);
    let mut rest = statement;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let end = start + rest[start..].find('}').expect("closed brace in migration");
        let word = &rest[start + 1..end];
        out.push_str(&type_word(backend, word));
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out
}

fn type_word(backend: Backend, word: &str) -> String {
    let (name, arg) = word.split_once(' ').unwrap_or((word, ""));
    match (name, backend) {
        ("id", Backend::Sqlite) => "INTEGER PRIMARY KEY AUTOINCREMENT".into(),
        ("id", Backend::Postgres) => "BIGSERIAL PRIMARY KEY".into(),
        ("id", Backend::Mysql) => "BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY".into(),
        ("int", Backend::Sqlite) => "INTEGER".into(),
        ("int", _) => "BIGINT".into(),
        ("str", Backend::Sqlite) => "TEXT".into(),
        ("str", _) => format!("VARCHAR({arg})"),
        ("text", Backend::Mysql) => "MEDIUMTEXT".into(),
        ("text", _) => "TEXT".into(),
        ("blob", Backend::Sqlite) => "BLOB".into(),
        ("blob", Backend::Postgres) => "BYTEA".into(),
        ("blob", Backend::Mysql) => "LONGBLOB".into(),
        ("table", Backend::Mysql) => "ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin".into(),
        ("table", _) => String::new(),
        _ => panic!("unknown type word {{{word}}} in a migration"),
    }
}

/// Applies every migration not yet applied, under a lock so that several
/// app processes starting at once migrate once.
pub async fn run(db: &Db) -> anyhow::Result<Vec<&'static str>> {
    let mut conn = db.w().acquire().await?;
    let lock = match db.backend {
        Backend::Postgres => Some(("SELECT pg_advisory_lock(7426517)", "SELECT pg_advisory_unlock(7426517)")),
        Backend::Mysql => Some(("SELECT GET_LOCK('coterie_migrate', 120)", "SELECT RELEASE_LOCK('coterie_migrate')")),
        Backend::Sqlite => None,
    };
    if let Some((take, _)) = lock {
        sqlx::query(take).execute(&mut *conn).await.context("cannot take the migration lock")?;
    }
    let result = apply(db, &mut conn).await;
    if let Some((_, release)) = lock {
        let _ = sqlx::query(release).execute(&mut *conn).await;
    }
    result
}

async fn apply(db: &Db, conn: &mut sqlx::AnyConnection) -> anyhow::Result<Vec<&'static str>> {
    let create = dialect(
        db.backend,
        "CREATE TABLE IF NOT EXISTS coterie_migrations (
            version {int} NOT NULL PRIMARY KEY,
            name {str 100} NOT NULL,
            applied_at {int} NOT NULL
        ) {table}",
    );
    sqlx::query(&create).execute(&mut *conn).await?;
    let applied: Vec<i64> = sqlx::query("SELECT version FROM coterie_migrations")
        .fetch_all(&mut *conn)
        .await?
        .iter()
        .map(|row| row.get::<i64, _>(0))
        .collect();
    let mut done = Vec::new();
    for migration in MIGRATIONS.iter().filter(|m| !applied.contains(&m.version)) {
        // SQLite and PostgreSQL apply a migration whole or not at all; MySQL
        // commits each DDL statement on its own.
        let mut tx = sqlx::Connection::begin(&mut *conn).await?;
        for statement in migration.statements {
            let sql = dialect(db.backend, statement);
            sqlx::query(&sql)
                .execute(&mut *tx)
                .await
                .with_context(|| format!("migration {} ({}) failed at: {sql}", migration.version, migration.name))?;
        }
        sqlx::query(db.sql("INSERT INTO coterie_migrations (version, name, applied_at) VALUES (?, ?, ?)"))
            .bind(migration.version)
            .bind(migration.name)
            .bind(super::now())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        done.push(migration.name);
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_words_become_each_dialect() {
        let s = "CREATE TABLE t (id {id}, n {str 32}, b {text}) {table}";
        assert_eq!(dialect(Backend::Sqlite, s), "CREATE TABLE t (id INTEGER PRIMARY KEY AUTOINCREMENT, n TEXT, b TEXT) ");
        assert!(dialect(Backend::Postgres, s).contains("BIGSERIAL PRIMARY KEY, n VARCHAR(32)"));
        assert!(dialect(Backend::Mysql, s).ends_with("COLLATE=utf8mb4_bin"));
    }

    #[test]
    fn every_migration_statement_has_known_words() {
        for m in MIGRATIONS {
            for s in m.statements {
                for b in [Backend::Sqlite, Backend::Postgres, Backend::Mysql] {
                    assert!(!dialect(b, s).contains('{'));
                }
            }
        }
    }
}
