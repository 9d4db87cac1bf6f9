//! Validation of one uploaded measurement against the catalogue (pure: no database).

use chrono::{DateTime, Duration, NaiveDate, Utc};
use chrono_tz::Tz;
use serde::Deserialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;

use super::catalogue::{self, FieldKind, TypeDef};
use crate::db::Ts;
use crate::error::FieldError;

/// Longest `client_ref`, in characters.
pub const MAX_CLIENT_REF: usize = 128;
/// Longest `source`, in characters.
pub const MAX_SOURCE: usize = 100;
/// Longest `note`, in characters.
pub const MAX_NOTE: usize = 1000;
/// How far in the future a measurement may be dated (device clocks drift; time zones confuse).
pub const MAX_FUTURE: Duration = Duration::hours(24);

/// One measurement as uploaded.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MeasurementInput {
    /// A type name from `GET /v1/measurement-types`.
    #[serde(rename = "type")]
    #[schema(rename = "type", example = "body_weight")]
    pub kind: String,
    /// When it was measured: RFC 3339 with a UTC offset, at most 24 h in the future.
    #[schema(example = "2026-11-24T07:30:00+09:00")]
    pub effective_at: String,
    /// The type's value fields (see the catalogue), e.g. `{"kg": 61.2}`.
    #[schema(value_type = Object, example = json!({"kg": 61.2}))]
    pub values: Map<String, Value>,
    /// Device or app that produced it (defaults to the app token's name, or `manual`).
    pub source: Option<String>,
    /// The client's own id for this upload (≤ 128 characters); a retry with the same source and
    /// `client_ref` returns the stored measurement instead of storing it twice.
    pub client_ref: Option<String>,
    /// Free text, ≤ 1,000 characters.
    pub note: Option<String>,
}

/// A measurement that passed validation, normalised for storage.
#[derive(Debug, Clone)]
pub struct ValidMeasurement {
    /// Its type.
    pub def: &'static TypeDef,
    /// When it was measured (UTC, µs).
    pub effective_at: Ts,
    /// The resident's calendar day at `effective_at`.
    pub local_date: NaiveDate,
    /// Values, checked and normalised (integers as integers, numbers as floats).
    pub values: Map<String, Value>,
    /// Source name.
    pub source: String,
    /// Client reference, if any.
    pub client_ref: Option<String>,
    /// Note, if any.
    pub note: Option<String>,
    /// How it was obtained, when the upload itself says (an imported file's provenance); otherwise
    /// the uploader's credential decides.
    pub modality: Option<crate::accounts::tokens::Modality>,
}

/// What validation needs to know besides the input.
#[derive(Debug, Clone)]
pub struct Context {
    /// The current time.
    pub now: DateTime<Utc>,
    /// The resident's timezone, which defines their day.
    pub tz: Tz,
    /// Source used when the input names none.
    pub default_source: String,
}

fn text(value: Option<&str>, field: &str, max: usize, errors: &mut Vec<FieldError>, prefix: &str) -> Option<String> {
    let v = value?.trim();
    if v.is_empty() || v.chars().count() > max || v.chars().any(|c| c.is_control() && c != '\n') {
        errors.push(FieldError::new(
            format!("{prefix}{field}"),
            format!("must be 1 to {max} characters without control characters"),
        ));
        return None;
    }
    Some(v.to_owned())
}

/// Checks one value against its field definition; returns the normalised value.
fn check_value(kind: FieldKind, v: &Value, today: NaiveDate) -> Result<Value, String> {
    match kind {
        FieldKind::Number { min, max } => {
            let n = v.as_f64().filter(|_| v.is_number()).ok_or("must be a number")?;
            if !n.is_finite() || n < min || n > max {
                return Err(format!("must be between {min} and {max}"));
            }
            Ok(Value::from(n))
        }
        FieldKind::Integer { min, max } => {
            let n = match v {
                Value::Number(n) => n
                    .as_i64()
                    .or_else(|| n.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64)),
                _ => None,
            }
            .ok_or("must be a whole number")?;
            if n < min || n > max {
                return Err(format!("must be between {min} and {max}"));
            }
            Ok(Value::from(n))
        }
        FieldKind::Choice { options } => {
            let s = v.as_str().ok_or("must be a string")?;
            if options.contains(&s) {
                Ok(Value::from(s))
            } else {
                Err(format!("must be one of {}", options.join(", ")))
            }
        }
        FieldKind::Date => {
            let s = v.as_str().ok_or("must be a date string YYYY-MM-DD")?;
            let d = NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|_| "must be a date YYYY-MM-DD".to_owned())?;
            if d > today || d < NaiveDate::from_ymd_opt(1900, 1, 1).unwrap_or(d) {
                return Err("must be between 1900-01-01 and today".to_owned());
            }
            Ok(Value::from(d.format("%Y-%m-%d").to_string()))
        }
        FieldKind::Sha256 => {
            let s = v.as_str().ok_or("must be a string")?;
            if s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit()) {
                Ok(Value::from(s.to_ascii_lowercase()))
            } else {
                Err("must be 64 hexadecimal characters".to_owned())
            }
        }
    }
}

