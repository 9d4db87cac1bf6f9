//! The export's reads. Each takes the resident's id and has it in its `WHERE` clause; the long
//! ones (measurements, the points ledger, lottery entries, consents, the access log) are read a
//! page at a time in the order of an index that starts with the resident, so a page costs the
//! same however long the history is.

use std::collections::HashSet;

use diesel::prelude::*;
use diesel::sql_types::Text;

use super::ExportError;
use crate::db::schema::{
    access_log, app_tokens, lotteries, lottery_entries, lottery_winners, org_staff, organizations, points_balances,
    points_ledger, programme_weeks, programmes, sessions, users,
};
use crate::db::types::{Json, SqlTs, SqlUuid};
use crate::db::{
    AccessId, AppTokenId, ConsentId, DbConn, LedgerEntryId, LotteryEntryId, LotteryId, MeasurementId, MembershipId,
    OrgId, SessionId, Ts, UserId,
};
use crate::measurements::Measurement;
use crate::points::LedgerEntry;
use crate::points::lotteries::{Entry, Lottery};
use crate::sharing::access_log::AccessEntry;
use crate::sharing::consents::{self, Consent};
use crate::sharing::memberships::{self, Membership};

/// Rows read per page.
pub const PAGE: i64 = 500;

/// Calls `each` on every row `fetch` pages through: `fetch(conn, after, limit)` answers the rows
/// after the key of the previous page's last row (`key`), in key order.
pub fn for_each<T, K>(
    conn: &mut DbConn,
    mut fetch: impl FnMut(&mut DbConn, Option<&K>, i64) -> QueryResult<Vec<T>>,
    key: impl Fn(&T) -> K,
    mut each: impl FnMut(&mut DbConn, T) -> Result<(), ExportError>,
) -> Result<(), ExportError> {
    let mut after: Option<K> = None;
    loop {
        let rows = fetch(conn, after.as_ref(), PAGE)?;
        let full = rows.len() as i64 == PAGE;
        if let Some(last) = rows.last() {
            after = Some(key(last));
        }
        for row in rows {
            each(conn, row)?;
        }
        if !full {
            return Ok(());
        }
    }
}

/// Keyset position in the measurement export order.
pub type MeasurementKey = (String, Ts, MeasurementId);

/// The key of a measurement in export order.
pub fn measurement_key(m: &Measurement) -> MeasurementKey {
    (m.kind.clone(), m.effective_at, m.id)
}

/// A page of the resident's measurements in export order: by type, then time, then id — the order
/// of the index `(user_id, kind, effective_at, id)`, which the row comparison walks from the
/// previous page's last row.
pub fn measurements(
    conn: &mut DbConn,
    user: UserId,
    after: Option<&MeasurementKey>,
    limit: i64,
) -> QueryResult<Vec<Measurement>> {
    const COLUMNS: &str = "id, user_id, kind, effective_at, local_date, daily_key, fields, source, client_ref, \
                           modality, note, created_at, updated_at";
    match after {
        None => diesel::sql_query(format!(
            "SELECT {COLUMNS} FROM measurements WHERE user_id = $1 ORDER BY kind, effective_at, id LIMIT {limit}"
        ))
        .bind::<SqlUuid, _>(user)
        .load(conn),
        Some((kind, at, id)) => diesel::sql_query(format!(
            "SELECT {COLUMNS} FROM measurements WHERE user_id = $1 AND (kind, effective_at, id) > ($2, $3, $4) \
             ORDER BY kind, effective_at, id LIMIT {limit}"
        ))
        .bind::<SqlUuid, _>(user)
        .bind::<Text, _>(kind.clone())
        .bind::<SqlTs, _>(*at)
        .bind::<SqlUuid, _>(*id)
        .load(conn),
    }
}

/// A login session, as exported.
pub type SessionRow = (SessionId, Ts, Option<Ts>, Option<String>);

/// The resident's login sessions (id, created, revoked, why), oldest first.
pub fn sessions(conn: &mut DbConn, user: UserId) -> QueryResult<Vec<SessionRow>> {
    sessions::table
        .filter(sessions::user_id.eq(user))
        .select((
            sessions::id,
            sessions::created_at,
            sessions::revoked_at,
            sessions::revoked_reason,
        ))
        .order(sessions::id.asc())
        .load(conn)
}

/// An app token, as exported (never its hash).
#[derive(Debug, Clone, Queryable)]
pub struct AppTokenRow {
    /// The token's id: what revoking it takes.
    pub id: AppTokenId,
    /// Name.
    pub name: String,
    /// Space-separated scopes.
    pub scopes: String,
    /// `sensed` or `self_reported`.
    pub modality: String,
    /// Created.
    pub created_at: Ts,
    /// Expires.
    pub expires_at: Ts,
    /// Revoked.
    pub revoked_at: Option<Ts>,
}

/// The resident's app tokens, revoked ones too, oldest first.
pub fn app_tokens(conn: &mut DbConn, user: UserId) -> QueryResult<Vec<AppTokenRow>> {
    app_tokens::table
        .filter(app_tokens::user_id.eq(user))
        .select((
            app_tokens::id,
            app_tokens::name,
            app_tokens::scopes,
            app_tokens::modality,
            app_tokens::created_at,
            app_tokens::expires_at,
            app_tokens::revoked_at,
        ))
        .order(app_tokens::id.asc())
        .load(conn)
}

