//! Awards at local midnight: the resident's own calendar day decides.
//!
//! Every award counts for the day the resident's timezone (not UTC, not the offset written in
//! `effective_at`, not the server's) puts the measurement on: once-a-day rules pay again just after
//! local midnight and not again until the next one, and the programme's daily cap starts afresh.

use std::collections::BTreeMap;

use actix_web::http::Method;
use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use diesel::prelude::*;
use serde_json::{Value, json};

use crate::both_backends;
use crate::common::{Session, TestApp, backdate_account, backdate_rules, balance, steps_at, tokyo_day};

both_backends!(
    a_tokyo_resident_earns_on_each_side_of_local_midnight,
    the_offset_written_in_effective_at_does_not_choose_the_day,
    a_london_resident_earns_by_london_days_in_summer_and_winter,
    london_days_stretch_and_shrink_when_the_clocks_change,
    the_same_instant_is_a_different_day_for_tokyo_and_london_residents,
    moving_to_another_timezone_never_pays_a_local_day_twice,
    a_batch_straddling_local_midnight_pays_each_local_day,
    the_daily_cap_resets_at_local_midnight,
    today_earned_counts_the_residents_own_today,
);

const STEPS_RULE: &str = "01a20000-0000-7000-8000-000000000001";
const WEIGHT_RULE: &str = "01a20000-0000-7000-8000-000000000003";
const BLOOD_PRESSURE_RULE: &str = "01a20000-0000-7000-8000-000000000004";
const CHECKUP_RULE: &str = "01a20000-0000-7000-8000-000000000005";
const SCREENING_RULE: &str = "01a20000-0000-7000-8000-000000000006";

fn weight(at: &str) -> Value {
    json!({"type": "body_weight", "effective_at": at, "values": {"kg": 61.0}})
}

fn blood_pressure(at: &str) -> Value {
    json!({"type": "blood_pressure", "effective_at": at, "values": {"systolic_mmhg": 120, "diastolic_mmhg": 80}})
}

fn checkup(kind: &str, at: &str, date: &str) -> Value {
    json!({"type": "health_checkup", "effective_at": at, "values": {"kind": kind, "checkup_date": date}})
}

/// A resident of the `osaka` programme whose account is older than any day uploaded for here,
/// with the token of a registered pedometer app: measurements come from it as `sensed` (the
/// default step tiers pay sensed steps only). The points never pay for days before an account
/// existed.
struct Resident {
    session: Session,
    device: String,
}

impl std::ops::Deref for Resident {
    type Target = Session;
    fn deref(&self) -> &Session {
        &self.session
    }
}

async fn resident(app: &TestApp, email: &str) -> Resident {
    let session = app.register(email).await;
    backdate_account(app, &session, 800);
    let device = crate::common::sensed_token(app, &session, "Pedometer", &["measurements:write"]).await;
    Resident { session, device }
}

/// Fixture for the tests that upload for days months ago (summer, winter, the clock changes):
/// the `osaka` programme pays for days up to its widest award window (366 days) before the
/// upload, and its rules were in force long before.
fn pay_for_the_past_year(app: &TestApp) {
    use karada::db::schema::programmes;
    diesel::update(programmes::table.find("osaka"))
        .set(programmes::award_window_days.eq(366))
        .execute(&mut app.db.conn())
        .unwrap();
    backdate_rules(app, "osaka", 800);
}

/// A Tokyo day, `n` days before today.
fn d(n: i64) -> String {
    tokyo_day(n).to_string()
}

/// The latest `month`/`dom` that is at least two days before today, so that it and the day after
/// it are both in the past.
fn latest(month: u32, dom: u32) -> NaiveDate {
    let today = tokyo_day(0);
    let year = chrono::Datelike::year(&today);
    [year, year - 1]
        .into_iter()
        .filter_map(|y| NaiveDate::from_ymd_opt(y, month, dom))
        .find(|date| *date + chrono::Duration::days(1) < today)
        .unwrap()
}

/// The latest last Sunday of `month` (when the clocks change in London) at least two days ago.
fn latest_last_sunday(month: u32) -> NaiveDate {
    let today = tokyo_day(0);
    let year = chrono::Datelike::year(&today);
    [year, year - 1]
        .into_iter()
        .map(|y| {
            let next = if month == 12 {
                NaiveDate::from_ymd_opt(y + 1, 1, 1)
            } else {
                NaiveDate::from_ymd_opt(y, month + 1, 1)
            }
            .unwrap();
            let last = next.pred_opt().unwrap();
            last - chrono::Duration::days(i64::from(chrono::Datelike::weekday(&last).num_days_from_sunday()))
        })
        .find(|date| *date + chrono::Duration::days(1) < today)
        .unwrap()
}

