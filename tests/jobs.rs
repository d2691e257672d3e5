//! The durable job queue: jobs survive a restart, run once across app
//! processes sharing a database, back off when they fail and end dead, run
//! again when a worker's lease runs out; and email goes through it.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{Backend, TestApp};
use futures_util::future::BoxFuture;
use coterie::app::AppState;
use coterie::db::now;
use coterie::jobs::{queue, run_pending};
use reqwest::StatusCode;
use serde_json::{json, Value};
use sqlx::Row as _;

const PW: &str = "velvet-harbor-lantern-91";
/// The test's own job kind: records which `n` ran, in which app.
const RECORD: &str = "test_record";
const FLAKY: &str = "test_flaky";
const SLOW: &str = "test_slow";

backend_tests!(
    a_job_survives_a_restart,
    two_processes_run_every_job_exactly_once,
    failures_back_off_then_the_job_is_dead,
    an_expired_lease_lets_another_worker_take_the_job,
    stopping_lets_the_running_job_finish_and_claims_no_more,
    signing_up_sends_the_confirmation_through_the_queue,
);

/// The `n` of every run of a [`RECORD`] job, with the address of the app that ran it.
#[derive(Clone, Default)]
struct Runs(Arc<Mutex<Vec<(i64, String)>>>);

impl Runs {
    fn handler(&self) -> impl Fn(AppState, Value) -> BoxFuture<'static, anyhow::Result<()>> + Send + Sync + 'static {
        let runs = self.clone();
        move |state, payload| {
            let runs = runs.clone();
            Box::pin(async move {
                let n = payload["n"].as_i64().ok_or_else(|| anyhow::anyhow!("no n in {payload}"))?;
                // Long enough that workers of both apps are busy at once.
                tokio::time::sleep(Duration::from_millis(2)).await;
                runs.0.lock().unwrap().push((n, state.config.addr.to_string()));
                Ok(())
            })
        }
    }

    fn numbers(&self) -> Vec<i64> {
        let mut ns: Vec<i64> = self.0.lock().unwrap().iter().map(|(n, _)| *n).collect();
        ns.sort();
        ns
    }
}

async fn record(app: &TestApp, n: i64) -> i64 {
    app.state.jobs.enqueue(RECORD, &json!({ "n": n }), now()).await.unwrap()
}

