//! Enrollment codes and memberships: how a resident joins an organisation, and leaves it.

use diesel::prelude::*;

use crate::accounts::tokens::{hash_secret, normalize_pairing_code, random_code};
use crate::db::schema::{enrollment_codes, memberships, organizations, users};
use crate::db::{DbConn, EnrollmentCodeId, MembershipId, OrgId, Ts, UserId};
use crate::error::FieldError;

/// Most uses one enrollment code may allow.
pub const MAX_USES: i32 = 1_000_000;

/// A membership row.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = memberships)]
pub struct Membership {
    /// The membership's id.
    pub id: MembershipId,
    /// Resident.
    pub user_id: UserId,
    /// Organisation.
    pub organization_id: OrgId,
    /// Code used to join.
    pub enrollment_code_id: Option<EnrollmentCodeId>,
    /// Joined.
    pub joined_at: Ts,
    /// Left (null while a member).
    pub left_at: Option<Ts>,
}

/// Checks an enrollment code's limits.
pub fn validate_code(expires_at: Option<Ts>, max_uses: Option<i32>, now: Ts) -> Vec<FieldError> {
    let mut errors = Vec::new();
    if expires_at.is_some_and(|e| e.0 <= now.0) {
        errors.push(FieldError::new("expires_at", "must be in the future"));
    }
    if expires_at.is_some_and(|e| e.0 > now.0 + chrono::Duration::days(3660)) {
        errors.push(FieldError::new("expires_at", "must be within ten years"));
    }
    if max_uses.is_some_and(|m| !(1..=MAX_USES).contains(&m)) {
        errors.push(FieldError::new("max_uses", format!("must be between 1 and {MAX_USES}")));
    }
    errors
}

/// Creates an enrollment code for the organisation; returns the code (shown once: only its hash
/// is stored) and its id.
pub fn create_code(
    conn: &mut DbConn,
    org: OrgId,
    created_by: UserId,
    expires_at: Option<Ts>,
    max_uses: Option<i32>,
) -> QueryResult<(EnrollmentCodeId, String)> {
    let id = EnrollmentCodeId::new();
    let code = random_code();
    diesel::insert_into(enrollment_codes::table)
        .values((
            enrollment_codes::id.eq(id),
            enrollment_codes::organization_id.eq(org),
            enrollment_codes::code_hash.eq(hash_secret(&code)),
            enrollment_codes::expires_at.eq(expires_at),
            enrollment_codes::max_uses.eq(max_uses),
            enrollment_codes::uses.eq(0),
            enrollment_codes::created_by.eq(created_by),
            enrollment_codes::created_at.eq(Ts::now()),
        ))
        .execute(conn)?;
    Ok((id, code))
}

/// What joining with a code did.
#[derive(Debug)]
pub enum Join {
    /// A new membership.
    Joined(Membership),
    /// Already a member of that organisation: the current membership (the code is not used up).
    Already(Membership),
    /// Unknown, expired or used-up code.
    BadCode,
}

/// Makes a resident's changes to their memberships and consents take turns, on PostgreSQL, by
/// locking their account row until commit (`NO KEY`, so their uploads are not blocked). Taken
/// first, before any membership row, so the order of locks is the same as an erasure's (account,
/// then memberships) and the two cannot deadlock. SQLite's `BEGIN IMMEDIATE` already serialises
/// writers.
pub fn take_turn(conn: &mut DbConn, user: UserId) -> QueryResult<()> {
    if let DbConn::Pg(c) = conn {
        users::table
            .find(user)
            .select(users::id)
            .for_no_key_update()
            .first::<UserId>(c)
            .optional()?;
    }
    Ok(())
}

