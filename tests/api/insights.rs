//! Insights and the weekly programme: each area classified against its named reference, trends
//! over the last 90 days, messages in Japanese or English by `Accept-Language`, the weekly plan of
//! goals and its adaptive step goal, goals met paying points once, and an organisation's health
//! staff reading a member's insights under individual consent.
//!
//! Uploads cannot be dated in the future, so every date is computed back from today in
//! Asia/Tokyo, the residents' default timezone.

use actix_web::http::{Method, header};
use actix_web::test::TestRequest;
use chrono::{Datelike, Duration, FixedOffset, NaiveDate, Utc};
use diesel::prelude::*;
use serde_json::{Value, json};

use karada::db::schema::programme_weeks;
use karada::db::types::Json;
use karada::db::{Id, Ts};

use crate::both_backends;
use crate::common::{Org, consent_body, staff};
use crate::common::{PASSWORD, Resp, Session, TestApp, assert_problem};
use crate::common::{admin, balance, steps};
use crate::erasure::app_token;
use crate::sharing::{self, enrol, new_org};

both_backends!(
    each_area_is_classified_against_its_named_reference,
    bmi_needs_a_height_and_areas_without_data_are_absent,
    trends_over_ninety_days_rise_fall_stay_flat_or_lack_data,
    messages_follow_accept_language_and_name_their_language,
    the_programme_is_three_to_five_goals_with_reasons_kept_for_the_week,
    a_checkup_reminder_is_only_for_residents_40_to_74_without_a_recent_checkup,
    the_step_goal_rises_after_a_met_week_and_falls_after_a_missed_one,
    residents_65_and_over_have_the_lower_step_goal_bounds,
    a_first_step_goal_starts_from_the_recent_average_or_the_default,
    goals_met_pay_points_once_per_goal_and_week,
    a_retired_programme_goal_rule_pays_nothing_more,
    health_staff_see_only_the_consented_areas_and_each_read_is_logged,
    health_staff_see_bmi_and_steps_from_shared_types_with_the_adult_references,
    staff_insights_need_an_individual_consent_in_force_to_their_own_organisation,
    insights_routes_need_measurements_read_a_token_and_well_formed_ids,
    a_night_two_devices_recorded_counts_once,
    a_checkup_goal_is_met_by_a_checkup_dated_that_week_not_by_recording_an_old_one,
    goals_met_before_the_plan_was_made_are_paid_when_it_is_read,
    two_uploads_that_complete_a_goal_together_pay_it_once,
);

/// The default `programme_goal` rule: 2 points per goal met.
const GOAL_RULE: &str = "01a20000-0000-7000-8000-000000000008";
const PURPOSE: &str = "Workplace health guidance";
const BIRTH_DATE: &str = "1980-04-01";

// ---- classification ----

async fn each_area_is_classified_against_its_named_reference(app: TestApp) {
    let s = app.register("taro@example.jp").await;
    // Blood pressure: an older normal reading, then the newest at grade 1.
    app.upload(&s.access, bp(days_ago(10), 118, 72)).await.stored();
    let newest_bp = app.upload(&s.access, bp(days_ago(1), 145, 85)).await.stored();
    // Weight and height: BMI 80 / 1.7² = 27.68.
    app.upload(&s.access, weight(days_ago(20), 82.0)).await.stored();
    let newest_weight = app.upload(&s.access, weight(days_ago(2), 80.0)).await.stored();
    app.upload(&s.access, height(days_ago(3), 170.0)).await.stored();
    let walk = app.upload(&s.access, gait(days_ago(4), 0.9)).await.stored();
    let vascular_day = days_ago(5);
    let vessels = app.upload(&s.access, vascular(vascular_day, 60)).await.stored();
    // Seven days of steps averaging 6,642.9.
    let counts = [6000, 7000, 6500, 7500, 6000, 7000, 6500];
    let mut newest_steps = Value::Null;
    for (i, c) in counts.iter().enumerate() {
        newest_steps = app
            .upload(&s.access, steps(days_ago(7 - i as i64), 21, *c))
            .await
            .stored();
    }
    app.upload(&s.access, sleep(days_ago(2), 300)).await.stored();
    let newest_sleep = app.upload(&s.access, sleep(days_ago(1), 300)).await.stored();
    // The specific checkup two years ago, and a newer dental checkup (not a specific one).
    let two_years_ago = today() - Duration::days(730);
    app.upload(&s.access, checkup("specific_health_checkup", two_years_ago))
        .await
        .stored();
    let dental = app
        .upload(&s.access, checkup("dental_checkup", days_ago(30)))
        .await
        .stored();

    let body = insights(&app, &s).await;
    assert_eq!(body["language"], "ja");
    assert_eq!(body["date"], today().to_string());
    assert!(non_empty(&body["disclaimer"]), "{body}");
    assert_eq!(
        area_names(&body),
        [
            "vascular",
            "blood_pressure",
            "body_composition",
            "gait",
            "activity",
            "sleep",
            "checkups"
        ],
        "every area with data, in the fixed order"
    );
    for a in body["areas"].as_array().unwrap() {
        assert!(non_empty(&a["message"]), "{a}");
    }

    let a = area(&body, "blood_pressure");
    assert_classified(a, "blood_pressure", "grade_1_hypertension", "action", "jsh2019");
    assert_eq!(
        a["latest"]["id"], newest_bp["id"],
        "the newest reading, not the older normal one"
    );
    assert_eq!(a["latest"]["type"], "blood_pressure");
    assert_eq!(a["latest"]["local_date"], days_ago(1).to_string());
    assert_eq!(a["latest"]["values"]["systolic_mmhg"].as_f64(), Some(145.0));
    assert_eq!(a["latest"]["values"]["diastolic_mmhg"].as_f64(), Some(85.0));
    assert!(
        a["value"].is_null(),
        "blood pressure is classified by the reading itself"
    );

    let a = area(&body, "body_composition");
    assert_classified(a, "bmi", "obesity_class_1", "attention", "jasso2022");
    assert_value(a, "bmi", 27.7, "kg/m2");
    assert_eq!(a["latest"]["id"], newest_weight["id"]);
    assert_eq!(a["latest"]["values"]["kg"].as_f64(), Some(80.0));

    let a = area(&body, "gait");
    assert_classified(a, "walking_speed", "slow", "attention", "awgs2019");
    assert_value(a, "walking_speed", 0.9, "m/s");
    assert_eq!(a["latest"]["id"], walk["id"]);

    let a = area(&body, "vascular");
    let gap = 60 - age_on(BIRTH_DATE, vascular_day);
    assert_eq!(gap, 14, "the resident is 46 on the day of the measurement");
    assert_classified(
        a,
        "vascular_age_gap",
        "much_older",
        "attention",
        "karada_vascular_age_gap",
    );
    assert_value(a, "vascular_age_gap", gap as f64, "a");
    assert_eq!(a["latest"]["id"], vessels["id"]);

    let a = area(&body, "activity");
    assert_classified(
        a,
        "daily_steps",
        "below_recommendation",
        "attention",
        "mhlw_activity_2023",
    );
    let mean = (counts.iter().sum::<i64>() as f64 / counts.len() as f64).round();
    assert_value(a, "daily_steps", mean, "/d");
    assert_eq!(a["latest"]["id"], newest_steps["id"], "yesterday's steps");
    assert_eq!(a["latest"]["values"]["count"], 6500);

    let a = area(&body, "sleep");
    assert_classified(a, "sleep_duration", "short", "attention", "mhlw_sleep_2023");
    assert_value(a, "sleep_duration", 300.0, "min/d");
    assert_eq!(a["latest"]["id"], newest_sleep["id"]);

    let a = area(&body, "checkups");
    assert_classified(a, "checkup_age_days", "overdue", "attention", "specific_health_checkup");
    assert_value(a, "checkup_age_days", 730.0, "d");
    assert_eq!(
        a["latest"]["id"], dental["id"],
        "the newest checkup is the dental one; the value is the specific checkup's age"
    );
    assert!(a["trend"].is_null(), "checkups have no trend");
}

