//! Lottery routes: residents list lotteries and buy tickets with points; operators create, close
//! and draw them.

use actix_web::{HttpResponse, delete, get, post, put, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::accounts::tokens::Scope;
use crate::db::{Id, Ts};
use crate::error::{AppError, AppResult, Problem};
use crate::http::AppState;
use crate::http::auth::Principal;
use crate::http::paging::{PageQuery, Paged};
use crate::http::points::today_and_age;
use crate::points::lotteries::{self, Draw, Enter, Lottery};
use crate::points::{self};

/// Where a lottery stands.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LotteryStatus {
    /// Taking entries.
    Open,
    /// No more entries; not drawn yet.
    Closed,
    /// Winners drawn.
    Drawn,
}

impl From<lotteries::Status> for LotteryStatus {
    fn from(s: lotteries::Status) -> Self {
        match s {
            lotteries::Status::Open => LotteryStatus::Open,
            lotteries::Status::Closed => LotteryStatus::Closed,
            lotteries::Status::Drawn => LotteryStatus::Drawn,
        }
    }
}

/// A lottery as a resident sees it.
#[derive(Debug, Serialize, ToSchema)]
pub struct LotteryView {
    /// Lottery id.
    pub id: uuid::Uuid,
    /// Programme whose points buy tickets.
    pub programme: String,
    /// Title.
    pub title: String,
    /// What winners get.
    pub prize: String,
    /// Points per ticket.
    pub cost_per_entry: i32,
    /// Number of winners.
    pub winners: i32,
    /// Entries close at this instant.
    pub closes_at: DateTime<Utc>,
    /// Open, closed or drawn.
    pub status: LotteryStatus,
    /// Tickets the caller holds.
    pub my_tickets: i64,
    /// Whether the caller won; null until drawn.
    pub won: Option<bool>,
}

fn view(l: Lottery, now: Ts, my_tickets: i64, won: bool) -> LotteryView {
    let status = l.status(now);
    LotteryView {
        id: l.id.0,
        programme: l.programme_id,
        title: l.title,
        prize: l.prize,
        cost_per_entry: l.cost_per_entry,
        winners: l.winners,
        closes_at: l.closes_at.0,
        status: status.into(),
        my_tickets,
        won: (status == lotteries::Status::Drawn).then_some(won),
    }
}

/// The lotteries of the programmes the caller may earn in, newest first, with the caller's
/// tickets and wins.
#[utoipa::path(
    tag = "points",
    security(("bearer" = [])),
    params(PageQuery),
    responses(
        (status = 200, description = "A page of lotteries", body = Paged<LotteryView>),
        (status = 400, description = "Malformed cursor", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Limit out of range", body = Problem, content_type = "application/problem+json")
    )
)]
#[get("/v1/lotteries")]
async fn list_lotteries(
    state: web::Data<AppState>,
    who: Principal,
    query: web::Query<PageQuery>,
) -> AppResult<web::Json<Paged<LotteryView>>> {
    who.require(Scope::PointsRead)?;
    let page = query.page()?;
    let (_, age) = today_and_age(&who);
    let user_id = who.user_id;
    let (rows, tickets, won) = state
        .db(move |c| {
            let ids = points::eligible_programme_ids(c, user_id, age)?;
            let rows = lotteries::list(c, &ids, page.after, PageQuery::fetch(page))?;
            let lottery_ids: Vec<Id> = rows.iter().map(|l| l.id).collect();
            let (tickets, won) = lotteries::my_part(c, user_id, &lottery_ids)?;
            Ok((rows, tickets, won))
        })
        .await?;
    let now = Ts::now();
    let paged = Paged::from_rows(
        page,
        rows,
        |l| l.id,
        |l| {
            let id = l.id;
            view(l, now, tickets.get(&id).copied().unwrap_or(0), won.contains(&id))
        },
    );
    Ok(web::Json(paged))
}

/// Loads a lottery the caller may take part in, with their part in it.
fn visible(c: &mut crate::db::DbConn, user_id: Id, age: Option<i32>, id: Id) -> AppResult<(Lottery, i64, bool)> {
    let programmes = points::eligible_programme_ids(c, user_id, age)?;
    let lottery = lotteries::find_in(c, id, &programmes)?.ok_or(AppError::NotFound)?;
    let (tickets, won) = lotteries::my_part(c, user_id, &[id])?;
    Ok((lottery, tickets.get(&id).copied().unwrap_or(0), won.contains(&id)))
}

