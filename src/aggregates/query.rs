//! The aggregate query: consent in the SQL, atomic cells, suppression before combination, all in
//! one statement that reads whole calendar years from the yearly rollup.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{Datelike, NaiveDate};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Date, Double, Integer, Nullable, Text};

use super::rollup;
use super::stats::{self, Sums};
use crate::db::types::{SqlTs, SqlUuid};
use crate::db::{DbConn, Id, Ts};
use crate::measurements::catalogue::{FieldDef, TypeDef};

/// A dimension answers can be grouped by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Dim {
    /// 10-year age band on the measurement's day.
    AgeBand,
    /// Sex.
    Sex,
    /// Calendar month.
    Month,
}

/// A statistic answers can carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Stat {
    /// Number of measurements.
    Count,
    /// Mean value.
    Mean,
    /// Sample standard deviation.
    Stddev,
    /// 10th percentile.
    P10,
    /// Median.
    P50,
    /// 90th percentile.
    P90,
}

/// A checked aggregate request.
#[derive(Debug, Clone)]
pub struct Request {
    /// Measurement type.
    pub kind: &'static TypeDef,
    /// Numeric field of it.
    pub field: &'static FieldDef,
    /// First month covered (its first day).
    pub from: NaiveDate,
    /// Last month covered (its first day).
    pub to: NaiveDate,
    /// Grouping (no repeats).
    pub group_by: Vec<Dim>,
    /// Statistics wanted (no repeats).
    pub stats: Vec<Stat>,
}

/// A group's key: the values of the grouped dimensions.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Key {
    /// Age band, when grouped by it.
    pub age_band: Option<String>,
    /// Sex, when grouped by it.
    pub sex: Option<String>,
    /// Month (first day), when grouped by it.
    pub month: Option<NaiveDate>,
}

/// One published group.
#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    /// Distinct people behind it.
    pub people: i64,
    /// Sums of the values (of publishable cells only).
    pub sums: Sums,
    /// Bucket counts (only when percentiles were asked for).
    pub hist: BTreeMap<i32, i64>,
}

/// The answer before statistics: each group published, or suppressed.
#[derive(Debug, Clone, Default)]
pub struct Answer {
    /// Every group with any data, in key order; `None` when no cell of it could be published.
    pub groups: Vec<(Key, Option<Group>)>,
}

#[derive(QueryableByName, Debug)]
struct PartRow {
    /// Which part of the answer the row is (see [`statement`]).
    #[diesel(sql_type = Integer)]
    part: i32,
    #[diesel(sql_type = Nullable<Date>)]
    month: Option<NaiveDate>,
    #[diesel(sql_type = Nullable<Text>)]
    age_band: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    sex: Option<String>,
    #[diesel(sql_type = BigInt)]
    people: i64,
    #[diesel(sql_type = BigInt)]
    n: i64,
    #[diesel(sql_type = Double)]
    total: f64,
    #[diesel(sql_type = Double)]
    total_sq: f64,
    #[diesel(sql_type = Nullable<Integer>)]
    bucket: Option<i32>,
}

/// The whole calendar years of a period that are read from the yearly rollup: the first day of
/// the first one and the first day of the last one's December. `None` when the period holds no
/// whole year, or when answers are grouped by month (a yearly row cannot be split into months).
fn whole_years(req: &Request) -> Option<(NaiveDate, NaiveDate)> {
    if req.group_by.contains(&Dim::Month) {
        return None;
    }
    let first = if req.from.month() == 1 {
        req.from
    } else {
        NaiveDate::from_ymd_opt(req.from.year() + 1, 1, 1)?
    };
    let last = if req.to.month() == 12 {
        req.to
    } else {
        NaiveDate::from_ymd_opt(req.to.year() - 1, 12, 1)?
    };
    (first <= last).then_some((first, last))
}

/// The backend's SQL for what the statement needs of a date column.
#[derive(Debug, Clone, Copy)]
enum Dialect {
    Pg,
    Sqlite,
}

impl Dialect {
    fn of(conn: &DbConn) -> Self {
        match conn {
            DbConn::Pg(_) => Dialect::Pg,
            DbConn::Sqlite(_) => Dialect::Sqlite,
        }
    }

    /// The first day of the column's year.
    fn year(self, c: &str) -> String {
        match self {
            Dialect::Pg => format!("CAST(date_trunc('year', CAST({c} AS TIMESTAMP)) AS DATE)"),
            Dialect::Sqlite => format!("strftime('%Y-01-01', {c})"),
        }
    }

