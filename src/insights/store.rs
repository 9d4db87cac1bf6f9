//! What insights read from the database, and the insight of each area computed from it.
//!
//! Every read names the resident. For an organisation's health staff the caller (the sharing
//! domain, in the same transaction) first reads the member's individual consents in force and
//! passes the types they cover with the first day each is shared from; a type not passed is never
//! read, and no read reaches before its day. A request is thereby judged by the consents in force
//! when it began, as any request in flight at a revocation would be.

use std::collections::{BTreeMap, HashMap};

use chrono::{Duration, NaiveDate};
use diesel::prelude::*;
use serde::Serialize;
use utoipa::ToSchema;

use super::classify::{Classification, bmi, classify, classify_blood_pressure};
use super::reference::{Metric, TREND};
use super::trend::{Trend, trend};
use crate::calendar::{age_on, week_start};
use crate::db::schema::measurements;
use crate::db::{DbConn, MultiBackend, UserId};
use crate::measurements::{Measurement, Period, catalogue, checkup_of, summary};

/// Days of steps and sleep whose daily mean is classified (and starts the step goal).
pub const RECENT_DAYS: i64 = 28;

/// An area of insight, and the measurement types it draws on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Area {
    /// Vascular age.
    Vascular,
    /// Blood pressure.
    BloodPressure,
    /// Body weight, height (BMI) and composition.
    BodyComposition,
    /// Gait and mobility.
    Gait,
    /// Daily steps.
    Activity,
    /// Sleep.
    Sleep,
    /// Health checkups.
    Checkups,
}

impl Area {
    /// Every area, in the order responses list them.
    pub const ALL: [Area; 7] = [
        Area::Vascular,
        Area::BloodPressure,
        Area::BodyComposition,
        Area::Gait,
        Area::Activity,
        Area::Sleep,
        Area::Checkups,
    ];

    /// The measurement types the area draws on.
    pub fn types(self) -> &'static [&'static str] {
        match self {
            Area::Vascular => &["vascular_age"],
            Area::BloodPressure => &["blood_pressure"],
            Area::BodyComposition => &["body_weight", "body_height", "body_composition"],
            Area::Gait => &["gait"],
            Area::Activity => &["steps"],
            Area::Sleep => &["sleep"],
            Area::Checkups => &["health_checkup"],
        }
    }
}

/// Who is looking.
#[derive(Debug, Clone, Copy)]
pub enum Viewer<'a> {
    /// The resident, at their own data.
    Resident,
    /// An organisation's health staff, under the member's individual consents in force: each type
    /// they cover with the first local day it is shared from.
    Staff {
        /// (type, first day shared); the only types read.
        shared: &'a [(&'static str, NaiveDate)],
    },
}

impl Viewer<'_> {
    /// `None` when the viewer may not read `kind`; otherwise the first day they may read, if any.
    fn shared_from(self, kind: &str) -> Option<Option<NaiveDate>> {
        match self {
            Viewer::Resident => Some(None),
            Viewer::Staff { shared } => shared.iter().find(|(k, _)| *k == kind).map(|(_, d)| Some(*d)),
        }
    }
}

/// The resident insights are about.
#[derive(Debug, Clone, Copy)]
pub struct Subject {
    /// The resident.
    pub user_id: UserId,
    /// Their date of birth, when the viewer may use it (staff are not shown it).
    pub birth_date: Option<NaiveDate>,
    /// Their local today.
    pub today: NaiveDate,
}

impl Subject {
    /// Age today, when the birth date is known.
    pub fn age(&self) -> Option<u32> {
        self.birth_date.and_then(|b| age_on(b, self.today))
    }
}

/// One area's insight.
#[derive(Debug, Clone)]
pub struct AreaInsight {
    /// The area.
    pub area: Area,
    /// The newest measurement the area is about.
    pub latest: Measurement,
    /// The value that was classified: BMI, vascular age gap, the mean of recent days, days since
    /// the last specific health checkup.
    pub value: Option<(Metric, f64)>,
    /// The value's category against a published reference (none when the value is unknown).
    pub classification: Option<Classification>,
    /// The trend over the last 90 days and the metric it is of.
    pub trend: Option<(Metric, Trend)>,
    /// Measurements of each type the insight drew on (what an access log records).
    pub measurements_read: BTreeMap<&'static str, i64>,
}

