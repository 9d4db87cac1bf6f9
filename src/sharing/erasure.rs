//! What an account's erasure does to sharing: the person's consents, memberships and staff roles
//! go; the access log and enrollment codes stay, pointing at no one. Part of
//! `usecases::erasure`, in its transaction.

use diesel::prelude::*;

use crate::db::schema::{access_log, consent_types, consents, enrollment_codes, memberships, org_staff};
use crate::db::{DbConn, UserId};

/// Forgets `user` in the sharing tables. The access log keeps the fact that a read happened, not
/// who it was about or who made it, nor the consent it was under; codes the person made stay
/// (others joined with them). Consents are never deleted while the account lives (they are the
/// history of grants and revocations); that history is the person's and goes with them.
pub fn forget(conn: &mut DbConn, user: UserId) -> QueryResult<()> {
    let own_consents = consents::table.filter(consents::user_id.eq(user));
    diesel::update(
        access_log::table.filter(access_log::consent_id.eq_any(own_consents.select(consents::id.nullable()))),
    )
    .set(access_log::consent_id.eq(None::<crate::db::ConsentId>))
    .execute(conn)?;
    diesel::update(access_log::table.filter(access_log::subject_id.eq(user)))
        .set(access_log::subject_id.eq(None::<UserId>))
        .execute(conn)?;
    diesel::update(access_log::table.filter(access_log::actor_id.eq(user)))
        .set(access_log::actor_id.eq(None::<UserId>))
        .execute(conn)?;
    diesel::update(enrollment_codes::table.filter(enrollment_codes::created_by.eq(user)))
        .set(enrollment_codes::created_by.eq(None::<UserId>))
        .execute(conn)?;
    diesel::delete(consent_types::table.filter(consent_types::consent_id.eq_any(own_consents.select(consents::id))))
        .execute(conn)?;
    diesel::delete(consents::table.filter(consents::user_id.eq(user))).execute(conn)?;
    diesel::delete(memberships::table.filter(memberships::user_id.eq(user))).execute(conn)?;
    diesel::delete(org_staff::table.filter(org_staff::user_id.eq(user))).execute(conn)?;
    Ok(())
}