/// Joins the organisation of an enrollment code. Run inside a transaction: the use is counted by
/// a conditional update, so a code's `max_uses` holds under concurrent joins.
pub fn join(conn: &mut DbConn, user: UserId, raw_code: &str) -> QueryResult<Join> {
    let now = Ts::now();
    let hash = hash_secret(&normalize_pairing_code(raw_code));
    let code: Option<(EnrollmentCodeId, OrgId)> = enrollment_codes::table
        .filter(enrollment_codes::code_hash.eq(&hash))
        .filter(
            enrollment_codes::expires_at
                .is_null()
                .or(enrollment_codes::expires_at.gt(now)),
        )
        .select((enrollment_codes::id, enrollment_codes::organization_id))
        .first(conn)
        .optional()?;
    let Some((code_id, org)) = code else {
        return Ok(Join::BadCode);
    };
    // Two joins at once find one membership instead of racing to insert two.
    take_turn(conn, user)?;
    if let Some(current) = current(conn, user, org)? {
        return Ok(Join::Already(current));
    }
    let used = diesel::update(
        enrollment_codes::table.find(code_id).filter(
            enrollment_codes::max_uses
                .is_null()
                .or(enrollment_codes::uses.lt(enrollment_codes::max_uses.assume_not_null())),
        ),
    )
    .set(enrollment_codes::uses.eq(enrollment_codes::uses + 1))
    .execute(conn)?;
    if used == 0 {
        return Ok(Join::BadCode);
    }
    let membership = Membership {
        id: MembershipId::new(),
        user_id: user,
        organization_id: org,
        enrollment_code_id: Some(code_id),
        joined_at: now,
        left_at: None,
    };
    diesel::insert_into(memberships::table)
        .values((
            memberships::id.eq(membership.id),
            memberships::user_id.eq(user),
            memberships::organization_id.eq(org),
            memberships::enrollment_code_id.eq(Some(code_id)),
            memberships::joined_at.eq(now),
        ))
        .execute(conn)?;
    Ok(Join::Joined(membership))
}

/// The resident's current membership of an organisation.
pub fn current(conn: &mut DbConn, user: UserId, org: OrgId) -> QueryResult<Option<Membership>> {
    memberships::table
        .filter(memberships::user_id.eq(user))
        .filter(memberships::organization_id.eq(org))
        .filter(memberships::left_at.is_null())
        .select(Membership::as_select())
        .first(conn)
        .optional()
}

/// The ids of the organisations the resident is a member of now (programme eligibility).
pub fn current_org_ids(conn: &mut DbConn, user: UserId) -> QueryResult<Vec<OrgId>> {
    memberships::table
        .filter(memberships::user_id.eq(user))
        .filter(memberships::left_at.is_null())
        .select(memberships::organization_id)
        .load(conn)
}

/// A page of the resident's memberships, current and past, with the organisation's name and kind.
pub fn list(
    conn: &mut DbConn,
    user: UserId,
    after: Option<MembershipId>,
    limit: i64,
) -> QueryResult<Vec<(Membership, String, String)>> {
    let mut q = memberships::table
        .inner_join(organizations::table.on(organizations::id.eq(memberships::organization_id)))
        .filter(memberships::user_id.eq(user))
        .select((Membership::as_select(), organizations::name, organizations::kind))
        .order(memberships::id.asc())
        .limit(limit)
        .into_boxed();
    if let Some(after) = after {
        q = q.filter(memberships::id.gt(after));
    }
    q.load(conn)
}

/// One of the resident's memberships, with the organisation's name and kind.
pub fn find(conn: &mut DbConn, user: UserId, id: MembershipId) -> QueryResult<Option<(Membership, String, String)>> {
    memberships::table
        .inner_join(organizations::table.on(organizations::id.eq(memberships::organization_id)))
        .filter(memberships::id.eq(id))
        .filter(memberships::user_id.eq(user))
        .select((Membership::as_select(), organizations::name, organizations::kind))
        .first(conn)
        .optional()
}

/// Ends one of the resident's current memberships at `now`; false if there is no such current
/// membership. Leaving also revokes the consents given under it: the caller does that in the same
/// transaction (`usecases::sharing::leave`).
pub fn leave(conn: &mut DbConn, user: UserId, id: MembershipId, now: Ts) -> QueryResult<bool> {
    let ended = diesel::update(
        memberships::table
            .filter(memberships::id.eq(id))
            .filter(memberships::user_id.eq(user))
            .filter(memberships::left_at.is_null()),
    )
    .set(memberships::left_at.eq(now))
    .execute(conn)?;
    Ok(ended > 0)
}

/// How many residents are members of the organisation now.
pub fn count_current(conn: &mut DbConn, org: OrgId) -> QueryResult<i64> {
    memberships::table
        .filter(memberships::organization_id.eq(org))
        .filter(memberships::left_at.is_null())
        .count()
        .get_result(conn)
}