/// The daily series of one field: (local day, the day's value).
type Daily = Vec<(NaiveDate, f64)>;

/// A weekly summary of one field: (week's first day, mean).
type Weekly = Vec<(NaiveDate, f64)>;

/// Everything the areas are computed from.
#[derive(Default)]
struct Gathered {
    latest: HashMap<&'static str, Measurement>,
    /// (type, field) → weekly (bucket start, mean).
    weekly: HashMap<(&'static str, &'static str), Weekly>,
    /// (type, field) → daily values (steps: the largest source's total; sleep: the day's sum).
    daily: HashMap<(&'static str, &'static str), Daily>,
    /// Specific health checkup dates, newest first.
    specific_checkups: Vec<NaiveDate>,
    read: BTreeMap<&'static str, i64>,
}

/// Every measurement type insights draw on.
pub fn insight_types() -> impl Iterator<Item = &'static str> {
    Area::ALL.iter().flat_map(|a| a.types().iter().copied())
}

/// The types insights draw on that the viewer may read: all for the resident; for staff, those
/// their consents cover.
pub fn readable_types(viewer: Viewer<'_>) -> Vec<&'static str> {
    insight_types().filter(|t| viewer.shared_from(t).is_some()).collect()
}

/// The resident's measurements of `kind` as the viewer may see them: for health staff, none of a
/// type their consents do not cover and none before the first day it is shared from.
fn readable<'a>(subject: UserId, kind: &'a str, viewer: Viewer<'_>) -> measurements::BoxedQuery<'a, MultiBackend> {
    let q = measurements::table
        .filter(measurements::user_id.eq(subject))
        .filter(measurements::kind.eq(kind))
        .into_boxed();
    match viewer.shared_from(kind) {
        Some(None) => q,
        Some(Some(first)) => q.filter(measurements::local_date.ge(first)),
        None => q.filter(diesel::dsl::sql::<diesel::sql_types::Bool>("1 = 0")),
    }
}

/// The newest measurement of `kind` the viewer may see.
fn latest_of(conn: &mut DbConn, subject: UserId, kind: &str, viewer: Viewer<'_>) -> QueryResult<Option<Measurement>> {
    readable(subject, kind, viewer)
        .select(Measurement::as_select())
        .order((measurements::effective_at.desc(), measurements::id.desc()))
        .first(conn)
        .optional()
}

/// The resident's health checkups the viewer may see (a resident has a few a year).
fn checkups(conn: &mut DbConn, subject: UserId, viewer: Viewer<'_>) -> QueryResult<Vec<Measurement>> {
    readable(subject, "health_checkup", viewer)
        .select(Measurement::as_select())
        .order((measurements::effective_at.desc(), measurements::id.desc()))
        .limit(500)
        .load(conn)
}

/// The resident's sleep per local day from `from` to `to` the viewer may see: each source's
/// periods of a day added up, the day being its largest source's sum; and how many measurements
/// that drew on. (A few a day: read and summed here rather than by source in the database.)
fn sleep_days(
    conn: &mut DbConn,
    subject: UserId,
    viewer: Viewer<'_>,
    from: NaiveDate,
    to: NaiveDate,
) -> QueryResult<(Daily, i64)> {
    let rows: Vec<(NaiveDate, String, crate::db::types::Json)> = readable(subject, "sleep", viewer)
        .filter(measurements::local_date.between(from, to))
        .select((measurements::local_date, measurements::source, measurements::fields))
        .load(conn)?;
    let n = i64::try_from(rows.len()).unwrap_or(i64::MAX);
    let mut by_source: BTreeMap<(NaiveDate, String), f64> = BTreeMap::new();
    for (day, source, fields) in rows {
        if let Some(m) = fields.0.get("duration_min").and_then(serde_json::Value::as_f64) {
            *by_source.entry((day, source)).or_default() += m;
        }
    }
    let mut days: BTreeMap<NaiveDate, f64> = BTreeMap::new();
    for ((day, _), minutes) in by_source {
        let d = days.entry(day).or_insert(minutes);
        *d = d.max(minutes);
    }
    Ok((days.into_iter().collect(), n))
}

/// The field each type's trend (and its weekly summary) is about; steps and sleep are taken per
/// day first.
fn trend_field(kind: &str) -> Option<(&'static str, Metric)> {
    Some(match kind {
        "vascular_age" => ("vascular_age_years", Metric::VascularAgeGap),
        "blood_pressure" => ("systolic_mmhg", Metric::SystolicBp),
        "body_weight" => ("kg", Metric::BodyWeight),
        "body_composition" => ("body_fat_pct", Metric::BodyFatPct),
        "gait" => ("walking_speed_m_s", Metric::WalkingSpeed),
        "steps" => ("count", Metric::DailySteps),
        "sleep" => ("duration_min", Metric::SleepDuration),
        _ => return None,
    })
}

fn gather(conn: &mut DbConn, subject: &Subject, viewer: Viewer<'_>, types: &[&'static str]) -> QueryResult<Gathered> {
    let mut g = Gathered::default();
    let to = subject.today;
    let from = to - Duration::days(TREND.window_days - 1);
    for &kind in types {
        if kind == "health_checkup" {
            let rows = checkups(conn, subject.user_id, viewer)?;
            if let Some(first) = rows.first() {
                g.latest.insert(kind, first.clone());
            }
            g.read.insert(kind, i64::try_from(rows.len()).unwrap_or(i64::MAX));
            let mut dates: Vec<NaiveDate> = rows
                .iter()
                .filter_map(|m| match checkup_of(m.fields.0.as_object()?) {
                    (Some("specific_health_checkup"), taken) => taken,
                    _ => None,
                })
                .collect();
            dates.sort_by(|a, b| b.cmp(a));
            g.specific_checkups = dates;
            continue;
        }
        let Some(latest) = latest_of(conn, subject.user_id, kind, viewer)? else {
            continue;
        };
        g.latest.insert(kind, latest);
        let mut read = 1;
        if let (Some((field, _)), Some(def)) = (trend_field(kind), catalogue::find(kind)) {
            if kind == "sleep" {
                // Two devices count the same night: per day, the largest source's sum of periods.
                let (days, n) = sleep_days(conn, subject.user_id, viewer, from, to)?;
                g.daily.insert((kind, field), days);
                g.read.insert(kind, n.max(1));
                continue;
            }
            let daily = kind == "steps";
            let period = if daily { Period::Day } else { Period::Week };
            // Staff read nothing before the first day the type is shared from.
            let first = viewer.shared_from(kind).flatten().map_or(from, |d| d.max(from));
            let rows = summary(conn, subject.user_id, def, period, first, to)?;
            read = rows
                .iter()
                .filter(|r| r.field.is_empty())
                .map(|r| r.n)
                .sum::<i64>()
                .max(1);
            let mine = rows.into_iter().filter(|r| r.field == field);
            if daily {
                // One daily total per source, so the day is its largest source's total (two
                // devices count the same walk).
                let days = mine.filter_map(|r| Some((r.bucket, r.max?))).collect();
                g.daily.insert((kind, field), days);
            } else {
                let weeks = mine.filter_map(|r| Some((r.bucket, r.mean?))).collect();
                g.weekly.insert((kind, field), weeks);
            }
        }
        g.read.insert(kind, read);
    }
    Ok(g)
}

