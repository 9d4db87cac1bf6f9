//! Changing a resident's profile: the account row, and the aggregate rollup cells that place the
//! resident by age band and sex, in one transaction.

use diesel::QueryResult;

use crate::accounts::{self, ProfileChanges, User};
use crate::aggregates::rollup::{self, Subject};
use crate::db::DbConn;

/// Applies `changes` to the account `before` describes; returns the account as it is now.
pub fn update(conn: &mut DbConn, before: &User, changes: &ProfileChanges) -> QueryResult<User> {
    crate::db::transaction(conn, |c| {
        let user = accounts::update_profile(c, before.id, changes)?;
        // Age bands and sex are part of the aggregate cells: rebuild them with the profile.
        if user.birth_date != before.birth_date || user.sex != before.sex {
            let subject = Subject {
                user_id: user.id,
                birth_date: user.birth_date,
                sex: user.sex.clone(),
            };
            rollup::rebuild(c, &subject)?;
        }
        Ok(user)
    })
}
