//! Lotteries: buying tickets with points, closing and seeded draws.

use std::collections::HashSet;

use actix_web::http::Method;
use chrono::{Duration, Utc};
use diesel::prelude::*;
use serde_json::{Value, json};

use karada::db::schema::{lotteries, lottery_entries, points_balances, points_ledger};
use karada::db::{Id, LotteryId, Ts};
use karada::points::lotteries::{pick_winners, tickets_by_resident};

use crate::both_backends;
use crate::common::{Resp, Session, TestApp, assert_problem, from_now};
use crate::common::{admin, balance};

both_backends!(
    entering_a_lottery_spends_points_and_records_tickets,
    a_short_balance_buys_nothing_and_changes_nothing,
    a_retried_purchase_with_the_same_client_ref_spends_once,
    concurrent_retries_of_one_purchase_spend_once,
    racing_purchases_never_overdraw_the_balance,
    a_closed_or_drawn_lottery_refuses_entries,
    a_seeded_draw_picks_distinct_entrants_and_can_be_replayed,
    a_draw_without_a_seed_records_a_random_one_and_a_lottery_is_drawn_once,
    entries_and_draws_racing_a_draw_leave_one_replayable_result,
    lotteries_are_validated_field_by_field_and_nothing_is_created,
    residents_cannot_manage_lotteries,
    an_entry_count_out_of_range_is_refused,
    a_lottery_can_be_changed_or_deleted_only_until_someone_enters,
);

const ONSEN: &str = "Onsen weekend";

fn uid(s: &Session) -> Id {
    Id(s.user_id.parse().unwrap())
}

/// The resident's local date (Tokyo) `k` days ago.
fn days_ago(k: i64) -> String {
    (Utc::now().with_timezone(&chrono_tz::Asia::Tokyo).date_naive() - Duration::days(k)).to_string()
}

/// Earns `points` in `osaka` by uploading steps on past days (up to 5 tiers a day) from a
/// registered pedometer app (the step tiers pay sensed steps, for days of the last week of an
/// account that existed then).
async fn earn(app: &TestApp, s: &Session, points: i64) {
    crate::common::backdate_account(app, s, 30);
    let device = crate::common::sensed_token(app, s, "Pedometer", &["measurements:write"]).await;
    let before = balance(app, s).await;
    let mut left = points;
    let mut day = 1;
    while left > 0 {
        let tiers = left.min(5);
        let body = json!({"type": "steps", "effective_at": format!("{}T12:00:00+09:00", days_ago(day)),
                          "values": {"count": 2000 * tiers + 100}});
        app.post("/v1/measurements", Some(&device), body).await.expect(201);
        left -= tiers;
        day += 1;
    }
    assert_eq!(balance(app, s).await, before + points);
}

async fn ledger(app: &TestApp, s: &Session) -> Vec<Value> {
    let r = app.get("/v1/points/ledger?limit=500", Some(&s.access)).await;
    r.expect(200);
    r.body["items"].as_array().unwrap().clone()
}

async fn my_entries(app: &TestApp, s: &Session) -> Vec<Value> {
    let r = app.get("/v1/me/lottery-entries", Some(&s.access)).await;
    r.expect(200);
    r.body["items"].as_array().unwrap().clone()
}

async fn create_lottery(app: &TestApp, ops: &str, title: &str, cost: i64, winners: i64) -> String {
    let r = app
        .post(
            "/v1/admin/lotteries",
            Some(ops),
            json!({"programme": "osaka", "title": title, "prize": "Two nights at Arima",
                   "cost_per_entry": cost, "winners": winners, "closes_at": from_now(Duration::days(30))}),
        )
        .await;
    r.expect(201);
    r.body["id"].as_str().unwrap().to_owned()
}

async fn enter(app: &TestApp, s: &Session, lottery: &str, body: Value) -> Resp {
    app.post(&format!("/v1/lotteries/{lottery}/entries"), Some(&s.access), body)
        .await
}

async fn admin_get(app: &TestApp, ops: &str, lottery: &str) -> Value {
    let r = app.get(&format!("/v1/admin/lotteries/{lottery}"), Some(ops)).await;
    r.expect(200);
    r.body.clone()
}

async fn resident_get(app: &TestApp, s: &Session, lottery: &str) -> Value {
    let r = app.get(&format!("/v1/lotteries/{lottery}"), Some(&s.access)).await;
    r.expect(200);
    r.body.clone()
}

async fn draw(app: &TestApp, ops: &str, lottery: &str, body: Value) -> Resp {
    app.post(&format!("/v1/admin/lotteries/{lottery}/draw"), Some(ops), body)
        .await
}

fn entry_rows(app: &TestApp, lottery: &str) -> Vec<(Id, i32, i32)> {
    let id = Id(lottery.parse().unwrap());
    lottery_entries::table
        .filter(lottery_entries::lottery_id.eq(id))
        .select((
            lottery_entries::user_id,
            lottery_entries::tickets,
            lottery_entries::points_spent,
        ))
        .load(&mut app.db.conn())
        .unwrap()
}

