//! Access-token validation, app tokens with scopes, kiosk pairing, and roles.

use actix_web::http::Method;
use chrono::Utc;
use diesel::prelude::*;
use serde_json::json;

use karada::accounts::Role;
use karada::accounts::tokens::{AUDIENCE, Claims, ISSUER, JwtKeys, Scope};
use karada::db::schema::{pairing_codes, users};
use karada::db::{Id, Ts};

use crate::both_backends;
use crate::common::{PASSWORD, TEST_SECRET, TestApp};

both_backends!(
    missing_and_malformed_authorization_is_401,
    expired_token_is_401,
    token_signed_with_another_key_is_401,
    alg_none_token_is_401,
    token_with_wrong_audience_is_401,
    token_for_a_deleted_account_is_401,
    resident_on_an_admin_route_is_403,
    admin_reads_an_account_and_404s_an_unknown_one,
    app_token_scopes_are_enforced,
    app_tokens_are_listed_paged_and_revoked,
    app_token_request_is_validated,
    another_residents_app_token_is_404,
    pairing_code_is_single_use,
    expired_pairing_code_is_refused,
);

fn claims_for(user_id: &str, sid: uuid::Uuid) -> Claims {
    let now = Utc::now().timestamp();
    Claims {
        iss: ISSUER.to_owned(),
        aud: AUDIENCE.to_owned(),
        sub: user_id.parse().unwrap(),
        exp: now + 600,
        iat: now,
        jti: uuid::Uuid::new_v4(),
        role: Role::Resident,
        scopes: Scope::SESSION.to_vec(),
        sid,
    }
}

/// The session id inside a real access token (payload is base64url JSON).
fn sid_of(access: &str) -> uuid::Uuid {
    use base64::Engine;
    let payload = access.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    v["sid"].as_str().unwrap().parse().unwrap()
}

async fn missing_and_malformed_authorization_is_401(app: TestApp) {
    let r = app.get("/v1/me", None).await;
    r.expect(401);
    assert_eq!(r.headers.get("www-authenticate").unwrap(), "Bearer");
    app.get("/v1/me", Some("not-a-jwt")).await.expect(401);
    app.get("/v1/me", Some("kat_0123")).await.expect(401);
    let req = actix_web::test::TestRequest::get()
        .uri("/v1/me")
        .insert_header(("authorization", "Basic Zm9vOmJhcg=="));
    app.send(req).await.expect(401);
}

async fn expired_token_is_401(app: TestApp) {
    let s = app.register("taro@example.jp").await;
    let mut c = claims_for(&s.user_id, sid_of(&s.access));
    // A correctly signed token for a live session, but expired (beyond the 5 s leeway).
    c.iat -= 3600;
    c.exp = Utc::now().timestamp() - 60;
    let token = JwtKeys::new(TEST_SECRET).sign(&c).unwrap();
    app.get("/v1/me", Some(&token)).await.expect(401);
    // The same claims unexpired are accepted, so it was the expiry that failed.
    let fresh = JwtKeys::new(TEST_SECRET)
        .sign(&claims_for(&s.user_id, sid_of(&s.access)))
        .unwrap();
    app.get("/v1/me", Some(&fresh)).await.expect(200);
}

async fn token_signed_with_another_key_is_401(app: TestApp) {
    let s = app.register("taro@example.jp").await;
    let c = claims_for(&s.user_id, sid_of(&s.access));
    let token = JwtKeys::new(b"some-other-secret-some-other-secret!").sign(&c).unwrap();
    app.get("/v1/me", Some(&token)).await.expect(401);
}

async fn alg_none_token_is_401(app: TestApp) {
    use base64::Engine;
    let s = app.register("taro@example.jp").await;
    let c = claims_for(&s.user_id, sid_of(&s.access));
    let enc = |v: &serde_json::Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    let header = enc(&json!({"alg": "none", "typ": "JWT"}));
    let payload = enc(&serde_json::to_value(&c).unwrap());
    app.get("/v1/me", Some(&format!("{header}.{payload}.")))
        .await
        .expect(401);
    // HS512 with the right secret is still refused: only HS256 is accepted.
    let hs512 = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS512),
        &c,
        &jsonwebtoken::EncodingKey::from_secret(TEST_SECRET),
    )
    .unwrap();
    app.get("/v1/me", Some(&hs512)).await.expect(401);
}

async fn token_with_wrong_audience_is_401(app: TestApp) {
    let s = app.register("taro@example.jp").await;
    let mut c = claims_for(&s.user_id, sid_of(&s.access));
    c.aud = "someone-else".to_owned();
    let token = JwtKeys::new(TEST_SECRET).sign(&c).unwrap();
    app.get("/v1/me", Some(&token)).await.expect(401);
}

async fn token_for_a_deleted_account_is_401(app: TestApp) {
    let s = app.register("taro@example.jp").await;
    app.get("/v1/me", Some(&s.access)).await.expect(200);
    let id = Id(s.user_id.parse().unwrap());
    diesel::delete(users::table.find(id))
        .execute(&mut app.db.conn())
        .unwrap();
    app.get("/v1/me", Some(&s.access)).await.expect(401);
}

