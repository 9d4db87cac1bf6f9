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
//! The rows of the months an upload or deletion touches, and of their years, are recomputed from
//! the measurements in the same transaction as the write, so the rollup can never drift from the
//! data; a change of birth date or sex rebuilds the resident's rows.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{Datelike, Months, NaiveDate};
use diesel::prelude::*;
use serde_json::Value;

use crate::db::schema::{
    measurement_rollup_buckets as buckets, measurement_rollup_year_buckets as year_buckets,
    measurement_rollup_years as years, measurement_rollups as rollups, measurements,
};
use crate::db::types::Json;
use crate::db::{DbConn, Id};
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

#[derive(Insertable)]
#[diesel(table_name = rollups)]
struct RollupRow {
    user_id: Id,
    kind: String,
    field: String,
    month: NaiveDate,
    age_band: String,
    sex: String,
    n: i32,
    total: f64,
    total_sq: f64,
}

#[derive(Insertable)]
#[diesel(table_name = years)]
struct YearRow {
    user_id: Id,
    kind: &'static str,
    field: String,
    year: NaiveDate,
    age_band: String,
    sex: String,
    months: i32,
    n: i32,
    total: f64,
    total_sq: f64,
}

#[derive(Insertable)]
#[diesel(table_name = year_buckets)]
struct YearBucketRow {
    user_id: Id,
    kind: &'static str,
    field: String,
    year: NaiveDate,
    age_band: String,
    sex: String,
    months: i32,
    bucket: i32,
    n: i32,
}

#[derive(Insertable)]
#[diesel(table_name = buckets)]
struct BucketRow {
    user_id: Id,
    kind: String,
    field: String,
    month: NaiveDate,
    age_band: String,
    sex: String,
    bucket: i32,
    n: i32,
}

/// Who the rows are about: what the cells need from the account.
#[derive(Debug, Clone)]
pub struct Subject {
    /// The resident.
    pub user_id: Id,
    /// Date of birth (age bands).
    pub birth_date: Option<NaiveDate>,
    /// Sex as recorded.
    pub sex: String,
}

