//! A resident's privacy ledger: every release to an organisation that could include them.
//!
//! It is read from the releases and the consent and membership history, not from a row per
//! resident and release: a release to `consenting` members included the resident when, at the
//! moment of release, a consent of theirs to that organisation covering the type was in force and
//! shared data from a day no later than the release's last month; a release to `members` when they
//! were a member at that moment. Consents and memberships are never rewritten (revocation and
//! leaving only set an end), so the answer is the same whenever it is asked. It lists what the
//! resident's data was eligible for, whether or not they had data in that period: under
//! differential privacy a release reveals as little about someone without data as about someone
//! with it.

use chrono::NaiveDate;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Date, Nullable, Text};

use crate::db::types::{SqlTs, SqlUuid};
use crate::db::{DbConn, OrgId, ReleaseId, Ts, UserId};

/// One release that included the resident.
#[derive(Debug, Clone, QueryableByName)]
pub struct Entry {
    /// The release.
    #[diesel(sql_type = SqlUuid)]
    pub id: ReleaseId,
    /// The organisation it went to.
    #[diesel(sql_type = SqlUuid)]
    pub organization_id: OrgId,
    /// Its name.
    #[diesel(sql_type = Text)]
    pub organization_name: String,
    /// Which statistic, as stored.
    #[diesel(sql_type = Text)]
    pub statistic: String,
    /// The type it was about (none for programme statistics).
    #[diesel(sql_type = Nullable<Text>)]
    pub measurement_type: Option<String>,
    /// First day of the data it covered.
    #[diesel(sql_type = Date)]
    pub period_from: NaiveDate,
    /// First day of the last month it covered.
    #[diesel(sql_type = Date)]
    pub period_to: NaiveDate,
    /// Mode, as stored.
    #[diesel(sql_type = Text)]
    pub mode: String,
    /// Its epsilon (null in exact mode).
    #[diesel(sql_type = Nullable<diesel::sql_types::Double>)]
    pub epsilon: Option<f64>,
    /// When.
    #[diesel(sql_type = SqlTs)]
    pub released_at: Ts,
}

/// A page of the resident's ledger, newest first: `limit` entries with ids below `before`.
pub fn for_resident(conn: &mut DbConn, user: UserId, before: Option<ReleaseId>, limit: i64) -> QueryResult<Vec<Entry>> {
    let consent_in_force = crate::sharing::consents::in_force_at_sql("r.released_at");
    let sql = format!(
        "SELECT r.id, r.organization_id, o.name AS organization_name, r.statistic, r.measurement_type, \
                r.period_from, r.period_to, r.mode, r.epsilon, r.released_at \
         FROM privacy_releases r JOIN organizations o ON o.id = r.organization_id \
         WHERE r.organization_id IN (SELECT m.organization_id FROM memberships m WHERE m.user_id = $1) \
           AND r.id < $2 \
           AND ((r.population = 'members' AND EXISTS ( \
                  SELECT 1 FROM memberships m WHERE m.user_id = $1 AND m.organization_id = r.organization_id \
                    AND m.joined_at <= r.released_at AND (m.left_at IS NULL OR m.left_at > r.released_at))) \
             OR (r.population = 'consenting' AND EXISTS ( \
                  SELECT 1 FROM consents c JOIN consent_types ct ON ct.consent_id = c.id \
                  WHERE c.user_id = $1 AND c.organization_id = r.organization_id \
                    AND ct.measurement_type = r.measurement_type AND c.data_from <= r.period_to \
                    AND {consent_in_force}))) \
         ORDER BY r.id DESC LIMIT $3"
    );
    diesel::sql_query(crate::db::numbered(conn, &sql))
        .bind::<SqlUuid, _>(user)
        .bind::<SqlUuid, _>(before.unwrap_or(ReleaseId(uuid::Uuid::max())))
        .bind::<BigInt, _>(limit)
        .load(conn)
}
