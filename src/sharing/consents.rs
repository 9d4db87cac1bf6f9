//! Consents: which organisation may see which measurement types, at which level, for what
//! purpose, until when. A consent is never changed or deleted while the account lives: revoking
//! sets `revoked_at`, so the rows are the full history of grants and revocations.

use chrono::NaiveDate;
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::db::schema::{consent_types, consents, memberships, organizations};
use crate::db::{ConsentId, DbConn, MembershipId, OrgId, ReceiptId, Ts, UserId};
use crate::error::FieldError;
use crate::measurements::catalogue;

/// How much an organisation may see under a consent.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    ToSchema,
    diesel::expression::AsExpression,
    diesel::deserialize::FromSqlRow,
)]
#[diesel(sql_type = diesel::sql_types::Text)]
#[serde(rename_all = "snake_case")]
pub enum Access {
    /// Only inside k-anonymous aggregates.
    Aggregate,
    /// The resident's own measurements, read by the organisation's health staff (and aggregates).
    Individual,
}

impl Access {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Access::Aggregate => "aggregate",
            Access::Individual => "individual",
        }
    }

    /// The level a stored name stands for.
    pub fn parse(s: &str) -> Option<Access> {
        [Access::Aggregate, Access::Individual]
            .into_iter()
            .find(|a| a.as_str() == s)
    }
}

crate::db::types::text_enum_column!(Access);

/// Where a consent stands now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// In force.
    Active,
    /// Revoked by the resident (or by leaving the organisation).
    Revoked,
    /// Past its `expires_at`.
    Expired,
}

/// A consent row.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = consents)]
pub struct Consent {
    /// The consent's id: what revoking and reading it take.
    pub id: ConsentId,
    /// Id of its receipt.
    pub receipt_id: ReceiptId,
    /// The resident who gave it.
    pub user_id: UserId,
    /// The organisation it was given to.
    pub organization_id: OrgId,
    /// The membership it was given under.
    pub membership_id: MembershipId,
    /// Whether points figures are included.
    pub include_points: bool,
    /// `aggregate` or `individual`.
    pub access: Access,
    /// Why the organisation wants the data, as the resident was told.
    pub purpose: String,
    /// When it ends by itself.
    pub expires_at: Option<Ts>,
    /// Given.
    pub created_at: Ts,
    /// Revoked.
    pub revoked_at: Option<Ts>,
    /// Why: `resident` or `left_organization`.
    pub revoked_reason: Option<String>,
    /// The first day of data it shares: data effective earlier is never shown under it.
    pub data_from: NaiveDate,
    /// Whether the free-text notes of the measurements it covers go with them.
    pub include_notes: bool,
}

impl Consent {
    /// Where it stands at `now`.
    pub fn status(&self, now: Ts) -> Status {
        if self.revoked_at.is_some() {
            Status::Revoked
        } else if self.expires_at.is_some_and(|e| e.0 <= now.0) {
            Status::Expired
        } else {
            Status::Active
        }
    }
}

/// A consent as the resident asked for it, checked.
#[derive(Debug, Clone)]
pub struct NewConsent {
    /// Organisation.
    pub organization_id: OrgId,
    /// Types covered (catalogue names, no repeats).
    pub measurement_types: Vec<String>,
    /// Points figures included.
    pub include_points: bool,
    /// Level.
    pub access: Access,
    /// Purpose.
    pub purpose: String,
    /// Ends by itself.
    pub expires_at: Option<Ts>,
    /// First day of data shared.
    pub data_from: NaiveDate,
    /// Notes shared.
    pub include_notes: bool,
}

/// The earliest `data_from` a consent may name.
pub const EARLIEST_DATA_FROM: NaiveDate = match NaiveDate::from_ymd_opt(1900, 1, 1) {
    Some(d) => d,
    None => NaiveDate::MIN,
};

