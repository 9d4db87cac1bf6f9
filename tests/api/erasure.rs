//! Account erasure (`DELETE /v1/me`): the password confirms it, everything about the person goes
//! in one transaction, every credential ends at once, and what organisations keep (access log,
//! aggregate audit, enrollment codes) points at no one. The schema walk finds every column that
//! could hold the person's id or email by reading the database catalogue, so a table added later
//! is checked without changing the test.

use std::collections::BTreeSet;

use actix_web::http::Method;
use chrono::Duration;
use diesel::prelude::*;
use diesel::sql_query;
use diesel::sql_types::{BigInt, Binary, Text};
use serde_json::{Value, json};

use karada::db::schema::{access_log, aggregate_log, enrollment_codes, users};
use karada::db::{DbConn, Id};
use karada::http::Settings;

use crate::both_backends;
use crate::common::{Backend, PASSWORD, Resp, Session, TestApp, assert_problem, from_now};
use crate::common::{admin, balance, consent_body, day, employer, enrollment_code, exact_mode, staff, steps, weight};

both_backends!(
    a_wrong_or_missing_password_erases_nothing,
    an_app_token_cannot_erase_the_account,
    erasure_ends_every_session_and_token_and_frees_the_email,
    racing_erasures_of_one_account_both_end_well,
    erasure_leaves_no_row_that_references_the_resident,
    erased_staff_leave_their_organisations_records_pointing_at_no_one,
    the_last_operator_cannot_erase_their_account,
    two_operators_erasing_themselves_at_once_leave_one,
);

/// Like `both_backends!`, on an application whose `k_min` is 3.
macro_rules! both_backends_k3 {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[actix_web::test]
            async fn sqlite() {
                super::$name(super::app_k3($crate::common::Backend::Sqlite).await).await
            }
            #[actix_web::test]
            async fn postgres() {
                super::$name(super::app_k3($crate::common::Backend::Postgres).await).await
            }
        }
    )*};
}

both_backends_k3!(erasure_removes_a_resident_from_the_next_aggregate_answer);

async fn app_k3(backend: Backend) -> TestApp {
    TestApp::with_settings(
        backend,
        Settings {
            k_min: 3,
            ..Settings::default()
        },
    )
    .await
}

const PURPOSE: &str = "Follow-up by the occupational health nurse";

fn uid(s: &Session) -> Id {
    Id(s.user_id.parse().unwrap())
}

async fn erase(app: &TestApp, token: &str, body: Value) -> Resp {
    app.call(Method::DELETE, "/v1/me", Some(token), Some(body)).await
}

/// Erases the account of `s` with the right password (204, no body).
async fn erase_ok(app: &TestApp, s: &Session) {
    let r = erase(app, &s.access, json!({ "password": PASSWORD })).await;
    r.expect(204);
    assert!(r.raw.is_empty());
}

// ---- the schema walk ----

