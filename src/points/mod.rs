//! Health points: programmes, their rules, the append-only ledger and balances.
//!
//! Awards are made in the same transaction as the measurement write that earns them
//! ([`award_for`]). Each award has a key that is unique per resident and programme in the
//! database, so retries, re-uploads, replays and concurrent requests can never pay it twice; the
//! resident's balance row is locked while awarding, so per-programme daily caps hold under
//! concurrency too.

mod bulk;
pub mod events;
pub mod lotteries;
pub mod rules;

use std::collections::{HashMap, HashSet};

use chrono::NaiveDate;
use diesel::prelude::*;

use crate::db::schema::{measurements, points_balances, points_ledger, programmes, reward_rules};
use crate::db::types::Json;
use crate::db::{DbConn, Id, Ts};
use crate::measurements::{Measurement, age_on};
pub use rules::{Candidate, Claim, Fact, Rule, RuleKind};

/// A points programme.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = programmes)]
#[diesel(treat_none_as_default_value = false)]
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
    /// The sponsoring organisation, whose current members are eligible (`organization_members`).
    pub organization_id: Option<Id>,
}

impl Programme {
    /// Whether a resident of this age, currently a member of `orgs`, may earn in the programme.
    pub fn admits(&self, age: Option<i32>, orgs: &[Id]) -> bool {
        let member = match self.eligibility.as_str() {
            "everyone" => true,
            "organization_members" => self.organization_id.is_some_and(|o| orgs.contains(&o)),
            _ => false,
        };
        member && rules::age_in_range(self.min_age, self.max_age, age)
    }

    fn needs_membership(&self) -> bool {
        self.eligibility == "organization_members"
    }
}