/// Rules across fields of one type.
fn cross_field(def: &TypeDef, values: &Map<String, Value>, prefix: &str, errors: &mut Vec<FieldError>) {
    if def.name == "blood_pressure" {
        let get = |k: &str| values.get(k).and_then(Value::as_f64);
        if let (Some(sys), Some(dia)) = (get("systolic_mmhg"), get("diastolic_mmhg"))
            && sys <= dia
        {
            errors.push(FieldError::new(
                format!("{prefix}values.systolic_mmhg"),
                "must be greater than diastolic_mmhg",
            ));
        }
    }
}

/// Validates `input`; field names in errors are prefixed with `prefix` (e.g. `items[3].`).
pub fn validate(input: &MeasurementInput, ctx: &Context, prefix: &str) -> Result<ValidMeasurement, Vec<FieldError>> {
    let mut errors = Vec::new();
    let def = catalogue::find(&input.kind);
    if def.is_none() {
        errors.push(FieldError::new(
            format!("{prefix}type"),
            "unknown measurement type; see GET /v1/measurement-types",
        ));
    }

    let effective_at = match DateTime::parse_from_rfc3339(input.effective_at.trim()) {
        Ok(t) => {
            let t = t.with_timezone(&Utc);
            if t > ctx.now + MAX_FUTURE {
                errors.push(FieldError::new(
                    format!("{prefix}effective_at"),
                    "must not be more than 24 hours in the future",
                ));
                None
            } else if t.date_naive() < NaiveDate::from_ymd_opt(1900, 1, 1).unwrap_or(t.date_naive()) {
                errors.push(FieldError::new(
                    format!("{prefix}effective_at"),
                    "must not be before 1900",
                ));
                None
            } else {
                Some(Ts::from(t))
            }
        }
        Err(_) => {
            errors.push(FieldError::new(
                format!("{prefix}effective_at"),
                "must be an RFC 3339 timestamp with a UTC offset, e.g. 2026-11-24T07:30:00+09:00",
            ));
            None
        }
    };

    let source = text(input.source.as_deref(), "source", MAX_SOURCE, &mut errors, prefix);
    let client_ref = text(
        input.client_ref.as_deref(),
        "client_ref",
        MAX_CLIENT_REF,
        &mut errors,
        prefix,
    );
    let note = text(input.note.as_deref(), "note", MAX_NOTE, &mut errors, prefix);

    let today = ctx.now.with_timezone(&ctx.tz).date_naive();
    let mut values = Map::new();
    if let Some(def) = def {
        for (key, v) in &input.values {
            match def.field(key) {
                None => errors.push(FieldError::new(
                    format!("{prefix}values.{key}"),
                    format!("is not a field of {}", def.name),
                )),
                // A null is an absent field: optional ones are skipped, required ones reported once below.
                Some(_) if v.is_null() => {}
                Some(f) => match check_value(f.kind, v, today) {
                    Ok(n) => {
                        values.insert(key.clone(), n);
                    }
                    Err(msg) => errors.push(FieldError::new(format!("{prefix}values.{key}"), msg)),
                },
            }
        }
        for f in def.fields.iter().filter(|f| f.required) {
            if !input.values.contains_key(f.name) || input.values[f.name].is_null() {
                errors.push(FieldError::new(format!("{prefix}values.{}", f.name), "is required"));
            }
        }
        if def.needs_some_field && input.values.values().all(Value::is_null) {
            errors.push(FieldError::new(
                format!("{prefix}values"),
                "must contain at least one field",
            ));
        }
        cross_field(def, &values, prefix, &mut errors);
    }

    match (def, effective_at) {
        (Some(def), Some(effective_at)) if errors.is_empty() => Ok(ValidMeasurement {
            def,
            local_date: effective_at.0.with_timezone(&ctx.tz).date_naive(),
            effective_at,
            values,
            source: source.unwrap_or_else(|| ctx.default_source.clone()),
            client_ref,
            note,
            modality: None,
        }),
        _ => Err(errors),
    }
}

