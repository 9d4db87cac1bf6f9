//! The one table of reference data behind insights and the weekly programme: every threshold,
//! every band, every number the classification, trend and goal logic use, each with its source,
//! so that a clinician can review all of it in this one file.
//!
//! Bands are half-open: `lower` is inclusive, `upper` exclusive, and `None` is unbounded. A band
//! with an age range applies only within it (both ends inclusive); a resident of unknown age is
//! matched against the bands that have no minimum age.
//!
//! Nothing here is a diagnosis: the published categories are used to give a plain-language
//! orientation and to choose goals.

use serde::Serialize;

use Level::{Action, Attention, Good};
use Metric::*;

/// A published reference (or a documented project convention) that thresholds cite.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Reference {
    /// Stable identifier, cited by [`Threshold::reference`] and the other tables.
    pub id: &'static str,
    /// Full name, as one would cite it.
    pub name: &'static str,
    /// Where to read it (a DOI link), when there is a stable one.
    pub url: Option<&'static str>,
    /// How the service uses it, and its limits.
    pub note: &'static str,
}

/// Every reference the tables cite.
pub static REFERENCES: &[Reference] = &[
    Reference {
        id: "jsh2019",
        name: "日本高血圧学会 高血圧治療ガイドライン2019 (JSH2019). Umemura S, et al. The Japanese Society of \
               Hypertension Guidelines for the Management of Hypertension (JSH 2019). Hypertens Res. \
               2019;42(9):1235-1481.",
        url: Some("https://doi.org/10.1038/s41440-019-0284-9"),
        note: "Office (clinic) blood-pressure categories for adults. The category is the higher of the systolic \
               and the diastolic category (\"and/or\"); high-normal needs both systolic 120-129 and diastolic \
               below 80. JSH2019 sets home-measured thresholds 5 mmHg lower (home hypertension from 135/85); \
               the service applies the office categories to every reading, whatever its setting.",
    },
    Reference {
        id: "jasso2022",
        name: "日本肥満学会 肥満症診療ガイドライン2022 (Japan Society for the Study of Obesity, Guidelines for the \
               Management of Obesity Disease 2022): 肥満度分類 (obesity classification by BMI).",
        url: None,
        note: "BMI in kg/m². Obesity by BMI (25 and over) is not the same as obesity disease (肥満症), which \
               needs health problems caused by the excess fat; the service names the BMI category only.",
    },
    Reference {
        id: "awgs2019",
        name: "Chen LK, et al. Asian Working Group for Sarcopenia: 2019 Consensus Update on Sarcopenia Diagnosis \
               and Treatment. J Am Med Dir Assoc. 2020;21(3):300-307.e2.",
        url: Some("https://doi.org/10.1016/j.jamda.2019.12.012"),
        note: "Usual gait speed below 1.0 m/s (6-metre walk) is low physical performance, one criterion of \
               sarcopenia in older people; it is not a diagnosis on its own. The service applies the cut-off \
               to the kiosk's gait analysis at every age.",
    },
    Reference {
        id: "mhlw_activity_2023",
        name: "厚生労働省 健康づくりのための身体活動・運動ガイド2023 (Ministry of Health, Labour and Welfare, Japan: \
               Physical Activity and Exercise Guide for Health Promotion 2023).",
        url: None,
        note: "Adults: walking or equivalent activity of 60 minutes or more a day, about 8,000 steps or more; \
               older adults (65 and over): 40 minutes or more a day, about 6,000 steps or more. The service \
               applies the adult figure to every resident under 65 (and of unknown age).",
    },
    Reference {
        id: "mhlw_sleep_2023",
        name: "厚生労働省 健康づくりのための睡眠ガイド2023 (Ministry of Health, Labour and Welfare, Japan: Sleep \
               Guide for Health Promotion 2023).",
        url: None,
        note: "Adults: secure at least 6 hours of sleep as a guide. The guide sets longer durations for children \
               and, for older adults, advises against more than 8 hours in bed; the service uses the adult \
               minimum only.",
    },
    Reference {
        id: "specific_health_checkup",
        name: "高齢者の医療の確保に関する法律 (Act on Assuring Medical Care for Elderly People): 特定健康診査 \
               (specific health checkup), offered yearly by the medical insurers to insured people aged 40 to 74.",
        url: None,
        note: "The checkup is offered once per fiscal year; the service calls a checkup overdue when the last \
               one recorded is more than 365 days old.",
    },
    Reference {
        id: "karada_vascular_age_gap",
        name: "Karada project convention: bands of the vascular age gap (estimated vascular age minus \
               chronological age, in years).",
        url: None,
        note: "Not a guideline cut-off: no published guideline bands the vascular-age estimates of \
               measurement devices. The bands (under 1 year older, 1 to under 10 years older, 10 years or \
               more older) are the project's convention over the device's estimate, for orientation only.",
    },
    Reference {
        id: "karada_trend",
        name: "Karada project convention: trend detection over the last 90 days.",
        url: None,
        note: "Ordinary least-squares slope over weekly means. The smallest meaningful changes are the \
               project's convention, chosen to be larger than ordinary day-to-day variation of the measurement; \
               they are not from a guideline.",
    },
    Reference {
        id: "karada_programme",
        name: "Karada project convention: the weekly programme (adaptive daily step goal, logging goals), \
               informed by 厚生労働省 健康づくりのための身体活動・運動ガイド2023.",
        url: None,
        note: "Start, step sizes and safe bounds of the step goal, and the days per week of each goal, are the \
               programme's convention: goals grow gradually towards the guide's 8,000 steps (6,000 from 65), \
               with lower targets and smaller steps from 65.",
    },
];

