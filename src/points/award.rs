//! Awarding points for uploads: which rules may pay for each just-written measurement (the
//! programmes that admit the resident, the upload's timing), the history streak and goal rules
//! need, and then paying what they earn (`payout`), all in the caller's transaction.
//!
//! Each award has a key that is unique per resident and programme in the database, so retries,
//! re-uploads, replays and concurrent requests can never pay it twice; the resident's balance rows
//! are locked while awarding, so per-programme daily caps hold under concurrency too.

use std::collections::HashMap;

use chrono::NaiveDate;
use diesel::prelude::*;

use super::evaluation::{self, Candidate, Fact, History};
use super::ledger::LedgerEntry;
use super::payout::pay;
use super::posting::lock_balances;
use super::programmes::{Programme, age, member_orgs, programmes};
use super::rule_store::active_rules;
use super::rules::{Rule, RuleKind};
use super::timing::{self, Timing};
use crate::accounts::tokens::Modality;
use crate::db::schema::measurements;
use crate::db::{DbConn, OrgId, Ts, UserId};
use crate::measurements::Measurement;

/// The resident as an award sees them, from the account row the request read already: reading it
/// again would cost a round trip on every upload.
#[derive(Debug, Clone, Copy)]
pub struct Earner {
    /// The resident.
    pub user_id: UserId,
    /// For age-ranged programmes and rules.
    pub birth_date: Option<NaiveDate>,
    /// Defines the resident's day, and so which day a rule took effect.
    pub timezone: chrono_tz::Tz,
    /// When the account was created: nothing dated before its first local day pays.
    pub since: Ts,
    /// Whether the credential the measurements came with vouches for a `sensed` claim (a sensed
    /// app's or kiosk's token). Without it, a measurement stored as sensed counts as
    /// self-reported for the rules: an imported file may claim anything.
    pub vouches_sensed: bool,
}

/// The programmes, the resident's memberships and the rules in force, and the upload's timing:
/// what every award starts from.
struct Setting {
    programmes: Vec<Programme>,
    orgs: Vec<OrgId>,
    rules: Vec<Rule>,
    timing: Timing,
}

impl Setting {
    /// Reads every programme, the resident's memberships (if any programme needs them) and the
    /// rules in force.
    fn load(conn: &mut DbConn, earner: &Earner) -> QueryResult<Setting> {
        let programmes = programmes(conn)?;
        let orgs = member_orgs(conn, earner.user_id, &programmes)?;
        let ids: Vec<String> = programmes.iter().map(|p| p.id.clone()).collect();
        let rules = active_rules(conn, &ids)?;
        let tz = earner.timezone;
        let timing = Timing {
            today: chrono::Utc::now().with_timezone(&tz).date_naive(),
            account_since: earner.since.0.with_timezone(&tz).date_naive(),
            tz,
        };
        Ok(Setting {
            programmes,
            orgs,
            rules,
            timing,
        })
    }

    /// The award window of a rule's programme, in days.
    fn window_of(&self, rule: &Rule) -> i32 {
        self.programmes
            .iter()
            .find(|p| p.id == rule.programme_id)
            .map_or(0, |p| p.award_window_days)
    }

    /// The rules that may pay for `fact`: those of the programmes that admit the resident on its
    /// day, as far as the upload's timing lets them pay for it (award and checkup windows, the
    /// account's and the rule's age).
    fn payable_for(&self, fact: &Fact<'_>) -> Vec<&Rule> {
        self.admitted(fact.age)
            .into_iter()
            .filter(|r| timing::payable(r, self.window_of(r), fact, &self.timing))
            .collect()
    }

