//! Health points: awards in the ingest transaction, idempotent keys, caps, and the read routes.

use actix_web::http::Method;
use diesel::prelude::*;
use serde_json::{Value, json};

use karada::db::schema::{points_balances, points_ledger, programmes};
use karada::db::{LedgerEntryId, RuleId, UserId};

use crate::both_backends;
use crate::common::{STEPS_RULE, Session, TestApp, WEIGHT_RULE, admin, balance, day, steps, weight};

both_backends!(
    step_tiers_pay_once_per_day_however_the_day_is_reuploaded,
    weighing_pays_once_per_local_day,
    deleting_a_measurement_keeps_its_points_and_reuploading_pays_nothing,
    a_first_vascular_age_pays_once_and_only_when_sensed,
    checkups_pay_up_to_their_yearly_cap,
    residents_65_and_over_earn_on_lower_step_tiers,
    the_programmes_daily_cap_limits_a_days_points,
    two_devices_uploading_the_same_day_at_once_never_double_pay,
    a_batch_awards_each_day_in_the_same_transaction,
    reward_rules_list_what_the_caller_can_earn,
    the_ledger_is_paged_newest_first_and_scoped,
    an_operator_adds_a_rule_that_pays_from_the_next_upload,
    changing_a_rule_in_place_never_pays_a_day_twice,
    retiring_a_rule_stops_it_paying_and_keeps_what_it_paid,
    rule_definitions_are_validated_field_by_field,
    entries_keyed_before_day_keys_are_moved_and_still_count,
    the_ledger_names_only_rules_and_balances_that_exist,
);

const FIRST_RULE: &str = "01a20000-0000-7000-8000-000000000007";

/// A resident whose account is a month old (points never pay for days before an account
/// existed), with the token of a registered pedometer app that uploads their data as `sensed`
/// (the default step tiers pay sensed steps only).
pub(crate) async fn resident(app: &TestApp, email: &str) -> (Session, String) {
    let s = app.register(email).await;
    crate::common::backdate_account(app, &s, 30);
    let device = crate::common::sensed_token(app, &s, "Pedometer", &["measurements:write"]).await;
    (s, device)
}

async fn step_tiers_pay_once_per_day_however_the_day_is_reuploaded(app: TestApp) {
    let (s, device) = resident(&app, "taro@example.jp").await;
    assert_eq!(app.upload(&device, steps(day(3), 12, 6500)).await.code(), 201);
    assert_eq!(balance(&app, &s).await, 3, "2,000, 4,000 and 6,000 crossed");
    // A later upload for the day replaces the total: only the newly crossed tier pays.
    assert_eq!(app.upload(&device, steps(day(3), 20, 9000)).await.code(), 201);
    assert_eq!(balance(&app, &s).await, 4);
    // The same upload again, and an older one with more steps: nothing.
    app.upload(&device, steps(day(3), 20, 9000)).await.code();
    assert_eq!(app.upload(&device, steps(day(3), 18, 12000)).await.code(), 200);
    assert_eq!(balance(&app, &s).await, 4);
    // Another day pays its own tiers.
    app.upload(&device, steps(day(2), 20, 2500)).await.code();
    assert_eq!(balance(&app, &s).await, 5);
}

async fn weighing_pays_once_per_local_day(app: TestApp) {
    let (s, _) = resident(&app, "taro@example.jp").await;
    app.upload(&s.access, weight(day(3), 7, 61.0)).await.code();
    app.upload(&s.access, weight(day(3), 21, 61.4)).await.code();
    assert_eq!(balance(&app, &s).await, 1);
    app.upload(&s.access, weight(day(2), 7, 61.2)).await.code();
    assert_eq!(balance(&app, &s).await, 2);
    // 23:30 UTC on the first day is 08:30 on the next in Tokyo: already paid that day.
    app.upload(
        &s.access,
        json!({"type": "body_weight", "effective_at": format!("{}T23:30:00Z", day(3)), "values": {"kg": 61.0}}),
    )
    .await
    .code();
    assert_eq!(balance(&app, &s).await, 2);
}