type Key = (&'static str, NaiveDate, String);

#[derive(Default)]
struct Acc {
    n: i32,
    total: f64,
    total_sq: f64,
    buckets: BTreeMap<i32, i32>,
}

/// Recomputes the rollup rows of the given (type, month) pairs of one resident from their
/// measurements, in the caller's transaction.
pub fn refresh(conn: &mut DbConn, who: &Subject, touched: &[(&str, NaiveDate)]) -> QueryResult<()> {
    let mut by_kind: BTreeMap<&str, BTreeSet<NaiveDate>> = BTreeMap::new();
    for (kind, day) in touched {
        by_kind.entry(*kind).or_default().insert(month_of(*day));
    }
    for (kind, months) in by_kind {
        let Some(def) = catalogue::find(kind) else { continue };
        if def.numeric_fields().next().is_none() {
            continue;
        }
        let (Some(first), Some(last)) = (months.first().copied(), months.last().copied()) else {
            continue;
        };
        let end = last.checked_add_months(Months::new(1)).unwrap_or(last);
        let rows: Vec<(NaiveDate, Json)> = measurements::table
            .filter(measurements::user_id.eq(who.user_id))
            .filter(measurements::kind.eq(def.name))
            .filter(measurements::local_date.ge(first))
            .filter(measurements::local_date.lt(end))
            .select((measurements::local_date, measurements::fields))
            .load(conn)?;
        let months_v: Vec<NaiveDate> = months.iter().copied().collect();
        let rows = rows.into_iter().filter(|(d, _)| months.contains(&month_of(*d)));
        diesel::delete(
            rollups::table
                .filter(rollups::user_id.eq(who.user_id))
                .filter(rollups::kind.eq(def.name))
                .filter(rollups::month.eq_any(&months_v)),
        )
        .execute(conn)?;
        diesel::delete(
            buckets::table
                .filter(buckets::user_id.eq(who.user_id))
                .filter(buckets::kind.eq(def.name))
                .filter(buckets::month.eq_any(&months_v)),
        )
        .execute(conn)?;
        write(conn, who, def, rows)?;
        let touched_years: BTreeSet<NaiveDate> = months.iter().map(|m| year_of(*m)).collect();
        write_years(conn, who, def.name, &touched_years)?;
    }
    Ok(())
}

/// Rebuilds every rollup row of a resident (after a change of birth date or sex).
pub fn rebuild(conn: &mut DbConn, who: &Subject) -> QueryResult<()> {
    diesel::delete(rollups::table.filter(rollups::user_id.eq(who.user_id))).execute(conn)?;
    diesel::delete(buckets::table.filter(buckets::user_id.eq(who.user_id))).execute(conn)?;
    diesel::delete(years::table.filter(years::user_id.eq(who.user_id))).execute(conn)?;
    diesel::delete(year_buckets::table.filter(year_buckets::user_id.eq(who.user_id))).execute(conn)?;
    let rows: Vec<(String, NaiveDate, Json)> = measurements::table
        .filter(measurements::user_id.eq(who.user_id))
        .select((measurements::kind, measurements::local_date, measurements::fields))
        .order(measurements::kind.asc())
        .load(conn)?;
    let mut by_kind: BTreeMap<String, Vec<(NaiveDate, Json)>> = BTreeMap::new();
    for (kind, day, fields) in rows {
        by_kind.entry(kind).or_default().push((day, fields));
    }
    for (kind, rows) in by_kind {
        if let Some(def) = catalogue::find(&kind) {
            let touched_years: BTreeSet<NaiveDate> = rows.iter().map(|(day, _)| year_of(*day)).collect();
            write(conn, who, def, rows.into_iter())?;
            write_years(conn, who, def.name, &touched_years)?;
        }
    }
    Ok(())
}

#[derive(Default)]
struct YearAcc {
    months: i32,
    n: i32,
    total: f64,
    total_sq: f64,
    buckets: BTreeMap<i32, i32>,
}

/// Recomputes a resident's yearly rows of one type for the given years (first days) from the
/// monthly rows, which must be up to date.
fn write_years(conn: &mut DbConn, who: &Subject, kind: &'static str, touched: &BTreeSet<NaiveDate>) -> QueryResult<()> {
    for &year in touched {
        let last = year.checked_add_months(Months::new(11)).unwrap_or(year);
        diesel::delete(
            years::table
                .filter(years::user_id.eq(who.user_id))
                .filter(years::kind.eq(kind))
                .filter(years::year.eq(year)),
        )
        .execute(conn)?;
        diesel::delete(
            year_buckets::table
                .filter(year_buckets::user_id.eq(who.user_id))
                .filter(year_buckets::kind.eq(kind))
                .filter(year_buckets::year.eq(year)),
        )
        .execute(conn)?;
        let monthly: Vec<(String, NaiveDate, String, i32, f64, f64)> = rollups::table
            .filter(rollups::user_id.eq(who.user_id))
            .filter(rollups::kind.eq(kind))
            .filter(rollups::month.ge(year))
            .filter(rollups::month.le(last))
            .select((
                rollups::field,
                rollups::month,
                rollups::age_band,
                rollups::n,
                rollups::total,
                rollups::total_sq,
            ))
            .order((rollups::field, rollups::age_band, rollups::month))
            .load(conn)?;
        let counted: Vec<(String, String, i32, i32)> = buckets::table
            .filter(buckets::user_id.eq(who.user_id))
            .filter(buckets::kind.eq(kind))
            .filter(buckets::month.ge(year))
            .filter(buckets::month.le(last))
            .select((buckets::field, buckets::age_band, buckets::bucket, buckets::n))
            .load(conn)?;
        let mut acc: BTreeMap<(String, String), YearAcc> = BTreeMap::new();
        for (field, month, band, n, total, total_sq) in monthly {
            let a = acc.entry((field, band)).or_default();
            a.months |= month_bit(month);
            a.n += n;
            a.total += total;
            a.total_sq += total_sq;
        }
        for (field, band, bucket, n) in counted {
            if let Some(a) = acc.get_mut(&(field, band)) {
                *a.buckets.entry(bucket).or_default() += n;
            }
        }
        let mut year_rows = Vec::with_capacity(acc.len());
        let mut bucket_rows = Vec::new();
        for ((field, band), a) in acc {
            for (bucket, n) in &a.buckets {
                bucket_rows.push(YearBucketRow {
                    user_id: who.user_id,
                    kind,
                    field: field.clone(),
                    year,
                    age_band: band.clone(),
                    sex: who.sex.clone(),
                    months: a.months,
                    bucket: *bucket,
                    n: *n,
                });
            }
            year_rows.push(YearRow {
                user_id: who.user_id,
                kind,
                field,
                year,
                age_band: band,
                sex: who.sex.clone(),
                months: a.months,
                n: a.n,
                total: a.total,
                total_sq: a.total_sq,
            });
        }
        // Chunks keep SQLite under its bound-parameter limit.
        for chunk in year_rows.chunks(1000) {
            crate::on_backend!(conn, c => diesel::insert_into(years::table).values(chunk).execute(c))?;
        }
        for chunk in bucket_rows.chunks(1000) {
            crate::on_backend!(conn, c => diesel::insert_into(year_buckets::table).values(chunk).execute(c))?;
        }
    }
    Ok(())
}

fn write(
    conn: &mut DbConn,
    who: &Subject,
    def: &'static catalogue::TypeDef,
    rows: impl Iterator<Item = (NaiveDate, Json)>,
) -> QueryResult<()> {
    let mut acc: BTreeMap<Key, Acc> = BTreeMap::new();
    for (day, fields) in rows {
        let band = age_band(who.birth_date.and_then(|b| crate::measurements::age_on(b, day)));
        let Value::Object(values) = fields.0 else { continue };
        for field in def.numeric_fields() {
            let (Some(v), Some((lo, hi))) = (values.get(field.name).and_then(Value::as_f64), range(field)) else {
                continue;
            };
            let a = acc.entry((field.name, month_of(day), band.clone())).or_default();
            a.n += 1;
            a.total += v;
            a.total_sq += v * v;
            *a.buckets.entry(bucket_of(lo, hi, v)).or_default() += 1;
        }
    }
    let mut rollup_rows = Vec::with_capacity(acc.len());
    let mut bucket_rows = Vec::new();
    for ((field, month, band), a) in acc {
        for (bucket, n) in &a.buckets {
            bucket_rows.push(BucketRow {
                user_id: who.user_id,
                kind: def.name.to_owned(),
                field: field.to_owned(),
                month,
                age_band: band.clone(),
                sex: who.sex.clone(),
                bucket: *bucket,
                n: *n,
            });
        }
        rollup_rows.push(RollupRow {
            user_id: who.user_id,
            kind: def.name.to_owned(),
            field: field.to_owned(),
            month,
            age_band: band,
            sex: who.sex.clone(),
            n: a.n,
            total: a.total,
            total_sq: a.total_sq,
        });
    }
    // Chunks keep SQLite under its bound-parameter limit.
    for chunk in rollup_rows.chunks(1000) {
        crate::on_backend!(conn, c => diesel::insert_into(rollups::table).values(chunk).execute(c))?;
    }
    for chunk in bucket_rows.chunks(1000) {
        crate::on_backend!(conn, c => diesel::insert_into(buckets::table).values(chunk).execute(c))?;
    }
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
}
