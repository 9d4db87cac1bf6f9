//! Trend of a metric over the last 90 days, from per-bucket (weekly) means: an ordinary
//! least-squares slope over days, reported as rising or falling only when the change it projects
//! over the window reaches the metric's smallest meaningful change ([`MEANINGFUL_CHANGES`]).
//!
//! [`MEANINGFUL_CHANGES`]: super::reference::MEANINGFUL_CHANGES

use chrono::{Duration, NaiveDate};
use serde::Serialize;

use super::reference::{Metric, TREND, meaningful_change};

/// Which way a metric has been going.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Up by at least the smallest meaningful change over the window.
    Rising,
    /// Down by at least the smallest meaningful change over the window.
    Falling,
    /// Changing by less than the smallest meaningful change.
    Flat,
    /// Too few buckets, or too short a span, to tell (or a metric without a trend).
    InsufficientData,
}

/// The trend of one metric.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Trend {
    /// Which way it has been going.
    pub direction: Direction,
    /// Fitted change per 30 days, in the metric's unit (three decimals).
    pub change_per_30_days: Option<f64>,
    /// Fitted change from the first to the last bucket, in the metric's unit (three decimals).
    pub change_over_period: Option<f64>,
    /// Buckets inside the window that were used.
    pub buckets: usize,
}

