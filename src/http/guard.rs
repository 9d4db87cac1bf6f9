//! The one place every request passes before its handler: per-address throttles of the routes that
//! take guessable input, operator routes closed to everyone else before their input is read, and
//! the refusal of control characters in any text the request carries.
//!
//! **Text** — every string of a JSON body (values and keys, at any depth), every query parameter
//! and the path are checked here, for every route, so no handler can forget it: a control
//! character (Unicode category Cc: U+0000–U+001F and U+007F–U+009F) is 422 naming the field
//! (`items[3].client_ref`, or the query parameter's name); in the path it names no resource (404).
//! The one exception is line breaks (LF, CR) inside notes — fields named `note` and what lies
//! under them, such as a FHIR Observation's `note[0].text` — which are free text that may span
//! lines. A NUL would otherwise reach PostgreSQL, which refuses it in text (a 500), while SQLite
//! stores it as it is.

use std::net::IpAddr;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::middleware::Next;
use actix_web::mime;
use actix_web::web::{self, Bytes};
use actix_web::{FromRequest, HttpMessage};
use serde_json::Value;

use crate::error::{AppError, FieldError};
use crate::http::AppState;
use crate::http::auth::Operator;
use crate::http::throttle::{self, Guarded};

/// Whether `c` may appear in a text field whose JSON path is `path`.
fn allowed(path: &str, c: char) -> bool {
    !c.is_control() || ((c == '\n' || c == '\r') && in_note(path))
}

/// Whether the field at `path` is (or lies under) a note.
fn in_note(path: &str) -> bool {
    path.split(['.', '['])
        .any(|segment| segment == "note" || segment.starts_with("note["))
}

/// The field error for `text` at `path`, if it holds a character no text field may hold there.
pub fn check_text(path: &str, text: &str) -> Option<FieldError> {
    if text.chars().all(|c| allowed(path, c)) {
        return None;
    }
    let message = if in_note(path) {
        "must not contain control characters other than line breaks"
    } else {
        "must not contain control characters"
    };
    Some(FieldError::new(path, message))
}

/// Every string (and object key) of a JSON document that breaks [`check_text`], named by its path.
pub fn check_json(value: &Value) -> Vec<FieldError> {
    let mut errors = Vec::new();
    walk(value, String::new(), &mut errors);
    errors
}

fn walk(value: &Value, path: String, errors: &mut Vec<FieldError>) {
    match value {
        Value::String(s) => errors.extend(check_text(&path, s)),
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                walk(item, format!("{path}[{i}]"), errors);
            }
        }
        Value::Object(map) => {
            for (key, item) in map {
                let at = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                if let Some(e) = check_text(&at, key) {
                    errors.push(e);
                    continue;
                }
                walk(item, at, errors);
            }
        }
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

/// Whether raw JSON bytes could hold a control character inside a string: JSON forbids them raw
/// (the parser refuses them), so one can only arrive escaped (`\u0000`, `\n`) or as DEL or a C1
/// control (U+0080–U+009F, which UTF-8 writes as C2 80–C2 9F). Bodies without any are not parsed
/// twice.
fn may_hold_control(bytes: &[u8]) -> bool {
    bytes.iter().enumerate().any(|(i, b)| {
        *b == b'\\' || *b == 0x7f || (*b == 0xc2 && bytes.get(i + 1).is_some_and(|n| (0x80..=0x9f).contains(n)))
    })
}

fn is_json(req: &ServiceRequest) -> bool {
    req.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<mime::Mime>().ok())
        .is_some_and(|m| m.subtype() == mime::JSON || m.suffix() == Some(mime::JSON))
}

