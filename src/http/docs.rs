//! Rules the service enforces in one place for every route, written into the OpenAPI document in
//! one place too, so the document states what the server checks without each request type having
//! to repeat it:
//!
//! - **Text** ([`crate::http::guard`]): no string of a JSON body (value or object key, at any
//!   depth) and no query parameter may hold a control character (Unicode Cc), except line breaks
//!   in notes. Every string a request may carry gets that as a `pattern` (and free-form objects as
//!   `propertyNames`), unless it already has a stricter one or is an enum, a date, a date-time or
//!   a UUID.
//! - **Measurements** ([`crate::measurements::catalogue`]): an upload's `values` depend on its
//!   `type`; `MeasurementInput` is one schema per catalogue type, chosen by `type`, each naming
//!   its fields with their kinds, ranges and which are required.

use serde_json::{Map, Value, json};

use crate::measurements::catalogue::{CATALOGUE, FieldKind, TypeDef};
use crate::measurements::validate::{MAX_CLIENT_REF, MAX_NOTE, MAX_SOURCE};

/// A string without control characters (the guard's rule for text outside notes).
pub const NO_CONTROL: &str = r"^[^\u0000-\u001F\u007F-\u009F]*$";
/// A string whose only control characters are line breaks (the guard's rule for notes).
pub const NOTE_TEXT: &str = r"^[^\u0000-\u0009\u000B\u000C\u000E-\u001F\u007F-\u009F]*$";
/// A measurement note: line feeds are its only control characters, and it is not blank.
const MEASUREMENT_NOTE: &str = r"^[^\u0000-\u0009\u000B-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u0009\u000B-\u001F\u007F-\u009F]*$";
/// A text field that is trimmed and must not be blank, without control characters.
pub const NOT_BLANK: &str =
    r"^[^\u0000-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u001F\u007F-\u009F]*$";

/// Applies the rules of the module documentation to the document (as JSON).
pub fn describe(doc: &mut Value) {
    if let Some(schemas) = doc.pointer_mut("/components/schemas").and_then(Value::as_object_mut) {
        schemas.insert("MeasurementInput".to_owned(), measurement_input());
    }
    catalogue_names(doc);
    let mut roots = Vec::new();
    if let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) {
        for item in paths.values_mut() {
            let Some(item) = item.as_object_mut() else { continue };
            for op in item.values_mut() {
                if let Some(params) = op.get_mut("parameters").and_then(Value::as_array_mut) {
                    for p in params.iter_mut().filter(|p| p["in"] == "query") {
                        if let Some(schema) = p.get_mut("schema") {
                            text_rule(schema, false, &mut roots);
                        }
                    }
                }
                if let Some(content) = op.pointer_mut("/requestBody/content").and_then(Value::as_object_mut) {
                    for media in content.values_mut() {
                        if let Some(schema) = media.get_mut("schema") {
                            text_rule(schema, false, &mut roots);
                        }
                    }
                }
            }
        }
    }
    // Components named by request schemas, each once (notes first: a schema met under a note and
    // elsewhere gets the stricter rule).
    let mut done: Vec<String> = Vec::new();
    while let Some((name, in_note)) = roots.pop() {
        if done.contains(&name) {
            continue;
        }
        done.push(name.clone());
        let mut more = Vec::new();
        if let Some(schema) = doc.pointer_mut(&format!("/components/schemas/{name}")) {
            text_rule(schema, in_note, &mut more);
        }
        roots.extend(more);
    }
}

