//! Registered apps and kiosks (issue 15, part 2): `sensed` is granted by the platform only.
//! Operators register apps at `/v1/admin/apps`; a resident's pairing code is claimed by the app's
//! server with HTTP Basic client credentials; a resident's own word never makes a token `sensed`.

use actix_web::http::Method;
use actix_web::test::TestRequest;
use serde_json::{Value, json};

use crate::both_backends;
use crate::common::admin;
use crate::common::{Resp, Session, TestApp};

both_backends!(
    an_operator_registers_an_app_whose_secret_is_shown_once,
    registering_apps_is_for_operators_and_validated,
    a_registered_app_claims_a_residents_code_and_gets_its_modality_and_the_scopes_both_allow,
    a_registered_kiosk_claims_with_its_credentials_and_gets_a_sensed_token,
    a_resident_cannot_claim_their_own_pairing_code_as_a_sensor,
    wrong_app_credentials_are_401_and_leave_the_code_unspent,
    an_app_claim_without_credentials_is_401,
    a_code_made_for_one_app_cannot_be_claimed_by_another,
    a_resident_cannot_make_a_sensed_app_token,
    a_retired_app_cannot_claim_and_its_tokens_stop_working,
    the_migration_makes_every_token_no_registered_app_claimed_self_reported,
);

/// Basic credentials of an app, as its server sends them.
fn basic(client_id: &str, secret: &str) -> String {
    use base64::Engine;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{client_id}:{secret}"))
    )
}

async fn register_app(app: &TestApp, ops: &str, body: Value) -> Value {
    let r = app.post("/v1/admin/apps", Some(ops), body).await;
    r.expect(201);
    r.body.clone()
}

async fn code_for(app: &TestApp, s: &Session, body: Option<Value>) -> String {
    let r = app
        .call(Method::POST, "/v1/me/pairing-codes", Some(&s.access), body)
        .await;
    r.expect(201);
    r.body["code"].as_str().unwrap().to_owned()
}

async fn claim(app: &TestApp, path: &str, credentials: Option<String>, body: Value) -> Resp {
    let mut req = TestRequest::post().uri(path).set_json(body);
    if let Some(c) = credentials {
        req = req.insert_header(("authorization", c));
    }
    app.send(req).await
}

fn credentials(registered: &Value) -> String {
    basic(
        registered["client_id"].as_str().unwrap(),
        registered["client_secret"].as_str().unwrap(),
    )
}

/// Uploads a first vascular-age measurement with `token`: the default rule pays 3 points for a
/// sensed one only. Returns the points the upload earned.
async fn first_vascular_age_points(app: &TestApp, s: &Session, token: &str) -> i64 {
    let before = crate::common::balance(app, s).await;
    let at = crate::common::from_now(chrono::Duration::hours(-1));
    let r = app
        .post(
            "/v1/measurements",
            Some(token),
            json!({"type": "vascular_age", "effective_at": at, "values": {"vascular_age_years": 50}}),
        )
        .await;
    r.expect(201);
    crate::common::balance(app, s).await - before
}

async fn an_operator_registers_an_app_whose_secret_is_shown_once(app: TestApp) {
    let ops = admin(&app).await;
    let created = register_app(
        &app,
        &ops,
        json!({"name": "Omron Connect", "kind": "app", "scopes": ["measurements:write", "measurements:read"],
               "modality": "sensed"}),
    )
    .await;
    for field in ["id", "client_id", "client_secret"] {
        assert!(
            created[field].as_str().is_some_and(|v| !v.is_empty()),
            "{field}: {created}"
        );
    }
    assert_eq!(created["name"], "Omron Connect");
    assert_eq!(created["kind"], "app");
    assert_eq!(created["modality"], "sensed");
    assert_eq!(created["scopes"], json!(["measurements:write", "measurements:read"]));
    let id = created["id"].as_str().unwrap();
    let one = app.get(&format!("/v1/admin/apps/{id}"), Some(&ops)).await;
    one.expect(200);
    assert_eq!(one.body["client_id"], created["client_id"]);
    assert!(one.body.get("client_secret").is_none(), "{}", one.body);
    let list = app.get("/v1/admin/apps", Some(&ops)).await;
    list.expect(200);
    assert_eq!(list.body["items"].as_array().unwrap().len(), 1);
    assert!(list.body["items"][0].get("client_secret").is_none());
    let secret = created["client_secret"].as_str().unwrap();
    assert!(!String::from_utf8_lossy(&list.raw).contains(secret));
}

