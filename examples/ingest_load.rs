//! Ingest and read load driver for `BENCHMARKS.md` (run by `bench/ingest.sh`, which starts the
//! server and the database). Not a test: it measures, it does not assert.
//!
//! `ingest` mode, in one run against one PostgreSQL database:
//! 1. raw: the same rows straight into `measurements` with multi-row INSERTs of 500 from 4 threads;
//! 2. the HTTP batch API, 1,000 items per request, from 4 and from 8 clients;
//! 3. single `POST /v1/measurements` from 32 clients;
//! 4. the database's own limits on the same table, right after: `COPY` of the same rows from 2
//!    streams (what the batch path is compared with), and a single-row INSERT-and-COMMIT loop
//!    from 32 connections (what single uploads are compared with).
//!
//! `read` mode: p50/p99 of `GET /v1/measurements?type=steps&limit=50` from 32 clients over a
//! population made by `karada demo-data`, next to `GET /healthz` at the same concurrency.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

#[path = "common/load.rs"]
mod load;
use load::{percentile, run};

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use chrono::{NaiveDate, Utc};
use diesel::prelude::*;
use karada::db::schema::measurements;
use karada::db::types::Json;
use karada::db::{Id, Ts};
use serde_json::{Value, json};

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
    token: String,
}

fn register(base: &str, n: usize, tag: &str) -> Vec<Resident> {
    let a = agent();
    (0..n)
        .map(|i| {
            let body = json!({"email": format!("load{i}.{tag}@example.invalid"), "password": "load test password",
                              "birth_date": "1975-05-05", "sex": "other"});
            let mut r = a.post(&format!("{base}/v1/auth/register")).send_json(&body).unwrap();
            assert_eq!(r.status(), 201, "register failed");
            let v: Value = r.body_mut().read_json().unwrap();
            Resident {
                id: v["user"]["id"].as_str().unwrap().parse().unwrap(),
                token: v["access_token"].as_str().unwrap().to_owned(),
            }
        })
        .collect()
}

/// The k-th synthetic heart-rate item of a phase: distinct time and client_ref per item.
fn item(phase: &str, k: usize) -> Value {
    let at = Utc::now() - chrono::Duration::seconds(k as i64 * 37 + 60);
    json!({"type": "heart_rate", "effective_at": at.to_rfc3339(), "values": {"bpm": 60 + (k % 60)},
           "source": "load", "client_ref": format!("{phase}-{k}")})
}

/// A measurements row as the raw phases write it: the k-th item of `phase` for resident `r`.
#[derive(Insertable)]
#[diesel(table_name = measurements)]
#[diesel(treat_none_as_default_value = false)]
struct Row {
    id: Id,
    user_id: Id,
    kind: String,
    effective_at: Ts,
    local_date: NaiveDate,
    daily_key: Option<NaiveDate>,
    fields: Json,
    source: String,
    client_ref: Option<String>,
    modality: String,
    note: Option<String>,
    created_at: Ts,
    updated_at: Ts,
}

fn row(residents: &[Resident], r: usize, k: usize, phase: &str) -> Row {
    let v = item(phase, k);
    let at: chrono::DateTime<Utc> = v["effective_at"].as_str().unwrap().parse().unwrap();
    let now = Ts::now();
    Row {
        id: Id::new(),
        user_id: Id(residents[r].id),
        kind: "heart_rate".to_owned(),
        effective_at: Ts::from(at),
        local_date: Utc::now().date_naive(),
        daily_key: None,
        fields: Json(v["values"].clone()),
        source: "load".to_owned(),
        client_ref: Some(v["client_ref"].as_str().unwrap().to_owned()),
        modality: "sensed".to_owned(),
        note: None,
        created_at: now,
        updated_at: now,
    }
}

/// Chunks of `size` rows per resident: (resident, first k).
fn chunks(residents: usize, per: usize, size: usize) -> Vec<(usize, usize)> {
    (0..residents)
        .flat_map(|r| (0..per).step_by(size).map(move |k| (r, k)))
        .collect()
}

fn connections(db_url: &str, n: usize) -> Vec<Mutex<PgConnection>> {
    (0..n)
        .map(|_| Mutex::new(PgConnection::establish(db_url).expect("connect")))
        .collect()
}