async fn entering_a_lottery_spends_points_and_records_tickets(app: TestApp) {
    let ops = admin(&app).await;
    let lottery = create_lottery(&app, &ops, ONSEN, 3, 1).await;
    let s = app.register("taro@example.jp").await;
    earn(&app, &s, 10).await;

    let r = enter(&app, &s, &lottery, json!({"count": 2})).await;
    r.expect(201);
    assert_eq!(r.body["lottery_id"], lottery.as_str());
    assert_eq!(r.body["tickets"], 2);
    assert_eq!(r.body["points_spent"], 6, "cost per entry × count");
    assert_eq!(r.body["balance"], 4);
    assert!(r.body["client_ref"].is_null());
    assert!(r.body["created_at"].is_string());
    let first = r.body["id"].as_str().unwrap().to_owned();
    assert_eq!(balance(&app, &s).await, 4);

    // The spend is a negative ledger entry, newest first, tied to the entry row.
    let items = ledger(&app, &s).await;
    let spend = &items[0];
    assert_eq!(spend["delta"], -6);
    assert_eq!(spend["programme"], "osaka");
    assert!(spend["title"].as_str().unwrap().contains(ONSEN), "{spend}");
    assert!(spend["rule_id"].is_null() && spend["measurement_id"].is_null());
    assert_eq!(items.iter().filter(|e| e["delta"].as_i64().unwrap() < 0).count(), 1);
    let ledger_entry: Id = lottery_entries::table
        .find(Id(first.parse().unwrap()))
        .select(lottery_entries::ledger_entry_id)
        .first(&mut app.db.conn())
        .unwrap();
    assert_eq!(spend["id"], ledger_entry.0.to_string());

    // Spending does not undo what was earned.
    let points = app.get("/v1/points", Some(&s.access)).await;
    assert_eq!(points.body["items"][0]["lifetime_earned"], 10);

    let mine = my_entries(&app, &s).await;
    assert_eq!(mine.len(), 1);
    assert_eq!(mine[0]["id"], first.as_str());
    assert_eq!(mine[0]["lottery_id"], lottery.as_str());
    assert_eq!(mine[0]["lottery_title"], ONSEN);
    assert_eq!(mine[0]["lottery_status"], "open");
    assert_eq!(mine[0]["tickets"], 2);
    assert_eq!(mine[0]["points_spent"], 6);
    assert!(mine[0]["won"].is_null(), "not drawn yet");

    let one = resident_get(&app, &s, &lottery).await;
    assert_eq!(one["my_tickets"], 2);
    assert_eq!(one["status"], "open");
    assert_eq!(one["cost_per_entry"], 3);
    assert!(one["won"].is_null());

    // A second purchase adds up.
    let r = enter(&app, &s, &lottery, json!({"count": 1})).await;
    r.expect(201);
    assert_eq!(r.body["points_spent"], 3);
    assert_eq!(r.body["balance"], 1);
    assert_eq!(balance(&app, &s).await, 1);
    let listed = app.get("/v1/lotteries", Some(&s.access)).await;
    listed.expect(200);
    let item = listed.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["id"] == lottery.as_str())
        .unwrap()
        .clone();
    assert_eq!(item["my_tickets"], 3);
    let mine = my_entries(&app, &s).await;
    assert_eq!(mine.len(), 2);
    assert_eq!(mine[1]["id"], first.as_str(), "newest first");
    assert_eq!(mine[0]["tickets"], 1);

    let view = admin_get(&app, &ops, &lottery).await;
    assert_eq!(view["entrants"], 1);
    assert_eq!(view["tickets"], 3);
    assert_eq!(view["status"], "open");
    assert!(view["seed"].is_null() && view["drawn_at"].is_null() && view["closed_at"].is_null());
    assert_eq!(view["winner_ids"], json!([]));

    // Someone else holds none of it.
    let other = app.register("hanako@example.jp").await;
    assert_eq!(resident_get(&app, &other, &lottery).await["my_tickets"], 0);
    assert!(my_entries(&app, &other).await.is_empty());
}

async fn a_short_balance_buys_nothing_and_changes_nothing(app: TestApp) {
    let ops = admin(&app).await;
    let lottery = create_lottery(&app, &ops, ONSEN, 3, 1).await;
    let s = app.register("taro@example.jp").await;

    // No points at all (not even a balance row).
    let r = enter(&app, &s, &lottery, json!({"count": 1})).await;
    assert_problem(&r, 409, "insufficient-points");
    assert_eq!(balance(&app, &s).await, 0);

    earn(&app, &s, 5).await;
    let ledger_before = ledger(&app, &s).await;
    let r = enter(&app, &s, &lottery, json!({"count": 2, "client_ref": "short-1"})).await;
    assert_problem(&r, 409, "insufficient-points");
    assert_eq!(balance(&app, &s).await, 5);
    assert_eq!(ledger(&app, &s).await, ledger_before, "the ledger is untouched");
    assert!(my_entries(&app, &s).await.is_empty());
    assert!(entry_rows(&app, &lottery).is_empty(), "no entry row");
    assert_eq!(resident_get(&app, &s, &lottery).await["my_tickets"], 0);
    assert_eq!(admin_get(&app, &ops, &lottery).await["tickets"], 0);

    // The failed purchase's client_ref was not taken: it can buy once the balance allows.
    let r = enter(&app, &s, &lottery, json!({"count": 1, "client_ref": "short-1"})).await;
    r.expect(201);
    assert_eq!(r.body["balance"], 2);
    // Spending down to the last point is fine; one more is not.
    let r = app
        .post(
            "/v1/admin/lotteries",
            Some(&ops),
            json!({"programme": "osaka", "title": "Cheap", "prize": "Towel", "cost_per_entry": 1,
                   "winners": 1, "closes_at": from_now(Duration::days(3))}),
        )
        .await;
    let cheap = r.body["id"].as_str().unwrap().to_owned();
    enter(&app, &s, &cheap, json!({"count": 2})).await.expect(201);
    assert_eq!(balance(&app, &s).await, 0);
    let ledger_before = ledger(&app, &s).await;
    assert_problem(
        &enter(&app, &s, &cheap, json!({"count": 1})).await,
        409,
        "insufficient-points",
    );
    assert_eq!(ledger(&app, &s).await, ledger_before);
    assert_eq!(balance(&app, &s).await, 0);
}