async fn registering_apps_is_for_operators_and_validated(app: TestApp) {
    let ops = admin(&app).await;
    let s = app.register("taro@example.jp").await;
    let body = json!({"name": "Pod", "kind": "kiosk", "scopes": ["measurements:write"], "modality": "sensed"});
    app.post("/v1/admin/apps", Some(&s.access), body.clone())
        .await
        .expect(403);
    app.get("/v1/admin/apps", Some(&s.access)).await.expect(403);
    app.post("/v1/admin/apps", None, body).await.expect(401);
    let r = app
        .post(
            "/v1/admin/apps",
            Some(&ops),
            json!({"name": "", "kind": "robot", "scopes": ["account", "measurements:write"], "modality": "guessed"}),
        )
        .await;
    r.expect(422);
    let mut fields = r.error_fields();
    fields.sort();
    assert_eq!(fields, ["kind", "modality", "name", "scopes[0]"]);
    let r = app
        .post(
            "/v1/admin/apps",
            Some(&ops),
            json!({"name": "Pod", "kind": "kiosk", "scopes": [], "modality": "sensed"}),
        )
        .await;
    r.expect(422);
    assert_eq!(r.error_fields(), ["scopes"]);
    app.get(&format!("/v1/admin/apps/{}", uuid::Uuid::now_v7()), Some(&ops))
        .await
        .expect(404);
}

async fn a_registered_app_claims_a_residents_code_and_gets_its_modality_and_the_scopes_both_allow(app: TestApp) {
    let ops = admin(&app).await;
    let omron = register_app(
        &app,
        &ops,
        json!({"name": "Omron Connect", "kind": "app", "scopes": ["measurements:write", "measurements:read"],
               "modality": "sensed"}),
    )
    .await;
    let s = app.register("taro@example.jp").await;
    let code = app
        .call(
            Method::POST,
            "/v1/me/pairing-codes",
            Some(&s.access),
            Some(json!({"app_id": omron["id"], "scopes": ["measurements:write", "points:read"]})),
        )
        .await;
    code.expect(201);
    assert_eq!(code.body["app_id"], omron["id"]);
    let r = claim(
        &app,
        "/v1/apps/claim",
        Some(credentials(&omron)),
        json!({"code": code.body["code"]}),
    )
    .await;
    r.expect(201);
    assert_eq!(r.body["modality"], "sensed");
    assert_eq!(
        r.body["scopes"],
        json!(["measurements:write"]),
        "what both the app and the code allow"
    );
    assert_eq!(r.body["name"], "Omron Connect");
    assert_eq!(r.body["app_id"], omron["id"]);
    let token = r.body["token"].as_str().unwrap().to_owned();
    // The code is spent.
    claim(
        &app,
        "/v1/apps/claim",
        Some(credentials(&omron)),
        json!({"code": code.body["code"]}),
    )
    .await
    .expect(404);
    // The token's data is sensed: the sensed-only first vascular-age rule pays.
    crate::common::backdate_account(&app, &s, 30);
    assert_eq!(first_vascular_age_points(&app, &s, &token).await, 3);
    // A code without scopes allows what the app is registered for.
    let plain = code_for(&app, &s, None).await;
    let r = claim(
        &app,
        "/v1/apps/claim",
        Some(credentials(&omron)),
        json!({"code": plain}),
    )
    .await;
    r.expect(201);
    assert_eq!(r.body["scopes"], json!(["measurements:write", "measurements:read"]));
}

async fn a_registered_kiosk_claims_with_its_credentials_and_gets_a_sensed_token(app: TestApp) {
    let ops = admin(&app).await;
    let pod = register_app(
        &app,
        &ops,
        json!({"name": "Karada pod", "kind": "kiosk", "scopes": ["measurements:write"], "modality": "sensed"}),
    )
    .await;
    let s = app.register("taro@example.jp").await;
    let code = code_for(&app, &s, None).await;
    let r = claim(
        &app,
        "/v1/pairing/claim",
        Some(credentials(&pod)),
        json!({"code": code, "device_name": "Pod 3, Umeda"}),
    )
    .await;
    r.expect(201);
    assert_eq!(r.body["modality"], "sensed");
    assert_eq!(r.body["name"], "Pod 3, Umeda");
    assert_eq!(r.body["scopes"], json!(["measurements:write"]));
    crate::common::backdate_account(&app, &s, 30);
    let token = r.body["token"].as_str().unwrap().to_owned();
    assert_eq!(first_vascular_age_points(&app, &s, &token).await, 3);
}