/// Multi-row INSERTs of 500 from 4 connections.
fn raw_insert(db_url: &str, residents: &[Resident], rows: usize) -> f64 {
    let per = rows / residents.len();
    let chunks = chunks(residents.len(), per, 500);
    let conns = connections(db_url, 4);
    let slot = AtomicUsize::new(0);
    let (elapsed, _) = run(4, chunks.len(), |i| {
        let (r, k0) = chunks[i];
        let batch: Vec<Row> = (k0..(k0 + 500).min(per))
            .map(|k| row(residents, r, r * per + k, "raw"))
            .collect();
        let c = slot.fetch_add(1, Ordering::Relaxed) % conns.len();
        let mut conn = conns[c].lock().unwrap();
        diesel::insert_into(measurements::table)
            .values(&batch)
            .execute(&mut *conn)
            .expect("raw insert");
        true
    });
    (per * residents.len()) as f64 / elapsed.as_secs_f64()
}

/// `COPY … FROM STDIN` (binary) of chunks of 1,000 rows from 2 streams.
fn copy_in(db_url: &str, residents: &[Resident], rows: usize) -> f64 {
    let per = rows / residents.len();
    let chunks = chunks(residents.len(), per, 1000);
    let conns = connections(db_url, 2);
    let slot = AtomicUsize::new(0);
    let (elapsed, _) = run(2, chunks.len(), |i| {
        let (r, k0) = chunks[i];
        let batch: Vec<Row> = (k0..(k0 + 1000).min(per))
            .map(|k| row(residents, r, r * per + k, "copy"))
            .collect();
        let c = slot.fetch_add(1, Ordering::Relaxed) % conns.len();
        let mut conn = conns[c].lock().unwrap();
        diesel::copy_from(measurements::table)
            .from_insertable(&batch)
            .execute(&mut *conn)
            .expect("copy");
        true
    });
    (per * residents.len()) as f64 / elapsed.as_secs_f64()
}

/// One row per INSERT, each committed on its own, from 32 connections (one per client).
fn single_insert(db_url: &str, residents: &[Resident], n: usize) -> (f64, f64, f64) {
    let conns = connections(db_url, 32);
    let slot = AtomicUsize::new(0);
    std::thread_local!(static MINE: std::cell::Cell<Option<usize>> = const { std::cell::Cell::new(None) });
    let (elapsed, lat) = run(32, n, |i| {
        let c = MINE.with(|m| {
            m.get().unwrap_or_else(|| {
                let c = slot.fetch_add(1, Ordering::Relaxed);
                m.set(Some(c));
                c
            })
        });
        let one = row(residents, i % residents.len(), i, "single-raw");
        diesel::insert_into(measurements::table)
            .values(&one)
            .execute(&mut *conns[c].lock().unwrap())
            .expect("single insert");
        true
    });
    (
        n as f64 / elapsed.as_secs_f64(),
        percentile(&lat, 0.5),
        percentile(&lat, 0.99),
    )
}

fn batch_api(base: &str, residents: &[Resident], rows: usize, clients: usize, phase: &str) -> (f64, f64, f64) {
    let per = rows / residents.len();
    let jobs: Vec<(usize, usize)> = (0..residents.len())
        .flat_map(|r| (0..per).step_by(1000).map(move |k| (r, k)))
        .collect();
    let a = agent();
    let (elapsed, lat) = run(clients, jobs.len(), |i| {
        let (r, k0) = jobs[i];
        let items: Vec<Value> = (k0..(k0 + 1000).min(per)).map(|k| item(phase, r * per + k)).collect();
        let mut resp = a
            .post(&format!("{base}/v1/measurements/batch"))
            .header("Authorization", &format!("Bearer {}", residents[r].token))
            .send_json(json!({ "items": items }))
            .unwrap();
        assert_eq!(resp.status(), 200);
        let v: Value = resp.body_mut().read_json().unwrap();
        assert_eq!(v["invalid"], 0, "{v}");
        true
    });
    (
        (per * residents.len()) as f64 / elapsed.as_secs_f64(),
        percentile(&lat, 0.5),
        percentile(&lat, 0.99),
    )
}

fn single_api(base: &str, residents: &[Resident], n: usize) -> (f64, f64, f64) {
    let a = agent();
    let (elapsed, lat) = run(32, n, |i| {
        let r = &residents[i % residents.len()];
        let resp = a
            .post(&format!("{base}/v1/measurements"))
            .header("Authorization", &format!("Bearer {}", r.token))
            .send_json(item("single", i))
            .unwrap();
        assert_eq!(resp.status(), 201);
        true
    });
    (
        n as f64 / elapsed.as_secs_f64(),
        percentile(&lat, 0.5),
        percentile(&lat, 0.99),
    )
}

