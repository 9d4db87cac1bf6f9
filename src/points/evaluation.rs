//! The pure part of paying points: which awards a stored measurement could earn under the rules
//! in force ([`evaluate`]), each keyed ([`Claim`]) so that the database can refuse to pay it twice,
//! and what history (logged days, goals met) streak and goal rules need to decide. Nothing here
//! reads the database or the clock: `award` gathers the facts and pays the candidates.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{Datelike, NaiveDate};
use serde_json::Value;

use super::rules::{Rule, RuleKind, Tier, age_in_range};
use crate::calendar::week_start;
use crate::db::{MeasurementId, RuleId};
use crate::insights::programme::GOAL_TYPES;
use crate::measurements::checkup_of;

/// What the evaluation needs to know about one stored measurement.
#[derive(Debug, Clone)]
pub struct Fact<'a> {
    /// The measurement's id, which the awards it earns name.
    pub id: MeasurementId,
    /// Its type's catalogue name, e.g. `steps`.
    pub kind: &'a str,
    /// The resident's local day it counts for.
    pub local_date: NaiveDate,
    /// Its values by field (the step count, a checkup's kind and date, …).
    pub values: &'a serde_json::Map<String, Value>,
    /// Whether it was measured by a device or kiosk (what `sensed_only` rules require).
    pub sensed: bool,
    /// The resident's age that day, if known.
    pub age: Option<i32>,
}

/// The local days on which the resident logged a type, as far as streak rules need to know:
/// keyed by type and whether only sensed data counts; and the weekly programme's goals met, as
/// far as `programme_goal` rules need to know: keyed by the week's Monday.
#[derive(Debug, Default)]
pub struct History {
    days: HashMap<(String, bool), BTreeSet<NaiveDate>>,
    goals_met: BTreeMap<NaiveDate, Vec<&'static str>>,
}

impl History {
    /// Records the codes of the goals the week starting `monday` meets.
    pub fn goals_met_in(&mut self, monday: NaiveDate, codes: Vec<&'static str>) {
        self.goals_met.insert(monday, codes);
    }

    /// Records that `kind` was logged on `day` (sensed or not).
    pub fn insert(&mut self, kind: &str, sensed_only: bool, day: NaiveDate) {
        self.days.entry((kind.to_owned(), sensed_only)).or_default().insert(day);
    }

    /// Whether `kind` was logged (by sensed data only, if `sensed_only`) on every day `from..=to`.
    fn logged_every_day(&self, kind: &str, sensed_only: bool, from: NaiveDate, to: NaiveDate) -> bool {
        let Some(days) = self.days.get(&(kind.to_owned(), sensed_only)) else {
            return false;
        };
        from.iter_days().take_while(|d| *d <= to).all(|d| days.contains(&d))
    }
}

/// Where streak periods start when a rule has no `active_from`: a Monday, so 7-day periods are weeks.
const STREAK_ANCHOR: NaiveDate = match NaiveDate::from_ymd_opt(2024, 1, 1) {
    Some(d) => d,
    None => NaiveDate::MIN,
};

/// The first and last day of the streak period of `days` days that contains `day`.
pub fn streak_period(active_from: Option<NaiveDate>, days: i32, day: NaiveDate) -> (NaiveDate, NaiveDate) {
    let anchor = active_from.unwrap_or(STREAK_ANCHOR);
    let len = i64::from(days.max(1));
    let index = (day - anchor).num_days().div_euclid(len);
    // The period holds `day`, so it lies within `len` days of it; at the ends of the calendar it is
    // cut short rather than overflowing.
    let start = anchor
        .checked_add_signed(chrono::Duration::days(index * len))
        .unwrap_or(day);
    let end = start
        .checked_add_signed(chrono::Duration::days(len - 1))
        .unwrap_or(NaiveDate::MAX);
    (start, end)
}

/// Whether `rule` reads what the resident logged beyond `fact` itself to judge it: a streak of its
/// type, or a programme goal the fact can help meet. Such history is read under the balance lock.
pub fn reads_history(rule: &Rule, fact: &Fact<'_>) -> bool {
    match rule.kind {
        RuleKind::Streak { .. } => history_needed(rule, fact).is_some(),
        RuleKind::ProgrammeGoal { .. } => !goal_weeks(fact).is_empty(),
        _ => false,
    }
}

