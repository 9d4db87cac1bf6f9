//! Aggregates: k-anonymous statistics over an organisation's consenting members, programme
//! statistics, and the organisation's audit of both. Populations are built through the API:
//! residents register with a birth date and sex, join with an enrollment code, consent, upload.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration as StdDuration;

use actix_web::http::Method;
use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};
use futures_util::future::join_all;
use serde_json::{Value, json};

use karada::http::Settings;

use crate::both_backends;
use crate::common::{Backend, PASSWORD, Resp, Session, TestApp, assert_problem};
use crate::common::{admin, consent_body, employer, enrollment_code, exact_mode, staff, steps, weight};

/// The smaller `k_min` most tests run with, to keep their populations small.
const K: u32 = 3;

/// Like `both_backends!`, on an application whose `k_min` is [`K`].
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

// At the default k_min of 10.
both_backends!(a_cell_of_k_min_minus_one_people_is_suppressed);

both_backends_k3!(
    a_non_consenting_members_data_never_appears,
    consent_to_one_organisation_does_not_leak_to_another,
    revocation_expiry_and_leaving_each_remove_a_resident_from_the_next_answer,
    no_difference_of_answers_reveals_a_suppressed_cell_or_a_partial_month,
    statistics_are_exact_and_percentiles_within_one_bucket,
    only_the_organisations_analysts_query_and_requests_are_validated,
    every_aggregate_query_is_recorded_in_the_organisations_log,
    program_stats_are_published_with_k_min_people_and_suppressed_below,
    no_difference_of_program_stats_reveals_a_suppressed_cell,
    uploads_deletions_replacements_and_profile_changes_reach_the_next_answer,
    answers_equal_the_cells_counted_from_the_measurements,
);

async fn app_k3(backend: Backend) -> TestApp {
    TestApp::with_settings(
        backend,
        Settings {
            k_min: K,
            ..Settings::default()
        },
    )
    .await
}

const PURPOSE: &str = "Population health statistics for the workplace programme";

/// An organisation with its `org_admin`, an analyst and an open enrollment code.
pub(crate) struct Org {
    pub(crate) id: String,
    pub(crate) admin: Session,
    pub(crate) analyst: Session,
    pub(crate) code: String,
}

/// A new employer with `org_admin` `admin@<slug>.example.jp` and analyst `analyst@<slug>.example.jp`,
/// in `exact` mode: these tests hold v1's k-anonymous answers to exact values (the default,
/// differential privacy, is tested in `privacy.rs`).
pub(crate) async fn new_org(app: &TestApp, ops: &str, slug: &str) -> Org {
    let org = new_org_in_default_mode(app, ops, slug).await;
    exact_mode(app, ops, &org.id).await;
    org
}

/// A new employer as an operator creates it (differential privacy), with its `org_admin`, analyst
/// and an open enrollment code.
pub(crate) async fn new_org_in_default_mode(app: &TestApp, ops: &str, slug: &str) -> Org {
    let org = employer(app, ops, &format!("{slug} Corporation"), slug).await;
    let analyst = staff(app, ops, &org.id, &format!("analyst@{slug}.example.jp"), "analyst").await;
    let code = enrollment_code(app, &org).await;
    Org {
        id: org.id,
        admin: org.admin,
        analyst,
        code,
    }
}

/// A consent to aggregates of `types` that shares the whole history.
pub(crate) fn aggregate_consent(org: &str, types: &[&str]) -> Value {
    consent_body(org, types, "aggregate", PURPOSE)
}

/// Registers a resident with a birth date and sex.
pub(crate) async fn resident(app: &TestApp, email: &str, birth_date: &str, sex: &str) -> Session {
    let r = app
        .post(
            "/v1/auth/register",
            None,
            json!({"email": email, "password": PASSWORD, "birth_date": birth_date, "sex": sex}),
        )
        .await;
    r.expect(201);
    Session {
        user_id: r.body["user"]["id"].as_str().unwrap().to_owned(),
        access: r.body["access_token"].as_str().unwrap().to_owned(),
        refresh: r.body["refresh_token"].as_str().unwrap().to_owned(),
    }
}

/// Registers `n` residents `<prefix><i>@example.jp` at once (password hashing is the slow part).
pub(crate) async fn residents(app: &TestApp, prefix: &str, n: usize, birth_date: &str, sex: &str) -> Vec<Session> {
    join_all((0..n).map(|i| {
        let email = format!("{prefix}{i}@example.jp");
        async move { resident(app, &email, birth_date, sex).await }
    }))
    .await
}

/// Joins `org` with its code; the membership id.
pub(crate) async fn join(app: &TestApp, org: &Org, s: &Session) -> String {
    let r = app
        .post(
            "/v1/me/memberships",
            Some(&s.access),
            json!({"enrollment_code": org.code}),
        )
        .await;
    r.expect(201);
    r.body["id"].as_str().unwrap().to_owned()
}

/// Gives a consent; its id.
pub(crate) async fn consent(app: &TestApp, s: &Session, body: Value) -> String {
    let r = app.post("/v1/me/consents", Some(&s.access), body).await;
    r.expect(201);
    r.body["id"].as_str().unwrap().to_owned()
}

/// Joins `org` and consents (aggregate access) to `types`: (membership id, consent id).
pub(crate) async fn member(app: &TestApp, org: &Org, s: &Session, types: &[&str]) -> (String, String) {
    let m = join(app, org, s).await;
    let c = consent(app, s, aggregate_consent(&org.id, types)).await;
    (m, c)
}

pub(crate) async fn revoke(app: &TestApp, s: &Session, consent: &str) {
    app.call(
        Method::DELETE,
        &format!("/v1/me/consents/{consent}"),
        Some(&s.access),
        None,
    )
    .await
    .expect(204);
}

/// Uploads one measurement, which must be stored (201); the stored measurement.
pub(crate) async fn put(app: &TestApp, s: &Session, body: Value) -> Value {
    let r = app.post("/v1/measurements", Some(&s.access), body).await;
    r.expect(201);
    r.body.clone()
}

pub(crate) async fn weigh(app: &TestApp, s: &Session, day: &str, kg: f64) {
    put(app, s, weight(day, 9, kg)).await;
}

/// Uploads a batch, every item of which must be stored.
pub(crate) async fn batch(app: &TestApp, s: &Session, items: Vec<Value>) {
    let n = items.len();
    let r = app
        .post("/v1/measurements/batch", Some(&s.access), json!({ "items": items }))
        .await;
    r.expect(200);
    assert_eq!(r.body["invalid"], 0, "{}", r.body);
    assert_eq!(r.body["created"], n, "{}", r.body);
}

fn blood_pressure(day: &str, systolic: f64) -> Value {
    json!({"type": "blood_pressure", "effective_at": format!("{day}T08:00:00+09:00"),
           "values": {"systolic_mmhg": systolic, "diastolic_mmhg": 80}})
}

/// An aggregate request over `type`/`field` from `from` to `to`, with `extra` members merged in.
pub(crate) fn query(kind: &str, field: &str, from: &str, to: &str, extra: Value) -> Value {
    let mut q = json!({"type": kind, "field": field, "from": from, "to": to});
    if let (Some(q), Value::Object(extra)) = (q.as_object_mut(), extra) {
        q.extend(extra);
    }
    q
}

pub(crate) fn january(extra: Value) -> Value {
    query("body_weight", "kg", "2026-01-01", "2026-01-31", extra)
}

pub(crate) async fn aggregate(app: &TestApp, org: &str, token: &str, body: Value) -> Resp {
    app.post(&format!("/v1/orgs/{org}/aggregates"), Some(token), body).await
}