/// Checks a consent's first day of shared data against the resident's local `today`: by default
/// the day of the consent; earlier when the resident chooses, never later (a consent shares from
/// the day it is given, at the latest).
pub fn check_data_from(data_from: Option<NaiveDate>, today: NaiveDate) -> Result<NaiveDate, FieldError> {
    let day = data_from.unwrap_or(today);
    if day < EARLIEST_DATA_FROM || day > today {
        return Err(FieldError::new(
            "data_from",
            format!("must be between {EARLIEST_DATA_FROM} and today ({today})"),
        ));
    }
    Ok(day)
}

/// Checks the parts of a consent that need no database: types from the catalogue, a purpose, a
/// future expiry. Repeated types are merged.
pub fn validate(
    measurement_types: &[String],
    purpose: &str,
    expires_at: Option<Ts>,
    now: Ts,
) -> Result<(Vec<String>, String), Vec<FieldError>> {
    let mut errors = Vec::new();
    if measurement_types.is_empty() {
        errors.push(FieldError::new(
            "measurement_types",
            "must name at least one measurement type",
        ));
    }
    let mut types: Vec<String> = Vec::new();
    for (i, t) in measurement_types.iter().enumerate() {
        if catalogue::find(t).is_none() {
            errors.push(FieldError::new(
                format!("measurement_types[{i}]"),
                "is not a measurement type (see GET /v1/measurement-types)",
            ));
        } else if !types.contains(t) {
            types.push(t.clone());
        }
    }
    let purpose = purpose.trim().to_owned();
    if !(1..=500).contains(&purpose.chars().count()) {
        errors.push(FieldError::new("purpose", "must be 1 to 500 characters"));
    }
    if expires_at.is_some_and(|e| e.0 <= now.0) {
        errors.push(FieldError::new("expires_at", "must be in the future"));
    } else if expires_at.is_some_and(|e| e.0 > now.0 + chrono::Duration::days(3660)) {
        // Both databases store far fewer years than a client can write; beyond ten years a
        // consent is better given without an expiry (until revoked).
        errors.push(FieldError::new(
            "expires_at",
            "must be within ten years (omit it for no expiry)",
        ));
    }
    if errors.is_empty() {
        Ok((types, purpose))
    } else {
        Err(errors)
    }
}

/// Gives a consent under the resident's current membership of the organisation; returns its id,
/// or `None` when the resident is not a member of that organisation now. Run inside a
/// transaction (the consent and its types are one write).
pub fn give(conn: &mut DbConn, user: UserId, new: NewConsent) -> QueryResult<Option<ConsentId>> {
    crate::sharing::memberships::take_turn(conn, user)?;
    let q = memberships::table
        .filter(memberships::user_id.eq(user))
        .filter(memberships::organization_id.eq(new.organization_id))
        .filter(memberships::left_at.is_null())
        .select(memberships::id);
    // The membership row is locked until commit, so leaving at the same moment either waits for
    // this consent (and revokes it) or ends the membership first (and this finds none). SQLite's
    // `BEGIN IMMEDIATE` already serialises the two.
    let membership: Option<MembershipId> = match conn {
        DbConn::Pg(c) => q.for_update().first(c).optional()?,
        DbConn::Sqlite(c) => q.first(c).optional()?,
    };
    let Some(membership_id) = membership else {
        return Ok(None);
    };
    let consent = Consent {
        id: ConsentId::new(),
        receipt_id: ReceiptId::new(),
        user_id: user,
        organization_id: new.organization_id,
        membership_id,
        include_points: new.include_points,
        access: new.access,
        purpose: new.purpose,
        expires_at: new.expires_at,
        created_at: Ts::now(),
        revoked_at: None,
        revoked_reason: None,
        data_from: new.data_from,
        include_notes: new.include_notes,
    };
    crate::on_backend!(conn, c => diesel::insert_into(consents::table).values(&consent).execute(c))?;
    let rows: Vec<_> = new
        .measurement_types
        .iter()
        .map(|t| {
            (
                consent_types::consent_id.eq(consent.id),
                consent_types::measurement_type.eq(t),
            )
        })
        .collect();
    crate::on_backend!(conn, c => diesel::insert_into(consent_types::table).values(&rows).execute(c))?;
    Ok(Some(consent.id))
}

