//! Programme statistics for an organisation: members, consenting members, active residents,
//! mean daily steps and points earned, each under the same k-anonymity rule as aggregates.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Date, Nullable, Text};

use super::query::{self, Dim, Request, Stat};
use super::rollup;
use crate::db::types::{SqlTs, SqlUuid};
use crate::db::{DbConn, Id, Ts};
use crate::measurements::catalogue;

/// A figure that is published only when at least `k_min` people stand behind it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Figure {
    /// Published.
    Value(f64),
    /// Fewer than `k_min` people (or no publishable cell).
    Suppressed,
}

/// The programme statistics.
#[derive(Debug, Clone, PartialEq)]
pub struct ProgramStats {
    /// Current members.
    pub members: Figure,
    /// Current members with a consent in force to the organisation.
    pub consenting: Figure,
    /// Consenting members with a measurement of a consented type in the period, counted over
    /// publishable cells only.
    pub active_residents: Figure,
    /// Mean of daily step totals, from publishable cells of members consenting to `steps`.
    pub mean_daily_steps: Figure,
    /// Points earned in the period by members whose consent includes points, from publishable
    /// cells (month × age band on the month's first day × sex).
    pub points_earned: Figure,
}

fn counted(n: i64, k_min: i64) -> Figure {
    #[expect(clippy::cast_precision_loss, reason = "counts of people")]
    if n >= k_min {
        Figure::Value(n as f64)
    } else {
        Figure::Suppressed
    }
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

#[derive(QueryableByName)]
struct PointsCell {
    #[diesel(sql_type = Text)]
    month: String,
    #[diesel(sql_type = Text)]
    sex: String,
    #[diesel(sql_type = Nullable<Date>)]
    birth_date: Option<NaiveDate>,
    #[diesel(sql_type = BigInt)]
    people: i64,
    #[diesel(sql_type = BigInt)]
    points: i64,
}

/// Computes the statistics for `org` over the months from `from` to `to` (first days). Run in a
/// transaction after [`query::snapshot`].
pub fn compute(
    conn: &mut DbConn,
    org: Id,
    from: NaiveDate,
    to: NaiveDate,
    k_min: i64,
    now: Ts,
) -> QueryResult<ProgramStats> {
    // A consent in force to the organisation (`$1`) at `$2`. SQLite numbers `$n` placeholders in
    // the order they first appear, so every statement here uses them in ascending order.
    let live = crate::sharing::consents::in_force_sql("$1", "$2");
    let members = crate::sharing::memberships::count_current(conn, org)?;
    let consenting: Count = diesel::sql_query(format!(
        "SELECT count(DISTINCT c.user_id) AS n FROM consents c WHERE {live}"
    ))
    .bind::<SqlUuid, _>(org)
    .bind::<SqlTs, _>(now)
    .get_result(conn)?;
    // Active people are counted over publishable cells (month × age band × sex) only, as every
    // other figure, so two periods' answers cannot be differenced into a suppressed cell.
    let active: Count = diesel::sql_query(format!(
        "WITH active AS (SELECT DISTINCT r.user_id, r.month, r.age_band, r.sex FROM measurement_rollups r \
           WHERE EXISTS (SELECT 1 FROM consents c JOIN consent_types ct ON ct.consent_id = c.id \
                         WHERE {live} AND c.user_id = r.user_id AND ct.measurement_type = r.kind) \
             AND r.month >= $3 AND r.month <= $4), \
         cells AS (SELECT month, age_band, sex FROM active GROUP BY month, age_band, sex HAVING count(*) >= $5) \
         SELECT count(DISTINCT a.user_id) AS n FROM active a \
           JOIN cells c ON c.month = a.month AND c.age_band = a.age_band AND c.sex = a.sex"
    ))
    .bind::<SqlUuid, _>(org)
    .bind::<SqlTs, _>(now)
    .bind::<Date, _>(from)
    .bind::<Date, _>(to)
    .bind::<BigInt, _>(k_min)
    .get_result(conn)?;

    let mean_daily_steps = match catalogue::find("steps").and_then(|d| d.field("count").map(|f| (d, f))) {
        Some((kind, field)) => {
            let req = Request {
                kind,
                field,
                from,
                to,
                group_by: Vec::<Dim>::new(),
                stats: vec![Stat::Mean],
            };
            let answer = query::run(conn, org, &req, k_min, now)?;
            answer
                .groups
                .first()
                .and_then(|(_, g)| g.as_ref())
                .and_then(|g| query::statistic(&req, g, Stat::Mean))
                .map_or(Figure::Suppressed, Figure::Value)
        }
        None => Figure::Suppressed,
    };

    let month_expr = match conn {
        DbConn::Pg(_) => "to_char(l.local_date, 'YYYY-MM-01')",
        DbConn::Sqlite(_) => "strftime('%Y-%m-01', l.local_date)",
    };
    let end = to.checked_add_months(chrono::Months::new(1)).unwrap_or(to);
    let cells: Vec<PointsCell> = diesel::sql_query(format!(
        "SELECT {month_expr} AS month, u.sex AS sex, u.birth_date AS birth_date, \
                count(DISTINCT l.user_id) AS people, CAST(sum(l.delta) AS BIGINT) AS points \
         FROM points_ledger l JOIN users u ON u.id = l.user_id \
         WHERE l.user_id IN (SELECT c.user_id FROM consents c WHERE {live} AND c.include_points) \
           AND l.delta > 0 AND l.local_date >= $3 AND l.local_date < $4 \
         GROUP BY 1, 2, 3"
    ))
    .bind::<SqlUuid, _>(org)
    .bind::<SqlTs, _>(now)
    .bind::<Date, _>(from)
    .bind::<Date, _>(end)
    .load(conn)?;
    // Birth dates are folded into age bands here; a cell is published only with k_min people.
    let mut by_cell: BTreeMap<(String, String, String), (i64, i64)> = BTreeMap::new();
    for c in cells {
        let month = NaiveDate::parse_from_str(&c.month, "%Y-%m-%d").ok();
        let age = c
            .birth_date
            .zip(month)
            .and_then(|(b, m)| crate::measurements::age_on(b, m));
        let e = by_cell.entry((c.month, rollup::age_band(age), c.sex)).or_default();
        e.0 += c.people;
        e.1 += c.points;
    }
    let published: Vec<i64> = by_cell
        .values()
        .filter(|(p, _)| *p >= k_min)
        .map(|(_, pts)| *pts)
        .collect();
    #[expect(clippy::cast_precision_loss, reason = "point totals")]
    let points_earned = if published.is_empty() {
        Figure::Suppressed
    } else {
        Figure::Value(published.iter().sum::<i64>() as f64)
    };

    Ok(ProgramStats {
        members: counted(members, k_min),
        consenting: counted(consenting.n, k_min),
        active_residents: counted(active.n, k_min),
        mean_daily_steps,
        points_earned,
    })
}