    /// The programmes by id, for the daily caps the payout applies.
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

/// Locks the balance rows of the programmes whose rules read history for one of the facts (a
/// streak period, the week's goals), before history is read: so that of two uploads that complete
/// the same period at once, the second sees the first. Nothing is locked for facts no such rule
/// looks at (a heart rate), so they cost no round trip here.
fn lock_for_history(
    conn: &mut DbConn,
    user_id: UserId,
    facts: &[Fact<'_>],
    admitted: &[Vec<&Rule>],
) -> QueryResult<Vec<String>> {
    let mut programmes: Vec<String> = facts
        .iter()
        .zip(admitted)
        .flat_map(|(f, rules)| rules.iter().filter(move |r| evaluation::reads_history(r, f)))
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
pub fn award_for(conn: &mut DbConn, earner: &Earner, written: &[&Measurement]) -> QueryResult<Vec<LedgerEntry>> {
    if written.is_empty() {
        return Ok(Vec::new());
    }
    let (user_id, birth_date) = (earner.user_id, earner.birth_date);
    let setting = Setting::load(conn, earner)?;
    let values: Vec<_> = written.iter().map(|m| m.values()).collect();
    let facts: Vec<Fact<'_>> = written
        .iter()
        .zip(&values)
        .map(|(m, v)| Fact {
            id: m.id,
            kind: &m.kind,
            local_date: m.local_date,
            values: v,
            sensed: earner.vouches_sensed && Modality::from_stored(&m.modality) == Modality::Sensed,
            age: age(birth_date, m.local_date),
        })
        .collect();
    // Each fact is judged by the rules of the programmes that admit the resident on its day, as
    // far as the time of the upload lets them pay for it.
    let admitted: Vec<Vec<&Rule>> = facts.iter().map(|f| setting.payable_for(f)).collect();
    let locked = lock_for_history(conn, user_id, &facts, &admitted)?;
    let history = logged_days(conn, user_id, &facts, &admitted)?;
    let mut cands: Vec<Candidate> = Vec::new();
    for (fact, rules) in facts.iter().zip(&admitted) {
        cands.extend(evaluation::evaluate(rules, fact, &history));
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
    earner: &Earner,
    monday: NaiveDate,
    today: NaiveDate,
) -> QueryResult<Vec<LedgerEntry>> {
    let user_id = earner.user_id;
    let setting = Setting::load(conn, earner)?;
    let age = age(earner.birth_date, today);
    let goal_rules: Vec<&Rule> = setting
        .admitted(age)
        .into_iter()
        .filter(|r| matches!(r.kind, RuleKind::ProgrammeGoal { .. }) && evaluation::in_force_for(r, today, age))
        .filter(|r| timing::payable_on(r, setting.window_of(r), today, &setting.timing))
        .collect();
    if goal_rules.is_empty() {
        return Ok(Vec::new());
    }
    // The goals read next are the week's history: their programmes are locked first.
    let mut locked: Vec<String> = goal_rules.iter().map(|r| r.programme_id.clone()).collect();
    locked.sort();
    locked.dedup();
    lock_balances(conn, user_id, &locked)?;
    let met = crate::insights::programme::goals_met(conn, user_id, &[monday])?;
    let codes = met.get(&monday).map(Vec::as_slice).unwrap_or_default();
    let cands = goal_rules
        .iter()
        .flat_map(|r| evaluation::goal_candidates(r, monday, codes, today, None))
        .collect();
    pay(conn, user_id, &setting.by_id(), cands, &locked)
}

/// The days streak rules need to see: for each (type, sensed only) the resident's logged local
/// days over the periods the facts fall in; and the goals met in the weeks of the facts, for
/// programme goal rules. No query at all without such rules.
fn logged_days(
    conn: &mut DbConn,
    user_id: UserId,
    facts: &[Fact<'_>],
    admitted: &[Vec<&Rule>],
) -> QueryResult<History> {
    let mut spans: HashMap<(String, bool), (NaiveDate, NaiveDate)> = HashMap::new();
    for (fact, rules) in facts.iter().zip(admitted) {
        for (kind, sensed_only, from, to) in rules.iter().filter_map(|r| evaluation::history_needed(r, fact)) {
            let span = spans.entry((kind, sensed_only)).or_insert((from, to));
            span.0 = span.0.min(from);
            span.1 = span.1.max(to);
        }
    }
    let mut history = History::default();
    // The weekly programme's goals met, for the weeks the facts fall in: only with a programme
    // goal rule in force for them, and only for data that can meet a goal.
    let mut mondays: Vec<NaiveDate> = facts
        .iter()
        .zip(admitted)
        .filter(|(_, rules)| rules.iter().any(|r| matches!(r.kind, RuleKind::ProgrammeGoal { .. })))
        .flat_map(|(f, _)| evaluation::goal_weeks(f))
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
            q = q.filter(measurements::modality.eq(Modality::Sensed.as_str()));
        }
        for day in q.load::<NaiveDate>(conn)? {
            history.insert(&kind, sensed_only, day);
        }
    }
    Ok(history)
}
