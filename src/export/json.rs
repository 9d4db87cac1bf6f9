//! The JSON export: one document with every section of what is held about the resident. Its
//! shape is [`ExportDocument`] (documented in the OpenAPI document and `docs/EXPORT.md`); it is
//! written section by section, item by item, in that struct's field order.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::store::{self, for_each};
use super::{ExportError, Writer};
use crate::accounts::User;
use crate::accounts::tokens::parse_scopes;
use crate::db::{DbConn, Ts};
use crate::measurements::MeasurementView;

/// The value of [`ExportDocument::format`].
pub const FORMAT_NAME: &str = "karada-export";
/// The version of the document's shape.
pub const FORMAT_VERSION: u32 = 3;

/// Everything held about a resident (`GET /v1/me/export?format=json`). Sections are in this
/// order; lists are oldest first, measurements by type, then time.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExportDocument {
    /// Always `karada-export`.
    pub format: String,
    /// Version of this shape (3: version 2 had no consent `data_from` and `include_notes`;
    /// version 1 no `programme_weeks`).
    pub version: u32,
    /// When the export was read.
    pub exported_at: DateTime<Utc>,
    /// The account.
    pub profile: ProfileItem,
    /// Login sessions (refresh tokens are not exported).
    pub sessions: Vec<SessionItem>,
    /// App and kiosk tokens (never their secrets).
    pub app_tokens: Vec<AppTokenItem>,
    /// Roles in organisations, for staff.
    pub staff_roles: Vec<StaffRoleItem>,
    /// Every measurement.
    pub measurements: Vec<MeasurementView>,
    /// Health points.
    pub points: PointsSection,
    /// Lottery tickets bought.
    pub lottery_entries: Vec<LotteryEntryItem>,
    /// Memberships of organisations, current and past.
    pub memberships: Vec<MembershipItem>,
    /// Consents, every state: the history of grants and revocations.
    pub consents: Vec<ConsentItem>,
    /// Every read of the resident's data by an organisation's staff.
    pub access_log: Vec<AccessLogItem>,
    /// The weekly programme's plans, one per week the resident asked for one.
    pub programme_weeks: Vec<ProgrammeWeekItem>,
}

/// A week's plan of goals.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProgrammeWeekItem {
    /// The week's Monday (local).
    pub week_start: chrono::NaiveDate,
    /// The goals as planned, each with the reason it was chosen.
    #[schema(value_type = Vec<Object>)]
    pub goals: serde_json::Value,
    /// When the plan was made.
    pub created_at: DateTime<Utc>,
}

/// The account.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProfileItem {
    /// Account id.
    pub id: uuid::Uuid,
    /// Login email.
    pub email: String,
    /// Name shown in apps.
    pub display_name: Option<String>,
    /// Date of birth.
    pub birth_date: Option<NaiveDate>,
    /// `female`, `male`, `other` or `unknown`.
    pub sex: String,
    /// IANA timezone that defines the resident's day.
    pub timezone: String,
    /// `resident` or `admin`.
    pub role: String,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
}

/// A login session.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SessionItem {
    /// Session id.
    pub id: uuid::Uuid,
    /// Signed in.
    pub created_at: DateTime<Utc>,
    /// Ended (logout, password change, …).
    pub revoked_at: Option<DateTime<Utc>>,
    /// Why it ended.
    pub revoked_reason: Option<String>,
}

/// An app or kiosk token.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AppTokenItem {
    /// Token id.
    pub id: uuid::Uuid,
    /// Name.
    pub name: String,
    /// Scopes.
    pub scopes: Vec<String>,
    /// `sensed` or `self_reported`.
    pub modality: String,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Expires.
    pub expires_at: DateTime<Utc>,
    /// Revoked.
    pub revoked_at: Option<DateTime<Utc>>,
}

/// A staff role.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StaffRoleItem {
    /// Organisation.
    pub organization_id: uuid::Uuid,
    /// Its name.
    pub organization_name: String,
    /// `org_admin`, `analyst` or `health_staff`.
    pub role: String,
    /// Since.
    pub created_at: DateTime<Utc>,
}

/// Health points.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PointsSection {
    /// One per programme the resident has points in.
    pub balances: Vec<BalanceItem>,
    /// Every ledger entry, programme by programme, oldest first.
    pub ledger: Vec<LedgerItem>,
}

/// A balance.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BalanceItem {
    /// Programme.
    pub programme_id: String,
    /// Points held.
    pub balance: i32,
    /// Points earned in all.
    pub lifetime_earned: i32,
}

/// A ledger entry.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LedgerItem {
    /// Entry id.
    pub id: uuid::Uuid,
    /// Programme.
    pub programme_id: String,
    /// The rule that paid it.
    pub rule_id: Option<uuid::Uuid>,
    /// Points added (negative: spent).
    pub delta: i32,
    /// Title.
    pub title: String,
    /// The resident's day it counts for.
    pub local_date: NaiveDate,
    /// The measurement that earned it.
    pub measurement_id: Option<uuid::Uuid>,
    /// Written.
    pub created_at: DateTime<Utc>,
}

