//! Measurements: the catalogue, validation, idempotent ingest and the resident's own reads.
//!
//! Every query here has the owning resident in its `WHERE` clause.

mod bulk;
pub mod catalogue;
pub mod validate;
mod view;

use std::collections::HashMap;

use chrono::NaiveDate;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Date, Double, Nullable, Text};
use serde_json::{Map, Value};

use crate::accounts::tokens::Modality;
use crate::db::schema::measurements;
use crate::db::types::{Json, SqlUuid};
use crate::db::{DbConn, MeasurementId, Ts, UserId};
pub use validate::{Context, MeasurementInput, ValidMeasurement};
pub use view::MeasurementView;

/// Most items in one batch upload.
pub const MAX_BATCH: usize = 1000;

/// A stored measurement.
#[derive(Clone, Queryable, Selectable, QueryableByName)]
#[diesel(table_name = measurements)]
pub struct Measurement {
    /// Id (UUIDv7).
    pub id: MeasurementId,
    /// Owner.
    pub user_id: UserId,
    /// Type name.
    pub kind: String,
    /// When it was measured.
    pub effective_at: Ts,
    /// The resident's day at `effective_at`.
    pub local_date: NaiveDate,
    /// `local_date` for daily-total types, else `None`.
    pub daily_key: Option<NaiveDate>,
    /// The values.
    pub fields: Json,
    /// Source name.
    pub source: String,
    /// Client reference.
    pub client_ref: Option<String>,
    /// `sensed` or `self_reported`.
    pub modality: String,
    /// Note.
    pub note: Option<String>,
    /// When stored.
    pub created_at: Ts,
    /// When last replaced (daily totals) or equal to `created_at`.
    pub updated_at: Ts,
}

impl std::fmt::Debug for Measurement {
    // Health values and notes stay out of logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Measurement")
            .field("id", &self.id)
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

impl Measurement {
    /// The values as a JSON object.
    pub fn values(&self) -> Map<String, Value> {
        self.fields.0.as_object().cloned().unwrap_or_default()
    }

    /// For `vascular_age`: vascular minus chronological age (whole years) on the measurement's day.
    pub fn vascular_age_gap(&self, birth_date: Option<NaiveDate>) -> Option<f64> {
        if self.kind != "vascular_age" {
            return None;
        }
        let vascular = self.fields.0.get("vascular_age_years")?.as_f64()?;
        let age = crate::calendar::age_on(birth_date?, self.local_date)?;
        Some(((vascular - f64::from(age)) * 10.0).round() / 10.0)
    }

    fn same_upload_as(&self, item: &ValidMeasurement) -> bool {
        self.kind == item.def.name && self.effective_at == item.effective_at && self.values() == item.values
    }
}

/// A `health_checkup`'s kind and the day it was taken (`checkup_date`), from its values; either is
/// `None` when missing or malformed (stored values have passed validation).
pub fn checkup_of(values: &Map<String, Value>) -> (Option<&str>, Option<NaiveDate>) {
    let kind = values.get("kind").and_then(Value::as_str);
    let taken = values
        .get("checkup_date")
        .and_then(Value::as_str)
        .and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok());
    (kind, taken)
}

#[derive(Insertable)]
#[diesel(table_name = measurements)]
#[diesel(treat_none_as_default_value = false)]
struct NewMeasurement {
    id: MeasurementId,
    user_id: UserId,
    kind: String,
    effective_at: Ts,
    local_date: NaiveDate,
    daily_key: Option<NaiveDate>,
    fields: Json,
    source: String,
    client_ref: Option<String>,
    modality: String,
    note: Option<String>,
    created_at: Ts,
    updated_at: Ts,
}

impl NewMeasurement {
    fn row(&self) -> Measurement {
        Measurement {
            id: self.id,
            user_id: self.user_id,
            kind: self.kind.clone(),
            effective_at: self.effective_at,
            local_date: self.local_date,
            daily_key: self.daily_key,
            fields: self.fields.clone(),
            source: self.source.clone(),
            client_ref: self.client_ref.clone(),
            modality: self.modality.clone(),
            note: self.note.clone(),
            created_at: self.created_at,
            updated_at: self.updated_at,
        }
    }
}

