//! What counting database statements costs per statement:
//! `query_overhead off|on [STATEMENTS] [DATABASE_URL]` runs STATEMENTS
//! (default 200000) point lookups one after another, through the app's
//! read pool, with the log subscriber `coterie serve` had before statements
//! were counted (`off`: one global filter, sqlx's statement events
//! disabled) or the one it has now (`on`: the log layer plus the statement
//! counter), and prints the wall and CPU time per statement. Run the two
//! modes alternately a few times; the difference is the overhead.
//!
//! `query_overhead off|on events [N]` measures the statement event alone:
//! N times what sqlx-core 0.8.6 does after each statement (`logger.rs`:
//! the enabled check, then, when enabled, the summary, the copy of the
//! text and the event), with no database.
//!
//!     cargo build --release --example query_overhead
//!     for i in 1 2 3; do for m in off on; do target/release/examples/query_overhead $m; done; done
//!     for m in off on; do target/release/examples/query_overhead $m events 2000000; done

use std::process::ExitCode;
use std::time::Instant;

use tracing_subscriber::Layer as _;

const LOG_FILTER: &str = "info,sqlx=warn,tower_http=info";
/// The session lookup every member's request makes.
const LOOKUP: &str = "SELECT s.expires_at, s.last_seen_at, u.* FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.id = ?";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let mode = args.get(1).map(String::as_str).unwrap_or("");
    let statements: u64 = args.get(2).and_then(|n| n.parse().ok()).unwrap_or(200_000);
    match mode {
        "off" => tracing_subscriber::fmt().with_env_filter(LOG_FILTER).with_writer(std::io::stderr).init(),
        "on" => {
            let log = tracing_subscriber::fmt::layer().with_writer(std::io::stderr).with_filter(tracing_subscriber::EnvFilter::new(LOG_FILTER));
            coterie::metrics::queries::install(log).expect("the first subscriber");
        }
        _ => {
            eprintln!("usage: query_overhead off|on [STATEMENTS] [DATABASE_URL]");
            return ExitCode::from(2);
        }
    }
    if args.get(2).map(String::as_str) == Some("events") {
        let n: u64 = args.get(3).and_then(|n| n.parse().ok()).unwrap_or(1_000_000);
        let (wall, cpu) = (Instant::now(), cpu_seconds());
        for i in 0..n {
            statement_event(LOOKUP, i);
        }
        let (wall, cpu) = (wall.elapsed().as_secs_f64(), cpu_seconds() - cpu);
        let counted = coterie::metrics::queries::count();
        println!("{mode} events: {n}, {:.0} ns wall and {:.0} ns CPU each; {counted} counted", wall * 1e9 / n as f64, cpu * 1e9 / n as f64);
        return ExitCode::SUCCESS;
    }
    let dir = tempfile::tempdir().expect("a temporary folder");
    let url = args.get(3).cloned().unwrap_or_else(|| format!("sqlite://{}/bench.db", dir.path().display()));
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("a runtime");
    runtime.block_on(async {
        let db = coterie::db::Db::connect(&url, 4).await.expect("the database");
        coterie::db::migrations::run(&db).await.expect("migrated");
        let run = |n: u64| {
            let db = db.clone();
            async move {
                for i in 0..n {
                    db.query(LOOKUP).bind(format!("{i:064x}")).fetch_optional(db.r()).await.expect("the lookup");
                }
            }
        };
        run(statements / 10).await;
        let (wall, cpu) = (Instant::now(), cpu_seconds());
        run(statements).await;
        let (wall, cpu) = (wall.elapsed().as_secs_f64(), cpu_seconds() - cpu);
        let counted = coterie::metrics::queries::count();
        println!(
            "{mode}: {statements} statements, {:.2} µs wall and {:.2} µs CPU each; {counted} counted",
            wall * 1e6 / statements as f64,
            cpu * 1e6 / statements as f64
        );
        db.close().await;
    });
    ExitCode::SUCCESS
}

/// What sqlx-core 0.8.6's `QueryLogger::finish` does for a statement that
/// was not slow, at its default level (DEBUG).
fn statement_event(sql: &str, i: u64) {
    let elapsed = std::time::Duration::from_nanos(20_000 + i % 1000);
    if tracing::enabled!(target: "sqlx::query", tracing::Level::DEBUG) {
        let mut summary = sql.split_whitespace().take(4).collect::<Vec<&str>>().join(" ");
        let sql = if summary != sql {
            summary.push_str(" …");
            format!("\n\n{sql}\n")
        } else {
            String::new()
        };
        tracing::debug!(target: "sqlx::query", summary, db.statement = sql, rows_affected = 0u64, rows_returned = 1u64, ?elapsed, elapsed_secs = elapsed.as_secs_f64());
    }
}

/// User and system CPU time of this process so far, from /proc (Linux).
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat.rsplit(')').next().unwrap_or("").split_whitespace().collect();
    let ticks: f64 = fields.get(11..13).map(|f| f.iter().filter_map(|t| t.parse::<f64>().ok()).sum()).unwrap_or(0.0);
    ticks / 100.0
}
