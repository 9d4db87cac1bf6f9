//! Bad input gets a clear problem+json error and changes nothing.

use actix_web::http::Method;
use actix_web::test::TestRequest;
use diesel::prelude::*;
use serde_json::json;

use karada::db::schema::users;

use crate::both_backends;
use crate::common::{PASSWORD, TestApp};

both_backends!(
    malformed_json_is_400_and_creates_nothing,
    wrong_types_and_unknown_fields_are_400,
    invalid_fields_are_422_listing_each_field,
    oversize_body_is_413,
    non_json_body_is_415,
    unknown_route_is_404_problem,
    wrong_method_is_a_problem_too,
    malformed_path_id_is_400,
);

fn user_count(app: &TestApp) -> i64 {
    users::table.count().get_result(&mut app.db.conn()).unwrap()
}

async fn malformed_json_is_400_and_creates_nothing(app: TestApp) {
    let req = TestRequest::post()
        .uri("/v1/auth/register")
        .insert_header(("content-type", "application/json"))
        .set_payload(r#"{"email": "a@example.jp", "password": "#);
    let r = app.send(req).await;
    r.expect(400);
    assert!(r.body["detail"].as_str().unwrap().contains("JSON"));
    assert_eq!(user_count(&app), 0);
}

async fn wrong_types_and_unknown_fields_are_400(app: TestApp) {
    let wrong_type = json!({"email": 42, "password": PASSWORD, "birth_date": "1980-01-01", "sex": "male"});
    app.post("/v1/auth/register", None, wrong_type).await.expect(400);
    let unknown = json!({"email": "a@example.jp", "password": PASSWORD, "birth_date": "1980-01-01", "sex": "male",
                         "role": "admin"});
    let r = app.post("/v1/auth/register", None, unknown).await;
    r.expect(400);
    assert!(r.body["detail"].as_str().unwrap().contains("role"));
    let missing = json!({"email": "a@example.jp", "password": PASSWORD});
    app.post("/v1/auth/register", None, missing).await.expect(400);
    app.post("/v1/auth/register", None, json!([1, 2, 3])).await.expect(400);
    assert_eq!(user_count(&app), 0);
}

async fn invalid_fields_are_422_listing_each_field(app: TestApp) {
    let r = app
        .post(
            "/v1/auth/register",
            None,
            json!({"email": "not-an-email", "password": "short", "display_name": "   ", "birth_date": "1980-13-01",
                   "sex": "robot", "timezone": "Osaka/Namba"}),
        )
        .await;
    r.expect(422);
    let mut fields = r.error_fields();
    fields.sort();
    assert_eq!(
        fields,
        vec!["birth_date", "display_name", "email", "password", "sex", "timezone"]
    );
    assert!(
        r.body["errors"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["message"].as_str().is_some_and(|m| !m.is_empty()))
    );
    // A password over 1,024 bytes is refused too.
    let r = app
        .post(
            "/v1/auth/register",
            None,
            json!({"email": "a@example.jp", "password": "x".repeat(1025), "birth_date": "1980-01-01", "sex": "male"}),
        )
        .await;
    r.expect(422);
    assert_eq!(r.error_fields(), vec!["password"]);
    assert_eq!(user_count(&app), 0);
}

async fn oversize_body_is_413(app: TestApp) {
    let big = "x".repeat(1024 * 1024 + 10);
    let r = app
        .post(
            "/v1/auth/register",
            None,
            json!({"email": "a@example.jp", "password": PASSWORD, "birth_date": "1980-01-01", "sex": "male",
                   "display_name": big}),
        )
        .await;
    r.expect(413);
    assert_eq!(user_count(&app), 0);
}

async fn non_json_body_is_415(app: TestApp) {
    let req = TestRequest::post()
        .uri("/v1/auth/login")
        .insert_header(("content-type", "text/plain"))
        .set_payload("email=a@example.jp");
    app.send(req).await.expect(415);
}

async fn unknown_route_is_404_problem(app: TestApp) {
    let r = app.get("/v1/no-such-thing", None).await;
    r.expect(404);
    assert_eq!(r.body["type"], "urn:karada:problem:no-route");
}

async fn wrong_method_is_a_problem_too(app: TestApp) {
    let r = app.call(Method::PUT, "/v1/me", None, Some(json!({}))).await;
    assert!(r.status.is_client_error());
    assert_eq!(r.content_type(), "application/problem+json");
}

async fn malformed_path_id_is_400(app: TestApp) {
    let s = app.register("taro@example.jp").await;
    let r = app
        .call(Method::DELETE, "/v1/me/app-tokens/12345", Some(&s.access), None)
        .await;
    r.expect(400);
}