/// Fields that must name a catalogue type (`catalogue::find`) list the names, and the other
/// fixed sets of words the server checks are enums.
fn catalogue_names(doc: &mut Value) {
    let names: Vec<Value> = CATALOGUE.iter().map(|t| Value::from(t.name)).collect();
    let set = |doc: &mut Value, pointer: &str, values: &[Value]| {
        if let Some(s) = doc.pointer_mut(pointer).and_then(Value::as_object_mut) {
            s.insert("enum".to_owned(), Value::from(values.to_vec()));
        }
    };
    set(
        doc,
        "/components/schemas/ConsentInput/properties/measurement_types/items",
        &names,
    );
    set(doc, "/components/schemas/AggregateInput/properties/type", &names);
    let checkups: Vec<Value> = ["specific_health_checkup", "cancer_screening", "dental_checkup"]
        .into_iter()
        .map(Value::from)
        .collect();
    for kind in ["RuleKind", "RuleView"] {
        let Some(variants) = doc
            .pointer_mut(&format!("/components/schemas/{kind}/oneOf"))
            .and_then(Value::as_array_mut)
        else {
            continue;
        };
        for v in variants.iter_mut() {
            if let Some(t) = v
                .pointer_mut("/properties/measurement_type")
                .and_then(Value::as_object_mut)
            {
                t.insert("enum".to_owned(), Value::from(names.clone()));
            }
            if let Some(t) = v.pointer_mut("/properties/checkup_kind").and_then(Value::as_object_mut) {
                t.insert("enum".to_owned(), Value::from(checkups.clone()));
            }
        }
    }
    let periods: Vec<Value> = ["day", "week", "month"].into_iter().map(Value::from).collect();
    let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) else {
        return;
    };
    for (path, item) in paths.iter_mut() {
        let typed = matches!(
            path.as_str(),
            "/v1/measurements" | "/v1/measurements/summary" | "/v1/orgs/{org_id}/members/{user_id}/measurements"
        );
        let Some(params) = item.pointer_mut("/get/parameters").and_then(Value::as_array_mut) else {
            continue;
        };
        for p in params.iter_mut().filter(|p| p["in"] == "query") {
            let name = p["name"].as_str().unwrap_or_default().to_owned();
            if let Some(schema) = p.get_mut("schema").and_then(Value::as_object_mut) {
                if typed && name == "type" {
                    schema.insert("enum".to_owned(), Value::from(names.clone()));
                } else if path == "/v1/measurements/summary" && name == "period" {
                    schema.insert("enum".to_owned(), Value::from(periods.clone()));
                }
            }
        }
    }
}

/// Adds the text rule to every string of `schema`; `$ref`s met are pushed onto `refs`.
fn text_rule(schema: &mut Value, in_note: bool, refs: &mut Vec<(String, bool)>) {
    let Some(obj) = schema.as_object_mut() else { return };
    if let Some(r) = obj.get("$ref").and_then(Value::as_str) {
        if let Some(name) = r.strip_prefix("#/components/schemas/") {
            refs.push((name.to_owned(), in_note));
        }
        return;
    }
    for key in ["oneOf", "anyOf", "allOf", "prefixItems"] {
        if let Some(list) = obj.get_mut(key).and_then(Value::as_array_mut) {
            for s in list {
                text_rule(s, in_note, refs);
            }
        }
    }
    if let Some(items) = obj.get_mut("items") {
        text_rule(items, in_note, refs);
    }
    if let Some(props) = obj.get_mut("properties").and_then(Value::as_object_mut) {
        for (name, s) in props.iter_mut() {
            text_rule(s, in_note || name == "note", refs);
        }
    }
    let free_keys = match obj.get("additionalProperties") {
        Some(Value::Bool(false)) => false,
        Some(Value::Object(_)) | Some(Value::Bool(true)) => true,
        _ => is_type(obj, "object") && !obj.contains_key("properties"),
    };
    if let Some(extra) = obj.get_mut("additionalProperties").filter(|v| v.is_object()) {
        text_rule(extra, in_note, refs);
    }
    if free_keys && !obj.contains_key("propertyNames") {
        obj.insert(
            "propertyNames".to_owned(),
            json!({ "type": "string", "pattern": NO_CONTROL }),
        );
    }
    let constrained = obj.contains_key("pattern")
        || obj.contains_key("enum")
        || obj.contains_key("const")
        || obj
            .get("format")
            .and_then(Value::as_str)
            .is_some_and(|f| matches!(f, "date" | "date-time" | "uuid"));
    if is_type(obj, "string") && !constrained {
        let pattern = if in_note { NOTE_TEXT } else { NO_CONTROL };
        obj.insert("pattern".to_owned(), Value::from(pattern));
    }
}