async fn a_resident_cannot_claim_their_own_pairing_code_as_a_sensor(app: TestApp) {
    let s = app.register("taro@example.jp").await;
    crate::common::backdate_account(&app, &s, 30);
    let code = code_for(&app, &s, None).await;
    // No client credentials: the claim works, but the token is the resident's own word.
    let r = claim(
        &app,
        "/v1/pairing/claim",
        None,
        json!({"code": code, "device_name": "My pod"}),
    )
    .await;
    r.expect(201);
    assert_eq!(r.body["modality"], "self_reported");
    assert_eq!(r.body["scopes"], json!(["measurements:write"]));
    let token = r.body["token"].as_str().unwrap().to_owned();
    // Its data earns nothing from sensed-only rules.
    assert_eq!(first_vascular_age_points(&app, &s, &token).await, 0);
    let listed = app.get("/v1/me/app-tokens", Some(&s.access)).await;
    assert_eq!(listed.body["items"][0]["modality"], "self_reported");
}

async fn wrong_app_credentials_are_401_and_leave_the_code_unspent(app: TestApp) {
    let ops = admin(&app).await;
    let pod = register_app(
        &app,
        &ops,
        json!({"name": "Karada pod", "kind": "kiosk", "scopes": ["measurements:write"], "modality": "sensed"}),
    )
    .await;
    let s = app.register("taro@example.jp").await;
    let code = code_for(&app, &s, None).await;
    let client_id = pod["client_id"].as_str().unwrap();
    for (what, c) in [
        ("wrong secret", basic(client_id, "not-the-secret")),
        (
            "unknown client",
            basic("kac_unknown", pod["client_secret"].as_str().unwrap()),
        ),
        ("not base64", "Basic !!!".to_owned()),
        ("no colon", {
            use base64::Engine;
            format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(client_id))
        }),
        ("a bearer token", format!("Bearer {}", s.access)),
    ] {
        for (path, body) in [
            ("/v1/pairing/claim", json!({"code": code, "device_name": "Pod"})),
            ("/v1/apps/claim", json!({"code": code})),
        ] {
            let r = claim(&app, path, Some(c.clone()), body).await;
            r.expect(401);
            assert_eq!(
                r.headers.get("www-authenticate").unwrap(),
                "Basic realm=\"karada\"",
                "{what}"
            );
        }
    }
    // The code was not spent by the refused claims.
    let r = claim(
        &app,
        "/v1/pairing/claim",
        Some(credentials(&pod)),
        json!({"code": code, "device_name": "Pod"}),
    )
    .await;
    r.expect(201);
    assert_eq!(r.body["modality"], "sensed");
}

async fn an_app_claim_without_credentials_is_401(app: TestApp) {
    let s = app.register("taro@example.jp").await;
    let code = code_for(&app, &s, None).await;
    claim(&app, "/v1/apps/claim", None, json!({"code": code}))
        .await
        .expect(401);
    let listed = app.get("/v1/me/app-tokens", Some(&s.access)).await;
    assert_eq!(listed.body["items"], json!([]));
}

async fn a_code_made_for_one_app_cannot_be_claimed_by_another(app: TestApp) {
    let ops = admin(&app).await;
    let body =
        |name: &str| json!({"name": name, "kind": "app", "scopes": ["measurements:write"], "modality": "sensed"});
    let omron = register_app(&app, &ops, body("Omron Connect")).await;
    let other = register_app(&app, &ops, body("Other")).await;
    let s = app.register("taro@example.jp").await;
    let code = code_for(&app, &s, Some(json!({"app_id": omron["id"]}))).await;
    claim(&app, "/v1/apps/claim", Some(credentials(&other)), json!({"code": code}))
        .await
        .expect(404);
    claim(
        &app,
        "/v1/pairing/claim",
        None,
        json!({"code": code, "device_name": "Pod"}),
    )
    .await
    .expect(404);
    claim(&app, "/v1/apps/claim", Some(credentials(&omron)), json!({"code": code}))
        .await
        .expect(201);
    // Codes for unknown apps and scopes apps can never hold are refused when made.
    let r = app
        .call(
            Method::POST,
            "/v1/me/pairing-codes",
            Some(&s.access),
            Some(json!({"app_id": uuid::Uuid::now_v7(), "scopes": ["account"]})),
        )
        .await;
    r.expect(422);
    let mut fields = r.error_fields();
    fields.sort();
    assert_eq!(fields, ["app_id", "scopes[0]"]);
}

