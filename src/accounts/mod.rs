//! Accounts: residents and operators, their profile, and the rules for creating and changing one.
//! Sessions, refresh tokens, app tokens and pairing codes live in [`tokens`]; erasing an account
//! and everything about its person in [`erasure`].

pub mod apps;
pub mod erasure;
pub mod password;
pub mod tokens;

use chrono::{Datelike, NaiveDate, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::db::schema::users;
use crate::db::{DbConn, Ts, UserId};
use crate::error::FieldError;

/// Timezone of a resident who does not name one.
pub const DEFAULT_TIMEZONE: &str = crate::calendar::DEFAULT_TIMEZONE_NAME;

/// The account-level role. Organisation staff roles are per organisation and are not account roles.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// A resident: owns a health record.
    Resident,
    /// A platform operator.
    Admin,
}

impl Role {
    /// The stored and serialised name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Resident => "resident",
            Role::Admin => "admin",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "resident" => Some(Role::Resident),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }
}

/// Sex as recorded for statistics (age band × sex cells).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Sex {
    /// Female.
    Female,
    /// Male.
    Male,
    /// Other.
    Other,
    /// Not stated.
    Unknown,
}

impl Sex {
    /// Every value, in order: the public domain of a grouping by sex.
    pub const ALL: [Sex; 4] = [Sex::Female, Sex::Male, Sex::Other, Sex::Unknown];

    /// The stored and serialised name.
    pub fn as_str(self) -> &'static str {
        match self {
            Sex::Female => "female",
            Sex::Male => "male",
            Sex::Other => "other",
            Sex::Unknown => "unknown",
        }
    }

    /// Parses a name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "female" => Some(Sex::Female),
            "male" => Some(Sex::Male),
            "other" => Some(Sex::Other),
            "unknown" => Some(Sex::Unknown),
            _ => None,
        }
    }
}

/// An account row.
#[derive(Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = users)]
pub struct User {
    /// Account id.
    pub id: UserId,
    /// Login email, lower-cased.
    pub email: String,
    /// argon2id PHC string.
    pub password_hash: String,
    /// Name shown in apps.
    pub display_name: Option<String>,
    /// Date of birth; ages are derived from it.
    pub birth_date: Option<NaiveDate>,
    /// `female`, `male`, `other` or `unknown`.
    pub sex: String,
    /// IANA timezone that defines the resident's day.
    pub timezone: String,
    /// `resident` or `admin`.
    pub role: String,
    /// When the account was created.
    pub created_at: Ts,
    /// When the profile last changed.
    pub updated_at: Ts,
}

impl std::fmt::Debug for User {
    // The hash and the personal fields stay out of logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("User")
            .field("id", &self.id)
            .field("role", &self.role)
            .finish_non_exhaustive()
    }
}

impl User {
    /// The account role; an unknown stored value is treated as the least privileged.
    pub fn role(&self) -> Role {
        Role::parse(&self.role).unwrap_or(Role::Resident)
    }
}

/// A new account, validated.
#[derive(Insertable)]
#[diesel(table_name = users)]
pub struct NewUser {
    /// Account id.
    pub id: UserId,
    /// Lower-cased email.
    pub email: String,
    /// argon2id PHC string.
    pub password_hash: String,
    /// Name shown in apps.
    pub display_name: Option<String>,
    /// Date of birth.
    pub birth_date: Option<NaiveDate>,
    /// Sex.
    pub sex: String,
    /// IANA timezone.
    pub timezone: String,
    /// Account role.
    pub role: String,
    /// Creation time.
    pub created_at: Ts,
    /// Same as `created_at`.
    pub updated_at: Ts,
}

/// Changes to a profile; `None` leaves a field as it is.
#[derive(Debug, Default, AsChangeset)]
#[diesel(table_name = users)]
pub struct ProfileChanges {
    /// `Some(None)` clears the display name.
    pub display_name: Option<Option<String>>,
    /// New date of birth.
    pub birth_date: Option<Option<NaiveDate>>,
    /// New sex.
    pub sex: Option<String>,
    /// New timezone.
    pub timezone: Option<String>,
    /// Always set on change.
    pub updated_at: Option<Ts>,
}

// ---- validation (pure) ----

/// Normalises and checks an email address: trimmed, lower-cased, one `@` with text on both sides
/// and a dot in the domain, at most 254 bytes. Deliverability is not checked.
pub fn normalize_email(raw: &str, errors: &mut Vec<FieldError>) -> String {
    let email = raw.trim().to_lowercase();
    let valid = email.len() <= 254
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
        && match email.split_once('@') {
            Some((local, domain)) => {
                !local.is_empty()
                    && !domain.contains('@')
                    && domain.contains('.')
                    && !domain.starts_with('.')
                    && !domain.ends_with('.')
            }
            None => false,
        };
    if !valid {
        errors.push(FieldError::new("email", "must be a valid email address"));
    }
    email
}

