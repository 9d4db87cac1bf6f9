//! Lotteries bought with points: entries spend from the balance (never below zero, however many
//! entries race), and draws are reproducible from a recorded seed.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::NaiveDate;
use diesel::prelude::*;
use sha2::{Digest, Sha256};

use crate::db::schema::{lotteries, lottery_entries, lottery_winners};
use crate::db::{DbConn, LedgerEntryId, LotteryEntryId, LotteryId, Ts, UserId};
use crate::error::FieldError;

/// A lottery.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = lotteries)]
#[diesel(treat_none_as_default_value = false)]
pub struct Lottery {
    /// Its id (UUIDv7, so pages list lotteries newest first by id).
    pub id: LotteryId,
    /// Programme whose points buy entries.
    pub programme_id: String,
    /// Name shown to residents; spending entries are titled after it.
    pub title: String,
    /// What winners get.
    pub prize: String,
    /// Points per ticket.
    pub cost_per_entry: i32,
    /// Number of winners drawn.
    pub winners: i32,
    /// Entries are accepted until this instant.
    pub closes_at: Ts,
    /// When an operator closed it (early, or by drawing).
    pub closed_at: Option<Ts>,
    /// Seed of the draw.
    pub seed: Option<String>,
    /// When it was drawn.
    pub drawn_at: Option<Ts>,
    /// When it was created.
    pub created_at: Ts,
}

/// Where a lottery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Taking entries.
    Open,
    /// No more entries; not drawn yet.
    Closed,
    /// Drawn: winners are known.
    Drawn,
}

impl Status {
    /// The name used in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Open => "open",
            Status::Closed => "closed",
            Status::Drawn => "drawn",
        }
    }
}

impl Lottery {
    /// Its status at `now`.
    pub fn status(&self, now: Ts) -> Status {
        if self.drawn_at.is_some() {
            Status::Drawn
        } else if self.closed_at.is_some() || self.closes_at <= now {
            Status::Closed
        } else {
            Status::Open
        }
    }
}

/// One purchase of tickets.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = lottery_entries)]
#[diesel(treat_none_as_default_value = false)]
pub struct Entry {
    /// Its id (UUIDv7, so a lottery's entries order by purchase).
    pub id: LotteryEntryId,
    /// The lottery the tickets are for.
    pub lottery_id: LotteryId,
    /// The resident who bought them.
    pub user_id: UserId,
    /// Tickets bought.
    pub tickets: i32,
    /// Points spent.
    pub points_spent: i32,
    /// The ledger entry that spent them.
    pub ledger_entry_id: LedgerEntryId,
    /// The client's reference for retries.
    pub client_ref: Option<String>,
    /// When it was bought.
    pub created_at: Ts,
}

/// Checks a lottery as an operator wrote it; every problem is reported with its field.
pub fn validate(lottery: &Lottery, programmes: &[String], now: Ts) -> Vec<FieldError> {
    let mut errors = Vec::new();
    if !programmes.contains(&lottery.programme_id) {
        errors.push(FieldError::new("programme", "no such programme"));
    }
    for (field, value) in [("title", &lottery.title), ("prize", &lottery.prize)] {
        if value.is_empty() || value.chars().count() > 200 {
            errors.push(FieldError::new(field, "must be 1 to 200 characters"));
        }
    }
    if !(1..=100_000).contains(&lottery.cost_per_entry) {
        errors.push(FieldError::new("cost_per_entry", "must be between 1 and 100000"));
    }
    if !(1..=10_000).contains(&lottery.winners) {
        errors.push(FieldError::new("winners", "must be between 1 and 10000"));
    }
    if lottery.closes_at <= now {
        errors.push(FieldError::new("closes_at", "must be in the future"));
    } else if lottery.closes_at > now.plus(chrono::Duration::days(366)) {
        errors.push(FieldError::new("closes_at", "must be within a year"));
    }
    errors
}

/// Most tickets one purchase may buy.
pub const MAX_TICKETS: i32 = 1000;

/// Creates a lottery.
pub fn create(conn: &mut DbConn, lottery: &Lottery) -> QueryResult<()> {
    crate::on_backend!(conn, c => diesel::insert_into(lotteries::table).values(lottery).execute(c)).map(|_| ())
}

