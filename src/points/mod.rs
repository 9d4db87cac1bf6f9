//! Health points: programmes, their rules, the append-only ledger and balances.
//!
//! Awards are made in the same transaction as the measurement write that earns them
//! ([`award_for`]). Each award has a key that is unique per resident and programme in the
//! database, so retries, re-uploads, replays and concurrent requests can never pay it twice; the
//! resident's balance row is locked while awarding, so per-programme daily caps hold under
//! concurrency too.

pub mod rules;

use std::collections::{HashMap, HashSet};

use chrono::NaiveDate;
use diesel::prelude::*;

use crate::db::schema::{points_balances, points_ledger, programmes, reward_rules};
use crate::db::types::Json;
use crate::db::{DbConn, Id, Ts};
use crate::measurements::{Measurement, age_on};
pub use rules::{Candidate, Fact, Rule, RuleKind};

/// A points programme.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = programmes)]
pub struct Programme {
    /// Slug, e.g. `osaka`.
    pub id: String,
    /// Title.
    pub title: String,
    /// Who pays for the points.
    pub sponsor: String,
    /// `everyone` or `organization_members`.
    pub eligibility: String,
    /// Youngest eligible age.
    pub min_age: Option<i32>,
    /// Oldest eligible age.
    pub max_age: Option<i32>,
    /// Most points per resident per local day.
    pub daily_cap: Option<i32>,
    /// When it was created.
    pub created_at: Ts,
}

impl Programme {
    /// Whether a resident of this age may earn in the programme. Membership-based programmes need
    /// organisations, which do not exist yet: nobody is eligible for them so far.
    pub fn admits(&self, age: Option<i32>) -> bool {
        self.eligibility == "everyone" && rules::age_in_range(self.min_age, self.max_age, age)
    }
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = reward_rules)]
struct RuleRow {
    id: Id,
    programme_id: String,
    kind: String,
    title: String,
    params: Json,
    active_from: Option<NaiveDate>,
    active_to: Option<NaiveDate>,
    min_age: Option<i32>,
    max_age: Option<i32>,
    sensed_only: bool,
}

/// A ledger entry.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = points_ledger)]
#[diesel(treat_none_as_default_value = false)]
pub struct LedgerEntry {
    /// Entry id (UUIDv7, so ids order entries in time).
    pub id: Id,
    /// Resident.
    pub user_id: Id,
    /// Programme.
    pub programme_id: String,
    /// Rule that paid it, if any.
    pub rule_id: Option<Id>,
    /// Points added (negative: spent).
    pub delta: i32,
    /// Title shown to the resident.
    pub title: String,
    /// The resident's day it counts for.
    pub local_date: NaiveDate,
    /// Measurement that earned it.
    pub measurement_id: Option<Id>,
    /// Idempotency key of an award.
    pub award_key: Option<String>,
    /// When it was written.
    pub created_at: Ts,
}

/// Every programme (there are few).
pub fn programmes(conn: &mut DbConn) -> QueryResult<Vec<Programme>> {
    programmes::table
        .select(Programme::as_select())
        .order(programmes::id.asc())
        .load(conn)
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
            })
        })
        .collect())
}

fn age(birth_date: Option<NaiveDate>, on: NaiveDate) -> Option<i32> {
    birth_date
        .and_then(|b| age_on(b, on))
        .and_then(|a| i32::try_from(a).ok())
}

