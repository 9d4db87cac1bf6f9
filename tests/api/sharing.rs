//! Organisations and sharing: organisations and their staff, enrollment codes, memberships,
//! consents with their receipts, individual reads under consent with the access log, and
//! programmes limited to an organisation's members.

use actix_web::http::Method;
use chrono::{Duration, Utc};
use diesel::prelude::*;
use serde_json::{Value, json};

use karada::db::schema::{enrollment_codes, points_ledger};
use karada::db::{Id, OrgId, Ts, UserId};

use crate::both_backends;
use crate::common::{Org, Resp, Session, TestApp, assert_problem, consent_body, employer, from_now, staff};
use crate::common::{admin, steps, weight};

both_backends!(
    a_summary_for_an_organisation_holds_only_individually_consented_residents,
    operators_create_list_change_and_delete_organisations,
    an_organisation_that_had_members_or_sponsors_a_programme_is_kept,
    organisations_are_validated_field_by_field_and_nothing_is_created,
    only_operators_manage_organisations_and_staff,
    operators_give_and_take_staff_roles_with_effect_on_the_next_request,
    only_the_organisations_org_admin_creates_enrollment_codes,
    enrollment_codes_are_validated_field_by_field,
    a_resident_joins_with_a_code_once_and_joining_again_answers_the_same_membership,
    a_code_typed_in_lower_case_with_a_dash_joins,
    a_code_with_max_uses_admits_that_many_residents,
    concurrent_joins_never_exceed_max_uses,
    concurrent_joins_of_one_resident_make_one_membership,
    expired_and_unknown_codes_are_refused,
    residents_list_and_leave_their_memberships_and_may_join_again,
    leaving_revokes_that_organisations_consents_and_no_others,
    a_consent_given_while_leaving_never_outlives_the_membership,
    a_consent_needs_a_current_membership,
    consents_are_validated_field_by_field_and_nothing_is_given,
    a_consent_comes_with_a_receipt_that_matches_it,
    revoking_a_consent_is_immediate_idempotent_and_kept_in_the_history,
    app_tokens_cannot_join_leave_consent_or_read_the_access_log,
    health_staff_read_a_members_measurements_of_a_consented_type_and_each_read_is_logged,
    individual_reads_need_an_individual_consent_covering_the_type,
    only_the_organisations_health_staff_read_individually,
    revocation_leaving_and_expiry_end_individual_reads_at_once,
    a_members_programme_pays_only_its_current_members,
    a_members_programme_events_are_for_its_members,
    membership_programmes_are_validated,
);

const PURPOSE: &str = "Follow-up by the occupational health nurse";

async fn post_code(app: &TestApp, token: &str, org: &str, body: Value) -> Resp {
    app.post(&format!("/v1/orgs/{org}/enrollment-codes"), Some(token), body)
        .await
}

async fn new_code(app: &TestApp, org: &Org, body: Value) -> String {
    let r = post_code(app, &org.admin.access, &org.id, body).await;
    r.expect(201);
    r.body["code"].as_str().unwrap().to_owned()
}

async fn join(app: &TestApp, s: &Session, code: &str) -> Resp {
    app.post(
        "/v1/me/memberships",
        Some(&s.access),
        json!({ "enrollment_code": code }),
    )
    .await
}

/// Makes `s` a member of `org` with a fresh code; returns the membership id.
pub(crate) async fn enrol(app: &TestApp, org: &Org, s: &Session) -> String {
    let code = new_code(app, org, json!({})).await;
    let r = join(app, s, &code).await;
    r.expect(201);
    r.body["id"].as_str().unwrap().to_owned()
}

async fn memberships(app: &TestApp, s: &Session) -> Vec<Value> {
    let r = app.get("/v1/me/memberships", Some(&s.access)).await;
    r.expect(200);
    r.body["items"].as_array().unwrap().clone()
}

async fn leave(app: &TestApp, s: &Session, membership: &str) -> Resp {
    app.call(
        Method::DELETE,
        &format!("/v1/me/memberships/{membership}"),
        Some(&s.access),
        None,
    )
    .await
}

pub(crate) async fn give(app: &TestApp, s: &Session, body: Value) -> Value {
    let r = app.post("/v1/me/consents", Some(&s.access), body).await;
    r.expect(201);
    r.body.clone()
}

async fn consents(app: &TestApp, s: &Session) -> Vec<Value> {
    let r = app.get("/v1/me/consents", Some(&s.access)).await;
    r.expect(200);
    r.body["items"].as_array().unwrap().clone()
}

async fn revoke(app: &TestApp, s: &Session, consent: &str) -> Resp {
    app.call(
        Method::DELETE,
        &format!("/v1/me/consents/{consent}"),
        Some(&s.access),
        None,
    )
    .await
}

fn find<'a>(items: &'a [Value], id: &Value) -> &'a Value {
    items
        .iter()
        .find(|i| &i["id"] == id)
        .unwrap_or_else(|| panic!("{id} not in {items:?}"))
}

async fn read(app: &TestApp, reader: &Session, org: &str, member: &Session, query: &str) -> Resp {
    app.get(
        &format!("/v1/orgs/{org}/members/{}/measurements{query}", member.user_id),
        Some(&reader.access),
    )
    .await
}

async fn access_log(app: &TestApp, s: &Session) -> Vec<Value> {
    let r = app.get("/v1/me/access-log", Some(&s.access)).await;
    r.expect(200);
    r.body["items"].as_array().unwrap().clone()
}

fn bp(day: &str, hour: u32) -> Value {
    json!({"type": "blood_pressure", "effective_at": format!("{day}T{hour:02}:00:00+09:00"),
           "values": {"systolic_mmhg": 128, "diastolic_mmhg": 84}})
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

// ---- organisations ----

async fn operators_create_list_change_and_delete_organisations(app: TestApp) {
    let ops = admin(&app).await;
    let acme = create_org(&app, &ops, json!({"name": "  ACME Corp  ", "kind": "employer"})).await;
    assert_eq!(acme["name"], "ACME Corp", "the name is trimmed");
    assert_eq!(acme["kind"], "employer");
    assert_eq!(acme["privacy_budget"], 10.0, "the default budget");
    assert_eq!(acme["privacy_spent"], 0.0);
    assert!(acme["id"].as_str().unwrap().parse::<uuid::Uuid>().is_ok());
    assert!(acme["created_at"].is_string() && acme["updated_at"].is_string());
    let kenpo = create_org(
        &app,
        &ops,
        json!({"name": "Kansai Kenpo", "kind": "insurer", "privacy_budget": 2.5}),
    )
    .await;
    assert_eq!(kenpo["kind"], "insurer");
    assert_eq!(kenpo["privacy_budget"], 2.5);
    let zero = create_org(
        &app,
        &ops,
        json!({"name": "No statistics", "kind": "insurer", "privacy_budget": 0}),
    )
    .await;
    assert_eq!(zero["privacy_budget"], 0.0, "0 is a budget");

    // Paged, oldest first.
    let p1 = app.get("/v1/admin/organizations?limit=2", Some(&ops)).await;
    p1.expect(200);
    let items = p1.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(items[0], acme);
    assert_eq!(items[1], kenpo);
    let cursor = p1.body["next_cursor"].as_str().unwrap();
    let p2 = app
        .get(&format!("/v1/admin/organizations?limit=2&cursor={cursor}"), Some(&ops))
        .await;
    p2.expect(200);
    assert_eq!(p2.body["items"], json!([zero]));
    assert!(p2.body["next_cursor"].is_null());
    app.get("/v1/admin/organizations?limit=0", Some(&ops)).await.expect(422);
    app.get("/v1/admin/organizations?cursor=zz", Some(&ops))
        .await
        .expect(400);

    let path = format!("/v1/admin/organizations/{}", acme["id"].as_str().unwrap());
    let got = app.get(&path, Some(&ops)).await;
    got.expect(200);
    assert_eq!(got.body, acme);

    // The privacy budget is read-only here (its own route changes it, with a reason): a change
    // of it is refused and changes nothing; repeating the current one is fine.
    let r = app
        .call(
            Method::PUT,
            &path,
            Some(&ops),
            Some(json!({"name": "ACME Holdings", "kind": "insurer", "privacy_budget": 20})),
        )
        .await;
    assert_problem(&r, 422, "validation");
    assert_eq!(r.error_fields(), vec!["privacy_budget"]);
    assert_eq!(app.get(&path, Some(&ops)).await.body, acme);
    let r = app
        .call(
            Method::PUT,
            &path,
            Some(&ops),
            Some(json!({"name": "ACME Holdings", "kind": "insurer", "privacy_budget": 10})),
        )
        .await;
    r.expect(200);
    assert_eq!(r.body["id"], acme["id"]);
    assert_eq!(r.body["name"], "ACME Holdings");
    assert_eq!(r.body["kind"], "insurer");
    assert_eq!(r.body["privacy_budget"], 10.0);
    assert_eq!(r.body["created_at"], acme["created_at"]);
    assert_eq!(app.get(&path, Some(&ops)).await.body, r.body);
    // Without a budget, a change keeps it; the policy route changes it.
    app.call(
        Method::PUT,
        &format!("{path}/privacy"),
        Some(&ops),
        Some(json!({"mode": "differential_privacy", "epsilon_per_year": 20, "reason": "a larger insurer"})),
    )
    .await
    .expect(200);
    let r = app
        .call(
            Method::PUT,
            &path,
            Some(&ops),
            Some(json!({"name": "ACME Holdings", "kind": "employer"})),
        )
        .await;
    r.expect(200);
    assert_eq!(r.body["privacy_budget"], 20.0);

    let unknown = format!("/v1/admin/organizations/{}", uuid::Uuid::new_v4());
    app.get(&unknown, Some(&ops)).await.expect(404);
    app.call(
        Method::PUT,
        &unknown,
        Some(&ops),
        Some(json!({"name": "x", "kind": "employer"})),
    )
    .await
    .expect(404);
    app.call(Method::DELETE, &unknown, Some(&ops), None).await.expect(404);
    app.get("/v1/admin/organizations/not-a-uuid", Some(&ops))
        .await
        .expect(400);

    // Deleting one never used.
    let kenpo_path = format!("/v1/admin/organizations/{}", kenpo["id"].as_str().unwrap());
    let r = app.call(Method::DELETE, &kenpo_path, Some(&ops), None).await;
    r.expect(204);
    assert!(r.raw.is_empty());
    app.get(&kenpo_path, Some(&ops)).await.expect(404);
    app.call(Method::DELETE, &kenpo_path, Some(&ops), None)
        .await
        .expect(404);
    let listed = app.get("/v1/admin/organizations", Some(&ops)).await;
    let ids: Vec<&Value> = listed.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| &o["id"])
        .collect();
    assert_eq!(ids, vec![&acme["id"], &zero["id"]]);
}

