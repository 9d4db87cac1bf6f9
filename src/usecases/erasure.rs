//! Erasing an account: everything held about the person goes, in one transaction, and nothing
//! that stays behind points at them. Each domain forgets the person in its own tables, in the
//! order `accounts::erasure` sets out (rows before the rows they reference).

use diesel::QueryResult;

use crate::accounts::erasure::{self, Erasure};
use crate::db::{DbConn, UserId};

/// Erases the account `user` and everything about its person, or refuses when it is the last
/// operator. The whole erasure commits or nothing does.
pub fn erase(conn: &mut DbConn, user: UserId) -> QueryResult<Erasure> {
    crate::db::transaction(conn, |c| {
        if let Some(done) = erasure::begin(c, user)? {
            return Ok(done);
        }
        crate::sharing::erasure::forget(c, user)?;
        crate::privacy::forget_actor(c, user)?;
        crate::aggregates::audit::forget_actor(c, user)?;
        crate::points::erasure::forget(c, user)?;
        crate::insights::programme::forget(c, user)?;
        crate::aggregates::rollup::forget(c, user)?;
        crate::measurements::forget(c, user)?;
        erasure::forget(c, user)?;
        Ok(Erasure::Erased)
    })
}
