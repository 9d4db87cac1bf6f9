//! `GET /v1/me/export`: every section in JSON, the FHIR bundle, CSV rows and quoting, paging
//! through long histories, nothing of another resident, and who may export.

use serde_json::{Value, json};

use karada::export::json::ExportDocument;
use karada::measurements::catalogue::CATALOGUE;

use crate::both_backends;
use crate::common::admin;
use crate::common::{Resp, Session, TestApp, assert_problem, from_now};

both_backends!(
    the_json_export_holds_every_section_of_the_resident,
    the_fhir_export_is_a_collection_bundle_coded_from_the_catalogue,
    the_csv_export_has_a_header_and_one_quoted_row_per_measurement,
    long_histories_are_exported_whole_page_after_page,
    another_residents_data_never_appears_in_any_format,
    bad_formats_parameters_and_credentials_are_refused,
);

/// Tables that reference an account, and whether the export holds their rows about the resident.
/// A new table that references `users` fails `every_table_about_a_person_is_exported_or_excluded_on_purpose`
/// until it is added here: to the export (`src/export`), or excluded with a reason.
const TABLES_ABOUT_A_PERSON: &[(&str, &str)] = &[
    ("sessions", "exported: sessions"),
    ("app_tokens", "exported: app_tokens (never the hash)"),
    (
        "refresh_tokens",
        "not exported: credentials (hashes) of the sessions, which are exported",
    ),
    (
        "pairing_codes",
        "not exported: ten-minute single-use credentials (hashes)",
    ),
    ("measurements", "exported: measurements"),
    (
        "measurement_rollups",
        "not exported: derived from the measurements, which are exported",
    ),
    (
        "measurement_rollup_buckets",
        "not exported: derived from the measurements, which are exported",
    ),
    (
        "measurement_rollup_years",
        "not exported: derived from the measurements, which are exported",
    ),
    (
        "measurement_rollup_year_buckets",
        "not exported: derived from the measurements, which are exported",
    ),
    ("points_ledger", "exported: points.ledger"),
    ("points_balances", "exported: points.balances"),
    ("programme_weeks", "exported: programme_weeks"),
    ("lottery_entries", "exported: lottery_entries"),
    ("lottery_winners", "exported: lottery_entries[].won"),
    ("memberships", "exported: memberships"),
    ("consents", "exported: consents"),
    ("org_staff", "exported: staff_roles"),
    (
        "access_log",
        "exported where the resident is the subject; reads they made as staff are about others",
    ),
    (
        "aggregate_log",
        "not exported: statistics queries run as staff, about the organisation's members",
    ),
    (
        "enrollment_codes",
        "not exported: codes made as an org admin, for others to join with",
    ),
    (
        "privacy_policy_changes",
        "not exported: policy changes made as an operator, about an organisation",
    ),
    (
        "privacy_releases",
        "not exported: statistics released to staff who asked; a resident's releases are their privacy ledger",
    ),
];

#[actix_web::test]
async fn every_table_about_a_person_is_exported_or_excluded_on_purpose() {
    use diesel::prelude::*;
    #[derive(QueryableByName)]
    struct Table {
        #[diesel(sql_type = diesel::sql_types::Text)]
        table_name: String,
    }
    let db = crate::common::TestDb::new(crate::common::Backend::Postgres);
    let karada::db::DbConn::Pg(mut conn) = db.conn() else {
        unreachable!()
    };
    let referencing: Vec<Table> = diesel::sql_query(
        "SELECT DISTINCT c.conrelid::regclass::text AS table_name FROM pg_constraint c \
         WHERE c.contype = 'f' AND c.confrelid = 'users'::regclass ORDER BY 1",
    )
    .load(&mut conn)
    .unwrap();
    assert!(!referencing.is_empty());
    for t in referencing {
        assert!(
            TABLES_ABOUT_A_PERSON.iter().any(|(name, _)| *name == t.table_name),
            "{} references users: export its rows about the resident, or say here why not",
            t.table_name
        );
    }
}

pub(crate) async fn export(app: &TestApp, s: &Session, format: &str) -> Resp {
    let r = app
        .get(&format!("/v1/me/export?format={format}"), Some(&s.access))
        .await;
    r.expect(200);
    let disposition = r.headers.get("content-disposition").unwrap().to_str().unwrap();
    assert!(
        disposition.starts_with("attachment; filename=\"karada-export-"),
        "{disposition}"
    );
    r
}