async fn an_organisation_that_had_members_or_sponsors_a_programme_is_kept(app: TestApp) {
    let ops = admin(&app).await;
    let acme = new_org(&app, &ops, "ACME").await;
    let path = format!("/v1/admin/organizations/{}", acme.id);
    // Staff and codes alone do not keep it... (checked on another organisation below); a member does.
    let taro = app.register("taro@example.jp").await;
    let membership = enrol(&app, &acme, &taro).await;
    let r = app.call(Method::DELETE, &path, Some(&ops), None).await;
    assert_problem(&r, 409, "organization-has-members");
    // Having left, the resident's history still keeps it.
    leave(&app, &taro, &membership).await.expect(204);
    let r = app.call(Method::DELETE, &path, Some(&ops), None).await;
    assert_problem(&r, 409, "organization-has-members");
    app.get(&path, Some(&ops)).await.expect(200);
    assert_eq!(memberships(&app, &taro).await.len(), 1);

    let sponsor = new_org(&app, &ops, "Sponsor").await;
    new_code(&app, &sponsor, json!({"max_uses": 5})).await;
    app.post(
        "/v1/admin/programmes",
        Some(&ops),
        json!({"id": "sponsored", "title": "Sponsored", "sponsor": "Sponsor",
               "eligibility": "organization_members", "organization_id": sponsor.id}),
    )
    .await
    .expect(201);
    let sponsor_path = format!("/v1/admin/organizations/{}", sponsor.id);
    let r = app.call(Method::DELETE, &sponsor_path, Some(&ops), None).await;
    assert_problem(&r, 409, "organization-sponsors-programme");
    app.get(&sponsor_path, Some(&ops)).await.expect(200);

    // One with staff and an enrollment code but no member and no programme goes, with them.
    let spare = new_org(&app, &ops, "Spare").await;
    let code = new_code(&app, &spare, json!({})).await;
    let spare_path = format!("/v1/admin/organizations/{}", spare.id);
    app.call(Method::DELETE, &spare_path, Some(&ops), None)
        .await
        .expect(204);
    app.get(&format!("{spare_path}/staff"), Some(&ops)).await.expect(404);
    let r = join(&app, &taro, &code).await;
    r.expect(422);
    assert_eq!(r.error_fields(), vec!["enrollment_code"]);
    post_code(&app, &spare.admin.access, &spare.id, json!({}))
        .await
        .expect(403);
}

async fn organisations_are_validated_field_by_field_and_nothing_is_created(app: TestApp) {
    let ops = admin(&app).await;
    let post = |body: Value| app.post("/v1/admin/organizations", Some(&ops), body);
    let r = post(json!({"name": "", "kind": "employer", "privacy_budget": -1})).await;
    assert_problem(&r, 422, "validation");
    assert_eq!(sorted(r.error_fields()), vec!["name", "privacy_budget"]);
    let r = post(json!({"name": "   ", "kind": "insurer"})).await;
    r.expect(422);
    assert_eq!(r.error_fields(), vec!["name"]);
    let r = post(json!({"name": "x".repeat(201), "kind": "insurer", "privacy_budget": 10.5})).await;
    r.expect(422);
    assert_eq!(sorted(r.error_fields()), vec!["name", "privacy_budget"]);
    // Limits are inclusive (a budget above the default of 10 is a policy change with a reason).
    let edge = post(json!({"name": "é".repeat(200), "kind": "insurer", "privacy_budget": 10})).await;
    edge.expect(201);
    assert_eq!(edge.body["privacy_budget"], 10.0);
    // Malformed: unknown kind, unknown field, wrong type, missing field.
    post(json!({"name": "ACME", "kind": "charity"})).await.expect(400);
    post(json!({"name": "ACME", "kind": "employer", "colour": "red"}))
        .await
        .expect(400);
    post(json!({"name": "ACME", "kind": "employer", "privacy_budget": "ten"}))
        .await
        .expect(400);
    post(json!({"name": "ACME"})).await.expect(400);
    let listed = app.get("/v1/admin/organizations", Some(&ops)).await;
    assert_eq!(listed.body["items"].as_array().unwrap().len(), 1, "only the valid one");

    // A change is validated the same way and a refused change changes nothing.
    let path = format!("/v1/admin/organizations/{}", edge.body["id"].as_str().unwrap());
    let r = app
        .call(
            Method::PUT,
            &path,
            Some(&ops),
            Some(json!({"name": "", "kind": "employer", "privacy_budget": 1001})),
        )
        .await;
    r.expect(422);
    assert_eq!(sorted(r.error_fields()), vec!["name", "privacy_budget"]);
    app.call(
        Method::PUT,
        &path,
        Some(&ops),
        Some(json!({"name": "ok", "kind": "employer", "extra": 1})),
    )
    .await
    .expect(400);
    assert_eq!(app.get(&path, Some(&ops)).await.body, edge.body);
}

async fn only_operators_manage_organisations_and_staff(app: TestApp) {
    let ops = admin(&app).await;
    let acme = new_org(&app, &ops, "ACME").await;
    let taro = app.register("taro@example.jp").await;
    let org = format!("/v1/admin/organizations/{}", acme.id);
    let staff_path = format!("{org}/staff");
    let remove = format!("{staff_path}/{}", acme.admin.user_id);
    // A resident, and the organisation's own org_admin, are not operators.
    for token in [taro.access.as_str(), acme.admin.access.as_str()] {
        let r = app
            .post(
                "/v1/admin/organizations",
                Some(token),
                json!({"name": "Mine", "kind": "employer"}),
            )
            .await;
        assert_problem(&r, 403, "forbidden");
        app.get("/v1/admin/organizations", Some(token)).await.expect(403);
        app.get(&org, Some(token)).await.expect(403);
        app.call(
            Method::PUT,
            &org,
            Some(token),
            Some(json!({"name": "Mine", "kind": "employer"})),
        )
        .await
        .expect(403);
        app.call(Method::DELETE, &org, Some(token), None).await.expect(403);
        app.post(
            &staff_path,
            Some(token),
            json!({"email": "taro@example.jp", "role": "health_staff"}),
        )
        .await
        .expect(403);
        app.get(&staff_path, Some(token)).await.expect(403);
        app.call(Method::DELETE, &remove, Some(token), None).await.expect(403);
    }
    app.get("/v1/admin/organizations", None).await.expect(401);
    app.post(
        &staff_path,
        None,
        json!({"email": "taro@example.jp", "role": "analyst"}),
    )
    .await
    .expect(401);
    // Nothing changed.
    let listed = app.get("/v1/admin/organizations", Some(&ops)).await;
    assert_eq!(listed.body["items"].as_array().unwrap().len(), 1);
    assert_eq!(listed.body["items"][0]["name"], "ACME");
    let staff_list = app.get(&staff_path, Some(&ops)).await;
    assert_eq!(staff_list.body["items"].as_array().unwrap().len(), 1);
}