async fn deleting_a_measurement_keeps_its_points_and_reuploading_pays_nothing(app: TestApp) {
    let (s, _) = resident(&app, "taro@example.jp").await;
    let r = app
        .post("/v1/measurements", Some(&s.access), weight(day(3), 7, 61.0))
        .await;
    let id = r.body["id"].as_str().unwrap().to_owned();
    assert_eq!(balance(&app, &s).await, 1);
    app.call(Method::DELETE, &format!("/v1/measurements/{id}"), Some(&s.access), None)
        .await
        .expect(204);
    assert_eq!(balance(&app, &s).await, 1);
    app.upload(&s.access, weight(day(3), 8, 61.0)).await.code();
    assert_eq!(balance(&app, &s).await, 1);
}

async fn a_first_vascular_age_pays_once_and_only_when_sensed(app: TestApp) {
    let (s, _) = resident(&app, "taro@example.jp").await;
    let pod = crate::common::register_app(&app, "Karada pod", "kiosk", &["measurements:write"], "sensed");
    let v = |day: String| json!({"type": "vascular_age", "effective_at": format!("{day}T10:00:00+09:00"), "values": {"vascular_age_years": 50}});
    // Typed in by the resident: the rule is sensed-only.
    app.upload(&s.access, v(day(6))).await.code();
    assert_eq!(balance(&app, &s).await, 0);
    let code = app
        .call(Method::POST, "/v1/me/pairing-codes", Some(&s.access), None)
        .await
        .body["code"]
        .as_str()
        .unwrap()
        .to_owned();
    // A registered kiosk claims the resident's code with its credentials.
    let kiosk = app
        .send(
            actix_web::test::TestRequest::post()
                .uri("/v1/pairing/claim")
                .insert_header(("authorization", pod.basic()))
                .set_json(json!({"code": code, "device_name": "Pod"})),
        )
        .await
        .body["token"]
        .as_str()
        .unwrap()
        .to_owned();
    app.upload(&kiosk, v(day(5))).await.code();
    assert_eq!(balance(&app, &s).await, 3);
    app.upload(&kiosk, v(day(3))).await.code();
    assert_eq!(balance(&app, &s).await, 3);
}

fn checkup(kind: &str, date: &str) -> Value {
    json!({"type": "health_checkup", "effective_at": format!("{date}T09:00:00+09:00"),
           "values": {"kind": kind, "checkup_date": date}})
}

async fn checkups_pay_up_to_their_yearly_cap(app: TestApp) {
    let (s, _) = resident(&app, "taro@example.jp").await;
    // Checkups pay within 365 days of being taken, and only from the day their rule took effect:
    // the default rules are made older than any date here.
    crate::common::backdate_rules(&app, "osaka", 800);
    let today = crate::common::tokyo_day(0);
    let new_year = chrono::NaiveDate::from_ymd_opt(chrono::Datelike::year(&today), 1, 1).unwrap();
    // The oldest day that still pays; in the previous calendar year on every day but the last of
    // a leap year (whose 365-day window holds that year alone).
    let a_year_ago = crate::common::tokyo_day(365);
    app.upload(&s.access, checkup("specific_health_checkup", &today.to_string()))
        .await
        .code();
    assert_eq!(balance(&app, &s).await, 10);
    app.upload(&s.access, checkup("specific_health_checkup", &new_year.to_string()))
        .await
        .code();
    assert_eq!(balance(&app, &s).await, 10, "one specific checkup a year");
    app.upload(&s.access, checkup("specific_health_checkup", &a_year_ago.to_string()))
        .await
        .code();
    let another_year = chrono::Datelike::year(&a_year_ago) != chrono::Datelike::year(&today);
    assert_eq!(
        balance(&app, &s).await,
        if another_year { 20 } else { 10 },
        "another year"
    );
    let paid = balance(&app, &s).await;
    app.upload(&s.access, checkup("cancer_screening", &today.to_string()))
        .await
        .code();
    assert_eq!(balance(&app, &s).await, paid + 5);
    app.upload(&s.access, checkup("dental_checkup", &today.to_string()))
        .await
        .code();
    assert_eq!(balance(&app, &s).await, paid + 5, "no default rule for dental checkups");
}

