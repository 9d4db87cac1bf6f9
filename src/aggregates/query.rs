//! The aggregate query: consent in the SQL, atomic cells, suppression before combination, all in
//! one statement that reads whole calendar years from the yearly rollup.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{Datelike, NaiveDate};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Date, Double, Integer, Nullable, Text};

use super::stats::Sums;
use crate::db::types::{SqlTs, SqlUuid};
use crate::db::{DbConn, OrgId, Ts};

pub use super::request::{Answer, Dim, Group, Key, Request, Stat, statistic};

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

/// The whole years as `$3`–`$4` bind them: an empty range when there are none (`from` is the first
/// of a month, so it has a next day).
pub(super) fn whole_years_or_none(req: &Request) -> (NaiveDate, NaiveDate) {
    whole_years(req).unwrap_or((req.from.succ_opt().unwrap_or(NaiveDate::MAX), req.from))
}

/// The backend's SQL for what the statement needs of a date column.
#[derive(Debug, Clone, Copy)]
pub(super) enum Dialect {
    Pg,
    Sqlite,
}

impl Dialect {
    pub(super) fn of(conn: &DbConn) -> Self {
        match conn {
            DbConn::Pg(_) => Dialect::Pg,
            DbConn::Sqlite(_) => Dialect::Sqlite,
        }
    }

    /// The first day of the column's year.
    pub(super) fn year(self, c: &str) -> String {
        match self {
            Dialect::Pg => format!("CAST(date_trunc('year', CAST({c} AS TIMESTAMP)) AS DATE)"),
            Dialect::Sqlite => format!("strftime('%Y-01-01', {c})"),
        }
    }

    /// The bit of the column's month in a yearly row's mask.
    pub(super) fn bit(self, c: &str) -> String {
        match self {
            Dialect::Pg => format!("(CAST(extract(month FROM {c}) AS INTEGER) - 1)"),
            Dialect::Sqlite => format!("(CAST(strftime('%m', {c}) AS INTEGER) - 1)"),
        }
    }

    /// A join to the rows of `table` (as `alias`) that meet `condition`, which refers to columns
    /// of the rows already in the `FROM` clause: on PostgreSQL a lateral subquery, so that the
    /// rows are read by index for each outer row (the planner cannot know how few outer rows
    /// there are); SQLite joins by nested loops anyway.
    pub(super) fn each_row(self, table: &str, alias: &str, condition: &str) -> String {
        match self {
            Dialect::Pg => format!("CROSS JOIN LATERAL (SELECT * FROM {table} {alias} WHERE {condition}) {alias}"),
            Dialect::Sqlite => format!("JOIN {table} {alias} ON {condition}"),
        }
    }

    /// The lower end of an age band column (`40-49` → 40), -1 for `unknown`: age bands order by
    /// it (their labels do not, across 100).
    pub(super) fn band_lo(self, c: &str) -> String {
        match self {
            Dialect::Pg => {
                format!("CASE WHEN {c} = 'unknown' THEN -1 ELSE CAST(split_part({c}, '-', 1) AS INTEGER) END")
            }
            Dialect::Sqlite => {
                format!(
                    "CASE WHEN {c} = 'unknown' THEN -1 ELSE CAST(substr({c}, 1, instr({c}, '-') - 1) AS INTEGER) END"
                )
            }
        }
    }

    /// The whole part of a non-negative number, as an integer (PostgreSQL's cast would round).
    pub(super) fn floor(self, x: &str) -> String {
        match self {
            Dialect::Pg => format!("CAST(floor({x}) AS INTEGER)"),
            Dialect::Sqlite => format!("CAST({x} AS INTEGER)"),
        }
    }
}

/// The SQL condition "a consent in force to the organisation (`$7`) at `$8`, covering the type
/// (`$1`) at either access level, shares `user`'s data from the day `day` on". Every statement that
/// reads rollup rows has it for each row, so no answer can include a non-consenting resident or a
/// month before a consent's first day. (A month is read only when it starts on or after that day:
/// a partial month is left out whole.) As a correlated `EXISTS` on the consent tables, the planner
/// reads the organisation's consents once into a hash for a large set of rows, or probes them by
/// resident for a few.
pub(super) fn shared(user: &str, day: &str) -> String {
    // Either access level allows aggregates, so the level needs no condition.
    format!(
        "EXISTS (SELECT 1 FROM consents c JOIN consent_types ct ON ct.consent_id = c.id \
           WHERE c.user_id = {user} AND {} AND ct.measurement_type = $1 AND c.data_from <= {day})",
        crate::sharing::consents::in_force_sql("$7", "$8")
    )
}

