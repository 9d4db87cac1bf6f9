//! Privacy against a curious organisation: the attacks an organisation could mount on its
//! members' statistics, each written against the default (differential privacy) and, where v1 was
//! open to it, shown to succeed in `exact` mode; the budget, the stored releases, the full key
//! domain, consents bounded in time, the privacy policy and the residents' privacy ledger.
//!
//! Randomised answers are never judged on one draw: the attacks run the organisation's release
//! (the store functions an answer is made of, on the test's own data) hundreds of times and bound
//! the attacker's error by what epsilon and the contribution bounds allow.

use actix_web::http::Method;
use chrono::NaiveDate;
use futures_util::future::join_all;
use serde_json::{Value, json};

use karada::aggregates::private::{self, PrivatePlan};
use karada::aggregates::query::{Dim, Request, Stat};
use karada::db::{OrgId, Ts};
use karada::http::Settings;

use crate::aggregates::{
    Org, aggregate, answer, batch, consent, group, groups, january, join, member, new_org, new_org_in_default_mode,
    num, query, residents, revoke, weigh,
};
use crate::both_backends;
use crate::common::{Backend, Resp, Session, TestApp, assert_problem};
use crate::common::{admin, steps, weight};

both_backends!(
    sybils_recover_a_lone_members_value_in_exact_mode_and_nothing_better_than_the_noise_by_default,
    a_revocation_between_two_answers_reveals_nothing_better_than_the_noise,
    a_default_answer_is_noisy_within_its_bounds_and_the_same_request_gets_the_same_release,
    the_budget_cannot_be_bypassed_by_omitting_epsilon_repeating_or_raising_it_silently,
    twenty_concurrent_releases_on_the_last_epsilon_spend_it_once,
    every_key_of_the_domain_is_listed_whatever_the_data,
    a_group_far_below_k_min_is_not_published,
    programme_statistics_are_noisy_and_hide_a_revocation,
    notes_go_to_health_staff_only_with_include_notes,
    consents_state_data_from_include_notes_and_the_privacy_mode,
    operators_set_the_privacy_policy_with_a_reason_and_every_change_is_recorded,
    the_ledger_lists_exactly_the_releases_a_resident_could_be_in,
);

// At k_min 1, so that one member's data is visible to an organisation in exact mode and only the
// consent hides it.
both_backends_k1!(data_from_hides_earlier_data_from_aggregates_staff_reads_and_insights);

/// Like `both_backends!`, on an application whose `k_min` is 1.
macro_rules! both_backends_k1 {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[actix_web::test]
            async fn sqlite() {
                super::$name(super::app_k1($crate::common::Backend::Sqlite).await).await
            }
            #[actix_web::test]
            async fn postgres() {
                super::$name(super::app_k1($crate::common::Backend::Postgres).await).await
            }
        }
    )*};
}
use both_backends_k1;

async fn app_k1(backend: Backend) -> TestApp {
    TestApp::with_settings(
        backend,
        Settings {
            k_min: 1,
            ..Settings::default()
        },
    )
    .await
}

/// Draws of a randomised release per attack.
const DRAWS: usize = 200;

/// The organisation's release of a body-weight aggregate of January 2026, run `DRAWS` times on
/// the test's own database: the bounded sums are read once (they are exact), the noise drawn
/// afresh each time, exactly as an answer is made.
fn releases(app: &TestApp, org: &str, group_by: Vec<Dim>, stats: Vec<Stat>, epsilon: f64) -> Vec<Vec<Value>> {
    let kind = karada::measurements::catalogue::find("body_weight").unwrap();
    let month = NaiveDate::from_ymd_opt(2026, 1, 1).unwrap();
    let req = Request {
        kind,
        field: kind.field("kg").unwrap(),
        from: month,
        to: month,
        group_by,
        stats,
    };
    let plan = PrivatePlan::new(&req, epsilon).unwrap();
    let org = OrgId(org.parse().unwrap());
    let sums = private::sums(&mut app.db.conn(), org, &req, &plan, Ts::now()).unwrap();
    (0..DRAWS)
        .map(|_| {
            private::release(&req, &plan, &sums, 10)
                .unwrap()
                .into_iter()
                .map(|g| serde_json::to_value(g).unwrap())
                .collect()
        })
        .collect()
}

/// The Laplace scale of the centred sum in a release of the mean alone at `epsilon`, ungrouped:
/// the body-weight bounds' half-width (60 kg) over half of epsilon.
fn sum_scale(epsilon: f64) -> f64 {
    let b = karada::privacy::bounds::of("body_weight", "kg").unwrap();
    b.half() / (epsilon / 2.0)
}

/// A mean from a published group, or `None` when the group is withheld.
fn published_mean(g: &Value) -> Option<f64> {
    g["stats"]["mean"].as_f64().filter(|_| g.get("suppressed").is_none())
}

/// Sets an organisation's privacy policy.
async fn set_policy(app: &TestApp, ops: &str, org: &str, body: Value) -> Resp {
    app.call(
        Method::PUT,
        &format!("/v1/admin/organizations/{org}/privacy"),
        Some(ops),
        Some(body),
    )
    .await
}

/// The victim: one woman in her forties who weighed 73.4 kg in January.
const VICTIM_KG: f64 = 73.4;
/// What the attacker's sybils (women of the same age band) report.
const KNOWN_KG: f64 = 60.0;

/// A resident of the victim's cell (women born in 1980) who joins, consents from long ago and
/// weighs `kg` in January.
async fn cell_member(app: &TestApp, org: &Org, s: &Session, kg: f64) {
    member(app, org, s, &["body_weight"]).await;
    weigh(app, s, "2026-01-10", kg).await;
}

