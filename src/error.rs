//! The one error type of the service, rendered as RFC 9457 `application/problem+json`.
//!
//! Statuses are honest: not found 404, unique violation 409, pool exhausted or connection lost 503,
//! everything unexpected a 500 that is logged in full and says nothing internal to the client.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use serde::Serialize;
use utoipa::ToSchema;

/// Result alias for domain and handler code.
pub type AppResult<T> = Result<T, AppError>;

/// One field that failed validation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct FieldError {
    /// JSON path of the field, e.g. `password` or `items[3].values.kg`.
    pub field: String,
    /// What is wrong with it, in plain English.
    pub message: String,
}

impl FieldError {
    /// A field error.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        FieldError {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// Every error a request can end in.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// 400: malformed JSON, wrong types, unparsable query or path.
    #[error("bad request: {0}")]
    BadRequest(String),
    /// 401: no credentials, or credentials that are invalid, expired or revoked.
    #[error("unauthorized")]
    Unauthorized,
    /// 401 for a registered app's client credentials (HTTP Basic) that are missing where required,
    /// malformed, unknown or wrong.
    #[error("client unauthorized")]
    ClientUnauthorized,
    /// 403: authenticated, but not allowed to do this.
    #[error("forbidden: {0}")]
    Forbidden(&'static str),
    /// 404: no such resource, or not the caller's.
    #[error("not found")]
    NotFound,
    /// 404 for a path that no route serves.
    #[error("no such route")]
    NoRoute,
    /// 409: conflicts with the current state.
    #[error("conflict: {0}")]
    Conflict(String),
    /// 409 with its own problem type, so clients can tell e.g. `insufficient-points` from
    /// `lottery-closed` without parsing the detail.
    #[error("{}: {detail}", refusal.slug())]
    StateConflict {
        /// Which state refused the request (its problem type).
        refusal: Refusal,
        /// Explanation safe to show.
        detail: String,
    },
    /// 413: the body exceeds the limit.
    #[error("payload too large")]
    PayloadTooLarge,
    /// 415: the body is not JSON.
    #[error("unsupported media type")]
    UnsupportedMediaType,
    /// 422: well-formed but invalid; each offending field is listed.
    #[error("validation failed")]
    Validation(Vec<FieldError>),
    /// 429: too many attempts; retry after the given number of seconds.
    #[error("too many requests")]
    TooManyRequests {
        /// Seconds until a retry may succeed.
        retry_after_secs: u64,
    },
    /// 507: the answer could not be stored for sending (an export over the spool's limit, or no
    /// disk space left).
    #[error("insufficient storage: {0}")]
    InsufficientStorage(String),
    /// 503: the database cannot be reached or the pool is exhausted.
    #[error("service unavailable: {0}")]
    Unavailable(String),
    /// 500: a bug or an unexpected failure. Logged; never shown to the client.
    #[error("internal error: {0}")]
    Internal(String),
}

/// The states that refuse a request with a 409 of their own problem type
/// (`{PROBLEM_TYPE_PREFIX}{slug}`): every such type the API has, in one place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The balance does not cover the tickets.
    InsufficientPoints,
    /// The lottery no longer takes entries.
    LotteryClosed,
    /// The lottery has been drawn; it is kept as drawn.
    AlreadyDrawn,
    /// Residents have spent points on the lottery; it can only be closed and drawn.
    LotteryHasEntries,
    /// Check-in is open only during the event.
    EventNotOpen,
    /// The last operator account cannot be erased.
    LastOperator,
    /// A programme with this id exists.
    ProgrammeExists,
    /// Residents have been members of the organisation; it is kept with their history.
    OrganizationHasMembers,
    /// A programme names the organisation.
    OrganizationSponsorsProgramme,
    /// The organisation's privacy budget for the year cannot cover the request.
    PrivacyBudgetExhausted,
}