/// The types of each of these consents.
pub fn types_of(conn: &mut DbConn, ids: &[ConsentId]) -> QueryResult<Vec<(ConsentId, String)>> {
    consent_types::table
        .filter(consent_types::consent_id.eq_any(ids))
        .select((consent_types::consent_id, consent_types::measurement_type))
        .order((consent_types::consent_id.asc(), consent_types::measurement_type.asc()))
        .load(conn)
}

/// A consent with what the resident is shown of its organisation.
#[derive(Debug, Clone, Queryable)]
pub struct WithOrg {
    /// The consent.
    pub consent: Consent,
    /// The organisation's name.
    pub organization_name: String,
    /// Its privacy mode now.
    pub privacy_mode: crate::sharing::orgs::PrivacyMode,
    /// Its privacy budget per calendar year now.
    pub epsilon_per_year: f64,
}

/// A page of the resident's consents, every state, oldest first, with their organisations.
pub fn list(conn: &mut DbConn, user: UserId, after: Option<ConsentId>, limit: i64) -> QueryResult<Vec<WithOrg>> {
    let mut q = consents::table
        .inner_join(organizations::table)
        .filter(consents::user_id.eq(user))
        .select((
            Consent::as_select(),
            organizations::name,
            organizations::privacy_mode,
            organizations::privacy_budget,
        ))
        .order(consents::id.asc())
        .limit(limit)
        .into_boxed();
    if let Some(after) = after {
        q = q.filter(consents::id.gt(after));
    }
    q.load(conn)
}

/// One of the resident's consents, with its organisation.
pub fn find(conn: &mut DbConn, user: UserId, id: ConsentId) -> QueryResult<Option<WithOrg>> {
    consents::table
        .inner_join(organizations::table)
        .filter(consents::id.eq(id))
        .filter(consents::user_id.eq(user))
        .select((
            Consent::as_select(),
            organizations::name,
            organizations::privacy_mode,
            organizations::privacy_budget,
        ))
        .first(conn)
        .optional()
}

/// Revokes one of the resident's consents now; false if there is no such consent (revoking a
/// revoked consent changes nothing).
pub fn revoke(conn: &mut DbConn, user: UserId, id: ConsentId) -> QueryResult<bool> {
    diesel::update(
        consents::table
            .filter(consents::id.eq(id))
            .filter(consents::user_id.eq(user))
            .filter(consents::revoked_at.is_null()),
    )
    .set((
        consents::revoked_at.eq(Ts::now()),
        consents::revoked_reason.eq("resident"),
    ))
    .execute(conn)?;
    Ok(find(conn, user, id)?.is_some())
}

/// Revokes every live consent given under a membership (the resident left the organisation).
pub fn revoke_for_membership(conn: &mut DbConn, user: UserId, membership: MembershipId, now: Ts) -> QueryResult<usize> {
    diesel::update(
        consents::table
            .filter(consents::user_id.eq(user))
            .filter(consents::membership_id.eq(membership))
            .filter(consents::revoked_at.is_null()),
    )
    .set((
        consents::revoked_at.eq(now),
        consents::revoked_reason.eq("left_organization"),
    ))
    .execute(conn)
}

/// The access levels that satisfy a need for `access`: individual consent also allows aggregates.
pub fn levels(access: Access) -> &'static [Access] {
    match access {
        Access::Aggregate => &[Access::Aggregate, Access::Individual],
        Access::Individual => &[Access::Individual],
    }
}

/// The consents in force at `now` that give `org` access at one of `levels`, of any type: the one
/// statement of that rule in the query builder ([`in_force_sql`] states it for raw SQL).
#[diesel::dsl::auto_type]
fn in_force(org: OrgId, levels: &'static [Access], now: Ts) -> _ {
    consents::table
        .filter(consents::organization_id.eq(org))
        .filter(consents::revoked_at.is_null())
        .filter(consents::expires_at.is_null().or(consents::expires_at.gt(now)))
        .filter(consents::access.eq_any(levels))
}