/// A sample of every catalogue type: one measurement each, a day apart from `day0`.
pub(crate) fn every_type(day0: u32, tag: &str) -> Vec<Value> {
    CATALOGUE
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let values: serde_json::Map<String, Value> = t
                .fields
                .iter()
                .map(|f| {
                    let v = match f.kind {
                        karada::measurements::catalogue::FieldKind::Number { min, max } => {
                            json!(((min + max) / 2.0 * 10.0).round() / 10.0)
                        }
                        karada::measurements::catalogue::FieldKind::Integer { min, max } => json!((min + max) / 2),
                        karada::measurements::catalogue::FieldKind::Choice { options } => json!(options[0]),
                        karada::measurements::catalogue::FieldKind::Date => json!("2026-04-01"),
                        karada::measurements::catalogue::FieldKind::Sha256 => json!("ab".repeat(32)),
                    };
                    (f.name.to_owned(), v)
                })
                .collect();
            let mut values = Value::Object(values);
            if t.name == "blood_pressure" {
                values = json!({"systolic_mmhg": 128.0, "diastolic_mmhg": 82.0});
            }
            json!({"type": t.name, "effective_at": format!("2026-05-{:02}T07:30:00+09:00", day0 as usize + i),
                   "values": values, "client_ref": format!("{tag}-{}", t.name), "source": "Omron", "note": "朝食後"})
        })
        .collect()
}

async fn batch(app: &TestApp, s: &Session, items: Vec<Value>) -> Value {
    let r = app
        .post("/v1/measurements/batch", Some(&s.access), json!({ "items": items }))
        .await;
    r.expect(200);
    assert_eq!(r.body["invalid"], 0, "{}", r.body);
    r.body.clone()
}

struct Rich {
    resident: Session,
    org: String,
    consent: String,
    lottery: String,
}

/// A resident with something in every section: measurements, points (from an event check-in:
/// typed-in measurements of past months earn none), an app token, a lottery ticket, a
/// membership, a consent and a read of their data by health staff.
async fn rich_resident(app: &TestApp, email: &str) -> Rich {
    let ops = admin(app).await;
    let s = app.register(email).await;
    batch(app, &s, every_type(1, "rich")).await;
    app.post(
        "/v1/measurements",
        Some(&s.access),
        json!({"type": "steps", "effective_at": "2026-06-01T20:00:00+09:00", "values": {"count": 10000}}),
    )
    .await
    .expect(201);
    let event = app
        .post(
            "/v1/admin/events",
            Some(&ops),
            json!({"programme": "osaka", "title": "Walk in Expo park", "points": 5,
                   "starts_at": from_now(chrono::Duration::hours(-1)), "ends_at": from_now(chrono::Duration::hours(2))}),
        )
        .await;
    event.expect(201);
    app.post(
        "/v1/events/check-in",
        Some(&s.access),
        json!({"code": event.body["code"]}),
    )
    .await
    .expect(201);
    app.post(
        "/v1/me/app-tokens",
        Some(&s.access),
        json!({"name": "Pedometer", "scopes": ["measurements:write"]}),
    )
    .await
    .expect(201);
    let r = app
        .post(
            "/v1/admin/lotteries",
            Some(&ops),
            json!({"programme": "osaka", "title": "Spa weekend", "prize": "Two nights at Arima",
                   "cost_per_entry": 1, "winners": 1, "closes_at": from_now(chrono::Duration::days(30))}),
        )
        .await;
    r.expect(201);
    let lottery = r.body["id"].as_str().unwrap().to_owned();
    app.post(
        &format!("/v1/lotteries/{lottery}/entries"),
        Some(&s.access),
        json!({"count": 2}),
    )
    .await
    .expect(201);

    let r = app
        .post(
            "/v1/admin/organizations",
            Some(&ops),
            json!({"name": "Acme Health", "kind": "employer"}),
        )
        .await;
    r.expect(201);
    let org = r.body["id"].as_str().unwrap().to_owned();
    let staff_email = format!("nurse.{email}");
    let nurse = app.register(&staff_email).await;
    for (who, role) in [("ops@example.jp", "org_admin"), (staff_email.as_str(), "health_staff")] {
        app.post(
            &format!("/v1/admin/organizations/{org}/staff"),
            Some(&ops),
            json!({"email": who, "role": role}),
        )
        .await
        .expect(201);
    }
    let r = app
        .post(&format!("/v1/orgs/{org}/enrollment-codes"), Some(&ops), json!({}))
        .await;
    r.expect(201);
    app.post(
        "/v1/me/memberships",
        Some(&s.access),
        json!({"enrollment_code": r.body["code"]}),
    )
    .await
    .expect(201);
    let r = app
        .post(
            "/v1/me/consents",
            Some(&s.access),
            json!({"organization_id": org, "measurement_types": ["body_weight", "steps"], "access": "individual",
                   "purpose": "Follow-up by the occupational health nurse", "include_points": true,
                   "data_from": "2000-01-01"}),
        )
        .await;
    r.expect(201);
    let consent = r.body["id"].as_str().unwrap().to_owned();
    app.get(
        &format!("/v1/orgs/{org}/members/{}/measurements?type=body_weight", s.user_id),
        Some(&nurse.access),
    )
    .await
    .expect(200);
    Rich {
        resident: s,
        org,
        consent,
        lottery,
    }
}