/// Whether anyone has bought tickets in the lottery.
pub fn has_entries(conn: &mut DbConn, id: LotteryId) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(
        lottery_entries::table.filter(lottery_entries::lottery_id.eq(id)),
    ))
    .get_result(conn)
}

/// Changes a lottery that nobody has entered yet (the caller checks, under the lock of its
/// transaction). False if there is no such lottery.
pub fn update(conn: &mut DbConn, lottery: &Lottery) -> QueryResult<bool> {
    let n = diesel::update(lotteries::table.find(lottery.id))
        .set((
            lotteries::programme_id.eq(&lottery.programme_id),
            lotteries::title.eq(&lottery.title),
            lotteries::prize.eq(&lottery.prize),
            lotteries::cost_per_entry.eq(lottery.cost_per_entry),
            lotteries::winners.eq(lottery.winners),
            lotteries::closes_at.eq(lottery.closes_at),
        ))
        .execute(conn)?;
    Ok(n == 1)
}

/// Deletes a lottery nobody has entered (the caller checks). False if there is no such lottery.
pub fn delete(conn: &mut DbConn, id: LotteryId) -> QueryResult<bool> {
    Ok(diesel::delete(lotteries::table.find(id)).execute(conn)? == 1)
}

/// What stands in the way of changing or deleting a lottery: it must exist, be undrawn and have
/// no entries (points were spent on them, and cancelling would need refunds). Locks it.
pub fn editable(conn: &mut DbConn, id: LotteryId) -> QueryResult<Result<Lottery, Blocked>> {
    let Some(lottery) = lock(conn, id)? else {
        return Ok(Err(Blocked::NotFound));
    };
    if lottery.drawn_at.is_some() {
        return Ok(Err(Blocked::Drawn));
    }
    if has_entries(conn, id)? {
        return Ok(Err(Blocked::HasEntries));
    }
    Ok(Ok(lottery))
}

/// Why a lottery cannot be changed or deleted.
#[derive(Debug)]
pub enum Blocked {
    /// No such lottery.
    NotFound,
    /// It has been drawn.
    Drawn,
    /// Residents hold tickets in it.
    HasEntries,
}

/// One lottery.
pub fn find(conn: &mut DbConn, id: LotteryId) -> QueryResult<Option<Lottery>> {
    lotteries::table
        .find(id)
        .select(Lottery::as_select())
        .first(conn)
        .optional()
}

/// Lotteries of the given programmes, newest first, before `before`.
pub fn list(
    conn: &mut DbConn,
    programme_ids: &[String],
    before: Option<LotteryId>,
    limit: i64,
) -> QueryResult<Vec<Lottery>> {
    let mut q = lotteries::table
        .filter(lotteries::programme_id.eq_any(programme_ids))
        .select(Lottery::as_select())
        .order(lotteries::id.desc())
        .limit(limit)
        .into_boxed();
    if let Some(before) = before {
        q = q.filter(lotteries::id.lt(before));
    }
    q.load(conn)
}

/// Reads a lottery and locks it for a draw or a change (PostgreSQL `FOR UPDATE`); purchases take
/// a shared lock ([`lock_in`]), so no ticket can be bought into a lottery while it is being drawn.
/// On SQLite, write transactions already run one at a time.
fn lock(conn: &mut DbConn, id: LotteryId) -> QueryResult<Option<Lottery>> {
    if let DbConn::Pg(c) = conn {
        return lotteries::table
            .find(id)
            .select(Lottery::as_select())
            .for_update()
            .first(c)
            .optional();
    }
    find(conn, id)
}

/// The lottery, if it belongs to one of `programmes` (those the resident may take part in).
pub fn find_in(conn: &mut DbConn, id: LotteryId, programmes: &[String]) -> QueryResult<Option<Lottery>> {
    lotteries::table
        .filter(lotteries::id.eq(id))
        .filter(lotteries::programme_id.eq_any(programmes))
        .select(Lottery::as_select())
        .first(conn)
        .optional()
}

/// Like [`find_in`], share-locked on PostgreSQL for a purchase (see [`lock`]).
fn lock_in(conn: &mut DbConn, id: LotteryId, programmes: &[String]) -> QueryResult<Option<Lottery>> {
    if let DbConn::Pg(c) = conn {
        return lotteries::table
            .filter(lotteries::id.eq(id))
            .filter(lotteries::programme_id.eq_any(programmes))
            .select(Lottery::as_select())
            .for_share()
            .first(c)
            .optional();
    }
    find_in(conn, id, programmes)
}