fn next(date: NaiveDate) -> NaiveDate {
    date.succ_opt().unwrap()
}

fn prev(date: NaiveDate) -> NaiveDate {
    date.pred_opt().unwrap()
}

/// Uploads one measurement and checks the local day the server gave it; returns its id.
async fn upload_on(app: &TestApp, s: &Resident, body: Value, local_date: &str) -> String {
    let m = app.upload(&s.device, body).await.stored();
    assert_eq!(m["local_date"], local_date, "local day of {m}");
    m["id"].as_str().unwrap().to_owned()
}

async fn set_timezone(app: &TestApp, s: &Resident, tz: &str) {
    let r = app
        .call(Method::PATCH, "/v1/me", Some(&s.access), Some(json!({"timezone": tz})))
        .await;
    r.expect(200);
    assert_eq!(r.body["timezone"], tz);
}

/// The resident's standing in the `osaka` programme.
async fn standing(app: &TestApp, s: &Resident) -> Value {
    let r = app.get("/v1/points", Some(&s.access)).await;
    r.expect(200);
    r.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["programme"]["id"] == "osaka")
        .unwrap()
        .clone()
}

/// One ledger entry, as the resident sees it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Award {
    local_date: String,
    rule_id: String,
    delta: i64,
    measurement_id: String,
}

async fn awards(app: &TestApp, s: &Session) -> Vec<Award> {
    let r = app.get("/v1/points/ledger?limit=500", Some(&s.access)).await;
    r.expect(200);
    assert!(r.body["next_cursor"].is_null());
    let mut out: Vec<Award> = r.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| Award {
            local_date: e["local_date"].as_str().unwrap().to_owned(),
            rule_id: e["rule_id"].as_str().unwrap().to_owned(),
            delta: e["delta"].as_i64().unwrap(),
            measurement_id: e["measurement_id"].as_str().unwrap().to_owned(),
        })
        .collect();
    out.sort();
    out
}

/// (local day, rule, points) of every award, sorted.
async fn paid(app: &TestApp, s: &Session) -> Vec<(String, &'static str, i64)> {
    let rules = [
        STEPS_RULE,
        WEIGHT_RULE,
        BLOOD_PRESSURE_RULE,
        CHECKUP_RULE,
        SCREENING_RULE,
    ];
    let mut out: Vec<_> = awards(app, s)
        .await
        .into_iter()
        .map(|a| {
            let rule = rules
                .into_iter()
                .find(|r| *r == a.rule_id)
                .unwrap_or_else(|| panic!("unexpected rule {}", a.rule_id));
            (a.local_date, rule, a.delta)
        })
        .collect();
    out.sort();
    out
}

/// Points per local day.
async fn per_day(app: &TestApp, s: &Session) -> BTreeMap<String, i64> {
    let mut out = BTreeMap::new();
    for a in awards(app, s).await {
        *out.entry(a.local_date).or_default() += a.delta;
    }
    out
}

fn day(d: &str, points: i64) -> (String, i64) {
    (d.to_owned(), points)
}

fn award(d: &str, rule: &'static str, points: i64) -> (String, &'static str, i64) {
    (d.to_owned(), rule, points)
}