/// The analyst's answer (200).
pub(crate) async fn answer(app: &TestApp, org: &Org, body: Value) -> Value {
    let r = aggregate(app, &org.id, &org.analyst.access, body).await;
    r.expect(200);
    r.body.clone()
}

/// An answer without its release information (each answer is a release of its own).
fn figures(a: &Value) -> Value {
    let mut a = a.clone();
    a.as_object_mut().unwrap().remove("privacy");
    a
}

pub(crate) fn groups(a: &Value) -> &Vec<Value> {
    a["groups"].as_array().unwrap_or_else(|| panic!("no groups: {a}"))
}

/// The group with this key.
#[track_caller]
pub(crate) fn group(a: &Value, key: Value) -> &Value {
    groups(a)
        .iter()
        .find(|g| g["key"] == key)
        .unwrap_or_else(|| panic!("no group {key} in {a}"))
}

#[track_caller]
pub(crate) fn num(v: &Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}

#[track_caller]
pub(crate) fn close(actual: &Value, expected: f64) {
    let a = num(actual);
    assert!(
        (a - expected).abs() <= 1e-9 * expected.abs().max(1.0),
        "{a} != {expected}"
    );
}

/// Asserts a published group: its people, measurements, and (when asked for) count and mean.
#[track_caller]
fn assert_published(g: &Value, people: i64, measurements: i64, mean: f64) {
    assert!(
        g.get("suppressed").is_none(),
        "published groups carry no suppressed flag: {g}"
    );
    assert_eq!(g["people"], people, "{g}");
    assert_eq!(g["measurements"], measurements, "{g}");
    close(&g["stats"]["count"], measurements as f64);
    close(&g["stats"]["mean"], mean);
}

/// Asserts a suppressed group: its key and `suppressed: true`, and nothing else.
#[track_caller]
fn assert_suppressed(g: &Value, key: Value) {
    assert_eq!(g, &json!({"key": key, "suppressed": true}));
}

/// The sums over an answer's published groups: people, measurements and count·mean.
fn totals(a: &Value) -> (i64, i64, f64) {
    groups(a)
        .iter()
        .filter(|g| g.get("suppressed").is_none())
        .fold((0, 0, 0.0), |(p, m, t), g| {
            (
                p + g["people"].as_i64().unwrap(),
                m + g["measurements"].as_i64().unwrap(),
                t + num(&g["stats"]["count"]) * num(&g["stats"]["mean"]),
            )
        })
}

pub(crate) fn band_sex(band: &str, sex: &str) -> Value {
    json!({"age_band": band, "sex": sex})
}

// ---- who counts ----

async fn a_non_consenting_members_data_never_appears(app: TestApp) {
    let ops = admin(&app).await;
    let org = new_org(&app, &ops, "acme").await;
    let consenting = residents(&app, "w", 3, "1980-04-01", "female").await;
    for (s, kg) in consenting.iter().zip([58.0, 60.0, 62.5]) {
        member(&app, &org, s, &["body_weight"]).await;
        weigh(&app, s, "2026-01-10", kg).await;
    }
    // A member in the same cell who never consented, weighing 300 kg.
    let quiet = resident(&app, "quiet@example.jp", "1980-04-01", "female").await;
    join(&app, &org, &quiet).await;
    weigh(&app, &quiet, "2026-01-10", 300.0).await;
    // A member in the same cell who consented to blood pressure only.
    let bp_only = resident(&app, "bp@example.jp", "1980-04-01", "female").await;
    member(&app, &org, &bp_only, &["blood_pressure"]).await;
    weigh(&app, &bp_only, "2026-01-12", 300.0).await;
    put(&app, &bp_only, blood_pressure("2026-01-12", 120.0)).await;
    // k men consenting to blood pressure only, who weigh 300 kg: a whole cell of their weights.
    let men = residents(&app, "m", 3, "1980-04-01", "male").await;
    for s in &men {
        member(&app, &org, s, &["blood_pressure"]).await;
        weigh(&app, s, "2026-01-10", 300.0).await;
        put(&app, s, blood_pressure("2026-01-10", 140.0)).await;
    }
    // And a resident who is no member at all.
    let outsider = resident(&app, "outsider@example.jp", "1980-04-01", "female").await;
    weigh(&app, &outsider, "2026-01-10", 300.0).await;

    let mean = (58.0 + 60.0 + 62.5) / 3.0;
    let a = answer(&app, &org, january(json!({}))).await;
    assert_eq!(a["k_min"], K);
    assert_eq!(groups(&a).len(), 1, "{a}");
    assert_published(group(&a, json!({})), 3, 3, mean);

    let a = answer(&app, &org, january(json!({"group_by": ["age_band", "sex"]}))).await;
    assert_eq!(
        groups(&a).len(),
        1,
        "not even a suppressed key for the men's weights: {a}"
    );
    assert_published(group(&a, band_sex("40-49", "female")), 3, 3, mean);

    // The blood-pressure consents do count for blood pressure: the control.
    let a = answer(
        &app,
        &org,
        query(
            "blood_pressure",
            "systolic_mmhg",
            "2026-01-01",
            "2026-01-31",
            json!({"group_by": ["sex"]}),
        ),
    )
    .await;
    assert_eq!(groups(&a).len(), 2, "{a}");
    assert_published(group(&a, json!({"sex": "male"})), 3, 3, 140.0);
    assert_suppressed(group(&a, json!({"sex": "female"})), json!({"sex": "female"}));
}

async fn consent_to_one_organisation_does_not_leak_to_another(app: TestApp) {
    let ops = admin(&app).await;
    let a = new_org(&app, &ops, "alpha").await;
    let b = new_org(&app, &ops, "beta").await;
    let both = residents(&app, "both", 3, "1980-04-01", "female").await;
    for (s, kg) in both.iter().zip([50.0, 60.0, 70.0]) {
        member(&app, &a, s, &["body_weight"]).await;
        member(&app, &b, s, &["body_weight"]).await;
        weigh(&app, s, "2026-01-10", kg).await;
    }
    // A member of both who consents to A's statistics for weight, and to B only for blood pressure
    // (individually, even).
    let x = resident(&app, "x@example.jp", "1980-04-01", "female").await;
    member(&app, &a, &x, &["body_weight"]).await;
    join(&app, &b, &x).await;
    consent(
        &app,
        &x,
        consent_body(&b.id, &["blood_pressure"], "individual", PURPOSE),
    )
    .await;
    weigh(&app, &x, "2026-01-10", 90.0).await;

    let in_a = answer(&app, &a, january(json!({"group_by": ["sex"]}))).await;
    assert_published(group(&in_a, json!({"sex": "female"})), 4, 4, 67.5);
    let in_b = answer(&app, &b, january(json!({"group_by": ["sex"]}))).await;
    assert_eq!(groups(&in_b).len(), 1, "{in_b}");
    assert_published(group(&in_b, json!({"sex": "female"})), 3, 3, 60.0);
    // B's analyst cannot ask A instead.
    let r = aggregate(&app, &a.id, &b.analyst.access, january(json!({}))).await;
    assert_problem(&r, 403, "forbidden");
}

