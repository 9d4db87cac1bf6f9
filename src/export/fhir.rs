//! The FHIR R4 export: a `Bundle` of type `collection` holding a `Patient`, one `Observation` per
//! measurement and one `Consent` per consent. Codes and units come from the catalogue
//! ([`crate::measurements::catalogue`]); the project's own URIs are below. The same types read
//! Observations back in on import (the `import` module).

use chrono::SecondsFormat;
use serde::Serialize;
use serde_json::Value;

use super::store::{self, for_each};
use super::{ExportError, Writer};
use crate::accounts::User;
use crate::db::{DbConn, Ts};
use crate::measurements::Measurement;
use crate::measurements::catalogue::{self, CATEGORY_SYSTEM, FieldDef, FieldKind, TypeDef, UCUM_SYSTEM};
use crate::sharing::consents::{Consent as ConsentRow, Status};

/// Extension on an `Observation`: how the value was obtained, `sensed` or `self_reported`
/// (`valueCode`).
pub const MODALITY_EXTENSION: &str = "https://karada.example/fhir/StructureDefinition/modality";
/// Extension on a `Consent`: the purpose the resident was told (`valueString`).
pub const PURPOSE_EXTENSION: &str = "https://karada.example/fhir/StructureDefinition/consent-purpose";
/// Identifier system of an `Observation`'s client reference (`client_ref`); the source is in
/// `device.display`.
pub const CLIENT_REF_SYSTEM: &str = "https://karada.example/fhir/NamingSystem/client-ref";
/// Identifier system of account ids.
pub const ACCOUNT_SYSTEM: &str = "https://karada.example/fhir/NamingSystem/account";
/// Identifier system of organisation ids.
pub const ORGANIZATION_SYSTEM: &str = "https://karada.example/fhir/NamingSystem/organization";
/// Identifier system of consent receipts.
pub const RECEIPT_SYSTEM: &str = "https://karada.example/fhir/NamingSystem/consent-receipt";
/// Code of the points figures a consent may include, in the project code system.
pub const POINTS_CODE: &str = "health_points";

mod resources;
pub use resources::{
    Annotation, Bundle, BundleEntry, CodeableConcept, Coding, Component, Extension, Identifier, Observation, Period,
    Quantity, Reference, ValueX,
};

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Patient {
    resource_type: &'static str,
    id: String,
    identifier: Vec<Identifier>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    name: Vec<HumanName>,
    telecom: Vec<ContactPoint>,
    gender: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    birth_date: Option<String>,
}

#[derive(Serialize)]
struct HumanName {
    text: String,
}