async fn a_tokyo_resident_earns_on_each_side_of_local_midnight(app: TestApp) {
    let s = resident(&app, "taro@example.jp").await;
    assert_eq!(
        app.get("/v1/me", Some(&s.access)).await.body["timezone"],
        "Asia/Tokyo",
        "the default timezone"
    );
    let (d1, d2) = (d(3), d(2));
    // One second apart, on the same UTC day, but on two Tokyo days.
    let before = upload_on(&app, &s, steps_at(&format!("{d1}T14:59:59Z"), 2500), &d1).await;
    let after = upload_on(&app, &s, steps_at(&format!("{d1}T15:00:00Z"), 4500), &d2).await;
    assert_eq!(
        balance(&app, &s).await,
        3,
        "2,000 on the first day; 2,000 and 4,000 on the second"
    );
    let w_before = upload_on(&app, &s, weight(&format!("{d1}T23:59:00+09:00")), &d1).await;
    let w_after = upload_on(&app, &s, weight(&format!("{d2}T00:00:00+09:00")), &d2).await;
    assert_eq!(balance(&app, &s).await, 5, "a weighing on each Tokyo day");
    upload_on(&app, &s, weight(&format!("{d2}T00:30:00+09:00")), &d2).await;
    assert_eq!(balance(&app, &s).await, 5, "the second day's weighing is already paid");

    assert_eq!(
        paid(&app, &s).await,
        vec![
            award(&d1, STEPS_RULE, 1),
            award(&d1, WEIGHT_RULE, 1),
            award(&d2, STEPS_RULE, 2),
            award(&d2, WEIGHT_RULE, 1),
        ]
    );
    // Each award points at the measurement that earned it.
    let by_measurement: BTreeMap<String, Vec<(String, String)>> =
        awards(&app, &s).await.into_iter().fold(BTreeMap::new(), |mut m, a| {
            m.entry(a.measurement_id).or_default().push((a.local_date, a.rule_id));
            m
        });
    assert_eq!(by_measurement.len(), 4, "the 00:30 weighing earned nothing");
    assert_eq!(by_measurement[&before], vec![(d1.clone(), STEPS_RULE.to_owned())]);
    assert_eq!(
        by_measurement[&after],
        vec![(d2.clone(), STEPS_RULE.to_owned())],
        "one entry for both tiers"
    );
    assert_eq!(by_measurement[&w_before], vec![(d1.clone(), WEIGHT_RULE.to_owned())]);
    assert_eq!(by_measurement[&w_after], vec![(d2.clone(), WEIGHT_RULE.to_owned())]);
}

async fn the_offset_written_in_effective_at_does_not_choose_the_day(app: TestApp) {
    let s = resident(&app, "taro@example.jp").await;
    let (d0, d1) = (d(4), d(3));
    // Written on the first day in California: 16:30 on the next day in Tokyo.
    upload_on(&app, &s, weight(&format!("{d0}T23:30:00-08:00")), &d1).await;
    // Written on the first day too, but 23:00 on it in Tokyo: another day, paid.
    upload_on(&app, &s, weight(&format!("{d0}T06:00:00-08:00")), &d0).await;
    assert_eq!(balance(&app, &s).await, 2);
    // Written on the next day in Tokyo's offset and in UTC: that day, already paid.
    upload_on(&app, &s, weight(&format!("{d1}T08:00:00+09:00")), &d1).await;
    upload_on(&app, &s, weight(&format!("{d1}T00:00:00Z")), &d1).await;
    assert_eq!(balance(&app, &s).await, 2);
    assert_eq!(
        paid(&app, &s).await,
        vec![award(&d0, WEIGHT_RULE, 1), award(&d1, WEIGHT_RULE, 1)]
    );
}

async fn a_london_resident_earns_by_london_days_in_summer_and_winter(app: TestApp) {
    pay_for_the_past_year(&app);
    let s = resident(&app, "alice@example.co.uk").await;
    set_timezone(&app, &s, "Europe/London").await;
    let (june30, july1) = (latest(6, 30), next(latest(6, 30)));
    let (feb1, feb2) = (latest(2, 1), next(latest(2, 1)));

    // Summer (BST, UTC+1): London's midnight is 23:00 UTC.
    upload_on(
        &app,
        &s,
        steps_at(&format!("{june30}T22:59:59Z"), 2500),
        &june30.to_string(),
    )
    .await;
    upload_on(
        &app,
        &s,
        steps_at(&format!("{june30}T23:00:00Z"), 2500),
        &july1.to_string(),
    )
    .await;
    upload_on(&app, &s, weight(&format!("{june30}T22:59:59Z")), &june30.to_string()).await;
    upload_on(&app, &s, weight(&format!("{june30}T23:00:00Z")), &july1.to_string()).await;
    assert_eq!(balance(&app, &s).await, 4);
    // Past UTC midnight but the same London day (1 July): the day's steps total is replaced, so
    // only the newly crossed tier pays, and the day's weighing is already paid.
    upload_on(
        &app,
        &s,
        steps_at(&format!("{july1}T00:30:00Z"), 4500),
        &july1.to_string(),
    )
    .await;
    upload_on(&app, &s, weight(&format!("{july1}T00:30:00Z")), &july1.to_string()).await;
    assert_eq!(balance(&app, &s).await, 5);

    // Winter (GMT): London's midnight is UTC midnight.
    upload_on(&app, &s, weight(&format!("{feb1}T23:59:59Z")), &feb1.to_string()).await;
    upload_on(&app, &s, weight(&format!("{feb2}T00:00:00Z")), &feb2.to_string()).await;
    assert_eq!(balance(&app, &s).await, 7);
    // Tokyo's midnight (15:00 UTC) means nothing to a London resident.
    upload_on(&app, &s, weight(&format!("{feb2}T14:59:59Z")), &feb2.to_string()).await;
    upload_on(&app, &s, weight(&format!("{feb2}T15:00:00Z")), &feb2.to_string()).await;
    assert_eq!(balance(&app, &s).await, 7);

    let mut expected = vec![
        award(&feb1.to_string(), WEIGHT_RULE, 1),
        award(&feb2.to_string(), WEIGHT_RULE, 1),
        award(&june30.to_string(), STEPS_RULE, 1),
        award(&june30.to_string(), WEIGHT_RULE, 1),
        award(&july1.to_string(), STEPS_RULE, 1),
        award(&july1.to_string(), STEPS_RULE, 1),
        award(&july1.to_string(), WEIGHT_RULE, 1),
    ];
    expected.sort();
    assert_eq!(paid(&app, &s).await, expected);
}

