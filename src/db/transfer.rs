//! Copies every table of a site from one database to another (any of
//! SQLite, PostgreSQL, MySQL), and checks afterwards that both hold the
//! same rows: `coterie migrate-data`.

use anyhow::Context;
use futures_util::TryStreamExt;
use sha2::{Digest, Sha256};
use sqlx::Row as _;

use super::{Backend, Db, Row};

/// What a column holds, as the migrations' type words made it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Int,
    Text,
    Bytes,
}

impl Kind {
    fn of_declared(declared: &str) -> anyhow::Result<Kind> {
        let t = declared.to_ascii_lowercase();
        Ok(if ["integer", "int", "bigint", "smallint", "tinyint", "mediumint", "bigserial", "serial"].contains(&t.as_str()) {
            Kind::Int
        } else if t.contains("char") || t.contains("text") {
            Kind::Text
        } else if t.contains("blob") || t == "bytea" {
            Kind::Bytes
        } else {
            anyhow::bail!("a column of type {declared:?} has no copy rule")
        })
    }
}

enum Value {
    Null(Kind),
    Int(i64),
    Text(String),
    Bytes(Vec<u8>),
}

pub struct Table {
    pub name: String,
    columns: Vec<(String, Kind)>,
    has_id: bool,
}

/// The site's tables on `db`, parents before children: in the order the
/// migrations create them, so foreign keys hold while rows arrive.
pub async fn tables(db: &Db) -> anyhow::Result<Vec<Table>> {
    let mut tables = Vec::new();
    for name in created_tables() {
        let columns = columns(db, &name).await?;
        anyhow::ensure!(!columns.is_empty(), "table {name} is missing on the {} database: run `coterie migrate`", db.backend.name());
        let has_id = columns.iter().any(|(c, _)| c == "id");
        tables.push(Table { name, columns, has_id });
    }
    Ok(tables)
}

/// Tables the migrations leave in place, in the order they create them.
fn created_tables() -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    let statements = crate::app::MIGRATIONS.iter().flat_map(|a| a.migrations.iter()).flat_map(|m| m.statements.iter());
    for statement in statements {
        let words: Vec<&str> = statement.split_whitespace().take(6).collect();
        let upper: Vec<String> = words.iter().map(|w| w.to_ascii_uppercase()).collect();
        let upper: Vec<&str> = upper.iter().map(String::as_str).collect();
        match upper.as_slice() {
            ["CREATE", "TABLE", "IF", "NOT", "EXISTS", ..] => names.push(words[5].trim_end_matches('(').to_string()),
            ["CREATE", "TABLE", ..] => names.push(words[2].trim_end_matches('(').to_string()),
            ["DROP", "TABLE", ..] => {
                let gone = words.last().unwrap_or(&"").trim_end_matches(';');
                names.retain(|n| n != gone);
            }
            _ => {}
        }
    }
    names.dedup();
    names
}

/// Does a new site have rows in this table before anyone used it? The
/// migrations seed some (counters), and the first process start stores the
/// site secret in `settings`. The copy replaces such rows.
pub fn seeded(table: &str) -> bool {
    let insert = format!("INSERT INTO {table} ");
    table == "settings"
        || crate::app::MIGRATIONS
            .iter()
            .flat_map(|a| a.migrations.iter())
            .flat_map(|m| m.statements.iter())
            .any(|s| s.trim_start().starts_with(&insert))
}

async fn columns(db: &Db, table: &str) -> anyhow::Result<Vec<(String, Kind)>> {
    let sql = match db.backend {
        Backend::Sqlite => "SELECT name, type FROM pragma_table_info(?) ORDER BY cid",
        Backend::Postgres => {
            "SELECT column_name::text, data_type::text FROM information_schema.columns
             WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position"
        }
        Backend::Mysql => {
            "SELECT CAST(column_name AS CHAR), CAST(data_type AS CHAR) FROM information_schema.columns
             WHERE table_schema = DATABASE() AND table_name = ? ORDER BY ordinal_position"
        }
    };
    let rows = sqlx::query(sql).bind(table.to_string()).fetch_all(db.r()).await?;
    rows.iter()
        .map(|row| {
            let name = text_at(row, 0)?.unwrap_or_default();
            let declared = text_at(row, 1)?.unwrap_or_default();
            let kind = Kind::of_declared(&declared).with_context(|| format!("column {table}.{name}"))?;
            Ok((name, kind))
        })
        .collect()
}

