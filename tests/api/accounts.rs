//! Registration, login, refresh rotation, logout, profile and password change.

use actix_web::http::Method;
use actix_web::test::TestRequest;
use serde_json::json;

use crate::both_backends;
use karada::http::throttle::Throttle;

use crate::common::{Backend, PASSWORD, TestApp};

both_backends!(
    register_login_and_read_me,
    emails_are_case_insensitive_and_unique,
    duplicate_email_is_409,
    wrong_password_and_unknown_email_answer_identically,
    refresh_rotates_and_the_old_token_stops_working,
    reusing_a_rotated_refresh_token_revokes_the_whole_session,
    logout_ends_the_session,
    password_change_revokes_other_sessions_only,
    wrong_current_password_changes_nothing,
    patch_me_changes_only_given_fields,
    patch_me_rejects_invalid_values_and_changes_nothing,
    repeated_failed_logins_get_429_with_retry_after,
    concurrent_refreshes_of_one_token_succeed_at_most_once,
);

async fn register_login_and_read_me(app: TestApp) {
    let reg = app
        .post(
            "/v1/auth/register",
            None,
            json!({"email": "Hanako@Example.JP", "password": PASSWORD, "display_name": "Hanako",
                   "birth_date": "1975-06-30", "sex": "female", "timezone": "Asia/Tokyo"}),
        )
        .await;
    reg.expect(201);
    assert_eq!(reg.body["token_type"], "Bearer");
    assert_eq!(reg.body["expires_in"], 900);
    assert_eq!(reg.body["user"]["email"], "hanako@example.jp");
    assert_eq!(reg.body["user"]["role"], "resident");
    assert!(reg.body["refresh_token"].as_str().unwrap().starts_with("krt_"));

    let s = app.login("hanako@example.jp", PASSWORD).await;
    let me = app.get("/v1/me", Some(&s.access)).await;
    me.expect(200);
    assert_eq!(me.body["id"], reg.body["user"]["id"]);
    assert_eq!(me.body["display_name"], "Hanako");
    assert_eq!(me.body["birth_date"], "1975-06-30");
    assert_eq!(me.body["sex"], "female");
    assert_eq!(me.body["timezone"], "Asia/Tokyo");
    assert!(me.body.get("password_hash").is_none());
}

async fn emails_are_case_insensitive_and_unique(app: TestApp) {
    app.register("taro@example.jp").await;
    app.login("  TARO@example.jp ", PASSWORD).await;
}

async fn duplicate_email_is_409(app: TestApp) {
    app.register("taro@example.jp").await;
    let r = app
        .post(
            "/v1/auth/register",
            None,
            json!({"email": "TARO@example.jp", "password": PASSWORD, "birth_date": "1990-01-01", "sex": "male"}),
        )
        .await;
    r.expect(409);
}

async fn wrong_password_and_unknown_email_answer_identically(app: TestApp) {
    app.register("taro@example.jp").await;
    let wrong = app
        .post(
            "/v1/auth/login",
            None,
            json!({"email": "taro@example.jp", "password": "not the password"}),
        )
        .await;
    let unknown = app
        .post(
            "/v1/auth/login",
            None,
            json!({"email": "nobody@example.jp", "password": "not the password"}),
        )
        .await;
    wrong.expect(401);
    unknown.expect(401);
    assert_eq!(wrong.raw, unknown.raw);
    assert_eq!(
        wrong.headers.get("www-authenticate"),
        unknown.headers.get("www-authenticate")
    );
}

async fn refresh_rotates_and_the_old_token_stops_working(app: TestApp) {
    let s = app.register("taro@example.jp").await;
    let r = app
        .post("/v1/auth/refresh", None, json!({"refresh_token": s.refresh}))
        .await;
    r.expect(200);
    let new_refresh = r.body["refresh_token"].as_str().unwrap().to_owned();
    let new_access = r.body["access_token"].as_str().unwrap().to_owned();
    assert_ne!(new_refresh, s.refresh);
    app.get("/v1/me", Some(&new_access)).await.expect(200);
    // The new refresh token works once more.
    app.post("/v1/auth/refresh", None, json!({"refresh_token": new_refresh}))
        .await
        .expect(200);
    // Unknown tokens are 401.
    app.post("/v1/auth/refresh", None, json!({"refresh_token": "krt_0000"}))
        .await
        .expect(401);
}