async fn bmi_needs_a_height_and_areas_without_data_are_absent(app: TestApp) {
    let s = app.register("hanako@example.jp").await;
    let nothing = insights(&app, &s).await;
    assert_eq!(nothing["areas"], json!([]), "no data, no areas");
    assert!(non_empty(&nothing["disclaimer"]));

    app.upload(&s.access, weight(days_ago(1), 60.0)).await.stored();
    let body = insights(&app, &s).await;
    assert_eq!(area_names(&body), ["body_composition"], "only the area with data");
    let a = area(&body, "body_composition");
    assert!(a["value"].is_null(), "no BMI without a height: {a}");
    assert!(a["classification"].is_null(), "{a}");
    assert!(
        a["message"].as_str().unwrap().contains("身長"),
        "the message asks for a height: {a}"
    );
    let en = get_in(&app, "/v1/me/insights", &s.access, Some("en")).await;
    en.expect(200);
    let message = area(&en.body, "body_composition")["message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(message.contains("height"), "{message}");

    // With a height the BMI is there.
    app.upload(&s.access, height(days_ago(1), 160.0)).await.stored();
    let body = insights(&app, &s).await;
    let a = area(&body, "body_composition");
    assert_value(a, "bmi", 23.4, "kg/m2");
    assert_classified(a, "bmi", "normal", "good", "jasso2022");
}

// ---- trends ----

async fn trends_over_ninety_days_rise_fall_stay_flat_or_lack_data(app: TestApp) {
    let s = app.register("taro@example.jp").await;
    let mut items = Vec::new();
    // Twelve weekly readings: systolic up 2 mmHg a week, weight steady.
    for k in 1..=12 {
        items.push(bp(days_ago(7 * k), 150 - 2 * k, 80));
        items.push(weight(days_ago(7 * k), 70.0));
    }
    // Eight weeks of daily steps, 100 fewer each day.
    for k in 1..=56 {
        items.push(steps(days_ago(k), 21, 4000 + 100 * k));
    }
    items.push(gait(days_ago(3), 1.1));
    upload_all(&app, &s, items).await;

    let body = insights(&app, &s).await;
    let t = &area(&body, "blood_pressure")["trend"];
    assert_eq!(t["metric"], "systolic_bp");
    assert_eq!(t["direction"], "rising", "{t}");
    let per_30 = t["change_per_30_days"].as_f64().unwrap();
    // 2 mmHg a week is 8.6 per 30 days (give or take a day of the first, partial week).
    assert!((7.5..=9.5).contains(&per_30), "{t}");
    assert_eq!(t["weeks"], 12);
    assert_eq!(t["window_days"], 90);

    let t = &area(&body, "body_composition")["trend"];
    assert_eq!(t["metric"], "body_weight");
    assert_eq!(t["direction"], "flat", "{t}");
    assert_eq!(t["change_per_30_days"].as_f64(), Some(0.0));

    let t = &area(&body, "gait")["trend"];
    assert_eq!(t["metric"], "walking_speed");
    assert_eq!(t["direction"], "insufficient_data", "{t}");
    assert!(t["change_per_30_days"].is_null());
    assert_eq!(t["weeks"], 1);

    let t = &area(&body, "activity")["trend"];
    assert_eq!(t["metric"], "daily_steps");
    assert_eq!(t["direction"], "falling", "{t}");
    assert!(t["change_per_30_days"].as_f64().unwrap() < -2000.0, "{t}");
}

// ---- language ----

async fn messages_follow_accept_language_and_name_their_language(app: TestApp) {
    let s = app.register("taro@example.jp").await;
    app.upload(&s.access, bp(days_ago(1), 145, 85)).await.stored();
    app.upload(&s.access, steps(days_ago(1), 21, 5000)).await.stored();
    let cases: [(Option<&str>, &str); 5] = [
        (None, "ja"),
        (Some("en-US,en;q=0.9"), "en"),
        (Some("fr"), "ja"),
        (Some("ja;q=0.2, en;q=0.8"), "en"),
        (Some("ja-JP"), "ja"),
    ];
    for path in ["/v1/me/insights", "/v1/me/programme"] {
        for (accept, lang) in cases {
            let r = get_in(&app, path, &s.access, accept).await;
            r.expect(200);
            let what = format!("{path} with {accept:?}");
            assert_eq!(r.body["language"], lang, "{what}");
            assert_eq!(header_text(&r, header::CONTENT_LANGUAGE), lang, "{what}");
            let vary = r
                .headers
                .get_all(header::VARY)
                .filter_map(|v| v.to_str().ok())
                .collect::<Vec<_>>()
                .join(",")
                .to_ascii_lowercase();
            assert!(vary.contains("accept-language"), "{what}: Vary {vary:?}");
            let mut texts = vec![r.body["disclaimer"].as_str().unwrap().to_owned()];
            if path == "/v1/me/insights" {
                texts.extend(
                    r.body["areas"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|a| a["message"].as_str().unwrap().to_owned()),
                );
            } else {
                for g in r.body["goals"].as_array().unwrap() {
                    texts.push(g["description"].as_str().unwrap().to_owned());
                    texts.push(g["why"].as_str().unwrap().to_owned());
                }
            }
            assert!(texts.len() > 2, "{what}");
            for t in &texts {
                // English texts may name a Japanese term in kanji (特定健診), never in kana.
                assert_eq!(has_kana(t), lang == "ja", "{what}: {t}");
                assert_eq!(
                    t.chars().any(|c| c.is_ascii_alphabetic()) && !has_kana(t),
                    lang == "en",
                    "{what}: {t}"
                );
            }
        }
    }
}

// ---- the weekly programme ----

async fn the_programme_is_three_to_five_goals_with_reasons_kept_for_the_week(app: TestApp) {
    let s = app.register("taro@example.jp").await;
    app.upload(&s.access, bp(days_ago(2), 145, 85)).await.stored();
    app.upload(&s.access, sleep(days_ago(2), 300)).await.stored();
    let first = programme(&app, &s).await;
    assert_eq!(first["week_start"], this_monday().to_string());
    assert_eq!(first["week_end"], (this_monday() + Duration::days(6)).to_string());
    assert!(non_empty(&first["disclaimer"]));
    let goals = first["goals"].as_array().unwrap();
    assert!((3..=5).contains(&goals.len()), "{goals:?}");
    for g in goals {
        for field in ["kind", "reason", "why", "description"] {
            assert!(non_empty(&g[field]), "{field} of {g}");
        }
        assert!(g["target_days_per_week"].as_u64().unwrap() >= 1, "{g}");
    }
    let steps_goal = goal(&first, "daily_steps").expect("a step goal every week");
    assert!(steps_goal["target_steps"].as_u64().unwrap() > 0);
    assert_eq!(steps_goal["adjustment"], "default_without_history");
    // The most pressing first: blood pressure at grade 1 hypertension.
    assert_eq!(goals[0]["kind"], "log_blood_pressure");
    assert_eq!(goals[0]["reason"], "blood_pressure_high");
    let kinds: Vec<&str> = goals.iter().map(|g| g["kind"].as_str().unwrap()).collect();
    assert!(kinds.contains(&"sleep_duration"), "{kinds:?}");
    assert_eq!(stored_plans(&app, &s), 1);

    // A checkup recorded now: the plan stays as it was made, and the checkup counts towards it.
    let now = (Utc::now() - Duration::minutes(1)).with_timezone(&tokyo());
    app.upload(
        &s.access,
        json!({"type": "health_checkup", "effective_at": now.to_rfc3339(),
               "values": {"kind": "specific_health_checkup", "checkup_date": now.date_naive().to_string()}}),
    )
    .await
    .stored();
    let again = programme(&app, &s).await;
    assert_eq!(again["created_at"], first["created_at"]);
    assert_eq!(again["week_start"], first["week_start"]);
    assert_eq!(plan_of(&again), plan_of(&first), "the same goals all week");
    let reminder = goal(&again, "book_checkup").expect("still in this week's plan");
    assert_eq!(reminder["days_done"], 1);
    assert_eq!(reminder["met"], true);
    assert_eq!(stored_plans(&app, &s), 1);

    // A resident's first requests of the week at once: one plan, which every answer shows.
    let h = app.register("hanako@example.jp").await;
    let answers = futures_util::future::join_all((0..4).map(|_| app.get("/v1/me/programme", Some(&h.access)))).await;
    for a in &answers {
        a.expect(200);
        assert_eq!(a.body["created_at"], answers[0].body["created_at"]);
        assert_eq!(a.body["goals"], answers[0].body["goals"]);
    }
    assert_eq!(stored_plans(&app, &h), 1);
}

async fn a_checkup_reminder_is_only_for_residents_40_to_74_without_a_recent_checkup(app: TestApp) {
    // 46, nothing recorded.
    let never = app.register("never@example.jp").await;
    let p = programme(&app, &never).await;
    let g = goal(&p, "book_checkup").expect("a reminder without any checkup");
    assert_eq!(g["reason"], "checkup_not_recorded");
    assert_eq!(g["checkup_kind"], "specific_health_checkup");
    assert_eq!(g["target_days_per_week"], 1);
    assert_eq!(g["met"], false);

    // 46, last specific checkup 13 months ago (a newer dental one does not count).
    let overdue = app.register("overdue@example.jp").await;
    app.upload(
        &overdue.access,
        checkup("specific_health_checkup", today() - Duration::days(395)),
    )
    .await
    .stored();
    app.upload(&overdue.access, checkup("dental_checkup", days_ago(20)))
        .await
        .stored();
    let p = programme(&app, &overdue).await;
    let g = goal(&p, "book_checkup").expect("a reminder when the checkup is over a year old");
    assert_eq!(g["reason"], "checkup_overdue");

    // 46, checked three months ago.
    let recent = app.register("recent@example.jp").await;
    app.upload(&recent.access, checkup("specific_health_checkup", days_ago(90)))
        .await
        .stored();
    let p = programme(&app, &recent).await;
    assert!(goal(&p, "book_checkup").is_none(), "{p}");

    // 31: the specific checkup is from 40.
    let young = register_born(&app, "young@example.jp", "1995-06-15").await;
    let p = programme(&app, &young).await;
    assert!(goal(&p, "book_checkup").is_none(), "{p}");
    assert!(goal(&p, "daily_steps").is_some());
}

async fn the_step_goal_rises_after_a_met_week_and_falls_after_a_missed_one(app: TestApp) {
    let last_week = this_monday() - Duration::days(7);

    // Met on five days of last week: raised by 1,000.
    let met = app.register("met@example.jp").await;
    store_plan(
        &app,
        &met,
        last_week,
        json!([step_goal(6000), log_goal("log_weight", 1)]),
    );
    upload_all(
        &app,
        &met,
        week_of_steps(last_week, [7000, 7000, 3000, 7000, 7000, 3000, 6000]),
    )
    .await;
    let g = step_goal_of(&app, &met).await;
    assert_eq!(g["target_steps"], 7000, "{g}");
    assert_eq!(g["adjustment"], "raised_after_success");
    assert!(non_empty(&g["why"]));

    // Met on two days: lowered by 1,000.
    let missed = app.register("missed@example.jp").await;
    store_plan(&app, &missed, last_week, json!([step_goal(6000)]));
    upload_all(
        &app,
        &missed,
        week_of_steps(last_week, [7000, 3000, 3000, 6000, 3000, 3000, 3000]),
    )
    .await;
    let g = step_goal_of(&app, &missed).await;
    assert_eq!(g["target_steps"], 5000, "{g}");
    assert_eq!(g["adjustment"], "lowered_after_misses");

    // Met on four days: held.
    let middling = app.register("middling@example.jp").await;
    store_plan(&app, &middling, last_week, json!([step_goal(6000)]));
    upload_all(
        &app,
        &middling,
        week_of_steps(last_week, [7000, 7000, 7000, 7000, 3000, 3000, 3000]),
    )
    .await;
    let g = step_goal_of(&app, &middling).await;
    assert_eq!(
        (g["target_steps"].as_u64(), g["adjustment"].as_str()),
        (Some(6000), Some("held"))
    );

    // At the under-65 maximum: capped.
    let top = app.register("top@example.jp").await;
    store_plan(&app, &top, last_week, json!([step_goal(12000)]));
    upload_all(&app, &top, week_of_steps(last_week, [13000; 7])).await;
    let g = step_goal_of(&app, &top).await;
    assert_eq!(g["target_steps"], 12000, "{g}");
    assert_eq!(g["adjustment"], "capped_at_safe_maximum");
}

async fn residents_65_and_over_have_the_lower_step_goal_bounds(app: TestApp) {
    let last_week = this_monday() - Duration::days(7);

    // Raised by 500, not 1,000.
    let met = register_born(&app, "ume@example.jp", "1955-01-01").await;
    store_plan(&app, &met, last_week, json!([step_goal(5000)]));
    upload_all(&app, &met, week_of_steps(last_week, [5500; 7])).await;
    let g = step_goal_of(&app, &met).await;
    assert_eq!(g["target_steps"], 5500, "{g}");
    assert_eq!(g["adjustment"], "raised_after_success");

    // Lowered by 500.
    let missed = register_born(&app, "matsu@example.jp", "1955-01-01").await;
    store_plan(&app, &missed, last_week, json!([step_goal(5000)]));
    upload_all(
        &app,
        &missed,
        week_of_steps(last_week, [2000, 2000, 2000, 6000, 2000, 2000, 2000]),
    )
    .await;
    let g = step_goal_of(&app, &missed).await;
    assert_eq!(g["target_steps"], 4500, "{g}");
    assert_eq!(g["adjustment"], "lowered_after_misses");

    // The maximum from 65 is 8,000: a met week at 8,000 stays there (under 65 it would rise).
    let top = register_born(&app, "take@example.jp", "1955-01-01").await;
    store_plan(&app, &top, last_week, json!([step_goal(8000)]));
    upload_all(&app, &top, week_of_steps(last_week, [9000; 7])).await;
    let g = step_goal_of(&app, &top).await;
    assert_eq!(g["target_steps"], 8000, "{g}");
    assert_eq!(g["adjustment"], "capped_at_safe_maximum");
    let younger = app.register("younger@example.jp").await;
    store_plan(&app, &younger, last_week, json!([step_goal(8000)]));
    upload_all(&app, &younger, week_of_steps(last_week, [9000; 7])).await;
    assert_eq!(step_goal_of(&app, &younger).await["target_steps"], 9000);

    // The default without history is lower too.
    let new = register_born(&app, "kiku@example.jp", "1955-01-01").await;
    let g = step_goal_of(&app, &new).await;
    assert_eq!(g["target_steps"], 4000, "{g}");
    assert_eq!(g["adjustment"], "default_without_history");
}

async fn a_first_step_goal_starts_from_the_recent_average_or_the_default(app: TestApp) {
    // Steps in the last 28 days averaging 5,000, no plan last week: 10 % above, to the 500.
    let walker = app.register("walker@example.jp").await;
    let items: Vec<Value> = [4000, 6000, 5000, 4500, 5500]
        .iter()
        .enumerate()
        .map(|(i, c)| steps(days_ago(2 + 3 * i as i64), 21, *c))
        .collect();
    upload_all(&app, &walker, items).await;
    let g = step_goal_of(&app, &walker).await;
    assert_eq!(g["target_steps"], 5500, "{g}");
    assert_eq!(g["adjustment"], "start_from_average");

    // A plan two weeks ago but none last week: the run is broken, start again from the average.
    let lapsed = app.register("lapsed@example.jp").await;
    store_plan(
        &app,
        &lapsed,
        this_monday() - Duration::days(14),
        json!([step_goal(9000)]),
    );
    upload_all(
        &app,
        &lapsed,
        vec![steps(days_ago(3), 21, 7000), steps(days_ago(4), 21, 7000)],
    )
    .await;
    let g = step_goal_of(&app, &lapsed).await;
    assert_eq!(g["target_steps"], 7500, "{g}");
    assert_eq!(g["adjustment"], "start_from_average");

    // No steps at all: the default.
    let new = app.register("new@example.jp").await;
    let g = step_goal_of(&app, &new).await;
    assert_eq!(g["target_steps"], 6000, "{g}");
    assert_eq!(g["adjustment"], "default_without_history");
}

// ---- points for goals met ----

async fn goals_met_pay_points_once_per_goal_and_week(app: TestApp) {
    let s = app.register("taro@example.jp").await;
    pay_for_past_weeks(&app, &[&s]);
    let week = this_monday() - Duration::days(14);
    store_plan(
        &app,
        &s,
        week,
        json!([
            log_goal("log_blood_pressure", 3),
            step_goal(6000),
            log_goal("log_weight", 1),
        ]),
    );
    let day = |i: i64| week + Duration::days(i);
    // Steps met on five days, a weighing, and blood pressure on one day of the three asked; each
    // with the client's own id, so that a retry is recognised.
    let mut items: Vec<Value> = (0..5).map(|i| steps(day(i), 21, 7000)).collect();
    items.push(weight(day(1), 61.0));
    items.push(bp(day(2), 120, 75));
    let items: Vec<Value> = items
        .into_iter()
        .enumerate()
        .map(|(i, m)| with_client_ref(m, &format!("upload-{i}")))
        .collect();
    let r = upload_all(&app, &s, items.clone()).await;
    assert_eq!(r["created"], 7);
    let paid = goal_entries(&app, &s).await;
    assert_eq!(paid.len(), 2, "the step and weight goals, not blood pressure: {paid:?}");
    for e in &paid {
        assert_eq!(e["delta"], 2, "{e}");
        assert_eq!(e["programme"], "osaka");
    }
    let mut titles: Vec<&str> = paid.iter().map(|e| e["title"].as_str().unwrap()).collect();
    titles.sort_unstable();
    assert_eq!(
        titles,
        [
            "Weekly programme goal met (daily steps)",
            "Weekly programme goal met (log weight)"
        ]
    );
    for e in &paid {
        let d: NaiveDate = e["local_date"].as_str().unwrap().parse().unwrap();
        assert!((week..=day(6)).contains(&d), "paid on a day of that week: {e}");
    }
    let after_first = balance(&app, &s).await;
    assert_eq!(after_first, ledger_sum(&app, &s).await);

    // The batch again, one item again, and more data of the same week: nothing more.
    let replay = upload_all(&app, &s, items.clone()).await;
    assert_eq!(replay["duplicates"], 7, "{replay}");
    let retry = app.post("/v1/measurements", Some(&s.access), items[5].clone()).await;
    retry.expect(200);
    assert_eq!(retry.body["id"], r["results"][5]["id"], "the stored weighing");
    upload_all(
        &app,
        &s,
        vec![
            steps(day(5), 21, 9000),
            steps(day(6), 21, 9000),
            weight(day(4), 60.8),
            bp(day(3), 121, 76),
        ],
    )
    .await;
    assert_eq!(goal_entries(&app, &s).await.len(), 2, "each goal pays once a week");
    // The extra days earned their own step and weighing points, but no goal points.
    let now = balance(&app, &s).await;
    assert_eq!(now, ledger_sum(&app, &s).await);
    assert!(now > after_first);

    // The third day of blood pressure meets the last goal: it pays, once.
    app.upload(&s.access, bp(day(6), 119, 74)).await.stored();
    let paid = goal_entries(&app, &s).await;
    assert_eq!(paid.len(), 3, "{paid:?}");
    assert_eq!(paid[0]["title"], "Weekly programme goal met (log blood pressure)");
    assert_eq!(paid[0]["delta"], 2);
    app.upload(&s.access, bp(day(5), 119, 74)).await.stored();
    assert_eq!(goal_entries(&app, &s).await.len(), 3);
    assert_eq!(balance(&app, &s).await, ledger_sum(&app, &s).await);

    // A week without a plan pays no goal points, however much is done.
    let other = app.register("hanako@example.jp").await;
    pay_for_past_weeks(&app, &[&other]);
    upload_all(&app, &other, week_of_steps(week, [9000; 7])).await;
    assert!(goal_entries(&app, &other).await.is_empty());
}

async fn a_retired_programme_goal_rule_pays_nothing_more(app: TestApp) {
    let ops = admin(&app).await;
    let week = this_monday() - Duration::days(14);
    let paid = app.register("taro@example.jp").await;
    pay_for_past_weeks(&app, &[&paid]);
    store_plan(&app, &paid, week, json!([step_goal(6000), log_goal("log_weight", 1)]));
    app.upload(&paid.access, weight(week, 61.0)).await.stored();
    assert_eq!(
        goal_entries(&app, &paid).await.len(),
        1,
        "the weighing goal, while the rule is in force"
    );

    app.call(
        Method::DELETE,
        &format!("/v1/admin/reward-rules/{GOAL_RULE}"),
        Some(&ops),
        None,
    )
    .await
    .expect(204);

    // Neither a new resident's goals nor the first resident's next goal pay any more.
    let late = app.register("hanako@example.jp").await;
    pay_for_past_weeks(&app, &[&late]);
    store_plan(&app, &late, week, json!([step_goal(6000), log_goal("log_weight", 1)]));
    app.upload(&late.access, weight(week, 55.0)).await.stored();
    upload_all(&app, &late, week_of_steps(week, [7000; 7])).await;
    assert!(goal_entries(&app, &late).await.is_empty());
    upload_all(&app, &paid, week_of_steps(week, [7000; 7])).await;
    let entries = goal_entries(&app, &paid).await;
    assert_eq!(entries.len(), 1, "what it paid is kept, nothing new: {entries:?}");
    assert_eq!(balance(&app, &paid).await, ledger_sum(&app, &paid).await);
    assert_eq!(balance(&app, &late).await, ledger_sum(&app, &late).await);
}

// ---- health staff ----

async fn health_staff_see_only_the_consented_areas_and_each_read_is_logged(app: TestApp) {
    let ops = admin(&app).await;
    let acme = new_org(&app, &ops, "ACME").await;
    let nurse = staff(&app, &ops, &acme.id, "nurse@acme.example.jp", "health_staff").await;
    let taro = app.register("taro@example.jp").await;
    enrol(&app, &acme, &taro).await;
    let mut items: Vec<Value> = (1..=4).map(|k| bp(days_ago(7 * k), 140 + k, 85)).collect();
    items.extend((1..=10).map(|k| steps(days_ago(k), 21, 5000)));
    items.push(vascular(days_ago(3), 60));
    items.push(weight(days_ago(3), 70.0));
    upload_all(&app, &taro, items).await;
    let bp_consent = give(&app, &taro, &acme, &["blood_pressure"], "individual").await;

    let r = member_insights(&app, &nurse, &acme.id, &taro.user_id).await;
    r.expect(200);
    assert_eq!(area_names(&r.body), ["blood_pressure"], "{}", r.body);
    assert_eq!(r.body["language"], "ja");
    assert!(non_empty(&r.body["disclaimer"]));
    // The same blood-pressure insight the resident sees.
    let own = insights(&app, &taro).await;
    let (theirs, mine) = (area(&r.body, "blood_pressure"), area(&own, "blood_pressure"));
    assert_eq!(theirs["latest"], mine["latest"]);
    assert_eq!(theirs["classification"], mine["classification"]);
    assert_eq!(theirs["trend"], mine["trend"]);
    assert_eq!(theirs["trend"]["weeks"], 4, "{theirs}");
    assert_eq!(
        area_names(&own),
        ["vascular", "blood_pressure", "body_composition", "activity"]
    );

    let log = access_log(&app, &taro).await;
    assert_eq!(log.len(), 1, "one read, of the one consented type: {log:?}");
    let e = &log[0];
    assert_eq!(e["action"], "read_insights");
    assert_eq!(e["measurement_type"], "blood_pressure");
    assert_eq!(e["actor"], "nurse@acme.example.jp");
    assert_eq!(e["organization_id"], acme.id.as_str());
    assert_eq!(e["organization_name"], "ACME");
    assert_eq!(e["purpose"], PURPOSE);
    assert_eq!(e["consent_id"], bp_consent["id"]);
    assert_eq!(e["records"], 4, "the four readings the insight drew on");

    // With vascular age shared too, the area shows without a gap: the birth date is not shared.
    give(&app, &taro, &acme, &["vascular_age"], "individual").await;
    let r = member_insights(&app, &nurse, &acme.id, &taro.user_id).await;
    r.expect(200);
    assert_eq!(area_names(&r.body), ["vascular", "blood_pressure"]);
    let v = area(&r.body, "vascular");
    assert!(v["value"].is_null(), "no vascular age gap for staff: {v}");
    assert!(v["classification"].is_null(), "{v}");
    assert!(v["trend"].is_null(), "{v}");
    assert_eq!(v["latest"]["values"]["vascular_age_years"].as_f64(), Some(60.0));
    assert!(
        area(&own, "vascular")["value"].is_object(),
        "the resident sees the gap: {}",
        area(&own, "vascular")
    );
    let log = access_log(&app, &taro).await;
    assert_eq!(log.len(), 3, "{log:?}");
    let mut newest: Vec<&str> = log[..2]
        .iter()
        .map(|e| e["measurement_type"].as_str().unwrap())
        .collect();
    newest.sort_unstable();
    assert_eq!(newest, ["blood_pressure", "vascular_age"]);
    assert!(log.iter().all(|e| e["action"] == "read_insights"));
}

async fn health_staff_see_bmi_and_steps_from_shared_types_with_the_adult_references(app: TestApp) {
    let ops = admin(&app).await;
    let acme = new_org(&app, &ops, "ACME").await;
    let nurse = staff(&app, &ops, &acme.id, "nurse@acme.example.jp", "health_staff").await;
    let ume = register_born(&app, "ume@example.jp", "1955-01-01").await;
    enrol(&app, &acme, &ume).await;
    let mut items: Vec<Value> = (1..=5).map(|k| steps(days_ago(k), 21, 7000)).collect();
    items.push(weight(days_ago(2), 80.0));
    items.push(height(days_ago(2), 170.0));
    items.push(sleep(days_ago(1), 300));
    upload_all(&app, &ume, items).await;
    give(
        &app,
        &ume,
        &acme,
        &["body_weight", "body_height", "steps"],
        "individual",
    )
    .await;

    let r = member_insights(&app, &nurse, &acme.id, &ume.user_id).await;
    r.expect(200);
    assert_eq!(area_names(&r.body), ["body_composition", "activity"], "not sleep");
    let own = insights(&app, &ume).await;
    let (theirs, mine) = (area(&r.body, "body_composition"), area(&own, "body_composition"));
    assert_value(theirs, "bmi", 27.7, "kg/m2");
    assert_eq!(theirs["classification"], mine["classification"]);
    let (theirs, mine) = (area(&r.body, "activity"), area(&own, "activity"));
    assert_value(theirs, "daily_steps", 7000.0, "/d");
    assert_eq!(theirs["trend"], mine["trend"]);
    // The resident is 71: 6,000 steps is the recommendation from 65. Staff do not know the age,
    // so they see the adult figure.
    assert_eq!(mine["classification"]["category"], "meets_recommendation");
    assert_eq!(theirs["classification"]["category"], "below_recommendation");

    let log = access_log(&app, &ume).await;
    let mut read: Vec<(String, i64)> = log
        .iter()
        .map(|e| {
            assert_eq!(e["action"], "read_insights");
            (
                e["measurement_type"].as_str().unwrap().to_owned(),
                e["records"].as_i64().unwrap(),
            )
        })
        .collect();
    read.sort();
    assert_eq!(
        read,
        [
            ("body_height".to_owned(), 1),
            ("body_weight".to_owned(), 1),
            ("steps".to_owned(), 5)
        ]
    );
}

async fn staff_insights_need_an_individual_consent_in_force_to_their_own_organisation(app: TestApp) {
    let ops = admin(&app).await;
    let acme = new_org(&app, &ops, "ACME").await;
    let kenpo = new_org(&app, &ops, "Kenpo").await;
    let nurse = staff(&app, &ops, &acme.id, "nurse@acme.example.jp", "health_staff").await;
    let analyst = staff(&app, &ops, &acme.id, "analyst@acme.example.jp", "analyst").await;
    let kenpo_nurse = staff(&app, &ops, &kenpo.id, "nurse@kenpo.example.jp", "health_staff").await;
    let taro = app.register("taro@example.jp").await;
    let hanako = app.register("hanako@example.jp").await;
    for s in [&taro, &hanako] {
        enrol(&app, &acme, s).await;
        app.upload(&s.access, bp(days_ago(1), 130, 80)).await.stored();
    }
    let consent = give(&app, &taro, &acme, &["blood_pressure"], "individual").await;
    member_insights(&app, &nurse, &acme.id, &taro.user_id).await.expect(200);
    let logged = access_log(&app, &taro).await.len();
    assert_eq!(logged, 1);

    // Not the organisation's analyst, nor another organisation's health staff.
    let r = member_insights(&app, &analyst, &acme.id, &taro.user_id).await;
    assert_problem(&r, 403, "forbidden");
    member_insights(&app, &kenpo_nurse, &kenpo.id, &taro.user_id)
        .await
        .expect(403);
    member_insights(&app, &kenpo_nurse, &acme.id, &taro.user_id)
        .await
        .expect(403);

    // An aggregate consent is not an individual one.
    give(&app, &hanako, &acme, &["blood_pressure", "steps"], "aggregate").await;
    let aggregate_only = member_insights(&app, &nurse, &acme.id, &hanako.user_id).await;
    assert_problem(&aggregate_only, 403, "forbidden");
    assert!(access_log(&app, &hanako).await.is_empty());

    // An unknown account answers exactly as a member without consent does.
    let unknown = member_insights(&app, &nurse, &acme.id, &uuid::Uuid::now_v7().to_string()).await;
    assert_problem(&unknown, 403, "forbidden");
    assert_eq!(
        unknown.body["detail"], aggregate_only.body["detail"],
        "no existence leak"
    );

    // Revoked: refused at once.
    let r = app
        .call(
            Method::DELETE,
            &format!("/v1/me/consents/{}", consent["id"].as_str().unwrap()),
            Some(&taro.access),
            None,
        )
        .await;
    r.expect(204);
    assert_problem(
        &member_insights(&app, &nurse, &acme.id, &taro.user_id).await,
        403,
        "forbidden",
    );
    assert_eq!(
        access_log(&app, &taro).await.len(),
        logged,
        "refused reads are not logged"
    );
}

// ---- scopes and errors ----

async fn insights_routes_need_measurements_read_a_token_and_well_formed_ids(app: TestApp) {
    let s = app.register("taro@example.jp").await;
    let writer = app_token(&app, &s, &["measurements:write", "points:read"]).await;
    let reader = app_token(&app, &s, &["measurements:read"]).await;
    for path in ["/v1/me/insights", "/v1/me/programme"] {
        app.get(path, Some(&writer)).await.expect(403);
        app.get(path, None).await.expect(401);
        app.get(path, Some(&reader)).await.expect(200);
    }
    let ops = admin(&app).await;
    let acme = new_org(&app, &ops, "ACME").await;
    let nurse = staff(&app, &ops, &acme.id, "nurse@acme.example.jp", "health_staff").await;
    let good = uuid::Uuid::now_v7().to_string();
    app.get(&format!("/v1/orgs/{}/members/{}/insights", acme.id, s.user_id), None)
        .await
        .expect(401);
    for (org, user) in [
        ("not-an-id", s.user_id.as_str()),
        (acme.id.as_str(), "12345"),
        ("x", "y"),
    ] {
        let r = app
            .get(&format!("/v1/orgs/{org}/members/{user}/insights"), Some(&nurse.access))
            .await;
        r.expect(400);
        assert_eq!(r.content_type(), "application/problem+json");
    }
    member_insights(&app, &nurse, &acme.id, &good).await.expect(403);
}

// ---- helpers ----

fn tokyo() -> FixedOffset {
    FixedOffset::east_opt(9 * 3600).unwrap()
}

/// Today in Asia/Tokyo (no daylight saving time there).
fn today() -> NaiveDate {
    Utc::now().with_timezone(&tokyo()).date_naive()
}

fn days_ago(n: i64) -> NaiveDate {
    today() - Duration::days(n)
}

fn this_monday() -> NaiveDate {
    let t = today();
    t - Duration::days(i64::from(t.weekday().num_days_from_monday()))
}

fn age_on(birth: &str, on: NaiveDate) -> i64 {
    let b: NaiveDate = birth.parse().unwrap();
    let mut years = i64::from(on.year() - b.year());
    if (on.month(), on.day()) < (b.month(), b.day()) {
        years -= 1;
    }
    years
}

/// Hiragana or katakana: written Japanese always has some.
fn has_kana(s: &str) -> bool {
    s.chars().any(|c| matches!(c, '\u{3040}'..='\u{30ff}'))
}

fn non_empty(v: &Value) -> bool {
    v.as_str().is_some_and(|s| !s.trim().is_empty())
}

fn header_text(r: &Resp, name: header::HeaderName) -> String {
    r.headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

fn measurement(kind: &str, day: NaiveDate, hour: u32, values: Value) -> Value {
    json!({"type": kind, "effective_at": format!("{day}T{hour:02}:00:00+09:00"), "values": values})
}

fn bp(day: NaiveDate, systolic: i64, diastolic: i64) -> Value {
    measurement(
        "blood_pressure",
        day,
        8,
        json!({"systolic_mmhg": systolic, "diastolic_mmhg": diastolic}),
    )
}

fn weight(day: NaiveDate, kg: f64) -> Value {
    measurement("body_weight", day, 7, json!({ "kg": kg }))
}

fn height(day: NaiveDate, cm: f64) -> Value {
    measurement("body_height", day, 7, json!({ "cm": cm }))
}

fn gait(day: NaiveDate, speed: f64) -> Value {
    measurement(
        "gait",
        day,
        10,
        json!({"walking_speed_m_s": speed, "stride_length_cm": 60, "cadence_steps_min": 100}),
    )
}

fn vascular(day: NaiveDate, years: i64) -> Value {
    measurement("vascular_age", day, 11, json!({ "vascular_age_years": years }))
}

fn sleep(day: NaiveDate, minutes: i64) -> Value {
    measurement("sleep", day, 6, json!({ "duration_min": minutes }))
}

fn checkup(kind: &str, date: NaiveDate) -> Value {
    measurement(
        "health_checkup",
        date,
        9,
        json!({"kind": kind, "checkup_date": date.to_string()}),
    )
}

fn with_client_ref(mut m: Value, client_ref: &str) -> Value {
    m["client_ref"] = json!(client_ref);
    m
}

/// A week of daily step totals, Monday first.
fn week_of_steps(monday: NaiveDate, counts: [i64; 7]) -> Vec<Value> {
    counts
        .iter()
        .enumerate()
        .map(|(i, c)| steps(monday + Duration::days(i as i64), 21, *c))
        .collect()
}

/// Uploads a batch in which every item is valid; returns the answer.
async fn upload_all(app: &TestApp, s: &Session, items: Vec<Value>) -> Value {
    let r = app
        .post("/v1/measurements/batch", Some(&s.access), json!({ "items": items }))
        .await;
    r.expect(200);
    assert_eq!(r.body["invalid"], 0, "{}", String::from_utf8_lossy(&r.raw));
    r.body
}

async fn register_born(app: &TestApp, email: &str, birth_date: &str) -> Session {
    let r = app
        .post(
            "/v1/auth/register",
            None,
            json!({"email": email, "password": PASSWORD, "birth_date": birth_date, "sex": "male"}),
        )
        .await;
    r.expect(201);
    Session {
        user_id: r.body["user"]["id"].as_str().unwrap().to_owned(),
        access: r.body["access_token"].as_str().unwrap().to_owned(),
        refresh: r.body["refresh_token"].as_str().unwrap().to_owned(),
    }
}

/// A GET with an optional `Accept-Language`.
async fn get_in(app: &TestApp, path: &str, token: &str, accept_language: Option<&str>) -> Resp {
    let mut req = TestRequest::get()
        .uri(path)
        .insert_header((header::AUTHORIZATION, format!("Bearer {token}")));
    if let Some(l) = accept_language {
        req = req.insert_header((header::ACCEPT_LANGUAGE, l));
    }
    app.send(req).await
}

async fn insights(app: &TestApp, s: &Session) -> Value {
    let r = app.get("/v1/me/insights", Some(&s.access)).await;
    r.expect(200);
    assert_eq!(header_text(&r, header::CONTENT_LANGUAGE), "ja");
    r.body
}

fn area_names(body: &Value) -> Vec<String> {
    body["areas"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["area"].as_str().unwrap().to_owned())
        .collect()
}

fn area<'a>(body: &'a Value, name: &str) -> &'a Value {
    body["areas"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["area"] == name)
        .unwrap_or_else(|| panic!("no {name} area in {body}"))
}

