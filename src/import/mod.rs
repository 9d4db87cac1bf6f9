//! Import of measurements from other records: Open mHealth data points and FHIR `Observation`s
//! (alone or in a `Bundle`), mapped to the native upload ([`MeasurementInput`]) with the codes and
//! units of the catalogue, then validated and stored exactly like `POST /v1/measurements/batch`
//! (idempotent by source and client reference).
//!
//! Mapping is pure (no database). Each item remembers where its parts were in the document, so a
//! validation error names the document's field (`entry[3].resource.valueQuantity.value`) rather
//! than the native one (`values.kg`).

pub mod fhir;
pub mod omh;

use serde::Deserialize;
use serde_json::Value;
use utoipa::ToSchema;

use crate::accounts::tokens::Modality;
use crate::error::{AppError, FieldError};
use crate::measurements::{MAX_BATCH, MeasurementInput};

/// What `POST /v1/measurements/import` accepts (the first member that fits the document's shape).
// Documents the request body; the handler reads the document as JSON and tells the shapes apart
// itself, so that each error can name the document's field.
#[derive(Debug, Deserialize, ToSchema)]
#[expect(clippy::large_enum_variant, reason = "describes the request body; never built")]
#[serde(untagged)]
pub enum ImportDocument {
    /// A FHIR R4 `Observation`.
    Observation(crate::export::fhir::Observation),
    /// A FHIR `Bundle` (any type): its `Observation` entries are imported, other entries skipped.
    Bundle(crate::export::fhir::Bundle),
    /// One Open mHealth data point.
    DataPoint(omh::DataPoint),
    /// A list of Open mHealth data points.
    DataPoints(Vec<omh::DataPoint>),
}

/// One measurement of the document, mapped.
#[derive(Debug, Clone)]
pub struct Item {
    /// Where it is in the document, as a prefix of field names: `entry[3].resource.`, `[2].` or
    /// empty for a document that is one item.
    pub path: String,
    /// The native upload, or why it could not be mapped.
    pub input: Result<MeasurementInput, Vec<FieldError>>,
    /// The modality the document states, if any.
    pub modality: Option<Modality>,
    /// Native field names (`values.kg`, `effective_at`, …) and the document's field they came
    /// from (relative to `path`).
    pub names: Vec<(String, String)>,
}

impl Item {
    /// The measurement id this item would be if it came from this service's own export: an
    /// Observation without an identifier, whose `id` (its client reference) is a UUID.
    pub fn own_id(&self) -> Option<crate::db::MeasurementId> {
        if !self.names.iter().any(|(n, d)| n == "client_ref" && d == "id") {
            return None;
        }
        let input = self.input.as_ref().ok()?;
        input.client_ref.as_deref()?.parse().ok()
    }

    /// The document's name for a native field name from validation (`values.kg` →
    /// `entry[0].resource.valueQuantity.value`).
    pub fn field_name(&self, native: &str) -> String {
        let local = self
            .names
            .iter()
            .find(|(n, _)| n == native)
            .map_or(native, |(_, d)| d.as_str());
        format!("{}{}", self.path, local)
    }
}

/// One entry of the document: an item to import, or something else that is skipped (a FHIR
/// `Patient` or `Consent` of an export, say), with its resource type.
#[derive(Debug, Clone)]
pub enum Entry {
    /// A measurement.
    Item(Box<Item>),
    /// Not a measurement.
    Skipped(String),
}

/// A document, entry by entry, in document order.
#[derive(Debug, Clone)]
pub struct Document {
    /// The entries.
    pub entries: Vec<Entry>,
}

/// Collects a mapping's field errors and the document names of the native fields it filled.
#[derive(Debug, Default)]
pub(crate) struct Mapping {
    pub(crate) errors: Vec<FieldError>,
    pub(crate) names: Vec<(String, String)>,
}

impl Mapping {
    pub(crate) fn error(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.errors.push(FieldError::new(field, message));
    }

    pub(crate) fn name(&mut self, native: impl Into<String>, document: impl Into<String>) {
        self.names.push((native.into(), document.into()));
    }
}

/// Parses a document: a FHIR `Observation` or `Bundle`, an Open mHealth data point or a list of
/// them. 422 naming the field when the document as a whole is none of these, or holds no item or
/// more than [`MAX_BATCH`].
pub fn parse(body: &Value) -> Result<Document, AppError> {
    let entries = match body {
        Value::Array(points) => points
            .iter()
            .enumerate()
            .map(|(i, p)| Entry::Item(Box::new(omh::item(p, &format!("[{i}].")))))
            .collect(),
        Value::Object(o) => match o.get("resourceType").and_then(Value::as_str) {
            Some("Observation") => vec![Entry::Item(Box::new(fhir::item(body, None, "")))],
            Some("Bundle") => fhir::bundle(body)?,
            Some(_) => {
                return Err(AppError::invalid(
                    "resourceType",
                    "must be Observation or Bundle (other resources are not imported)",
                ));
            }
            None if o.contains_key("header") && o.contains_key("body") => {
                vec![Entry::Item(Box::new(omh::item(body, "")))]
            }
            None => {
                return Err(AppError::invalid(
                    "resourceType",
                    "the document must be a FHIR Observation or Bundle, an Open mHealth data point (header and \
                     body) or a list of data points",
                ));
            }
        },
        _ => {
            return Err(AppError::invalid(
                "resourceType",
                "the document must be a JSON object or a list of Open mHealth data points",
            ));
        }
    };
    let items = entries.iter().filter(|e| matches!(e, Entry::Item(_))).count();
    if items == 0 {
        return Err(AppError::invalid(
            "entry",
            "holds no Observation or data point to import",
        ));
    }
    if items > MAX_BATCH {
        return Err(AppError::invalid(
            "entry",
            format!("holds more than {MAX_BATCH} measurements: split it"),
        ));
    }
    Ok(Document { entries })
}

/// Deserialises `value` as `T`, naming the offending field under `path` on failure.
pub(crate) fn typed<T: serde::de::DeserializeOwned>(value: &Value, path: &str) -> Result<T, FieldError> {
    serde_path_to_error::deserialize::<_, T>(value.clone()).map_err(|e| {
        let at = e.path().to_string();
        let field = if at == "." {
            path.trim_end_matches('.').to_owned()
        } else {
            format!("{path}{at}")
        };
        FieldError::new(field, e.into_inner().to_string())
    })
}
