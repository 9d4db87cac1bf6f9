//! Reward rules as operators define them: what each kind pays for ([`RuleKind`]), a rule in force
//! ([`Rule`]) and the checks a rule must pass before it is stored ([`validate_rule`]). What a rule
//! pays for a measurement is worked out in `evaluation`; when it may pay, in
//! `timing`; reading and writing stored rules, in `rule_store`.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use crate::db::{RuleId, Ts};
use crate::error::FieldError;
use crate::measurements::catalogue;

/// One tier of a daily-steps rule: crossing `min_steps` pays `points` once per local day.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Tier {
    /// Steps at which the tier is crossed.
    #[schema(minimum = 1, maximum = 100_000)]
    pub min_steps: i64,
    /// Points it pays.
    #[schema(minimum = 1, maximum = 1000)]
    pub points: i32,
}

/// What a rule pays for, with its kind's own fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum RuleKind {
    /// Tiered daily steps; tiers are additive, each paid once per local day.
    DailySteps {
        /// The tiers.
        #[schema(min_items = 1, max_items = 20)]
        tiers: Vec<Tier>,
    },
    /// Logging a measurement type, up to `max_per_day` times per local day.
    MeasurementLogged {
        /// The type.
        measurement_type: String,
        /// Points per logging.
        #[schema(minimum = 1, maximum = 1000)]
        points: i32,
        /// Paid at most this often per local day.
        #[schema(minimum = 1, maximum = 24)]
        max_per_day: i32,
    },
    /// The first measurement of a type ever.
    FirstMeasurement {
        /// The type.
        measurement_type: String,
        /// Points.
        #[schema(minimum = 1, maximum = 1000)]
        points: i32,
    },
    /// A health checkup taken, up to `max_per_year` times per calendar year of the checkup date.
    HealthCheckup {
        /// `specific_health_checkup`, `cancer_screening` or `dental_checkup`.
        checkup_kind: String,
        /// Points.
        #[schema(minimum = 1, maximum = 1000)]
        points: i32,
        /// Paid at most this often per year.
        #[schema(minimum = 1, maximum = 12)]
        max_per_year: i32,
    },
    /// Logging a type on every local day of an N-day period. Periods run back to back from the
    /// rule's `active_from` (or from Monday 2024-01-01 when it has none), so a period is either
    /// complete or not whatever order its days are uploaded in, and pays once.
    Streak {
        /// The type.
        measurement_type: String,
        /// Length of a period, in local days.
        #[schema(minimum = 2, maximum = 366)]
        days: i32,
        /// Points per complete period.
        #[schema(minimum = 1, maximum = 1000)]
        points: i32,
    },
    /// A goal of the resident's weekly programme (`GET /v1/me/programme`) met: `points` for each
    /// goal of the week's plan that the week's data meets, once per goal and week, dated the local
    /// day of an uploaded measurement of that week that completes it (or the day the plan is read,
    /// for data uploaded before the plan was made). Counts data of every modality, so it cannot
    /// be `sensed_only`.
    ProgrammeGoal {
        /// Points per goal met.
        #[schema(minimum = 1, maximum = 1000)]
        points: i32,
    },
    /// Multiplies what other rules of the programme pay for days inside this rule's window
    /// (`active_from` to `active_to`, both required). Where campaigns overlap, the largest
    /// multiplier applies; they do not compound. The daily cap still holds.
    CampaignMultiplier {
        /// Factor, above 1 and at most 10; points are rounded to the nearest whole point.
        #[schema(exclusive_minimum = 1, maximum = 10)]
        multiplier: f64,
        /// The rules whose awards it multiplies.
        #[schema(min_items = 1, max_items = 50)]
        rule_ids: Vec<uuid::Uuid>,
    },
}

impl RuleKind {
    /// Reads a stored rule: its kind column and its params object. `None` for a kind this version
    /// does not know or params that do not fit it.
    pub fn from_stored(kind: &str, params: &Value) -> Option<Self> {
        let mut obj = params.as_object()?.clone();
        obj.insert("kind".to_owned(), Value::from(kind));
        serde_json::from_value(Value::Object(obj)).ok()
    }
}

/// An active rule, ready to evaluate.
#[derive(Debug, Clone)]
pub struct Rule {
    /// Its id: the ledger entries it pays name it, and its award keys start with it.
    pub id: RuleId,
    /// The programme it pays in (fixed for the rule's life: awards are unique per programme).
    pub programme_id: String,
    /// Title shown on ledger entries.
    pub title: String,
    /// What it pays for.
    pub kind: RuleKind,
    /// First local day it pays for; also where its streak periods start.
    pub active_from: Option<NaiveDate>,
    /// Last local day it pays for.
    pub active_to: Option<NaiveDate>,
    /// Youngest age it applies to (age on the measurement's day).
    pub min_age: Option<i32>,
    /// Oldest age it applies to (age on the measurement's day).
    pub max_age: Option<i32>,
    /// Only device- or kiosk-measured data counts.
    pub sensed_only: bool,
    /// When the rule was created: it never pays for days before it existed.
    pub created_at: Ts,
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

/// Checks a rule's own fields; every problem is reported with the field it concerns.
pub fn validate(kind: &RuleKind) -> Vec<FieldError> {
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
pub fn check_age_range(min: Option<i32>, max: Option<i32>, errors: &mut Vec<FieldError>) {
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
pub fn validate_rule(rule: &Rule, programmes: &[String], in_force: &[Rule]) -> Vec<FieldError> {
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

/// Rules for the unit tests of this module and of the evaluation beside it.
#[cfg(test)]
pub(super) mod fixtures {
    use chrono::NaiveDate;

    use super::{Rule, RuleKind, Tier};
    use crate::db::{RuleId, Ts};

    /// A day written `YYYY-MM-DD`.
    pub fn day(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    /// A rule of `kind` in `osaka` with the nil id, in force for everyone since 1970.
    pub fn rule(kind: RuleKind) -> Rule {
        Rule {
            id: RuleId(uuid::Uuid::nil()),
            programme_id: "osaka".into(),
            title: "t".into(),
            kind,
            active_from: None,
            active_to: None,
            min_age: None,
            max_age: None,
            sensed_only: false,
            created_at: Ts(chrono::DateTime::UNIX_EPOCH),
        }
    }

    /// Step tiers at 2000, 4000, … 10000 steps, a point each.
    pub fn tiers() -> RuleKind {
        RuleKind::DailySteps {
            tiers: [2000, 4000, 6000, 8000, 10000]
                .into_iter()
                .map(|min_steps| Tier { min_steps, points: 1 })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::fixtures::{rule, tiers};
    use super::*;

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
    fn a_programme_goal_needs_points_and_counts_every_modality() {
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
        other.id = RuleId(uuid::Uuid::from_u128(9));
        other.programme_id = "kobe".into();
        let mut c = rule(RuleKind::CampaignMultiplier {
            multiplier: 1.0,
            rule_ids: vec![uuid::Uuid::nil(), uuid::Uuid::from_u128(9), uuid::Uuid::from_u128(10)],
        });
        c.id = RuleId(uuid::Uuid::from_u128(11));
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
