//! Hardening (issue 15, part 3): no text input reaches a 500 or is stored with control characters,
//! guesses are throttled per client address, a login throttle cannot be turned against the owner,
//! and every answer carries the headers that keep it out of caches and sniffers.

use actix_web::http::Method;
use actix_web::test::TestRequest;
use serde_json::{Value, json};

use crate::both_backends;
use crate::common::admin;
use crate::common::{Backend, PASSWORD, Resp, Session, TestApp, from_now};

both_backends!(
    every_answer_says_nosniff_and_authenticated_or_token_answers_say_no_store,
    metrics_are_not_served_when_no_metrics_token_is_configured,
    a_nul_byte_in_any_text_field_is_refused_with_422_naming_the_field_and_stores_nothing,
    a_note_may_span_lines_but_no_text_field_holds_another_control_character,
    control_characters_in_query_strings_and_paths_are_refused_before_the_database,
    registration_is_throttled_per_client_address,
    enrollment_code_guesses_are_throttled_per_client_address,
    event_check_in_guesses_are_throttled_per_client_address,
    pairing_code_guesses_are_throttled_per_client_address,
    failed_logins_from_one_address_do_not_lock_the_owner_out_from_another,
    a_resident_learns_nothing_of_an_operator_routes_body_only_that_it_is_refused,
);

const NUL: &str = "\u{0}";

/// Everything the text-field tests write to: an operator, an organisation with its admin, a member
/// of it, an open lottery and an event.
struct World {
    ops: String,
    org: String,
    member: Session,
    lottery: String,
    event_code: String,
}

async fn world(app: &TestApp) -> World {
    let ops = admin(app).await;
    let r = app
        .post(
            "/v1/admin/organizations",
            Some(&ops),
            json!({"name": "ACME", "kind": "employer"}),
        )
        .await;
    r.expect(201);
    let org = r.body["id"].as_str().unwrap().to_owned();
    let org_admin = app.register("admin@acme.example.jp").await;
    app.post(
        &format!("/v1/admin/organizations/{org}/staff"),
        Some(&ops),
        json!({"email": "admin@acme.example.jp", "role": "org_admin"}),
    )
    .await
    .expect(201);
    let code = app
        .post(
            &format!("/v1/orgs/{org}/enrollment-codes"),
            Some(&org_admin.access),
            json!({}),
        )
        .await;
    code.expect(201);
    let member = app.register("taro@example.jp").await;
    app.post(
        "/v1/me/memberships",
        Some(&member.access),
        json!({"enrollment_code": code.body["code"]}),
    )
    .await
    .expect(201);
    let lottery = app
        .post(
            "/v1/admin/lotteries",
            Some(&ops),
            json!({"programme": "osaka", "title": "Expo tickets", "prize": "Two tickets", "cost_per_entry": 1,
                   "winners": 1, "closes_at": from_now(chrono::Duration::days(3))}),
        )
        .await;
    lottery.expect(201);
    let event = app
        .post(
            "/v1/admin/events",
            Some(&ops),
            json!({"programme": "osaka", "title": "Walk", "points": 5,
                   "starts_at": from_now(chrono::Duration::hours(-1)), "ends_at": from_now(chrono::Duration::hours(2))}),
        )
        .await;
    event.expect(201);
    World {
        ops,
        org,
        member,
        lottery: lottery.body["id"].as_str().unwrap().to_owned(),
        event_code: event.body["code"].as_str().unwrap().to_owned(),
    }
}

/// What is sent, how, and which fields the 422 must name.
type Case<'a> = (&'a str, Method, String, Option<&'a str>, Value, Vec<&'a str>);

#[track_caller]
fn assert_422_naming(r: &Resp, fields: &[&str], what: &str) {
    assert_eq!(r.status.as_u16(), 422, "{what}: {}", String::from_utf8_lossy(&r.raw));
    r.expect(422);
    let mut named = r.error_fields();
    named.sort();
    let mut expected: Vec<String> = fields.iter().map(|f| (*f).to_owned()).collect();
    expected.sort();
    assert_eq!(named, expected, "{what}: {}", r.body);
}

