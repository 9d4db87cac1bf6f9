//! The CSV export: one row per measurement, one column per value field of the catalogue
//! (`type.field`), UTF-8 with a header row, RFC 4180 quoting and CRLF line ends.

use serde_json::Value;

use super::store::{self, for_each};
use super::{ExportError, Writer};
use crate::accounts::User;
use crate::db::DbConn;
use crate::measurements::Measurement;
use crate::measurements::catalogue::CATALOGUE;

/// The columns before the value fields.
pub const FIXED_COLUMNS: [&str; 10] = [
    "id",
    "type",
    "effective_at",
    "local_date",
    "source",
    "client_ref",
    "modality",
    "note",
    "created_at",
    "updated_at",
];

/// The value columns: every field of every catalogue type, as (type, field), named `type.field`.
pub fn value_columns() -> Vec<(&'static str, &'static str)> {
    CATALOGUE
        .iter()
        .flat_map(|t| t.fields.iter().map(move |f| (t.name, f.name)))
        .collect()
}

/// One field quoted as RFC 4180 requires: in double quotes (doubled inside) when it holds a comma,
/// a quote or a line break.
pub fn quote(field: &str) -> std::borrow::Cow<'_, str> {
    if field.contains([',', '"', '\r', '\n']) {
        format!("\"{}\"", field.replace('"', "\"\"")).into()
    } else {
        field.into()
    }
}

fn cell(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn row(m: &Measurement, columns: &[(&str, &str)]) -> String {
    let values = m.values();
    let fixed = [
        m.id.0.to_string(),
        m.kind.clone(),
        super::fhir::instant(m.effective_at),
        m.local_date.to_string(),
        m.source.clone(),
        m.client_ref.clone().unwrap_or_default(),
        m.modality.clone(),
        m.note.clone().unwrap_or_default(),
        super::fhir::instant(m.created_at),
        super::fhir::instant(m.updated_at),
    ];
    let mut line: Vec<String> = fixed.iter().map(|f| quote(f).into_owned()).collect();
    for (kind, field) in columns {
        let v = if *kind == m.kind {
            values.get(*field).map(cell).unwrap_or_default()
        } else {
            String::new()
        };
        line.push(quote(&v).into_owned());
    }
    let mut s = line.join(",");
    s.push_str("\r\n");
    s
}

/// Writes the header and every row.
pub fn render(conn: &mut DbConn, user: &User, out: &mut Writer<'_>) -> Result<(), ExportError> {
    let columns = value_columns();
    let header: Vec<String> = FIXED_COLUMNS
        .iter()
        .map(|c| (*c).to_owned())
        .chain(columns.iter().map(|(t, f)| format!("{t}.{f}")))
        .collect();
    out.text(&header.join(","))?;
    out.text("\r\n")?;
    out.send()?;
    let id = user.id;
    for_each(
        conn,
        |c, after, limit| store::measurements(c, id, after, limit),
        store::measurement_key,
        |_, m| out.text(&row(&m, &columns)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_quoted_only_when_they_must_be() {
        assert_eq!(quote("plain"), "plain");
        assert_eq!(quote("a,b"), "\"a,b\"");
        assert_eq!(quote("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(quote("two\nlines"), "\"two\nlines\"");
        assert_eq!(quote("朝食後"), "朝食後");
    }

    #[test]
    fn value_columns_are_unique() {
        let mut names: Vec<String> = value_columns().iter().map(|(t, f)| format!("{t}.{f}")).collect();
        let n = names.len();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), n);
    }
}
