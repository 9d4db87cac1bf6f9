//! Operators' lottery administration: creating, listing, changing, deleting, closing and drawing
//! lotteries.

use super::resident::LotteryStatus;
use crate::db::{LotteryId, Ts};
use crate::error::{AppError, AppResult, Problem};
use crate::http::AppState;
use crate::http::auth::Operator;
use crate::http::paging::{PageQuery, Paged};
use crate::points::lotteries::{self, Draw, Lottery};
use crate::points::{self};
use actix_web::{HttpResponse, delete, get, post, put, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// `POST /v1/admin/lotteries` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LotteryInput {
    /// Programme whose points buy tickets.
    pub programme: String,
    /// Title, 1–200 characters.
    #[schema(min_length = 1, max_length = 200)]
    pub title: String,
    /// What winners get, 1–200 characters.
    #[schema(min_length = 1, max_length = 200)]
    pub prize: String,
    /// Points per ticket, 1–100000.
    #[schema(minimum = 1, maximum = 100000)]
    pub cost_per_entry: i32,
    /// Number of winners, 1–10000.
    #[schema(minimum = 1, maximum = 10000)]
    pub winners: i32,
    /// Entries close at this instant: in the future, within a year.
    pub closes_at: DateTime<Utc>,
}

impl LotteryInput {
    fn into_lottery(self, id: LotteryId, created_at: Ts) -> Lottery {
        Lottery {
            id,
            programme_id: self.programme,
            title: self.title.trim().to_owned(),
            prize: self.prize.trim().to_owned(),
            cost_per_entry: self.cost_per_entry,
            winners: self.winners,
            closes_at: self.closes_at.into(),
            closed_at: None,
            seed: None,
            drawn_at: None,
            created_at,
        }
    }
}

fn check(c: &mut crate::db::DbConn, lottery: &Lottery) -> AppResult<()> {
    let programmes: Vec<String> = points::programme_ids(c)?;
    let errors = lotteries::validate(lottery, &programmes, Ts::now());
    if errors.is_empty() {
        Ok(())
    } else {
        Err(AppError::Validation(errors))
    }
}

fn blocked(b: lotteries::Blocked) -> AppError {
    match b {
        lotteries::Blocked::NotFound => AppError::NotFound,
        lotteries::Blocked::Drawn => AppError::StateConflict {
            refusal: crate::error::Refusal::AlreadyDrawn,
            detail: "the lottery has been drawn; its seed and winners are recorded".to_owned(),
        },
        lotteries::Blocked::HasEntries => AppError::StateConflict {
            refusal: crate::error::Refusal::LotteryHasEntries,
            detail: "residents have spent points on this lottery; it can only be closed and drawn".to_owned(),
        },
    }
}

/// A lottery as operators see it.
#[derive(Debug, Serialize, ToSchema)]
pub struct LotteryAdminView {
    /// Lottery id.
    pub id: uuid::Uuid,
    /// Programme.
    pub programme: String,
    /// Title.
    pub title: String,
    /// Prize.
    pub prize: String,
    /// Points per ticket.
    pub cost_per_entry: i32,
    /// Number of winners.
    pub winners: i32,
    /// Entries close at this instant.
    pub closes_at: DateTime<Utc>,
    /// Open, closed or drawn.
    pub status: LotteryStatus,
    /// When it was closed early or by the draw.
    pub closed_at: Option<DateTime<Utc>>,
    /// When it was drawn.
    pub drawn_at: Option<DateTime<Utc>>,
    /// The draw's seed: with the entries, anyone can replay the draw.
    pub seed: Option<String>,
    /// Residents holding tickets.
    pub entrants: i64,
    /// Tickets sold.
    pub tickets: i64,
    /// Winners' user ids in the order drawn.
    pub winner_ids: Vec<uuid::Uuid>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
}