/// A lottery purchase.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LotteryEntryItem {
    /// Entry id.
    pub id: uuid::Uuid,
    /// Lottery.
    pub lottery_id: uuid::Uuid,
    /// Its title.
    pub lottery_title: String,
    /// Its programme.
    pub programme_id: String,
    /// Tickets bought.
    pub tickets: i32,
    /// Points spent.
    pub points_spent: i32,
    /// The client's reference.
    pub client_ref: Option<String>,
    /// Bought.
    pub created_at: DateTime<Utc>,
    /// Whether the resident won that lottery.
    pub won: bool,
}

/// A membership.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MembershipItem {
    /// Membership id.
    pub id: uuid::Uuid,
    /// Organisation.
    pub organization_id: uuid::Uuid,
    /// Its name.
    pub organization_name: String,
    /// `employer` or `insurer`.
    pub organization_kind: String,
    /// Joined.
    pub joined_at: DateTime<Utc>,
    /// Left.
    pub left_at: Option<DateTime<Utc>>,
}

/// A consent, with where it stands.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConsentItem {
    /// Consent id.
    pub id: uuid::Uuid,
    /// Its receipt's id.
    pub receipt_id: uuid::Uuid,
    /// Organisation.
    pub organization_id: uuid::Uuid,
    /// Its name.
    pub organization_name: String,
    /// The membership it was given under.
    pub membership_id: uuid::Uuid,
    /// Types covered.
    pub measurement_types: Vec<String>,
    /// Whether points figures are included.
    pub include_points: bool,
    /// `aggregate` or `individual`.
    pub access: String,
    /// Purpose, as the resident was told.
    pub purpose: String,
    /// The first day of data it shares.
    pub data_from: chrono::NaiveDate,
    /// Whether free-text notes go with the data.
    pub include_notes: bool,
    /// `active`, `revoked` or `expired` at `exported_at`.
    pub status: String,
    /// Ends by itself.
    pub expires_at: Option<DateTime<Utc>>,
    /// Given.
    pub created_at: DateTime<Utc>,
    /// Revoked.
    pub revoked_at: Option<DateTime<Utc>>,
    /// Why: `resident` or `left_organization`.
    pub revoked_reason: Option<String>,
}

/// A read of the resident's data by an organisation's staff.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AccessLogItem {
    /// Entry id.
    pub id: uuid::Uuid,
    /// Organisation (null once deleted).
    pub organization_id: Option<uuid::Uuid>,
    /// Its name at the time.
    pub organization_name: String,
    /// Email of the staff member who read (null once that account is erased).
    pub actor_email: Option<String>,
    /// The consent that allowed it.
    pub consent_id: Option<uuid::Uuid>,
    /// What was done, e.g. `read_measurements`.
    pub action: String,
    /// Which type.
    pub measurement_type: Option<String>,
    /// The consent's purpose.
    pub purpose: String,
    /// Records returned.
    pub records: i32,
    /// When.
    pub created_at: DateTime<Utc>,
}

/// The profile section of an account.
pub fn profile(u: &User) -> ProfileItem {
    ProfileItem {
        id: u.id.0,
        email: u.email.clone(),
        display_name: u.display_name.clone(),
        birth_date: u.birth_date,
        sex: u.sex.clone(),
        timezone: u.timezone.clone(),
        role: u.role.clone(),
        created_at: u.created_at.0,
        updated_at: u.updated_at.0,
    }
}

/// Writes `"name":[…]` with one item per row.
fn list<T, K, I: Serialize>(
    conn: &mut DbConn,
    out: &mut Writer<'_>,
    name: &str,
    fetch: impl FnMut(&mut DbConn, Option<&K>, i64) -> diesel::QueryResult<Vec<T>>,
    key: impl Fn(&T) -> K,
    item: impl Fn(T) -> I,
) -> Result<(), ExportError> {
    out.text(&format!(",\"{name}\":["))?;
    let mut first = true;
    for_each(conn, fetch, key, |_, row| {
        if !std::mem::take(&mut first) {
            out.text(",")?;
        }
        out.json(&item(row))
    })?;
    out.text("]")
}