async fn the_json_export_holds_every_section_of_the_resident(app: TestApp) {
    let rich = rich_resident(&app, "hanako@example.jp").await;
    let r = export(&app, &rich.resident, "json").await;
    assert_eq!(r.content_type(), "application/json");
    // The documented shape, exactly: unknown or missing sections fail here.
    let doc: ExportDocument = serde_json::from_slice(&r.raw).unwrap();
    assert_eq!(doc.format, "karada-export");
    assert_eq!(doc.version, 3);
    assert_eq!(doc.profile.id.to_string(), rich.resident.user_id);
    assert_eq!(doc.profile.email, "hanako@example.jp");
    assert_eq!(doc.sessions.len(), 1);
    assert_eq!(doc.app_tokens.len(), 1);
    assert_eq!(doc.app_tokens[0].scopes, vec!["measurements:write"]);
    assert!(doc.staff_roles.is_empty());
    assert_eq!(doc.measurements.len(), CATALOGUE.len() + 1);
    let weight = doc.measurements.iter().find(|m| m.kind == "body_weight").unwrap();
    assert_eq!(weight.values["kg"], json!(160.0));
    assert_eq!(weight.source, "Omron");
    assert_eq!(weight.client_ref.as_deref(), Some("rich-body_weight"));
    assert_eq!(weight.note.as_deref(), Some("朝食後"));
    // Measurements come by type, then time.
    let keys: Vec<(String, chrono::DateTime<chrono::Utc>)> = doc
        .measurements
        .iter()
        .map(|m| (m.kind.clone(), m.effective_at))
        .collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted);
    let osaka = doc.points.balances.iter().find(|b| b.programme_id == "osaka").unwrap();
    let ledger_sum: i32 = doc.points.ledger.iter().map(|e| e.delta).sum();
    assert_eq!(osaka.balance, ledger_sum);
    assert!(doc.points.ledger.iter().any(|e| e.delta == -2));
    assert_eq!(doc.lottery_entries.len(), 1);
    assert_eq!(doc.lottery_entries[0].lottery_id.to_string(), rich.lottery);
    assert_eq!(doc.lottery_entries[0].tickets, 2);
    assert_eq!(doc.memberships.len(), 1);
    assert_eq!(doc.memberships[0].organization_id.to_string(), rich.org);
    assert_eq!(doc.consents.len(), 1);
    assert_eq!(doc.consents[0].id.to_string(), rich.consent);
    assert_eq!(doc.consents[0].status, "active");
    assert_eq!(doc.consents[0].measurement_types, vec!["body_weight", "steps"]);
    assert_eq!(doc.access_log.len(), 1);
    assert_eq!(
        doc.access_log[0].actor_email.as_deref(),
        Some("nurse.hanako@example.jp")
    );
    assert_eq!(doc.access_log[0].measurement_type.as_deref(), Some("body_weight"));

    // The history of a consent: revoked, it is still there, with when and why.
    app.call(
        actix_web::http::Method::DELETE,
        &format!("/v1/me/consents/{}", rich.consent),
        Some(&rich.resident.access),
        None,
    )
    .await
    .expect(204);
    let doc: ExportDocument = serde_json::from_slice(&export(&app, &rich.resident, "json").await.raw).unwrap();
    assert_eq!(doc.consents[0].status, "revoked");
    assert_eq!(doc.consents[0].revoked_reason.as_deref(), Some("resident"));
    assert!(doc.consents[0].revoked_at.is_some());

    // Staff see their roles.
    let ops = app.login("ops@example.jp", crate::common::PASSWORD).await;
    let doc: ExportDocument = serde_json::from_slice(&export(&app, &ops, "json").await.raw).unwrap();
    assert_eq!(doc.staff_roles.len(), 1);
    assert_eq!(doc.staff_roles[0].role, "org_admin");
}

