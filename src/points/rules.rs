//! Reward rules as data, and the pure part of evaluating them: which awards a stored measurement
//! could earn. Every rule about points lives in this module and its parent.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use crate::db::Id;
use crate::insights::programme::GOAL_TYPES;
use crate::insights::store::week_start;
use crate::measurements::checkup_of;

/// One tier of a daily-steps rule: crossing `min_steps` pays `points` once per local day.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Tier {
    /// Steps at which the tier is crossed.
    pub min_steps: i64,
    /// Points it pays.
    pub points: i32,
}

/// What a rule pays for, with its kind's own fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum RuleKind {
    /// Tiered daily steps; tiers are additive, each paid once per local day.
    DailySteps {
        /// The tiers.
        tiers: Vec<Tier>,
    },
    /// Logging a measurement type, up to `max_per_day` times per local day.
    MeasurementLogged {
        /// The type.
        measurement_type: String,
        /// Points per logging.
        points: i32,
        /// Paid at most this often per local day.
        max_per_day: i32,
    },
    /// The first measurement of a type ever.
    FirstMeasurement {
        /// The type.
        measurement_type: String,
        /// Points.
        points: i32,
    },
    /// A health checkup taken, up to `max_per_year` times per calendar year of the checkup date.
    HealthCheckup {
        /// `specific_health_checkup`, `cancer_screening` or `dental_checkup`.
        checkup_kind: String,
        /// Points.
        points: i32,
        /// Paid at most this often per year.
        max_per_year: i32,
    },
    /// Logging a type on every local day of an N-day period. Periods run back to back from the
    /// rule's `active_from` (or from Monday 2024-01-01 when it has none), so a period is either
    /// complete or not whatever order its days are uploaded in, and pays once.
    Streak {
        /// The type.
        measurement_type: String,
        /// Length of a period, in local days.
        days: i32,
        /// Points per complete period.
        points: i32,
    },
    /// A goal of the resident's weekly programme (`GET /v1/me/programme`) met: `points` for each
    /// goal of the week's plan that the week's data meets, once per goal and week, dated the local
    /// day of an uploaded measurement of that week that completes it (or the day the plan is read,
    /// for data uploaded before the plan was made). Counts data of every modality, so it cannot
    /// be `sensed_only`.
    ProgrammeGoal {
        /// Points per goal met.
        points: i32,
    },
    /// Multiplies what other rules of the programme pay for days inside this rule's window
    /// (`active_from` to `active_to`, both required). Where campaigns overlap, the largest
    /// multiplier applies; they do not compound. The daily cap still holds.
    CampaignMultiplier {
        /// Factor, above 1 and at most 10; points are rounded to the nearest whole point.
        multiplier: f64,
        /// The rules whose awards it multiplies.
        rule_ids: Vec<uuid::Uuid>,
    },
}

impl RuleKind {
    /// Reads a stored rule: its kind column and its params object.
    pub fn from_stored(kind: &str, params: &Value) -> Option<Self> {
        let mut obj = params.as_object()?.clone();
        obj.insert("kind".to_owned(), Value::from(kind));
        serde_json::from_value(Value::Object(obj)).ok()
    }
}

/// An active rule, ready to evaluate.
#[derive(Debug, Clone)]
pub struct Rule {
    /// Rule id.
    pub id: Id,
    /// Programme it belongs to.
    pub programme_id: String,
    /// Title shown on ledger entries.
    pub title: String,
    /// What it pays for.
    pub kind: RuleKind,
    /// First local day it applies.
    pub active_from: Option<NaiveDate>,
    /// Last local day it applies.
    pub active_to: Option<NaiveDate>,
    /// Youngest age it applies to (age on the measurement's day).
    pub min_age: Option<i32>,
    /// Oldest age it applies to.
    pub max_age: Option<i32>,
    /// Only device- or kiosk-measured data counts.
    pub sensed_only: bool,
}

