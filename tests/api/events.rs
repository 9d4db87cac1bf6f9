//! Events: check-in codes that pay once per event within its window.

use std::collections::HashSet;

use actix_web::http::Method;
use chrono::{Duration, Utc};
use diesel::prelude::*;
use serde_json::{Value, json};

use karada::db::Id;
use karada::db::schema::{events, points_ledger, programmes};

use crate::both_backends;
use crate::common::{Resp, Session, TestApp, assert_problem, from_now};
use crate::common::{admin, balance};

both_backends!(
    checking_in_pays_the_events_points_once,
    a_code_typed_in_lower_case_with_dashes_and_spaces_checks_in,
    concurrent_check_ins_pay_once,
    check_in_is_refused_before_and_after_the_event,
    an_unknown_code_is_not_found,
    event_points_are_paid_in_full_beyond_the_daily_cap,
    a_check_in_ledger_entry_names_the_event,
    events_are_validated_field_by_field_and_nothing_is_created,
    residents_cannot_manage_events,
    an_operator_changes_and_deletes_an_event_without_touching_what_was_paid,
);

const WALK: &str = "Osaka Castle morning walk";

async fn ledger(app: &TestApp, s: &Session) -> Vec<Value> {
    let r = app.get("/v1/points/ledger?limit=500", Some(&s.access)).await;
    r.expect(200);
    r.body["items"].as_array().unwrap().clone()
}

/// Creates an event open from `start` to `end` (relative to now); returns its view.
async fn create_event(app: &TestApp, ops: &str, title: &str, points: i64, start: Duration, end: Duration) -> Value {
    let r = app
        .post(
            "/v1/admin/events",
            Some(ops),
            json!({"programme": "osaka", "title": title, "points": points,
                   "starts_at": from_now(start), "ends_at": from_now(end)}),
        )
        .await;
    r.expect(201);
    r.body.clone()
}

/// An event open now, for an hour either side.
async fn open_event(app: &TestApp, ops: &str, points: i64) -> Value {
    create_event(app, ops, WALK, points, -Duration::hours(1), Duration::hours(1)).await
}

async fn check_in(app: &TestApp, s: &Session, code: &str) -> Resp {
    app.post("/v1/events/check-in", Some(&s.access), json!({ "code": code }))
        .await
}

async fn checking_in_pays_the_events_points_once(app: TestApp) {
    let ops = admin(&app).await;
    let event = open_event(&app, &ops, 15).await;
    let code = event["code"].as_str().unwrap();
    assert_eq!(code.chars().count(), 8);
    assert_eq!(event["points"], 15);
    assert_eq!(event["programme"], "osaka");
    assert_eq!(event["title"], WALK);
    let s = app.register("taro@example.jp").await;

    let r = check_in(&app, &s, code).await;
    r.expect(201);
    assert_eq!(r.body["event_id"], event["id"]);
    assert_eq!(r.body["title"], WALK);
    assert_eq!(r.body["programme"], "osaka");
    assert_eq!(r.body["points"], 15);
    assert_eq!(r.body["already_checked_in"], false);
    let today = Utc::now().with_timezone(&chrono_tz::Asia::Tokyo).date_naive();
    assert_eq!(r.body["local_date"], today.to_string(), "the resident's day in Tokyo");
    let entry = r.body["ledger_entry_id"].clone();
    assert!(entry.is_string());
    assert_eq!(balance(&app, &s).await, 15);

    // Again: the same check-in, nothing paid.
    for _ in 0..2 {
        let again = check_in(&app, &s, code).await;
        again.expect(200);
        assert_eq!(again.body["already_checked_in"], true);
        assert_eq!(again.body["ledger_entry_id"], entry);
        assert_eq!(again.body["points"], 15);
        assert_eq!(again.body["local_date"], r.body["local_date"]);
        assert_eq!(balance(&app, &s).await, 15);
    }
    assert_eq!(ledger(&app, &s).await.len(), 1);

    // Each resident is paid once for it.
    let hanako = app.register("hanako@example.jp").await;
    let r = check_in(&app, &hanako, code).await;
    r.expect(201);
    assert_ne!(r.body["ledger_entry_id"], entry);
    assert_eq!(balance(&app, &hanako).await, 15);
    assert_eq!(balance(&app, &s).await, 15);

    // Another event pays on its own.
    let other = create_event(&app, &ops, "Health fair", 7, -Duration::minutes(5), Duration::days(2)).await;
    check_in(&app, &s, other["code"].as_str().unwrap()).await.expect(201);
    assert_eq!(balance(&app, &s).await, 22);
}