async fn the_fhir_export_is_a_collection_bundle_coded_from_the_catalogue(app: TestApp) {
    let rich = rich_resident(&app, "hanako@example.jp").await;
    let r = export(&app, &rich.resident, "fhir").await;
    assert_eq!(r.content_type(), "application/fhir+json");
    let b = &r.body;
    assert_eq!(b["resourceType"], "Bundle");
    assert_eq!(b["type"], "collection");
    let entries = b["entry"].as_array().unwrap();
    let of = |t: &str| -> Vec<&Value> {
        entries
            .iter()
            .filter(|e| e["resource"]["resourceType"] == t)
            .map(|e| &e["resource"])
            .collect()
    };
    let patient_url = format!("urn:uuid:{}", rich.resident.user_id);
    assert_eq!(entries[0]["fullUrl"], patient_url.as_str());
    let patient = of("Patient")[0];
    assert_eq!(patient["gender"], "female");
    assert_eq!(patient["birthDate"], "1980-04-01");
    assert_eq!(patient["telecom"][0]["value"], "hanako@example.jp");
    let observations = of("Observation");
    assert_eq!(observations.len(), CATALOGUE.len() + 1);
    let by_code = |system: &str, code: &str| -> &Value {
        observations
            .iter()
            .find(|o| o["code"]["coding"][0]["system"] == system && o["code"]["coding"][0]["code"] == code)
            .unwrap_or_else(|| panic!("no Observation coded {system}|{code}"))
    };
    let weight = by_code("http://loinc.org", "29463-7");
    assert_eq!(weight["status"], "final");
    assert_eq!(weight["category"][0]["coding"][0]["code"], "vital-signs");
    assert_eq!(
        weight["valueQuantity"],
        json!({"value": 160.0, "unit": "kg", "system": "http://unitsofmeasure.org", "code": "kg"})
    );
    assert_eq!(weight["subject"]["reference"], patient_url.as_str());
    assert_eq!(weight["effectiveDateTime"], "2026-05-04T22:30:00Z");
    assert_eq!(weight["device"]["display"], "Omron");
    assert_eq!(weight["identifier"][0]["value"], "rich-body_weight");
    assert_eq!(weight["note"][0]["text"], "朝食後");
    assert_eq!(weight["extension"][0]["valueCode"], "self_reported");
    let bp = by_code("http://loinc.org", "85354-9");
    let components: Vec<(&str, f64)> = bp["component"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["code"]["coding"][0]["code"].as_str().unwrap(),
                c["valueQuantity"]["value"].as_f64().unwrap(),
            )
        })
        .collect();
    assert_eq!(components, vec![("8480-6", 128.0), ("8462-4", 82.0)]);
    assert_eq!(bp["component"][0]["valueQuantity"]["code"], "mm[Hg]");
    let heart = by_code("http://loinc.org", "8867-4");
    assert_eq!(heart["valueQuantity"]["code"], "/min");
    let steps = by_code("http://loinc.org", "41950-7");
    assert_eq!(steps["category"][0]["coding"][0]["code"], "activity");
    let project = "https://karada.example/fhir/CodeSystem/measurement-type";
    let vascular = by_code(project, "vascular_age");
    assert_eq!(vascular["category"][0]["coding"][0]["code"], "exam");
    assert_eq!(
        vascular["component"][0]["code"]["coding"][0],
        json!({"system": project, "code": "vascular_age.vascular_age_years", "display": "Vascular age estimated from the pulse wave"})
    );
    assert_eq!(vascular["component"][0]["valueQuantity"]["code"], "a");
    let checkup = by_code(project, "health_checkup");
    assert_eq!(checkup["component"][0]["valueString"], "specific_health_checkup");
    assert_eq!(checkup["component"][1]["valueDateTime"], "2026-04-01");
    let capillary = by_code(project, "capillary");
    assert!(
        capillary["component"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["valueString"] == "ab".repeat(32))
    );

    let consents = of("Consent");
    assert_eq!(consents.len(), 1);
    let c = consents[0];
    assert_eq!(c["id"], rich.consent.as_str());
    assert_eq!(c["status"], "active");
    assert_eq!(c["patient"]["reference"], patient_url.as_str());
    assert_eq!(c["provision"]["type"], "permit");
    assert_eq!(c["provision"]["actor"][0]["reference"]["display"], "Acme Health");
    assert_eq!(c["provision"]["action"][0]["coding"][0]["code"], "access");
    let codes: Vec<&str> = c["provision"]["code"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["coding"][0]["code"].as_str().unwrap())
        .collect();
    assert_eq!(codes, vec!["29463-7", "41950-7", "health_points"]);
    // Every fullUrl is unique.
    let mut urls: Vec<&str> = entries.iter().map(|e| e["fullUrl"].as_str().unwrap()).collect();
    urls.sort_unstable();
    urls.dedup();
    assert_eq!(urls.len(), entries.len());
}

