//! Event routes: operators create events with a check-in code; residents check in once per event.

use actix_web::{HttpResponse, delete, get, post, put, web};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::accounts::tokens::{Scope, normalize_pairing_code, random_code};
use crate::db::{EventId, Ts};
use crate::error::{AppError, AppResult, Problem};
use crate::http::AppState;
use crate::http::auth::{Operator, Principal};
use crate::http::paging::{PageQuery, Paged};
use crate::http::points::today_and_age;
use crate::points::events::{self, CheckIn, Event};
use crate::points::{self};

/// `POST /v1/admin/events` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EventInput {
    /// Programme that pays.
    pub programme: String,
    /// Title, 1–200 characters; also the ledger entry's title.
    #[schema(min_length = 1, max_length = 200)]
    pub title: String,
    /// Points for checking in, 1–1000 (not limited by the programme's daily cap).
    #[schema(minimum = 1, maximum = 1000)]
    pub points: i32,
    /// Check-in opens.
    pub starts_at: DateTime<Utc>,
    /// Check-in closes: after `starts_at`, at most a year later.
    pub ends_at: DateTime<Utc>,
}

/// An event, with its check-in code (operators only).
#[derive(Debug, Serialize, ToSchema)]
pub struct EventView {
    /// Event id.
    pub id: uuid::Uuid,
    /// Check-in code to show at the venue (8 characters; case, spaces and dashes are ignored when typed).
    pub code: String,
    /// Programme that pays.
    pub programme: String,
    /// Title.
    pub title: String,
    /// Points for checking in.
    pub points: i32,
    /// Check-in opens.
    pub starts_at: DateTime<Utc>,
    /// Check-in closes.
    pub ends_at: DateTime<Utc>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
}

impl From<Event> for EventView {
    fn from(e: Event) -> Self {
        EventView {
            id: e.id.0,
            code: e.code,
            programme: e.programme_id,
            title: e.title,
            points: e.points,
            starts_at: e.starts_at.0,
            ends_at: e.ends_at.0,
            created_at: e.created_at.0,
        }
    }
}

impl EventInput {
    fn into_event(self, id: EventId, code: String, created_at: Ts) -> Event {
        Event {
            id,
            programme_id: self.programme,
            title: self.title.trim().to_owned(),
            points: self.points,
            code,
            starts_at: self.starts_at.into(),
            ends_at: self.ends_at.into(),
            created_at,
        }
    }
}

fn check(c: &mut crate::db::DbConn, event: &Event) -> AppResult<()> {
    let programmes: Vec<String> = points::programme_ids(c)?;
    let errors = events::validate(event, &programmes);
    if errors.is_empty() {
        Ok(())
    } else {
        Err(AppError::Validation(errors))
    }
}

/// Creates an event; the answer carries its check-in code.
#[utoipa::path(
    tag = "admin",
    security(("bearer" = [])),
    request_body = EventInput,
    responses(
        (status = 201, description = "Created", body = EventView),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json")
    )
)]
#[post("/v1/admin/events")]
async fn admin_create_event(
    state: web::Data<AppState>,
    _: Operator,
    body: web::Json<EventInput>,
) -> AppResult<HttpResponse> {
    let mut event = body.into_inner().into_event(EventId::new(), String::new(), Ts::now());
    let created = state
        .tx(move |c| {
            check(c, &event)?;
            // 32^8 codes: a clash is unlikely, and a few redraws make it vanishingly so.
            for _ in 0..5 {
                event.code = random_code();
                if !events::code_taken(c, &event.code)? {
                    break;
                }
            }
            events::create(c, &event)?;
            Ok(event)
        })
        .await?;
    Ok(HttpResponse::Created().json(EventView::from(created)))
}

/// Every event, newest first (operators only).
#[utoipa::path(
    tag = "admin",
    security(("bearer" = [])),
    params(PageQuery),
    responses(
        (status = 200, description = "A page of events", body = Paged<EventView>),
        (status = 400, description = "Malformed cursor", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Limit out of range", body = Problem, content_type = "application/problem+json")
    )
)]
#[get("/v1/admin/events")]
async fn admin_list_events(
    state: web::Data<AppState>,
    _: Operator,
    query: web::Query<PageQuery>,
) -> AppResult<web::Json<Paged<EventView>>> {
    let page = query.page()?;
    let rows = state
        .db(move |c| Ok(events::list(c, page.after, PageQuery::fetch(page))?))
        .await?;
    let paged = Paged::from_rows(page, rows, |e| e.id, EventView::from);
    Ok(web::Json(paged))
}

/// One event, with its code.
#[utoipa::path(
    tag = "admin",
    security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "Event id")),
    responses(
        (status = 200, description = "The event", body = EventView),
        (status = 400, description = "Malformed id", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such event", body = Problem, content_type = "application/problem+json")
    )
)]
#[get("/v1/admin/events/{id}")]
async fn admin_get_event(
    state: web::Data<AppState>,
    _: Operator,
    path: web::Path<EventId>,
) -> AppResult<web::Json<EventView>> {
    let id = path.into_inner();
    let event = state
        .db(move |c| events::find(c, id)?.ok_or(AppError::NotFound))
        .await?;
    Ok(web::Json(event.into()))
}