async fn reusing_a_rotated_refresh_token_revokes_the_whole_session(app: TestApp) {
    let s = app.register("taro@example.jp").await;
    let other = app.login("taro@example.jp", PASSWORD).await;
    let r = app
        .post("/v1/auth/refresh", None, json!({"refresh_token": s.refresh}))
        .await;
    r.expect(200);
    let rotated_refresh = r.body["refresh_token"].as_str().unwrap().to_owned();
    let rotated_access = r.body["access_token"].as_str().unwrap().to_owned();

    // The stolen, already-rotated token is presented again.
    app.post("/v1/auth/refresh", None, json!({"refresh_token": s.refresh}))
        .await
        .expect(401);
    // Everything in that family is now dead: the newest refresh token and its access token.
    app.post("/v1/auth/refresh", None, json!({"refresh_token": rotated_refresh}))
        .await
        .expect(401);
    app.get("/v1/me", Some(&rotated_access)).await.expect(401);
    // Another session of the same account is untouched.
    app.get("/v1/me", Some(&other.access)).await.expect(200);
    app.post("/v1/auth/refresh", None, json!({"refresh_token": other.refresh}))
        .await
        .expect(200);
}

async fn logout_ends_the_session(app: TestApp) {
    let s = app.register("taro@example.jp").await;
    let r = app
        .post("/v1/auth/logout", None, json!({"refresh_token": s.refresh}))
        .await;
    r.expect(204);
    app.get("/v1/me", Some(&s.access)).await.expect(401);
    app.post("/v1/auth/refresh", None, json!({"refresh_token": s.refresh}))
        .await
        .expect(401);
    // Logging out twice, or with an unknown token, is harmless.
    app.post("/v1/auth/logout", None, json!({"refresh_token": s.refresh}))
        .await
        .expect(204);
    app.post("/v1/auth/logout", None, json!({"refresh_token": "krt_unknown"}))
        .await
        .expect(204);
}

async fn password_change_revokes_other_sessions_only(app: TestApp) {
    let a = app.register("taro@example.jp").await;
    let b = app.login("taro@example.jp", PASSWORD).await;
    let new_pw = "a much better passphrase";
    app.post(
        "/v1/me/password",
        Some(&a.access),
        json!({"current_password": PASSWORD, "new_password": new_pw}),
    )
    .await
    .expect(204);
    // The session that changed it goes on.
    app.get("/v1/me", Some(&a.access)).await.expect(200);
    app.post("/v1/auth/refresh", None, json!({"refresh_token": a.refresh}))
        .await
        .expect(200);
    // The other session is over, access and refresh alike.
    app.get("/v1/me", Some(&b.access)).await.expect(401);
    app.post("/v1/auth/refresh", None, json!({"refresh_token": b.refresh}))
        .await
        .expect(401);
    // Only the new password signs in.
    app.post(
        "/v1/auth/login",
        None,
        json!({"email": "taro@example.jp", "password": PASSWORD}),
    )
    .await
    .expect(401);
    app.login("taro@example.jp", new_pw).await;
}

async fn wrong_current_password_changes_nothing(app: TestApp) {
    let a = app.register("taro@example.jp").await;
    let b = app.login("taro@example.jp", PASSWORD).await;
    app.post(
        "/v1/me/password",
        Some(&a.access),
        json!({"current_password": "not my password", "new_password": "a much better passphrase"}),
    )
    .await
    .expect(403);
    let short = app
        .post(
            "/v1/me/password",
            Some(&a.access),
            json!({"current_password": PASSWORD, "new_password": "short"}),
        )
        .await;
    short.expect(422);
    assert_eq!(short.error_fields(), vec!["new_password"]);
    app.get("/v1/me", Some(&b.access)).await.expect(200);
    app.login("taro@example.jp", PASSWORD).await;
}

async fn patch_me_changes_only_given_fields(app: TestApp) {
    let s = app.register("taro@example.jp").await;
    let r = app
        .call(
            Method::PATCH,
            "/v1/me",
            Some(&s.access),
            Some(json!({"display_name": "Taro", "timezone": "Europe/London"})),
        )
        .await;
    r.expect(200);
    assert_eq!(r.body["display_name"], "Taro");
    assert_eq!(r.body["timezone"], "Europe/London");
    assert_eq!(r.body["birth_date"], "1980-04-01");
    assert_eq!(r.body["sex"], "female");
    // null clears the display name.
    let r = app
        .call(
            Method::PATCH,
            "/v1/me",
            Some(&s.access),
            Some(json!({"display_name": null})),
        )
        .await;
    r.expect(200);
    assert!(r.body["display_name"].is_null());
    assert_eq!(r.body["timezone"], "Europe/London");
}