/// Splits CSV text into records of fields (RFC 4180, as written by the export).
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let mut records = Vec::new();
    let mut record = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') => quoted = true,
            (false, ',') => record.push(std::mem::take(&mut field)),
            (false, '\r') => {}
            (false, '\n') => {
                record.push(std::mem::take(&mut field));
                records.push(std::mem::take(&mut record));
            }
            (false, c) => field.push(c),
        }
    }
    assert!(field.is_empty() && record.is_empty(), "the last record ends with CRLF");
    records
}

async fn the_csv_export_has_a_header_and_one_quoted_row_per_measurement(app: TestApp) {
    let s = app.register("hanako@example.jp").await;
    let note = "after \"breakfast\", then a walk\n2 km";
    batch(
        &app,
        &s,
        vec![
            json!({"type": "body_weight", "effective_at": "2026-05-01T07:30:00+09:00", "values": {"kg": 61.2},
                   "note": note, "client_ref": "w,1"}),
            json!({"type": "blood_pressure", "effective_at": "2026-05-01T07:31:00+09:00",
                   "values": {"systolic_mmhg": 121, "diastolic_mmhg": 79}, "source": "オムロン"}),
            json!({"type": "steps", "effective_at": "2026-05-01T21:00:00+09:00", "values": {"count": 8123}}),
        ],
    )
    .await;
    let r = export(&app, &s, "csv").await;
    assert_eq!(r.content_type(), "text/csv; charset=utf-8");
    let text = String::from_utf8(r.raw.clone()).expect("UTF-8");
    assert!(text.ends_with("\r\n"));
    assert!(text.contains(&format!("\"{}\"", note.replace('"', "\"\""))));
    let records = parse_csv(&text);
    let header = &records[0];
    assert_eq!(
        &header[..10],
        &[
            "id",
            "type",
            "effective_at",
            "local_date",
            "source",
            "client_ref",
            "modality",
            "note",
            "created_at",
            "updated_at"
        ]
    );
    let value_columns: usize = CATALOGUE.iter().map(|t| t.fields.len()).sum();
    assert_eq!(header.len(), 10 + value_columns);
    assert!(records.iter().all(|r| r.len() == header.len()));
    assert_eq!(records.len(), 4);
    let col = |name: &str| header.iter().position(|h| h == name).unwrap();
    let row = |kind: &str| records.iter().find(|r| r[1] == kind).unwrap();
    let weight = row("body_weight");
    assert_eq!(weight[col("body_weight.kg")], "61.2");
    assert_eq!(weight[col("note")], note);
    assert_eq!(weight[col("client_ref")], "w,1");
    assert_eq!(weight[col("effective_at")], "2026-04-30T22:30:00Z");
    assert_eq!(weight[col("local_date")], "2026-05-01");
    assert_eq!(weight[col("modality")], "self_reported");
    assert_eq!(weight[col("blood_pressure.systolic_mmhg")], "");
    let bp = row("blood_pressure");
    assert_eq!(bp[col("blood_pressure.systolic_mmhg")], "121.0");
    assert_eq!(bp[col("blood_pressure.diastolic_mmhg")], "79.0");
    assert_eq!(bp[col("source")], "オムロン");
    assert_eq!(bp[col("body_weight.kg")], "");
    assert_eq!(row("steps")[col("steps.count")], "8123");

    // A resident with no measurements gets the header alone.
    let empty = app.register("taro@example.jp").await;
    let records = parse_csv(std::str::from_utf8(&export(&app, &empty, "csv").await.raw).unwrap());
    assert_eq!(records.len(), 1);
}

