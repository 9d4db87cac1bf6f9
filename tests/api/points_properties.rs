//! Property tests of the points ledger: random sequences of uploads, re-uploads, retries, deletions
//! and whole replays, on both backends, never break the ledger's invariants.

use std::collections::HashMap;

use actix_web::http::Method;
use chrono::NaiveDate;
use diesel::prelude::*;
use proptest::prelude::*;
use serde_json::{Value, json};

use karada::db::schema::{points_balances, points_ledger, programmes};
use karada::db::{Id, LotteryId, RuleId};
use karada::http::throttle::Throttle;

use crate::common::{Backend, TestApp, TestDb};

const STEPS_RULE: &str = "01a20000-0000-7000-8000-000000000001";
const STREAK_RULE: u128 = 0x01a2_0000_0000_7000_8000_0000_0000_0f01;
const CAMPAIGN_RULE: u128 = 0x01a2_0000_0000_7000_8000_0000_0000_0f02;

#[derive(Debug, Clone)]
enum Op {
    Steps {
        day: u32,
        hour: u32,
        count: i64,
        source: u8,
    },
    Weight {
        day: u32,
        hour: u32,
    },
    /// Send an earlier body again (a client retry).
    Retry(usize),
    /// Delete the measurement an earlier upload stored.
    Delete(usize),
    /// Buy lottery tickets (2 points each) with the points earned so far.
    Spend(i64),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0u32..3, 0u32..24, 0i64..14_000, 0u8..2).prop_map(|(day, hour, count, source)| Op::Steps { day, hour, count, source }),
        2 => (0u32..3, 0u32..24).prop_map(|(day, hour)| Op::Weight { day, hour }),
        1 => (0usize..20).prop_map(Op::Retry),
        1 => (0usize..20).prop_map(Op::Delete),
        1 => (1i64..4).prop_map(Op::Spend),
    ]
}

/// The first of the three days the operations upload for: four days ago, so every day is inside
/// the award window (the account and the rules are older).
fn day0() -> NaiveDate {
    crate::common::tokyo_day(4)
}

fn day(n: u32) -> NaiveDate {
    day0() + chrono::Duration::days(i64::from(n))
}

fn body(op: &Op, n: usize) -> Option<Value> {
    match op {
        Op::Steps {
            day,
            hour,
            count,
            source,
        } => Some(json!({
            "type": "steps", "effective_at": format!("{}T{hour:02}:00:00+09:00", self::day(*day)),
            "values": {"count": count}, "source": format!("device-{source}"), "client_ref": format!("op-{n}")})),
        Op::Weight { day, hour } => Some(json!({
            "type": "body_weight", "effective_at": format!("{}T{hour:02}:30:00+09:00", self::day(*day)),
            "values": {"kg": 60.5}, "client_ref": format!("op-{n}")})),
        _ => None,
    }
}

