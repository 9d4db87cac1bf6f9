//! Health-points load driver for `BENCHMARKS.md` (run by `bench/points.sh`, which starts the
//! server and the database). Not a test: it measures, it does not assert figures.
//!
//! `rules` mode: throughput of `POST /v1/measurements/batch` with the default reward rules in
//! force, against the same uploads with every rule retired, in alternating phases (on, off, on,
//! off, …) so that drift as the tables grow cancels out. Each phase uploads for fresh residents
//! per-day `steps` (2,000–12,000, so step tiers are crossed), `body_weight` and `blood_pressure`
//! on distinct days, so every "on" phase really writes awards. `--days-per-request 333` (the
//! default) sends full batches of 999 items; `--days-per-request 1` sends a phone's daily sync.
//!
//! Every resident uploads through a registered `sensed` app (the default step tiers pay sensed
//! steps only), as an account four years old, under rules in force for four years and with the
//! programme's award window at its widest (366 days), so that the backdated days of a phase pay
//! as they would have paid a phone uploading on the day (see [`prepare`]).
//!
//! `balance` mode: p50/p99 and throughput of `GET /v1/points` (and the first ledger page) for a
//! resident with 3 years of daily history and for a resident with none, next to `GET /healthz`
//! measured by the same driver at the same concurrency.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

#[path = "common/load.rs"]
mod load;
use load::{percentile, run};

use std::sync::Mutex;
use std::time::{Duration, Instant};

use chrono::{Datelike, FixedOffset, NaiveDate, TimeZone, Utc};
use diesel::prelude::*;
use karada::db::Id;
use karada::db::schema::{points_ledger, reward_rules};
use serde_json::{Value, json};

/// Days per full batch: three items a day (steps, weight, blood pressure), 999 items per request.
const DAYS_PER_BATCH: usize = 333;

/// Days per request in `rules` mode (333: full batches; 1: a phone's daily sync).
fn days_per_request() -> usize {
    arg("--days-per-request", &DAYS_PER_BATCH.to_string()).parse().unwrap()
}

fn arg(name: &str, default: &str) -> String {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
        .unwrap_or_else(|| default.to_owned())
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(120)))
        .build()
        .into()
}

struct Resident {
    id: uuid::Uuid,
    /// The login session's access token: what reads the resident's points.
    login: String,
    /// The paired sensed app's token: what uploads.
    device: String,
}

/// Makes the benchmark's backdated uploads earn what a phone's upload on the day would have:
/// the programme's award window at its widest (366 days), every rule in force for four years,
/// and a registered `sensed` pedometer app for the residents to upload through (the step tiers
/// pay sensed steps only). Its client credentials, as the `Authorization` header of a claim.
fn prepare(db_url: &str) -> String {
    use base64::Engine;
    use karada::accounts::apps::{self, AppKind};
    use karada::accounts::tokens::{Modality, Scope};
    let mut conn = karada::db::DbConn::Pg(PgConnection::establish(db_url).expect("connect"));
    for sql in [
        "UPDATE programmes SET award_window_days = 366",
        "UPDATE reward_rules SET created_at = now() - interval '4 years'",
    ] {
        diesel::sql_query(sql).execute(&mut conn).expect(sql);
    }
    let (app, secret) = apps::register(
        &mut conn,
        "Benchmark pedometer",
        AppKind::App,
        &[Scope::MeasurementsWrite],
        Modality::Sensed,
    )
    .expect("register the benchmark app");
    let pair = format!("{}:{secret}", app.client_id);
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(pair))
}