/// The reference with this id.
pub fn reference(id: &str) -> Option<&'static Reference> {
    REFERENCES.iter().find(|r| r.id == id)
}

/// What a band or rule is about. Units are the catalogue's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    /// Systolic blood pressure, mm[Hg].
    SystolicBp,
    /// Diastolic blood pressure, mm[Hg].
    DiastolicBp,
    /// Blood pressure as a whole: the category of a systolic and diastolic pair (see
    /// [`classify_blood_pressure`](super::classify::classify_blood_pressure)); no bands of its own.
    BloodPressure,
    /// Body mass index, kg/m².
    Bmi,
    /// Body weight, kg (trend only).
    BodyWeight,
    /// Body fat, % (trend only).
    BodyFatPct,
    /// Usual walking speed, m/s.
    WalkingSpeed,
    /// Vascular age minus chronological age, years.
    VascularAgeGap,
    /// Steps in a local day.
    DailySteps,
    /// Sleep in a night, minutes.
    SleepDuration,
    /// Days since the last specific health checkup.
    CheckupAgeDays,
}

/// How much attention a category calls for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    /// Within the reference's recommended or normal range.
    Good,
    /// Worth attention: a habit to change or a measurement to repeat.
    Attention,
    /// Worth talking to a doctor about.
    Action,
}

/// One band of one metric.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Threshold {
    /// What is classified.
    pub metric: Metric,
    /// Stable snake_case category code.
    pub category: &'static str,
    /// Inclusive lower bound; `None` is unbounded.
    pub lower: Option<f64>,
    /// Exclusive upper bound; `None` is unbounded.
    pub upper: Option<f64>,
    /// Youngest age the band applies to (inclusive).
    pub min_age: Option<u32>,
    /// Oldest age the band applies to (inclusive).
    pub max_age: Option<u32>,
    /// How much attention the category calls for.
    pub level: Level,
    /// Id of the [`Reference`] it comes from.
    pub reference: &'static str,
}

impl Threshold {
    /// Whether the band holds `value` (ignoring age).
    pub fn contains(&self, value: f64) -> bool {
        self.lower.is_none_or(|l| value >= l) && self.upper.is_none_or(|u| value < u)
    }

    /// Whether the band applies at `age`. A band with a minimum age never applies to an unknown age.
    pub fn applies_at(&self, age: Option<u32>) -> bool {
        in_age_range(self.min_age, self.max_age, age)
    }
}

/// Whether `age` is within `min_age..=max_age`; an unknown age is only within ranges without a
/// minimum.
fn in_age_range(min_age: Option<u32>, max_age: Option<u32>, age: Option<u32>) -> bool {
    match age {
        Some(a) => min_age.is_none_or(|m| a >= m) && max_age.is_none_or(|m| a <= m),
        None => min_age.is_none(),
    }
}

/// An age range, both ends inclusive.
type Ages = (Option<u32>, Option<u32>);

const fn band(
    metric: Metric,
    category: &'static str,
    lower: Option<f64>,
    upper: Option<f64>,
    (min_age, max_age): Ages,
    level: Level,
    reference: &'static str,
) -> Threshold {
    Threshold {
        metric,
        category,
        lower,
        upper,
        min_age,
        max_age,
        level,
        reference,
    }
}

