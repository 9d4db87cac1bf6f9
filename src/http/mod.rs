//! HTTP layer: routes, extractors, request/response types and problem+json errors. No SQL here.

pub mod accounts;
pub mod aggregates;
pub mod apps;
pub mod auth;
pub mod docs;
pub mod events;
pub mod guard;
pub mod insights;
pub mod limits;
pub mod lotteries;
pub mod measurements;
pub mod ops;
pub mod orgs;
pub mod paging;
pub mod points;
pub mod portability;
pub mod privacy;
pub mod sharing;
pub mod throttle;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::{ErrorHandlerResponse, ErrorHandlers};
use actix_web::{App, HttpMessage, HttpRequest, HttpResponse, web};
use actix_web_prom::{PrometheusMetrics, PrometheusMetricsBuilder};
use utoipa::OpenApi;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{Components, RefOr, Response};
use utoipa_actix_web::AppExt;

use crate::accounts::tokens::JwtKeys;
use crate::db::{self, DbConn, Pool};
use crate::error::{AppError, AppResult, Problem};

/// Runtime settings that handlers read.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Largest accepted request body, in bytes.
    pub body_limit: usize,
    /// Minimum people per published aggregate cell.
    pub k_min: u32,
    /// Bearer token that `GET /metrics` requires; without one the route answers 404.
    pub metrics_token: Option<String>,
    /// Exports one account may have in flight (from the request until the answer is sent).
    pub exports_per_account: usize,
    /// Where export spool files are made (the system's temporary directory when unset).
    pub export_spool_dir: Option<std::path::PathBuf>,
    /// Largest export, in bytes, that is spooled (507 beyond).
    pub export_max_bytes: u64,
    /// Authenticated requests one account may have in flight (each holds at most one database
    /// connection); `None`: half the pool. More wait up to `request_wait`, then 429.
    pub requests_per_account: Option<usize>,
    /// Longest wait for one of the account's request slots.
    pub request_wait: std::time::Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            body_limit: 1024 * 1024,
            k_min: 10,
            metrics_token: None,
            exports_per_account: 2,
            export_spool_dir: None,
            export_max_bytes: 4 << 30,
            requests_per_account: None,
            request_wait: std::time::Duration::from_secs(5),
        }
    }
}

/// Everything a handler needs, shared by all workers.
pub struct AppState {
    /// Database pool.
    pub pool: Pool,
    /// Access-token keys.
    pub keys: JwtKeys,
    /// Settings.
    pub settings: Settings,
    /// Login and pairing throttles.
    pub throttle: throttle::Throttle,
    /// Request metrics middleware and its registry.
    pub metrics: PrometheusMetrics,
    /// Connection-pool gauges.
    pub pool_gauges: ops::PoolGauges,
    /// Per-account slots for requests in flight.
    pub gate: limits::AccountGate,
    /// Per-account slots for exports in flight.
    pub exports: limits::ExportSlots,
}

impl AppState {
    /// Builds the state. Fails only if the metrics registry cannot be set up.
    pub fn new(pool: Pool, keys: JwtKeys, settings: Settings, throttle: throttle::Throttle) -> AppResult<Self> {
        let metrics = PrometheusMetricsBuilder::new("karada")
            .mask_unmatched_patterns("UNKNOWN")
            .buckets(&[0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0])
            .build()
            .map_err(AppError::internal)?;
        let pool_gauges = ops::register_pool_metrics(&metrics.registry).map_err(AppError::internal)?;
        // Half the pool: one account's requests can never hold every connection.
        let per_account = settings
            .requests_per_account
            .unwrap_or_else(|| usize::try_from(pool.max_size() / 2).unwrap_or(1));
        let gate = limits::AccountGate::new(per_account, settings.request_wait);
        let exports = limits::ExportSlots::new(settings.exports_per_account, 10);
        Ok(AppState {
            pool,
            keys,
            settings,
            throttle,
            metrics,
            pool_gauges,
            gate,
            exports,
        })
    }