impl Refusal {
    /// The problem type's last path segment, as documented in `openapi.yaml`.
    pub fn slug(self) -> &'static str {
        match self {
            Refusal::InsufficientPoints => "insufficient-points",
            Refusal::LotteryClosed => "lottery-closed",
            Refusal::AlreadyDrawn => "already-drawn",
            Refusal::LotteryHasEntries => "lottery-has-entries",
            Refusal::EventNotOpen => "event-not-open",
            Refusal::LastOperator => "last-operator",
            Refusal::ProgrammeExists => "programme-exists",
            Refusal::OrganizationHasMembers => "organization-has-members",
            Refusal::OrganizationSponsorsProgramme => "organization-sponsors-programme",
            Refusal::PrivacyBudgetExhausted => "privacy-budget-exhausted",
        }
    }
}

impl AppError {
    /// A 422 with a single field error.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        AppError::Validation(vec![FieldError::new(field, message)])
    }

    /// An internal error from any cause; the cause is logged, not sent.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        AppError::Internal(cause.to_string())
    }

    fn slug_and_title(&self) -> (&'static str, &'static str) {
        match self {
            AppError::BadRequest(_) => ("bad-request", "Bad request"),
            AppError::Unauthorized => ("unauthorized", "Unauthorized"),
            AppError::ClientUnauthorized => ("client-unauthorized", "Unauthorized"),
            AppError::Forbidden(_) => ("forbidden", "Forbidden"),
            AppError::NotFound => ("not-found", "Not found"),
            AppError::NoRoute => ("no-route", "No such route"),
            AppError::Conflict(_) => ("conflict", "Conflict"),
            AppError::StateConflict { refusal, .. } => (refusal.slug(), "Conflict"),
            AppError::PayloadTooLarge => ("payload-too-large", "Payload too large"),
            AppError::UnsupportedMediaType => ("unsupported-media-type", "Unsupported media type"),
            AppError::Validation(_) => ("validation", "Validation failed"),
            AppError::TooManyRequests { .. } => ("too-many-requests", "Too many requests"),
            AppError::InsufficientStorage(_) => ("insufficient-storage", "Insufficient storage"),
            AppError::Unavailable(_) => ("unavailable", "Service unavailable"),
            AppError::Internal(_) => ("internal", "Internal server error"),
        }
    }

    fn detail(&self) -> String {
        match self {
            AppError::BadRequest(d) | AppError::Conflict(d) | AppError::StateConflict { detail: d, .. } => d.clone(),
            AppError::Forbidden(d) => (*d).to_owned(),
            AppError::Unauthorized => "missing, invalid, expired or revoked credentials".to_owned(),
            AppError::ClientUnauthorized => {
                "missing, malformed or wrong client credentials (HTTP Basic client_id:client_secret)".to_owned()
            }
            AppError::NotFound => "the resource does not exist".to_owned(),
            AppError::NoRoute => "no route serves this method and path".to_owned(),
            AppError::PayloadTooLarge => "the request body exceeds the size limit".to_owned(),
            AppError::UnsupportedMediaType => "the request body must be application/json".to_owned(),
            AppError::Validation(_) => "one or more fields are invalid".to_owned(),
            AppError::TooManyRequests { retry_after_secs } => {
                format!("too many attempts; retry after {retry_after_secs} seconds")
            }
            AppError::InsufficientStorage(_) => {
                "the answer is too large to prepare for sending, or the server is out of disk space".to_owned()
            }
            AppError::Unavailable(_) => "the database is unavailable; retry shortly".to_owned(),
            AppError::Internal(_) => "an unexpected error occurred".to_owned(),
        }
    }

    /// The problem document for this error.
    pub fn problem(&self) -> Problem {
        let (slug, title) = self.slug_and_title();
        Problem {
            r#type: format!("{PROBLEM_TYPE_PREFIX}{slug}"),
            title: title.to_owned(),
            status: self.status_code().as_u16(),
            detail: self.detail(),
            errors: match self {
                AppError::Validation(e) => Some(e.clone()),
                _ => None,
            },
        }
    }
}