/// One lottery, with the caller's tickets and whether they won.
#[utoipa::path(
    tag = "points",
    security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "Lottery id")),
    responses(
        (status = 200, description = "The lottery", body = LotteryView),
        (status = 400, description = "Malformed id", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such lottery in the caller's programmes", body = Problem, content_type = "application/problem+json")
    )
)]
#[get("/v1/lotteries/{id}")]
async fn get_lottery(
    state: web::Data<AppState>,
    who: Principal,
    path: web::Path<uuid::Uuid>,
) -> AppResult<web::Json<LotteryView>> {
    who.require(Scope::PointsRead)?;
    let (id, user_id) = (Id(path.into_inner()), who.user_id);
    let (_, age) = today_and_age(&who);
    let (lottery, tickets, won) = state.db(move |c| visible(c, user_id, age, id)).await?;
    Ok(web::Json(view(lottery, Ts::now(), tickets, won)))
}

/// `POST /v1/lotteries/{id}/entries` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EntryInput {
    /// Tickets to buy, 1–1000; each costs the lottery's `cost_per_entry` points.
    #[schema(minimum = 1, maximum = 1000)]
    pub count: i64,
    /// The client's reference for this purchase (1–100 characters): a retry with the same
    /// reference returns the first purchase (200) and spends nothing again.
    #[schema(min_length = 1, max_length = 100)]
    pub client_ref: Option<String>,
}

/// One purchase of tickets.
#[derive(Debug, Serialize, ToSchema)]
pub struct EntryView {
    /// Entry id.
    pub id: uuid::Uuid,
    /// Lottery.
    pub lottery_id: uuid::Uuid,
    /// Tickets bought.
    pub tickets: i32,
    /// Points spent.
    pub points_spent: i32,
    /// The client's reference, if given.
    pub client_ref: Option<String>,
    /// When it was bought.
    pub created_at: DateTime<Utc>,
    /// The caller's balance in the lottery's programme afterwards.
    pub balance: i32,
}

/// Buys tickets with points: `409 insufficient-points` when the balance is short (nothing is
/// spent), `409 lottery-closed` after the lottery closes. The balance never goes below zero,
/// however many purchases race. Needs a login session (an app token cannot spend points).
#[utoipa::path(
    tag = "points",
    security(("bearer" = [])),
    request_body = EntryInput,
    params(("id" = uuid::Uuid, Path, description = "Lottery id")),
    responses(
        (status = 201, description = "Bought", body = EntryView),
        (status = 200, description = "A retry of an earlier purchase (same client_ref): nothing spent again", body = EntryView),
        (status = 400, description = "Malformed id or body", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such lottery in the caller's programmes", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "insufficient-points or lottery-closed", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Count or client_ref out of range", body = Problem, content_type = "application/problem+json")
    )
)]
#[post("/v1/lotteries/{id}/entries")]
async fn enter_lottery(
    state: web::Data<AppState>,
    who: Principal,
    path: web::Path<uuid::Uuid>,
    body: web::Json<EntryInput>,
) -> AppResult<HttpResponse> {
    who.require(Scope::Account)?;
    let id = Id(path.into_inner());
    let input = body.into_inner();
    let tickets = lotteries::validate_entry(input.count, input.client_ref.as_deref()).map_err(AppError::Validation)?;
    let (today, age) = today_and_age(&who);
    let user_id = who.user_id;
    let outcome = state
        .tx(move |c| {
            let programmes = points::eligible_programme_ids(c, user_id, age)?;
            Ok(lotteries::enter(
                c,
                user_id,
                &programmes,
                id,
                tickets,
                input.client_ref,
                today,
            )?)
        })
        .await?;
    let (entry, balance, created) = match outcome {
        Enter::Bought(e, balance) => (e, balance, true),
        Enter::Repeated(e, balance) => (e, balance, false),
        Enter::NotFound => return Err(AppError::NotFound),
        Enter::NotOpen => {
            return Err(AppError::StateConflict {
                slug: "lottery-closed",
                detail: "the lottery no longer takes entries".to_owned(),
            });
        }
        Enter::Short { price, balance } => {
            return Err(AppError::StateConflict {
                slug: "insufficient-points",
                detail: format!("the tickets cost {price} points and the balance is {balance}"),
            });
        }
    };
    let body = EntryView {
        id: entry.id.0,
        lottery_id: entry.lottery_id.0,
        tickets: entry.tickets,
        points_spent: entry.points_spent,
        client_ref: entry.client_ref,
        created_at: entry.created_at.0,
        balance,
    };
    Ok(if created {
        HttpResponse::Created().json(body)
    } else {
        HttpResponse::Ok().json(body)
    })
}

/// One of the caller's purchases, with its lottery.
#[derive(Debug, Serialize, ToSchema)]
pub struct MyEntryView {
    /// Entry id.
    pub id: uuid::Uuid,
    /// Lottery.
    pub lottery_id: uuid::Uuid,
    /// The lottery's title.
    pub lottery_title: String,
    /// Open, closed or drawn.
    pub lottery_status: LotteryStatus,
    /// Tickets bought.
    pub tickets: i32,
    /// Points spent.
    pub points_spent: i32,
    /// When it was bought.
    pub created_at: DateTime<Utc>,
    /// Whether the caller won the lottery; null until drawn.
    pub won: Option<bool>,
}