/// Weekly means of a daily series, each dated by its week's Monday (or the window's first day,
/// for the partial first week).
fn weekly_means(daily: &Daily, window_start: NaiveDate) -> Vec<(NaiveDate, f64)> {
    let mut weeks: BTreeMap<NaiveDate, (f64, f64)> = BTreeMap::new();
    for (d, v) in daily {
        let w = weeks.entry(week_start(*d).max(window_start)).or_default();
        w.0 += v;
        w.1 += 1.0;
    }
    weeks.into_iter().map(|(d, (sum, n))| (d, sum / n)).collect()
}

/// The mean of the days of the last [`RECENT_DAYS`] that have a value.
fn recent_mean(daily: &Daily, today: NaiveDate) -> Option<f64> {
    let since = today - Duration::days(RECENT_DAYS - 1);
    let recent: Vec<f64> = daily.iter().filter(|(d, _)| *d >= since).map(|(_, v)| *v).collect();
    (!recent.is_empty()).then(|| recent.iter().sum::<f64>() / recent.len() as f64)
}

fn number(m: &Measurement, field: &str) -> Option<f64> {
    m.fields.0.get(field)?.as_f64()
}

impl Gathered {
    fn weekly_points(&self, kind: &'static str, field: &'static str, window_start: NaiveDate) -> Vec<(NaiveDate, f64)> {
        self.weekly
            .get(&(kind, field))
            .map(|w| w.iter().map(|(d, mean)| ((*d).max(window_start), *mean)).collect())
            .unwrap_or_default()
    }