/// Rows of a table, read straight from the database.
fn count(app: &TestApp, table: &str) -> i64 {
    use diesel::prelude::*;
    #[derive(QueryableByName)]
    struct N {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    diesel::sql_query(format!("SELECT count(*) AS n FROM {table}"))
        .get_result::<N>(&mut app.db.conn())
        .unwrap()
        .n
}

async fn every_answer_says_nosniff_and_authenticated_or_token_answers_say_no_store(app: TestApp) {
    let has = |r: &Resp, name: &str, value: &str| {
        r.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.eq_ignore_ascii_case(value))
    };
    // Answers carrying a token.
    let reg = app
        .post(
            "/v1/auth/register",
            None,
            json!({"email": "taro@example.jp", "password": PASSWORD, "birth_date": "1980-04-01", "sex": "male"}),
        )
        .await;
    reg.expect(201);
    let access = reg.body["access_token"].as_str().unwrap().to_owned();
    let refresh = reg.body["refresh_token"].as_str().unwrap().to_owned();
    let login = app
        .post(
            "/v1/auth/login",
            None,
            json!({"email": "taro@example.jp", "password": PASSWORD}),
        )
        .await;
    login.expect(200);
    let refreshed = app
        .post("/v1/auth/refresh", None, json!({"refresh_token": refresh}))
        .await;
    refreshed.expect(200);
    let code = app
        .call(Method::POST, "/v1/me/pairing-codes", Some(&access), None)
        .await;
    code.expect(201);
    let claim = app
        .post(
            "/v1/pairing/claim",
            None,
            json!({"code": code.body["code"], "device_name": "Pod"}),
        )
        .await;
    claim.expect(201);
    let token = app
        .post(
            "/v1/me/app-tokens",
            Some(&access),
            json!({"name": "Pedometer", "scopes": ["measurements:write"]}),
        )
        .await;
    token.expect(201);
    // Answers to authenticated requests, successful or not.
    let me = app.get("/v1/me", Some(&access)).await;
    me.expect(200);
    let measurements = app.get("/v1/measurements", Some(&access)).await;
    measurements.expect(200);
    let missing = app
        .get(&format!("/v1/measurements/{}", uuid::Uuid::now_v7()), Some(&access))
        .await;
    missing.expect(404);
    let refused = app.get("/v1/me", Some("not-a-token")).await;
    refused.expect(401);
    for (what, r) in [
        ("register", &reg),
        ("login", &login),
        ("refresh", &refreshed),
        ("pairing code", &code),
        ("pairing claim", &claim),
        ("app token", &token),
        ("profile", &me),
        ("measurements", &measurements),
        ("404 of an authenticated request", &missing),
        ("401", &refused),
    ] {
        assert!(has(r, "cache-control", "no-store"), "{what}: {:?}", r.headers);
        assert!(has(r, "x-content-type-options", "nosniff"), "{what}: {:?}", r.headers);
    }
    // Every answer, public ones and errors included, forbids sniffing.
    for path in [
        "/healthz",
        "/readyz",
        "/openapi.yaml",
        "/v1/measurement-types",
        "/no/such/route",
    ] {
        let r = app.get(path, None).await;
        assert!(has(&r, "x-content-type-options", "nosniff"), "{path}: {:?}", r.headers);
    }
}

async fn metrics_are_not_served_when_no_metrics_token_is_configured(app: TestApp) {
    // The test application configures no KARADA_METRICS_TOKEN: the route does not exist.
    let r = app.get("/metrics", None).await;
    r.expect(404);
    let s = app.register("taro@example.jp").await;
    app.get("/metrics", Some(&s.access)).await.expect(404);
    assert!(!String::from_utf8_lossy(&r.raw).contains("karada_http_requests_total"));
}

async fn metrics_need_the_configured_bearer_token(backend: Backend) {
    let app = crate::operations::app_with_metrics(backend).await;
    let s = app.register("taro@example.jp").await;
    for token in [None, Some("wrong-token"), Some(s.access.as_str())] {
        let r = app.get("/metrics", token).await;
        r.expect(401);
        assert!(!String::from_utf8_lossy(&r.raw).contains("karada_http_requests_total"));
    }
    let r = app.get("/metrics", Some(crate::operations::METRICS_TOKEN)).await;
    r.expect(200);
    assert!(String::from_utf8_lossy(&r.raw).contains("karada_http_requests_total"));
}

