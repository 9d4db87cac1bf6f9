//! Points programmes: who runs them, who may earn in them ([`Eligibility`], age range) and their
//! limits (daily cap, award window); reading and writing them, and the checks an operator's
//! programme must pass.

use chrono::NaiveDate;
use diesel::backend::Backend;
use diesel::deserialize::{self, FromSql, FromSqlRow};
use diesel::expression::AsExpression;
use diesel::prelude::*;
use diesel::serialize::{self, Output, ToSql};
use diesel::sql_types::Text;

use super::rules::{age_in_range, check_age_range};
use crate::calendar::age_on;
use crate::db::schema::programmes;
use crate::db::{DbConn, OrgId, Ts, UserId};
use crate::error::FieldError;

/// Who may earn in a programme (besides its age range). Stored and sent as `everyone` or
/// `organization_members`; [`Eligibility::as_str`] and [`Eligibility::parse`] are the only mapping.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, AsExpression, FromSqlRow)]
#[diesel(sql_type = Text)]
pub enum Eligibility {
    /// Every resident.
    #[default]
    Everyone,
    /// The current members of the programme's sponsoring organisation (`organization_id`).
    OrganizationMembers,
}

impl Eligibility {
    /// The name stored in `programmes.eligibility` and used in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Eligibility::Everyone => "everyone",
            Eligibility::OrganizationMembers => "organization_members",
        }
    }

    /// Reads a stored or written name; `None` for one that names no eligibility.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "everyone" => Some(Eligibility::Everyone),
            "organization_members" => Some(Eligibility::OrganizationMembers),
            _ => None,
        }
    }
}

// Text on every backend (the generated `MultiBackend` included): the column's CHECK constraint
// admits only the names `parse` reads, so an unknown one is a corrupt row, reported as an error.
impl<DB: Backend> FromSql<Text, DB> for Eligibility
where
    String: FromSql<Text, DB>,
{
    fn from_sql(bytes: DB::RawValue<'_>) -> deserialize::Result<Self> {
        let name = String::from_sql(bytes)?;
        Eligibility::parse(&name).ok_or_else(|| format!("unknown programme eligibility {name:?}").into())
    }
}

impl<DB: Backend> ToSql<Text, DB> for Eligibility
where
    str: ToSql<Text, DB>,
{
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, DB>) -> serialize::Result {
        self.as_str().to_sql(out)
    }
}

/// A points programme.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = programmes)]
#[diesel(treat_none_as_default_value = false)]
pub struct Programme {
    /// Slug, e.g. `osaka`: the programme's id in URLs, rules, ledger entries and lotteries.
    pub id: String,
    /// Name shown to residents.
    pub title: String,
    /// Who pays for the points.
    pub sponsor: String,
    /// Who may earn in it (besides the age range).
    pub eligibility: Eligibility,
    /// Youngest eligible age.
    pub min_age: Option<i32>,
    /// Oldest eligible age.
    pub max_age: Option<i32>,
    /// Most points per resident per local day.
    pub daily_cap: Option<i32>,
    /// When it was created.
    pub created_at: Ts,
    /// The sponsoring organisation, whose current members are eligible (`organization_members`).
    pub organization_id: Option<OrgId>,
    /// A measurement earns only for local days at most this many days before the upload's day.
    pub award_window_days: i32,
}

impl Programme {
    /// Whether a resident of this age, currently a member of `orgs`, may earn in the programme.
    pub fn admits(&self, age: Option<i32>, orgs: &[OrgId]) -> bool {
        let member = match self.eligibility {
            Eligibility::Everyone => true,
            Eligibility::OrganizationMembers => self.organization_id.is_some_and(|o| orgs.contains(&o)),
        };
        member && age_in_range(self.min_age, self.max_age, age)
    }

    fn needs_membership(&self) -> bool {
        self.eligibility == Eligibility::OrganizationMembers
    }
}

