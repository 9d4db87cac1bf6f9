//! Streaks, campaign multipliers and programmes managed by operators.

use actix_web::http::Method;
use serde_json::{Value, json};

use crate::both_backends;
use crate::common::backdate_rules;
use crate::common::{PASSWORD, Session, TestApp};
use crate::common::{STEPS_RULE, WEIGHT_RULE, admin, balance, day, steps, weight};
use crate::points::resident;

both_backends!(
    a_streak_pays_once_per_period_logged_every_day_in_any_upload_order,
    a_campaign_multiplies_the_named_rules_inside_its_window,
    overlapping_campaigns_do_not_compound,
    streak_and_campaign_rules_are_validated_field_by_field,
    an_operator_runs_a_programme_for_residents_65_and_over,
    programme_changes_are_validated_and_keep_the_id,
    only_operators_manage_programmes,
);

async fn ledger(app: &TestApp, s: &Session, programme: &str) -> Vec<Value> {
    let r = app
        .get(
            &format!("/v1/points/ledger?programme={programme}&limit=500"),
            Some(&s.access),
        )
        .await;
    r.expect(200);
    r.body["items"].as_array().unwrap().clone()
}

async fn create_rule(app: &TestApp, ops: &str, body: Value) -> String {
    let r = app.post("/v1/admin/reward-rules", Some(ops), body).await;
    r.expect(201);
    r.body["id"].as_str().unwrap().to_owned()
}

async fn a_streak_pays_once_per_period_logged_every_day_in_any_upload_order(app: TestApp) {
    let ops = admin(&app).await;
    // Three-day periods from a week ago: days 7–5 ago, 4–2 ago, …
    create_rule(
        &app,
        &ops,
        json!({"programme": "osaka", "kind": "streak", "title": "Three days of weighing",
               "measurement_type": "body_weight", "days": 3, "points": 5, "active_from": day(7)}),
    )
    .await;
    // The rules were in force before the days weighed on (points never pay for earlier days).
    backdate_rules(&app, "osaka", 30);
    let (s, _) = resident(&app, "taro@example.jp").await;
    assert_eq!(app.upload(&s.access, weight(day(7), 7, 60.0)).await.code(), 201);
    assert_eq!(app.upload(&s.access, weight(day(5), 7, 60.0)).await.code(), 201);
    assert_eq!(balance(&app, &s).await, 2, "two weighings, no streak yet");
    // Filling the gap late completes the period.
    assert_eq!(app.upload(&s.access, weight(day(6), 7, 60.0)).await.code(), 201);
    assert_eq!(balance(&app, &s).await, 3 + 5);
    // More weighings inside the period pay nothing more.
    assert_eq!(app.upload(&s.access, weight(day(6), 19, 60.1)).await.code(), 201);
    assert_eq!(app.upload(&s.access, weight(day(5), 19, 60.1)).await.code(), 201);
    assert_eq!(balance(&app, &s).await, 8);
    // A run that straddles two periods completes neither.
    app.upload(&s.access, weight(day(4), 7, 60.0)).await.code();
    app.upload(&s.access, weight(day(3), 7, 60.0)).await.code();
    assert_eq!(balance(&app, &s).await, 10);
    let streaks: Vec<_> = ledger(&app, &s, "osaka")
        .await
        .into_iter()
        .filter(|e| e["title"] == "Three days of weighing")
        .collect();
    assert_eq!(streaks.len(), 1);
    assert_eq!(streaks[0]["local_date"], day(6), "the day that completed it");
    assert_eq!(streaks[0]["delta"], 5);
}