/// Age from which the older-adult figures apply (MHLW 2023 activity guide: 高齢者, 65 and over).
pub const OLDER_ADULT_AGE: u32 = 65;
/// Youngest age offered the specific health checkup.
pub const CHECKUP_MIN_AGE: u32 = 40;
/// Oldest age offered the specific health checkup.
pub const CHECKUP_MAX_AGE: u32 = 74;

const ALL: Ages = (None, None);
const UNDER_65: Ages = (None, Some(OLDER_ADULT_AGE - 1));
const FROM_65: Ages = (Some(OLDER_ADULT_AGE), None);
const CHECKUP_AGES: Ages = (Some(CHECKUP_MIN_AGE), Some(CHECKUP_MAX_AGE));

/// Adult daily steps recommended by the MHLW 2023 activity guide.
pub const ADULT_DAILY_STEPS: f64 = 8_000.0;
/// Older-adult (65+) daily steps recommended by the MHLW 2023 activity guide.
pub const OLDER_ADULT_DAILY_STEPS: f64 = 6_000.0;
/// Adult minimum sleep, in minutes, of the MHLW 2023 sleep guide (6 hours).
pub const ADULT_MIN_SLEEP_MINUTES: f64 = 360.0;
/// A specific health checkup this many days old or older is overdue: more than 365 days.
const CHECKUP_OVERDUE_FROM_DAY: f64 = 366.0;

/// Every band, by metric, in ascending order of value. Within a metric (and an age) the bands
/// cover the whole line without gaps or overlaps; for blood pressure, their order is also the
/// order of severity.
#[rustfmt::skip]
pub static THRESHOLDS: &[Threshold] = &[
    // JSH2019 office blood pressure, systolic (mm[Hg]).
    band(SystolicBp, "normal",               None,        Some(120.0), ALL, Good,      "jsh2019"),
    band(SystolicBp, "high_normal",          Some(120.0), Some(130.0), ALL, Attention, "jsh2019"),
    band(SystolicBp, "elevated",             Some(130.0), Some(140.0), ALL, Attention, "jsh2019"),
    band(SystolicBp, "grade_1_hypertension", Some(140.0), Some(160.0), ALL, Action,    "jsh2019"),
    band(SystolicBp, "grade_2_hypertension", Some(160.0), Some(180.0), ALL, Action,    "jsh2019"),
    band(SystolicBp, "grade_3_hypertension", Some(180.0), None,        ALL, Action,    "jsh2019"),
    // JSH2019 office blood pressure, diastolic (mm[Hg]): no high-normal band, as high-normal
    // needs a diastolic pressure below 80.
    band(DiastolicBp, "normal",               None,        Some(80.0),  ALL, Good,      "jsh2019"),
    band(DiastolicBp, "elevated",             Some(80.0),  Some(90.0),  ALL, Attention, "jsh2019"),
    band(DiastolicBp, "grade_1_hypertension", Some(90.0),  Some(100.0), ALL, Action,    "jsh2019"),
    band(DiastolicBp, "grade_2_hypertension", Some(100.0), Some(110.0), ALL, Action,    "jsh2019"),
    band(DiastolicBp, "grade_3_hypertension", Some(110.0), None,        ALL, Action,    "jsh2019"),
    // JASSO BMI (kg/m²).
    band(Bmi, "underweight",     None,       Some(18.5), ALL, Attention, "jasso2022"),
    band(Bmi, "normal",          Some(18.5), Some(25.0), ALL, Good,      "jasso2022"),
    band(Bmi, "obesity_class_1", Some(25.0), Some(30.0), ALL, Attention, "jasso2022"),
    band(Bmi, "obesity_class_2", Some(30.0), Some(35.0), ALL, Action,    "jasso2022"),
    band(Bmi, "obesity_class_3", Some(35.0), Some(40.0), ALL, Action,    "jasso2022"),
    band(Bmi, "obesity_class_4", Some(40.0), None,       ALL, Action,    "jasso2022"),
    // AWGS 2019 usual gait speed (m/s).
    band(WalkingSpeed, "slow",   None,      Some(1.0), ALL, Attention, "awgs2019"),
    band(WalkingSpeed, "normal", Some(1.0), None,      ALL, Good,      "awgs2019"),
    // Vascular age gap (years): the project's convention, not a guideline.
    band(VascularAgeGap, "younger_or_same", None,       Some(1.0),  ALL, Good,      "karada_vascular_age_gap"),
    band(VascularAgeGap, "older",           Some(1.0),  Some(10.0), ALL, Attention, "karada_vascular_age_gap"),
    band(VascularAgeGap, "much_older",      Some(10.0), None,       ALL, Attention, "karada_vascular_age_gap"),
    // MHLW 2023 daily steps: adults (and unknown age) under 65, older adults from 65.
    band(DailySteps, "below_recommendation", None,                          Some(ADULT_DAILY_STEPS),       UNDER_65,
         Attention, "mhlw_activity_2023"),
    band(DailySteps, "meets_recommendation", Some(ADULT_DAILY_STEPS),       None,                          UNDER_65,
         Good,      "mhlw_activity_2023"),
    band(DailySteps, "below_recommendation", None,                          Some(OLDER_ADULT_DAILY_STEPS), FROM_65,
         Attention, "mhlw_activity_2023"),
    band(DailySteps, "meets_recommendation", Some(OLDER_ADULT_DAILY_STEPS), None,                          FROM_65,
         Good,      "mhlw_activity_2023"),
    // MHLW 2023 sleep (minutes a night).
    band(SleepDuration, "short",                None,                          Some(ADULT_MIN_SLEEP_MINUTES), ALL,
         Attention, "mhlw_sleep_2023"),
    band(SleepDuration, "meets_recommendation", Some(ADULT_MIN_SLEEP_MINUTES), None,                          ALL,
         Good,      "mhlw_sleep_2023"),
    // Specific health checkup, ages 40-74 (days since the last one).
    band(CheckupAgeDays, "up_to_date", None,                           Some(CHECKUP_OVERDUE_FROM_DAY), CHECKUP_AGES,
         Good,      "specific_health_checkup"),
    band(CheckupAgeDays, "overdue",    Some(CHECKUP_OVERDUE_FROM_DAY), None,                           CHECKUP_AGES,
         Attention, "specific_health_checkup"),
];