async fn residents_65_and_over_earn_on_lower_step_tiers(app: TestApp) {
    let r = app
        .post(
            "/v1/auth/register",
            None,
            json!({"email": "hana@example.jp", "password": crate::common::PASSWORD, "birth_date": "1950-01-01", "sex": "female"}),
        )
        .await;
    r.expect(201);
    let s = Session {
        user_id: r.body["user"]["id"].as_str().unwrap().to_owned(),
        access: r.body["access_token"].as_str().unwrap().to_owned(),
        refresh: String::new(),
    };
    crate::common::backdate_account(&app, &s, 30);
    let device = crate::common::sensed_token(&app, &s, "Pedometer", &["measurements:write"]).await;
    app.upload(&device, steps(day(3), 20, 1500)).await.code();
    assert_eq!(balance(&app, &s).await, 1, "the 1,000-step tier from 65");
    app.upload(&device, steps(day(2), 20, 8000)).await.code();
    assert_eq!(balance(&app, &s).await, 6);
    // The under-65 rule did not pay as well.
    let entries = app.get("/v1/points/ledger", Some(&s.access)).await;
    assert!(
        entries.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["title"] == "Daily steps (65 and over)")
    );
}

async fn the_programmes_daily_cap_limits_a_days_points(app: TestApp) {
    diesel::update(programmes::table.find("osaka"))
        .set(programmes::daily_cap.eq(Some(4)))
        .execute(&mut app.db.conn())
        .unwrap();
    let (s, device) = resident(&app, "taro@example.jp").await;
    app.upload(&device, steps(day(3), 20, 10000)).await.code();
    assert_eq!(balance(&app, &s).await, 4, "five tiers crossed, four points allowed");
    app.upload(&device, weight(day(3), 21, 60.0)).await.code();
    assert_eq!(balance(&app, &s).await, 4, "the day is full");
    app.upload(&device, weight(day(2), 7, 60.0)).await.code();
    assert_eq!(balance(&app, &s).await, 5);
    // The tier the cap left no room for is still open: with the cap raised the same day, a later
    // upload of that day pays it, and only it.
    diesel::update(programmes::table.find("osaka"))
        .set(programmes::daily_cap.eq(Some(20)))
        .execute(&mut app.db.conn())
        .unwrap();
    app.upload(&device, steps(day(3), 21, 10100)).await.code();
    assert_eq!(balance(&app, &s).await, 6, "the 10,000 tier, once the cap allows it");
    app.upload(&device, steps(day(3), 22, 10200)).await.code();
    assert_eq!(balance(&app, &s).await, 6);
}

async fn two_devices_uploading_the_same_day_at_once_never_double_pay(app: TestApp) {
    let (s, device) = resident(&app, "taro@example.jp").await;
    let bodies: Vec<Value> = (0..6)
        .map(|i| {
            let mut b = steps(day(3), 20, 10000);
            b["source"] = json!(format!("device-{}", i % 2));
            b
        })
        .collect();
    let results = futures_util::future::join_all(
        bodies
            .into_iter()
            .map(|b| app.post("/v1/measurements", Some(&device), b)),
    )
    .await;
    assert!(
        results.iter().all(|r| matches!(r.status.as_u16(), 200 | 201)),
        "{results:?}"
    );
    assert_eq!(
        balance(&app, &s).await,
        5,
        "each tier once per day, whatever the source"
    );
}

async fn a_batch_awards_each_day_in_the_same_transaction(app: TestApp) {
    let (s, device) = resident(&app, "taro@example.jp").await;
    let items = vec![
        steps(day(5), 20, 4100),
        steps(day(4), 20, 2100),
        weight(day(4), 7, 60.0),
        steps(day(4), 21, 6100),
    ];
    let r = app
        .post("/v1/measurements/batch", Some(&device), json!({ "items": items }))
        .await;
    r.expect(200);
    assert_eq!(balance(&app, &s).await, 2 + 3 + 1);
    // Replaying the whole batch pays nothing more.
    app.post("/v1/measurements/batch", Some(&device), json!({ "items": items }))
        .await
        .expect(200);
    assert_eq!(balance(&app, &s).await, 6);
}

async fn reward_rules_list_what_the_caller_can_earn(app: TestApp) {
    let s = app.register("taro@example.jp").await;
    let r = app.get("/v1/reward-rules", Some(&s.access)).await;
    r.expect(200);
    let items = r.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 7, "the 65-and-over steps rule is not for a 46-year-old");
    let goal = items.iter().find(|i| i["kind"] == "programme_goal").unwrap();
    assert_eq!(goal["points"], 2, "the weekly programme's goals pay");
    let steps = items.iter().find(|i| i["kind"] == "daily_steps").unwrap();
    assert_eq!(steps["programme"], "osaka");
    assert_eq!(steps["tiers"].as_array().unwrap().len(), 5);
    assert_eq!(steps["tiers"][0], json!({"min_steps": 2000, "points": 1}));
    let checkup = items
        .iter()
        .find(|i| i["checkup_kind"] == "specific_health_checkup")
        .unwrap();
    assert_eq!(checkup["points"], 10);
    assert_eq!(checkup["max_per_year"], 1);
}