    fn reads(&self, area: Area) -> BTreeMap<&'static str, i64> {
        area.types()
            .iter()
            .filter_map(|t| self.read.get(t).map(|n| (*t, *n)))
            .collect()
    }
}

/// Each area the viewer may see and the resident has data in, computed from the database's
/// summaries of the last 90 days.
pub fn insights(conn: &mut DbConn, subject: &Subject, viewer: Viewer<'_>) -> QueryResult<Vec<AreaInsight>> {
    let types = readable_types(viewer);
    insights_of(conn, subject, viewer, &types)
}

/// [`insights`] from `types` only, which the caller has found the viewer may read (every read
/// still carries the viewer's consent condition).
pub fn insights_of(
    conn: &mut DbConn,
    subject: &Subject,
    viewer: Viewer<'_>,
    types: &[&'static str],
) -> QueryResult<Vec<AreaInsight>> {
    let g = gather(conn, subject, viewer, types)?;
    Ok(compute(&g, subject))
}

fn compute(g: &Gathered, subject: &Subject) -> Vec<AreaInsight> {
    let today = subject.today;
    let age = subject.age();
    let window_start = today - Duration::days(TREND.window_days - 1);
    let weekly_trend = |kind: &'static str| {
        let (field, metric) = trend_field(kind)?;
        Some((
            metric,
            trend(&g.weekly_points(kind, field, window_start), metric, today),
        ))
    };
    let daily = |kind: &'static str| {
        let (field, metric) = trend_field(kind)?;
        g.daily.get(&(kind, field)).map(|d| (metric, d))
    };
    let mut out = Vec::new();
    for area in Area::ALL {
        let insight = |latest: &Measurement,
                       value: Option<(Metric, f64)>,
                       classification: Option<Classification>,
                       trend: Option<(Metric, Trend)>| AreaInsight {
            area,
            latest: latest.clone(),
            value,
            classification,
            trend,
            measurements_read: g.reads(area),
        };
        match area {
            Area::Vascular => {
                let Some(m) = g.latest.get("vascular_age") else {
                    continue;
                };
                let gap = m.vascular_age_gap(subject.birth_date);
                // The gap's trend: each week's mean vascular age less the age on its first day.
                let trend = subject.birth_date.map(|b| {
                    let points: Vec<(NaiveDate, f64)> = g
                        .weekly_points("vascular_age", "vascular_age_years", window_start)
                        .into_iter()
                        .filter_map(|(d, v)| Some((d, v - f64::from(age_on(b, d)?))))
                        .collect();
                    (Metric::VascularAgeGap, trend(&points, Metric::VascularAgeGap, today))
                });
                let class = gap.and_then(|v| classify(Metric::VascularAgeGap, v, age));
                out.push(insight(m, gap.map(|v| (Metric::VascularAgeGap, v)), class, trend));
            }
            Area::BloodPressure => {
                let Some(m) = g.latest.get("blood_pressure") else {
                    continue;
                };
                let class = number(m, "systolic_mmhg")
                    .zip(number(m, "diastolic_mmhg"))
                    .and_then(|(s, d)| classify_blood_pressure(s, d));
                out.push(insight(m, None, class, weekly_trend("blood_pressure")));
            }
            Area::BodyComposition => {
                let weight = g.latest.get("body_weight");
                let Some(m) = weight.or_else(|| g.latest.get("body_composition")) else {
                    continue;
                };
                let value = weight
                    .and_then(|w| number(w, "kg"))
                    .zip(g.latest.get("body_height").and_then(|h| number(h, "cm")))
                    .and_then(|(kg, cm)| bmi(kg, cm));
                let class = value.and_then(|v| classify(Metric::Bmi, v, age));
                let trend = if weight.is_some() {
                    weekly_trend("body_weight")
                } else {
                    weekly_trend("body_composition")
                };
                out.push(insight(m, value.map(|v| (Metric::Bmi, v)), class, trend));
            }
            Area::Gait => {
                let Some(m) = g.latest.get("gait") else { continue };
                let value = number(m, "walking_speed_m_s");
                let class = value.and_then(|v| classify(Metric::WalkingSpeed, v, age));
                out.push(insight(
                    m,
                    value.map(|v| (Metric::WalkingSpeed, v)),
                    class,
                    weekly_trend("gait"),
                ));
            }
            Area::Activity | Area::Sleep => {
                let kind = if area == Area::Activity { "steps" } else { "sleep" };
                let Some(m) = g.latest.get(kind) else { continue };
                let Some((metric, days)) = daily(kind) else {
                    out.push(insight(m, None, None, None));
                    continue;
                };
                let value = recent_mean(days, today).map(|v| v.round());
                let class = value.and_then(|v| classify(metric, v, age));
                let trend = trend(&weekly_means(days, window_start), metric, today);
                out.push(insight(m, value.map(|v| (metric, v)), class, Some((metric, trend))));
            }
            Area::Checkups => {
                let Some(m) = g.latest.get("health_checkup") else {
                    continue;
                };
                let days = g.specific_checkups.first().map(|d| (today - *d).num_days() as f64);
                let class = days.and_then(|d| classify(Metric::CheckupAgeDays, d, age));
                out.push(insight(m, days.map(|d| (Metric::CheckupAgeDays, d)), class, None));
            }
        }
    }
    out
}