#[track_caller]
fn assert_classified(a: &Value, metric: &str, category: &str, level: &str, reference: &str) {
    let c = &a["classification"];
    assert_eq!(c["metric"], metric, "{a}");
    assert_eq!(c["category"], category, "{a}");
    assert_eq!(c["level"], level, "{a}");
    assert_eq!(c["reference"]["id"], reference, "{a}");
    assert!(non_empty(&c["reference"]["name"]), "{a}");
    assert!(non_empty(&c["reference"]["note"]), "{a}");
}

#[track_caller]
fn assert_value(a: &Value, metric: &str, value: f64, unit: &str) {
    let v = &a["value"];
    assert_eq!(v["metric"], metric, "{a}");
    let got = v["value"].as_f64().unwrap_or(f64::NAN);
    assert!((got - value).abs() < 1e-9, "value {got}, expected {value}: {a}");
    assert_eq!(v["unit"], unit, "{a}");
}

async fn programme(app: &TestApp, s: &Session) -> Value {
    let r = app.get("/v1/me/programme", Some(&s.access)).await;
    r.expect(200);
    r.body
}

fn goal<'a>(p: &'a Value, kind: &str) -> Option<&'a Value> {
    p["goals"].as_array().unwrap().iter().find(|g| g["kind"] == kind)
}

