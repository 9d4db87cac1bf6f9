//! Organisations (employers and insurers) and their staff.

use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::db::schema::{memberships, org_staff, organizations, programmes, users};
use crate::db::{DbConn, OrgId, SessionId, Ts, UserId};
use crate::error::FieldError;

/// Privacy budget (epsilon per calendar year) of an organisation created without one.
pub const DEFAULT_PRIVACY_BUDGET: f64 = 10.0;

/// The privacy mode a new organisation starts in: differential privacy (the privacy module's
/// `Mode`; an operator may choose exact mode later, with a reason).
pub const DEFAULT_PRIVACY_MODE: PrivacyMode = PrivacyMode::DifferentialPrivacy;

/// What kind of organisation.
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
pub enum OrgKind {
    /// An employer's health programme.
    Employer,
    /// A health insurance association.
    Insurer,
}

impl OrgKind {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            OrgKind::Employer => "employer",
            OrgKind::Insurer => "insurer",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "employer" => Some(OrgKind::Employer),
            "insurer" => Some(OrgKind::Insurer),
            _ => None,
        }
    }
}

crate::db::types::text_enum_column!(OrgKind);

/// How an organisation's statistics are released.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    ToSchema,
    diesel::expression::AsExpression,
    diesel::deserialize::FromSqlRow,
)]
#[diesel(sql_type = diesel::sql_types::Text)]
#[serde(rename_all = "snake_case")]
#[schema(as = Mode)]
pub enum PrivacyMode {
    /// User-level pure ε-differential privacy, charged to a yearly budget (the default).
    DifferentialPrivacy,
    /// v1's k-anonymous answers: exact figures from cells of at least `k_min` people. Gives up
    /// the guarantees against sybils and differencing; set only by an operator, with a reason.
    Exact,
}

impl PrivacyMode {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            PrivacyMode::DifferentialPrivacy => "differential_privacy",
            PrivacyMode::Exact => "exact",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "differential_privacy" => Some(PrivacyMode::DifferentialPrivacy),
            "exact" => Some(PrivacyMode::Exact),
            _ => None,
        }
    }

    /// Parses a name stored by a release or a policy change; anything unknown is read as the
    /// safe default.
    pub fn from_stored(s: &str) -> Self {
        Self::parse(s).unwrap_or(PrivacyMode::DifferentialPrivacy)
    }
}

crate::db::types::text_enum_column!(PrivacyMode);

/// A staff role within one organisation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StaffRole {
    /// Manages the organisation's enrollment codes.
    OrgAdmin,
    /// Runs aggregate statistics.
    Analyst,
    /// Reads individual members' data where they gave individual consent.
    HealthStaff,
}

impl StaffRole {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            StaffRole::OrgAdmin => "org_admin",
            StaffRole::Analyst => "analyst",
            StaffRole::HealthStaff => "health_staff",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "org_admin" => Some(StaffRole::OrgAdmin),
            "analyst" => Some(StaffRole::Analyst),
            "health_staff" => Some(StaffRole::HealthStaff),
            _ => None,
        }
    }
}

/// An organisation row.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = organizations)]
pub struct Organization {
    /// The organisation's id.
    pub id: OrgId,
    /// Name shown to residents.
    pub name: String,
    /// An employer's programme or an insurance association.
    pub kind: OrgKind,
    /// Epsilon the organisation may spend per calendar year on its statistics (set by an
    /// operator through its privacy policy).
    pub privacy_budget: f64,
    /// How its statistics are released.
    pub privacy_mode: PrivacyMode,
    /// Created.
    pub created_at: Ts,
    /// Last changed.
    pub updated_at: Ts,
}

/// Checks an organisation's name as an operator wrote it.
pub fn validate(name: &str) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let len = name.trim().chars().count();
    if !(1..=200).contains(&len) {
        errors.push(FieldError::new("name", "must be 1 to 200 characters"));
    }
    errors
}

/// Creates an organisation.
pub fn create(conn: &mut DbConn, org: &Organization) -> QueryResult<()> {
    diesel::insert_into(organizations::table)
        .values(org)
        .execute(conn)
        .map(|_| ())
}

/// One organisation.
pub fn find(conn: &mut DbConn, id: OrgId) -> QueryResult<Option<Organization>> {
    organizations::table
        .find(id)
        .select(Organization::as_select())
        .first(conn)
        .optional()
}

/// A page of organisations, oldest first.
pub fn list(conn: &mut DbConn, after: Option<OrgId>, limit: i64) -> QueryResult<Vec<Organization>> {
    let mut q = organizations::table
        .select(Organization::as_select())
        .order(organizations::id.asc())
        .limit(limit)
        .into_boxed();
    if let Some(after) = after {
        q = q.filter(organizations::id.gt(after));
    }
    q.load(conn)
}

/// Changes name and kind (the privacy policy changes only through its own, audited route).
/// False if there is none.
pub fn update(conn: &mut DbConn, id: OrgId, name: &str, kind: OrgKind) -> QueryResult<bool> {
    let n = diesel::update(organizations::table.find(id))
        .set((
            organizations::name.eq(name),
            organizations::kind.eq(kind.as_str()),
            organizations::updated_at.eq(Ts::now()),
        ))
        .execute(conn)?;
    Ok(n == 1)
}