/// The caller's lottery entries and wins, newest first.
#[utoipa::path(
    tag = "points",
    security(("bearer" = [])),
    params(PageQuery),
    responses(
        (status = 200, description = "A page of entries", body = Paged<MyEntryView>),
        (status = 400, description = "Malformed cursor", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Limit out of range", body = Problem, content_type = "application/problem+json")
    )
)]
#[get("/v1/me/lottery-entries")]
async fn my_entries(
    state: web::Data<AppState>,
    who: Principal,
    query: web::Query<PageQuery>,
) -> AppResult<web::Json<Paged<MyEntryView>>> {
    who.require(Scope::PointsRead)?;
    let page = query.page()?;
    let user_id = who.user_id;
    let (rows, won) = state
        .db(move |c| {
            let rows = lotteries::entries_of(c, user_id, page.after, PageQuery::fetch(page))?;
            let ids: Vec<Id> = rows.iter().map(|(_, l)| l.id).collect();
            let (_, won) = lotteries::my_part(c, user_id, &ids)?;
            Ok((rows, won))
        })
        .await?;
    let now = Ts::now();
    let paged = Paged::from_rows(
        page,
        rows,
        |(e, _)| e.id,
        |(e, l)| {
            let status = l.status(now);
            MyEntryView {
                id: e.id.0,
                lottery_id: l.id.0,
                lottery_title: l.title,
                lottery_status: status.into(),
                tickets: e.tickets,
                points_spent: e.points_spent,
                created_at: e.created_at.0,
                won: (status == lotteries::Status::Drawn).then_some(won.contains(&l.id)),
            }
        },
    );
    Ok(web::Json(paged))
}

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
    fn into_lottery(self, id: Id, created_at: Ts) -> Lottery {
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
            slug: "already-drawn",
            detail: "the lottery has been drawn; its seed and winners are recorded".to_owned(),
        },
        lotteries::Blocked::HasEntries => AppError::StateConflict {
            slug: "lottery-has-entries",
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
async fn admin_create_lottery(
    state: web::Data<AppState>,
    who: Principal,
    body: web::Json<LotteryInput>,
) -> AppResult<HttpResponse> {
    who.require_admin()?;
    let lottery = body.into_inner().into_lottery(Id::new(), Ts::now());
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
async fn admin_list_lotteries(
    state: web::Data<AppState>,
    who: Principal,
    query: web::Query<PageQuery>,
) -> AppResult<web::Json<Paged<LotteryAdminView>>> {
    who.require_admin()?;
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
    let paged = Paged::from_rows(page, views, |v| Id(v.id), |v| v);
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
async fn admin_get_lottery(
    state: web::Data<AppState>,
    who: Principal,
    path: web::Path<uuid::Uuid>,
) -> AppResult<web::Json<LotteryAdminView>> {
    who.require_admin()?;
    let id = Id(path.into_inner());
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
async fn admin_update_lottery(
    state: web::Data<AppState>,
    who: Principal,
    path: web::Path<uuid::Uuid>,
    body: web::Json<LotteryInput>,
) -> AppResult<web::Json<LotteryAdminView>> {
    who.require_admin()?;
    let id = Id(path.into_inner());
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
async fn admin_delete_lottery(
    state: web::Data<AppState>,
    who: Principal,
    path: web::Path<uuid::Uuid>,
) -> AppResult<HttpResponse> {
    who.require_admin()?;
    let id = Id(path.into_inner());
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
async fn admin_close_lottery(
    state: web::Data<AppState>,
    who: Principal,
    path: web::Path<uuid::Uuid>,
) -> AppResult<web::Json<LotteryAdminView>> {
    who.require_admin()?;
    let id = Id(path.into_inner());
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
async fn admin_draw_lottery(
    state: web::Data<AppState>,
    who: Principal,
    path: web::Path<uuid::Uuid>,
    body: web::Json<DrawInput>,
) -> AppResult<web::Json<DrawView>> {
    who.require_admin()?;
    let id = Id(path.into_inner());
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

/// Registers the lottery routes.
pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(list_lotteries)
        .service(get_lottery)
        .service(enter_lottery)
        .service(my_entries)
        .service(admin_create_lottery)
        .service(admin_list_lotteries)
        .service(admin_get_lottery)
        .service(admin_update_lottery)
        .service(admin_delete_lottery)
        .service(admin_close_lottery)
        .service(admin_draw_lottery);
}