async fn make_admin(app: &TestApp, email: &str) -> String {
    let s = app.register(email).await;
    let id = Id(s.user_id.parse().unwrap());
    diesel::update(users::table.find(id))
        .set(users::role.eq("admin"))
        .execute(&mut app.db.conn())
        .unwrap();
    s.access
}

async fn resident_on_an_admin_route_is_403(app: TestApp) {
    let s = app.register("taro@example.jp").await;
    let r = app
        .get(&format!("/v1/admin/users/{}", s.user_id), Some(&s.access))
        .await;
    r.expect(403);
}

async fn admin_reads_an_account_and_404s_an_unknown_one(app: TestApp) {
    let admin = make_admin(&app, "ops@example.jp").await;
    let s = app.register("taro@example.jp").await;
    let r = app.get(&format!("/v1/admin/users/{}", s.user_id), Some(&admin)).await;
    r.expect(200);
    assert_eq!(r.body["email"], "taro@example.jp");
    app.get(&format!("/v1/admin/users/{}", uuid::Uuid::now_v7()), Some(&admin))
        .await
        .expect(404);
    app.get("/v1/admin/users/not-a-uuid", Some(&admin)).await.expect(400);
}

async fn app_token_scopes_are_enforced(app: TestApp) {
    let s = app.register("taro@example.jp").await;
    let r = app
        .post(
            "/v1/me/app-tokens",
            Some(&s.access),
            json!({"name": "Pedometer", "scopes": ["measurements:read"]}),
        )
        .await;
    r.expect(201);
    let token = r.body["token"].as_str().unwrap().to_owned();
    assert!(token.starts_with("kat_"));
    assert_eq!(r.body["scopes"], json!(["measurements:read"]));
    assert_eq!(r.body["modality"], "self_reported");
    // An app token can never manage the account, its tokens or pairing.
    app.get("/v1/me", Some(&token)).await.expect(403);
    app.get("/v1/me/app-tokens", Some(&token)).await.expect(403);
    app.post(
        "/v1/me/app-tokens",
        Some(&token),
        json!({"name": "x", "scopes": ["measurements:read"]}),
    )
    .await
    .expect(403);
    app.call(Method::POST, "/v1/me/pairing-codes", Some(&token), None)
        .await
        .expect(403);
    app.post(
        "/v1/me/password",
        Some(&token),
        json!({"current_password": PASSWORD, "new_password": "whatever whatever"}),
    )
    .await
    .expect(403);
    // "account" cannot be granted to an app.
    let r = app
        .post(
            "/v1/me/app-tokens",
            Some(&s.access),
            json!({"name": "x", "scopes": ["account"]}),
        )
        .await;
    r.expect(422);
    assert_eq!(r.error_fields(), vec!["scopes[0]"]);
}

