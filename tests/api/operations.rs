//! Health, readiness, metrics and the OpenAPI document.

use std::collections::BTreeSet;

use actix_web::http::Method;
use serde_json::Value;

use karada::http::Settings;

use crate::both_backends;
use crate::common::{Backend, TestApp};

both_backends!(
    healthz_and_readyz_answer_ok,
    every_documented_operation_is_served,
    request_id_is_returned,
);

async fn healthz_and_readyz_answer_ok(app: TestApp) {
    let r = app.get("/healthz", None).await;
    r.expect(200);
    assert_eq!(r.body["status"], "ok");
    let r = app.get("/readyz", None).await;
    r.expect(200);
    assert_eq!(r.body["status"], "ok");
}

/// The scraper's token (`KARADA_METRICS_TOKEN`): without one, metrics are not served.
pub(crate) const METRICS_TOKEN: &str = "scraper-token-scraper-token";

/// An application that serves metrics to the holder of [`METRICS_TOKEN`].
pub(crate) async fn app_with_metrics(backend: Backend) -> TestApp {
    TestApp::with_settings(
        backend,
        Settings {
            metrics_token: Some(METRICS_TOKEN.to_owned()),
            ..Settings::default()
        },
    )
    .await
}

#[actix_web::test]
async fn metrics_count_requests_by_route_and_show_the_pool_on_sqlite() {
    metrics_count_requests_by_route_and_show_the_pool(app_with_metrics(Backend::Sqlite).await).await
}

#[actix_web::test]
async fn metrics_count_requests_by_route_and_show_the_pool_on_postgres() {
    metrics_count_requests_by_route_and_show_the_pool(app_with_metrics(Backend::Postgres).await).await
}

async fn metrics_count_requests_by_route_and_show_the_pool(app: TestApp) {
    let s = app.register("taro@example.jp").await;
    app.call(
        Method::DELETE,
        &format!("/v1/me/app-tokens/{}", uuid::Uuid::now_v7()),
        Some(&s.access),
        None,
    )
    .await
    .expect(404);
    let r = app.get("/metrics", Some(METRICS_TOKEN)).await;
    r.expect(200);
    let text = String::from_utf8(r.raw.clone()).unwrap();
    assert!(
        text.contains("karada_http_requests_total{endpoint=\"/v1/auth/register\",method=\"POST\",status=\"201\"} 1")
    );
    // Routes are labelled by pattern, not by the concrete path.
    assert!(
        text.contains("endpoint=\"/v1/me/app-tokens/{id}\",method=\"DELETE\",status=\"404\""),
        "{text}"
    );
    assert!(text.contains("karada_http_requests_duration_seconds_bucket"));
    assert!(text.contains("karada_db_pool_connections"));
    assert!(text.contains("karada_db_pool_max_size 4"));
}

async fn request_id_is_returned(app: TestApp) {
    let r = app.get("/healthz", None).await;
    let id = r.headers.get("x-request-id").unwrap().to_str().unwrap();
    assert!(uuid::Uuid::parse_str(id).is_ok());
}

fn documented_operations() -> Vec<(Method, String)> {
    let spec: Value = serde_json::to_value(karada::http::openapi()).unwrap();
    let mut ops = Vec::new();
    for (path, item) in spec["paths"].as_object().unwrap() {
        for (m, _) in item.as_object().unwrap() {
            let method = Method::from_bytes(m.to_uppercase().as_bytes()).unwrap();
            ops.push((method, path.clone()));
        }
    }
    ops
}

/// A documented operation that no route serves would answer the `no-route` problem.
async fn every_documented_operation_is_served(app: TestApp) {
    let ops = documented_operations();
    assert!(ops.len() >= 25, "{ops:?}");
    for (method, path) in ops {
        let concrete = path.replace("{id}", &uuid::Uuid::now_v7().to_string());
        let r = app.call(method.clone(), &concrete, None, None).await;
        assert_ne!(
            r.body["type"], "urn:karada:problem:no-route",
            "{method} {path} is documented but not served"
        );
    }
}

