//! Stored reward rules: reading the rules in force, creating, changing in place and retiring them.
//! A rule is stored as its kind's name and a JSON object of the kind's own fields, so that adding
//! a kind needs no migration.

use chrono::NaiveDate;
use diesel::prelude::*;

use super::rules::{Rule, RuleKind};
use crate::db::schema::reward_rules;
use crate::db::types::Json;
use crate::db::{DbConn, RuleId, Ts};

/// A `reward_rules` row as stored: its kind still split into name and params.
#[derive(Queryable, Selectable)]
#[diesel(table_name = reward_rules)]
struct RuleRow {
    id: RuleId,
    programme_id: String,
    kind: String,
    title: String,
    params: Json,
    active_from: Option<NaiveDate>,
    active_to: Option<NaiveDate>,
    min_age: Option<i32>,
    max_age: Option<i32>,
    sensed_only: bool,
    created_at: Ts,
}

/// The rules in force (not retired) of the given programmes.
pub fn active_rules(conn: &mut DbConn, programme_ids: &[String]) -> QueryResult<Vec<Rule>> {
    let rows: Vec<RuleRow> = reward_rules::table
        .filter(reward_rules::programme_id.eq_any(programme_ids))
        .filter(reward_rules::retired_at.is_null())
        .select(RuleRow::as_select())
        .order(reward_rules::id.asc())
        .load(conn)?;
    Ok(rows
        .into_iter()
        .filter_map(|r| {
            // A kind this version cannot evaluate is skipped rather than failing every upload.
            let kind = RuleKind::from_stored(&r.kind, &r.params.0)?;
            Some(Rule {
                id: r.id,
                programme_id: r.programme_id,
                title: r.title,
                kind,
                active_from: r.active_from,
                active_to: r.active_to,
                min_age: r.min_age,
                max_age: r.max_age,
                sensed_only: r.sensed_only,
                created_at: r.created_at,
            })
        })
        .collect())
}

/// A rule's kind as stored: the name of its kind and a JSON object of the kind's own fields.
fn split_kind(kind: &RuleKind) -> QueryResult<(String, Json)> {
    let mut value = serde_json::to_value(kind).map_err(|e| diesel::result::Error::SerializationError(Box::new(e)))?;
    let name = value
        .as_object_mut()
        .and_then(|o| o.remove("kind"))
        .and_then(|k| k.as_str().map(str::to_owned))
        .unwrap_or_default();
    Ok((name, Json(value)))
}

/// Creates a rule with `rule.id`.
pub fn create_rule(conn: &mut DbConn, rule: &Rule) -> QueryResult<()> {
    let (kind, params) = split_kind(&rule.kind)?;
    diesel::insert_into(reward_rules::table)
        .values((
            reward_rules::id.eq(rule.id),
            reward_rules::programme_id.eq(&rule.programme_id),
            reward_rules::kind.eq(kind),
            reward_rules::title.eq(&rule.title),
            reward_rules::params.eq(params),
            reward_rules::active_from.eq(rule.active_from),
            reward_rules::active_to.eq(rule.active_to),
            reward_rules::min_age.eq(rule.min_age),
            reward_rules::max_age.eq(rule.max_age),
            reward_rules::sensed_only.eq(rule.sensed_only),
            reward_rules::created_at.eq(rule.created_at),
        ))
        .execute(conn)
        .map(|_| ())
}

/// What [`replace_rule`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Replaced {
    /// The rule was changed in place.
    Changed,
    /// No such rule in force.
    NotFound,
    /// The change would move the rule to another programme, refused: awards are unique per
    /// programme, so what it paid in the first would not stop it paying the same periods again in
    /// the second. (Retire it and create one there.)
    OtherProgramme,
}

/// Changes a rule in force, keeping its id and programme: awards already paid keep their points
/// and titles, and the award keys stay the same, so a change can never pay a period twice.
pub fn replace_rule(conn: &mut DbConn, rule: &Rule) -> QueryResult<Replaced> {
    let (kind, params) = split_kind(&rule.kind)?;
    let current: Option<String> = reward_rules::table
        .filter(reward_rules::id.eq(rule.id))
        .filter(reward_rules::retired_at.is_null())
        .select(reward_rules::programme_id)
        .first(conn)
        .optional()?;
    match current {
        None => return Ok(Replaced::NotFound),
        Some(p) if p != rule.programme_id => return Ok(Replaced::OtherProgramme),
        Some(_) => {}
    }
    let n = diesel::update(
        reward_rules::table
            .filter(reward_rules::id.eq(rule.id))
            .filter(reward_rules::retired_at.is_null()),
    )
    .set((
        reward_rules::programme_id.eq(&rule.programme_id),
        reward_rules::kind.eq(kind),
        reward_rules::title.eq(&rule.title),
        reward_rules::params.eq(params),
        reward_rules::active_from.eq(rule.active_from),
        reward_rules::active_to.eq(rule.active_to),
        reward_rules::min_age.eq(rule.min_age),
        reward_rules::max_age.eq(rule.max_age),
        reward_rules::sensed_only.eq(rule.sensed_only),
    ))
    .execute(conn)?;
    Ok(if n == 1 { Replaced::Changed } else { Replaced::NotFound })
}

/// Retires a rule (it stops paying; its ledger entries stay). False if there is none in force.
pub fn retire_rule(conn: &mut DbConn, id: RuleId) -> QueryResult<bool> {
    let n = diesel::update(
        reward_rules::table
            .filter(reward_rules::id.eq(id))
            .filter(reward_rules::retired_at.is_null()),
    )
    .set(reward_rules::retired_at.eq(Some(Ts::now())))
    .execute(conn)?;
    Ok(n == 1)
}

/// One rule in force, by id.
pub fn find_rule(conn: &mut DbConn, id: RuleId) -> QueryResult<Option<Rule>> {
    let programme: Option<String> = reward_rules::table
        .filter(reward_rules::id.eq(id))
        .filter(reward_rules::retired_at.is_null())
        .select(reward_rules::programme_id)
        .first(conn)
        .optional()?;
    let Some(programme) = programme else { return Ok(None) };
    Ok(active_rules(conn, &[programme])?.into_iter().find(|r| r.id == id))
}
