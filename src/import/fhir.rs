//! FHIR `Observation`s (and `Bundle`s of them) to native uploads. The type is found from the
//! Observation's code (or a field's code: LOINC 41982-0 alone is `body_composition`'s body fat);
//! a type with one field takes `value[x]`, a type with several takes one `component` per field.
//! Quantities are converted to the catalogue's UCUM units. The client reference (the idempotency
//! key, with the source) is the identifier of [`CLIENT_REF_SYSTEM`], else the first identifier,
//! else the resource id, else the entry's `fullUrl`; the source is `device.display`; the modality
//! the [`MODALITY_EXTENSION`]. `subject` is ignored: an import is always the caller's.

use serde_json::{Map, Value};

use super::{Entry, Item, Mapping, typed};
use crate::accounts::tokens::Modality;
use crate::error::AppError;
use crate::export::fhir::{Bundle, CLIENT_REF_SYSTEM, MODALITY_EXTENSION, Observation, ValueX};
use crate::measurements::MeasurementInput;
use crate::measurements::catalogue::{self, FieldDef, FieldKind, TypeDef, UCUM_SYSTEM};

/// The entries of a `Bundle`: its Observations as items, anything else skipped.
pub fn bundle(body: &Value) -> Result<Vec<Entry>, AppError> {
    let bundle: Bundle = typed(body, "").map_err(|e| AppError::Validation(vec![e]))?;
    Ok(bundle
        .entry
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let path = format!("entry[{i}].resource.");
            match &e.resource {
                Some(r) if r.get("resourceType").and_then(Value::as_str) == Some("Observation") => {
                    Entry::Item(Box::new(item(r, e.full_url.as_deref(), &path)))
                }
                Some(r) => Entry::Skipped(
                    r.get("resourceType")
                        .and_then(Value::as_str)
                        .unwrap_or("unknown")
                        .to_owned(),
                ),
                None => Entry::Skipped("none".to_owned()),
            }
        })
        .collect())
}