/// A text column by position; MySQL's reports TEXT as bytes through `Any`.
fn text_at(row: &Row, i: usize) -> Result<Option<String>, sqlx::Error> {
    match row.try_get::<Option<String>, _>(i) {
        Err(sqlx::Error::ColumnDecode { .. }) => row
            .try_get::<Option<Vec<u8>>, _>(i)?
            .map(|b| String::from_utf8(b).map_err(|e| sqlx::Error::ColumnDecode { index: i.to_string(), source: Box::new(e) }))
            .transpose(),
        other => other,
    }
}

fn value_at(row: &Row, i: usize, kind: Kind) -> Result<Value, sqlx::Error> {
    Ok(match kind {
        Kind::Int => row.try_get::<Option<i64>, _>(i)?.map_or(Value::Null(kind), Value::Int),
        Kind::Text => text_at(row, i)?.map_or(Value::Null(kind), Value::Text),
        Kind::Bytes => row.try_get::<Option<Vec<u8>>, _>(i)?.map_or(Value::Null(kind), Value::Bytes),
    })
}

impl Table {
    fn select(&self) -> String {
        let names: Vec<&str> = self.columns.iter().map(|(c, _)| c.as_str()).collect();
        // By id, so a reply arrives after the comment it answers.
        let order = if self.has_id { " ORDER BY id" } else { "" };
        format!("SELECT {} FROM {}{order}", names.join(", "), self.name)
    }

    /// Rows per INSERT: many, within PostgreSQL's 65,535 parameters.
    fn batch(&self) -> usize {
        (30_000 / self.columns.len().max(1)).clamp(1, 500)
    }

    /// Empties a seeded table of the target before the source's rows come.
    pub async fn clear(&self, db: &Db) -> anyhow::Result<()> {
        sqlx::query(&format!("DELETE FROM {}", self.name)).execute(db.w()).await?;
        Ok(())
    }

    pub async fn count(&self, db: &Db) -> anyhow::Result<i64> {
        let sql = format!("SELECT COUNT(*) FROM {}", self.name);
        Ok(sqlx::query(&sql).fetch_one(db.r()).await?.try_get::<i64, _>(0)?)
    }
}

/// Copies every row of `table`; `progress` hears of each batch written.
pub async fn copy(from: &Db, to: &Db, table: &Table, mut progress: impl FnMut(u64)) -> anyhow::Result<u64> {
    let target = columns(to, &table.name).await?;
    anyhow::ensure!(
        target == table.columns,
        "table {} differs between the databases (are both at the same migration?)",
        table.name
    );
    let select = table.select();
    let mut rows = sqlx::query(&select).fetch(from.r());
    let mut batch: Vec<Vec<Value>> = Vec::with_capacity(table.batch());
    let mut copied = 0;
    while let Some(row) = rows.try_next().await? {
        let values = table.columns.iter().enumerate().map(|(i, (_, kind))| value_at(&row, i, *kind)).collect::<Result<_, _>>()?;
        batch.push(values);
        if batch.len() == table.batch() {
            copied += insert(to, table, &mut batch).await?;
            progress(copied);
        }
    }
    copied += insert(to, table, &mut batch).await?;
    progress(copied);
    let serial_id = table.columns.iter().any(|(c, k)| c == "id" && *k == Kind::Int);
    if to.backend == Backend::Postgres && serial_id {
        // Rows came with their ids; the sequence must continue after them.
        let sql = format!(
            "SELECT setval(pg_get_serial_sequence('{0}', 'id'), COALESCE((SELECT MAX(id) FROM {0}), 0) + 1, false)
             WHERE pg_get_serial_sequence('{0}', 'id') IS NOT NULL",
            table.name
        );
        sqlx::query(&sql).execute(to.w()).await?;
    }
    Ok(copied)
}