/// This week's step goal.
async fn step_goal_of(app: &TestApp, s: &Session) -> Value {
    let p = programme(app, s).await;
    goal(&p, "daily_steps")
        .unwrap_or_else(|| panic!("no step goal in {p}"))
        .clone()
}

/// The goals as planned, without the week's progress.
fn plan_of(p: &Value) -> Vec<Value> {
    p["goals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            let mut g = g.clone();
            let o = g.as_object_mut().unwrap();
            o.remove("days_done");
            o.remove("met");
            g
        })
        .collect()
}

/// A stored daily-steps goal, as the service serialises `Goal`.
fn step_goal(target: u32) -> Value {
    json!({"kind": "daily_steps", "target_steps": target, "adjustment": "held",
           "reason": "keep_active", "target_days_per_week": 5})
}

/// A stored logging goal (`log_weight`, `log_blood_pressure`).
fn log_goal(kind: &str, days: u32) -> Value {
    let reason = if kind == "log_weight" {
        "weekly_weight_check"
    } else {
        "blood_pressure_above_normal"
    };
    json!({"kind": kind, "reason": reason, "target_days_per_week": days})
}

/// Stores a week's plan directly, as if the resident had asked for it that week.
/// Fixture for the weeks of goals these tests upload for, two and three weeks ago: points pay only
/// inside a programme's award window (default 7 days) and for days after the account and the rule
/// existed, so the window is widened and the accounts and rules made older.
fn pay_for_past_weeks(app: &TestApp, residents: &[&Session]) {
    use karada::db::schema::programmes;
    diesel::update(programmes::table.find("osaka"))
        .set(programmes::award_window_days.eq(30))
        .execute(&mut app.db.conn())
        .unwrap();
    crate::common::backdate_rules(app, "osaka", 60);
    for s in residents {
        crate::common::backdate_account(app, s, 60);
    }
}