/// Changes an event (its code stays). Check-ins already paid keep their points.
#[utoipa::path(
    tag = "admin",
    security(("bearer" = [])),
    request_body = EventInput,
    params(("id" = uuid::Uuid, Path, description = "Event id")),
    responses(
        (status = 200, description = "Changed", body = EventView),
        (status = 400, description = "Malformed id or body", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such event", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json")
    )
)]
#[put("/v1/admin/events/{id}")]
async fn admin_update_event(
    state: web::Data<AppState>,
    _: Operator,
    path: web::Path<EventId>,
    body: web::Json<EventInput>,
) -> AppResult<web::Json<EventView>> {
    let id = path.into_inner();
    let input = body.into_inner();
    let event = state
        .tx(move |c| {
            let current = events::find(c, id)?.ok_or(AppError::NotFound)?;
            let event = input.into_event(id, current.code, current.created_at);
            check(c, &event)?;
            events::update(c, &event)?;
            Ok(event)
        })
        .await?;
    Ok(web::Json(event.into()))
}

/// Deletes an event: its code stops working; check-ins already paid stay in residents' ledgers.
#[utoipa::path(
    tag = "admin",
    security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "Event id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, description = "Malformed id", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such event", body = Problem, content_type = "application/problem+json")
    )
)]
#[delete("/v1/admin/events/{id}")]
async fn admin_delete_event(
    state: web::Data<AppState>,
    _: Operator,
    path: web::Path<EventId>,
) -> AppResult<HttpResponse> {
    let id = path.into_inner();
    if state.tx(move |c| Ok(events::delete(c, id)?)).await? {
        Ok(HttpResponse::NoContent().finish())
    } else {
        Err(AppError::NotFound)
    }
}

/// `POST /v1/events/check-in` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckInInput {
    /// The code shown at the event (case, spaces and dashes are ignored).
    #[schema(min_length = 1, max_length = 32)]
    pub code: String,
}

/// The result of a check-in.
#[derive(Debug, Serialize, ToSchema)]
pub struct CheckInView {
    /// Event id.
    pub event_id: uuid::Uuid,
    /// Event title.
    pub title: String,
    /// Programme that paid.
    pub programme: String,
    /// Points the check-in paid.
    pub points: i32,
    /// The resident's day it counts for.
    pub local_date: NaiveDate,
    /// The ledger entry that paid.
    pub ledger_entry_id: uuid::Uuid,
    /// True when the resident had already checked in (nothing paid again).
    pub already_checked_in: bool,
}

/// Checks the caller in at an event: its points once per event, during its window. A repeat
/// answers 200 with the first check-in; outside the window `409 event-not-open`. Needs a login
/// session.
#[utoipa::path(
    tag = "points",
    security(("bearer" = [])),
    request_body = CheckInInput,
    responses(
        (status = 201, description = "Checked in and paid", body = CheckInView),
        (status = 200, description = "Checked in before: nothing paid again", body = CheckInView),
        (status = 400, description = "Malformed body", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No event with this code in the caller's programmes", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "event-not-open", body = Problem, content_type = "application/problem+json")
    )
)]
#[post("/v1/events/check-in")]
async fn check_in(
    state: web::Data<AppState>,
    who: Principal,
    body: web::Json<CheckInInput>,
) -> AppResult<HttpResponse> {
    who.require(Scope::Account)?;
    let code = normalize_pairing_code(&body.into_inner().code);
    let (today, age) = today_and_age(&who);
    let user_id = who.user_id;
    let (event, outcome) = state
        .tx(move |c| {
            let programmes = points::eligible_programme_ids(c, user_id, age)?;
            let event = events::find_by_code(c, &code, &programmes)?.ok_or(AppError::NotFound)?;
            let outcome = events::check_in(c, user_id, &event, today)?;
            Ok((event, outcome))
        })
        .await?;
    let (view, fresh) = checked_in(event, outcome)?;
    Ok(if fresh {
        HttpResponse::Created().json(view)
    } else {
        HttpResponse::Ok().json(view)
    })
}

/// What a check-in came to: the points (and whether they were paid now rather than before), or
/// the refusal.
fn checked_in(event: Event, outcome: CheckIn) -> AppResult<(CheckInView, bool)> {
    let (entry, fresh) = match outcome {
        CheckIn::Paid(e) => (e, true),
        CheckIn::Already(e) => (e, false),
        CheckIn::NotOpen => {
            return Err(AppError::StateConflict {
                refusal: crate::error::Refusal::EventNotOpen,
                detail: "check-in is open only during the event".to_owned(),
            });
        }
    };
    let view = CheckInView {
        event_id: event.id.0,
        title: event.title,
        programme: event.programme_id,
        points: entry.delta,
        local_date: entry.local_date,
        ledger_entry_id: entry.id.0,
        already_checked_in: !fresh,
    };
    Ok((view, fresh))
}

/// Registers the event routes.
pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(admin_create_event)
        .service(admin_list_events)
        .service(admin_get_event)
        .service(admin_update_event)
        .service(admin_delete_event)
        .service(check_in);
}