async fn a_campaign_multiplies_the_named_rules_inside_its_window(app: TestApp) {
    let ops = admin(&app).await;
    create_rule(
        &app,
        &ops,
        json!({"programme": "osaka", "kind": "campaign_multiplier", "title": "Expo week",
               "multiplier": 2, "rule_ids": [STEPS_RULE], "active_from": day(3), "active_to": day(2)}),
    )
    .await;
    backdate_rules(&app, "osaka", 30);
    let (s, device) = resident(&app, "taro@example.jp").await;
    app.upload(&device, steps(day(3), 20, 6500)).await.code();
    assert_eq!(balance(&app, &s).await, 6, "three tiers, doubled");
    // Weighing is not named by the campaign.
    app.upload(&device, weight(day(3), 7, 60.0)).await.code();
    assert_eq!(balance(&app, &s).await, 7);
    // Outside the window, steps pay the usual points.
    app.upload(&device, steps(day(1), 20, 6500)).await.code();
    assert_eq!(balance(&app, &s).await, 10);
    // The daily cap (20) still holds: five doubled tiers are 10, within it.
    app.upload(&device, steps(day(2), 20, 10000)).await.code();
    assert_eq!(balance(&app, &s).await, 20);
    let doubled: Vec<_> = ledger(&app, &s, "osaka")
        .await
        .into_iter()
        .filter(|e| e["local_date"] == day(3) && e["rule_id"] == STEPS_RULE)
        .collect();
    assert_eq!(doubled.len(), 1, "one entry for the day's three tiers");
    assert!(
        doubled
            .iter()
            .all(|e| e["delta"] == 6 && e["title"].as_str().unwrap().contains("×2 (Expo week)")),
        "{doubled:?}"
    );
}

async fn overlapping_campaigns_do_not_compound(app: TestApp) {
    let ops = admin(&app).await;
    for (title, m) in [("Double", 2.0), ("Triple", 3.0)] {
        create_rule(
            &app,
            &ops,
            json!({"programme": "osaka", "kind": "campaign_multiplier", "title": title, "multiplier": m,
                   "rule_ids": [WEIGHT_RULE], "active_from": day(7), "active_to": day(0)}),
        )
        .await;
    }
    backdate_rules(&app, "osaka", 30);
    let (s, _) = resident(&app, "taro@example.jp").await;
    app.upload(&s.access, weight(day(3), 7, 60.0)).await.code();
    assert_eq!(balance(&app, &s).await, 3, "the larger multiplier, not 2 × 3");
}

async fn streak_and_campaign_rules_are_validated_field_by_field(app: TestApp) {
    let ops = admin(&app).await;
    let post = |body: Value| app.post("/v1/admin/reward-rules", Some(&ops), body);
    let r = post(
        json!({"programme": "osaka", "kind": "streak", "title": "x", "measurement_type": "mood",
                        "days": 1, "points": 1001}),
    )
    .await;
    r.expect(422);
    let mut f = r.error_fields();
    f.sort();
    assert_eq!(f, vec!["days", "measurement_type", "points"]);
    let r = post(
        json!({"programme": "osaka", "kind": "campaign_multiplier", "title": "x", "multiplier": 1,
                        "rule_ids": [STEPS_RULE, "01a20000-0000-7000-8000-0000000000ff"]}),
    )
    .await;
    r.expect(422);
    let mut f = r.error_fields();
    f.sort();
    assert_eq!(f, vec!["active_from", "active_to", "multiplier", "rule_ids[1]"]);
    let r = post(
        json!({"programme": "osaka", "kind": "campaign_multiplier", "title": "x", "multiplier": 11,
                        "rule_ids": [], "active_from": "2026-11-01", "active_to": "2026-11-30"}),
    )
    .await;
    r.expect(422);
    let mut f = r.error_fields();
    f.sort();
    assert_eq!(f, vec!["multiplier", "rule_ids"]);
    // A campaign cannot multiply a campaign.
    let first = create_rule(
        &app,
        &ops,
        json!({"programme": "osaka", "kind": "campaign_multiplier", "title": "x", "multiplier": 2,
               "rule_ids": [STEPS_RULE], "active_from": "2026-11-01", "active_to": "2026-11-30"}),
    )
    .await;
    let r = post(
        json!({"programme": "osaka", "kind": "campaign_multiplier", "title": "y", "multiplier": 2,
                        "rule_ids": [first], "active_from": "2026-11-01", "active_to": "2026-11-30"}),
    )
    .await;
    r.expect(422);
    assert_eq!(r.error_fields(), vec!["rule_ids[0]"]);
    // Wrong types and unknown fields are malformed, not invalid.
    post(
        json!({"programme": "osaka", "kind": "streak", "title": "x", "measurement_type": "steps",
                "days": "seven", "points": 1}),
    )
    .await
    .expect(400);
    post(
        json!({"programme": "osaka", "kind": "campaign_multiplier", "title": "x", "multiplier": 2,
                "rule_ids": ["not-a-uuid"], "active_from": "2026-11-01", "active_to": "2026-11-30"}),
    )
    .await
    .expect(400);
    let listed = app.get("/v1/admin/reward-rules", Some(&ops)).await;
    assert_eq!(
        listed.body["items"].as_array().unwrap().len(),
        9,
        "eight seeded and one campaign"
    );
}

