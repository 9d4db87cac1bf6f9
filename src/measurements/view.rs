//! The one outside view of a stored measurement: what the API answers, what the JSON export
//! writes and what an import of that export reads back.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

use super::Measurement;
use crate::accounts::tokens::Modality;

/// A stored measurement.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MeasurementView {
    /// The measurement's id: what `GET` and `DELETE /v1/measurements/{id}` take, and what an
    /// import of an export recognises, so that it stores nothing twice.
    pub id: uuid::Uuid,
    /// Type name (see `docs/MEASUREMENT-TYPES.md`).
    #[serde(rename = "type")]
    #[schema(rename = "type")]
    pub kind: String,
    /// When it was measured (UTC).
    pub effective_at: DateTime<Utc>,
    /// The resident's calendar day at `effective_at`.
    pub local_date: NaiveDate,
    /// The values, as defined by the catalogue.
    #[schema(value_type = Object)]
    pub values: Map<String, Value>,
    /// Device or app that produced it.
    pub source: String,
    /// The client's reference, if it gave one.
    pub client_ref: Option<String>,
    /// `sensed` (device or kiosk) or `self_reported` (typed in).
    pub modality: Modality,
    /// Free text.
    pub note: Option<String>,
    /// When it was stored.
    pub created_at: DateTime<Utc>,
    /// When it last changed (a daily total replaced by a later upload).
    pub updated_at: DateTime<Utc>,
    /// `vascular_age` only, and only in answers to the resident: vascular age minus the
    /// resident's age on that day, in years. Derived, so the export leaves it out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vascular_age_gap: Option<f64>,
}

impl MeasurementView {
    /// The view of `m`; the vascular age gap only when the resident's birth date is given.
    pub fn of(m: Measurement, birth_date: Option<NaiveDate>) -> Self {
        MeasurementView {
            vascular_age_gap: m.vascular_age_gap(birth_date),
            id: m.id.0,
            values: m.values(),
            modality: Modality::from_stored(&m.modality),
            kind: m.kind,
            effective_at: m.effective_at.0,
            local_date: m.local_date,
            source: m.source,
            client_ref: m.client_ref,
            note: m.note,
            created_at: m.created_at.0,
            updated_at: m.updated_at.0,
        }
    }
}
