//! Insights routes: the resident's insights per area and weekly programme, and a member's
//! insights for their organisation's health staff under individual consent. Messages are in
//! Japanese or English by `Accept-Language` (Japanese when neither is asked for); the answer
//! names its language in `Content-Language`.

use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, get, web};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use crate::accounts::tokens::Scope;
use crate::db::{OrgId, UserId};
use crate::error::{AppError, AppResult, Problem};
use crate::http::AppState;
use crate::http::auth::Principal;
use crate::http::measurements::{MeasurementView, view};
use crate::http::sharing::staff_reader;
use crate::insights::goals::{CheckupKind, Goal, GoalKind, GoalReason, StepGoalReason, WeekData, goal_progress};
use crate::insights::reference::{Level, Metric, Reference};
use crate::insights::store::{Area, AreaInsight, Subject, Viewer};
use crate::insights::trend::Direction;
use crate::insights::{Lang, messages, negotiate, store};
use crate::points::Earner;
use crate::sharing::individual;
use crate::sharing::orgs::StaffRole;
use crate::usecases;

/// A published reference (or a documented project convention) a classification cites.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReferenceView {
    /// Stable identifier.
    pub id: &'static str,
    /// Full name, as one would cite it.
    pub name: &'static str,
    /// Where to read it, when there is a stable address.
    pub url: Option<&'static str>,
    /// How the service uses it, and its limits.
    pub note: &'static str,
}

impl From<&'static Reference> for ReferenceView {
    fn from(r: &'static Reference) -> Self {
        ReferenceView {
            id: r.id,
            name: r.name,
            url: r.url,
            note: r.note,
        }
    }
}

/// A value's category against a published reference.
#[derive(Debug, Serialize, ToSchema)]
pub struct ClassificationView {
    /// What was classified.
    pub metric: Metric,
    /// The reference's category (snake_case, e.g. `high_normal`, `obesity_class_1`, `slow`).
    pub category: &'static str,
    /// How much attention it calls for.
    pub level: Level,
    /// The reference it comes from.
    pub reference: ReferenceView,
}

/// The value an area was classified by.
#[derive(Debug, Serialize, ToSchema)]
pub struct ValueView {
    /// What it is: `bmi`, `vascular_age_gap`, `walking_speed`, `daily_steps` (mean of the last 28
    /// days with steps), `sleep_duration` (the same, minutes a day), `checkup_age_days` (days since
    /// the last specific health checkup).
    pub metric: Metric,
    /// The value.
    pub value: f64,
    /// Its UCUM unit.
    pub unit: &'static str,
}

/// The direction and size of an area's change over the last 90 days.
#[derive(Debug, Serialize, ToSchema)]
pub struct TrendView {
    /// What the trend is of (`systolic_bp`, `body_weight`, `daily_steps`, …).
    pub metric: Metric,
    /// `rising`, `falling`, `flat`, or `insufficient_data` (fewer than 3 weeks with data, or
    /// less than 21 days between the first and last).
    pub direction: Direction,
    /// Least-squares change per 30 days, in the metric's unit.
    pub change_per_30_days: Option<f64>,
    /// The slope's change from the first to the last week with data (the direction is judged on
    /// what it projects over the whole window).
    pub change_over_period: Option<f64>,
    /// Weeks with data in the window.
    pub weeks: usize,
    /// The window, in days.
    pub window_days: i64,
}

/// One area's insight.
#[derive(Debug, Serialize, ToSchema)]
pub struct AreaView {
    /// `vascular`, `blood_pressure`, `body_composition`, `gait`, `activity`, `sleep` or `checkups`.
    pub area: Area,
    /// The newest measurement of the area (for health staff without the vascular age gap).
    pub latest: MeasurementView,
    /// The value classified, when there is one (BMI needs a `body_height` measurement, the
    /// vascular age gap a birth date, steps and sleep data of the last 28 days).
    pub value: Option<ValueView>,
    /// Its category against the named reference; null when the value is unknown or no
    /// reference applies (e.g. the checkup reference outside ages 40–74).
    pub classification: Option<ClassificationView>,
    /// The trend over the last 90 days, from the database's weekly (steps, sleep: daily)
    /// summaries; null for checkups.
    pub trend: Option<TrendView>,
    /// A short plain-language message in the response's language.
    pub message: String,
}

/// Insights per area with data.
#[derive(Debug, Serialize, ToSchema)]
pub struct InsightsView {
    /// `ja` or `en` (also in `Content-Language`).
    pub language: &'static str,
    /// That this is not a diagnosis.
    pub disclaimer: &'static str,
    /// The local day the insights are for.
    pub date: NaiveDate,
    /// Areas with data, in a fixed order.
    pub areas: Vec<AreaView>,
}

fn unit(metric: Metric) -> &'static str {
    match metric {
        Metric::SystolicBp | Metric::DiastolicBp | Metric::BloodPressure => "mm[Hg]",
        Metric::Bmi => "kg/m2",
        Metric::BodyWeight => "kg",
        Metric::BodyFatPct => "%",
        Metric::WalkingSpeed => "m/s",
        Metric::VascularAgeGap => "a",
        Metric::DailySteps => "/d",
        Metric::SleepDuration => "min/d",
        Metric::CheckupAgeDays => "d",
    }
}