async fn operators_give_and_take_staff_roles_with_effect_on_the_next_request(app: TestApp) {
    let ops = admin(&app).await;
    let acme = new_org(&app, &ops, "ACME").await;
    let staff_path = format!("/v1/admin/organizations/{}/staff", acme.id);
    let kenji = app.register("kenji@example.jp").await;

    let r = app
        .post(
            &staff_path,
            Some(&ops),
            json!({"email": "kenji@example.jp", "role": "org_admin"}),
        )
        .await;
    r.expect(201);
    assert_eq!(r.body["organization_id"], acme.id.as_str());
    assert_eq!(r.body["user_id"], kenji.user_id.as_str());
    assert_eq!(r.body["email"], "kenji@example.jp");
    assert_eq!(r.body["role"], "org_admin");
    // The same role again, the email written differently: nothing changes.
    let again = app
        .post(
            &staff_path,
            Some(&ops),
            json!({"email": " Kenji@Example.JP ", "role": "org_admin"}),
        )
        .await;
    again.expect(200);
    assert_eq!(again.body["user_id"], kenji.user_id.as_str());
    assert_eq!(again.body["role"], "org_admin");
    // A second role is a second grant.
    app.post(
        &staff_path,
        Some(&ops),
        json!({"email": "kenji@example.jp", "role": "analyst"}),
    )
    .await
    .expect(201);
    // No such account.
    let r = app
        .post(
            &staff_path,
            Some(&ops),
            json!({"email": "nobody@example.jp", "role": "analyst"}),
        )
        .await;
    assert_problem(&r, 422, "validation");
    assert_eq!(r.error_fields(), vec!["email"]);
    // Malformed role, unknown field, unknown organisation.
    app.post(
        &staff_path,
        Some(&ops),
        json!({"email": "kenji@example.jp", "role": "boss"}),
    )
    .await
    .expect(400);
    app.post(
        &staff_path,
        Some(&ops),
        json!({"email": "kenji@example.jp", "role": "analyst", "since": "today"}),
    )
    .await
    .expect(400);
    let unknown = format!("/v1/admin/organizations/{}/staff", uuid::Uuid::new_v4());
    app.post(
        &unknown,
        Some(&ops),
        json!({"email": "kenji@example.jp", "role": "analyst"}),
    )
    .await
    .expect(404);
    app.get(&unknown, Some(&ops)).await.expect(404);

    let listed = app.get(&staff_path, Some(&ops)).await;
    listed.expect(200);
    let items = listed.body["items"].as_array().unwrap();
    let mut roles: Vec<(String, String)> = items
        .iter()
        .map(|i| {
            assert_eq!(i["organization_id"], acme.id.as_str());
            assert!(i["created_at"].is_string(), "{i}");
            (
                i["email"].as_str().unwrap().to_owned(),
                i["role"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    roles.sort();
    assert_eq!(
        roles,
        vec![
            ("admin@acme.example.jp".to_owned(), "org_admin".to_owned()),
            ("kenji@example.jp".to_owned(), "analyst".to_owned()),
            ("kenji@example.jp".to_owned(), "org_admin".to_owned()),
        ]
    );

    // The role works with the session Kenji already had.
    post_code(&app, &kenji.access, &acme.id, json!({})).await.expect(201);
    let r = app
        .call(
            Method::DELETE,
            &format!("{staff_path}/{}", kenji.user_id),
            Some(&ops),
            None,
        )
        .await;
    r.expect(204);
    // The very next request with the same access token no longer has it.
    let r = post_code(&app, &kenji.access, &acme.id, json!({})).await;
    assert_problem(&r, 403, "forbidden");
    // Every role of the account there went; the other org_admin keeps theirs.
    let listed = app.get(&staff_path, Some(&ops)).await;
    let emails: Vec<&str> = listed.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["email"].as_str().unwrap())
        .collect();
    assert_eq!(emails, vec!["admin@acme.example.jp"]);
    post_code(&app, &acme.admin.access, &acme.id, json!({}))
        .await
        .expect(201);
    // Removing a role the account no longer holds.
    app.call(
        Method::DELETE,
        &format!("{staff_path}/{}", kenji.user_id),
        Some(&ops),
        None,
    )
    .await
    .expect(404);
}

// ---- enrollment codes and memberships ----

async fn only_the_organisations_org_admin_creates_enrollment_codes(app: TestApp) {
    let ops = admin(&app).await;
    let acme = new_org(&app, &ops, "ACME").await;
    let other = new_org(&app, &ops, "Other").await;
    let analyst = staff(&app, &ops, &acme.id, "analyst@acme.example.jp", "analyst").await;
    let nurse = staff(&app, &ops, &acme.id, "nurse@acme.example.jp", "health_staff").await;
    let taro = app.register("taro@example.jp").await;

    let r = post_code(&app, &acme.admin.access, &acme.id, json!({})).await;
    r.expect(201);
    let code = r.body["code"].as_str().unwrap();
    assert_eq!(code.chars().count(), 8);
    assert!(
        code.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit()),
        "{code}"
    );
    assert_eq!(r.body["organization_id"], acme.id.as_str());
    assert!(r.body["expires_at"].is_null());
    assert!(r.body["max_uses"].is_null());
    assert!(r.body["id"].is_string());
    let until = Utc::now() + Duration::days(30);
    let r = post_code(
        &app,
        &acme.admin.access,
        &acme.id,
        json!({"expires_at": until.to_rfc3339(), "max_uses": 25}),
    )
    .await;
    r.expect(201);
    assert_eq!(r.body["max_uses"], 25);
    let got: chrono::DateTime<Utc> = r.body["expires_at"].as_str().unwrap().parse().unwrap();
    assert!((got - until).num_milliseconds().abs() < 1000, "{got} vs {until}");
    assert_ne!(r.body["code"], code, "each code is new");

    // The organisation's other staff, another organisation's org_admin, a resident and an operator
    // who is not its staff are refused.
    for (who, token) in [
        ("analyst", &analyst.access),
        ("health staff", &nurse.access),
        ("other org_admin", &other.admin.access),
        ("resident", &taro.access),
        ("operator", &ops),
    ] {
        let r = post_code(&app, token, &acme.id, json!({})).await;
        assert_eq!(r.status.as_u16(), 403, "{who}: {}", String::from_utf8_lossy(&r.raw));
        assert_problem(&r, 403, "forbidden");
    }
    // Another organisation's org_admin is org_admin of their own only.
    post_code(&app, &other.admin.access, &other.id, json!({}))
        .await
        .expect(201);
    post_code(&app, &acme.admin.access, &other.id, json!({}))
        .await
        .expect(403);
    // An app token of the org_admin never acts for the organisation.
    let t = app
        .post(
            "/v1/me/app-tokens",
            Some(&acme.admin.access),
            json!({"name": "Script", "scopes": ["measurements:read", "measurements:write", "points:read"]}),
        )
        .await;
    t.expect(201);
    post_code(&app, t.body["token"].as_str().unwrap(), &acme.id, json!({}))
        .await
        .expect(403);
    app.post(&format!("/v1/orgs/{}/enrollment-codes", acme.id), None, json!({}))
        .await
        .expect(401);
    // An unknown organisation: nobody holds a role there.
    post_code(&app, &acme.admin.access, &uuid::Uuid::new_v4().to_string(), json!({}))
        .await
        .expect(403);
}

async fn enrollment_codes_are_validated_field_by_field(app: TestApp) {
    let ops = admin(&app).await;
    let acme = new_org(&app, &ops, "ACME").await;
    let post = |body: Value| post_code(&app, &acme.admin.access, &acme.id, body);
    let r = post(json!({"expires_at": from_now(-Duration::minutes(1))})).await;
    assert_problem(&r, 422, "validation");
    assert_eq!(r.error_fields(), vec!["expires_at"]);
    let r = post(json!({"max_uses": 0})).await;
    r.expect(422);
    assert_eq!(r.error_fields(), vec!["max_uses"]);
    let r = post(json!({"expires_at": from_now(-Duration::days(1)), "max_uses": -3})).await;
    r.expect(422);
    assert_eq!(sorted(r.error_fields()), vec!["expires_at", "max_uses"]);
    let r = post(json!({"max_uses": 1_000_001})).await;
    r.expect(422);
    assert_eq!(r.error_fields(), vec!["max_uses"]);
    let r = post(json!({"expires_at": from_now(Duration::days(3700))})).await;
    r.expect(422);
    assert_eq!(r.error_fields(), vec!["expires_at"]);
    // The limits themselves are allowed.
    post(json!({"max_uses": 1})).await.expect(201);
    post(json!({"max_uses": 1_000_000, "expires_at": from_now(Duration::days(3650))}))
        .await
        .expect(201);
    // Malformed.
    post(json!({"max_uses": "ten"})).await.expect(400);
    post(json!({"expires_at": "tomorrow"})).await.expect(400);
    post(json!({"uses": 3})).await.expect(400);
    let stored: i64 = enrollment_codes::table.count().get_result(&mut app.db.conn()).unwrap();
    assert_eq!(stored, 2, "only the valid codes were stored");
}

async fn a_resident_joins_with_a_code_once_and_joining_again_answers_the_same_membership(app: TestApp) {
    let ops = admin(&app).await;
    let acme = new_org(&app, &ops, "ACME").await;
    let code = new_code(&app, &acme, json!({})).await;
    let taro = app.register("taro@example.jp").await;
    assert!(memberships(&app, &taro).await.is_empty());

    let r = join(&app, &taro, &code).await;
    r.expect(201);
    let id = r.body["id"].clone();
    assert!(id.is_string());
    assert_eq!(r.body["organization_id"], acme.id.as_str());
    assert_eq!(r.body["organization_name"], "ACME");
    assert_eq!(r.body["organization_kind"], "employer");
    assert!(r.body["joined_at"].is_string());
    assert!(r.body["left_at"].is_null());
    let first = r.body.clone();

    // Again, with the same code or another of the organisation's: the same membership.
    let again = join(&app, &taro, &code).await;
    again.expect(200);
    assert_eq!(again.body, first);
    let another = new_code(&app, &acme, json!({"max_uses": 1})).await;
    let again = join(&app, &taro, &another).await;
    again.expect(200);
    assert_eq!(again.body["id"], id);
    // ... which did not use that code up.
    let hanako = app.register("hanako@example.jp").await;
    let r = join(&app, &hanako, &another).await;
    r.expect(201);
    assert_ne!(r.body["id"], id);

    let listed = memberships(&app, &taro).await;
    assert_eq!(listed, vec![first]);
    assert_eq!(memberships(&app, &hanako).await.len(), 1);
    // Malformed bodies.
    app.post("/v1/me/memberships", Some(&taro.access), json!({}))
        .await
        .expect(400);
    app.post(
        "/v1/me/memberships",
        Some(&taro.access),
        json!({"enrollment_code": code, "organization_id": acme.id}),
    )
    .await
    .expect(400);
    app.post("/v1/me/memberships", None, json!({"enrollment_code": code}))
        .await
        .expect(401);
}

async fn a_code_typed_in_lower_case_with_a_dash_joins(app: TestApp) {
    let ops = admin(&app).await;
    let acme = new_org(&app, &ops, "ACME").await;
    let code = new_code(&app, &acme, json!({})).await;
    let lower = code.to_lowercase();
    let dashed = format!("{}-{}", &lower[..4], &lower[4..]);
    let taro = app.register("taro@example.jp").await;
    let r = join(&app, &taro, &dashed).await;
    r.expect(201);
    assert_eq!(r.body["organization_id"], acme.id.as_str());
    let hanako = app.register("hanako@example.jp").await;
    join(&app, &hanako, &format!(" {} {} ", &code[..3], &code[3..]))
        .await
        .expect(201);
    // One character off is another (unknown) code.
    let mut wrong: Vec<char> = code.chars().collect();
    wrong[0] = if wrong[0] == 'A' { 'B' } else { 'A' };
    let jiro = app.register("jiro@example.jp").await;
    let r = join(&app, &jiro, &wrong.into_iter().collect::<String>()).await;
    r.expect(422);
    assert_eq!(r.error_fields(), vec!["enrollment_code"]);
}

async fn a_code_with_max_uses_admits_that_many_residents(app: TestApp) {
    let ops = admin(&app).await;
    let acme = new_org(&app, &ops, "ACME").await;
    let once = new_code(&app, &acme, json!({"max_uses": 1})).await;
    let twice = new_code(&app, &acme, json!({"max_uses": 2})).await;
    let taro = app.register("taro@example.jp").await;
    let hanako = app.register("hanako@example.jp").await;
    let jiro = app.register("jiro@example.jp").await;

    join(&app, &taro, &once).await.expect(201);
    let r = join(&app, &hanako, &once).await;
    assert_problem(&r, 422, "validation");
    assert_eq!(r.error_fields(), vec!["enrollment_code"]);
    assert!(memberships(&app, &hanako).await.is_empty(), "nobody joined");
    // The one who used it is still answered with their membership.
    join(&app, &taro, &once).await.expect(200);

    join(&app, &hanako, &twice).await.expect(201);
    join(&app, &jiro, &twice).await.expect(201);
    let kenji = app.register("kenji@example.jp").await;
    join(&app, &kenji, &twice).await.expect(422);
    let uses: Vec<(Option<i32>, i32)> = enrollment_codes::table
        .select((enrollment_codes::max_uses, enrollment_codes::uses))
        .order(enrollment_codes::max_uses.asc())
        .load(&mut app.db.conn())
        .unwrap();
    assert_eq!(uses, vec![(Some(1), 1), (Some(2), 2)]);
}

async fn concurrent_joins_never_exceed_max_uses(app: TestApp) {
    let ops = admin(&app).await;
    let acme = new_org(&app, &ops, "ACME").await;
    let code = new_code(&app, &acme, json!({"max_uses": 2})).await;
    let mut residents = Vec::new();
    for i in 0..6 {
        residents.push(app.register(&format!("resident{i}@example.jp")).await);
    }
    let results = futures_util::future::join_all(residents.iter().map(|s| join(&app, s, &code))).await;
    let statuses: Vec<u16> = results.iter().map(|r| r.status.as_u16()).collect();
    assert_eq!(statuses.iter().filter(|s| **s == 201).count(), 2, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == 422).count(), 4, "{statuses:?}");
    let uses: i32 = enrollment_codes::table
        .select(enrollment_codes::uses)
        .first(&mut app.db.conn())
        .unwrap();
    assert_eq!(uses, 2);
}

async fn concurrent_joins_of_one_resident_make_one_membership(app: TestApp) {
    let ops = admin(&app).await;
    let acme = new_org(&app, &ops, "ACME").await;
    let code = new_code(&app, &acme, json!({})).await;
    // A resident tapping "join" several times at once, tried by a few residents.
    for i in 0..4 {
        let s = app.register(&format!("resident{i}@example.jp")).await;
        let results = futures_util::future::join_all((0..5).map(|_| join(&app, &s, &code))).await;
        let statuses: Vec<u16> = results.iter().map(|r| r.status.as_u16()).collect();
        let bodies: Vec<&Value> = results.iter().map(|r| &r.body).collect();
        assert_eq!(
            statuses.iter().filter(|s| **s == 201).count(),
            1,
            "{statuses:?} {bodies:?}"
        );
        assert_eq!(
            statuses.iter().filter(|s| **s == 200).count(),
            4,
            "a repeated join answers the membership: {statuses:?} {bodies:?}"
        );
        let listed = memberships(&app, &s).await;
        assert_eq!(listed.len(), 1);
        for r in &results {
            assert_eq!(r.body["id"], listed[0]["id"]);
        }
    }
    let uses: i32 = enrollment_codes::table
        .select(enrollment_codes::uses)
        .first(&mut app.db.conn())
        .unwrap();
    assert_eq!(uses, 4, "one use per resident");
}

async fn expired_and_unknown_codes_are_refused(app: TestApp) {
    let ops = admin(&app).await;
    let acme = new_org(&app, &ops, "ACME").await;
    let code = new_code(&app, &acme, json!({"expires_at": from_now(Duration::hours(1))})).await;
    let taro = app.register("taro@example.jp").await;
    // Its end comes.
    diesel::update(enrollment_codes::table)
        .set(enrollment_codes::expires_at.eq(Some(Ts(Utc::now() - Duration::seconds(1)))))
        .execute(&mut app.db.conn())
        .unwrap();
    let r = join(&app, &taro, &code).await;
    assert_problem(&r, 422, "validation");
    assert_eq!(r.error_fields(), vec!["enrollment_code"]);
    for unknown in ["ZZZZZZZZ", "", "   ", "not a code at all"] {
        let r = join(&app, &taro, unknown).await;
        r.expect(422);
        assert_eq!(r.error_fields(), vec!["enrollment_code"], "{unknown:?}");
    }
    assert!(memberships(&app, &taro).await.is_empty());
    // Still in force, it works.
    diesel::update(enrollment_codes::table)
        .set(enrollment_codes::expires_at.eq(Some(Ts(Utc::now() + Duration::minutes(5)))))
        .execute(&mut app.db.conn())
        .unwrap();
    join(&app, &taro, &code).await.expect(201);
}

async fn residents_list_and_leave_their_memberships_and_may_join_again(app: TestApp) {
    let ops = admin(&app).await;
    let acme = new_org(&app, &ops, "ACME").await;
    let kenpo = new_org(&app, &ops, "Kenpo").await;
    let taro = app.register("taro@example.jp").await;
    let hanako = app.register("hanako@example.jp").await;
    let code = new_code(&app, &acme, json!({})).await;
    let first = join(&app, &taro, &code).await.body["id"].as_str().unwrap().to_owned();
    let at_kenpo = enrol(&app, &kenpo, &taro).await;
    let hanakos = enrol(&app, &acme, &hanako).await;

    let listed = memberships(&app, &taro).await;
    assert_eq!(listed.len(), 2);
    let names: Vec<&str> = listed
        .iter()
        .map(|m| m["organization_name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["ACME", "Kenpo"], "oldest first");
    let p1 = app.get("/v1/me/memberships?limit=1", Some(&taro.access)).await;
    p1.expect(200);
    assert_eq!(p1.body["items"].as_array().unwrap().len(), 1);
    let cursor = p1.body["next_cursor"].as_str().unwrap();
    let p2 = app
        .get(
            &format!("/v1/me/memberships?limit=1&cursor={cursor}"),
            Some(&taro.access),
        )
        .await;
    assert_eq!(p2.body["items"][0]["id"], at_kenpo.as_str());
    assert!(p2.body["next_cursor"].is_null());

    // Another resident's membership is not found, and stays.
    assert_problem(&leave(&app, &taro, &hanakos).await, 404, "not-found");
    assert_problem(&leave(&app, &hanako, &first).await, 404, "not-found");
    leave(&app, &taro, &uuid::Uuid::new_v4().to_string()).await.expect(404);
    assert!(memberships(&app, &hanako).await[0]["left_at"].is_null());

    let r = leave(&app, &taro, &first).await;
    r.expect(204);
    assert!(r.raw.is_empty());
    let listed = memberships(&app, &taro).await;
    let left = find(&listed, &json!(first));
    assert!(left["left_at"].is_string(), "{left}");
    let left_at = left["left_at"].clone();
    assert!(find(&listed, &json!(at_kenpo))["left_at"].is_null());
    // Leaving again changes nothing.
    leave(&app, &taro, &first).await.expect(204);
    assert_eq!(find(&memberships(&app, &taro).await, &json!(first))["left_at"], left_at);

    // Joining again is a new membership; the old one stays in the history.
    let r = join(&app, &taro, &code).await;
    r.expect(201);
    let second = r.body["id"].as_str().unwrap().to_owned();
    assert_ne!(second, first);
    assert!(r.body["left_at"].is_null());
    let listed = memberships(&app, &taro).await;
    assert_eq!(listed.len(), 3);
    assert_eq!(find(&listed, &json!(first))["left_at"], left_at);
    assert!(find(&listed, &json!(second))["left_at"].is_null());
    assert_eq!(find(&listed, &json!(second))["organization_id"], acme.id.as_str());
}

async fn leaving_revokes_that_organisations_consents_and_no_others(app: TestApp) {
    let ops = admin(&app).await;
    let acme = new_org(&app, &ops, "ACME").await;
    let kenpo = new_org(&app, &ops, "Kenpo").await;
    let taro = app.register("taro@example.jp").await;
    let at_acme = enrol(&app, &acme, &taro).await;
    enrol(&app, &kenpo, &taro).await;
    let a1 = give(
        &app,
        &taro,
        consent_body(&acme.id, &["body_weight"], "individual", PURPOSE),
    )
    .await;
    let a2 = give(&app, &taro, consent_body(&acme.id, &["steps"], "aggregate", PURPOSE)).await;
    let k1 = give(
        &app,
        &taro,
        consent_body(&kenpo.id, &["body_weight"], "aggregate", PURPOSE),
    )
    .await;
    // A consent the resident had already revoked keeps its own reason.
    let a3 = give(&app, &taro, consent_body(&acme.id, &["sleep"], "aggregate", PURPOSE)).await;
    revoke(&app, &taro, a3["id"].as_str().unwrap()).await.expect(204);

    leave(&app, &taro, &at_acme).await.expect(204);
    let listed = consents(&app, &taro).await;
    assert_eq!(listed.len(), 4);
    for c in [&a1, &a2] {
        let now = find(&listed, &c["id"]);
        assert_eq!(now["status"], "revoked", "{now}");
        assert_eq!(now["revoked_reason"], "left_organization");
        assert!(now["revoked_at"].is_string());
        assert_eq!(now["receipt"]["status"], "revoked");
        assert_eq!(now["receipt"]["revoked_at"], now["revoked_at"]);
    }
    assert_eq!(find(&listed, &a3["id"])["revoked_reason"], "resident");
    let kept = find(&listed, &k1["id"]);
    assert_eq!(kept["status"], "active");
    assert!(kept["revoked_at"].is_null());
    assert!(kept["revoked_reason"].is_null());

    // No new consent to an organisation left.
    let r = app
        .post(
            "/v1/me/consents",
            Some(&taro.access),
            consent_body(&acme.id, &["body_weight"], "aggregate", PURPOSE),
        )
        .await;
    r.expect(422);
    assert_eq!(r.error_fields(), vec!["organization_id"]);
    // Rejoining does not bring the old consents back.
    enrol(&app, &acme, &taro).await;
    let listed = consents(&app, &taro).await;
    assert_eq!(find(&listed, &a1["id"])["status"], "revoked");
    give(
        &app,
        &taro,
        consent_body(&acme.id, &["body_weight"], "aggregate", PURPOSE),
    )
    .await;
    assert_eq!(consents(&app, &taro).await.len(), 5);
}

async fn a_consent_given_while_leaving_never_outlives_the_membership(app: TestApp) {
    let ops = admin(&app).await;
    let acme = new_org(&app, &ops, "ACME").await;
    let nurse = staff(&app, &ops, &acme.id, "nurse@acme.example.jp", "health_staff").await;
    let code = new_code(&app, &acme, json!({})).await;
    let taro = app.register("taro@example.jp").await;
    app.upload(&taro.access, weight("2026-11-20", 7, 60.0)).await.code();
    for _ in 0..20 {
        let r = join(&app, &taro, &code).await;
        r.expect(201);
        let membership = r.body["id"].as_str().unwrap().to_owned();
        let (given, left) = futures_util::future::join(
            app.post(
                "/v1/me/consents",
                Some(&taro.access),
                consent_body(&acme.id, &["body_weight"], "individual", PURPOSE),
            ),
            leave(&app, &taro, &membership),
        )
        .await;
        left.expect(204);
        assert!(
            [201, 422].contains(&given.status.as_u16()),
            "{}",
            String::from_utf8_lossy(&given.raw)
        );
    }
    assert!(
        memberships(&app, &taro).await.iter().all(|m| m["left_at"].is_string()),
        "every membership has ended"
    );
    // Every consent was given under a membership that has ended: none may still be in force, and
    // the organisation's health staff may not read.
    let listed = consents(&app, &taro).await;
    let active: Vec<&Value> = listed
        .iter()
        .filter(|c| c["status"] != "revoked")
        .map(|c| &c["id"])
        .collect();
    let r = read(&app, &nurse, &acme.id, &taro, "?type=body_weight").await;
    assert_eq!(
        r.status.as_u16(),
        403,
        "a former member's data was read under a consent that outlived the membership ({} of {} consents still active: {active:?})",
        active.len(),
        listed.len()
    );
    assert!(
        active.is_empty(),
        "{} of {} consents outlived the membership they were given under: {active:?}",
        active.len(),
        listed.len()
    );
}

// ---- consents ----

async fn a_consent_needs_a_current_membership(app: TestApp) {
    let ops = admin(&app).await;
    let acme = new_org(&app, &ops, "ACME").await;
    let kenpo = new_org(&app, &ops, "Kenpo").await;
    let taro = app.register("taro@example.jp").await;
    let hanako = app.register("hanako@example.jp").await;
    enrol(&app, &kenpo, &taro).await;
    enrol(&app, &acme, &hanako).await;
    for org in [acme.id.clone(), uuid::Uuid::new_v4().to_string()] {
        let r = app
            .post(
                "/v1/me/consents",
                Some(&taro.access),
                consent_body(&org, &["body_weight"], "aggregate", PURPOSE),
            )
            .await;
        assert_problem(&r, 422, "validation");
        assert_eq!(r.error_fields(), vec!["organization_id"]);
    }
    assert!(consents(&app, &taro).await.is_empty());
    enrol(&app, &acme, &taro).await;
    let c = give(
        &app,
        &taro,
        consent_body(&acme.id, &["body_weight"], "aggregate", PURPOSE),
    )
    .await;
    assert_eq!(c["organization_id"], acme.id.as_str());
    assert_eq!(c["status"], "active");
}

async fn consents_are_validated_field_by_field_and_nothing_is_given(app: TestApp) {
    let ops = admin(&app).await;
    let acme = new_org(&app, &ops, "ACME").await;
    let taro = app.register("taro@example.jp").await;
    enrol(&app, &acme, &taro).await;
    let post = |body: Value| app.post("/v1/me/consents", Some(&taro.access), body);
    let with = |patch: Value| {
        let mut b = consent_body(&acme.id, &["body_weight"], "individual", PURPOSE);
        for (k, v) in patch.as_object().unwrap() {
            b[k] = v.clone();
        }
        b
    };
    let r = post(with(json!({"measurement_types": []}))).await;
    assert_problem(&r, 422, "validation");
    assert_eq!(r.error_fields(), vec!["measurement_types"]);
    let r = post(with(
        json!({"measurement_types": ["body_weight", "shoe_size", "steps"]}),
    ))
    .await;
    r.expect(422);
    assert_eq!(r.error_fields(), vec!["measurement_types[1]"]);
    let r = post(with(json!({"measurement_types": ["Body_Weight"]}))).await;
    r.expect(422);
    assert_eq!(r.error_fields(), vec!["measurement_types[0]"]);
    let r = post(with(json!({"purpose": ""}))).await;
    r.expect(422);
    assert_eq!(r.error_fields(), vec!["purpose"]);
    let r = post(with(json!({"purpose": "   "}))).await;
    r.expect(422);
    assert_eq!(r.error_fields(), vec!["purpose"]);
    let r = post(with(json!({"purpose": "p".repeat(501)}))).await;
    r.expect(422);
    assert_eq!(r.error_fields(), vec!["purpose"]);
    let r = post(with(json!({"expires_at": from_now(-Duration::seconds(5))}))).await;
    r.expect(422);
    assert_eq!(r.error_fields(), vec!["expires_at"]);
    // Far-future expiries (beyond what the databases store) are refused, not a 500.
    let r = post(with(json!({"expires_at": "9999-12-31T00:00:00Z"}))).await;
    r.expect(422);
    assert_eq!(r.error_fields(), vec!["expires_at"]);
    let r = post(with(json!({"expires_at": from_now(Duration::days(3661))}))).await;
    r.expect(422);
    assert_eq!(r.error_fields(), vec!["expires_at"]);
    let r = post(with(json!({"measurement_types": ["nope"], "purpose": "",
                              "expires_at": from_now(-Duration::days(1))})))
    .await;
    r.expect(422);
    assert_eq!(
        sorted(r.error_fields()),
        vec!["expires_at", "measurement_types[0]", "purpose"]
    );
    // Malformed.
    post(with(json!({"access": "everything"}))).await.expect(400);
    post(with(json!({"organization_id": "acme"}))).await.expect(400);
    post(with(json!({"include_points": "yes"}))).await.expect(400);
    post(with(json!({"measurement_types": "body_weight"})))
        .await
        .expect(400);
    post(with(json!({"share_with": "everyone"}))).await.expect(400);
    let mut missing = with(json!({}));
    missing.as_object_mut().unwrap().remove("access");
    post(missing).await.expect(400);
    assert!(consents(&app, &taro).await.is_empty(), "nothing was given");
    // The edges are allowed.
    let c = give(&app, &taro, with(json!({"purpose": "p".repeat(500)}))).await;
    assert_eq!(c["purpose"].as_str().unwrap().len(), 500);
}

async fn a_consent_comes_with_a_receipt_that_matches_it(app: TestApp) {
    let ops = admin(&app).await;
    let acme = new_org(&app, &ops, "ACME Corp").await;
    let taro = app.register("taro@example.jp").await;
    let hanako = app.register("hanako@example.jp").await;
    enrol(&app, &acme, &taro).await;
    let until = Utc::now() + Duration::days(180);
    let r = app
        .post(
            "/v1/me/consents",
            Some(&taro.access),
            json!({"organization_id": acme.id, "measurement_types": ["steps", "body_weight", "steps"],
                   "include_points": true, "access": "individual", "purpose": format!("  {PURPOSE} "),
                   "expires_at": until.to_rfc3339()}),
        )
        .await;
    r.expect(201);
    let c = r.body.clone();
    assert!(c["id"].is_string());
    assert_eq!(c["status"], "active");
    assert_eq!(c["organization_id"], acme.id.as_str());
    assert_eq!(c["organization_name"], "ACME Corp");
    let mut types: Vec<String> = serde_json::from_value(c["measurement_types"].clone()).unwrap();
    types.sort();
    assert_eq!(types, vec!["body_weight", "steps"], "repeats are merged");
    assert_eq!(c["include_points"], true);
    assert_eq!(c["access"], "individual");
    assert_eq!(c["purpose"], PURPOSE, "trimmed");
    let expires: chrono::DateTime<Utc> = c["expires_at"].as_str().unwrap().parse().unwrap();
    assert!((expires - until).num_milliseconds().abs() < 1000);
    assert!(c["created_at"].is_string());
    assert!(c["revoked_at"].is_null());
    assert!(c["revoked_reason"].is_null());

    let receipt = &c["receipt"];
    assert_eq!(receipt["version"], "KI-CR-v1.1.0");
    assert_eq!(receipt["jurisdiction"], "JP");
    assert_eq!(receipt["consent_timestamp"], c["created_at"]);
    assert!(
        receipt["consent_receipt_id"]
            .as_str()
            .unwrap()
            .parse::<uuid::Uuid>()
            .is_ok()
    );
    assert_ne!(receipt["consent_receipt_id"], c["id"]);
    assert_eq!(receipt["pii_principal_id"], taro.user_id.as_str());
    assert_eq!(receipt["sensitive"], true);
    assert_eq!(receipt["status"], "active");
    assert!(receipt["revoked_at"].is_null());
    assert!(receipt["pii_controllers"].as_array().is_some_and(|a| a.len() == 1));
    let services = receipt["services"].as_array().unwrap();
    assert_eq!(services.len(), 1);
    let purposes = services[0]["purposes"].as_array().unwrap();
    assert_eq!(purposes.len(), 1);
    let p = &purposes[0];
    assert_eq!(p["purpose"], PURPOSE);
    assert_eq!(p["consent_type"], "EXPLICIT");
    assert_eq!(p["third_party_disclosure"], true);
    assert_eq!(p["third_party_name"], acme.name.as_str());
    assert_eq!(p["access"], "individual");
    assert_eq!(p["purpose_category"], json!(["individual health guidance"]));
    let mut cats: Vec<String> = serde_json::from_value(p["pii_category"].clone()).unwrap();
    cats.sort();
    assert_eq!(cats, vec!["body_weight", "health_points", "steps"]);
    assert!(p["termination"].as_str().unwrap().contains(c["id"].as_str().unwrap()));

    // Aggregate access without points: the categories are the types alone.
    let agg = give(&app, &taro, consent_body(&acme.id, &["sleep"], "aggregate", PURPOSE)).await;
    let p = &agg["receipt"]["services"][0]["purposes"][0];
    assert_eq!(p["pii_category"], json!(["sleep"]));
    assert_eq!(p["access"], "aggregate");
    assert_eq!(p["purpose_category"], json!(["aggregate statistics"]));
    assert_eq!(agg["include_points"], false);
    assert!(agg["expires_at"].is_null());
    assert_ne!(agg["receipt"]["consent_receipt_id"], receipt["consent_receipt_id"]);

    // Read back: the consent and its receipt, the same as given.
    let id = c["id"].as_str().unwrap();
    let got = app.get(&format!("/v1/me/consents/{id}"), Some(&taro.access)).await;
    got.expect(200);
    assert_eq!(got.body, c);
    let got = app
        .get(&format!("/v1/me/consents/{id}/receipt"), Some(&taro.access))
        .await;
    got.expect(200);
    assert_eq!(&got.body, receipt);
    assert_eq!(consents(&app, &taro).await, vec![c.clone(), agg]);
    // Nobody else's.
    app.get(&format!("/v1/me/consents/{id}"), Some(&hanako.access))
        .await
        .expect(404);
    app.get(&format!("/v1/me/consents/{id}/receipt"), Some(&hanako.access))
        .await
        .expect(404);
    assert!(consents(&app, &hanako).await.is_empty());
    app.get(
        &format!("/v1/me/consents/{}/receipt", uuid::Uuid::new_v4()),
        Some(&taro.access),
    )
    .await
    .expect(404);
}

async fn revoking_a_consent_is_immediate_idempotent_and_kept_in_the_history(app: TestApp) {
    let ops = admin(&app).await;
    let acme = new_org(&app, &ops, "ACME").await;
    let taro = app.register("taro@example.jp").await;
    let hanako = app.register("hanako@example.jp").await;
    enrol(&app, &acme, &taro).await;
    enrol(&app, &acme, &hanako).await;
    let first = give(
        &app,
        &taro,
        consent_body(&acme.id, &["body_weight"], "individual", PURPOSE),
    )
    .await;
    let second = give(&app, &taro, consent_body(&acme.id, &["steps"], "aggregate", PURPOSE)).await;
    let hanakos = give(&app, &hanako, consent_body(&acme.id, &["steps"], "aggregate", PURPOSE)).await;
    let id = first["id"].as_str().unwrap();

    // Not someone else's.
    assert_problem(&revoke(&app, &hanako, id).await, 404, "not-found");
    revoke(&app, &taro, hanakos["id"].as_str().unwrap()).await.expect(404);
    revoke(&app, &taro, &uuid::Uuid::new_v4().to_string()).await.expect(404);
    assert_eq!(consents(&app, &hanako).await[0]["status"], "active");

    let r = revoke(&app, &taro, id).await;
    r.expect(204);
    assert!(r.raw.is_empty());
    let got = app.get(&format!("/v1/me/consents/{id}"), Some(&taro.access)).await;
    assert_eq!(got.body["status"], "revoked");
    assert_eq!(got.body["revoked_reason"], "resident");
    let revoked_at = got.body["revoked_at"].clone();
    assert!(revoked_at.is_string());
    let receipt = app
        .get(&format!("/v1/me/consents/{id}/receipt"), Some(&taro.access))
        .await;
    assert_eq!(receipt.body["status"], "revoked");
    assert_eq!(receipt.body["revoked_at"], revoked_at);
    assert_eq!(
        receipt.body["consent_receipt_id"],
        first["receipt"]["consent_receipt_id"]
    );
    // Again: nothing changes.
    revoke(&app, &taro, id).await.expect(204);
    let got = app.get(&format!("/v1/me/consents/{id}"), Some(&taro.access)).await;
    assert_eq!(got.body["revoked_at"], revoked_at);
    // The history holds both, in order, the revoked one with its grant unchanged.
    let listed = consents(&app, &taro).await;
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[0]["id"], first["id"]);
    assert_eq!(listed[0]["status"], "revoked");
    assert_eq!(listed[0]["created_at"], first["created_at"]);
    assert_eq!(listed[0]["measurement_types"], first["measurement_types"]);
    assert_eq!(listed[1]["id"], second["id"]);
    assert_eq!(listed[1]["status"], "active");
    let p1 = app.get("/v1/me/consents?limit=1", Some(&taro.access)).await;
    assert_eq!(p1.body["items"][0]["id"], first["id"]);
    let cursor = p1.body["next_cursor"].as_str().unwrap();
    let p2 = app
        .get(&format!("/v1/me/consents?limit=1&cursor={cursor}"), Some(&taro.access))
        .await;
    assert_eq!(p2.body["items"][0]["id"], second["id"]);
    assert!(p2.body["next_cursor"].is_null());
}

async fn app_tokens_cannot_join_leave_consent_or_read_the_access_log(app: TestApp) {
    let ops = admin(&app).await;
    let acme = new_org(&app, &ops, "ACME").await;
    let taro = app.register("taro@example.jp").await;
    let membership = enrol(&app, &acme, &taro).await;
    let c = give(
        &app,
        &taro,
        consent_body(&acme.id, &["body_weight"], "aggregate", PURPOSE),
    )
    .await;
    let cid = c["id"].as_str().unwrap();
    let code = new_code(&app, &acme, json!({})).await;
    let r = app
        .post(
            "/v1/me/app-tokens",
            Some(&taro.access),
            json!({"name": "Everything an app may have",
                   "scopes": ["measurements:read", "measurements:write", "points:read"]}),
        )
        .await;
    r.expect(201);
    let token = r.body["token"].as_str().unwrap().to_owned();
    let t = Some(token.as_str());
    let forbidden = [
        app.post("/v1/me/memberships", t, json!({ "enrollment_code": code }))
            .await,
        app.get("/v1/me/memberships", t).await,
        app.call(Method::DELETE, &format!("/v1/me/memberships/{membership}"), t, None)
            .await,
        app.post(
            "/v1/me/consents",
            t,
            consent_body(&acme.id, &["steps"], "individual", PURPOSE),
        )
        .await,
        app.get("/v1/me/consents", t).await,
        app.get(&format!("/v1/me/consents/{cid}"), t).await,
        app.get(&format!("/v1/me/consents/{cid}/receipt"), t).await,
        app.call(Method::DELETE, &format!("/v1/me/consents/{cid}"), t, None)
            .await,
        app.get("/v1/me/access-log", t).await,
    ];
    for r in &forbidden {
        assert_problem(r, 403, "forbidden");
    }
    // Nothing changed.
    assert!(memberships(&app, &taro).await[0]["left_at"].is_null());
    assert_eq!(memberships(&app, &taro).await.len(), 1);
    let listed = consents(&app, &taro).await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["status"], "active");
    // No token at all.
    app.get("/v1/me/consents", None).await.expect(401);
    app.get("/v1/me/access-log", None).await.expect(401);
}

// ---- individual reads ----

async fn health_staff_read_a_members_measurements_of_a_consented_type_and_each_read_is_logged(app: TestApp) {
    let ops = admin(&app).await;
    let acme = new_org(&app, &ops, "ACME").await;
    let nurse = staff(&app, &ops, &acme.id, "nurse@acme.example.jp", "health_staff").await;
    let taro = app.register("taro@example.jp").await;
    let hanako = app.register("hanako@example.jp").await;
    enrol(&app, &acme, &taro).await;
    enrol(&app, &acme, &hanako).await;
    for (day, kg) in [("2026-11-18", 61.0), ("2026-11-19", 60.6), ("2026-11-20", 60.2)] {
        assert_eq!(app.upload(&taro.access, weight(day, 7, kg)).await.code(), 201);
    }
    assert_eq!(app.upload(&taro.access, bp("2026-11-20", 8)).await.code(), 201);
    assert_eq!(
        app.upload(&hanako.access, weight("2026-11-20", 7, 50.0)).await.code(),
        201
    );
    let c = give(
        &app,
        &taro,
        consent_body(&acme.id, &["body_weight"], "individual", PURPOSE),
    )
    .await;
    // Hanako consents to blood pressure only.
    give(
        &app,
        &hanako,
        consent_body(&acme.id, &["blood_pressure"], "individual", PURPOSE),
    )
    .await;

    let r = read(&app, &nurse, &acme.id, &taro, "?type=body_weight").await;
    r.expect(200);
    let items = r.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 3);
    assert!(items.iter().all(|m| m["type"] == "body_weight"), "{items:?}");
    let kgs: Vec<f64> = items.iter().map(|m| m["values"]["kg"].as_f64().unwrap()).collect();
    assert_eq!(kgs, vec![60.2, 60.6, 61.0], "newest first");
    assert!(r.body["next_cursor"].is_null());
    // Taro's own view agrees.
    let own = app.get("/v1/measurements?type=body_weight", Some(&taro.access)).await;
    let own_ids: Vec<&Value> = own.body["items"].as_array().unwrap().iter().map(|m| &m["id"]).collect();
    let read_ids: Vec<&Value> = items.iter().map(|m| &m["id"]).collect();
    assert_eq!(read_ids, own_ids);

    // Not another type, and not the type of another member's consent.
    assert_problem(
        &read(&app, &nurse, &acme.id, &taro, "?type=blood_pressure").await,
        403,
        "forbidden",
    );
    read(&app, &nurse, &acme.id, &hanako, "?type=body_weight")
        .await
        .expect(403);
    // Hanako's consented type, and only hers.
    let hb = read(&app, &nurse, &acme.id, &hanako, "?type=blood_pressure").await;
    hb.expect(200);
    assert!(hb.body["items"].as_array().unwrap().is_empty());

    // Paged.
    let p1 = read(&app, &nurse, &acme.id, &taro, "?type=body_weight&limit=2").await;
    p1.expect(200);
    assert_eq!(p1.body["items"].as_array().unwrap().len(), 2);
    let cursor = p1.body["next_cursor"].as_str().unwrap().to_owned();
    let p2 = read(
        &app,
        &nurse,
        &acme.id,
        &taro,
        &format!("?type=body_weight&limit=2&cursor={cursor}"),
    )
    .await;
    p2.expect(200);
    assert_eq!(p2.body["items"].as_array().unwrap().len(), 1);
    assert_eq!(p2.body["items"][0]["values"]["kg"], 61.0);
    // A time window.
    let w = read(
        &app,
        &nurse,
        &acme.id,
        &taro,
        "?type=body_weight&from=2026-11-19T00:00:00%2B09:00&to=2026-11-20T00:00:00%2B09:00",
    )
    .await;
    w.expect(200);
    assert_eq!(w.body["items"].as_array().unwrap().len(), 1);
    assert_eq!(w.body["items"][0]["values"]["kg"], 60.6);

    // Missing or unknown type.
    let r = read(&app, &nurse, &acme.id, &taro, "").await;
    assert_problem(&r, 422, "validation");
    assert_eq!(r.error_fields(), vec!["type"]);
    let r = read(&app, &nurse, &acme.id, &taro, "?type=shoe_size").await;
    r.expect(422);
    assert_eq!(r.error_fields(), vec!["type"]);

    // Taro's access log: one entry per successful read, newest first, none for the refusals.
    let log = access_log(&app, &taro).await;
    assert_eq!(log.len(), 4, "{log:?}");
    let records: Vec<i64> = log.iter().map(|e| e["records"].as_i64().unwrap()).collect();
    assert_eq!(records, vec![1, 1, 2, 3], "window, page 2, page 1, the first read");
    for e in &log {
        assert_eq!(e["actor"], "nurse@acme.example.jp");
        assert_eq!(e["organization_id"], acme.id.as_str());
        assert_eq!(e["organization_name"], acme.name.as_str());
        assert_eq!(e["action"], "read_measurements");
        assert_eq!(e["measurement_type"], "body_weight");
        assert_eq!(e["purpose"], PURPOSE);
        assert_eq!(e["consent_id"], c["id"]);
        assert!(e["at"].is_string() && e["id"].is_string());
    }
    // Hanako's log has her one read; the nurse's own log and an outsider's are empty.
    let hl = access_log(&app, &hanako).await;
    assert_eq!(hl.len(), 1);
    assert_eq!(hl[0]["measurement_type"], "blood_pressure");
    assert_eq!(hl[0]["records"], 0);
    assert!(access_log(&app, &nurse).await.is_empty());
    let jiro = app.register("jiro@example.jp").await;
    assert!(access_log(&app, &jiro).await.is_empty());
    // The log is paged.
    let p1 = app.get("/v1/me/access-log?limit=3", Some(&taro.access)).await;
    p1.expect(200);
    assert_eq!(p1.body["items"].as_array().unwrap().len(), 3);
    let cursor = p1.body["next_cursor"].as_str().unwrap();
    let p2 = app
        .get(
            &format!("/v1/me/access-log?limit=3&cursor={cursor}"),
            Some(&taro.access),
        )
        .await;
    p2.expect(200);
    let ids: Vec<&Value> = p1.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .chain(p2.body["items"].as_array().unwrap())
        .map(|e| &e["id"])
        .collect();
    assert_eq!(ids, log.iter().map(|e| &e["id"]).collect::<Vec<_>>());
}

