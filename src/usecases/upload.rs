//! Recording measurements — an upload of one item or a batch, the items of an imported document —
//! and deleting one: the write, the points it earns and the aggregate rollup it moves, in one
//! transaction, retried when a concurrent request won a race to the same key.

use diesel::QueryResult;

use crate::accounts::tokens::Modality;
use crate::aggregates::rollup::{self, Change, Subject};
use crate::db::{DbConn, MeasurementId};
use crate::error::FieldError;
use crate::measurements::{self, ItemResult, Measurement, MeasurementInput, Outcome, Uploader, validate};
use crate::points::Earner;

/// Whether a transaction failed only because a concurrent one got there first: a unique key taken
/// meanwhile, a serialisation failure, or a deadlock PostgreSQL broke by aborting this side. Running
/// it again sees the winner's rows.
pub(crate) fn lost_a_race(e: &diesel::result::Error) -> bool {
    use diesel::result::{DatabaseErrorKind, Error};
    match e {
        Error::DatabaseError(DatabaseErrorKind::UniqueViolation | DatabaseErrorKind::SerializationFailure, _) => true,
        Error::DatabaseError(_, info) => info.message().contains("deadlock detected"),
        _ => false,
    }
}

/// How often a unit of work is run again after losing a race.
const RACE_RETRIES: usize = 3;

/// Runs `work` in one transaction, again (up to [`RACE_RETRIES`] times) when it lost a race.
pub(crate) fn with_race_retry<T>(
    conn: &mut DbConn,
    mut work: impl FnMut(&mut DbConn) -> QueryResult<T>,
) -> QueryResult<T> {
    let mut attempt = 0;
    loop {
        match crate::db::transaction(conn, &mut work) {
            Err(e) if attempt < RACE_RETRIES && lost_a_race(&e) => attempt += 1,
            other => return other,
        }
    }
}

/// The resident as the aggregate rollup needs them.
fn subject(who: &Uploader) -> Subject {
    Subject {
        user_id: who.user_id,
        birth_date: who.birth_date,
        sex: who.sex.clone(),
    }
}

/// The resident as the points awards need them.
fn earner(who: &Uploader) -> Earner {
    Earner {
        user_id: who.user_id,
        birth_date: who.birth_date,
        timezone: who.timezone,
        since: who.since,
        vouches_sensed: who.modality == Modality::Sensed,
    }
}

/// Validates and stores an upload (one item, or a batch) for the resident: validation against
/// their timezone, then every valid item written in **one** transaction with the points it earns
/// and the rollup it moves (one result per item). Items that failed to parse arrive as `Err` with
/// their field error and are reported as invalid.
pub fn record(
    conn: &mut DbConn,
    who: &Uploader,
    inputs: Vec<Result<MeasurementInput, FieldError>>,
    prefix: impl Fn(usize) -> String,
) -> QueryResult<Vec<ItemResult>> {
    let inputs = inputs.into_iter().map(|i| i.map(|i| (i, None))).collect();
    record_claimed(conn, who, inputs, prefix)
}

/// Like [`record`], for items that may state how they were obtained (an imported file's
/// provenance): that modality is stored with the item instead of the uploader's. Points only
/// believe a `sensed` claim the uploader's credential vouches for (a sensed app or kiosk token):
/// for the rules, an item a self-reporting credential claims was sensed counts as self-reported.
pub fn record_claimed(
    conn: &mut DbConn,
    who: &Uploader,
    inputs: Vec<Result<(MeasurementInput, Option<Modality>), FieldError>>,
    prefix: impl Fn(usize) -> String,
) -> QueryResult<Vec<ItemResult>> {
    let (mut results, valid, valid_at) = validate::all(who, inputs, prefix);
    if valid.is_empty() {
        return Ok(results.into_iter().flatten().collect());
    }
    let outcomes = with_race_retry(conn, |c| {
        let outcomes = measurements::ingest(c, who.user_id, who.modality, &valid)?;
        let written: Vec<&Measurement> = outcomes.iter().filter_map(Outcome::written).collect();
        // Points are earned in the same transaction as the write that earns them, believing a
        // `sensed` claim only from a credential that vouches for it (`Earner::vouches_sensed`).
        crate::points::award_for(c, &earner(who), &written)?;
        // The rollup moves by what was written and what a replacement took away.
        let moved: Vec<(
            &str,
            chrono::NaiveDate,
            serde_json::Map<String, serde_json::Value>,
            bool,
        )> = outcomes
            .iter()
            .flat_map(|o| match o {
                Outcome::Created(m) => vec![(m.kind.as_str(), m.local_date, m.values(), true)],
                Outcome::Replaced { row, previous } => vec![
                    (row.kind.as_str(), row.local_date, previous.clone(), false),
                    (row.kind.as_str(), row.local_date, row.values(), true),
                ],
                Outcome::Duplicate(_) | Outcome::ClientRefConflict => Vec::new(),
            })
            .collect();
        let changes: Vec<Change<'_>> = moved
            .iter()
            .map(|(kind, day, values, added)| Change {
                kind,
                day: *day,
                values,
                added: *added,
            })
            .collect();
        rollup::apply(c, &subject(who), &changes)?;
        Ok(outcomes)
    })?;
    for (i, outcome) in valid_at.into_iter().zip(outcomes) {
        results[i] = Some(ItemResult::Done(outcome));
    }
    Ok(results.into_iter().flatten().collect())
}

/// Deletes one of the resident's measurements and moves the rollup by it, in one transaction;
/// false if there is none. Points already paid for it stay.
pub fn delete(conn: &mut DbConn, who: &Uploader, id: MeasurementId) -> QueryResult<bool> {
    crate::db::transaction(conn, |c| {
        let Some(gone) = measurements::delete(c, who.user_id, id)? else {
            return Ok(false);
        };
        let values = gone.values();
        let change = Change {
            kind: &gone.kind,
            day: gone.local_date,
            values: &values,
            added: false,
        };
        rollup::apply(c, &subject(who), &[change])?;
        Ok(true)
    })
}

/// Records the items of an imported document: an item that is one of the resident's own
/// measurements (their export, imported back: it names the measurement's id) is that measurement,
/// whatever client reference it lacks; the rest are recorded with the modality they claim. One
/// result per item, in order.
pub fn import(
    conn: &mut DbConn,
    who: &Uploader,
    items: Vec<(MeasurementInput, Option<Modality>, Option<MeasurementId>)>,
) -> QueryResult<Vec<ItemResult>> {
    let ids: Vec<MeasurementId> = items.iter().filter_map(|(_, _, id)| *id).collect();
    let own = measurements::find_many(conn, who.user_id, &ids)?;
    let mut results: Vec<Option<ItemResult>> = Vec::with_capacity(items.len());
    let mut rest = Vec::new();
    let mut rest_at = Vec::new();
    for (i, (input, modality, id)) in items.into_iter().enumerate() {
        match own.iter().find(|m| Some(m.id) == id) {
            Some(m) => results.push(Some(ItemResult::Done(Outcome::Duplicate(m.clone())))),
            None => {
                results.push(None);
                rest_at.push(i);
                rest.push(Ok((input, modality)));
            }
        }
    }
    if !rest.is_empty() {
        let recorded = record_claimed(conn, who, rest, |_| String::new())?;
        for (i, r) in rest_at.into_iter().zip(recorded) {
            results[i] = Some(r);
        }
    }
    Ok(results.into_iter().flatten().collect())
}