/// What `History` must hold to evaluate `fact` under `rule`: (type, sensed only, first day, last day).
pub fn history_needed(rule: &Rule, fact: &Fact<'_>) -> Option<(String, bool, NaiveDate, NaiveDate)> {
    match &rule.kind {
        RuleKind::Streak {
            measurement_type, days, ..
        } if fact.kind == measurement_type && applies(rule, fact) => {
            let (from, to) = streak_period(rule.active_from, *days, fact.local_date);
            Some((measurement_type.clone(), rule.sensed_only, from, to))
        }
        _ => None,
    }
}

/// How a possible award is keyed, so that the database can refuse to pay it twice.
#[derive(Debug, Clone, PartialEq)]
pub enum Claim {
    /// Alternative keys of the award's local day, in order of use (several when a rule pays more
    /// than once a day); unique per resident, programme and local day (`day_key`).
    Day(Vec<String>),
    /// Alternative keys of a longer period (first ever, checkup year, streak period), in order of
    /// use; unique per resident and programme (`award_key`).
    Period(Vec<String>),
    /// The step tiers the day's count crosses, ascending by threshold, each with its points. One
    /// entry pays every crossed tier above the highest already paid that day (read under the
    /// balance lock) and records the last one it covers (`award_upto`); its day key names the
    /// first, so two writers that read the same state (and would overlap) cannot both commit.
    Tiers(Vec<Tier>),
}

/// A possible award, paid unless its claim is already in the ledger.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    /// The rule that would pay it.
    pub rule_id: RuleId,
    /// The rule's programme, whose balance and daily cap it counts against.
    pub programme_id: String,
    /// The ledger entry's title: the rule's, with the goal or campaign named.
    pub title: String,
    /// Points (for tiers: of every crossed tier; what is paid is what was not paid before).
    pub points: i32,
    /// The day the award counts for.
    pub local_date: NaiveDate,
    /// The measurement that earned it (none for goals paid when the week's plan is read).
    pub measurement_id: Option<MeasurementId>,
    /// How it is keyed, so that it is paid at most once.
    pub claim: Claim,
}

/// The day key of a tiered award whose first tier is crossed at `min_steps`.
pub fn tier_key(rule_id: RuleId, min_steps: i64) -> String {
    format!("{rule_id}:steps{min_steps}")
}

/// Whether `rule` applies to `fact` at all: in force on its day for the resident's age, and of a
/// modality it counts.
fn applies(rule: &Rule, fact: &Fact<'_>) -> bool {
    in_force_for(rule, fact.local_date, fact.age) && (!rule.sensed_only || fact.sensed)
}

/// The awards `fact` earns under the rules of programmes that admit the resident: each rule's
/// candidates, multiplied by the best campaign in force for that rule on the fact's day.
pub fn evaluate(rules: &[&Rule], fact: &Fact<'_>, history: &History) -> Vec<Candidate> {
    let mut out: Vec<Candidate> = rules.iter().flat_map(|r| candidates(r, fact, history)).collect();
    for c in &mut out {
        let best = rules
            .iter()
            .filter(|r| r.programme_id == c.programme_id && applies(r, fact))
            .filter_map(|r| match &r.kind {
                RuleKind::CampaignMultiplier { multiplier, rule_ids } if rule_ids.contains(&c.rule_id.0) => {
                    Some((*multiplier, r))
                }
                _ => None,
            })
            .max_by(|a, b| a.0.total_cmp(&b.0));
        if let Some((m, campaign)) = best {
            // Each tier is multiplied (and rounded) on its own, as if it were paid alone.
            if let Claim::Tiers(tiers) = &mut c.claim {
                for t in tiers.iter_mut() {
                    t.points = multiply(t.points, m);
                }
                c.points = tiers.iter().map(|t| t.points).sum();
            } else {
                c.points = multiply(c.points, m);
            }
            c.title = format!("{} ×{m} ({})", c.title, campaign.title);
        }
    }
    out
}