async fn sybils_recover_a_lone_members_value_in_exact_mode_and_nothing_better_than_the_noise_by_default(app: TestApp) {
    let ops = admin(&app).await;
    // The attack on v1's answers, which exact mode still gives: the victim is alone in her cell;
    // the organisation enrolls nine accounts of its own into it, and `10 × mean − 9 × known` is
    // her exact value.
    let exact = new_org(&app, &ops, "exact").await;
    let victim = residents(&app, "victim", 1, "1980-04-01", "female").await;
    cell_member(&app, &exact, &victim[0], VICTIM_KG).await;
    let sybils = residents(&app, "sybil", 40, "1980-04-01", "female").await;
    for s in &sybils[..9] {
        cell_member(&app, &exact, s, KNOWN_KG).await;
    }
    let a = answer(
        &app,
        &exact,
        january(json!({"group_by": ["age_band", "sex"], "stats": ["mean"]})),
    )
    .await;
    let g = group(&a, json!({"age_band": "40-49", "sex": "female"}));
    assert_eq!(g["people"], 10);
    let recovered = 10.0 * num(&g["stats"]["mean"]) - 9.0 * KNOWN_KG;
    assert!(
        (recovered - VICTIM_KG).abs() < 1e-6,
        "exact mode gives her away: {recovered}"
    );

    // The same attack on an organisation in the default mode, with forty sybils so that the cell
    // is published at all (the organisation holds no one else, so the attacker asks for the
    // ungrouped answer, whose threshold is lowest). The attacker knows everyone's value but hers,
    // and the true count.
    let dp = new_org_in_default_mode(&app, &ops, "dp").await;
    cell_member(&app, &dp, &victim[0], VICTIM_KG).await;
    for s in &sybils {
        cell_member(&app, &dp, s, KNOWN_KG).await;
    }
    let epsilon = 0.5;
    let draws = releases(&app, &dp.id, vec![], vec![Stat::Mean], epsilon);
    let scale = sum_scale(epsilon);
    let mut close_guesses = 0;
    let mut published = 0;
    for groups in &draws {
        let Some(mean) = published_mean(&groups[0]) else {
            continue;
        };
        published += 1;
        let guess = 41.0 * mean - 40.0 * KNOWN_KG;
        if (guess - VICTIM_KG).abs() <= scale / 20.0 {
            close_guesses += 1;
        }
    }
    // The noise on the sum is Laplace of scale 240 kg: a guess lands within 12 kg (scale / 20) of
    // her value with probability about 1 − e^(−1/20) ≈ 5% (less where the mean was clamped), ten
    // of 200 releases on average; more than 30 happens about once in 70 million runs, while the
    // exact answer above gives her away every time.
    assert!(published > DRAWS / 2, "41 people are published: {published} of {DRAWS}");
    assert!(
        close_guesses <= DRAWS * 3 / 20,
        "the attacker got within {} kg in {close_guesses} of {DRAWS} releases",
        scale / 20.0
    );
}

async fn a_revocation_between_two_answers_reveals_nothing_better_than_the_noise(app: TestApp) {
    let ops = admin(&app).await;
    let orgs = [
        new_org(&app, &ops, "exact").await,
        new_org_in_default_mode(&app, &ops, "dp").await,
    ];
    let people = residents(&app, "w", 30, "1980-04-01", "female").await;
    let mut victim_consents = Vec::new();
    for org in &orgs {
        for (i, s) in people.iter().enumerate() {
            let (_, c) = member(&app, org, s, &["body_weight"]).await;
            if i == 0 {
                victim_consents.push(c);
            }
        }
    }
    weigh(&app, &people[0], "2026-01-10", VICTIM_KG).await;
    for (i, s) in people.iter().enumerate().skip(1) {
        weigh(&app, s, "2026-01-10", 55.0 + f64::from(u8::try_from(i).unwrap())).await;
    }
    let total = |a: &Value| {
        let g = group(a, json!({}));
        num(&g["people"]) * num(&g["stats"]["mean"])
    };
    // v1 (exact mode): the difference of two answers around the revocation is her value.
    let exact = &orgs[0];
    let before = answer(&app, exact, january(json!({"stats": ["mean"]}))).await;
    let dp = &orgs[1];
    let dp_before = releases(&app, &dp.id, vec![], vec![Stat::Mean], 0.5);
    let http_before = answer(&app, dp, january(json!({"stats": ["mean"]}))).await;
    revoke(&app, &people[0], &victim_consents[0]).await;
    revoke(&app, &people[0], &victim_consents[1]).await;
    let after = answer(&app, exact, january(json!({"stats": ["mean", "count"]}))).await;
    assert!((total(&before) - total(&after) - VICTIM_KG).abs() < 1e-6);

    // Under differential privacy: the same request again is the same stored release, so asking
    // again after the revocation shows nothing at all.
    let http_after = answer(&app, dp, january(json!({"stats": ["mean"]}))).await;
    assert_eq!(http_after["groups"], http_before["groups"]);
    assert_eq!(http_after["privacy"]["reused"], true);
    // A different request is a fresh release (and pays for it); differencing two such releases
    // recovers her value no better than the noise allows.
    let dp_after = releases(&app, &dp.id, vec![], vec![Stat::Mean], 0.5);
    let scale = sum_scale(0.5);
    let close_guesses = dp_before
        .iter()
        .zip(&dp_after)
        .filter(|(b, a)| {
            let (Some(mb), Some(ma)) = (published_mean(&b[0]), published_mean(&a[0])) else {
                return false;
            };
            let guess = 30.0 * mb - 29.0 * ma;
            (guess - VICTIM_KG).abs() <= scale / 20.0
        })
        .count();
    // The difference of two independent Laplace(240 kg) draws lands within 12 kg of zero with
    // probability under 5%.
    assert!(
        close_guesses <= DRAWS / 10,
        "{close_guesses} of {DRAWS} differences within {} kg",
        scale / 20.0
    );
}