/// The consenting members' units of a period (the `units` CTE's body; placeholders as in
/// [`statement`]): a yearly row for each whole year (`$3`–`$4`) the member's consents share from
/// its first day; for a whole year they share only from later in it, the shared months summed
/// into one unit of the same shape (so nobody has two units in one year and age band); a monthly
/// row for every other month of the period (`$5`–`$6`) they share. A unit's `mask` holds the bits
/// of the months it covers; `synthetic` marks the units summed from monthly rows.
pub(super) fn units_sql(sql_of: Dialect) -> String {
    let (year, bit) = (|c: &str| sql_of.year(c), |c: &str| sql_of.bit(c));
    // A consent that shares from later than a whole year's first day leaves that year to be summed
    // from the monthly rows: the few members with such a consent are found first and their rows
    // read by primary key.
    let ry = year("r.month");
    let their_months = sql_of.each_row(
        "measurement_rollups",
        "r",
        "r.user_id = k.user_id AND r.kind = $1 AND r.field = $2 AND r.month >= $3 AND r.month <= $4",
    );
    format!(
        "SELECT y.user_id, y.year, CAST(NULL AS DATE) AS month, y.age_band, y.sex, \
                CAST(y.months AS BIGINT) AS mask, CAST(y.n AS BIGINT) AS n, y.total, y.total_sq, \
                0 AS synthetic \
         FROM measurement_rollup_years y \
         WHERE y.kind = $1 AND y.field = $2 AND y.year >= $3 AND y.year <= $4 AND {shared_year} \
         UNION ALL \
         SELECT r.user_id, {ry}, CAST(NULL AS DATE), r.age_band, r.sex, \
                CAST(sum(CAST(1 AS BIGINT) << {rb}) AS BIGINT), CAST(sum(r.n) AS BIGINT), \
                CAST(sum(r.total) AS DOUBLE PRECISION), CAST(sum(r.total_sq) AS DOUBLE PRECISION), 1 \
         FROM (SELECT DISTINCT c.user_id FROM consents c JOIN consent_types ct ON ct.consent_id = c.id \
               WHERE {in_force} AND ct.measurement_type = $1 AND c.data_from > $3 AND c.data_from <= $4) k \
              {their_months} \
         WHERE {shared_month} AND NOT {shared_from_year} \
         GROUP BY r.user_id, {ry}, r.age_band, r.sex \
         UNION ALL {monthly}",
        shared_year = shared("y.user_id", "y.year"),
        in_force = crate::sharing::consents::in_force_sql("$7", "$8"),
        shared_month = shared("r.user_id", "r.month"),
        shared_from_year = shared("r.user_id", &ry),
        rb = bit("r.month"),
        monthly = monthly_units_sql(sql_of),
    )
}

/// The consenting members' monthly rows of the period's months outside the whole years, as units.
fn monthly_units_sql(sql_of: Dialect) -> String {
    format!(
        "SELECT r.user_id, {ry} AS year, r.month, r.age_band, r.sex, CAST(1 AS BIGINT) << {rb} AS mask, \
                CAST(r.n AS BIGINT) AS n, r.total, r.total_sq, 0 AS synthetic \
         FROM measurement_rollups r \
         WHERE r.kind = $1 AND r.field = $2 AND {outside} AND {shared}",
        ry = sql_of.year("r.month"),
        rb = sql_of.bit("r.month"),
        shared = shared("r.user_id", "r.month"),
        outside = outside_whole_years("r.month"),
    )
}

