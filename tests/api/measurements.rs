//! Measurements through HTTP: the catalogue, single and batch uploads (idempotent retries, daily
//! totals, validation), scopes, and the resident's own reads (list, get, delete, latest, summary).

use actix_web::http::{Method, header};
use actix_web::test::TestRequest;
use chrono::{Duration, NaiveDate, Utc};
use diesel::prelude::*;
use serde_json::{Value, json};

use karada::db::schema::measurements;
use karada::db::types::Json;
use karada::measurements::catalogue::{CATALOGUE, FieldKind};

use crate::both_backends;
use crate::common::{Resp, Session, TestApp, steps_at};

both_backends!(
    the_catalogue_lists_every_type_with_fields_units_ranges_and_loinc,
    an_upload_is_stored_normalised_on_the_residents_local_day,
    vascular_age_answers_carry_the_gap_to_the_age_on_that_local_day,
    retrying_an_upload_with_the_same_client_ref_returns_the_stored_one,
    reusing_a_client_ref_for_different_values_is_409_and_changes_nothing,
    the_same_client_ref_from_another_source_is_another_measurement,
    a_later_steps_upload_replaces_the_days_total,
    an_older_steps_upload_for_the_day_answers_the_stored_total_and_changes_nothing,
    each_source_keeps_its_own_daily_steps_total,
    the_residents_timezone_decides_which_day_steps_count_for,
    concurrent_retries_of_one_upload_store_it_once,
    concurrent_daily_steps_uploads_keep_the_latest,
    a_batch_reports_each_item_and_one_bad_item_never_blocks_the_others,
    a_batch_item_of_the_wrong_json_type_is_invalid_on_its_own,
    a_batch_holds_1_to_1000_items,
    a_batch_body_over_1_mib_is_413_and_stores_nothing,
    the_same_daily_steps_twice_in_one_batch_keep_the_later_one,
    unknown_types_and_missing_or_extra_value_fields_are_422_naming_the_field,
    a_required_field_sent_as_null_is_reported_once,
    a_body_of_the_wrong_json_shape_is_400,
    nan_or_infinity_in_the_body_is_400,
    numbers_sent_as_strings_and_fractional_counts_are_422,
    every_numeric_field_of_every_type_is_range_checked_at_both_ends,
    systolic_at_or_below_diastolic_is_422,
    a_timestamp_without_offset_or_over_24_hours_ahead_is_422,
    a_client_ref_over_128_characters_is_422,
    app_token_scopes_limit_uploads_and_reads,
    an_app_tokens_uploads_carry_its_name_and_modality,
    a_paired_kiosk_uploads_sensed_measurements,
    the_list_is_newest_first_and_filters_by_type_and_time,
    paging_visits_every_row_once_in_order,
    paging_is_stable_when_rows_are_inserted_between_pages,
    sub_second_times_are_kept_to_the_microsecond_and_ordered,
    bad_list_queries_are_refused,
    a_measurement_is_read_and_deleted_by_its_owner_only,
    unknown_ids_are_404_and_malformed_ids_400,
    latest_gives_the_newest_of_each_type,
    summary_buckets_local_days_weeks_from_monday_and_months,
    summary_counts_each_field_on_its_own,
    the_residents_timezone_decides_the_summary_bucket_near_midnight,
    bad_summary_queries_are_422,
);

/// 07:30 in Tokyo on 10 June 2025: still 9 June in UTC.
const AT: &str = "2025-06-10T07:30:00+09:00";

// ---- request bodies ----

fn measurement(kind: &str, at: &str, values: Value) -> Value {
    json!({"type": kind, "effective_at": at, "values": values})
}

fn weight(at: &str, kg: Value) -> Value {
    measurement("body_weight", at, json!({ "kg": kg }))
}

/// `body` with `key` set to `value`.
fn with(mut body: Value, key: &str, value: impl Into<Value>) -> Value {
    body[key] = value.into();
    body
}

/// 03:00 UTC (noon in Tokyo) `n` days after 1 January 2025.
fn day(n: i64) -> String {
    let d = NaiveDate::from_ymd_opt(2025, 1, 1).unwrap() + Duration::days(n);
    format!("{d}T03:00:00Z")
}

/// A value inside the field's range (the midpoint, or the first choice).
fn sample(kind: FieldKind) -> Value {
    match kind {
        FieldKind::Number { min, max } => json!((min + max) / 2.0),
        FieldKind::Integer { min, max } => json!((min + max) / 2),
        FieldKind::Choice { options } => json!(options[0]),
        FieldKind::Date => json!("2025-04-01"),
        FieldKind::Sha256 => json!("ab".repeat(32)),
    }
}

// ---- requests and reads ----

/// Uploads `body`, expecting 201; the new measurement's id.
async fn create(app: &TestApp, token: &str, body: Value) -> String {
    let r = app.upload(token, body).await;
    r.expect(201);
    r.body["id"].as_str().unwrap().to_owned()
}

async fn batch(app: &TestApp, token: &str, items: Vec<Value>) -> Resp {
    app.post("/v1/measurements/batch", Some(token), json!({ "items": items }))
        .await
}

async fn delete(app: &TestApp, token: &str, id: &str) -> Resp {
    app.call(Method::DELETE, &format!("/v1/measurements/{id}"), Some(token), None)
        .await
}

async fn get_one(app: &TestApp, token: &str, id: &str) -> Resp {
    app.get(&format!("/v1/measurements/{id}"), Some(token)).await
}

async fn list(app: &TestApp, token: &str, query: &str) -> Resp {
    app.get(&format!("/v1/measurements?{query}"), Some(token)).await
}

async fn summary(app: &TestApp, token: &str, query: &str) -> Resp {
    app.get(&format!("/v1/measurements/summary?{query}"), Some(token)).await
}

/// Creates an app token for `s`; the token.
async fn app_token(app: &TestApp, s: &Session, body: Value) -> String {
    let r = app.post("/v1/me/app-tokens", Some(&s.access), body).await;
    r.expect(201);
    r.body["token"].as_str().unwrap().to_owned()
}

async fn set_timezone(app: &TestApp, s: &Session, tz: &str) {
    app.call(
        Method::PATCH,
        "/v1/me",
        Some(&s.access),
        Some(json!({ "timezone": tz })),
    )
    .await
    .expect(200);
}

/// The ids of a page's `items`.
fn ids(r: &Resp) -> Vec<String> {
    items(r).iter().map(|m| m["id"].as_str().unwrap().to_owned()).collect()
}

fn items(r: &Resp) -> &Vec<Value> {
    r.body["items"].as_array().unwrap()
}

fn sorted_fields(r: &Resp) -> Vec<String> {
    let mut f = r.error_fields();
    f.sort();
    f
}

/// Rows in the measurements table, of every resident.
fn stored(app: &TestApp) -> i64 {
    measurements::table.count().get_result(&mut app.db.conn()).unwrap()
}

/// The stored values of every row of one type.
fn stored_values(app: &TestApp, kind: &str) -> Vec<Value> {
    measurements::table
        .filter(measurements::kind.eq(kind))
        .select(measurements::fields)
        .load::<Json>(&mut app.db.conn())
        .unwrap()
        .into_iter()
        .map(|j| j.0)
        .collect()
}

// ---- catalogue ----

