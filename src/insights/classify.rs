//! Classification of a value against the bands of [`THRESHOLDS`].

use serde::Serialize;

use super::reference::{Level, Metric, Reference, THRESHOLDS, Threshold, reference};

/// The category a value falls in, with the reference it comes from.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Classification {
    /// What was classified.
    pub metric: Metric,
    /// The category code (`normal`, `grade_1_hypertension`, …).
    pub category: &'static str,
    /// How much attention it calls for.
    pub level: Level,
    /// The published reference (or project convention) of the category.
    pub reference: &'static Reference,
}

fn band(metric: Metric, value: f64, age: Option<u32>) -> Option<&'static Threshold> {
    if !value.is_finite() {
        return None;
    }
    THRESHOLDS
        .iter()
        .find(|t| t.metric == metric && t.applies_at(age) && t.contains(value))
}

fn of(metric: Metric, t: &'static Threshold) -> Option<Classification> {
    Some(Classification {
        metric,
        category: t.category,
        level: t.level,
        reference: reference(t.reference)?,
    })
}

/// The category of `value` for `metric` at `age`; `None` when no band applies (a metric without
/// bands, an age the metric does not apply at, or a value that is not finite). For blood pressure
/// as a whole use [`classify_blood_pressure`].
pub fn classify(metric: Metric, value: f64, age: Option<u32>) -> Option<Classification> {
    of(metric, band(metric, value, age)?)
}

/// The JSH2019 category of a reading: the higher of the systolic and the diastolic category
/// ("and/or"), so that high-normal needs a diastolic pressure below 80. Reported as
/// [`Metric::BloodPressure`].
pub fn classify_blood_pressure(systolic: f64, diastolic: f64) -> Option<Classification> {
    let s = band(Metric::SystolicBp, systolic, None)?;
    let d = band(Metric::DiastolicBp, diastolic, None)?;
    // The systolic bands name every category, in order of severity.
    let rank = |category: &str| {
        THRESHOLDS
            .iter()
            .filter(|t| t.metric == Metric::SystolicBp)
            .position(|t| t.category == category)
    };
    let worse = if rank(d.category) > rank(s.category) { d } else { s };
    of(Metric::BloodPressure, worse)
}