async fn insert(to: &Db, table: &Table, batch: &mut Vec<Vec<Value>>) -> anyhow::Result<u64> {
    if batch.is_empty() {
        return Ok(0);
    }
    let names: Vec<&str> = table.columns.iter().map(|(c, _)| c.as_str()).collect();
    let mut n = 0;
    let tuples: Vec<String> = batch
        .iter()
        .map(|_| {
            let marks: Vec<String> = names
                .iter()
                .map(|_| {
                    n += 1;
                    if to.backend == Backend::Postgres { format!("${n}") } else { "?".into() }
                })
                .collect();
            format!("({})", marks.join(", "))
        })
        .collect();
    let sql = format!("INSERT INTO {} ({}) VALUES {}", table.name, names.join(", "), tuples.join(", "));
    let mut query = sqlx::query(&sql);
    for value in batch.drain(..).flatten() {
        query = match value {
            Value::Null(Kind::Int) => query.bind(None::<i64>),
            Value::Null(Kind::Text) => query.bind(None::<String>),
            Value::Null(Kind::Bytes) => query.bind(None::<Vec<u8>>),
            Value::Int(v) => query.bind(v),
            Value::Text(v) => query.bind(v),
            Value::Bytes(v) => query.bind(v),
        };
    }
    let done = query.execute(to.w()).await.with_context(|| format!("cannot write rows into {}", table.name))?;
    Ok(done.rows_affected())
}

/// The rows of a table as a count and a digest that does not depend on the
/// order rows come in (collations differ between backends): the wrapping
/// sum of each row's SHA-256.
pub async fn checksum(db: &Db, table: &Table) -> anyhow::Result<(u64, String)> {
    let sql = table.select();
    let mut rows = sqlx::query(&sql).fetch(db.r());
    let (mut count, mut sum) = (0u64, 0u128);
    while let Some(row) = rows.try_next().await? {
        let mut hash = Sha256::new();
        for (i, (_, kind)) in table.columns.iter().enumerate() {
            match value_at(&row, i, *kind)? {
                Value::Null(_) => hash.update([0u8]),
                Value::Int(v) => {
                    hash.update([1u8]);
                    hash.update(v.to_le_bytes());
                }
                Value::Text(v) => {
                    hash.update([2u8]);
                    hash.update((v.len() as u64).to_le_bytes());
                    hash.update(v.as_bytes());
                }
                Value::Bytes(v) => {
                    hash.update([3u8]);
                    hash.update((v.len() as u64).to_le_bytes());
                    hash.update(&v);
                }
            }
        }
        let digest = hash.finalize();
        sum = sum.wrapping_add(u128::from_le_bytes(digest[..16].try_into().expect("16 bytes")));
        count += 1;
    }
    Ok((count, format!("{sum:032x}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_created_table_is_listed_once_in_order() {
        let tables = created_tables();
        let at = |name: &str| tables.iter().position(|t| t == name).unwrap_or_else(|| panic!("{name} in {tables:?}"));
        assert!(at("users") < at("sessions") && at("blog_posts") < at("blog_post_tags") && at("galleries") < at("photos"), "{tables:?}");
        let mut unique = tables.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), tables.len(), "{tables:?}");
        assert!(tables.iter().all(|t| t.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')), "{tables:?}");
    }

    #[test]
    fn seeded_tables_are_known() {
        assert!(seeded("counters") && seeded("settings"));
        assert!(!seeded("users") && !seeded("comments"));
    }

    #[test]
    fn declared_types_map_to_copy_rules() {
        assert_eq!(Kind::of_declared("BIGINT").unwrap(), Kind::Int);
        assert_eq!(Kind::of_declared("INTEGER").unwrap(), Kind::Int);
        assert_eq!(Kind::of_declared("character varying").unwrap(), Kind::Text);
        assert_eq!(Kind::of_declared("mediumtext").unwrap(), Kind::Text);
        assert_eq!(Kind::of_declared("bytea").unwrap(), Kind::Bytes);
        assert!(Kind::of_declared("point").is_err());
    }
}