/// What happened to one uploaded item.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// Stored as a new measurement.
    Created(Measurement),
    /// A daily total that replaced the stored value for that day.
    Replaced {
        /// The stored row, as it now is.
        row: Measurement,
        /// The values it held before.
        previous: Map<String, Value>,
    },
    /// Nothing written: a retry of a stored upload, or a daily total older than the stored one.
    Duplicate(Measurement),
    /// The `client_ref` is already used by a different measurement of this source.
    ClientRefConflict,
}

impl Outcome {
    /// The stored row, when the item was written.
    pub fn written(&self) -> Option<&Measurement> {
        match self {
            Outcome::Created(m) | Outcome::Replaced { row: m, .. } => Some(m),
            Outcome::Duplicate(_) | Outcome::ClientRefConflict => None,
        }
    }

    /// The stored row the item answers with (written, or already there).
    pub fn row(&self) -> Option<&Measurement> {
        match self {
            Outcome::Created(m) | Outcome::Replaced { row: m, .. } | Outcome::Duplicate(m) => Some(m),
            Outcome::ClientRefConflict => None,
        }
    }
}

/// Where an item's daily slot stands within the batch being processed.
#[expect(clippy::large_enum_variant, reason = "short-lived, one per daily slot of one upload")]
enum Slot {
    /// A stored row (index into `updates` once replaced).
    Stored(Measurement),
    /// A row queued for insert in this batch.
    Pending(usize),
}

