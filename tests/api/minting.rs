//! Points that cannot be minted (issue 15, part 2): a measurement earns only for local days inside
//! its programme's award window (default: no more than 7 days before the upload's day), never for
//! days before the account or the rule existed; checkups pay within 365 days and not before the
//! rule took effect; the default step tiers pay sensed data only.

use serde_json::{Value, json};

use crate::both_backends;
use crate::common::{Session, TestApp, backdate_account, backdate_rules, steps, tokyo_at, tokyo_day, weight};
use crate::common::{admin, balance, sensed_token};

both_backends!(
    a_thousand_backdated_typed_in_step_days_from_1975_pay_nothing,
    typed_in_steps_earn_nothing_from_the_default_step_tiers,
    a_document_that_claims_its_steps_were_sensed_pays_only_through_a_sensed_credential,
    data_earns_only_for_days_inside_the_award_window,
    nothing_pays_for_days_before_the_account_existed,
    nothing_pays_for_days_before_the_rule_existed,
    a_programme_sets_its_own_award_window,
    checkups_pay_within_365_days_and_not_before_the_rule_took_effect,
);

fn checkup_on(day: chrono::NaiveDate) -> Value {
    json!({"type": "health_checkup", "effective_at": tokyo_at(crate::common::tokyo_day(0), 0),
           "values": {"kind": "specific_health_checkup", "checkup_date": day.to_string()}})
}

/// The resident's balance in the `kenshin` programme.
async fn kenshin(app: &TestApp, s: &Session) -> i64 {
    let r = app.get("/v1/points", Some(&s.access)).await;
    r.expect(200);
    r.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["programme"]["id"] == "kenshin")
        .map_or(0, |p| p["balance"].as_i64().unwrap())
}

async fn ledger_len(app: &TestApp, s: &Session) -> usize {
    let r = app.get("/v1/points/ledger?limit=500", Some(&s.access)).await;
    r.expect(200);
    r.body["items"].as_array().unwrap().len()
}

async fn a_thousand_backdated_typed_in_step_days_from_1975_pay_nothing(app: TestApp) {
    // Born in 1950: in 1975 the resident is 25, so the under-65 step tiers would apply to every day.
    let r = app
        .post(
            "/v1/auth/register",
            None,
            json!({"email": "taro@example.jp", "password": crate::common::PASSWORD, "birth_date": "1950-01-01", "sex": "male"}),
        )
        .await;
    r.expect(201);
    let s = Session {
        user_id: r.body["user"]["id"].as_str().unwrap().to_owned(),
        access: r.body["access_token"].as_str().unwrap().to_owned(),
        refresh: r.body["refresh_token"].as_str().unwrap().to_owned(),
    };
    let day0 = chrono::NaiveDate::from_ymd_opt(1975, 1, 1).unwrap();
    let items: Vec<Value> = (0..1000)
        .map(|i| {
            let mut m = steps(day0 + chrono::Duration::days(i), 21, 10_000);
            m["client_ref"] = json!(format!("d{i}"));
            m
        })
        .collect();
    let r = app
        .post("/v1/measurements/batch", Some(&s.access), json!({"items": items}))
        .await;
    r.expect(200);
    assert_eq!(
        r.body["created"], 1000,
        "the data is stored: it is the resident's record"
    );
    assert_eq!(balance(&app, &s).await, 0, "but it mints no points");
    assert_eq!(ledger_len(&app, &s).await, 0);
}

async fn typed_in_steps_earn_nothing_from_the_default_step_tiers(app: TestApp) {
    let s = app.register("taro@example.jp").await;
    assert_eq!(app.upload(&s.access, steps(tokyo_day(0), 21, 12_000)).await.code(), 201);
    assert_eq!(balance(&app, &s).await, 0);
    let rules = app.get("/v1/reward-rules", Some(&s.access)).await;
    rules.expect(200);
    let steps: Vec<&Value> = rules.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["kind"] == "daily_steps")
        .collect();
    assert!(!steps.is_empty());
    for r in steps {
        assert_eq!(r["sensed_only"], true, "{r}");
    }
}