/// `points` × `m`, rounded to the nearest whole point. Validation keeps multipliers in (1, 10] and
/// points in 1..=1000, so the product fits; anything else leaves the points as they were.
fn multiply(points: i32, m: f64) -> i32 {
    let multiplied = (f64::from(points) * m).round();
    if multiplied.is_finite() && multiplied.abs() <= f64::from(i32::MAX) {
        #[expect(clippy::cast_possible_truncation, reason = "finite, rounded and range-checked above")]
        let points = multiplied as i32;
        points
    } else {
        points
    }
}

/// The awards `fact` could earn under `rule` alone (campaigns are applied by [`evaluate`]).
pub fn candidates(rule: &Rule, fact: &Fact<'_>, history: &History) -> Vec<Candidate> {
    if !applies(rule, fact) {
        return Vec::new();
    }
    let make = |points: i32, claim: Claim| Candidate {
        rule_id: rule.id,
        programme_id: rule.programme_id.clone(),
        title: rule.title.clone(),
        points,
        local_date: fact.local_date,
        measurement_id: Some(fact.id),
        claim,
    };
    let r = rule.id;
    match &rule.kind {
        RuleKind::DailySteps { tiers } if fact.kind == "steps" => {
            let count = fact.values.get("count").and_then(Value::as_i64).unwrap_or(0);
            // Tiers are named by their threshold, not their position: what a day has been paid is
            // "every tier up to N steps", which stays true when an operator changes the tiers.
            let mut crossed: Vec<Tier> = tiers
                .iter()
                .filter(|t| count >= t.min_steps && t.points > 0)
                .cloned()
                .collect();
            crossed.sort_by_key(|t| t.min_steps);
            if crossed.is_empty() {
                return Vec::new();
            }
            let points = crossed.iter().map(|t| t.points).sum();
            vec![make(points, Claim::Tiers(crossed))]
        }
        RuleKind::MeasurementLogged {
            measurement_type,
            points,
            max_per_day,
        } if fact.kind == measurement_type => {
            let keys = (1..=*max_per_day).map(|n| format!("{r}:{n}")).collect();
            vec![make(*points, Claim::Day(keys))]
        }
        RuleKind::FirstMeasurement {
            measurement_type,
            points,
        } if fact.kind == measurement_type => {
            vec![make(*points, Claim::Period(vec![format!("{r}:first")]))]
        }
        RuleKind::HealthCheckup {
            checkup_kind,
            points,
            max_per_year,
        } if fact.kind == "health_checkup" => {
            let (kind, taken) = checkup_of(fact.values);
            let year = taken.map_or(fact.local_date.year(), |d| d.year());
            if kind != Some(checkup_kind.as_str()) {
                return Vec::new();
            }
            let keys = (1..=*max_per_year).map(|n| format!("{r}:{year}:{n}")).collect();
            vec![make(*points, Claim::Period(keys))]
        }
        RuleKind::ProgrammeGoal { .. } => goal_weeks(fact)
            .into_iter()
            .flat_map(|monday| {
                let met = history.goals_met.get(&monday).map(Vec::as_slice).unwrap_or_default();
                goal_candidates(rule, monday, met, fact.local_date, Some(fact.id))
            })
            .collect(),
        RuleKind::Streak {
            measurement_type,
            days,
            points,
        } if fact.kind == measurement_type => {
            let (from, to) = streak_period(rule.active_from, *days, fact.local_date);
            if history.logged_every_day(measurement_type, rule.sensed_only, from, to) {
                vec![make(*points, Claim::Period(vec![format!("{r}:streak:{from}")]))]
            } else {
                Vec::new()
            }
        }
        _ => Vec::new(),
    }
}

/// The weeks (Mondays) whose goals a measurement can help meet: its own day's week, and for a
/// checkup also the week of its `checkup_date` (a checkup is often recorded days after it was
/// taken). None for types no goal is about.
pub fn goal_weeks(fact: &Fact<'_>) -> Vec<NaiveDate> {
    if !GOAL_TYPES.contains(&fact.kind) {
        return Vec::new();
    }
    let mut weeks = vec![week_start(fact.local_date)];
    if fact.kind == "health_checkup"
        && let (_, Some(taken)) = checkup_of(fact.values)
        && !weeks.contains(&week_start(taken))
    {
        weeks.push(week_start(taken));
    }
    weeks
}

