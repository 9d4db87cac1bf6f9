//! The published contribution bounds: before a person's value enters a differentially private
//! sum it is clamped to its field's bounds here, so one person can move a centred sum by at most
//! half the bounds' width. Narrower bounds mean less noise; values outside them are counted at the
//! bound, which biases only the rare extreme person. Bounds are chosen to hold nearly every
//! adult's own mean (not the plausible range of one reading, which is wider) and are part of the
//! documented mechanism (docs/PRIVACY.md); a test holds every numeric field of the catalogue to
//! having one.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The interval a person's value is clamped to.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Bounds {
    /// Lower bound.
    pub lower: f64,
    /// Upper bound.
    pub upper: f64,
}

impl Bounds {
    /// The middle, which sums are centred on.
    pub fn mid(self) -> f64 {
        (self.lower + self.upper) / 2.0
    }

    /// Half the width: the most one centred value can move a sum.
    pub fn half(self) -> f64 {
        (self.upper - self.lower) / 2.0
    }

    /// `x` clamped into the bounds.
    pub fn clamp(self, x: f64) -> f64 {
        x.clamp(self.lower, self.upper)
    }
}

/// (type, field, lower, upper), one row per numeric field of the catalogue.
#[rustfmt::skip]
const TABLE: &[(&str, &str, f64, f64)] = &[
    ("vascular_age",     "vascular_age_years",       20.0,   90.0),
    ("vascular_age",     "pulse_wave_velocity_cm_s", 600.0,  2500.0),
    ("gait",             "walking_speed_m_s",        0.3,    2.0),
    ("gait",             "stride_length_cm",         30.0,   180.0),
    ("gait",             "cadence_steps_min",        60.0,   160.0),
    ("gait",             "step_width_cm",            0.0,    30.0),
    ("gait",             "symmetry_pct",             50.0,   100.0),
    ("gait",             "gait_age_years",           20.0,   90.0),
    ("capillary",        "capillary_density_per_mm", 0.0,    20.0),
    ("capillary",        "morphology_score",         0.0,    100.0),
    ("capillary",        "blood_flow_score",         0.0,    100.0),
    ("capillary",        "capillary_age_years",      20.0,   90.0),
    ("steps",            "count",                    0.0,    30000.0),
    ("body_weight",      "kg",                       30.0,   150.0),
    ("body_height",      "cm",                       130.0,  200.0),
    ("body_composition", "body_fat_pct",             5.0,    50.0),
    ("body_composition", "muscle_mass_kg",           15.0,   80.0),
    ("body_composition", "leg_score",                0.0,    150.0),
    ("blood_pressure",   "systolic_mmhg",            80.0,   200.0),
    ("blood_pressure",   "diastolic_mmhg",           40.0,   120.0),
    ("heart_rate",       "bpm",                      40.0,   140.0),
    ("sleep",            "duration_min",             120.0,  720.0),
    ("blood_glucose",    "mg_dl",                    50.0,   300.0),
    ("dental",           "dental_age_years",         20.0,   90.0),
    ("respiratory",      "peak_flow_l_min",          100.0,  800.0),
    ("cognitive",        "score",                    0.0,    100.0),
    ("fatigue",          "score",                    0.0,    100.0),
];

/// The bounds of a numeric field of a measurement type.
pub fn of(kind: &str, field: &str) -> Option<Bounds> {
    TABLE
        .iter()
        .find(|(k, f, _, _)| *k == kind && *f == field)
        .map(|&(_, _, lower, upper)| Bounds { lower, upper })
}

/// Every bounded field, for the documentation.
pub fn all() -> impl Iterator<Item = (&'static str, &'static str, Bounds)> {
    TABLE
        .iter()
        .map(|&(k, f, lower, upper)| (k, f, Bounds { lower, upper }))
}

/// A person's mean daily steps in programme statistics.
pub const DAILY_STEPS: Bounds = Bounds {
    lower: 0.0,
    upper: 30000.0,
};

/// The points one person can add to a programme-statistics total, per day of the period.
pub const POINTS_PER_DAY: f64 = 10.0;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::measurements::catalogue::{self, FieldKind};

    #[test]
    fn every_numeric_field_of_the_catalogue_has_bounds_inside_its_plausible_range() {
        for t in catalogue::CATALOGUE {
            for f in t.fields {
                let (min, max) = match f.kind {
                    FieldKind::Number { min, max } => (min, max),
                    #[expect(clippy::cast_precision_loss, reason = "small ranges")]
                    FieldKind::Integer { min, max } => (min as f64, max as f64),
                    _ => continue,
                };
                let b = of(t.name, f.name).unwrap_or_else(|| panic!("{}.{} has no bounds", t.name, f.name));
                assert!(b.lower < b.upper, "{}.{}", t.name, f.name);
                assert!(
                    min <= b.lower && b.upper <= max,
                    "{}.{} inside its range",
                    t.name,
                    f.name
                );
            }
        }
        assert_eq!(all().count(), TABLE.len());
    }

    #[test]
    fn values_are_clamped_and_centred() {
        let b = of("body_weight", "kg").unwrap();
        assert_eq!((b.mid(), b.half()), (90.0, 60.0));
        assert_eq!(b.clamp(10.0), 30.0);
        assert_eq!(b.clamp(200.0), 150.0);
        assert_eq!(b.clamp(72.5), 72.5);
    }
}
