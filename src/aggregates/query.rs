//! The aggregate query: consent in the SQL, atomic cells, suppression before combination.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::NaiveDate;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Date, Double, Nullable, Text};

use super::rollup;
use super::stats::{self, Sums};
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
struct CellRow {
    #[diesel(sql_type = Date)]
    month: NaiveDate,
    #[diesel(sql_type = Text)]
    age_band: String,
    #[diesel(sql_type = Text)]
    sex: String,
    #[diesel(sql_type = BigInt)]
    people: i64,
    #[diesel(sql_type = BigInt)]
    n: i64,
    #[diesel(sql_type = Double)]
    total: f64,
    #[diesel(sql_type = Double)]
    total_sq: f64,
}

#[derive(QueryableByName, Debug)]
struct GroupPeopleRow {
    #[diesel(sql_type = Nullable<Date>)]
    month: Option<NaiveDate>,
    #[diesel(sql_type = Nullable<Text>)]
    age_band: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    sex: Option<String>,
    #[diesel(sql_type = BigInt)]
    people: i64,
}

#[derive(QueryableByName, Debug)]
struct BucketCountRow {
    #[diesel(sql_type = Nullable<Date>)]
    month: Option<NaiveDate>,
    #[diesel(sql_type = Nullable<Text>)]
    age_band: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    sex: Option<String>,
    #[diesel(sql_type = diesel::sql_types::Integer)]
    bucket: i32,
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// The consenting-members condition on `{t}.user_id`: members with a consent in force to the
/// organisation (`$5`) at `$6` covering the type (`$1`), at either access level. It is part of
/// every aggregate statement, so no answer can include a non-consenting resident.
fn consent_filter(t: &str) -> String {
    // Either access level allows aggregates, so the level needs no condition.
    format!(
        "{t}.user_id IN (SELECT c.user_id FROM consents c WHERE {} \
             AND EXISTS (SELECT 1 FROM consent_types ct WHERE ct.consent_id = c.id AND ct.measurement_type = $1))",
        crate::sharing::consents::in_force_sql("$5", "$6")
    )
}

pub(super) fn row_filter(t: &str) -> String {
    format!(
        "{t}.kind = $1 AND {t}.field = $2 AND {t}.month >= $3 AND {t}.month <= $4 AND {}",
        consent_filter(t)
    )
}

/// The publishable cells (at least `$7` people), as a CTE.
pub(super) fn publishable_cells() -> String {
    format!(
        "cells AS (SELECT r.month, r.age_band, r.sex FROM measurement_rollups r WHERE {} \
           GROUP BY r.month, r.age_band, r.sex HAVING count(*) >= $7)",
        row_filter("r")
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

macro_rules! bind_common {
    ($q:expr, $req:expr, $org:expr, $now:expr) => {
        $q.bind::<diesel::sql_types::Text, _>($req.kind.name)
            .bind::<diesel::sql_types::Text, _>($req.field.name)
            .bind::<diesel::sql_types::Date, _>($req.from)
            .bind::<diesel::sql_types::Date, _>($req.to)
            .bind::<$crate::db::types::SqlUuid, _>($org)
            .bind::<$crate::db::types::SqlTs, _>($now)
    };
}
pub(super) use bind_common;

/// Runs an aggregate for an organisation: only members with a consent in force covering the
/// type count; cells of fewer than `k_min` people are dropped before groups are combined. Run
/// inside a transaction (on PostgreSQL it reads one snapshot: see [`snapshot`]).
pub fn run(conn: &mut DbConn, org: Id, req: &Request, k_min: i64, now: Ts) -> QueryResult<Answer> {
    let cells_sql = format!(
        "SELECT r.month, r.age_band, r.sex, count(*) AS people, CAST(sum(r.n) AS BIGINT) AS n, \
                CAST(sum(r.total) AS DOUBLE PRECISION) AS total, \
                CAST(sum(r.total_sq) AS DOUBLE PRECISION) AS total_sq \
         FROM measurement_rollups r WHERE {} GROUP BY r.month, r.age_band, r.sex",
        row_filter("r")
    );
    let cells: Vec<CellRow> = bind_common!(diesel::sql_query(cells_sql), req, org, now).load(conn)?;
    let dims = &req.group_by;
    let mut all: BTreeSet<Key> = BTreeSet::new();
    let mut published: BTreeMap<Key, Group> = BTreeMap::new();
    for c in &cells {
        let key = key_of(dims, Some(c.month), Some(c.age_band.clone()), Some(c.sex.clone()));
        all.insert(key.clone());
        if c.people >= k_min {
            let g = published.entry(key).or_insert_with(|| Group {
                people: 0,
                sums: Sums::default(),
                hist: BTreeMap::new(),
            });
            g.people += c.people;
            g.sums.add(&Sums {
                n: c.n,
                total: c.total,
                total_sq: c.total_sq,
            });
        }
    }
    let every_dim = [Dim::AgeBand, Dim::Sex, Dim::Month].iter().all(|d| dims.contains(d));
    if !published.is_empty() && !every_dim {
        // A group spans several cells, and one person can be in several of them (months, or a
        // birthday within a month): count distinct people over the publishable cells.
        let sql = format!(
            "WITH {} SELECT {}, count(DISTINCT r.user_id) AS people \
             FROM measurement_rollups r JOIN cells c \
               ON c.month = r.month AND c.age_band = r.age_band AND c.sex = r.sex \
             WHERE {} GROUP BY 1, 2, 3",
            publishable_cells(),
            group_columns("r", dims),
            row_filter("r")
        );
        let rows: Vec<GroupPeopleRow> = bind_common!(diesel::sql_query(sql), req, org, now)
            .bind::<BigInt, _>(k_min)
            .load(conn)?;
        let people: HashMap<Key, i64> = rows
            .into_iter()
            .map(|r| (key_of(dims, r.month, r.age_band, r.sex), r.people))
            .collect();
        for (key, g) in &mut published {
            g.people = people.get(key).copied().unwrap_or(0);
        }
    }
    let wants_percentiles = req.stats.iter().any(|s| matches!(s, Stat::P10 | Stat::P50 | Stat::P90));
    if !published.is_empty() && wants_percentiles {
        let sql = format!(
            "WITH {} SELECT {}, b.bucket AS bucket, CAST(sum(b.n) AS BIGINT) AS n \
             FROM measurement_rollup_buckets b JOIN cells c \
               ON c.month = b.month AND c.age_band = b.age_band AND c.sex = b.sex \
             WHERE {} GROUP BY 1, 2, 3, 4",
            publishable_cells(),
            group_columns("b", dims),
            row_filter("b")
        );
        let rows: Vec<BucketCountRow> = bind_common!(diesel::sql_query(sql), req, org, now)
            .bind::<BigInt, _>(k_min)
            .load(conn)?;
        for r in rows {
            if let Some(g) = published.get_mut(&key_of(dims, r.month, r.age_band, r.sex)) {
                *g.hist.entry(r.bucket).or_default() += r.n;
            }
        }
    }
    Ok(Answer {
        groups: all
            .into_iter()
            .map(|k| {
                let g = published.remove(&k);
                (k, g)
            })
            .collect(),
    })
}

/// Makes the rest of the caller's PostgreSQL transaction read one snapshot, so the statements of
/// one aggregate agree on the cells. Must be the transaction's first statement. (SQLite's
/// transactions are serialisable already.)
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
