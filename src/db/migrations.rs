//! Schema migrations for all three backends. Each app owns its migrations
//! (numbered within the app) and the runner applies every app's in order.
//! A migration is written once with a few type words in braces that
//! [`dialect`] turns into the backend's own: `{id}` an auto-increment
//! primary key, `{str N}` an indexable string, `{text}` long text, `{int}` a
//! 64-bit integer, `{table}` the table options, `{month COLUMN}` the UTC
//! month (yyyymm) of a Unix-time column.

use anyhow::Context;
use sqlx::Row as _;

use super::{Backend, Db};

/// One app's migrations, applied in the order apps are listed.
pub struct AppMigrations {
    pub app: &'static str,
    pub migrations: &'static [Migration],
}

pub struct Migration {
    pub version: i64,
    pub name: &'static str,
    pub statements: &'static [&'static str],
}



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
        // The UTC month of a Unix time in `arg`, as the number yyyymm.
        ("month", Backend::Sqlite) => format!("CAST(strftime('%Y%m', {arg}, 'unixepoch') AS INTEGER)"),
        ("month", Backend::Postgres) => format!(
            "CAST(to_char(to_timestamp({arg}) AT TIME ZONE 'UTC', 'YYYYMM') AS BIGINT)"
        ),
        ("month", Backend::Mysql) => format!(
            "(YEAR(TIMESTAMPADD(SECOND, {arg}, '1970-01-01')) * 100 + MONTH(TIMESTAMPADD(SECOND, {arg}, '1970-01-01')))"
        ),
        _ => panic!("unknown type word {{{word}}} in a migration"),
    }
}

/// Applies every migration not yet applied, under a lock so that several
/// app processes starting at once migrate once.
pub async fn run(db: &Db) -> anyhow::Result<Vec<&'static str>> {
    run_apps(db, crate::app::MIGRATIONS).await
}

pub async fn run_apps(db: &Db, apps: &[AppMigrations]) -> anyhow::Result<Vec<&'static str>> {
    let mut conn = db.w().acquire().await?;
    let lock = match db.backend {
        Backend::Postgres => Some(("SELECT pg_advisory_lock(7426517)", "SELECT pg_advisory_unlock(7426517)")),
        Backend::Mysql => Some(("SELECT GET_LOCK('coterie_migrate', 120)", "SELECT RELEASE_LOCK('coterie_migrate')")),
        Backend::Sqlite => None,
    };
    if let Some((take, _)) = lock {
        sqlx::query(take).execute(&mut *conn).await.context("cannot take the migration lock")?;
    }
    let result = apply(db, &mut conn, apps).await;
    if let Some((_, release)) = lock {
        let _ = sqlx::query(release).execute(&mut *conn).await;
    }
    result
}

async fn apply(db: &Db, conn: &mut sqlx::AnyConnection, apps: &[AppMigrations]) -> anyhow::Result<Vec<&'static str>> {
    let create = dialect(
        db.backend,
        "CREATE TABLE IF NOT EXISTS coterie_migrations (
            app {str 32} NOT NULL,
            version {int} NOT NULL,
            name {str 100} NOT NULL,
            applied_at {int} NOT NULL,
            PRIMARY KEY (app, version)
        ) {table}",
    );
    sqlx::query(&create).execute(&mut *conn).await?;
    let applied: Vec<(String, i64)> = sqlx::query("SELECT app, version FROM coterie_migrations")
        .fetch_all(&mut *conn)
        .await?
        .iter()
        .map(|row| (row.get::<String, _>(0), row.get::<i64, _>(1)))
        .collect();
    let mut done = Vec::new();
    let pending = apps.iter().flat_map(|a| a.migrations.iter().map(move |m| (a.app, m)));
    for (app, migration) in pending.filter(|(app, m)| !applied.iter().any(|(a, v)| a == app && *v == m.version)) {
        // SQLite and PostgreSQL apply a migration whole or not at all; MySQL
        // commits each DDL statement on its own.
        let mut tx = sqlx::Connection::begin(&mut *conn).await?;
        for statement in migration.statements {
            let sql = dialect(db.backend, statement);
            sqlx::query(&sql)
                .execute(&mut *tx)
                .await
                .with_context(|| format!("migration {app} {} ({}) failed at: {sql}", migration.version, migration.name))?;
        }
        sqlx::query(db.sql("INSERT INTO coterie_migrations (app, version, name, applied_at) VALUES (?, ?, ?, ?)"))
            .bind(app)
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
        for m in crate::app::MIGRATIONS.iter().flat_map(|a| a.migrations) {
            for s in m.statements {
                for b in [Backend::Sqlite, Backend::Postgres, Backend::Mysql] {
                    assert!(!dialect(b, s).contains('{'));
                }
            }
        }
    }
}
