//! An organisation's privacy policy: its mode and its epsilon per calendar year, changed only by
//! an operator, every change recorded with who, when and why. A change to `exact` mode or a larger
//! budget needs a reason: both weaken what residents are promised.

use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{EPSILON_PER_YEAR, Mode};
use crate::db::schema::{organizations, privacy_policy_changes};
use crate::db::{DbConn, OrgId, PolicyChangeId, Ts, UserId};
use crate::error::FieldError;

/// An organisation's policy.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Policy {
    /// How its statistics are released.
    pub mode: Mode,
    /// Epsilon it may spend per calendar year (differential privacy).
    pub epsilon_per_year: f64,
}

/// The longest reason an operator may give.
pub const REASON_MAX_CHARS: usize = 500;

/// Checks a policy change. The reason is required when the new policy is `exact` or raises the
/// budget; it is trimmed, 1–500 characters.
pub fn validate(old: Policy, new: Policy, reason: Option<&str>) -> Result<Option<String>, Vec<FieldError>> {
    let mut errors = Vec::new();
    if !EPSILON_PER_YEAR.contains(&new.epsilon_per_year) {
        errors.push(FieldError::new(
            "epsilon_per_year",
            format!(
                "must be between {} and {}",
                EPSILON_PER_YEAR.start(),
                EPSILON_PER_YEAR.end()
            ),
        ));
    }
    let reason = reason.map(str::trim).filter(|r| !r.is_empty());
    if reason.is_some_and(|r| r.chars().count() > REASON_MAX_CHARS) {
        errors.push(FieldError::new(
            "reason",
            format!("must be at most {REASON_MAX_CHARS} characters"),
        ));
    }
    if reason.is_none() {
        if new.mode == Mode::Exact {
            errors.push(FieldError::new(
                "reason",
                "is required for exact mode: it gives up the guarantees of differential privacy",
            ));
        } else if new.epsilon_per_year > old.epsilon_per_year {
            errors.push(FieldError::new("reason", "is required to raise the budget"));
        }
    }
    if errors.is_empty() {
        Ok(reason.map(str::to_owned))
    } else {
        Err(errors)
    }
}

/// The policy of an organisation, `None` when there is no such organisation.
pub fn find(conn: &mut DbConn, org: OrgId) -> QueryResult<Option<Policy>> {
    let row: Option<(Mode, f64)> = organizations::table
        .find(org)
        .select((organizations::privacy_mode, organizations::privacy_budget))
        .first(conn)
        .optional()?;
    Ok(row.map(|(mode, epsilon_per_year)| Policy { mode, epsilon_per_year }))
}

/// One recorded change.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = privacy_policy_changes)]
pub struct Change {
    /// Id (UUIDv7, so ids order by time).
    pub id: PolicyChangeId,
    /// The organisation.
    pub organization_id: OrgId,
    /// The operator (null once that account is erased).
    pub actor_id: Option<UserId>,
    /// Mode before, as stored.
    pub mode_before: String,
    /// Mode after, as stored.
    pub mode_after: String,
    /// Budget per year before.
    pub epsilon_before: f64,
    /// Budget per year after.
    pub epsilon_after: f64,
    /// Why, as the operator wrote it.
    pub reason: Option<String>,
    /// When.
    pub created_at: Ts,
}

/// Sets an organisation's policy and records the change, in the caller's transaction. The old
/// policy is read under a row lock, so two operators' changes are recorded in the order they
/// took effect.
pub fn set(
    conn: &mut DbConn,
    org: OrgId,
    actor: UserId,
    new: Policy,
    reason: Option<String>,
) -> QueryResult<Option<Change>> {
    let q = organizations::table
        .find(org)
        .select((organizations::privacy_mode, organizations::privacy_budget));
    let old: Option<(String, f64)> = match conn {
        DbConn::Pg(c) => q.for_update().first(c).optional()?,
        DbConn::Sqlite(c) => q.first(c).optional()?,
    };
    let Some((mode_before, epsilon_before)) = old else {
        return Ok(None);
    };
    let now = Ts::now();
    diesel::update(organizations::table.find(org))
        .set((
            organizations::privacy_mode.eq(new.mode),
            organizations::privacy_budget.eq(new.epsilon_per_year),
            organizations::updated_at.eq(now),
        ))
        .execute(conn)?;
    let change = Change {
        id: PolicyChangeId::new(),
        organization_id: org,
        actor_id: Some(actor),
        mode_before,
        mode_after: new.mode.as_str().to_owned(),
        epsilon_before,
        epsilon_after: new.epsilon_per_year,
        reason,
        created_at: now,
    };
    diesel::insert_into(privacy_policy_changes::table)
        .values(&change)
        .execute(conn)?;
    Ok(Some(change))
}

/// An organisation's policy changes, newest first.
pub fn changes(conn: &mut DbConn, org: OrgId, limit: i64) -> QueryResult<Vec<Change>> {
    privacy_policy_changes::table
        .filter(privacy_policy_changes::organization_id.eq(org))
        .select(Change::as_select())
        .order(privacy_policy_changes::id.desc())
        .limit(limit)
        .load(conn)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DP10: Policy = Policy {
        mode: Mode::DifferentialPrivacy,
        epsilon_per_year: 10.0,
    };

    #[test]
    fn exact_mode_and_a_larger_budget_need_a_reason() {
        let exact = Policy {
            mode: Mode::Exact,
            ..DP10
        };
        assert!(validate(DP10, exact, None).is_err());
        assert!(validate(DP10, exact, Some("  ")).is_err(), "blank is no reason");
        assert_eq!(
            validate(DP10, exact, Some(" statutory checkup data "))
                .unwrap()
                .as_deref(),
            Some("statutory checkup data")
        );
        let more = Policy {
            epsilon_per_year: 20.0,
            ..DP10
        };
        assert!(validate(DP10, more, None).is_err());
        let less = Policy {
            epsilon_per_year: 5.0,
            ..DP10
        };
        assert_eq!(
            validate(DP10, less, None).unwrap(),
            None,
            "a stricter policy needs no reason"
        );
        let huge = Policy {
            epsilon_per_year: 1e6,
            ..DP10
        };
        assert!(validate(DP10, huge, Some("why not")).is_err());
        assert!(validate(DP10, less, Some(&"x".repeat(501))).is_err());
    }
}
