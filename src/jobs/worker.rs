//! The worker loops `serve` starts: each claims and runs one job at a time,
//! then the next, and when none is ready waits for a wake-up from this
//! process's enqueue or for `jobs.poll_seconds` (jobs other processes
//! enqueued). Stopping lets a running job finish and claims no more.

use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::app::AppState;

pub struct Workers {
    stop: watch::Sender<bool>,
    running: Vec<JoinHandle<()>>,
}

/// Starts `jobs.workers` workers.
pub fn start(state: &AppState) -> Workers {
    start_with(state, state.jobs.settings().workers)
}

/// Starts `count` workers.
pub fn start_with(state: &AppState, count: usize) -> Workers {
    let (stop, stopping) = watch::channel(false);
    let running = (0..count).map(|_| tokio::spawn(work(state.clone(), stopping.clone()))).collect();
    Workers { stop, running }
}

impl Workers {
    /// Claims no more jobs from now on; the future resolves once the
    /// running ones finished.
    pub fn stop(self) -> impl std::future::Future<Output = ()> {
        let _ = self.stop.send(true);
        async move {
            for worker in self.running {
                let _ = worker.await;
            }
        }
    }
}

async fn work(state: AppState, mut stopping: watch::Receiver<bool>) {
    let poll = Duration::from_secs(state.jobs.settings().poll_seconds);
    while !*stopping.borrow() {
        match super::run_next(&state).await {
            Ok(true) => {
                // There may be more: let a sibling worker help.
                state.jobs.wake();
                continue;
            }
            Ok(false) => {}
            Err(e) => tracing::warn!(error = %e, "the job queue could not be read; trying again"),
        }
        tokio::select! {
            _ = state.jobs.wake.notified() => {}
            _ = tokio::time::sleep(poll) => {}
            changed = stopping.changed() => {
                if changed.is_err() {
                    break; // the Workers handle was dropped without stop(): stop too
                }
            }
        }
    }
}