async fn individual_reads_need_an_individual_consent_covering_the_type(app: TestApp) {
    let ops = admin(&app).await;
    let acme = new_org(&app, &ops, "ACME").await;
    let nurse = staff(&app, &ops, &acme.id, "nurse@acme.example.jp", "health_staff").await;
    let taro = app.register("taro@example.jp").await;
    app.upload(&taro.access, weight("2026-11-20", 7, 60.0)).await.code();
    app.upload(&taro.access, bp("2026-11-20", 8)).await.code();
    // Not a member: nothing.
    read(&app, &nurse, &acme.id, &taro, "?type=body_weight")
        .await
        .expect(403);
    // A member without consent: membership alone shares nothing.
    enrol(&app, &acme, &taro).await;
    read(&app, &nurse, &acme.id, &taro, "?type=body_weight")
        .await
        .expect(403);
    // An aggregate consent does not allow individual reads.
    give(
        &app,
        &taro,
        consent_body(&acme.id, &["body_weight", "blood_pressure"], "aggregate", PURPOSE),
    )
    .await;
    assert_problem(
        &read(&app, &nurse, &acme.id, &taro, "?type=body_weight").await,
        403,
        "forbidden",
    );
    // An individual consent covering another type does not either.
    give(
        &app,
        &taro,
        consent_body(&acme.id, &["blood_pressure"], "individual", PURPOSE),
    )
    .await;
    read(&app, &nurse, &acme.id, &taro, "?type=body_weight")
        .await
        .expect(403);
    let r = read(&app, &nurse, &acme.id, &taro, "?type=blood_pressure").await;
    r.expect(200);
    assert_eq!(r.body["items"].as_array().unwrap().len(), 1);
    assert_eq!(r.body["items"][0]["type"], "blood_pressure");
    assert_eq!(r.body["items"][0]["values"]["systolic_mmhg"], 128.0);
    let log = access_log(&app, &taro).await;
    assert_eq!(log.len(), 1, "only the read that was served: {log:?}");
    assert_eq!(log[0]["measurement_type"], "blood_pressure");
    assert_eq!(log[0]["records"], 1);
}

