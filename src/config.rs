//! Configuration from environment variables and command-line flags (flags win).

use clap::Args;

use crate::db::{DbUrl, UnknownScheme};

/// Where the database is.
#[derive(Debug, Clone, Args)]
pub struct DbArgs {
    /// `postgres://…` or `sqlite://path`; unset means `sqlite://karada.db` in the working directory.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
}

impl DbArgs {
    /// The parsed URL, or the embedded SQLite default.
    pub fn url(&self) -> Result<DbUrl, UnknownScheme> {
        match self.database_url.as_deref() {
            None | Some("") => Ok(DbUrl::default_sqlite()),
            Some(u) => DbUrl::parse(u),
        }
    }
}

/// How the HTTP service runs.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "KARADA_BIND", default_value = "127.0.0.1:8080")]
    pub bind: String,
    /// Secret for signing access tokens (at least 32 bytes). Required when `KARADA_ENV=production`;
    /// otherwise a random per-process secret is used with a warning.
    #[arg(long, env = "KARADA_JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<String>,
    /// `dev` or `production`.
    #[arg(long, env = "KARADA_ENV", default_value = "dev")]
    pub env: String,
    /// Minimum number of distinct people in a published aggregate cell.
    #[arg(long, env = "KARADA_K_MIN", default_value_t = 10)]
    pub k_min: u32,
    /// Largest accepted request body, in bytes.
    #[arg(long, env = "KARADA_BODY_LIMIT", default_value_t = 1024 * 1024)]
    pub body_limit: usize,
    /// Database connections in the pool.
    #[arg(long, env = "KARADA_DB_POOL_SIZE", default_value_t = 16)]
    pub pool_size: u32,
    /// Longest wait for a database connection, in milliseconds, before answering 503.
    #[arg(long, env = "KARADA_DB_TIMEOUT_MS", default_value_t = 5000)]
    pub db_timeout_ms: u64,
    /// HTTP worker threads (0: one per core).
    #[arg(long, env = "KARADA_WORKERS", default_value_t = 0)]
    pub workers: usize,
    /// Login attempts one account may make in a burst before 429 (refilled one per 12 s).
    #[arg(long, env = "KARADA_LOGIN_BURST_PER_ACCOUNT", default_value_t = 5)]
    pub login_burst_per_account: u32,
    /// Login and pairing attempts one client address may make in a burst before 429 (refilled one per second).
    #[arg(long, env = "KARADA_LOGIN_BURST_PER_ADDRESS", default_value_t = 30)]
    pub login_burst_per_address: u32,
}
