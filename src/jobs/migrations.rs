//! The `jobs` table: one row per job waiting, running or dead.

use crate::db::migrations::Migration;

pub const MIGRATIONS: &[Migration] = &[Migration {
    version: 1,
    name: "jobs",
    statements: &[
        // run_at: when it may run next; locked_until: the lease of the worker
        // running it (NULL when none); dead_at: set when it gave up.
        "CREATE TABLE jobs (
            id {id},
            kind {str 64} NOT NULL,
            payload {text} NOT NULL,
            run_at {int} NOT NULL,
            attempts {int} NOT NULL DEFAULT 0,
            max_attempts {int} NOT NULL,
            locked_until {int},
            last_error {text},
            dead_at {int},
            created_at {int} NOT NULL
        ) {table}",
        // Serves the claim: live jobs (dead_at IS NULL) in run_at order.
        "CREATE INDEX jobs_ready ON jobs (dead_at, run_at)",
    ],
}];
