//! `coterie migrate-data`: moves a whole site from one database to another
//! (the embedded SQLite to PostgreSQL or MySQL, or between those), and its
//! media files from one store to another, then proves the copy: the same
//! row count and row digest in every table, the same bytes in every file.
//! It writes only into an empty target, so it can never mix two sites.

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};

use crate::db::{migrations, transfer, Db};

pub struct Options {
    pub from: String,
    pub to: String,
    /// (from, to) media store URLs, when the files move too.
    pub media: Option<(String, String)>,
    /// Endpoint and keys for media URLs on S3.
    pub s3: crate::config::S3Config,
}

/// What was moved.
#[derive(Debug, Default)]
pub struct Report {
    pub tables: usize,
    pub rows: u64,
    pub files: u64,
    pub bytes: u64,
}

pub async fn run(options: &Options) -> anyhow::Result<Report> {
    anyhow::ensure!(options.from != options.to, "--from and --to name the same database");
    let from = Db::connect(&options.from, 2).await.context("the source database")?;
    let known: usize = crate::app::MIGRATIONS.iter().map(|a| a.migrations.len()).sum();
    let applied = applied_migrations(&from).await?;
    anyhow::ensure!(
        applied == known,
        "the source database has {applied} of this version's {known} migrations: run `coterie migrate` on it with this version first"
    );
    let to = Db::connect(&options.to, 4).await.context("the target database")?;
    migrations::run(&to).await.context("cannot create the tables in the target database")?;
    let tables = transfer::tables(&from).await?;
    let target_tables = transfer::tables(&to).await?;
    for table in target_tables.iter().filter(|t| !transfer::seeded(&t.name)) {
        let rows = table.count(&to).await?;
        anyhow::ensure!(rows == 0, "the target database is not empty (table {} has {rows} rows): migrate-data writes only into an empty database", table.name);
    }
    let mut media = None;
    if let Some((media_from, media_to)) = &options.media {
        let source = crate::media::MediaStore::open(media_from, &options.s3).context("the source media store")?;
        let target = crate::media::MediaStore::open(media_to, &options.s3).context("the target media store")?;
        anyhow::ensure!(target.keys("").await?.is_empty(), "the target media store is not empty: migrate-data writes only into an empty one");
        media = Some((source, target));
    }

    for table in target_tables.iter().filter(|t| transfer::seeded(&t.name)) {
        table.clear(&to).await?;
    }
    let mut report = Report { tables: tables.len(), ..Report::default() };
    let mut total = 0;
    for table in &tables {
        total += table.count(&from).await? as u64;
    }
    let bar = progress(total, "rows");
    for table in &tables {
        bar.set_message(table.name.clone());
        let before = report.rows;
        report.rows += transfer::copy(&from, &to, table, |n| bar.set_position(before + n)).await?;
    }
    bar.finish_and_clear();
    println!("copied {} rows in {} tables", report.rows, report.tables);

    let bar = progress(tables.len() as u64, "tables verified");
    for table in &tables {
        bar.set_message(table.name.clone());
        let (source, target) = (transfer::checksum(&from, table).await?, transfer::checksum(&to, table).await?);
        anyhow::ensure!(
            source == target,
            "table {} differs after the copy ({} rows, digest {} in the source; {} rows, digest {} in the target): was the site written to meanwhile?",
            table.name, source.0, source.1, target.0, target.1
        );
        bar.inc(1);
    }
    bar.finish_and_clear();
    println!("verified: every table has the same row count and digest");

    if let Some((source, target)) = media {
        let (files, bytes) = copy_media(&source, &target).await?;
        report.files = files;
        report.bytes = bytes;
        println!("copied and verified {files} media files ({bytes} bytes)");
    }
    from.close().await;
    to.close().await;
    Ok(report)
}

async fn applied_migrations(db: &Db) -> anyhow::Result<usize> {
    let row = sqlx::query("SELECT COUNT(*) FROM coterie_migrations").fetch_one(db.r()).await;
    match row {
        Ok(row) => Ok(sqlx::Row::try_get::<i64, _>(&row, 0)? as usize),
        Err(_) => anyhow::bail!("the source database has no Coterie tables"),
    }
}

/// Copies every file, reading each back from the target to compare bytes.
async fn copy_media(source: &crate::media::MediaStore, target: &crate::media::MediaStore) -> anyhow::Result<(u64, u64)> {
    let keys = source.keys("").await?;
    let bar = progress(keys.len() as u64, "files");
    let mut bytes = 0;
    for key in &keys {
        let data = source.get(key).await?.with_context(|| format!("media file {key} vanished during the copy"))?;
        target.put(key, data.clone()).await.with_context(|| format!("cannot write media file {key}"))?;
        let back = target.get(key).await?.with_context(|| format!("media file {key} is missing after the copy"))?;
        anyhow::ensure!(
            crate::crypto::sha256_hex(&back) == crate::crypto::sha256_hex(&data),
            "media file {key} differs after the copy"
        );
        bytes += data.len() as u64;
        bar.inc(1);
    }
    bar.finish_and_clear();
    Ok((keys.len() as u64, bytes))
}

/// A bar on standard error when it is a terminal; nothing otherwise.
fn progress(total: u64, unit: &str) -> ProgressBar {
    let bar = ProgressBar::new(total);
    let template = format!("{{spinner}} {{bar:40}} {{pos}}/{{len}} {unit} {{msg}} ({{eta}})");
    bar.set_style(ProgressStyle::with_template(&template).expect("a valid template"));
    bar
}