/// Registers `n` residents from 4 threads (argon2 makes registration slow; it is never timed),
/// pairs each with the benchmark's sensed app (`app`: its claim credentials) and backdates their
/// accounts by four years. Born 1975, so the under-65 step rule applies; default timezone
/// Asia/Tokyo. Uploads with the app's token are `sensed`.
fn register(base: &str, conn: &mut PgConnection, app: &str, n: usize, tag: &str) -> Vec<Resident> {
    let a = agent();
    let out = Mutex::new(Vec::with_capacity(n));
    run(4, n, |i| {
        let body = json!({"email": format!("pts{i}.{tag}@example.invalid"), "password": "load test password",
                          "birth_date": "1975-05-05", "sex": "other"});
        let mut r = a.post(&format!("{base}/v1/auth/register")).send_json(&body).unwrap();
        assert_eq!(r.status(), 201, "register failed");
        let v: Value = r.body_mut().read_json().unwrap();
        let login = v["access_token"].as_str().unwrap().to_owned();
        let mut r = a
            .post(&format!("{base}/v1/me/pairing-codes"))
            .header("Authorization", &format!("Bearer {login}"))
            .send_empty()
            .unwrap();
        assert_eq!(r.status(), 201, "pairing code");
        let code: Value = r.body_mut().read_json().unwrap();
        let mut r = a
            .post(&format!("{base}/v1/apps/claim"))
            .header("Authorization", app)
            .send_json(json!({"code": code["code"]}))
            .unwrap();
        assert_eq!(r.status(), 201, "claim");
        let claim: Value = r.body_mut().read_json().unwrap();
        assert_eq!(claim["modality"], "sensed");
        let resident = Resident {
            id: v["user"]["id"].as_str().unwrap().parse().unwrap(),
            device: claim["token"].as_str().unwrap().to_owned(),
            login,
        };
        out.lock().unwrap().push((i, resident));
        true
    });
    diesel::sql_query(format!(
        "UPDATE users SET created_at = now() - interval '4 years' WHERE email LIKE '%.{tag}@example.invalid'"
    ))
    .execute(conn)
    .expect("backdate the accounts");
    let mut v = out.into_inner().unwrap();
    v.sort_by_key(|(i, _)| *i);
    v.into_iter().map(|(_, r)| r).collect()
}

/// A deterministic pseudo-random number (splitmix64) for a resident and day.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// Today in Tokyo (the residents' timezone).
fn today_tokyo() -> NaiveDate {
    (Utc::now() + chrono::Duration::hours(9)).date_naive()
}

/// The three items of one resident's day: steps (2,000–12,000), weight and blood pressure.
fn day_items(seed: u64, day: NaiveDate) -> [Value; 3] {
    let jst = FixedOffset::east_opt(9 * 3600).unwrap();
    let at = |h: u32, m: u32| {
        jst.from_local_datetime(&day.and_hms_opt(h, m, 0).unwrap())
            .unwrap()
            .to_rfc3339()
    };
    let r = mix(seed ^ u64::from(day.num_days_from_ce().unsigned_abs()).wrapping_mul(0x1000_0001));
    let steps = 2000 + r % 10_001;
    let kg = 55.0 + ((r >> 16) % 300) as f64 / 10.0;
    let systolic = 105 + (r >> 32) % 40;
    let diastolic = 65 + (r >> 40) % 25;
    [
        json!({"type": "steps", "effective_at": at(21, 0), "values": {"count": steps},
               "source": "points-bench", "client_ref": format!("s-{day}")}),
        json!({"type": "body_weight", "effective_at": at(7, 0), "values": {"kg": kg},
               "source": "points-bench", "client_ref": format!("w-{day}")}),
        json!({"type": "blood_pressure", "effective_at": at(7, 5),
               "values": {"systolic_mmhg": systolic, "diastolic_mmhg": diastolic},
               "source": "points-bench", "client_ref": format!("bp-{day}")}),
    ]
}

/// Items for `days` consecutive days ending `last` (newest last).
fn items_for(seed: u64, last: NaiveDate, days: usize) -> Vec<Value> {
    (0..days)
        .rev()
        .flat_map(|k| day_items(seed, last - chrono::Duration::days(k as i64)))
        .collect()
}

fn upload(a: &ureq::Agent, base: &str, token: &str, items: Vec<Value>) {
    let n = items.len();
    let mut resp = a
        .post(&format!("{base}/v1/measurements/batch"))
        .header("Authorization", &format!("Bearer {token}"))
        .send_json(json!({ "items": items }))
        .unwrap();
    assert_eq!(resp.status(), 200);
    let v: Value = resp.body_mut().read_json().unwrap();
    assert_eq!(v["invalid"], 0, "{v}");
    assert_eq!(v["created"], n, "items not created: {}", v["duplicates"]);
}

/// The rules in force now (in a fresh database: the 8 seeded by the migrations).
fn rules_in_force(conn: &mut PgConnection) -> Vec<Id> {
    reward_rules::table
        .filter(reward_rules::retired_at.is_null())
        .select(reward_rules::id)
        .order(reward_rules::id.asc())
        .load(conn)
        .expect("load rules")
}