/// An Open mHealth document of one day's steps that states it was measured by a device.
fn claimed_sensed_steps(id: &str, day: chrono::NaiveDate, count: i64) -> Value {
    let next = day.succ_opt().unwrap();
    json!([{"header": {"uuid": id, "creation_date_time": tokyo_at(day, 23),
                       "schema_id": {"namespace": "omh", "name": "step-count", "version": "2.0"},
                       "acquisition_provenance": {"source_name": "Pedometer", "modality": "sensed"}},
            "body": {"step_count": {"value": count, "unit": "steps"},
                     "effective_time_frame": {"time_interval": {
                         "start_date_time": tokyo_at(day, 0), "end_date_time": tokyo_at(next, 0)}}}}])
}

async fn a_document_that_claims_its_steps_were_sensed_pays_only_through_a_sensed_credential(app: TestApp) {
    let s = app.register("taro@example.jp").await;
    // An account and rules old enough that only the credential decides what pays.
    backdate_account(&app, &s, 30);
    backdate_rules(&app, "osaka", 30);
    // The resident imports a file whose every item says "sensed": stored as the file says, but a
    // login session vouches for nothing, so the sensed-only step tiers pay nothing.
    let r = app
        .post(
            "/v1/measurements/import",
            Some(&s.access),
            claimed_sensed_steps("typed-0", tokyo_day(0), 12_000),
        )
        .await;
    r.expect(200);
    assert_eq!(r.body["created"], 1, "{}", r.body);
    let list = app.get("/v1/measurements?type=steps", Some(&s.access)).await;
    assert_eq!(
        list.body["items"][0]["modality"], "sensed",
        "stored as the document states"
    );
    assert_eq!(
        balance(&app, &s).await,
        0,
        "a self-reporting credential's claim earns nothing"
    );
    // The same claim through a registered pedometer's token is believed.
    let device = sensed_token(&app, &s, "Pedometer", &["measurements:write"]).await;
    let r = app
        .post(
            "/v1/measurements/import",
            Some(&device),
            claimed_sensed_steps("device-1", tokyo_day(1), 12_000),
        )
        .await;
    r.expect(200);
    assert_eq!(r.body["created"], 1, "{}", r.body);
    assert!(balance(&app, &s).await > 0, "a sensed credential's steps pay the tiers");
}

async fn data_earns_only_for_days_inside_the_award_window(app: TestApp) {
    let s = app.register("taro@example.jp").await;
    // The account and the rules are older than any day here: only the window decides.
    backdate_account(&app, &s, 60);
    backdate_rules(&app, "osaka", 60);
    // Weighing pays 1 point a day whatever the modality: only the day decides here.
    for days_ago in [30, 8] {
        assert_eq!(
            app.upload(&s.access, weight(tokyo_day(days_ago), 7, 61.0)).await.code(),
            201
        );
    }
    assert_eq!(balance(&app, &s).await, 0, "more than 7 days before the upload");
    for days_ago in [7, 3, 0] {
        app.upload(&s.access, weight(tokyo_day(days_ago), 7, 61.0)).await.code();
    }
    assert_eq!(balance(&app, &s).await, 3, "7, 3 and 0 days ago");
}

async fn nothing_pays_for_days_before_the_account_existed(app: TestApp) {
    backdate_rules(&app, "osaka", 60);
    let s = app.register("taro@example.jp").await;
    assert_eq!(app.upload(&s.access, weight(tokyo_day(2), 7, 61.0)).await.code(), 201);
    assert_eq!(balance(&app, &s).await, 0, "the account did not exist two days ago");
    app.upload(&s.access, weight(tokyo_day(0), 7, 61.0)).await.code();
    assert_eq!(balance(&app, &s).await, 1);
}

