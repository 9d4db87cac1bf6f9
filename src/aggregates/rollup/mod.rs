//! The per-resident monthly rollup that aggregates are answered from: for each resident, type,
//! numeric field, calendar month (of the local day) and 10-year age band (on the measurement's
//! day), the count, sum and sum of squares of the values, and their counts in fixed-width buckets
//! of the field's plausible range (for percentiles).
//!
//! Over the monthly rows sits a yearly layer: per resident, type, field, calendar year and age
//! band, the sums of its monthly rows, the bit mask of the months they are in, and the summed
//! bucket counts. A query covering whole years reads it instead of twelve times as many monthly
//! rows (see [`super::query`]).
//!
//! Every write of measurements [`apply`]s its changes in the same transaction: each value added
//! or removed moves its cells' counts and sums by exactly its amount (one upsert per table, rows
//! that reach zero removed), so the rollup never drifts from the data and an upload does not
//! re-read what it did not change. A change of birth date or sex [`rebuild`]s the resident's rows.

mod rebuild;
mod upsert;

use std::collections::BTreeMap;

use chrono::{Datelike, NaiveDate};
use serde_json::{Map, Value};

pub use rebuild::rebuild;

use crate::db::{DbConn, UserId};
use crate::measurements::catalogue::{self, FieldDef, FieldKind};

/// Buckets per field: a percentile read from them is off by at most one bucket width,
/// 1/200 of the field's plausible range (e.g. 500 steps, 1.4 kg, 1 mmHg systolic).
pub const BUCKETS: i32 = 200;

/// The 10-year age band of an age (`40-49`); `unknown` without a birth date.
pub fn age_band(age: Option<u32>) -> String {
    match age {
        Some(a) => {
            let lo = a / 10 * 10;
            format!("{lo}-{}", lo + 9)
        }
        None => "unknown".to_owned(),
    }
}

/// The first day of the date's month.
pub fn month_of(d: NaiveDate) -> NaiveDate {
    d.with_day(1).unwrap_or(d)
}

/// The first day of the date's year.
pub fn year_of(d: NaiveDate) -> NaiveDate {
    d.with_day(1).and_then(|d| d.with_month(1)).unwrap_or(d)
}

/// The bit of the date's month in a yearly row's `months` mask (bit 0 = January).
pub fn month_bit(d: NaiveDate) -> i32 {
    1 << d.month0()
}

/// The plausible range of a numeric field.
pub fn range(field: &FieldDef) -> Option<(f64, f64)> {
    match field.kind {
        FieldKind::Number { min, max } => Some((min, max)),
        #[expect(clippy::cast_precision_loss, reason = "plausible ranges are small integers")]
        FieldKind::Integer { min, max } => Some((min as f64, max as f64)),
        _ => None,
    }
}

/// The bucket a value falls in (values outside the range go to the end buckets).
pub fn bucket_of(lo: f64, hi: f64, v: f64) -> i32 {
    let x = ((v - lo) / (hi - lo) * f64::from(BUCKETS)).floor();
    #[expect(clippy::cast_possible_truncation, reason = "clamped to 0..BUCKETS first")]
    let b = x.clamp(0.0, f64::from(BUCKETS - 1)) as i32;
    b
}

/// Who the rows are about: what the cells need from the account.
#[derive(Debug, Clone)]
pub struct Subject {
    /// The resident.
    pub user_id: UserId,
    /// Date of birth (age bands).
    pub birth_date: Option<NaiveDate>,
    /// Sex as recorded.
    pub sex: String,
}

/// One measurement's values entering or leaving the rollup.
#[derive(Debug, Clone, Copy)]
pub struct Change<'a> {
    /// Its type.
    pub kind: &'a str,
    /// Its local day.
    pub day: NaiveDate,
    /// Its values.
    pub values: &'a Map<String, Value>,
    /// Whether it is added (an upload) or removed (a deletion, or the old value of a replaced
    /// daily total).
    pub added: bool,
}

/// Count, sum and sum of squares moved by some changes.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct Moved {
    pub(crate) n: i32,
    pub(crate) total: f64,
    pub(crate) total_sq: f64,
}