fn area_view(a: AreaInsight, lang: Lang, birth_date: Option<NaiveDate>) -> AreaView {
    let direction = a.trend.as_ref().map(|(_, t)| t.direction);
    let message = match &a.classification {
        Some(c) => messages::message(c, direction, lang),
        None => {
            let mut m = messages::unclassified_text(a.area, lang).to_owned();
            if let Some(d) = direction {
                if lang == Lang::En {
                    m.push(' ');
                }
                m.push_str(&messages::trend_text(d, lang));
            }
            m
        }
    };
    AreaView {
        area: a.area,
        latest: view(a.latest, birth_date),
        value: a.value.map(|(metric, value)| ValueView {
            metric,
            value,
            unit: unit(metric),
        }),
        classification: a.classification.map(|c| ClassificationView {
            metric: c.metric,
            category: c.category,
            level: c.level,
            reference: c.reference.into(),
        }),
        trend: a.trend.map(|(metric, t)| TrendView {
            metric,
            direction: t.direction,
            change_per_30_days: t.change_per_30_days,
            change_over_period: t.change_over_period,
            weeks: t.buckets,
            window_days: crate::insights::reference::TREND.window_days,
        }),
        message,
    }
}

fn language(req: &HttpRequest) -> Lang {
    negotiate(req.headers().get(header::ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok()))
}

/// A JSON answer in `lang`, which varies with `Accept-Language`.
fn localised<T: Serialize>(lang: Lang, body: &T) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CONTENT_LANGUAGE, HeaderValue::from_static(lang.tag())))
        .insert_header((header::VARY, HeaderValue::from_static("Accept-Language")))
        .json(body)
}

fn insights_view(areas: Vec<AreaInsight>, lang: Lang, subject: &Subject) -> InsightsView {
    InsightsView {
        language: lang.tag(),
        disclaimer: messages::disclaimer(lang),
        date: subject.today,
        areas: areas
            .into_iter()
            .map(|a| area_view(a, lang, subject.birth_date))
            .collect(),
    }
}

/// The caller as the subject of their own insights, once the credential may read them.
fn own_subject(who: &Principal) -> AppResult<Subject> {
    who.require(Scope::MeasurementsRead)?;
    Ok(Subject {
        user_id: who.user_id,
        birth_date: who.user.birth_date,
        today: crate::calendar::today_in(&who.user.timezone),
    })
}

/// For each area with data: the newest measurement, the trend over the last 90 days, a
/// classification against a named published reference and a short message in Japanese or
/// English. Not a diagnosis (the answer says so). Needs `measurements:read`.
#[utoipa::path(
    tag = "insights",
    security(("bearer" = [])),
    params(("Accept-Language" = Option<String>, Header, description = "ja or en (default ja)")),
    responses((status = 200, description = "Insights per area", body = InsightsView,
        headers(("Content-Language" = String, description = "ja or en"))))
)]
#[get("/v1/me/insights")]
async fn my_insights(state: web::Data<AppState>, who: Principal, req: HttpRequest) -> AppResult<HttpResponse> {
    let subject = own_subject(&who)?;
    let lang = language(&req);
    let areas = state
        .db(move |c| Ok(store::insights(c, &subject, Viewer::Resident)?))
        .await?;
    Ok(localised(lang, &insights_view(areas, lang, &subject)))
}

/// A member's insights for the organisation's health staff (workplace health guidance): only
/// from the types an individual consent in force covers, without the member's birth date (so no
/// vascular age gap, and age-dependent references as for an adult under 65). Every type read is
/// written to the member's access log. 403 without such a consent.
#[utoipa::path(
    tag = "organisations",
    security(("bearer" = [])),
    params(
        ("org_id" = uuid::Uuid, Path, description = "Organisation id"),
        ("user_id" = uuid::Uuid, Path, description = "The member's account id"),
        ("Accept-Language" = Option<String>, Header, description = "ja or en (default ja)")
    ),
    responses(
        (status = 200, description = "Insights per consented area", body = InsightsView,
            headers(("Content-Language" = String, description = "ja or en"))),
        (status = 400, description = "Malformed id", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not this organisation's health staff, or no individual consent in force of this account covers an insight area (also for an unknown account)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such organisation", body = Problem, content_type = "application/problem+json")
    )
)]
#[get("/v1/orgs/{org_id}/members/{user_id}/insights")]
async fn member_insights(
    state: web::Data<AppState>,
    who: Principal,
    path: web::Path<(OrgId, UserId)>,
    req: HttpRequest,
) -> AppResult<HttpResponse> {
    let (org, subject) = path.into_inner();
    who.require_staff(org, StaffRole::HealthStaff)?;
    let lang = language(&req);
    let actor = who.user_id;
    let read = state
        .tx(move |c| {
            let reader = staff_reader(c, org, actor)?;
            individual::member_insights(c, &reader, subject)?.ok_or(AppError::Forbidden(NO_CONSENT))
        })
        .await?;
    let member = Subject {
        user_id: subject,
        birth_date: None,
        today: read.date,
    };
    Ok(localised(lang, &insights_view(read.areas, lang, &member)))
}