async fn a_retried_purchase_with_the_same_client_ref_spends_once(app: TestApp) {
    let ops = admin(&app).await;
    let lottery = create_lottery(&app, &ops, ONSEN, 2, 1).await;
    let other_lottery = create_lottery(&app, &ops, "Rice cooker", 2, 1).await;
    let s = app.register("taro@example.jp").await;
    earn(&app, &s, 20).await;

    let r = enter(&app, &s, &lottery, json!({"count": 2, "client_ref": "tap-1"})).await;
    r.expect(201);
    let id = r.body["id"].clone();
    assert_eq!(r.body["client_ref"], "tap-1");
    assert_eq!(r.body["balance"], 16);

    let again = enter(&app, &s, &lottery, json!({"count": 2, "client_ref": "tap-1"})).await;
    again.expect(200);
    assert_eq!(again.body["id"], id);
    assert_eq!(again.body["tickets"], 2);
    assert_eq!(again.body["points_spent"], 4);
    assert_eq!(again.body["created_at"], r.body["created_at"]);
    assert_eq!(again.body["balance"], 16);
    // A retry answers with the first purchase, whatever it asks for.
    let changed = enter(&app, &s, &lottery, json!({"count": 5, "client_ref": "tap-1"})).await;
    changed.expect(200);
    assert_eq!(changed.body["id"], id);
    assert_eq!(changed.body["tickets"], 2);
    assert_eq!(balance(&app, &s).await, 16);
    assert_eq!(my_entries(&app, &s).await.len(), 1);
    assert_eq!(
        ledger(&app, &s)
            .await
            .iter()
            .filter(|e| e["delta"].as_i64().unwrap() < 0)
            .count(),
        1
    );

    // The reference is per lottery and per resident; purchases without one are all new.
    let r = enter(&app, &s, &other_lottery, json!({"count": 1, "client_ref": "tap-1"})).await;
    r.expect(201);
    assert_ne!(r.body["id"], id);
    enter(&app, &s, &lottery, json!({"count": 1, "client_ref": "tap-2"}))
        .await
        .expect(201);
    enter(&app, &s, &lottery, json!({"count": 1})).await.expect(201);
    enter(&app, &s, &lottery, json!({"count": 1})).await.expect(201);
    assert_eq!(balance(&app, &s).await, 16 - 4 * 2);
    let hanako = app.register("hanako@example.jp").await;
    earn(&app, &hanako, 5).await;
    enter(&app, &hanako, &lottery, json!({"count": 1, "client_ref": "tap-1"}))
        .await
        .expect(201);
    assert_eq!(balance(&app, &hanako).await, 3);
    assert_eq!(resident_get(&app, &s, &lottery).await["my_tickets"], 5);

    // After the lottery closes, a late retry still gets its answer.
    app.call(
        Method::POST,
        &format!("/v1/admin/lotteries/{lottery}/close"),
        Some(&ops),
        None,
    )
    .await
    .expect(200);
    let late = enter(&app, &s, &lottery, json!({"count": 2, "client_ref": "tap-1"})).await;
    late.expect(200);
    assert_eq!(late.body["id"], id);
    assert_eq!(balance(&app, &s).await, 8);
}

async fn concurrent_retries_of_one_purchase_spend_once(app: TestApp) {
    let ops = admin(&app).await;
    let lottery = create_lottery(&app, &ops, ONSEN, 2, 1).await;
    let s = app.register("taro@example.jp").await;
    earn(&app, &s, 10).await;
    let path = format!("/v1/lotteries/{lottery}/entries");
    // A client whose requests time out sends the same purchase again while the first is in
    // flight; a few rounds so the requests really overlap.
    for round in 1..=5i64 {
        let body = json!({"count": 1, "client_ref": format!("flaky-network-{round}")});
        let results =
            futures_util::future::join_all((0..10).map(|_| app.post(&path, Some(&s.access), body.clone()))).await;
        let statuses: Vec<u16> = results.iter().map(|r| r.status.as_u16()).collect();
        let bodies: Vec<&Value> = results.iter().map(|r| &r.body).collect();
        assert_eq!(
            statuses.iter().filter(|s| **s == 201).count(),
            1,
            "round {round}: one purchase: {statuses:?} {bodies:?}"
        );
        assert!(
            statuses.iter().all(|s| matches!(s, 200 | 201)),
            "round {round}: the others are retries answered with the purchase: {statuses:?} {bodies:?}"
        );
        let ids: HashSet<_> = results.iter().map(|r| r.body["id"].to_string()).collect();
        assert_eq!(ids.len(), 1, "round {round}: {bodies:?}");
        assert_eq!(balance(&app, &s).await, 10 - 2 * round, "round {round}: spent once");
        assert_eq!(entry_rows(&app, &lottery).len(), usize::try_from(round).unwrap());
    }
}