async fn revocation_expiry_and_leaving_each_remove_a_resident_from_the_next_answer(app: TestApp) {
    // Account erasure, a fourth way out, is in erasure.rs.
    let ops = admin(&app).await;
    let org = new_org(&app, &ops, "acme").await;
    let women40 = residents(&app, "fa", 3, "1980-04-01", "female").await;
    let men40 = residents(&app, "ma", 3, "1980-04-01", "male").await;
    let women30 = residents(&app, "fb", 3, "1990-04-01", "female").await;
    let mut consents = Vec::new();
    let mut memberships = Vec::new();
    for (cell, kg) in [(&women40, 60.0), (&men40, 80.0), (&women30, 55.0)] {
        for s in cell {
            memberships.push(join(&app, &org, s).await);
            weigh(&app, s, "2026-01-15", kg).await;
        }
    }
    // Everyone but the first man consents until revoked; he consents for a few seconds.
    for s in women40.iter().chain(&women30).chain(men40.iter().skip(1)) {
        consents.push(consent(&app, s, aggregate_consent(&org.id, &["body_weight"])).await);
    }
    let expires: DateTime<Utc> = Utc::now() + Duration::seconds(6);
    let mut body = aggregate_consent(&org.id, &["body_weight"]);
    body["expires_at"] = json!(expires.to_rfc3339());
    consent(&app, &men40[0], body).await;

    let grouped = || january(json!({"group_by": ["age_band", "sex"]}));
    let a = answer(&app, &org, grouped()).await;
    assert_eq!(groups(&a).len(), 3, "{a}");
    assert_published(group(&a, band_sex("40-49", "female")), 3, 3, 60.0);
    assert_published(group(&a, band_sex("40-49", "male")), 3, 3, 80.0);
    assert_published(group(&a, band_sex("30-39", "female")), 3, 3, 55.0);
    assert_published(
        group(&answer(&app, &org, january(json!({}))).await, json!({})),
        9,
        9,
        65.0,
    );

    // Revocation: the first woman in her forties.
    revoke(&app, &women40[0], &consents[0]).await;
    let a = answer(&app, &org, grouped()).await;
    assert_suppressed(group(&a, band_sex("40-49", "female")), band_sex("40-49", "female"));
    assert_published(group(&a, band_sex("40-49", "male")), 3, 3, 80.0);
    assert_published(group(&a, band_sex("30-39", "female")), 3, 3, 55.0);
    assert_published(
        group(&answer(&app, &org, january(json!({}))).await, json!({})),
        6,
        6,
        67.5,
    );

    // Leaving: the first woman in her thirties (memberships[6]); joining again restores nothing.
    app.call(
        Method::DELETE,
        &format!("/v1/me/memberships/{}", memberships[6]),
        Some(&women30[0].access),
        None,
    )
    .await
    .expect(204);
    let a = answer(&app, &org, grouped()).await;
    assert_suppressed(group(&a, band_sex("30-39", "female")), band_sex("30-39", "female"));
    assert_published(group(&a, band_sex("40-49", "male")), 3, 3, 80.0);
    join(&app, &org, &women30[0]).await;
    let a = answer(&app, &org, grouped()).await;
    assert_suppressed(group(&a, band_sex("30-39", "female")), band_sex("30-39", "female"));
    assert!(
        Utc::now() < expires,
        "the set-up took longer than the consent's life; the expiry step would prove nothing"
    );
    assert_published(group(&a, band_sex("40-49", "male")), 3, 3, 80.0);

    // Expiry: the first man's consent ends by itself.
    let wait = (expires - Utc::now()).to_std().unwrap_or_default() + StdDuration::from_millis(1200);
    actix_web::rt::time::sleep(wait).await;
    let a = answer(&app, &org, grouped()).await;
    assert_eq!(groups(&a).len(), 3, "{a}");
    assert_suppressed(group(&a, band_sex("40-49", "male")), band_sex("40-49", "male"));
    assert_suppressed(group(&a, band_sex("40-49", "female")), band_sex("40-49", "female"));
    assert_suppressed(group(&a, band_sex("30-39", "female")), band_sex("30-39", "female"));
    let a = answer(&app, &org, january(json!({}))).await;
    assert_eq!(a["groups"], json!([{"key": {}, "suppressed": true}]));
}

// ---- suppression ----

async fn a_cell_of_k_min_minus_one_people_is_suppressed(app: TestApp) {
    let ops = admin(&app).await;
    let org = new_org(&app, &ops, "acme").await;
    let women = residents(&app, "w", 10, "1980-04-01", "female").await;
    let men = residents(&app, "m", 10, "1980-04-01", "male").await;
    for (i, s) in women.iter().enumerate() {
        member(&app, &org, s, &["body_weight"]).await;
        weigh(&app, s, "2026-01-10", 55.0 + i as f64).await;
    }
    for s in &men[..9] {
        member(&app, &org, s, &["body_weight"]).await;
        weigh(&app, s, "2026-01-10", 80.0).await;
    }
    let grouped = january(json!({"group_by": ["age_band", "sex"], "stats": ["count", "mean", "stddev"]}));
    let a = answer(&app, &org, grouped.clone()).await;
    assert_eq!(a["k_min"], 10, "the default k_min");
    assert_eq!(groups(&a).len(), 2, "{a}");
    let women_group = group(&a, band_sex("40-49", "female"));
    assert_published(women_group, 10, 10, 59.5);
    // Sample standard deviation of 55..=64.
    close(&women_group["stats"]["stddev"], (82.5_f64 / 9.0).sqrt());
    assert_eq!(
        women_group["stats"].as_object().unwrap().keys().collect::<Vec<_>>(),
        ["count", "mean", "stddev"]
    );
    assert_suppressed(group(&a, band_sex("40-49", "male")), band_sex("40-49", "male"));
    // Ungrouped, the men's cell is dropped before combining.
    let a = answer(&app, &org, january(json!({}))).await;
    assert_published(group(&a, json!({})), 10, 10, 59.5);

    // The tenth man makes the cell publishable.
    member(&app, &org, &men[9], &["body_weight"]).await;
    weigh(&app, &men[9], "2026-01-20", 80.0).await;
    let a = answer(&app, &org, grouped).await;
    assert_published(group(&a, band_sex("40-49", "male")), 10, 10, 80.0);
    let a = answer(&app, &org, january(json!({}))).await;
    assert_published(group(&a, json!({})), 20, 20, 69.75);
}