async fn a_default_answer_is_noisy_within_its_bounds_and_the_same_request_gets_the_same_release(app: TestApp) {
    let ops = admin(&app).await;
    let org = new_org_in_default_mode(&app, &ops, "acme").await;
    let people = residents(&app, "w", 12, "1980-04-01", "female").await;
    for (i, s) in people.iter().enumerate() {
        member(&app, &org, s, &["body_weight"]).await;
        // One very heavy member: her value is clamped to the published bound (150 kg).
        let kg = if i == 0 { 290.0 } else { 60.0 };
        weigh(&app, s, "2026-01-10", kg).await;
    }
    let body = january(json!({"stats": ["count", "mean", "stddev", "p10", "p50", "p90"]}));
    let a = answer(&app, &org, body.clone()).await;
    let p = &a["privacy"];
    assert_eq!(p["mode"], "differential_privacy");
    assert_eq!(p["epsilon"], 0.5, "the default epsilon");
    assert_eq!(p["budget_remaining"], 9.5, "charged to this year's budget of 10");
    assert_eq!(p["reused"], false);
    assert_eq!(p["mechanism"]["noise"], "laplace");
    assert_eq!(p["mechanism"]["bounds"], json!({"lower": 30.0, "upper": 150.0}));
    assert_eq!(p["mechanism"]["groups_per_person"], 1);
    // Five quantities share 0.5: each scale is its sensitivity over 0.1.
    let scales = &p["mechanism"]["laplace_scale"];
    assert!((num(&scales["people"]) - 10.0).abs() < 1e-9, "{scales}");
    assert!((num(&scales["measurements"]) - 310.0).abs() < 1e-9, "{scales}");
    assert!((num(&scales["sum"]) - 600.0).abs() < 1e-9, "{scales}");
    assert!((num(&scales["sum_of_squares"]) - 18_000.0).abs() < 1e-9, "{scales}");
    assert!((num(&scales["histogram"]) - 10.0).abs() < 1e-9, "{scales}");
    let threshold = num(&p["mechanism"]["publish_threshold"]);
    assert!(threshold > 10.0, "k_min plus a margin: {threshold}");
    let g = group(&a, json!({}));
    if g.get("suppressed").is_none() {
        assert!(num(&g["people"]) >= threshold.floor());
        for s in ["mean", "p10", "p50", "p90"] {
            let v = num(&g["stats"][s]);
            assert!((30.0..=150.0).contains(&v), "{s} inside the bounds: {g}");
        }
        assert!((0.0..=60.0).contains(&num(&g["stats"]["stddev"])), "{g}");
        assert!(num(&g["margin_95"]["mean"]) > 0.0, "{g}");
    }

    // The same request (here with defaults spelled out and the same month named differently) is
    // answered from the stored release: the same figures, nothing charged, marked reused.
    let again = answer(
        &app,
        &org,
        query(
            "body_weight",
            "kg",
            "2026-01-20",
            "2026-01-21",
            json!({"stats": ["p90", "p50", "p10", "stddev", "mean", "count"], "epsilon": 0.5, "group_by": []}),
        ),
    )
    .await;
    assert_eq!(again["groups"], a["groups"]);
    assert_eq!(again["privacy"]["release_id"], a["privacy"]["release_id"]);
    assert_eq!(again["privacy"]["reused"], true);
    assert_eq!(again["privacy"]["budget_remaining"], 9.5);
    // A different epsilon is a different release, charged.
    let other = answer(&app, &org, january(json!({"epsilon": 0.25}))).await;
    assert_ne!(other["privacy"]["release_id"], a["privacy"]["release_id"]);
    assert_eq!(other["privacy"]["budget_remaining"], 9.25);
    // An epsilon outside 0.05–2 is refused and charges nothing.
    for e in [0.0, 0.04, 2.5, -1.0] {
        let r = aggregate(&app, &org.id, &org.analyst.access, january(json!({ "epsilon": e }))).await;
        assert_problem(&r, 422, "validation");
        assert_eq!(r.error_fields(), vec!["epsilon"]);
    }
    let r = set_policy(&app, &ops, &org.id, json!({"mode": "differential_privacy"})).await;
    r.expect(200);
    assert_eq!(r.body["spent"], 0.75);
}

/// An operator's token and an organisation in the default mode whose three members (women born
/// in 1980) weighed 60 kg in January 2026, its budget lowered to epsilon 1 a year (a smaller
/// budget needs no reason): two default releases of 0.5 spend it.
async fn three_women_under_a_budget_of_one(app: &TestApp) -> (String, Org) {
    let ops = admin(app).await;
    let org = new_org_in_default_mode(app, &ops, "acme").await;
    for s in residents(app, "w", 3, "1980-04-01", "female").await {
        member(app, &org, &s, &["body_weight"]).await;
        weigh(app, &s, "2026-01-10", 60.0).await;
    }
    set_policy(
        app,
        &ops,
        &org.id,
        json!({"mode": "differential_privacy", "epsilon_per_year": 1.0}),
    )
    .await
    .expect(200);
    (ops, org)
}