fn store_plan(app: &TestApp, s: &Session, monday: NaiveDate, goals: Value) {
    diesel::insert_into(programme_weeks::table)
        .values((
            programme_weeks::user_id.eq(Id(s.user_id.parse().unwrap())),
            programme_weeks::week_start.eq(monday),
            programme_weeks::goals.eq(Json(goals)),
            programme_weeks::created_at.eq(Ts(Utc::now() - Duration::days(7))),
        ))
        .execute(&mut app.db.conn())
        .unwrap();
}

fn stored_plans(app: &TestApp, s: &Session) -> i64 {
    programme_weeks::table
        .filter(programme_weeks::user_id.eq(Id(s.user_id.parse().unwrap())))
        .count()
        .get_result(&mut app.db.conn())
        .unwrap()
}

async fn ledger(app: &TestApp, s: &Session) -> Vec<Value> {
    let r = app.get("/v1/points/ledger?limit=500", Some(&s.access)).await;
    r.expect(200);
    assert!(r.body["next_cursor"].is_null());
    r.body["items"].as_array().unwrap().clone()
}

/// The ledger entries paid by the programme goal rule, newest first.
async fn goal_entries(app: &TestApp, s: &Session) -> Vec<Value> {
    ledger(app, s)
        .await
        .into_iter()
        .filter(|e| e["rule_id"] == GOAL_RULE)
        .collect()
}