async fn racing_purchases_never_overdraw_the_balance(app: TestApp) {
    let ops = admin(&app).await;
    // 3 points a ticket, 3 tickets a purchase: 9 points, more than a third of 25.
    let lottery = create_lottery(&app, &ops, ONSEN, 3, 1).await;
    let s = app.register("taro@example.jp").await;
    earn(&app, &s, 25).await;
    let before = balance(&app, &s).await;
    let price = 9;
    let path = format!("/v1/lotteries/{lottery}/entries");
    let results =
        futures_util::future::join_all((0..20).map(|_| app.post(&path, Some(&s.access), json!({"count": 3})))).await;
    let bought: Vec<&Resp> = results.iter().filter(|r| r.status.as_u16() == 201).collect();
    for r in &results {
        if r.status.as_u16() != 201 {
            assert_problem(r, 409, "insufficient-points");
        }
    }
    assert_eq!(
        bought.len() as i64,
        before / price,
        "as many purchases as the balance pays for, no more"
    );
    for r in &bought {
        assert_eq!(r.body["points_spent"], price);
        assert!(r.body["balance"].as_i64().unwrap() >= 0);
    }
    let after = balance(&app, &s).await;
    assert_eq!(after, before - price * bought.len() as i64);
    assert!(after >= 0);

    // The tables agree: entry rows, their points, and no negative balance anywhere.
    let rows = entry_rows(&app, &lottery);
    assert_eq!(rows.len(), bought.len());
    assert_eq!(
        rows.iter().map(|(_, _, p)| i64::from(*p)).sum::<i64>(),
        before - after,
        "the entries' points are exactly what left the balance"
    );
    let mut conn = app.db.conn();
    let balances: Vec<i32> = points_balances::table
        .select(points_balances::balance)
        .load(&mut conn)
        .unwrap();
    assert!(balances.iter().all(|b| *b >= 0), "{balances:?}");
    let spends: Vec<i32> = points_ledger::table
        .filter(points_ledger::user_id.eq(uid(&s)))
        .filter(points_ledger::delta.lt(0))
        .select(points_ledger::delta)
        .load(&mut conn)
        .unwrap();
    assert_eq!(spends.len(), bought.len());
    assert_eq!(resident_get(&app, &s, &lottery).await["my_tickets"], 3 * bought.len());
}

async fn a_closed_or_drawn_lottery_refuses_entries(app: TestApp) {
    let ops = admin(&app).await;
    let s = app.register("taro@example.jp").await;
    earn(&app, &s, 15).await;

    // Closed early by an operator; closing again changes nothing.
    let closed = create_lottery(&app, &ops, ONSEN, 1, 1).await;
    enter(&app, &s, &closed, json!({"count": 1})).await.expect(201);
    let close_path = format!("/v1/admin/lotteries/{closed}/close");
    let r = app.call(Method::POST, &close_path, Some(&ops), None).await;
    r.expect(200);
    assert_eq!(r.body["status"], "closed");
    let closed_at = r.body["closed_at"].clone();
    assert!(closed_at.is_string());
    assert!(r.body["drawn_at"].is_null());
    let again = app.call(Method::POST, &close_path, Some(&ops), None).await;
    again.expect(200);
    assert_eq!(again.body["closed_at"], closed_at, "closing is idempotent");
    assert_eq!(again.body["status"], "closed");
    let ledger_before = ledger(&app, &s).await;
    assert_problem(
        &enter(&app, &s, &closed, json!({"count": 1})).await,
        409,
        "lottery-closed",
    );
    let view = resident_get(&app, &s, &closed).await;
    assert_eq!(view["status"], "closed");
    assert!(view["won"].is_null(), "closed is not drawn");
    assert_eq!(view["my_tickets"], 1);
    assert_eq!(my_entries(&app, &s).await[0]["lottery_status"], "closed");

    // Drawn straight from open.
    let drawn = create_lottery(&app, &ops, "Rice cooker", 1, 1).await;
    enter(&app, &s, &drawn, json!({"count": 1})).await.expect(201);
    draw(&app, &ops, &drawn, json!({"seed": "s"})).await.expect(200);
    let view = admin_get(&app, &ops, &drawn).await;
    assert_eq!(view["status"], "drawn");
    assert!(view["closed_at"].is_string(), "the draw closes it");
    let ledger_before_drawn = ledger(&app, &s).await;
    assert_problem(
        &enter(&app, &s, &drawn, json!({"count": 1})).await,
        409,
        "lottery-closed",
    );
    assert_eq!(ledger(&app, &s).await, ledger_before_drawn);

    // Past its closing time.
    let lapsed = create_lottery(&app, &ops, "Bicycle", 1, 1).await;
    diesel::update(lotteries::table.find(Id(lapsed.parse().unwrap())))
        .set(lotteries::closes_at.eq(Ts(Utc::now() - Duration::minutes(1))))
        .execute(&mut app.db.conn())
        .unwrap();
    assert_problem(
        &enter(&app, &s, &lapsed, json!({"count": 1})).await,
        409,
        "lottery-closed",
    );
    assert_eq!(resident_get(&app, &s, &lapsed).await["status"], "closed");
    assert_eq!(admin_get(&app, &ops, &lapsed).await["status"], "closed");

    assert_eq!(
        balance(&app, &s).await,
        13,
        "only the two accepted tickets were paid for"
    );
    assert_eq!(ledger_before.len() + 1, ledger(&app, &s).await.len());
    assert!(entry_rows(&app, &lapsed).is_empty());
    assert_eq!(entry_rows(&app, &closed).len(), 1);

    let unknown = uuid::Uuid::now_v7();
    app.call(
        Method::POST,
        &format!("/v1/admin/lotteries/{unknown}/close"),
        Some(&ops),
        None,
    )
    .await
    .expect(404);
    app.get(&format!("/v1/admin/lotteries/{unknown}"), Some(&ops))
        .await
        .expect(404);
    enter(&app, &s, &unknown.to_string(), json!({"count": 1}))
        .await
        .expect(404);
    app.get(&format!("/v1/lotteries/{unknown}"), Some(&s.access))
        .await
        .expect(404);
}