async fn the_ledger_is_paged_newest_first_and_scoped(app: TestApp) {
    let (s, device) = resident(&app, "taro@example.jp").await;
    for d in (3..=7).rev() {
        app.upload(&device, steps(day(d), 20, 2500)).await.code();
    }
    let p1 = app
        .get("/v1/points/ledger?programme=osaka&limit=3", Some(&s.access))
        .await;
    p1.expect(200);
    let items = p1.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 3);
    assert_eq!(items[0]["delta"], 1);
    assert_eq!(items[0]["local_date"], day(3));
    assert!(items[0]["measurement_id"].is_string());
    let cursor = p1.body["next_cursor"].as_str().unwrap();
    let p2 = app
        .get(&format!("/v1/points/ledger?limit=3&cursor={cursor}"), Some(&s.access))
        .await;
    assert_eq!(p2.body["items"].as_array().unwrap().len(), 2);
    assert!(p2.body["next_cursor"].is_null());
    let ids: Vec<_> = items
        .iter()
        .chain(p2.body["items"].as_array().unwrap())
        .map(|e| e["id"].clone())
        .collect();
    let mut sorted = ids.clone();
    sorted.sort_by(|a, b| b.as_str().cmp(&a.as_str()));
    assert_eq!(ids, sorted, "newest first");
    app.get("/v1/points/ledger?programme=nowhere", Some(&s.access))
        .await
        .expect(404);
    app.get("/v1/points/ledger?limit=0", Some(&s.access)).await.expect(422);
    // Another resident sees none of it.
    let other = app.register("hanako@example.jp").await;
    let theirs = app.get("/v1/points/ledger", Some(&other.access)).await;
    assert_eq!(theirs.body["items"], json!([]));
    assert_eq!(balance(&app, &other).await, 0);
    // An app token needs points:read.
    let t = app
        .post(
            "/v1/me/app-tokens",
            Some(&s.access),
            json!({"name": "x", "scopes": ["measurements:read"]}),
        )
        .await;
    app.get("/v1/points", Some(t.body["token"].as_str().unwrap()))
        .await
        .expect(403);
}

async fn an_operator_adds_a_rule_that_pays_from_the_next_upload(app: TestApp) {
    let ops = admin(&app).await;
    let r = app
        .post(
            "/v1/admin/reward-rules",
            Some(&ops),
            json!({"programme": "osaka", "kind": "measurement_logged", "title": "Heart rate logged",
                   "measurement_type": "heart_rate", "points": 2, "max_per_day": 2}),
        )
        .await;
    r.expect(201);
    assert_eq!(r.body["kind"], "measurement_logged");
    assert_eq!(r.body["max_per_day"], 2);
    assert_eq!(r.body["sensed_only"], false);
    let listed = app.get("/v1/admin/reward-rules", Some(&ops)).await;
    assert_eq!(
        listed.body["items"].as_array().unwrap().len(),
        9,
        "eight seeded and the new one"
    );
    let (s, _) = resident(&app, "taro@example.jp").await;
    for h in [7, 8, 9] {
        let body = json!({"type": "heart_rate", "effective_at": format!("{}T{h:02}:00:00+09:00", day(0)), "values": {"bpm": 70}});
        app.upload(&s.access, body).await.code();
    }
    assert_eq!(balance(&app, &s).await, 4, "2 points, twice a day");
    // Residents cannot manage rules.
    app.get("/v1/admin/reward-rules", Some(&s.access)).await.expect(403);
}

