//! Individual reads: an organisation's health staff reading one member's measurements under that
//! member's individual consent, logged in the same transaction as the read.

use diesel::prelude::*;

use super::access_log::{self, AccessEntry};
use super::consents::{self, Access};
use crate::db::schema::{consents as consents_t, measurements};
use crate::db::{AccessId, DbConn, MeasurementId, OrgId, Ts, UserId};
use crate::measurements::{ListCursor, ListFilter, Measurement};

/// Who reads, for which organisation.
#[derive(Debug, Clone)]
pub struct Reader {
    /// The staff account.
    pub actor: UserId,
    /// The organisation.
    pub organization_id: OrgId,
    /// Its name (kept in the log even if the organisation goes).
    pub organization_name: String,
}

/// What an individual read found.
#[derive(Debug)]
pub enum Read {
    /// The page, already logged.
    Served(Vec<Measurement>),
    /// No individual consent in force covers the type (or the resident is not a member).
    NoConsent,
}

/// A page (`page_size` rows, plus one to look ahead) of a member's measurements of one type, newest first, for an organisation's health
/// staff. The consent check is part of the measurement query itself, and the read is written to
/// the access log in the caller's transaction.
pub fn member_measurements(
    conn: &mut DbConn,
    reader: &Reader,
    subject: UserId,
    kind: &str,
    filter: &ListFilter,
    cursor: Option<ListCursor>,
    page_size: i64,
) -> QueryResult<Read> {
    let now = Ts::now();
    let Some(consent) = consents::individual_consent(conn, reader.organization_id, subject, kind, now)? else {
        return Ok(Read::NoConsent);
    };
    let in_force = consents::individual_consents(conn, reader.organization_id, subject, now)?;
    // The first day a consent in force shares, as part of the measurement query itself: no
    // consent, no rows; a consent from a later day, no earlier rows.
    let first_day = consents::covering(reader.organization_id, kind, consents::levels(Access::Individual), now)
        .filter(consents_t::user_id.eq(subject))
        .select(diesel::dsl::min(consents_t::data_from))
        .single_value();
    // Open ends are sentinels rather than optional filters, so the query (with its consent
    // subquery) keeps one static shape on both backends.
    // Years 1 and 9999 are within both backends' ranges and sort correctly as SQLite text.
    let (first, last) = (year_start(1), year_start(9999));
    let from = filter.from.unwrap_or(first);
    let to = filter.to.unwrap_or(last);
    let (at, id) = cursor.unwrap_or((last, MeasurementId(uuid::Uuid::max())));
    let q = measurements::table
        .filter(measurements::user_id.eq(subject))
        .filter(measurements::local_date.nullable().ge(first_day))
        .filter(measurements::kind.eq(kind))
        .filter(measurements::effective_at.ge(from))
        .filter(measurements::effective_at.lt(to))
        .filter(
            measurements::effective_at
                .lt(at)
                .or(measurements::effective_at.eq(at).and(measurements::id.lt(id))),
        )
        .select(Measurement::as_select())
        .order((measurements::effective_at.desc(), measurements::id.desc()))
        // One row more than the page, to learn whether another page follows.
        .limit(page_size + 1);
    let mut rows: Vec<Measurement> = q.load(conn)?;
    for m in &mut rows {
        if !consents::notes_shared(&in_force, kind, m.local_date) {
            m.note = None;
        }
    }
    // What the reader is shown: the page, not the extra row fetched to look ahead.
    let shown = i64::try_from(rows.len()).unwrap_or(i64::MAX).min(page_size);
    log(conn, reader, subject, &consent, "read_measurements", kind, shown, now)?;
    Ok(Read::Served(rows))
}

/// Writes one individual read of `kind` under `consent` to the member's access log.
#[expect(
    clippy::too_many_arguments,
    reason = "one access-log row, every column named at the call"
)]
fn log(
    conn: &mut DbConn,
    reader: &Reader,
    subject: UserId,
    consent: &consents::Consent,
    action: &str,
    kind: &str,
    records: i64,
    now: Ts,
) -> QueryResult<()> {
    access_log::record(
        conn,
        &AccessEntry {
            id: AccessId::new(),
            subject_id: Some(subject),
            actor_id: Some(reader.actor),
            organization_id: Some(reader.organization_id),
            organization_name: reader.organization_name.clone(),
            consent_id: Some(consent.id),
            action: action.to_owned(),
            measurement_type: Some(kind.to_owned()),
            purpose: consent.purpose.clone(),
            records: i32::try_from(records).unwrap_or(i32::MAX),
            created_at: now,
        },
    )
}

fn year_start(year: i32) -> Ts {
    let day = chrono::NaiveDate::from_ymd_opt(year, 1, 1).unwrap_or_default();
    Ts(day.and_time(chrono::NaiveTime::MIN).and_utc())
}

/// A member's insights (`GET /v1/me/insights` as their health staff see it), computed only from
/// the types an individual consent in force covers and from the first day each is shared from
/// (the consents are read first and every read after is bounded by them), without the member's birth date, which is not shared. Each type the insights drew
/// on is written to the member's access log in the caller's transaction. `None` when no consent
/// covers any type insights use, or the account does not exist.
pub fn member_insights(conn: &mut DbConn, reader: &Reader, subject: UserId) -> QueryResult<Option<MemberInsights>> {
    use crate::insights::store::{self, Subject, Viewer};
    let now = Ts::now();
    // The consents first (one query): an unknown account has none, and is answered in the same
    // way and with the same reads as a member who shares nothing. Everything below is read under
    // these consents, in the caller's transaction.
    let in_force = consents::individual_consents(conn, reader.organization_id, subject, now)?;
    let covered = consents::newest_per_type(&in_force);
    // Each type insights use that a consent covers, from the earliest day any of them shares.
    let shared: Vec<(&'static str, chrono::NaiveDate)> = store::insight_types()
        .filter_map(|t| {
            in_force
                .iter()
                .filter(|(k, _)| k == t)
                .map(|(_, c)| c.data_from)
                .min()
                .map(|first| (t, first))
        })
        .collect();
    if shared.is_empty() {
        return Ok(None);
    }
    let viewer = Viewer::Staff { shared: &shared };
    let types = store::readable_types(viewer);
    let Some(member) = crate::accounts::find(conn, subject).optional()? else {
        return Ok(None);
    };
    // The member's own day; their birth date is not shared, so it is not used.
    let member = Subject {
        user_id: subject,
        birth_date: None,
        today: crate::calendar::today_in(&member.timezone),
    };
    let mut areas = store::insights_of(conn, &member, viewer, &types)?;
    for a in &mut areas {
        if !consents::notes_shared(&in_force, &a.latest.kind, a.latest.local_date) {
            a.latest.note = None;
        }
    }
    let mut read: std::collections::BTreeMap<&str, i64> = std::collections::BTreeMap::new();
    for a in &areas {
        read.extend(a.measurements_read.iter().map(|(k, n)| (*k, *n)));
    }
    for (kind, records) in read {
        if let Some((_, consent)) = covered.iter().find(|(k, _)| k == kind) {
            log(conn, reader, subject, consent, "read_insights", kind, records, now)?;
        }
    }
    Ok(Some(MemberInsights {
        areas,
        date: member.today,
    }))
}

/// A member's insights as their organisation's health staff see them.
#[derive(Debug)]
pub struct MemberInsights {
    /// The areas the member shares individually and has data in.
    pub areas: Vec<crate::insights::store::AreaInsight>,
    /// The member's local day they are for.
    pub date: chrono::NaiveDate,
}