/// The awards of a `programme_goal` rule for the goals met (`met`, goal codes) in the week
/// starting `monday`, dated `on`: one per goal, keyed by rule, week and goal, so each is paid once.
pub fn goal_candidates(
    rule: &Rule,
    monday: NaiveDate,
    met: &[&str],
    on: NaiveDate,
    measurement_id: Option<MeasurementId>,
) -> Vec<Candidate> {
    let RuleKind::ProgrammeGoal { points } = rule.kind else {
        return Vec::new();
    };
    met.iter()
        .map(|code| Candidate {
            rule_id: rule.id,
            programme_id: rule.programme_id.clone(),
            title: format!("{} ({})", rule.title, code.replace('_', " ")),
            points,
            local_date: on,
            measurement_id,
            claim: Claim::Period(vec![format!("{}:goal:{monday}:{code}", rule.id)]),
        })
        .collect()
}

/// Whether a rule applies on `day` to a resident of `age` (its window and age range; what a
/// measurement's modality adds is checked with the measurement).
pub fn in_force_for(rule: &Rule, day: NaiveDate, age: Option<i32>) -> bool {
    rule.active_from.is_none_or(|d| day >= d)
        && rule.active_to.is_none_or(|d| day <= d)
        && age_in_range(rule.min_age, rule.max_age, age)
}

/// Facts for the unit tests of this module and of the timing beside it.
#[cfg(test)]
pub(super) mod fixtures {
    use chrono::NaiveDate;
    use serde_json::Value;

    use super::Fact;
    use crate::db::MeasurementId;

    /// A measurement of `kind` with `values`, self-reported on 2026-11-24 by a 46-year-old.
    pub fn fact<'a>(kind: &'a str, values: &'a serde_json::Map<String, Value>) -> Fact<'a> {
        Fact {
            id: MeasurementId(uuid::Uuid::nil()),
            kind,
            local_date: NaiveDate::from_ymd_opt(2026, 11, 24).unwrap(),
            values,
            sensed: false,
            age: Some(46),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::fixtures::fact;
    use super::*;
    use crate::points::rules::fixtures::{day, rule, tiers};

    fn cands(r: &Rule, f: &Fact<'_>) -> Vec<Candidate> {
        candidates(r, f, &History::default())
    }

    #[test]
    fn a_day_count_offers_every_tier_it_crosses_in_one_claim() {
        let v = json!({"count": 6500}).as_object().cloned().unwrap();
        let c = cands(&rule(tiers()), &fact("steps", &v));
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].points, 3);
        let Claim::Tiers(crossed) = &c[0].claim else {
            panic!("{c:?}")
        };
        assert_eq!(
            crossed.iter().map(|t| t.min_steps).collect::<Vec<_>>(),
            [2000, 4000, 6000]
        );
        assert_eq!(
            tier_key(RuleId(uuid::Uuid::nil()), 2000),
            format!("{}:steps2000", uuid::Uuid::nil())
        );
        let none = json!({"count": 1999}).as_object().cloned().unwrap();
        assert!(cands(&rule(tiers()), &fact("steps", &none)).is_empty());
        let at = json!({"count": 2000}).as_object().cloned().unwrap();
        assert_eq!(cands(&rule(tiers()), &fact("steps", &at)).len(), 1);
    }

    #[test]
    fn age_ranges_windows_and_sensed_only_gate_a_rule() {
        let v = json!({"count": 3000}).as_object().cloned().unwrap();
        let mut r = rule(tiers());
        r.min_age = Some(65);
        assert!(cands(&r, &fact("steps", &v)).is_empty());
        r.min_age = Some(46);
        assert_eq!(cands(&r, &fact("steps", &v)).len(), 1);
        r.active_to = NaiveDate::from_ymd_opt(2026, 11, 23);
        assert!(cands(&r, &fact("steps", &v)).is_empty());
        let mut s = rule(tiers());
        s.sensed_only = true;
        assert!(cands(&s, &fact("steps", &v)).is_empty());
        let mut f = fact("steps", &v);
        f.sensed = true;
        assert_eq!(cands(&s, &f).len(), 1);
    }