async fn no_difference_of_answers_reveals_a_suppressed_cell_or_a_partial_month(app: TestApp) {
    let ops = admin(&app).await;
    let org = new_org(&app, &ops, "acme").await;
    let women40 = residents(&app, "fa", 3, "1980-04-01", "female").await;
    let women30 = residents(&app, "fb", 3, "1990-04-01", "female").await;
    let men40 = residents(&app, "ma", 2, "1980-04-01", "male").await;
    let late = resident(&app, "late@example.jp", "1980-04-01", "female").await;
    for (cell, kgs) in [
        (&women40, vec![60.0, 62.0, 64.0]),
        (&women30, vec![50.0, 52.0, 54.0]),
        (&men40, vec![100.0, 110.0]),
    ] {
        for (s, kg) in cell.iter().zip(kgs) {
            member(&app, &org, s, &["body_weight"]).await;
            weigh(&app, s, "2026-01-05", kg).await;
        }
    }
    // A fourth woman in her forties weighs only in the second half of January: a day-precise
    // range difference (1–31 January minus 1–15 January) would isolate her.
    member(&app, &org, &late, &["body_weight"]).await;
    weigh(&app, &late, "2026-01-20", 70.0).await;
    // One of the men weighs in February too: a cell of one.
    weigh(&app, &men40[0], "2026-02-03", 105.0).await;

    // Women 40-49: 60+62+64+70 = 256 over 4; women 30-39: 156 over 3; men (2) suppressed.
    let whole = answer(&app, &org, january(json!({}))).await;
    assert_published(group(&whole, json!({})), 7, 7, 412.0 / 7.0);
    let (people, measurements, total) = totals(&whole);
    for dims in [json!(["age_band", "sex"]), json!(["age_band"]), json!(["sex"])] {
        let parts = answer(&app, &org, january(json!({ "group_by": dims }))).await;
        let (p, m, t) = totals(&parts);
        assert_eq!((p, m), (people, measurements), "group_by {dims}: {parts}");
        assert!((t - total).abs() < 1e-6, "group_by {dims}: {t} vs {total}");
    }
    let by_band = answer(&app, &org, january(json!({"group_by": ["age_band"]}))).await;
    assert_published(group(&by_band, json!({"age_band": "40-49"})), 4, 4, 64.0);
    assert_published(group(&by_band, json!({"age_band": "30-39"})), 3, 3, 52.0);
    let by_sex = answer(&app, &org, january(json!({"group_by": ["sex"]}))).await;
    assert_suppressed(group(&by_sex, json!({"sex": "male"})), json!({"sex": "male"}));

    // Date ranges are whole months: the halves of January answer exactly as all of January.
    for dims in [json!([]), json!(["age_band", "sex"])] {
        let full = answer(
            &app,
            &org,
            query(
                "body_weight",
                "kg",
                "2026-01-01",
                "2026-01-31",
                json!({ "group_by": dims }),
            ),
        )
        .await;
        assert_eq!(
            (&full["from"], &full["to"]),
            (&json!("2026-01-01"), &json!("2026-01-31"))
        );
        for (from, to) in [
            ("2026-01-01", "2026-01-15"),
            ("2026-01-16", "2026-01-31"),
            ("2026-01-20", "2026-01-20"),
        ] {
            let part = answer(
                &app,
                &org,
                query("body_weight", "kg", from, to, json!({ "group_by": dims })),
            )
            .await;
            assert_eq!(
                figures(&part),
                figures(&full),
                "{from}..{to} must answer as the whole month"
            );
        }
    }
    // January and February together answer as January alone: February's only cell has one person.
    let two = answer(
        &app,
        &org,
        query("body_weight", "kg", "2026-01-01", "2026-02-15", json!({})),
    )
    .await;
    assert_eq!((&two["from"], &two["to"]), (&json!("2026-01-01"), &json!("2026-02-28")));
    assert_eq!(two["groups"], whole["groups"]);
    let feb = answer(
        &app,
        &org,
        query("body_weight", "kg", "2026-02-01", "2026-02-28", json!({})),
    )
    .await;
    assert_eq!(feb["groups"], json!([{"key": {}, "suppressed": true}]));
}

// ---- statistics ----