/// The resident's staff roles: (organisation, its name, role, since).
pub fn staff_roles(conn: &mut DbConn, user: UserId) -> QueryResult<Vec<(OrgId, String, String, Ts)>> {
    org_staff::table
        .inner_join(organizations::table)
        .filter(org_staff::user_id.eq(user))
        .select((
            org_staff::organization_id,
            organizations::name,
            org_staff::role,
            org_staff::created_at,
        ))
        .order((org_staff::organization_id.asc(), org_staff::role.asc()))
        .load(conn)
}

/// The resident's balances: (programme, balance, earned in all).
pub fn balances(conn: &mut DbConn, user: UserId) -> QueryResult<Vec<(String, i32, i32)>> {
    points_balances::table
        .filter(points_balances::user_id.eq(user))
        .select((
            points_balances::programme_id,
            points_balances::balance,
            points_balances::lifetime_earned,
        ))
        .order(points_balances::programme_id.asc())
        .load(conn)
}

/// Every programme's id (a resident's ledger is read programme by programme, each in the order of
/// the index `(user_id, programme_id, id)`).
pub fn programme_ids(conn: &mut DbConn) -> QueryResult<Vec<String>> {
    programmes::table
        .select(programmes::id)
        .order(programmes::id.asc())
        .load(conn)
}

/// A page of the resident's ledger in one programme, oldest first.
pub fn ledger(
    conn: &mut DbConn,
    user: UserId,
    programme: &str,
    after: Option<&LedgerEntryId>,
    limit: i64,
) -> QueryResult<Vec<LedgerEntry>> {
    let mut q = points_ledger::table
        .filter(points_ledger::user_id.eq(user))
        .filter(points_ledger::programme_id.eq(programme.to_owned()))
        .select(LedgerEntry::as_select())
        .order(points_ledger::id.asc())
        .limit(limit)
        .into_boxed();
    if let Some(after) = after {
        q = q.filter(points_ledger::id.gt(*after));
    }
    q.load(conn)
}

/// The lotteries the resident won.
pub fn lotteries_won(conn: &mut DbConn, user: UserId) -> QueryResult<HashSet<LotteryId>> {
    Ok(lottery_winners::table
        .filter(lottery_winners::user_id.eq(user))
        .select(lottery_winners::lottery_id)
        .load::<LotteryId>(conn)?
        .into_iter()
        .collect())
}

/// A page of the resident's lottery purchases with their lotteries, oldest first.
pub fn lottery_entries(
    conn: &mut DbConn,
    user: UserId,
    after: Option<&LotteryEntryId>,
    limit: i64,
) -> QueryResult<Vec<(Entry, Lottery)>> {
    let mut q = lottery_entries::table
        .inner_join(lotteries::table)
        .filter(lottery_entries::user_id.eq(user))
        .select((Entry::as_select(), Lottery::as_select()))
        .order(lottery_entries::id.asc())
        .limit(limit)
        .into_boxed();
    if let Some(after) = after {
        q = q.filter(lottery_entries::id.gt(*after));
    }
    q.load(conn)
}

/// A page of the resident's weekly programme plans (week, goals, made at), oldest first.
pub fn programme_weeks(
    conn: &mut DbConn,
    user: UserId,
    after: Option<&chrono::NaiveDate>,
    limit: i64,
) -> QueryResult<Vec<(chrono::NaiveDate, Json, Ts)>> {
    let mut q = programme_weeks::table
        .filter(programme_weeks::user_id.eq(user))
        .select((
            programme_weeks::week_start,
            programme_weeks::goals,
            programme_weeks::created_at,
        ))
        .order(programme_weeks::week_start.asc())
        .limit(limit)
        .into_boxed();
    if let Some(after) = after {
        q = q.filter(programme_weeks::week_start.gt(*after));
    }
    q.load(conn)
}

/// A page of the resident's memberships, current and past, with the organisation's name and kind.
pub fn memberships(
    conn: &mut DbConn,
    user: UserId,
    after: Option<&MembershipId>,
    limit: i64,
) -> QueryResult<Vec<(Membership, String, String)>> {
    memberships::list(conn, user, after.copied(), limit)
}

/// A page of the resident's consents, every state, oldest first, each with the organisation's name
/// and the types it covers.
pub fn consents(
    conn: &mut DbConn,
    user: UserId,
    after: Option<&ConsentId>,
    limit: i64,
) -> QueryResult<Vec<(Consent, String, Vec<String>)>> {
    let rows = consents::list(conn, user, after.copied(), limit)?;
    let ids: Vec<ConsentId> = rows.iter().map(|r| r.consent.id).collect();
    let types = consents::types_of(conn, &ids)?;
    Ok(rows
        .into_iter()
        .map(|r| (r.consent, r.organization_name))
        .map(|(c, org)| {
            let mine = types
                .iter()
                .filter(|(id, _)| *id == c.id)
                .map(|(_, t)| t.clone())
                .collect();
            (c, org, mine)
        })
        .collect())
}

/// A page of the reads of the resident's data by others, oldest first, each with the reader's
/// email.
pub fn access_log(
    conn: &mut DbConn,
    user: UserId,
    after: Option<&AccessId>,
    limit: i64,
) -> QueryResult<Vec<(AccessEntry, Option<String>)>> {
    let mut q = access_log::table
        .left_join(users::table.on(access_log::actor_id.eq(users::id.nullable())))
        .filter(access_log::subject_id.eq(user))
        .select((AccessEntry::as_select(), users::email.nullable()))
        .order(access_log::id.asc())
        .limit(limit)
        .into_boxed();
    if let Some(after) = after {
        q = q.filter(access_log::id.gt(*after));
    }
    q.load(conn)
}