async fn register_born(app: &TestApp, email: &str, birth_date: &str) -> Session {
    let r = app
        .post(
            "/v1/auth/register",
            None,
            json!({"email": email, "password": PASSWORD, "birth_date": birth_date, "sex": "female"}),
        )
        .await;
    r.expect(201);
    Session {
        user_id: r.body["user"]["id"].as_str().unwrap().to_owned(),
        access: r.body["access_token"].as_str().unwrap().to_owned(),
        refresh: String::new(),
    }
}

async fn balances(app: &TestApp, s: &Session) -> Vec<(String, i64)> {
    let r = app.get("/v1/points", Some(&s.access)).await;
    r.expect(200);
    r.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["programme"]["id"].as_str().unwrap().to_owned(),
                p["balance"].as_i64().unwrap(),
            )
        })
        .collect()
}

async fn an_operator_runs_a_programme_for_residents_65_and_over(app: TestApp) {
    let ops = admin(&app).await;
    let r = app
        .post(
            "/v1/admin/programmes",
            Some(&ops),
            json!({"id": "kobe-walk", "title": "Kobe walking points", "sponsor": "Kobe city",
                   "min_age": 65, "daily_cap": 3}),
        )
        .await;
    r.expect(201);
    assert_eq!(r.body["eligibility"], "everyone");
    assert_eq!(r.body["daily_cap"], 3);
    create_rule(
        &app,
        &ops,
        json!({"programme": "kobe-walk", "kind": "daily_steps", "title": "Kobe steps",
               "tiers": [{"min_steps": 1000, "points": 1}, {"min_steps": 3000, "points": 2},
                         {"min_steps": 5000, "points": 2}]}),
    )
    .await;
    let older = register_born(&app, "hana@example.jp", "1950-01-01").await;
    let younger = register_born(&app, "taro@example.jp", "1990-01-01").await;
    for s in [&older, &younger] {
        // Today's steps (the Kobe rule is new), from a sensed device app.
        let device = crate::common::sensed_token(&app, s, "Pedometer", &["measurements:write"]).await;
        app.upload(&device, steps(day(0), 0, 6000)).await.code();
    }
    assert_eq!(
        balances(&app, &older).await,
        vec![("kobe-walk".to_owned(), 3), ("osaka".to_owned(), 4)],
        "5 tiers' worth capped at 3 in Kobe; osaka's 65-and-over tiers 1000-4000 and 6000"
    );
    assert_eq!(balances(&app, &younger).await, vec![("osaka".to_owned(), 3)]);
    let rules = app.get("/v1/reward-rules", Some(&younger.access)).await;
    assert!(
        rules.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["programme"] == "osaka")
    );
    app.get("/v1/points/ledger?programme=kobe-walk", Some(&younger.access))
        .await
        .expect(404);
    let kobe = ledger(&app, &older, "kobe-walk").await;
    assert_eq!(kobe.iter().map(|e| e["delta"].as_i64().unwrap()).sum::<i64>(), 3);
    // A second programme with the same id is refused.
    let r = app
        .post(
            "/v1/admin/programmes",
            Some(&ops),
            json!({"id": "kobe-walk", "title": "Again", "sponsor": "Kobe city"}),
        )
        .await;
    r.expect(409);
    assert_eq!(r.body["type"], "urn:karada:problem:programme-exists");
}