#[derive(QueryableByName)]
struct Column {
    #[diesel(sql_type = Text)]
    table_name: String,
    #[diesel(sql_type = Text)]
    column_name: String,
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// Every column of every table, from the database catalogue.
fn columns(conn: &mut DbConn) -> Vec<Column> {
    match conn {
        DbConn::Pg(c) => sql_query(
            "SELECT table_name::text AS table_name, column_name::text AS column_name \
             FROM information_schema.columns WHERE table_schema = 'public' \
             AND table_name <> '__diesel_schema_migrations' ORDER BY 1, 2",
        )
        .load(c)
        .unwrap(),
        DbConn::Sqlite(c) => sql_query(
            "SELECT m.name AS table_name, p.name AS column_name \
             FROM sqlite_master m JOIN pragma_table_info(m.name) p \
             WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' AND m.name <> '__diesel_schema_migrations' \
             ORDER BY 1, 2",
        )
        .load(c)
        .unwrap(),
    }
}

/// Every `table.column` holding the person `id` or their `email`, with how many rows: in any
/// column, whatever its type — a uuid or blob equal to the id, and any text (JSON included) that
/// contains the id in either spelling, its bytes in hex, or the email.
fn mentions(app: &TestApp, id: Id, email: &str) -> BTreeSet<(String, i64)> {
    let mut conn = app.db.conn();
    let hyphenated = format!("%{}%", id.0.hyphenated());
    let simple = format!("%{}%", id.0.simple());
    let email = format!("%{email}%");
    let mut found = BTreeSet::new();
    for Column {
        table_name,
        column_name,
    } in columns(&mut conn)
    {
        let (t, c) = (&table_name, &column_name);
        let n = match &mut conn {
            DbConn::Pg(pg) => {
                sql_query(format!(
                    "SELECT count(*) AS n FROM \"{t}\" WHERE \"{c}\"::text LIKE $1 OR \"{c}\"::text LIKE $2 \
                 OR \"{c}\"::text LIKE $3"
                ))
                .bind::<Text, _>(&hyphenated)
                .bind::<Text, _>(&simple)
                .bind::<Text, _>(&email)
                .get_result::<Count>(pg)
                .unwrap()
                .n
            }
            DbConn::Sqlite(lite) => {
                sql_query(format!(
                    "SELECT count(*) AS n FROM \"{t}\" WHERE \"{c}\" = $1 OR hex(\"{c}\") LIKE $2 \
                 OR CAST(\"{c}\" AS TEXT) LIKE $3 OR CAST(\"{c}\" AS TEXT) LIKE $4 OR CAST(\"{c}\" AS TEXT) LIKE $5"
                ))
                .bind::<Binary, _>(id.0.as_bytes().to_vec())
                .bind::<Text, _>(&simple)
                .bind::<Text, _>(&hyphenated)
                .bind::<Text, _>(&simple)
                .bind::<Text, _>(&email)
                .get_result::<Count>(lite)
                .unwrap()
                .n
            }
        };
        if n > 0 {
            found.insert((format!("{t}.{c}"), n));
        }
    }
    found
}

/// The `table.column`s of [`mentions`], without the counts.
fn where_mentioned(app: &TestApp, id: Id, email: &str) -> BTreeSet<String> {
    mentions(app, id, email).into_iter().map(|(c, _)| c).collect()
}

// ---- set-up helpers ----

/// An organisation with an `org_admin`, a health-staff nurse, an analyst and an enrollment code.
struct Org {
    id: String,
    admin: Session,
    nurse: Session,
    analyst: Session,
    code: String,
}

async fn new_org(app: &TestApp, ops: &str) -> Org {
    let org = employer(app, ops, "ACME Corporation", "acme").await;
    let nurse = staff(app, ops, &org.id, "nurse@acme.example.jp", "health_staff").await;
    let analyst = staff(app, ops, &org.id, "analyst@acme.example.jp", "analyst").await;
    let code = enrollment_code(app, &org).await;
    // Exact mode: the tests below compare exact k-anonymous answers before and after an erasure.
    exact_mode(app, ops, &org.id).await;
    Org {
        id: org.id,
        admin: org.admin,
        nurse,
        analyst,
        code,
    }
}

/// Joins the organisation and consents to `types` with `access`.
async fn member(app: &TestApp, org: &Org, s: &Session, types: &[&str], access: &str) {
    app.post(
        "/v1/me/memberships",
        Some(&s.access),
        json!({"enrollment_code": org.code}),
    )
    .await
    .expect(201);
    app.post(
        "/v1/me/consents",
        Some(&s.access),
        consent_body(&org.id, types, access, PURPOSE),
    )
    .await
    .expect(201);
}

/// The nurse's individual read of the member's weights (200).
async fn nurse_reads(app: &TestApp, org: &Org, s: &Session) {
    app.get(
        &format!(
            "/v1/orgs/{}/members/{}/measurements?type=body_weight",
            org.id, s.user_id
        ),
        Some(&org.nurse.access),
    )
    .await
    .expect(200);
}

fn january_weights() -> Value {
    json!({"type": "body_weight", "field": "kg", "from": "2026-01-01", "to": "2026-01-31"})
}

/// The analyst's answer to an aggregate query (200).
async fn aggregate(app: &TestApp, org: &Org, body: Value) -> Value {
    let r = app
        .post(
            &format!("/v1/orgs/{}/aggregates", org.id),
            Some(&org.analyst.access),
            body,
        )
        .await;
    r.expect(200);
    r.body.clone()
}

async fn items(app: &TestApp, path: &str, token: &str) -> Vec<Value> {
    let r = app.get(path, Some(token)).await;
    r.expect(200);
    r.body["items"].as_array().unwrap().clone()
}

/// A new app token of the resident's with `scopes`.
pub(crate) async fn app_token(app: &TestApp, s: &Session, scopes: &[&str]) -> String {
    let r = app
        .post(
            "/v1/me/app-tokens",
            Some(&s.access),
            json!({"name": "Pedometer", "scopes": scopes}),
        )
        .await;
    r.expect(201);
    r.body["token"].as_str().unwrap().to_owned()
}

/// A kiosk token from a pairing code, claimed by a registered kiosk with its credentials.
async fn kiosk_token(app: &TestApp, s: &Session) -> String {
    let r = app
        .call(Method::POST, "/v1/me/pairing-codes", Some(&s.access), None)
        .await;
    r.expect(201);
    let code = r.body["code"].as_str().unwrap().to_owned();
    let pod = crate::common::register_app(app, "Karada pod", "kiosk", &["measurements:write"], "sensed");
    let r = app
        .send(
            actix_web::test::TestRequest::post()
                .uri("/v1/pairing/claim")
                .insert_header(("authorization", pod.basic()))
                .set_json(json!({"code": code, "device_name": "Pod 3, Umeda"})),
        )
        .await;
    r.expect(201);
    r.body["token"].as_str().unwrap().to_owned()
}

/// A lottery in `osaka` at one point a ticket, with one winner.
async fn lottery(app: &TestApp, ops: &str) -> String {
    let r = app
        .post(
            "/v1/admin/lotteries",
            Some(ops),
            json!({"programme": "osaka", "title": "Onsen weekend", "prize": "Two nights at Arima",
                   "cost_per_entry": 1, "winners": 1, "closes_at": from_now(Duration::days(30))}),
        )
        .await;
    r.expect(201);
    r.body["id"].as_str().unwrap().to_owned()
}

// ---- confirmation ----

async fn a_wrong_or_missing_password_erases_nothing(app: TestApp) {
    let taro = app.register("taro@example.jp").await;
    assert_eq!(
        app.upload(&taro.access, steps("2026-11-20", 12, 6500)).await.code(),
        201
    );
    let token = app_token(&app, &taro, &["measurements:read"]).await;
    let before = mentions(&app, uid(&taro), "taro@example.jp");
    assert!(before.len() > 5, "{before:?}");

    let r = erase(&app, &taro.access, json!({"password": "not the password at all"})).await;
    assert_problem(&r, 403, "forbidden");
    assert!(!r.body["detail"].as_str().unwrap().contains("not the password"));
    // Empty, missing and unknown fields, and no body at all.
    assert_problem(
        &erase(&app, &taro.access, json!({"password": ""})).await,
        403,
        "forbidden",
    );
    assert_problem(&erase(&app, &taro.access, json!({})).await, 400, "bad-request");
    assert_problem(
        &erase(&app, &taro.access, json!({"password": PASSWORD, "force": true})).await,
        400,
        "bad-request",
    );
    assert_problem(
        &erase(&app, &taro.access, json!({"password": 12345678})).await,
        400,
        "bad-request",
    );
    let r = app.call(Method::DELETE, "/v1/me", Some(&taro.access), None).await;
    assert_problem(&r, 415, "unsupported-media-type");
    // No credentials, or an access token that is not one.
    let r = app
        .call(Method::DELETE, "/v1/me", None, Some(json!({"password": PASSWORD})))
        .await;
    assert_problem(&r, 401, "unauthorized");
    assert_problem(
        &erase(&app, "not-a-token", json!({"password": PASSWORD})).await,
        401,
        "unauthorized",
    );

    assert_eq!(mentions(&app, uid(&taro), "taro@example.jp"), before, "nothing changed");
    app.get("/v1/me", Some(&taro.access)).await.expect(200);
    app.get("/v1/measurements", Some(&token)).await.expect(200);
    app.post("/v1/auth/refresh", None, json!({"refresh_token": taro.refresh}))
        .await
        .expect(200);
    // The right password still works afterwards.
    erase_ok(&app, &taro).await;
}

async fn an_app_token_cannot_erase_the_account(app: TestApp) {
    let taro = app.register("taro@example.jp").await;
    let token = app_token(&app, &taro, &["measurements:write", "measurements:read", "points:read"]).await;
    let kiosk = kiosk_token(&app, &taro).await;
    for t in [&token, &kiosk] {
        let r = erase(&app, t, json!({ "password": PASSWORD })).await;
        assert_problem(&r, 403, "forbidden");
    }
    app.get("/v1/me", Some(&taro.access)).await.expect(200);
    app.get("/v1/measurements", Some(&token)).await.expect(200);
}

// ---- what ends ----

async fn erasure_ends_every_session_and_token_and_frees_the_email(app: TestApp) {
    let taro = app.register("taro@example.jp").await;
    // An account older than the day uploaded for (points never pay for earlier days).
    crate::common::backdate_account(&app, &taro, 30);
    let other_session = app.login("taro@example.jp", PASSWORD).await;
    let token = app_token(&app, &taro, &["measurements:write", "measurements:read", "points:read"]).await;
    let kiosk = kiosk_token(&app, &taro).await;
    assert_eq!(app.upload(&token, steps(day(3), 12, 6500)).await.code(), 201);
    assert_eq!(app.upload(&kiosk, weight(day(3), 7, 61.0)).await.code(), 201);
    assert!(balance(&app, &taro).await > 0);
    // A refresh token already rotated, and the pair it was rotated into.
    let r = app
        .post(
            "/v1/auth/refresh",
            None,
            json!({"refresh_token": other_session.refresh}),
        )
        .await;
    r.expect(200);
    let rotated = Session {
        user_id: taro.user_id.clone(),
        access: r.body["access_token"].as_str().unwrap().to_owned(),
        refresh: r.body["refresh_token"].as_str().unwrap().to_owned(),
    };

    erase_ok(&app, &taro).await;

    // Every access token issued before, from either session, and the app and kiosk tokens.
    for t in [&taro.access, &other_session.access, &rotated.access, &token, &kiosk] {
        assert_problem(&app.get("/v1/me", Some(t)).await, 401, "unauthorized");
        assert_problem(&app.get("/v1/measurements", Some(t)).await, 401, "unauthorized");
    }
    assert_problem(
        &app.post("/v1/measurements", Some(&kiosk), weight(day(2), 7, 61.0))
            .await,
        401,
        "unauthorized",
    );
    assert_problem(&app.get("/v1/points", Some(&token)).await, 401, "unauthorized");
    // Every refresh token.
    for refresh in [&taro.refresh, &other_session.refresh, &rotated.refresh] {
        let r = app
            .post("/v1/auth/refresh", None, json!({ "refresh_token": refresh }))
            .await;
        assert_problem(&r, 401, "unauthorized");
    }
    // Erasing again, and signing in.
    assert_problem(
        &erase(&app, &taro.access, json!({ "password": PASSWORD })).await,
        401,
        "unauthorized",
    );
    let r = app
        .post(
            "/v1/auth/login",
            None,
            json!({"email": "taro@example.jp", "password": PASSWORD}),
        )
        .await;
    assert_problem(&r, 401, "unauthorized");

    // The email is free: registering again makes a fresh, empty account.
    let again = app.register("taro@example.jp").await;
    assert_ne!(again.user_id, taro.user_id);
    let me = app.get("/v1/me", Some(&again.access)).await;
    me.expect(200);
    assert_eq!(me.body["email"], "taro@example.jp");
    assert_eq!(balance(&app, &again).await, 0);
    for path in [
        "/v1/measurements",
        "/v1/points/ledger",
        "/v1/me/app-tokens",
        "/v1/me/memberships",
        "/v1/me/consents",
        "/v1/me/access-log",
        "/v1/me/lottery-entries",
    ] {
        assert!(items(&app, path, &again.access).await.is_empty(), "{path}");
    }
    // The old credentials do not come back with the email.
    assert_problem(&app.get("/v1/me", Some(&taro.access)).await, 401, "unauthorized");
    assert_problem(&app.get("/v1/me", Some(&token)).await, 401, "unauthorized");
}

async fn racing_erasures_of_one_account_both_end_well(app: TestApp) {
    let taro = app.register("taro@example.jp").await;
    let other = app.login("taro@example.jp", PASSWORD).await;
    assert_eq!(
        app.upload(&taro.access, steps("2026-11-20", 12, 6500)).await.code(),
        201
    );
    let (a, b) = futures_util::future::join(
        erase(&app, &taro.access, json!({ "password": PASSWORD })),
        erase(&app, &other.access, json!({ "password": PASSWORD })),
    )
    .await;
    // Each is erased (204), or finds its credentials already gone (401).
    for r in [&a, &b] {
        assert!(
            [204, 401].contains(&r.status.as_u16()),
            "{}",
            String::from_utf8_lossy(&r.raw)
        );
    }
    assert!([&a, &b].iter().any(|r| r.status.as_u16() == 204));
    assert_eq!(mentions(&app, uid(&taro), "taro@example.jp"), BTreeSet::new());
}

// ---- what stays ----

async fn erasure_leaves_no_row_that_references_the_resident(app: TestApp) {
    let ops = admin(&app).await;
    let org = new_org(&app, &ops).await;
    let taro = app.register("taro@example.jp").await;
    let hanako = app.register("hanako@example.jp").await;
    for s in [&taro, &hanako] {
        member(&app, &org, s, &["body_weight"], "individual").await;
        // Steps from a sensed pedometer pay `osaka` points (five tiers a day) for recent days of
        // an account that existed then; weights fill the aggregate rollup.
        crate::common::backdate_account(&app, s, 30);
        let device = crate::common::sensed_token(&app, s, "Pedometer", &["measurements:write"]).await;
        for (day, count) in [(day(3), 10_500), (day(2), 10_500)] {
            assert_eq!(app.upload(&device, steps(&day, 20, count)).await.code(), 201);
        }
        assert_eq!(app.upload(&s.access, weight(day(3), 7, 61.0)).await.code(), 201);
    }
    assert_eq!(balance(&app, &taro).await, 11, "ten for steps, one for weighing");
    // The week's programme is made (and kept) on its first request.
    app.get("/v1/me/programme", Some(&taro.access)).await.expect(200);
    // Tokens of every kind, and an unclaimed pairing code.
    app_token(&app, &taro, &["measurements:read"]).await;
    kiosk_token(&app, &taro).await;
    app.call(Method::POST, "/v1/me/pairing-codes", Some(&taro.access), None)
        .await
        .expect(201);
    // A lottery entry, and the win (Taro is the only entrant).
    let lot = lottery(&app, &ops).await;
    app.post(
        &format!("/v1/lotteries/{lot}/entries"),
        Some(&taro.access),
        json!({"count": 2}),
    )
    .await
    .expect(201);
    let r = app
        .post(
            &format!("/v1/admin/lotteries/{lot}/draw"),
            Some(&ops),
            json!({"seed": "s"}),
        )
        .await;
    r.expect(200);
    assert_eq!(r.body["winners"], json!([taro.user_id]));
    // A read by the organisation's health staff, and an aggregate query that counts Taro.
    nurse_reads(&app, &org, &taro).await;
    let log = items(&app, "/v1/me/access-log", &taro.access).await;
    assert_eq!(log.len(), 1);
    let read_id = Id(log[0]["id"].as_str().unwrap().parse().unwrap());
    aggregate(
        &app,
        &org,
        json!({"type": "body_weight", "field": "kg", "from": day(3), "to": day(3)}),
    )
    .await;
    let audit_path = format!("/v1/orgs/{}/aggregate-log", org.id);
    let audit = items(&app, &audit_path, &org.analyst.access).await;
    assert_eq!(audit.len(), 1);

    // The walk finds Taro wherever the set-up put him, so finding nothing afterwards means
    // something.
    let expected: BTreeSet<String> = [
        "users.id",
        "users.email",
        "sessions.user_id",
        "refresh_tokens.user_id",
        "app_tokens.user_id",
        "pairing_codes.user_id",
        "measurements.user_id",
        "measurement_rollups.user_id",
        "measurement_rollup_buckets.user_id",
        "measurement_rollup_years.user_id",
        "measurement_rollup_year_buckets.user_id",
        "points_ledger.user_id",
        "points_balances.user_id",
        "programme_weeks.user_id",
        "lottery_entries.user_id",
        "lottery_winners.user_id",
        "memberships.user_id",
        "consents.user_id",
        "access_log.subject_id",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect();
    assert_eq!(where_mentioned(&app, uid(&taro), "taro@example.jp"), expected);
    let hanako_before = mentions(&app, uid(&hanako), "hanako@example.jp");

    erase_ok(&app, &taro).await;

    assert_eq!(
        mentions(&app, uid(&taro), "taro@example.jp"),
        BTreeSet::new(),
        "no row anywhere references the erased resident"
    );
    // The read is still on record, about no one; who read it and for which organisation stay.
    let mut conn = app.db.conn();
    let (subject, actor, organization, consent): (Option<Id>, Option<Id>, Option<Id>, Option<Id>) = access_log::table
        .find(read_id)
        .select((
            access_log::subject_id,
            access_log::actor_id,
            access_log::organization_id,
            access_log::consent_id,
        ))
        .first(&mut conn)
        .unwrap();
    assert_eq!(subject, None);
    assert_eq!(consent, None, "the consent is erased with the resident");
    assert_eq!(actor, Some(uid(&org.nurse)));
    assert_eq!(organization, Some(Id(org.id.parse().unwrap())));
    // The organisation's audit of its queries is unchanged.
    assert_eq!(items(&app, &audit_path, &org.analyst.access).await, audit);
    // The other member is untouched, and so is the lottery apart from Taro's entry and win.
    assert_eq!(mentions(&app, uid(&hanako), "hanako@example.jp"), hanako_before);
    assert_eq!(balance(&app, &hanako).await, 11);
    nurse_reads(&app, &org, &hanako).await;
    let r = app.get(&format!("/v1/admin/lotteries/{lot}"), Some(&ops)).await;
    r.expect(200);
    assert_eq!(r.body["status"], "drawn");
    assert_eq!((&r.body["entrants"], &r.body["tickets"]), (&json!(0), &json!(0)));
    assert_eq!(r.body["winner_ids"], json!([]));
    // Taro's id is free of meaning to the organisation's health staff.
    let r = app
        .get(
            &format!(
                "/v1/orgs/{}/members/{}/measurements?type=body_weight",
                org.id, taro.user_id
            ),
            Some(&org.nurse.access),
        )
        .await;
    assert_problem(&r, 403, "forbidden");
}

async fn erased_staff_leave_their_organisations_records_pointing_at_no_one(app: TestApp) {
    let ops = admin(&app).await;
    let org = new_org(&app, &ops).await;
    let taro = app.register("taro@example.jp").await;
    member(&app, &org, &taro, &["body_weight"], "individual").await;
    assert_eq!(
        app.upload(&taro.access, weight("2026-01-10", 7, 61.0)).await.code(),
        201
    );
    nurse_reads(&app, &org, &taro).await;
    aggregate(&app, &org, january_weights()).await;

    for s in [&org.nurse, &org.analyst, &org.admin] {
        erase_ok(&app, s).await;
    }
    for (s, email) in [
        (&org.nurse, "nurse@acme.example.jp"),
        (&org.analyst, "analyst@acme.example.jp"),
        (&org.admin, "admin@acme.example.jp"),
    ] {
        assert_eq!(mentions(&app, uid(s), email), BTreeSet::new(), "{email}");
    }

    // Taro still sees that his data was read, no longer by whom.
    let log = items(&app, "/v1/me/access-log", &taro.access).await;
    assert_eq!(log.len(), 1);
    assert_eq!(log[0]["actor"], Value::Null);
    assert_eq!(log[0]["organization_id"], org.id.as_str());
    assert_eq!(log[0]["measurement_type"], "body_weight");
    // A new analyst finds the query on record, run by no one.
    let analyst = staff(&app, &ops, &org.id, "analyst2@acme.example.jp", "analyst").await;
    let audit = items(&app, &format!("/v1/orgs/{}/aggregate-log", org.id), &analyst.access).await;
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0]["actor"], Value::Null);
    // The enrollment code the org admin made still admits members.
    let mut conn = app.db.conn();
    let creators: Vec<Option<Id>> = enrollment_codes::table
        .select(enrollment_codes::created_by)
        .load(&mut conn)
        .unwrap();
    assert_eq!(creators, vec![None]);
    let hanako = app.register("hanako@example.jp").await;
    member(&app, &org, &hanako, &["body_weight"], "aggregate").await;
    // The staff roles ended with the accounts; the emails can be registered again, with no role.
    let nurse = app.register("nurse@acme.example.jp").await;
    let r = app
        .get(
            &format!(
                "/v1/orgs/{}/members/{}/measurements?type=body_weight",
                org.id, taro.user_id
            ),
            Some(&nurse.access),
        )
        .await;
    assert_problem(&r, 403, "forbidden");
    let staff_list = items(&app, &format!("/v1/admin/organizations/{}/staff", org.id), &ops).await;
    assert_eq!(staff_list.len(), 1, "{staff_list:?}");
    assert_eq!(staff_list[0]["email"], "analyst2@acme.example.jp");
    let audit_actors: Vec<Option<Id>> = aggregate_log::table
        .select(aggregate_log::actor_id)
        .load(&mut conn)
        .unwrap();
    assert_eq!(audit_actors, vec![None]);
}

