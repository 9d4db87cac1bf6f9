//! Programme statistics for an organisation: members, consenting members, active residents,
//! mean daily steps and points earned — exact under the k-anonymity rule of aggregates in `exact`
//! mode, each a noisy count or sum under differential privacy otherwise.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Date, Double, Nullable, Text};

use super::answer::Figure;
use super::private::{self, PrivatePlan};
use super::query::{self, Dim, Request, Stat};
use super::rollup;
use crate::db::types::{SqlTs, SqlUuid};
use crate::db::{DbConn, OrgId, Ts};
use crate::measurements::catalogue;
use crate::privacy::bounds;
use crate::privacy::noise::{self, NoiseError, Plan};

/// The five figures, before the answer's frame.
#[derive(Debug, Clone, PartialEq)]
pub struct Figures {
    /// Current members.
    pub members: Figure,
    /// Current members with a consent in force.
    pub consenting: Figure,
    /// Consenting members with shared data of a consented type in the period.
    pub active_residents: Figure,
    /// Mean daily steps.
    pub mean_daily_steps: Figure,
    /// Points earned.
    pub points_earned: Figure,
}

fn counted(n: i64, k_min: i64) -> Figure {
    #[expect(clippy::cast_precision_loss, reason = "counts of people")]
    if n >= k_min {
        Figure::exact(n as f64)
    } else {
        Figure::withheld()
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

#[derive(QueryableByName)]
struct PointsSums {
    #[diesel(sql_type = BigInt)]
    people: i64,
    #[diesel(sql_type = Double)]
    points: f64,
}

/// A consent in force to the organisation (`$1`) at `$2`.
fn live() -> String {
    crate::sharing::consents::in_force_sql("$1", "$2")
}

/// Members with a consent in force (`$1`, `$2`).
fn consenting(conn: &mut DbConn, org: OrgId, now: Ts) -> QueryResult<i64> {
    let sql = format!("SELECT count(DISTINCT c.user_id) AS n FROM consents c WHERE {}", live());
    let c: Count = diesel::sql_query(crate::db::numbered(conn, &sql))
        .bind::<SqlUuid, _>(org)
        .bind::<SqlTs, _>(now)
        .get_result(conn)?;
    Ok(c.n)
}

/// The rollup rows of the months `$3`–`$4` that a consent in force (`$1`, `$2`) shares: its type
/// covered, its month on or after the consent's first day.
fn shared_rows() -> String {
    format!(
        "SELECT r.user_id, r.month, r.age_band, r.sex FROM measurement_rollups r \
         WHERE r.month >= $3 AND r.month <= $4 \
           AND EXISTS (SELECT 1 FROM consents c JOIN consent_types ct ON ct.consent_id = c.id \
                       WHERE {} AND c.user_id = r.user_id AND ct.measurement_type = r.kind \
                         AND c.data_from <= r.month)",
        live()
    )
}

/// The positive ledger entries of the days `$3` to before `$4` of members whose consent in force
/// (`$1`, `$2`) includes points, from the consent's first day.
fn shared_points() -> String {
    format!(
        "FROM points_ledger l WHERE l.delta > 0 AND l.local_date >= $3 AND l.local_date < $4 \
           AND EXISTS (SELECT 1 FROM consents c WHERE {} AND c.include_points \
                       AND c.user_id = l.user_id AND c.data_from <= l.local_date)",
        live()
    )
}

/// The steps request the programme's mean daily steps are computed as.
fn steps_request(from: NaiveDate, to: NaiveDate) -> Option<Request> {
    let kind = catalogue::find("steps")?;
    let field = kind.field("count")?;
    Some(Request {
        kind,
        field,
        from,
        to,
        group_by: Vec::<Dim>::new(),
        stats: vec![Stat::Mean],
    })
}

/// The day after the period's last month.
fn end_of(to: NaiveDate) -> NaiveDate {
    to.checked_add_months(chrono::Months::new(1)).unwrap_or(to)
}

/// The statistics in `exact` mode for `org` over the months from `from` to `to` (first days):
/// every figure published only when at least `k_min` people stand behind it, and the period
/// figures from publishable cells (month × age band × sex) only, so two periods' answers cannot be
/// differenced into a suppressed cell. Run in a transaction after [`query::snapshot`].
pub fn exact(
    conn: &mut DbConn,
    org: OrgId,
    from: NaiveDate,
    to: NaiveDate,
    k_min: i64,
    now: Ts,
) -> QueryResult<Figures> {
    let members = crate::sharing::memberships::count_current(conn, org)?;
    let consenting = consenting(conn, org, now)?;
    let sql = format!(
        "WITH active AS (SELECT DISTINCT s.user_id, s.month, s.age_band, s.sex FROM ({}) s), \
         cells AS (SELECT month, age_band, sex FROM active GROUP BY month, age_band, sex HAVING count(*) >= $5) \
         SELECT count(DISTINCT a.user_id) AS n FROM active a \
           JOIN cells c ON c.month = a.month AND c.age_band = a.age_band AND c.sex = a.sex",
        shared_rows()
    );
    let active: Count = diesel::sql_query(crate::db::numbered(conn, &sql))
        .bind::<SqlUuid, _>(org)
        .bind::<SqlTs, _>(now)
        .bind::<Date, _>(from)
        .bind::<Date, _>(to)
        .bind::<BigInt, _>(k_min)
        .get_result(conn)?;

    let mean_daily_steps = match steps_request(from, to) {
        Some(req) => {
            let answer = query::run(conn, org, &req, k_min, now)?;
            answer
                .groups
                .first()
                .and_then(|(_, g)| g.as_ref())
                .and_then(|g| query::statistic(&req, g, Stat::Mean))
                .map_or_else(Figure::withheld, Figure::exact)
        }
        None => Figure::withheld(),
    };

    let month_expr = match conn {
        DbConn::Pg(_) => "to_char(l.local_date, 'YYYY-MM-01')",
        DbConn::Sqlite(_) => "strftime('%Y-%m-01', l.local_date)",
    };
    let sql = format!(
        "SELECT {month_expr} AS month, u.sex AS sex, u.birth_date AS birth_date, \
                count(DISTINCT l.user_id) AS people, CAST(sum(l.delta) AS BIGINT) AS points \
         {} AND u.id = l.user_id GROUP BY 1, 2, 3",
        shared_points().replacen("FROM points_ledger l", "FROM points_ledger l, users u", 1)
    );
    let cells: Vec<PointsCell> = diesel::sql_query(crate::db::numbered(conn, &sql))
        .bind::<SqlUuid, _>(org)
        .bind::<SqlTs, _>(now)
        .bind::<Date, _>(from)
        .bind::<Date, _>(end_of(to))
        .load(conn)?;
    // Birth dates are folded into age bands here; a cell is published only with k_min people.
    let mut by_cell: BTreeMap<(String, String, String), (i64, i64)> = BTreeMap::new();
    for c in cells {
        let month = NaiveDate::parse_from_str(&c.month, "%Y-%m-%d").ok();
        let age = c.birth_date.zip(month).and_then(|(b, m)| crate::calendar::age_on(b, m));
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
        Figure::withheld()
    } else {
        Figure::exact(published.iter().sum::<i64>() as f64)
    };

    Ok(Figures {
        members: counted(members, k_min),
        consenting: counted(consenting, k_min),
        active_residents: counted(active.n, k_min),
        mean_daily_steps,
        points_earned,
    })
}

/// The exact, bounded quantities a private release of the statistics noises.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProgramSums {
    /// Current members.
    pub members: f64,
    /// Current members with a consent in force.
    pub consenting: f64,
    /// Consenting members with shared data in the period.
    pub active: f64,
    /// Members with shared steps.
    pub steps_people: f64,
    /// Sum of their own mean daily steps, clamped and centred.
    pub steps_sum: f64,
    /// Members with shared points earned.
    pub points_people: f64,
    /// Sum of their points, each clamped to the per-day bound × days.
    pub points_sum: f64,
}

/// The most points one person adds to the total of a period of `days`.
pub fn points_cap(days: i64) -> f64 {
    #[expect(clippy::cast_precision_loss, reason = "days of a period")]
    let d = days as f64;
    bounds::POINTS_PER_DAY * d
}

/// The quantities for a private release over the months from `from` to `to` (first days).
pub fn sums(conn: &mut DbConn, org: OrgId, from: NaiveDate, to: NaiveDate, now: Ts) -> QueryResult<ProgramSums> {
    #[expect(clippy::cast_precision_loss, reason = "counts of people")]
    let f = |n: i64| n as f64;
    let members = crate::sharing::memberships::count_current(conn, org)?;
    let consenting = consenting(conn, org, now)?;
    let sql = format!("SELECT count(DISTINCT s.user_id) AS n FROM ({}) s", shared_rows());
    let active: Count = diesel::sql_query(crate::db::numbered(conn, &sql))
        .bind::<SqlUuid, _>(org)
        .bind::<SqlTs, _>(now)
        .bind::<Date, _>(from)
        .bind::<Date, _>(to)
        .get_result(conn)?;
    let (steps_people, steps_sum) = match steps_request(from, to) {
        Some(req) => match PrivatePlan::new(&req, 1.0) {
            Some(plan) => {
                let s = private::sums(conn, org, &req, &plan, now)?;
                s.values().fold((0.0, 0.0), |(p, t), g| (p + g.people, t + g.sum))
            }
            None => (0.0, 0.0),
        },
        None => (0.0, 0.0),
    };
    let end = end_of(to);
    let days = (end - from).num_days();
    let sql = format!(
        "SELECT CAST(count(*) AS BIGINT) AS people, \
                CAST(coalesce(sum(CASE WHEN t.points > $5 THEN $5 ELSE t.points END), 0) AS DOUBLE PRECISION) AS points \
         FROM (SELECT l.user_id, sum(l.delta) AS points {} GROUP BY l.user_id) t",
        shared_points()
    );
    let points: PointsSums = diesel::sql_query(crate::db::numbered(conn, &sql))
        .bind::<SqlUuid, _>(org)
        .bind::<SqlTs, _>(now)
        .bind::<Date, _>(from)
        .bind::<Date, _>(end)
        .bind::<Double, _>(points_cap(days))
        .get_result(conn)?;
    Ok(ProgramSums {
        members: f(members),
        consenting: f(consenting),
        active: f(active.n),
        steps_people,
        steps_sum,
        points_people: f(points.people),
        points_sum: points.points,
    })
}

/// How a private release of the statistics over `days` shares `epsilon`: seven quantities, each
/// a single number; one person adds at most 1 to each count, half the steps bounds' width to the
/// centred steps sum, and the points cap to the points sum.
pub fn plan(epsilon: f64, days: i64) -> Plan {
    Plan::even(
        epsilon,
        &[
            ("members", 1.0),
            ("consenting", 1.0),
            ("active_residents", 1.0),
            ("steps_people", 1.0),
            ("steps_sum", bounds::DAILY_STEPS.half()),
            ("points_people", 1.0),
            ("points_sum", points_cap(days)),
        ],
    )
}

/// The noisy counts that decide what is published: members, consenting, active residents, the
/// people behind the steps and behind the points.
pub const GATES: usize = 5;

/// Releases the statistics: noise on each quantity; a count is published when it clears the
/// threshold above `k_min`, the mean daily steps and the points when the noisy count of the people
/// behind them does.
pub fn release(sums: &ProgramSums, plan: &Plan, k_min: u32) -> Result<Figures, NoiseError> {
    let one = |name: &str, value: f64| -> Result<f64, NoiseError> {
        Ok(plan
            .noisy(name, vec![value])?
            .and_then(|v| v.first().copied())
            .unwrap_or(0.0))
    };
    let threshold = noise::threshold(k_min, plan.scale("members"), GATES);
    let count = |name: &str, value: f64| -> Result<(Figure, f64), NoiseError> {
        let n = one(name, value)?;
        let figure = if n >= threshold {
            #[expect(clippy::cast_precision_loss, reason = "counts of people")]
            let v = noise::to_count(n) as f64;
            Figure {
                value: Some(v),
                suppressed: false,
                margin_95: Some(noise::margin_95(plan.scale(name))),
            }
        } else {
            Figure::withheld()
        };
        Ok((figure, n))
    };
    let (members, _) = count("members", sums.members)?;
    let (consenting, _) = count("consenting", sums.consenting)?;
    let (active_residents, _) = count("active_residents", sums.active)?;
    let steps_people = one("steps_people", sums.steps_people)?;
    let steps_sum = one("steps_sum", sums.steps_sum)?;
    let steps = bounds::DAILY_STEPS;
    let mean_daily_steps = if steps_people >= threshold {
        Figure {
            value: Some(steps.clamp(steps.mid() + steps_sum / steps_people)),
            suppressed: false,
            margin_95: Some(noise::margin_95(plan.scale("steps_sum")) / steps_people),
        }
    } else {
        Figure::withheld()
    };
    let points_people = one("points_people", sums.points_people)?;
    let points_sum = one("points_sum", sums.points_sum)?;
    #[expect(clippy::cast_precision_loss, reason = "point totals")]
    let points_earned = if points_people >= threshold {
        Figure {
            value: Some(noise::to_count(points_sum) as f64),
            suppressed: false,
            margin_95: Some(noise::margin_95(plan.scale("points_sum"))),
        }
    } else {
        Figure::withheld()
    };
    Ok(Figures {
        members,
        consenting,
        active_residents,
        mean_daily_steps,
        points_earned,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seven_quantities_share_epsilon_and_a_person_moves_each_by_a_bounded_amount() {
        let p = plan(0.7, 31);
        assert_eq!(p.parts.len(), 7);
        assert!((p.share() - 0.1).abs() < 1e-12);
        assert_eq!(p.part("points_sum").unwrap().sensitivity, 310.0);
        assert_eq!(p.part("steps_sum").unwrap().sensitivity, 15000.0);
    }

    #[test]
    fn small_programmes_are_withheld_and_large_ones_published() {
        let p = plan(0.5, 31);
        let small = ProgramSums {
            members: 3.0,
            consenting: 2.0,
            ..ProgramSums::default()
        };
        let f = release(&small, &p, 10).unwrap();
        assert!(f.members.suppressed && f.consenting.suppressed && f.mean_daily_steps.suppressed);
        let large = ProgramSums {
            members: 100_000.0,
            consenting: 50_000.0,
            active: 40_000.0,
            steps_people: 30_000.0,
            steps_sum: 30_000.0 * (7_000.0 - 15_000.0),
            points_people: 20_000.0,
            points_sum: 2_000_000.0,
        };
        let f = release(&large, &p, 10).unwrap();
        let steps = f.mean_daily_steps.value.unwrap();
        assert!((steps - 7_000.0).abs() < 50.0, "{steps}");
        assert!((f.members.value.unwrap() - 100_000.0).abs() < 1_000.0);
    }
}
