//! Writing to the ledger: locking a resident's balance rows, appending entries with the balances
//! moving alongside, and spending. Every write runs in the caller's transaction.

use std::collections::HashMap;

use chrono::NaiveDate;
use diesel::prelude::*;

use super::bulk::LedgerUnnest;
use super::ledger::LedgerEntry;
use crate::db::schema::{points_balances, points_ledger};
use crate::db::{DbConn, LedgerEntryId, Ts, UserId};

/// Makes sure the resident has a balance row in each programme and locks them (PostgreSQL), so
/// that one resident's concurrent awards and spends in a programme take turns. On PostgreSQL the
/// rows are locked first and only the missing ones inserted (then locked): once a resident has
/// earned in a programme, this is one statement. SQLite's write transaction is the lock.
pub(crate) fn lock_balances(conn: &mut DbConn, user_id: UserId, programme_ids: &[String]) -> QueryResult<()> {
    match conn {
        DbConn::Pg(c) => {
            let locked = lock_existing(c, user_id, programme_ids)?;
            let missing: Vec<String> = programme_ids.iter().filter(|p| !locked.contains(p)).cloned().collect();
            if !missing.is_empty() {
                create_balances(c, user_id, &missing)?;
                // A row a concurrent transaction inserted first was skipped above: lock it now.
                lock_existing(c, user_id, &missing)?;
            }
        }
        DbConn::Sqlite(c) => {
            let rows: Vec<_> = programme_ids
                .iter()
                .map(|p| {
                    (
                        points_balances::user_id.eq(user_id),
                        points_balances::programme_id.eq(p.clone()),
                        points_balances::balance.eq(0),
                        points_balances::lifetime_earned.eq(0),
                    )
                })
                .collect();
            diesel::insert_into(points_balances::table)
                .values(&rows)
                .on_conflict_do_nothing()
                .execute(c)?;
        }
    }
    Ok(())
}

/// Locks the resident's balance rows of these programmes that exist; returns their programmes.
fn lock_existing(c: &mut diesel::PgConnection, user_id: UserId, programme_ids: &[String]) -> QueryResult<Vec<String>> {
    points_balances::table
        .filter(points_balances::user_id.eq(user_id))
        .filter(points_balances::programme_id.eq_any(programme_ids))
        .select(points_balances::programme_id)
        .for_update()
        .load::<String>(c)
}

/// Inserts zero balances for these programmes unless they exist, as one statement whatever their
/// number (prepared once per connection).
fn create_balances(c: &mut diesel::PgConnection, user_id: UserId, programme_ids: &[String]) -> QueryResult<usize> {
    use diesel::sql_types::{Array, Text, Uuid};
    diesel::sql_query(
        "INSERT INTO points_balances (user_id, programme_id, balance, lifetime_earned) \
         SELECT $1, p, 0, 0 FROM unnest($2) AS p ON CONFLICT DO NOTHING",
    )
    .bind::<Uuid, _>(user_id.0)
    .bind::<Array<Text>, _>(programme_ids)
    .execute(c)
}

/// Appends ledger entries and moves the balances with them.
pub(crate) fn append(conn: &mut DbConn, user_id: UserId, entries: &[LedgerEntry]) -> QueryResult<()> {
    if entries.is_empty() {
        return Ok(());
    }
    match conn {
        DbConn::Pg(c) => LedgerUnnest::new(entries).execute(c)?,
        DbConn::Sqlite(c) => diesel::insert_into(points_ledger::table).values(entries).execute(c)?,
    };
    let mut sums: HashMap<&str, (i32, i32)> = HashMap::new();
    for e in entries {
        let s = sums.entry(e.programme_id.as_str()).or_default();
        s.0 += e.delta;
        s.1 += e.delta.max(0);
    }
    for (programme, (delta, earned)) in sums {
        diesel::update(
            points_balances::table
                .filter(points_balances::user_id.eq(user_id))
                .filter(points_balances::programme_id.eq(programme)),
        )
        .set((
            points_balances::balance.eq(points_balances::balance + delta),
            points_balances::lifetime_earned.eq(points_balances::lifetime_earned + earned),
        ))
        .execute(conn)?;
    }
    Ok(())
}

/// Spends `points` of the resident's balance in a programme: the balance moves by a conditional
/// update (`balance >= points`), so however many spends race, it never goes below zero; the
/// matching ledger entry is written in the caller's transaction. `None` when the balance is short.
pub fn spend(
    conn: &mut DbConn,
    user_id: UserId,
    programme_id: &str,
    points: i32,
    title: String,
    local_date: NaiveDate,
) -> QueryResult<Option<LedgerEntry>> {
    let moved = diesel::update(
        points_balances::table
            .filter(points_balances::user_id.eq(user_id))
            .filter(points_balances::programme_id.eq(programme_id))
            .filter(points_balances::balance.ge(points)),
    )
    .set(points_balances::balance.eq(points_balances::balance - points))
    .execute(conn)?;
    if moved != 1 {
        return Ok(None);
    }
    let entry = LedgerEntry {
        id: LedgerEntryId::new(),
        user_id,
        programme_id: programme_id.to_owned(),
        rule_id: None,
        delta: -points,
        title,
        local_date,
        measurement_id: None,
        award_key: None,
        created_at: Ts::now(),
        day_key: None,
        award_upto: None,
    };
    crate::on_backend!(conn, c => diesel::insert_into(points_ledger::table).values(&entry).execute(c))?;
    Ok(Some(entry))
}
