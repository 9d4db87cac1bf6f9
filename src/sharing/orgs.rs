//! Organisations (employers and insurers) and their staff.

use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::db::schema::{memberships, org_staff, organizations, programmes, users};
use crate::db::{DbConn, Id, Ts};
use crate::error::FieldError;

/// Privacy budget (total epsilon) of an organisation created without one.
pub const DEFAULT_PRIVACY_BUDGET: f64 = 10.0;

/// What kind of organisation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
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
}

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
    /// Id.
    pub id: Id,
    /// Name shown to residents.
    pub name: String,
    /// `employer` or `insurer`.
    pub kind: String,
    /// Total epsilon the organisation may spend on differentially private aggregates.
    pub privacy_budget: f64,
    /// Epsilon spent so far.
    pub privacy_spent: f64,
    /// Created.
    pub created_at: Ts,
    /// Last changed.
    pub updated_at: Ts,
}

/// Checks an organisation's name and budget as an operator wrote them.
pub fn validate(name: &str, privacy_budget: f64) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let len = name.trim().chars().count();
    if !(1..=200).contains(&len) {
        errors.push(FieldError::new("name", "must be 1 to 200 characters"));
    }
    if !(0.0..=1000.0).contains(&privacy_budget) {
        errors.push(FieldError::new("privacy_budget", "must be between 0 and 1000"));
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
pub fn find(conn: &mut DbConn, id: Id) -> QueryResult<Option<Organization>> {
    organizations::table
        .find(id)
        .select(Organization::as_select())
        .first(conn)
        .optional()
}

/// A page of organisations, oldest first.
pub fn list(conn: &mut DbConn, after: Option<Id>, limit: i64) -> QueryResult<Vec<Organization>> {
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

/// Changes name, kind and budget. A budget below what was already spent is refused by the
/// database's check (a 422 is returned before that by the caller). False if there is none.
pub fn update(conn: &mut DbConn, id: Id, name: &str, kind: OrgKind, privacy_budget: f64) -> QueryResult<bool> {
    let n = diesel::update(organizations::table.find(id))
        .set((
            organizations::name.eq(name),
            organizations::kind.eq(kind.as_str()),
            organizations::privacy_budget.eq(privacy_budget),
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
pub fn delete(conn: &mut DbConn, id: Id) -> QueryResult<Delete> {
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
    pub user_id: Id,
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
    Added(Id),
    /// The account already had that role here.
    Already(Id),
    /// No account with that email.
    NoAccount,
}

/// Gives the account with this email a role in the organisation (idempotent).
pub fn add_staff(conn: &mut DbConn, org: Id, email: &str, role: StaffRole) -> QueryResult<AddStaff> {
    let user: Option<Id> = users::table
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
pub fn remove_staff(conn: &mut DbConn, org: Id, user: Id) -> QueryResult<bool> {
    let n = diesel::delete(
        org_staff::table
            .filter(org_staff::organization_id.eq(org))
            .filter(org_staff::user_id.eq(user)),
    )
    .execute(conn)?;
    Ok(n > 0)
}

/// The staff of an organisation.
pub fn staff(conn: &mut DbConn, org: Id) -> QueryResult<Vec<StaffMember>> {
    org_staff::table
        .inner_join(users::table.on(users::id.eq(org_staff::user_id)))
        .filter(org_staff::organization_id.eq(org))
        .select((org_staff::user_id, users::email, org_staff::role, org_staff::created_at))
        .order((org_staff::created_at.asc(), org_staff::user_id.asc()))
        .load(conn)
}

/// Every (organisation, role) an account holds: what the principal carries.
pub fn roles_of(conn: &mut DbConn, user: Id) -> QueryResult<Vec<(Id, StaffRole)>> {
    let rows: Vec<(Id, String)> = org_staff::table
        .filter(org_staff::user_id.eq(user))
        .select((org_staff::organization_id, org_staff::role))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .filter_map(|(org, role)| StaffRole::parse(&role).map(|r| (org, r)))
        .collect())
}