/// Validates the items of an upload for `who`: one slot per item, filled (`Some`) with the
/// invalid ones' errors and left empty for the valid ones, which are returned apart with their
/// positions. Items that failed to parse arrive as `Err` with their field error.
pub fn all(
    who: &super::Uploader,
    inputs: Vec<Result<(MeasurementInput, Option<crate::accounts::tokens::Modality>), FieldError>>,
    prefix: impl Fn(usize) -> String,
) -> (Vec<Option<super::ItemResult>>, Vec<ValidMeasurement>, Vec<usize>) {
    let ctx = Context {
        now: Utc::now(),
        tz: who.timezone,
        default_source: who.default_source.clone(),
    };
    let mut results = Vec::with_capacity(inputs.len());
    let mut valid = Vec::new();
    let mut valid_at = Vec::new();
    for (i, input) in inputs.into_iter().enumerate() {
        let checked = input.map_err(|e| vec![e]).and_then(|(input, modality)| {
            validate(&input, &ctx, &prefix(i)).map(|v| ValidMeasurement { modality, ..v })
        });
        match checked {
            Ok(v) => {
                valid_at.push(i);
                valid.push(v);
                results.push(None);
            }
            Err(errors) => results.push(Some(super::ItemResult::Invalid(errors))),
        }
    }
    (results, valid, valid_at)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn ctx() -> Context {
        Context {
            now: "2026-11-24T12:00:00Z".parse().unwrap(),
            tz: chrono_tz::Asia::Tokyo,
            default_source: "manual".to_owned(),
        }
    }

    fn input(kind: &str, values: Value) -> MeasurementInput {
        MeasurementInput {
            kind: kind.to_owned(),
            effective_at: "2026-11-24T07:30:00+09:00".to_owned(),
            values: values.as_object().cloned().unwrap_or_default(),
            source: None,
            client_ref: None,
            note: None,
        }
    }

    fn fields_of(r: Result<ValidMeasurement, Vec<FieldError>>) -> Vec<String> {
        let mut f: Vec<_> = r.err().unwrap_or_default().into_iter().map(|e| e.field).collect();
        f.sort();
        f
    }

    #[test]
    fn a_valid_weight_is_normalised() {
        let v = validate(&input("body_weight", json!({"kg": 61})), &ctx(), "").unwrap();
        assert_eq!(v.values["kg"], json!(61.0));
        assert_eq!(v.local_date, NaiveDate::from_ymd_opt(2026, 11, 24).unwrap());
        assert_eq!(v.source, "manual");
    }

    /// A value map holding a sample of every required field, with `field` set to `v`.
    fn with_field(def: &TypeDef, field: &str, v: Value) -> Value {
        let mut m = Map::new();
        for f in def.fields.iter().filter(|f| f.required) {
            m.insert(f.name.to_owned(), sample(f.kind));
        }
        if def.name == "blood_pressure" {
            m.insert("systolic_mmhg".into(), json!(150));
            m.insert("diastolic_mmhg".into(), json!(70));
        }
        m.insert(field.to_owned(), v);
        Value::Object(m)
    }

    #[test]
    fn every_numeric_field_is_range_checked_at_both_ends() {
        for def in catalogue::CATALOGUE {
            for f in def.fields {
                let (lo, hi, below, above) = match f.kind {
                    FieldKind::Number { min, max } => (json!(min), json!(max), json!(min - 0.001), json!(max + 0.001)),
                    FieldKind::Integer { min, max } => (json!(min), json!(max), json!(min - 1), json!(max + 1)),
                    _ => continue,
                };
                // At the limits the value is accepted (blood pressure's limits can break the
                // systolic > diastolic rule, which has its own test).
                if def.name != "blood_pressure" {
                    for ok in [lo, hi] {
                        let r = validate(&input(def.name, with_field(def, f.name, ok.clone())), &ctx(), "");
                        assert!(r.is_ok(), "{}.{} = {ok} must be accepted", def.name, f.name);
                    }
                }
                for bad in [below, above] {
                    let r = validate(&input(def.name, with_field(def, f.name, bad.clone())), &ctx(), "");
                    assert!(
                        fields_of(r).contains(&format!("values.{}", f.name)),
                        "{}.{} = {bad} must be refused",
                        def.name,
                        f.name
                    );
                }
            }
        }
    }

    fn sample(kind: FieldKind) -> Value {
        match kind {
            FieldKind::Number { min, max } => json!((min + max) / 2.0),
            FieldKind::Integer { min, max } => json!((min + max) / 2),
            FieldKind::Choice { options } => json!(options[0]),
            FieldKind::Date => json!("2026-04-01"),
            FieldKind::Sha256 => json!("ab".repeat(32)),
        }
    }

    #[test]
    fn every_type_accepts_a_sample_of_its_required_fields() {
        for def in catalogue::CATALOGUE {
            let mut m = Map::new();
            for f in def.fields {
                m.insert(f.name.to_owned(), sample(f.kind));
            }
            if def.name == "blood_pressure" {
                m.insert("systolic_mmhg".into(), json!(120));
                m.insert("diastolic_mmhg".into(), json!(80));
            }
            assert!(
                validate(&input(def.name, Value::Object(m)), &ctx(), "").is_ok(),
                "{}",
                def.name
            );
        }
    }

    #[test]
    fn unknown_type_missing_and_extra_fields_are_named() {
        assert_eq!(
            fields_of(validate(&input("mood", json!({})), &ctx(), "items[2].")),
            vec!["items[2].type"]
        );
        assert_eq!(
            fields_of(validate(&input("body_weight", json!({})), &ctx(), "")),
            vec!["values.kg"]
        );
        assert_eq!(
            fields_of(validate(
                &input("body_weight", json!({"kg": 60, "lb": 132})),
                &ctx(),
                ""
            )),
            vec!["values.lb"]
        );
        assert_eq!(
            fields_of(validate(&input("body_composition", json!({})), &ctx(), "")),
            vec!["values"]
        );
    }

    #[test]
    fn numbers_as_strings_and_fractional_counts_are_refused() {
        assert_eq!(
            fields_of(validate(&input("body_weight", json!({"kg": "61"})), &ctx(), "")),
            vec!["values.kg"]
        );
        assert_eq!(
            fields_of(validate(&input("steps", json!({"count": 10.5})), &ctx(), "")),
            vec!["values.count"]
        );
        assert!(validate(&input("steps", json!({"count": 1000.0})), &ctx(), "").is_ok());
    }

    #[test]
    fn systolic_must_exceed_diastolic() {
        let r = validate(
            &input("blood_pressure", json!({"systolic_mmhg": 80, "diastolic_mmhg": 80})),
            &ctx(),
            "",
        );
        assert_eq!(fields_of(r), vec!["values.systolic_mmhg"]);
    }

    #[test]
    fn timestamps_need_an_offset_and_may_not_be_far_in_the_future() {
        let mut i = input("body_weight", json!({"kg": 60}));
        i.effective_at = "2026-11-24T07:30:00".to_owned();
        assert_eq!(fields_of(validate(&i, &ctx(), "")), vec!["effective_at"]);
        i.effective_at = "2026-11-25T11:59:00Z".to_owned();
        assert!(validate(&i, &ctx(), "").is_ok());
        i.effective_at = "2026-11-25T12:01:00Z".to_owned();
        assert_eq!(fields_of(validate(&i, &ctx(), "")), vec!["effective_at"]);
    }

    #[test]
    fn the_local_day_is_the_residents() {
        let mut i = input("steps", json!({"count": 5000}));
        // 23:30 in London on the 23rd is 08:30 on the 24th in Tokyo.
        i.effective_at = "2026-11-23T23:30:00+00:00".to_owned();
        let tokyo = validate(&i, &ctx(), "").unwrap();
        assert_eq!(tokyo.local_date, NaiveDate::from_ymd_opt(2026, 11, 24).unwrap());
        let london = Context {
            tz: chrono_tz::Europe::London,
            ..ctx()
        };
        assert_eq!(
            validate(&i, &london, "").unwrap().local_date,
            NaiveDate::from_ymd_opt(2026, 11, 23).unwrap()
        );
    }

    #[test]
    fn client_ref_source_and_note_lengths() {
        let mut i = input("body_weight", json!({"kg": 60}));
        i.client_ref = Some("x".repeat(129));
        i.source = Some(String::new());
        i.note = Some("n".repeat(1001));
        assert_eq!(
            fields_of(validate(&i, &ctx(), "")),
            vec!["client_ref", "note", "source"]
        );
        i.client_ref = Some("x".repeat(128));
        i.source = Some("Omron scale".into());
        i.note = Some("after breakfast".into());
        assert!(validate(&i, &ctx(), "").is_ok());
    }

    #[test]
    fn checkups_take_a_kind_and_a_past_date() {
        let ok = json!({"kind": "specific_health_checkup", "checkup_date": "2026-06-01"});
        assert!(validate(&input("health_checkup", ok), &ctx(), "").is_ok());
        let bad = json!({"kind": "massage", "checkup_date": "2027-01-01"});
        assert_eq!(
            fields_of(validate(&input("health_checkup", bad), &ctx(), "")),
            vec!["values.checkup_date", "values.kind"]
        );
    }
}