async fn london_days_stretch_and_shrink_when_the_clocks_change(app: TestApp) {
    pay_for_the_past_year(&app);
    let s = resident(&app, "alice@example.co.uk").await;
    set_timezone(&app, &s, "Europe/London").await;
    // The last Sunday of October has 25 hours in London: from 23:00 UTC the day before to
    // midnight UTC the day after.
    let long = latest_last_sunday(10);
    let (before, after) = (prev(long), next(long));
    upload_on(&app, &s, weight(&format!("{before}T22:59:59Z")), &before.to_string()).await;
    upload_on(&app, &s, weight(&format!("{before}T23:00:00Z")), &long.to_string()).await;
    upload_on(&app, &s, weight(&format!("{long}T23:59:59Z")), &long.to_string()).await;
    upload_on(&app, &s, weight(&format!("{after}T00:00:00Z")), &after.to_string()).await;
    assert_eq!(balance(&app, &s).await, 3, "the long day pays once");
    // The last Sunday of March has 23 hours: from midnight UTC to 23:00 UTC.
    let short = latest_last_sunday(3);
    let (s_before, s_after) = (prev(short), next(short));
    upload_on(
        &app,
        &s,
        weight(&format!("{s_before}T23:59:59Z")),
        &s_before.to_string(),
    )
    .await;
    upload_on(&app, &s, weight(&format!("{short}T00:00:00Z")), &short.to_string()).await;
    upload_on(&app, &s, weight(&format!("{short}T22:59:59Z")), &short.to_string()).await;
    upload_on(&app, &s, weight(&format!("{short}T23:00:00Z")), &s_after.to_string()).await;
    assert_eq!(balance(&app, &s).await, 6, "the short day pays once");
    assert_eq!(
        per_day(&app, &s).await,
        BTreeMap::from([
            day(&s_before.to_string(), 1),
            day(&short.to_string(), 1),
            day(&s_after.to_string(), 1),
            day(&before.to_string(), 1),
            day(&long.to_string(), 1),
            day(&after.to_string(), 1),
        ])
    );
}