/// The consents in force at `now` that let `org` see `measurement_type` at one of `levels`: a
/// query for store functions to put into their own SQL
/// (`user_id.eq_any(covering(..).select(consents::user_id))`), so the check cannot be left out.
#[diesel::dsl::auto_type(no_type_alias)]
pub fn covering<'a>(org: OrgId, measurement_type: &'a str, levels: &'static [Access], now: Ts) -> _ {
    let types: diesel::dsl::Select<
        diesel::dsl::Filter<consent_types::table, diesel::dsl::Eq<consent_types::measurement_type, &'a str>>,
        consent_types::consent_id,
    > = consent_types::table
        .filter(consent_types::measurement_type.eq(measurement_type))
        .select(consent_types::consent_id);
    let base: in_force = in_force(org, levels, now);
    base.filter(consents::id.eq_any(types))
}

/// Every (type, consent) by which `user` lets `org` read individually at `now`, by type, newest
/// consent first: one query, for reads of several types (a member's insights).
pub fn individual_consents(
    conn: &mut DbConn,
    org: OrgId,
    user: UserId,
    now: Ts,
) -> QueryResult<Vec<(String, Consent)>> {
    in_force(org, levels(Access::Individual), now)
        .filter(consents::user_id.eq(user))
        .inner_join(consent_types::table)
        .select((consent_types::measurement_type, Consent::as_select()))
        .order((consent_types::measurement_type.asc(), consents::id.desc()))
        .load(conn)
}

/// Every type `user` lets `org` read individually at `now`, each with the newest consent in force
/// that covers it.
pub fn individual_types(conn: &mut DbConn, org: OrgId, user: UserId, now: Ts) -> QueryResult<Vec<(String, Consent)>> {
    Ok(newest_per_type(&individual_consents(conn, org, user, now)?))
}

/// Of (type, consent) rows by type and newest consent first (as [`individual_consents`] gives
/// them), the newest consent of each type.
pub fn newest_per_type(rows: &[(String, Consent)]) -> Vec<(String, Consent)> {
    let mut out: Vec<(String, Consent)> = Vec::new();
    for (kind, consent) in rows {
        if out.last().is_none_or(|(k, _)| k != kind) {
            out.push((kind.clone(), consent.clone()));
        }
    }
    out
}

/// Whether the notes of a measurement of `kind` on `day` may be shown under these consents (in
/// force, each with its types): only when one that covers the type from that day includes notes.
pub fn notes_shared(consents: &[(String, Consent)], kind: &str, day: NaiveDate) -> bool {
    consents
        .iter()
        .any(|(k, c)| k == kind && c.include_notes && c.data_from <= day)
}

/// The SQL condition "consent `c` was in force at the instant `at`" (an expression such as
/// `r.released_at`): given by then, and neither revoked nor expired by then. The consent history
/// is never rewritten, so this holds for any past instant.
pub fn in_force_at_sql(at: &str) -> String {
    format!(
        "c.created_at <= {at} AND (c.revoked_at IS NULL OR c.revoked_at > {at}) \
         AND (c.expires_at IS NULL OR c.expires_at > {at})"
    )
}

/// The SQL condition "consent `c` is in force for the organisation bound at `org` at the instant
/// bound at `now`" (placeholders such as `$1`), for store functions that write raw SQL. It states
/// the same rule as [`covering`]; both live here so they change together.
pub fn in_force_sql(org: &str, now: &str) -> String {
    format!("c.organization_id = {org} AND c.revoked_at IS NULL AND (c.expires_at IS NULL OR c.expires_at > {now})")
}

/// The consent in force that lets `org` read `user`'s `measurement_type` individually, if any
/// (the newest, when several do).
pub fn individual_consent(
    conn: &mut DbConn,
    org: OrgId,
    user: UserId,
    measurement_type: &str,
    now: Ts,
) -> QueryResult<Option<Consent>> {
    covering(org, measurement_type, levels(Access::Individual), now)
        .filter(consents::user_id.eq(user))
        .select(Consent::as_select())
        .order(consents::id.desc())
        .first(conn)
        .optional()
}
