//! The ledger as residents read it: an entry ([`LedgerEntry`]), balances, standings per programme
//! and pages of entries. Entries are append-only; writing them (and moving balances with them) is
//! `posting`'s.

use std::collections::HashMap;

use chrono::NaiveDate;
use diesel::prelude::*;

use super::programmes::{Programme, eligible_programmes};
use crate::db::schema::{points_balances, points_ledger};
use crate::db::{DbConn, LedgerEntryId, MeasurementId, RuleId, Ts, UserId};

/// A ledger entry: points earned (an award, a check-in) or spent (lottery tickets).
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = points_ledger)]
#[diesel(treat_none_as_default_value = false)]
pub struct LedgerEntry {
    /// Entry id (UUIDv7, so ids order entries in time).
    pub id: LedgerEntryId,
    /// The resident whose points these are.
    pub user_id: UserId,
    /// The programme whose balance it moves.
    pub programme_id: String,
    /// The rule that paid it; none for check-ins and spending.
    pub rule_id: Option<RuleId>,
    /// Points added (negative: spent).
    pub delta: i32,
    /// Title shown to the resident.
    pub title: String,
    /// The resident's day it counts for.
    pub local_date: NaiveDate,
    /// The measurement that earned it; none for goals paid when the week's plan is read, for
    /// check-ins and for spending.
    pub measurement_id: Option<MeasurementId>,
    /// Idempotency key of an award of a longer period than a day (first ever, checkup year,
    /// streak, event): unique per resident and programme.
    pub award_key: Option<String>,
    /// When it was written.
    pub created_at: Ts,
    /// Idempotency key of a day-scoped award (step tiers, daily logging): unique per resident,
    /// programme and `local_date`.
    pub day_key: Option<String>,
    /// For a tiered award: the threshold of the last tier it pays (its `day_key` names the first).
    pub award_upto: Option<i32>,
}

/// The resident's balance in a programme (0 without a balance row).
pub fn balance(conn: &mut DbConn, user_id: UserId, programme_id: &str) -> QueryResult<i32> {
    Ok(points_balances::table
        .filter(points_balances::user_id.eq(user_id))
        .filter(points_balances::programme_id.eq(programme_id))
        .select(points_balances::balance)
        .first(conn)
        .optional()?
        .unwrap_or(0))
}

/// A resident's standing in one programme.
#[derive(Debug, Clone)]
pub struct Standing {
    /// The programme.
    pub programme: Programme,
    /// Points available to spend.
    pub balance: i32,
    /// Points ever earned.
    pub lifetime_earned: i32,
    /// Points earned on the resident's current local day.
    pub today_earned: i32,
}

/// The resident's standing in every programme they are eligible for.
pub fn standings(conn: &mut DbConn, user_id: UserId, age: Option<i32>, today: NaiveDate) -> QueryResult<Vec<Standing>> {
    let eligible = eligible_programmes(conn, user_id, age)?;
    let ids: Vec<String> = eligible.iter().map(|p| p.id.clone()).collect();
    let balances: HashMap<String, (i32, i32)> = points_balances::table
        .filter(points_balances::user_id.eq(user_id))
        .filter(points_balances::programme_id.eq_any(&ids))
        .select((
            points_balances::programme_id,
            points_balances::balance,
            points_balances::lifetime_earned,
        ))
        .load::<(String, i32, i32)>(conn)?
        .into_iter()
        .map(|(p, b, l)| (p, (b, l)))
        .collect();
    let mut today_earned: HashMap<String, i32> = HashMap::new();
    for (p, d) in points_ledger::table
        .filter(points_ledger::user_id.eq(user_id))
        .filter(points_ledger::programme_id.eq_any(&ids))
        .filter(points_ledger::local_date.eq(today))
        .filter(points_ledger::delta.gt(0))
        .select((points_ledger::programme_id, points_ledger::delta))
        .load::<(String, i32)>(conn)?
    {
        *today_earned.entry(p).or_default() += d;
    }
    Ok(eligible
        .into_iter()
        .map(|p| {
            let (balance, lifetime_earned) = balances.get(&p.id).copied().unwrap_or((0, 0));
            let today_earned = today_earned.get(&p.id).copied().unwrap_or(0);
            Standing {
                programme: p,
                balance,
                lifetime_earned,
                today_earned,
            }
        })
        .collect())
}

/// A page of the resident's ledger in one programme, newest first, before `before`.
pub fn ledger(
    conn: &mut DbConn,
    user_id: UserId,
    programme_id: &str,
    before: Option<LedgerEntryId>,
    limit: i64,
) -> QueryResult<Vec<LedgerEntry>> {
    let mut q = points_ledger::table
        .filter(points_ledger::user_id.eq(user_id))
        .filter(points_ledger::programme_id.eq(programme_id.to_owned()))
        .select(LedgerEntry::as_select())
        .order(points_ledger::id.desc())
        .limit(limit)
        .into_boxed();
    if let Some(before) = before {
        q = q.filter(points_ledger::id.lt(before));
    }
    q.load(conn)
}