async fn the_same_instant_is_a_different_day_for_tokyo_and_london_residents(app: TestApp) {
    let tokyo = resident(&app, "taro@example.jp").await;
    let london = resident(&app, "alice@example.co.uk").await;
    set_timezone(&app, &london, "Europe/London").await;
    let (d0, d1) = (d(3), d(2));
    // 16:00 UTC on the first day: 01:00 on the next in Tokyo, 16:00 on the first in London.
    for s in [&tokyo, &london] {
        app.upload(&s.device, steps_at(&format!("{d0}T16:00:00Z"), 2500))
            .await
            .stored();
        app.upload(&s.device, weight(&format!("{d0}T16:00:00Z"))).await.stored();
    }
    // 08:00 UTC on the first day: 17:00 on it in Tokyo (a new day for the Tokyo resident), 08:00
    // on it in London (the London resident's weighing that day is already paid).
    for s in [&tokyo, &london] {
        app.upload(&s.device, weight(&format!("{d0}T08:00:00Z"))).await.stored();
    }
    assert_eq!(
        paid(&app, &tokyo).await,
        vec![
            award(&d0, WEIGHT_RULE, 1),
            award(&d1, STEPS_RULE, 1),
            award(&d1, WEIGHT_RULE, 1),
        ]
    );
    assert_eq!(
        paid(&app, &london).await,
        vec![award(&d0, STEPS_RULE, 1), award(&d0, WEIGHT_RULE, 1)]
    );
    assert_eq!(balance(&app, &tokyo).await, 3);
    assert_eq!(balance(&app, &london).await, 2);
    // The stored measurements carry the same days.
    let days = |s: &Session| {
        let id = karada::db::Id(s.user_id.parse().unwrap());
        let mut conn = app.db.conn();
        use karada::db::schema::measurements;
        let mut d: Vec<NaiveDate> = measurements::table
            .filter(measurements::user_id.eq(id))
            .select(measurements::local_date)
            .load(&mut conn)
            .unwrap();
        d.sort();
        d
    };
    let date = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
    assert_eq!(days(&tokyo), vec![date(&d0), date(&d1), date(&d1)]);
    assert_eq!(days(&london), vec![date(&d0); 3]);
}

async fn moving_to_another_timezone_never_pays_a_local_day_twice(app: TestApp) {
    let s = resident(&app, "taro@example.jp").await;
    let (d0, d1) = (d(3), d(2));
    // 01:00 on the second day in Tokyo.
    upload_on(&app, &s, weight(&format!("{d0}T16:00:00Z")), &d1).await;
    assert_eq!(balance(&app, &s).await, 1);
    set_timezone(&app, &s, "Europe/London").await;
    // The move applies from the next upload: 17:00 UTC on the first day is that day in London, a
    // day never paid.
    upload_on(&app, &s, weight(&format!("{d0}T17:00:00Z")), &d0).await;
    assert_eq!(balance(&app, &s).await, 2);
    // The second day in London: that calendar day was already paid while in Tokyo.
    upload_on(&app, &s, weight(&format!("{d1}T12:00:00Z")), &d1).await;
    assert_eq!(balance(&app, &s).await, 2);
    // Paid awards keep the day they were paid for.
    assert_eq!(
        paid(&app, &s).await,
        vec![award(&d0, WEIGHT_RULE, 1), award(&d1, WEIGHT_RULE, 1)]
    );
}

async fn a_batch_straddling_local_midnight_pays_each_local_day(app: TestApp) {
    let s = resident(&app, "taro@example.jp").await;
    let (d0, d1) = (d(3), d(2));
    let items = vec![
        steps_at(&format!("{d0}T14:59:59Z"), 4500),
        steps_at(&format!("{d0}T15:00:00Z"), 2500),
        weight(&format!("{d0}T14:59:59Z")),
        weight(&format!("{d0}T15:00:00Z")),
        weight(&format!("{d0}T15:30:00Z")),
    ];
    let r = app
        .post("/v1/measurements/batch", Some(&s.device), json!({ "items": items }))
        .await;
    r.expect(200);
    assert_eq!(r.body["invalid"], 0, "{}", r.body);
    assert_eq!(balance(&app, &s).await, 5);
    assert_eq!(
        paid(&app, &s).await,
        vec![
            award(&d0, STEPS_RULE, 2),
            award(&d0, WEIGHT_RULE, 1),
            award(&d1, STEPS_RULE, 1),
            award(&d1, WEIGHT_RULE, 1),
        ]
    );
}