/// The organisations the resident is a member of now, read only when some programme is limited
/// to members (so uploads pay nothing for it otherwise).
pub(super) fn member_orgs(conn: &mut DbConn, user_id: UserId, all: &[Programme]) -> QueryResult<Vec<OrgId>> {
    if all.iter().any(Programme::needs_membership) {
        crate::sharing::memberships::current_org_ids(conn, user_id)
    } else {
        Ok(Vec::new())
    }
}

/// A resident's age in whole years on `on`, if their birth date is known (and the age fits).
pub(super) fn age(birth_date: Option<NaiveDate>, on: NaiveDate) -> Option<i32> {
    birth_date
        .and_then(|b| age_on(b, on))
        .and_then(|a| i32::try_from(a).ok())
}

/// The resident's age today (for eligibility).
pub fn age_today(birth_date: Option<NaiveDate>, today: NaiveDate) -> Option<i32> {
    age(birth_date, today)
}

/// Every programme (there are few).
pub fn programmes(conn: &mut DbConn) -> QueryResult<Vec<Programme>> {
    programmes::table
        .select(Programme::as_select())
        .order(programmes::id.asc())
        .load(conn)
}

/// Every programme's id.
pub fn programme_ids(conn: &mut DbConn) -> QueryResult<Vec<String>> {
    programmes::table
        .select(programmes::id)
        .order(programmes::id.asc())
        .load(conn)
}

/// The programmes the resident (of this age today) may earn in.
pub fn eligible_programmes(conn: &mut DbConn, user_id: UserId, age: Option<i32>) -> QueryResult<Vec<Programme>> {
    let all = programmes(conn)?;
    let orgs = member_orgs(conn, user_id, &all)?;
    Ok(all.into_iter().filter(|p| p.admits(age, &orgs)).collect())
}

/// The ids of the programmes the resident may earn in: what store reads of a programme's
/// lotteries, events and rules are limited to.
pub fn eligible_programme_ids(conn: &mut DbConn, user_id: UserId, age: Option<i32>) -> QueryResult<Vec<String>> {
    Ok(eligible_programmes(conn, user_id, age)?
        .into_iter()
        .map(|p| p.id)
        .collect())
}

/// One programme.
pub fn find_programme(conn: &mut DbConn, id: &str) -> QueryResult<Option<Programme>> {
    programmes::table
        .find(id)
        .select(Programme::as_select())
        .first(conn)
        .optional()
}

/// Checks a programme as an operator wrote it; every problem is reported with its field.
/// `written` is the eligibility they wrote, `None` when their text named none: a programme cannot
/// hold such a value, so the programme's own `eligibility` is not read here.
pub fn validate_programme(p: &Programme, written: Option<Eligibility>) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let slug_ok = (2..=40).contains(&p.id.len())
        && p.id.starts_with(|c: char| c.is_ascii_lowercase())
        && p.id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if !slug_ok {
        errors.push(FieldError::new(
            "id",
            "must be 2 to 40 characters: lower-case letters, digits and dashes, starting with a letter",
        ));
    }
    for (field, value) in [("title", &p.title), ("sponsor", &p.sponsor)] {
        if value.is_empty() || value.chars().count() > 100 {
            errors.push(FieldError::new(field, "must be 1 to 100 characters"));
        }
    }
    match (written, p.organization_id) {
        (Some(Eligibility::Everyone), None) | (Some(Eligibility::OrganizationMembers), Some(_)) => {}
        (Some(Eligibility::Everyone), Some(_)) => errors.push(FieldError::new(
            "organization_id",
            "only a programme for organization_members names an organisation",
        )),
        (Some(Eligibility::OrganizationMembers), None) => errors.push(FieldError::new(
            "organization_id",
            "is required when eligibility is organization_members",
        )),
        (None, _) => errors.push(FieldError::new(
            "eligibility",
            "must be everyone or organization_members",
        )),
    }
    check_age_range(p.min_age, p.max_age, &mut errors);
    if !(1..=366).contains(&p.award_window_days) {
        errors.push(FieldError::new("award_window_days", "must be between 1 and 366"));
    }
    if p.daily_cap.is_some_and(|c| !(1..=100_000).contains(&c)) {
        errors.push(FieldError::new("daily_cap", "must be between 1 and 100000"));
    }
    errors
}

