//! Stored releases: every statistic that left the service for an organisation, with what it was
//! about and who could be in it. A differentially private release also keeps its answer under a
//! reuse key (the canonical request, `k_min` and the budget year), and the same request again in
//! that year is answered from it: the noise is drawn once per question, so asking again (or
//! reloading a page) costs nothing and cannot average it away.

use chrono::NaiveDate;
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

use super::Mode;
use crate::db::schema::privacy_releases;
use crate::db::types::Json;
use crate::db::{DbConn, OrgId, ReleaseId, Ts, UserId};

/// What kind of statistic a release is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Statistic {
    /// `POST /v1/orgs/{org_id}/aggregates`.
    Aggregate,
    /// `GET /v1/orgs/{org_id}/program-stats`.
    ProgramStats,
}

impl Statistic {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Statistic::Aggregate => "aggregate",
            Statistic::ProgramStats => "program_stats",
        }
    }

    /// Parses a stored name.
    pub fn from_stored(s: &str) -> Option<Self> {
        match s {
            "aggregate" => Some(Statistic::Aggregate),
            "program_stats" => Some(Statistic::ProgramStats),
            _ => None,
        }
    }
}

/// Who could be in a release.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Population {
    /// Members whose consent in force at the release covers the type, from a day no later than
    /// the release's last month (`period_to`).
    Consenting {
        /// The measurement type.
        measurement_type: String,
    },
    /// Everyone who was a member at the release.
    Members,
}

/// A release row.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = privacy_releases)]
pub struct Release {
    /// The release's id (time-ordered).
    pub id: ReleaseId,
    /// The organisation it went to.
    pub organization_id: OrgId,
    /// Who asked (null once that account is erased).
    pub actor_id: Option<UserId>,
    /// [`Statistic`], as stored.
    pub statistic: String,
    /// `consenting` or `members` (see [`Population`]).
    pub population: String,
    /// The type, for a `consenting` population.
    pub measurement_type: Option<String>,
    /// First day of the data it covers.
    pub period_from: NaiveDate,
    /// First day of the last month of the data it covers (whole months).
    pub period_to: NaiveDate,
    /// [`Mode`], as stored.
    pub mode: String,
    /// Its epsilon (differential privacy).
    pub epsilon: Option<f64>,
    /// The calendar year it was charged to.
    pub budget_year: i32,
    /// The key a repeated request finds it by (differential privacy).
    pub reuse_key: Option<String>,
    /// The answer as released (differential privacy).
    pub answer: Option<Json>,
    /// When.
    pub released_at: Ts,
}

impl Release {
    /// A new release record; the answer is attached with [`Release::keep`].
    #[expect(clippy::too_many_arguments, reason = "one row, every column named at the call")]
    pub fn new(
        org: OrgId,
        actor: UserId,
        statistic: Statistic,
        population: &Population,
        period: (NaiveDate, NaiveDate),
        mode: Mode,
        epsilon: Option<f64>,
        now: Ts,
    ) -> Self {
        let (population, measurement_type) = match population {
            Population::Consenting { measurement_type } => ("consenting", Some(measurement_type.clone())),
            Population::Members => ("members", None),
        };
        Release {
            id: ReleaseId::new(),
            organization_id: org,
            actor_id: Some(actor),
            statistic: statistic.as_str().to_owned(),
            population: population.to_owned(),
            measurement_type,
            period_from: period.0,
            period_to: period.1,
            mode: mode.as_str().to_owned(),
            epsilon,
            budget_year: super::budget_year(now),
            reuse_key: None,
            answer: None,
            released_at: now,
        }
    }

    /// Keeps the answer under its reuse key, so the same request this year gets it again.
    pub fn keep(mut self, reuse_key: String, answer: serde_json::Value) -> Self {
        self.reuse_key = Some(reuse_key);
        self.answer = Some(Json(answer));
        self
    }
}

/// The reuse key of a request: a digest of the statistic, the canonical request (every default
/// filled in, dates widened, lists in a fixed order — the caller's job), `k_min` and the budget
/// year.
pub fn reuse_key(statistic: Statistic, canonical: &serde_json::Value, k_min: u32, year: i32) -> String {
    let mut h = Sha256::new();
    h.update(statistic.as_str().as_bytes());
    h.update(b"\n");
    h.update(canonical.to_string().as_bytes());
    h.update(format!("\nk_min={k_min}\nyear={year}").as_bytes());
    hex::encode(h.finalize())
}

/// The stored release of a request, if it was released already.
pub fn find_reusable(conn: &mut DbConn, org: OrgId, reuse_key: &str) -> QueryResult<Option<Release>> {
    privacy_releases::table
        .filter(privacy_releases::organization_id.eq(org))
        .filter(privacy_releases::reuse_key.eq(reuse_key))
        .select(Release::as_select())
        .first(conn)
        .optional()
}

/// Records a release (in the transaction that charged it).
pub fn record(conn: &mut DbConn, release: &Release) -> QueryResult<()> {
    diesel::insert_into(privacy_releases::table)
        .values(release)
        .execute(conn)
        .map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reuse_key_changes_with_anything_that_changes_the_answer() {
        let req = serde_json::json!({"type": "body_weight", "epsilon": 0.5});
        let k = reuse_key(Statistic::Aggregate, &req, 10, 2026);
        assert_eq!(k, reuse_key(Statistic::Aggregate, &req, 10, 2026));
        assert_ne!(
            k,
            reuse_key(Statistic::Aggregate, &req, 10, 2027),
            "a new year, a new release"
        );
        assert_ne!(k, reuse_key(Statistic::Aggregate, &req, 5, 2026));
        assert_ne!(k, reuse_key(Statistic::ProgramStats, &req, 10, 2026));
        let other = serde_json::json!({"type": "body_weight", "epsilon": 0.6});
        assert_ne!(k, reuse_key(Statistic::Aggregate, &other, 10, 2026));
    }
}
