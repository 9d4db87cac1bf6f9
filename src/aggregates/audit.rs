//! The organisations' own audit of their aggregate queries: who ran what, when, and what was
//! published or suppressed. Written in the same transaction as the query it records.

use diesel::prelude::*;

use crate::db::schema::aggregate_log;
use crate::db::types::Json;
use crate::db::{AggregateQueryId, DbConn, OrgId, Ts, UserId};

/// One recorded query.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = aggregate_log)]
pub struct AuditEntry {
    /// Id (UUIDv7).
    pub id: AggregateQueryId,
    /// Organisation.
    pub organization_id: OrgId,
    /// Who ran it (null once that account is erased).
    pub actor_id: Option<UserId>,
    /// `aggregate` or `program_stats`.
    pub query: String,
    /// The request as received.
    pub request: Json,
    /// Epsilon charged, if any.
    pub epsilon: Option<f64>,
    /// Groups published.
    pub groups: i32,
    /// Groups suppressed.
    pub suppressed: i32,
    /// When.
    pub created_at: Ts,
}

/// Records a query (in the caller's transaction).
pub fn record(conn: &mut DbConn, entry: &AuditEntry) -> QueryResult<()> {
    crate::on_backend!(conn, c => diesel::insert_into(aggregate_log::table).values(entry).execute(c)).map(|_| ())
}

/// A page of an organisation's recorded queries, newest first, with the actor's email.
pub fn list(
    conn: &mut DbConn,
    org: OrgId,
    before: Option<AggregateQueryId>,
    limit: i64,
) -> QueryResult<Vec<(AuditEntry, Option<String>)>> {
    use crate::db::schema::users;
    let mut q = aggregate_log::table
        .left_join(users::table.on(aggregate_log::actor_id.eq(users::id.nullable())))
        .filter(aggregate_log::organization_id.eq(org))
        .select((AuditEntry::as_select(), users::email.nullable()))
        .order(aggregate_log::id.desc())
        .limit(limit)
        .into_boxed();
    if let Some(before) = before {
        q = q.filter(aggregate_log::id.lt(before));
    }
    q.load(conn)
}

/// Forgets `user` as the one who ran recorded queries (an erased analyst): the records stay.
pub fn forget_actor(conn: &mut DbConn, user: UserId) -> QueryResult<()> {
    diesel::update(aggregate_log::table.filter(aggregate_log::actor_id.eq(user)))
        .set(aggregate_log::actor_id.eq(None::<UserId>))
        .execute(conn)?;
    Ok(())
}