fn round3(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

/// The trend of `metric` from `points`, each a bucket's date (its first day) and mean, over the
/// window of [`TREND`] ending `today`. Buckets outside the window and values that are not finite
/// are left out; order does not matter. Fewer than the minimum number of buckets, or a span from
/// first to last bucket shorter than the minimum, is [`Direction::InsufficientData`], as is a
/// metric with no smallest meaningful change (blood pressure as a whole, checkup age).
pub fn trend(points: &[(NaiveDate, f64)], metric: Metric, today: NaiveDate) -> Trend {
    let start = today - Duration::days(TREND.window_days);
    let used: Vec<(NaiveDate, f64)> = points
        .iter()
        .copied()
        .filter(|(d, v)| *d >= start && *d <= today && v.is_finite())
        .collect();
    let insufficient = Trend {
        direction: Direction::InsufficientData,
        change_per_30_days: None,
        change_over_period: None,
        buckets: used.len(),
    };
    let (Some(first), Some(last)) = (used.iter().map(|p| p.0).min(), used.iter().map(|p| p.0).max()) else {
        return insufficient;
    };
    let span = (last - first).num_days();
    let Some(meaningful) = meaningful_change(metric) else {
        return insufficient;
    };
    if used.len() < TREND.min_buckets || span < TREND.min_span_days {
        return insufficient;
    }
    let xy: Vec<(f64, f64)> = used.iter().map(|(d, v)| ((*d - first).num_days() as f64, *v)).collect();
    let n = xy.len() as f64;
    let mean_x = xy.iter().map(|p| p.0).sum::<f64>() / n;
    let mean_y = xy.iter().map(|p| p.1).sum::<f64>() / n;
    let sxy: f64 = xy.iter().map(|(x, y)| (x - mean_x) * (y - mean_y)).sum();
    let sxx: f64 = xy.iter().map(|(x, _)| (x - mean_x).powi(2)).sum();
    // A span of at least the minimum guarantees two distinct days, so sxx > 0.
    let slope = sxy / sxx;
    let projected = slope * TREND.window_days as f64;
    let direction = if projected.abs() < meaningful {
        Direction::Flat
    } else if projected > 0.0 {
        Direction::Rising
    } else {
        Direction::Falling
    };
    Trend {
        direction,
        change_per_30_days: Some(round3(slope * TREND.rate_days as f64)),
        change_over_period: Some(round3(slope * span as f64)),
        buckets: used.len(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 6, 29).unwrap()
    }

    /// Weekly buckets ending the week before today, oldest first, value `f(week)`.
    fn weekly(weeks: i64, f: impl Fn(i64) -> f64) -> Vec<(NaiveDate, f64)> {
        (0..weeks)
            .map(|w| (today() - Duration::days(7 * (weeks - w)), f(w)))
            .collect()
    }

    #[test]
    fn rising_series() {
        // Systolic up 1 mmHg a week over 12 weeks: about 12.9 mmHg over 90 days.
        let t = trend(&weekly(12, |w| 120.0 + w as f64), Metric::SystolicBp, today());
        assert_eq!(t.direction, Direction::Rising);
        assert_eq!(t.buckets, 12);
        assert_eq!(t.change_per_30_days, Some(round3(30.0 / 7.0)));
        assert_eq!(t.change_over_period, Some(11.0));
    }

    #[test]
    fn falling_series() {
        let t = trend(&weekly(10, |w| 75.0 - 0.2 * w as f64), Metric::BodyWeight, today());
        assert_eq!(t.direction, Direction::Falling);
        assert!(t.change_per_30_days.unwrap() < 0.0);
        assert_eq!(t.change_over_period, Some(-1.8));
    }

    #[test]
    fn flat_series() {
        let t = trend(&weekly(12, |_| 8_000.0), Metric::DailySteps, today());
        assert_eq!(t.direction, Direction::Flat);
        assert_eq!(t.change_per_30_days, Some(0.0));
    }

    #[test]
    fn noisy_flat_series() {
        // ±4 mmHg alternating noise around 130 with no underlying change.
        let noise = [4.0, -4.0, 3.0, -3.0, 4.0, -4.0, 2.0, -2.0, 4.0, -4.0, 3.0, -3.0];
        let t = trend(&weekly(12, |w| 130.0 + noise[w as usize]), Metric::SystolicBp, today());
        assert_eq!(t.direction, Direction::Flat, "{t:?}");
        // A slight drift below the smallest meaningful change is still flat.
        let t = trend(&weekly(12, |w| 1.10 + 0.003 * w as f64), Metric::WalkingSpeed, today());
        assert_eq!(t.direction, Direction::Flat, "{t:?}");
    }

    #[test]
    fn the_smallest_meaningful_change_is_where_flat_ends() {
        // Points 90 days apart with a midpoint on the line: slope × 90 is the change.
        let pts = |change: f64| {
            vec![
                (today() - Duration::days(90), 360.0),
                (today() - Duration::days(45), 360.0 + change / 2.0),
                (today(), 360.0 + change),
            ]
        };
        assert_eq!(
            trend(&pts(15.1), Metric::SleepDuration, today()).direction,
            Direction::Rising
        );
        assert_eq!(
            trend(&pts(-15.1), Metric::SleepDuration, today()).direction,
            Direction::Falling
        );
        assert_eq!(
            trend(&pts(14.9), Metric::SleepDuration, today()).direction,
            Direction::Flat
        );
        assert_eq!(
            trend(&pts(-14.9), Metric::SleepDuration, today()).direction,
            Direction::Flat
        );
    }

    #[test]
    fn too_little_data() {
        // Two buckets.
        let t = trend(&weekly(2, |w| 120.0 + 10.0 * w as f64), Metric::SystolicBp, today());
        assert_eq!(t.direction, Direction::InsufficientData);
        assert_eq!((t.change_per_30_days, t.buckets), (None, 2));
        // Three weekly buckets span only 14 days.
        let t = trend(&weekly(3, |w| 120.0 + 10.0 * w as f64), Metric::SystolicBp, today());
        assert_eq!(t.direction, Direction::InsufficientData);
        // Four span 21: enough.
        let t = trend(&weekly(4, |w| 120.0 + 10.0 * w as f64), Metric::SystolicBp, today());
        assert_eq!(t.direction, Direction::Rising);
        assert_eq!(trend(&[], Metric::Bmi, today()).direction, Direction::InsufficientData);
    }

    #[test]
    fn buckets_outside_the_window_and_non_finite_values_are_left_out() {
        let mut pts = weekly(3, |_| 60.0);
        pts.push((today() - Duration::days(200), 90.0));
        pts.push((today() + Duration::days(7), 90.0));
        pts.push((today() - Duration::days(35), f64::NAN));
        let t = trend(&pts, Metric::BodyWeight, today());
        assert_eq!((t.direction, t.buckets), (Direction::InsufficientData, 3));
        // Order does not matter.
        let mut rev = weekly(8, |w| 60.0 + w as f64);
        let forward = trend(&rev, Metric::BodyWeight, today());
        rev.reverse();
        assert_eq!(trend(&rev, Metric::BodyWeight, today()), forward);
    }

    #[test]
    fn metrics_without_a_meaningful_change_have_no_trend() {
        let t = trend(&weekly(12, |w| w as f64), Metric::CheckupAgeDays, today());
        assert_eq!(t.direction, Direction::InsufficientData);
    }
}