fn is_type(obj: &Map<String, Value>, t: &str) -> bool {
    match obj.get("type") {
        Some(Value::String(s)) => s == t,
        Some(Value::Array(a)) => a.iter().any(|v| v == t),
        _ => false,
    }
}

/// `MeasurementInput`: one schema per catalogue type.
fn measurement_input() -> Value {
    let variants: Vec<Value> = CATALOGUE.iter().map(measurement_variant).collect();
    json!({
        "description": "One measurement as uploaded. `values` depends on `type`: one schema per type of \
            `GET /v1/measurement-types`, with its fields, their ranges and which are required. Unknown \
            fields are refused.",
        "oneOf": variants,
        "example": {
            "type": "body_weight",
            "effective_at": "2026-11-24T07:30:00+09:00",
            "values": {"kg": 61.2}
        }
    })
}

fn measurement_variant(t: &TypeDef) -> Value {
    let mut props = Map::new();
    let mut required = Vec::new();
    for f in t.fields {
        let mut s = match f.kind {
            FieldKind::Number { min, max } => json!({"type": "number", "minimum": min, "maximum": max}),
            FieldKind::Integer { min, max } => json!({"type": "integer", "minimum": min, "maximum": max}),
            FieldKind::Choice { options } => json!({"type": "string", "enum": options}),
            FieldKind::Date => json!({
                "type": "string",
                "format": "date",
                "description": "Not before 1900-01-01 and not after today (the resident's day)."
            }),
            FieldKind::Sha256 => json!({"type": "string", "pattern": "^[0-9A-Fa-f]{64}$"}),
        };
        let mut desc = f.description.to_owned();
        if let Some(unit) = f.unit {
            desc.push_str(&format!(" ({unit})"));
        }
        if let Some(extra) = s.get("description").and_then(Value::as_str) {
            desc = format!("{desc}. {extra}");
        }
        s["description"] = Value::from(desc);
        if f.required {
            required.push(Value::from(f.name));
        } else {
            // A null is an absent optional field.
            if let Some(ty) = s.get("type").cloned() {
                s["type"] = json!([ty, "null"]);
            }
        }
        props.insert(f.name.to_owned(), s);
    }
    let mut values = json!({
        "type": "object",
        "properties": props,
        "required": required,
        "additionalProperties": false,
    });
    if t.needs_some_field {
        values["minProperties"] = Value::from(1);
        values["description"] = Value::from("At least one field, not null.");
    }
    if t.name == "blood_pressure" {
        values["description"] = Value::from("`systolic_mmhg` must be greater than `diastolic_mmhg`.");
    }
    let text = |max: usize, desc: &str| {
        json!({
            "type": ["string", "null"],
            "minLength": 1,
            "maxLength": max,
            "pattern": NOT_BLANK,
            "description": desc,
        })
    };
    let mut note = text(
        MAX_NOTE,
        "Free text, 1 to 1,000 characters after trimming; line feeds are its only control characters.",
    );
    note["pattern"] = Value::from(MEASUREMENT_NOTE);
    json!({
        "type": "object",
        "title": t.name,
        "description": t.title,
        "required": ["type", "effective_at", "values"],
        "properties": {
            "type": {"type": "string", "enum": [t.name], "description": "The type (see `GET /v1/measurement-types`)."},
            "effective_at": {
                "type": "string",
                "format": "date-time",
                "description": "When it was measured: RFC 3339 with a UTC offset, not before 1900 and at most 24 h in the future."
            },
            "values": values,
            "source": text(MAX_SOURCE, "Device or app that produced it, 1 to 100 characters after trimming (defaults to the app token's name, or `manual`)."),
            "client_ref": text(MAX_CLIENT_REF, "The client's own id for this upload, 1 to 128 characters after trimming; a retry with the same source and `client_ref` returns the stored measurement instead of storing it twice."),
            "note": note,
        },
        "additionalProperties": false,
    })
}
