//! The yearly privacy budget: what an organisation spent in each calendar year, against the
//! epsilon per year of its policy. A release takes the year's row lock before it looks for a
//! stored answer, checks what is left and charges, so concurrent releases of one organisation take
//! turns: none can spend what another already spent, and a request repeated at the same moment
//! finds the first one's stored answer instead of paying again.

use diesel::prelude::*;

use crate::db::schema::{organizations, privacy_budget_years};
use crate::db::{DbConn, OrgId};

/// Sums of decimal fractions are not exact in binary: a budget of 1 must admit ten releases of
/// 0.1, so a charge may exceed the budget by this much.
const SLACK: f64 = 1e-9;

/// Takes the lock on the organisation's budget for `year` until the caller's transaction ends
/// (creating the year's row on first use). SQLite's `BEGIN IMMEDIATE` already serialises writers.
pub fn lock(conn: &mut DbConn, org: OrgId, year: i32) -> QueryResult<()> {
    crate::on_backend!(conn, c => diesel::insert_into(privacy_budget_years::table)
        .values((
            privacy_budget_years::organization_id.eq(org),
            privacy_budget_years::year.eq(year),
            privacy_budget_years::spent.eq(0.0),
        ))
        .on_conflict_do_nothing()
        .execute(c))?;
    if let DbConn::Pg(c) = conn {
        privacy_budget_years::table
            .find((org, year))
            .select(privacy_budget_years::spent)
            .for_update()
            .first::<f64>(c)?;
    }
    Ok(())
}

/// Epsilon spent in `year`.
pub fn spent(conn: &mut DbConn, org: OrgId, year: i32) -> QueryResult<f64> {
    Ok(privacy_budget_years::table
        .find((org, year))
        .select(privacy_budget_years::spent)
        .first::<f64>(conn)
        .optional()?
        .unwrap_or(0.0))
}

/// What is left of the year's budget under the organisation's current policy (never negative:
/// an operator may lower a budget below what was spent).
pub fn remaining(conn: &mut DbConn, org: OrgId, year: i32) -> QueryResult<f64> {
    let budget: f64 = organizations::table
        .find(org)
        .select(organizations::privacy_budget)
        .first(conn)?;
    Ok((budget - spent(conn, org, year)?).max(0.0))
}

/// Charges `epsilon` to the year's budget, under the lock [`lock`] took; false (nothing charged)
/// when what is left cannot cover it.
pub fn charge(conn: &mut DbConn, org: OrgId, year: i32, epsilon: f64) -> QueryResult<bool> {
    if remaining(conn, org, year)? + SLACK < epsilon {
        return Ok(false);
    }
    let n = diesel::update(privacy_budget_years::table.find((org, year)))
        .set(privacy_budget_years::spent.eq(privacy_budget_years::spent + epsilon))
        .execute(conn)?;
    Ok(n == 1)
}