async fn only_the_organisations_health_staff_read_individually(app: TestApp) {
    let ops = admin(&app).await;
    let acme = new_org(&app, &ops, "ACME").await;
    let kenpo = new_org(&app, &ops, "Kenpo").await;
    let nurse = staff(&app, &ops, &acme.id, "nurse@acme.example.jp", "health_staff").await;
    let analyst = staff(&app, &ops, &acme.id, "analyst@acme.example.jp", "analyst").await;
    let kenpo_nurse = staff(&app, &ops, &kenpo.id, "nurse@kenpo.example.jp", "health_staff").await;
    let taro = app.register("taro@example.jp").await;
    let hanako = app.register("hanako@example.jp").await;
    app.upload(&taro.access, weight("2026-11-20", 7, 60.0)).await.code();
    enrol(&app, &acme, &taro).await;
    enrol(&app, &acme, &hanako).await;
    give(
        &app,
        &taro,
        consent_body(&acme.id, &["body_weight"], "individual", PURPOSE),
    )
    .await;

    let q = "?type=body_weight";
    for (who, s) in [
        ("analyst", &analyst),
        ("org_admin", &acme.admin),
        ("another member", &hanako),
        ("the member", &taro),
        (
            "operator",
            &Session {
                user_id: String::new(),
                access: ops.clone(),
                refresh: String::new(),
            },
        ),
    ] {
        let r = read(&app, s, &acme.id, &taro, q).await;
        assert_eq!(r.status.as_u16(), 403, "{who}");
        assert_problem(&r, 403, "forbidden");
    }
    // Health staff of another organisation: neither through their own organisation nor through
    // the one the member consented to.
    read(&app, &kenpo_nurse, &kenpo.id, &taro, q).await.expect(403);
    read(&app, &kenpo_nurse, &acme.id, &taro, q).await.expect(403);
    // Taro joins Kenpo too, without consenting to it: still nothing for Kenpo.
    enrol(&app, &kenpo, &taro).await;
    read(&app, &kenpo_nurse, &kenpo.id, &taro, q).await.expect(403);
    // An app token of the health staff never acts for the organisation.
    let t = app
        .post(
            "/v1/me/app-tokens",
            Some(&nurse.access),
            json!({"name": "Script", "scopes": ["measurements:read"]}),
        )
        .await;
    t.expect(201);
    let via_token = Session {
        user_id: nurse.user_id.clone(),
        access: t.body["token"].as_str().unwrap().to_owned(),
        refresh: String::new(),
    };
    read(&app, &via_token, &acme.id, &taro, q).await.expect(403);
    app.get(
        &format!("/v1/orgs/{}/members/{}/measurements{q}", acme.id, taro.user_id),
        None,
    )
    .await
    .expect(401);
    assert!(access_log(&app, &taro).await.is_empty(), "refused reads are not logged");
    // The org's health staff can.
    let r = read(&app, &nurse, &acme.id, &taro, q).await;
    r.expect(200);
    assert_eq!(r.body["items"].as_array().unwrap().len(), 1);
    assert_eq!(access_log(&app, &taro).await.len(), 1);
}

