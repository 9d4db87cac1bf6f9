//! Account erasure: everything held about a person goes, in one transaction, and nothing that
//! stays behind points at them.
//!
//! What each table does, in the order it is done (rows before the rows they reference, so no
//! foreign-key action is relied on; the schema's `ON DELETE` actions agree with this):
//!
//! - `access_log`: kept. `subject_id` and `actor_id` are set to null where they are the person,
//!   and `consent_id` where it is one of their consents: the fact that a read happened stays, not
//!   who it was about or who made it.
//! - `aggregate_log`: kept; `actor_id` set to null where the person ran the query.
//! - `enrollment_codes`: kept (others joined with them); `created_by` set to null.
//! - `consent_types`, `consents`, `memberships`: deleted. Consents are never deleted while the
//!   account lives (they are the history of grants and revocations); that history is the person's.
//! - `org_staff`: deleted; the person's staff roles end with the account.
//! - `lottery_winners`, `lottery_entries`: deleted (a drawn lottery then lists fewer winners).
//! - `points_ledger`, `points_balances`: deleted.
//! - `programme_weeks`: deleted (the weekly plans of goals).
//! - `measurement_rollup_year_buckets`, `measurement_rollup_years`, `measurement_rollup_buckets`,
//!   `measurement_rollups`, `measurements`: deleted, so the next
//!   aggregate answer no longer counts the person.
//! - `pairing_codes`, `refresh_tokens`, `sessions`, `app_tokens`: deleted, so every credential
//!   fails from the next request on (each request reads its account).
//! - `users`: deleted; the email is free to register again, as a new account.
//!
//! Tables that name no person (programmes, reward rules, lotteries, events, organisations) are
//! untouched.

use diesel::prelude::*;

use crate::accounts::Role;
use crate::db::schema::{
    access_log, aggregate_log, app_tokens, consent_types, consents, enrollment_codes, lottery_entries, lottery_winners,
    measurement_rollup_buckets, measurement_rollup_year_buckets, measurement_rollup_years, measurement_rollups,
    measurements, memberships, org_staff, pairing_codes, points_balances, points_ledger, programme_weeks,
    refresh_tokens, sessions, users,
};
use crate::db::{DbConn, Id};

/// What an erasure did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Erasure {
    /// The account and everything about the person are gone (or were already gone).
    Erased,
    /// Nothing changed: the account is the last operator, and erasing it would leave the platform
    /// with no one to manage it through the API.
    LastOperator,
}

