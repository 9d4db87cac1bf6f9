//! `POST /v1/measurements/import`: the FHIR round trip, Open mHealth data points, unit
//! conversion, idempotent re-imports, and errors that name the document's fields.

use serde_json::{Value, json};

use karada::export::json::ExportDocument;
use karada::measurements::catalogue::CATALOGUE;

use crate::both_backends;
use crate::common::{Session, TestApp, assert_problem};
use crate::export::{every_type, export};

both_backends!(
    a_fhir_export_imported_into_a_fresh_account_gives_the_same_measurements,
    open_mhealth_data_points_are_imported_with_their_units_and_modality,
    fhir_observations_from_elsewhere_are_mapped_through_the_catalogue,
    unknown_codes_and_units_are_refused_naming_the_field,
    a_document_that_is_not_importable_is_refused_as_a_whole,
    only_credentials_that_write_measurements_import,
);

async fn import(app: &TestApp, s: &Session, body: Value) -> crate::common::Resp {
    app.post("/v1/measurements/import", Some(&s.access), body).await
}

/// A measurement as compared: type, values, time, modality, source, client reference and note.
type Compared = (String, String, String, String, String, Option<String>, Option<String>);

/// The measurements of an export, comparable and sorted.
fn measurements(doc: &ExportDocument) -> Vec<Compared> {
    let mut all: Vec<_> = doc
        .measurements
        .iter()
        .map(|m| {
            (
                m.kind.clone(),
                Value::Object(m.values.clone()).to_string(),
                m.effective_at.to_rfc3339(),
                serde_json::to_string(&m.modality).unwrap(),
                m.source.clone(),
                m.client_ref.clone(),
                m.note.clone(),
            )
        })
        .collect();
    all.sort();
    all
}

async fn a_fhir_export_imported_into_a_fresh_account_gives_the_same_measurements(app: TestApp) {
    let hanako = app.register("hanako@example.jp").await;
    // Every type, through a session (self-reported) …
    let r = app
        .post(
            "/v1/measurements/batch",
            Some(&hanako.access),
            json!({"items": every_type(1, "h")}),
        )
        .await;
    r.expect(200);
    assert_eq!(r.body["created"], CATALOGUE.len());
    // … and some through a sensed kiosk token, with sub-second times and no client reference.
    let kiosk = &crate::common::sensed_token(&app, &hanako, "Kiosk", &["measurements:write"]).await;
    for body in [
        json!({"type": "vascular_age", "effective_at": "2026-06-01T10:00:00.123456+09:00",
               "values": {"vascular_age_years": 52.5, "pulse_wave_velocity_cm_s": 1400}}),
        json!({"type": "steps", "effective_at": "2026-06-01T22:00:00+09:00", "values": {"count": 9876}}),
    ] {
        app.post("/v1/measurements", Some(kiosk), body).await.expect(201);
    }
    let bundle = export(&app, &hanako, "fhir").await.body;
    let before: ExportDocument = serde_json::from_slice(&export(&app, &hanako, "json").await.raw).unwrap();

    let taro = app.register("taro@example.jp").await;
    let r = import(&app, &taro, bundle.clone()).await;
    r.expect(200);
    // Every type, and the two kiosk measurements.
    let all = CATALOGUE.len() + 2;
    assert_eq!(r.body["created"], all, "{}", r.body);
    assert_eq!(r.body["skipped"], 1);
    assert_eq!(r.body["results"][0]["resource_type"], "Patient");
    let after: ExportDocument = serde_json::from_slice(&export(&app, &taro, "json").await.raw).unwrap();
    let mut expected = measurements(&before);
    // Without a client reference of its own, an imported measurement keeps the Observation's id as
    // one, so that importing the file again creates nothing.
    for m in &mut expected {
        if m.5.is_none() {
            let id = before
                .measurements
                .iter()
                .find(|b| b.kind == m.0 && Value::Object(b.values.clone()).to_string().as_str() == m.1.as_str())
                .unwrap()
                .id;
            m.5 = Some(id.to_string());
        }
    }
    expected.sort();
    assert_eq!(measurements(&after), expected);
    let kinds_before: Vec<_> = before
        .measurements
        .iter()
        .map(|m| (m.kind.clone(), m.local_date))
        .collect();
    let kinds_after: Vec<_> = after
        .measurements
        .iter()
        .map(|m| (m.kind.clone(), m.local_date))
        .collect();
    assert_eq!(kinds_before, kinds_after);

    // Back into the account it came from: nothing new, even for the measurements exported without
    // a client reference.
    let r = import(&app, &hanako, bundle.clone()).await;
    r.expect(200);
    assert_eq!(
        (r.body["created"].as_u64(), r.body["duplicates"].as_u64()),
        (Some(0), Some(all as u64)),
        "{}",
        r.body
    );
    let same: ExportDocument = serde_json::from_slice(&export(&app, &hanako, "json").await.raw).unwrap();
    assert_eq!(same.measurements.len(), all);

    // Again: nothing new.
    let r = import(&app, &taro, bundle).await;
    r.expect(200);
    assert_eq!(r.body["created"], 0);
    assert_eq!(r.body["duplicates"], all);
    let again: ExportDocument = serde_json::from_slice(&export(&app, &taro, "json").await.raw).unwrap();
    assert_eq!(again.measurements.len(), all);
    // A claim of `sensed` from a session does not earn sensed-only points; the stored rows keep it.
    assert!(
        after
            .measurements
            .iter()
            .any(|m| m.kind == "vascular_age" && m.modality == karada::accounts::tokens::Modality::Sensed)
    );
    assert!(
        !after.points.ledger.iter().any(|e| e.title.contains("vascular")),
        "{:?}",
        after.points.ledger.iter().map(|e| &e.title).collect::<Vec<_>>()
    );
}