async fn the_budget_cannot_be_bypassed_by_omitting_epsilon_repeating_or_raising_it_silently(app: TestApp) {
    let (ops, org) = three_women_under_a_budget_of_one(&app).await;
    let first = answer(&app, &org, january(json!({}))).await;
    assert_eq!(first["privacy"]["budget_remaining"], 0.5);
    let second = answer(&app, &org, january(json!({"group_by": ["sex"]}))).await;
    assert_eq!(second["privacy"]["budget_remaining"], 0.0);
    // Spent: without epsilon, with the smallest epsilon, and for programme statistics alike.
    for body in [
        january(json!({"stats": ["mean"]})),
        january(json!({"stats": ["mean"], "epsilon": 0.05})),
    ] {
        let r = aggregate(&app, &org.id, &org.analyst.access, body).await;
        assert_problem(&r, 409, "privacy-budget-exhausted");
    }
    let r = app
        .get(
            &format!("/v1/orgs/{}/program-stats?from=2026-01-01&to=2026-01-31", org.id),
            Some(&org.analyst.access),
        )
        .await;
    assert_problem(&r, 409, "privacy-budget-exhausted");
    // What was released can be read again (a page reload), at no charge.
    let reload = answer(&app, &org, january(json!({}))).await;
    assert_eq!(reload["groups"], first["groups"]);
    assert_eq!(reload["privacy"]["reused"], true);

    // Raising the budget needs a reason, and the change is recorded with it.
    let r = set_policy(
        &app,
        &ops,
        &org.id,
        json!({"mode": "differential_privacy", "epsilon_per_year": 2.0}),
    )
    .await;
    assert_problem(&r, 422, "validation");
    assert_eq!(r.error_fields(), vec!["reason"]);
    let r = aggregate(&app, &org.id, &org.analyst.access, january(json!({"stats": ["mean"]}))).await;
    assert_problem(&r, 409, "privacy-budget-exhausted");
    let r = set_policy(
        &app,
        &ops,
        &org.id,
        json!({"mode": "differential_privacy", "epsilon_per_year": 2.0, "reason": "the annual health report"}),
    )
    .await;
    r.expect(200);
    assert_eq!(r.body["changes"][0]["reason"], "the annual health report");
    assert_eq!(r.body["changes"][0]["epsilon_before"], 1.0);
    assert_eq!(r.body["changes"][0]["epsilon_after"], 2.0);
    let a = answer(&app, &org, january(json!({"stats": ["mean"]}))).await;
    assert_eq!(a["privacy"]["budget_remaining"], 0.5);

    // An exact-mode organisation has no epsilon to name.
    set_policy(
        &app,
        &ops,
        &org.id,
        json!({"mode": "exact", "reason": "statutory checkup data"}),
    )
    .await
    .expect(200);
    let r = aggregate(&app, &org.id, &org.analyst.access, january(json!({"epsilon": 0.5}))).await;
    assert_problem(&r, 422, "validation");
    assert_eq!(r.error_fields(), vec!["epsilon"]);
    let a = answer(&app, &org, january(json!({}))).await;
    assert_eq!(a["privacy"]["mode"], "exact");
    assert!(a["privacy"]["epsilon"].is_null() && a["privacy"]["budget_remaining"].is_null());
}

async fn twenty_concurrent_releases_on_the_last_epsilon_spend_it_once(app: TestApp) {
    let (ops, org) = three_women_under_a_budget_of_one(&app).await;
    answer(&app, &org, january(json!({"stats": ["mean"]}))).await;
    // Twenty different requests at once on the last 0.5: one is released, nineteen refused.
    let bodies: Vec<Value> = (1..=20)
        .map(|m| {
            let month = format!("2025-{:02}", (m - 1) % 12 + 1);
            let year_or_not = if m > 12 {
                json!({"group_by": ["sex"]})
            } else {
                json!({})
            };
            let mut q = query(
                "body_weight",
                "kg",
                &format!("{month}-01"),
                &format!("{month}-01"),
                year_or_not,
            );
            q["stats"] = json!(["mean"]);
            q
        })
        .collect();
    let answers = join_all(
        bodies
            .iter()
            .map(|b| aggregate(&app, &org.id, &org.analyst.access, b.clone())),
    )
    .await;
    let ok = answers.iter().filter(|r| r.status.as_u16() == 200).count();
    assert_eq!(
        ok,
        1,
        "{:?}",
        answers.iter().map(|r| r.status.as_u16()).collect::<Vec<_>>()
    );
    for r in answers.iter().filter(|r| r.status.as_u16() != 200) {
        assert_problem(r, 409, "privacy-budget-exhausted");
    }
    let policy = app
        .get(&format!("/v1/admin/organizations/{}/privacy", org.id), Some(&ops))
        .await;
    assert_eq!(policy.body["spent"], 1.0);

    // Twenty copies of one request at once on a fresh last 0.5: released once, and every copy
    // gets that release (the others wait for it rather than paying again or being refused).
    set_policy(
        &app,
        &ops,
        &org.id,
        json!({"mode": "differential_privacy", "epsilon_per_year": 1.5, "reason": "one more release"}),
    )
    .await
    .expect(200);
    let body = january(json!({"stats": ["mean"], "group_by": ["age_band"]}));
    let answers = join_all((0..20).map(|_| aggregate(&app, &org.id, &org.analyst.access, body.clone()))).await;
    for r in &answers {
        r.expect(200);
        assert_eq!(
            r.body["privacy"]["release_id"],
            answers[0].body["privacy"]["release_id"]
        );
        assert_eq!(r.body["groups"], answers[0].body["groups"]);
    }
    assert_eq!(
        answers.iter().filter(|r| r.body["privacy"]["reused"] == false).count(),
        1
    );
    let policy = app
        .get(&format!("/v1/admin/organizations/{}/privacy", org.id), Some(&ops))
        .await;
    assert_eq!(policy.body["spent"], 1.5);
}

async fn every_key_of_the_domain_is_listed_whatever_the_data(app: TestApp) {
    let ops = admin(&app).await;
    let empty = new_org_in_default_mode(&app, &ops, "empty").await;
    let org = new_org_in_default_mode(&app, &ops, "acme").await;
    let s = residents(&app, "w", 1, "1980-04-01", "female").await;
    member(&app, &org, &s[0], &["body_weight"]).await;
    weigh(&app, &s[0], "2026-01-10", 60.0).await;
    let bands = [
        "0-9", "10-19", "20-29", "30-39", "40-49", "50-59", "60-69", "70-79", "80-89", "90-99", "100-109", "110-119",
        "120-129", "unknown",
    ];
    let sexes = ["female", "male", "other", "unknown"];
    let mut lists = Vec::new();
    for o in [&empty, &org] {
        for (group_by, to, expected) in [
            (json!([]), "2026-01-31", 1),
            (json!(["sex"]), "2026-01-31", 4),
            (json!(["age_band"]), "2026-01-31", 14),
            (json!(["age_band", "sex"]), "2026-01-31", 56),
            (json!(["month"]), "2026-03-31", 3),
            (json!(["age_band", "sex", "month"]), "2026-03-31", 168),
        ] {
            let a = answer(
                &app,
                o,
                query(
                    "body_weight",
                    "kg",
                    "2026-01-01",
                    to,
                    json!({ "group_by": group_by, "stats": ["mean"] }),
                ),
            )
            .await;
            let keys: Vec<&Value> = groups(&a).iter().map(|g| &g["key"]).collect();
            assert_eq!(keys.len(), expected, "{group_by}");
            lists.push(keys.into_iter().cloned().collect::<Vec<Value>>());
            let keys: Vec<&Value> = groups(&a).iter().map(|g| &g["key"]).collect();
            if group_by == json!(["age_band", "sex"]) {
                for b in bands {
                    for x in sexes {
                        assert!(keys.contains(&&json!({"age_band": b, "sex": x})), "{b} {x}");
                    }
                }
            }
        }
    }
    // The organisation with a member lists exactly the keys of the one without any: the list
    // says nothing about who is there.
    let (without, with) = lists.split_at(lists.len() / 2);
    assert_eq!(without, with);
}