/// Awards the points that just-written measurements earn, in the caller's transaction; returns the
/// new ledger entries.
pub fn award_for(
    conn: &mut DbConn,
    user_id: Id,
    birth_date: Option<NaiveDate>,
    written: &[&Measurement],
) -> QueryResult<Vec<LedgerEntry>> {
    if written.is_empty() {
        return Ok(Vec::new());
    }
    let all = programmes(conn)?;
    let ids: Vec<String> = all.iter().map(|p| p.id.clone()).collect();
    let rules = active_rules(conn, &ids)?;
    let by_id: HashMap<&str, &Programme> = all.iter().map(|p| (p.id.as_str(), p)).collect();
    let values: Vec<_> = written.iter().map(|m| m.values()).collect();
    let mut cands: Vec<Candidate> = Vec::new();
    for (m, v) in written.iter().zip(&values) {
        let fact = Fact {
            id: m.id,
            kind: &m.kind,
            local_date: m.local_date,
            values: v,
            sensed: m.modality == "sensed",
            age: age(birth_date, m.local_date),
        };
        for rule in &rules {
            if by_id
                .get(rule.programme_id.as_str())
                .is_some_and(|p| p.admits(fact.age))
            {
                cands.extend(rules::candidates(rule, &fact));
            }
        }
    }
    if cands.is_empty() {
        return Ok(Vec::new());
    }
    let mut involved: Vec<String> = cands.iter().map(|c| c.programme_id.clone()).collect();
    involved.sort();
    involved.dedup();
    lock_balances(conn, user_id, &involved)?;

    let keys: Vec<&str> = cands.iter().flat_map(|c| c.keys.iter().map(String::as_str)).collect();
    let mut taken: HashSet<(String, String)> = points_ledger::table
        .filter(points_ledger::user_id.eq(user_id))
        .filter(points_ledger::programme_id.eq_any(&involved))
        .filter(points_ledger::award_key.eq_any(&keys))
        .select((points_ledger::programme_id, points_ledger::award_key.assume_not_null()))
        .load::<(String, String)>(conn)?
        .into_iter()
        .collect();
    let mut dates: Vec<NaiveDate> = cands.iter().map(|c| c.local_date).collect();
    dates.sort();
    dates.dedup();
    let mut earned: HashMap<(String, NaiveDate), i64> = HashMap::new();
    let rows: Vec<(String, NaiveDate, i32)> = points_ledger::table
        .filter(points_ledger::user_id.eq(user_id))
        .filter(points_ledger::programme_id.eq_any(&involved))
        .filter(points_ledger::local_date.eq_any(&dates))
        .filter(points_ledger::delta.gt(0))
        .select((
            points_ledger::programme_id,
            points_ledger::local_date,
            points_ledger::delta,
        ))
        .load(conn)?;
    for (p, d, delta) in rows {
        *earned.entry((p, d)).or_default() += i64::from(delta);
    }

    let now = Ts::now();
    let mut entries = Vec::new();
    for c in cands {
        let Some(key) = c
            .keys
            .iter()
            .find(|k| !taken.contains(&(c.programme_id.clone(), (*k).clone())))
        else {
            continue;
        };
        let so_far = earned.entry((c.programme_id.clone(), c.local_date)).or_default();
        let cap = by_id
            .get(c.programme_id.as_str())
            .and_then(|p| p.daily_cap)
            .map(i64::from);
        let points = match cap {
            Some(cap) => i64::from(c.points).min(cap - *so_far),
            None => i64::from(c.points),
        };
        let Ok(points) = i32::try_from(points) else { continue };
        if points <= 0 {
            continue;
        }
        *so_far += i64::from(points);
        taken.insert((c.programme_id.clone(), key.clone()));
        entries.push(LedgerEntry {
            id: Id::new(),
            user_id,
            programme_id: c.programme_id,
            rule_id: Some(c.rule_id),
            delta: points,
            title: c.title,
            local_date: c.local_date,
            measurement_id: Some(c.measurement_id),
            award_key: Some(key.clone()),
            created_at: now,
        });
    }
    append(conn, user_id, &entries)?;
    Ok(entries)
}

/// Makes sure the resident has a balance row in each programme and locks them (PostgreSQL), so
/// that one resident's concurrent awards and spends in a programme take turns.
fn lock_balances(conn: &mut DbConn, user_id: Id, programme_ids: &[String]) -> QueryResult<()> {
    let rows: Vec<_> = programme_ids
        .iter()
        .map(|p| {
            (
                points_balances::user_id.eq(user_id),
                points_balances::programme_id.eq(p.clone()),
                points_balances::balance.eq(0),
                points_balances::lifetime_earned.eq(0),
            )
        })
        .collect();
    crate::on_backend!(conn, c => diesel::insert_into(points_balances::table).values(&rows).on_conflict_do_nothing().execute(c))?;
    if let DbConn::Pg(c) = conn {
        points_balances::table
            .filter(points_balances::user_id.eq(user_id))
            .filter(points_balances::programme_id.eq_any(programme_ids))
            .select(points_balances::programme_id)
            .for_update()
            .load::<String>(c)?;
    }
    Ok(())
}

/// Appends ledger entries and moves the balances with them.
fn append(conn: &mut DbConn, user_id: Id, entries: &[LedgerEntry]) -> QueryResult<()> {
    if entries.is_empty() {
        return Ok(());
    }
    crate::on_backend!(conn, c => diesel::insert_into(points_ledger::table).values(entries).execute(c))?;
    let mut sums: HashMap<&str, (i32, i32)> = HashMap::new();
    for e in entries {
        let s = sums.entry(e.programme_id.as_str()).or_default();
        s.0 += e.delta;
        s.1 += e.delta.max(0);
    }
    for (programme, (delta, earned)) in sums {
        diesel::update(
            points_balances::table
                .filter(points_balances::user_id.eq(user_id))
                .filter(points_balances::programme_id.eq(programme)),
        )
        .set((
            points_balances::balance.eq(points_balances::balance + delta),
            points_balances::lifetime_earned.eq(points_balances::lifetime_earned + earned),
        ))
        .execute(conn)?;
    }
    Ok(())
}

