//! PostgreSQL's fast path for multi-row inserts.
//!
//! A multi-row `INSERT … VALUES (…), (…)` has a different text for every row count, so PostgreSQL
//! parses and plans it on every call. `INSERT … SELECT FROM unnest($1::uuid[], …)` has one text for
//! any number of rows: diesel prepares it once per connection and reuses it (the query id is static).

use chrono::{DateTime, NaiveDate, Utc};
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::query_builder::{AstPass, QueryFragment, QueryId};
use diesel::sql_types::{Array, Date, Jsonb, Nullable, Text, Timestamptz, Uuid};

use super::NewMeasurement;

/// The rows to insert, column by column.
pub(super) struct UnnestInsert {
    id: Vec<uuid::Uuid>,
    user_id: Vec<uuid::Uuid>,
    kind: Vec<String>,
    effective_at: Vec<DateTime<Utc>>,
    local_date: Vec<NaiveDate>,
    daily_key: Vec<Option<NaiveDate>>,
    fields: Vec<serde_json::Value>,
    source: Vec<String>,
    client_ref: Vec<Option<String>>,
    modality: Vec<String>,
    note: Vec<Option<String>>,
    created_at: Vec<DateTime<Utc>>,
    updated_at: Vec<DateTime<Utc>>,
}

impl UnnestInsert {
    pub(super) fn new(rows: &[NewMeasurement]) -> Self {
        UnnestInsert {
            id: rows.iter().map(|r| r.id.0).collect(),
            user_id: rows.iter().map(|r| r.user_id.0).collect(),
            kind: rows.iter().map(|r| r.kind.clone()).collect(),
            effective_at: rows.iter().map(|r| r.effective_at.0).collect(),
            local_date: rows.iter().map(|r| r.local_date).collect(),
            daily_key: rows.iter().map(|r| r.daily_key).collect(),
            fields: rows.iter().map(|r| r.fields.0.clone()).collect(),
            source: rows.iter().map(|r| r.source.clone()).collect(),
            client_ref: rows.iter().map(|r| r.client_ref.clone()).collect(),
            modality: rows.iter().map(|r| r.modality.clone()).collect(),
            note: rows.iter().map(|r| r.note.clone()).collect(),
            created_at: rows.iter().map(|r| r.created_at.0).collect(),
            updated_at: rows.iter().map(|r| r.updated_at.0).collect(),
        }
    }
}

impl QueryId for UnnestInsert {
    type QueryId = UnnestInsert;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl QueryFragment<Pg> for UnnestInsert {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_sql(
            "INSERT INTO measurements (id, user_id, kind, effective_at, local_date, daily_key, fields, source, \
             client_ref, modality, note, created_at, updated_at) SELECT * FROM unnest(",
        );
        out.push_bind_param::<Array<Uuid>, _>(&self.id)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Uuid>, _>(&self.user_id)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Text>, _>(&self.kind)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Timestamptz>, _>(&self.effective_at)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Date>, _>(&self.local_date)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Nullable<Date>>, _>(&self.daily_key)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Jsonb>, _>(&self.fields)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Text>, _>(&self.source)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Nullable<Text>>, _>(&self.client_ref)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Text>, _>(&self.modality)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Nullable<Text>>, _>(&self.note)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Timestamptz>, _>(&self.created_at)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Timestamptz>, _>(&self.updated_at)?;
        out.push_sql(")");
        Ok(())
    }
}

impl RunQueryDsl<PgConnection> for UnnestInsert {}
