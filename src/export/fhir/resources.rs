//! The FHIR R4 data types and resources the export writes and the import reads, as far as Karada
//! uses them (field names as FHIR spells them, through serde's camelCase).

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

/// A FHIR `Coding`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct Coding {
    /// Code system URI.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub system: Option<String>,
    /// Code.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// Display text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display: Option<String>,
}

/// A FHIR `CodeableConcept`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct CodeableConcept {
    /// Codings.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub coding: Vec<Coding>,
    /// Plain text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
}

impl CodeableConcept {
    pub(super) fn of(system: &str, code: &str, display: Option<&str>) -> Self {
        CodeableConcept {
            coding: vec![Coding {
                system: Some(system.to_owned()),
                code: Some(code.to_owned()),
                display: display.map(str::to_owned),
            }],
            text: None,
        }
    }
}

/// A FHIR `Quantity`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct Quantity {
    /// The value.
    #[schema(value_type = Option<f64>)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<serde_json::Number>,
    /// Unit as shown.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    /// Unit system (UCUM).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub system: Option<String>,
    /// Unit code.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
}

/// A FHIR `Identifier`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct Identifier {
    /// Namespace URI.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub system: Option<String>,
    /// The value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

/// A FHIR `Reference`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct Reference {
    /// Literal reference.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    /// Logical reference.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub identifier: Option<Identifier>,
    /// Text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display: Option<String>,
}

/// A FHIR `Period`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct Period {
    /// Start.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start: Option<String>,
    /// End.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end: Option<String>,
}

/// A FHIR `Annotation` (only its text).
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct Annotation {
    /// The note.
    pub text: String,
}

/// A FHIR `Extension` with a code or string value.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Extension {
    /// What it is.
    pub url: String,
    /// A code value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value_code: Option<String>,
    /// A string value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value_string: Option<String>,
}

/// The values an `Observation` or one of its components may carry (the `value[x]` choices this
/// service reads and writes).
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ValueX {
    /// A quantity.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value_quantity: Option<Quantity>,
    /// A whole number.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value_integer: Option<i64>,
    /// Text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value_string: Option<String>,
    /// A date or date-time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value_date_time: Option<String>,
    /// A coded value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value_codeable_concept: Option<CodeableConcept>,
}

/// A component of an `Observation`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct Component {
    /// What the component is.
    pub code: CodeableConcept,
    /// Its value.
    #[serde(flatten)]
    pub value: ValueX,
}

/// A FHIR R4 `Observation` (the elements this service reads and writes; others are ignored on
/// import).
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Observation {
    /// `Observation`.
    pub resource_type: String,
    /// Logical id (the measurement's id in an export).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Modality extension.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extension: Vec<Extension>,
    /// The client's reference.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub identifier: Vec<Identifier>,
    /// `final` in exports.
    pub status: String,
    /// Observation category.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub category: Vec<CodeableConcept>,
    /// The type's code.
    pub code: CodeableConcept,
    /// The patient.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<Reference>,
    /// When measured.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub effective_date_time: Option<String>,
    /// When measured (instant).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub effective_instant: Option<String>,
    /// When measured (a period: its start is taken).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub effective_period: Option<Period>,
    /// When stored.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issued: Option<String>,
    /// The value of a single-valued type.
    #[serde(flatten)]
    pub value: ValueX,
    /// The source (`display`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device: Option<Reference>,
    /// The note.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub note: Vec<Annotation>,
    /// One per field of a type with several fields.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub component: Vec<Component>,
}

/// A FHIR `Bundle` as read on import (entries are parsed one by one).
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Bundle {
    /// `Bundle`.
    pub resource_type: String,
    /// `collection`, `transaction`, `batch`, `searchset`, …
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// The entries.
    #[serde(default)]
    pub entry: Vec<BundleEntry>,
}

/// One entry of a `Bundle`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BundleEntry {
    /// The entry's URL.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub full_url: Option<String>,
    /// The resource (an `Observation` is imported; other resources are skipped).
    #[schema(value_type = Option<Object>)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource: Option<Value>,
}