async fn a_resident_cannot_make_a_sensed_app_token(app: TestApp) {
    let s = app.register("taro@example.jp").await;
    let r = app
        .post(
            "/v1/me/app-tokens",
            Some(&s.access),
            json!({"name": "My pedometer", "scopes": ["measurements:write"], "modality": "sensed"}),
        )
        .await;
    r.expect(422);
    assert_eq!(r.error_fields(), ["modality"]);
    let listed = app.get("/v1/me/app-tokens", Some(&s.access)).await;
    assert_eq!(listed.body["items"], json!([]), "nothing was made");
    // Stating `self_reported`, or nothing, makes a self-reported token.
    for body in [
        json!({"name": "Diary", "scopes": ["measurements:write"], "modality": "self_reported"}),
        json!({"name": "Diary 2", "scopes": ["measurements:write"]}),
    ] {
        let r = app.post("/v1/me/app-tokens", Some(&s.access), body).await;
        r.expect(201);
        assert_eq!(r.body["modality"], "self_reported");
    }
}

async fn a_retired_app_cannot_claim_and_its_tokens_stop_working(app: TestApp) {
    let ops = admin(&app).await;
    let omron = register_app(
        &app,
        &ops,
        json!({"name": "Omron Connect", "kind": "app", "scopes": ["measurements:write"], "modality": "sensed"}),
    )
    .await;
    let s = app.register("taro@example.jp").await;
    let code = code_for(&app, &s, None).await;
    let r = claim(&app, "/v1/apps/claim", Some(credentials(&omron)), json!({"code": code})).await;
    r.expect(201);
    let token = r.body["token"].as_str().unwrap().to_owned();
    let id = omron["id"].as_str().unwrap();
    app.call(Method::DELETE, &format!("/v1/admin/apps/{id}"), Some(&ops), None)
        .await
        .expect(204);
    let at = crate::common::from_now(chrono::Duration::hours(-1));
    app.post(
        "/v1/measurements",
        Some(&token),
        json!({"type": "body_weight", "effective_at": at, "values": {"kg": 61.0}}),
    )
    .await
    .expect(401);
    let code = code_for(&app, &s, None).await;
    claim(&app, "/v1/apps/claim", Some(credentials(&omron)), json!({"code": code}))
        .await
        .expect(401);
    app.call(Method::DELETE, &format!("/v1/admin/apps/{id}"), Some(&ops), None)
        .await
        .expect(404);
}

async fn the_migration_makes_every_token_no_registered_app_claimed_self_reported(app: TestApp) {
    use diesel::prelude::*;
    use karada::db::schema::app_tokens;
    use karada::db::{Id, Ts};
    let s = app.register("taro@example.jp").await;
    crate::common::backdate_account(&app, &s, 30);
    // Back to the schema before registered apps, when a resident could declare a token sensed.
    let mut conn = app.db.conn();
    assert_eq!(karada::db::revert_last_migration(&mut conn).unwrap(), "20261202000012");
    let secret = "kat_0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    diesel::insert_into(app_tokens::table)
        .values((
            app_tokens::id.eq(Id::new()),
            app_tokens::user_id.eq(Id(s.user_id.parse().unwrap())),
            app_tokens::name.eq("My own sensor"),
            app_tokens::token_hash.eq(karada::accounts::tokens::hash_secret(secret)),
            app_tokens::scopes.eq("measurements:write"),
            app_tokens::modality.eq("sensed"),
            app_tokens::created_at.eq(Ts::now()),
            app_tokens::expires_at.eq(Ts::now().plus(chrono::Duration::days(30))),
        ))
        .execute(&mut conn)
        .unwrap();
    assert_eq!(karada::db::run_migrations(&mut conn).unwrap(), 1);
    let listed = app.get("/v1/me/app-tokens", Some(&s.access)).await;
    assert_eq!(listed.body["items"][0]["name"], "My own sensor");
    assert_eq!(listed.body["items"][0]["modality"], "self_reported");
    // Its uploads are the resident's word from now on.
    assert_eq!(first_vascular_age_points(&app, &s, secret).await, 0);
}