/// The SQL condition "month column `c` is one of the period's months (`$5`–`$6`) outside its whole
/// years (`$3`–`$4`)", as two ranges rather than the period less the years, so the `(kind,
/// field, month)` index reads only those months: over one whole year it reads nothing, where
/// "the year, but not the year" read every monthly row of it and threw them away (a cost that
/// grew with the measurements). Without whole years `$3` is the day after `$5` and `$4` is `$5`,
/// so the ranges are the first month and the rest.
fn outside_whole_years(c: &str) -> String {
    format!("(({c} >= $5 AND {c} < $3) OR ({c} > $4 AND {c} <= $6))")
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
/// period, `$7` organisation, `$8` now, `$9` k_min (bound by number: [`crate::db::numbered`]).
///
/// - Every read of rollup rows carries the consent condition ([`shared`]).
/// - `units`: the consenting members' rollup rows ([`units_sql`]) — a yearly row (or the shared
///   months of it as one unit) for each whole year, a monthly row for each other month — with the
///   months each covers as a bit mask (one bit for a monthly row). A resident has at most one unit
///   per cell.
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
    let mut sql = String::from("WITH ");
    if shape.whole_years {
        sql += &format!(
            "units AS MATERIALIZED ({units}), \
             masks AS MATERIALIZED ( \
               SELECT year, month, age_band, sex, mask, count(*) AS people, CAST(sum(n) AS BIGINT) AS n, \
                      CAST(sum(total) AS DOUBLE PRECISION) AS total, \
                      CAST(sum(total_sq) AS DOUBLE PRECISION) AS total_sq \
               FROM units GROUP BY year, month, age_band, sex, mask)",
            units = units_sql(sql_of),
        );
    } else {
        // One monthly row per resident and cell: a cell's people are its rows.
        sql += &format!(
            "masks AS MATERIALIZED ( \
               SELECT {ry} AS year, r.month, r.age_band, r.sex, CAST(1 AS BIGINT) << {rb} AS mask, \
                      count(*) AS people, CAST(sum(r.n) AS BIGINT) AS n, \
                      CAST(sum(r.total) AS DOUBLE PRECISION) AS total, \
                      CAST(sum(r.total_sq) AS DOUBLE PRECISION) AS total_sq \
               FROM measurement_rollups r \
               WHERE r.kind = $1 AND r.field = $2 AND {outside} AND {shared} \
               GROUP BY r.month, r.age_band, r.sex)",
            ry = year("r.month"),
            rb = bit("r.month"),
            shared = shared("r.user_id", "r.month"),
            outside = outside_whole_years("r.month"),
        );
        if !shape.one_unit_per_group {
            sql += &format!(
                ", units AS MATERIALIZED ({monthly})",
                monthly = monthly_units_sql(sql_of),
            );
        }
    }
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
        // members only, each from the first month their consents share.
        let whole_years = if shape.whole_years {
            format!(
                "SELECT b.year, CAST(NULL AS DATE) AS month, b.age_band, b.sex, CAST(b.months AS BIGINT) AS mask, \
                        b.bucket, sum(b.n) AS n \
                 FROM measurement_rollup_year_buckets b \
                 WHERE b.kind = $1 AND b.field = $2 AND b.year >= $3 AND b.year <= $4 AND {shared_year} \
                 GROUP BY b.year, b.age_band, b.sex, b.months, b.bucket \
                 UNION ALL \
                 SELECT u.year, CAST(NULL AS DATE), u.age_band, u.sex, u.mask, b.bucket, sum(b.n) \
                 FROM units u {shared_buckets} \
                 WHERE u.synthetic = 1 \
                 GROUP BY u.year, u.age_band, u.sex, u.mask, b.bucket \
                 UNION ALL ",
                shared_buckets = sql_of.each_row(
                    "measurement_rollup_buckets",
                    "b",
                    &format!(
                        "b.user_id = u.user_id AND b.kind = $1 AND b.field = $2 AND b.month >= $3 \
                         AND b.month <= $4 AND b.age_band = u.age_band AND {} = u.year \
                         AND (u.mask >> {}) & 1 = 1",
                        year("b.month"),
                        bit("b.month")
                    ),
                ),
                shared_year = shared("b.user_id", "b.year"),
            )
        } else {
            String::new()
        };
        sql += &format!(
            ", bucket_masks AS ( \
               {whole_years} \
               SELECT {by} AS year, b.month AS month, b.age_band AS age_band, b.sex AS sex, \
                      CAST(1 AS BIGINT) << {bb} AS mask, b.bucket AS bucket, sum(b.n) AS n \
               FROM measurement_rollup_buckets b \
               WHERE b.kind = $1 AND b.field = $2 AND {outside} AND {shared} \
               GROUP BY b.month, b.age_band, b.sex, b.bucket)",
            by = year("b.month"),
            bb = bit("b.month"),
            shared = shared("b.user_id", "b.month"),
            outside = outside_whole_years("b.month"),
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
             WHERE u.mask & l.sup <> 0 AND u.mask & l.pub <> 0 AND {ty} = u.year AND (l.pub >> {tb}) & 1 = 1 \
               AND (u.mask >> {tb}) & 1 = 1",
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
pub fn run(conn: &mut DbConn, org: OrgId, req: &Request, k_min: i64, now: Ts) -> QueryResult<Answer> {
    let dims = &req.group_by;
    let years = whole_years(req);
    // A resident has one unit per cell, and one per (year, age band) in the yearly rows: with age
    // bands grouped, by month or over one whole year and nothing else, nobody is in a group twice.
    let one_unit_per_group = dims.contains(&Dim::AgeBand)
        && (dims.contains(&Dim::Month)
            || years.is_some_and(|(first, last)| first == req.from && last == req.to && first.year() == last.year()));
    let percentiles = req.stats.iter().any(|s| matches!(s, Stat::P10 | Stat::P50 | Stat::P90));
    let (first_year, last_year) = whole_years_or_none(req);
    let shape = Shape {
        dims,
        whole_years: years.is_some(),
        one_unit_per_group,
        percentiles,
    };
    let sql = crate::db::numbered(conn, &statement(Dialect::of(conn), shape));
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