    /// Runs `f` with a pooled connection on the blocking pool (diesel is synchronous; async workers
    /// must never wait on the database).
    pub async fn db<T, F>(&self, f: F) -> AppResult<T>
    where
        F: FnOnce(&mut DbConn) -> AppResult<T> + Send + 'static,
        T: Send + 'static,
    {
        let pool = self.pool.clone();
        web::block(move || {
            let mut conn = pool.get()?;
            f(&mut conn)
        })
        .await?
    }

    /// Like [`AppState::db`], with `f` inside one transaction.
    pub async fn tx<T, F>(&self, f: F) -> AppResult<T>
    where
        F: FnOnce(&mut DbConn) -> AppResult<T> + Send + 'static,
        T: Send + 'static,
    {
        self.db(move |conn| db::transaction(conn, f)).await
    }
}

/// Registers every route. Each handler carries its `#[utoipa::path]`, so a route cannot be served
/// without being documented.
pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    ops::routes(cfg);
    accounts::routes(cfg);
    apps::routes(cfg);
    portability::routes(cfg);
    measurements::routes(cfg);
    points::routes(cfg);
    lotteries::routes(cfg);
    events::routes(cfg);
    orgs::routes(cfg);
    sharing::routes(cfg);
    aggregates::routes(cfg);
    privacy::routes(cfg);
    insights::routes(cfg);
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Karada API",
        description = "Personal health record service: measurements, health points and consent-based sharing.",
        license(name = "MIT OR Apache-2.0")
    ),
    components(schemas(Problem)),
    tags(
        (name = "operations", description = "Health, readiness, metrics and this document"),
        (name = "auth", description = "Registration, login and token refresh"),
        (name = "account", description = "The signed-in resident's account, app tokens and pairing"),
        (name = "measurements", description = "The measurement catalogue, uploads and the resident's own reads"),
        (name = "points", description = "Health points: balances, ledger and how to earn"),
        (name = "insights", description = "The resident's insights per area and weekly programme (not a diagnosis)"),
        (name = "sharing", description = "The resident's memberships, consents, receipts and access log"),
        (name = "organisations", description = "Organisation staff: enrollment codes, individual reads under consent, aggregates"),
        (name = "admin", description = "Platform operators")
    )
)]
struct ApiDoc;

/// The OpenAPI document, derived from the registered handlers.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let (_, mut api) = App::new()
        .into_utoipa_app()
        .openapi(ApiDoc::openapi())
        .configure(routes)
        .split_for_parts();
    let components = api.components.get_or_insert_with(Components::new);
    components.add_security_scheme(
        "bearer",
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .description(Some("An access token (JWT) from login, or an app token (`kat_…`)."))
                .build(),
        ),
    );
    components.add_security_scheme(
        "client_credentials",
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Basic)
                .description(Some(
                    "A registered app's `client_id:client_secret` (`POST /v1/admin/apps`), for claiming pairing codes.",
                ))
                .build(),
        ),
    );
    components.add_security_scheme(
        "metrics_token",
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .description(Some("The value of `KARADA_METRICS_TOKEN`."))
                .build(),
        ),
    );
    add_common_responses(&mut api);
    // The rules every request meets (text, measurement values) are written in on the JSON form.
    match serde_json::to_value(&api) {
        Ok(mut doc) => {
            docs::describe(&mut doc);
            serde_json::from_value(doc).unwrap_or(api)
        }
        Err(_) => api,
    }
}

