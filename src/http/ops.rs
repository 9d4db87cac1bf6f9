//! Operations endpoints: liveness, readiness, Prometheus metrics and the OpenAPI document.

use std::sync::LazyLock;

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, get, web};
use prometheus::{Encoder, IntGauge, Registry, TextEncoder};
use serde::Serialize;
use utoipa::ToSchema;

use crate::accounts::tokens::hash_secret;
use crate::db;
use crate::error::{AppError, AppResult};
use crate::http::AppState;

/// Gauges describing the connection pool, refreshed on every scrape.
#[derive(Clone)]
pub struct PoolGauges {
    connections: IntGauge,
    idle: IntGauge,
    max: IntGauge,
}

/// Registers the pool gauges in the metrics registry.
pub fn register_pool_metrics(registry: &Registry) -> prometheus::Result<PoolGauges> {
    let g = PoolGauges {
        connections: IntGauge::new("karada_db_pool_connections", "Open database connections")?,
        idle: IntGauge::new("karada_db_pool_idle_connections", "Idle database connections")?,
        max: IntGauge::new("karada_db_pool_max_size", "Largest number of database connections")?,
    };
    registry.register(Box::new(g.connections.clone()))?;
    registry.register(Box::new(g.idle.clone()))?;
    registry.register(Box::new(g.max.clone()))?;
    Ok(g)
}

/// Liveness and readiness answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// `ok`.
    pub status: &'static str,
}

/// The process is up.
#[utoipa::path(tag = "operations", responses((status = 200, description = "The process is up", body = Health)))]
#[get("/healthz")]
async fn healthz() -> web::Json<Health> {
    web::Json(Health { status: "ok" })
}

/// The database answers.
#[utoipa::path(
    tag = "operations",
    responses(
        (status = 200, description = "The database answers", body = Health),
        (status = 503, description = "The database does not answer", body = crate::error::Problem,
            content_type = "application/problem+json")
    )
)]
#[get("/readyz")]
async fn readyz(state: web::Data<AppState>) -> AppResult<web::Json<Health>> {
    state
        .db(|c| db::ping(c).map_err(|e| AppError::Unavailable(e.to_string())))
        .await?;
    Ok(web::Json(Health { status: "ok" }))
}

/// Prometheus text: request counts and latency histograms by route and status, and pool usage.
/// Only for the scraper holding `KARADA_METRICS_TOKEN` (the route counts every route's traffic);
/// without that variable the route is not served at all.
#[utoipa::path(
    tag = "operations",
    security(("metrics_token" = [])),
    responses(
        (status = 200, description = "Prometheus text exposition format", body = String, content_type = "text/plain"),
        (status = 401, description = "No or wrong `Authorization: Bearer <KARADA_METRICS_TOKEN>`", body = crate::error::Problem,
            content_type = "application/problem+json"),
        (status = 404, description = "`KARADA_METRICS_TOKEN` is not set: metrics are not served", body = crate::error::Problem,
            content_type = "application/problem+json")
    )
)]
#[get("/metrics")]
async fn metrics(state: web::Data<AppState>, req: HttpRequest) -> AppResult<HttpResponse> {
    let Some(expected) = state.settings.metrics_token.as_deref() else {
        return Err(AppError::NotFound);
    };
    let given = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim());
    // Compared as digests, so the comparison's time says nothing about the token.
    if given.map(hash_secret) != Some(hash_secret(expected)) {
        return Err(AppError::Unauthorized);
    }
    let pool = state.pool.state();
    state.pool_gauges.connections.set(i64::from(pool.connections));
    state.pool_gauges.idle.set(i64::from(pool.idle_connections));
    state.pool_gauges.max.set(i64::from(state.pool.max_size()));
    let mut buf = Vec::new();
    TextEncoder::new()
        .encode(&state.metrics.registry.gather(), &mut buf)
        .map_err(AppError::internal)?;
    Ok(HttpResponse::Ok().content_type("text/plain; version=0.0.4").body(buf))
}

static OPENAPI_YAML: LazyLock<String> = LazyLock::new(crate::http::openapi_yaml);

/// This API's OpenAPI 3.1 document.
#[utoipa::path(
    tag = "operations",
    responses((status = 200, description = "OpenAPI document", body = String, content_type = "application/yaml"))
)]
#[get("/openapi.yaml")]
async fn openapi_yaml() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/yaml")
        .body(OPENAPI_YAML.as_str())
}

/// Registers the operations routes.
pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(healthz)
        .service(readyz)
        .service(metrics)
        .service(openapi_yaml);
}