/// Prefix of every problem `type` URI.
pub const PROBLEM_TYPE_PREFIX: &str = "urn:karada:problem:";

/// An RFC 9457 problem document.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Problem {
    /// A URI naming the kind of problem, e.g. `urn:karada:problem:validation`.
    #[serde(rename = "type")]
    #[schema(rename = "type")]
    pub r#type: String,
    /// A short summary of the kind of problem.
    pub title: String,
    /// The HTTP status code.
    pub status: u16,
    /// An explanation of this occurrence, safe to show to the user.
    pub detail: String,
    /// For 422: every field that failed validation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<FieldError>>,
}

impl ResponseError for AppError {
    fn status_code(&self) -> StatusCode {
        match self {
            AppError::BadRequest(_) => StatusCode::BAD_REQUEST,
            AppError::Unauthorized | AppError::ClientUnauthorized => StatusCode::UNAUTHORIZED,
            AppError::Forbidden(_) => StatusCode::FORBIDDEN,
            AppError::NotFound | AppError::NoRoute => StatusCode::NOT_FOUND,
            AppError::Conflict(_) | AppError::StateConflict { .. } => StatusCode::CONFLICT,
            AppError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            AppError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            AppError::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            AppError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            AppError::InsufficientStorage(_) => StatusCode::INSUFFICIENT_STORAGE,
            AppError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            AppError::Internal(cause) => tracing::error!(%cause, "request failed"),
            AppError::InsufficientStorage(cause) => tracing::warn!(%cause, "answer not spooled"),
            AppError::Unavailable(cause) => tracing::warn!(%cause, "database unavailable"),
            _ => {}
        }
        let mut resp = HttpResponse::build(self.status_code());
        resp.insert_header((
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        ));
        match self {
            AppError::TooManyRequests { retry_after_secs } => {
                resp.insert_header((header::RETRY_AFTER, retry_after_secs.to_string()));
            }
            AppError::Unavailable(_) => {
                resp.insert_header((header::RETRY_AFTER, "1"));
            }
            AppError::Unauthorized => {
                resp.insert_header((header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer")));
            }
            AppError::ClientUnauthorized => {
                resp.insert_header((
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Basic realm=\"karada\""),
                ));
            }
            _ => {}
        }
        let body = serde_json::to_vec(&self.problem()).unwrap_or_default();
        resp.body(body)
    }
}

impl From<DieselError> for AppError {
    fn from(e: DieselError) -> Self {
        match e {
            DieselError::NotFound => AppError::NotFound,
            DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _) => {
                AppError::Conflict("conflicts with an existing resource".to_owned())
            }
            DieselError::DatabaseError(
                DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand,
                info,
            ) => AppError::Unavailable(info.message().to_owned()),
            DieselError::DatabaseError(_, ref info) if is_unavailable(info.message()) => {
                AppError::Unavailable(info.message().to_owned())
            }
            other => AppError::Internal(other.to_string()),
        }
    }
}

/// Failures that mean "the database cannot serve now" but arrive as ordinary errors: SQLite's lock
/// held past `busy_timeout`, and PostgreSQL shutting down or terminating the session (SQLSTATE
/// 57P01–57P03, which diesel does not classify).
fn is_unavailable(message: &str) -> bool {
    const SIGNS: [&str; 5] = [
        "database is locked",
        "database is busy",
        "terminating connection",
        "the database system is",
        "server closed the connection",
    ];
    SIGNS.iter().any(|s| message.contains(s))
}

impl From<diesel::r2d2::PoolError> for AppError {
    fn from(e: diesel::r2d2::PoolError) -> Self {
        AppError::Unavailable(e.to_string())
    }
}

impl From<actix_web::error::BlockingError> for AppError {
    fn from(e: actix_web::error::BlockingError) -> Self {
        AppError::Internal(e.to_string())
    }
}
