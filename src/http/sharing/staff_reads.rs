//! Organisation staff reads of one member's data under that member's consent, and the check that
//! admits a staff reader.

use crate::db::{OrgId, UserId};
use crate::error::{AppError, AppResult, Problem};
use crate::http::AppState;
use crate::http::auth::Principal;
use crate::http::measurements::{ListQuery, ListRequest, MeasurementPage};
use crate::sharing::individual::{self, Read, Reader};
use crate::sharing::{StaffRole, orgs};
use actix_web::{get, web};

/// The reader of an individual read: a member of the organisation's staff (already checked), with
/// the organisation's name for the member's access log. 404 if the organisation is gone.
pub(crate) fn staff_reader(c: &mut crate::db::DbConn, org: OrgId, actor: UserId) -> AppResult<Reader> {
    let org_row = orgs::find(c, org)?.ok_or(AppError::NotFound)?;
    Ok(Reader {
        actor,
        organization_id: org,
        organization_name: org_row.name,
    })
}

/// A member's measurements of one type, newest first, for the organisation's health staff: only
/// under an individual consent in force that covers the type (else 403), and every read is
/// written to the member's access log in the same transaction. `type` is required. The
/// `vascular_age_gap` is not computed here (the member's birth date is not shared).
#[utoipa::path(
    tag = "organisations",
    security(("bearer" = [])),
    params(
        ("org_id" = uuid::Uuid, Path, description = "Organisation id"),
        ("user_id" = uuid::Uuid, Path, description = "The member's account id"),
        ListQuery
    ),
    responses(
        (status = 200, description = "A page", body = MeasurementPage),
        (status = 400, description = "Malformed query or cursor", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Missing or unknown type, bad times or limit", body = Problem, content_type = "application/problem+json")
    )
)]
#[get("/v1/orgs/{org_id}/members/{user_id}/measurements")]
pub(super) async fn member_measurements(
    state: web::Data<AppState>,
    who: Principal,
    path: web::Path<(OrgId, UserId)>,
    query: web::Query<ListQuery>,
) -> AppResult<web::Json<MeasurementPage>> {
    let (org, subject) = path.into_inner();
    who.require_staff(org, StaffRole::HealthStaff)?;
    let ListRequest {
        def,
        filter,
        limit,
        cursor,
    } = query.into_inner().parse(true)?;
    // `parse(true)` answers a type whenever it succeeds.
    let def = def.ok_or_else(|| AppError::invalid("type", "is required"))?;
    let actor = who.user_id;
    let read = state
        .tx(move |c| {
            let reader = staff_reader(c, org, actor)?;
            let limit = i64::from(limit);
            Ok(individual::member_measurements(
                c, &reader, subject, def.name, &filter, cursor, limit,
            )?)
        })
        .await?;
    let Read::Served(rows) = read else {
        return Err(AppError::Forbidden(
            "no individual consent of this member covers this type",
        ));
    };
    // The member's birth date is not shared, so no vascular age gap.
    Ok(web::Json(MeasurementPage::from_rows(limit, rows, None)))
}