/// Retires every rule in force (`on == false`), or puts `rules` back in force.
fn set_rules(conn: &mut PgConnection, rules: &[Id], on: bool) {
    let sql = if on {
        let ids: Vec<String> = rules.iter().map(|id| format!("'{}'", id.0)).collect();
        format!(
            "UPDATE reward_rules SET retired_at = NULL WHERE id IN ({})",
            ids.join(", ")
        )
    } else {
        "UPDATE reward_rules SET retired_at = now() WHERE retired_at IS NULL".to_owned()
    };
    diesel::sql_query(sql).execute(conn).expect("toggle rules");
    let active = rules_in_force(conn);
    assert_eq!(
        active.len(),
        if on { rules.len() } else { 0 },
        "rules in force after the toggle"
    );
}

fn ledger_rows(conn: &mut PgConnection) -> i64 {
    points_ledger::table.count().get_result(conn).expect("count ledger")
}

/// CPU seconds of one process (all its threads) from `/proc/<pid>/stat`; USER_HZ is 100 on Linux.
fn proc_cpu(pid: &str) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    let rest: Vec<&str> = stat
        .rsplit_once(')')
        .map_or("", |(_, r)| r)
        .split_whitespace()
        .collect();
    let ticks = |i: usize| rest.get(i).and_then(|t| t.parse::<u64>().ok()).unwrap_or(0);
    (ticks(11) + ticks(12)) as f64 / 100.0
}

/// Busy CPU seconds of the whole machine, from `/proc/stat` (everything but idle and iowait).
fn machine_busy() -> f64 {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let t: Vec<u64> = stat
        .lines()
        .next()
        .unwrap_or("")
        .split_whitespace()
        .skip(1)
        .take(8)
        .map(|v| v.parse().unwrap_or(0))
        .collect();
    if t.len() < 8 {
        return 0.0;
    }
    (t.iter().sum::<u64>() - t[3] - t[4]) as f64 / 100.0
}

/// Where the machine's CPU went: karada, this database's PostgreSQL backends, this driver, and
/// everything else (other work on the machine, and PostgreSQL's shared background processes:
/// WAL writer, checkpointer, autovacuum).
#[derive(Clone, Copy, Default)]
struct Cpu {
    karada: f64,
    pg: f64,
    driver: f64,
    other: f64,
}

struct CpuProbe {
    server_pid: String,
    backends: std::collections::HashMap<String, f64>,
    karada: f64,
    driver: f64,
    busy: f64,
}

fn backend_pids(conn: &mut PgConnection) -> Vec<String> {
    #[derive(QueryableByName)]
    struct Pid {
        #[diesel(sql_type = diesel::sql_types::Integer)]
        pid: i32,
    }
    diesel::sql_query("SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()")
        .load::<Pid>(conn)
        .expect("backends")
        .into_iter()
        .map(|p| p.pid.to_string())
        .collect()
}

impl CpuProbe {
    fn start(conn: &mut PgConnection) -> Self {
        let server_pid = arg("--server-pid", "");
        CpuProbe {
            backends: backend_pids(conn)
                .into_iter()
                .map(|p| (p.clone(), proc_cpu(&p)))
                .collect(),
            karada: proc_cpu(&server_pid),
            driver: proc_cpu("self"),
            busy: machine_busy(),
            server_pid,
        }
    }

    fn stop(self, conn: &mut PgConnection) -> Cpu {
        let busy = machine_busy() - self.busy;
        let karada = proc_cpu(&self.server_pid) - self.karada;
        let driver = proc_cpu("self") - self.driver;
        // A backend that appeared during the phase (the pool grows lazily) counts from zero.
        let pg: f64 = backend_pids(conn)
            .iter()
            .map(|p| proc_cpu(p) - self.backends.get(p).copied().unwrap_or(0.0))
            .sum();
        Cpu {
            karada,
            pg,
            driver,
            other: (busy - karada - pg - driver).max(0.0),
        }
    }
}

struct Phase {
    on: bool,
    rows: usize,
    secs: f64,
    p50: f64,
    p99: f64,
    awards: i64,
    cpu: Cpu,
}