fn ingest(base: &str, db_url: &str) {
    let rows: usize = arg("--rows", "256000").parse().unwrap();
    let tag = format!("{:x}", Utc::now().timestamp_micros());
    let residents = register(base, 64, &tag);
    println!(
        "ingest: {rows} rows per phase over {} residents (heart_rate, JSON values, client_ref)",
        residents.len()
    );
    let raw = raw_insert(db_url, &residents, rows);
    println!("| (1) raw multi-row INSERT of 500, 4 threads | {raw:.0} rows/s | 1.00 |");
    let mut batch_rates = Vec::new();
    for clients in [4, 8] {
        let (rate, p50, p99) = batch_api(base, &residents, rows, clients, &format!("batch{clients}"));
        batch_rates.push((clients, rate));
        println!(
            "| (2) HTTP batch of 1,000, {clients} clients | {rate:.0} rows/s | {:.2} | p50 {p50:.0} ms, p99 {p99:.0} ms per request |",
            rate / raw
        );
    }
    let n = rows / 8;
    let (rate, p50, p99) = single_api(base, &residents, n);
    println!(
        "| (3) HTTP single POST, 32 clients | {rate:.0} rows/s | {:.2} | p50 {p50:.1} ms, p99 {p99:.1} ms |",
        rate / raw
    );
    let copy = copy_in(db_url, &residents, rows);
    println!(
        "| (4) COPY FROM STDIN (binary) of 1,000, 2 streams | {copy:.0} rows/s | {:.2} |",
        copy / raw
    );
    for (clients, rate) in batch_rates {
        println!(
            "|     HTTP batch of 1,000, {clients} clients ÷ COPY | | **{:.2}** |",
            rate / copy
        );
    }
    let (single_raw, p50, p99) = single_insert(db_url, &residents, n);
    println!(
        "| (5) raw single-row INSERT, autocommit, 32 connections | {single_raw:.0} rows/s | {:.2} | p50 {p50:.1} ms, p99 {p99:.1} ms |",
        single_raw / raw
    );
    println!(
        "|     HTTP single POST ÷ raw single-row INSERT | | **{:.2}** |",
        rate / single_raw
    );
}

fn read(base: &str) {
    let run_id = arg("--demo-run", "");
    let population: usize = arg("--demo-residents", "100000").parse().unwrap();
    let seconds: u64 = arg("--seconds", "20").parse().unwrap();
    let a = agent();
    let tokens: Vec<String> = (0..64)
        .map(|i| {
            let n = (i * 7919 + 13) % population;
            let body =
                json!({"email": format!("demo{n}.{run_id}@example.invalid"), "password": "karada demo password"});
            let mut r = a.post(&format!("{base}/v1/auth/login")).send_json(&body).unwrap();
            assert_eq!(r.status(), 200, "demo login failed");
            let v: Value = r.body_mut().read_json().unwrap();
            v["access_token"].as_str().unwrap().to_owned()
        })
        .collect();
    let timed = |path: &str, auth: bool| {
        let deadline = Instant::now() + Duration::from_secs(seconds);
        let (elapsed, lat) = run(32, usize::MAX, |i| {
            if Instant::now() > deadline {
                return false;
            }
            let mut req = a.get(&format!("{base}{path}"));
            if auth {
                req = req.header("Authorization", &format!("Bearer {}", tokens[i % tokens.len()]));
            }
            let mut resp = req.call().unwrap();
            assert_eq!(resp.status(), 200);
            let _ = resp.body_mut().read_to_vec().unwrap();
            true
        });
        (
            lat.len() as f64 / elapsed.as_secs_f64(),
            percentile(&lat, 0.5),
            percentile(&lat, 0.99),
        )
    };
    let (hz_rate, hz50, hz99) = timed("/healthz", false);
    let (rate, p50, p99) = timed("/v1/measurements?type=steps&limit=50", true);
    println!("| GET /healthz (baseline), 32 clients | {hz_rate:.0} req/s | p50 {hz50:.2} ms | p99 {hz99:.2} ms |");
    println!(
        "| GET /v1/measurements?type=steps&limit=50, 32 clients | {rate:.0} req/s | p50 {p50:.2} ms | p99 {p99:.2} ms | {:.2}× baseline p99 |",
        p99 / hz99.max(0.001)
    );
}

fn main() {
    let base = arg("--base", "http://127.0.0.1:8080");
    match arg("--mode", "ingest").as_str() {
        "ingest" => ingest(&base, &arg("--database-url", "")),
        "read" => read(&base),
        other => panic!("unknown mode {other}"),
    }
}
