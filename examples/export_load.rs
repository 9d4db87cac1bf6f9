//! Export memory driver for `BENCHMARKS.md` (run by `bench/export.sh`, which starts the server and
//! the database). Not a test: it measures, it does not assert beyond sanity.
//!
//! Registers one resident, writes `--rows` measurements of five types (single- and multi-field,
//! some with notes and client references) straight into `measurements`, then exports them in each
//! format and reports, for each, the server's peak resident set (`VmHWM`, reset before each export
//! through `/proc/<pid>/clear_refs`) against its resident set right after start-up.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::io::Read;
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

/// A `VmRSS`/`VmHWM` line of the server's status, in KiB.
fn status_kib(pid: &str, key: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find(|l| l.starts_with(key))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|n| n.parse().ok())
        .unwrap()
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

fn sample(k: usize) -> (&'static str, Value, Option<String>) {
    match k % 5 {
        0 => ("heart_rate", json!({"bpm": 55.0 + (k % 40) as f64}), None),
        1 => (
            "body_weight",
            json!({"kg": 60.0 + (k % 100) as f64 / 10.0}),
            Some("after breakfast, before the walk".to_owned()),
        ),
        2 => (
            "blood_pressure",
            json!({"systolic_mmhg": 110.0 + (k % 30) as f64, "diastolic_mmhg": 70.0 + (k % 15) as f64}),
            None,
        ),
        3 => (
            "gait",
            json!({"walking_speed_m_s": 1.2, "stride_length_cm": 65.0, "cadence_steps_min": 110.0, "symmetry_pct": 93.5}),
            None,
        ),
        _ => (
            "capillary",
            json!({"capillary_density_per_mm": 8.5, "morphology_score": 72.0, "image_sha256": "ab".repeat(32)}),
            Some("kiosk at the ward office".to_owned()),
        ),
    }
}

fn insert(db_url: &str, user: Id, rows: usize) {
    let mut conn = PgConnection::establish(db_url).expect("connect");
    let start = Utc::now() - chrono::Duration::days(3650);
    for k0 in (0..rows).step_by(500) {
        let now = Ts::now();
        let batch: Vec<_> = (k0..(k0 + 500).min(rows))
            .map(|k| {
                let (kind, values, note) = sample(k);
                let at = start + chrono::Duration::seconds(k as i64 * 3153);
                (
                    measurements::id.eq(Id::new()),
                    measurements::user_id.eq(user),
                    measurements::kind.eq(kind),
                    measurements::effective_at.eq(Ts::from(at)),
                    measurements::local_date.eq(at.date_naive()),
                    measurements::daily_key.eq(None::<NaiveDate>),
                    measurements::fields.eq(Json(values)),
                    measurements::source.eq("bench"),
                    measurements::client_ref.eq(Some(format!("bench-{k}"))),
                    measurements::modality.eq("sensed"),
                    measurements::note.eq(note),
                    measurements::created_at.eq(now),
                    measurements::updated_at.eq(now),
                )
            })
            .collect();
        diesel::insert_into(measurements::table)
            .values(&batch)
            .execute(&mut conn)
            .expect("insert");
    }
    // As autovacuum would soon do: without statistics the planner sorts the table for each page.
    diesel::sql_query("VACUUM ANALYZE measurements")
        .execute(&mut conn)
        .expect("analyze");
}

fn main() {
    let base = arg("--base", "http://127.0.0.1:8080");
    let db_url = arg("--database-url", "");
    let pid = arg("--server-pid", "");
    let rows: usize = arg("--rows", "100000").parse().unwrap();
    let started_rss = status_kib(&pid, "VmRSS:");

    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(600)))
        .build()
        .into();
    let body = json!({"email": format!("export.{}@example.invalid", Utc::now().timestamp_micros()),
                      "password": "load test password", "birth_date": "1975-05-05", "sex": "other"});
    let mut r = agent
        .post(&format!("{base}/v1/auth/register"))
        .send_json(&body)
        .unwrap();
    assert_eq!(r.status(), 201, "register failed");
    let v: Value = r.body_mut().read_json().unwrap();
    let user = Id(v["user"]["id"].as_str().unwrap().parse().unwrap());
    let token = v["access_token"].as_str().unwrap().to_owned();
    let t = Instant::now();
    insert(&db_url, user, rows);
    println!(
        "{rows} measurements inserted in {:.1} s; server RSS after start-up {:.1} MiB, before the exports {:.1} MiB",
        t.elapsed().as_secs_f64(),
        mib(started_rss),
        mib(status_kib(&pid, "VmRSS:"))
    );
    println!("| format | bytes | seconds | MB/s | peak RSS (VmHWM) MiB | peak − start-up RSS MiB |");
    println!("| --- | ---: | ---: | ---: | ---: | ---: |");
    for format in ["json", "fhir", "csv", "json"] {
        // Peak RSS from here on: the kernel resets VmHWM to the current RSS.
        std::fs::write(format!("/proc/{pid}/clear_refs"), "5").expect("reset VmHWM (needs root)");
        // curl reads the body as fast as the server sends it (the driver's own HTTP client, not
        // the server, limited the rate), to a file that is counted and removed.
        let file = std::env::temp_dir().join(format!("karada-export-bench-{}.{format}", std::process::id()));
        let out = std::process::Command::new("curl")
            .args(["-fsS", "-o"])
            .arg(&file)
            .args(["-w", "%{size_download} %{time_total}"])
            .arg(format!("{base}/v1/me/export?format={format}"))
            .arg("-H")
            .arg(format!("Authorization: Bearer {token}"))
            .output()
            .expect("curl");
        assert!(
            out.status.success(),
            "export failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let written = String::from_utf8(out.stdout).unwrap();
        let mut parts = written.split_whitespace();
        let bytes: u64 = parts.next().unwrap().parse().unwrap();
        let secs: f64 = parts.next().unwrap().parse().unwrap();
        if format == "csv" {
            let mut text = Vec::new();
            std::fs::File::open(&file).unwrap().read_to_end(&mut text).unwrap();
            let newlines = text.iter().filter(|b| **b == b'\n').count();
            assert_eq!(newlines, rows + 1, "a row per measurement and the header");
        }
        std::fs::remove_file(&file).unwrap();
        let peak = status_kib(&pid, "VmHWM:");
        println!(
            "| {format} | {bytes} | {secs:.1} | {:.1} | {:.1} | {:.1} |",
            bytes as f64 / secs / 1e6,
            mib(peak),
            mib(peak.saturating_sub(started_rss))
        );
    }
}