async fn statistics_are_exact_and_percentiles_within_one_bucket(app: TestApp) {
    let ops = admin(&app).await;
    let org = new_org(&app, &ops, "acme").await;
    let people = residents(&app, "w", 3, "1980-04-01", "female").await;
    let values: [[f64; 7]; 3] = [
        [50.0, 51.5, 53.0, 54.5, 56.0, 57.5, 59.0],
        [60.0, 61.0, 62.0, 63.0, 64.0, 65.0, 66.0],
        [70.0, 75.0, 80.0, 85.0, 90.0, 95.0, 120.0],
    ];
    for (s, vs) in people.iter().zip(values) {
        member(&app, &org, s, &["body_weight"]).await;
        let items = vs
            .iter()
            .enumerate()
            .map(|(d, kg)| weight(format!("2026-01-{:02}", d + 1), 7, *kg))
            .collect();
        batch(&app, s, items).await;
    }
    for (s, kg) in people.iter().zip([60.0, 62.0, 64.0]) {
        weigh(&app, s, "2026-02-02", kg).await;
    }

    let mut all: Vec<f64> = values.iter().flatten().copied().collect();
    all.sort_by(f64::total_cmp);
    let n = all.len() as f64;
    let mean = all.iter().sum::<f64>() / n;
    let stddev = (all.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt();
    // 21 values: ranks q·(n−1) are whole for q = 0.1, 0.5, 0.9, so the quantiles are values.
    let (p10, p50, p90) = (all[2], all[10], all[18]);
    assert_eq!((p10, p50, p90), (53.0, 63.0, 90.0));

    let catalogue = app.get("/v1/measurement-types", None).await;
    catalogue.expect(200);
    let kg = catalogue.body["types"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "body_weight")
        .unwrap()["fields"][0]
        .clone();
    let width = (num(&kg["max"]) - num(&kg["min"])) / 200.0;
    assert!((width - 1.4).abs() < 1e-9);

    let a = answer(
        &app,
        &org,
        january(json!({"stats": ["count", "mean", "stddev", "p10", "p50", "p90"]})),
    )
    .await;
    let g = group(&a, json!({}));
    assert_published(g, 3, 21, mean);
    close(&g["stats"]["stddev"], stddev);
    for (name, truth) in [("p10", p10), ("p50", p50), ("p90", p90)] {
        let est = num(&g["stats"][name]);
        assert!(
            (est - truth).abs() <= width,
            "{name}: {est} is more than one bucket ({width}) from {truth}"
        );
    }
    // Only what was asked for.
    let a = answer(&app, &org, january(json!({"stats": ["p50"]}))).await;
    let g = group(&a, json!({}));
    assert_eq!(g["stats"].as_object().unwrap().keys().collect::<Vec<_>>(), ["p50"]);
    assert!((num(&g["stats"]["p50"]) - p50).abs() <= width);

    // By month: keys are YYYY-MM; people are distinct over the months.
    let both = query(
        "body_weight",
        "kg",
        "2026-01-01",
        "2026-02-28",
        json!({"group_by": ["month"], "stats": ["count", "mean", "stddev"]}),
    );
    let a = answer(&app, &org, both).await;
    let keys: Vec<&Value> = groups(&a).iter().map(|g| &g["key"]).collect();
    assert_eq!(keys, [&json!({"month": "2026-01"}), &json!({"month": "2026-02"})]);
    assert_published(group(&a, json!({"month": "2026-01"})), 3, 21, mean);
    let feb = group(&a, json!({"month": "2026-02"}));
    assert_published(feb, 3, 3, 62.0);
    close(&feb["stats"]["stddev"], 2.0);
    let a = answer(
        &app,
        &org,
        query("body_weight", "kg", "2026-01-01", "2026-02-28", json!({})),
    )
    .await;
    assert_published(group(&a, json!({})), 3, 24, (mean * 21.0 + 186.0) / 24.0);
}

// ---- permissions and validation ----

async fn only_the_organisations_analysts_query_and_requests_are_validated(app: TestApp) {
    let ops = admin(&app).await;
    let a = new_org(&app, &ops, "alpha").await;
    let b = new_org(&app, &ops, "beta").await;
    let nurse = staff(&app, &ops, &a.id, "nurse@alpha.example.jp", "health_staff").await;
    let people = residents(&app, "w", 3, "1980-04-01", "female").await;
    for s in &people {
        member(&app, &a, s, &["body_weight"]).await;
        weigh(&app, s, "2026-01-10", 60.0).await;
    }
    let ok = january(json!({}));
    assert_problem(
        &app.post(&format!("/v1/orgs/{}/aggregates", a.id), None, ok.clone())
            .await,
        401,
        "unauthorized",
    );
    for (who, token) in [
        ("a consenting resident", &people[0].access),
        ("health staff", &nurse.access),
        ("the org admin", &a.admin.access),
        ("another organisation's analyst", &b.analyst.access),
        ("an operator", &ops),
    ] {
        let r = aggregate(&app, &a.id, token, ok.clone()).await;
        assert_eq!(r.status.as_u16(), 403, "{who}");
        assert_problem(&r, 403, "forbidden");
    }
    assert_published(group(&answer(&app, &a, ok.clone()).await, json!({})), 3, 3, 60.0);

    for (body, fields) in [
        (
            query("weight", "kg", "2026-01-01", "2026-01-31", json!({})),
            vec!["type"],
        ),
        (
            query("body_weight", "lb", "2026-01-01", "2026-01-31", json!({})),
            vec!["field"],
        ),
        (
            query("health_checkup", "kind", "2026-01-01", "2026-01-31", json!({})),
            vec!["field"],
        ),
        (
            query("body_weight", "kg", "2026-02-01", "2026-01-31", json!({})),
            vec!["to"],
        ),
        (
            query("body_weight", "kg", "2016-01-01", "2026-01-31", json!({})),
            vec!["to"],
        ),
        (
            january(json!({"group_by": ["sex", "age_band", "sex"]})),
            vec!["group_by"],
        ),
        (january(json!({"stats": ["mean", "mean"]})), vec!["stats"]),
        (january(json!({"epsilon": 0})), vec!["epsilon"]),
        (january(json!({"epsilon": -1})), vec!["epsilon"]),
        (january(json!({"epsilon": 0.009})), vec!["epsilon"]),
        (january(json!({"epsilon": 10.5})), vec!["epsilon"]),
        (
            query(
                "weight",
                "kg",
                "2026-01-01",
                "2026-01-31",
                json!({"epsilon": 50, "group_by": ["month", "month"]}),
            ),
            vec!["type", "group_by", "epsilon"],
        ),
    ] {
        let r = aggregate(&app, &a.id, &a.analyst.access, body.clone()).await;
        assert_problem(&r, 422, "validation");
        assert_eq!(r.error_fields(), fields, "{body}");
    }
    // 120 months is the most one query covers.
    let r = answer(
        &app,
        &a,
        query("body_weight", "kg", "2016-02-01", "2026-01-31", json!({})),
    )
    .await;
    assert_eq!((&r["from"], &r["to"]), (&json!("2016-02-01"), &json!("2026-01-31")));

    for body in [
        january(json!({"region": "kansai"})),
        january(json!({"group_by": ["region"]})),
        january(json!({"stats": ["max"]})),
        january(json!({"group_by": "sex"})),
        query("body_weight", "kg", "2026-13-01", "2026-01-31", json!({})),
        query("body_weight", "kg", "2026-01-01T00:00:00Z", "2026-01-31", json!({})),
        json!({"type": "body_weight", "field": "kg", "from": "2026-01-01"}),
        january(json!({"epsilon": "1"})),
        january(json!({"epsilon": null, "x": 1})),
    ] {
        let r = aggregate(&app, &a.id, &a.analyst.access, body.clone()).await;
        assert_eq!(r.status.as_u16(), 400, "{body}: {}", String::from_utf8_lossy(&r.raw));
        assert_problem(&r, 400, "bad-request");
    }

    // Programme statistics: the org admin and analysts; the period is checked too.
    let path = format!("/v1/orgs/{}/program-stats?from=2026-01-01&to=2026-01-31", a.id);
    for token in [&people[0].access, &nurse.access, &b.analyst.access, &b.admin.access] {
        assert_problem(&app.get(&path, Some(token)).await, 403, "forbidden");
    }
    app.get(&path, Some(&a.admin.access)).await.expect(200);
    app.get(&path, Some(&a.analyst.access)).await.expect(200);
    let r = app
        .get(
            &format!("/v1/orgs/{}/program-stats?from=2026-02-01&to=2026-01-31", a.id),
            Some(&a.analyst.access),
        )
        .await;
    assert_problem(&r, 422, "validation");
    assert_eq!(r.error_fields(), ["to"]);
    for q in [
        "from=2026-01-01",
        "from=2026-02-30&to=2026-03-01",
        "from=2026-01-01&to=2026-01-31&sex=male",
    ] {
        let r = app
            .get(&format!("/v1/orgs/{}/program-stats?{q}", a.id), Some(&a.analyst.access))
            .await;
        assert_problem(&r, 400, "bad-request");
    }
}

// ---- the audit ----

async fn every_aggregate_query_is_recorded_in_the_organisations_log(app: TestApp) {
    let ops = admin(&app).await;
    let org = new_org(&app, &ops, "acme").await;
    let other = new_org(&app, &ops, "beta").await;
    let women = residents(&app, "w", 3, "1980-04-01", "female").await;
    let man = resident(&app, "m@example.jp", "1980-04-01", "male").await;
    for s in women.iter().chain([&man]) {
        member(&app, &org, s, &["body_weight"]).await;
        weigh(&app, s, "2026-01-10", 60.0).await;
    }
    let log = format!("/v1/orgs/{}/aggregate-log", org.id);
    let r = app.get(&log, Some(&org.analyst.access)).await;
    r.expect(200);
    assert_eq!(r.body["items"], json!([]));

    let first = json!({"type": "body_weight", "field": "kg", "from": "2026-01-01", "to": "2026-01-31"});
    answer(&app, &org, first).await;
    let second = json!({"type": "body_weight", "field": "kg", "from": "2026-01-05", "to": "2026-01-20",
                        "group_by": ["sex"], "stats": ["mean"]});
    let a = answer(&app, &org, second).await;
    assert_eq!(groups(&a).len(), 2, "{a}");
    let stats = app
        .get(
            &format!("/v1/orgs/{}/program-stats?from=2026-01-10&to=2026-01-31", org.id),
            Some(&org.admin.access),
        )
        .await;
    stats.expect(200);
    // A refused query answers nothing and is not an aggregate query of the organisation.
    let r = aggregate(&app, &org.id, &women[0].access, january(json!({}))).await;
    assert_problem(&r, 403, "forbidden");

    for reader in [&org.analyst, &org.admin] {
        let r = app.get(&log, Some(&reader.access)).await;
        r.expect(200);
        let items = r.body["items"].as_array().unwrap();
        assert_eq!(items.len(), 3, "{}", r.body);
        // Newest first.
        assert_eq!(items[0]["query"], "program_stats");
        assert_eq!(items[0]["actor"], "admin@acme.example.jp");
        assert_eq!(items[0]["request"], json!({"from": "2026-01-01", "to": "2026-01-31"}));
        let suppressed = [
            "members",
            "consenting",
            "active_residents",
            "mean_daily_steps",
            "points_earned",
        ]
        .iter()
        .filter(|f| stats.body[**f]["suppressed"] == true)
        .count();
        assert_eq!(suppressed, 2, "no steps and no shared points: {}", stats.body);
        assert_eq!((&items[0]["groups"], &items[0]["suppressed"]), (&json!(3), &json!(2)));

        assert_eq!(items[1]["query"], "aggregate");
        assert_eq!(items[1]["actor"], "analyst@acme.example.jp");
        assert_eq!(items[1]["request"]["type"], "body_weight");
        assert_eq!(items[1]["request"]["field"], "kg");
        assert_eq!(items[1]["request"]["from"], "2026-01-05");
        assert_eq!(items[1]["request"]["to"], "2026-01-20");
        assert_eq!(items[1]["request"]["group_by"], json!(["sex"]));
        assert_eq!(items[1]["request"]["stats"], json!(["mean"]));
        assert_eq!((&items[1]["groups"], &items[1]["suppressed"]), (&json!(1), &json!(1)));
        assert!(items[1]["epsilon"].is_null());

        assert_eq!(items[2]["query"], "aggregate");
        assert_eq!(items[2]["actor"], "analyst@acme.example.jp");
        assert_eq!(items[2]["request"]["group_by"], json!([]));
        assert_eq!((&items[2]["groups"], &items[2]["suppressed"]), (&json!(1), &json!(0)));

        let at = |i: usize| DateTime::parse_from_rfc3339(items[i]["at"].as_str().unwrap()).unwrap();
        assert!(at(0) >= at(1) && at(1) >= at(2));
    }

    // Paged, newest first.
    let r = app.get(&format!("{log}?limit=2"), Some(&org.analyst.access)).await;
    r.expect(200);
    assert_eq!(r.body["items"].as_array().unwrap().len(), 2);
    assert_eq!(r.body["items"][0]["query"], "program_stats");
    let cursor = r.body["next_cursor"].as_str().expect("a second page").to_owned();
    let r = app
        .get(&format!("{log}?limit=2&cursor={cursor}"), Some(&org.analyst.access))
        .await;
    r.expect(200);
    let items = r.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["request"]["group_by"], json!([]));
    assert!(r.body["next_cursor"].is_null());

    // Residents and other organisations' staff cannot read it; the other organisation's is empty.
    for token in [
        &women[0].access,
        &man.access,
        &other.analyst.access,
        &other.admin.access,
    ] {
        assert_problem(&app.get(&log, Some(token)).await, 403, "forbidden");
    }
    let r = app
        .get(
            &format!("/v1/orgs/{}/aggregate-log", other.id),
            Some(&other.analyst.access),
        )
        .await;
    r.expect(200);
    assert_eq!(r.body["items"], json!([]));
}