async fn a_seeded_draw_picks_distinct_entrants_and_can_be_replayed(app: TestApp) {
    let ops = admin(&app).await;
    let big = create_lottery(&app, &ops, ONSEN, 1, 3).await;
    let small = create_lottery(&app, &ops, "Rice cooker", 1, 10).await;
    let mut residents = Vec::new();
    for i in 0..5i64 {
        let s = app.register(&format!("resident{i}@example.jp")).await;
        earn(&app, &s, 5).await;
        enter(&app, &s, &big, json!({"count": i + 1})).await.expect(201);
        if i < 2 {
            enter(&app, &s, &small, json!({"count": 1})).await.expect(201);
        }
        residents.push(s);
    }
    let bystander = app.register("bystander@example.jp").await;
    assert!(resident_get(&app, &residents[0], &big).await["won"].is_null());

    let seed = "expo-2026-week-48";
    let r = draw(&app, &ops, &big, json!({ "seed": seed })).await;
    r.expect(200);
    assert_eq!(r.body["seed"], seed);
    let winners: Vec<String> = r.body["winners"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(winners.len(), 3, "min(winners, entrants)");
    let distinct: HashSet<_> = winners.iter().collect();
    assert_eq!(distinct.len(), 3, "a resident wins at most once");
    let entrants: HashSet<String> = residents.iter().map(|s| s.user_id.clone()).collect();
    assert!(winners.iter().all(|w| entrants.contains(w)), "winners are entrants");

    // The recorded draw.
    let view = admin_get(&app, &ops, &big).await;
    assert_eq!(view["status"], "drawn");
    assert_eq!(view["seed"], seed);
    assert_eq!(view["winner_ids"], json!(winners));
    assert_eq!(view["entrants"], 5);
    assert_eq!(view["tickets"], 15);
    assert!(view["drawn_at"].is_string() && view["closed_at"].is_string());
    let listed = app.get("/v1/admin/lotteries", Some(&ops)).await;
    listed.expect(200);
    let in_list = listed.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["id"] == big.as_str())
        .unwrap()
        .clone();
    assert_eq!(in_list["seed"], seed);
    assert_eq!(in_list["winner_ids"], json!(winners));

    // Anyone can replay it from the seed and the entries.
    let mut conn = app.db.conn();
    let pool = tickets_by_resident(&mut conn, LotteryId(big.parse().unwrap())).unwrap();
    assert_eq!(pool.len(), 5);
    assert_eq!(pool.iter().map(|(_, t)| t).sum::<u64>(), 15);
    let replayed: Vec<String> = pick_winners(seed, &pool, 3)
        .into_iter()
        .map(|w| w.0.to_string())
        .collect();
    assert_eq!(replayed, winners);

    // Each resident sees whether they won.
    for s in &residents {
        let won = winners.contains(&s.user_id);
        let one = resident_get(&app, s, &big).await;
        assert_eq!(one["status"], "drawn");
        assert_eq!(one["won"], won, "{}", s.user_id);
        let listed = app.get("/v1/lotteries", Some(&s.access)).await;
        let item = listed.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["id"] == big.as_str())
            .unwrap()
            .clone();
        assert_eq!(item["won"], won);
        let mine = my_entries(&app, s).await;
        let entry = mine.iter().find(|e| e["lottery_id"] == big.as_str()).unwrap();
        assert_eq!(entry["lottery_status"], "drawn");
        assert_eq!(entry["won"], won);
    }
    let seen = resident_get(&app, &bystander, &big).await;
    assert_eq!(seen["won"], false, "drawn and not an entrant");
    assert_eq!(seen["my_tickets"], 0);

    // Fewer entrants than prizes: every entrant wins, nobody else.
    let r = draw(&app, &ops, &small, json!({"seed": "another seed"})).await;
    r.expect(200);
    let mut got: Vec<String> = r.body["winners"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w.as_str().unwrap().to_owned())
        .collect();
    got.sort();
    let mut expected = vec![residents[0].user_id.clone(), residents[1].user_id.clone()];
    expected.sort();
    assert_eq!(got, expected);
    assert_eq!(resident_get(&app, &residents[1], &small).await["won"], true);
    assert_eq!(resident_get(&app, &residents[2], &small).await["won"], false);
    let pool = tickets_by_resident(&mut conn, LotteryId(small.parse().unwrap())).unwrap();
    let replayed: Vec<String> = pick_winners("another seed", &pool, 10)
        .into_iter()
        .map(|w| w.0.to_string())
        .collect();
    assert_eq!(json!(replayed), r.body["winners"]);

    // A lottery nobody entered draws nobody.
    let empty = create_lottery(&app, &ops, "Nobody", 1, 2).await;
    let r = draw(&app, &ops, &empty, json!({"seed": "x"})).await;
    r.expect(200);
    assert_eq!(r.body["winners"], json!([]));
    let view = admin_get(&app, &ops, &empty).await;
    assert_eq!(view["status"], "drawn");
    assert_eq!(view["entrants"], 0);
}

