//! What an account's erasure does to the account itself: the decision (the last operator is
//! never erased), the locks that order it against concurrent writes, and the credentials and the
//! account row. `usecases::erasure` runs the whole erasure, every domain's part in one
//! transaction, in this order (rows before the rows they reference, so no foreign-key action is
//! relied on; the schema's `ON DELETE` actions agree with it):
//!
//! 1. [`begin`]: the account row (and, for an operator, every operator's row) locked.
//! 2. Sharing: consents, their types, memberships and staff roles deleted; the access log and
//!    enrollment codes kept, pointing at no one.
//! 3. Privacy and aggregates: releases, policy changes and the aggregate audit kept, their actor
//!    set to null.
//! 4. Points: lottery wins and entries, the ledger and balances deleted.
//! 5. Insights: the weekly plans deleted.
//! 6. Aggregates' rollups, then measurements, deleted: the next answer no longer counts the person.
//! 7. [`forget`]: pairing codes, refresh tokens, sessions and app tokens, then the account
//!    deleted; every credential fails from the next request on (each request reads its
//!    account), and the email is free to register again, as a new account.
//!
//! Tables that name no person (programmes, reward rules, lotteries, events, organisations) are
//! untouched.

use diesel::prelude::*;

use crate::accounts::Role;
use crate::db::schema::{app_tokens, pairing_codes, refresh_tokens, sessions, users};
use crate::db::{DbConn, UserId};

/// What an erasure did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Erasure {
    /// The account and everything about the person are gone (or were already gone).
    Erased,
    /// Nothing changed: the account is the last operator, and erasing it would leave the platform
    /// with no one to manage it through the API.
    LastOperator,
}

/// Starts the erasure of `user` inside the caller's transaction: `Some` when there is nothing
/// to do (already erased by a request that committed first) or it is refused (the last
/// operator); `None` when the rest may go ahead, the locks taken.
///
/// On PostgreSQL the account row is locked before anything is deleted, so writes that reference
/// the account and are already under way (they hold a key-share lock through their foreign key)
/// finish first and are erased with the rest, and later ones wait and then find no account.
/// SQLite's `BEGIN IMMEDIATE` already serialises the erasure with every other write.
pub fn begin(conn: &mut DbConn, user: UserId) -> QueryResult<Option<Erasure>> {
    let role: Option<String> = users::table.find(user).select(users::role).first(conn).optional()?;
    let Some(role) = role else {
        return Ok(Some(Erasure::Erased));
    };
    let locked = lock(conn, user, is_operator(&role))?;
    let Some((_, role)) = locked.iter().find(|(id, _)| *id == user) else {
        return Ok(Some(Erasure::Erased));
    };
    // An account promoted while this ran finds only itself locked and is refused: a retry sees
    // the other operators.
    if is_operator(role) && !locked.iter().any(|(id, r)| *id != user && is_operator(r)) {
        return Ok(Some(Erasure::LastOperator));
    }
    Ok(None)
}

/// Deletes `user`'s credentials, then the account: the last step of an erasure.
pub fn forget(conn: &mut DbConn, user: UserId) -> QueryResult<()> {
    diesel::delete(pairing_codes::table.filter(pairing_codes::user_id.eq(user))).execute(conn)?;
    diesel::delete(refresh_tokens::table.filter(refresh_tokens::user_id.eq(user))).execute(conn)?;
    diesel::delete(sessions::table.filter(sessions::user_id.eq(user))).execute(conn)?;
    diesel::delete(app_tokens::table.filter(app_tokens::user_id.eq(user))).execute(conn)?;
    diesel::delete(users::table.find(user)).execute(conn)?;
    Ok(())
}

fn is_operator(role: &str) -> bool {
    Role::parse(role) == Some(Role::Admin)
}

/// Locks the account row and, for an operator, every operator's row, and reads their roles. The
/// operators' rows are locked in id order with the account's own among them, so two operators
/// erasing themselves at once queue (the second then counts one operator fewer) instead of each
/// counting the other, and cannot deadlock.
fn lock(conn: &mut DbConn, user: UserId, with_operators: bool) -> QueryResult<Vec<(UserId, String)>> {
    let rows = users::table.select((users::id, users::role)).order(users::id.asc());
    let own = users::id.eq(user);
    let own_and_operators = users::id.eq(user).or(users::role.eq(Role::Admin.as_str()));
    match (conn, with_operators) {
        (DbConn::Pg(c), false) => rows.filter(own).for_update().load(c),
        (DbConn::Pg(c), true) => rows.filter(own_and_operators).for_update().load(c),
        (DbConn::Sqlite(c), false) => rows.filter(own).load(c),
        (DbConn::Sqlite(c), true) => rows.filter(own_and_operators).load(c),
    }
}
