//! The resident's access log: every read organisation staff made of the resident's data.

use crate::accounts::tokens::Scope;
use crate::error::{AppResult, Problem};
use crate::http::AppState;
use crate::http::auth::Principal;
use crate::http::paging::{PageQuery, Paged};
use crate::sharing::access_log::AccessEntry;
use actix_web::{get, web};
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

/// One read of the resident's data by someone else.
#[derive(Debug, Serialize, ToSchema)]
pub struct AccessView {
    /// Entry id.
    pub id: uuid::Uuid,
    /// When.
    pub at: DateTime<Utc>,
    /// Who read: the staff account's email (null once that account is erased).
    pub actor: Option<String>,
    /// For which organisation.
    pub organization_id: Option<uuid::Uuid>,
    /// Its name.
    pub organization_name: String,
    /// What was done: `read_measurements`.
    pub action: String,
    /// Which type.
    pub measurement_type: Option<String>,
    /// The consent that allowed it.
    pub consent_id: Option<uuid::Uuid>,
    /// Its purpose.
    pub purpose: String,
    /// How many records were returned.
    pub records: i32,
}

fn access_view((e, actor): (AccessEntry, Option<String>)) -> AccessView {
    AccessView {
        id: e.id.0,
        at: e.created_at.0,
        actor,
        organization_id: e.organization_id.map(|o| o.0),
        organization_name: e.organization_name,
        action: e.action,
        measurement_type: e.measurement_type,
        consent_id: e.consent_id.map(|c| c.0),
        purpose: e.purpose,
        records: e.records,
    }
}

/// Every read of the resident's data by anyone but the resident, newest first.
#[utoipa::path(
    tag = "sharing",
    security(("bearer" = [])),
    params(PageQuery),
    responses(
        (status = 200, description = "A page", body = Paged<AccessView>),
        (status = 400, description = "Malformed cursor", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Limit out of range", body = Problem, content_type = "application/problem+json")
    )
)]
#[get("/v1/me/access-log")]
pub(super) async fn access_log(
    state: web::Data<AppState>,
    who: Principal,
    query: web::Query<PageQuery>,
) -> AppResult<web::Json<Paged<AccessView>>> {
    who.require(Scope::Account)?;
    let page = query.page()?;
    let user = who.user_id;
    let rows = state
        .db(move |c| {
            Ok(crate::sharing::access_log::list_for_subject(
                c,
                user,
                page.after,
                PageQuery::fetch(page),
            )?)
        })
        .await?;
    Ok(web::Json(Paged::from_rows(page, rows, |r| r.0.id, access_view)))
}