/// Why an organisation cannot be deleted.
#[derive(Debug, PartialEq, Eq)]
pub enum Delete {
    /// Deleted, with its staff and enrollment codes.
    Deleted,
    /// No such organisation.
    NotFound,
    /// Residents have been members: their memberships and consents are their history and stay.
    HasMembers,
    /// It sponsors a programme.
    SponsorsProgramme,
}

/// Deletes an organisation that never had a member and sponsors no programme (one created by
/// mistake). Run inside a transaction.
pub fn delete(conn: &mut DbConn, id: OrgId) -> QueryResult<Delete> {
    if find(conn, id)?.is_none() {
        return Ok(Delete::NotFound);
    }
    let members: i64 = memberships::table
        .filter(memberships::organization_id.eq(id))
        .count()
        .get_result(conn)?;
    if members > 0 {
        return Ok(Delete::HasMembers);
    }
    let sponsored: i64 = programmes::table
        .filter(programmes::organization_id.eq(id))
        .count()
        .get_result(conn)?;
    if sponsored > 0 {
        return Ok(Delete::SponsorsProgramme);
    }
    diesel::delete(organizations::table.find(id)).execute(conn)?;
    Ok(Delete::Deleted)
}

/// Staff of an organisation: the account and its role.
#[derive(Debug, Clone, Queryable)]
pub struct StaffMember {
    /// Account.
    pub user_id: UserId,
    /// Login email.
    pub email: String,
    /// Role.
    pub role: String,
    /// Since.
    pub created_at: Ts,
}

/// What adding a staff role did.
#[derive(Debug, PartialEq, Eq)]
pub enum AddStaff {
    /// Newly given.
    Added(UserId),
    /// The account already had that role here.
    Already(UserId),
    /// No account with that email.
    NoAccount,
}

/// Gives the account with this email a role in the organisation (idempotent).
pub fn add_staff(conn: &mut DbConn, org: OrgId, email: &str, role: StaffRole) -> QueryResult<AddStaff> {
    let user: Option<UserId> = users::table
        .filter(users::email.eq(email.trim().to_lowercase()))
        .select(users::id)
        .first(conn)
        .optional()?;
    let Some(user) = user else {
        return Ok(AddStaff::NoAccount);
    };
    let exists: i64 = org_staff::table
        .filter(org_staff::organization_id.eq(org))
        .filter(org_staff::user_id.eq(user))
        .filter(org_staff::role.eq(role.as_str()))
        .count()
        .get_result(conn)?;
    if exists > 0 {
        return Ok(AddStaff::Already(user));
    }
    diesel::insert_into(org_staff::table)
        .values((
            org_staff::organization_id.eq(org),
            org_staff::user_id.eq(user),
            org_staff::role.eq(role.as_str()),
            org_staff::created_at.eq(Ts::now()),
        ))
        .execute(conn)?;
    Ok(AddStaff::Added(user))
}

/// Takes every role in the organisation away from an account; false if it had none.
pub fn remove_staff(conn: &mut DbConn, org: OrgId, user: UserId) -> QueryResult<bool> {
    let n = diesel::delete(
        org_staff::table
            .filter(org_staff::organization_id.eq(org))
            .filter(org_staff::user_id.eq(user)),
    )
    .execute(conn)?;
    Ok(n > 0)
}

/// The staff of an organisation.
pub fn staff(conn: &mut DbConn, org: OrgId) -> QueryResult<Vec<StaffMember>> {
    org_staff::table
        .inner_join(users::table.on(users::id.eq(org_staff::user_id)))
        .filter(org_staff::organization_id.eq(org))
        .select((org_staff::user_id, users::email, org_staff::role, org_staff::created_at))
        .order((org_staff::created_at.asc(), org_staff::user_id.asc()))
        .load(conn)
}

/// An account with every (organisation, role) it holds as staff.
pub type UserWithRoles = (crate::accounts::User, Vec<(OrgId, StaffRole)>);

/// The account behind a valid access token, if its login session is still live, with its staff
/// roles: one statement for what every authenticated request needs, so a revoked session, a
/// deleted account or a removed role ends access at once without costing a second round trip.
pub fn session_principal(
    conn: &mut DbConn,
    user_id: UserId,
    session_id: SessionId,
) -> QueryResult<Option<UserWithRoles>> {
    use crate::db::schema::sessions;
    let rows: Vec<(crate::accounts::User, Option<(OrgId, String)>)> = users::table
        .inner_join(sessions::table)
        .left_join(org_staff::table.on(org_staff::user_id.eq(users::id)))
        .filter(users::id.eq(user_id))
        .filter(sessions::id.eq(session_id))
        .filter(sessions::revoked_at.is_null())
        .select((
            crate::accounts::User::as_select(),
            (org_staff::organization_id, org_staff::role).nullable(),
        ))
        .load(conn)?;
    let mut rows = rows.into_iter();
    let Some((user, first)) = rows.next() else {
        return Ok(None);
    };
    let roles = std::iter::once(first)
        .chain(rows.map(|(_, role)| role))
        .flatten()
        .filter_map(|(org, role)| StaffRole::parse(&role).map(|r| (org, r)))
        .collect();
    Ok(Some((user, roles)))
}