    /// The bit of the column's month in a yearly row's mask.
    fn bit(self, c: &str) -> String {
        match self {
            Dialect::Pg => format!("(CAST(extract(month FROM {c}) AS INTEGER) - 1)"),
            Dialect::Sqlite => format!("(CAST(strftime('%m', {c}) AS INTEGER) - 1)"),
        }
    }
}

/// The consenting-members condition on `{t}.user_id`: members with a consent in force to the
/// organisation (`$7`) at `$8` covering the type (`$1`), at either access level. It is part of
/// the aggregate statement wherever rollup rows are read by type, so no answer can include a
/// non-consenting resident.
fn consent_filter(t: &str) -> String {
    // Either access level allows aggregates, so the level needs no condition.
    format!(
        "{t}.user_id IN (SELECT c.user_id FROM consents c WHERE {} \
             AND EXISTS (SELECT 1 FROM consent_types ct WHERE ct.consent_id = c.id AND ct.measurement_type = $1))",
        crate::sharing::consents::in_force_sql("$7", "$8")
    )
}

pub(super) fn group_columns(t: &str, dims: &[Dim]) -> String {
    let col = |d: Dim, name: &str, null: &str| {
        if dims.contains(&d) {
            format!("{t}.{name} AS {name}")
        } else {
            format!("CAST(NULL AS {null}) AS {name}")
        }
    };
    format!(
        "{}, {}, {}",
        col(Dim::Month, "month", "DATE"),
        col(Dim::AgeBand, "age_band", "TEXT"),
        col(Dim::Sex, "sex", "TEXT")
    )
}

pub(super) fn key_of(dims: &[Dim], month: Option<NaiveDate>, age_band: Option<String>, sex: Option<String>) -> Key {
    Key {
        month: month.filter(|_| dims.contains(&Dim::Month)),
        age_band: age_band.filter(|_| dims.contains(&Dim::AgeBand)),
        sex: sex.filter(|_| dims.contains(&Dim::Sex)),
    }
}

/// What decides the statement's shape.
#[derive(Debug, Clone, Copy)]
struct Shape<'a> {
    dims: &'a [Dim],
    /// Some whole years are read from the yearly rollup.
    whole_years: bool,
    /// Nobody can have two units in one group, so a group's people are the sum of its masks'.
    one_unit_per_group: bool,
    percentiles: bool,
}