async fn the_catalogue_lists_every_type_with_fields_units_ranges_and_loinc(app: TestApp) {
    let r = app.get("/v1/measurement-types", None).await;
    r.expect(200);
    let types = r.body["types"].as_array().unwrap();
    let names: Vec<&str> = types.iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "vascular_age",
            "gait",
            "capillary",
            "steps",
            "body_weight",
            "body_height",
            "body_composition",
            "blood_pressure",
            "heart_rate",
            "sleep",
            "blood_glucose",
            "dental",
            "respiratory",
            "cognitive",
            "fatigue",
            "health_checkup",
        ]
    );
    let find = |name: &str| types.iter().find(|t| t["name"] == name).unwrap();
    let weight = find("body_weight");
    assert_eq!(weight["loinc"], "29463-7");
    assert_eq!(
        weight["fields"],
        json!([{"name": "kg", "description": "Body weight", "unit": "kg", "required": true, "loinc": "29463-7",
                "kind": "number", "min": 20.0, "max": 300.0}])
    );
    let bp = find("blood_pressure");
    assert_eq!(bp["loinc"], "85354-9");
    assert_eq!(bp["fields"][0]["loinc"], "8480-6");
    assert_eq!(bp["fields"][1]["loinc"], "8462-4");
    assert_eq!(bp["fields"][0]["unit"], "mm[Hg]");
    assert_eq!(find("heart_rate")["loinc"], "8867-4");
    let steps = find("steps");
    assert_eq!(steps["loinc"], "41950-7");
    assert_eq!(steps["daily_total"], true);
    assert_eq!(
        (
            &steps["fields"][0]["kind"],
            &steps["fields"][0]["min"],
            &steps["fields"][0]["max"]
        ),
        (&json!("integer"), &json!(0), &json!(100_000))
    );
    let vascular = find("vascular_age");
    assert!(vascular["loinc"].is_null());
    assert_eq!(vascular["fields"][1]["name"], "pulse_wave_velocity_cm_s");
    assert_eq!(vascular["fields"][1]["required"], false);
    assert_eq!(
        find("health_checkup")["fields"][0]["options"],
        json!(["specific_health_checkup", "cancer_screening", "dental_checkup"])
    );
    // Every quantity carries a unit and an ordered range.
    for t in types {
        for f in t["fields"].as_array().unwrap() {
            if f["kind"] == "number" {
                assert!(f["unit"].is_string(), "{}.{}", t["name"], f["name"]);
                assert!(f["min"].as_f64() < f["max"].as_f64());
            }
        }
    }
}

// ---- single uploads ----

async fn an_upload_is_stored_normalised_on_the_residents_local_day(app: TestApp) {
    let s = app.register("taro@example.jp").await;
    let r = app
        .upload(&s.access, with(weight(AT, json!(61)), "note", "after breakfast"))
        .await;
    r.expect(201);
    let id: uuid::Uuid = r.body["id"].as_str().unwrap().parse().unwrap();
    assert_eq!(id.get_version_num(), 7);
    assert_eq!(r.body["type"], "body_weight");
    assert_eq!(r.body["values"], json!({"kg": 61.0}));
    assert!(r.body["values"]["kg"].is_f64(), "kg 61 is stored as the number 61.0");
    assert_eq!(r.body["effective_at"], "2025-06-09T22:30:00Z");
    assert_eq!(r.body["local_date"], "2025-06-10", "the day in Asia/Tokyo, not in UTC");
    assert_eq!(r.body["source"], "manual");
    assert_eq!(r.body["modality"], "self_reported");
    assert_eq!(r.body["note"], "after breakfast");
    assert!(r.body["client_ref"].is_null());
    assert!(r.body["created_at"].is_string() && r.body["updated_at"].is_string());
    assert!(r.body.get("vascular_age_gap").is_none());
    // Reading it back gives the same measurement.
    let got = get_one(&app, &s.access, &id.to_string()).await;
    got.expect(200);
    assert_eq!(got.body, r.body);
    assert_eq!(stored(&app), 1);
    // A count sent as 1000.0 is stored as the whole number 1000.
    let r = app
        .upload(&s.access, measurement("steps", AT, json!({"count": 1000.0})))
        .await;
    r.expect(201);
    assert_eq!(r.body["values"]["count"], json!(1000));
    assert!(r.body["values"]["count"].is_i64());
}

async fn vascular_age_answers_carry_the_gap_to_the_age_on_that_local_day(app: TestApp) {
    // Born 1980-04-01: 45 from 1 April 2025 in Tokyo, which begins at 15:00 UTC on 31 March.
    let s = app.register("taro@example.jp").await;
    let vascular = |at: &str, years: f64| {
        measurement(
            "vascular_age",
            at,
            json!({"vascular_age_years": years, "pulse_wave_velocity_cm_s": 1400}),
        )
    };
    let birthday = app.upload(&s.access, vascular("2025-03-31T16:00:00Z", 52.0)).await;
    birthday.expect(201);
    assert_eq!(birthday.body["local_date"], "2025-04-01");
    assert_eq!(birthday.body["vascular_age_gap"], json!(7.0), "52 - 45");
    let eve = app.upload(&s.access, vascular("2025-03-31T14:00:00Z", 52.0)).await;
    eve.expect(201);
    assert_eq!(eve.body["local_date"], "2025-03-31");
    assert_eq!(eve.body["vascular_age_gap"], json!(8.0), "52 - 44");
    let younger = app.upload(&s.access, vascular("2025-06-01T00:00:00Z", 40.5)).await;
    younger.expect(201);
    assert_eq!(younger.body["vascular_age_gap"], json!(-4.5));
    // Reads carry it too.
    let id = birthday.body["id"].as_str().unwrap();
    assert_eq!(get_one(&app, &s.access, id).await.body["vascular_age_gap"], json!(7.0));
    let page = list(&app, &s.access, "type=vascular_age").await;
    let gaps: Vec<&Value> = items(&page).iter().map(|m| &m["vascular_age_gap"]).collect();
    assert_eq!(gaps, [&json!(-4.5), &json!(7.0), &json!(8.0)]);
}

// ---- idempotency ----

async fn retrying_an_upload_with_the_same_client_ref_returns_the_stored_one(app: TestApp) {
    let s = app.register("taro@example.jp").await;
    let body = with(weight(AT, json!(61.2)), "client_ref", "scale-0001");
    let first = app.upload(&s.access, body.clone()).await;
    first.expect(201);
    assert_eq!(first.body["client_ref"], "scale-0001");
    let again = app.upload(&s.access, body).await;
    again.expect(200);
    assert_eq!(again.body, first.body);
    // The same instant written with another offset is the same upload.
    let utc = with(weight("2025-06-09T22:30:00Z", json!(61.2)), "client_ref", "scale-0001");
    let again = app.upload(&s.access, utc).await;
    again.expect(200);
    assert_eq!(again.body["id"], first.body["id"]);
    assert_eq!(stored(&app), 1);
}

async fn reusing_a_client_ref_for_different_values_is_409_and_changes_nothing(app: TestApp) {
    let s = app.register("taro@example.jp").await;
    let id = create(
        &app,
        &s.access,
        with(weight(AT, json!(61.2)), "client_ref", "scale-0001"),
    )
    .await;
    let other = with(weight(AT, json!(62)), "client_ref", "scale-0001");
    app.upload(&s.access, other).await.expect(409);
    let later = with(
        weight("2025-06-11T07:30:00+09:00", json!(61.2)),
        "client_ref",
        "scale-0001",
    );
    app.upload(&s.access, later).await.expect(409);
    assert_eq!(stored(&app), 1);
    assert_eq!(get_one(&app, &s.access, &id).await.body["values"], json!({"kg": 61.2}));
}

async fn the_same_client_ref_from_another_source_is_another_measurement(app: TestApp) {
    let s = app.register("taro@example.jp").await;
    let body = with(weight(AT, json!(61.2)), "client_ref", "0001");
    let manual = create(&app, &s.access, body.clone()).await;
    let r = app.upload(&s.access, with(body, "source", "Tanita RD-953")).await;
    r.expect(201);
    assert_ne!(r.body["id"], manual.as_str());
    assert_eq!(r.body["source"], "Tanita RD-953");
    // Another resident's identical upload is theirs.
    let b = app.register("hanako@example.jp").await;
    let theirs = create(&app, &b.access, with(weight(AT, json!(61.2)), "client_ref", "0001")).await;
    assert_ne!(theirs, manual);
    assert_eq!(stored(&app), 3);
}

// ---- daily totals ----

async fn a_later_steps_upload_replaces_the_days_total(app: TestApp) {
    let s = app.register("taro@example.jp").await;
    let first = app.upload(&s.access, steps_at("2025-06-10T09:00:00+09:00", 3000)).await;
    first.expect(201);
    let later = app.upload(&s.access, steps_at("2025-06-10T21:00:00+09:00", 5000)).await;
    later.expect(201);
    assert_eq!(later.body["id"], first.body["id"]);
    assert_eq!(later.body["values"], json!({"count": 5000}));
    assert_eq!(later.body["effective_at"], "2025-06-10T12:00:00Z");
    assert_eq!(later.body["local_date"], "2025-06-10");
    assert_eq!(later.body["created_at"], first.body["created_at"]);
    let updated = |r: &Resp| {
        r.body["updated_at"]
            .as_str()
            .unwrap()
            .parse::<chrono::DateTime<Utc>>()
            .unwrap()
    };
    assert!(updated(&later) >= updated(&first));
    assert_eq!(stored(&app), 1);
    assert_eq!(stored_values(&app, "steps"), [json!({"count": 5000})]);
    let got = get_one(&app, &s.access, first.body["id"].as_str().unwrap()).await;
    assert_eq!(got.body["values"], json!({"count": 5000}));
}

