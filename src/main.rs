//! The `karada` command: serve the API, apply migrations, and operator tasks.

use std::io::Read;
use std::process::ExitCode;

use actix_web::{HttpServer, web};
use clap::{Parser, Subcommand};
use karada::accounts::password::{self, Password};
use karada::accounts::{self, NewUser, Role, Sex};
use karada::config::{DbArgs, ServeArgs};
use karada::db::{self, Ts};
use karada::http::throttle::{Limits, Throttle};
use karada::http::{self, AppState, Settings};

#[derive(Parser)]
#[command(name = "karada", version, about = "Karada personal health record service")]
struct Cli {
    #[command(flatten)]
    db: DbArgs,
    #[command(subcommand)]
    command: Option<Command>,
}

/// `karada` with no subcommand serves with settings from the environment.
#[derive(Parser)]
struct DefaultServe {
    #[command(flatten)]
    args: ServeArgs,
}

#[derive(Subcommand)]
enum Command {
    /// Apply migrations and serve the HTTP API (the default).
    Serve(ServeArgs),
    /// Apply pending migrations and exit.
    Migrate,
    /// Operator tasks.
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
    /// Print the OpenAPI document (YAML).
    Openapi,
    /// Print the measurement catalogue as Markdown.
    MeasurementTypes,
    /// Create a synthetic population (for trying the service and for benchmarks).
    DemoData {
        /// Residents to create.
        #[arg(long, default_value_t = 100)]
        residents: usize,
        /// Days of history per resident (daily steps; weekly weight and blood pressure; monthly
        /// vascular age, gait and capillary analysis).
        #[arg(long, default_value_t = 365)]
        days: u32,
        /// Random seed.
        #[arg(long, default_value_t = 2025)]
        seed: u64,
        /// Parallel writers.
        #[arg(long, default_value_t = 4)]
        threads: usize,
    },
}

/// Password of every demo resident.
const DEMO_PASSWORD: &str = "karada demo password";

#[derive(Subcommand)]
enum AdminCommand {
    /// Create an account; the password is read from standard input.
    CreateUser {
        /// Login email.
        #[arg(long)]
        email: String,
        /// `admin` or `resident`.
        #[arg(long, default_value = "admin")]
        role: String,
        /// Date of birth (YYYY-MM-DD); required for residents.
        #[arg(long)]
        birth_date: Option<String>,
    },
}

type CliResult = Result<(), String>;

fn main() -> ExitCode {
    karada::telemetry::init();
    let cli = Cli::parse();
    let result = match cli.command {
        None => serve(&cli.db, DefaultServe::parse_from(["karada"]).args),
        Some(Command::Serve(args)) => serve(&cli.db, args),
        Some(Command::Migrate) => migrate(&cli.db).map(|n| println!("applied {n} migration(s)")),
        Some(Command::Admin {
            command:
                AdminCommand::CreateUser {
                    email,
                    role,
                    birth_date,
                },
        }) => create_user(&cli.db, &email, &role, birth_date.as_deref()),
        Some(Command::DemoData {
            residents,
            days,
            seed,
            threads,
        }) => demo_data(&cli.db, residents, days, seed, threads),
        Some(Command::MeasurementTypes) => {
            print!("{}", karada::measurements::catalogue::markdown());
            Ok(())
        }
        Some(Command::Openapi) => {
            print!("{}", http::openapi_yaml());
            Ok(())
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("karada: {e}");
            ExitCode::FAILURE
        }
    }
}

fn migrate(db: &DbArgs) -> Result<usize, String> {
    let url = db.url().map_err(|e| e.to_string())?;
    let mut conn = url
        .connect()
        .map_err(|e| format!("cannot connect to the database: {e}"))?;
    db::run_migrations(&mut conn).map_err(|e| format!("migration failed: {e}"))
}

fn jwt_secret(args: &ServeArgs) -> Result<Vec<u8>, String> {
    match args.jwt_secret.as_deref() {
        Some(s) if s.len() >= 32 => Ok(s.as_bytes().to_vec()),
        Some(_) => Err("KARADA_JWT_SECRET must be at least 32 bytes".to_owned()),
        None if args.env == "production" => Err("KARADA_JWT_SECRET is required when KARADA_ENV=production".to_owned()),
        None => {
            tracing::warn!(
                "KARADA_JWT_SECRET is not set: using a random per-process secret. Tokens will not survive a \
                 restart and will not work across instances. Set it (and KARADA_ENV=production) outside development."
            );
            let mut s = vec![0u8; 32];
            rand::fill(s.as_mut_slice());
            Ok(s)
        }
    }
}