    #[test]
    fn logging_rules_offer_one_key_per_allowed_time_a_day() {
        let v = json!({"kg": 60.0}).as_object().cloned().unwrap();
        let r = rule(RuleKind::MeasurementLogged {
            measurement_type: "body_weight".into(),
            points: 1,
            max_per_day: 2,
        });
        let c = cands(&r, &fact("body_weight", &v));
        assert_eq!(c.len(), 1);
        assert_eq!(
            c[0].claim,
            Claim::Day(vec![
                format!("{}:1", uuid::Uuid::nil()),
                format!("{}:2", uuid::Uuid::nil())
            ])
        );
        assert!(cands(&r, &fact("heart_rate", &v)).is_empty());
    }

    #[test]
    fn checkups_count_per_year_of_the_checkup_date() {
        let v = json!({"kind": "cancer_screening", "checkup_date": "2025-12-30"})
            .as_object()
            .cloned()
            .unwrap();
        let r = rule(RuleKind::HealthCheckup {
            checkup_kind: "cancer_screening".into(),
            points: 5,
            max_per_year: 1,
        });
        let c = cands(&r, &fact("health_checkup", &v));
        assert_eq!(c[0].claim, Claim::Period(vec![format!("{}:2025:1", uuid::Uuid::nil())]));
        let other = rule(RuleKind::HealthCheckup {
            checkup_kind: "dental_checkup".into(),
            points: 5,
            max_per_year: 1,
        });
        assert!(cands(&other, &fact("health_checkup", &v)).is_empty());
    }

    #[test]
    fn streak_periods_run_back_to_back_from_the_anchor() {
        // 2024-01-01 is a Monday: 7-day periods are Monday-to-Sunday weeks.
        assert_eq!(
            streak_period(None, 7, day("2026-11-24")),
            (day("2026-11-23"), day("2026-11-29"))
        );
        assert_eq!(
            streak_period(None, 7, day("2026-11-23")),
            (day("2026-11-23"), day("2026-11-29"))
        );
        assert_eq!(
            streak_period(None, 7, day("2026-11-22")),
            (day("2026-11-16"), day("2026-11-22"))
        );
        assert_eq!(
            streak_period(Some(day("2026-11-20")), 3, day("2026-11-25")),
            (day("2026-11-23"), day("2026-11-25"))
        );
        // Days before the anchor still fall in whole periods.
        assert_eq!(
            streak_period(Some(day("2026-11-20")), 3, day("2026-11-19")),
            (day("2026-11-17"), day("2026-11-19"))
        );
    }

    #[test]
    fn only_rules_that_judge_a_fact_by_history_lock_for_it() {
        let pulse = json!({"bpm": 64}).as_object().cloned().unwrap();
        let weight = json!({"kg": 60.0}).as_object().cloned().unwrap();
        let goal = rule(RuleKind::ProgrammeGoal { points: 2 });
        let mut streak = rule(RuleKind::Streak {
            measurement_type: "body_weight".into(),
            days: 3,
            points: 2,
        });
        streak.active_from = Some(day("2026-11-22"));
        // A heart rate meets no weekly goal and is no weight streak: nothing to read, nothing to lock.
        assert!(!reads_history(&goal, &fact("heart_rate", &pulse)));
        assert!(!reads_history(&streak, &fact("heart_rate", &pulse)));
        assert!(!reads_history(&rule(tiers()), &fact("steps", &pulse)));
        // A weight can meet the week's weight goal and extend the streak.
        assert!(reads_history(&goal, &fact("body_weight", &weight)));
        assert!(reads_history(&streak, &fact("body_weight", &weight)));
    }

    #[test]
    fn a_streak_pays_once_its_whole_period_is_logged_whichever_day_completes_it() {
        let v = json!({"kg": 60.0}).as_object().cloned().unwrap();
        let mut r = rule(RuleKind::Streak {
            measurement_type: "body_weight".into(),
            days: 3,
            points: 2,
        });
        r.active_from = Some(day("2026-11-22"));
        let mut f = fact("body_weight", &v);
        f.local_date = day("2026-11-23");
        let mut h = History::default();
        h.insert("body_weight", false, day("2026-11-22"));
        h.insert("body_weight", false, day("2026-11-23"));
        assert!(candidates(&r, &f, &h).is_empty(), "2026-11-24 missing");
        h.insert("body_weight", false, day("2026-11-24"));
        let c = candidates(&r, &f, &h);
        assert_eq!(c.len(), 1);
        assert_eq!(
            c[0].claim,
            Claim::Period(vec![format!("{}:streak:2026-11-22", uuid::Uuid::nil())])
        );
        assert_eq!(c[0].points, 2);
        // Sensed-only streaks look at sensed days only.
        r.sensed_only = true;
        f.sensed = true;
        assert!(candidates(&r, &f, &h).is_empty());
        let needed = history_needed(&r, &f).unwrap();
        assert_eq!(
            needed,
            ("body_weight".into(), true, day("2026-11-22"), day("2026-11-24"))
        );
    }