/// Body mass index (kg/m²) from weight and height, rounded to one decimal as checkup results
/// report it (and as it is then classified); `None` unless both are positive and finite.
pub fn bmi(weight_kg: f64, height_cm: f64) -> Option<f64> {
    let ok = |v: f64| v.is_finite() && v > 0.0;
    if !ok(weight_kg) || !ok(height_cm) {
        return None;
    }
    let m = height_cm / 100.0;
    Some((weight_kg / (m * m) * 10.0).round() / 10.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use Metric::*;

    fn cat(metric: Metric, value: f64, age: Option<u32>) -> Option<&'static str> {
        classify(metric, value, age).map(|c| c.category)
    }

    fn bp(s: f64, d: f64) -> &'static str {
        classify_blood_pressure(s, d).unwrap().category
    }

    /// Below, at and above a boundary: `below` under it, `above` at and over it.
    fn around(metric: Metric, boundary: f64, age: Option<u32>, below: &str, above: &str) {
        let eps = if boundary.abs() < 10.0 { 0.01 } else { 0.1 };
        assert_eq!(
            cat(metric, boundary - eps, age),
            Some(below),
            "{metric:?} {boundary} - {eps}"
        );
        assert_eq!(cat(metric, boundary, age), Some(above), "{metric:?} at {boundary}");
        assert_eq!(
            cat(metric, boundary + eps, age),
            Some(above),
            "{metric:?} {boundary} + {eps}"
        );
    }

    #[test]
    fn systolic_bands_at_and_either_side_of_each_threshold() {
        around(SystolicBp, 120.0, None, "normal", "high_normal");
        around(SystolicBp, 130.0, None, "high_normal", "elevated");
        around(SystolicBp, 140.0, None, "elevated", "grade_1_hypertension");
        around(SystolicBp, 160.0, None, "grade_1_hypertension", "grade_2_hypertension");
        around(SystolicBp, 180.0, None, "grade_2_hypertension", "grade_3_hypertension");
    }

    #[test]
    fn diastolic_bands_at_and_either_side_of_each_threshold() {
        around(DiastolicBp, 80.0, None, "normal", "elevated");
        around(DiastolicBp, 90.0, None, "elevated", "grade_1_hypertension");
        around(DiastolicBp, 100.0, None, "grade_1_hypertension", "grade_2_hypertension");
        around(DiastolicBp, 110.0, None, "grade_2_hypertension", "grade_3_hypertension");
    }

    #[test]
    fn blood_pressure_takes_the_higher_of_systolic_and_diastolic() {
        // Systolic decides, diastolic normal.
        assert_eq!(bp(119.9, 79.9), "normal");
        assert_eq!(bp(120.0, 79.9), "high_normal");
        assert_eq!(bp(129.9, 79.9), "high_normal");
        assert_eq!(bp(130.0, 70.0), "elevated");
        assert_eq!(bp(139.9, 70.0), "elevated");
        assert_eq!(bp(140.0, 70.0), "grade_1_hypertension");
        assert_eq!(bp(159.9, 70.0), "grade_1_hypertension");
        assert_eq!(bp(160.0, 70.0), "grade_2_hypertension");
        assert_eq!(bp(179.9, 70.0), "grade_2_hypertension");
        assert_eq!(bp(180.0, 70.0), "grade_3_hypertension");
        // High-normal needs diastolic below 80: 80 makes it elevated.
        assert_eq!(bp(125.0, 80.0), "elevated");
        assert_eq!(bp(110.0, 80.0), "elevated");
        assert_eq!(bp(110.0, 79.9), "normal");
        // Diastolic decides.
        assert_eq!(bp(115.0, 89.9), "elevated");
        assert_eq!(bp(115.0, 90.0), "grade_1_hypertension");
        assert_eq!(bp(135.0, 99.9), "grade_1_hypertension");
        assert_eq!(bp(135.0, 100.0), "grade_2_hypertension");
        assert_eq!(bp(150.0, 109.9), "grade_2_hypertension");
        assert_eq!(bp(150.0, 110.0), "grade_3_hypertension");
        // Both in the same category.
        assert_eq!(bp(145.0, 95.0), "grade_1_hypertension");
        // Isolated systolic hypertension is graded by the systolic pressure.
        assert_eq!(bp(165.0, 70.0), "grade_2_hypertension");
        let c = classify_blood_pressure(142.0, 85.0).unwrap();
        assert_eq!(c.metric, BloodPressure);
        assert_eq!(c.level, Level::Action);
        assert_eq!(c.reference.id, "jsh2019");
        assert_eq!(classify_blood_pressure(f64::NAN, 80.0), None);
        assert_eq!(classify(BloodPressure, 120.0, None), None);
    }

    #[test]
    fn bmi_bands_at_and_either_side_of_each_threshold() {
        assert_eq!(cat(Bmi, 18.49, None), Some("underweight"));
        around(Bmi, 18.5, None, "underweight", "normal");
        around(Bmi, 25.0, None, "normal", "obesity_class_1");
        around(Bmi, 30.0, None, "obesity_class_1", "obesity_class_2");
        around(Bmi, 35.0, None, "obesity_class_2", "obesity_class_3");
        around(Bmi, 40.0, None, "obesity_class_3", "obesity_class_4");
        assert_eq!(classify(Bmi, 22.0, Some(50)).unwrap().reference.id, "jasso2022");
    }

    #[test]
    fn bmi_from_weight_and_height() {
        assert_eq!(bmi(60.0, 170.0), Some(20.8));
        assert_eq!(bmi(72.25, 170.0), Some(25.0));
        assert_eq!(bmi(60.0, 0.0), None);
        assert_eq!(bmi(f64::NAN, 170.0), None);
    }

    #[test]
    fn gait_speed_at_and_either_side_of_one_metre_per_second() {
        assert_eq!(cat(WalkingSpeed, 0.99, None), Some("slow"));
        assert_eq!(cat(WalkingSpeed, 1.0, None), Some("normal"));
        assert_eq!(cat(WalkingSpeed, 1.01, Some(80)), Some("normal"));
        assert_eq!(classify(WalkingSpeed, 0.8, None).unwrap().reference.id, "awgs2019");
    }

    #[test]
    fn vascular_age_gap_bands() {
        assert_eq!(cat(VascularAgeGap, -5.0, None), Some("younger_or_same"));
        assert_eq!(cat(VascularAgeGap, 0.0, None), Some("younger_or_same"));
        around(VascularAgeGap, 1.0, None, "younger_or_same", "older");
        around(VascularAgeGap, 10.0, None, "older", "much_older");
    }

    #[test]
    fn steps_depend_on_age() {
        for age in [None, Some(20), Some(64)] {
            assert_eq!(cat(DailySteps, 7_999.0, age), Some("below_recommendation"));
            assert_eq!(cat(DailySteps, 8_000.0, age), Some("meets_recommendation"));
            assert_eq!(cat(DailySteps, 8_001.0, age), Some("meets_recommendation"));
            assert_eq!(cat(DailySteps, 6_000.0, age), Some("below_recommendation"));
        }
        for age in [Some(65), Some(90)] {
            assert_eq!(cat(DailySteps, 5_999.0, age), Some("below_recommendation"));
            assert_eq!(cat(DailySteps, 6_000.0, age), Some("meets_recommendation"));
            assert_eq!(cat(DailySteps, 6_001.0, age), Some("meets_recommendation"));
        }
    }

    #[test]
    fn sleep_at_and_either_side_of_six_hours() {
        assert_eq!(cat(SleepDuration, 359.0, None), Some("short"));
        assert_eq!(cat(SleepDuration, 360.0, None), Some("meets_recommendation"));
        assert_eq!(cat(SleepDuration, 361.0, Some(70)), Some("meets_recommendation"));
    }

    #[test]
    fn checkup_is_overdue_after_365_days_and_only_from_40_to_74() {
        for age in [40, 74] {
            assert_eq!(cat(CheckupAgeDays, 364.0, Some(age)), Some("up_to_date"));
            assert_eq!(cat(CheckupAgeDays, 365.0, Some(age)), Some("up_to_date"));
            assert_eq!(cat(CheckupAgeDays, 366.0, Some(age)), Some("overdue"));
        }
        for age in [Some(39), Some(75), None] {
            assert_eq!(cat(CheckupAgeDays, 400.0, age), None);
        }
    }

    #[test]
    fn every_boundary_of_the_table_splits_its_neighbours() {
        for t in THRESHOLDS {
            let Some(lower) = t.lower else { continue };
            let age = t.min_age.or(t.max_age);
            let below = THRESHOLDS
                .iter()
                .find(|o| o.metric == t.metric && o.applies_at(age) && o.upper == Some(lower))
                .unwrap();
            around(t.metric, lower, age, below.category, t.category);
        }
    }

    #[test]
    fn values_without_a_band_are_not_classified() {
        assert_eq!(classify(BodyWeight, 60.0, None), None);
        assert_eq!(classify(Bmi, f64::INFINITY, None), None);
        assert_eq!(classify(Bmi, f64::NAN, None), None);
    }
}