async fn an_older_steps_upload_for_the_day_answers_the_stored_total_and_changes_nothing(app: TestApp) {
    let s = app.register("taro@example.jp").await;
    let newest = app.upload(&s.access, steps_at("2025-06-10T21:00:00+09:00", 5000)).await;
    newest.expect(201);
    let older = app.upload(&s.access, steps_at("2025-06-10T12:00:00+09:00", 4000)).await;
    older.expect(200);
    assert_eq!(older.body, newest.body);
    assert_eq!(stored(&app), 1);
    assert_eq!(stored_values(&app, "steps"), [json!({"count": 5000})]);
}

async fn each_source_keeps_its_own_daily_steps_total(app: TestApp) {
    let s = app.register("taro@example.jp").await;
    let manual = create(&app, &s.access, steps_at("2025-06-10T09:00:00+09:00", 3000)).await;
    let watch = |at: &str, n: i64| with(steps_at(at, n), "source", "Garmin");
    let garmin = create(&app, &s.access, watch("2025-06-10T10:00:00+09:00", 4000)).await;
    assert_ne!(manual, garmin);
    // A later Garmin total replaces Garmin's only.
    let r = app.upload(&s.access, watch("2025-06-10T22:00:00+09:00", 9000)).await;
    r.expect(201);
    assert_eq!(r.body["id"], garmin.as_str());
    assert_eq!(
        get_one(&app, &s.access, &manual).await.body["values"],
        json!({"count": 3000})
    );
    assert_eq!(stored(&app), 2);
    // Other types on the same day are separate measurements.
    create(&app, &s.access, weight("2025-06-10T22:00:00+09:00", json!(61))).await;
    create(&app, &s.access, weight("2025-06-10T23:00:00+09:00", json!(61))).await;
    assert_eq!(stored(&app), 4);
}

async fn the_residents_timezone_decides_which_day_steps_count_for(app: TestApp) {
    // Tokyo (UTC+9): local midnight is 15:00 UTC, so 14:30Z and 15:30Z are different days...
    let tokyo = app.register("taro@example.jp").await;
    let a = app.upload(&tokyo.access, steps_at("2025-01-15T14:30:00Z", 1000)).await;
    let b = app.upload(&tokyo.access, steps_at("2025-01-15T15:30:00Z", 2000)).await;
    a.expect(201);
    b.expect(201);
    assert_ne!(a.body["id"], b.body["id"]);
    assert_eq!(
        (&a.body["local_date"], &b.body["local_date"]),
        (&json!("2025-01-15"), &json!("2025-01-16"))
    );
    // ...while 23:30Z and 00:30Z the next day fall on the same Tokyo day: the later one replaces.
    let c = app.upload(&tokyo.access, steps_at("2025-01-16T23:30:00Z", 3000)).await;
    let d = app.upload(&tokyo.access, steps_at("2025-01-17T00:30:00Z", 4000)).await;
    c.expect(201);
    d.expect(201);
    assert_eq!(c.body["id"], d.body["id"]);
    assert_eq!(d.body["local_date"], "2025-01-17");

    // London in January (UTC+0): 23:30Z and 00:30Z are different days.
    let london = app.register("hanako@example.jp").await;
    set_timezone(&app, &london, "Europe/London").await;
    let e = app.upload(&london.access, steps_at("2025-01-16T23:30:00Z", 3000)).await;
    let f = app.upload(&london.access, steps_at("2025-01-17T00:30:00Z", 4000)).await;
    e.expect(201);
    f.expect(201);
    assert_ne!(e.body["id"], f.body["id"]);
    assert_eq!(
        (&e.body["local_date"], &f.body["local_date"]),
        (&json!("2025-01-16"), &json!("2025-01-17"))
    );
    assert_eq!(stored(&app), 5);
}

/// 201 (stored) or 200 (an idempotent retry or an older daily total).
fn stored_or_retried(r: &Resp) -> bool {
    matches!(r.status.as_u16(), 200 | 201)
}

async fn concurrent_retries_of_one_upload_store_it_once(app: TestApp) {
    let s = app.register("taro@example.jp").await;
    let body = with(weight(AT, json!(61.2)), "client_ref", "scale-0001");
    let answers = futures_util::future::join_all((0..8).map(|_| app.upload(&s.access, body.clone()))).await;
    let created = answers.iter().filter(|r| r.status.as_u16() == 201).count();
    assert_eq!(created, 1, "{answers:?}");
    assert!(answers.iter().all(stored_or_retried), "{answers:?}");
    assert!(answers.iter().all(|r| r.body["id"] == answers[0].body["id"]));
    assert_eq!(stored(&app), 1);
}

async fn concurrent_daily_steps_uploads_keep_the_latest(app: TestApp) {
    let s = app.register("taro@example.jp").await;
    for round in 0..10 {
        let date = format!("2025-06-{:02}", 10 + round);
        create(&app, &s.access, steps_at(&format!("{date}T06:00:00+09:00"), 100)).await;
        // Latest first, so that a slower, older upload has every chance to overwrite it.
        let uploads = (0..8).rev().map(|h| {
            let body = steps_at(&format!("{date}T{:02}:00:00+09:00", 7 + h), 1000 * (h + 1));
            app.upload(&s.access, body)
        });
        let answers = futures_util::future::join_all(uploads).await;
        assert!(answers.iter().all(stored_or_retried), "{answers:?}");
        let r = list(
            &app,
            &s.access,
            &format!("type=steps&from={date}T00:00:00%2B09:00&limit=1"),
        )
        .await;
        assert_eq!(
            (&r.body["items"][0]["values"], &r.body["items"][0]["local_date"]),
            (&json!({"count": 8000}), &json!(date)),
            "round {round}: the day's total is the latest upload's"
        );
    }
    assert_eq!(stored(&app), 10);
    let mut totals = stored_values(&app, "steps");
    totals.dedup();
    assert_eq!(totals, [json!({"count": 8000})]);
}

// ---- batches ----