/// Whether any band of `metric` applies at `age` (e.g. the checkup only from 40 to 74).
pub fn applies(metric: Metric, age: Option<u32>) -> bool {
    THRESHOLDS.iter().any(|t| t.metric == metric && t.applies_at(age))
}

/// The smallest change of a metric over 90 days that a trend reports as rising or falling.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MeaningfulChange {
    /// The metric.
    pub metric: Metric,
    /// Smallest meaningful change over the trend window, in the metric's unit.
    pub amount: f64,
    /// Id of the [`Reference`].
    pub reference: &'static str,
}

const fn change(metric: Metric, amount: f64) -> MeaningfulChange {
    MeaningfulChange {
        metric,
        amount,
        reference: "karada_trend",
    }
}

/// Smallest meaningful 90-day change per metric (project convention).
pub static MEANINGFUL_CHANGES: &[MeaningfulChange] = &[
    change(SystolicBp, 5.0),
    change(DiastolicBp, 3.0),
    change(Bmi, 1.0),
    change(BodyWeight, 1.0),
    change(BodyFatPct, 1.0),
    change(WalkingSpeed, 0.05),
    change(VascularAgeGap, 2.0),
    change(DailySteps, 500.0),
    change(SleepDuration, 15.0),
];

/// The smallest meaningful 90-day change of `metric`, if it has a trend.
pub fn meaningful_change(metric: Metric) -> Option<f64> {
    MEANINGFUL_CHANGES.iter().find(|c| c.metric == metric).map(|c| c.amount)
}

/// The rules of trend detection.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TrendRules {
    /// Days looked back from today (the window the meaningful changes are measured over).
    pub window_days: i64,
    /// Fewer buckets than this is too little data.
    pub min_buckets: usize,
    /// Buckets spanning fewer days than this (first to last) are too little data.
    pub min_span_days: i64,
    /// The period a rate of change is given per.
    pub rate_days: i64,
    /// Id of the [`Reference`].
    pub reference: &'static str,
}

/// Trend detection rules (project convention).
pub static TREND: TrendRules = TrendRules {
    window_days: 90,
    min_buckets: 3,
    min_span_days: 21,
    rate_days: 30,
    reference: "karada_trend",
};