/// The one statement that answers an aggregate. Placeholders: `$1` type, `$2` field, `$3`–`$4`
/// the whole years read from the yearly rollup (an empty range when there are none), `$5`–`$6` the
/// period, `$7` organisation, `$8` now, `$9` k_min. (SQLite numbers placeholders in the order they
/// first appear, so they first appear in this order.)
///
/// - `units`: the consenting members' rollup rows — a yearly row for each whole year, a monthly
///   row for each other month — with the months each covers as a bit mask (one bit for a
///   monthly row). A resident has at most one unit per cell.
/// - `masks` → `cells` → `lanes`: the units summed per (year, month, age band, sex, mask); from
///   them each cell's people (the units with its bit); from those, per (year, age band, sex), the
///   masks of publishable (`pub`, at least k_min people) and suppressed (`sup`) months.
/// - Part 0, per group: the people over publishable cells (when no one can have two units in a
///   group; part 1 counts them otherwise) and the sums of the units wholly in publishable cells.
/// - Part 1: distinct people over publishable cells, when a resident can have several units in
///   one group (several years or months, or two age bands when not grouped by age band).
/// - Part 2: a yearly unit with months in both publishable and suppressed cells contributes the
///   monthly rows of its publishable months only. Such units belong to suppressed cells' few
///   people, so they are read by primary key.
/// - Part 3 (percentiles): bucket counts by the same rules.
///
/// With whole years, `units` is small (one row per resident and year) and is materialised once
/// for all parts. Without, it would hold every monthly row: `masks` then sums the monthly rows
/// directly, grouped by their own columns, whose statistics let the planner aggregate them in a
/// hash table, and `units` is only built when part 1 needs it.
fn statement(sql_of: Dialect, shape: Shape<'_>) -> String {
    let (year, bit) = (|c: &str| sql_of.year(c), |c: &str| sql_of.bit(c));
    let lane = |t: &str| format!("l.year = {t}.year AND l.age_band = {t}.age_band AND l.sex = {t}.sex");
    let monthly_units = format!(
        "SELECT r.user_id, {ry} AS year, r.month, r.age_band, r.sex, CAST(1 AS BIGINT) << {rb} AS mask, \
                r.n, r.total, r.total_sq \
         FROM measurement_rollups r \
         WHERE r.kind = $1 AND r.field = $2 AND NOT (r.month >= $3 AND r.month <= $4) \
           AND r.month >= $5 AND r.month <= $6",
        ry = year("r.month"),
        rb = bit("r.month"),
    );
    let mut sql = if shape.whole_years {
        format!(
            "WITH units AS MATERIALIZED ( \
               SELECT u.user_id, u.year, u.month, u.age_band, u.sex, u.mask, u.n, u.total, u.total_sq FROM ( \
                 SELECT y.user_id, y.year, CAST(NULL AS DATE) AS month, y.age_band, y.sex, \
                        CAST(y.months AS BIGINT) AS mask, y.n, y.total, y.total_sq \
                 FROM measurement_rollup_years y \
                 WHERE y.kind = $1 AND y.field = $2 AND y.year >= $3 AND y.year <= $4 \
                 UNION ALL {monthly_units}) u \
               WHERE {consent_u}), \
             masks AS MATERIALIZED ( \
               SELECT year, month, age_band, sex, mask, count(*) AS people, CAST(sum(n) AS BIGINT) AS n, \
                      CAST(sum(total) AS DOUBLE PRECISION) AS total, \
                      CAST(sum(total_sq) AS DOUBLE PRECISION) AS total_sq \
               FROM units GROUP BY year, month, age_band, sex, mask)",
            consent_u = consent_filter("u"),
        )
    } else {
        // One monthly row per resident and cell: a cell's people are its rows.
        let mut sql = format!(
            "WITH masks AS MATERIALIZED ( \
               SELECT {ry} AS year, r.month, r.age_band, r.sex, CAST(1 AS BIGINT) << {rb} AS mask, \
                      count(*) AS people, CAST(sum(r.n) AS BIGINT) AS n, \
                      CAST(sum(r.total) AS DOUBLE PRECISION) AS total, \
                      CAST(sum(r.total_sq) AS DOUBLE PRECISION) AS total_sq \
               FROM measurement_rollups r \
               WHERE r.kind = $1 AND r.field = $2 AND NOT (r.month >= $3 AND r.month <= $4) \
                 AND r.month >= $5 AND r.month <= $6 AND {consent_r} \
               GROUP BY r.month, r.age_band, r.sex)",
            ry = year("r.month"),
            rb = bit("r.month"),
            consent_r = consent_filter("r"),
        );
        if !shape.one_unit_per_group {
            sql += &format!(
                ", units AS MATERIALIZED (SELECT u.* FROM ({monthly_units}) u WHERE {consent_u})",
                consent_u = consent_filter("u"),
            );
        }
        sql
    };
    sql += ", cells AS ( \
           SELECT m.year, m.age_band, m.sex, b.column1 AS bit, sum(m.people) AS people FROM masks m \
           JOIN (VALUES (0), (1), (2), (3), (4), (5), (6), (7), (8), (9), (10), (11)) b \
             ON (m.mask >> b.column1) & 1 = 1 \
           GROUP BY m.year, m.age_band, m.sex, b.column1), \
         lanes AS MATERIALIZED ( \
           SELECT year, age_band, sex, \
                  CAST(sum(CASE WHEN people >= $9 THEN CAST(1 AS BIGINT) << bit ELSE 0 END) AS BIGINT) AS pub, \
                  CAST(sum(CASE WHEN people < $9 THEN CAST(1 AS BIGINT) << bit ELSE 0 END) AS BIGINT) AS sup \
           FROM cells GROUP BY year, age_band, sex)";
    if shape.percentiles {
        // Summed per bucket by the tables' own columns (see `masks`), each branch of consenting
        // members only.
        sql += &format!(
            ", bucket_masks AS ( \
               SELECT b.year, CAST(NULL AS DATE) AS month, b.age_band, b.sex, CAST(b.months AS BIGINT) AS mask, \
                      b.bucket, sum(b.n) AS n \
               FROM measurement_rollup_year_buckets b \
               WHERE b.kind = $1 AND b.field = $2 AND b.year >= $3 AND b.year <= $4 AND {consent_yb} \
               GROUP BY b.year, b.age_band, b.sex, b.months, b.bucket \
               UNION ALL \
               SELECT {by}, b.month, b.age_band, b.sex, CAST(1 AS BIGINT) << {bb}, b.bucket, sum(b.n) \
               FROM measurement_rollup_buckets b \
               WHERE b.kind = $1 AND b.field = $2 AND NOT (b.month >= $3 AND b.month <= $4) \
                 AND b.month >= $5 AND b.month <= $6 AND {consent_b} \
               GROUP BY b.month, b.age_band, b.sex, b.bucket)",
            by = year("b.month"),
            bb = bit("b.month"),
            consent_yb = consent_filter("b"),
            consent_b = consent_filter("b"),
        );
    }
    let people = if shape.one_unit_per_group {
        "CAST(sum(CASE WHEN m.mask & l.pub <> 0 THEN m.people ELSE 0 END) AS BIGINT)"
    } else {
        "CAST(0 AS BIGINT)"
    };
    let clean =
        |col: &str, ty: &str| format!("CAST(sum(CASE WHEN m.mask & l.sup = 0 THEN m.{col} ELSE 0 END) AS {ty})");
    sql += &format!(
        " SELECT 0 AS part, {cols}, {people} AS people, {n} AS n, {total} AS total, {total_sq} AS total_sq, \
                 CAST(NULL AS INTEGER) AS bucket \
          FROM masks m JOIN lanes l ON {lane_m} GROUP BY 2, 3, 4",
        cols = group_columns("m", shape.dims),
        n = clean("n", "BIGINT"),
        total = clean("total", "DOUBLE PRECISION"),
        total_sq = clean("total_sq", "DOUBLE PRECISION"),
        lane_m = lane("m"),
    );
    if !shape.one_unit_per_group {
        sql += &format!(
            " UNION ALL \
              SELECT 1, d.month, d.age_band, d.sex, CAST(count(*) AS BIGINT), CAST(0 AS BIGINT), \
                     CAST(0 AS DOUBLE PRECISION), CAST(0 AS DOUBLE PRECISION), CAST(NULL AS INTEGER) \
              FROM (SELECT DISTINCT {cols}, u.user_id FROM units u JOIN lanes l ON {lane_u} \
                    WHERE u.mask & l.pub <> 0) d \
              GROUP BY 2, 3, 4",
            cols = group_columns("u", shape.dims),
            lane_u = lane("u"),
        );
    }
    if shape.percentiles {
        sql += &format!(
            " UNION ALL \
              SELECT 3, {cols}, CAST(0 AS BIGINT), CAST(sum(bm.n) AS BIGINT), CAST(0 AS DOUBLE PRECISION), \
                     CAST(0 AS DOUBLE PRECISION), bm.bucket \
              FROM bucket_masks bm JOIN lanes l ON {lane_bm} WHERE bm.mask & l.sup = 0 GROUP BY 2, 3, 4, 9",
            cols = group_columns("bm", shape.dims),
            lane_bm = lane("bm"),
        );
    }
    if !shape.whole_years {
        return sql;
    }
    // A yearly unit's monthly rows of its publishable months (only units straddling both kinds).
    // `l.sup <> 0` is implied, but stated it lets the planner skip the units when no month of any
    // lane is suppressed.
    let straddling = |t: &str, table: &str| {
        format!(
            "FROM units u JOIN lanes l ON {lane_u} AND l.sup <> 0 \
             JOIN {table} {t} ON {t}.user_id = u.user_id AND {t}.kind = $1 AND {t}.field = $2 \
               AND {t}.month >= $3 AND {t}.month <= $4 AND {t}.age_band = u.age_band \
             WHERE u.mask & l.sup <> 0 AND u.mask & l.pub <> 0 AND {ty} = u.year AND (l.pub >> {tb}) & 1 = 1",
            lane_u = lane("u"),
            ty = year(&format!("{t}.month")),
            tb = bit(&format!("{t}.month")),
        )
    };
    sql += &format!(
        " UNION ALL \
          SELECT 2, {cols}, CAST(0 AS BIGINT), CAST(sum(r.n) AS BIGINT), CAST(sum(r.total) AS DOUBLE PRECISION), \
                 CAST(sum(r.total_sq) AS DOUBLE PRECISION), CAST(NULL AS INTEGER) \
          {from} GROUP BY 2, 3, 4",
        cols = group_columns("u", shape.dims),
        from = straddling("r", "measurement_rollups"),
    );
    if shape.percentiles {
        sql += &format!(
            " UNION ALL \
              SELECT 3, {cols}, CAST(0 AS BIGINT), CAST(sum(b.n) AS BIGINT), CAST(0 AS DOUBLE PRECISION), \
                     CAST(0 AS DOUBLE PRECISION), b.bucket \
              {from} GROUP BY 2, 3, 4, 9",
            cols = group_columns("u", shape.dims),
            from = straddling("b", "measurement_rollup_buckets"),
        );
    }
    sql
}

