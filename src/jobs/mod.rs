//! Background work through a durable queue in the database, after
//! crates.io's: a job is a row, so it survives a restart; workers in any
//! number of `coterie serve` processes sharing the database claim rows
//! (`FOR UPDATE SKIP LOCKED` on the servers) so each job runs once; a
//! failing job is retried with exponential backoff and, after
//! `jobs.max_attempts`, kept as dead (visible, not retried).
//!
//! Handlers must be idempotent: a job whose worker died mid-job runs again
//! once its lease runs out, and a job that ran but whose deletion failed
//! runs again too.

pub mod email;
pub mod migrations;
pub mod queue;
mod registry;
pub mod worker;

use serde_json::Value;
use sqlx::{Any, Executor};
use tokio::sync::Notify;

pub use queue::Job;
pub use registry::{Handler, Registry};

use crate::app::AppState;
use crate::config::JobsConfig;
use crate::db::{self, Db};

pub struct Jobs {
    db: Db,
    registry: Registry,
    settings: JobsConfig,
    /// Wakes a worker of this process when this process enqueues.
    wake: Notify,
}

impl Jobs {
    pub fn new(db: Db, registry: Registry, settings: JobsConfig) -> Jobs {
        Jobs { db, registry, settings, wake: Notify::new() }
    }

    pub fn settings(&self) -> &JobsConfig {
        &self.settings
    }

    /// Queues a job of `kind` to run from `run_at` (Unix seconds; `db::now()`
    /// for at once) and wakes a worker. Returns the job's id.
    pub async fn enqueue(&self, kind: &'static str, payload: &Value, run_at: i64) -> anyhow::Result<i64> {
        let id = self.enqueue_in(self.db.w(), kind, payload, run_at).await?;
        self.wake();
        Ok(id)
    }

    /// Queues a job inside the caller's transaction, so the job exists
    /// exactly when the change that caused it does. Call [`Jobs::wake`]
    /// after the commit.
    pub async fn enqueue_in<'c, E>(&self, executor: E, kind: &'static str, payload: &Value, run_at: i64) -> anyhow::Result<i64>
    where
        E: Executor<'c, Database = Any>,
    {
        anyhow::ensure!(self.registry.get(kind).is_some(), "no handler for jobs of kind {kind:?}");
        let id = self
            .db
            .insert("INSERT INTO jobs (kind, payload, run_at, attempts, max_attempts, created_at) VALUES (?, ?, ?, 0, ?, ?)")
            .bind(kind)
            .bind(payload.to_string())
            .bind(run_at)
            .bind(self.settings.max_attempts)
            .bind(db::now())
            .run(executor)
            .await?;
        Ok(id)
    }

    /// Wakes one idle worker of this process.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// How long to wait before the next try after failed attempt `attempts`
    /// (1 for the first): backoff_seconds, doubled each try, capped.
    pub fn backoff(&self, attempts: i64) -> i64 {
        let base = self.settings.backoff_seconds.min(i64::MAX as u64) as i64;
        let cap = self.settings.backoff_max_seconds.min(i64::MAX as u64) as i64;
        let doublings = (attempts - 1).clamp(0, 62) as u32;
        base.saturating_mul(1i64 << doublings).min(cap)
    }
}

/// Claims and runs one ready job. Returns whether there was one.
pub async fn run_next(state: &AppState) -> Result<bool, sqlx::Error> {
    let jobs = &state.jobs;
    let lease = jobs.settings.lease_seconds.min(i64::MAX as u64) as i64;
    let Some(job) = queue::claim(&state.db, lease).await? else { return Ok(false) };
    if job.attempts > job.max_attempts {
        // Its last attempt's process died mid-job: give up rather than
        // retry a job that may be what brings processes down.
        let error = "the last attempt did not finish (its lease ran out)";
        tracing::error!(job = job.id, kind = %job.kind, error, "job is dead");
        queue::fail(&state.db, &job, error, None).await?;
        return Ok(true);
    }
    match run(state, &job).await {
        Ok(()) => queue::finish(&state.db, &job).await?,
        Err(err) => {
            let error = format!("{err:#}");
            if job.attempts >= job.max_attempts {
                tracing::error!(job = job.id, kind = %job.kind, attempts = job.attempts, error, "job failed for the last time; kept as dead");
                queue::fail(&state.db, &job, &error, None).await?;
            } else {
                let retry_at = db::now() + jobs.backoff(job.attempts);
                tracing::warn!(job = job.id, kind = %job.kind, attempts = job.attempts, retry_at, error, "job failed; will retry");
                queue::fail(&state.db, &job, &error, Some(retry_at)).await?;
            }
        }
    }
    Ok(true)
}

/// Runs the job's handler in a task of its own, so that a panic fails the
/// job instead of taking the worker down.
async fn run(state: &AppState, job: &Job) -> anyhow::Result<()> {
    let handler = state.jobs.registry.get(&job.kind).cloned();
    let Some(handler) = handler else { anyhow::bail!("no handler for jobs of kind {:?} in this process", job.kind) };
    let payload: Value = serde_json::from_str(&job.payload)?;
    match tokio::spawn(handler(state.clone(), payload)).await {
        Ok(result) => result,
        Err(join) => anyhow::bail!("the handler panicked: {join}"),
    }
}

/// Runs ready jobs until none is left; returns how many were claimed. For
/// tests and one-off commands; `serve` runs [`worker`]s instead.
pub async fn run_pending(state: &AppState) -> Result<usize, sqlx::Error> {
    let mut claimed = 0;
    while run_next(state).await? {
        claimed += 1;
    }
    Ok(claimed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn backoff_doubles_up_to_the_cap() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::connect(&format!("sqlite://{}/t.db", dir.path().display()), 1).await.unwrap();
        let settings = JobsConfig { backoff_seconds: 10, backoff_max_seconds: 100, ..JobsConfig::default() };
        let jobs = Jobs::new(db, Registry::default(), settings);
        let waits: Vec<i64> = (1..=6).map(|n| jobs.backoff(n)).collect();
        assert_eq!(waits, vec![10, 20, 40, 80, 100, 100]);
        assert_eq!(jobs.backoff(1000), 100, "no overflow on many attempts");
    }
}