async fn patch_me_rejects_invalid_values_and_changes_nothing(app: TestApp) {
    let s = app.register("taro@example.jp").await;
    let r = app
        .call(
            Method::PATCH,
            "/v1/me",
            Some(&s.access),
            Some(json!({"display_name": "", "timezone": "Mars/Base", "sex": "robot", "birth_date": "2999-01-01"})),
        )
        .await;
    r.expect(422);
    let mut fields = r.error_fields();
    fields.sort();
    assert_eq!(fields, vec!["birth_date", "display_name", "sex", "timezone"]);
    // Role and email are not client-writable.
    app.call(Method::PATCH, "/v1/me", Some(&s.access), Some(json!({"role": "admin"})))
        .await
        .expect(400);
    let me = app.get("/v1/me", Some(&s.access)).await;
    assert_eq!(me.body["timezone"], "Asia/Tokyo");
    assert_eq!(me.body["role"], "resident");
}

async fn repeated_failed_logins_get_429_with_retry_after(app: TestApp) {
    app.register("taro@example.jp").await;
    let bad = json!({"email": "taro@example.jp", "password": "guess guess guess"});
    for _ in 0..5 {
        app.post("/v1/auth/login", None, bad.clone()).await.expect(401);
    }
    let r = app.post("/v1/auth/login", None, bad.clone()).await;
    r.expect(429);
    let retry: u64 = r.headers.get("retry-after").unwrap().to_str().unwrap().parse().unwrap();
    assert!((1..=13).contains(&retry), "retry-after {retry}");
    // Even the right password is refused until the throttle refills.
    app.post(
        "/v1/auth/login",
        None,
        json!({"email": "taro@example.jp", "password": PASSWORD}),
    )
    .await
    .expect(429);
}

async fn repeated_logins_from_one_address_get_429(backend: Backend) {
    // A small per-address burst keeps the test independent of how fast logins run.
    let app = TestApp::with_throttle(backend, Throttle::new(100, 3)).await;
    let addr: std::net::SocketAddr = "192.0.2.7:40000".parse().unwrap();
    let attempt = |i: usize, addr: std::net::SocketAddr| {
        TestRequest::post()
            .uri("/v1/auth/login")
            .peer_addr(addr)
            .set_json(json!({"email": format!("user{i}@example.jp"), "password": "guess guess guess"}))
    };
    for i in 0..3 {
        app.send(attempt(i, addr)).await.expect(401);
    }
    // A fourth account from the same address: throttled although that account never failed.
    let r = app.send(attempt(3, addr)).await;
    r.expect(429);
    assert!(r.headers.contains_key("retry-after"));
    // Another address is not affected.
    app.send(attempt(3, "192.0.2.8:40000".parse().unwrap()))
        .await
        .expect(401);
}

#[actix_web::test]
async fn repeated_logins_from_one_address_get_429_on_sqlite() {
    repeated_logins_from_one_address_get_429(Backend::Sqlite).await
}

#[actix_web::test]
async fn repeated_logins_from_one_address_get_429_on_postgres() {
    repeated_logins_from_one_address_get_429(Backend::Postgres).await
}

async fn concurrent_refreshes_of_one_token_succeed_at_most_once(app: TestApp) {
    let s = app.register("taro@example.jp").await;
    let body = json!({"refresh_token": s.refresh});
    let attempts = (0..6).map(|_| app.post("/v1/auth/refresh", None, body.clone()));
    let results = futures_util::future::join_all(attempts).await;
    let ok = results.iter().filter(|r| r.status.as_u16() == 200).count();
    assert!(ok <= 1, "{ok} refreshes of one token succeeded");
    assert!(results.iter().all(|r| matches!(r.status.as_u16(), 200 | 401)));
    // A second presentation was seen as reuse, so the session is revoked whatever the interleaving.
    let winner = results.iter().find(|r| r.status.as_u16() == 200);
    if let Some(w) = winner {
        let access = w.body["access_token"].as_str().unwrap();
        app.get("/v1/me", Some(access)).await.expect(401);
    }
    app.get("/v1/me", Some(&s.access)).await.expect(401);
}