/// What the evaluation needs to know about one stored measurement.
#[derive(Debug, Clone)]
pub struct Fact<'a> {
    /// Measurement id.
    pub id: Id,
    /// Type name.
    pub kind: &'a str,
    /// The resident's day of it.
    pub local_date: NaiveDate,
    /// Its values.
    pub values: &'a serde_json::Map<String, Value>,
    /// Whether it was sensed.
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
    /// The rule.
    pub rule_id: Id,
    /// Its programme.
    pub programme_id: String,
    /// Ledger title.
    pub title: String,
    /// Points (for tiers: of every crossed tier; what is paid is what was not paid before).
    pub points: i32,
    /// The day the award counts for.
    pub local_date: NaiveDate,
    /// The measurement that earned it (none for goals paid when the week's plan is read).
    pub measurement_id: Option<Id>,
    /// How it is keyed.
    pub claim: Claim,
}

/// The day key of a tiered award whose first tier is crossed at `min_steps`.
pub fn tier_key(rule_id: Id, min_steps: i64) -> String {
    format!("{rule_id}:steps{min_steps}")
}

/// Whether `age` lies in the inclusive range; without a known age, only an unbounded range admits.
pub fn age_in_range(min: Option<i32>, max: Option<i32>, age: Option<i32>) -> bool {
    match age {
        Some(a) => min.is_none_or(|m| a >= m) && max.is_none_or(|m| a <= m),
        None => min.is_none() && max.is_none(),
    }
}

impl Rule {
    /// Whether the rule can still pay someone of this age on or after `today` (what an app shows).
    pub fn offered_to(&self, age: Option<i32>, today: NaiveDate) -> bool {
        self.active_to.is_none_or(|d| d >= today) && age_in_range(self.min_age, self.max_age, age)
    }
}

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
    measurement_id: Option<Id>,
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

/// Checks a rule's own fields; every problem is reported with the field it concerns.
pub fn validate(kind: &RuleKind) -> Vec<crate::error::FieldError> {
    use crate::error::FieldError;
    use crate::measurements::catalogue;
    let mut errors = Vec::new();
    let points_ok = |p: i32| (1..=1000).contains(&p);
    let type_ok = |t: &str| catalogue::find(t).is_some();
    match kind {
        RuleKind::DailySteps { tiers } => {
            if tiers.is_empty() || tiers.len() > 20 {
                errors.push(FieldError::new("tiers", "must hold 1 to 20 tiers"));
            }
            for (i, t) in tiers.iter().enumerate() {
                if !(1..=100_000).contains(&t.min_steps) {
                    errors.push(FieldError::new(
                        format!("tiers[{i}].min_steps"),
                        "must be between 1 and 100000",
                    ));
                }
                if !points_ok(t.points) {
                    errors.push(FieldError::new(
                        format!("tiers[{i}].points"),
                        "must be between 1 and 1000",
                    ));
                }
                if i > 0 && tiers[i - 1].min_steps >= t.min_steps {
                    errors.push(FieldError::new(
                        format!("tiers[{i}].min_steps"),
                        "tiers must be in increasing order",
                    ));
                }
            }
        }
        RuleKind::MeasurementLogged {
            measurement_type,
            points,
            max_per_day,
        } => {
            if !type_ok(measurement_type) {
                errors.push(FieldError::new("measurement_type", "unknown measurement type"));
            }
            if !points_ok(*points) {
                errors.push(FieldError::new("points", "must be between 1 and 1000"));
            }
            if !(1..=24).contains(max_per_day) {
                errors.push(FieldError::new("max_per_day", "must be between 1 and 24"));
            }
        }
        RuleKind::FirstMeasurement {
            measurement_type,
            points,
        } => {
            if !type_ok(measurement_type) {
                errors.push(FieldError::new("measurement_type", "unknown measurement type"));
            }
            if !points_ok(*points) {
                errors.push(FieldError::new("points", "must be between 1 and 1000"));
            }
        }
        RuleKind::HealthCheckup {
            checkup_kind,
            points,
            max_per_year,
        } => {
            if !["specific_health_checkup", "cancer_screening", "dental_checkup"].contains(&checkup_kind.as_str()) {
                errors.push(FieldError::new(
                    "checkup_kind",
                    "must be specific_health_checkup, cancer_screening or dental_checkup",
                ));
            }
            if !points_ok(*points) {
                errors.push(FieldError::new("points", "must be between 1 and 1000"));
            }
            if !(1..=12).contains(max_per_year) {
                errors.push(FieldError::new("max_per_year", "must be between 1 and 12"));
            }
        }
        RuleKind::Streak {
            measurement_type,
            days,
            points,
        } => {
            if !type_ok(measurement_type) {
                errors.push(FieldError::new("measurement_type", "unknown measurement type"));
            }
            if !(2..=366).contains(days) {
                errors.push(FieldError::new("days", "must be between 2 and 366"));
            }
            if !points_ok(*points) {
                errors.push(FieldError::new("points", "must be between 1 and 1000"));
            }
        }
        RuleKind::ProgrammeGoal { points } => {
            if !points_ok(*points) {
                errors.push(FieldError::new("points", "must be between 1 and 1000"));
            }
        }
        RuleKind::CampaignMultiplier { multiplier, rule_ids } => {
            if !(multiplier.is_finite() && *multiplier > 1.0 && *multiplier <= 10.0) {
                errors.push(FieldError::new("multiplier", "must be above 1 and at most 10"));
            }
            if rule_ids.is_empty() || rule_ids.len() > 50 {
                errors.push(FieldError::new("rule_ids", "must name 1 to 50 rules"));
            }
        }
    }
    errors
}