async fn changing_a_rule_in_place_never_pays_a_day_twice(app: TestApp) {
    let ops = admin(&app).await;
    let (s, device) = resident(&app, "taro@example.jp").await;
    app.upload(&device, steps(day(3), 12, 6500)).await.code();
    assert_eq!(balance(&app, &s).await, 3);
    let r = app
        .call(
            Method::PUT,
            &format!("/v1/admin/reward-rules/{STEPS_RULE}"),
            Some(&ops),
            Some(
                json!({"programme": "osaka", "kind": "daily_steps", "title": "Daily steps, new tiers", "max_age": 64,
                        "tiers": [{"min_steps": 2000, "points": 1}, {"min_steps": 3000, "points": 1},
                                  {"min_steps": 4000, "points": 1}, {"min_steps": 6000, "points": 2},
                                  {"min_steps": 6500, "points": 1}]}),
            ),
        )
        .await;
    r.expect(200);
    assert_eq!(r.body["id"], STEPS_RULE);
    app.upload(&device, steps(day(3), 20, 6600)).await.code();
    assert_eq!(
        balance(&app, &s).await,
        4,
        "the day was paid up to 6,000 steps: only the new 6,500 tier pays, not the new 3,000 below it"
    );
    let ledger = app.get("/v1/points/ledger", Some(&s.access)).await;
    let titles: Vec<_> = ledger.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["title"].as_str().unwrap().to_owned(), e["delta"].as_i64().unwrap()))
        .collect();
    assert_eq!(
        titles,
        [("Daily steps, new tiers".to_owned(), 1), ("Daily steps".to_owned(), 3)],
        "paid entries keep their title and points"
    );
    app.upload(&device, steps(day(2), 20, 6600)).await.code();
    assert_eq!(balance(&app, &s).await, 4 + 6, "the new tiers on a new day");
    // Moved to another programme, the rule would pay the same days again there: refused.
    app.post(
        "/v1/admin/programmes",
        Some(&ops),
        json!({"id": "kobe-walk", "title": "Kobe walking points", "sponsor": "Kobe city"}),
    )
    .await
    .expect(201);
    let moved = app
        .call(
            Method::PUT,
            &format!("/v1/admin/reward-rules/{STEPS_RULE}"),
            Some(&ops),
            Some(
                json!({"programme": "kobe-walk", "kind": "daily_steps", "title": "Daily steps", "max_age": 64,
                        "tiers": [{"min_steps": 2000, "points": 1}]}),
            ),
        )
        .await;
    moved.expect(422);
    assert_eq!(moved.error_fields(), ["programme"]);
    app.upload(&device, steps(day(2), 21, 6700)).await.code();
    assert_eq!(balance(&app, &s).await, 4 + 6, "nothing moved, nothing paid again");
    app.call(Method::PUT, &format!("/v1/admin/reward-rules/{}", uuid::Uuid::now_v7()), Some(&ops),
        Some(json!({"programme": "osaka", "kind": "first_measurement", "title": "x", "measurement_type": "gait", "points": 1})))
        .await
        .expect(404);
}

async fn retiring_a_rule_stops_it_paying_and_keeps_what_it_paid(app: TestApp) {
    let ops = admin(&app).await;
    let (s, _) = resident(&app, "taro@example.jp").await;
    app.upload(&s.access, weight(day(3), 7, 60.0)).await.code();
    assert_eq!(balance(&app, &s).await, 1);
    app.call(
        Method::DELETE,
        &format!("/v1/admin/reward-rules/{WEIGHT_RULE}"),
        Some(&ops),
        None,
    )
    .await
    .expect(204);
    app.call(
        Method::DELETE,
        &format!("/v1/admin/reward-rules/{WEIGHT_RULE}"),
        Some(&ops),
        None,
    )
    .await
    .expect(404);
    app.upload(&s.access, weight(day(2), 7, 60.0)).await.code();
    assert_eq!(balance(&app, &s).await, 1);
    let rules = app.get("/v1/reward-rules", Some(&s.access)).await;
    assert!(
        rules.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["id"] != WEIGHT_RULE)
    );
}