async fn ledger_sum(app: &TestApp, s: &Session) -> i64 {
    ledger(app, s).await.iter().map(|e| e["delta"].as_i64().unwrap()).sum()
}

/// A consent of `s` to `org` for `types` at `access`, for workplace health guidance.
async fn give(app: &TestApp, s: &Session, org: &Org, types: &[&str], access: &str) -> Value {
    sharing::give(app, s, consent_body(&org.id, types, access, PURPOSE)).await
}

async fn member_insights(app: &TestApp, reader: &Session, org: &str, user: &str) -> Resp {
    app.get(&format!("/v1/orgs/{org}/members/{user}/insights"), Some(&reader.access))
        .await
}

async fn access_log(app: &TestApp, s: &Session) -> Vec<Value> {
    let r = app.get("/v1/me/access-log", Some(&s.access)).await;
    r.expect(200);
    r.body["items"].as_array().unwrap().clone()
}

// ---- what a review found ----

async fn a_night_two_devices_recorded_counts_once(app: TestApp) {
    let s = app.register("taro@example.jp").await;
    let night = days_ago(2);
    let mut watch = sleep(night, 240);
    watch["source"] = json!("watch");
    let mut phone = sleep(night, 240);
    phone["source"] = json!("phone");
    let mut nap = sleep(night, 30);
    nap["source"] = json!("phone");
    nap["effective_at"] = json!(format!("{night}T14:00:00+09:00"));
    upload_all(&app, &s, vec![watch, phone, nap]).await;
    let a = area(&insights(&app, &s).await, "sleep").clone();
    assert_value(&a, "sleep_duration", 270.0, "min/d");
    assert_eq!(a["classification"]["category"], "short", "4.5 hours, not 8.5: {a}");
}

