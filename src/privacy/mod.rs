//! What an organisation may learn about its members, and what it costs them.
//!
//! Every statistic an organisation receives about people — aggregates, programme statistics and
//! every later figure — leaves the service as a *release* under the organisation's privacy
//! [`policy`]:
//!
//! * **Differential privacy** (the default): each resident's contribution is bounded (values
//!   clamped to the published per-field [`bounds`], a resident counted once per group), Laplace
//!   [`noise`] is added to every count and sum of every key of the request's public domain, and a
//!   group is published only when its *noisy* people count clears `k_min` with a margin. The
//!   release is charged to the organisation's [`budget`] for the calendar year before it is
//!   computed, and stored in [`releases`]: the same request again within the year is answered
//!   from the stored release at no charge, so repeating a query cannot average the noise away.
//! * **Exact** (an operator's decision, with a reason): v1's k-anonymous answers, without noise
//!   and without a budget.
//!
//! Residents can read every release that could include them in their [`ledger`].
//!
//! This module knows nothing of what a statistic computes; the domains that compute them
//! (`aggregates`) call into it, never the other way round.

pub mod bounds;
pub mod budget;
pub mod ledger;
pub mod noise;
pub mod policy;
pub mod releases;

use std::ops::RangeInclusive;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::db::Ts;
use crate::error::FieldError;

/// How an organisation's statistics are released: a property of the organisation's row, so the
/// type lives with organisations ([`crate::sharing::orgs::PrivacyMode`]).
pub use crate::sharing::orgs::PrivacyMode as Mode;

/// What one release costs when the request names no `epsilon`.
pub const DEFAULT_EPSILON: f64 = 0.5;

/// The epsilons one request may name.
pub const EPSILON: RangeInclusive<f64> = 0.05..=2.0;

/// An organisation's budget per calendar year when none was set.
pub const DEFAULT_EPSILON_PER_YEAR: f64 = crate::sharing::orgs::DEFAULT_PRIVACY_BUDGET;

/// The budgets per year an operator may set.
pub const EPSILON_PER_YEAR: RangeInclusive<f64> = 0.0..=1000.0;

/// Checks a requested epsilon.
pub fn validate_epsilon(epsilon: f64) -> Option<FieldError> {
    (!EPSILON.contains(&epsilon)).then(|| {
        FieldError::new(
            "epsilon",
            format!("must be between {} and {}", EPSILON.start(), EPSILON.end()),
        )
    })
}

/// The calendar year a release at `now` is charged to: the year in Japan, where the
/// organisations' budgets and fiscal rules live.
pub fn budget_year(now: Ts) -> i32 {
    crate::calendar::year_in_japan(now.0)
}

/// How a release was made, as every answer to an organisation reports it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ReleaseInfo {
    /// The organisation's mode when the release was made.
    pub mode: Mode,
    /// The release's epsilon (null in `exact` mode).
    pub epsilon: Option<f64>,
    /// What is left of this calendar year's budget after this answer (null in `exact` mode).
    pub budget_remaining: Option<f64>,
    /// The release (the same id when a stored release answers a repeated request).
    pub release_id: uuid::Uuid,
    /// When the figures were computed.
    pub released_at: chrono::DateTime<chrono::Utc>,
    /// True when this answer is a stored release of the same request this year: nothing was
    /// charged, and the figures are the ones released then.
    pub reused: bool,
    /// How the noise was calibrated (differential privacy only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mechanism: Option<Mechanism>,
}

/// The calibration of a differentially private release: enough to judge its error bars.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Mechanism {
    /// Always `laplace`.
    pub noise: String,
    /// The bounds each person's value is clamped to before summing (for a measurement field).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bounds: Option<bounds::Bounds>,
    /// In how many groups one person can appear (the months, when grouped by month; else one).
    pub groups_per_person: u32,
    /// The Laplace scale of each noised quantity: its L1 sensitivity ÷ its share of epsilon.
    pub laplace_scale: std::collections::BTreeMap<String, f64>,
    /// A group (or figure) is published only when its noisy people count reaches this: `k_min`
    /// plus a margin, so that an answer publishes any group of fewer than `k_min` people with
    /// probability under 0.5%.
    pub publish_threshold: f64,
}

/// Forgets `user` as the actor of releases and policy changes (an erased analyst or operator):
/// the records stay, pointing at no one. A release names no resident it was about (residents'
/// ledgers are read from the consent and membership history, which goes with the account), so
/// nothing else is held here about a person.
pub fn forget_actor(conn: &mut crate::db::DbConn, user: crate::db::UserId) -> diesel::QueryResult<()> {
    use diesel::prelude::*;

    use crate::db::schema::{privacy_policy_changes, privacy_releases};
    diesel::update(privacy_releases::table.filter(privacy_releases::actor_id.eq(user)))
        .set(privacy_releases::actor_id.eq(None::<crate::db::UserId>))
        .execute(conn)?;
    diesel::update(privacy_policy_changes::table.filter(privacy_policy_changes::actor_id.eq(user)))
        .set(privacy_policy_changes::actor_id.eq(None::<crate::db::UserId>))
        .execute(conn)?;
    Ok(())
}