/// `%XX` sequences decoded; anything malformed is left as it is (the router answers it).
fn percent_decoded(raw: &str) -> String {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| char::from(b).to_digit(16);
        match (
            bytes[i],
            bytes.get(i + 1).copied().and_then(hex),
            bytes.get(i + 2).copied().and_then(hex),
        ) {
            (b'%', Some(hi), Some(lo)) => {
                out.push(u8::try_from(hi * 16 + lo).unwrap_or(b'%'));
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The query parameters that hold a control character.
fn check_query(query: &str) -> Vec<FieldError> {
    let Ok(pairs) = web::Query::<Vec<(String, String)>>::from_query(query) else {
        // Undecodable: the handler's own query extractor answers 400.
        return Vec::new();
    };
    pairs
        .into_inner()
        .into_iter()
        .filter_map(|(name, value)| check_text(&name, &name).or_else(|| check_text(&name, &value)))
        .collect()
}

/// Reads the body (up to the configured limit) and checks its text; the body is put back for the
/// handler.
async fn check_body(req: &mut ServiceRequest) -> Result<(), AppError> {
    if !is_json(req) {
        return Ok(());
    }
    let bytes = req.extract::<Bytes>().await.map_err(|e| {
        if e.as_response_error().status_code() == StatusCode::PAYLOAD_TOO_LARGE {
            AppError::PayloadTooLarge
        } else {
            AppError::BadRequest("unreadable body".to_owned())
        }
    })?;
    let errors = if may_hold_control(&bytes) {
        // Malformed JSON is left to the handler's extractor, which answers 400.
        serde_json::from_slice::<Value>(&bytes)
            .map(|v| check_json(&v))
            .unwrap_or_default()
    } else {
        Vec::new()
    };
    req.set_payload(actix_web::dev::Payload::from(bytes));
    if errors.is_empty() {
        Ok(())
    } else {
        Err(AppError::Validation(errors))
    }
}

/// Operator routes (`/v1/admin/…`) refuse everyone else (401, 403) before their query or body is
/// looked at, so a resident probing them learns nothing of what they would accept. The principal
/// found is kept with the request for the handler's extractor.
async fn operators_only(req: &mut ServiceRequest) -> Result<(), AppError> {
    if !req.path().starts_with("/v1/admin/") {
        return Ok(());
    }
    let Operator(who) = Operator::from_request(req.request(), &mut actix_web::dev::Payload::None).await?;
    req.extensions_mut().insert(who);
    Ok(())
}

async fn before(req: &mut ServiceRequest, route: Option<Guarded>, addr: Option<IpAddr>) -> Result<(), AppError> {
    if let Some(state) = req.app_data::<web::Data<AppState>>() {
        match route {
            Some(Guarded::Registration) => state.throttle.registration_attempt(addr)?,
            Some(Guarded::Guess(kind)) => state.throttle.guess_allowed(kind, addr)?,
            None => {}
        }
    }
    if percent_decoded(req.path()).chars().any(char::is_control) {
        return Err(AppError::NotFound);
    }
    operators_only(req).await?;
    let query = check_query(req.query_string());
    if !query.is_empty() {
        return Err(AppError::Validation(query));
    }
    check_body(req).await
}

/// The middleware: see the module documentation.
pub async fn guard<B: MessageBody + 'static>(
    mut req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<EitherBody<B>>, actix_web::Error> {
    let route = throttle::guarded(req.method(), req.path());
    let addr = req.peer_addr().map(|a| a.ip());
    if let Err(e) = before(&mut req, route, addr).await {
        return Ok(req.error_response(e).map_into_right_body());
    }
    let state = req.app_data::<web::Data<AppState>>().cloned();
    let res = next.call(req).await?;
    // A wrong code (404; 422 for enrollment codes) or wrong app credentials (401) is a failed
    // guess; a right code refused for another reason (an event not open yet: 409) is not.
    if let (Some(Guarded::Guess(kind)), Some(state)) = (route, state)
        && matches!(
            res.status(),
            StatusCode::NOT_FOUND | StatusCode::UNAUTHORIZED | StatusCode::UNPROCESSABLE_ENTITY
        )
    {
        state.throttle.guess_failed(kind, addr);
    }
    Ok(res.map_into_left_body())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn every_control_character_is_named_by_its_path() {
        let doc = json!({
            "title": "ok",
            "seed": "a\u{0}b",
            "items": [{"client_ref": "x"}, {"client_ref": "y\u{1b}", "values": {"k\u{7}": 1}}],
            "prize": "\u{85}",
        });
        let fields: Vec<String> = check_json(&doc).into_iter().map(|e| e.field).collect();
        assert_eq!(
            fields,
            ["items[1].client_ref", "items[1].values.k\u{7}", "prize", "seed"]
        );
    }

    #[test]
    fn notes_alone_may_hold_line_breaks() {
        assert!(check_text("note", "two\nlines\r\n").is_none());
        assert!(check_text("items[2].note", "two\nlines").is_none());
        assert!(check_text("entry[0].resource.note[0].text", "two\nlines").is_none());
        assert!(check_text("note", "tab\there").is_some());
        assert!(check_text("notes", "two\nlines").is_some());
        assert!(check_text("title", "two\nlines").is_some());
        assert!(check_text("title", "東京 ok — fine").is_none());
    }

    #[test]
    fn bodies_without_escapes_dels_or_c1_controls_skip_the_second_parse() {
        assert!(!may_hold_control(br#"{"a": "plain text, no escape here", "b": 1}"#));
        assert!(may_hold_control(br#"{"a": "\u0000"}"#));
        assert!(may_hold_control("{\"a\": \"\u{85}\"}".as_bytes()));
        assert!(may_hold_control("{\"a\": \"\u{7f}\"}".as_bytes()));
        assert!(!may_hold_control("{\"a\": \"東京é\"}".as_bytes()));
    }

    #[test]
    fn paths_and_queries_are_decoded_before_they_are_checked() {
        assert_eq!(
            percent_decoded("/v1/admin/programmes/osaka%00"),
            "/v1/admin/programmes/osaka\u{0}"
        );
        assert_eq!(percent_decoded("/a%zz%4"), "/a%zz%4");
        let fields: Vec<String> = check_query("type=steps%00&limit=5&from%07=x")
            .into_iter()
            .map(|e| e.field)
            .collect();
        assert_eq!(fields, ["type", "from\u{7}"]);
    }
}