/// Runs the operations, then the whole sequence of bodies once more, and checks the invariants.
async fn run(backend: Backend, ops: Vec<Op>, cap: Option<i32>) {
    let db = TestDb::new(backend);
    diesel::update(programmes::table.find("osaka"))
        .set(programmes::daily_cap.eq(cap))
        .execute(&mut db.conn())
        .unwrap();
    // Beside the seeded rules: a two-day weighing streak (periods of days 0–1 and 2–3), a campaign
    // doubling the step tiers on day 1, and a lottery to spend on. The rules existed a month ago.
    let lottery = LotteryId::new();
    {
        use karada::points::rules::{Rule, RuleKind};
        let mut conn = db.conn();
        let rule = |id: u128, title: &str, kind: RuleKind, from: NaiveDate, to: Option<NaiveDate>| Rule {
            id: RuleId(uuid::Uuid::from_u128(id)),
            programme_id: "osaka".into(),
            title: title.into(),
            kind,
            active_from: Some(from),
            active_to: to,
            min_age: None,
            max_age: None,
            sensed_only: false,
            created_at: karada::db::Ts(chrono::Utc::now() - chrono::Duration::days(30)),
        };
        let streak = RuleKind::Streak {
            measurement_type: "body_weight".into(),
            days: 2,
            points: 3,
        };
        karada::points::create_rule(&mut conn, &rule(STREAK_RULE, "Streak", streak, day(0), None)).unwrap();
        let campaign = RuleKind::CampaignMultiplier {
            multiplier: 2.0,
            rule_ids: vec![STEPS_RULE.parse().unwrap()],
        };
        let c = rule(CAMPAIGN_RULE, "Campaign", campaign, day(1), Some(day(1)));
        karada::points::create_rule(&mut conn, &c).unwrap();
        let now = karada::db::Ts::now();
        karada::points::lotteries::create(
            &mut conn,
            &karada::points::lotteries::Lottery {
                id: lottery,
                programme_id: "osaka".into(),
                title: "Prize".into(),
                prize: "Tickets".into(),
                cost_per_entry: 2,
                winners: 1,
                closes_at: now.plus(chrono::Duration::days(1)),
                closed_at: None,
                seed: None,
                drawn_at: None,
                created_at: now,
            },
        )
        .unwrap();
    }
    let app = TestApp::on(db, Throttle::new(5, 30)).await;
    let s = app.register("prop@example.jp").await;
    // The resident existed before the days uploaded for, and uploads through a sensed device app
    // (the step tiers pay sensed data only); spending and deleting use the login session.
    crate::common::backdate_account(&app, &s, 30);
    crate::common::backdate_rules(&app, "osaka", 30);
    let device = crate::common::sensed_token(&app, &s, "Pedometer", &["measurements:write"]).await;
    let mut sent: Vec<Value> = Vec::new();
    let mut stored: Vec<String> = Vec::new();
    let mut max_steps: HashMap<u32, i64> = HashMap::new();
    for (n, op) in ops.iter().enumerate() {
        match op {
            Op::Retry(i) if !sent.is_empty() => {
                let b = sent[i % sent.len()].clone();
                let r = app.post("/v1/measurements", Some(&device), b).await;
                assert!(matches!(r.status.as_u16(), 200 | 201), "{r:?}");
            }
            Op::Delete(i) if !stored.is_empty() => {
                let id = stored[i % stored.len()].clone();
                let r = app
                    .call(Method::DELETE, &format!("/v1/measurements/{id}"), Some(&s.access), None)
                    .await;
                assert!(matches!(r.status.as_u16(), 204 | 404));
            }
            Op::Spend(count) => {
                let r = app
                    .post(
                        &format!("/v1/lotteries/{}/entries", lottery.0),
                        Some(&s.access),
                        json!({ "count": count }),
                    )
                    .await;
                assert!(matches!(r.status.as_u16(), 201 | 409), "{r:?}");
            }
            Op::Retry(_) | Op::Delete(_) => {}
            _ => {
                let b = body(op, n).unwrap();
                if let Op::Steps { day, count, .. } = op {
                    let m = max_steps.entry(*day).or_default();
                    *m = (*m).max(*count);
                }
                let r = app.post("/v1/measurements", Some(&device), b.clone()).await;
                assert!(matches!(r.status.as_u16(), 200 | 201), "{r:?}");
                stored.push(r.body["id"].as_str().unwrap().to_owned());
                sent.push(b);
            }
        }
    }
    let before = ledger(&app, &s.user_id);
    // A replay of every upload pays nothing more — unless deletions came first: then the replay
    // stores the deleted measurements again, which may complete a streak period (new data, paid
    // once). A second replay pays nothing in any case.
    let deleted = ops.iter().any(|o| matches!(o, Op::Delete(_)));
    let mut after = before.clone();
    for round in 0..2 {
        if !sent.is_empty() {
            let r = app
                .post("/v1/measurements/batch", Some(&device), json!({ "items": sent }))
                .await;
            r.expect(200);
        }
        let now = ledger(&app, &s.user_id);
        if round == 1 || !deleted {
            assert_eq!(after.len(), now.len(), "a replay paid again");
        }
        after = now;
    }

    let user = Id(s.user_id.parse().unwrap());
    let mut conn = app.db.conn();
    let balance: Option<i32> = points_balances::table
        .filter(points_balances::user_id.eq(user))
        .select(points_balances::balance)
        .first(&mut conn)
        .optional()
        .unwrap();
    let sum: i32 = after.iter().map(|e| e.delta).sum();
    assert_eq!(balance.unwrap_or(0), sum, "balance differs from the ledger sum");

    assert!(balance.unwrap_or(0) >= 0);
    let mut per_day: HashMap<NaiveDate, i32> = HashMap::new();
    let mut weight_awards: HashMap<NaiveDate, usize> = HashMap::new();
    let mut tiers_paid: HashMap<NaiveDate, Vec<i64>> = HashMap::new();
    let mut streak_awards = 0;
    const TIERS: [i64; 5] = [2000, 4000, 6000, 8000, 10000];
    for e in &after {
        if e.delta > 0 {
            *per_day.entry(e.date).or_default() += e.delta;
        }
        if e.rule == uuid::Uuid::from_u128(STREAK_RULE).to_string() {
            streak_awards += 1;
        }
        if e.rule == STEPS_RULE {
            // An entry pays the tiers from the one its day key names up to `award_upto`.
            let key = e.day_key.as_deref().expect("a step award has a day key");
            let from: i64 = key.rsplit_once(":steps").expect("a tier key").1.parse().unwrap();
            let upto = i64::from(e.upto.expect("a step award records its last tier"));
            let covered: Vec<i64> = TIERS.iter().copied().filter(|t| (from..=upto).contains(t)).collect();
            assert!(!covered.is_empty() && covered[0] == from, "{e:?} covers no tier");
            let factor = if e.date == day(1) { 2 } else { 1 };
            assert!(
                i64::from(e.delta) <= factor * covered.len() as i64,
                "{e:?} pays more than its tiers"
            );
            tiers_paid.entry(e.date).or_default().extend(covered);
        } else if e.rule.ends_with("0003") {
            *weight_awards.entry(e.date).or_default() += 1;
        }
    }
    for (date, total) in &per_day {
        if let Some(cap) = cap {
            assert!(*total <= cap, "{date}: {total} points over the cap of {cap}");
        }
    }
    assert!(streak_awards <= 2, "two streak periods, {streak_awards} streak awards");
    for (date, n) in &weight_awards {
        assert!(*n <= 1, "{date}: weighing paid {n} times");
    }
    for (date, paid) in &tiers_paid {
        let day = date.signed_duration_since(day0()).num_days() as u32;
        let mut unique = paid.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), paid.len(), "{date}: a tier paid twice: {paid:?}");
        for t in paid {
            assert!(
                max_steps.get(&day).is_some_and(|m| m >= t),
                "{date}: the {t} tier paid but never crossed"
            );
        }
    }
}