async fn a_draw_without_a_seed_records_a_random_one_and_a_lottery_is_drawn_once(app: TestApp) {
    let ops = admin(&app).await;
    let lottery = create_lottery(&app, &ops, ONSEN, 1, 1).await;
    let mut entrants = Vec::new();
    for email in ["taro@example.jp", "hanako@example.jp"] {
        let s = app.register(email).await;
        earn(&app, &s, 2).await;
        enter(&app, &s, &lottery, json!({"count": 2})).await.expect(201);
        entrants.push(s.user_id.clone());
    }

    // A bad seed or body draws nothing.
    let r = draw(&app, &ops, &lottery, json!({"seed": ""})).await;
    r.expect(422);
    assert_eq!(r.error_fields(), vec!["seed"]);
    draw(&app, &ops, &lottery, json!({"seed": "x".repeat(201)}))
        .await
        .expect(422);
    draw(&app, &ops, &lottery, json!({"seed": 7})).await.expect(400);
    draw(&app, &ops, &lottery, json!({"salt": "x"})).await.expect(400);
    assert_eq!(admin_get(&app, &ops, &lottery).await["status"], "open");
    draw(&app, &ops, &uuid::Uuid::now_v7().to_string(), json!({}))
        .await
        .expect(404);

    let r = draw(&app, &ops, &lottery, json!({})).await;
    r.expect(200);
    let seed = r.body["seed"].as_str().unwrap().to_owned();
    assert!(!seed.is_empty(), "a random seed is chosen");
    let winners = r.body["winners"].clone();
    assert_eq!(winners.as_array().unwrap().len(), 1);
    assert!(entrants.contains(&winners[0].as_str().unwrap().to_owned()));
    let view = admin_get(&app, &ops, &lottery).await;
    assert_eq!(view["seed"], seed.as_str(), "the random seed is recorded");
    assert_eq!(view["winner_ids"], winners);
    let pool = tickets_by_resident(&mut app.db.conn(), LotteryId(lottery.parse().unwrap())).unwrap();
    let replayed: Vec<String> = pick_winners(&seed, &pool, 1)
        .into_iter()
        .map(|w| w.0.to_string())
        .collect();
    assert_eq!(json!(replayed), winners);

    // Seeds differ between draws.
    let other = create_lottery(&app, &ops, "Rice cooker", 1, 1).await;
    let r2 = draw(&app, &ops, &other, json!({})).await;
    r2.expect(200);
    assert_ne!(r2.body["seed"], seed.as_str());

    // Drawn once: a second draw, with or without a seed, changes nothing.
    for body in [json!({}), json!({"seed": "again"})] {
        let again = draw(&app, &ops, &lottery, body).await;
        assert_problem(&again, 409, "already-drawn");
    }
    let after = admin_get(&app, &ops, &lottery).await;
    assert_eq!(after["seed"], seed.as_str());
    assert_eq!(after["winner_ids"], winners);
    assert_eq!(after["drawn_at"], view["drawn_at"]);
    // Closing a drawn lottery changes nothing either.
    let r = app
        .call(
            Method::POST,
            &format!("/v1/admin/lotteries/{lottery}/close"),
            Some(&ops),
            None,
        )
        .await;
    r.expect(200);
    assert_eq!(r.body["status"], "drawn");
    assert_eq!(r.body["closed_at"], view["closed_at"]);
}

async fn entries_and_draws_racing_a_draw_leave_one_replayable_result(app: TestApp) {
    let ops = admin(&app).await;
    let lottery = create_lottery(&app, &ops, ONSEN, 1, 2).await;
    let mut residents = Vec::new();
    for i in 0..6 {
        let s = app.register(&format!("resident{i}@example.jp")).await;
        earn(&app, &s, 5).await;
        residents.push(s);
    }
    // Everyone holds a ticket before the draw; then more purchases and three draws race.
    for s in &residents[..3] {
        enter(&app, s, &lottery, json!({"count": 1})).await.expect(201);
    }
    let path = format!("/v1/lotteries/{lottery}/entries");
    let draw_path = format!("/v1/admin/lotteries/{lottery}/draw");
    let entries = futures_util::future::join_all(
        residents
            .iter()
            .flat_map(|s| [s, s])
            .map(|s| app.post(&path, Some(&s.access), json!({"count": 2}))),
    );
    let draws = futures_util::future::join_all(
        ["one", "two", "three"].map(|seed| app.post(&draw_path, Some(&ops), json!({ "seed": seed }))),
    );
    let (entries, draws) = futures_util::future::join(entries, draws).await;

    let drawn: Vec<&Resp> = draws.iter().filter(|r| r.status.as_u16() == 200).collect();
    assert_eq!(
        drawn.len(),
        1,
        "drawn once: {:?}",
        draws.iter().map(|r| &r.body).collect::<Vec<_>>()
    );
    for r in draws.iter().filter(|r| r.status.as_u16() != 200) {
        assert_problem(r, 409, "already-drawn");
    }
    let bought = entries.iter().filter(|r| r.status.as_u16() == 201).count();
    for r in entries.iter().filter(|r| r.status.as_u16() != 201) {
        assert_problem(r, 409, "lottery-closed");
    }
    let view = admin_get(&app, &ops, &lottery).await;
    assert_eq!(view["seed"], drawn[0].body["seed"]);
    assert_eq!(view["winner_ids"], drawn[0].body["winners"]);
    assert_eq!(
        view["tickets"],
        3 + 2 * bought,
        "every accepted purchase is in the lottery"
    );
    // The recorded result replays from what the lottery holds now: nothing slipped in after it.
    let pool = tickets_by_resident(&mut app.db.conn(), LotteryId(lottery.parse().unwrap())).unwrap();
    let replayed: Vec<String> = pick_winners(view["seed"].as_str().unwrap(), &pool, 2)
        .into_iter()
        .map(|w| w.0.to_string())
        .collect();
    assert_eq!(json!(replayed), view["winner_ids"]);
    // Refused purchases spent nothing.
    let mut spent = 0;
    for s in &residents {
        spent += 5 - balance(&app, s).await;
    }
    assert_eq!(spent, 3 + 2 * bought as i64);
}