async fn nothing_pays_for_days_before_the_rule_existed(app: TestApp) {
    let ops = admin(&app).await;
    let s = app.register("taro@example.jp").await;
    backdate_account(&app, &s, 60);
    // A rule made today, saying it applies from long ago.
    app.post(
        "/v1/admin/reward-rules",
        Some(&ops),
        json!({"programme": "osaka", "kind": "measurement_logged", "title": "Slept", "measurement_type": "sleep",
               "points": 2, "max_per_day": 1, "active_from": "2020-01-01"}),
    )
    .await
    .expect(201);
    let sleep = |day| json!({"type": "sleep", "effective_at": tokyo_at(day, 8), "values": {"duration_min": 420}});
    assert_eq!(app.upload(&s.access, sleep(tokyo_day(3))).await.code(), 201);
    assert_eq!(balance(&app, &s).await, 0, "the rule did not exist three days ago");
    app.upload(&s.access, sleep(tokyo_day(0))).await.code();
    assert_eq!(balance(&app, &s).await, 2);
}

async fn a_programme_sets_its_own_award_window(app: TestApp) {
    let ops = admin(&app).await;
    let s = app.register("taro@example.jp").await;
    backdate_account(&app, &s, 60);
    backdate_rules(&app, "osaka", 60);
    let programmes = app.get("/v1/admin/programmes", Some(&ops)).await;
    let mut osaka = programmes.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == "osaka")
        .unwrap()
        .clone();
    assert_eq!(osaka["award_window_days"], 7, "the default");
    osaka["award_window_days"] = json!(14);
    let r = app
        .call(
            actix_web::http::Method::PUT,
            "/v1/admin/programmes/osaka",
            Some(&ops),
            Some(osaka.clone()),
        )
        .await;
    r.expect(200);
    assert_eq!(r.body["award_window_days"], 14);
    app.upload(&s.access, weight(tokyo_day(12), 7, 61.0)).await.code();
    assert_eq!(balance(&app, &s).await, 1, "12 days ago is inside a 14-day window");
    app.upload(&s.access, weight(tokyo_day(20), 7, 61.0)).await.code();
    assert_eq!(balance(&app, &s).await, 1);
    osaka["award_window_days"] = json!(0);
    let r = app
        .call(
            actix_web::http::Method::PUT,
            "/v1/admin/programmes/osaka",
            Some(&ops),
            Some(osaka),
        )
        .await;
    r.expect(422);
    assert_eq!(r.error_fields(), ["award_window_days"]);
}

async fn checkups_pay_within_365_days_and_not_before_the_rule_took_effect(app: TestApp) {
    let ops = admin(&app).await;
    let s = app.register("taro@example.jp").await;
    // A checkup rule that takes effect today (its own programme, so the default rules stay out).
    app.post(
        "/v1/admin/programmes",
        Some(&ops),
        json!({"id": "kenshin", "title": "Checkups", "sponsor": "Insurer"}),
    )
    .await
    .expect(201);
    app.post(
        "/v1/admin/reward-rules",
        Some(&ops),
        json!({"programme": "kenshin", "kind": "health_checkup", "title": "Checkup", "checkup_kind": "specific_health_checkup",
               "points": 10, "max_per_year": 3}),
    )
    .await
    .expect(201);
    // Taken three months ago: before the rule took effect.
    app.upload(&s.access, checkup_on(tokyo_day(90))).await.code();
    assert_eq!(kenshin(&app, &s).await, 0);
    // Taken today: pays, although it was recorded by a resident whose account is new.
    app.upload(&s.access, checkup_on(tokyo_day(0))).await.code();
    assert_eq!(kenshin(&app, &s).await, 10);
    // Had the rule been in force for years, a checkup of 300 days ago pays, one of 400 does not.
    {
        use diesel::prelude::*;
        use karada::db::schema::reward_rules;
        diesel::update(reward_rules::table.filter(reward_rules::programme_id.eq("kenshin")))
            .set(reward_rules::created_at.eq(karada::db::Ts(chrono::Utc::now() - chrono::Duration::days(800))))
            .execute(&mut app.db.conn())
            .unwrap();
    }
    app.upload(&s.access, checkup_on(tokyo_day(400))).await.code();
    assert_eq!(kenshin(&app, &s).await, 10, "older than 365 days");
    app.upload(&s.access, checkup_on(tokyo_day(300))).await.code();
    assert_eq!(kenshin(&app, &s).await, 20);
}