async fn a_group_far_below_k_min_is_not_published(app: TestApp) {
    let ops = admin(&app).await;
    let org = new_org_in_default_mode(&app, &ops, "acme").await;
    // Two women and fifty men.
    for s in residents(&app, "w", 2, "1980-04-01", "female").await {
        cell_member(&app, &org, &s, 60.0).await;
    }
    for s in residents(&app, "m", 50, "1980-04-01", "male").await {
        cell_member(&app, &org, &s, 75.0).await;
    }
    let draws = releases(&app, &org.id, vec![Dim::Sex], vec![Stat::Count, Stat::Mean], 1.0);
    let (mut women, mut men, mut empty) = (0, 0, 0);
    for groups in &draws {
        for g in groups.iter().filter(|g| g.get("suppressed").is_none()) {
            match g["key"]["sex"].as_str() {
                Some("female") => women += 1,
                Some("male") => men += 1,
                _ => empty += 1,
            }
        }
    }
    // At epsilon 1 shared three ways the people count has scale 3, and the threshold is k_min − 1
    // plus ln(4 keys / 0.02) scales ≈ 25: the two women clear it with probability
    // ½·e^(−23/3) ≈ 0.02%, each of the two empty groups with ½·e^(−25/3) ≈ 0.01%, so one release
    // in a few thousand publishes one of them (measured: 4 to 7 in 20,000), and fifty people are
    // published almost always. Five or more
    // of 200 is then a one-in-ten-million event; without the margin above k_min (threshold
    // k_min − 1) each of the three small groups would clear it in 2 to 5% of releases, about
    // twenty times in 200.
    let below_k_min = women + empty;
    assert!(
        below_k_min <= 4,
        "groups below k_min published {below_k_min} times in {DRAWS} releases ({women} female, {empty} empty)"
    );
    assert!(men > DRAWS * 9 / 10, "fifty men are published: {men} of {DRAWS}");
}

async fn programme_statistics_are_noisy_and_hide_a_revocation(app: TestApp) {
    let ops = admin(&app).await;
    let org = new_org_in_default_mode(&app, &ops, "acme").await;
    let people = residents(&app, "w", 6, "1980-04-01", "female").await;
    let mut consents = Vec::new();
    for s in &people {
        consents.push(member(&app, &org, s, &["steps"]).await.1);
    }
    let stats = app
        .get(
            &format!("/v1/orgs/{}/program-stats?from=2026-01-01&to=2026-01-31", org.id),
            Some(&org.admin.access),
        )
        .await;
    stats.expect(200);
    assert_eq!(stats.body["privacy"]["mode"], "differential_privacy");
    assert_eq!(stats.body["privacy"]["budget_remaining"], 9.5);
    // Six people never clear the threshold.
    for f in [
        "members",
        "consenting",
        "active_residents",
        "mean_daily_steps",
        "points_earned",
    ] {
        assert_eq!(stats.body[f]["suppressed"], true, "{f}: {}", stats.body);
    }

    // A revocation between two releases: does `consenting` drop? Over many draws the attacker's
    // guess ("revoked when the second count is lower") is right about half the time.
    use karada::aggregates::program;
    let org_id = OrgId(org.id.parse().unwrap());
    let from = NaiveDate::from_ymd_opt(2026, 1, 1).unwrap();
    let plan = program::plan(0.5, 31);
    let before = program::sums(&mut app.db.conn(), org_id, from, from, Ts::now()).unwrap();
    assert_eq!(before.consenting, 6.0);
    revoke(&app, &people[0], &consents[0]).await;
    let after = program::sums(&mut app.db.conn(), org_id, from, from, Ts::now()).unwrap();
    assert_eq!(after.consenting, 5.0);
    let noisy = |s: &program::ProgramSums| plan.noisy("consenting", vec![s.consenting]).unwrap().unwrap()[0];
    let right = (0..DRAWS).filter(|_| noisy(&after) < noisy(&before)).count();
    assert!(
        (DRAWS * 35 / 100..=DRAWS * 65 / 100).contains(&right),
        "the attacker guessed right {right} times of {DRAWS}"
    );
}

/// The staff of an organisation in exact mode at `k_min` 1 (so one person's data shows), its
/// health staff and analyst, and a member with weights on 10 November and 20 November.
async fn member_with_november(app: &TestApp, ops: &str) -> (Org, Session, Session) {
    let org = new_org(app, ops, "acme").await;
    let nurse = app.register("nurse@acme.example.jp").await;
    app.post(
        &format!("/v1/admin/organizations/{}/staff", org.id),
        Some(ops),
        json!({"email": "nurse@acme.example.jp", "role": "health_staff"}),
    )
    .await
    .expect(201);
    let s = residents(app, "w", 1, "1980-04-01", "female").await.remove(0);
    join(app, &org, &s).await;
    let mut early = weight("2026-11-10", 7, 61.0);
    early["note"] = json!("after the office party");
    let mut late = weight("2026-11-20", 7, 60.0);
    late["note"] = json!("after a run");
    batch(app, &s, vec![early, late]).await;
    (org, nurse, s)
}

async fn staff_weights(app: &TestApp, org: &Org, nurse: &Session, s: &Session) -> Vec<Value> {
    let r = app
        .get(
            &format!(
                "/v1/orgs/{}/members/{}/measurements?type=body_weight",
                org.id, s.user_id
            ),
            Some(&nurse.access),
        )
        .await;
    r.expect(200);
    r.body["items"].as_array().unwrap().clone()
}

