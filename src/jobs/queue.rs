//! The queue's SQL: claiming a job, and what happens after it ran.
//!
//! A claim takes one ready job (live, due, and not leased to a running
//! worker), leases it (`locked_until`) and counts the attempt. PostgreSQL
//! and MySQL/MariaDB lock the row with `FOR UPDATE SKIP LOCKED`, so workers
//! in any number of processes take different jobs without waiting on each
//! other. SQLite claims in one UPDATE statement: it takes the write lock
//! before it reads, so two claims never see the same row.
//!
//! The attempt number is the claim's receipt: finishing or failing a job
//! matches `attempts`, so a worker whose lease ran out (and whose job was
//! claimed again) cannot delete or reschedule the new claim's job.

use sqlx::Row as _;

use crate::db::{self, Backend, Db, Row};

/// A claimed job.
#[derive(Debug, Clone)]
pub struct Job {
    pub id: i64,
    pub kind: String,
    pub payload: String,
    /// This claim's attempt, counting from 1.
    pub attempts: i64,
    pub max_attempts: i64,
}

impl Job {
    fn from_row(row: &Row) -> Result<Job, sqlx::Error> {
        Ok(Job {
            id: row.try_get("id")?,
            kind: row.try_get("kind")?,
            payload: db::text(row, "payload")?,
            attempts: row.try_get("attempts")?,
            max_attempts: row.try_get("max_attempts")?,
        })
    }
}

/// Claims the next ready job for `lease` seconds, if there is one.
pub async fn claim(db: &Db, lease: i64) -> Result<Option<Job>, sqlx::Error> {
    let now = db::now();
    if db.backend == Backend::Sqlite {
        let row = db
            .query(
                "UPDATE jobs SET locked_until = ?, attempts = attempts + 1 WHERE id = \
                 (SELECT id FROM jobs WHERE dead_at IS NULL AND run_at <= ? AND (locked_until IS NULL OR locked_until < ?) \
                 ORDER BY run_at, id LIMIT 1) RETURNING id, kind, payload, attempts, max_attempts",
            )
            .bind(now + lease)
            .bind(now)
            .bind(now)
            .fetch_optional(db.w())
            .await?;
        return row.as_ref().map(Job::from_row).transpose();
    }
    db::retry_deadlocks(|| async {
        let mut tx = db.w().begin().await?;
        let row = db
            .query(
                "SELECT id, kind, payload, attempts, max_attempts FROM jobs WHERE dead_at IS NULL AND run_at <= ? \
                 AND (locked_until IS NULL OR locked_until < ?) ORDER BY run_at, id LIMIT 1 FOR UPDATE SKIP LOCKED",
            )
            .bind(now)
            .bind(now)
            .fetch_optional(&mut *tx)
            .await?;
        let Some(row) = row else { return Ok(None) };
        let mut job = Job::from_row(&row)?;
        db.query("UPDATE jobs SET locked_until = ?, attempts = attempts + 1 WHERE id = ?")
            .bind(now + lease)
            .bind(job.id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        job.attempts += 1;
        Ok(Some(job))
    })
    .await
}

/// The job ran: it leaves the queue.
pub async fn finish(db: &Db, job: &Job) -> Result<(), sqlx::Error> {
    db::retry_deadlocks(|| db.query("DELETE FROM jobs WHERE id = ? AND attempts = ?").bind(job.id).bind(job.attempts).execute(db.w())).await?;
    Ok(())
}

/// The job failed: it runs again at `retry_at`, or, with `None`, it is kept
/// as dead.
pub async fn fail(db: &Db, job: &Job, error: &str, retry_at: Option<i64>) -> Result<(), sqlx::Error> {
    let update = || {
        let query = match retry_at {
            Some(at) => db
                .query("UPDATE jobs SET last_error = ?, locked_until = NULL, run_at = ? WHERE id = ? AND attempts = ?")
                .bind(error.to_string())
                .bind(at),
            None => db
                .query("UPDATE jobs SET last_error = ?, locked_until = NULL, dead_at = ? WHERE id = ? AND attempts = ?")
                .bind(error.to_string())
                .bind(db::now()),
        };
        query.bind(job.id).bind(job.attempts).execute(db.w())
    };
    db::retry_deadlocks(update).await?;
    Ok(())
}

/// (jobs waiting or running, dead jobs), for the status page.
pub async fn depth(db: &Db) -> Result<(i64, i64), sqlx::Error> {
    let row = db.query("SELECT COUNT(*), COUNT(dead_at) FROM jobs").fetch_one(db.r()).await?;
    let (all, dead): (i64, i64) = (row.try_get(0)?, row.try_get(1)?);
    Ok((all - dead, dead))
}