async fn lotteries_are_validated_field_by_field_and_nothing_is_created(app: TestApp) {
    let ops = admin(&app).await;
    let post = |body: Value| app.post("/v1/admin/lotteries", Some(&ops), body);
    let valid = || {
        json!({"programme": "osaka", "title": ONSEN, "prize": "Two nights", "cost_per_entry": 10,
               "winners": 2, "closes_at": from_now(Duration::days(30))})
    };

    let r = post(
        json!({"programme": "nowhere", "title": "", "prize": "x".repeat(201), "cost_per_entry": 0,
                        "winners": 10_001, "closes_at": from_now(-Duration::hours(1))}),
    )
    .await;
    r.expect(422);
    let mut fields = r.error_fields();
    fields.sort();
    assert_eq!(
        fields,
        vec!["closes_at", "cost_per_entry", "prize", "programme", "title", "winners"]
    );

    let cases: Vec<(&str, Value, &str)> = vec![
        ("programme", json!("nowhere"), "programme"),
        ("programme", json!(""), "programme"),
        ("title", json!(""), "title"),
        ("title", json!("   "), "title"),
        ("title", json!("x".repeat(201)), "title"),
        ("prize", json!(""), "prize"),
        ("prize", json!("あ".repeat(201)), "prize"),
        ("cost_per_entry", json!(0), "cost_per_entry"),
        ("cost_per_entry", json!(-5), "cost_per_entry"),
        ("cost_per_entry", json!(100_001), "cost_per_entry"),
        ("winners", json!(0), "winners"),
        ("winners", json!(10_001), "winners"),
        ("closes_at", json!(from_now(-Duration::minutes(1))), "closes_at"),
        ("closes_at", json!(from_now(Duration::days(400))), "closes_at"),
    ];
    for (field, value, expected) in cases {
        let mut body = valid();
        body[field] = value.clone();
        let r = post(body).await;
        r.expect(422);
        assert_eq!(r.error_fields(), vec![expected], "{field} = {value}");
    }

    // Not the right shape at all.
    let shapes: Vec<Value> = vec![
        {
            let mut b = valid();
            b["bonus"] = json!(1);
            b
        },
        {
            let mut b = valid();
            b["cost_per_entry"] = json!("10");
            b
        },
        {
            let mut b = valid();
            b["winners"] = json!(1.5);
            b
        },
        {
            let mut b = valid();
            b["closes_at"] = json!("next week");
            b
        },
        {
            let mut b = valid();
            b["title"] = json!(null);
            b
        },
        {
            let mut b = valid();
            b.as_object_mut().unwrap().remove("prize");
            b
        },
        json!([valid()]),
    ];
    for body in shapes {
        post(body.clone()).await.expect(400);
    }

    let listed = app.get("/v1/admin/lotteries", Some(&ops)).await;
    listed.expect(200);
    assert_eq!(listed.body["items"], json!([]), "nothing was created");
    let count: i64 = lotteries::table.count().get_result(&mut app.db.conn()).unwrap();
    assert_eq!(count, 0);

    // The limits themselves are allowed; titles are trimmed.
    let mut body = valid();
    body["title"] = json!(format!("  {}  ", "あ".repeat(200)));
    body["prize"] = json!("x".repeat(200));
    body["cost_per_entry"] = json!(100_000);
    body["winners"] = json!(10_000);
    body["closes_at"] = json!(from_now(Duration::days(365)));
    let r = post(body).await;
    r.expect(201);
    assert_eq!(r.body["title"], "あ".repeat(200));
    assert_eq!(r.body["status"], "open");
    assert_eq!(r.body["entrants"], 0);
    assert_eq!(r.body["tickets"], 0);
    assert_eq!(r.body["winner_ids"], json!([]));
    let mut body = valid();
    body["cost_per_entry"] = json!(1);
    body["winners"] = json!(1);
    post(body).await.expect(201);

    // Paged, newest first.
    let p1 = app.get("/v1/admin/lotteries?limit=1", Some(&ops)).await;
    p1.expect(200);
    assert_eq!(p1.body["items"].as_array().unwrap().len(), 1);
    let cursor = p1.body["next_cursor"].as_str().unwrap();
    let p2 = app
        .get(&format!("/v1/admin/lotteries?limit=1&cursor={cursor}"), Some(&ops))
        .await;
    p2.expect(200);
    assert_eq!(p2.body["items"].as_array().unwrap().len(), 1);
    assert!(p2.body["next_cursor"].is_null());
    assert_ne!(p1.body["items"][0]["id"], p2.body["items"][0]["id"]);
}

async fn residents_cannot_manage_lotteries(app: TestApp) {
    let ops = admin(&app).await;
    let lottery = create_lottery(&app, &ops, ONSEN, 1, 1).await;
    let s = app.register("taro@example.jp").await;
    earn(&app, &s, 1).await;
    enter(&app, &s, &lottery, json!({"count": 1})).await.expect(201);
    let body = json!({"programme": "osaka", "title": "Mine", "prize": "Everything", "cost_per_entry": 1,
                      "winners": 1, "closes_at": from_now(Duration::days(1))});
    let calls: Vec<(Method, String, Option<Value>)> = vec![
        (Method::POST, "/v1/admin/lotteries".to_owned(), Some(body.clone())),
        (Method::GET, "/v1/admin/lotteries".to_owned(), None),
        (Method::GET, format!("/v1/admin/lotteries/{lottery}"), None),
        (Method::POST, format!("/v1/admin/lotteries/{lottery}/close"), None),
        (
            Method::POST,
            format!("/v1/admin/lotteries/{lottery}/draw"),
            Some(json!({"seed": "mine"})),
        ),
    ];
    for (method, path, body) in calls {
        app.call(method.clone(), &path, Some(&s.access), body.clone())
            .await
            .expect(403);
        app.call(method, &path, None, body).await.expect(401);
    }
    let view = admin_get(&app, &ops, &lottery).await;
    assert_eq!(view["status"], "open");
    assert!(view["seed"].is_null());
    assert_eq!(
        lotteries::table.count().get_result::<i64>(&mut app.db.conn()).unwrap(),
        1
    );
    // Resident routes need a session too.
    app.get("/v1/lotteries", None).await.expect(401);
    enter(
        &app,
        &Session {
            user_id: String::new(),
            access: "nope".to_owned(),
            refresh: String::new(),
        },
        &lottery,
        json!({"count": 1}),
    )
    .await
    .expect(401);
}

