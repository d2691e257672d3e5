//! View counts (topics, photos): added up in memory and written every few
//! seconds in one transaction, so a page view costs no database write, and
//! views of pages served from the page cache still count.
//!
//! A crash loses at most the last few seconds of views: they are a
//! popularity signal, not a record.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use crate::db::Db;

/// The tables whose rows have a `view_count` column, with their update.
/// Views are counted only for these, so a name from a cache entry can never
/// reach the SQL.
const COUNTED: &[(&str, &str)] = &[
    ("forum_topics", "UPDATE forum_topics SET view_count = view_count + ? WHERE id = ?"),
    ("photos", "UPDATE photos SET view_count = view_count + ? WHERE id = ?"),
];

/// How often pending views are written.
pub const FLUSH_EVERY: Duration = Duration::from_secs(5);

#[derive(Default)]
pub struct ViewCounts {
    pending: Mutex<HashMap<(&'static str, i64), i64>>,
}

impl ViewCounts {
    /// One view of row `id` of `table` (ignored for a table not in [`COUNTED`]).
    pub fn count(&self, table: &str, id: i64) {
        let Some((table, _)) = COUNTED.iter().find(|(t, _)| *t == table) else { return };
        *self.pending.lock().expect("views lock").entry((*table, id)).or_insert(0) += 1;
    }

    /// Views counted but not yet written.
    pub fn pending(&self, table: &str, id: i64) -> i64 {
        let pending = self.pending.lock().expect("views lock");
        pending.iter().find(|((t, i), _)| *t == table && *i == id).map_or(0, |(_, n)| *n)
    }

    /// Writes every pending view. On failure they are kept for the next try.
    pub async fn flush(&self, db: &Db) -> Result<(), sqlx::Error> {
        let batch: Vec<((&'static str, i64), i64)> = std::mem::take(&mut *self.pending.lock().expect("views lock")).into_iter().collect();
        if batch.is_empty() {
            return Ok(());
        }
        let written = async {
            let mut tx = db.w().begin().await?;
            for ((table, id), n) in &batch {
                let update = COUNTED.iter().find(|(t, _)| t == table).map(|(_, sql)| *sql).expect("only counted tables are pending");
                db.query(update).bind(*n).bind(*id).execute(&mut *tx).await?;
            }
            tx.commit().await
        }
        .await;
        if written.is_err() {
            let mut pending = self.pending.lock().expect("views lock");
            for (key, n) in batch {
                *pending.entry(key).or_insert(0) += n;
            }
        }
        written
    }
}

/// Flushes every [`FLUSH_EVERY`] for the life of the process.
pub fn spawn_flusher(state: crate::app::AppState) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(FLUSH_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if let Err(e) = state.views.flush(&state.db).await {
                tracing::warn!(error = %e, "view counts could not be written; kept for the next try");
            }
        }
    });
}