/// Every route macro in the source is in the document (so nothing is served undocumented), and
/// routes are only ever registered through the documented `service(...)` path.
#[test]
fn every_served_route_is_documented() {
    let documented: BTreeSet<(String, String)> = documented_operations()
        .into_iter()
        .map(|(m, p)| (m.as_str().to_owned(), p))
        .collect();
    let mut served = BTreeSet::new();
    // Route files sit in src/http and in one level of folders below it (src/http/accounts/…).
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/http");
    let mut files = Vec::new();
    for entry in std::fs::read_dir(src).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(std::fs::read_dir(path).unwrap().map(|e| e.unwrap().path()));
        } else {
            files.push(path);
        }
    }
    for file in files {
        let text = std::fs::read_to_string(file).unwrap();
        assert!(
            !text.contains(".route(") && !text.contains("web::resource("),
            "routes must use documented services"
        );
        for line in text.lines() {
            let line = line.trim();
            for m in ["get", "post", "put", "patch", "delete"] {
                if let Some(rest) = line.strip_prefix(&format!("#[{m}(\"")) {
                    let path = rest.split('"').next().unwrap().to_owned();
                    served.insert((m.to_uppercase(), path));
                }
            }
        }
    }
    assert!(!served.is_empty());
    let undocumented: Vec<_> = served.difference(&documented).collect();
    assert!(undocumented.is_empty(), "served but undocumented: {undocumented:?}");
    let unserved: Vec<_> = documented.difference(&served).collect();
    assert!(unserved.is_empty(), "documented but not served: {unserved:?}");
}

/// The committed `openapi.yaml` is exactly what the code generates. To update it:
/// `cargo run -- openapi > openapi.yaml`.
#[test]
fn committed_openapi_matches_the_code() {
    let committed =
        std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("openapi.yaml")).unwrap();
    let generated = karada::http::openapi_yaml();
    assert!(
        committed == generated,
        "openapi.yaml is out of date: run `cargo run -- openapi > openapi.yaml` and commit it"
    );
}

#[actix_web::test]
async fn served_openapi_is_the_generated_document() {
    let app = TestApp::new(crate::common::Backend::Sqlite).await;
    let r = app.get("/openapi.yaml", None).await;
    assert_eq!(r.status.as_u16(), 200);
    assert_eq!(String::from_utf8(r.raw).unwrap(), karada::http::openapi_yaml());
}

/// When the database goes away, requests answer 503 problem+json (never 500), and readiness says so.
#[actix_web::test]
async fn lost_database_is_503_not_500() {
    let app = TestApp::new(crate::common::Backend::Postgres).await;
    let s = app.register("taro@example.jp").await;
    app.get("/readyz", None).await.expect(200);
    app.db.kill_connections();
    for _ in 0..2 {
        let r = app.get("/v1/me", Some(&s.access)).await;
        r.expect(503);
        assert!(r.headers.contains_key("retry-after"));
    }
    app.get("/readyz", None).await.expect(503);
    app.get("/healthz", None).await.expect(200);
    // When the database is back, the pool heals: dead connections are not handed out again.
    app.db.allow_connections();
    app.get("/readyz", None).await.expect(200);
    app.get("/v1/me", Some(&s.access)).await.expect(200);
}

/// The committed catalogue document is exactly what the code generates. To update it:
/// `cargo run -- measurement-types > docs/MEASUREMENT-TYPES.md`.
#[test]
fn committed_measurement_types_doc_matches_the_catalogue() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/MEASUREMENT-TYPES.md");
    let committed = std::fs::read_to_string(path).unwrap();
    assert!(
        committed == karada::measurements::catalogue::markdown(),
        "docs/MEASUREMENT-TYPES.md is out of date: run `cargo run -- measurement-types > docs/MEASUREMENT-TYPES.md`"
    );
}
