//! Hardening (issue 15, part 1): no resident can deny service to others — not with exports it stops
//! reading, not with many slow requests on any route.
//!
//! Most of these tests run the real `karada` binary and talk to it over TCP, because the attacks
//! are clients: one that opens exports and stops reading (a pooled database connection must never
//! wait on it), one that sends many requests the database is slow to answer.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use chrono::{NaiveDate, Utc};
use diesel::prelude::*;
use serde_json::{Value, json};

use karada::db::schema::measurements;
use karada::db::types::Json;
use karada::db::{DbConn, Id, Ts};

use crate::common::{Backend, PASSWORD, TestApp, TestDb};

/// The pool the server runs with: small, so that a handful of stalled exports would exhaust it.
const POOL: usize = 4;

struct Server {
    child: Child,
    addr: SocketAddr,
    _db: TestDb,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The release-like server on a fresh database, with a pool of [`POOL`] connections, a 3 s wait for
/// one (then 503), and clients that stop reading cut off after `stalled_secs`.
fn serve(backend: Backend, stalled_secs: u64) -> Server {
    let db = TestDb::new(backend);
    let port = free_port();
    let child = Command::new(env!("CARGO_BIN_EXE_karada"))
        .args(["serve", "--bind", &format!("127.0.0.1:{port}")])
        .env("DATABASE_URL", &db.url_string)
        .env("KARADA_JWT_SECRET", "export-dos-test-secret-export-dos-test")
        .env("KARADA_DB_POOL_SIZE", POOL.to_string())
        .env("KARADA_DB_TIMEOUT_MS", "3000")
        .env("KARADA_WORKERS", "2")
        .env("KARADA_STALLED_CLIENT_TIMEOUT_SECS", stalled_secs.to_string())
        .env("KARADA_LOG", "error")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start karada");
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let server = Server { child, addr, _db: db };
    for _ in 0..300 {
        if request(addr, "GET", "/readyz", None, None).0 == 200 {
            return server;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("the server did not start");
}

/// One HTTP/1.1 request on a fresh connection, read to the end: (status, headers, body).
fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (u16, String, Vec<u8>) {
    let Ok(mut s) = TcpStream::connect(addr) else {
        return (0, String::new(), Vec::new());
    };
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: karada\r\nConnection: close\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).unwrap();
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap_or(raw.len());
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = raw.get(split + 4..).unwrap_or_default().to_vec();
    (status, head, body)
}

/// Registers a resident over HTTP; returns (user id, access token).
fn register(addr: SocketAddr, email: &str) -> (Id, String) {
    let (status, _, body) = request(
        addr,
        "POST",
        "/v1/auth/register",
        None,
        Some(json!({"email": email, "password": PASSWORD, "birth_date": "1980-04-01", "sex": "female"})),
    );
    assert_eq!(status, 201, "{}", String::from_utf8_lossy(&body));
    let v: Value = serde_json::from_slice(&body).unwrap();
    (
        Id(v["user"]["id"].as_str().unwrap().parse().unwrap()),
        v["access_token"].as_str().unwrap().to_owned(),
    )
}

/// Writes `rows` measurements of the resident straight into the table (as a long history would
/// be): each exports as a few hundred bytes, more as FHIR.
fn history(db: &TestDb, user: Id, rows: usize) {
    let mut conn = db.conn();
    let start = Utc::now() - chrono::Duration::days(3650);
    for k0 in (0..rows).step_by(500) {
        let now = Ts::now();
        let batch: Vec<_> = (k0..(k0 + 500).min(rows))
            .map(|k| {
                let at = start + chrono::Duration::seconds(k as i64 * 3153);
                (
                    measurements::id.eq(Id::new()),
                    measurements::user_id.eq(user),
                    measurements::kind.eq("body_weight"),
                    measurements::effective_at.eq(Ts(at)),
                    measurements::local_date.eq(at.date_naive()),
                    measurements::daily_key.eq(None::<NaiveDate>),
                    measurements::fields.eq(Json(json!({"kg": 60.0 + (k % 100) as f64 / 10.0}))),
                    measurements::source.eq("Scale"),
                    measurements::client_ref.eq(Some(format!("w-{k}"))),
                    measurements::modality.eq("sensed"),
                    measurements::note.eq(Some("after breakfast, before the walk to the station")),
                    measurements::created_at.eq(now),
                    measurements::updated_at.eq(now),
                )
            })
            .collect();
        karada::on_backend!(&mut conn, c => diesel::insert_into(measurements::table).values(&batch).execute(c))
            .unwrap();
    }
    if let DbConn::Pg(c) = &mut conn {
        diesel::sql_query("ANALYZE measurements").execute(c).unwrap();
    }
}

/// Starts an export and reads its first 512 bytes, then stops reading (the socket stays open).
fn stalled_export(addr: SocketAddr, token: &str) -> (TcpStream, Vec<u8>) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let req =
        format!("GET /v1/me/export?format=fhir HTTP/1.1\r\nHost: karada\r\nAuthorization: Bearer {token}\r\n\r\n");
    s.write_all(req.as_bytes()).unwrap();
    let mut first = vec![0u8; 512];
    let n = s.read(&mut first).unwrap_or(0);
    first.truncate(n);
    (s, first)
}

fn status_of(first: &[u8]) -> u16 {
    String::from_utf8_lossy(first)
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

fn many_stalled_exports_leave_other_residents_answered_at_once(backend: Backend) {
    let server = serve(backend, 60);
    let (attacker, token) = register(server.addr, "mallory@example.jp");
    let (_, other) = register(server.addr, "hanako@example.jp");
    history(&server._db, attacker, 10_000);
    // Three times as many exports as the pool has connections, each read for 512 bytes and then
    // left unread.
    let stalled: Vec<(TcpStream, Vec<u8>)> = (0..3 * POOL).map(|_| stalled_export(server.addr, &token)).collect();
    let statuses: Vec<u16> = stalled.iter().map(|(_, first)| status_of(first)).collect();
    assert!(statuses.iter().all(|s| [200, 429].contains(s)), "{statuses:?}");
    assert!(statuses.contains(&200), "the exports did start: {statuses:?}");
    std::thread::sleep(Duration::from_millis(500));
    // Another resident is answered at once, again and again.
    for _ in 0..3 {
        let started = Instant::now();
        let (status, _, body) = request(server.addr, "GET", "/v1/me", Some(&other), None);
        let took = started.elapsed();
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
        assert!(took < Duration::from_millis(1500), "answered after {took:?}");
    }
    // So is the attacker's own account, for everything but more exports.
    let (status, _, _) = request(server.addr, "GET", "/v1/measurements?limit=1", Some(&token), None);
    assert_eq!(status, 200);
    drop(stalled);
}

#[test]
fn many_stalled_exports_leave_other_residents_answered_at_once_on_sqlite() {
    many_stalled_exports_leave_other_residents_answered_at_once(Backend::Sqlite);
}

#[test]
fn many_stalled_exports_leave_other_residents_answered_at_once_on_postgres() {
    many_stalled_exports_leave_other_residents_answered_at_once(Backend::Postgres);
}

/// Many requests of one account that the database is slow to answer (here: the table they write
/// is locked, as a long query or a lock would hold them) take at most the account's few request
/// slots: other residents keep being answered.
fn an_accounts_slow_requests_never_take_every_pooled_connection(backend: Backend) {
    use diesel::connection::SimpleConnection;
    let server = serve(backend, 60);
    let (_, token) = register(server.addr, "mallory@example.jp");
    let (_, other) = register(server.addr, "hanako@example.jp");
    let mut blocker = server._db.conn();
    match backend {
        Backend::Postgres => blocker
            .batch_execute("BEGIN; LOCK TABLE measurements IN EXCLUSIVE MODE")
            .unwrap(),
        Backend::Sqlite => blocker.batch_execute("BEGIN IMMEDIATE").unwrap(),
    }
    let addr = server.addr;
    let attacks: Vec<_> = (0..3 * POOL)
        .map(|i| {
            let token = token.clone();
            std::thread::spawn(move || {
                let at = (Utc::now() - chrono::Duration::minutes(i as i64)).to_rfc3339();
                let r = request(
                    addr,
                    "POST",
                    "/v1/measurements",
                    Some(&token),
                    Some(json!({"type": "body_weight", "effective_at": at, "values": {"kg": 61.0}})),
                );
                r.0
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(700));
    for _ in 0..3 {
        let started = Instant::now();
        let (status, _, body) = request(server.addr, "GET", "/v1/me", Some(&other), None);
        let took = started.elapsed();
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
        assert!(took < Duration::from_millis(1500), "answered after {took:?}");
    }
    blocker.batch_execute("ROLLBACK").unwrap();
    let statuses: Vec<u16> = attacks.into_iter().map(|t| t.join().unwrap()).collect();
    // The account's own requests beyond its slots waited their turn (or, waiting longer than the
    // database timeout, were told to retry).
    assert!(statuses.iter().all(|s| [201, 429].contains(s)), "{statuses:?}");
}

#[test]
fn an_accounts_slow_requests_never_take_every_pooled_connection_on_sqlite() {
    an_accounts_slow_requests_never_take_every_pooled_connection(Backend::Sqlite);
}

#[test]
fn an_accounts_slow_requests_never_take_every_pooled_connection_on_postgres() {
    an_accounts_slow_requests_never_take_every_pooled_connection(Backend::Postgres);
}

/// A client that stops reading is cut off by the server after the configured time, and the
/// account's export slots are free again.
#[cfg(target_os = "linux")]
fn a_client_that_stops_reading_is_cut_off_and_its_export_slot_freed(backend: Backend) {
    // Long enough that spooling the second export (a debug build on a busy machine) does not
    // outlast the first one's cut-off before the third is asked for.
    let server = serve(backend, 15);
    let (attacker, token) = register(server.addr, "mallory@example.jp");
    history(&server._db, attacker, 10_000);
    let mut stalled: Vec<(TcpStream, Vec<u8>)> = Vec::new();
    for _ in 0..2 {
        let (s, first) = stalled_export(server.addr, &token);
        assert_eq!(status_of(&first), 200);
        stalled.push((s, first));
    }
    let (_, third) = stalled_export(server.addr, &token);
    assert_eq!(status_of(&third), 429, "{}", String::from_utf8_lossy(&third));
    assert!(
        String::from_utf8_lossy(&third)
            .to_ascii_lowercase()
            .contains("retry-after:")
    );
    // Well after the cut-off, the account exports again: the stalled answers were given up on.
    std::thread::sleep(Duration::from_secs(20));
    let (status, _, body) = request(server.addr, "GET", "/v1/me/export?format=fhir", Some(&token), None);
    assert_eq!(status, 200, "the slots are free again");
    let full = body.len();
    // Reading the stalled ones now ends early, in an error or a cut-off body.
    for (mut s, first) in stalled {
        let mut rest = Vec::new();
        let _ = s.read_to_end(&mut rest);
        assert!(
            first.len() + rest.len() < full,
            "a stalled client got the whole export ({} of {full} bytes)",
            first.len() + rest.len()
        );
    }
}

#[cfg(target_os = "linux")]
#[test]
fn a_client_that_stops_reading_is_cut_off_and_its_export_slot_freed_on_sqlite() {
    a_client_that_stops_reading_is_cut_off_and_its_export_slot_freed(Backend::Sqlite);
}

#[cfg(target_os = "linux")]
#[test]
fn a_client_that_stops_reading_is_cut_off_and_its_export_slot_freed_on_postgres() {
    a_client_that_stops_reading_is_cut_off_and_its_export_slot_freed(Backend::Postgres);
}

/// Through the application itself: a third concurrent export of one account is 429 while two are
/// being sent, and another account exports meanwhile.
async fn concurrent_exports_of_one_account_are_limited(app: TestApp) {
    use actix_web::test::TestRequest;
    let s = app.register("taro@example.jp").await;
    let other = app.register("hanako@example.jp").await;
    let export = |token: &str| {
        TestRequest::get()
            .uri("/v1/me/export?format=json")
            .insert_header(("authorization", format!("Bearer {token}")))
            .to_request()
    };
    // Two answers held, their bodies unread.
    let first = app.raw(export(&s.access)).await;
    let second = app.raw(export(&s.access)).await;
    assert_eq!((first.status().as_u16(), second.status().as_u16()), (200, 200));
    let third = app.get("/v1/me/export?format=json", Some(&s.access)).await;
    crate::common::assert_problem(&third, 429, "too-many-requests");
    assert!(third.headers.contains_key("retry-after"));
    app.get("/v1/me/export?format=json", Some(&other.access))
        .await
        .expect(200);
    // Once one is read (or dropped), the account may export again.
    drop(first);
    app.get("/v1/me/export?format=json", Some(&s.access)).await.expect(200);
    drop(second);
}

crate::both_backends!(concurrent_exports_of_one_account_are_limited);