/// A resident's standing in one programme.
#[derive(Debug, Clone)]
pub struct Standing {
    /// The programme.
    pub programme: Programme,
    /// Points available to spend.
    pub balance: i32,
    /// Points ever earned.
    pub lifetime_earned: i32,
    /// Points earned on the resident's current local day.
    pub today_earned: i32,
}

/// The resident's standing in every programme they are eligible for.
pub fn standings(conn: &mut DbConn, user_id: Id, age: Option<i32>, today: NaiveDate) -> QueryResult<Vec<Standing>> {
    let eligible: Vec<Programme> = programmes(conn)?.into_iter().filter(|p| p.admits(age)).collect();
    let ids: Vec<String> = eligible.iter().map(|p| p.id.clone()).collect();
    let balances: HashMap<String, (i32, i32)> = points_balances::table
        .filter(points_balances::user_id.eq(user_id))
        .filter(points_balances::programme_id.eq_any(&ids))
        .select((
            points_balances::programme_id,
            points_balances::balance,
            points_balances::lifetime_earned,
        ))
        .load::<(String, i32, i32)>(conn)?
        .into_iter()
        .map(|(p, b, l)| (p, (b, l)))
        .collect();
    let mut today_earned: HashMap<String, i32> = HashMap::new();
    for (p, d) in points_ledger::table
        .filter(points_ledger::user_id.eq(user_id))
        .filter(points_ledger::programme_id.eq_any(&ids))
        .filter(points_ledger::local_date.eq(today))
        .filter(points_ledger::delta.gt(0))
        .select((points_ledger::programme_id, points_ledger::delta))
        .load::<(String, i32)>(conn)?
    {
        *today_earned.entry(p).or_default() += d;
    }
    Ok(eligible
        .into_iter()
        .map(|p| {
            let (balance, lifetime_earned) = balances.get(&p.id).copied().unwrap_or((0, 0));
            let today_earned = today_earned.get(&p.id).copied().unwrap_or(0);
            Standing {
                programme: p,
                balance,
                lifetime_earned,
                today_earned,
            }
        })
        .collect())
}

/// A page of the resident's ledger in one programme, newest first, before `before`.
pub fn ledger(
    conn: &mut DbConn,
    user_id: Id,
    programme_id: &str,
    before: Option<Id>,
    limit: i64,
) -> QueryResult<Vec<LedgerEntry>> {
    let mut q = points_ledger::table
        .filter(points_ledger::user_id.eq(user_id))
        .filter(points_ledger::programme_id.eq(programme_id.to_owned()))
        .select(LedgerEntry::as_select())
        .order(points_ledger::id.desc())
        .limit(limit)
        .into_boxed();
    if let Some(before) = before {
        q = q.filter(points_ledger::id.lt(before));
    }
    q.load(conn)
}

/// The resident's age today (for eligibility).
pub fn age_today(birth_date: Option<NaiveDate>, today: NaiveDate) -> Option<i32> {
    age(birth_date, today)
}

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
            reward_rules::created_at.eq(Ts::now()),
        ))
        .execute(conn)
        .map(|_| ())
}

/// Changes a rule in force, keeping its id: awards already paid keep their points and titles, and
/// the award keys stay the same, so a change can never pay a period twice. False if there is no
/// such rule in force.
pub fn replace_rule(conn: &mut DbConn, rule: &Rule) -> QueryResult<bool> {
    let (kind, params) = split_kind(&rule.kind)?;
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
    Ok(n == 1)
}

/// Retires a rule (it stops paying; its ledger entries stay). False if there is none in force.
pub fn retire_rule(conn: &mut DbConn, id: Id) -> QueryResult<bool> {
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
pub fn find_rule(conn: &mut DbConn, id: Id) -> QueryResult<Option<Rule>> {
    let programme: Option<String> = reward_rules::table
        .filter(reward_rules::id.eq(id))
        .filter(reward_rules::retired_at.is_null())
        .select(reward_rules::programme_id)
        .first(conn)
        .optional()?;
    let Some(programme) = programme else { return Ok(None) };
    Ok(active_rules(conn, &[programme])?.into_iter().find(|r| r.id == id))
}