/// Waits (without running anything itself) until the apps' workers have
/// emptied the queue of live jobs.
async fn drained(app: &TestApp) {
    for _ in 0..6000 {
        if app.count("SELECT COUNT(*) FROM jobs WHERE dead_at IS NULL").await == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the workers did not empty the queue");
}

struct JobRow {
    attempts: i64,
    run_at: i64,
    locked_until: Option<i64>,
    dead_at: Option<i64>,
    last_error: String,
}

async fn job_row(app: &TestApp, id: i64) -> JobRow {
    let db = &app.state.db;
    let row = db
        .query("SELECT attempts, run_at, locked_until, dead_at, last_error FROM jobs WHERE id = ?")
        .bind(id)
        .fetch_one(db.w())
        .await
        .expect("the job is still there");
    // MySQL's TEXT reaches the Any driver as bytes.
    let last_error = match row.try_get::<Option<String>, _>("last_error") {
        Ok(text) => text,
        Err(_) => row.try_get::<Option<Vec<u8>>, _>("last_error").unwrap().map(|b| String::from_utf8(b).unwrap()),
    };
    JobRow {
        attempts: row.get("attempts"),
        run_at: row.get("run_at"),
        locked_until: row.get("locked_until"),
        dead_at: row.get("dead_at"),
        last_error: last_error.unwrap_or_default(),
    }
}

async fn a_job_survives_a_restart(b: Backend) {
    let runs = Runs::default();
    // A process that only enqueues, stopped before anything ran the job.
    let mut first = TestApp::with(b).config(|c| c.jobs.workers = 0).job(RECORD, runs.handler()).spawn().await;
    record(&first, 7).await;
    first.stop().await;
    assert!(runs.numbers().is_empty());

    let second = TestApp::with(b).sharing(&first).job(RECORD, runs.handler()).spawn().await;
    drained(&second).await;
    assert_eq!(runs.numbers(), vec![7], "the new process's worker ran it, once");
    assert_eq!(second.count("SELECT COUNT(*) FROM jobs").await, 0, "a job that ran leaves the queue");
}

async fn two_processes_run_every_job_exactly_once(b: Backend) {
    let runs = Runs::default();
    let settings = |c: &mut coterie::config::Config| {
        c.jobs.workers = 2;
        c.jobs.poll_seconds = 1;
    };
    let one = TestApp::with(b).config(settings).job(RECORD, runs.handler()).spawn().await;
    let two = TestApp::with(b).sharing(&one).config(settings).job(RECORD, runs.handler()).spawn().await;
    // Half enqueued through both, while the four workers are taking them...
    let (one, two) = (Arc::new(one), Arc::new(two));
    let enqueue = |app: Arc<TestApp>, from: i64| async move {
        for n in (from..100).step_by(2) {
            record(&app, n).await;
        }
    };
    let (odd, even) = tokio::join!(tokio::spawn(enqueue(one.clone(), 0)), tokio::spawn(enqueue(two.clone(), 1)));
    odd.unwrap();
    even.unwrap();
    // ...and half at once, in one transaction: all four workers compete for them.
    let db = &one.state.db;
    let mut tx = db.w().begin().await.unwrap();
    for n in 100..200 {
        one.state.jobs.enqueue_in(&mut *tx, RECORD, &json!({ "n": n }), now()).await.unwrap();
    }
    tx.commit().await.unwrap();
    one.state.jobs.wake();
    two.state.jobs.wake();
    drained(&one).await;

    assert_eq!(runs.numbers(), (0..200).collect::<Vec<_>>(), "every job ran, none twice");
    assert_eq!(one.count("SELECT COUNT(*) FROM jobs").await, 0);
    let by_one = runs.0.lock().unwrap().iter().filter(|(_, addr)| *addr == one.state.config.addr.to_string()).count();
    eprintln!("{b:?}: the first process ran {by_one} of 200 jobs, the second {}", 200 - by_one);
}

async fn failures_back_off_then_the_job_is_dead(b: Backend) {
    let tries = Arc::new(Mutex::new(0));
    let counted = tries.clone();
    let app = TestApp::with(b)
        .config(|c| {
            c.jobs.workers = 0;
            c.jobs.max_attempts = 3;
            c.jobs.backoff_seconds = 60;
            c.jobs.backoff_max_seconds = 100;
        })
        .job(FLAKY, move |_, _| {
            let counted = counted.clone();
            async move {
                *counted.lock().unwrap() += 1;
                anyhow::bail!("the printer is on fire")
            }
        })
        .spawn()
        .await;
    let id = app.state.jobs.enqueue(FLAKY, &json!({}), now()).await.unwrap();
    // 60 s after the first failure, then 120 s capped to 100.
    for (attempt, wait) in [(1, 60), (2, 100)] {
        let before = now();
        assert_eq!(run_pending(&app.state).await.unwrap(), 1);
        let job = job_row(&app, id).await;
        assert_eq!(job.attempts, attempt);
        assert!(job.run_at >= before + wait && job.run_at <= now() + wait, "retry {attempt} at {} (now {before})", job.run_at);
        assert!(job.last_error.contains("on fire"), "{}", job.last_error);
        assert_eq!((job.locked_until, job.dead_at), (None, None), "released, and still live");
        assert_eq!(run_pending(&app.state).await.unwrap(), 0, "not due before its backoff");
        // As if the backoff had passed.
        app.state.db.query("UPDATE jobs SET run_at = ? WHERE id = ?").bind(now()).bind(id).execute(app.state.db.w()).await.unwrap();
    }
    assert_eq!(run_pending(&app.state).await.unwrap(), 1);
    let dead = job_row(&app, id).await;
    assert_eq!(dead.attempts, 3);
    assert!(dead.dead_at.is_some(), "kept as dead after max_attempts");
    assert!(dead.last_error.contains("on fire"));
    app.state.db.query("UPDATE jobs SET run_at = 0 WHERE id = ?").bind(id).execute(app.state.db.w()).await.unwrap();
    assert_eq!(run_pending(&app.state).await.unwrap(), 0, "a dead job is not retried");
    assert_eq!(*tries.lock().unwrap(), 3);
    assert_eq!(coterie::jobs::queue::depth(&app.state.db).await.unwrap(), (0, 1));
    let staff = app.client_for(app.member("sam", PW, "staff").await).await;
    let status = app.get_with(&staff, "/status").await.text;
    assert!(status.contains("0 queued") && status.contains("1 dead"), "the status page shows it: {status}");

    let unknown = app.state.jobs.enqueue("no_such_kind", &json!({}), now()).await;
    assert!(unknown.unwrap_err().to_string().contains("no handler"), "an unknown kind is refused");
    assert_eq!(app.count("SELECT COUNT(*) FROM jobs").await, 1, "and nothing was queued");
}

async fn an_expired_lease_lets_another_worker_take_the_job(b: Backend) {
    let runs = Runs::default();
    let app = TestApp::with(b)
        .config(|c| {
            c.jobs.workers = 0;
            c.jobs.lease_seconds = 1;
            c.jobs.max_attempts = 2;
        })
        .job(RECORD, runs.handler())
        .spawn()
        .await;
    let first = record(&app, 1).await;
    record(&app, 2).await;
    // Two workers claim one job each and die mid-job.
    let lost_first = queue::claim(&app.state.db, 1).await.unwrap().expect("a job to claim");
    let lost_second = queue::claim(&app.state.db, 1).await.unwrap().expect("a job to claim");
    assert_eq!((lost_first.id, lost_first.attempts), (first, 1));
    assert_ne!(lost_second.id, first);
    assert_eq!(run_pending(&app.state).await.unwrap(), 0, "leased jobs are nobody else's");
    // Seconds are whole: a lease of 1 s is surely over 2.1 s later.
    tokio::time::sleep(Duration::from_millis(2100)).await;

    let taken = queue::claim(&app.state.db, 1).await.unwrap().expect("the lease ran out");
    assert_eq!((taken.id, taken.attempts), (first, 2));
    // The first worker's late report touches the new claim's job not at all.
    queue::finish(&app.state.db, &lost_first).await.unwrap();
    queue::fail(&app.state.db, &lost_first, "late", None).await.unwrap();
    let job = job_row(&app, first).await;
    assert_eq!((job.attempts, job.dead_at), (2, None));
    assert!(job.locked_until.is_some());
    queue::finish(&app.state.db, &taken).await.unwrap();
    assert_eq!(app.count("SELECT COUNT(*) FROM jobs").await, 1);

    assert_eq!(run_pending(&app.state).await.unwrap(), 1, "the other job runs again");
    assert_eq!(runs.numbers(), vec![2]);
    assert_eq!(app.count("SELECT COUNT(*) FROM jobs").await, 0);

    // A job whose last attempt's lease ran out is not tried again: it may
    // be what killed the worker.
    let poison = record(&app, 3).await;
    let db = &app.state.db;
    db.query("UPDATE jobs SET attempts = 2, locked_until = 0 WHERE id = ?").bind(poison).execute(db.w()).await.unwrap();
    assert_eq!(run_pending(&app.state).await.unwrap(), 1);
    let dead = job_row(&app, poison).await;
    assert!(dead.dead_at.is_some() && dead.last_error.contains("lease ran out"), "{}", dead.last_error);
    assert_eq!(runs.numbers(), vec![2], "it did not run");
}

async fn stopping_lets_the_running_job_finish_and_claims_no_more(b: Backend) {
    let started = Arc::new(tokio::sync::Notify::new());
    let release = Arc::new(tokio::sync::Notify::new());
    let finished = Arc::new(Mutex::new(false));
    let (on_start, on_release, on_finish) = (started.clone(), release.clone(), finished.clone());
    let app = TestApp::with(b)
        .config(|c| c.jobs.workers = 0)
        .job(SLOW, move |_, _| {
            let (on_start, on_release, on_finish) = (on_start.clone(), on_release.clone(), on_finish.clone());
            async move {
                on_start.notify_one();
                on_release.notified().await;
                *on_finish.lock().unwrap() = true;
                Ok(())
            }
        })
        .spawn()
        .await;
    let running = app.state.jobs.enqueue(SLOW, &json!({}), now()).await.unwrap();
    let waiting = app.state.jobs.enqueue(SLOW, &json!({}), now()).await.unwrap();
    let workers = coterie::jobs::worker::start_with(&app.state, 1);
    started.notified().await;
    // Stopped while the first job runs.
    let stopped = workers.stop();
    release.notify_one();
    stopped.await;
    assert!(*finished.lock().unwrap(), "the running job finished");
    assert_eq!(app.count("SELECT COUNT(*) FROM jobs").await, 1, "and left the queue");
    let untouched = job_row(&app, waiting).await;
    assert_eq!((untouched.attempts, untouched.locked_until), (0, None), "the other job was not claimed");
    assert_ne!(running, waiting);
}

async fn signup(app: &TestApp, username: &str) {
    let email = format!("{username}@example.com");
    let page = app.post("/accounts/signup", "/accounts/signup", &[("username", username), ("email", &email), ("password", PW)]).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text);
}

async fn signing_up_sends_the_confirmation_through_the_queue(b: Backend) {
    // No workers: the email waits in the queue until something runs it.
    let app = TestApp::with(b).config(|c| c.jobs.workers = 0).spawn().await;
    signup(&app, "ava").await;
    assert!(app.sent().is_empty(), "nothing is sent in the request");
    assert_eq!(app.count("SELECT COUNT(*) FROM jobs WHERE kind = 'email'").await, 1);
    let mails = app.outbox().await;
    assert_eq!(mails.len(), 1);
    assert!(mails[0].contains("To: ava@example.com"));
    assert!(app.last_link().await.starts_with("/accounts/confirm/"));
    assert_eq!(app.count("SELECT COUNT(*) FROM jobs").await, 0);

    // With the serve loop's workers, enqueueing wakes one at once.
    let served = TestApp::spawn(b).await;
    signup(&served, "ben").await;
    for _ in 0..1000 {
        if !served.sent().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let mails = served.sent();
    assert_eq!(mails.len(), 1, "the worker sent the email");
    assert!(mails[0].contains("To: ben@example.com"));
}