/// One timed phase: `residents` fresh residents, `batches` requests each of `--days-per-request`
/// days (3 items a day), from `clients` clients; consecutive jobs belong to different residents.
fn phase(
    base: &str,
    conn: &mut PgConnection,
    app: &str,
    on: (bool, &[Id]),
    residents: usize,
    batches: usize,
    tag: &str,
) -> Phase {
    let clients: usize = arg("--clients", "4").parse().unwrap();
    let (on, rules) = on;
    set_rules(conn, rules, on);
    let people = register(base, conn, app, residents, tag);
    let last = today_tokyo() - chrono::Duration::days(1);
    let days = days_per_request();
    let seeds: Vec<u64> = people.iter().map(|p| p.id.as_u64_pair().1).collect();
    // Built before the clock starts: the driver's JSON work is not what is measured.
    let bodies: Vec<Mutex<Option<Vec<Value>>>> = (0..residents * batches)
        .map(|i| {
            let (r, b) = (i % residents, i / residents);
            let end = last - chrono::Duration::days((b * days) as i64);
            Mutex::new(Some(items_for(seeds[r], end, days)))
        })
        .collect();
    let before = ledger_rows(conn);
    let a = agent();
    let probe = CpuProbe::start(conn);
    let (elapsed, lat) = run(clients, bodies.len(), |i| {
        let items = bodies[i].lock().unwrap().take().unwrap();
        upload(&a, base, &people[i % residents].device, items);
        true
    });
    let cpu = probe.stop(conn);
    let awards = ledger_rows(conn) - before;
    Phase {
        on,
        rows: residents * batches * days * 3,
        secs: elapsed.as_secs_f64(),
        p50: percentile(&lat, 0.5),
        p99: percentile(&lat, 0.99),
        awards,
        cpu,
    }
}

fn rules(base: &str, db_url: &str) {
    // One request of 333 days per resident by default: every day then lies inside the award
    // window, so every "on" phase pays for every day it uploads.
    let residents: usize = arg("--residents", "128").parse().unwrap();
    let batches: usize = arg("--batches", "1").parse().unwrap();
    let pairs: usize = arg("--pairs", "3").parse().unwrap();
    let clients: usize = arg("--clients", "4").parse().unwrap();
    let days = days_per_request();
    let mut conn = PgConnection::establish(db_url).expect("connect");
    let seeded = rules_in_force(&mut conn);
    assert!(!seeded.is_empty(), "no rules in force to toggle");
    let tag = format!("{:x}", Utc::now().timestamp_micros());
    let app = prepare(db_url);
    println!("rules in force at the start (toggled on and off): {}", seeded.len());
    println!(
        "rules: {pairs} pairs of phases; each phase: {residents} fresh residents x {batches} requests of \
         {days} days x (steps, body_weight, blood_pressure) = {} rows, {clients} clients",
        residents * batches * days * 3
    );
    // Warm-up, not reported: the first requests prepare statements and fill caches.
    let _ = phase(
        base,
        &mut conn,
        &app,
        (true, &seeded),
        8,
        batches.min(8),
        &format!("{tag}w"),
    );
    let mut phases = Vec::new();
    println!(
        "| # | rules | rows | s | rows/s | p50 ms/request | p99 ms/request | ledger entries written | \
         CPU ms per 1,000 rows: karada / PostgreSQL / driver / other |"
    );
    println!("| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    for k in 0..pairs * 2 {
        let on = k % 2 == 0;
        let p = phase(
            base,
            &mut conn,
            &app,
            (on, &seeded),
            residents,
            batches,
            &format!("{tag}p{k}"),
        );
        let per_k = |s: f64| s * 1e6 / p.rows as f64;
        println!(
            "| {} | {} | {} | {:.2} | {:.0} | {:.0} | {:.0} | {} | {:.1} / {:.1} / {:.1} / {:.1} |",
            k + 1,
            if on { "on" } else { "off" },
            p.rows,
            p.secs,
            p.rows as f64 / p.secs,
            p.p50,
            p.p99,
            p.awards,
            per_k(p.cpu.karada),
            per_k(p.cpu.pg),
            per_k(p.cpu.driver),
            per_k(p.cpu.other)
        );
        phases.push(p);
    }
    set_rules(&mut conn, &seeded, true);
    let mean = |on: bool| {
        let v: Vec<f64> = phases
            .iter()
            .filter(|p| p.on == on)
            .map(|p| p.rows as f64 / p.secs)
            .collect();
        v.iter().sum::<f64>() / v.len() as f64
    };
    let (on, off) = (mean(true), mean(false));
    let per_pair: Vec<String> = phases
        .chunks(2)
        .map(|c| format!("{:.2}", (c[0].rows as f64 / c[0].secs) / (c[1].rows as f64 / c[1].secs)))
        .collect();
    let awards: i64 = phases.iter().filter(|p| p.on).map(|p| p.awards).sum();
    let on_rows: usize = phases.iter().filter(|p| p.on).map(|p| p.rows).sum();
    println!(
        "mean rows/s: rules on {on:.0}, rules off {off:.0}; on/off = {:.3} (per pair: {})",
        on / off,
        per_pair.join(", ")
    );
    println!(
        "awards per uploaded row with rules on: {:.3} ({awards} ledger entries for {on_rows} rows)",
        awards as f64 / on_rows as f64
    );
    let cpu = |on: bool| {
        let (mut c, mut rows) = (Cpu::default(), 0usize);
        for p in phases.iter().filter(|p| p.on == on) {
            c.karada += p.cpu.karada;
            c.pg += p.cpu.pg;
            c.driver += p.cpu.driver;
            c.other += p.cpu.other;
            rows += p.rows;
        }
        let k = 1e6 / rows as f64;
        format!(
            "karada {:.1}, PostgreSQL {:.1}, driver {:.1}, other {:.1}",
            c.karada * k,
            c.pg * k,
            c.driver * k,
            c.other * k
        )
    };
    println!("CPU ms per 1,000 rows, rules on: {}", cpu(true));
    println!("CPU ms per 1,000 rows, rules off: {}", cpu(false));
}