async fn revocation_leaving_and_expiry_end_individual_reads_at_once(app: TestApp) {
    let ops = admin(&app).await;
    let acme = new_org(&app, &ops, "ACME").await;
    let nurse = staff(&app, &ops, &acme.id, "nurse@acme.example.jp", "health_staff").await;
    let taro = app.register("taro@example.jp").await;
    app.upload(&taro.access, weight("2026-11-20", 7, 60.0)).await.code();
    let membership = enrol(&app, &acme, &taro).await;
    let q = "?type=body_weight";

    // Revocation.
    let c = give(
        &app,
        &taro,
        consent_body(&acme.id, &["body_weight"], "individual", PURPOSE),
    )
    .await;
    read(&app, &nurse, &acme.id, &taro, q).await.expect(200);
    revoke(&app, &taro, c["id"].as_str().unwrap()).await.expect(204);
    assert_problem(&read(&app, &nurse, &acme.id, &taro, q).await, 403, "forbidden");

    // Expiry.
    let mut body = consent_body(&acme.id, &["body_weight"], "individual", PURPOSE);
    body["expires_at"] = json!(from_now(Duration::seconds(2)));
    let c = give(&app, &taro, body).await;
    read(&app, &nurse, &acme.id, &taro, q).await.expect(200);
    actix_web::rt::time::sleep(std::time::Duration::from_millis(2500)).await;
    read(&app, &nurse, &acme.id, &taro, q).await.expect(403);
    let got = app
        .get(
            &format!("/v1/me/consents/{}", c["id"].as_str().unwrap()),
            Some(&taro.access),
        )
        .await;
    assert_eq!(got.body["status"], "expired");
    assert_eq!(got.body["receipt"]["status"], "expired");
    assert!(got.body["revoked_at"].is_null());

    // Leaving.
    give(
        &app,
        &taro,
        consent_body(&acme.id, &["body_weight"], "individual", PURPOSE),
    )
    .await;
    read(&app, &nurse, &acme.id, &taro, q).await.expect(200);
    leave(&app, &taro, &membership).await.expect(204);
    read(&app, &nurse, &acme.id, &taro, q).await.expect(403);

    let log = access_log(&app, &taro).await;
    assert_eq!(log.len(), 3, "the three reads served: {log:?}");
    let consent_ids: Vec<&Value> = log.iter().map(|e| &e["consent_id"]).collect();
    assert_eq!(consent_ids[1], &c["id"], "the expiring consent allowed the middle read");
}