/// Stores validated measurements for one resident; returns one outcome per item, in order.
///
/// Run inside a transaction (the caller's): the lookups and the writes must see one state. A
/// concurrent request can still win a race to a unique key; the caller then retries the whole
/// transaction, which sees the winner's row and answers `Duplicate`.
pub fn ingest(
    conn: &mut DbConn,
    user_id: UserId,
    modality: Modality,
    items: &[ValidMeasurement],
) -> QueryResult<Vec<Outcome>> {
    let now = Ts::now();
    let refs: Vec<&str> = items.iter().filter_map(|i| i.client_ref.as_deref()).collect();
    let mut sources: Vec<&str> = items.iter().map(|i| i.source.as_str()).collect();
    sources.sort_unstable();
    sources.dedup();
    let mut by_ref: HashMap<(String, String), Measurement> = HashMap::new();
    if !refs.is_empty() {
        // (user_id, source, client_ref) is the unique index: all three columns keep the lookup an
        // index probe per item however long the resident's history is.
        let rows: Vec<Measurement> = measurements::table
            .filter(measurements::user_id.eq(user_id))
            .filter(measurements::source.eq_any(&sources))
            .filter(measurements::client_ref.eq_any(&refs))
            .select(Measurement::as_select())
            .load(conn)?;
        for r in rows {
            if let Some(cr) = r.client_ref.clone() {
                by_ref.insert((r.source.clone(), cr), r);
            }
        }
    }
    let days: Vec<NaiveDate> = items
        .iter()
        .filter(|i| i.def.daily_total)
        .map(|i| i.local_date)
        .collect();
    let mut by_day: HashMap<(&'static str, String, NaiveDate), Slot> = HashMap::new();
    if !days.is_empty() {
        let kinds: Vec<&str> = items.iter().filter(|i| i.def.daily_total).map(|i| i.def.name).collect();
        let q = measurements::table
            .filter(measurements::user_id.eq(user_id))
            .filter(measurements::kind.eq_any(&kinds))
            .filter(measurements::source.eq_any(&sources))
            .filter(measurements::daily_key.eq_any(&days));
        // A daily total is read, compared and rewritten: on PostgreSQL the row is locked so that a
        // concurrent upload for the same day waits and then compares against this one's result
        // (SQLite's `BEGIN IMMEDIATE` already serialises writers).
        let rows: Vec<Measurement> = match conn {
            DbConn::Pg(c) => q.select(Measurement::as_select()).for_update().load(c)?,
            DbConn::Sqlite(c) => q.select(Measurement::as_select()).load(c)?,
        };
        for r in rows {
            if let (Some(def), Some(day)) = (catalogue::find(&r.kind), r.daily_key) {
                by_day.insert((def.name, r.source.clone(), day), Slot::Stored(r));
            }
        }
    }

    let mut inserts: Vec<NewMeasurement> = Vec::new();
    let mut updates: Vec<Measurement> = Vec::new();
    let mut outcomes: Vec<Outcome> = Vec::with_capacity(items.len());
    // Index into `outcomes` of each pending insert, so a later item of the batch can replace it.
    let mut pending_outcome: Vec<usize> = Vec::new();

    for item in items {
        if let Some(cr) = &item.client_ref {
            let key = (item.source.clone(), cr.clone());
            if let Some(stored) = by_ref.get(&key) {
                outcomes.push(if stored.same_upload_as(item) {
                    Outcome::Duplicate(stored.clone())
                } else {
                    Outcome::ClientRefConflict
                });
                continue;
            }
        }
        if item.def.daily_total {
            let key = (item.def.name, item.source.clone(), item.local_date);
            match by_day.get_mut(&key) {
                Some(Slot::Stored(stored)) => {
                    if item.effective_at < stored.effective_at {
                        outcomes.push(Outcome::Duplicate(stored.clone()));
                    } else {
                        let previous = stored.values();
                        apply_replacement(stored, item, item.modality.unwrap_or(modality), now);
                        updates.push(stored.clone());
                        remember_ref(&mut by_ref, stored);
                        outcomes.push(Outcome::Replaced {
                            row: stored.clone(),
                            previous,
                        });
                    }
                    continue;
                }
                Some(Slot::Pending(i)) => {
                    let pending = &mut inserts[*i];
                    if item.effective_at < pending.effective_at {
                        outcomes.push(Outcome::Duplicate(pending.row()));
                    } else {
                        pending.effective_at = item.effective_at;
                        pending.fields = Json(Value::Object(item.values.clone()));
                        pending.client_ref = item.client_ref.clone();
                        pending.note = item.note.clone();
                        pending.modality = item.modality.unwrap_or(modality).as_str().to_owned();
                        let row = pending.row();
                        remember_ref(&mut by_ref, &row);
                        // The earlier item of this batch now reports the final row too.
                        outcomes[pending_outcome[*i]] = Outcome::Created(row.clone());
                        outcomes.push(Outcome::Created(row));
                    }
                    continue;
                }
                None => {
                    by_day.insert(key, Slot::Pending(inserts.len()));
                }
            }
        }
        let new = NewMeasurement {
            id: MeasurementId::new(),
            user_id,
            kind: item.def.name.to_owned(),
            effective_at: item.effective_at,
            local_date: item.local_date,
            daily_key: item.def.daily_total.then_some(item.local_date),
            fields: Json(Value::Object(item.values.clone())),
            source: item.source.clone(),
            client_ref: item.client_ref.clone(),
            modality: item.modality.unwrap_or(modality).as_str().to_owned(),
            note: item.note.clone(),
            created_at: now,
            updated_at: now,
        };
        let row = new.row();
        remember_ref(&mut by_ref, &row);
        pending_outcome.push(outcomes.len());
        outcomes.push(Outcome::Created(row));
        inserts.push(new);
    }

    insert_rows(conn, &inserts)?;
    for row in &updates {
        diesel::update(
            measurements::table
                .filter(measurements::id.eq(row.id))
                .filter(measurements::user_id.eq(user_id)),
        )
        .set((
            measurements::effective_at.eq(row.effective_at),
            measurements::fields.eq(&row.fields),
            measurements::client_ref.eq(&row.client_ref),
            measurements::modality.eq(&row.modality),
            measurements::note.eq(&row.note),
            measurements::updated_at.eq(row.updated_at),
        ))
        .execute(conn)?;
    }
    Ok(outcomes)
}

/// Inserts new rows: one prepared `unnest` statement on PostgreSQL, multi-row inserts on SQLite.
fn insert_rows(conn: &mut DbConn, rows: &[NewMeasurement]) -> QueryResult<()> {
    for chunk in rows.chunks(MAX_BATCH) {
        match conn {
            DbConn::Pg(c) => bulk::UnnestInsert::new(chunk).execute(c)?,
            DbConn::Sqlite(c) => diesel::insert_into(measurements::table).values(chunk).execute(c)?,
        };
    }
    Ok(())
}

fn apply_replacement(stored: &mut Measurement, item: &ValidMeasurement, modality: Modality, now: Ts) {
    stored.effective_at = item.effective_at;
    stored.fields = Json(Value::Object(item.values.clone()));
    stored.client_ref = item.client_ref.clone();
    stored.modality = modality.as_str().to_owned();
    stored.note = item.note.clone();
    stored.updated_at = now;
}

fn remember_ref(by_ref: &mut HashMap<(String, String), Measurement>, row: &Measurement) {
    if let Some(cr) = &row.client_ref {
        by_ref.insert((row.source.clone(), cr.clone()), row.clone());
    }
}

/// Filters of the resident's list.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    /// Only this type.
    pub kind: Option<String>,
    /// `effective_at >= from`.
    pub from: Option<Ts>,
    /// `effective_at < to`.
    pub to: Option<Ts>,
}