/// Adds the responses every operation of a kind can give, so the document lists every status the
/// service can send: bodies can be malformed (400), too large (413), not JSON (415) or hold a
/// control character in a text field (422), and so can query parameters (422); secured
/// operations can be unauthenticated (401) or forbidden (403) or wait too long for one of their account's request slots (429);
/// database-backed ones can be unavailable (503); routes throttled per client address can be
/// refused (429); a path with a control character names nothing (404). Every
/// answer carries `Cache-Control` and `X-Content-Type-Options`.
fn add_common_responses(api: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::header::HeaderBuilder;
    use utoipa::openapi::{ObjectBuilder, Type};
    let problem = |desc: &str, retry_after: bool| -> RefOr<Response> {
        let mut r = utoipa::openapi::ResponseBuilder::new().description(desc).content(
            "application/problem+json",
            utoipa::openapi::ContentBuilder::new()
                .schema(Some(utoipa::openapi::Ref::from_schema_name("Problem")))
                .build(),
        );
        if retry_after {
            r = r.header(
                "Retry-After",
                HeaderBuilder::new()
                    .schema(Some(ObjectBuilder::new().schema_type(Type::Integer).minimum(Some(1))))
                    .description(Some("Seconds to wait"))
                    .build(),
            );
        }
        RefOr::T(r.build())
    };
    let text_header = |value: &str, desc: &str| {
        HeaderBuilder::new()
            .schema(Some(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .enum_values(Some([value])),
            ))
            .description(Some(desc))
            .build()
    };
    for (path, item) in api.paths.paths.iter_mut() {
        let guarded = throttle::guarded(&actix_web::http::Method::POST, path).is_some();
        let post = item.post.is_some();
        for (op, is_post) in [
            (&mut item.get, false),
            (&mut item.post, true),
            (&mut item.put, false),
            (&mut item.patch, false),
            (&mut item.delete, false),
        ]
        .into_iter()
        .filter_map(|(op, is_post)| op.as_mut().map(|op| (op, is_post)))
        {
            let is_ops = op.tags.as_ref().is_some_and(|t| t.iter().any(|t| t == "operations"));
            let mut add = |code: &str, desc: &str, retry_after: bool| {
                op.responses
                    .responses
                    .entry(code.to_owned())
                    .or_insert_with(|| problem(desc, retry_after));
            };
            let has_body = op.request_body.is_some();
            let secured = op
                .security
                .as_ref()
                .is_some_and(|s| serde_json::to_value(s).is_ok_and(|v| v.to_string().contains("\"bearer\"")));
            if has_body {
                add("400", "Malformed JSON or wrong types", false);
                add("413", "Body too large", false);
                add("415", "Body is not application/json", false);
                add(
                    "422",
                    "Invalid fields: a text field holds a control character, or fails its own rules",
                    false,
                );
            }
            if secured {
                add("401", "Missing, invalid, expired or revoked credentials", false);
                add("403", "Authenticated but not allowed", false);
                add(
                    "429",
                    "Too many of this account's requests in flight (or, where throttled, too many attempts)",
                    true,
                );
            }
            if guarded && post && is_post {
                add("429", "Too many attempts from this client address", true);
            }
            if path.contains('{') {
                add(
                    "404",
                    "Not found (a path holding a control character names nothing)",
                    false,
                );
            }
            let has_query = op.parameters.as_ref().is_some_and(|ps| {
                ps.iter().any(
                    |p| matches!(p, RefOr::T(p) if matches!(p.parameter_in, utoipa::openapi::path::ParameterIn::Query)),
                )
            });
            if has_query {
                add(
                    "422",
                    "Invalid query parameters (one holding a control character among them)",
                    false,
                );
            }
            if !is_ops {
                add("503", "Database unavailable", true);
            }
            for response in op.responses.responses.values_mut() {
                if let RefOr::T(r) = response {
                    r.headers
                        .entry("Cache-Control".to_owned())
                        .or_insert_with(|| RefOr::T(text_header("no-store", "Never stored by caches")));
                    r.headers
                        .entry("X-Content-Type-Options".to_owned())
                        .or_insert_with(|| RefOr::T(text_header("nosniff", "Never sniffed as another type")));
                }
            }
        }
    }
}

/// The OpenAPI document as YAML.
pub fn openapi_yaml() -> String {
    openapi().to_yaml().unwrap_or_default()
}