/// Runs an aggregate for an organisation: only members with a consent in force covering the
/// type count; cells of fewer than `k_min` people are dropped before groups are combined. One
/// statement, so it reads one snapshot; run inside a transaction all the same (see [`snapshot`]).
pub fn run(conn: &mut DbConn, org: Id, req: &Request, k_min: i64, now: Ts) -> QueryResult<Answer> {
    let dims = &req.group_by;
    let years = whole_years(req);
    // A resident has one unit per cell, and one per (year, age band) in the yearly rows: with age
    // bands grouped, by month or over one whole year and nothing else, nobody is in a group twice.
    let one_unit_per_group = dims.contains(&Dim::AgeBand)
        && (dims.contains(&Dim::Month)
            || years.is_some_and(|(first, last)| first == req.from && last == req.to && first.year() == last.year()));
    let percentiles = req.stats.iter().any(|s| matches!(s, Stat::P10 | Stat::P50 | Stat::P90));
    // No whole years: an empty range (`from` is the first of a month, so it has a next day).
    let (first_year, last_year) = years.unwrap_or((req.from.succ_opt().unwrap_or(NaiveDate::MAX), req.from));
    let shape = Shape {
        dims,
        whole_years: years.is_some(),
        one_unit_per_group,
        percentiles,
    };
    let sql = statement(Dialect::of(conn), shape);
    let rows: Vec<PartRow> = diesel::sql_query(sql)
        .bind::<Text, _>(req.kind.name)
        .bind::<Text, _>(req.field.name)
        .bind::<Date, _>(first_year)
        .bind::<Date, _>(last_year)
        .bind::<Date, _>(req.from)
        .bind::<Date, _>(req.to)
        .bind::<SqlUuid, _>(org)
        .bind::<SqlTs, _>(now)
        .bind::<BigInt, _>(k_min)
        .load(conn)?;
    let mut all: BTreeSet<Key> = BTreeSet::new();
    let mut groups: BTreeMap<Key, Group> = BTreeMap::new();
    for r in rows {
        let key = key_of(dims, r.month, r.age_band, r.sex);
        if r.part == 0 {
            all.insert(key.clone());
        }
        let g = groups.entry(key).or_insert_with(|| Group {
            people: 0,
            sums: Sums::default(),
            hist: BTreeMap::new(),
        });
        g.people += r.people;
        match r.bucket {
            Some(b) => *g.hist.entry(b).or_default() += r.n,
            None => g.sums.add(&Sums {
                n: r.n,
                total: r.total,
                total_sq: r.total_sq,
            }),
        }
    }
    Ok(Answer {
        groups: all
            .into_iter()
            .map(|k| {
                // People are counted over publishable cells only: none means no publishable cell.
                let g = groups.remove(&k).filter(|g| g.people > 0);
                (k, g)
            })
            .collect(),
    })
}

/// Makes the rest of the caller's PostgreSQL transaction read one snapshot, so that the
/// statements of one answer (an aggregate and its audit entry, or the programme statistics' several
/// figures) agree on the data. Must be the transaction's first statement. (SQLite's transactions
/// are serialisable already.)
pub fn snapshot(conn: &mut DbConn) -> QueryResult<()> {
    if let DbConn::Pg(c) = conn {
        diesel::sql_query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ").execute(c)?;
    }
    Ok(())
}

/// A statistic of a published group, before any noise.
pub fn statistic(req: &Request, g: &Group, stat: Stat) -> Option<f64> {
    let (lo, hi) = rollup::range(req.field)?;
    #[expect(clippy::cast_precision_loss, reason = "counts stay far below 2^52")]
    match stat {
        Stat::Count => Some(g.sums.n as f64),
        Stat::Mean => g.sums.mean(),
        Stat::Stddev => g.sums.stddev(),
        Stat::P10 => stats::quantile(&g.hist, lo, hi, 0.1),
        Stat::P50 => stats::quantile(&g.hist, lo, hi, 0.5),
        Stat::P90 => stats::quantile(&g.hist, lo, hi, 0.9),
    }
}
