//! The `coterie` command line.

use std::io::Read as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use coterie::accounts::{password, store, validate};
use coterie::app::{self, AppState};
use coterie::config::Config;

#[derive(Parser)]
#[command(name = "coterie", version, about = "A community platform for brands: profiles, photos, blogs, forums, comments and votes.")]
struct Cli {
    /// Configuration file (TOML). COTERIE_* environment variables override it.
    #[arg(long, global = true, env = "COTERIE_CONFIG")]
    config: Option<PathBuf>,
    /// Folder for the database, media and outbox of the default set-up.
    #[arg(long, global = true)]
    data_dir: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the web server (migrates the database first).
    Serve {
        /// Address to listen on, such as 127.0.0.1:8000.
        #[arg(long)]
        addr: Option<std::net::SocketAddr>,
        /// Fill an empty site with demo content first.
        #[arg(long)]
        demo: bool,
    },
    /// Apply database migrations and exit.
    Migrate,
    /// Manage members.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Fill an empty site with a sample community.
    Demo,
    /// Photo files.
    Photos {
        #[command(subcommand)]
        command: PhotosCommand,
    },
    /// Move the whole site to another database (and media store), then verify
    /// every table and file. Stop the site first; the target must be empty.
    MigrateData {
        /// The database the site is on, such as sqlite://data/coterie.db.
        #[arg(long)]
        from: String,
        /// An empty database to move it to, such as postgres://user@host/db.
        #[arg(long)]
        to: String,
        /// The media store the files are in (with --media-to).
        #[arg(long, requires = "media_to")]
        media_from: Option<String>,
        /// An empty media store to copy every file to, such as file:///srv/media.
        #[arg(long, requires = "media_from")]
        media_to: Option<String>,
    },
    /// Copy the embedded SQLite database to a new file while the site runs.
    Backup {
        /// The file to write (must not exist).
        to: PathBuf,
    },
    /// Write the theme's static files to a folder for nginx to serve as /static.
    CollectStatic {
        /// The folder nginx serves as /static/ (created if missing).
        dir: PathBuf,
    },
    /// Check the configuration and reach the database, cache, media storage and mail.
    Check,
}

#[derive(Subcommand)]
enum PhotosCommand {
    /// Make every configured size that is missing (after a configuration
    /// change); what exists is kept, so an interrupted run resumes.
    Regenerate {
        /// Only this size.
        #[arg(long)]
        size: Option<String>,
        /// Also delete files of sizes no longer configured.
        #[arg(long)]
        prune: bool,
    },
}

