//! Goal definitions: the kinds of goal, why one is chosen, and the choice of 3–5 goals for a week
//! from what is known of the resident.

use super::steps::{StepGoal, StepGoalReason};
use crate::insights::classify::{Classification, classify};
use crate::insights::reference::{ADULT_MIN_SLEEP_MINUTES, Level, Metric, PROGRAMME, STEP_GOAL, applies};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A kind of health checkup (the catalogue's `health_checkup.kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CheckupKind {
    /// 特定健康診査, yearly from 40 to 74.
    SpecificHealthCheckup,
    /// Cancer screening.
    CancerScreening,
    /// Dental checkup.
    DentalCheckup,
}

impl CheckupKind {
    /// Its code in the catalogue.
    pub fn code(self) -> &'static str {
        match self {
            CheckupKind::SpecificHealthCheckup => "specific_health_checkup",
            CheckupKind::CancerScreening => "cancer_screening",
            CheckupKind::DentalCheckup => "dental_checkup",
        }
    }

    /// The kind a catalogue code names.
    pub fn from_code(code: &str) -> Option<CheckupKind> {
        [
            CheckupKind::SpecificHealthCheckup,
            CheckupKind::CancerScreening,
            CheckupKind::DentalCheckup,
        ]
        .into_iter()
        .find(|k| k.code() == code)
    }
}

/// What a goal asks for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum GoalKind {
    /// Walk at least `target_steps` on a day.
    DailySteps {
        /// Steps a day.
        target_steps: u32,
        /// How the target was set.
        adjustment: StepGoalReason,
    },
    /// Log blood pressure on a day.
    LogBloodPressure,
    /// Log body weight on a day.
    LogWeight,
    /// Sleep at least `min_minutes` in a night.
    SleepDuration {
        /// Minutes of sleep.
        min_minutes: f64,
    },
    /// Take (and record) a checkup this week.
    BookCheckup {
        /// Which checkup.
        checkup_kind: CheckupKind,
    },
}

impl GoalKind {
    /// Stable snake_case code (also its `kind` in JSON).
    pub fn code(&self) -> &'static str {
        match self {
            GoalKind::DailySteps { .. } => "daily_steps",
            GoalKind::LogBloodPressure => "log_blood_pressure",
            GoalKind::LogWeight => "log_weight",
            GoalKind::SleepDuration { .. } => "sleep_duration",
            GoalKind::BookCheckup { .. } => "book_checkup",
        }
    }
}

/// Why a goal was chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum GoalReason {
    /// Blood pressure in a hypertension category.
    BloodPressureHigh,
    /// Blood pressure high-normal or elevated.
    BloodPressureAboveNormal,
    /// Vascular age above chronological age: blood pressure is worth watching.
    VascularAgeOlder,
    /// No blood pressure logged recently.
    BloodPressureNotLoggedRecently,
    /// The specific health checkup is more than a year old.
    CheckupOverdue,
    /// No specific health checkup is recorded.
    CheckupNotRecorded,
    /// Walking speed below the reference speed.
    SlowWalkingSpeed,
    /// Daily steps below the recommendation for the resident's age.
    StepsBelowRecommendation,
    /// Keep up the daily activity.
    KeepActive,
    /// BMI above the normal range.
    BmiAboveNormal,
    /// BMI below the normal range.
    BmiBelowNormal,
    /// No weight logged recently.
    WeightNotLoggedRecently,
    /// Sleep shorter than the recommendation.
    SleepShort,
    /// A routine weekly weight check, so that the plan has enough goals.
    WeeklyWeightCheck,
    /// A routine weekly blood-pressure check, so that the plan has enough goals.
    WeeklyBloodPressureCheck,
}

/// One goal of the week.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Goal {
    /// What it asks for, per day (or once, for a checkup).
    #[serde(flatten)]
    pub kind: GoalKind,
    /// Why it was chosen.
    pub reason: GoalReason,
    /// On how many days of the week it must be done (1 for a checkup).
    pub target_days_per_week: u32,
}

/// What is known of the resident for choosing goals.
#[derive(Debug, Clone, PartialEq)]
pub struct GoalInputs {
    /// Age today, if known.
    pub age: Option<u32>,
    /// The resident's local today.
    pub today: NaiveDate,
    /// The latest classification of each area (blood pressure as a whole, BMI, walking speed,
    /// vascular age gap, daily steps, sleep); areas without data are absent.
    pub classifications: Vec<Classification>,
    /// Date of the last specific health checkup recorded.
    pub last_specific_checkup: Option<NaiveDate>,
    /// Local date blood pressure was last logged.
    pub last_blood_pressure: Option<NaiveDate>,
    /// Local date weight was last logged.
    pub last_weight: Option<NaiveDate>,
    /// The week's daily step goal ([`step_goal`]).
    pub step_goal: StepGoal,
}