// ---- membership programmes ----

async fn points_by_programme(app: &TestApp, s: &Session) -> Vec<(String, i64)> {
    let r = app.get("/v1/points", Some(&s.access)).await;
    r.expect(200);
    r.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["programme"]["id"].as_str().unwrap().to_owned(),
                p["balance"].as_i64().unwrap(),
            )
        })
        .collect()
}

fn ledger_sum(app: &TestApp, s: &Session, programme: &str) -> i64 {
    let deltas: Vec<i32> = points_ledger::table
        .filter(points_ledger::user_id.eq(Id(s.user_id.parse().unwrap())))
        .filter(points_ledger::programme_id.eq(programme))
        .select(points_ledger::delta)
        .load(&mut app.db.conn())
        .unwrap();
    deltas.iter().map(|d| i64::from(*d)).sum()
}

async fn rule_programmes(app: &TestApp, s: &Session) -> Vec<String> {
    let r = app.get("/v1/reward-rules", Some(&s.access)).await;
    r.expect(200);
    let mut p: Vec<String> = r.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["programme"].as_str().unwrap().to_owned())
        .collect();
    p.sort();
    p.dedup();
    p
}

async fn a_members_programme_pays_only_its_current_members(app: TestApp) {
    let ops = admin(&app).await;
    let acme = new_org(&app, &ops, "ACME").await;
    let r = app
        .post(
            "/v1/admin/programmes",
            Some(&ops),
            json!({"id": "acme", "title": "ACME", "sponsor": "ACME Corp",
                   "eligibility": "organization_members", "organization_id": acme.id}),
        )
        .await;
    r.expect(201);
    assert_eq!(r.body["eligibility"], "organization_members");
    assert_eq!(r.body["organization_id"], acme.id.as_str());
    let rule = app
        .post(
            "/v1/admin/reward-rules",
            Some(&ops),
            json!({"programme": "acme", "kind": "daily_steps", "title": "ACME steps",
                   "tiers": [{"min_steps": 1000, "points": 5}]}),
        )
        .await;
    rule.expect(201);
    // Points pay for recent days of accounts and rules that existed then, and the step tiers pay
    // sensed steps: the residents' pedometer apps are registered ones.
    crate::common::backdate_rules(&app, "acme", 30);
    crate::common::backdate_rules(&app, "osaka", 30);
    let (d1, d2, d3) = (crate::common::day(3), crate::common::day(2), crate::common::day(1));

    let member = app.register("taro@example.jp").await;
    let outsider = app.register("hanako@example.jp").await;
    let membership = enrol(&app, &acme, &member).await;
    // Membership of another organisation does not count.
    let other = new_org(&app, &ops, "Other").await;
    enrol(&app, &other, &outsider).await;
    let mut devices = Vec::new();
    for s in [&member, &outsider] {
        crate::common::backdate_account(&app, s, 30);
        devices.push(crate::common::sensed_token(&app, s, "Pedometer", &["measurements:write"]).await);
    }

    for device in &devices {
        assert_eq!(app.upload(device, steps(&d1, 20, 6500)).await.code(), 201);
    }
    assert_eq!(
        points_by_programme(&app, &member).await,
        vec![("acme".to_owned(), 5), ("osaka".to_owned(), 3)]
    );
    assert_eq!(
        points_by_programme(&app, &outsider).await,
        vec![("osaka".to_owned(), 3)]
    );
    assert_eq!(ledger_sum(&app, &outsider, "acme"), 0);
    assert_eq!(rule_programmes(&app, &member).await, vec!["acme", "osaka"]);
    assert_eq!(rule_programmes(&app, &outsider).await, vec!["osaka"]);
    let acme_ledger = app.get("/v1/points/ledger?programme=acme", Some(&member.access)).await;
    acme_ledger.expect(200);
    assert_eq!(acme_ledger.body["items"].as_array().unwrap().len(), 1);
    assert_eq!(acme_ledger.body["items"][0]["title"], "ACME steps");
    assert_eq!(acme_ledger.body["items"][0]["delta"], 5);
    assert_eq!(acme_ledger.body["items"][0]["rule_id"], rule.body["id"]);
    app.get("/v1/points/ledger?programme=acme", Some(&outsider.access))
        .await
        .expect(404);

    // Having left, the programme is gone for the resident and uploads stop paying there.
    leave(&app, &member, &membership).await.expect(204);
    assert_eq!(points_by_programme(&app, &member).await, vec![("osaka".to_owned(), 3)]);
    assert_eq!(rule_programmes(&app, &member).await, vec!["osaka"]);
    app.get("/v1/points/ledger?programme=acme", Some(&member.access))
        .await
        .expect(404);
    assert_eq!(app.upload(&devices[0], steps(&d2, 20, 6500)).await.code(), 201);
    assert_eq!(ledger_sum(&app, &member, "acme"), 5, "nothing more in acme");
    assert_eq!(ledger_sum(&app, &member, "osaka"), 6, "osaka still pays");

    // Joining again brings it back with what was earned, and it pays again.
    enrol(&app, &acme, &member).await;
    assert_eq!(
        points_by_programme(&app, &member).await,
        vec![("acme".to_owned(), 5), ("osaka".to_owned(), 6)]
    );
    app.upload(&devices[0], steps(&d3, 20, 1500)).await.code();
    assert_eq!(ledger_sum(&app, &member, "acme"), 10);
}