async fn the_last_operator_cannot_erase_their_account(app: TestApp) {
    let first = admin(&app).await;
    let first = Session {
        user_id: app.get("/v1/me", Some(&first)).await.body["id"]
            .as_str()
            .unwrap()
            .to_owned(),
        access: first,
        refresh: String::new(),
    };
    let r = erase(&app, &first.access, json!({ "password": PASSWORD })).await;
    assert_problem(&r, 409, "last-operator");
    app.get(&format!("/v1/admin/users/{}", first.user_id), Some(&first.access))
        .await
        .expect(200);

    // With a second operator, the first may go (the privacy policy change they made stays on
    // record, made by no one); then the second is the last.
    let second = operator(&app, "ops2@example.jp").await;
    let org = app
        .post(
            "/v1/admin/organizations",
            Some(&first.access),
            json!({"name": "Kenpo", "kind": "insurer"}),
        )
        .await;
    org.expect(201);
    let policy = format!("/v1/admin/organizations/{}/privacy", org.body["id"].as_str().unwrap());
    app.call(
        Method::PUT,
        &policy,
        Some(&first.access),
        Some(json!({"mode": "exact", "reason": "statutory checkup data"})),
    )
    .await
    .expect(200);
    erase_ok(&app, &first).await;
    let changes = app.get(&policy, Some(&second.access)).await;
    assert!(changes.body["changes"][0]["actor_id"].is_null(), "{}", changes.body);
    assert_eq!(mentions(&app, uid(&first), "ops@example.jp"), BTreeSet::new());
    let r = erase(&app, &second.access, json!({ "password": PASSWORD })).await;
    assert_problem(&r, 409, "last-operator");
    app.get("/v1/admin/organizations", Some(&second.access))
        .await
        .expect(200);
}