#[derive(Serialize)]
struct ContactPoint {
    system: &'static str,
    value: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Consent {
    resource_type: &'static str,
    id: String,
    extension: Vec<Extension>,
    identifier: Vec<Identifier>,
    status: &'static str,
    scope: CodeableConcept,
    category: Vec<CodeableConcept>,
    patient: Reference,
    date_time: String,
    policy_rule: CodeableConcept,
    provision: Provision,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Provision {
    #[serde(rename = "type")]
    kind: &'static str,
    period: Period,
    /// The data the consent shares: from its `data_from` on.
    data_period: Period,
    actor: Vec<ProvisionActor>,
    action: Vec<CodeableConcept>,
    code: Vec<CodeableConcept>,
}

#[derive(Serialize)]
struct ProvisionActor {
    role: CodeableConcept,
    reference: Reference,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Entry<'a, R> {
    full_url: String,
    resource: &'a R,
}

/// An instant as FHIR writes it (UTC, `Z`, fractional seconds only when there are some).
pub fn instant(t: Ts) -> String {
    t.0.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

fn urn(id: impl Into<uuid::Uuid>) -> String {
    format!("urn:uuid:{}", id.into())
}

fn coding_of(code: &catalogue::Code, display: &str) -> CodeableConcept {
    CodeableConcept {
        coding: vec![Coding {
            system: Some(code.system.to_owned()),
            code: Some(code.code.clone()),
            display: Some(display.to_owned()),
        }],
        text: Some(display.to_owned()),
    }
}

/// The FHIR value of one catalogue field.
fn value_of(field: &FieldDef, v: &Value) -> ValueX {
    match (field.kind, v) {
        (FieldKind::Number { .. } | FieldKind::Integer { .. }, Value::Number(n)) => ValueX {
            value_quantity: Some(Quantity {
                value: Some(n.clone()),
                unit: field.unit.map(str::to_owned),
                system: field.unit.map(|_| UCUM_SYSTEM.to_owned()),
                code: field.unit.map(str::to_owned),
            }),
            ..ValueX::default()
        },
        (FieldKind::Date, Value::String(s)) => ValueX {
            value_date_time: Some(s.clone()),
            ..ValueX::default()
        },
        (_, Value::String(s)) => ValueX {
            value_string: Some(s.clone()),
            ..ValueX::default()
        },
        (_, other) => ValueX {
            value_string: Some(other.to_string()),
            ..ValueX::default()
        },
    }
}

/// The `Observation` of a measurement, its subject the given patient reference.
pub fn observation(m: &Measurement, patient: &str) -> Observation {
    let values = m.values();
    let def: Option<&TypeDef> = catalogue::find(&m.kind);
    let (code, category, value, component) = match def {
        Some(def) => {
            let code = coding_of(&def.code(), def.title);
            let category = CodeableConcept::of(CATEGORY_SYSTEM, def.category.code(), Some(def.category.display()));
            if def.single_valued() {
                let value = def
                    .fields
                    .first()
                    .and_then(|f| values.get(f.name).map(|v| value_of(f, v)))
                    .unwrap_or_default();
                (code, vec![category], value, Vec::new())
            } else {
                let components = def
                    .fields
                    .iter()
                    .filter_map(|f| {
                        values.get(f.name).map(|v| Component {
                            code: coding_of(&def.field_code(f), f.description),
                            value: value_of(f, v),
                        })
                    })
                    .collect();
                (code, vec![category], ValueX::default(), components)
            }
        }
        // A type no longer in the catalogue keeps its name in the project code system and its
        // values as text, so nothing held is left out.
        None => (
            CodeableConcept::of(catalogue::KARADA_CODE_SYSTEM, &m.kind, None),
            Vec::new(),
            ValueX {
                value_string: Some(m.fields.0.to_string()),
                ..ValueX::default()
            },
            Vec::new(),
        ),
    };
    Observation {
        resource_type: "Observation".to_owned(),
        id: Some(m.id.0.to_string()),
        extension: vec![Extension {
            url: MODALITY_EXTENSION.to_owned(),
            value_code: Some(m.modality.clone()),
            value_string: None,
        }],
        identifier: m
            .client_ref
            .iter()
            .map(|r| Identifier {
                system: Some(CLIENT_REF_SYSTEM.to_owned()),
                value: Some(r.clone()),
            })
            .collect(),
        status: "final".to_owned(),
        category,
        code,
        subject: Some(Reference {
            reference: Some(patient.to_owned()),
            ..Reference::default()
        }),
        effective_date_time: Some(instant(m.effective_at)),
        effective_instant: None,
        effective_period: None,
        issued: Some(instant(m.created_at)),
        value,
        device: Some(Reference {
            display: Some(m.source.clone()),
            ..Reference::default()
        }),
        note: m.note.iter().map(|t| Annotation { text: t.clone() }).collect(),
        component,
    }
}

fn patient(u: &User) -> Patient {
    Patient {
        resource_type: "Patient",
        id: u.id.0.to_string(),
        identifier: vec![Identifier {
            system: Some(ACCOUNT_SYSTEM.to_owned()),
            value: Some(u.id.0.to_string()),
        }],
        name: u.display_name.iter().map(|n| HumanName { text: n.clone() }).collect(),
        telecom: vec![ContactPoint {
            system: "email",
            value: u.email.clone(),
        }],
        // The account's `sex` values are FHIR's administrative-gender codes.
        gender: u.sex.clone(),
        birth_date: u.birth_date.map(|d| d.format("%Y-%m-%d").to_string()),
    }
}

fn consent(c: &ConsentRow, organization: &str, types: &[String], patient: &str, now: Ts) -> Consent {
    let mut codes: Vec<CodeableConcept> = types
        .iter()
        .map(|t| match catalogue::find(t) {
            Some(def) => coding_of(&def.code(), def.title),
            None => CodeableConcept::of(catalogue::KARADA_CODE_SYSTEM, t, None),
        })
        .collect();
    if c.include_points {
        codes.push(CodeableConcept::of(
            catalogue::KARADA_CODE_SYSTEM,
            POINTS_CODE,
            Some("Health points"),
        ));
    }
    let end = match (c.revoked_at, c.expires_at) {
        (Some(r), _) => Some(r),
        (None, e) => e,
    };
    Consent {
        resource_type: "Consent",
        id: c.id.0.to_string(),
        extension: vec![Extension {
            url: PURPOSE_EXTENSION.to_owned(),
            value_code: None,
            value_string: Some(c.purpose.clone()),
        }],
        identifier: vec![Identifier {
            system: Some(RECEIPT_SYSTEM.to_owned()),
            value: Some(c.receipt_id.0.to_string()),
        }],
        status: match c.status(now) {
            Status::Active => "active",
            Status::Revoked | Status::Expired => "inactive",
        },
        scope: CodeableConcept::of(
            "http://terminology.hl7.org/CodeSystem/consentscope",
            "patient-privacy",
            Some("Privacy Consent"),
        ),
        category: vec![CodeableConcept::of(
            catalogue::LOINC_SYSTEM,
            "59284-0",
            Some("Patient Consent"),
        )],
        patient: Reference {
            reference: Some(patient.to_owned()),
            ..Reference::default()
        },
        date_time: instant(c.created_at),
        policy_rule: CodeableConcept::of(
            "http://terminology.hl7.org/CodeSystem/v3-ActCode",
            "OPTIN",
            Some("opt-in"),
        ),
        provision: Provision {
            kind: "permit",
            period: Period {
                start: Some(instant(c.created_at)),
                end: end.map(instant),
            },
            data_period: Period {
                start: Some(c.data_from.to_string()),
                end: None,
            },
            actor: vec![ProvisionActor {
                role: CodeableConcept::of(
                    "http://terminology.hl7.org/CodeSystem/v3-ParticipationType",
                    "IRCP",
                    Some("information recipient"),
                ),
                reference: Reference {
                    reference: None,
                    identifier: Some(Identifier {
                        system: Some(ORGANIZATION_SYSTEM.to_owned()),
                        value: Some(c.organization_id.0.to_string()),
                    }),
                    display: Some(organization.to_owned()),
                },
            }],
            // Individual access lets staff read the records; aggregate access only lets them be
            // used inside statistics.
            action: vec![CodeableConcept::of(
                "http://terminology.hl7.org/CodeSystem/consentaction",
                if c.access == crate::sharing::consents::Access::Individual {
                    "access"
                } else {
                    "use"
                },
                None,
            )],
            code: codes,
        },
    }
}

/// Writes the whole bundle.
pub fn render(conn: &mut DbConn, user: &User, now: Ts, out: &mut Writer<'_>) -> Result<(), ExportError> {
    let id = user.id;
    let patient_ref = urn(id);
    out.text("{\"resourceType\":\"Bundle\",\"id\":")?;
    out.json(&uuid::Uuid::now_v7().to_string())?;
    out.text(",\"type\":\"collection\",\"timestamp\":")?;
    out.json(&instant(now))?;
    out.text(",\"entry\":[")?;
    out.json(&Entry {
        full_url: patient_ref.clone(),
        resource: &patient(user),
    })?;
    out.send()?;
    for_each(
        conn,
        |c, after, limit| store::measurements(c, id, after, limit),
        store::measurement_key,
        |_, m| {
            out.text(",")?;
            out.json(&Entry {
                full_url: urn(m.id),
                resource: &observation(&m, &patient_ref),
            })
        },
    )?;
    for_each(
        conn,
        |c, after, limit| store::consents(c, id, after, limit),
        |(c, _, _)| c.id,
        |_, (c, org, types)| {
            out.text(",")?;
            out.json(&Entry {
                full_url: urn(c.id),
                resource: &consent(&c, &org, &types, &patient_ref, now),
            })
        },
    )?;
    out.text("]}")
}
