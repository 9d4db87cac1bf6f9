//! What an account's erasure does to points: the person's lottery wins and entries, ledger and
//! balances go (a drawn lottery then lists fewer winners). Part of `usecases::erasure`, in its
//! transaction.

use diesel::prelude::*;

use crate::db::schema::{lottery_entries, lottery_winners, points_balances, points_ledger};
use crate::db::{DbConn, UserId};

/// Forgets `user` in the points tables: wins and entries first (an entry names the ledger row
/// that paid for it), then the ledger and balances.
pub fn forget(conn: &mut DbConn, user: UserId) -> QueryResult<()> {
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
    Ok(())
}
