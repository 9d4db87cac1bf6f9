//! Open mHealth data points to native uploads. The schema (`header.schema_id`) picks the type: an
//! `omh` schema of [`catalogue::OMH_SCHEMAS`], or the project's namespace `karada` with a type name,
//! whose body properties are the type's field names. Quantities (`{"value": …, "unit": …}`) are
//! converted to the catalogue's units; `effective_time_frame` gives the time (`date_time`, else
//! the start of `time_interval`); `header.uuid` (or `header.id`) is the client reference;
//! `acquisition_provenance` gives the source and the modality.

use serde::Deserialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;

use super::{Item, Mapping, typed};
use crate::accounts::tokens::Modality;
use crate::measurements::MeasurementInput;
use crate::measurements::catalogue::{self, FieldKind, OMH_KARADA_NAMESPACE, OMH_SCHEMAS, TypeDef};

/// An Open mHealth data point.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct DataPoint {
    /// The header.
    pub header: Header,
    /// The measure, as its schema defines it.
    #[schema(value_type = Object)]
    pub body: Map<String, Value>,
}

/// An Open mHealth data point header.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct Header {
    /// The data point's id (IEEE 1752).
    pub uuid: Option<String>,
    /// The data point's id (Open mHealth 1.x).
    pub id: Option<String>,
    /// When the data point was created.
    pub creation_date_time: Option<String>,
    /// The body's schema.
    pub schema_id: SchemaId,
    /// Where the data came from.
    pub acquisition_provenance: Option<Provenance>,
}

/// A schema id.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct SchemaId {
    /// `omh`, or `karada` for the project's own.
    pub namespace: String,
    /// e.g. `body-weight`.
    pub name: String,
    /// e.g. `2.0`.
    pub version: Option<String>,
}

/// Acquisition provenance.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct Provenance {
    /// The device or app: the measurement's source.
    pub source_name: Option<String>,
    /// `sensed` or `self-reported`.
    pub modality: Option<String>,
}

/// Maps one data point found at `path`.
pub fn item(value: &Value, path: &str) -> Item {
    let mut m = Mapping::default();
    let (input, modality) = match typed::<DataPoint>(value, path) {
        Ok(point) => map(&point, path, &mut m),
        Err(e) => {
            m.errors.push(e);
            (None, None)
        }
    };
    Item {
        path: path.to_owned(),
        input: match input {
            Some(i) if m.errors.is_empty() => Ok(i),
            _ => Err(m.errors),
        },
        modality,
        names: m.names,
    }
}

/// The type of a schema and its (body property, field) pairs.
fn schema(id: &SchemaId) -> Option<(&'static TypeDef, Vec<(&'static str, &'static str)>)> {
    if id.namespace == OMH_KARADA_NAMESPACE {
        let def = catalogue::find(&id.name)?;
        return Some((def, def.fields.iter().map(|f| (f.name, f.name)).collect()));
    }
    if id.namespace != "omh" {
        return None;
    }
    let s = OMH_SCHEMAS.iter().find(|s| s.name == id.name)?;
    Some((catalogue::find(s.kind)?, s.fields.to_vec()))
}

fn map(point: &DataPoint, path: &str, m: &mut Mapping) -> (Option<MeasurementInput>, Option<Modality>) {
    m.name("type", "header.schema_id");
    let Some((def, fields)) = schema(&point.header.schema_id) else {
        let known: Vec<&str> = OMH_SCHEMAS.iter().map(|s| s.name).collect();
        m.error(
            format!("{path}header.schema_id"),
            format!(
                "is not a schema this service imports: omh {}, or karada with a measurement type name",
                known.join(", ")
            ),
        );
        return (None, None);
    };

    let frame = point.body.get("effective_time_frame");
    let time = [
        ("date_time", frame.and_then(|f| f.get("date_time"))),
        (
            "time_interval.start_date_time",
            frame
                .and_then(|f| f.get("time_interval"))
                .and_then(|i| i.get("start_date_time")),
        ),
        (
            "time_interval.end_date_time",
            frame
                .and_then(|f| f.get("time_interval"))
                .and_then(|i| i.get("end_date_time")),
        ),
    ]
    .into_iter()
    .find_map(|(name, v)| v.and_then(Value::as_str).map(|v| (name, v.to_owned())));
    let effective_at = match time {
        Some((name, v)) => {
            m.name("effective_at", format!("body.effective_time_frame.{name}"));
            v
        }
        None => {
            m.error(
                format!("{path}body.effective_time_frame"),
                "is required: a date_time, or a time_interval with a start_date_time",
            );
            String::new()
        }
    };

    let mut values = Map::new();
    for (property, field_name) in fields {
        let Some(field) = def.field(field_name) else { continue };
        let at = format!("body.{property}");
        let Some(raw) = point.body.get(property) else {
            m.name(format!("values.{field_name}"), at);
            continue;
        };
        let value = match (raw, field.unit) {
            // A bare number is in the catalogue's unit (step_count of schema 1.0).
            (Value::Number(_), _) => Some(raw.clone()),
            (Value::Object(q), Some(unit)) => {
                m.name(format!("values.{field_name}"), format!("{at}.value"));
                match (
                    q.get("value").and_then(Value::as_f64),
                    q.get("unit").and_then(Value::as_str),
                ) {
                    (Some(v), Some(given)) => match catalogue::convert(v, catalogue::omh_unit(given), unit) {
                        Some(n) if matches!(field.kind, FieldKind::Integer { .. }) && n.fract() == 0.0 =>
                        {
                            #[expect(
                                clippy::cast_possible_truncation,
                                reason = "whole and range-checked by validation"
                            )]
                            Some(Value::from(n as i64))
                        }
                        Some(n) => Some(Value::from(n)),
                        None => {
                            m.error(
                                format!("{path}{at}.unit"),
                                format!("unit {given} cannot be converted to {unit}"),
                            );
                            None
                        }
                    },
                    (None, _) => {
                        m.error(format!("{path}{at}.value"), "must be a number");
                        None
                    }
                    (_, None) => {
                        m.error(format!("{path}{at}.unit"), format!("is required ({unit})"));
                        None
                    }
                }
            }
            (other, _) => Some(other.clone()),
        };
        m.name(format!("values.{field_name}"), at);
        if let Some(v) = value {
            values.insert(field_name.to_owned(), v);
        }
    }
    m.name("values", "body");

    let provenance = point.header.acquisition_provenance.as_ref();
    let modality = match provenance.and_then(|p| p.modality.as_deref()) {
        None => None,
        Some("sensed") => Some(Modality::Sensed),
        Some("self-reported" | "self_reported") => Some(Modality::SelfReported),
        Some(_) => {
            m.error(
                format!("{path}header.acquisition_provenance.modality"),
                "must be sensed or self-reported",
            );
            None
        }
    };
    m.name("source", "header.acquisition_provenance.source_name");
    let client_ref = match (&point.header.uuid, &point.header.id) {
        (Some(u), _) => {
            m.name("client_ref", "header.uuid");
            Some(u.clone())
        }
        (None, Some(i)) => {
            m.name("client_ref", "header.id");
            Some(i.clone())
        }
        (None, None) => None,
    };
    let input = MeasurementInput {
        kind: def.name.to_owned(),
        effective_at,
        values,
        source: provenance.and_then(|p| p.source_name.clone()),
        client_ref,
        note: None,
    };
    (Some(input), modality)
}