async fn open_mhealth_data_points_are_imported_with_their_units_and_modality(app: TestApp) {
    let s = app.register("hanako@example.jp").await;
    let point = |id: &str, schema: &str, body: Value| {
        json!({"header": {"uuid": id, "creation_date_time": "2026-06-02T08:00:00Z",
                          "schema_id": {"namespace": "omh", "name": schema, "version": "2.0"},
                          "acquisition_provenance": {"source_name": "Withings", "modality": "sensed"}},
               "body": body})
    };
    let points = json!([
        point(
            "p-weight",
            "body-weight",
            json!({"body_weight": {"value": 150, "unit": "lb"},
            "effective_time_frame": {"date_time": "2026-06-02T07:00:00+09:00"}})
        ),
        point(
            "p-bp",
            "blood-pressure",
            json!({"systolic_blood_pressure": {"value": 124, "unit": "mmHg"},
            "diastolic_blood_pressure": {"value": 81, "unit": "mmHg"},
            "effective_time_frame": {"date_time": "2026-06-02T07:01:00+09:00"}})
        ),
        point(
            "p-hr",
            "heart-rate",
            json!({"heart_rate": {"value": 64, "unit": "beats/min"},
            "effective_time_frame": {"date_time": "2026-06-02T07:02:00+09:00"}})
        ),
        point(
            "p-steps",
            "step-count",
            json!({"step_count": {"value": 7939, "unit": "steps"},
            "effective_time_frame": {"time_interval": {"start_date_time": "2026-06-01T00:00:00+09:00",
                                                        "end_date_time": "2026-06-02T00:00:00+09:00"}}})
        ),
        point(
            "p-sleep",
            "sleep-duration",
            json!({"sleep_duration": {"value": 7.5, "unit": "h"},
            "effective_time_frame": {"date_time": "2026-06-02T06:30:00+09:00"}})
        ),
        point(
            "p-glucose",
            "blood-glucose",
            json!({"blood_glucose": {"value": 5.5, "unit": "mmol/L"},
            "effective_time_frame": {"date_time": "2026-06-02T07:03:00+09:00"}})
        ),
        json!({"header": {"id": "p-gait", "schema_id": {"namespace": "karada", "name": "gait"},
                          "acquisition_provenance": {"source_name": "Gait kiosk", "modality": "self-reported"}},
               "body": {"walking_speed_m_s": {"value": 1.2, "unit": "m/s"}, "stride_length_cm": {"value": 0.65, "unit": "m"},
                        "cadence_steps_min": {"value": 110, "unit": "{steps}/min"},
                        "effective_time_frame": {"date_time": "2026-06-02T09:00:00+09:00"}}}),
    ]);
    let r = import(&app, &s, points.clone()).await;
    r.expect(200);
    assert_eq!(r.body["created"], 7, "{}", r.body);
    let doc: ExportDocument = serde_json::from_slice(&export(&app, &s, "json").await.raw).unwrap();
    let get = |kind: &str| doc.measurements.iter().find(|m| m.kind == kind).unwrap();
    let w = get("body_weight");
    assert_eq!(w.values["kg"], json!(68.038856));
    assert_eq!(w.client_ref.as_deref(), Some("p-weight"));
    assert_eq!(w.source, "Withings");
    assert_eq!(w.modality, karada::accounts::tokens::Modality::Sensed);
    assert_eq!(get("blood_pressure").values["systolic_mmhg"], json!(124.0));
    assert_eq!(get("heart_rate").values["bpm"], json!(64.0));
    let steps = get("steps");
    assert_eq!(steps.values["count"], json!(7939));
    assert_eq!(
        steps.local_date.to_string(),
        "2026-06-01",
        "a day's steps belong to the day it starts"
    );
    assert_eq!(get("sleep").values["duration_min"], json!(450.0));
    assert_eq!(get("blood_glucose").values["mg_dl"], json!(99.0858));
    let gait = get("gait");
    assert_eq!(gait.values["stride_length_cm"], json!(65.0));
    assert_eq!(gait.modality, karada::accounts::tokens::Modality::SelfReported);
    assert_eq!(gait.client_ref.as_deref(), Some("p-gait"));
    // Importing the same points again creates nothing.
    let r = import(&app, &s, points).await;
    r.expect(200);
    assert_eq!(r.body["duplicates"], 7);
}