/// The bounds and step sizes of the daily step goal for an age range.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StepGoalBounds {
    /// Youngest age (inclusive); `None` also covers an unknown age.
    pub min_age: Option<u32>,
    /// Oldest age (inclusive).
    pub max_age: Option<u32>,
    /// Lowest goal.
    pub minimum: u32,
    /// Highest goal (the safe maximum).
    pub maximum: u32,
    /// Raise after a successful week.
    pub raise_by: u32,
    /// Lower after a missed week.
    pub lower_by: u32,
    /// Goal when nothing is known of the resident's steps.
    pub default: u32,
    /// Id of the [`Reference`].
    pub reference: &'static str,
}

/// Step goal bounds: under 65 (and unknown age), and from 65 (programme convention).
pub static STEP_GOAL_BOUNDS: &[StepGoalBounds] = &[
    StepGoalBounds {
        min_age: None,
        max_age: Some(OLDER_ADULT_AGE - 1),
        minimum: 2_000,
        maximum: 12_000,
        raise_by: 1_000,
        lower_by: 1_000,
        default: 6_000,
        reference: "karada_programme",
    },
    StepGoalBounds {
        min_age: Some(OLDER_ADULT_AGE),
        max_age: None,
        minimum: 2_000,
        maximum: 8_000,
        raise_by: 500,
        lower_by: 500,
        default: 4_000,
        reference: "karada_programme",
    },
];

/// The step goal bounds that apply at `age` (an unknown age gets the under-65 bounds).
pub fn step_goal_bounds(age: Option<u32>) -> &'static StepGoalBounds {
    STEP_GOAL_BOUNDS
        .iter()
        .find(|b| in_age_range(b.min_age, b.max_age, age))
        .unwrap_or(&STEP_GOAL_BOUNDS[0])
}

/// The rules of the adaptive step goal that do not depend on age.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StepGoalRules {
    /// A first goal is the recent daily mean plus this percentage…
    pub start_above_mean_pct: u32,
    /// …rounded to the nearest multiple of this.
    pub round_to: u32,
    /// A week met on at least this many days raises the goal (and meets the weekly goal).
    pub raise_when_days_met_at_least: u32,
    /// A week met on at most this many days lowers the goal.
    pub lower_when_days_met_at_most: u32,
    /// A week with fewer days of data than this holds the goal: too little to judge.
    pub min_days_with_data: u32,
    /// Id of the [`Reference`].
    pub reference: &'static str,
}

/// Step goal rules (programme convention).
pub static STEP_GOAL: StepGoalRules = StepGoalRules {
    start_above_mean_pct: 10,
    round_to: 500,
    raise_when_days_met_at_least: 5,
    lower_when_days_met_at_most: 2,
    min_days_with_data: 3,
    reference: "karada_programme",
};

/// The numbers of the weekly programme's other goals.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProgrammeRules {
    /// Fewest goals in a week's plan.
    pub min_goals: usize,
    /// Most goals in a week's plan.
    pub max_goals: usize,
    /// Days a week to log blood pressure when it is in a hypertension category.
    pub bp_log_days_when_high: u32,
    /// Days a week to log blood pressure when it is above normal but below hypertension.
    pub bp_log_days_when_above_normal: u32,
    /// Days a week to log weight when BMI is outside the normal range.
    pub weight_log_days_when_outside_normal: u32,
    /// Days a week for a routine check (a weekly weight or blood-pressure log).
    pub routine_log_days: u32,
    /// A log older than this many days (or none) is not recent.
    pub log_recent_within_days: i64,
    /// Days a week to sleep at least the guide's minimum.
    pub sleep_days: u32,
    /// Checkups to record in the week for a checkup goal.
    pub checkup_times_per_week: u32,
    /// Id of the [`Reference`].
    pub reference: &'static str,
}

/// Weekly programme rules (programme convention).
pub static PROGRAMME: ProgrammeRules = ProgrammeRules {
    min_goals: 3,
    max_goals: 5,
    bp_log_days_when_high: 5,
    bp_log_days_when_above_normal: 3,
    weight_log_days_when_outside_normal: 3,
    routine_log_days: 1,
    log_recent_within_days: 30,
    sleep_days: 5,
    checkup_times_per_week: 1,
    reference: "karada_programme",
};

#[cfg(test)]
mod tests {
    use super::*;

    const ALL_METRICS: [Metric; 11] = [
        SystolicBp,
        DiastolicBp,
        BloodPressure,
        Bmi,
        BodyWeight,
        BodyFatPct,
        WalkingSpeed,
        VascularAgeGap,
        DailySteps,
        SleepDuration,
        CheckupAgeDays,
    ];