#[actix_web::test]
async fn metrics_need_the_configured_bearer_token_on_sqlite() {
    metrics_need_the_configured_bearer_token(Backend::Sqlite).await
}

#[actix_web::test]
async fn metrics_need_the_configured_bearer_token_on_postgres() {
    metrics_need_the_configured_bearer_token(Backend::Postgres).await
}

async fn a_nul_byte_in_any_text_field_is_refused_with_422_naming_the_field_and_stores_nothing(app: TestApp) {
    let w = world(&app).await;
    let m = &w.member.access;
    let tables = [
        "users",
        "organizations",
        "org_staff",
        "lotteries",
        "lottery_entries",
        "events",
        "reward_rules",
        "consents",
        "measurements",
        "memberships",
        "app_tokens",
        "points_ledger",
    ];
    let before: Vec<i64> = tables.iter().map(|t| count(&app, t)).collect();
    let lottery = &w.lottery;
    let org = &w.org;
    let cases: Vec<Case<'_>> = vec![
        (
            "login email",
            Method::POST,
            "/v1/auth/login".into(),
            None,
            json!({"email": format!("taro{NUL}@example.jp"), "password": PASSWORD}),
            vec!["email"],
        ),
        (
            "registration",
            Method::POST,
            "/v1/auth/register".into(),
            None,
            json!({"email": format!("new{NUL}@example.jp"), "password": PASSWORD, "birth_date": "1980-04-01",
                   "sex": "female", "timezone": format!("Asia/Tokyo{NUL}")}),
            vec!["email", "timezone"],
        ),
        (
            "consent purpose",
            Method::POST,
            "/v1/me/consents".into(),
            Some(m),
            json!({"organization_id": org, "measurement_types": ["steps"], "access": "aggregate",
                   "purpose": format!("Health programme{NUL}")}),
            vec!["purpose"],
        ),
        (
            "event check-in code",
            Method::POST,
            "/v1/events/check-in".into(),
            Some(m),
            json!({"code": format!("{}{NUL}", w.event_code)}),
            vec!["code"],
        ),
        (
            "lottery client_ref",
            Method::POST,
            format!("/v1/lotteries/{lottery}/entries"),
            Some(m),
            json!({"count": 1, "client_ref": format!("buy{NUL}1")}),
            vec!["client_ref"],
        ),
        (
            "enrollment code",
            Method::POST,
            "/v1/me/memberships".into(),
            Some(m),
            json!({"enrollment_code": format!("ABCD{NUL}1234")}),
            vec!["enrollment_code"],
        ),
        (
            "measurement note and source",
            Method::POST,
            "/v1/measurements".into(),
            Some(m),
            json!({"type": "body_weight", "effective_at": from_now(chrono::Duration::hours(-1)),
                   "values": {"kg": 61.0}, "note": format!("after{NUL}breakfast"), "source": "scale\u{7}"}),
            vec!["note", "source"],
        ),
        (
            "batch item client_ref",
            Method::POST,
            "/v1/measurements/batch".into(),
            Some(m),
            json!({"items": [{"type": "body_weight", "effective_at": from_now(chrono::Duration::hours(-1)),
                              "values": {"kg": 61.0}, "client_ref": format!("w{NUL}")}]}),
            vec!["items[0].client_ref"],
        ),
        (
            "profile timezone",
            Method::PATCH,
            "/v1/me".into(),
            Some(m),
            json!({"timezone": format!("Asia/Tokyo{NUL}")}),
            vec!["timezone"],
        ),
        (
            "organisation name",
            Method::POST,
            "/v1/admin/organizations".into(),
            Some(&w.ops),
            json!({"name": format!("ACME{NUL}"), "kind": "employer"}),
            vec!["name"],
        ),
        (
            "lottery title and prize",
            Method::POST,
            "/v1/admin/lotteries".into(),
            Some(&w.ops),
            json!({"programme": "osaka", "title": format!("T{NUL}"), "prize": format!("P{NUL}"), "cost_per_entry": 1,
                   "winners": 1, "closes_at": from_now(chrono::Duration::days(3))}),
            vec!["title", "prize"],
        ),
        (
            "event title",
            Method::POST,
            "/v1/admin/events".into(),
            Some(&w.ops),
            json!({"programme": "osaka", "title": format!("Walk{NUL}"), "points": 5,
                   "starts_at": from_now(chrono::Duration::hours(-1)), "ends_at": from_now(chrono::Duration::hours(2))}),
            vec!["title"],
        ),
        (
            "reward-rule title",
            Method::POST,
            "/v1/admin/reward-rules".into(),
            Some(&w.ops),
            json!({"programme": "osaka", "kind": "measurement_logged", "title": format!("Sleep{NUL}"),
                   "measurement_type": "sleep", "points": 1, "max_per_day": 1}),
            vec!["title"],
        ),
        (
            "staff email",
            Method::POST,
            format!("/v1/admin/organizations/{org}/staff"),
            Some(&w.ops),
            json!({"email": format!("taro{NUL}@example.jp"), "role": "analyst"}),
            vec!["email"],
        ),
        (
            "draw seed",
            Method::POST,
            format!("/v1/admin/lotteries/{lottery}/draw"),
            Some(&w.ops),
            json!({"seed": format!("2026{NUL}")}),
            vec!["seed"],
        ),
    ];
    for (what, method, path, token, body, fields) in cases {
        let r = app.call(method, &path, token, Some(body)).await;
        assert_422_naming(&r, &fields, what);
    }
    let after: Vec<i64> = tables.iter().map(|t| count(&app, t)).collect();
    assert_eq!(before, after, "refused input changes nothing: {tables:?}");
    // The lottery was not drawn by the refused draw.
    let l = app.get(&format!("/v1/admin/lotteries/{lottery}"), Some(&w.ops)).await;
    l.expect(200);
    assert!(l.body["seed"].is_null(), "{}", l.body);
}