async fn fhir_observations_from_elsewhere_are_mapped_through_the_catalogue(app: TestApp) {
    let s = app.register("hanako@example.jp").await;
    let obs = |id: &str, code: Value, rest: Value| {
        let mut o = json!({"resourceType": "Observation", "id": id, "status": "final", "code": {"coding": [code]},
                           "subject": {"reference": "Patient/somebody-else"},
                           "effectiveDateTime": "2026-06-03T07:00:00+09:00"});
        o.as_object_mut().unwrap().extend(rest.as_object().unwrap().clone());
        o
    };
    let loinc = |c: &str| json!({"system": "http://loinc.org", "code": c});
    let bundle = json!({"resourceType": "Bundle", "type": "searchset", "entry": [
        {"fullUrl": "https://fhir.example/Observation/w", "resource": obs("w", loinc("29463-7"),
            json!({"valueQuantity": {"value": 132.3, "unit": "lb", "system": "http://unitsofmeasure.org", "code": "[lb_av]"}}))},
        {"resource": obs("hr", loinc("8867-4"),
            json!({"valueQuantity": {"value": 58, "unit": "beats/minute", "system": "http://unitsofmeasure.org", "code": "/min"}}))},
        {"resource": obs("bp", json!({"system": "http://loinc.org", "code": "85354-9"}), json!({"component": [
            {"code": {"coding": [loinc("8480-6")]}, "valueQuantity": {"value": 131, "system": "http://unitsofmeasure.org", "code": "mm[Hg]"}},
            {"code": {"coding": [loinc("8462-4")]}, "valueQuantity": {"value": 84, "system": "http://unitsofmeasure.org", "code": "mm[Hg]"}}]}))},
        {"resource": obs("fat", loinc("41982-0"),
            json!({"valueQuantity": {"value": 24.5, "system": "http://unitsofmeasure.org", "code": "%"}}))},
        {"resource": obs("steps", loinc("41950-7"), json!({"valueInteger": 4321, "identifier": [{"system": "urn:other", "value": "fitbit-77"}],
            "device": {"display": "Fitbit"}, "note": [{"text": "a walk"}]}))},
        {"resource": {"resourceType": "Patient", "id": "p"}},
        {"resource": obs("gone", loinc("8867-4"), json!({"status": "entered-in-error",
            "valueQuantity": {"value": 58, "system": "http://unitsofmeasure.org", "code": "/min"}}))},
    ]});
    let r = import(&app, &s, bundle).await;
    r.expect(200);
    assert_eq!(r.body["created"], 5, "{}", r.body);
    assert_eq!(r.body["skipped"], 1);
    assert_eq!(r.body["invalid"], 1);
    assert_eq!(r.body["results"][6]["errors"][0]["field"], "entry[6].resource.status");
    let doc: ExportDocument = serde_json::from_slice(&export(&app, &s, "json").await.raw).unwrap();
    let get = |kind: &str| doc.measurements.iter().find(|m| m.kind == kind).unwrap();
    assert_eq!(get("body_weight").values["kg"], json!(60.010271));
    assert_eq!(get("body_weight").client_ref.as_deref(), Some("w"));
    assert_eq!(get("heart_rate").values["bpm"], json!(58.0));
    assert_eq!(get("blood_pressure").values["diastolic_mmhg"], json!(84.0));
    assert_eq!(
        get("body_composition").values,
        json!({"body_fat_pct": 24.5}).as_object().unwrap().clone()
    );
    let steps = get("steps");
    assert_eq!(steps.values["count"], json!(4321));
    assert_eq!(steps.client_ref.as_deref(), Some("fitbit-77"));
    assert_eq!(steps.source, "Fitbit");
    assert_eq!(steps.note.as_deref(), Some("a walk"));
    // Without a modality of its own, the credential's: a session is self-reported.
    assert_eq!(steps.modality, karada::accounts::tokens::Modality::SelfReported);
}