async fn a_checkup_goal_is_met_by_a_checkup_dated_that_week_not_by_recording_an_old_one(app: TestApp) {
    let s = app.register("taro@example.jp").await;
    pay_for_past_weeks(&app, &[&s]);
    let week = this_monday() - Duration::days(14);
    let booking = json!({"kind": "book_checkup", "checkup_kind": "specific_health_checkup",
                         "reason": "checkup_overdue", "target_days_per_week": 1});
    store_plan(&app, &s, week, json!([booking]));
    // Recorded during the week, but a checkup of 2019: no goal met.
    let mut old = checkup("specific_health_checkup", "2019-05-01".parse().unwrap());
    old["effective_at"] = json!(format!("{}T10:00:00+09:00", week + Duration::days(2)));
    app.upload(&s.access, old).await.stored();
    assert!(goal_entries(&app, &s).await.is_empty(), "an old checkup recorded again");
    // A checkup taken that week, recorded a week later: met, and paid once.
    let mut taken = checkup("specific_health_checkup", week + Duration::days(3));
    taken["effective_at"] = json!(format!("{}T10:00:00+09:00", week + Duration::days(9)));
    app.upload(&s.access, taken).await.stored();
    let paid = goal_entries(&app, &s).await;
    assert_eq!(paid.len(), 1, "{paid:?}");
    assert_eq!(paid[0]["title"], "Weekly programme goal met (book checkup)");
}