/// Writes the whole document.
pub fn render(conn: &mut DbConn, user: &User, now: Ts, out: &mut Writer<'_>) -> Result<(), ExportError> {
    let id = user.id;
    out.text(&format!(
        "{{\"format\":\"{FORMAT_NAME}\",\"version\":{FORMAT_VERSION},\"exported_at\":"
    ))?;
    out.json(&now.0)?;
    out.text(",\"profile\":")?;
    out.json(&profile(user))?;
    let sessions: Vec<SessionItem> = store::sessions(conn, id)?
        .into_iter()
        .map(|(id, created_at, revoked_at, revoked_reason)| SessionItem {
            id: id.0,
            created_at: created_at.0,
            revoked_at: revoked_at.map(|t| t.0),
            revoked_reason,
        })
        .collect();
    out.text(",\"sessions\":")?;
    out.json(&sessions)?;
    // The first chunk goes out once the account and its first section have been read.
    out.send()?;
    let tokens: Vec<AppTokenItem> = store::app_tokens(conn, id)?
        .into_iter()
        .map(|t| AppTokenItem {
            id: t.id.0,
            name: t.name,
            scopes: parse_scopes(&t.scopes).iter().map(|s| s.as_str().to_owned()).collect(),
            modality: t.modality,
            created_at: t.created_at.0,
            expires_at: t.expires_at.0,
            revoked_at: t.revoked_at.map(|t| t.0),
        })
        .collect();
    out.text(",\"app_tokens\":")?;
    out.json(&tokens)?;
    let roles: Vec<StaffRoleItem> = store::staff_roles(conn, id)?
        .into_iter()
        .map(|(org, name, role, at)| StaffRoleItem {
            organization_id: org.0,
            organization_name: name,
            role,
            created_at: at.0,
        })
        .collect();
    out.text(",\"staff_roles\":")?;
    out.json(&roles)?;

    list(
        conn,
        out,
        "measurements",
        |c, after, limit| store::measurements(c, id, after, limit),
        store::measurement_key,
        |m| MeasurementView::of(m, None),
    )?;

    let balances: Vec<BalanceItem> = store::balances(conn, id)?
        .into_iter()
        .map(|(programme_id, balance, lifetime_earned)| BalanceItem {
            programme_id,
            balance,
            lifetime_earned,
        })
        .collect();
    out.text(",\"points\":{\"balances\":")?;
    out.json(&balances)?;
    out.text(",\"ledger\":[")?;
    let mut first = true;
    for programme in store::programme_ids(conn)? {
        for_each(
            conn,
            |c, after, limit| store::ledger(c, id, &programme, after, limit),
            |e| e.id,
            |_, e| {
                if !std::mem::take(&mut first) {
                    out.text(",")?;
                }
                out.json(&LedgerItem {
                    id: e.id.0,
                    programme_id: e.programme_id,
                    rule_id: e.rule_id.map(|r| r.0),
                    delta: e.delta,
                    title: e.title,
                    local_date: e.local_date,
                    measurement_id: e.measurement_id.map(|m| m.0),
                    created_at: e.created_at.0,
                })
            },
        )?;
    }
    out.text("]}")?;

    let won = store::lotteries_won(conn, id)?;
    list(
        conn,
        out,
        "lottery_entries",
        |c, after, limit| store::lottery_entries(c, id, after, limit),
        |(e, _)| e.id,
        |(e, l)| LotteryEntryItem {
            id: e.id.0,
            lottery_id: l.id.0,
            lottery_title: l.title,
            programme_id: l.programme_id,
            tickets: e.tickets,
            points_spent: e.points_spent,
            client_ref: e.client_ref,
            created_at: e.created_at.0,
            won: won.contains(&l.id),
        },
    )?;
    list(
        conn,
        out,
        "memberships",
        |c, after, limit| store::memberships(c, id, after, limit),
        |(m, _, _)| m.id,
        |(m, name, kind)| MembershipItem {
            id: m.id.0,
            organization_id: m.organization_id.0,
            organization_name: name,
            organization_kind: kind,
            joined_at: m.joined_at.0,
            left_at: m.left_at.map(|t| t.0),
        },
    )?;
    list(
        conn,
        out,
        "consents",
        |c, after, limit| store::consents(c, id, after, limit),
        |(c, _, _)| c.id,
        |(c, org, types)| ConsentItem {
            status: serde_json::to_value(c.status(now))
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default(),
            id: c.id.0,
            receipt_id: c.receipt_id.0,
            organization_id: c.organization_id.0,
            organization_name: org,
            membership_id: c.membership_id.0,
            measurement_types: types,
            include_points: c.include_points,
            access: c.access.as_str().to_owned(),
            purpose: c.purpose,
            data_from: c.data_from,
            include_notes: c.include_notes,
            expires_at: c.expires_at.map(|t| t.0),
            created_at: c.created_at.0,
            revoked_at: c.revoked_at.map(|t| t.0),
            revoked_reason: c.revoked_reason,
        },
    )?;
    list(
        conn,
        out,
        "access_log",
        |c, after, limit| store::access_log(c, id, after, limit),
        |(e, _)| e.id,
        |(e, email)| AccessLogItem {
            id: e.id.0,
            organization_id: e.organization_id.map(|o| o.0),
            organization_name: e.organization_name,
            actor_email: email,
            consent_id: e.consent_id.map(|c| c.0),
            action: e.action,
            measurement_type: e.measurement_type,
            purpose: e.purpose,
            records: e.records,
            created_at: e.created_at.0,
        },
    )?;
    list(
        conn,
        out,
        "programme_weeks",
        |c, after, limit| store::programme_weeks(c, id, after, limit),
        |(week, _, _)| *week,
        |(week_start, goals, created_at)| ProgrammeWeekItem {
            week_start,
            goals: goals.0,
            created_at: created_at.0,
        },
    )?;
    out.text("}")
}