async fn unknown_codes_and_units_are_refused_naming_the_field(app: TestApp) {
    let s = app.register("hanako@example.jp").await;
    let temperature = json!({"resourceType": "Observation", "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "8310-5"}]},
        "effectiveDateTime": "2026-06-03T07:00:00+09:00",
        "valueQuantity": {"value": 36.5, "system": "http://unitsofmeasure.org", "code": "Cel"}});
    let r = import(&app, &s, temperature).await;
    assert_problem(&r, 422, "validation");
    assert_eq!(r.error_fields(), vec!["code"]);

    let weight_in_stone = json!({"resourceType": "Observation", "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "29463-7"}]},
        "effectiveDateTime": "2026-06-03T07:00:00+09:00",
        "valueQuantity": {"value": 9.5, "system": "http://unitsofmeasure.org", "code": "[stone_av]"}});
    let r = import(&app, &s, weight_in_stone).await;
    assert_problem(&r, 422, "validation");
    assert_eq!(r.error_fields(), vec!["valueQuantity.code"]);

    // Validation of the native API, named in the document's terms.
    let bad = json!({"resourceType": "Bundle", "type": "collection", "entry": [
        {"resource": {"resourceType": "Observation", "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": "85354-9"}]},
            "effectiveDateTime": "2026-06-03",
            "component": [
                {"code": {"coding": [{"system": "http://loinc.org", "code": "8480-6"}]},
                 "valueQuantity": {"value": 400, "system": "http://unitsofmeasure.org", "code": "mm[Hg]"}},
                {"code": {"coding": [{"system": "http://loinc.org", "code": "9999-9"}]},
                 "valueQuantity": {"value": 80, "system": "http://unitsofmeasure.org", "code": "mm[Hg]"}}]}}]});
    let r = import(&app, &s, bad).await;
    assert_problem(&r, 422, "validation");
    assert_eq!(r.error_fields(), vec!["entry[0].resource.component[1].code"]);
    let bad_values = json!({"resourceType": "Bundle", "type": "collection", "entry": [
        {"resource": {"resourceType": "Observation", "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": "85354-9"}]},
            "effectiveDateTime": "2026-06-03",
            "component": [
                {"code": {"coding": [{"system": "http://loinc.org", "code": "8480-6"}]},
                 "valueQuantity": {"value": 400, "system": "http://unitsofmeasure.org", "code": "mm[Hg]"}}]}}]});
    let r = import(&app, &s, bad_values).await;
    assert_problem(&r, 422, "validation");
    let mut fields = r.error_fields();
    fields.sort();
    assert_eq!(
        fields,
        vec![
            "entry[0].resource.component",
            "entry[0].resource.component[0].valueQuantity.value",
            "entry[0].resource.effectiveDateTime",
        ]
    );

    let omh = json!({"header": {"uuid": "x", "schema_id": {"namespace": "omh", "name": "body-temperature", "version": "2.0"}},
                     "body": {"body_temperature": {"value": 36.5, "unit": "C"},
                              "effective_time_frame": {"date_time": "2026-06-03T07:00:00+09:00"}}});
    let r = import(&app, &s, omh).await;
    assert_problem(&r, 422, "validation");
    assert_eq!(r.error_fields(), vec!["header.schema_id"]);
    let omh = json!([{"header": {"uuid": "y", "schema_id": {"namespace": "omh", "name": "body-weight", "version": "2.0"}},
                      "body": {"body_weight": {"value": 60, "unit": "stone"},
                               "effective_time_frame": {"date_time": "2026-06-03T07:00:00+09:00"}}}]);
    let r = import(&app, &s, omh).await;
    assert_problem(&r, 422, "validation");
    assert_eq!(r.error_fields(), vec!["[0].body.body_weight.unit"]);

    // One bad item among good ones: the good ones are stored, the bad one reported.
    let mixed = json!({"resourceType": "Bundle", "type": "collection", "entry": [
        {"resource": {"resourceType": "Observation", "id": "ok", "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
            "effectiveDateTime": "2026-06-03T07:00:00+09:00",
            "valueQuantity": {"value": 61, "system": "http://unitsofmeasure.org", "code": "/min"}}},
        {"resource": {"resourceType": "Observation", "id": "low", "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
            "effectiveDateTime": "2026-06-03T07:00:00+09:00",
            "valueQuantity": {"value": 5, "system": "http://unitsofmeasure.org", "code": "/min"}}}]});
    let r = import(&app, &s, mixed).await;
    r.expect(200);
    assert_eq!(
        (r.body["created"].as_u64(), r.body["invalid"].as_u64()),
        (Some(1), Some(1))
    );
    assert_eq!(
        r.body["results"][1]["errors"][0]["field"],
        "entry[1].resource.valueQuantity.value"
    );
    // The same identifier with other content is a conflict on that item.
    let clash = json!({"resourceType": "Observation", "id": "ok", "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
        "effectiveDateTime": "2026-06-03T07:00:00+09:00",
        "valueQuantity": {"value": 99, "system": "http://unitsofmeasure.org", "code": "/min"}});
    let r = import(&app, &s, clash).await;
    assert_problem(&r, 422, "validation");
    assert_eq!(r.error_fields(), vec!["id"]);
}