async fn a_members_programme_events_are_for_its_members(app: TestApp) {
    let ops = admin(&app).await;
    let acme = new_org(&app, &ops, "ACME").await;
    app.post(
        "/v1/admin/programmes",
        Some(&ops),
        json!({"id": "acme", "title": "ACME", "sponsor": "ACME Corp",
               "eligibility": "organization_members", "organization_id": acme.id}),
    )
    .await
    .expect(201);
    let event = app
        .post(
            "/v1/admin/events",
            Some(&ops),
            json!({"programme": "acme", "title": "ACME walk", "points": 7,
                   "starts_at": from_now(-Duration::hours(1)), "ends_at": from_now(Duration::hours(1))}),
        )
        .await;
    event.expect(201);
    let code = event.body["code"].as_str().unwrap().to_owned();
    let member = app.register("taro@example.jp").await;
    let outsider = app.register("hanako@example.jp").await;
    let membership = enrol(&app, &acme, &member).await;
    let app = &app;
    let check_in = |s: &Session| {
        let token = s.access.clone();
        let body = json!({ "code": code });
        async move { app.post("/v1/events/check-in", Some(&token), body).await }
    };
    assert_problem(&check_in(&outsider).await, 404, "not-found");
    let r = check_in(&member).await;
    r.expect(201);
    assert_eq!(r.body["programme"], "acme");
    assert_eq!(ledger_sum(app, &member, "acme"), 7);
    assert_eq!(ledger_sum(app, &outsider, "acme"), 0);
    leave(app, &member, &membership).await.expect(204);
    check_in(&member).await.expect(404);
}

async fn membership_programmes_are_validated(app: TestApp) {
    let ops = admin(&app).await;
    let acme = new_org(&app, &ops, "ACME").await;
    let post = |body: Value| app.post("/v1/admin/programmes", Some(&ops), body);
    let r = post(json!({"id": "acme", "title": "ACME", "sponsor": "ACME Corp",
                        "eligibility": "organization_members"}))
    .await;
    assert_problem(&r, 422, "validation");
    assert_eq!(r.error_fields(), vec!["organization_id"]);
    let r = post(json!({"id": "acme", "title": "ACME", "sponsor": "ACME Corp",
                        "eligibility": "organization_members", "organization_id": uuid::Uuid::new_v4()}))
    .await;
    r.expect(422);
    assert_eq!(r.error_fields(), vec!["organization_id"]);
    let r = post(json!({"id": "acme", "title": "ACME", "sponsor": "ACME Corp",
                        "eligibility": "everyone", "organization_id": acme.id}))
    .await;
    r.expect(422);
    assert_eq!(r.error_fields(), vec!["organization_id"]);
    let r = post(json!({"id": "acme", "title": "ACME", "sponsor": "ACME Corp", "organization_id": acme.id})).await;
    r.expect(422);
    assert_eq!(r.error_fields(), vec!["organization_id"], "everyone is the default");
    post(json!({"id": "acme", "title": "ACME", "sponsor": "ACME Corp",
                "eligibility": "organization_members", "organization_id": "acme"}))
    .await
    .expect(400);
    let listed = app.get("/v1/admin/programmes", Some(&ops)).await;
    let ids: Vec<&str> = listed.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec!["osaka"], "nothing was created");

    // A change is checked the same way.
    let put = |body: Value| app.call(Method::PUT, "/v1/admin/programmes/osaka", Some(&ops), Some(body));
    let r = put(json!({"id": "osaka", "title": "Osaka", "sponsor": "Osaka",
                       "eligibility": "organization_members", "organization_id": uuid::Uuid::new_v4()}))
    .await;
    r.expect(422);
    assert_eq!(r.error_fields(), vec!["organization_id"]);
    let r =
        put(json!({"id": "osaka", "title": "Osaka", "sponsor": "Osaka", "eligibility": "organization_members"})).await;
    r.expect(422);
    assert_eq!(r.error_fields(), vec!["organization_id"]);
    let listed = app.get("/v1/admin/programmes", Some(&ops)).await;
    assert_eq!(listed.body["items"][0]["eligibility"], "everyone");
    assert!(listed.body["items"][0]["organization_id"].is_null());
    // A valid one is created and listed with its organisation.
    let r = post(json!({"id": "acme", "title": "ACME", "sponsor": "ACME Corp",
                        "eligibility": "organization_members", "organization_id": acme.id}))
    .await;
    r.expect(201);
    let listed = app.get("/v1/admin/programmes", Some(&ops)).await;
    let acme_p = listed.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == "acme")
        .unwrap()
        .clone();
    assert_eq!(acme_p["organization_id"], acme.id.as_str());
    assert_eq!(acme_p["eligibility"], "organization_members");
}

/// The consent condition is in the store function staff read through: called directly for an
/// organisation, it finds nothing of a resident without an individual consent in force covering
/// the type, however much data there is.
async fn a_summary_for_an_organisation_holds_only_individually_consented_residents(app: TestApp) {
    use karada::sharing::individual::{Reader, member_insights};
    let ops = admin(&app).await;
    let org = new_org(&app, &ops, "Kansai Works").await;
    let taro = app.register("taro@example.jp").await;
    enrol(&app, &org, &taro).await;
    for day in ["2026-11-02", "2026-11-03", "2026-11-10"] {
        assert_eq!(app.upload(&taro.access, bp(day, 8)).await.code(), 201);
    }
    let user = UserId(taro.user_id.parse().unwrap());
    let reader = |org_id: &str| Reader {
        actor: user,
        organization_id: OrgId(org_id.parse().unwrap()),
        organization_name: "reader".to_owned(),
    };
    // Blood pressure measurements the organisation's read drew on.
    let counts = |org_id: &str| -> i64 {
        member_insights(&mut app.db.conn(), &reader(org_id), user)
            .unwrap()
            .map_or(0, |m| {
                m.areas
                    .iter()
                    .filter_map(|a| a.measurements_read.get("blood_pressure"))
                    .sum()
            })
    };
    assert_eq!(counts(&org.id), 0, "a member without any consent");
    give(
        &app,
        &taro,
        consent_body(&org.id, &["blood_pressure"], "aggregate", PURPOSE),
    )
    .await;
    assert_eq!(counts(&org.id), 0, "an aggregate consent is not an individual one");
    give(
        &app,
        &taro,
        consent_body(&org.id, &["body_weight"], "individual", PURPOSE),
    )
    .await;
    assert_eq!(counts(&org.id), 0, "an individual consent to another type");
    let c = give(
        &app,
        &taro,
        consent_body(&org.id, &["blood_pressure"], "individual", PURPOSE),
    )
    .await;
    assert_eq!(counts(&org.id), 3, "an individual consent covering the type");
    let elsewhere = new_org(&app, &ops, "Other Co").await;
    assert_eq!(counts(&elsewhere.id), 0, "another organisation");
    revoke(&app, &taro, c["id"].as_str().unwrap()).await.expect(204);
    assert_eq!(counts(&org.id), 0, "revoked: at once");
}

/// A new employer named `name`, with an `org_admin` registered as `admin@<slug>.example.jp`, the
/// slug being the name's letters and digits in lower case.
pub(crate) async fn new_org(app: &TestApp, ops: &str, name: &str) -> Org {
    let slug: String = name
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .collect::<String>()
        .to_lowercase();
    employer(app, ops, name, &slug).await
}

async fn create_org(app: &TestApp, ops: &str, body: Value) -> Value {
    let r = app.post("/v1/admin/organizations", Some(ops), body).await;
    r.expect(201);
    r.body.clone()
}