/// The date of the resident's last specific health checkup, and the local days blood pressure
/// and weight were last logged: what the weekly programme needs beyond the insights.
#[derive(Debug, Clone, Default)]
pub struct LastLogged {
    /// Last specific health checkup (its `checkup_date`).
    pub specific_checkup: Option<NaiveDate>,
    /// Last blood-pressure measurement's local day.
    pub blood_pressure: Option<NaiveDate>,
    /// Last weight measurement's local day.
    pub weight: Option<NaiveDate>,
    /// Mean daily steps over the last [`RECENT_DAYS`].
    pub recent_steps: Option<f64>,
}

/// Insights for the resident themselves, with what the programme needs beside them.
pub fn own_insights(conn: &mut DbConn, subject: &Subject) -> QueryResult<(Vec<AreaInsight>, LastLogged)> {
    let types: Vec<&'static str> = insight_types().collect();
    let g = gather(conn, subject, Viewer::Resident, &types)?;
    let last = LastLogged {
        specific_checkup: g.specific_checkups.first().copied(),
        blood_pressure: g.latest.get("blood_pressure").map(|m| m.local_date),
        weight: g.latest.get("body_weight").map(|m| m.local_date),
        recent_steps: g
            .daily
            .get(&("steps", "count"))
            .and_then(|d| recent_mean(d, subject.today)),
    };
    Ok((compute(&g, subject), last))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn weeks_start_on_monday() {
        assert_eq!(week_start(d("2026-12-01")), d("2026-11-30"));
        assert_eq!(week_start(d("2026-11-30")), d("2026-11-30"));
        assert_eq!(week_start(d("2026-12-06")), d("2026-11-30"));
    }

    #[test]
    fn daily_values_average_per_week_and_over_the_recent_days() {
        let days = vec![
            (d("2026-11-02"), 4000.0),
            (d("2026-11-03"), 6000.0),
            (d("2026-11-30"), 9000.0),
            (d("2026-12-01"), 7000.0),
        ];
        assert_eq!(
            weekly_means(&days, d("2026-11-03")),
            vec![(d("2026-11-03"), 5000.0), (d("2026-11-30"), 8000.0)],
            "the partial first week is dated by the window's first day"
        );
        assert_eq!(recent_mean(&days, d("2026-12-01")), Some(8000.0));
        assert_eq!(recent_mean(&days, d("2027-03-01")), None);
    }
}