/// Checks a purchase request: 1 to [`MAX_TICKETS`] tickets, a client reference of 1–100
/// characters if any. Returns the ticket count.
pub fn validate_entry(count: i64, client_ref: Option<&str>) -> Result<i32, Vec<FieldError>> {
    let mut errors = Vec::new();
    let tickets = i32::try_from(count).ok().filter(|n| (1..=MAX_TICKETS).contains(n));
    if tickets.is_none() {
        errors.push(FieldError::new("count", format!("must be between 1 and {MAX_TICKETS}")));
    }
    if client_ref.is_some_and(|r| r.is_empty() || r.chars().count() > 100) {
        errors.push(FieldError::new("client_ref", "must be 1 to 100 characters"));
    }
    match tickets {
        Some(t) if errors.is_empty() => Ok(t),
        _ => Err(errors),
    }
}

/// What became of a request to buy tickets.
#[derive(Debug)]
pub enum Enter {
    /// Bought now; the balance afterwards.
    Bought(Entry, i32),
    /// A retry of a purchase already made with the same client reference: nothing spent again.
    Repeated(Entry, i32),
    /// No such lottery in the resident's programmes.
    NotFound,
    /// The lottery no longer takes entries.
    NotOpen,
    /// The balance is short of the price.
    Short {
        /// The price of the tickets.
        price: i64,
        /// The balance.
        balance: i32,
    },
}

/// Buys `tickets` tickets in a lottery of one of `programmes` (those the resident may take part
/// in) for the resident, spending points in the caller's transaction.
pub fn enter(
    conn: &mut DbConn,
    user_id: UserId,
    programmes: &[String],
    lottery_id: LotteryId,
    tickets: i32,
    client_ref: Option<String>,
    today: NaiveDate,
) -> QueryResult<Enter> {
    let Some(lottery) = lock_in(conn, lottery_id, programmes)? else {
        return Ok(Enter::NotFound);
    };
    // The resident's purchases in a programme take turns, so a retry racing its original finds it
    // instead of tripping over the unique client_ref.
    super::posting::lock_balances(conn, user_id, std::slice::from_ref(&lottery.programme_id))?;
    if let Some(r) = &client_ref {
        let earlier = lottery_entries::table
            .filter(lottery_entries::lottery_id.eq(lottery_id))
            .filter(lottery_entries::user_id.eq(user_id))
            .filter(lottery_entries::client_ref.eq(r))
            .select(Entry::as_select())
            .first(conn)
            .optional()?;
        if let Some(e) = earlier {
            return Ok(Enter::Repeated(
                e,
                super::ledger::balance(conn, user_id, &lottery.programme_id)?,
            ));
        }
    }
    if lottery.status(Ts::now()) != Status::Open {
        return Ok(Enter::NotOpen);
    }
    let price = i64::from(tickets) * i64::from(lottery.cost_per_entry);
    let title = format!("Lottery: {} ({tickets} tickets)", lottery.title);
    let spent = match i32::try_from(price) {
        Ok(p) => super::posting::spend(conn, user_id, &lottery.programme_id, p, title, today)?,
        Err(_) => None,
    };
    let Some(ledger) = spent else {
        let balance = super::ledger::balance(conn, user_id, &lottery.programme_id)?;
        return Ok(Enter::Short { price, balance });
    };
    let entry = Entry {
        id: LotteryEntryId::new(),
        lottery_id,
        user_id,
        tickets,
        points_spent: -ledger.delta,
        ledger_entry_id: ledger.id,
        client_ref,
        created_at: ledger.created_at,
    };
    crate::on_backend!(conn, c => diesel::insert_into(lottery_entries::table).values(&entry).execute(c))?;
    Ok(Enter::Bought(
        entry,
        super::ledger::balance(conn, user_id, &lottery.programme_id)?,
    ))
}