async fn app_tokens_are_listed_paged_and_revoked(app: TestApp) {
    let s = app.register("taro@example.jp").await;
    let mut ids = Vec::new();
    // Sensed tokens come from registered kiosks claiming the resident's pairing codes.
    let pod = crate::common::register_app(&app, "Karada pod", "kiosk", &["measurements:write"], "sensed");
    for name in ["Scale", "Watch", "Kiosk"] {
        let code = app
            .call(Method::POST, "/v1/me/pairing-codes", Some(&s.access), None)
            .await;
        let r = app
            .send(
                actix_web::test::TestRequest::post()
                    .uri("/v1/pairing/claim")
                    .insert_header(("authorization", pod.basic()))
                    .set_json(json!({"code": code.body["code"], "device_name": name})),
            )
            .await;
        r.expect(201);
        assert_eq!(r.body["modality"], "sensed");
        ids.push(r.body["id"].as_str().unwrap().to_owned());
    }
    let p1 = app.get("/v1/me/app-tokens?limit=2", Some(&s.access)).await;
    p1.expect(200);
    assert_eq!(p1.body["items"].as_array().unwrap().len(), 2);
    assert!(p1.body["items"][0].get("token").is_none(), "the secret is never listed");
    let cursor = p1.body["next_cursor"].as_str().unwrap().to_owned();
    let p2 = app
        .get(&format!("/v1/me/app-tokens?limit=2&cursor={cursor}"), Some(&s.access))
        .await;
    p2.expect(200);
    assert_eq!(p2.body["items"].as_array().unwrap().len(), 1);
    assert!(p2.body["next_cursor"].is_null());
    let listed: Vec<_> = p1.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .chain(p2.body["items"].as_array().unwrap())
        .map(|t| t["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(listed, ids);

    app.call(
        Method::DELETE,
        &format!("/v1/me/app-tokens/{}", ids[1]),
        Some(&s.access),
        None,
    )
    .await
    .expect(204);
    app.call(
        Method::DELETE,
        &format!("/v1/me/app-tokens/{}", ids[1]),
        Some(&s.access),
        None,
    )
    .await
    .expect(404);
    let all = app.get("/v1/me/app-tokens", Some(&s.access)).await;
    assert_eq!(all.body["items"].as_array().unwrap().len(), 2);

    app.get("/v1/me/app-tokens?limit=0", Some(&s.access)).await.expect(422);
    app.get("/v1/me/app-tokens?limit=501", Some(&s.access))
        .await
        .expect(422);
    app.get("/v1/me/app-tokens?limit=ten", Some(&s.access))
        .await
        .expect(400);
    app.get("/v1/me/app-tokens?cursor=zz", Some(&s.access))
        .await
        .expect(400);
}

async fn app_token_request_is_validated(app: TestApp) {
    let s = app.register("taro@example.jp").await;
    let r = app
        .post(
            "/v1/me/app-tokens",
            Some(&s.access),
            json!({"name": "", "scopes": [], "expires_in_days": 0, "modality": "guessed"}),
        )
        .await;
    r.expect(422);
    let mut f = r.error_fields();
    f.sort();
    assert_eq!(f, vec!["expires_in_days", "modality", "name", "scopes"]);
    let listed = app.get("/v1/me/app-tokens", Some(&s.access)).await;
    assert_eq!(listed.body["items"], json!([]));
}

async fn another_residents_app_token_is_404(app: TestApp) {
    let a = app.register("a@example.jp").await;
    let b = app.register("b@example.jp").await;
    let r = app
        .post(
            "/v1/me/app-tokens",
            Some(&a.access),
            json!({"name": "A", "scopes": ["points:read"]}),
        )
        .await;
    let id = r.body["id"].as_str().unwrap().to_owned();
    let token = r.body["token"].as_str().unwrap().to_owned();
    app.call(
        Method::DELETE,
        &format!("/v1/me/app-tokens/{id}"),
        Some(&b.access),
        None,
    )
    .await
    .expect(404);
    // A's token still works (it was not revoked by B's attempt): it authenticates, lacking only the scope.
    app.get("/v1/me", Some(&token)).await.expect(403);
    let listed = app.get("/v1/me/app-tokens", Some(&b.access)).await;
    assert_eq!(listed.body["items"], json!([]));
}

async fn pairing_code_is_single_use(app: TestApp) {
    let s = app.register("taro@example.jp").await;
    let r = app
        .call(Method::POST, "/v1/me/pairing-codes", Some(&s.access), None)
        .await;
    r.expect(201);
    let code = r.body["code"].as_str().unwrap().to_owned();
    assert_eq!(code.len(), 8);
    let expires: chrono::DateTime<Utc> = r.body["expires_at"].as_str().unwrap().parse().unwrap();
    let minutes = (expires - Utc::now()).num_seconds();
    assert!((590..=600).contains(&minutes));

    // A registered kiosk claims it with its client credentials.
    let pod = crate::common::register_app(&app, "Karada pod", "kiosk", &["measurements:write"], "sensed");
    let claim = app
        .send(
            actix_web::test::TestRequest::post()
                .uri("/v1/pairing/claim")
                .insert_header(("authorization", pod.basic()))
                .set_json(json!({"code": code.to_lowercase(), "device_name": "Pod 3, Umeda"})),
        )
        .await;
    claim.expect(201);
    assert_eq!(claim.body["scopes"], json!(["measurements:write"]));
    assert_eq!(claim.body["modality"], "sensed");
    assert_eq!(claim.body["name"], "Pod 3, Umeda");
    let kiosk = claim.body["token"].as_str().unwrap().to_owned();
    // The kiosk's token authenticates but cannot read the account.
    app.get("/v1/me", Some(&kiosk)).await.expect(403);
    // The code is spent.
    app.post("/v1/pairing/claim", None, json!({"code": code, "device_name": "Pod 4"}))
        .await
        .expect(404);
    // The resident sees the kiosk among their tokens and can revoke it.
    let listed = app.get("/v1/me/app-tokens", Some(&s.access)).await;
    assert_eq!(listed.body["items"][0]["name"], "Pod 3, Umeda");
    let id = listed.body["items"][0]["id"].as_str().unwrap();
    app.call(
        Method::DELETE,
        &format!("/v1/me/app-tokens/{id}"),
        Some(&s.access),
        None,
    )
    .await
    .expect(204);
    app.get("/v1/me", Some(&kiosk)).await.expect(401);
    // Bad input.
    app.post(
        "/v1/pairing/claim",
        None,
        json!({"code": "ABCD1234", "device_name": ""}),
    )
    .await
    .expect(422);
    app.post("/v1/pairing/claim", None, json!({"code": "ABCD1234"}))
        .await
        .expect(400);
}

async fn expired_pairing_code_is_refused(app: TestApp) {
    let s = app.register("taro@example.jp").await;
    let r = app
        .call(Method::POST, "/v1/me/pairing-codes", Some(&s.access), None)
        .await;
    let code = r.body["code"].as_str().unwrap().to_owned();
    diesel::update(pairing_codes::table)
        .set(pairing_codes::expires_at.eq(Ts::now().plus(chrono::Duration::seconds(-1))))
        .execute(&mut app.db.conn())
        .unwrap();
    app.post("/v1/pairing/claim", None, json!({"code": code, "device_name": "Pod"}))
        .await
        .expect(404);
}