async fn long_histories_are_exported_whole_page_after_page(app: TestApp) {
    let s = app.register("hanako@example.jp").await;
    // More than two pages of the store's 500 rows, in two types whose rows interleave in time,
    // with rows at the same instant (ordered by id).
    let mut items: Vec<Value> = Vec::new();
    for i in 0..1300 {
        let kind = if i % 3 == 0 { "heart_rate" } else { "body_weight" };
        let values = if kind == "heart_rate" {
            json!({"bpm": 60 + i % 50})
        } else {
            json!({"kg": 60.0})
        };
        let at = chrono::DateTime::parse_from_rfc3339("2026-01-01T00:00:00+09:00").unwrap()
            + chrono::Duration::minutes(i64::from(i / 2));
        items.push(
            json!({"type": kind, "effective_at": at.to_rfc3339(), "values": values, "client_ref": format!("m{i}")}),
        );
    }
    for chunk in items.chunks(1000) {
        batch(&app, &s, chunk.to_vec()).await;
    }
    let doc: ExportDocument = serde_json::from_slice(&export(&app, &s, "json").await.raw).unwrap();
    assert_eq!(doc.measurements.len(), 1300);
    let mut refs: Vec<String> = doc.measurements.iter().filter_map(|m| m.client_ref.clone()).collect();
    refs.sort();
    refs.dedup();
    assert_eq!(refs.len(), 1300, "no row twice, none missing");
    let keys: Vec<_> = doc
        .measurements
        .iter()
        .map(|m| (m.kind.clone(), m.effective_at, m.id))
        .collect();
    assert!(keys.windows(2).all(|w| w[0] < w[1]));
    let fhir = export(&app, &s, "fhir").await;
    assert_eq!(fhir.body["entry"].as_array().unwrap().len(), 1301);
    let csv = export(&app, &s, "csv").await;
    assert_eq!(csv.raw.iter().filter(|b| **b == b'\n').count(), 1301);
}

async fn another_residents_data_never_appears_in_any_format(app: TestApp) {
    let rich = rich_resident(&app, "hanako@example.jp").await;
    let other = app.register("taro@example.jp").await;
    let mut theirs = every_type(1, "taro");
    for item in &mut theirs {
        item["note"] = json!("taro's own note");
        item["source"] = json!("Taro's scale");
    }
    let created = batch(&app, &other, theirs).await;
    let their_ids: Vec<String> = created["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_owned())
        .collect();
    for format in ["json", "fhir", "csv"] {
        let text = String::from_utf8(export(&app, &rich.resident, format).await.raw).unwrap();
        for needle in [
            other.user_id.as_str(),
            "taro@example.jp",
            "taro's own note",
            "Taro's scale",
            "taro-",
        ]
        .into_iter()
        .chain(their_ids.iter().map(String::as_str))
        {
            assert!(!text.contains(needle), "{format} export holds {needle}");
        }
        let text = String::from_utf8(export(&app, &other, format).await.raw).unwrap();
        for needle in [
            rich.resident.user_id.as_str(),
            "hanako@example.jp",
            "Omron",
            "rich-",
            "Acme",
        ] {
            assert!(
                !text.contains(needle),
                "{format} export of the other resident holds {needle}"
            );
        }
    }
}

async fn bad_formats_parameters_and_credentials_are_refused(app: TestApp) {
    let s = app.register("hanako@example.jp").await;
    let r = app.get("/v1/me/export?format=xml", Some(&s.access)).await;
    assert_problem(&r, 422, "validation");
    assert_eq!(r.error_fields(), vec!["format"]);
    assert_problem(
        &app.get("/v1/me/export?format=", Some(&s.access)).await,
        422,
        "validation",
    );
    assert_problem(
        &app.get("/v1/me/export?fromat=csv", Some(&s.access)).await,
        400,
        "bad-request",
    );
    assert_problem(&app.get("/v1/me/export", None).await, 401, "unauthorized");
    // Without a format, the JSON document.
    let r = export(&app, &s, "json").await;
    assert_eq!(r.body["format"], "karada-export");
    let r = app.get("/v1/me/export", Some(&s.access)).await;
    r.expect(200);
    assert_eq!(r.content_type(), "application/json");
    // App tokens cannot export, whatever their scopes.
    let t = app
        .post(
            "/v1/me/app-tokens",
            Some(&s.access),
            json!({"name": "Health app", "scopes": ["measurements:read", "measurements:write", "points:read"]}),
        )
        .await;
    t.expect(201);
    let token = t.body["token"].as_str().unwrap();
    for format in ["json", "fhir", "csv"] {
        assert_problem(
            &app.get(&format!("/v1/me/export?format={format}"), Some(token)).await,
            403,
            "forbidden",
        );
    }
}