fn admin_view(c: &mut crate::db::DbConn, l: Lottery) -> AppResult<LotteryAdminView> {
    let pool = lotteries::tickets_by_resident(c, l.id)?;
    let winner_ids = lotteries::winners(c, l.id)?.into_iter().map(|u| u.0).collect();
    let tickets = pool.iter().map(|(_, t)| i64::try_from(*t).unwrap_or(i64::MAX)).sum();
    Ok(LotteryAdminView {
        id: l.id.0,
        status: l.status(Ts::now()).into(),
        programme: l.programme_id,
        title: l.title,
        prize: l.prize,
        cost_per_entry: l.cost_per_entry,
        winners: l.winners,
        closes_at: l.closes_at.0,
        closed_at: l.closed_at.map(|t| t.0),
        drawn_at: l.drawn_at.map(|t| t.0),
        seed: l.seed,
        entrants: i64::try_from(pool.len()).unwrap_or(i64::MAX),
        tickets,
        winner_ids,
        created_at: l.created_at.0,
    })
}

/// Creates a lottery in a programme.
#[utoipa::path(
    tag = "admin",
    security(("bearer" = [])),
    request_body = LotteryInput,
    responses(
        (status = 201, description = "Created", body = LotteryAdminView),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json")
    )
)]
#[post("/v1/admin/lotteries")]
pub(super) async fn admin_create_lottery(
    state: web::Data<AppState>,
    _: Operator,
    body: web::Json<LotteryInput>,
) -> AppResult<HttpResponse> {
    let lottery = body.into_inner().into_lottery(LotteryId::new(), Ts::now());
    let created = state
        .tx(move |c| {
            check(c, &lottery)?;
            lotteries::create(c, &lottery)?;
            admin_view(c, lottery)
        })
        .await?;
    Ok(HttpResponse::Created().json(created))
}

/// Every lottery, newest first.
#[utoipa::path(
    tag = "admin",
    security(("bearer" = [])),
    params(PageQuery),
    responses(
        (status = 200, description = "A page of lotteries", body = Paged<LotteryAdminView>),
        (status = 400, description = "Malformed cursor", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Limit out of range", body = Problem, content_type = "application/problem+json")
    )
)]
#[get("/v1/admin/lotteries")]
pub(super) async fn admin_list_lotteries(
    state: web::Data<AppState>,
    _: Operator,
    query: web::Query<PageQuery>,
) -> AppResult<web::Json<Paged<LotteryAdminView>>> {
    let page = query.page()?;
    let views = state
        .db(move |c| {
            let ids: Vec<String> = points::programme_ids(c)?;
            let rows = lotteries::list(c, &ids, page.after, PageQuery::fetch(page))?;
            rows.into_iter()
                .map(|l| admin_view(c, l))
                .collect::<AppResult<Vec<_>>>()
        })
        .await?;
    let paged = Paged::from_rows(page, views, |v| LotteryId(v.id), |v| v);
    Ok(web::Json(paged))
}

/// One lottery with its entrants, tickets, seed and winners.
#[utoipa::path(
    tag = "admin",
    security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "Lottery id")),
    responses(
        (status = 200, description = "The lottery", body = LotteryAdminView),
        (status = 400, description = "Malformed id", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such lottery", body = Problem, content_type = "application/problem+json")
    )
)]
#[get("/v1/admin/lotteries/{id}")]
pub(super) async fn admin_get_lottery(
    state: web::Data<AppState>,
    _: Operator,
    path: web::Path<LotteryId>,
) -> AppResult<web::Json<LotteryAdminView>> {
    let id = path.into_inner();
    let v = state
        .db(move |c| {
            let l = lotteries::find(c, id)?.ok_or(AppError::NotFound)?;
            admin_view(c, l)
        })
        .await?;
    Ok(web::Json(v))
}

/// Changes a lottery nobody has entered yet (`409 lottery-has-entries` once anyone has: they
/// bought tickets on its terms; `409 already-drawn` after the draw).
#[utoipa::path(
    tag = "admin",
    security(("bearer" = [])),
    request_body = LotteryInput,
    params(("id" = uuid::Uuid, Path, description = "Lottery id")),
    responses(
        (status = 200, description = "Changed", body = LotteryAdminView),
        (status = 400, description = "Malformed id or body", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such lottery", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "lottery-has-entries or already-drawn", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json")
    )
)]
#[put("/v1/admin/lotteries/{id}")]
pub(super) async fn admin_update_lottery(
    state: web::Data<AppState>,
    _: Operator,
    path: web::Path<LotteryId>,
    body: web::Json<LotteryInput>,
) -> AppResult<web::Json<LotteryAdminView>> {
    let id = path.into_inner();
    let input = body.into_inner();
    let v = state
        .tx(move |c| {
            let current = lotteries::editable(c, id)?.map_err(blocked)?;
            let mut lottery = input.into_lottery(id, current.created_at);
            lottery.closed_at = current.closed_at;
            check(c, &lottery)?;
            lotteries::update(c, &lottery)?;
            let l = lotteries::find(c, id)?.ok_or(AppError::NotFound)?;
            admin_view(c, l)
        })
        .await?;
    Ok(web::Json(v))
}