async fn a_note_may_span_lines_but_no_text_field_holds_another_control_character(app: TestApp) {
    let s = app.register("taro@example.jp").await;
    let at = from_now(chrono::Duration::hours(-1));
    let ok = app
        .post(
            "/v1/measurements",
            Some(&s.access),
            json!({"type": "body_weight", "effective_at": at, "values": {"kg": 61.0},
                   "note": "after breakfast\nthen a walk"}),
        )
        .await;
    ok.expect(201);
    assert_eq!(ok.body["note"], "after breakfast\nthen a walk");
    for (what, body, field) in [
        (
            "escape in a note",
            json!({"type": "body_weight", "effective_at": at, "values": {"kg": 61.0}, "note": "\u{1b}[31mred"}),
            "note",
        ),
        (
            "line break in a source",
            json!({"type": "body_weight", "effective_at": at, "values": {"kg": 61.0}, "source": "scale\nfake"}),
            "source",
        ),
        (
            "DEL in a client reference",
            json!({"type": "body_weight", "effective_at": at, "values": {"kg": 61.0}, "client_ref": "a\u{7f}"}),
            "client_ref",
        ),
        (
            "C1 control in a note",
            json!({"type": "body_weight", "effective_at": at, "values": {"kg": 61.0}, "note": "a\u{85}b"}),
            "note",
        ),
    ] {
        let r = app.post("/v1/measurements", Some(&s.access), body).await;
        assert_422_naming(&r, &[field], what);
    }
    let name = app
        .post(
            "/v1/me/app-tokens",
            Some(&s.access),
            json!({"name": "Pedo\tmeter", "scopes": ["measurements:write"]}),
        )
        .await;
    assert_422_naming(&name, &["name"], "tab in a token name");
    let list = app.get("/v1/measurements", Some(&s.access)).await;
    assert_eq!(
        list.body["items"].as_array().unwrap().len(),
        1,
        "only the first was stored"
    );
}