/// Closes a lottery to entries if it is still open; returns it as it now stands.
pub fn close(conn: &mut DbConn, id: LotteryId) -> QueryResult<Option<Lottery>> {
    diesel::update(
        lotteries::table
            .filter(lotteries::id.eq(id))
            .filter(lotteries::closed_at.is_null()),
    )
    .set(lotteries::closed_at.eq(Some(Ts::now())))
    .execute(conn)?;
    find(conn, id)
}

/// What became of a draw.
#[derive(Debug)]
pub enum Draw {
    /// Drawn now.
    Drawn {
        /// The seed used.
        seed: String,
        /// Winners in the order drawn.
        winners: Vec<UserId>,
    },
    /// It had been drawn before; draws are never repeated.
    AlreadyDrawn,
    /// No such lottery.
    NotFound,
}

/// Closes the lottery if still open and draws its winners with `seed`, recording both.
pub fn draw(conn: &mut DbConn, id: LotteryId, seed: String) -> QueryResult<Draw> {
    let Some(lottery) = lock(conn, id)? else {
        return Ok(Draw::NotFound);
    };
    if lottery.drawn_at.is_some() {
        return Ok(Draw::AlreadyDrawn);
    }
    let pool = tickets_by_resident(conn, id)?;
    let winners = pick_winners(&seed, &pool, usize::try_from(lottery.winners).unwrap_or(0));
    let rows: Vec<_> = winners
        .iter()
        .zip(1..)
        .map(|(user, rank): (&UserId, i32)| {
            (
                lottery_winners::lottery_id.eq(id),
                lottery_winners::rank.eq(rank),
                lottery_winners::user_id.eq(*user),
            )
        })
        .collect();
    if !rows.is_empty() {
        crate::on_backend!(conn, c => diesel::insert_into(lottery_winners::table).values(&rows).execute(c))?;
    }
    let now = Ts::now();
    diesel::update(lotteries::table.find(id))
        .set((
            lotteries::closed_at.eq(Some(lottery.closed_at.unwrap_or(now))),
            lotteries::seed.eq(Some(&seed)),
            lotteries::drawn_at.eq(Some(now)),
        ))
        .execute(conn)?;
    Ok(Draw::Drawn { seed, winners })
}

/// Every entrant of a lottery with their tickets, in ascending id order: the input of the draw.
pub fn tickets_by_resident(conn: &mut DbConn, id: LotteryId) -> QueryResult<Vec<(UserId, u64)>> {
    let rows: Vec<(UserId, i32)> = lottery_entries::table
        .filter(lottery_entries::lottery_id.eq(id))
        .select((lottery_entries::user_id, lottery_entries::tickets))
        .load(conn)?;
    let mut pool: BTreeMap<UserId, u64> = BTreeMap::new();
    for (user, tickets) in rows {
        *pool.entry(user).or_default() += u64::try_from(tickets).unwrap_or(0);
    }
    Ok(pool.into_iter().collect())
}

/// The winners of a drawn lottery, in the order drawn.
pub fn winners(conn: &mut DbConn, id: LotteryId) -> QueryResult<Vec<UserId>> {
    lottery_winners::table
        .filter(lottery_winners::lottery_id.eq(id))
        .order(lottery_winners::rank.asc())
        .select(lottery_winners::user_id)
        .load(conn)
}

/// The resident's part in some lotteries: tickets held and the lotteries they won.
pub fn my_part(
    conn: &mut DbConn,
    user_id: UserId,
    ids: &[LotteryId],
) -> QueryResult<(HashMap<LotteryId, i64>, HashSet<LotteryId>)> {
    let mut tickets: HashMap<LotteryId, i64> = HashMap::new();
    for (lottery, n) in lottery_entries::table
        .filter(lottery_entries::user_id.eq(user_id))
        .filter(lottery_entries::lottery_id.eq_any(ids))
        .select((lottery_entries::lottery_id, lottery_entries::tickets))
        .load::<(LotteryId, i32)>(conn)?
    {
        *tickets.entry(lottery).or_default() += i64::from(n);
    }
    let won = lottery_winners::table
        .filter(lottery_winners::user_id.eq(user_id))
        .filter(lottery_winners::lottery_id.eq_any(ids))
        .select(lottery_winners::lottery_id)
        .load::<LotteryId>(conn)?
        .into_iter()
        .collect();
    Ok((tickets, won))
}