async fn goals_met_before_the_plan_was_made_are_paid_when_it_is_read(app: TestApp) {
    let s = app.register("taro@example.jp").await;
    // Weighed today, before any plan of this week exists: the upload pays no goal.
    app.upload(&s.access, weight(today(), 61.0)).await.stored();
    assert!(goal_entries(&app, &s).await.is_empty());
    store_plan(
        &app,
        &s,
        this_monday(),
        json!([log_goal("log_weight", 1), step_goal(6000)]),
    );
    let p = programme(&app, &s).await;
    assert_eq!(goal(&p, "log_weight").unwrap()["met"], true);
    let paid = goal_entries(&app, &s).await;
    assert_eq!(paid.len(), 1, "the weighing goal, paid when the plan is read: {paid:?}");
    assert_eq!(paid[0]["local_date"], today().to_string());
    assert!(paid[0]["measurement_id"].is_null());
    // Reading it again, or an upload of the same week, pays nothing more.
    programme(&app, &s).await;
    app.upload(&s.access, weight(today(), 61.2)).await.stored();
    assert_eq!(goal_entries(&app, &s).await.len(), 1);
    assert_eq!(balance(&app, &s).await, ledger_sum(&app, &s).await);
}

async fn two_uploads_that_complete_a_goal_together_pay_it_once(app: TestApp) {
    let s = app.register("taro@example.jp").await;
    pay_for_past_weeks(&app, &[&s]);
    let week = this_monday() - Duration::days(14);
    store_plan(&app, &s, week, json!([step_goal(6000)]));
    let day = |i: i64| week + Duration::days(i);
    upload_all(&app, &s, (0..3).map(|i| steps(day(i), 21, 7000)).collect()).await;
    // Two devices sync the fourth and fifth days at once: neither alone meets 5 days.
    let results = futures_util::future::join_all(
        [steps(day(3), 21, 7000), steps(day(4), 21, 7000)]
            .into_iter()
            .map(|b| app.post("/v1/measurements", Some(&s.access), b)),
    )
    .await;
    for r in &results {
        r.expect(201);
    }
    let paid = goal_entries(&app, &s).await;
    assert_eq!(
        paid.len(),
        1,
        "the later of the two sees the earlier one's day: {paid:?}"
    );
    assert_eq!(balance(&app, &s).await, ledger_sum(&app, &s).await);
}
