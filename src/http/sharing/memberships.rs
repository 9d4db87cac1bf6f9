//! A resident's organisation memberships: joining with an enrollment code, listing and leaving.

use crate::accounts::tokens::Scope;
use crate::db::MembershipId;
use crate::error::{AppError, AppResult, Problem};
use crate::http::AppState;
use crate::http::auth::Principal;
use crate::http::paging::{PageQuery, Paged};
use crate::sharing::memberships::{self, Join, Membership};
use crate::usecases::{self, sharing::Leave};
use actix_web::{HttpResponse, delete, get, post, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// `POST /v1/me/memberships` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct JoinInput {
    /// The enrollment code the organisation handed out (case, spaces and dashes are ignored).
    pub enrollment_code: String,
}

/// A membership of an organisation.
#[derive(Debug, Serialize, ToSchema)]
pub struct MembershipView {
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
    /// Left; null while a member.
    pub left_at: Option<DateTime<Utc>>,
}

fn membership_view((m, name, kind): (Membership, String, String)) -> MembershipView {
    MembershipView {
        id: m.id.0,
        organization_id: m.organization_id.0,
        organization_name: name,
        organization_kind: kind,
        joined_at: m.joined_at.0,
        left_at: m.left_at.map(|t| t.0),
    }
}

/// Joins an organisation with its enrollment code. Membership alone shares nothing.
#[utoipa::path(
    tag = "sharing",
    security(("bearer" = [])),
    request_body = JoinInput,
    responses(
        (status = 201, description = "Joined", body = MembershipView),
        (status = 200, description = "Already a member: the current membership (the code is not used up)", body = MembershipView),
        (status = 422, description = "Unknown, expired or used-up code", body = Problem, content_type = "application/problem+json")
    )
)]
#[post("/v1/me/memberships")]
pub(super) async fn join(
    state: web::Data<AppState>,
    who: Principal,
    body: web::Json<JoinInput>,
) -> AppResult<HttpResponse> {
    who.require(Scope::Account)?;
    let user = who.user_id;
    let code = body.into_inner().enrollment_code;
    let (joined, fresh) = state
        .tx(move |c| {
            let (m, fresh) = match memberships::join(c, user, &code)? {
                Join::Joined(m) => (m, true),
                Join::Already(m) => (m, false),
                Join::BadCode => {
                    return Err(AppError::invalid(
                        "enrollment_code",
                        "unknown, expired or used-up enrollment code",
                    ));
                }
            };
            let found = memberships::find(c, user, m.id)?.ok_or(AppError::NotFound)?;
            Ok((found, fresh))
        })
        .await?;
    let view = membership_view(joined);
    Ok(if fresh {
        HttpResponse::Created().json(view)
    } else {
        HttpResponse::Ok().json(view)
    })
}

/// The resident's memberships, current and past, oldest first.
#[utoipa::path(
    tag = "sharing",
    security(("bearer" = [])),
    params(PageQuery),
    responses(
        (status = 200, description = "A page", body = Paged<MembershipView>),
        (status = 400, description = "Malformed cursor", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Limit out of range", body = Problem, content_type = "application/problem+json")
    )
)]
#[get("/v1/me/memberships")]
pub(super) async fn list_memberships(
    state: web::Data<AppState>,
    who: Principal,
    query: web::Query<PageQuery>,
) -> AppResult<web::Json<Paged<MembershipView>>> {
    who.require(Scope::Account)?;
    let page = query.page()?;
    let user = who.user_id;
    let rows = state
        .db(move |c| Ok(memberships::list(c, user, page.after, PageQuery::fetch(page))?))
        .await?;
    Ok(web::Json(Paged::from_rows(page, rows, |r| r.0.id, membership_view)))
}

/// Leaves an organisation; every consent given to it is revoked in the same transaction.
/// Leaving a membership that already ended changes nothing.
#[utoipa::path(
    tag = "sharing",
    security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "Membership id")),
    responses(
        (status = 400, description = "Malformed id", body = Problem, content_type = "application/problem+json"),
        (status = 204, description = "Left (or had left)"),
        (status = 404, description = "No such membership of the caller", body = Problem, content_type = "application/problem+json")
    )
)]
#[delete("/v1/me/memberships/{id}")]
pub(super) async fn leave(
    state: web::Data<AppState>,
    who: Principal,
    path: web::Path<MembershipId>,
) -> AppResult<HttpResponse> {
    who.require(Scope::Account)?;
    let (user, id) = (who.user_id, path.into_inner());
    match state.db(move |c| Ok(usecases::sharing::leave(c, user, id)?)).await? {
        Leave::Left | Leave::AlreadyLeft => Ok(HttpResponse::NoContent().finish()),
        Leave::NotFound => Err(AppError::NotFound),
    }
}