    #[test]
    fn every_cited_reference_exists_and_ids_are_unique() {
        let cited = THRESHOLDS
            .iter()
            .map(|t| t.reference)
            .chain(MEANINGFUL_CHANGES.iter().map(|c| c.reference))
            .chain(STEP_GOAL_BOUNDS.iter().map(|b| b.reference))
            .chain([TREND.reference, STEP_GOAL.reference, PROGRAMME.reference]);
        for id in cited {
            assert!(reference(id).is_some(), "{id}");
        }
        let mut ids: Vec<_> = REFERENCES.iter().map(|r| r.id).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), REFERENCES.len());
        for r in REFERENCES {
            assert!(!r.name.is_empty() && !r.note.is_empty(), "{}", r.id);
            assert!(r.url.is_none_or(|u| u.starts_with("https://")), "{}", r.id);
        }
    }

    #[test]
    fn each_metric_covers_the_whole_line_without_gaps_or_overlaps_at_every_age() {
        let ages = std::iter::once(None).chain((0..=130).map(Some));
        for age in ages {
            for metric in ALL_METRICS {
                let bands: Vec<_> = THRESHOLDS
                    .iter()
                    .filter(|t| t.metric == metric && t.applies_at(age))
                    .collect();
                let Some((first, last)) = bands.first().zip(bands.last()) else {
                    continue;
                };
                assert_eq!(first.lower, None, "{metric:?} at {age:?}");
                assert_eq!(last.upper, None, "{metric:?} at {age:?}");
                for pair in bands.windows(2) {
                    assert!(pair[0].upper.is_some(), "{metric:?} at {age:?}");
                    assert_eq!(pair[0].upper, pair[1].lower, "{metric:?} {}", pair[0].category);
                }
                for b in &bands {
                    if let (Some(l), Some(u)) = (b.lower, b.upper) {
                        assert!(l < u, "{metric:?} {}", b.category);
                    }
                }
                let mut codes: Vec<_> = bands.iter().map(|b| b.category).collect();
                codes.sort_unstable();
                codes.dedup();
                assert_eq!(codes.len(), bands.len(), "{metric:?} repeats a category at {age:?}");
            }
        }
    }

    #[test]
    fn categories_are_snake_case_and_age_ranges_ordered() {
        for t in THRESHOLDS {
            assert!(
                t.category
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
                "{}",
                t.category
            );
            if let (Some(lo), Some(hi)) = (t.min_age, t.max_age) {
                assert!(lo <= hi);
            }
        }
    }

    #[test]
    fn the_published_figures_are_where_the_guides_put_them() {
        let at = |m: Metric, v: f64, age: Option<u32>| {
            THRESHOLDS
                .iter()
                .find(|t| t.metric == m && t.applies_at(age) && t.contains(v))
                .map(|t| t.category)
        };
        assert_eq!(at(DailySteps, 7_999.0, Some(64)), Some("below_recommendation"));
        assert_eq!(at(DailySteps, 6_000.0, Some(65)), Some("meets_recommendation"));
        assert_eq!(at(CheckupAgeDays, 365.0, Some(40)), Some("up_to_date"));
        assert_eq!(at(CheckupAgeDays, 366.0, Some(74)), Some("overdue"));
        assert_eq!(at(CheckupAgeDays, 366.0, Some(75)), None);
        assert_eq!(at(CheckupAgeDays, 366.0, None), None);
        assert!(applies(CheckupAgeDays, Some(40)) && !applies(CheckupAgeDays, Some(39)));
        assert!(!applies(BloodPressure, None));
    }

    #[test]
    fn step_goal_bounds_cover_every_age_once() {
        for age in std::iter::once(None).chain((0..=130).map(Some)) {
            let matching = STEP_GOAL_BOUNDS
                .iter()
                .filter(|b| in_age_range(b.min_age, b.max_age, age))
                .count();
            assert_eq!(matching, 1, "{age:?}");
        }
        for b in STEP_GOAL_BOUNDS {
            assert!(b.minimum <= b.default && b.default <= b.maximum);
            assert!(b.minimum % STEP_GOAL.round_to == 0 && b.maximum % STEP_GOAL.round_to == 0);
        }
        assert!(step_goal_bounds(Some(65)).maximum < step_goal_bounds(Some(64)).maximum);
        assert!(step_goal_bounds(Some(65)).raise_by < step_goal_bounds(None).raise_by);
        assert_eq!(step_goal_bounds(None), step_goal_bounds(Some(30)));
    }
}