/// A position in the newest-first list: the last row of the previous page.
pub type ListCursor = (Ts, MeasurementId);

/// A page of the resident's measurements, newest first (by `effective_at`, then id), after `cursor`.
pub fn list(
    conn: &mut DbConn,
    user_id: UserId,
    filter: &ListFilter,
    cursor: Option<ListCursor>,
    limit: i64,
) -> QueryResult<Vec<Measurement>> {
    let mut q = measurements::table
        .filter(measurements::user_id.eq(user_id))
        .select(Measurement::as_select())
        .order((measurements::effective_at.desc(), measurements::id.desc()))
        .limit(limit)
        .into_boxed();
    if let Some(kind) = &filter.kind {
        q = q.filter(measurements::kind.eq(kind.clone()));
    }
    if let Some(from) = filter.from {
        q = q.filter(measurements::effective_at.ge(from));
    }
    if let Some(to) = filter.to {
        q = q.filter(measurements::effective_at.lt(to));
    }
    if let Some((at, id)) = cursor {
        q = q.filter(
            measurements::effective_at
                .lt(at)
                .or(measurements::effective_at.eq(at).and(measurements::id.lt(id))),
        );
    }
    q.load(conn)
}

/// One of the resident's measurements.
pub fn find(conn: &mut DbConn, user_id: UserId, id: MeasurementId) -> QueryResult<Measurement> {
    measurements::table
        .filter(measurements::id.eq(id))
        .filter(measurements::user_id.eq(user_id))
        .select(Measurement::as_select())
        .first(conn)
}

/// Those of `ids` that are the resident's measurements.
pub fn find_many(conn: &mut DbConn, user_id: UserId, ids: &[MeasurementId]) -> QueryResult<Vec<Measurement>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    measurements::table
        .filter(measurements::user_id.eq(user_id))
        .filter(measurements::id.eq_any(ids))
        .select(Measurement::as_select())
        .load(conn)
}

/// Deletes one of the resident's measurements; the deleted row, if there was one.
pub fn delete(conn: &mut DbConn, user_id: UserId, id: MeasurementId) -> QueryResult<Option<Measurement>> {
    let q = diesel::delete(
        measurements::table
            .filter(measurements::id.eq(id))
            .filter(measurements::user_id.eq(user_id)),
    );
    crate::on_backend!(conn, c => q.returning(Measurement::as_returning()).get_result(c).optional())
}

/// The newest measurement of each type the resident has.
pub fn latest(conn: &mut DbConn, user_id: UserId) -> QueryResult<Vec<Measurement>> {
    diesel::sql_query(
        "SELECT id, user_id, kind, effective_at, local_date, daily_key, fields, source, client_ref, modality, \
         note, created_at, updated_at FROM (\
           SELECT m.*, row_number() OVER (PARTITION BY kind ORDER BY effective_at DESC, id DESC) AS rn \
           FROM measurements m WHERE user_id = $1) newest \
         WHERE rn = 1 ORDER BY kind",
    )
    .bind::<SqlUuid, _>(user_id)
    .load(conn)
}

/// Bucket size of a summary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Period {
    /// Calendar day.
    Day,
    /// ISO week, starting on Monday.
    Week,
    /// Calendar month.
    Month,
}

/// One field's statistics in one bucket; `field` is empty for the bucket's measurement count.
#[derive(Debug, Clone, QueryableByName)]
pub struct SummaryRow {
    /// First day of the bucket.
    #[diesel(sql_type = Date)]
    pub bucket: NaiveDate,
    /// Field name, or empty for the count of measurements.
    #[diesel(sql_type = Text)]
    pub field: String,
    /// Values (or measurements) in the bucket.
    #[diesel(sql_type = BigInt)]
    pub n: i64,
    /// Mean value.
    #[diesel(sql_type = Nullable<Double>)]
    pub mean: Option<f64>,
    /// Smallest value.
    #[diesel(sql_type = Nullable<Double>)]
    pub min: Option<f64>,
    /// Largest value.
    #[diesel(sql_type = Nullable<Double>)]
    pub max: Option<f64>,
}