async fn data_from_hides_earlier_data_from_aggregates_staff_reads_and_insights(app: TestApp) {
    let ops = admin(&app).await;
    let (org, nurse, s) = member_with_november(&app, &ops).await;
    let november = query(
        "body_weight",
        "kg",
        "2026-11-01",
        "2026-11-30",
        json!({"stats": ["count"]}),
    );

    // By default a consent shares from the day it is given (today): November's data is not
    // shared, to the nurse, the analyst or the member's insights.
    let today = consent(
        &app,
        &s,
        json!({"organization_id": org.id, "measurement_types": ["body_weight"], "access": "individual",
               "purpose": "Follow-up"}),
    )
    .await;
    assert!(staff_weights(&app, &org, &nurse, &s).await.is_empty());
    let a = answer(&app, &org, november.clone()).await;
    assert!(groups(&a).is_empty(), "{a}");
    let insights = app
        .get(
            &format!("/v1/orgs/{}/members/{}/insights", org.id, s.user_id),
            Some(&nurse.access),
        )
        .await;
    insights.expect(200);
    assert!(
        !insights.raw.windows(4).any(|w| w == b"61.0" || w == b"60.0"),
        "{}",
        insights.body
    );
    revoke(&app, &s, &today).await;

    // From 15 November: the nurse sees the 20th, not the 10th; aggregates read whole months, so
    // November (which starts before the 15th) is left out whole.
    let mid = consent(
        &app,
        &s,
        json!({"organization_id": org.id, "measurement_types": ["body_weight"], "access": "individual",
               "purpose": "Follow-up", "data_from": "2026-11-15"}),
    )
    .await;
    let seen = staff_weights(&app, &org, &nurse, &s).await;
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0]["local_date"], "2026-11-20");
    let a = answer(&app, &org, november.clone()).await;
    assert!(groups(&a).is_empty(), "a partial month is left out whole: {a}");
    revoke(&app, &s, &mid).await;

    // From 1 November: all of it.
    let november_on = consent(
        &app,
        &s,
        json!({"organization_id": org.id, "measurement_types": ["body_weight"], "access": "individual",
               "purpose": "Follow-up", "data_from": "2026-11-01"}),
    )
    .await;
    assert_eq!(staff_weights(&app, &org, &nurse, &s).await.len(), 2);
    let a = answer(&app, &org, november).await;
    assert_eq!(group(&a, json!({}))["measurements"], 2);
    revoke(&app, &s, &november_on).await;

    // A whole year is read from the yearly rollup; a consent from April of it shares only the
    // months from April: February's weighing stays out of the year, in both modes.
    batch(
        &app,
        &s,
        vec![
            weight("2025-02-10", 7, 80.0),
            weight("2025-05-10", 7, 70.0),
            weight("2026-02-10", 7, 65.0),
        ],
    )
    .await;
    consent(
        &app,
        &s,
        json!({"organization_id": org.id, "measurement_types": ["body_weight"], "access": "aggregate",
               "purpose": "Statistics", "data_from": "2025-04-01"}),
    )
    .await;
    let year = query(
        "body_weight",
        "kg",
        "2025-01-01",
        "2025-12-31",
        json!({"stats": ["count", "mean", "p50"], "group_by": ["age_band"]}),
    );
    let a = answer(&app, &org, year).await;
    let g = group(&a, json!({"age_band": "40-49"}));
    assert_eq!(g["measurements"], 1, "{a}");
    assert!((num(&g["stats"]["mean"]) - 70.0).abs() < 1e-9, "{a}");
    assert!((num(&g["stats"]["p50"]) - 70.0).abs() <= 1.4, "{a}");
    let two_years = query(
        "body_weight",
        "kg",
        "2025-01-01",
        "2026-12-31",
        json!({"stats": ["count"]}),
    );
    let a = answer(&app, &org, two_years).await;
    assert_eq!(
        group(&a, json!({}))["measurements"],
        4,
        "May 2025, February 2026 and the two of November: {a}"
    );
    // The private answer's sums (on the same data, read through the store function) hold May only.
    let kind = karada::measurements::catalogue::find("body_weight").unwrap();
    let req = Request {
        kind,
        field: kind.field("kg").unwrap(),
        from: NaiveDate::from_ymd_opt(2025, 1, 1).unwrap(),
        to: NaiveDate::from_ymd_opt(2025, 12, 1).unwrap(),
        group_by: vec![],
        stats: vec![Stat::Count, Stat::Mean],
    };
    let plan = PrivatePlan::new(&req, 0.5).unwrap();
    let org_id = OrgId(org.id.parse().unwrap());
    let sums = private::sums(&mut app.db.conn(), org_id, &req, &plan, Ts::now()).unwrap();
    let only = sums.values().next().unwrap();
    assert_eq!((only.people, only.measurements), (1.0, 1.0), "{sums:?}");
    assert!(
        (only.sum - (70.0 - 90.0)).abs() < 1e-9,
        "May's 70 kg, centred on 90: {sums:?}"
    );
}

async fn notes_go_to_health_staff_only_with_include_notes(app: TestApp) {
    let ops = admin(&app).await;
    let (org, nurse, s) = member_with_november(&app, &ops).await;
    let c = consent(
        &app,
        &s,
        json!({"organization_id": org.id, "measurement_types": ["body_weight"], "access": "individual",
               "purpose": "Follow-up", "data_from": "2026-11-01"}),
    )
    .await;
    let seen = staff_weights(&app, &org, &nurse, &s).await;
    assert_eq!(seen.len(), 2);
    assert!(seen.iter().all(|m| m["note"].is_null()), "{seen:?}");
    let insights = app
        .get(
            &format!("/v1/orgs/{}/members/{}/insights", org.id, s.user_id),
            Some(&nurse.access),
        )
        .await;
    insights.expect(200);
    assert!(!String::from_utf8_lossy(&insights.raw).contains("after a run"));
    revoke(&app, &s, &c).await;
    consent(
        &app,
        &s,
        json!({"organization_id": org.id, "measurement_types": ["body_weight"], "access": "individual",
               "purpose": "Follow-up", "data_from": "2026-11-01", "include_notes": true}),
    )
    .await;
    let seen = staff_weights(&app, &org, &nurse, &s).await;
    let notes: Vec<&str> = seen.iter().filter_map(|m| m["note"].as_str()).collect();
    assert_eq!(notes, ["after a run", "after the office party"]);
}

