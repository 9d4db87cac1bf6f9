//! The residents' side of lotteries: the open lotteries, one lottery, buying tickets with points and
//! the resident's own entries.

use crate::accounts::tokens::Scope;
use crate::db::{LotteryId, Ts, UserId};
use crate::error::{AppError, AppResult, Problem};
use crate::http::AppState;
use crate::http::auth::Principal;
use crate::http::paging::{PageQuery, Paged};
use crate::http::points::today_and_age;
use crate::points::lotteries::{self, Enter, Lottery};
use crate::points::{self};
use actix_web::{HttpResponse, get, post, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

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
pub(super) async fn list_lotteries(
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
            let lottery_ids: Vec<LotteryId> = rows.iter().map(|l| l.id).collect();
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
fn visible(
    c: &mut crate::db::DbConn,
    user_id: UserId,
    age: Option<i32>,
    id: LotteryId,
) -> AppResult<(Lottery, i64, bool)> {
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
pub(super) async fn get_lottery(
    state: web::Data<AppState>,
    who: Principal,
    path: web::Path<LotteryId>,
) -> AppResult<web::Json<LotteryView>> {
    who.require(Scope::PointsRead)?;
    let (id, user_id) = (path.into_inner(), who.user_id);
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
pub(super) async fn enter_lottery(
    state: web::Data<AppState>,
    who: Principal,
    path: web::Path<LotteryId>,
    body: web::Json<EntryInput>,
) -> AppResult<HttpResponse> {
    who.require(Scope::Account)?;
    let id = path.into_inner();
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
    let (body, created) = bought(outcome)?;
    Ok(if created {
        HttpResponse::Created().json(body)
    } else {
        HttpResponse::Ok().json(body)
    })
}

/// What an entry attempt came to: the purchase (and whether it was made now rather than
/// repeated), or the refusal.
fn bought(outcome: Enter) -> AppResult<(EntryView, bool)> {
    let (entry, balance, created) = match outcome {
        Enter::Bought(e, balance) => (e, balance, true),
        Enter::Repeated(e, balance) => (e, balance, false),
        Enter::NotFound => return Err(AppError::NotFound),
        Enter::NotOpen => {
            return Err(AppError::StateConflict {
                refusal: crate::error::Refusal::LotteryClosed,
                detail: "the lottery no longer takes entries".to_owned(),
            });
        }
        Enter::Short { price, balance } => {
            return Err(AppError::StateConflict {
                refusal: crate::error::Refusal::InsufficientPoints,
                detail: format!("the tickets cost {price} points and the balance is {balance}"),
            });
        }
    };
    let view = EntryView {
        id: entry.id.0,
        lottery_id: entry.lottery_id.0,
        tickets: entry.tickets,
        points_spent: entry.points_spent,
        client_ref: entry.client_ref,
        created_at: entry.created_at.0,
        balance,
    };
    Ok((view, created))
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
pub(super) async fn my_entries(
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
            let ids: Vec<LotteryId> = rows.iter().map(|(_, l)| l.id).collect();
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