async fn the_daily_cap_resets_at_local_midnight(app: TestApp) {
    pay_for_the_past_year(&app);
    // Tokyo: the first day is filled to the cap of 20 in its last hour (still that day in UTC too).
    let tokyo = resident(&app, "taro@example.jp").await;
    let (d0, d1) = (d(3), d(2));
    upload_on(
        &app,
        &tokyo,
        checkup("specific_health_checkup", &format!("{d0}T14:00:00Z"), &d0),
        &d0,
    )
    .await;
    upload_on(
        &app,
        &tokyo,
        checkup("cancer_screening", &format!("{d0}T14:10:00Z"), &d0),
        &d0,
    )
    .await;
    upload_on(&app, &tokyo, steps_at(&format!("{d0}T14:59:59Z"), 10000), &d0).await;
    assert_eq!(balance(&app, &tokyo).await, 20);
    upload_on(&app, &tokyo, weight(&format!("{d0}T14:59:59Z")), &d0).await;
    upload_on(&app, &tokyo, blood_pressure(&format!("{d0}T14:59:59Z")), &d0).await;
    assert_eq!(balance(&app, &tokyo).await, 20, "the first day is full");
    // One second later it is the next day in Tokyo (still the first in UTC): a fresh day.
    upload_on(&app, &tokyo, weight(&format!("{d0}T15:00:00Z")), &d1).await;
    upload_on(&app, &tokyo, blood_pressure(&format!("{d0}T15:00:00Z")), &d1).await;
    upload_on(&app, &tokyo, steps_at(&format!("{d0}T15:00:00Z"), 10000), &d1).await;
    assert_eq!(balance(&app, &tokyo).await, 27);
    assert_eq!(per_day(&app, &tokyo).await, BTreeMap::from([day(&d0, 20), day(&d1, 7)]));

    // London in summer: 30 June is filled, and 23:00 UTC on 30 June is already 1 July there.
    let london = resident(&app, "alice@example.co.uk").await;
    set_timezone(&app, &london, "Europe/London").await;
    let (june30, july1) = (latest(6, 30).to_string(), next(latest(6, 30)).to_string());
    upload_on(
        &app,
        &london,
        checkup("specific_health_checkup", &format!("{june30}T20:00:00Z"), &june30),
        &june30,
    )
    .await;
    upload_on(
        &app,
        &london,
        checkup("cancer_screening", &format!("{june30}T20:10:00Z"), &june30),
        &june30,
    )
    .await;
    upload_on(&app, &london, steps_at(&format!("{june30}T22:59:59Z"), 10000), &june30).await;
    upload_on(&app, &london, weight(&format!("{june30}T22:59:59Z")), &june30).await;
    assert_eq!(balance(&app, &london).await, 20, "30 June is full");
    upload_on(&app, &london, weight(&format!("{june30}T23:00:00Z")), &july1).await;
    assert_eq!(balance(&app, &london).await, 21);
    assert_eq!(
        paid(&app, &london).await,
        vec![
            award(&june30, STEPS_RULE, 5),
            award(&june30, CHECKUP_RULE, 10),
            award(&june30, SCREENING_RULE, 5),
            award(&july1, WEIGHT_RULE, 1),
        ]
    );
}

/// The start of `tz`'s current day, and that day.
fn local_midnight(tz: chrono_tz::Tz) -> (DateTime<Utc>, NaiveDate) {
    let today = Utc::now().with_timezone(&tz).date_naive();
    let midnight = tz
        .from_local_datetime(&today.and_hms_opt(0, 0, 0).unwrap())
        .earliest()
        .unwrap();
    (midnight.with_timezone(&Utc), today)
}

async fn today_earned_counts_the_residents_own_today(app: TestApp) {
    let tokyo = resident(&app, "taro@example.jp").await;
    let london = resident(&app, "alice@example.co.uk").await;
    set_timezone(&app, &london, "Europe/London").await;
    for (s, tz) in [(&tokyo, chrono_tz::Asia::Tokyo), (&london, chrono_tz::Europe::London)] {
        // A weighing in the resident's last second of yesterday, another and some steps at the
        // first second of today: by the real clock, both are in the past.
        let (midnight, today) = local_midnight(tz);
        let yesterday = today.pred_opt().unwrap().to_string();
        let last_second = (midnight - chrono::Duration::seconds(1)).to_rfc3339();
        let first_second = midnight.to_rfc3339();
        upload_on(&app, s, weight(&last_second), &yesterday).await;
        upload_on(&app, s, weight(&first_second), &today.to_string()).await;
        upload_on(&app, s, steps_at(&first_second, 2500), &today.to_string()).await;
        let st = standing(&app, s).await;
        assert_eq!(st["balance"], 3);
        assert_eq!(st["lifetime_earned"], 3);
        // Unless the resident's day turned over while the test ran, two of them are today's.
        if local_midnight(tz).1 == today {
            assert_eq!(st["today_earned"], 2, "{tz}: today is {today}");
        }
        assert_eq!(
            per_day(&app, s).await,
            BTreeMap::from([(yesterday, 1), (today.to_string(), 2)])
        );
        assert_eq!(balance(&app, s).await, 3);
    }
}