const NO_CONSENT: &str = "no individual consent of this member covers any insight area";

/// One goal of the week.
#[derive(Debug, Serialize, ToSchema)]
pub struct GoalView {
    /// `daily_steps`, `log_blood_pressure`, `log_weight`, `sleep_duration` or `book_checkup`.
    pub kind: &'static str,
    /// `daily_steps`: steps a day.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_steps: Option<u32>,
    /// `daily_steps`: how the target was set from earlier weeks.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub adjustment: Option<StepGoalReason>,
    /// `sleep_duration`: minutes a night.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_minutes: Option<f64>,
    /// `book_checkup`: which checkup.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checkup_kind: Option<CheckupKind>,
    /// Days of the week it is to be done on (1 for a checkup).
    pub target_days_per_week: u32,
    /// Why it was chosen.
    pub reason: GoalReason,
    /// What it asks, in the response's language.
    pub description: String,
    /// Why it was chosen, in the response's language (with how a step target was set).
    pub why: String,
    /// Days done so far this week (a checkup: 1 once recorded).
    pub days_done: u32,
    /// Whether the week's data meets it already (what `programme_goal` rules pay for).
    pub met: bool,
}

/// The week's plan.
#[derive(Debug, Serialize, ToSchema)]
pub struct WeekPlanView {
    /// `ja` or `en` (also in `Content-Language`).
    pub language: &'static str,
    /// That this is not a diagnosis or medical advice.
    pub disclaimer: &'static str,
    /// The week's Monday (the resident's local days).
    pub week_start: NaiveDate,
    /// Its Sunday.
    pub week_end: NaiveDate,
    /// When the plan was made (the first request of the week); it stays for the week.
    pub created_at: DateTime<Utc>,
    /// 3 to 5 goals, most pressing first.
    pub goals: Vec<GoalView>,
}

fn goal_view(g: &Goal, week: &WeekData, lang: Lang) -> GoalView {
    let (target_steps, adjustment, min_minutes, checkup_kind) = match &g.kind {
        GoalKind::DailySteps {
            target_steps,
            adjustment,
        } => (Some(*target_steps), Some(*adjustment), None, None),
        GoalKind::SleepDuration { min_minutes } => (None, None, Some(*min_minutes), None),
        GoalKind::BookCheckup { checkup_kind } => (None, None, None, Some(*checkup_kind)),
        GoalKind::LogBloodPressure | GoalKind::LogWeight => (None, None, None, None),
    };
    let mut why = messages::reason_text(g.reason, lang).to_owned();
    if let Some(a) = adjustment {
        if lang == Lang::En {
            why.push(' ');
        }
        why.push_str(messages::step_adjustment_text(a, lang));
    }
    let days_done = goal_progress(g, week);
    GoalView {
        kind: g.kind.code(),
        target_steps,
        adjustment,
        min_minutes,
        checkup_kind,
        target_days_per_week: g.target_days_per_week,
        reason: g.reason,
        description: messages::goal_text(g, lang),
        why,
        days_done,
        met: days_done >= g.target_days_per_week,
    }
}

/// This week's plan of 3–5 goals chosen from the resident's insights, each with why it was
/// chosen and how far the week has got. The daily step goal starts from the resident's recent
/// average and is raised after a week met on most days, lowered after a week missed on most,
/// within safe bounds (lower from 65). Made on the week's first request and then kept. Goals met
/// pay points under `programme_goal` reward rules. Needs `measurements:read`.
#[utoipa::path(
    tag = "insights",
    security(("bearer" = [])),
    params(("Accept-Language" = Option<String>, Header, description = "ja or en (default ja)")),
    responses((status = 200, description = "The week's plan", body = WeekPlanView,
        headers(("Content-Language" = String, description = "ja or en"))))
)]
#[get("/v1/me/programme")]
async fn my_programme(state: web::Data<AppState>, who: Principal, req: HttpRequest) -> AppResult<HttpResponse> {
    let subject = own_subject(&who)?;
    let lang = language(&req);
    let earner = Earner {
        user_id: who.user_id,
        birth_date: who.user.birth_date,
        timezone: crate::calendar::timezone(&who.user.timezone),
        since: who.user.created_at,
        // The weekly plan pays goals, which no rule may restrict to sensed data.
        vouches_sensed: false,
    };
    let (plan, week) = state
        .db(move |c| Ok(usecases::programme::this_week(c, &subject, &earner)?))
        .await?;
    let view = WeekPlanView {
        language: lang.tag(),
        disclaimer: messages::disclaimer(lang),
        week_start: plan.week_start,
        week_end: plan.week_start + Duration::days(6),
        created_at: plan.created_at.0,
        goals: plan.goals.iter().map(|g| goal_view(g, &week, lang)).collect(),
    };
    Ok(localised(lang, &view))
}

/// Registers the insights routes.
pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(my_insights).service(my_programme).service(member_insights);
}