/// Checks a display name: 1–100 characters after trimming, no control characters.
pub fn check_display_name(raw: &str, errors: &mut Vec<FieldError>) -> String {
    let name = raw.trim().to_owned();
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        errors.push(FieldError::new(
            "display_name",
            "must be 1 to 100 characters without control characters",
        ));
    }
    name
}

/// Parses a `YYYY-MM-DD` birth date that is not in the future and not before 1900.
pub fn parse_birth_date(raw: &str, errors: &mut Vec<FieldError>) -> Option<NaiveDate> {
    match NaiveDate::parse_from_str(raw, "%Y-%m-%d") {
        Ok(d) if d.year() >= 1900 && d <= Utc::now().date_naive() => Some(d),
        Ok(_) => {
            errors.push(FieldError::new("birth_date", "must be between 1900-01-01 and today"));
            None
        }
        Err(_) => {
            errors.push(FieldError::new("birth_date", "must be a date in the form YYYY-MM-DD"));
            None
        }
    }
}

/// Parses a sex value.
pub fn parse_sex(raw: &str, errors: &mut Vec<FieldError>) -> Option<Sex> {
    let sex = Sex::parse(raw);
    if sex.is_none() {
        errors.push(FieldError::new("sex", "must be one of female, male, other, unknown"));
    }
    sex
}

/// Checks an IANA timezone name.
pub fn parse_timezone(raw: &str, errors: &mut Vec<FieldError>) -> Option<chrono_tz::Tz> {
    let tz = raw.parse::<chrono_tz::Tz>().ok();
    if tz.is_none() {
        errors.push(FieldError::new(
            "timezone",
            "must be an IANA timezone such as Asia/Tokyo",
        ));
    }
    tz
}

// ---- store functions ----

/// Inserts an account.
pub fn insert(conn: &mut DbConn, new: &NewUser) -> QueryResult<User> {
    diesel::insert_into(users::table).values(new).execute(conn)?;
    find(conn, new.id)
}

/// The account with this id.
pub fn find(conn: &mut DbConn, id: UserId) -> QueryResult<User> {
    users::table.find(id).select(User::as_select()).first(conn)
}

/// The account with this (normalised) email, if any.
pub fn find_by_email(conn: &mut DbConn, email: &str) -> QueryResult<Option<User>> {
    users::table
        .filter(users::email.eq(email))
        .select(User::as_select())
        .first(conn)
        .optional()
}

/// Applies profile changes to the account `id`.
pub fn update_profile(conn: &mut DbConn, id: UserId, changes: &ProfileChanges) -> QueryResult<User> {
    diesel::update(users::table.find(id)).set(changes).execute(conn)?;
    find(conn, id)
}

/// Replaces the password hash of the account `id`.
pub fn set_password_hash(conn: &mut DbConn, id: UserId, hash: &str) -> QueryResult<()> {
    diesel::update(users::table.find(id))
        .set((users::password_hash.eq(hash), users::updated_at.eq(Ts::now())))
        .execute(conn)
        .map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errs<T>(f: impl FnOnce(&mut Vec<FieldError>) -> T) -> (T, Vec<FieldError>) {
        let mut e = Vec::new();
        let v = f(&mut e);
        (v, e)
    }

    #[test]
    fn emails_are_trimmed_and_lower_cased() {
        let (e, errors) = errs(|e| normalize_email("  Hanako@Example.JP ", e));
        assert_eq!(e, "hanako@example.jp");
        assert!(errors.is_empty());
    }

    #[test]
    fn malformed_emails_are_rejected() {
        for bad in [
            "",
            "no-at",
            "@example.jp",
            "a@b",
            "a@.jp",
            "a b@example.jp",
            "a@b@c.jp",
            "a@example.",
        ] {
            let (_, errors) = errs(|e| normalize_email(bad, e));
            assert_eq!(errors.len(), 1, "{bad:?} should be rejected");
        }
    }

    #[test]
    fn birth_dates_must_be_real_and_past() {
        assert!(errs(|e| parse_birth_date("1981-02-29", e)).1.len() == 1);
        assert!(errs(|e| parse_birth_date("1980-02-28", e)).1.is_empty());
        assert!(errs(|e| parse_birth_date("3000-01-01", e)).1.len() == 1);
        assert!(errs(|e| parse_birth_date("1899-12-31", e)).1.len() == 1);
        assert!(errs(|e| parse_birth_date("28/02/1980", e)).1.len() == 1);
    }

    #[test]
    fn timezones_must_be_iana_names() {
        assert!(errs(|e| parse_timezone("Europe/London", e)).1.is_empty());
        assert!(errs(|e| parse_timezone("Mars/Olympus", e)).1.len() == 1);
    }
}
