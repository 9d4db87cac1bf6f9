//! Rebuilding a resident's rollup rows from their measurements: after a change of birth date or
//! sex (which move every row to other cells).

use std::collections::{BTreeMap, BTreeSet};

use chrono::{Months, NaiveDate};
use diesel::prelude::*;
use serde_json::Value;

use super::{Subject, age_band, bucket_of, month_bit, month_of, range, year_of};
use crate::db::schema::{
    measurement_rollup_buckets as buckets, measurement_rollup_year_buckets as year_buckets,
    measurement_rollup_years as years, measurement_rollups as rollups, measurements,
};
use crate::db::types::Json;
use crate::db::{DbConn, UserId};
use crate::measurements::catalogue;

#[derive(Insertable)]
#[diesel(table_name = rollups)]
struct RollupRow {
    user_id: UserId,
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
    user_id: UserId,
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
    user_id: UserId,
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
    user_id: UserId,
    kind: String,
    field: String,
    month: NaiveDate,
    age_band: String,
    sex: String,
    bucket: i32,
    n: i32,
}

type Key = (&'static str, NaiveDate, String);

#[derive(Default)]
struct Acc {
    n: i32,
    total: f64,
    total_sq: f64,
    buckets: BTreeMap<i32, i32>,
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
        let band = age_band(who.birth_date.and_then(|b| crate::calendar::age_on(b, day)));
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