async fn a_batch_reports_each_item_and_one_bad_item_never_blocks_the_others(app: TestApp) {
    let s = app.register("taro@example.jp").await;
    let pre = with(weight(AT, json!(60)), "client_ref", "pre");
    let pre_id = create(&app, &s.access, pre.clone()).await;
    let later = "2025-06-11T07:30:00+09:00";
    let r = batch(
        &app,
        &s.access,
        vec![
            with(weight(later, json!(61)), "client_ref", "b0"),
            measurement("body_weight", later, json!({})),
            weight("yesterday", json!(500)),
            measurement("mood", later, json!({"level": 3})),
            pre,
            with(weight(AT, json!(99)), "client_ref", "pre"),
            measurement("heart_rate", later, json!({"bpm": 70})),
            // Item 0 again, then its client_ref with other values: within one batch too.
            with(weight(later, json!(61)), "client_ref", "b0"),
            with(weight(later, json!(62)), "client_ref", "b0"),
        ],
    )
    .await;
    r.expect(200);
    assert_eq!(
        (&r.body["created"], &r.body["duplicates"], &r.body["invalid"]),
        (&json!(2), &json!(2), &json!(5))
    );
    let results = r.body["results"].as_array().unwrap();
    let status: Vec<&str> = results.iter().map(|x| x["status"].as_str().unwrap()).collect();
    let expected = [
        "created",
        "invalid",
        "invalid",
        "invalid",
        "duplicate",
        "invalid",
        "created",
        "duplicate",
        "invalid",
    ];
    assert_eq!(status, expected);
    let fields = |i: usize| {
        let mut f: Vec<String> = results[i]["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["field"].as_str().unwrap().to_owned())
            .collect();
        f.sort();
        f
    };
    assert_eq!(fields(1), ["items[1].values.kg"]);
    assert_eq!(fields(2), ["items[2].effective_at", "items[2].values.kg"]);
    assert_eq!(fields(3), ["items[3].type"]);
    assert_eq!(fields(5), ["items[5].client_ref"]);
    for (i, item) in results.iter().enumerate() {
        assert_eq!(item["index"], json!(i));
        let invalid = item["status"] == "invalid";
        assert_eq!(item.get("id").is_none(), invalid, "item {i}");
        assert_eq!(item.get("errors").is_none(), !invalid, "item {i}");
    }
    assert_eq!(results[4]["id"], pre_id.as_str());
    assert_eq!(results[7]["id"], results[0]["id"]);
    assert_eq!(fields(8), ["items[8].client_ref"]);
    let created = get_one(&app, &s.access, results[0]["id"].as_str().unwrap()).await;
    created.expect(200);
    assert_eq!(created.body["values"], json!({"kg": 61.0}));
    assert_eq!(created.body["client_ref"], "b0");
    assert_eq!(stored(&app), 3);
    // Retrying the whole batch stores nothing more.
    let again = batch(
        &app,
        &s.access,
        vec![with(weight(later, json!(61)), "client_ref", "b0")],
    )
    .await;
    assert_eq!(again.body["results"][0]["status"], "duplicate");
    assert_eq!(again.body["results"][0]["id"], results[0]["id"]);
    assert_eq!(stored(&app), 3);
}

async fn a_batch_item_of_the_wrong_json_type_is_invalid_on_its_own(app: TestApp) {
    let s = app.register("taro@example.jp").await;
    let r = batch(
        &app,
        &s.access,
        vec![
            weight(AT, json!(61)),
            json!({"type": "body_weight", "effective_at": 5, "values": {"kg": 60}}),
            json!({"type": "body_weight", "effective_at": AT, "values": "x"}),
            json!({"type": 3, "effective_at": AT, "values": {"kg": 60}}),
            with(weight(AT, json!(61)), "unit", "kg"),
            json!(null),
            measurement("heart_rate", AT, json!({"bpm": 70})),
        ],
    )
    .await;
    r.expect(200);
    assert_eq!((&r.body["created"], &r.body["invalid"]), (&json!(2), &json!(5)));
    let results = r.body["results"].as_array().unwrap();
    let field = |i: usize| results[i]["errors"][0]["field"].as_str().unwrap().to_owned();
    assert_eq!(field(1), "items[1].effective_at");
    assert_eq!(field(2), "items[2].values");
    assert_eq!(field(3), "items[3].type");
    assert!(field(4).starts_with("items[4]"), "{}", field(4));
    assert_eq!(field(5), "items[5]");
    assert_eq!(results[6]["status"], "created");
    assert_eq!(stored(&app), 2);
}

async fn a_batch_holds_1_to_1000_items(app: TestApp) {
    let s = app.register("taro@example.jp").await;
    let many = |n: usize| {
        (0..n)
            .map(|i| with(weight(AT, json!(60)), "client_ref", format!("r{i}")))
            .collect()
    };
    let r = batch(&app, &s.access, many(1001)).await;
    r.expect(422);
    assert_eq!(r.error_fields(), ["items"]);
    let r = batch(&app, &s.access, vec![]).await;
    r.expect(422);
    assert_eq!(r.error_fields(), ["items"]);
    assert_eq!(stored(&app), 0);
    let r = batch(&app, &s.access, many(1000)).await;
    r.expect(200);
    assert_eq!(r.body["created"], 1000);
    assert_eq!(stored(&app), 1000);
}

async fn a_batch_body_over_1_mib_is_413_and_stores_nothing(app: TestApp) {
    let s = app.register("taro@example.jp").await;
    // 1,000 valid items with 1,000-character notes: about 1.1 MiB.
    let items: Vec<Value> = (0..1000)
        .map(|_| with(weight(AT, json!(60)), "note", "n".repeat(1000)))
        .collect();
    assert!(json!({ "items": items }).to_string().len() > 1024 * 1024);
    batch(&app, &s.access, items).await.expect(413);
    assert_eq!(stored(&app), 0);
}

async fn the_same_daily_steps_twice_in_one_batch_keep_the_later_one(app: TestApp) {
    let s = app.register("taro@example.jp").await;
    let r = batch(
        &app,
        &s.access,
        vec![
            steps_at("2025-06-10T21:00:00+09:00", 5000),
            steps_at("2025-06-10T09:00:00+09:00", 2000),
            steps_at("2025-06-10T22:00:00+09:00", 6000),
        ],
    )
    .await;
    r.expect(200);
    let results = r.body["results"].as_array().unwrap();
    let status: Vec<&str> = results.iter().map(|x| x["status"].as_str().unwrap()).collect();
    assert_eq!(status, ["created", "duplicate", "created"]);
    assert!(
        results.iter().all(|x| x["id"] == results[0]["id"]),
        "one day, one measurement"
    );
    assert_eq!(stored(&app), 1);
    let got = get_one(&app, &s.access, results[0]["id"].as_str().unwrap()).await;
    assert_eq!(got.body["values"], json!({"count": 6000}));
    assert_eq!(got.body["effective_at"], "2025-06-10T13:00:00Z");
    // A batch that replaces a stored total does so too.
    let r = batch(&app, &s.access, vec![steps_at("2025-06-10T23:00:00+09:00", 7000)]).await;
    assert_eq!(r.body["results"][0]["status"], "created");
    assert_eq!(r.body["results"][0]["id"], results[0]["id"]);
    assert_eq!(stored_values(&app, "steps"), [json!({"count": 7000})]);
}

// ---- bad input ----

async fn unknown_types_and_missing_or_extra_value_fields_are_422_naming_the_field(app: TestApp) {
    let s = app.register("taro@example.jp").await;
    let cases = [
        (measurement("mood", AT, json!({"level": 3})), vec!["type"]),
        (measurement("body_weight", AT, json!({})), vec!["values.kg"]),
        (
            measurement("body_weight", AT, json!({"kg": 60, "lb": 132})),
            vec!["values.lb"],
        ),
        (
            measurement("blood_pressure", AT, json!({"systolic_mmhg": 120})),
            vec!["values.diastolic_mmhg"],
        ),
        (measurement("body_composition", AT, json!({})), vec!["values"]),
        (
            measurement(
                "health_checkup",
                AT,
                json!({"kind": "massage", "checkup_date": "2025-13-01"}),
            ),
            vec!["values.checkup_date", "values.kind"],
        ),
        (with(weight(AT, json!(60)), "source", ""), vec!["source"]),
        (
            with(measurement("mood", "soon", json!({})), "note", "n".repeat(1001)),
            vec!["effective_at", "note", "type"],
        ),
    ];
    for (body, fields) in cases {
        let r = app.upload(&s.access, body.clone()).await;
        r.expect(422);
        assert_eq!(sorted_fields(&r), fields, "{body}");
    }
    assert_eq!(stored(&app), 0);
}

async fn a_required_field_sent_as_null_is_reported_once(app: TestApp) {
    let s = app.register("taro@example.jp").await;
    let r = app.upload(&s.access, weight(AT, Value::Null)).await;
    r.expect(422);
    assert_eq!(r.error_fields(), ["values.kg"], "one error per offending field");
    // An optional field sent as null is simply absent.
    let r = app
        .upload(
            &s.access,
            measurement(
                "vascular_age",
                AT,
                json!({"vascular_age_years": 50, "pulse_wave_velocity_cm_s": null}),
            ),
        )
        .await;
    r.expect(201);
    assert_eq!(r.body["values"], json!({"vascular_age_years": 50.0}));
}

async fn a_body_of_the_wrong_json_shape_is_400(app: TestApp) {
    let s = app.register("taro@example.jp").await;
    for body in [
        json!({"type": "body_weight", "effective_at": AT, "values": 5}),
        json!({"type": 3, "effective_at": AT, "values": {"kg": 60}}),
        json!({"type": "body_weight", "effective_at": 5, "values": {"kg": 60}}),
        json!({"type": "body_weight", "effective_at": AT}),
        with(weight(AT, json!(60)), "unit", "kg"),
        with(weight(AT, json!(60)), "client_ref", 7),
        json!([weight(AT, json!(60))]),
    ] {
        app.upload(&s.access, body).await.expect(400);
    }
    app.post("/v1/measurements/batch", Some(&s.access), json!({"items": 5}))
        .await
        .expect(400);
    app.post(
        "/v1/measurements/batch",
        Some(&s.access),
        json!([weight(AT, json!(60))]),
    )
    .await
    .expect(400);
    assert_eq!(stored(&app), 0);
}

async fn nan_or_infinity_in_the_body_is_400(app: TestApp) {
    let s = app.register("taro@example.jp").await;
    for (path, raw) in [
        (
            "/v1/measurements",
            format!(r#"{{"type":"body_weight","effective_at":"{AT}","values":{{"kg":NaN}}}}"#),
        ),
        (
            "/v1/measurements",
            format!(r#"{{"type":"body_weight","effective_at":"{AT}","values":{{"kg":Infinity}}}}"#),
        ),
        (
            "/v1/measurements",
            format!(r#"{{"type":"body_weight","effective_at":"{AT}","values":{{"kg":-Infinity}}}}"#),
        ),
        (
            "/v1/measurements/batch",
            format!(r#"{{"items":[{{"type":"body_weight","effective_at":"{AT}","values":{{"kg":NaN}}}}]}}"#),
        ),
    ] {
        let req = TestRequest::post()
            .uri(path)
            .insert_header((header::CONTENT_TYPE, "application/json"))
            .insert_header((header::AUTHORIZATION, format!("Bearer {}", s.access)))
            .set_payload(raw);
        app.send(req).await.expect(400);
    }
    assert_eq!(stored(&app), 0);
}

async fn numbers_sent_as_strings_and_fractional_counts_are_422(app: TestApp) {
    let s = app.register("taro@example.jp").await;
    for (body, field) in [
        (weight(AT, json!("61")), "values.kg"),
        (weight(AT, json!(true)), "values.kg"),
        (weight(AT, json!({"value": 61})), "values.kg"),
        (measurement("steps", AT, json!({"count": "8000"})), "values.count"),
        (measurement("steps", AT, json!({"count": 10.5})), "values.count"),
        (
            measurement("health_checkup", AT, json!({"kind": 1, "checkup_date": "2025-04-01"})),
            "values.kind",
        ),
    ] {
        let r = app.upload(&s.access, body).await;
        r.expect(422);
        assert_eq!(r.error_fields(), [field]);
    }
    assert_eq!(stored(&app), 0);
}

async fn every_numeric_field_of_every_type_is_range_checked_at_both_ends(app: TestApp) {
    let s = app.register("taro@example.jp").await;
    let mut accepted = 0;
    for def in CATALOGUE {
        for f in def.fields {
            let (lo, hi, below, above) = match f.kind {
                FieldKind::Number { min, max } => (json!(min), json!(max), json!(min - 0.001), json!(max + 0.001)),
                FieldKind::Integer { min, max } => (json!(min), json!(max), json!(min - 1), json!(max + 1)),
                _ => continue,
            };
            // Every required field valid, then the one under test set; blood pressure keeps
            // systolic above diastolic for every value tried.
            let values = |v: &Value| {
                let mut m = serde_json::Map::new();
                for r in def.fields.iter().filter(|r| r.required) {
                    m.insert(r.name.to_owned(), sample(r.kind));
                }
                match f.name {
                    "systolic_mmhg" => m.insert("diastolic_mmhg".to_owned(), json!(40)),
                    "diastolic_mmhg" => m.insert("systolic_mmhg".to_owned(), json!(250)),
                    _ => None,
                };
                m.insert(f.name.to_owned(), v.clone());
                Value::Object(m)
            };
            for bad in [&below, &above] {
                let r = app.upload(&s.access, measurement(def.name, AT, values(bad))).await;
                r.expect(422);
                assert_eq!(
                    r.error_fields(),
                    [format!("values.{}", f.name)],
                    "{}.{} = {bad}",
                    def.name,
                    f.name
                );
            }
            // The limits themselves are accepted (each on its own day: steps are a daily total).
            for ok in [&lo, &hi] {
                accepted += 1;
                let r = app
                    .upload(&s.access, measurement(def.name, &day(accepted), values(ok)))
                    .await;
                assert_eq!(r.status, 201, "{}.{} = {ok}: {}", def.name, f.name, r.body);
            }
        }
    }
    assert_eq!(stored(&app), accepted);
}

async fn systolic_at_or_below_diastolic_is_422(app: TestApp) {
    let s = app.register("taro@example.jp").await;
    for (sys, dia) in [(80, 80), (70, 90)] {
        let r = app
            .upload(
                &s.access,
                measurement(
                    "blood_pressure",
                    AT,
                    json!({"systolic_mmhg": sys, "diastolic_mmhg": dia}),
                ),
            )
            .await;
        r.expect(422);
        assert_eq!(r.error_fields(), ["values.systolic_mmhg"]);
    }
    assert_eq!(stored(&app), 0);
    create(
        &app,
        &s.access,
        measurement("blood_pressure", AT, json!({"systolic_mmhg": 81, "diastolic_mmhg": 80})),
    )
    .await;
}

async fn a_timestamp_without_offset_or_over_24_hours_ahead_is_422(app: TestApp) {
    let s = app.register("taro@example.jp").await;
    let in_hours = |h: i64| (Utc::now() + Duration::hours(h)).to_rfc3339();
    for at in [
        "2025-06-10T07:30:00".to_owned(),
        "2025-06-10".to_owned(),
        "10/06/2025 07:30".to_owned(),
        "1899-12-31T23:00:00Z".to_owned(),
        in_hours(25),
    ] {
        let r = app.upload(&s.access, weight(&at, json!(60))).await;
        r.expect(422);
        assert_eq!(r.error_fields(), ["effective_at"], "{at}");
    }
    assert_eq!(stored(&app), 0);
    // Up to 24 hours ahead is allowed: device clocks drift.
    create(&app, &s.access, weight(&in_hours(23), json!(60))).await;
}

async fn a_client_ref_over_128_characters_is_422(app: TestApp) {
    let s = app.register("taro@example.jp").await;
    let r = app
        .upload(&s.access, with(weight(AT, json!(60)), "client_ref", "x".repeat(129)))
        .await;
    r.expect(422);
    assert_eq!(r.error_fields(), ["client_ref"]);
    assert_eq!(stored(&app), 0);
    let r = app
        .upload(&s.access, with(weight(AT, json!(60)), "client_ref", "x".repeat(128)))
        .await;
    r.expect(201);
    assert_eq!(r.body["client_ref"], "x".repeat(128));
}

// ---- scopes and sources ----

async fn app_token_scopes_limit_uploads_and_reads(app: TestApp) {
    let s = app.register("taro@example.jp").await;
    let id = create(&app, &s.access, weight(AT, json!(60))).await;
    let reader = app_token(&app, &s, json!({"name": "Dashboard", "scopes": ["measurements:read"]})).await;
    let writer = app_token(&app, &s, json!({"name": "Scale", "scopes": ["measurements:write"]})).await;
    let points = app_token(&app, &s, json!({"name": "Points", "scopes": ["points:read"]})).await;

    for token in [&reader, &points] {
        app.upload(token, weight(AT, json!(61))).await.expect(403);
        batch(&app, token, vec![weight(AT, json!(61))]).await.expect(403);
        delete(&app, token, &id).await.expect(403);
    }
    for token in [&writer, &points] {
        list(&app, token, "").await.expect(403);
        get_one(&app, token, &id).await.expect(403);
        app.get("/v1/measurements/latest", Some(token)).await.expect(403);
        summary(&app, token, "type=body_weight").await.expect(403);
    }
    assert_eq!(stored(&app), 1);
    // Each can do what it was granted.
    assert_eq!(ids(&list(&app, &reader, "").await), [id.as_str()]);
    get_one(&app, &reader, &id).await.expect(200);
    create(&app, &writer, weight(AT, json!(61))).await;
    delete(&app, &writer, &id).await.expect(204);
    // No credentials at all is 401; the catalogue is public.
    app.post("/v1/measurements", None, weight(AT, json!(61)))
        .await
        .expect(401);
    app.get("/v1/measurements", None).await.expect(401);
    assert_eq!(stored(&app), 1);
}

async fn an_app_tokens_uploads_carry_its_name_and_modality(app: TestApp) {
    let s = app.register("taro@example.jp").await;
    // A sensed token comes from a registered app claiming the resident's pairing code.
    let scale = crate::common::sensed_token(&app, &s, "Omron Connect", &["measurements:write"]).await;
    let r = app.upload(&scale, weight(AT, json!(60))).await;
    r.expect(201);
    assert_eq!(
        (&r.body["source"], &r.body["modality"]),
        (&json!("Omron Connect"), &json!("sensed"))
    );
    // A source named in the body wins; the modality stays the token's.
    let r = app
        .upload(&scale, with(weight(AT, json!(60)), "source", "HBF-702T"))
        .await;
    assert_eq!(
        (&r.body["source"], &r.body["modality"]),
        (&json!("HBF-702T"), &json!("sensed"))
    );
    let diary = app_token(&app, &s, json!({"name": "Diary", "scopes": ["measurements:write"]})).await;
    let r = app.upload(&diary, weight(AT, json!(60))).await;
    assert_eq!(
        (&r.body["source"], &r.body["modality"]),
        (&json!("Diary"), &json!("self_reported"))
    );
    // Batches carry them too.
    let r = batch(&app, &scale, vec![measurement("heart_rate", AT, json!({"bpm": 64}))]).await;
    let got = get_one(&app, &s.access, r.body["results"][0]["id"].as_str().unwrap()).await;
    assert_eq!(
        (&got.body["source"], &got.body["modality"]),
        (&json!("Omron Connect"), &json!("sensed"))
    );
    let rows: Vec<(String, String)> = measurements::table
        .select((measurements::source, measurements::modality))
        .order(measurements::id)
        .load(&mut app.db.conn())
        .unwrap();
    let expected = [
        ("Omron Connect", "sensed"),
        ("HBF-702T", "sensed"),
        ("Diary", "self_reported"),
        ("Omron Connect", "sensed"),
    ];
    assert_eq!(rows, expected.map(|(a, b)| (a.to_owned(), b.to_owned())));
}

async fn a_paired_kiosk_uploads_sensed_measurements(app: TestApp) {
    let s = app.register("taro@example.jp").await;
    let code = app
        .call(Method::POST, "/v1/me/pairing-codes", Some(&s.access), None)
        .await;
    code.expect(201);
    // A registered kiosk claims the code with its client credentials.
    let pod = crate::common::register_app(&app, "Karada pod", "kiosk", &["measurements:write"], "sensed");
    let claim = app
        .send(
            actix_web::test::TestRequest::post()
                .uri("/v1/pairing/claim")
                .insert_header(("authorization", pod.basic()))
                .set_json(json!({"code": code.body["code"], "device_name": "Pod 3, Umeda"})),
        )
        .await;
    claim.expect(201);
    let kiosk = claim.body["token"].as_str().unwrap();
    let r = app
        .upload(
            kiosk,
            measurement(
                "vascular_age",
                AT,
                json!({"vascular_age_years": 41, "pulse_wave_velocity_cm_s": 1250}),
            ),
        )
        .await;
    r.expect(201);
    assert_eq!(
        (&r.body["source"], &r.body["modality"]),
        (&json!("Pod 3, Umeda"), &json!("sensed"))
    );
    assert_eq!(r.body["vascular_age_gap"], json!(-4.0));
    // The kiosk writes but cannot read back.
    list(&app, kiosk, "").await.expect(403);
    assert_eq!(ids(&list(&app, &s.access, "").await), [r.body["id"].as_str().unwrap()]);
}

// ---- reads ----

/// Uploads seven measurements of mixed types, the third and fourth newest at the same instant;
/// their ids in list order (newest first, ties by id, descending).
async fn seven(app: &TestApp, s: &Session) -> Vec<String> {
    let rows = [
        ("2025-06-07T00:00:00Z", weight("2025-06-07T00:00:00Z", json!(60))),
        ("2025-06-06T00:00:00Z", steps_at("2025-06-06T00:00:00Z", 8000)),
        ("2025-06-05T00:00:00Z", weight("2025-06-05T00:00:00Z", json!(61))),
        (
            "2025-06-05T00:00:00Z",
            measurement("heart_rate", "2025-06-05T09:00:00+09:00", json!({"bpm": 64})),
        ),
        (
            "2025-06-04T00:00:00Z",
            measurement(
                "blood_pressure",
                "2025-06-04T00:00:00Z",
                json!({"systolic_mmhg": 120, "diastolic_mmhg": 80}),
            ),
        ),
        ("2025-06-03T00:00:00Z", weight("2025-06-03T00:00:00Z", json!(62))),
        ("2025-06-02T00:00:00Z", weight("2025-06-02T00:00:00Z", json!(63))),
    ];
    let mut made = Vec::new();
    // Uploaded oldest first, so that upload order is not list order by accident.
    for (at, body) in rows.into_iter().rev() {
        made.push((at, create(app, &s.access, body).await));
    }
    made.sort_by(|a, b| b.cmp(a));
    made.into_iter().map(|(_, id)| id).collect()
}

async fn the_list_is_newest_first_and_filters_by_type_and_time(app: TestApp) {
    let s = app.register("taro@example.jp").await;
    let all = seven(&app, &s).await;
    let r = list(&app, &s.access, "").await;
    r.expect(200);
    assert_eq!(ids(&r), all);
    assert!(r.body["next_cursor"].is_null());
    let weights = list(&app, &s.access, "type=body_weight").await;
    weights.expect(200);
    let kg: Vec<&Value> = items(&weights).iter().map(|m| &m["values"]["kg"]).collect();
    assert_eq!(kg, [&json!(60.0), &json!(61.0), &json!(62.0), &json!(63.0)]);
    // `from` is inclusive, `to` exclusive.
    let window = list(&app, &s.access, "from=2025-06-03T00:00:00Z&to=2025-06-05T00:00:00Z").await;
    window.expect(200);
    assert_eq!(ids(&window), all[4..6]);
    let offset = list(
        &app,
        &s.access,
        "from=2025-06-03T09:00:00%2B09:00&to=2025-06-05T09:00:00%2B09:00",
    )
    .await;
    assert_eq!(ids(&offset), all[4..6]);
    let both = list(&app, &s.access, "type=body_weight&from=2025-06-04T00:00:00Z").await;
    assert_eq!(ids(&both), [all[0].clone(), all[2].clone()]);
    // Another resident sees none of it.
    let b = app.register("hanako@example.jp").await;
    assert_eq!(list(&app, &b.access, "").await.body["items"], json!([]));
}

/// Every page of `query` from the first on: the ids in order, and each page's size.
async fn page_through(app: &TestApp, token: &str, query: &str) -> (Vec<String>, Vec<usize>) {
    let (mut seen, mut sizes) = (Vec::new(), Vec::new());
    let mut cursor = String::new();
    loop {
        let r = list(app, token, &format!("{query}&cursor={cursor}")).await;
        r.expect(200);
        sizes.push(items(&r).len());
        seen.extend(ids(&r));
        match r.body["next_cursor"].as_str() {
            Some(c) => cursor = c.to_owned(),
            None => return (seen, sizes),
        }
    }
}

async fn paging_visits_every_row_once_in_order(app: TestApp) {
    let s = app.register("taro@example.jp").await;
    let all = seven(&app, &s).await;
    let (seen, sizes) = page_through(&app, &s.access, "limit=3").await;
    assert_eq!(sizes, [3, 3, 1]);
    assert_eq!(seen, all);
    // Paging keeps the filters.
    let p1 = list(&app, &s.access, "type=body_weight&limit=2").await;
    let c = p1.body["next_cursor"].as_str().unwrap();
    let p2 = list(&app, &s.access, &format!("type=body_weight&limit=2&cursor={c}")).await;
    assert_eq!(
        [ids(&p1), ids(&p2)].concat(),
        [&all[0], &all[2], &all[5], &all[6]].map(String::clone)
    );
    assert!(p2.body["next_cursor"].is_null());
}

async fn paging_is_stable_when_rows_are_inserted_between_pages(app: TestApp) {
    let s = app.register("taro@example.jp").await;
    let all = seven(&app, &s).await;
    let first = list(&app, &s.access, "limit=3").await;
    let mut seen = ids(&first);
    let mut cursor = first.body["next_cursor"].as_str().map(str::to_owned);
    // A newer row, an older row, and one at the same instant as the page boundary.
    let newer = create(&app, &s.access, weight("2025-06-20T00:00:00Z", json!(59))).await;
    let older = create(&app, &s.access, weight("2025-05-01T00:00:00Z", json!(64))).await;
    let tie = create(
        &app,
        &s.access,
        measurement("sleep", "2025-06-05T00:00:00Z", json!({"duration_min": 420})),
    )
    .await;
    while let Some(c) = cursor {
        let r = list(&app, &s.access, &format!("limit=3&cursor={c}")).await;
        r.expect(200);
        seen.extend(ids(&r));
        cursor = r.body["next_cursor"].as_str().map(str::to_owned);
    }
    let originals: Vec<String> = seen.iter().filter(|id| all.contains(id)).cloned().collect();
    assert_eq!(originals, all, "every original row once, in order");
    assert!(!seen.contains(&newer));
    assert_eq!(seen.last(), Some(&older), "rows inserted after the cursor are reached");
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), seen.len(), "no row twice");
    // The full list holds the new rows where they belong.
    let full = ids(&list(&app, &s.access, "").await);
    assert_eq!(full.len(), 10);
    assert_eq!(full[0], newer);
    assert!(full.contains(&tie));
}

async fn sub_second_times_are_kept_to_the_microsecond_and_ordered(app: TestApp) {
    let s = app.register("taro@example.jp").await;
    let mut made = Vec::new();
    for at in [
        "2025-07-01T00:00:00.5Z",
        "2025-07-01T00:00:00Z",
        "2025-07-01T00:00:00.123456789Z",
        "2025-07-01T00:00:01Z",
        "2025-06-30T23:59:59.999999Z",
        "2025-07-01T09:00:00.000001+09:00",
    ] {
        let r = app
            .upload(&s.access, measurement("heart_rate", at, json!({"bpm": 60})))
            .await;
        r.expect(201);
        made.push((
            r.body["effective_at"].as_str().unwrap().to_owned(),
            r.body["id"].as_str().unwrap().to_owned(),
        ));
    }
    let times: Vec<&str> = made.iter().map(|(t, _)| t.as_str()).collect();
    assert_eq!(
        times,
        [
            "2025-07-01T00:00:00.500Z",
            "2025-07-01T00:00:00Z",
            "2025-07-01T00:00:00.123456Z",
            "2025-07-01T00:00:01Z",
            "2025-06-30T23:59:59.999999Z",
            "2025-07-01T00:00:00.000001Z",
        ]
    );
    // Newest first: 00:01, .5, .123456, .000001, .0, 23:59:59.999999.
    let expected: Vec<String> = [3, 0, 2, 5, 1, 4].map(|i| made[i].1.clone()).to_vec();
    assert_eq!(ids(&list(&app, &s.access, "").await), expected);
    assert_eq!(page_through(&app, &s.access, "limit=1").await.0, expected);
    // A retry with the same instant to the nanosecond is the same upload.
    let body = with(
        measurement("heart_rate", "2025-07-02T00:00:00.123456789Z", json!({"bpm": 60})),
        "client_ref",
        "hr-1",
    );
    let first = app.upload(&s.access, body.clone()).await;
    first.expect(201);
    app.upload(&s.access, body).await.expect(200);
}

async fn bad_list_queries_are_refused(app: TestApp) {
    let s = app.register("taro@example.jp").await;
    create(&app, &s.access, weight(AT, json!(60))).await;
    for (query, field) in [
        ("limit=0", "limit"),
        ("limit=501", "limit"),
        ("type=mood", "type"),
        ("from=yesterday", "from"),
        ("to=2025-06-10", "to"),
    ] {
        let r = list(&app, &s.access, query).await;
        r.expect(422);
        assert_eq!(r.error_fields(), [field], "{query}");
    }
    for query in ["cursor=zz", "cursor=abcd", "limit=ten", "colour=red"] {
        list(&app, &s.access, query).await.expect(400);
    }
    list(&app, &s.access, "limit=500").await.expect(200);
    list(&app, &s.access, "limit=1").await.expect(200);
}

async fn a_measurement_is_read_and_deleted_by_its_owner_only(app: TestApp) {
    let a = app.register("taro@example.jp").await;
    let b = app.register("hanako@example.jp").await;
    let id = create(&app, &a.access, weight(AT, json!(60))).await;
    let got = get_one(&app, &a.access, &id).await;
    got.expect(200);
    assert_eq!(got.body["id"], id.as_str());
    get_one(&app, &b.access, &id).await.expect(404);
    delete(&app, &b.access, &id).await.expect(404);
    get_one(&app, &a.access, &id).await.expect(200);
    assert_eq!(stored(&app), 1);
    delete(&app, &a.access, &id).await.expect(204);
    get_one(&app, &a.access, &id).await.expect(404);
    delete(&app, &a.access, &id).await.expect(404);
    assert_eq!(stored(&app), 0);
}

async fn unknown_ids_are_404_and_malformed_ids_400(app: TestApp) {
    let s = app.register("taro@example.jp").await;
    let unknown = uuid::Uuid::now_v7().to_string();
    get_one(&app, &s.access, &unknown).await.expect(404);
    delete(&app, &s.access, &unknown).await.expect(404);
    get_one(&app, &s.access, "not-a-uuid").await.expect(400);
    delete(&app, &s.access, "not-a-uuid").await.expect(400);
}

async fn latest_gives_the_newest_of_each_type(app: TestApp) {
    let s = app.register("taro@example.jp").await;
    let empty = app.get("/v1/measurements/latest", Some(&s.access)).await;
    empty.expect(200);
    assert_eq!(empty.body["items"], json!([]));
    let newest_weight = create(&app, &s.access, weight("2025-06-10T00:00:00Z", json!(62))).await;
    // Uploaded later but measured earlier: not the newest.
    create(&app, &s.access, weight("2025-06-09T00:00:00Z", json!(60))).await;
    let bp = create(
        &app,
        &s.access,
        measurement(
            "blood_pressure",
            "2025-06-08T00:00:00Z",
            json!({"systolic_mmhg": 120, "diastolic_mmhg": 80}),
        ),
    )
    .await;
    let vascular = create(
        &app,
        &s.access,
        measurement(
            "vascular_age",
            "2025-06-01T00:00:00Z",
            json!({"vascular_age_years": 50}),
        ),
    )
    .await;
    let other = app.register("hanako@example.jp").await;
    create(&app, &other.access, weight("2025-06-30T00:00:00Z", json!(50))).await;

    let r = app.get("/v1/measurements/latest", Some(&s.access)).await;
    r.expect(200);
    assert_eq!(ids(&r), [bp, newest_weight, vascular], "one per type, by type name");
    assert_eq!(r.body["items"][1]["values"], json!({"kg": 62.0}));
    assert_eq!(r.body["items"][2]["vascular_age_gap"], json!(5.0));
}

// ---- summaries ----

/// The summary's buckets as (start, count).
fn bucket_counts(r: &Resp) -> Vec<(String, i64)> {
    r.body["buckets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| (b["start"].as_str().unwrap().to_owned(), b["count"].as_i64().unwrap()))
        .collect()
}

/// (count, mean, min, max) of one field of one bucket.
fn stats(r: &Resp, bucket: usize, field: &str) -> (i64, f64, f64, f64) {
    let f = &r.body["buckets"][bucket]["fields"][field];
    (
        f["count"].as_i64().unwrap(),
        f["mean"].as_f64().unwrap(),
        f["min"].as_f64().unwrap(),
        f["max"].as_f64().unwrap(),
    )
}

fn owned(buckets: &[(&str, i64)]) -> Vec<(String, i64)> {
    buckets.iter().map(|(d, n)| ((*d).to_owned(), *n)).collect()
}

async fn summary_buckets_local_days_weeks_from_monday_and_months(app: TestApp) {
    let s = app.register("taro@example.jp").await;
    for (at, kg) in [
        ("2025-05-31T12:00:00+09:00", 99), // before `from`
        ("2025-06-09T08:00:00+09:00", 60), // Monday
        ("2025-06-09T23:30:00+09:00", 62), // same local day (14:30 UTC)
        ("2025-06-15T12:00:00+09:00", 64), // Sunday: same week
        ("2025-06-16T00:30:00+09:00", 66), // Monday: next week (still 15 June in UTC)
        ("2025-07-01T12:00:00+09:00", 70), // Tuesday: the week of 30 June, the month of July
        ("2025-08-01T12:00:00+09:00", 98), // after `to`
    ] {
        create(&app, &s.access, weight(at, json!(kg))).await;
    }
    let range = "type=body_weight&from=2025-06-01&to=2025-07-31";
    let day = summary(&app, &s.access, range).await;
    day.expect(200);
    assert_eq!(
        (
            &day.body["type"],
            &day.body["period"],
            &day.body["from"],
            &day.body["to"],
            &day.body["timezone"]
        ),
        (
            &json!("body_weight"),
            &json!("day"),
            &json!("2025-06-01"),
            &json!("2025-07-31"),
            &json!("Asia/Tokyo")
        )
    );
    assert_eq!(
        bucket_counts(&day),
        owned(&[
            ("2025-06-09", 2),
            ("2025-06-15", 1),
            ("2025-06-16", 1),
            ("2025-07-01", 1)
        ])
    );
    assert_eq!(stats(&day, 0, "kg"), (2, 61.0, 60.0, 62.0));

    let week = summary(&app, &s.access, &format!("{range}&period=week")).await;
    week.expect(200);
    assert_eq!(week.body["period"], "week");
    assert_eq!(
        bucket_counts(&week),
        owned(&[("2025-06-09", 3), ("2025-06-16", 1), ("2025-06-30", 1)])
    );
    assert_eq!(stats(&week, 0, "kg"), (3, 62.0, 60.0, 64.0));

    let month = summary(&app, &s.access, &format!("{range}&period=month")).await;
    month.expect(200);
    assert_eq!(bucket_counts(&month), owned(&[("2025-06-01", 4), ("2025-07-01", 1)]));
    assert_eq!(stats(&month, 0, "kg"), (4, 63.0, 60.0, 66.0));
    assert_eq!(stats(&month, 1, "kg"), (1, 70.0, 70.0, 70.0));

    // Steps are summarised as numbers too; an empty range has no buckets.
    create(&app, &s.access, steps_at("2025-06-10T21:00:00+09:00", 8001)).await;
    create(&app, &s.access, steps_at("2025-06-11T21:00:00+09:00", 4000)).await;
    let r = summary(&app, &s.access, "type=steps&from=2025-06-01&to=2025-06-30&period=month").await;
    assert_eq!(stats(&r, 0, "count"), (2, 6000.5, 4000.0, 8001.0));
    let r = summary(&app, &s.access, "type=heart_rate&from=2025-06-01&to=2025-06-30").await;
    r.expect(200);
    assert_eq!(r.body["buckets"], json!([]));
    // Another resident's measurements never count.
    let other = app.register("hanako@example.jp").await;
    let r = summary(&app, &other.access, range).await;
    assert_eq!(r.body["buckets"], json!([]));
}

async fn summary_counts_each_field_on_its_own(app: TestApp) {
    let s = app.register("taro@example.jp").await;
    for values in [
        json!({"systolic_mmhg": 120, "diastolic_mmhg": 80}),
        json!({"systolic_mmhg": 130, "diastolic_mmhg": 90}),
    ] {
        create(&app, &s.access, measurement("blood_pressure", AT, values)).await;
    }
    let r = summary(&app, &s.access, "type=blood_pressure&from=2025-06-10&to=2025-06-10").await;
    r.expect(200);
    assert_eq!(bucket_counts(&r), owned(&[("2025-06-10", 2)]));
    assert_eq!(stats(&r, 0, "systolic_mmhg"), (2, 125.0, 120.0, 130.0));
    assert_eq!(stats(&r, 0, "diastolic_mmhg"), (2, 85.0, 80.0, 90.0));
    // An optional field present in one measurement of two is counted once.
    create(
        &app,
        &s.access,
        measurement("vascular_age", AT, json!({"vascular_age_years": 50})),
    )
    .await;
    create(
        &app,
        &s.access,
        measurement(
            "vascular_age",
            AT,
            json!({"vascular_age_years": 54, "pulse_wave_velocity_cm_s": 1500}),
        ),
    )
    .await;
    let r = summary(&app, &s.access, "type=vascular_age&from=2025-06-10&to=2025-06-10").await;
    assert_eq!(bucket_counts(&r), owned(&[("2025-06-10", 2)]));
    assert_eq!(stats(&r, 0, "vascular_age_years"), (2, 52.0, 50.0, 54.0));
    assert_eq!(stats(&r, 0, "pulse_wave_velocity_cm_s"), (1, 1500.0, 1500.0, 1500.0));
    // Fields that are not numbers are not summarised; the count still is.
    create(
        &app,
        &s.access,
        measurement(
            "capillary",
            AT,
            json!({"capillary_density_per_mm": 8, "morphology_score": 70, "image_sha256": "ab".repeat(32)}),
        ),
    )
    .await;
    let r = summary(&app, &s.access, "type=capillary&from=2025-06-10&to=2025-06-10").await;
    r.expect(200);
    let fields: Vec<&String> = r.body["buckets"][0]["fields"].as_object().unwrap().keys().collect();
    assert_eq!(fields, ["capillary_density_per_mm", "morphology_score"]);
    create(
        &app,
        &s.access,
        measurement(
            "health_checkup",
            AT,
            json!({"kind": "cancer_screening", "checkup_date": "2025-06-01"}),
        ),
    )
    .await;
    let r = summary(&app, &s.access, "type=health_checkup&from=2025-06-10&to=2025-06-10").await;
    r.expect(200);
    assert_eq!(bucket_counts(&r), owned(&[("2025-06-10", 1)]));
    assert_eq!(r.body["buckets"][0]["fields"], json!({}));
}

async fn the_residents_timezone_decides_the_summary_bucket_near_midnight(app: TestApp) {
    // 20:00 UTC on 15 January is 05:00 on the 16th in Tokyo and 20:00 on the 15th in London.
    let at = "2025-01-15T20:00:00Z";
    let tokyo = app.register("taro@example.jp").await;
    let london = app.register("hanako@example.jp").await;
    set_timezone(&app, &london, "Europe/London").await;
    create(&app, &tokyo.access, weight(at, json!(60))).await;
    create(&app, &london.access, weight(at, json!(60))).await;
    let query = "type=body_weight&from=2025-01-14&to=2025-01-17";
    let t = summary(&app, &tokyo.access, query).await;
    t.expect(200);
    assert_eq!(bucket_counts(&t), owned(&[("2025-01-16", 1)]));
    let l = summary(&app, &london.access, query).await;
    l.expect(200);
    assert_eq!(l.body["timezone"], "Europe/London");
    assert_eq!(bucket_counts(&l), owned(&[("2025-01-15", 1)]));
    // Sunday 19 January 23:30 in Tokyo is Sunday 14:30 UTC: the week of Monday the 13th in Tokyo.
    create(&app, &tokyo.access, weight("2025-01-19T14:30:00Z", json!(61))).await;
    // Monday 20 January 00:30 in Tokyo is still Sunday in UTC: the next week.
    create(&app, &tokyo.access, weight("2025-01-19T15:30:00Z", json!(62))).await;
    let w = summary(
        &app,
        &tokyo.access,
        "type=body_weight&from=2025-01-13&to=2025-01-26&period=week",
    )
    .await;
    assert_eq!(bucket_counts(&w), owned(&[("2025-01-13", 2), ("2025-01-20", 1)]));
}

async fn bad_summary_queries_are_422(app: TestApp) {
    let s = app.register("taro@example.jp").await;
    for (query, fields) in [
        ("type=body_weight&period=year", vec!["period"]),
        ("type=mood", vec!["type"]),
        ("type=body_weight&from=2025-06-10&to=2025-06-01", vec!["from"]),
        ("type=body_weight&from=2015-01-01&to=2025-06-01", vec!["from"]),
        ("type=body_weight&from=2025-13-01", vec!["from"]),
        ("type=body_weight&to=10/06/2025", vec!["to"]),
        ("type=mood&period=hour", vec!["period", "type"]),
    ] {
        let r = summary(&app, &s.access, query).await;
        r.expect(422);
        assert_eq!(sorted_fields(&r), fields, "{query}");
    }
    summary(&app, &s.access, "period=day").await.expect(400);
    summary(&app, &s.access, "type=body_weight&colour=red")
        .await
        .expect(400);
    // Defaults: the last 30 days to today.
    let r = summary(&app, &s.access, "type=body_weight").await;
    r.expect(200);
    let from: NaiveDate = r.body["from"].as_str().unwrap().parse().unwrap();
    let to: NaiveDate = r.body["to"].as_str().unwrap().parse().unwrap();
    assert_eq!((to - from).num_days(), 30);
    assert_eq!(r.body["period"], "day");
}