async fn consents_state_data_from_include_notes_and_the_privacy_mode(app: TestApp) {
    let ops = admin(&app).await;
    let org = new_org_in_default_mode(&app, &ops, "acme").await;
    let s = residents(&app, "w", 1, "1980-04-01", "female").await.remove(0);
    join(&app, &org, &s).await;
    let today = chrono::Utc::now()
        .with_timezone(&chrono_tz::Asia::Tokyo)
        .date_naive()
        .to_string();
    let base = json!({"organization_id": org.id, "measurement_types": ["body_weight"], "access": "aggregate",
                      "purpose": "Statistics"});
    let with = |extra: Value| {
        let mut b = base.clone();
        b.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        b
    };
    // Validation: never later than today, never before 1900, a date.
    let tomorrow = (chrono::Utc::now().with_timezone(&chrono_tz::Asia::Tokyo).date_naive() + chrono::Duration::days(1))
        .to_string();
    for bad in [json!(tomorrow), json!("1899-12-31")] {
        let r = app
            .post("/v1/me/consents", Some(&s.access), with(json!({ "data_from": bad })))
            .await;
        assert_problem(&r, 422, "validation");
        assert_eq!(r.error_fields(), vec!["data_from"]);
    }
    app.post(
        "/v1/me/consents",
        Some(&s.access),
        with(json!({"data_from": "11/01/2026"})),
    )
    .await
    .expect(400);
    app.post(
        "/v1/me/consents",
        Some(&s.access),
        with(json!({"include_notes": "yes"})),
    )
    .await
    .expect(400);

    let r = app.post("/v1/me/consents", Some(&s.access), base.clone()).await;
    r.expect(201);
    assert_eq!(
        r.body["data_from"],
        today.as_str(),
        "by default, from the day of the consent"
    );
    assert_eq!(r.body["include_notes"], false);
    assert_eq!(r.body["organization_privacy"]["mode"], "differential_privacy");
    let receipt = &r.body["receipt"];
    assert_eq!(receipt["data_from"], today.as_str());
    assert_eq!(receipt["include_notes"], false);
    assert_eq!(receipt["privacy"]["mode"], "differential_privacy");
    assert_eq!(receipt["privacy"]["epsilon_per_year"], 10.0);
    assert!(
        receipt["privacy"]["statement"]
            .as_str()
            .unwrap()
            .contains("privacy-ledger")
    );
    let id = r.body["id"].as_str().unwrap().to_owned();

    // The operator moves the organisation to exact mode: the resident sees it on the consent and
    // its receipt.
    set_policy(
        &app,
        &ops,
        &org.id,
        json!({"mode": "exact", "reason": "statutory checkup data"}),
    )
    .await
    .expect(200);
    let r = app.get(&format!("/v1/me/consents/{id}"), Some(&s.access)).await;
    r.expect(200);
    assert_eq!(r.body["organization_privacy"]["mode"], "exact");
    let r = app.get(&format!("/v1/me/consents/{id}/receipt"), Some(&s.access)).await;
    r.expect(200);
    assert_eq!(r.body["privacy"]["mode"], "exact");
    assert!(r.body["privacy"]["statement"].as_str().unwrap().contains("k-anonymity"));

    let r = app
        .post(
            "/v1/me/consents",
            Some(&s.access),
            with(json!({"data_from": "2020-04-01", "include_notes": true})),
        )
        .await;
    r.expect(201);
    assert_eq!(r.body["data_from"], "2020-04-01");
    assert_eq!(r.body["receipt"]["include_notes"], true);
}

async fn operators_set_the_privacy_policy_with_a_reason_and_every_change_is_recorded(app: TestApp) {
    let ops = admin(&app).await;
    let org = new_org_in_default_mode(&app, &ops, "acme").await;
    let path = format!("/v1/admin/organizations/{}/privacy", org.id);
    let r = app.get(&path, Some(&ops)).await;
    r.expect(200);
    assert_eq!(r.body["mode"], "differential_privacy");
    assert_eq!(r.body["epsilon_per_year"], 10.0);
    assert_eq!(r.body["spent"], 0.0);
    assert_eq!(r.body["changes"], json!([]));
    let o = app
        .get(&format!("/v1/admin/organizations/{}", org.id), Some(&ops))
        .await;
    assert_eq!(o.body["privacy_mode"], "differential_privacy");

    // Validation: a reason for exact, a budget in range, a short enough reason, a known mode.
    for (body, fields) in [
        (json!({"mode": "exact"}), vec!["reason"]),
        (json!({"mode": "exact", "reason": "   "}), vec!["reason"]),
        (
            json!({"mode": "differential_privacy", "epsilon_per_year": 11}),
            vec!["reason"],
        ),
        (
            json!({"mode": "differential_privacy", "epsilon_per_year": 1001, "reason": "x"}),
            vec!["epsilon_per_year"],
        ),
        (json!({"mode": "exact", "reason": "r".repeat(501)}), vec!["reason"]),
    ] {
        let r = set_policy(&app, &ops, &org.id, body).await;
        assert_problem(&r, 422, "validation");
        assert_eq!(r.error_fields(), fields);
    }
    set_policy(&app, &ops, &org.id, json!({"mode": "open"}))
        .await
        .expect(400);
    set_policy(&app, &ops, &org.id, json!({"mode": "exact", "reason": "x", "extra": 1}))
        .await
        .expect(400);
    // Only operators; an unknown organisation is 404.
    for token in [&org.admin.access, &org.analyst.access] {
        assert_problem(
            &set_policy(&app, token, &org.id, json!({"mode": "differential_privacy"})).await,
            403,
            "forbidden",
        );
        assert_problem(&app.get(&path, Some(token)).await, 403, "forbidden");
    }
    let unknown = uuid::Uuid::new_v4().to_string();
    set_policy(&app, &ops, &unknown, json!({"mode": "differential_privacy"}))
        .await
        .expect(404);
    assert_eq!(
        app.get(&path, Some(&ops)).await.body["changes"],
        json!([]),
        "nothing changed"
    );

    let r = set_policy(
        &app,
        &ops,
        &org.id,
        json!({"mode": "exact", "reason": "  statutory checkup data "}),
    )
    .await;
    r.expect(200);
    let r = set_policy(
        &app,
        &ops,
        &org.id,
        json!({"mode": "differential_privacy", "epsilon_per_year": 4}),
    )
    .await;
    r.expect(200);
    assert_eq!(r.body["mode"], "differential_privacy");
    assert_eq!(r.body["epsilon_per_year"], 4.0);
    let changes = r.body["changes"].as_array().unwrap();
    assert_eq!(changes.len(), 2);
    assert_eq!(changes[0]["mode_before"], "exact");
    assert_eq!(changes[0]["mode_after"], "differential_privacy");
    assert_eq!(changes[0]["epsilon_after"], 4.0);
    assert!(changes[0]["reason"].is_null(), "a stricter policy needs no reason");
    assert_eq!(changes[1]["mode_after"], "exact");
    assert_eq!(changes[1]["reason"], "statutory checkup data");
    let me = app.get("/v1/me", Some(&ops)).await;
    assert_eq!(changes[1]["actor_id"], me.body["id"]);
}