fn json_error(err: actix_web::error::JsonPayloadError, _req: &HttpRequest) -> actix_web::Error {
    use actix_web::error::JsonPayloadError as E;
    let app = match err {
        E::Overflow { .. } | E::OverflowKnownLength { .. } => AppError::PayloadTooLarge,
        E::ContentType => AppError::UnsupportedMediaType,
        E::Deserialize(e) => AppError::BadRequest(format!("invalid JSON body: {e}")),
        E::Payload(actix_web::error::PayloadError::Overflow) => AppError::PayloadTooLarge,
        other => AppError::BadRequest(format!("unreadable body: {other}")),
    };
    app.into()
}

fn query_error(err: actix_web::error::QueryPayloadError, _req: &HttpRequest) -> actix_web::Error {
    AppError::BadRequest(format!("invalid query string: {err}")).into()
}

fn path_error(err: actix_web::error::PathError, _req: &HttpRequest) -> actix_web::Error {
    AppError::BadRequest(format!("invalid path parameter: {err}")).into()
}

async fn no_route() -> Result<HttpResponse, AppError> {
    Err(AppError::NoRoute)
}

/// Rewrites any error response that is not already problem+json (actix's own, e.g. a 405) into one,
/// keeping its status.
fn ensure_problem<B: MessageBody + 'static>(res: ServiceResponse<B>) -> actix_web::Result<ErrorHandlerResponse<B>> {
    let is_problem = res
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/problem+json"));
    if is_problem {
        return Ok(ErrorHandlerResponse::Response(res.map_into_left_body()));
    }
    let status = res.status();
    let problem = Problem {
        r#type: format!("{}http-{}", crate::error::PROBLEM_TYPE_PREFIX, status.as_u16()),
        title: status.canonical_reason().unwrap_or("Error").to_owned(),
        status: status.as_u16(),
        detail: status.canonical_reason().unwrap_or("Error").to_owned(),
        errors: None,
    };
    let (req, _) = res.into_parts();
    let resp = HttpResponse::build(status)
        .insert_header((
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        ))
        .body(serde_json::to_vec(&problem).unwrap_or_default());
    Ok(ErrorHandlerResponse::Response(
        ServiceResponse::new(req, resp).map_into_right_body(),
    ))
}

/// The application: routes, extractor configuration, error handling, logging and metrics.
pub fn app(
    state: web::Data<AppState>,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    let limit = state.settings.body_limit;
    let metrics = state.metrics.clone();
    App::new()
        .into_utoipa_app()
        .app_data(state)
        .app_data(web::JsonConfig::default().limit(limit).error_handler(json_error))
        .app_data(web::PayloadConfig::new(limit))
        .app_data(web::QueryConfig::default().error_handler(query_error))
        .app_data(web::PathConfig::default().error_handler(path_error))
        .configure(routes)
        .default_service(web::to(no_route))
        .into_app()
        .wrap(actix_web::middleware::from_fn(guard::guard))
        .wrap(ErrorHandlers::new().default_handler(ensure_problem))
        .wrap(metrics)
        .wrap_fn(|req, srv| {
            use actix_web::dev::Service;
            let request_id = req
                .extensions()
                .get::<tracing_actix_web::RequestId>()
                .map(|id| id.to_string());
            let fut = srv.call(req);
            async move {
                let mut res = fut.await?;
                let headers = res.headers_mut();
                if let Some(id) = request_id.and_then(|id| HeaderValue::from_str(&id).ok()) {
                    headers.insert(header::HeaderName::from_static("x-request-id"), id);
                }
                // Nothing this service answers is meant to be sniffed into another type, and
                // nothing is meant to be kept by a cache: answers carry health data, tokens or
                // both, and the few public documents are cheap to ask for again.
                headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
                if !headers.contains_key(header::CACHE_CONTROL) {
                    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
                }
                Ok::<_, actix_web::Error>(res)
            }
        })
        .wrap(tracing_actix_web::TracingLogger::default())
}