/// The week's goals: 3 to 5, most pressing first (areas at [`Level::Action`], then
/// [`Level::Attention`], then the rest), at most one of each kind. The daily step goal is always
/// one of them; routine weekly weight and blood-pressure checks fill the plan up to 3.
pub fn choose_goals(input: &GoalInputs) -> Vec<Goal> {
    use GoalReason::*;
    let of = |metric: Metric| input.classifications.iter().find(|c| c.metric == metric);
    let level = |metric: Metric| of(metric).map_or(Level::Good, |c| c.level);
    let stale =
        |last: Option<NaiveDate>| last.is_none_or(|d| (input.today - d).num_days() > PROGRAMME.log_recent_within_days);
    let routine = PROGRAMME.routine_log_days;
    // (priority, kind, reason, days a week), in the order ties keep.
    let mut candidates: Vec<(Level, GoalKind, GoalReason, u32)> = Vec::new();

    let bp = match level(Metric::BloodPressure) {
        Level::Action => Some((Level::Action, BloodPressureHigh, PROGRAMME.bp_log_days_when_high)),
        Level::Attention => Some((
            Level::Attention,
            BloodPressureAboveNormal,
            PROGRAMME.bp_log_days_when_above_normal,
        )),
        Level::Good if level(Metric::VascularAgeGap) > Level::Good => {
            Some((Level::Attention, VascularAgeOlder, routine))
        }
        Level::Good if stale(input.last_blood_pressure) => Some((Level::Good, BloodPressureNotLoggedRecently, routine)),
        Level::Good => None,
    };
    candidates.extend(bp.map(|(l, r, d)| (l, GoalKind::LogBloodPressure, r, d)));

    if applies(Metric::CheckupAgeDays, input.age) {
        let checkup = match input.last_specific_checkup {
            None => Some((Level::Attention, CheckupNotRecorded)),
            Some(d) => classify(Metric::CheckupAgeDays, (input.today - d).num_days() as f64, input.age)
                .filter(|c| c.level > Level::Good)
                .map(|c| (c.level, CheckupOverdue)),
        };
        candidates.extend(checkup.map(|(l, r)| {
            let kind = GoalKind::BookCheckup {
                checkup_kind: CheckupKind::SpecificHealthCheckup,
            };
            (l, kind, r, PROGRAMME.checkup_times_per_week)
        }));
    }

    let (steps, gait) = (level(Metric::DailySteps), level(Metric::WalkingSpeed));
    let reason = if gait > Level::Good {
        SlowWalkingSpeed
    } else if steps > Level::Good {
        StepsBelowRecommendation
    } else {
        KeepActive
    };
    let kind = GoalKind::DailySteps {
        target_steps: input.step_goal.target,
        adjustment: input.step_goal.reason,
    };
    candidates.push((steps.max(gait), kind, reason, STEP_GOAL.raise_when_days_met_at_least));

    let weight = match of(Metric::Bmi) {
        Some(c) if c.level > Level::Good => {
            let reason = if c.category == "underweight" {
                BmiBelowNormal
            } else {
                BmiAboveNormal
            };
            Some((c.level, reason, PROGRAMME.weight_log_days_when_outside_normal))
        }
        _ if stale(input.last_weight) => Some((Level::Good, WeightNotLoggedRecently, routine)),
        _ => None,
    };
    candidates.extend(weight.map(|(l, r, d)| (l, GoalKind::LogWeight, r, d)));

    let sleep = level(Metric::SleepDuration);
    if sleep > Level::Good {
        let kind = GoalKind::SleepDuration {
            min_minutes: ADULT_MIN_SLEEP_MINUTES,
        };
        candidates.push((sleep, kind, SleepShort, PROGRAMME.sleep_days));
    }

    // Most pressing first (a stable sort keeps the order above among equals), then routine checks
    // while the plan is short.
    candidates.sort_by_key(|c| std::cmp::Reverse(c.0));
    let fallbacks = [
        (GoalKind::LogWeight, WeeklyWeightCheck, routine),
        (GoalKind::LogBloodPressure, WeeklyBloodPressureCheck, routine),
    ];
    let mut goals: Vec<Goal> = Vec::new();
    let chosen = candidates
        .into_iter()
        .map(|(_, k, r, d)| (k, r, d, PROGRAMME.max_goals));
    for (kind, reason, days, up_to) in chosen.chain(fallbacks.map(|(k, r, d)| (k, r, d, PROGRAMME.min_goals))) {
        if goals.len() < up_to && goals.iter().all(|g| g.kind.code() != kind.code()) {
            goals.push(Goal {
                kind,
                reason,
                target_days_per_week: days,
            });
        }
    }
    goals
}