#[derive(Subcommand)]
enum UserCommand {
    /// Create a member whose email is already confirmed.
    Create {
        #[arg(long)]
        username: String,
        #[arg(long)]
        email: String,
        /// Read the password from standard input.
        #[arg(long, required = true)]
        password_stdin: bool,
        /// Make the member staff.
        #[arg(long)]
        staff: bool,
        /// Make the member a moderator.
        #[arg(long, conflicts_with = "staff")]
        moderator: bool,
    },
}

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    use tracing_subscriber::Layer as _;
    // The log output has its own filter; the database statement counter
    // behind /metrics sees sqlx's statement events whatever it says.
    let log = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,sqlx=warn,tower_http=info".into()),
        );
    coterie::metrics::queries::install(log).expect("no tracing subscriber is installed yet");
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let mut config = Config::load(cli.config.as_deref())?;
    if let Some(dir) = cli.data_dir {
        config.data_dir = dir;
    }
    match cli.command {
        Command::Serve { addr, demo } => {
            if let Some(addr) = addr {
                config.addr = addr;
            }
            let state = AppState::build(config).await?;
            if demo {
                coterie::demo::fill_if_empty(&state).await?;
            }
            let listener = tokio::net::TcpListener::bind(state.config.addr)
                .await
                .with_context(|| format!("cannot listen on {}", state.config.addr))?;
            tracing::info!(public_url = %state.config.public_url(), "Coterie is running at http://{}", listener.local_addr()?);
            app::serve(state, listener, app::shutdown_signal()).await?;
        }
        Command::Migrate => {
            let db = coterie::db::Db::connect(&config.database_url(), 1).await?;
            let applied = coterie::db::migrations::run(&db).await?;
            println!("{} migration(s) applied on {}", applied.len(), db.backend.name());
        }
        Command::Demo => {
            let state = AppState::build(config).await?;
            coterie::demo::fill_if_empty(&state).await?;
        }
        Command::Check => return check(config).await,
        Command::Photos { command: PhotosCommand::Regenerate { size, prune } } => {
            let state = AppState::build(config).await?;
            let done = coterie::photos::sizes::regenerate(&state, size.as_deref(), prune).await?;
            println!(
                "{} photos: {} sizes made, {} old files removed, {} failed",
                done.photos, done.made, done.pruned, done.failed
            );
            if done.failed > 0 {
                return Ok(ExitCode::FAILURE);
            }
        }
        Command::MigrateData { from, to, media_from, media_to } => {
            let media = media_from.zip(media_to);
            coterie::migrate_data::run(&coterie::migrate_data::Options { from, to, media, s3: config.s3.clone() }).await?;
        }
        Command::Backup { to } => {
            let db = coterie::db::Db::connect(&config.database_url(), 1).await?;
            db.backup_sqlite(&to).await?;
            println!("database copied to {}", to.display());
        }
        Command::CollectStatic { dir } => {
            let written = app::load_assets(&config)?.export(&dir)?;
            println!("{written} files written to {}", dir.display());
        }
        Command::User { command: UserCommand::Create { username, email, password_stdin: _, staff, moderator } } => {
            let mut secret = String::new();
            std::io::stdin().read_to_string(&mut secret).context("cannot read the password from standard input")?;
            let secret = secret.trim_end_matches(['\n', '\r']).to_string();
            validate::username(&username).map_err(anyhow::Error::msg)?;
            validate::email(&email).map_err(anyhow::Error::msg)?;
            if let Some(why) = password::weakness(&secret, config.accounts.min_password_length, &username, &email) {
                anyhow::bail!("password refused: {why}");
            }
            let state = AppState::build(config).await?;
            let role = if staff { "staff" } else if moderator { "moderator" } else { "member" };
            let new = store::NewUser {
                username: &username,
                email: &email,
                password_hash: password::hash(secret).await.map_err(|e| anyhow::anyhow!("{e}"))?,
                role,
                email_confirmed: true,
                avatar_mode: &state.config.avatars.default_mode,
            };
            match store::create(&state.db, new).await {
                Ok(id) => println!("created {role} {username} (id {id})"),
                Err(e) if coterie::db::is_unique_violation(&e) => {
                    anyhow::bail!("a member with that username or email already exists")
                }
                Err(e) => return Err(e.into()),
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Prints one line per part: what works, and what is wrong.
async fn check(config: Config) -> anyhow::Result<ExitCode> {
    let mut ok = true;
    let mut report = |part: &str, result: anyhow::Result<String>| match result {
        Ok(detail) => println!("ok      {part}: {detail}"),
        Err(e) => {
            ok = false;
            println!("FAILED  {part}: {e:#}");
        }
    };
    report("configuration", Ok(format!("public URL {}", config.public_url())));
    let db = coterie::db::Db::connect(&config.database_url(), 1).await;
    match &db {
        Ok(db) if db.ping().await => report("database", Ok(db.backend.name().to_string())),
        Ok(_) => report("database", Err(anyhow::anyhow!("connected but a query failed"))),
        Err(e) => report("database", Err(anyhow::anyhow!("{e:#}"))),
    }
    match coterie::cache::Cache::from_url(&config.cache_url) {
        Ok(cache) if cache.ping().await => report("cache", Ok(cache.kind().to_string())),
        Ok(cache) => report("cache", Err(anyhow::anyhow!("{} cache is not answering", cache.kind()))),
        Err(e) => report("cache", Err(e)),
    }
    match coterie::media::MediaStore::open(&config.media_url(), &config.s3) {
        Ok(media) => report("media storage", media.check().await.map(|_| media.describe())),
        Err(e) => report("media storage", Err(e)),
    }
    match coterie::mail::Mailer::new(&config.smtp_url, config.outbox_dir(), &config.email_from) {
        Ok(mailer) => report("email", mailer.check().await.map(|_| mailer.describe())),
        Err(e) => report("email", Err(e)),
    }
    Ok(if ok { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}