/// Erases the account `user` and everything held about its person. Run inside a transaction: the
/// whole erasure commits or nothing does.
///
/// On PostgreSQL the account row is locked before anything is deleted, so writes that reference
/// the account and are already under way (they hold a key-share lock through their foreign key)
/// finish first and are erased with the rest, and later ones wait and then find no account.
/// SQLite's `BEGIN IMMEDIATE` already serialises the erasure with every other write.
pub fn erase(conn: &mut DbConn, user: Id) -> QueryResult<Erasure> {
    let role: Option<String> = users::table.find(user).select(users::role).first(conn).optional()?;
    let Some(role) = role else {
        // Erased by a request that committed first.
        return Ok(Erasure::Erased);
    };
    let locked = lock(conn, user, is_operator(&role))?;
    let Some((_, role)) = locked.iter().find(|(id, _)| *id == user) else {
        return Ok(Erasure::Erased);
    };
    // An account promoted while this ran finds only itself locked and is refused: a retry sees
    // the other operators.
    if is_operator(role) && !locked.iter().any(|(id, r)| *id != user && is_operator(r)) {
        return Ok(Erasure::LastOperator);
    }

    // Audit records stay, pointing at no one.
    let own_consents = consents::table.filter(consents::user_id.eq(user));
    diesel::update(
        access_log::table.filter(access_log::consent_id.eq_any(own_consents.select(consents::id.nullable()))),
    )
    .set(access_log::consent_id.eq(None::<Id>))
    .execute(conn)?;
    diesel::update(access_log::table.filter(access_log::subject_id.eq(user)))
        .set(access_log::subject_id.eq(None::<Id>))
        .execute(conn)?;
    diesel::update(access_log::table.filter(access_log::actor_id.eq(user)))
        .set(access_log::actor_id.eq(None::<Id>))
        .execute(conn)?;
    diesel::update(aggregate_log::table.filter(aggregate_log::actor_id.eq(user)))
        .set(aggregate_log::actor_id.eq(None::<Id>))
        .execute(conn)?;
    diesel::update(enrollment_codes::table.filter(enrollment_codes::created_by.eq(user)))
        .set(enrollment_codes::created_by.eq(None::<Id>))
        .execute(conn)?;

    // Sharing: consents (with their types), memberships and staff roles.
    diesel::delete(consent_types::table.filter(consent_types::consent_id.eq_any(own_consents.select(consents::id))))
        .execute(conn)?;
    diesel::delete(consents::table.filter(consents::user_id.eq(user))).execute(conn)?;
    diesel::delete(memberships::table.filter(memberships::user_id.eq(user))).execute(conn)?;
    diesel::delete(org_staff::table.filter(org_staff::user_id.eq(user))).execute(conn)?;

    // Points: lottery wins and entries (an entry names the ledger row that paid for it), then the
    // ledger and balances.
    // Writers of the ledger lock the balance rows first; taking them here too makes an award or
    // check-in racing the erasure finish before it (its entry is then deleted with the rest) or
    // wait and find no balance row.
    if let DbConn::Pg(c) = conn {
        points_balances::table
            .filter(points_balances::user_id.eq(user))
            .select(points_balances::programme_id)
            .for_update()
            .load::<String>(c)?;
    }
    diesel::delete(lottery_winners::table.filter(lottery_winners::user_id.eq(user))).execute(conn)?;
    diesel::delete(lottery_entries::table.filter(lottery_entries::user_id.eq(user))).execute(conn)?;
    diesel::delete(points_ledger::table.filter(points_ledger::user_id.eq(user))).execute(conn)?;
    diesel::delete(points_balances::table.filter(points_balances::user_id.eq(user))).execute(conn)?;
    diesel::delete(programme_weeks::table.filter(programme_weeks::user_id.eq(user))).execute(conn)?;

    // Measurements and the rollup that aggregates are answered from.
    diesel::delete(measurement_rollup_year_buckets::table.filter(measurement_rollup_year_buckets::user_id.eq(user)))
        .execute(conn)?;
    diesel::delete(measurement_rollup_years::table.filter(measurement_rollup_years::user_id.eq(user))).execute(conn)?;
    diesel::delete(measurement_rollup_buckets::table.filter(measurement_rollup_buckets::user_id.eq(user)))
        .execute(conn)?;
    diesel::delete(measurement_rollups::table.filter(measurement_rollups::user_id.eq(user))).execute(conn)?;
    diesel::delete(measurements::table.filter(measurements::user_id.eq(user))).execute(conn)?;

    // Credentials, then the account.
    diesel::delete(pairing_codes::table.filter(pairing_codes::user_id.eq(user))).execute(conn)?;
    diesel::delete(refresh_tokens::table.filter(refresh_tokens::user_id.eq(user))).execute(conn)?;
    diesel::delete(sessions::table.filter(sessions::user_id.eq(user))).execute(conn)?;
    diesel::delete(app_tokens::table.filter(app_tokens::user_id.eq(user))).execute(conn)?;
    diesel::delete(users::table.find(user)).execute(conn)?;
    Ok(Erasure::Erased)
}

fn is_operator(role: &str) -> bool {
    Role::parse(role) == Some(Role::Admin)
}

/// Locks the account row and, for an operator, every operator's row, and reads their roles. The
/// operators' rows are locked in id order with the account's own among them, so two operators
/// erasing themselves at once queue (the second then counts one operator fewer) instead of each
/// counting the other, and cannot deadlock.
fn lock(conn: &mut DbConn, user: Id, with_operators: bool) -> QueryResult<Vec<(Id, String)>> {
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