async fn control_characters_in_query_strings_and_paths_are_refused_before_the_database(app: TestApp) {
    let ops = admin(&app).await;
    let s = app.register("taro@example.jp").await;
    for path in [
        "/v1/measurements?type=steps%00",
        "/v1/measurements/summary?type=steps%00&period=day",
        "/v1/points/ledger?programme=osaka%00",
        "/v1/me/export?format=json%00",
    ] {
        let r = app.get(path, Some(&s.access)).await;
        assert!(r.status.is_client_error(), "{path}: {}", r.status);
        r.expect(r.status.as_u16());
    }
    let r = app.get("/v1/measurements?type=steps%00", Some(&s.access)).await;
    assert_422_naming(&r, &["type"], "query parameter");
    // A programme id with a NUL in the path names no programme.
    let r = app
        .call(
            Method::PUT,
            "/v1/admin/programmes/osaka%00",
            Some(&ops),
            Some(json!({"id": "osaka\u{0}", "title": "Osaka", "sponsor": "platform"})),
        )
        .await;
    assert!(r.status.is_client_error(), "{}", r.status);
    r.expect(r.status.as_u16());
}

fn from(addr: &str) -> std::net::SocketAddr {
    format!("{addr}:40000").parse().unwrap()
}

/// Sends `body` to `path` from `addr` (with `token`, if any) until the answer is 429, at most
/// `limit` times; returns how many were answered before that and the 429.
async fn until_throttled(
    app: &TestApp,
    addr: &str,
    path: &str,
    token: Option<&str>,
    body: impl Fn(usize) -> Value,
    limit: usize,
) -> (usize, Option<Resp>) {
    for i in 0..limit {
        let mut req = TestRequest::post().uri(path).peer_addr(from(addr)).set_json(body(i));
        if let Some(t) = token {
            req = req.insert_header(("authorization", format!("Bearer {t}")));
        }
        let r = app.send(req).await;
        if r.status.as_u16() == 429 {
            return (i, Some(r));
        }
        assert!(r.status.as_u16() < 500, "{path}: {}", String::from_utf8_lossy(&r.raw));
    }
    (limit, None)
}

#[track_caller]
fn assert_throttled(answered: usize, r: Option<Resp>, what: &str) {
    let r = r.unwrap_or_else(|| panic!("{what}: never throttled after {answered} attempts"));
    r.expect(429);
    let retry: u64 = r.headers.get("retry-after").unwrap().to_str().unwrap().parse().unwrap();
    assert!(retry >= 1, "{what}: retry-after {retry}");
    assert!(answered >= 1, "{what}: throttled at once");
}

async fn registration_is_throttled_per_client_address(app: TestApp) {
    app.register("taro@example.jp").await;
    // Probing which emails exist: every attempt answers 409 or 201 until the address is throttled.
    let probe = |i: usize| {
        json!({"email": if i.is_multiple_of(2) { "taro@example.jp".to_owned() } else { format!("probe{i}@example.jp") },
               "password": PASSWORD, "birth_date": "1980-04-01", "sex": "male"})
    };
    let (answered, r) = until_throttled(&app, "192.0.2.10", "/v1/auth/register", None, probe, 60).await;
    assert_throttled(answered, r, "registration");
    assert!(answered < 60);
    // Another address still registers.
    let r = app
        .send(
            TestRequest::post()
                .uri("/v1/auth/register")
                .peer_addr(from("192.0.2.11"))
                .set_json(json!({"email": "hanako@example.jp", "password": PASSWORD, "birth_date": "1980-04-01", "sex": "female"})),
        )
        .await;
    r.expect(201);
}

async fn enrollment_code_guesses_are_throttled_per_client_address(app: TestApp) {
    let s = app.register("taro@example.jp").await;
    let guess = |i: usize| json!({"enrollment_code": format!("GUESS{i:04}")});
    let (answered, r) = until_throttled(&app, "192.0.2.20", "/v1/me/memberships", Some(&s.access), guess, 200).await;
    assert_throttled(answered, r, "enrollment codes");
    // The resident's other requests, and guesses from elsewhere, are not affected.
    app.get("/v1/me", Some(&s.access)).await.expect(200);
    let other = app
        .send(
            TestRequest::post()
                .uri("/v1/me/memberships")
                .peer_addr(from("192.0.2.21"))
                .insert_header(("authorization", format!("Bearer {}", s.access)))
                .set_json(guess(0)),
        )
        .await;
    other.expect(422);
}