/// Deletes a lottery nobody has entered (`409 lottery-has-entries` once anyone has: close and
/// draw it instead).
#[utoipa::path(
    tag = "admin",
    security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "Lottery id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, description = "Malformed id", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such lottery", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "lottery-has-entries or already-drawn", body = Problem, content_type = "application/problem+json")
    )
)]
#[delete("/v1/admin/lotteries/{id}")]
pub(super) async fn admin_delete_lottery(
    state: web::Data<AppState>,
    _: Operator,
    path: web::Path<LotteryId>,
) -> AppResult<HttpResponse> {
    let id = path.into_inner();
    state
        .tx(move |c| {
            lotteries::editable(c, id)?.map_err(blocked)?;
            lotteries::delete(c, id)?;
            Ok(())
        })
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Closes a lottery to entries now (closing a closed one changes nothing).
#[utoipa::path(
    tag = "admin",
    security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "Lottery id")),
    responses(
        (status = 200, description = "Closed", body = LotteryAdminView),
        (status = 400, description = "Malformed id", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such lottery", body = Problem, content_type = "application/problem+json")
    )
)]
#[post("/v1/admin/lotteries/{id}/close")]
pub(super) async fn admin_close_lottery(
    state: web::Data<AppState>,
    _: Operator,
    path: web::Path<LotteryId>,
) -> AppResult<web::Json<LotteryAdminView>> {
    let id = path.into_inner();
    let v = state
        .tx(move |c| {
            let l = lotteries::close(c, id)?.ok_or(AppError::NotFound)?;
            admin_view(c, l)
        })
        .await?;
    Ok(web::Json(v))
}

/// `POST /v1/admin/lotteries/{id}/draw` body.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DrawInput {
    /// Seed, 1–200 characters (e.g. a publicly announced number); a random one when absent.
    #[schema(min_length = 1, max_length = 200)]
    pub seed: Option<String>,
}

/// The result of a draw.
#[derive(Debug, Serialize, ToSchema)]
pub struct DrawView {
    /// The seed used (recorded with the lottery).
    pub seed: String,
    /// Winners' user ids in the order drawn.
    pub winners: Vec<uuid::Uuid>,
}

/// Closes the lottery if still open and draws its winners, weighted by tickets, with a recorded
/// seed: the same seed and entries always give the same winners. A lottery is drawn once
/// (`409 already-drawn` afterwards; its result stays readable).
#[utoipa::path(
    tag = "admin",
    security(("bearer" = [])),
    request_body = DrawInput,
    params(("id" = uuid::Uuid, Path, description = "Lottery id")),
    responses(
        (status = 200, description = "Drawn", body = DrawView),
        (status = 400, description = "Malformed id or body", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such lottery", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "already-drawn", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Seed out of range", body = Problem, content_type = "application/problem+json")
    )
)]
#[post("/v1/admin/lotteries/{id}/draw")]
pub(super) async fn admin_draw_lottery(
    state: web::Data<AppState>,
    _: Operator,
    path: web::Path<LotteryId>,
    body: web::Json<DrawInput>,
) -> AppResult<web::Json<DrawView>> {
    let id = path.into_inner();
    let seed = match body.into_inner().seed {
        Some(s) if s.is_empty() || s.chars().count() > 200 => {
            return Err(AppError::invalid("seed", "must be 1 to 200 characters"));
        }
        Some(s) => s,
        None => lotteries::random_seed(),
    };
    match state.tx(move |c| Ok(lotteries::draw(c, id, seed)?)).await? {
        Draw::Drawn { seed, winners } => Ok(web::Json(DrawView {
            seed,
            winners: winners.into_iter().map(|w| w.0).collect(),
        })),
        Draw::AlreadyDrawn => Err(blocked(lotteries::Blocked::Drawn)),
        Draw::NotFound => Err(AppError::NotFound),
    }
}