// ---- programme statistics ----

#[track_caller]
fn figure(stats: &Value, name: &str) -> Option<f64> {
    let f = &stats[name];
    match f["suppressed"].as_bool() {
        Some(true) => {
            assert!(f["value"].is_null(), "{name}: {f}");
            None
        }
        Some(false) => Some(num(&f["value"])),
        None => panic!("{name} missing: {stats}"),
    }
}

/// Uploads steps as a registered pedometer app does for `s` (the step tiers pay sensed steps), for
/// an account older than the day uploaded for.
async fn walk(app: &TestApp, s: &Session, body: Value) {
    crate::common::backdate_account(app, s, 400);
    let device = crate::common::sensed_token(app, s, "Pedometer", &["measurements:write"]).await;
    let r = app.post("/v1/measurements", Some(&device), body).await;
    r.expect(201);
}

async fn program_stats_are_published_with_k_min_people_and_suppressed_below(app: TestApp) {
    // Points pay only inside the award window and for days after the rules existed: the widest
    // window (366 days) and older rules let 20 November 2026 pay.
    {
        use diesel::prelude::*;
        use karada::db::schema::programmes;
        diesel::update(programmes::table.find("osaka"))
            .set(programmes::award_window_days.eq(366))
            .execute(&mut app.db.conn())
            .unwrap();
        crate::common::backdate_rules(&app, "osaka", 400);
    }
    let ops = admin(&app).await;
    let org = new_org(&app, &ops, "acme").await;
    let sharing = residents(&app, "w", 3, "1980-04-01", "female").await;
    let mut consents = Vec::new();
    for (s, count) in sharing.iter().zip([6500, 6500, 9000]) {
        join(&app, &org, s).await;
        let mut body = aggregate_consent(&org.id, &["steps"]);
        body["include_points"] = json!(true);
        consents.push(consent(&app, s, body).await);
        walk(&app, s, steps("2026-11-20", 20, count)).await;
    }
    // Consents to steps but not to points: 4,000 steps (2 points).
    let no_points = resident(&app, "np@example.jp", "1980-04-01", "female").await;
    let (_, no_points_consent) = member(&app, &org, &no_points, &["steps"]).await;
    walk(&app, &no_points, steps("2026-11-20", 20, 4000)).await;
    // A member without consent walks a lot (5 points); an outsider too.
    let quiet = resident(&app, "quiet@example.jp", "1980-04-01", "female").await;
    join(&app, &org, &quiet).await;
    walk(&app, &quiet, steps("2026-11-20", 20, 20000)).await;
    let outsider = resident(&app, "out@example.jp", "1980-04-01", "female").await;
    walk(&app, &outsider, steps("2026-11-20", 20, 20000)).await;

    let path = |from: &str, to: &str| format!("/v1/orgs/{}/program-stats?from={from}&to={to}", org.id);
    let r = app
        .get(&path("2026-11-01", "2026-11-30"), Some(&org.analyst.access))
        .await;
    r.expect(200);
    let s = &r.body;
    assert_eq!(
        (&s["k_min"], &s["from"], &s["to"]),
        (&json!(K), &json!("2026-11-01"), &json!("2026-11-30"))
    );
    assert_eq!(figure(s, "members"), Some(5.0), "{s}");
    assert_eq!(figure(s, "consenting"), Some(4.0), "{s}");
    assert_eq!(figure(s, "active_residents"), Some(4.0), "{s}");
    assert_eq!(
        figure(s, "mean_daily_steps"),
        Some(6500.0),
        "(6500 + 6500 + 9000 + 4000) / 4: {s}"
    );
    assert_eq!(
        figure(s, "points_earned"),
        Some(10.0),
        "3 + 3 + 4 from those sharing points: {s}"
    );
    // The org admin reads the same.
    let r = app
        .get(&path("2026-11-05", "2026-11-25"), Some(&org.admin.access))
        .await;
    r.expect(200);
    assert_eq!(figure(&r.body, "points_earned"), Some(10.0), "{}", r.body);

    // A month without activity: only the current counts are published.
    let r = app
        .get(&path("2026-10-01", "2026-10-31"), Some(&org.analyst.access))
        .await;
    r.expect(200);
    let s = &r.body;
    assert_eq!(figure(s, "members"), Some(5.0), "{s}");
    assert_eq!(figure(s, "consenting"), Some(4.0), "{s}");
    assert_eq!(figure(s, "active_residents"), None, "{s}");
    assert_eq!(figure(s, "mean_daily_steps"), None, "{s}");
    assert_eq!(figure(s, "points_earned"), None, "{s}");

    // Two revocations leave k_min − 1 consenting members: everything about them is suppressed.
    revoke(&app, &sharing[2], &consents[2]).await;
    revoke(&app, &no_points, &no_points_consent).await;
    let r = app
        .get(&path("2026-11-01", "2026-11-30"), Some(&org.analyst.access))
        .await;
    r.expect(200);
    let s = &r.body;
    assert_eq!(figure(s, "members"), Some(5.0), "{s}");
    assert_eq!(figure(s, "consenting"), None, "{s}");
    assert_eq!(figure(s, "active_residents"), None, "{s}");
    assert_eq!(figure(s, "mean_daily_steps"), None, "{s}");
    assert_eq!(figure(s, "points_earned"), None, "{s}");
}

async fn no_difference_of_program_stats_reveals_a_suppressed_cell(app: TestApp) {
    let ops = admin(&app).await;
    let org = new_org(&app, &ops, "acme").await;
    // Three women walk in November: a publishable cell.
    let women = residents(&app, "w", 3, "1980-04-01", "female").await;
    for (s, count) in women.iter().zip([5000, 6000, 7000]) {
        member(&app, &org, s, &["steps"]).await;
        put(&app, s, steps("2026-11-20", 20, count)).await;
    }
    // One man walks in October only: a cell of one, which no answer may reveal.
    let man = resident(&app, "m@example.jp", "1980-04-01", "male").await;
    member(&app, &org, &man, &["steps"]).await;
    put(&app, &man, steps("2026-10-15", 20, 12000)).await;

    let get = |from: &'static str, to: &'static str| {
        let path = format!("/v1/orgs/{}/program-stats?from={from}&to={to}", org.id);
        let token = org.analyst.access.clone();
        let app = &app;
        async move {
            let r = app.get(&path, Some(&token)).await;
            r.expect(200);
            r.body.clone()
        }
    };
    let november = get("2026-11-01", "2026-11-30").await;
    assert_eq!(figure(&november, "active_residents"), Some(3.0), "{november}");
    assert_eq!(figure(&november, "mean_daily_steps"), Some(6000.0), "{november}");
    let october = get("2026-10-01", "2026-10-31").await;
    assert_eq!(figure(&october, "active_residents"), None, "{october}");
    assert_eq!(figure(&october, "mean_daily_steps"), None, "{october}");
    // October and November together: the October cell of one is dropped before combining, so
    // the answer equals November's and their difference reveals nobody.
    let both = get("2026-10-01", "2026-11-30").await;
    assert_eq!(figure(&both, "mean_daily_steps"), Some(6000.0), "{both}");
    assert_eq!(
        figure(&both, "active_residents"),
        figure(&november, "active_residents"),
        "October–November minus November would reveal the man walking alone in October: {both}"
    );
}