/// Registers `email` and makes it an operator.
async fn operator(app: &TestApp, email: &str) -> Session {
    let s = app.register(email).await;
    diesel::update(users::table.find(uid(&s)))
        .set(users::role.eq("admin"))
        .execute(&mut app.db.conn())
        .unwrap();
    s
}

async fn two_operators_erasing_themselves_at_once_leave_one(app: TestApp) {
    let a = operator(&app, "ops-a@example.jp").await;
    let b = operator(&app, "ops-b@example.jp").await;
    let (ra, rb) = futures_util::future::join(
        erase(&app, &a.access, json!({ "password": PASSWORD })),
        erase(&app, &b.access, json!({ "password": PASSWORD })),
    )
    .await;
    let mut statuses = vec![ra.status.as_u16(), rb.status.as_u16()];
    statuses.sort_unstable();
    assert_eq!(statuses, vec![204, 409], "{ra:?} {rb:?}");
    let left: i64 = users::table
        .filter(users::role.eq("admin"))
        .count()
        .get_result(&mut app.db.conn())
        .unwrap();
    assert_eq!(left, 1);
}

// ---- aggregates ----

async fn erasure_removes_a_resident_from_the_next_aggregate_answer(app: TestApp) {
    let ops = admin(&app).await;
    let org = new_org(&app, &ops).await;
    let mut women = Vec::new();
    for (i, kg) in [60.0, 62.0, 64.0, 90.0].into_iter().enumerate() {
        let s = app.register(&format!("w{i}@example.jp")).await;
        member(&app, &org, &s, &["body_weight"], "aggregate").await;
        assert_eq!(app.upload(&s.access, weight("2026-01-10", 7, kg)).await.code(), 201);
        women.push(s);
    }
    let grouped = || {
        let mut q = january_weights();
        q["group_by"] = json!(["age_band", "sex"]);
        q
    };
    let key = json!({"age_band": "40-49", "sex": "female"});
    let cell = |a: &Value| {
        a["groups"]
            .as_array()
            .unwrap()
            .iter()
            .find(|g| g["key"] == key)
            .cloned()
            .unwrap_or_else(|| panic!("no {key} in {a}"))
    };
    let a = aggregate(&app, &org, grouped()).await;
    assert_eq!(a["k_min"], 3);
    let g = cell(&a);
    assert_eq!((&g["people"], &g["measurements"]), (&json!(4), &json!(4)), "{g}");
    assert!((g["stats"]["mean"].as_f64().unwrap() - 69.0).abs() < 1e-9, "{g}");

    // The 90 kg resident erases her account: the next answer no longer counts her.
    erase_ok(&app, &women[3]).await;
    let g = cell(&aggregate(&app, &org, grouped()).await);
    assert_eq!((&g["people"], &g["measurements"]), (&json!(3), &json!(3)), "{g}");
    assert!((g["stats"]["mean"].as_f64().unwrap() - 62.0).abs() < 1e-9, "{g}");
    // Another one: two people are below k_min and the cell is suppressed.
    erase_ok(&app, &women[0]).await;
    let a = aggregate(&app, &org, grouped()).await;
    assert_eq!(cell(&a), json!({"key": key, "suppressed": true}));
    let a = aggregate(&app, &org, january_weights()).await;
    assert_eq!(a["groups"], json!([{"key": {}, "suppressed": true}]));
    // The programme statistics count members the same way.
    let r = app
        .get(
            &format!("/v1/orgs/{}/program-stats?from=2026-01-01&to=2026-01-31", org.id),
            Some(&org.admin.access),
        )
        .await;
    r.expect(200);
    assert_eq!(r.body["members"]["suppressed"], true, "{}", r.body);
}