/// Count, mean, min and max of each numeric field of `def`, per bucket of the resident's local
/// days from `from` to `to` (inclusive), computed in the database.
pub fn summary(
    conn: &mut DbConn,
    user_id: UserId,
    def: &catalogue::TypeDef,
    period: Period,
    from: NaiveDate,
    to: NaiveDate,
) -> QueryResult<Vec<SummaryRow>> {
    // Field names come from the catalogue, never from the request.
    let fields: Vec<String> = def.numeric_fields().map(|f| format!("'{}'", f.name)).collect();
    let field_list = if fields.is_empty() {
        "''".to_owned()
    } else {
        fields.join(", ")
    };
    let (bucket, each, number) = match (&*conn, period) {
        (DbConn::Pg(_), Period::Day) => ("m.local_date", "jsonb_each_text(m.fields)", "e.value::float8"),
        (DbConn::Pg(_), Period::Week) => (
            "date_trunc('week', m.local_date)::date",
            "jsonb_each_text(m.fields)",
            "e.value::float8",
        ),
        (DbConn::Pg(_), Period::Month) => (
            "date_trunc('month', m.local_date)::date",
            "jsonb_each_text(m.fields)",
            "e.value::float8",
        ),
        (DbConn::Sqlite(_), Period::Day) => ("m.local_date", "json_each(m.fields)", "CAST(e.value AS REAL)"),
        (DbConn::Sqlite(_), Period::Week) => (
            "date(m.local_date, '-' || ((CAST(strftime('%w', m.local_date) AS INTEGER) + 6) % 7) || ' days')",
            "json_each(m.fields)",
            "CAST(e.value AS REAL)",
        ),
        (DbConn::Sqlite(_), Period::Month) => (
            "strftime('%Y-%m-01', m.local_date)",
            "json_each(m.fields)",
            "CAST(e.value AS REAL)",
        ),
    };
    let filter = "m.user_id = $1 AND m.kind = $2 AND m.local_date >= $3 AND m.local_date <= $4";
    let sql = format!(
        "SELECT bucket, field, n, mean, min, max FROM (\
           SELECT {bucket} AS bucket, CAST('' AS TEXT) AS field, count(*) AS n, \
                  CAST(NULL AS DOUBLE PRECISION) AS mean, CAST(NULL AS DOUBLE PRECISION) AS min, \
                  CAST(NULL AS DOUBLE PRECISION) AS max \
           FROM measurements m WHERE {filter} GROUP BY 1 \
           UNION ALL \
           SELECT {bucket} AS bucket, e.key AS field, count(*) AS n, avg({number}) AS mean, \
                  min({number}) AS min, max({number}) AS max \
           FROM measurements m, {each} e WHERE {filter} AND e.key IN ({field_list}) GROUP BY 1, 2\
         ) s ORDER BY bucket, field"
    );
    let q = diesel::sql_query(sql)
        .bind::<SqlUuid, _>(user_id)
        .bind::<Text, _>(def.name)
        .bind::<Date, _>(from)
        .bind::<Date, _>(to);
    q.load(conn)
}

/// Who is uploading, as far as the stored rows are concerned.
#[derive(Debug, Clone)]
pub struct Uploader {
    /// The resident.
    pub user_id: UserId,
    /// How the data was obtained.
    pub modality: Modality,
    /// Source used when an item names none.
    pub default_source: String,
    /// The resident's timezone, which defines their day.
    pub timezone: chrono_tz::Tz,
    /// The resident's date of birth (age-ranged reward rules, aggregate age bands).
    pub birth_date: Option<NaiveDate>,
    /// The resident's sex as recorded (aggregate cells).
    pub sex: String,
    /// When the account was created (nothing dated before its first day earns points).
    pub since: Ts,
}

/// The result of one item of an upload.
#[derive(Debug, Clone)]
#[expect(clippy::large_enum_variant, reason = "short-lived, one per uploaded item")]
pub enum ItemResult {
    /// Failed validation; nothing stored for it.
    Invalid(Vec<crate::error::FieldError>),
    /// Validated and processed.
    Done(Outcome),
}

/// Deletes every measurement of `user` (their erasure; the rollups go first, with the aggregates).
pub fn forget(conn: &mut DbConn, user: UserId) -> QueryResult<()> {
    diesel::delete(measurements::table.filter(measurements::user_id.eq(user))).execute(conn)?;
    Ok(())
}