// ---- the rollup follows the data ----

/// The answer over November 2026, which must equal the answer over all of 2026 (read from the
/// yearly rollup) when all the data is in November.
async fn november_and_year(app: &TestApp, org: &Org, november: Value) -> Value {
    let a = answer(app, org, november.clone()).await;
    let mut year = november;
    year["from"] = json!("2026-01-01");
    year["to"] = json!("2026-12-31");
    let y = answer(app, org, year).await;
    assert_eq!(a["groups"], y["groups"], "the year must answer as November");
    a
}

async fn uploads_deletions_replacements_and_profile_changes_reach_the_next_answer(app: TestApp) {
    let ops = admin(&app).await;
    let org = new_org(&app, &ops, "acme").await;
    let people = residents(&app, "w", 6, "1980-04-01", "female").await;
    for (s, count) in people.iter().zip([5000, 6000, 7000, 5000, 6000, 7000]) {
        member(&app, &org, s, &["steps"]).await;
        put(&app, s, steps("2026-11-20", 12, count)).await;
    }
    let november = |extra: Value| query("steps", "count", "2026-11-01", "2026-11-30", extra);
    let a = november_and_year(&app, &org, november(json!({}))).await;
    assert_published(group(&a, json!({})), 6, 6, 6000.0);

    // A later upload of the day's steps replaces the total; an older one changes nothing.
    put(&app, &people[0], steps("2026-11-20", 20, 11000)).await;
    let r = app
        .post(
            "/v1/measurements",
            Some(&people[0].access),
            steps("2026-11-20", 8, 99999),
        )
        .await;
    r.expect(200);
    let a = november_and_year(&app, &org, november(json!({}))).await;
    assert_published(group(&a, json!({})), 6, 6, 7000.0);

    // Another day counts; deleting it takes it out again.
    let extra = put(&app, &people[1], steps("2026-11-21", 12, 13000)).await;
    let a = november_and_year(&app, &org, november(json!({}))).await;
    assert_published(group(&a, json!({})), 6, 7, 55000.0 / 7.0);
    app.call(
        Method::DELETE,
        &format!("/v1/measurements/{}", extra["id"].as_str().unwrap()),
        Some(&people[1].access),
        None,
    )
    .await
    .expect(204);
    let a = november_and_year(&app, &org, november(json!({}))).await;
    assert_published(group(&a, json!({})), 6, 6, 7000.0);

    // A new birth date moves a resident's data to another age band.
    let patch = |s: &Session, body: Value| {
        let token = s.access.clone();
        let app = &app;
        async move {
            app.call(Method::PATCH, "/v1/me", Some(&token), Some(body))
                .await
                .expect(200);
        }
    };
    for s in &people[..3] {
        patch(s, json!({"birth_date": "1990-04-01"})).await;
    }
    let by_band = || november(json!({"group_by": ["age_band"]}));
    let a = november_and_year(&app, &org, by_band()).await;
    assert_eq!(groups(&a).len(), 2, "{a}");
    assert_published(group(&a, json!({"age_band": "30-39"})), 3, 3, 8000.0);
    assert_published(group(&a, json!({"age_band": "40-49"})), 3, 3, 6000.0);

    // So does a new sex: the thirties' women are down to two, their men one.
    patch(&people[0], json!({"sex": "male"})).await;
    let a = november_and_year(&app, &org, by_band()).await;
    assert_suppressed(group(&a, json!({"age_band": "30-39"})), json!({"age_band": "30-39"}));
    assert_published(group(&a, json!({"age_band": "40-49"})), 3, 3, 6000.0);

    // The band is the age on the measurement's day: born 1986-11-21, 39 on the 20th, 40 on the 22nd.
    for s in &people[3..] {
        patch(s, json!({"birth_date": "1986-11-21"})).await;
        put(&app, s, steps("2026-11-22", 12, 9000)).await;
    }
    let a = november_and_year(&app, &org, by_band()).await;
    assert_published(group(&a, json!({"age_band": "30-39"})), 5, 5, 6200.0);
    assert_published(group(&a, json!({"age_band": "40-49"})), 3, 3, 9000.0);
    let a = november_and_year(&app, &org, november(json!({}))).await;
    assert_published(group(&a, json!({})), 5, 8, (31000.0 + 27000.0) / 8.0);
}

// ---- answers against the definition ----

/// A resident of the population below, with what the test knows about them.
struct Known {
    session: Session,
    birth: NaiveDate,
    sex: &'static str,
    /// Consents to `body_weight` (the others are members who do not).
    consents: bool,
    weights: Vec<(NaiveDate, f64)>,
}