async fn rule_definitions_are_validated_field_by_field(app: TestApp) {
    let ops = admin(&app).await;
    let post = |body: Value| app.post("/v1/admin/reward-rules", Some(&ops), body);
    let r = post(json!({"programme": "nowhere", "kind": "daily_steps", "title": "",
                        "tiers": [{"min_steps": 5000, "points": 1}, {"min_steps": 4000, "points": 0}],
                        "min_age": 70, "max_age": 60, "active_from": "2026-12-01", "active_to": "2026-11-01"}))
    .await;
    r.expect(422);
    let mut f = r.error_fields();
    f.sort();
    assert_eq!(
        f,
        vec![
            "active_to",
            "max_age",
            "programme",
            "tiers[1].min_steps",
            "tiers[1].points",
            "title"
        ]
    );
    let r = post(
        json!({"programme": "osaka", "kind": "health_checkup", "title": "x", "checkup_kind": "spa",
                        "points": 0, "max_per_year": 50}),
    )
    .await;
    r.expect(422);
    let mut f = r.error_fields();
    f.sort();
    assert_eq!(f, vec!["checkup_kind", "max_per_year", "points"]);
    let r = post(
        json!({"programme": "osaka", "kind": "measurement_logged", "title": "x", "measurement_type": "mood",
                        "points": 1, "max_per_day": 0}),
    )
    .await;
    r.expect(422);
    assert_eq!(r.error_fields().len(), 2);
    // Not even the right shape: an unknown kind, a missing field, an unknown field.
    post(json!({"programme": "osaka", "kind": "teleport", "title": "x"}))
        .await
        .expect(400);
    post(json!({"programme": "osaka", "kind": "first_measurement", "title": "x", "points": 1}))
        .await
        .expect(400);
    post(
        json!({"programme": "osaka", "kind": "first_measurement", "title": "x", "measurement_type": "gait",
                "points": 1, "bonus": 2}),
    )
    .await
    .expect(400);
    let listed = app.get("/v1/admin/reward-rules", Some(&ops)).await;
    assert_eq!(listed.body["items"].as_array().unwrap().len(), 8, "nothing was created");
}

/// Writes a ledger row as the schema before day keys held it (no `day_key` or `award_upto`).
fn old_entry(conn: &mut karada::db::DbConn, user: UserId, rule: Option<&str>, delta: i32, date: &str, key: &str) {
    diesel::insert_into(points_ledger::table)
        .values((
            points_ledger::id.eq(LedgerEntryId::new()),
            points_ledger::user_id.eq(user),
            points_ledger::programme_id.eq("osaka"),
            points_ledger::rule_id.eq(rule.map(|r| RuleId(r.parse().unwrap()))),
            points_ledger::delta.eq(delta),
            points_ledger::title.eq("old"),
            points_ledger::local_date.eq(date.parse::<chrono::NaiveDate>().unwrap()),
            points_ledger::award_key.eq(key),
            points_ledger::created_at.eq(karada::db::Ts::now()),
        ))
        .execute(conn)
        .unwrap();
}

async fn entries_keyed_before_day_keys_are_moved_and_still_count(app: TestApp) {
    let s = app.register("taro@example.jp").await;
    crate::common::backdate_account(&app, &s, 30);
    let d = day(3);
    let user = UserId(s.user_id.parse().unwrap());
    let mut conn = app.db.conn();
    // Back to the schema before day keys: revert the migrations down to that one.
    let mut reverted = Vec::new();
    while reverted.last().is_none_or(|v| v != "20261201000009") {
        reverted.push(karada::db::revert_last_migration(&mut conn).unwrap());
        assert!(
            reverted.len() <= 6,
            "the day-keys migration is among the newest: {reverted:?}"
        );
    }
    diesel::insert_into(points_balances::table)
        .values((
            points_balances::user_id.eq(user),
            points_balances::programme_id.eq("osaka"),
            points_balances::balance.eq(5),
            points_balances::lifetime_earned.eq(5),
        ))
        .execute(&mut conn)
        .unwrap();
    let event = format!("event:{}", uuid::Uuid::now_v7());
    old_entry(
        &mut conn,
        user,
        Some(STEPS_RULE),
        1,
        &d,
        &format!("{STEPS_RULE}:{d}:steps2000"),
    );
    old_entry(
        &mut conn,
        user,
        Some(STEPS_RULE),
        1,
        &d,
        &format!("{STEPS_RULE}:{d}:steps4000"),
    );
    old_entry(
        &mut conn,
        user,
        Some(WEIGHT_RULE),
        1,
        &d,
        &format!("{WEIGHT_RULE}:{d}:1"),
    );
    old_entry(&mut conn, user, Some(FIRST_RULE), 1, &d, &format!("{FIRST_RULE}:first"));
    old_entry(&mut conn, user, None, 1, &d, &event);
    assert_eq!(karada::db::run_migrations(&mut conn).unwrap(), reverted.len());

    let mut rows: Vec<(Option<String>, Option<i32>, Option<String>)> = points_ledger::table
        .filter(points_ledger::user_id.eq(user))
        .select((
            points_ledger::day_key,
            points_ledger::award_upto,
            points_ledger::award_key,
        ))
        .load(&mut conn)
        .unwrap();
    rows.sort();
    let mut expected = vec![
        (None, None, Some(format!("{FIRST_RULE}:first"))),
        (None, None, Some(event)),
        (Some(format!("{STEPS_RULE}:steps2000")), Some(2000), None),
        (Some(format!("{STEPS_RULE}:steps4000")), Some(4000), None),
        (Some(format!("{WEIGHT_RULE}:1")), None, None),
    ];
    expected.sort();
    assert_eq!(rows, expected);
    // The moved keys still stop a second payment: only the 6,000 tier is new that day, and the
    // day's weighing was paid. (The steps come from a sensed device app, registered now that the
    // schema is whole again.)
    let device = crate::common::sensed_token(&app, &s, "Pedometer", &["measurements:write"]).await;
    app.upload(&device, steps(&d, 20, 6500)).await.code();
    assert_eq!(balance(&app, &s).await, 6);
    app.upload(&device, weight(&d, 21, 60.0)).await.code();
    assert_eq!(balance(&app, &s).await, 6);
}