async fn the_ledger_lists_exactly_the_releases_a_resident_could_be_in(app: TestApp) {
    let ops = admin(&app).await;
    let a = new_org_in_default_mode(&app, &ops, "a").await;
    let b = new_org(&app, &ops, "b").await;
    let r = residents(&app, "r", 6, "1980-04-01", "female").await;
    // r0: weights from long ago; r1: steps; r2: member without consent; r3: weights, revoked
    // before the third release; r4: the exact organisation's blood pressure; r5: weights from
    // today only.
    member(&app, &a, &r[0], &["body_weight"]).await;
    member(&app, &a, &r[1], &["steps"]).await;
    join(&app, &a, &r[2]).await;
    let (_, r3_consent) = member(&app, &a, &r[3], &["body_weight"]).await;
    member(&app, &b, &r[4], &["blood_pressure"]).await;
    join(&app, &a, &r[5]).await;
    consent(
        &app,
        &r[5],
        json!({"organization_id": a.id, "measurement_types": ["body_weight"], "access": "aggregate",
               "purpose": "Statistics"}),
    )
    .await;
    for s in &r {
        weigh(&app, s, "2026-01-10", 60.0).await;
        app.post("/v1/measurements", Some(&s.access), steps("2026-01-10", 20, 8000))
            .await
            .expect(201);
    }
    let release_id = |a: &Value| a["privacy"]["release_id"].as_str().unwrap().to_owned();
    let weights = release_id(&answer(&app, &a, january(json!({"stats": ["mean"]}))).await);
    // Asking again is the same release, not another.
    assert_eq!(
        release_id(&answer(&app, &a, january(json!({"stats": ["mean"]}))).await),
        weights
    );
    let steps_release =
        release_id(&answer(&app, &a, query("steps", "count", "2026-01-01", "2026-01-31", json!({}))).await);
    let program = app
        .get(
            &format!("/v1/orgs/{}/program-stats?from=2026-01-01&to=2026-01-31", a.id),
            Some(&a.analyst.access),
        )
        .await;
    program.expect(200);
    let program = release_id(&program.body);
    revoke(&app, &r[3], &r3_consent).await;
    let weights_again = release_id(&answer(&app, &a, january(json!({"stats": ["count"]}))).await);
    let exact = release_id(
        &answer(
            &app,
            &b,
            query("blood_pressure", "systolic_mmhg", "2026-01-01", "2026-01-31", json!({})),
        )
        .await,
    );

    let ledger = |s: &Session| {
        let s = s.clone();
        let app = &app;
        async move {
            let l = app.get("/v1/me/privacy-ledger", Some(&s.access)).await;
            l.expect(200);
            l.body["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i["release_id"].as_str().unwrap().to_owned())
                .collect::<Vec<String>>()
        }
    };
    // Newest first.
    assert_eq!(
        ledger(&r[0]).await,
        [weights_again.clone(), program.clone(), weights.clone()]
    );
    assert_eq!(ledger(&r[1]).await, [program.clone(), steps_release]);
    assert_eq!(ledger(&r[2]).await, std::slice::from_ref(&program));
    assert_eq!(ledger(&r[3]).await, [program.clone(), weights]);
    assert_eq!(ledger(&r[4]).await, [exact]);
    assert_eq!(
        ledger(&r[5]).await,
        std::slice::from_ref(&program),
        "data from today: January's weights were not shared"
    );

    let l = app.get("/v1/me/privacy-ledger?limit=1", Some(&r[0].access)).await;
    l.expect(200);
    let item = &l.body["items"][0];
    assert_eq!(item["organization_id"], a.id.as_str());
    assert_eq!(item["statistic"], "aggregate");
    assert_eq!(item["measurement_type"], "body_weight");
    assert_eq!(item["period"], json!({"from": "2026-01-01", "to": "2026-01-31"}));
    assert_eq!(item["mode"], "differential_privacy");
    assert_eq!(item["epsilon"], 0.5);
    let cursor = l.body["next_cursor"].as_str().unwrap();
    let next = app
        .get(
            &format!("/v1/me/privacy-ledger?limit=1&cursor={cursor}"),
            Some(&r[0].access),
        )
        .await;
    assert_eq!(next.body["items"][0]["release_id"], program.as_str());
    assert_eq!(next.body["items"][0]["statistic"], "program_stats");
    let l = app.get("/v1/me/privacy-ledger", Some(&r[4].access)).await;
    assert!(l.body["items"][0]["epsilon"].is_null(), "exact mode has no epsilon");
}