/// (type, field, month or year, age band).
pub(crate) type Cell = (&'static str, &'static str, NaiveDate, String);

/// What some changes do to one resident's rollup rows, per row.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Deltas {
    /// Monthly rows.
    pub(crate) months: BTreeMap<Cell, Moved>,
    /// Monthly bucket rows, by (cell, bucket).
    pub(crate) month_buckets: BTreeMap<(Cell, i32), i32>,
    /// Yearly rows, with the bits of the months values were added to.
    pub(crate) years: BTreeMap<Cell, (Moved, i32)>,
    /// Yearly bucket rows, by (cell, bucket).
    pub(crate) year_buckets: BTreeMap<(Cell, i32), i32>,
}

impl Deltas {
    /// Whether any row loses values (and may become empty).
    pub(crate) fn removes(&self) -> bool {
        self.months.values().any(|m| m.n < 0) || self.month_buckets.values().any(|n| *n < 0)
    }
}

/// The deltas of some changes to one resident's rollup. Pure: the cells of a value follow from its
/// day, the resident's birth date and the catalogue.
pub(crate) fn deltas(who: &Subject, changes: &[Change<'_>]) -> Deltas {
    let mut d = Deltas::default();
    for c in changes {
        let Some(def) = catalogue::find(c.kind) else { continue };
        let band = age_band(who.birth_date.and_then(|b| crate::calendar::age_on(b, c.day)));
        let (month, year) = (month_of(c.day), year_of(c.day));
        let sign: i32 = if c.added { 1 } else { -1 };
        for field in def.numeric_fields() {
            let (Some(v), Some((lo, hi))) = (c.values.get(field.name).and_then(Value::as_f64), range(field)) else {
                continue;
            };
            let s = f64::from(sign);
            let bucket = bucket_of(lo, hi, v);
            let m = d.months.entry((def.name, field.name, month, band.clone())).or_default();
            m.n += sign;
            m.total += s * v;
            m.total_sq += s * v * v;
            *d.month_buckets
                .entry(((def.name, field.name, month, band.clone()), bucket))
                .or_default() += sign;
            let (y, bits) = d.years.entry((def.name, field.name, year, band.clone())).or_default();
            y.n += sign;
            y.total += s * v;
            y.total_sq += s * v * v;
            if c.added {
                *bits |= month_bit(c.day);
            }
            *d.year_buckets
                .entry(((def.name, field.name, year, band.clone()), bucket))
                .or_default() += sign;
        }
    }
    d
}

/// Moves one resident's rollup rows by the changes of a write, in the caller's transaction.
pub fn apply(conn: &mut DbConn, who: &Subject, changes: &[Change<'_>]) -> diesel::QueryResult<()> {
    let d = deltas(who, changes);
    if d.months.is_empty() {
        return Ok(());
    }
    upsert::apply(conn, who, &d)
}

/// Deletes every rollup row of `user` (their erasure), so the next aggregate answer no longer
/// counts them.
pub fn forget(conn: &mut DbConn, user: UserId) -> diesel::QueryResult<()> {
    use diesel::prelude::*;

    use crate::db::schema::{
        measurement_rollup_buckets, measurement_rollup_year_buckets, measurement_rollup_years, measurement_rollups,
    };
    diesel::delete(measurement_rollup_year_buckets::table.filter(measurement_rollup_year_buckets::user_id.eq(user)))
        .execute(conn)?;
    diesel::delete(measurement_rollup_years::table.filter(measurement_rollup_years::user_id.eq(user))).execute(conn)?;
    diesel::delete(measurement_rollup_buckets::table.filter(measurement_rollup_buckets::user_id.eq(user)))
        .execute(conn)?;
    diesel::delete(measurement_rollups::table.filter(measurement_rollups::user_id.eq(user))).execute(conn)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn age_bands_are_ten_years_wide() {
        assert_eq!(age_band(Some(0)), "0-9");
        assert_eq!(age_band(Some(39)), "30-39");
        assert_eq!(age_band(Some(40)), "40-49");
        assert_eq!(age_band(Some(105)), "100-109");
        assert_eq!(age_band(None), "unknown");
    }

    #[test]
    fn years_and_month_bits() {
        let d = |y, m, day| NaiveDate::from_ymd_opt(y, m, day).unwrap();
        assert_eq!(year_of(d(2025, 7, 19)), d(2025, 1, 1));
        assert_eq!(year_of(d(2024, 2, 29)), d(2024, 1, 1));
        assert_eq!(month_bit(d(2025, 1, 31)), 1);
        assert_eq!(month_bit(d(2025, 12, 1)), 1 << 11);
    }

    #[test]
    fn buckets_split_the_range_evenly_and_clamp_the_ends() {
        assert_eq!(bucket_of(0.0, 100_000.0, 0.0), 0);
        assert_eq!(bucket_of(0.0, 100_000.0, 499.9), 0);
        assert_eq!(bucket_of(0.0, 100_000.0, 500.0), 1);
        assert_eq!(bucket_of(0.0, 100_000.0, 100_000.0), BUCKETS - 1);
        assert_eq!(bucket_of(0.0, 100_000.0, -5.0), 0);
    }

    fn subject() -> Subject {
        Subject {
            user_id: UserId::new(),
            birth_date: NaiveDate::from_ymd_opt(1986, 6, 15),
            sex: "female".to_owned(),
        }
    }

    #[test]
    fn a_value_moves_its_month_year_and_bucket_cells_by_exactly_itself() {
        let values: Map<String, Value> = serde_json::from_value(serde_json::json!({"kg": 61.5})).unwrap();
        let day = NaiveDate::from_ymd_opt(2026, 3, 10).unwrap();
        let added = Change {
            kind: "body_weight",
            day,
            values: &values,
            added: true,
        };
        let d = deltas(&subject(), &[added]);
        let cell = (
            "body_weight",
            "kg",
            NaiveDate::from_ymd_opt(2026, 3, 1).unwrap(),
            "30-39".to_owned(),
        );
        assert_eq!(
            d.months[&cell],
            Moved {
                n: 1,
                total: 61.5,
                total_sq: 61.5 * 61.5
            }
        );
        let year = (
            "body_weight",
            "kg",
            NaiveDate::from_ymd_opt(2026, 1, 1).unwrap(),
            "30-39".to_owned(),
        );
        assert_eq!(d.years[&year].1, 1 << 2, "March's bit");
        let bucket = bucket_of(20.0, 300.0, 61.5);
        assert_eq!(d.month_buckets[&(cell.clone(), bucket)], 1);
        assert_eq!(d.year_buckets[&(year.clone(), bucket)], 1);
        assert!(!d.removes());
        // Removing the same value cancels it exactly.
        let removed = Change { added: false, ..added };
        let d = deltas(&subject(), &[added, removed]);
        assert_eq!(d.months[&cell], Moved::default());
        assert_eq!(d.month_buckets[&(cell, bucket)], 0);
        assert_eq!(d.years[&year].0, Moved::default());
    }

    #[test]
    fn a_birthday_splits_a_month_between_two_age_bands_and_other_types_are_left_out() {
        let values: Map<String, Value> = serde_json::from_value(serde_json::json!({"kg": 60.0})).unwrap();
        let before = Change {
            kind: "body_weight",
            day: NaiveDate::from_ymd_opt(2026, 6, 14).unwrap(),
            values: &values,
            added: true,
        };
        let after = Change {
            day: NaiveDate::from_ymd_opt(2026, 6, 15).unwrap(),
            ..before
        };
        let checkup: Map<String, Value> =
            serde_json::from_value(serde_json::json!({"kind": "dental_checkup", "checkup_date": "2026-06-01"}))
                .unwrap();
        let none = Change {
            kind: "health_checkup",
            values: &checkup,
            ..before
        };
        let d = deltas(&subject(), &[before, after, none]);
        let bands: Vec<&str> = d.months.keys().map(|k| k.3.as_str()).collect();
        assert_eq!(bands, ["30-39", "40-49"]);
        assert!(!d.removes());
    }
}