async fn a_document_that_is_not_importable_is_refused_as_a_whole(app: TestApp) {
    let s = app.register("hanako@example.jp").await;
    let r = import(&app, &s, json!({"resourceType": "Patient", "id": "x"})).await;
    assert_problem(&r, 422, "validation");
    assert_eq!(r.error_fields(), vec!["resourceType"]);
    let r = import(&app, &s, json!({"hello": "world"})).await;
    assert_eq!(r.error_fields(), vec!["resourceType"]);
    let r = import(
        &app,
        &s,
        json!({"resourceType": "Bundle", "type": "collection", "entry": [
        {"resource": {"resourceType": "Patient", "id": "x"}}]}),
    )
    .await;
    assert_problem(&r, 422, "validation");
    assert_eq!(r.error_fields(), vec!["entry"]);
    let r = import(&app, &s, json!([])).await;
    assert_eq!(r.error_fields(), vec!["entry"]);
    let r = import(&app, &s, json!({"resourceType": "Bundle", "entry": "nope"})).await;
    assert_problem(&r, 422, "validation");
    assert_eq!(r.error_fields(), vec!["entry"]);
    let too_many: Vec<Value> = (0..1001)
        .map(|i| {
            json!({"header": {"uuid": format!("p{i}"), "schema_id": {"namespace": "omh", "name": "heart-rate"}},
                        "body": {"heart_rate": {"value": 60, "unit": "beats/min"},
                                 "effective_time_frame": {"date_time": "2026-06-03T07:00:00+09:00"}}})
        })
        .collect();
    let r = import(&app, &s, Value::Array(too_many)).await;
    assert_problem(&r, 422, "validation");
    assert_eq!(r.error_fields(), vec!["entry"]);
    let r = app
        .send(
            actix_web::test::TestRequest::post()
                .uri("/v1/measurements/import")
                .insert_header(("authorization", format!("Bearer {}", s.access)))
                .insert_header(("content-type", "application/fhir+json"))
                .set_payload("{not json"),
        )
        .await;
    assert_problem(&r, 400, "bad-request");
}

async fn only_credentials_that_write_measurements_import(app: TestApp) {
    let s = app.register("hanako@example.jp").await;
    let point = json!({"header": {"uuid": "a", "schema_id": {"namespace": "omh", "name": "heart-rate"}},
                       "body": {"heart_rate": {"value": 60, "unit": "beats/min"},
                                "effective_time_frame": {"date_time": "2026-06-03T07:00:00+09:00"}}});
    assert_problem(
        &app.post("/v1/measurements/import", None, point.clone()).await,
        401,
        "unauthorized",
    );
    // Sensed tokens of a registered app named "App".
    let token = |scopes: &'static [&'static str]| crate::common::sensed_token(&app, &s, "App", scopes);
    let reader = token(&["measurements:read"]).await;
    assert_problem(
        &app.post("/v1/measurements/import", Some(&reader), point.clone()).await,
        403,
        "forbidden",
    );
    let writer = token(&["measurements:write"]).await;
    let r = app.post("/v1/measurements/import", Some(&writer), point).await;
    r.expect(200);
    assert_eq!(r.body["created"], 1);
    let list = app.get("/v1/measurements", Some(&s.access)).await;
    // A sensed app's import without a stated modality is sensed, its source the app's name.
    assert_eq!(list.body["items"][0]["modality"], "sensed");
    assert_eq!(list.body["items"][0]["source"], "App");
}