struct Read {
    rate: f64,
    p50: f64,
    p99: f64,
    n: usize,
}

fn timed(a: &ureq::Agent, base: &str, path: &str, token: Option<&str>, clients: usize, seconds: u64) -> Read {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let (elapsed, lat) = run(clients, usize::MAX, |_| {
        if Instant::now() > deadline {
            return false;
        }
        let mut req = a.get(&format!("{base}{path}"));
        if let Some(t) = token {
            req = req.header("Authorization", &format!("Bearer {t}"));
        }
        let mut resp = req.call().unwrap();
        assert_eq!(resp.status(), 200, "{path}");
        let _ = resp.body_mut().read_to_vec().unwrap();
        true
    });
    Read {
        rate: lat.len() as f64 / elapsed.as_secs_f64(),
        p50: percentile(&lat, 0.5),
        p99: percentile(&lat, 0.99),
        n: lat.len(),
    }
}

/// Logs in the resident whose newest ledger entry is the oldest in the database (an earlier
/// phase's resident: everything written since is newer), if there is one.
fn earliest_earner(base: &str, conn: &mut PgConnection) -> Option<(String, i64, String)> {
    #[derive(QueryableByName)]
    struct Row {
        #[diesel(sql_type = diesel::sql_types::Text)]
        email: String,
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        entries: i64,
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        newer: i64,
    }
    let row: Row = diesel::sql_query(
        "WITH e AS (SELECT user_id, count(*) AS entries, max(created_at) AS last FROM points_ledger \
         GROUP BY user_id ORDER BY max(created_at) LIMIT 1) \
         SELECT u.email, e.entries, (SELECT count(*) FROM points_ledger l WHERE l.created_at > e.last) AS newer \
         FROM e JOIN users u ON u.id = e.user_id",
    )
    .get_result(conn)
    .optional()
    .expect("earliest earner")?;
    let body = json!({"email": row.email, "password": "load test password"});
    let mut r = agent().post(&format!("{base}/v1/auth/login")).send_json(&body).unwrap();
    assert_eq!(r.status(), 200, "login failed");
    let v: Value = r.body_mut().read_json().unwrap();
    let token = v["access_token"].as_str().unwrap().to_owned();
    Some((
        token,
        row.entries,
        format!("{} entries, {} newer rows", row.entries, row.newer),
    ))
}