async fn a_code_typed_in_lower_case_with_dashes_and_spaces_checks_in(app: TestApp) {
    let ops = admin(&app).await;
    let event = open_event(&app, &ops, 3).await;
    let code = event["code"].as_str().unwrap().to_owned();
    let lower = code.to_lowercase();
    let dashed = format!("{}-{}", &lower[..4], &lower[4..]);
    let spaced = format!(" {} {} - {} ", &lower[..2], &lower[2..5], &lower[5..]);

    let s = app.register("taro@example.jp").await;
    let r = check_in(&app, &s, &dashed).await;
    r.expect(201);
    assert_eq!(r.body["event_id"], event["id"]);
    let again = check_in(&app, &s, &spaced).await;
    again.expect(200);
    assert_eq!(again.body["already_checked_in"], true);
    assert_eq!(again.body["ledger_entry_id"], r.body["ledger_entry_id"]);
    let exact = check_in(&app, &s, &code).await;
    exact.expect(200);
    assert_eq!(exact.body["ledger_entry_id"], r.body["ledger_entry_id"]);
    assert_eq!(balance(&app, &s).await, 3);

    let hanako = app.register("hanako@example.jp").await;
    check_in(&app, &hanako, &spaced).await.expect(201);
    assert_eq!(balance(&app, &hanako).await, 3);
}