/// The resident's entries, newest first, before `before`, with their lotteries.
pub fn entries_of(
    conn: &mut DbConn,
    user_id: UserId,
    before: Option<LotteryEntryId>,
    limit: i64,
) -> QueryResult<Vec<(Entry, Lottery)>> {
    let mut q = lottery_entries::table
        .inner_join(lotteries::table)
        .filter(lottery_entries::user_id.eq(user_id))
        .select((Entry::as_select(), Lottery::as_select()))
        .order(lottery_entries::id.desc())
        .limit(limit)
        .into_boxed();
    if let Some(before) = before {
        q = q.filter(lottery_entries::id.lt(before));
    }
    q.load(conn)
}

/// A fresh random seed (hex), for draws where the operator gives none.
pub fn random_seed() -> String {
    let mut buf = [0u8; 16];
    rand::fill(&mut buf);
    hex::encode(buf)
}

/// The `k`-th number of the seed's stream: the first 8 bytes of SHA-256(seed ‖ k), big-endian.
fn stream(seed: &str, k: u64) -> u64 {
    let digest = Sha256::new()
        .chain_update(seed.as_bytes())
        .chain_update(k.to_be_bytes())
        .finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    u64::from_be_bytes(first)
}

/// Draws up to `n` distinct winners from `pool` (resident, tickets), each draw weighted by
/// tickets, without replacement. Deterministic: the same seed and pool give the same winners, and
/// anyone can replay it — numbers come from SHA-256(seed ‖ counter), rejection-sampled so each
/// ticket is exactly equally likely; `pool` must be in ascending resident order.
pub fn pick_winners(seed: &str, pool: &[(UserId, u64)], n: usize) -> Vec<UserId> {
    let mut remaining: Vec<(UserId, u64)> = pool.iter().copied().filter(|(_, t)| *t > 0).collect();
    let mut winners = Vec::new();
    let mut counter = 0u64;
    while winners.len() < n && !remaining.is_empty() {
        let total: u64 = remaining.iter().map(|(_, t)| t).sum();
        // The largest multiple of `total` that fits: numbers at or above it are redrawn.
        let zone = u64::MAX - (u64::MAX % total);
        let ticket = loop {
            let x = stream(seed, counter);
            counter += 1;
            if x < zone {
                break x % total;
            }
        };
        let mut acc = 0u64;
        let Some(i) = remaining.iter().position(|(_, t)| {
            acc += t;
            ticket < acc
        }) else {
            break;
        };
        winners.push(remaining.remove(i).0);
    }
    winners
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool(n: u128) -> Vec<(UserId, u64)> {
        (1..=n)
            .map(|i| (UserId(uuid::Uuid::from_u128(i)), 1 + (i as u64 % 3)))
            .collect()
    }

    #[test]
    fn the_same_seed_draws_the_same_winners() {
        let a = pick_winners("expo-2026-week-48", &pool(50), 5);
        assert_eq!(a, pick_winners("expo-2026-week-48", &pool(50), 5));
        assert_eq!(a.len(), 5);
        assert_ne!(a, pick_winners("expo-2026-week-49", &pool(50), 5));
        let distinct: HashSet<_> = a.iter().collect();
        assert_eq!(distinct.len(), 5, "a resident wins at most once");
    }

    #[test]
    fn fewer_entrants_than_prizes_all_win_and_nobody_else() {
        let p = pool(3);
        let mut w = pick_winners("s", &p, 10);
        w.sort();
        assert_eq!(w, p.iter().map(|(u, _)| *u).collect::<Vec<_>>());
        assert!(pick_winners("s", &[], 3).is_empty());
        assert!(pick_winners("s", &[(UserId(uuid::Uuid::nil()), 0)], 3).is_empty());
    }

    #[test]
    fn tickets_weight_the_odds() {
        // One resident with 9 tickets against one with 1: over many seeds, the first wins about 90%.
        let p = vec![
            (UserId(uuid::Uuid::from_u128(1)), 9),
            (UserId(uuid::Uuid::from_u128(2)), 1),
        ];
        let wins = (0..2000)
            .filter(|s| pick_winners(&s.to_string(), &p, 1)[0] == p[0].0)
            .count();
        assert!((1700..=1900).contains(&wins), "{wins} of 2000");
    }
}