/// Creates a programme (a taken id is a unique violation).
pub fn create_programme(conn: &mut DbConn, programme: &Programme) -> QueryResult<()> {
    crate::on_backend!(conn, c => diesel::insert_into(programmes::table).values(programme).execute(c)).map(|_| ())
}

/// Changes a programme's title, sponsor, eligibility and cap; its id and ledger stay. A lower cap
/// applies from the next award on; nothing paid is taken back. False if there is no such programme.
pub fn update_programme(conn: &mut DbConn, programme: &Programme) -> QueryResult<bool> {
    let n = diesel::update(programmes::table.find(&programme.id))
        .set((
            programmes::title.eq(&programme.title),
            programmes::sponsor.eq(&programme.sponsor),
            programmes::eligibility.eq(programme.eligibility),
            programmes::min_age.eq(programme.min_age),
            programmes::max_age.eq(programme.max_age),
            programmes::daily_cap.eq(programme.daily_cap),
            programmes::organization_id.eq(programme.organization_id),
            programmes::award_window_days.eq(programme.award_window_days),
        ))
        .execute(conn)?;
    Ok(n == 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn programme(eligibility: Eligibility, organization_id: Option<OrgId>) -> Programme {
        Programme {
            id: "osaka".into(),
            title: "Osaka".into(),
            sponsor: "Osaka city".into(),
            eligibility,
            min_age: Some(40),
            max_age: None,
            daily_cap: None,
            created_at: Ts(chrono::DateTime::UNIX_EPOCH),
            organization_id,
            award_window_days: 7,
        }
    }

    #[test]
    fn eligibility_names_round_trip_and_nothing_else_parses() {
        for e in [Eligibility::Everyone, Eligibility::OrganizationMembers] {
            assert_eq!(Eligibility::parse(e.as_str()), Some(e));
        }
        assert_eq!(Eligibility::Everyone.as_str(), "everyone");
        assert_eq!(Eligibility::OrganizationMembers.as_str(), "organization_members");
        assert_eq!(Eligibility::parse("friends"), None);
        assert_eq!(Eligibility::parse("Everyone"), None);
    }

    #[test]
    fn a_programme_admits_by_membership_and_age() {
        let acme = OrgId(uuid::Uuid::from_u128(1));
        let open = programme(Eligibility::Everyone, None);
        assert!(open.admits(Some(40), &[]));
        assert!(!open.admits(Some(39), &[]), "too young");
        assert!(!open.admits(None, &[]), "an age range needs a known age");
        let members = programme(Eligibility::OrganizationMembers, Some(acme));
        assert!(members.admits(Some(50), &[acme]));
        assert!(!members.admits(Some(50), &[]), "not a member");
        assert!(members.needs_membership() && !open.needs_membership());
    }

    #[test]
    fn eligibility_and_its_organisation_are_checked_together() {
        let acme = Some(OrgId(uuid::Uuid::from_u128(1)));
        let fields = |p: &Programme, written| {
            validate_programme(p, written)
                .into_iter()
                .map(|e| e.field)
                .collect::<Vec<_>>()
        };
        let open = programme(Eligibility::Everyone, None);
        assert!(fields(&open, Some(Eligibility::Everyone)).is_empty());
        let members = programme(Eligibility::OrganizationMembers, acme);
        assert!(fields(&members, Some(Eligibility::OrganizationMembers)).is_empty());
        assert_eq!(
            fields(&programme(Eligibility::Everyone, acme), Some(Eligibility::Everyone)),
            ["organization_id"]
        );
        let unnamed = programme(Eligibility::OrganizationMembers, None);
        assert_eq!(
            fields(&unnamed, Some(Eligibility::OrganizationMembers)),
            ["organization_id"]
        );
        // Text that names no eligibility is the only problem reported of the pair.
        assert_eq!(fields(&programme(Eligibility::Everyone, acme), None), ["eligibility"]);
    }
}