/// The organisations the resident is a member of now, read only when some programme is limited
/// to members (so uploads pay nothing for it otherwise).
fn member_orgs(conn: &mut DbConn, user_id: Id, all: &[Programme]) -> QueryResult<Vec<Id>> {
    if all.iter().any(Programme::needs_membership) {
        crate::sharing::memberships::current_org_ids(conn, user_id)
    } else {
        Ok(Vec::new())
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

/// What the award path reads of a resident's entries on the days it pays for.
#[derive(Queryable, Selectable)]
#[diesel(table_name = points_ledger)]
struct DayRow {
    programme_id: String,
    local_date: NaiveDate,
    delta: i32,
    rule_id: Option<Id>,
    day_key: Option<String>,
    award_upto: Option<i32>,
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
    /// Idempotency key of an award of a longer period than a day (first ever, checkup year,
    /// streak, event): unique per resident and programme.
    pub award_key: Option<String>,
    /// When it was written.
    pub created_at: Ts,
    /// Idempotency key of a day-scoped award (step tiers, daily logging): unique per resident,
    /// programme and `local_date`.
    pub day_key: Option<String>,
    /// For a tiered award: the threshold of the last tier it pays (its `day_key` names the first).
    pub award_upto: Option<i32>,
}

/// Every programme (there are few).
pub fn programmes(conn: &mut DbConn) -> QueryResult<Vec<Programme>> {
    programmes::table
        .select(Programme::as_select())
        .order(programmes::id.asc())
        .load(conn)
}

/// Every programme's id.
pub fn programme_ids(conn: &mut DbConn) -> QueryResult<Vec<String>> {
    programmes::table
        .select(programmes::id)
        .order(programmes::id.asc())
        .load(conn)
}

/// The programmes the resident (of this age today) may earn in.
pub fn eligible_programmes(conn: &mut DbConn, user_id: Id, age: Option<i32>) -> QueryResult<Vec<Programme>> {
    let all = programmes(conn)?;
    let orgs = member_orgs(conn, user_id, &all)?;
    Ok(all.into_iter().filter(|p| p.admits(age, &orgs)).collect())
}

/// The ids of the programmes the resident may earn in: what store reads of a programme's
/// lotteries, events and rules are limited to.
pub fn eligible_programme_ids(conn: &mut DbConn, user_id: Id, age: Option<i32>) -> QueryResult<Vec<String>> {
    Ok(eligible_programmes(conn, user_id, age)?
        .into_iter()
        .map(|p| p.id)
        .collect())
}

/// One programme.
pub fn find_programme(conn: &mut DbConn, id: &str) -> QueryResult<Option<Programme>> {
    programmes::table
        .find(id)
        .select(Programme::as_select())
        .first(conn)
        .optional()
}

/// Checks a programme as an operator wrote it; every problem is reported with its field.
pub fn validate_programme(p: &Programme) -> Vec<crate::error::FieldError> {
    use crate::error::FieldError;
    let mut errors = Vec::new();
    let slug_ok = (2..=40).contains(&p.id.len())
        && p.id.starts_with(|c: char| c.is_ascii_lowercase())
        && p.id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if !slug_ok {
        errors.push(FieldError::new(
            "id",
            "must be 2 to 40 characters: lower-case letters, digits and dashes, starting with a letter",
        ));
    }
    for (field, value) in [("title", &p.title), ("sponsor", &p.sponsor)] {
        if value.is_empty() || value.chars().count() > 100 {
            errors.push(FieldError::new(field, "must be 1 to 100 characters"));
        }
    }
    match (p.eligibility.as_str(), p.organization_id) {
        ("everyone", None) | ("organization_members", Some(_)) => {}
        ("everyone", Some(_)) => errors.push(FieldError::new(
            "organization_id",
            "only a programme for organization_members names an organisation",
        )),
        ("organization_members", None) => errors.push(FieldError::new(
            "organization_id",
            "is required when eligibility is organization_members",
        )),
        _ => errors.push(FieldError::new(
            "eligibility",
            "must be everyone or organization_members",
        )),
    }
    rules::check_age_range(p.min_age, p.max_age, &mut errors);
    if p.daily_cap.is_some_and(|c| !(1..=100_000).contains(&c)) {
        errors.push(FieldError::new("daily_cap", "must be between 1 and 100000"));
    }
    errors
}

/// Creates a programme (a taken id is a unique violation).
pub fn create_programme(conn: &mut DbConn, programme: &Programme) -> QueryResult<()> {
    crate::on_backend!(conn, c => diesel::insert_into(programmes::table).values(programme).execute(c)).map(|_| ())
}

/// Changes a programme's title, sponsor, eligibility and cap; its id and ledger stay. A lower cap
/// applies from the next award on; nothing paid is taken back. False if there is no such programme.
pub fn update_programme(conn: &mut DbConn, programme: &Programme) -> QueryResult<bool> {
    let n = diesel::update(programmes::table.find(&programme.id))
        .set((
            programmes::title.eq(&programme.title),
            programmes::sponsor.eq(&programme.sponsor),
            programmes::eligibility.eq(&programme.eligibility),
            programmes::min_age.eq(programme.min_age),
            programmes::max_age.eq(programme.max_age),
            programmes::daily_cap.eq(programme.daily_cap),
            programmes::organization_id.eq(programme.organization_id),
        ))
        .execute(conn)?;
    Ok(n == 1)
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

/// The programmes, the resident's memberships and the rules in force: what every award starts from.
struct Setting {
    programmes: Vec<Programme>,
    orgs: Vec<Id>,
    rules: Vec<Rule>,
}

impl Setting {
    fn load(conn: &mut DbConn, user_id: Id) -> QueryResult<Setting> {
        let programmes = programmes(conn)?;
        let orgs = member_orgs(conn, user_id, &programmes)?;
        let ids: Vec<String> = programmes.iter().map(|p| p.id.clone()).collect();
        let rules = active_rules(conn, &ids)?;
        Ok(Setting {
            programmes,
            orgs,
            rules,
        })
    }

    fn by_id(&self) -> HashMap<&str, &Programme> {
        self.programmes.iter().map(|p| (p.id.as_str(), p)).collect()
    }

    /// The rules of the programmes that admit the resident at `age` (called once per uploaded
    /// measurement; programmes are few, so they are searched rather than indexed).
    fn admitted(&self, age: Option<i32>) -> Vec<&Rule> {
        self.rules
            .iter()
            .filter(|r| {
                self.programmes
                    .iter()
                    .find(|p| p.id == r.programme_id)
                    .is_some_and(|p| p.admits(age, &self.orgs))
            })
            .collect()
    }
}

/// Whether a rule pays from what the resident logged beyond the upload itself (a streak period,
/// the week's goals): such history is read only after the balance rows are locked, so that of
/// two uploads that complete the same period at once, the second sees the first.
fn reads_history(rule: &Rule) -> bool {
    matches!(rule.kind, RuleKind::Streak { .. } | RuleKind::ProgrammeGoal { .. })
}

/// Locks the balance rows of the programmes whose rules read history, before history is read.
fn lock_for_history(conn: &mut DbConn, user_id: Id, admitted: &[Vec<&Rule>]) -> QueryResult<Vec<String>> {
    let mut programmes: Vec<String> = admitted
        .iter()
        .flatten()
        .filter(|r| reads_history(r))
        .map(|r| r.programme_id.clone())
        .collect();
    programmes.sort();
    programmes.dedup();
    if !programmes.is_empty() {
        lock_balances(conn, user_id, &programmes)?;
    }
    Ok(programmes)
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
    let setting = Setting::load(conn, user_id)?;
    let values: Vec<_> = written.iter().map(|m| m.values()).collect();
    let facts: Vec<Fact<'_>> = written
        .iter()
        .zip(&values)
        .map(|(m, v)| Fact {
            id: m.id,
            kind: &m.kind,
            local_date: m.local_date,
            values: v,
            sensed: m.modality == "sensed",
            age: age(birth_date, m.local_date),
        })
        .collect();
    // Each fact is judged by the rules of the programmes that admit the resident on its day.
    let admitted: Vec<Vec<&Rule>> = facts.iter().map(|f| setting.admitted(f.age)).collect();
    let locked = lock_for_history(conn, user_id, &admitted)?;
    let history = logged_days(conn, user_id, &facts, &admitted)?;
    let mut cands: Vec<Candidate> = Vec::new();
    for (fact, rules) in facts.iter().zip(&admitted) {
        cands.extend(rules::evaluate(rules, fact, &history));
    }
    pay(conn, user_id, &setting.by_id(), cands, &locked)
}

/// Pays the goals of the resident's weekly plan for the week starting `monday` that the week's
/// data already meets, dated `today` (the resident's local day), under the `programme_goal` rules
/// in force for them; what an upload has paid already is not paid again (the same award keys).
/// For `GET /v1/me/programme`: data uploaded before the week's plan was made meets goals that no
/// upload evaluated.
pub fn award_week_goals(
    conn: &mut DbConn,
    user_id: Id,
    birth_date: Option<NaiveDate>,
    monday: NaiveDate,
    today: NaiveDate,
) -> QueryResult<Vec<LedgerEntry>> {
    let setting = Setting::load(conn, user_id)?;
    let age = age(birth_date, today);
    let goal_rules: Vec<&Rule> = setting
        .admitted(age)
        .into_iter()
        .filter(|r| matches!(r.kind, RuleKind::ProgrammeGoal { .. }) && rules::in_force_for(r, today, age))
        .collect();
    if goal_rules.is_empty() {
        return Ok(Vec::new());
    }
    let locked = lock_for_history(conn, user_id, std::slice::from_ref(&goal_rules))?;
    let met = crate::insights::programme::goals_met(conn, user_id, &[monday])?;
    let codes = met.get(&monday).map(Vec::as_slice).unwrap_or_default();
    let cands = goal_rules
        .iter()
        .flat_map(|r| rules::goal_candidates(r, monday, codes, today, None))
        .collect();
    pay(conn, user_id, &setting.by_id(), cands, &locked)
}

/// Pays what of `cands` is not paid yet, within the daily caps; `locked` names the programmes
/// whose balance rows this transaction holds already.
fn pay(
    conn: &mut DbConn,
    user_id: Id,
    by_id: &HashMap<&str, &Programme>,
    cands: Vec<Candidate>,
    locked: &[String],
) -> QueryResult<Vec<LedgerEntry>> {
    if cands.is_empty() {
        return Ok(Vec::new());
    }
    let mut involved: Vec<String> = cands.iter().map(|c| c.programme_id.clone()).collect();
    involved.sort();
    involved.dedup();
    let to_lock: Vec<String> = involved.iter().filter(|p| !locked.contains(p)).cloned().collect();
    if !to_lock.is_empty() {
        lock_balances(conn, user_id, &to_lock)?;
    }
    // One read of the resident's entries on the candidates' days serves the daily caps, every
    // day key (step tiers, daily logging) and how far each day's tiers are paid; only keys of
    // longer periods (first, year, streak) are looked up by key, and they are few.
    let mut dates: Vec<NaiveDate> = cands.iter().map(|c| c.local_date).collect();
    dates.sort();
    dates.dedup();
    let mut earned: HashMap<(String, NaiveDate), i64> = HashMap::new();
    let mut day_taken: HashSet<(String, NaiveDate, String)> = HashSet::new();
    let mut tiers_paid: HashMap<(Id, NaiveDate), i64> = HashMap::new();
    let mut q = points_ledger::table
        .filter(points_ledger::user_id.eq(user_id))
        .filter(points_ledger::programme_id.eq_any(&involved))
        .select(DayRow::as_select())
        .into_boxed();
    // A batch's days are mostly a run of consecutive days: one range is planned far faster than a
    // list of hundreds of dates. Scattered days are listed, so a range never reads much more.
    q = match (dates.first(), dates.last()) {
        (Some(&first), Some(&last)) if (last - first).num_days() < 2 * dates.len() as i64 => {
            q.filter(points_ledger::local_date.between(first, last))
        }
        _ => q.filter(points_ledger::local_date.eq_any(&dates)),
    };
    for r in q
        .load(conn)?
        .into_iter()
        .filter(|r| dates.binary_search(&r.local_date).is_ok())
    {
        if r.delta > 0 {
            *earned.entry((r.programme_id.clone(), r.local_date)).or_default() += i64::from(r.delta);
        }
        if let (Some(rule), Some(upto)) = (r.rule_id, r.award_upto) {
            let paid = tiers_paid.entry((rule, r.local_date)).or_insert(i64::MIN);
            *paid = (*paid).max(i64::from(upto));
        }
        if let Some(k) = r.day_key {
            day_taken.insert((r.programme_id, r.local_date, k));
        }
    }
    let period_keys: Vec<&str> = cands
        .iter()
        .filter_map(|c| match &c.claim {
            Claim::Period(keys) => Some(keys.iter().map(String::as_str)),
            _ => None,
        })
        .flatten()
        .collect();
    let mut period_taken: HashSet<(String, String)> = HashSet::new();
    if !period_keys.is_empty() {
        period_taken.extend(
            points_ledger::table
                .filter(points_ledger::user_id.eq(user_id))
                .filter(points_ledger::programme_id.eq_any(&involved))
                .filter(points_ledger::award_key.eq_any(&period_keys))
                .select((points_ledger::programme_id, points_ledger::award_key.assume_not_null()))
                .load::<(String, String)>(conn)?,
        );
    }

    let now = Ts::now();
    let mut entries = Vec::new();
    for c in cands {
        let programme = c.programme_id.clone();
        let date = c.local_date;
        let cap = by_id.get(programme.as_str()).and_then(|p| p.daily_cap).map(i64::from);
        // What the programme's daily cap still allows on the day, after `so_far`.
        let room = |so_far: i64| cap.map_or(i64::MAX, |cap| cap - so_far);
        // The claim's first free key, and what it pays before the cap.
        let (day_key, award_key, award_upto, points) = match &c.claim {
            Claim::Day(keys) => {
                let Some(k) = keys
                    .iter()
                    .find(|k| !day_taken.contains(&(programme.clone(), date, (*k).clone())))
                else {
                    continue;
                };
                (Some(k.clone()), None, None, c.points)
            }
            Claim::Period(keys) => {
                let Some(k) = keys
                    .iter()
                    .find(|k| !period_taken.contains(&(programme.clone(), (*k).clone())))
                else {
                    continue;
                };
                (None, Some(k.clone()), None, c.points)
            }
            Claim::Tiers(tiers) => {
                // The open tiers in order, as far as the cap leaves room: a tier the cap leaves
                // nothing for stays open (should the cap be raised that day, it can still pay).
                let paid = tiers_paid.get(&(c.rule_id, date)).copied().unwrap_or(i64::MIN);
                let mut left = room(earned.get(&(programme.clone(), date)).copied().unwrap_or(0));
                let mut covered: Vec<&rules::Tier> = Vec::new();
                for t in tiers.iter().filter(|t| t.min_steps > paid) {
                    if left <= 0 {
                        break;
                    }
                    left -= i64::from(t.points);
                    covered.push(t);
                }
                let (Some(first), Some(last)) = (covered.first(), covered.last()) else {
                    continue;
                };
                let Ok(upto) = i32::try_from(last.min_steps) else {
                    continue;
                };
                let points = covered.iter().map(|t| t.points).sum();
                (
                    Some(rules::tier_key(c.rule_id, first.min_steps)),
                    None,
                    Some(upto),
                    points,
                )
            }
        };
        let so_far = earned.entry((programme.clone(), date)).or_default();
        let points = i64::from(points).min(room(*so_far));
        let Ok(points) = i32::try_from(points) else { continue };
        if points <= 0 {
            continue;
        }
        *so_far += i64::from(points);
        if let Some(k) = &day_key {
            day_taken.insert((programme.clone(), date, k.clone()));
        }
        if let Some(k) = &award_key {
            period_taken.insert((programme.clone(), k.clone()));
        }
        if let Some(upto) = award_upto {
            tiers_paid.insert((c.rule_id, date), i64::from(upto));
        }
        entries.push(LedgerEntry {
            id: Id::new(),
            user_id,
            programme_id: programme,
            rule_id: Some(c.rule_id),
            delta: points,
            title: c.title,
            local_date: date,
            measurement_id: c.measurement_id,
            award_key,
            created_at: now,
            day_key,
            award_upto,
        });
    }
    append(conn, user_id, &entries)?;
    Ok(entries)
}

/// The days streak rules need to see: for each (type, sensed only) the resident's logged local
/// days over the periods the facts fall in; and the goals met in the weeks of the facts, for
/// programme goal rules. No query at all without such rules.
fn logged_days(
    conn: &mut DbConn,
    user_id: Id,
    facts: &[Fact<'_>],
    admitted: &[Vec<&Rule>],
) -> QueryResult<rules::History> {
    let mut spans: HashMap<(String, bool), (NaiveDate, NaiveDate)> = HashMap::new();
    for (fact, rules) in facts.iter().zip(admitted) {
        for (kind, sensed_only, from, to) in rules.iter().filter_map(|r| rules::history_needed(r, fact)) {
            let span = spans.entry((kind, sensed_only)).or_insert((from, to));
            span.0 = span.0.min(from);
            span.1 = span.1.max(to);
        }
    }
    let mut history = rules::History::default();
    // The weekly programme's goals met, for the weeks the facts fall in: only with a programme
    // goal rule in force for them, and only for data that can meet a goal.
    let mut mondays: Vec<NaiveDate> = facts
        .iter()
        .zip(admitted)
        .filter(|(_, rules)| rules.iter().any(|r| matches!(r.kind, RuleKind::ProgrammeGoal { .. })))
        .flat_map(|(f, _)| rules::goal_weeks(f))
        .collect();
    mondays.sort();
    mondays.dedup();
    if !mondays.is_empty() {
        for (monday, codes) in crate::insights::programme::goals_met(conn, user_id, &mondays)? {
            history.goals_met_in(monday, codes);
        }
    }
    for ((kind, sensed_only), (from, to)) in spans {
        let mut q = measurements::table
            .filter(measurements::user_id.eq(user_id))
            .filter(measurements::kind.eq(&kind))
            .filter(measurements::local_date.between(from, to))
            .select(measurements::local_date)
            .distinct()
            .into_boxed();
        if sensed_only {
            q = q.filter(measurements::modality.eq("sensed"));
        }
        for day in q.load::<NaiveDate>(conn)? {
            history.insert(&kind, sensed_only, day);
        }
    }
    Ok(history)
}

/// Makes sure the resident has a balance row in each programme and locks them (PostgreSQL), so
/// that one resident's concurrent awards and spends in a programme take turns.
pub(crate) fn lock_balances(conn: &mut DbConn, user_id: Id, programme_ids: &[String]) -> QueryResult<()> {
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
pub(crate) fn append(conn: &mut DbConn, user_id: Id, entries: &[LedgerEntry]) -> QueryResult<()> {
    if entries.is_empty() {
        return Ok(());
    }
    match conn {
        DbConn::Pg(c) => bulk::LedgerUnnest::new(entries).execute(c)?,
        DbConn::Sqlite(c) => diesel::insert_into(points_ledger::table).values(entries).execute(c)?,
    };
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

/// Spends `points` of the resident's balance in a programme: the balance moves by a conditional
/// update (`balance >= points`), so however many spends race, it never goes below zero; the
/// matching ledger entry is written in the caller's transaction. `None` when the balance is short.
pub fn spend(
    conn: &mut DbConn,
    user_id: Id,
    programme_id: &str,
    points: i32,
    title: String,
    local_date: NaiveDate,
) -> QueryResult<Option<LedgerEntry>> {
    let moved = diesel::update(
        points_balances::table
            .filter(points_balances::user_id.eq(user_id))
            .filter(points_balances::programme_id.eq(programme_id))
            .filter(points_balances::balance.ge(points)),
    )
    .set(points_balances::balance.eq(points_balances::balance - points))
    .execute(conn)?;
    if moved != 1 {
        return Ok(None);
    }
    let entry = LedgerEntry {
        id: Id::new(),
        user_id,
        programme_id: programme_id.to_owned(),
        rule_id: None,
        delta: -points,
        title,
        local_date,
        measurement_id: None,
        award_key: None,
        created_at: Ts::now(),
        day_key: None,
        award_upto: None,
    };
    crate::on_backend!(conn, c => diesel::insert_into(points_ledger::table).values(&entry).execute(c))?;
    Ok(Some(entry))
}

/// The resident's balance in a programme (0 without a balance row).
pub fn balance(conn: &mut DbConn, user_id: Id, programme_id: &str) -> QueryResult<i32> {
    Ok(points_balances::table
        .filter(points_balances::user_id.eq(user_id))
        .filter(points_balances::programme_id.eq(programme_id))
        .select(points_balances::balance)
        .first(conn)
        .optional()?
        .unwrap_or(0))
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
    let eligible = eligible_programmes(conn, user_id, age)?;
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
