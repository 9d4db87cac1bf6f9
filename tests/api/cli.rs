//! The `karada` command: `migrate` and `admin create-user`, on both backends.

use std::io::Write;
use std::process::{Command, Output, Stdio};

use diesel::prelude::*;

use karada::db::schema::users;
use karada::http::throttle::Throttle;

use crate::common::{Backend, TestApp, TestDb};

fn karada(db: &TestDb, args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_karada"))
        .args(args)
        .env("DATABASE_URL", &db.url_string)
        .env("KARADA_LOG", "error")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run karada");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes())
        .expect("write stdin");
    child.wait_with_output().expect("karada exits")
}

fn migrate_applies_everything_once(backend: Backend) {
    let db = TestDb::empty(backend);
    let first = karada(&db, &["migrate"], "");
    assert!(first.status.success(), "{}", String::from_utf8_lossy(&first.stderr));
    let out = String::from_utf8(first.stdout).unwrap();
    assert!(out.starts_with("applied ") && !out.starts_with("applied 0"), "{out}");
    let again = karada(&db, &["migrate"], "");
    assert_eq!(
        String::from_utf8(again.stdout).unwrap().trim(),
        "applied 0 migration(s)"
    );
}

#[test]
fn migrate_applies_everything_once_on_sqlite() {
    migrate_applies_everything_once(Backend::Sqlite);
}

#[test]
fn migrate_applies_everything_once_on_postgres() {
    migrate_applies_everything_once(Backend::Postgres);
}

async fn create_admin_reads_the_password_from_stdin(backend: Backend) {
    let db = TestDb::new(backend);
    let weak = karada(
        &db,
        &["admin", "create-user", "--email", "ops@example.jp", "--role", "admin"],
        "short\n",
    );
    assert!(!weak.status.success());
    assert!(String::from_utf8_lossy(&weak.stderr).contains("password"));
    let count: i64 = users::table.count().get_result(&mut db.conn()).unwrap();
    assert_eq!(count, 0, "a refused command creates nothing");

    let ok = karada(
        &db,
        &["admin", "create-user", "--email", "Ops@Example.jp", "--role", "admin"],
        "a long operator passphrase\n",
    );
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
    let id = String::from_utf8(ok.stdout).unwrap().trim().to_owned();
    assert!(uuid::Uuid::parse_str(&id).is_ok());
    let dup = karada(
        &db,
        &["admin", "create-user", "--email", "ops@example.jp"],
        "a long operator passphrase\n",
    );
    assert!(!dup.status.success());
    assert!(String::from_utf8_lossy(&dup.stderr).contains("already exists"));

    // The operator signs in and reaches an admin route.
    let app = TestApp::on(db, Throttle::new(5, 30)).await;
    let admin = app.login("ops@example.jp", "a long operator passphrase").await;
    let r = app.get(&format!("/v1/admin/users/{id}"), Some(&admin.access)).await;
    r.expect(200);
    assert_eq!(r.body["role"], "admin");
}

#[actix_web::test]
async fn create_admin_reads_the_password_from_stdin_on_sqlite() {
    create_admin_reads_the_password_from_stdin(Backend::Sqlite).await;
}

#[actix_web::test]
async fn create_admin_reads_the_password_from_stdin_on_postgres() {
    create_admin_reads_the_password_from_stdin(Backend::Postgres).await;
}

#[test]
fn production_refuses_to_start_without_a_jwt_secret() {
    let db = TestDb::new(Backend::Sqlite);
    let out = Command::new(env!("CARGO_BIN_EXE_karada"))
        .args(["serve", "--bind", "127.0.0.1:0"])
        .env("DATABASE_URL", &db.url_string)
        .env("KARADA_ENV", "production")
        .env_remove("KARADA_JWT_SECRET")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("KARADA_JWT_SECRET"));
}

fn demo_data_creates_residents_with_history(backend: Backend) {
    let db = TestDb::new(backend);
    let out = karada(
        &db,
        &["demo-data", "--residents", "3", "--days", "30", "--threads", "2"],
        "",
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let residents: i64 = users::table.count().get_result(&mut db.conn()).unwrap();
    assert_eq!(residents, 3);
    use karada::db::schema::measurements;
    let steps: i64 = measurements::table
        .filter(measurements::kind.eq("steps"))
        .count()
        .get_result(&mut db.conn())
        .unwrap();
    assert_eq!(steps, 3 * 30, "one steps total per resident and day");
    let kiosk: i64 = measurements::table
        .filter(measurements::modality.eq("sensed"))
        .count()
        .get_result(&mut db.conn())
        .unwrap();
    let all: i64 = measurements::table.count().get_result(&mut db.conn()).unwrap();
    assert_eq!(kiosk, all);
    assert!(all > steps, "weekly and monthly kiosk measurements too");
}

#[test]
fn demo_data_creates_residents_with_history_on_sqlite() {
    demo_data_creates_residents_with_history(Backend::Sqlite);
}

#[test]
fn demo_data_creates_residents_with_history_on_postgres() {
    demo_data_creates_residents_with_history(Backend::Postgres);
}