async fn concurrent_check_ins_pay_once(app: TestApp) {
    let ops = admin(&app).await;
    let event = open_event(&app, &ops, 10).await;
    let code = event["code"].as_str().unwrap().to_owned();
    let s = app.register("taro@example.jp").await;
    let results = futures_util::future::join_all((0..5).map(|_| check_in(&app, &s, &code))).await;
    let statuses: Vec<u16> = results.iter().map(|r| r.status.as_u16()).collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        1,
        "exactly one pays: {statuses:?} {:?}",
        results.iter().map(|r| r.body.clone()).collect::<Vec<_>>()
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        4,
        "the rest see the first: {statuses:?} {:?}",
        results.iter().map(|r| r.body.clone()).collect::<Vec<_>>()
    );
    let entries: HashSet<String> = results
        .iter()
        .map(|r| r.body["ledger_entry_id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(entries.len(), 1, "one ledger entry for all of them");
    for r in &results {
        assert_eq!(r.body["already_checked_in"], r.status.as_u16() == 200);
    }
    assert_eq!(balance(&app, &s).await, 10);
    assert_eq!(ledger(&app, &s).await.len(), 1);
}

async fn check_in_is_refused_before_and_after_the_event(app: TestApp) {
    let ops = admin(&app).await;
    let s = app.register("taro@example.jp").await;
    let early = create_event(&app, &ops, "Tomorrow's walk", 5, Duration::hours(1), Duration::hours(3)).await;
    let late = create_event(
        &app,
        &ops,
        "Yesterday's walk",
        5,
        -Duration::hours(30),
        -Duration::hours(26),
    )
    .await;
    let just_ended = create_event(
        &app,
        &ops,
        "This morning's walk",
        5,
        -Duration::hours(2),
        -Duration::seconds(1),
    )
    .await;
    for event in [&early, &late, &just_ended] {
        let r = check_in(&app, &s, event["code"].as_str().unwrap()).await;
        assert_problem(&r, 409, "event-not-open");
    }
    assert_eq!(balance(&app, &s).await, 0);
    assert!(ledger(&app, &s).await.is_empty(), "nothing paid");
    let count: i64 = points_ledger::table.count().get_result(&mut app.db.conn()).unwrap();
    assert_eq!(count, 0);

    // A resident checked in during the event still gets their answer once it is over.
    let now_on = open_event(&app, &ops, 4).await;
    let first = check_in(&app, &s, now_on["code"].as_str().unwrap()).await;
    first.expect(201);
    diesel::update(events::table.find(Id(now_on["id"].as_str().unwrap().parse().unwrap())))
        .set(events::ends_at.eq(karada::db::Ts(Utc::now() - Duration::minutes(1))))
        .execute(&mut app.db.conn())
        .unwrap();
    let again = check_in(&app, &s, now_on["code"].as_str().unwrap()).await;
    again.expect(200);
    assert_eq!(again.body["ledger_entry_id"], first.body["ledger_entry_id"]);
    let hanako = app.register("hanako@example.jp").await;
    assert_problem(
        &check_in(&app, &hanako, now_on["code"].as_str().unwrap()).await,
        409,
        "event-not-open",
    );
    assert_eq!(balance(&app, &s).await, 4);
    assert_eq!(balance(&app, &hanako).await, 0);
}

async fn an_unknown_code_is_not_found(app: TestApp) {
    let ops = admin(&app).await;
    let event = open_event(&app, &ops, 5).await;
    let code = event["code"].as_str().unwrap();
    let s = app.register("taro@example.jp").await;
    // A code of the right shape that no event has: change one symbol.
    let last = code.chars().last().unwrap();
    let other = if last == '2' { '3' } else { '2' };
    let wrong = format!("{}{other}", &code[..7]);
    for typed in [wrong.as_str(), "ZZZZZZZZ", "0", "-", &code[..7]] {
        check_in(&app, &s, typed).await.expect(404);
    }
    app.post("/v1/events/check-in", Some(&s.access), json!({"code": 12345678}))
        .await
        .expect(400);
    app.post("/v1/events/check-in", Some(&s.access), json!({}))
        .await
        .expect(400);
    app.post(
        "/v1/events/check-in",
        Some(&s.access),
        json!({"code": code, "at": "now"}),
    )
    .await
    .expect(400);
    app.post("/v1/events/check-in", None, json!({ "code": code }))
        .await
        .expect(401);
    assert_eq!(balance(&app, &s).await, 0);
    check_in(&app, &s, code).await.expect(201);
}

async fn event_points_are_paid_in_full_beyond_the_daily_cap(app: TestApp) {
    diesel::update(programmes::table.find("osaka"))
        .set(programmes::daily_cap.eq(Some(5)))
        .execute(&mut app.db.conn())
        .unwrap();
    let ops = admin(&app).await;
    let s = app.register("taro@example.jp").await;
    // The day is already full from steps (counted by a sensed pedometer app).
    let device = crate::common::sensed_token(&app, &s, "Pedometer", &["measurements:write"]).await;
    let today = Utc::now().with_timezone(&chrono_tz::Asia::Tokyo).date_naive();
    app.post(
        "/v1/measurements",
        Some(&device),
        json!({"type": "steps", "effective_at": format!("{today}T00:30:00+09:00"), "values": {"count": 12000}}),
    )
    .await
    .expect(201);
    assert_eq!(balance(&app, &s).await, 5);
    let big = open_event(&app, &ops, 50).await;
    let r = check_in(&app, &s, big["code"].as_str().unwrap()).await;
    r.expect(201);
    assert_eq!(r.body["points"], 50, "the event's points in full");
    assert_eq!(balance(&app, &s).await, 55);

    // With the default cap of 20, a 1,000-point event pays 1,000 too.
    diesel::update(programmes::table.find("osaka"))
        .set(programmes::daily_cap.eq(Some(20)))
        .execute(&mut app.db.conn())
        .unwrap();
    let huge = create_event(&app, &ops, "Marathon", 1000, -Duration::hours(1), Duration::hours(1)).await;
    check_in(&app, &s, huge["code"].as_str().unwrap()).await.expect(201);
    assert_eq!(balance(&app, &s).await, 1055);
}

async fn a_check_in_ledger_entry_names_the_event(app: TestApp) {
    let ops = admin(&app).await;
    let event = open_event(&app, &ops, 12).await;
    let s = app.register("taro@example.jp").await;
    let r = check_in(&app, &s, event["code"].as_str().unwrap()).await;
    r.expect(201);
    let items = ledger(&app, &s).await;
    assert_eq!(items.len(), 1);
    let e = &items[0];
    assert_eq!(e["id"], r.body["ledger_entry_id"]);
    assert_eq!(e["title"], WALK);
    assert_eq!(e["delta"], 12);
    assert_eq!(e["programme"], "osaka");
    assert!(e["rule_id"].is_null(), "{e}");
    assert!(e["measurement_id"].is_null(), "{e}");
    assert_eq!(e["local_date"], r.body["local_date"]);
    let points = app.get("/v1/points", Some(&s.access)).await;
    assert_eq!(points.body["items"][0]["lifetime_earned"], 12);
    assert_eq!(points.body["items"][0]["today_earned"], 12);
}

async fn events_are_validated_field_by_field_and_nothing_is_created(app: TestApp) {
    let ops = admin(&app).await;
    let post = |body: Value| app.post("/v1/admin/events", Some(&ops), body);
    let start = Utc::now() + Duration::days(1);
    let at = |d: Duration| (start + d).to_rfc3339();
    let valid = || {
        json!({"programme": "osaka", "title": WALK, "points": 10,
               "starts_at": at(Duration::zero()), "ends_at": at(Duration::hours(2))})
    };

    let r = post(json!({"programme": "nowhere", "title": " ", "points": 0,
                        "starts_at": at(Duration::zero()), "ends_at": at(-Duration::hours(1))}))
    .await;
    r.expect(422);
    let mut fields = r.error_fields();
    fields.sort();
    assert_eq!(fields, vec!["ends_at", "points", "programme", "title"]);

    let cases: Vec<(&str, Value, &str)> = vec![
        ("programme", json!("nowhere"), "programme"),
        ("title", json!(""), "title"),
        ("title", json!("   "), "title"),
        ("title", json!("x".repeat(201)), "title"),
        ("points", json!(0), "points"),
        ("points", json!(-3), "points"),
        ("points", json!(1001), "points"),
        ("ends_at", json!(at(Duration::zero())), "ends_at"),
        ("ends_at", json!(at(-Duration::minutes(1))), "ends_at"),
        ("ends_at", json!(at(Duration::days(400))), "ends_at"),
    ];
    for (field, value, expected) in cases {
        let mut body = valid();
        body[field] = value.clone();
        let r = post(body).await;
        r.expect(422);
        assert_eq!(r.error_fields(), vec![expected], "{field} = {value}");
    }

    let shapes: Vec<Value> = vec![
        {
            let mut b = valid();
            b["code"] = json!("MYCODE12");
            b
        },
        {
            let mut b = valid();
            b["points"] = json!("10");
            b
        },
        {
            let mut b = valid();
            b["points"] = json!(2.5);
            b
        },
        {
            let mut b = valid();
            b["starts_at"] = json!("tomorrow morning");
            b
        },
        {
            let mut b = valid();
            b["ends_at"] = json!(null);
            b
        },
        {
            let mut b = valid();
            b.as_object_mut().unwrap().remove("title");
            b
        },
    ];
    for body in shapes {
        post(body.clone()).await.expect(400);
    }

    let listed = app.get("/v1/admin/events", Some(&ops)).await;
    listed.expect(200);
    assert_eq!(listed.body["items"], json!([]), "nothing was created");
    let count: i64 = events::table.count().get_result(&mut app.db.conn()).unwrap();
    assert_eq!(count, 0);

    // The limits themselves are allowed, as is an event entirely in the past; titles are trimmed.
    let mut body = valid();
    body["title"] = json!(format!(" {} ", "あ".repeat(200)));
    body["points"] = json!(1000);
    body["ends_at"] = json!(at(Duration::days(365)));
    let r = post(body).await;
    r.expect(201);
    assert_eq!(r.body["title"], "あ".repeat(200));
    let mut body = valid();
    body["points"] = json!(1);
    body["starts_at"] = json!(from_now(-Duration::days(3)));
    body["ends_at"] = json!(from_now(-Duration::days(2)));
    post(body).await.expect(201);
    let third = open_event(&app, &ops, 5).await;

    // Listed, paged, with their codes, all different.
    let p1 = app.get("/v1/admin/events?limit=2", Some(&ops)).await;
    p1.expect(200);
    assert_eq!(p1.body["items"].as_array().unwrap().len(), 2);
    let cursor = p1.body["next_cursor"].as_str().unwrap();
    let p2 = app
        .get(&format!("/v1/admin/events?limit=2&cursor={cursor}"), Some(&ops))
        .await;
    p2.expect(200);
    assert!(p2.body["next_cursor"].is_null());
    let all: Vec<Value> = p1.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .chain(p2.body["items"].as_array().unwrap())
        .cloned()
        .collect();
    assert_eq!(all.len(), 3);
    let codes: HashSet<_> = all.iter().map(|e| e["code"].as_str().unwrap().to_owned()).collect();
    assert_eq!(codes.len(), 3);
    assert!(all.iter().any(|e| e["id"] == third["id"] && e["code"] == third["code"]));
}

async fn residents_cannot_manage_events(app: TestApp) {
    let ops = admin(&app).await;
    let s = app.register("taro@example.jp").await;
    let body = json!({"programme": "osaka", "title": "My party", "points": 1000,
                      "starts_at": from_now(-Duration::hours(1)), "ends_at": from_now(Duration::hours(1))});
    app.post("/v1/admin/events", Some(&s.access), body.clone())
        .await
        .expect(403);
    app.get("/v1/admin/events", Some(&s.access)).await.expect(403);
    app.post("/v1/admin/events", None, body.clone()).await.expect(401);
    app.call(Method::GET, "/v1/admin/events", None, None).await.expect(401);
    let count: i64 = events::table.count().get_result(&mut app.db.conn()).unwrap();
    assert_eq!(count, 0, "nothing was created");
    let listed = app.get("/v1/admin/events", Some(&ops)).await;
    listed.expect(200);
    assert_eq!(listed.body["items"], json!([]));
    // An app token cannot check in either: that needs a login session.
    let t = app
        .post(
            "/v1/me/app-tokens",
            Some(&s.access),
            json!({"name": "x", "scopes": ["measurements:read", "points:read"]}),
        )
        .await;
    t.expect(201);
    let token = t.body["token"].as_str().unwrap();
    let event = open_event(&app, &ops, 5).await;
    app.post("/v1/events/check-in", Some(token), json!({"code": event["code"]}))
        .await
        .expect(403);
    assert_eq!(balance(&app, &s).await, 0);
}

async fn an_operator_changes_and_deletes_an_event_without_touching_what_was_paid(app: TestApp) {
    let ops = admin(&app).await;
    let event = open_event(&app, &ops, 10).await;
    let id = event["id"].as_str().unwrap().to_owned();
    let code = event["code"].as_str().unwrap().to_owned();
    let taro = app.register("taro@example.jp").await;
    check_in(&app, &taro, &code).await.expect(201);

    let path = format!("/v1/admin/events/{id}");
    let got = app.get(&path, Some(&ops)).await;
    got.expect(200);
    assert_eq!(got.body["code"], code.as_str());
    let body = json!({"programme": "osaka", "title": "Castle walk (longer)", "points": 20,
                      "starts_at": from_now(-Duration::hours(1)), "ends_at": from_now(Duration::hours(3))});
    let r = app.call(Method::PUT, &path, Some(&ops), Some(body.clone())).await;
    r.expect(200);
    assert_eq!(r.body["code"], code.as_str(), "the code stays");
    assert_eq!(r.body["points"], 20);
    let hanako = app.register("hanako@example.jp").await;
    check_in(&app, &hanako, &code).await.expect(201);
    assert_eq!(balance(&app, &hanako).await, 20);
    assert_eq!(balance(&app, &taro).await, 10, "what was paid keeps its points");

    let mut bad = body.clone();
    bad["points"] = json!(0);
    let r = app.call(Method::PUT, &path, Some(&ops), Some(bad)).await;
    r.expect(422);
    assert_eq!(r.error_fields(), vec!["points"]);
    let unknown = format!("/v1/admin/events/{}", uuid::Uuid::now_v7());
    app.call(Method::PUT, &unknown, Some(&ops), Some(body))
        .await
        .expect(404);
    app.get(&unknown, Some(&ops)).await.expect(404);

    app.call(Method::DELETE, &path, Some(&ops), None).await.expect(204);
    app.call(Method::DELETE, &path, Some(&ops), None).await.expect(404);
    app.get(&path, Some(&ops)).await.expect(404);
    let jiro = app.register("jiro@example.jp").await;
    check_in(&app, &jiro, &code).await.expect(404);
    assert_eq!(balance(&app, &taro).await, 10, "check-ins already paid stay");
    assert_eq!(ledger(&app, &taro).await[0]["title"], WALK);
}