    #[test]
    fn campaigns_multiply_named_rules_inside_their_window_and_do_not_compound() {
        let v = json!({"count": 4500}).as_object().cloned().unwrap();
        let steps = rule(tiers());
        let campaign = |id: u128, m: f64, from: &str, to: &str| {
            let mut c = rule(RuleKind::CampaignMultiplier {
                multiplier: m,
                rule_ids: vec![uuid::Uuid::nil()],
            });
            c.id = RuleId(uuid::Uuid::from_u128(id));
            c.title = format!("campaign {id}");
            c.active_from = Some(day(from));
            c.active_to = Some(day(to));
            c
        };
        let f = fact("steps", &v);
        let h = History::default();
        let doubled = evaluate(
            &[
                &steps,
                &campaign(1, 2.0, "2026-11-01", "2026-11-30"),
                &campaign(2, 1.5, "2026-11-24", "2026-11-24"),
            ],
            &f,
            &h,
        );
        assert_eq!(doubled.iter().map(|c| c.points).collect::<Vec<_>>(), vec![4]);
        assert!(doubled[0].title.contains("×2 (campaign 1)"), "{}", doubled[0].title);
        let outside = evaluate(&[&steps, &campaign(1, 2.0, "2026-12-01", "2026-12-31")], &f, &h);
        assert_eq!(outside.iter().map(|c| c.points).collect::<Vec<_>>(), vec![2]);
        let rounded = evaluate(&[&steps, &campaign(1, 1.5, "2026-11-01", "2026-11-30")], &f, &h);
        assert_eq!(rounded[0].points, 4, "each tier's 1 × 1.5 rounds to 2");
        let Claim::Tiers(t) = &rounded[0].claim else { panic!() };
        assert_eq!(t.iter().map(|t| t.points).collect::<Vec<_>>(), [2, 2]);
    }

    #[test]
    fn a_programme_goal_pays_each_goal_met_in_the_facts_week_once_per_week() {
        let v = json!({"kg": 60.0}).as_object().cloned().unwrap();
        let r = rule(RuleKind::ProgrammeGoal { points: 2 });
        let f = fact("body_weight", &v);
        let mut h = History::default();
        assert!(candidates(&r, &f, &h).is_empty(), "no plan, nothing met");
        // 2026-11-24 is a Tuesday: its week starts on Monday the 23rd.
        h.goals_met_in(day("2026-11-23"), vec!["log_weight", "daily_steps"]);
        let c = candidates(&r, &f, &h);
        assert_eq!(c.len(), 2);
        assert_eq!(
            c[0].claim,
            Claim::Period(vec![format!("{}:goal:2026-11-23:log_weight", uuid::Uuid::nil())])
        );
        assert_eq!(c[0].points, 2);
        assert!(c[0].title.ends_with("(log weight)"), "{}", c[0].title);
        assert!(
            candidates(&r, &fact("heart_rate", &v), &h).is_empty(),
            "not data a goal is about"
        );
        let mut later = fact("body_weight", &v);
        later.local_date = day("2026-11-30");
        assert!(candidates(&r, &later, &h).is_empty(), "another week");
    }

    #[test]
    fn a_multiplied_award_is_rounded_and_out_of_range_products_leave_the_points() {
        assert_eq!(multiply(3, 1.5), 5, "4.5 rounds away from zero");
        assert_eq!(multiply(1000, 10.0), 10_000);
        assert_eq!(multiply(7, f64::NAN), 7);
        assert_eq!(multiply(i32::MAX, 2.0), i32::MAX);
    }
}
