//! Sharing: leaving an organisation (and the consents that go with the membership).

use diesel::QueryResult;

use crate::db::{DbConn, MembershipId, Ts, UserId};
use crate::sharing::{consents, memberships};

/// What leaving did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Leave {
    /// The membership ended now, and its consents with it.
    Left,
    /// It had ended already: nothing changed.
    AlreadyLeft,
    /// No such membership of the resident's.
    NotFound,
}

/// Leaves an organisation: ends the membership and revokes every consent given under it, in one
/// transaction.
pub fn leave(conn: &mut DbConn, user: UserId, membership: MembershipId) -> QueryResult<Leave> {
    crate::db::transaction(conn, |c| {
        if memberships::find(c, user, membership)?.is_none() {
            return Ok(Leave::NotFound);
        }
        let now = Ts::now();
        if !memberships::leave(c, user, membership, now)? {
            return Ok(Leave::AlreadyLeft);
        }
        consents::revoke_for_membership(c, user, membership, now)?;
        Ok(Leave::Left)
    })
}