async fn an_entry_count_out_of_range_is_refused(app: TestApp) {
    let ops = admin(&app).await;
    let lottery = create_lottery(&app, &ops, ONSEN, 1, 1).await;
    let s = app.register("taro@example.jp").await;
    earn(&app, &s, 10).await;
    let ledger_before = ledger(&app, &s).await;
    for count in [0, -1, 1001, 1_000_000_000_000i64] {
        let r = enter(&app, &s, &lottery, json!({ "count": count })).await;
        r.expect(422);
        assert_eq!(r.error_fields(), vec!["count"], "count {count}");
    }
    for client_ref in [String::new(), "r".repeat(101)] {
        let r = enter(&app, &s, &lottery, json!({"count": 1, "client_ref": client_ref})).await;
        r.expect(422);
        assert_eq!(r.error_fields(), vec!["client_ref"]);
    }
    let r = enter(&app, &s, &lottery, json!({"count": 0, "client_ref": ""})).await;
    r.expect(422);
    let mut fields = r.error_fields();
    fields.sort();
    assert_eq!(fields, vec!["client_ref", "count"]);
    for body in [
        json!({"count": "1"}),
        json!({"count": 1.5}),
        json!({}),
        json!({"count": 1, "tickets": 1}),
    ] {
        enter(&app, &s, &lottery, body).await.expect(400);
    }
    app.post("/v1/lotteries/not-a-uuid/entries", Some(&s.access), json!({"count": 1}))
        .await
        .expect(400);
    assert_eq!(ledger(&app, &s).await, ledger_before, "nothing was spent");
    assert!(entry_rows(&app, &lottery).is_empty());

    // The limits themselves: 1000 tickets is a valid request, refused only for its price.
    assert_problem(
        &enter(&app, &s, &lottery, json!({"count": 1000})).await,
        409,
        "insufficient-points",
    );
    let r = enter(&app, &s, &lottery, json!({"count": 10, "client_ref": "r".repeat(100)})).await;
    r.expect(201);
    assert_eq!(r.body["balance"], 0);
}

async fn a_lottery_can_be_changed_or_deleted_only_until_someone_enters(app: TestApp) {
    let ops = admin(&app).await;
    let lottery = create_lottery(&app, &ops, ONSEN, 3, 1).await;
    let path = format!("/v1/admin/lotteries/{lottery}");
    let body = |cost: i64| {
        json!({"programme": "osaka", "title": "Onsen weekend (two prizes)", "prize": "Two nights at Arima",
               "cost_per_entry": cost, "winners": 2, "closes_at": from_now(Duration::days(10))})
    };
    let r = app.call(Method::PUT, &path, Some(&ops), Some(body(2))).await;
    r.expect(200);
    assert_eq!(r.body["cost_per_entry"], 2);
    assert_eq!(r.body["winners"], 2);
    let r = app.call(Method::PUT, &path, Some(&ops), Some(body(0))).await;
    r.expect(422);
    assert_eq!(r.error_fields(), vec!["cost_per_entry"]);

    let s = app.register("taro@example.jp").await;
    earn(&app, &s, 4).await;
    enter(&app, &s, &lottery, json!({"count": 1})).await.expect(201);
    // Residents bought tickets on these terms: no more changes, and no deletion.
    let r = app.call(Method::PUT, &path, Some(&ops), Some(body(1))).await;
    assert_problem(&r, 409, "lottery-has-entries");
    let r = app.call(Method::DELETE, &path, Some(&ops), None).await;
    assert_problem(&r, 409, "lottery-has-entries");
    assert_eq!(admin_get(&app, &ops, &lottery).await["cost_per_entry"], 2);
    assert_eq!(balance(&app, &s).await, 2);

    let empty = create_lottery(&app, &ops, "Spare", 1, 1).await;
    let empty_path = format!("/v1/admin/lotteries/{empty}");
    app.call(Method::DELETE, &empty_path, Some(&ops), None)
        .await
        .expect(204);
    app.get(&empty_path, Some(&ops)).await.expect(404);
    app.call(Method::DELETE, &empty_path, Some(&ops), None)
        .await
        .expect(404);

    let drawn = create_lottery(&app, &ops, "Drawn", 1, 1).await;
    draw(&app, &ops, &drawn, json!({"seed": "s"})).await.expect(200);
    let drawn_path = format!("/v1/admin/lotteries/{drawn}");
    let r = app.call(Method::PUT, &drawn_path, Some(&ops), Some(body(1))).await;
    assert_problem(&r, 409, "already-drawn");
    let r = app.call(Method::DELETE, &drawn_path, Some(&ops), None).await;
    assert_problem(&r, 409, "already-drawn");
}