fn balance(base: &str, db_url: &str) {
    let days: usize = arg("--history-days", "1096").parse().unwrap();
    let seconds: u64 = arg("--seconds", "10").parse().unwrap();
    let clients: usize = arg("--clients", "4").parse().unwrap();
    let mut conn = PgConnection::establish(db_url).expect("connect");
    println!("rules in force: {}", rules_in_force(&mut conn).len());
    let early = earliest_earner(base, &mut conn);
    let tag = format!("{:x}", Utc::now().timestamp_micros());
    let app = prepare(db_url);
    let people = register(base, &mut conn, &app, 2, &format!("{tag}b"));
    let (old, fresh) = (&people[0], &people[1]);
    let a = agent();

    // 3 years of daily history up to and including today, uploaded oldest first as an app
    // catching up would, in batches of 999 items.
    let items = items_for(old.id.as_u64_pair().1, today_tokyo(), days);
    let n_items = items.len();
    let started = Instant::now();
    for chunk in items.chunks(DAYS_PER_BATCH * 3) {
        upload(&a, base, &old.device, chunk.to_vec());
    }
    let upload_secs = started.elapsed().as_secs_f64();
    let entries: i64 = points_ledger::table
        .filter(points_ledger::user_id.eq(Id(old.id)))
        .count()
        .get_result(&mut conn)
        .expect("count");
    let total = ledger_rows(&mut conn);
    println!(
        "history: {days} days, {n_items} measurements uploaded in {:.2} s ({} requests); the resident's \
         ledger holds {entries} entries; points_ledger holds {total} rows in all",
        upload_secs,
        n_items.div_ceil(DAYS_PER_BATCH * 3)
    );
    let mut resp = a
        .get(&format!("{base}/v1/points"))
        .header("Authorization", &format!("Bearer {}", old.login))
        .call()
        .unwrap();
    let v: Value = resp.body_mut().read_json().unwrap();
    println!("GET /v1/points for that resident: {v}");
    if let Some((_, _, what)) = &early {
        println!("earliest earner (an earlier phase's resident): {what}");
    }

    let hist = format!("{days}-day history");
    let mut phases: Vec<(String, &str, Option<&str>)> = vec![
        ("GET /healthz (baseline)".to_owned(), "/healthz", None),
        (
            format!("GET /v1/points, {hist}"),
            "/v1/points",
            Some(old.login.as_str()),
        ),
        (
            "GET /v1/points, no history".to_owned(),
            "/v1/points",
            Some(fresh.login.as_str()),
        ),
        (
            format!("GET /v1/points/ledger?limit=50, {hist}"),
            "/v1/points/ledger?limit=50",
            Some(old.login.as_str()),
        ),
        (
            "GET /v1/points/ledger?limit=50, no history".to_owned(),
            "/v1/points/ledger?limit=50",
            Some(fresh.login.as_str()),
        ),
    ];
    if let Some((token, n, _)) = &early {
        phases.push((
            format!("GET /v1/points/ledger?limit=50, earliest earner ({n} entries)"),
            "/v1/points/ledger?limit=50",
            Some(token.as_str()),
        ));
    }
    phases.push(("GET /healthz (baseline, again)".to_owned(), "/healthz", None));
    // Warm-up, not reported.
    for (_, path, token) in &phases {
        let _ = timed(&a, base, path, *token, clients, 1);
    }
    println!(
        "| request, {clients} clients, {seconds} s | requests | req/s | p50 ms | p99 ms | ÷ healthz: req/s | p50 | p99 | \
         CPU µs per request: karada / PostgreSQL / driver / other |"
    );
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    let results: Vec<(Read, Cpu)> = phases
        .iter()
        .map(|(_, path, token)| {
            let probe = CpuProbe::start(&mut conn);
            let r = timed(&a, base, path, *token, clients, seconds);
            (r, probe.stop(&mut conn))
        })
        .collect();
    let (first, last) = (&results[0].0, &results[results.len() - 1].0);
    let hz_rate = (first.rate + last.rate) / 2.0;
    let hz50 = (first.p50 + last.p50) / 2.0;
    let hz99 = (first.p99 + last.p99) / 2.0;
    for ((name, _, _), (r, cpu)) in phases.iter().zip(&results) {
        let per = |s: f64| s * 1e6 / r.n.max(1) as f64;
        println!(
            "| {name} | {} | {:.0} | {:.2} | {:.2} | {:.2} | {:.1} | {:.1} | {:.0} / {:.0} / {:.0} / {:.0} |",
            r.n,
            r.rate,
            r.p50,
            r.p99,
            r.rate / hz_rate,
            r.p50 / hz50.max(0.001),
            r.p99 / hz99.max(0.001),
            per(cpu.karada),
            per(cpu.pg),
            per(cpu.driver),
            per(cpu.other)
        );
    }
    let (h, f) = (&results[1].0, &results[2].0);
    println!(
        "GET /v1/points, {hist} ÷ no history: req/s {:.2}, p50 {:.2}, p99 {:.2}",
        h.rate / f.rate,
        h.p50 / f.p50.max(0.001),
        h.p99 / f.p99.max(0.001)
    );
}

fn main() {
    let base = arg("--base", "http://127.0.0.1:8080");
    let db_url = arg("--database-url", "");
    match arg("--mode", "rules").as_str() {
        "rules" => rules(&base, &db_url),
        "balance" => balance(&base, &db_url),
        other => panic!("unknown mode {other}"),
    }
}