fn serve(db_args: &DbArgs, args: ServeArgs) -> CliResult {
    let secret = jwt_secret(&args)?;
    let applied = migrate(db_args)?;
    let url = db_args.url().map_err(|e| e.to_string())?;
    tracing::info!(backend = ?url.backend(), applied, "database ready");
    let pool = db::pool(
        &url,
        args.pool_size,
        std::time::Duration::from_millis(args.db_timeout_ms),
    )
    .map_err(|e| format!("cannot open the connection pool: {e}"))?;
    let settings = Settings {
        body_limit: args.body_limit,
        k_min: args.k_min,
        metrics_token: args.metrics_token.clone().filter(|t| !t.is_empty()),
        exports_per_account: args.exports_per_account,
        export_spool_dir: args.export_spool_dir.clone(),
        export_max_bytes: args.export_max_bytes,
        requests_per_account: (args.requests_per_account > 0).then_some(args.requests_per_account),
        request_wait: std::time::Duration::from_millis(args.db_timeout_ms),
    };
    let throttle = Throttle::with_limits(Limits {
        login_per_account: args.login_burst_per_account,
        login_per_account_total: args.login_burst_per_account_total,
        login_per_address: args.login_burst_per_address,
        registrations_per_address: args.register_burst_per_address,
        guesses_per_address: args.guess_burst_per_address,
    });
    let state = AppState::new(
        pool,
        karada::accounts::tokens::JwtKeys::new(&secret),
        settings,
        throttle,
    )
    .map_err(|e| e.to_string())?;
    let state = web::Data::new(state);
    password::warm_up();
    let bind = args.bind.clone();
    let workers = args.workers;
    let stalled = std::time::Duration::from_secs(args.stalled_client_timeout_secs.max(1));
    let blocking_threads = (args.pool_size as usize + 4).max(8);
    actix_web::rt::System::new().block_on(async move {
        let mut server = HttpServer::new(move || http::app(state.clone()))
            // A client that stops reading must not hold its answer (and what it holds) forever.
            .on_connect(move |conn, _| cut_off_when_stalled(conn, stalled))
            // On SIGTERM/SIGINT: stop accepting, let in-flight requests finish for up to 30 s.
            .shutdown_timeout(30);
        if workers > 0 {
            server = server.workers(workers);
        }
        // Blocking work is database calls (bounded by the pool) and password hashing: threads beyond
        // that only wait, and each costs a stack and a malloc arena.
        server = server.worker_max_blocking_threads(blocking_threads);
        let server = server
            .bind(&bind)
            .map_err(|e| format!("cannot listen on {bind}: {e}"))?;
        tracing::info!(%bind, "listening");
        server.run().await.map_err(|e| e.to_string())
    })
}

/// Makes the kernel close a connection whose sent data stays unacknowledged for `after` — which is
/// what happens when the client stops reading (its receive window stays shut). The dispatcher then
/// fails its next write and drops the answer, freeing what it held (an export's slot and spool
/// file). Linux only (`TCP_USER_TIMEOUT`); elsewhere a stalled client is left to the operating
/// system's own retransmission timeout.
fn cut_off_when_stalled(conn: &dyn std::any::Any, after: std::time::Duration) {
    #[cfg(target_os = "linux")]
    if let Some(stream) = conn.downcast_ref::<actix_web::rt::net::TcpStream>()
        && let Err(e) = socket2::SockRef::from(stream).set_tcp_user_timeout(Some(after))
    {
        tracing::warn!(error = %e, "cannot set TCP_USER_TIMEOUT on a connection");
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (conn, after);
}

fn create_user(db_args: &DbArgs, email: &str, role: &str, birth_date: Option<&str>) -> CliResult {
    let role = Role::parse(role).ok_or("role must be admin or resident")?;
    let mut errors = Vec::new();
    let email = accounts::normalize_email(email, &mut errors);
    let birth_date = birth_date.and_then(|d| accounts::parse_birth_date(d, &mut errors));
    if role == Role::Resident && birth_date.is_none() && errors.is_empty() {
        return Err("--birth-date is required for residents".to_owned());
    }
    let mut input = String::new();
    std::io::stdin()
        .read_to_string(&mut input)
        .map_err(|e| format!("cannot read the password: {e}"))?;
    let password = Password::new(input.trim_end_matches(['\r', '\n']));
    if let Err(e) = password.check_new("password") {
        errors.push(e);
    }
    if let Some(e) = errors.first() {
        return Err(format!("{}: {}", e.field, e.message));
    }
    migrate(db_args)?;
    let hash = password::hash(&password).map_err(|e| e.to_string())?;
    let url = db_args.url().map_err(|e| e.to_string())?;
    let mut conn = url
        .connect()
        .map_err(|e| format!("cannot connect to the database: {e}"))?;
    let now = Ts::now();
    let user = accounts::insert(
        &mut conn,
        &NewUser {
            id: karada::db::UserId::new(),
            email,
            password_hash: hash,
            display_name: None,
            birth_date,
            sex: Sex::Unknown.as_str().to_owned(),
            timezone: accounts::DEFAULT_TIMEZONE.to_owned(),
            role: role.as_str().to_owned(),
            created_at: now,
            updated_at: now,
        },
    )
    .map_err(|e| match e {
        diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, _) => {
            "an account with this email already exists".to_owned()
        }
        other => format!("cannot create the account: {other}"),
    })?;
    println!("{}", user.id);
    Ok(())
}

fn demo_data(db_args: &DbArgs, residents: usize, days: u32, seed: u64, threads: usize) -> CliResult {
    migrate(db_args)?;
    let url = db_args.url().map_err(|e| e.to_string())?;
    let mut run = [0u8; 4];
    rand::fill(&mut run);
    let plan = karada::demo::Plan {
        residents,
        days,
        seed,
        threads,
        password_hash: password::hash(&Password::new(DEMO_PASSWORD)).map_err(|e| e.to_string())?,
        run_id: hex::encode(run),
    };
    let started = std::time::Instant::now();
    let done = karada::demo::generate(&url, &plan).map_err(|e| e.to_string())?;
    let secs = started.elapsed().as_secs_f64();
    println!(
        "created {} residents and {} measurements in {secs:.1} s ({:.0} measurements/s); \
         emails demo<N>.{}@example.invalid, password \"{DEMO_PASSWORD}\"",
        done.residents,
        done.measurements,
        done.measurements as f64 / secs.max(0.001),
        plan.run_id
    );
    Ok(())
}
