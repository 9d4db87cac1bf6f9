//! PostgreSQL's fast path for ledger inserts: one `INSERT … SELECT FROM unnest(…)` text for any
//! number of entries, prepared once per connection (see `measurements::bulk` for the reasoning).

use chrono::{DateTime, NaiveDate, Utc};
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::query_builder::{AstPass, QueryFragment, QueryId};
use diesel::sql_types::{Array, Date, Integer, Nullable, Text, Timestamptz, Uuid};

use super::ledger::LedgerEntry;

/// Ledger entries to insert, column by column.
pub(super) struct LedgerUnnest {
    id: Vec<uuid::Uuid>,
    user_id: Vec<uuid::Uuid>,
    programme_id: Vec<String>,
    rule_id: Vec<Option<uuid::Uuid>>,
    delta: Vec<i32>,
    title: Vec<String>,
    local_date: Vec<NaiveDate>,
    measurement_id: Vec<Option<uuid::Uuid>>,
    award_key: Vec<Option<String>>,
    created_at: Vec<DateTime<Utc>>,
    day_key: Vec<Option<String>>,
    award_upto: Vec<Option<i32>>,
}

impl LedgerUnnest {
    pub(super) fn new(rows: &[LedgerEntry]) -> Self {
        LedgerUnnest {
            id: rows.iter().map(|r| r.id.0).collect(),
            user_id: rows.iter().map(|r| r.user_id.0).collect(),
            programme_id: rows.iter().map(|r| r.programme_id.clone()).collect(),
            rule_id: rows.iter().map(|r| r.rule_id.map(|i| i.0)).collect(),
            delta: rows.iter().map(|r| r.delta).collect(),
            title: rows.iter().map(|r| r.title.clone()).collect(),
            local_date: rows.iter().map(|r| r.local_date).collect(),
            measurement_id: rows.iter().map(|r| r.measurement_id.map(|i| i.0)).collect(),
            award_key: rows.iter().map(|r| r.award_key.clone()).collect(),
            created_at: rows.iter().map(|r| r.created_at.0).collect(),
            day_key: rows.iter().map(|r| r.day_key.clone()).collect(),
            award_upto: rows.iter().map(|r| r.award_upto).collect(),
        }
    }
}

impl QueryId for LedgerUnnest {
    type QueryId = LedgerUnnest;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl QueryFragment<Pg> for LedgerUnnest {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_sql(
            "INSERT INTO points_ledger (id, user_id, programme_id, rule_id, delta, title, local_date, \
             measurement_id, award_key, created_at, day_key, award_upto) SELECT * FROM unnest(",
        );
        out.push_bind_param::<Array<Uuid>, _>(&self.id)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Uuid>, _>(&self.user_id)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Text>, _>(&self.programme_id)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Nullable<Uuid>>, _>(&self.rule_id)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Integer>, _>(&self.delta)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Text>, _>(&self.title)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Date>, _>(&self.local_date)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Nullable<Uuid>>, _>(&self.measurement_id)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Nullable<Text>>, _>(&self.award_key)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Timestamptz>, _>(&self.created_at)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Nullable<Text>>, _>(&self.day_key)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Nullable<Integer>>, _>(&self.award_upto)?;
        out.push_sql(")");
        Ok(())
    }
}

impl RunQueryDsl<PgConnection> for LedgerUnnest {}
