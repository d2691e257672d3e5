//! Every database statement the process runs, counted and timed.
//!
//! sqlx times each statement itself and, when its level is enabled for the
//! target `sqlx::query` (DEBUG by default; WARN past the slow threshold),
//! emits an event with the time taken (`elapsed_secs`) as the statement
//! finishes. [`layer`] is a tracing layer that enables exactly that target
//! for itself (a per-layer filter, so the log output keeps its own filter
//! and prints no statements) and records each event in [`QUERIES`]. So
//! every statement is counted without touching the call sites: reads,
//! writes, statements inside transactions, migrations and the connection
//! set-up alike, on every backend, timed by the driver (pool waits not
//! included).
//!
//! The figures are a process-wide static rather than part of `AppState`
//! because the tracing subscriber is global and installed before any state
//! exists (and the SQLite driver runs statements on its own threads, outside
//! any request's span). A `coterie serve` process has one database, so the
//! figures are that database's; several apps in one process (tests) share
//! them. The events carry no pool, so there is no read/write split.
//!
//! Cost: with the layer installed sqlx builds a short summary string and a
//! copy of the statement's text for each event (dropped unread here), and
//! the subscriber checks the filters; see BENCHMARKS.md for the measured
//! overhead per statement.

use std::fmt::Write as _;
use std::sync::atomic::Ordering;
use std::sync::OnceLock;
use std::time::Instant;

use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt as _};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::{SubscriberInitExt as _, TryInitError};

use super::{Histogram, Rate};

/// The target sqlx logs each statement under.
const TARGET: &str = "sqlx::query";

/// Every statement's time since the process started.
static QUERIES: Histogram = Histogram::new();
/// Statements per second over the last minute.
static RATE: Rate = Rate::new();
/// The start of [`RATE`]'s clock: when the layer was made.
static STARTED: OnceLock<Instant> = OnceLock::new();

fn clock() -> u64 {
    STARTED.get_or_init(Instant::now).elapsed().as_secs()
}

/// The layer that counts statements, filtered to sqlx's statement events.
pub fn layer<S>() -> impl Layer<S>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    clock();
    // DEBUG: sqlx's level for statements (WARN for slow ones). Enabling
    // TRACE would raise the global max level, and so the cost of every
    // `trace!` in every crate, for nothing.
    Counter.with_filter(Targets::new().with_target(TARGET, LevelFilter::DEBUG))
}

/// Installs the process's tracing subscriber: `log` (the log output, with
/// its own filter) and the statement counter. Fails if one is installed
/// already.
pub fn install<L>(log: L) -> Result<(), TryInitError>
where
    L: Layer<tracing_subscriber::Registry> + Send + Sync + 'static,
{
    tracing_subscriber::registry().with(log).with(layer()).try_init()
}

struct Counter;

impl<S: Subscriber> Layer<S> for Counter {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        if event.metadata().target() != TARGET {
            return;
        }
        let mut elapsed = Elapsed(None);
        event.record(&mut elapsed);
        if let Some(seconds) = elapsed.0 {
            QUERIES.observe(seconds);
            RATE.count(clock());
        }
    }
}

/// Picks `elapsed_secs` out of the event; every other field is left unread
/// (and so never formatted).
struct Elapsed(Option<f64>);

impl Visit for Elapsed {
    fn record_f64(&mut self, field: &Field, value: f64) {
        if field.name() == "elapsed_secs" {
            self.0 = Some(value);
        }
    }

    fn record_debug(&mut self, _field: &Field, _value: &dyn std::fmt::Debug) {}
}

/// Statements run so far.
pub fn count() -> u64 {
    QUERIES.count.load(Ordering::Relaxed)
}

/// Mean time per statement, in seconds, if any ran.
pub fn mean_seconds() -> Option<f64> {
    QUERIES.mean()
}

/// Statements per second over the last minute.
pub fn per_second() -> f64 {
    RATE.per_second_at(clock())
}

/// The Prometheus lines: `coterie_db_queries_total` and
/// `coterie_db_query_seconds`, labelled with the database's backend.
pub(super) fn write(out: &mut String, backend: &str) {
    let labels = format!("backend=\"{backend}\"");
    let mut histogram = String::new();
    // The counter is the histogram's count, from the same read.
    let count = QUERIES.write(&mut histogram, "coterie_db_query_seconds", &labels);
    out.push_str("# HELP coterie_db_queries_total Database statements run by this process (every pool, transactions and migrations included).\n# TYPE coterie_db_queries_total counter\n");
    let _ = writeln!(out, "coterie_db_queries_total{{{labels}}} {count}");
    out.push_str("# HELP coterie_db_query_seconds Time each database statement took, as timed by the driver (pool waits not included).\n# TYPE coterie_db_query_seconds histogram\n");
    out.push_str(&histogram);
}