/// Maps one Observation found at `path` (`full_url`: its Bundle entry's).
pub fn item(resource: &Value, full_url: Option<&str>, path: &str) -> Item {
    let mut m = Mapping::default();
    let (input, modality) = match typed::<Observation>(resource, path) {
        Ok(obs) => map(&obs, full_url, path, &mut m),
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

fn map(
    obs: &Observation,
    full_url: Option<&str>,
    path: &str,
    m: &mut Mapping,
) -> (Option<MeasurementInput>, Option<Modality>) {
    if matches!(obs.status.as_str(), "entered-in-error" | "cancelled") {
        m.error(
            format!("{path}status"),
            "is entered-in-error or cancelled: not a measurement to import",
        );
    }
    let found = obs.code.coding.iter().find_map(|c| match (&c.system, &c.code) {
        (Some(s), Some(code)) => catalogue::find_by_code(s, code),
        _ => None,
    });
    m.name("type", "code");
    let Some((def, only_field)) = found else {
        m.error(
            format!("{path}code"),
            "has no coding this service knows (LOINC or the project code system; see docs/MEASUREMENT-TYPES.md)",
        );
        return (None, None);
    };

    let effective = [
        ("effectiveDateTime", obs.effective_date_time.as_ref()),
        ("effectiveInstant", obs.effective_instant.as_ref()),
        (
            "effectivePeriod.start",
            obs.effective_period.as_ref().and_then(|p| p.start.as_ref()),
        ),
    ]
    .into_iter()
    .find_map(|(name, v)| v.map(|v| (name, v.clone())));
    let effective_at = match effective {
        Some((name, v)) => {
            m.name("effective_at", name);
            v
        }
        None => {
            m.error(
                format!("{path}effectiveDateTime"),
                "is required (or effectiveInstant, or effectivePeriod.start)",
            );
            String::new()
        }
    };

    let mut values = Map::new();
    match only_field.or_else(|| def.single_valued().then(|| def.fields.first()).flatten()) {
        Some(field) => {
            if let Some(v) = value(def, field, &obs.value, path, "", m) {
                values.insert(field.name.to_owned(), v);
            }
            // A missing value is named where it was expected.
            m.name(format!("values.{}", field.name), "valueQuantity");
        }
        None => {
            m.name("values", "component");
            for (i, comp) in obs.component.iter().enumerate() {
                let field = comp.code.coding.iter().find_map(|c| {
                    def.fields.iter().find(|f| {
                        let code = def.field_code(f);
                        c.system.as_deref() == Some(code.system) && c.code.as_deref() == Some(code.code.as_str())
                    })
                });
                let at = format!("component[{i}].");
                match field {
                    Some(f) => {
                        if let Some(v) = value(def, f, &comp.value, path, &at, m) {
                            values.insert(f.name.to_owned(), v);
                        }
                    }
                    None => m.error(
                        format!("{path}{at}code"),
                        format!("names no field of {} (see docs/MEASUREMENT-TYPES.md)", def.name),
                    ),
                }
            }
            for f in def.fields {
                m.name(format!("values.{}", f.name), "component");
            }
        }
    }

    let client_ref = obs
        .identifier
        .iter()
        .enumerate()
        .find(|(_, i)| i.system.as_deref() == Some(CLIENT_REF_SYSTEM) && i.value.is_some())
        .or_else(|| obs.identifier.iter().enumerate().find(|(_, i)| i.value.is_some()))
        .and_then(|(n, i)| {
            m.name("client_ref", format!("identifier[{n}].value"));
            i.value.clone()
        })
        .or_else(|| {
            m.name("client_ref", "id");
            obs.id.clone()
        })
        .or_else(|| full_url.map(str::to_owned));
    let source = obs.device.as_ref().and_then(|d| d.display.clone());
    m.name("source", "device.display");
    let note = (!obs.note.is_empty()).then(|| obs.note.iter().map(|n| n.text.as_str()).collect::<Vec<_>>().join("\n"));
    m.name("note", "note");

    let mut modality = None;
    for (i, e) in obs.extension.iter().enumerate() {
        if e.url == MODALITY_EXTENSION {
            match e.value_code.as_deref().and_then(Modality::parse) {
                Some(v) => modality = Some(v),
                None => m.error(
                    format!("{path}extension[{i}].valueCode"),
                    "must be sensed or self_reported",
                ),
            }
        }
    }
    let input = MeasurementInput {
        kind: def.name.to_owned(),
        effective_at,
        values,
        source,
        client_ref,
        note,
    };
    (Some(input), modality)
}

/// The native value of `field` from a FHIR `value[x]` found at `path` + `at`, in the catalogue's
/// unit; `None` when absent or wrong (wrong: an error is recorded).
fn value(def: &TypeDef, field: &FieldDef, v: &ValueX, path: &str, at: &str, m: &mut Mapping) -> Option<Value> {
    let native = format!("values.{}", field.name);
    if let Some(q) = &v.value_quantity {
        m.name(native, format!("{at}valueQuantity.value"));
        let Some(number) = q.value.as_ref().and_then(serde_json::Number::as_f64) else {
            m.error(format!("{path}{at}valueQuantity.value"), "is required");
            return None;
        };
        let Some(unit) = field.unit else {
            m.error(
                format!("{path}{at}valueQuantity"),
                format!("{}.{} is not a quantity", def.name, field.name),
            );
            return None;
        };
        // The UCUM code where the quantity says it is UCUM (or names no system), else the unit text.
        let given = match (&q.system, &q.code) {
            (Some(s), Some(c)) if s == UCUM_SYSTEM => Some(c.as_str()),
            (None, Some(c)) => Some(c.as_str()),
            _ => q.unit.as_deref(),
        };
        let Some(given) = given else {
            m.error(
                format!("{path}{at}valueQuantity.code"),
                format!("is required: a UCUM unit ({unit})"),
            );
            return None;
        };
        return match catalogue::convert(number, given, unit) {
            Some(n) if matches!(field.kind, FieldKind::Integer { .. }) && n.fract() == 0.0 =>
            {
                #[expect(clippy::cast_possible_truncation, reason = "whole and range-checked by validation")]
                Some(Value::from(n as i64))
            }
            Some(n) => Some(Value::from(n)),
            None => {
                m.error(
                    format!("{path}{at}valueQuantity.code"),
                    format!("unit {given} cannot be converted to {unit}"),
                );
                None
            }
        };
    }
    if let Some(n) = v.value_integer {
        m.name(native, format!("{at}valueInteger"));
        return Some(Value::from(n));
    }
    if let Some(s) = &v.value_string {
        m.name(native, format!("{at}valueString"));
        return Some(Value::from(s.clone()));
    }
    if let Some(s) = &v.value_date_time {
        m.name(native, format!("{at}valueDateTime"));
        return Some(Value::from(s.clone()));
    }
    if let Some(c) = &v.value_codeable_concept {
        m.name(native, format!("{at}valueCodeableConcept"));
        return c
            .coding
            .iter()
            .find_map(|c| c.code.clone())
            .or_else(|| c.text.clone())
            .map(Value::from);
    }
    None
}