async fn the_ledger_names_only_rules_and_balances_that_exist(app: TestApp) {
    use karada::db::schema::{reward_rules, users};
    let (s, device) = resident(&app, "taro@example.jp").await;
    app.upload(&device, steps(day(3), 20, 2500)).await.code();
    assert_eq!(balance(&app, &s).await, 1);
    let user = UserId(s.user_id.parse().unwrap());
    let other = app.register("hanako@example.jp").await;
    let other = UserId(other.user_id.parse().unwrap());
    let mut conn = app.db.conn();
    let entry = |user: UserId, rule: RuleId| karada::points::LedgerEntry {
        id: LedgerEntryId::new(),
        user_id: user,
        programme_id: "osaka".into(),
        rule_id: Some(rule),
        delta: 1,
        title: "forged".into(),
        local_date: "2026-11-21".parse().unwrap(),
        measurement_id: None,
        award_key: None,
        created_at: karada::db::Ts::now(),
        day_key: None,
        award_upto: None,
    };
    let insert = |conn: &mut karada::db::DbConn, e: &karada::points::LedgerEntry| match conn {
        karada::db::DbConn::Pg(c) => diesel::insert_into(points_ledger::table).values(e).execute(c),
        karada::db::DbConn::Sqlite(c) => diesel::insert_into(points_ledger::table).values(e).execute(c),
    };
    let steps_rule = RuleId(STEPS_RULE.parse().unwrap());
    assert!(
        insert(&mut conn, &entry(user, steps_rule)).is_ok(),
        "a real rule and balance"
    );
    // (and the balance moves with it, as every writer of the ledger does)
    diesel::update(points_balances::table.filter(points_balances::user_id.eq(user)))
        .set(points_balances::balance.eq(points_balances::balance + 1))
        .execute(&mut conn)
        .unwrap();
    assert!(
        insert(&mut conn, &entry(user, RuleId::new())).is_err(),
        "a rule that does not exist"
    );
    assert!(
        insert(&mut conn, &entry(other, steps_rule)).is_err(),
        "a resident without a balance row"
    );
    let entries = points_ledger::table.filter(points_ledger::user_id.eq(user));
    assert!(
        diesel::update(entries)
            .set(points_ledger::delta.eq(100))
            .execute(&mut conn)
            .is_err(),
        "the ledger is append-only"
    );
    let balance_row = points_balances::table
        .filter(points_balances::user_id.eq(user))
        .filter(points_balances::programme_id.eq("osaka"));
    assert!(
        diesel::delete(balance_row).execute(&mut conn).is_err(),
        "a balance with entries"
    );
    assert!(
        diesel::delete(reward_rules::table.filter(reward_rules::id.eq(steps_rule)))
            .execute(&mut conn)
            .is_err(),
        "rules are retired, never deleted"
    );
    // Nothing of that changed the resident's standing, and an erasure still removes everything.
    assert_eq!(balance(&app, &s).await, 2);
    let r = app
        .call(
            Method::DELETE,
            "/v1/me",
            Some(&s.access),
            Some(json!({"password": crate::common::PASSWORD})),
        )
        .await;
    r.expect(204);
    assert_eq!(
        points_ledger::table
            .filter(points_ledger::user_id.eq(user))
            .count()
            .get_result::<i64>(&mut conn)
            .unwrap(),
        0
    );
    assert!(
        users::table
            .find(user)
            .first::<karada::accounts::User>(&mut conn)
            .optional()
            .unwrap()
            .is_none()
    );
}