fn day(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

fn first_of_month(d: NaiveDate) -> NaiveDate {
    d.with_day(1).unwrap()
}

fn age_band_on(birth: NaiveDate, on: NaiveDate) -> String {
    let mut age = on.year() - birth.year();
    if (on.month(), on.day()) < (birth.month(), birth.day()) {
        age -= 1;
    }
    let lo = age / 10 * 10;
    format!("{lo}-{}", lo + 9)
}

/// The answer as the aggregates' contract defines it, counted from the uploaded measurements:
/// cells (month × age band on the day × sex) of consenting residents, cells of fewer than `K`
/// distinct people dropped, then per group the distinct people, count, mean, sample standard
/// deviation and bucketed percentiles of what is left. Groups keyed by their JSON key.
fn expected(people: &[Known], from: &str, to: &str, dims: &[&str]) -> BTreeMap<String, Value> {
    let (from, to) = (first_of_month(day(from)), first_of_month(day(to)));
    let kg = karada::measurements::catalogue::find("body_weight")
        .unwrap()
        .field("kg")
        .unwrap();
    let (lo, hi) = karada::aggregates::rollup::range(kg).unwrap();
    type Cell = (NaiveDate, String, &'static str);
    let mut cells: BTreeMap<Cell, Vec<(usize, f64)>> = BTreeMap::new();
    for (i, p) in people.iter().enumerate().filter(|(_, p)| p.consents) {
        for &(d, v) in &p.weights {
            if (from..=to).contains(&first_of_month(d)) {
                let cell = (first_of_month(d), age_band_on(p.birth, d), p.sex);
                cells.entry(cell).or_default().push((i, v));
            }
        }
    }
    let key = |(month, band, sex): &Cell| {
        let mut k = serde_json::Map::new();
        if dims.contains(&"age_band") {
            k.insert("age_band".into(), json!(band));
        }
        if dims.contains(&"sex") {
            k.insert("sex".into(), json!(sex));
        }
        if dims.contains(&"month") {
            k.insert("month".into(), json!(month.format("%Y-%m").to_string()));
        }
        Value::Object(k)
    };
    let mut published: BTreeMap<String, (BTreeSet<usize>, Vec<f64>)> = BTreeMap::new();
    let mut all: BTreeMap<String, Value> = BTreeMap::new();
    for (cell, rows) in &cells {
        let k = key(cell);
        all.insert(k.to_string(), k.clone());
        let who: BTreeSet<usize> = rows.iter().map(|(i, _)| *i).collect();
        if who.len() >= K as usize {
            let g = published.entry(k.to_string()).or_default();
            g.0.extend(who);
            g.1.extend(rows.iter().map(|(_, v)| *v));
        }
    }
    all.into_iter()
        .map(|(name, k)| {
            let g = match published.get(&name) {
                None => json!({"key": k, "suppressed": true}),
                Some((who, values)) => {
                    let n = values.len() as f64;
                    let mean = values.iter().sum::<f64>() / n;
                    let stddev =
                        (n >= 2.0).then(|| (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt());
                    let mut hist = BTreeMap::new();
                    for v in values {
                        *hist
                            .entry(karada::aggregates::rollup::bucket_of(lo, hi, *v))
                            .or_insert(0_i64) += 1;
                    }
                    let q = |q| karada::aggregates::stats::quantile(&hist, lo, hi, q);
                    json!({"key": k, "people": who.len(), "measurements": values.len(),
                           "stats": {"count": n, "mean": mean, "stddev": stddev,
                                     "p10": q(0.1), "p50": q(0.5), "p90": q(0.9)}})
                }
            };
            (name, g)
        })
        .collect()
}

/// Asserts that an answer has exactly the expected groups, figures equal up to rounding.
#[track_caller]
fn assert_answer(actual: &Value, expected: &BTreeMap<String, Value>, what: &str) {
    let got: BTreeMap<String, &Value> = groups(actual).iter().map(|g| (g["key"].to_string(), g)).collect();
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        expected.keys().collect::<Vec<_>>(),
        "{what}: groups"
    );
    for (k, want) in expected {
        let g = got[k];
        if want.get("suppressed").is_some() {
            assert_eq!(g, want, "{what}");
            continue;
        }
        assert_eq!(
            (&g["people"], &g["measurements"]),
            (&want["people"], &want["measurements"]),
            "{what}: {k}"
        );
        for (name, v) in g["stats"].as_object().unwrap() {
            match want["stats"][name].as_f64() {
                Some(w) => {
                    let a = num(v);
                    assert!(
                        (a - w).abs() <= 1e-9 * w.abs().max(1.0),
                        "{what}: {k} {name}: {a} != {w}"
                    );
                }
                None => assert!(v.is_null(), "{what}: {k} {name}: {v}"),
            }
        }
    }
}

/// Answers over whole years, parts of years and both, under every grouping, equal the definition
/// counted straight from the measurements. The population is small against k_min, so many cells
/// are suppressed in some months only, residents turn 30 and 40 within the year (one in the
/// middle of a month), and residents weigh in up to two months outside the whole year.
async fn answers_equal_the_cells_counted_from_the_measurements(app: TestApp) {
    let ops = admin(&app).await;
    let org = new_org(&app, &ops, "acme").await;
    let cohorts: [(&str, usize, &str, &str, bool); 5] = [
        // Turns 40 on 15 June 2025.
        ("a", 5, "1985-06-15", "female", true),
        ("b", 4, "1980-03-01", "male", true),
        // Two: every cell of theirs is suppressed.
        ("c", 2, "1990-01-10", "male", true),
        // Turns 30 on 30 September 2025.
        ("d", 3, "1995-09-30", "female", true),
        // Members who do not consent, in the cohorts' cells.
        ("e", 2, "1985-06-15", "female", false),
    ];
    let mut people = Vec::new();
    for (prefix, n, birth, sex, consents) in cohorts {
        for session in residents(&app, prefix, n, birth, sex).await {
            if consents {
                member(&app, &org, &session, &["body_weight"]).await;
            } else {
                join(&app, &org, &session).await;
            }
            people.push(Known {
                session,
                birth: day(birth),
                sex,
                consents,
                weights: Vec::new(),
            });
        }
    }
    // November 2024 to February 2026, most residents in most months, some twice.
    for (i, p) in people.iter_mut().enumerate() {
        let mut month = day("2024-11-01");
        for m in 0..16_usize {
            if (i * 7 + m * 3) % 4 != 0 {
                let d = month.with_day(1 + ((i * 5 + m * 11) % 28) as u32).unwrap();
                p.weights
                    .push((d, 50.0 + ((i * 13 + m * 7) % 30) as f64 + 0.1 * ((i + m) % 10) as f64));
                if (i + m) % 3 == 0 {
                    let d = month.with_day(28).unwrap();
                    p.weights.push((d, 45.5 + ((i * 3 + m * 5) % 40) as f64));
                }
            }
            month = month.checked_add_months(chrono::Months::new(1)).unwrap();
        }
    }
    // Both sides of the birthdays.
    for p in people.iter_mut() {
        let extra: &[(&str, f64)] = match p.birth.format("%m-%d").to_string().as_str() {
            "06-15" => &[("2025-06-10", 61.0), ("2025-06-20", 62.0)],
            "09-30" => &[("2025-09-29", 48.0), ("2025-09-30", 49.0)],
            _ => &[],
        };
        p.weights.extend(extra.iter().map(|(d, v)| (day(d), *v)));
    }
    for p in &people {
        // Distinct times: two weights on one day are two measurements.
        let items = p
            .weights
            .iter()
            .enumerate()
            .map(|(j, (d, kg))| weight(d.to_string(), 6 + (j % 12) as u32, *kg))
            .collect();
        batch(&app, &p.session, items).await;
    }

    let all_stats = json!(["count", "mean", "stddev", "p10", "p50", "p90"]);
    let periods = [
        ("2025-01-01", "2025-12-31"),
        ("2024-11-01", "2026-02-28"),
        ("2024-12-15", "2025-12-31"),
        ("2025-03-01", "2025-07-31"),
        ("2024-01-01", "2026-12-31"),
    ];
    let groupings: [&[&str]; 7] = [
        &[],
        &["age_band"],
        &["sex"],
        &["age_band", "sex"],
        &["month"],
        &["month", "sex"],
        &["age_band", "sex", "month"],
    ];
    let (mut published, mut suppressed) = (0, 0);
    for (from, to) in periods {
        for dims in groupings {
            let want = expected(&people, from, to, dims);
            let hidden = want.values().filter(|g| g.get("suppressed").is_some()).count();
            (published, suppressed) = (published + want.len() - hidden, suppressed + hidden);
            let what = format!("{from}..{to} by {dims:?}");
            let a = answer(
                &app,
                &org,
                query(
                    "body_weight",
                    "kg",
                    from,
                    to,
                    json!({"group_by": dims, "stats": all_stats}),
                ),
            )
            .await;
            assert_answer(&a, &want, &what);
            // Without percentiles the statement has fewer parts: the same figures.
            let a = answer(
                &app,
                &org,
                query(
                    "body_weight",
                    "kg",
                    from,
                    to,
                    json!({"group_by": dims, "stats": ["count", "mean"]}),
                ),
            )
            .await;
            let fewer: BTreeMap<String, Value> = want
                .iter()
                .map(|(k, g)| {
                    let mut g = g.clone();
                    if let Some(stats) = g.get_mut("stats").and_then(Value::as_object_mut) {
                        stats.retain(|name, _| name == "count" || name == "mean");
                    }
                    (k.clone(), g)
                })
                .collect();
            assert_answer(&a, &fewer, &what);
        }
    }
    assert!(
        published > 50 && suppressed > 20,
        "the population must publish some groups and suppress others: {published}, {suppressed}"
    );
}