async fn programme_changes_are_validated_and_keep_the_id(app: TestApp) {
    let ops = admin(&app).await;
    let r = app
        .post(
            "/v1/admin/programmes",
            Some(&ops),
            json!({"id": "Bad Id", "title": "", "sponsor": "", "eligibility": "organization_members",
                   "min_age": 130, "max_age": 20, "daily_cap": 0}),
        )
        .await;
    r.expect(422);
    let mut f = r.error_fields();
    f.sort();
    assert_eq!(
        f,
        vec![
            "daily_cap",
            "id",
            "max_age",
            "min_age",
            "organization_id",
            "sponsor",
            "title"
        ]
    );
    let r = app
        .post(
            "/v1/admin/programmes",
            Some(&ops),
            json!({"id": "ok", "title": "t", "sponsor": "s", "eligibility": "friends", "min_age": 70, "max_age": 60}),
        )
        .await;
    r.expect(422);
    let mut f = r.error_fields();
    f.sort();
    assert_eq!(f, vec!["eligibility", "max_age"]);
    app.post(
        "/v1/admin/programmes",
        Some(&ops),
        json!({"id": "ok", "title": "t", "sponsor": "s", "colour": "red"}),
    )
    .await
    .expect(400);
    app.post(
        "/v1/admin/programmes",
        Some(&ops),
        json!({"id": "ok", "title": "t", "sponsor": "s", "daily_cap": "ten"}),
    )
    .await
    .expect(400);
    let listed = app.get("/v1/admin/programmes", Some(&ops)).await;
    listed.expect(200);
    assert_eq!(listed.body["items"].as_array().unwrap().len(), 1, "nothing was created");

    let put = |path: &'static str, body: Value| app.call(Method::PUT, path, Some(&ops), Some(body));
    let body = json!({"id": "osaka", "title": "Osaka health points", "sponsor": "Osaka prefecture", "daily_cap": 30});
    let r = put("/v1/admin/programmes/osaka", body.clone()).await;
    r.expect(200);
    assert_eq!(r.body["sponsor"], "Osaka prefecture");
    assert_eq!(r.body["daily_cap"], 30);
    put(
        "/v1/admin/programmes/nowhere",
        json!({"id": "nowhere", "title": "t", "sponsor": "s"}),
    )
    .await
    .expect(404);
    let r = put(
        "/v1/admin/programmes/osaka",
        json!({"id": "kobe", "title": "t", "sponsor": "s"}),
    )
    .await;
    r.expect(422);
    assert_eq!(r.error_fields(), vec!["id"]);
    let r = put(
        "/v1/admin/programmes/osaka",
        json!({"id": "osaka", "title": "t", "sponsor": "s", "daily_cap": -1}),
    )
    .await;
    r.expect(422);
    assert_eq!(r.error_fields(), vec!["daily_cap"]);
    let listed = app.get("/v1/admin/programmes", Some(&ops)).await;
    assert_eq!(
        listed.body["items"][0]["daily_cap"], 30,
        "a refused change changes nothing"
    );
}

async fn only_operators_manage_programmes(app: TestApp) {
    let s = app.register("taro@example.jp").await;
    app.get("/v1/admin/programmes", Some(&s.access)).await.expect(403);
    app.post(
        "/v1/admin/programmes",
        Some(&s.access),
        json!({"id": "mine", "title": "t", "sponsor": "s"}),
    )
    .await
    .expect(403);
    app.call(
        Method::PUT,
        "/v1/admin/programmes/osaka",
        Some(&s.access),
        Some(json!({"id": "osaka", "title": "t", "sponsor": "s"})),
    )
    .await
    .expect(403);
    app.get("/v1/admin/programmes", None).await.expect(401);
}
