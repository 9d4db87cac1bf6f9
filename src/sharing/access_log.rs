//! The access log: every read of a resident's data by anyone but the resident, written in the
//! same transaction as the read it records.

use diesel::prelude::*;

use crate::db::schema::{access_log, users};
use crate::db::{AccessId, ConsentId, DbConn, OrgId, Ts, UserId};

/// An access-log row.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = access_log)]
pub struct AccessEntry {
    /// Id (UUIDv7: ordered in time).
    pub id: AccessId,
    /// Whose data was read (null once that account is erased).
    pub subject_id: Option<UserId>,
    /// Who read it (null once that account is erased).
    pub actor_id: Option<UserId>,
    /// For which organisation (null once it is deleted).
    pub organization_id: Option<OrgId>,
    /// The organisation's name at the time.
    pub organization_name: String,
    /// The consent that allowed it.
    pub consent_id: Option<ConsentId>,
    /// What was done, e.g. `read_measurements`.
    pub action: String,
    /// Which type, where the read was of one type.
    pub measurement_type: Option<String>,
    /// The consent's purpose.
    pub purpose: String,
    /// How many records were returned.
    pub records: i32,
    /// When.
    pub created_at: Ts,
}

/// Writes one entry (in the caller's transaction).
pub fn record(conn: &mut DbConn, entry: &AccessEntry) -> QueryResult<()> {
    crate::on_backend!(conn, c => diesel::insert_into(access_log::table).values(entry).execute(c)).map(|_| ())
}

/// A page of the reads of the resident's data, newest first, each with the reader's email (so
/// the resident knows who, not only which organisation).
pub fn list_for_subject(
    conn: &mut DbConn,
    subject: UserId,
    before: Option<AccessId>,
    limit: i64,
) -> QueryResult<Vec<(AccessEntry, Option<String>)>> {
    let mut q = access_log::table
        .left_join(users::table.on(access_log::actor_id.eq(users::id.nullable())))
        .filter(access_log::subject_id.eq(subject))
        .select((AccessEntry::as_select(), users::email.nullable()))
        .order(access_log::id.desc())
        .limit(limit)
        .into_boxed();
    if let Some(before) = before {
        q = q.filter(access_log::id.lt(before));
    }
    q.load(conn)
}