/// One ledger entry of the resident, as the invariants need it.
#[derive(Debug, Clone)]
struct Entry {
    rule: String,
    delta: i32,
    date: NaiveDate,
    day_key: Option<String>,
    upto: Option<i32>,
}

/// Every ledger entry of the resident.
fn ledger(app: &TestApp, user_id: &str) -> Vec<Entry> {
    let user = Id(user_id.parse().unwrap());
    points_ledger::table
        .filter(points_ledger::user_id.eq(user))
        .select((
            points_ledger::rule_id,
            points_ledger::delta,
            points_ledger::local_date,
            points_ledger::day_key,
            points_ledger::award_upto,
        ))
        .load::<(Option<Id>, i32, NaiveDate, Option<String>, Option<i32>)>(&mut app.db.conn())
        .unwrap()
        .into_iter()
        .map(|(r, delta, date, day_key, upto)| Entry {
            rule: r.map(|r| r.0.to_string()).unwrap_or_default(),
            delta,
            date,
            day_key,
            upto,
        })
        .collect()
}

fn check(backend: Backend, ops: Vec<Op>, cap: Option<i32>) {
    actix_web::rt::System::new().block_on(run(backend, ops, cap));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn ledger_invariants_hold_on_sqlite(ops in prop::collection::vec(op(), 1..14), cap in prop::option::of(1i32..6)) {
        check(Backend::Sqlite, ops, cap);
    }

    #[test]
    fn ledger_invariants_hold_on_postgres(ops in prop::collection::vec(op(), 1..14), cap in prop::option::of(1i32..6)) {
        check(Backend::Postgres, ops, cap);
    }
}