/// Checks an age range (`min_age`, `max_age`) of a rule or programme.
pub fn check_age_range(min: Option<i32>, max: Option<i32>, errors: &mut Vec<crate::error::FieldError>) {
    use crate::error::FieldError;
    for (field, age) in [("min_age", min), ("max_age", max)] {
        if age.is_some_and(|a| !(0..=120).contains(&a)) {
            errors.push(FieldError::new(field, "must be between 0 and 120"));
        }
    }
    if let (Some(lo), Some(hi)) = (min, max)
        && lo > hi
    {
        errors.push(FieldError::new("max_age", "must not be below min_age"));
    }
}

/// Checks a whole rule as an operator wrote it: its kind's fields ([`validate`]), its common
/// fields, that its programme exists, and for a campaign that its window is set and it names
/// other, non-campaign rules in force in the same programme (`in_force`).
pub fn validate_rule(rule: &Rule, programmes: &[String], in_force: &[Rule]) -> Vec<crate::error::FieldError> {
    use crate::error::FieldError;
    let mut errors = validate(&rule.kind);
    if rule.title.is_empty() || rule.title.chars().count() > 100 {
        errors.push(FieldError::new("title", "must be 1 to 100 characters"));
    }
    if !programmes.contains(&rule.programme_id) {
        errors.push(FieldError::new("programme", "no such programme"));
    }
    check_age_range(rule.min_age, rule.max_age, &mut errors);
    if let (Some(from), Some(to)) = (rule.active_from, rule.active_to)
        && from > to
    {
        errors.push(FieldError::new("active_to", "must not be before active_from"));
    }
    if matches!(rule.kind, RuleKind::ProgrammeGoal { .. }) && rule.sensed_only {
        // A goal is met by the week's data of every modality; a sensed-only goal would need the
        // goals themselves to count sensed data only.
        errors.push(FieldError::new(
            "sensed_only",
            "a programme goal counts the week's data whatever its modality",
        ));
    }
    if let RuleKind::CampaignMultiplier { rule_ids, .. } = &rule.kind {
        if rule.active_from.is_none() {
            errors.push(FieldError::new("active_from", "a campaign needs a start day"));
        }
        if rule.active_to.is_none() {
            errors.push(FieldError::new("active_to", "a campaign needs an end day"));
        }
        for (i, id) in rule_ids.iter().enumerate() {
            let target = in_force.iter().find(|r| r.id.0 == *id && r.id != rule.id);
            let ok = target.is_some_and(|t| {
                t.programme_id == rule.programme_id && !matches!(t.kind, RuleKind::CampaignMultiplier { .. })
            });
            if !ok {
                errors.push(FieldError::new(
                    format!("rule_ids[{i}]"),
                    "must be a rule in force in the same programme, and not a campaign",
                ));
            }
        }
    }
    errors
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn cands(r: &Rule, f: &Fact<'_>) -> Vec<Candidate> {
        candidates(r, f, &History::default())
    }

    fn day(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn rule(kind: RuleKind) -> Rule {
        Rule {
            id: Id(uuid::Uuid::nil()),
            programme_id: "osaka".into(),
            title: "t".into(),
            kind,
            active_from: None,
            active_to: None,
            min_age: None,
            max_age: None,
            sensed_only: false,
        }
    }

    fn fact<'a>(kind: &'a str, values: &'a serde_json::Map<String, Value>) -> Fact<'a> {
        Fact {
            id: Id(uuid::Uuid::nil()),
            kind,
            local_date: NaiveDate::from_ymd_opt(2026, 11, 24).unwrap(),
            values,
            sensed: false,
            age: Some(46),
        }
    }

    fn tiers() -> RuleKind {
        RuleKind::DailySteps {
            tiers: [2000, 4000, 6000, 8000, 10000]
                .into_iter()
                .map(|min_steps| Tier { min_steps, points: 1 })
                .collect(),
        }
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
            tier_key(Id(uuid::Uuid::nil()), 2000),
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
    fn rule_fields_are_validated_and_named() {
        let fields = |k: RuleKind| validate(&k).into_iter().map(|e| e.field).collect::<Vec<_>>();
        assert!(fields(tiers()).is_empty());
        let bad = RuleKind::DailySteps {
            tiers: vec![
                Tier {
                    min_steps: 4000,
                    points: 1,
                },
                Tier {
                    min_steps: 2000,
                    points: 0,
                },
            ],
        };
        assert_eq!(fields(bad), vec!["tiers[1].points", "tiers[1].min_steps"]);
        assert_eq!(fields(RuleKind::DailySteps { tiers: vec![] }), vec!["tiers"]);
        let logged = RuleKind::MeasurementLogged {
            measurement_type: "mood".into(),
            points: 0,
            max_per_day: 0,
        };
        assert_eq!(fields(logged), vec!["measurement_type", "points", "max_per_day"]);
        let checkup = RuleKind::HealthCheckup {
            checkup_kind: "spa".into(),
            points: 5,
            max_per_year: 13,
        };
        assert_eq!(fields(checkup), vec!["checkup_kind", "max_per_year"]);
    }

    #[test]
    fn stored_rules_round_trip() {
        let k = RuleKind::from_stored("daily_steps", &json!({"tiers": [{"min_steps": 2000, "points": 1}]})).unwrap();
        assert_eq!(
            k,
            RuleKind::DailySteps {
                tiers: vec![Tier {
                    min_steps: 2000,
                    points: 1
                }]
            }
        );
        assert!(RuleKind::from_stored("daily_steps", &json!({"tiers": 3})).is_none());
        assert!(RuleKind::from_stored("teleport", &json!({})).is_none());
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
            c.id = Id(uuid::Uuid::from_u128(id));
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
        assert_eq!(
            validate(&RuleKind::ProgrammeGoal { points: 0 })
                .into_iter()
                .map(|e| e.field)
                .collect::<Vec<_>>(),
            ["points"]
        );
        assert!(validate(&RuleKind::ProgrammeGoal { points: 1000 }).is_empty());
        let mut sensed = rule(RuleKind::ProgrammeGoal { points: 2 });
        sensed.sensed_only = true;
        let fields: Vec<_> = validate_rule(&sensed, &["osaka".into()], &[])
            .into_iter()
            .map(|e| e.field)
            .collect();
        assert_eq!(fields, ["sensed_only"]);
    }

    #[test]
    fn a_campaign_needs_a_window_and_rules_in_force_of_its_programme() {
        let steps = rule(tiers());
        let mut other = rule(tiers());
        other.id = Id(uuid::Uuid::from_u128(9));
        other.programme_id = "kobe".into();
        let mut c = rule(RuleKind::CampaignMultiplier {
            multiplier: 1.0,
            rule_ids: vec![uuid::Uuid::nil(), uuid::Uuid::from_u128(9), uuid::Uuid::from_u128(10)],
        });
        c.id = Id(uuid::Uuid::from_u128(11));
        let fields = validate_rule(&c, &["osaka".into()], &[steps, other])
            .into_iter()
            .map(|e| e.field)
            .collect::<Vec<_>>();
        assert_eq!(
            fields,
            vec!["multiplier", "active_from", "active_to", "rule_ids[1]", "rule_ids[2]"]
        );
    }
}
