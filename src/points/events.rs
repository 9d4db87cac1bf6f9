//! Events: an operator creates an event with a check-in code; a resident who checks in during the
//! event's window is paid its points once. The award key `event:<id>` is unique per resident in
//! the ledger, so retries and concurrent check-ins cannot pay twice.

use chrono::NaiveDate;
use diesel::prelude::*;

use super::ledger::LedgerEntry;
use super::posting::{append, lock_balances};
use crate::db::schema::{events, points_ledger};
use crate::db::{DbConn, EventId, LedgerEntryId, Ts, UserId};
use crate::error::FieldError;

/// An event.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = events)]
pub struct Event {
    /// Its id (UUIDv7, so pages list events newest first by id); the award key names it.
    pub id: EventId,
    /// Programme that pays.
    pub programme_id: String,
    /// Title, also the ledger entry's.
    pub title: String,
    /// Points for checking in.
    pub points: i32,
    /// Code shown at the venue (normalised: upper case, no separators).
    pub code: String,
    /// Check-in opens.
    pub starts_at: Ts,
    /// Check-in closes.
    pub ends_at: Ts,
    /// When it was created.
    pub created_at: Ts,
}

/// Checks an event as an operator wrote it; every problem is reported with its field.
pub fn validate(event: &Event, programmes: &[String]) -> Vec<FieldError> {
    let mut errors = Vec::new();
    if !programmes.contains(&event.programme_id) {
        errors.push(FieldError::new("programme", "no such programme"));
    }
    if event.title.is_empty() || event.title.chars().count() > 200 {
        errors.push(FieldError::new("title", "must be 1 to 200 characters"));
    }
    if !(1..=1000).contains(&event.points) {
        errors.push(FieldError::new("points", "must be between 1 and 1000"));
    }
    if event.ends_at <= event.starts_at {
        errors.push(FieldError::new("ends_at", "must be after starts_at"));
    } else if event.ends_at > event.starts_at.plus(chrono::Duration::days(366)) {
        errors.push(FieldError::new("ends_at", "an event lasts at most a year"));
    }
    errors
}

/// Creates an event.
pub fn create(conn: &mut DbConn, event: &Event) -> QueryResult<()> {
    crate::on_backend!(conn, c => diesel::insert_into(events::table).values(event).execute(c)).map(|_| ())
}

/// One event.
pub fn find(conn: &mut DbConn, id: EventId) -> QueryResult<Option<Event>> {
    events::table.find(id).select(Event::as_select()).first(conn).optional()
}

/// Changes an event's programme, title, points and window; its id and code stay. Check-ins already
/// paid keep their points. False if there is no such event.
pub fn update(conn: &mut DbConn, event: &Event) -> QueryResult<bool> {
    let n = diesel::update(events::table.find(event.id))
        .set((
            events::programme_id.eq(&event.programme_id),
            events::title.eq(&event.title),
            events::points.eq(event.points),
            events::starts_at.eq(event.starts_at),
            events::ends_at.eq(event.ends_at),
        ))
        .execute(conn)?;
    Ok(n == 1)
}

/// Deletes an event: its code stops working; check-ins already paid stay in the ledger (with the
/// event's title). False if there is no such event.
pub fn delete(conn: &mut DbConn, id: EventId) -> QueryResult<bool> {
    Ok(diesel::delete(events::table.find(id)).execute(conn)? == 1)
}

/// Whether a code is already in use.
pub fn code_taken(conn: &mut DbConn, code: &str) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(events::table.filter(events::code.eq(code)))).get_result(conn)
}

/// Events, newest first, before `before`.
pub fn list(conn: &mut DbConn, before: Option<EventId>, limit: i64) -> QueryResult<Vec<Event>> {
    let mut q = events::table
        .select(Event::as_select())
        .order(events::id.desc())
        .limit(limit)
        .into_boxed();
    if let Some(before) = before {
        q = q.filter(events::id.lt(before));
    }
    q.load(conn)
}

/// The event with this (normalised) code, if it belongs to one of `programmes` (those the
/// resident may earn in).
pub fn find_by_code(conn: &mut DbConn, code: &str, programmes: &[String]) -> QueryResult<Option<Event>> {
    events::table
        .filter(events::code.eq(code))
        .filter(events::programme_id.eq_any(programmes))
        .select(Event::as_select())
        .first(conn)
        .optional()
}

/// What became of a check-in.
#[derive(Debug)]
pub enum CheckIn {
    /// Paid now.
    Paid(LedgerEntry),
    /// Checked in before: the earlier award, nothing paid again.
    Already(LedgerEntry),
    /// Outside the event's window.
    NotOpen,
}

fn award_key(event: &Event) -> String {
    format!("event:{}", event.id.0)
}

/// Checks the resident in and pays the event's points, in the caller's transaction. Event points
/// are not limited by the programme's daily cap: the operator set them for this event, and the cap
/// is there to bound what devices can earn in a day. The event comes from [`find_by_code`], which
/// only finds events of the resident's programmes.
pub fn check_in(conn: &mut DbConn, user_id: UserId, event: &Event, local_date: NaiveDate) -> QueryResult<CheckIn> {
    let now = Ts::now();
    let key = award_key(event);
    let programmes = [event.programme_id.clone()];
    lock_balances(conn, user_id, &programmes)?;
    let earlier = points_ledger::table
        .filter(points_ledger::user_id.eq(user_id))
        .filter(points_ledger::programme_id.eq(&event.programme_id))
        .filter(points_ledger::award_key.eq(&key))
        .select(LedgerEntry::as_select())
        .first(conn)
        .optional()?;
    if let Some(e) = earlier {
        return Ok(CheckIn::Already(e));
    }
    if now < event.starts_at || now > event.ends_at {
        return Ok(CheckIn::NotOpen);
    }
    let entry = LedgerEntry {
        id: LedgerEntryId::new(),
        user_id,
        programme_id: event.programme_id.clone(),
        rule_id: None,
        delta: event.points,
        title: event.title.clone(),
        local_date,
        measurement_id: None,
        award_key: Some(key),
        created_at: now,
        day_key: None,
        award_upto: None,
    };
    append(conn, user_id, std::slice::from_ref(&entry))?;
    Ok(CheckIn::Paid(entry))
}
