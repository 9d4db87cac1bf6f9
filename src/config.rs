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
    /// Login attempts at one account from one client address in a burst before 429 (refilled one
    /// per 12 s); password checks of a signed-in account share the same size of budget.
    #[arg(long, env = "KARADA_LOGIN_BURST_PER_ACCOUNT", default_value_t = 5)]
    pub login_burst_per_account: u32,
    /// Login attempts at one account from all addresses together in a burst before 429 (refilled
    /// one per 6 s: faster than one address may spend it, so one address cannot lock the owner out).
    #[arg(long, env = "KARADA_LOGIN_BURST_PER_ACCOUNT_TOTAL", default_value_t = 50)]
    pub login_burst_per_account_total: u32,
    /// Login attempts one client address may make in a burst before 429 (refilled one per second).
    #[arg(long, env = "KARADA_LOGIN_BURST_PER_ADDRESS", default_value_t = 30)]
    pub login_burst_per_address: u32,
    /// Registrations one client address may make in a burst before 429 (refilled one per 30 s).
    #[arg(long, env = "KARADA_REGISTER_BURST_PER_ADDRESS", default_value_t = 20)]
    pub register_burst_per_address: u32,
    /// Wrong enrollment, check-in or pairing codes (or app credentials) one client address may
    /// send to one route in a burst before 429 (refilled one per 6 s); right ones cost nothing.
    #[arg(long, env = "KARADA_GUESS_BURST_PER_ADDRESS", default_value_t = 10)]
    pub guess_burst_per_address: u32,
    /// Bearer token a Prometheus scraper must send to `GET /metrics`; unset, the route answers 404.
    #[arg(long, env = "KARADA_METRICS_TOKEN", hide_env_values = true)]
    pub metrics_token: Option<String>,
    /// Exports one account may have in flight (429 beyond).
    #[arg(long, env = "KARADA_EXPORTS_PER_ACCOUNT", default_value_t = 2)]
    pub exports_per_account: usize,
    /// Directory for export spool files (default: the system's temporary directory).
    #[arg(long, env = "KARADA_EXPORT_SPOOL_DIR")]
    pub export_spool_dir: Option<std::path::PathBuf>,
    /// Largest export in bytes (507 beyond).
    #[arg(long, env = "KARADA_EXPORT_MAX_BYTES", default_value_t = 4 << 30)]
    pub export_max_bytes: u64,
    /// Authenticated requests one account may have in flight, each holding at most one database
    /// connection (0: half the pool); more wait up to the database timeout, then 429.
    #[arg(long, env = "KARADA_REQUESTS_PER_ACCOUNT", default_value_t = 0)]
    pub requests_per_account: usize,
    /// Seconds a connection may leave data unacknowledged (a client that stopped reading) before
    /// the server cuts it off (Linux: TCP_USER_TIMEOUT).
    #[arg(long, env = "KARADA_STALLED_CLIENT_TIMEOUT_SECS", default_value_t = 60)]
    pub stalled_client_timeout_secs: u64,
}