async fn event_check_in_guesses_are_throttled_per_client_address(app: TestApp) {
    let s = app.register("taro@example.jp").await;
    let guess = |i: usize| json!({"code": format!("EV{i:06}")});
    let (answered, r) = until_throttled(&app, "192.0.2.30", "/v1/events/check-in", Some(&s.access), guess, 200).await;
    assert_throttled(answered, r, "event check-ins");
}

async fn pairing_code_guesses_are_throttled_per_client_address(app: TestApp) {
    let guess = |i: usize| json!({"code": format!("PC{i:06}"), "device_name": "Pod"});
    let (answered, r) = until_throttled(&app, "192.0.2.40", "/v1/pairing/claim", None, guess, 200).await;
    assert_throttled(answered, r, "pairing claims");
}

async fn failed_logins_from_one_address_do_not_lock_the_owner_out_from_another(app: TestApp) {
    app.register("taro@example.jp").await;
    let login = |addr: &str, password: &str| {
        TestRequest::post()
            .uri("/v1/auth/login")
            .peer_addr(from(addr))
            .set_json(json!({"email": "taro@example.jp", "password": password}))
    };
    // Someone guesses from one address until throttled there.
    let mut throttled = false;
    for _ in 0..20 {
        let r = app.send(login("198.51.100.66", "guess guess guess")).await;
        if r.status.as_u16() == 429 {
            throttled = true;
            break;
        }
        r.expect(401);
    }
    assert!(throttled, "guessing from one address is throttled");
    app.send(login("198.51.100.66", PASSWORD)).await.expect(429);
    // The owner, elsewhere, signs in.
    let r = app.send(login("203.0.113.5", PASSWORD)).await;
    r.expect(200);
}

/// A resident probing operator routes with half-written or empty bodies is refused as a resident
/// (403) before the body is read: the answer must not teach them what the route would accept.
async fn a_resident_learns_nothing_of_an_operator_routes_body_only_that_it_is_refused(app: TestApp) {
    let s = app.register("taro@example.jp").await;
    let id = uuid::Uuid::now_v7();
    let routes: Vec<(Method, String)> = vec![
        (Method::POST, "/v1/admin/apps".to_owned()),
        (Method::POST, "/v1/admin/events".to_owned()),
        (Method::PUT, format!("/v1/admin/events/{id}")),
        (Method::POST, "/v1/admin/reward-rules".to_owned()),
        (Method::PUT, format!("/v1/admin/reward-rules/{id}")),
        (Method::POST, "/v1/admin/programmes".to_owned()),
        (Method::PUT, "/v1/admin/programmes/osaka".to_owned()),
        (Method::PUT, format!("/v1/admin/organizations/{id}/privacy")),
        (Method::POST, "/v1/admin/lotteries".to_owned()),
        (Method::PUT, format!("/v1/admin/lotteries/{id}")),
        (Method::POST, format!("/v1/admin/lotteries/{id}/draw")),
        (Method::POST, "/v1/admin/organizations".to_owned()),
        (Method::PUT, format!("/v1/admin/organizations/{id}")),
        (Method::POST, format!("/v1/admin/organizations/{id}/staff")),
    ];
    for (method, path) in routes {
        for body in [&b"{\"title\":"[..], b"{}", b"[]"] {
            let r = app
                .send(
                    TestRequest::default()
                        .method(method.clone())
                        .uri(&path)
                        .insert_header(("authorization", format!("Bearer {}", s.access)))
                        .insert_header(("content-type", "application/json"))
                        .set_payload(body.to_vec()),
                )
                .await;
            assert_eq!(
                r.status.as_u16(),
                403,
                "{method} {path} with {:?}: {}",
                String::from_utf8_lossy(body),
                r.status
            );
            r.expect(403);
        }
    }
}
