//! Paying candidate awards: each is paid under its first key not in the ledger yet, within its
//! programme's daily cap, and written with the balances moving alongside. What the ledger already
//! holds on the candidates' days is read once, under the balance lock, into [`Paid`], which then
//! decides every candidate in memory.

use std::collections::{HashMap, HashSet};

use chrono::NaiveDate;
use diesel::prelude::*;

use super::evaluation::{Candidate, Claim, tier_key};
use super::ledger::LedgerEntry;
use super::posting::{append, lock_balances};
use super::programmes::Programme;
use super::rules::Tier;
use crate::db::schema::points_ledger;
use crate::db::{DbConn, LedgerEntryId, RuleId, Ts, UserId};

/// What the award path reads of a resident's entries on the days it pays for.
#[derive(Queryable, Selectable)]
#[diesel(table_name = points_ledger)]
struct DayRow {
    programme_id: String,
    local_date: NaiveDate,
    delta: i32,
    rule_id: Option<RuleId>,
    day_key: Option<String>,
    award_upto: Option<i32>,
}

/// Pays what of `cands` is not paid yet, within the daily caps; `locked` names the programmes
/// whose balance rows this transaction holds already.
pub(super) fn pay(
    conn: &mut DbConn,
    user_id: UserId,
    by_id: &HashMap<&str, &Programme>,
    cands: Vec<Candidate>,
    locked: &[String],
) -> QueryResult<Vec<LedgerEntry>> {
    if cands.is_empty() {
        return Ok(Vec::new());
    }
    let involved = programmes_of(&cands);
    lock_the_rest(conn, user_id, &involved, locked)?;
    let mut paid = Paid::read(conn, user_id, &involved, &cands)?;
    let now = Ts::now();
    let mut entries = Vec::new();
    for c in cands {
        let cap = by_id
            .get(c.programme_id.as_str())
            .and_then(|p| p.daily_cap)
            .map(i64::from);
        if let Some(award) = paid.award(&c, cap) {
            entries.push(award.into_entry(c, user_id, now));
        }
    }
    append(conn, user_id, &entries)?;
    Ok(entries)
}

/// The programmes the candidates pay in, sorted and without repeats.
fn programmes_of(cands: &[Candidate]) -> Vec<String> {
    let mut involved: Vec<String> = cands.iter().map(|c| c.programme_id.clone()).collect();
    involved.sort();
    involved.dedup();
    involved
}

/// Locks the balance rows of the `involved` programmes that are not `locked` already, so that the
/// ledger read next cannot change before the awards are written.
fn lock_the_rest(conn: &mut DbConn, user_id: UserId, involved: &[String], locked: &[String]) -> QueryResult<()> {
    let to_lock: Vec<String> = involved.iter().filter(|p| !locked.contains(p)).cloned().collect();
    if !to_lock.is_empty() {
        lock_balances(conn, user_id, &to_lock)?;
    }
    Ok(())
}

/// What the programme's daily `cap` still allows on a day on which `so_far` has been earned.
fn room(cap: Option<i64>, so_far: i64) -> i64 {
    cap.map_or(i64::MAX, |cap| cap - so_far)
}

/// The open tiers (above `paid`, the highest threshold already paid that day) in order, as far as
/// `left` (what the cap leaves) reaches: a tier is covered while anything is left before it, and a
/// tier the cap leaves nothing for stays open (should the cap be raised that day, it can still pay).
fn cover(tiers: &[Tier], paid: i64, mut left: i64) -> Vec<&Tier> {
    let mut covered = Vec::new();
    for t in tiers.iter().filter(|t| t.min_steps > paid) {
        if left <= 0 {
            break;
        }
        left -= i64::from(t.points);
        covered.push(t);
    }
    covered
}

/// What the ledger holds of the resident's entries in the involved programmes, as far as the
/// candidates need to know, kept up to date as they are paid.
#[derive(Debug, Default)]
struct Paid {
    /// Points earned per programme and local day (daily caps).
    earned: HashMap<(String, NaiveDate), i64>,
    /// Day keys taken per programme and local day.
    day_taken: HashSet<(String, NaiveDate, String)>,
    /// The highest step threshold paid per tiered rule and local day.
    tiers_paid: HashMap<(RuleId, NaiveDate), i64>,
    /// Period keys taken per programme.
    period_taken: HashSet<(String, String)>,
}

/// How one candidate is paid: the key it takes and its points within the cap.
#[derive(Debug, PartialEq)]
struct Award {
    day_key: Option<String>,
    award_key: Option<String>,
    award_upto: Option<i32>,
    points: i32,
}

impl Award {
    /// The ledger entry that pays `c` this way.
    fn into_entry(self, c: Candidate, user_id: UserId, now: Ts) -> LedgerEntry {
        LedgerEntry {
            id: LedgerEntryId::new(),
            user_id,
            programme_id: c.programme_id,
            rule_id: Some(c.rule_id),
            delta: self.points,
            title: c.title,
            local_date: c.local_date,
            measurement_id: c.measurement_id,
            award_key: self.award_key,
            created_at: now,
            day_key: self.day_key,
            award_upto: self.award_upto,
        }
    }
}

impl Paid {
    /// One read of the resident's entries on the candidates' days serves the daily caps, every day
    /// key (step tiers, daily logging) and how far each day's tiers are paid; only keys of longer
    /// periods (first, year, streak) are looked up by key, and they are few.
    fn read(conn: &mut DbConn, user_id: UserId, involved: &[String], cands: &[Candidate]) -> QueryResult<Paid> {
        let mut paid = Paid::default();
        for r in day_rows(conn, user_id, involved, cands)? {
            paid.count(r);
        }
        paid.period_taken = period_keys_taken(conn, user_id, involved, cands)?;
        Ok(paid)
    }

    /// Counts one entry of the candidates' days.
    fn count(&mut self, r: DayRow) {
        if r.delta > 0 {
            *self.earned.entry((r.programme_id.clone(), r.local_date)).or_default() += i64::from(r.delta);
        }
        if let (Some(rule), Some(upto)) = (r.rule_id, r.award_upto) {
            let paid = self.tiers_paid.entry((rule, r.local_date)).or_insert(i64::MIN);
            *paid = (*paid).max(i64::from(upto));
        }
        if let Some(k) = r.day_key {
            self.day_taken.insert((r.programme_id, r.local_date, k));
        }
    }

    /// How `c` is paid, if at all, under a daily `cap` of its programme; what it pays is counted
    /// as paid, so later candidates see it.
    fn award(&mut self, c: &Candidate, cap: Option<i64>) -> Option<Award> {
        let mut award = self.first_free(c, cap)?;
        award.points = self.within_cap(c, award.points, cap)?;
        self.record(c, &award);
        Some(award)
    }

    /// The claim's first free key, and what it pays before the cap.
    fn first_free(&self, c: &Candidate, cap: Option<i64>) -> Option<Award> {
        let programme = &c.programme_id;
        let date = c.local_date;
        match &c.claim {
            Claim::Day(keys) => {
                let k = keys
                    .iter()
                    .find(|k| !self.day_taken.contains(&(programme.clone(), date, (*k).clone())))?;
                Some(Award {
                    day_key: Some(k.clone()),
                    award_key: None,
                    award_upto: None,
                    points: c.points,
                })
            }
            Claim::Period(keys) => {
                let k = keys
                    .iter()
                    .find(|k| !self.period_taken.contains(&(programme.clone(), (*k).clone())))?;
                Some(Award {
                    day_key: None,
                    award_key: Some(k.clone()),
                    award_upto: None,
                    points: c.points,
                })
            }
            Claim::Tiers(tiers) => {
                let paid = self.tiers_paid.get(&(c.rule_id, date)).copied().unwrap_or(i64::MIN);
                let covered = cover(tiers, paid, room(cap, self.earned_on(programme, date)));
                let (first, last) = (covered.first()?, covered.last()?);
                let upto = i32::try_from(last.min_steps).ok()?;
                Some(Award {
                    day_key: Some(tier_key(c.rule_id, first.min_steps)),
                    award_key: None,
                    award_upto: Some(upto),
                    points: covered.iter().map(|t| t.points).sum(),
                })
            }
        }
    }

    /// What the programme earned on the day so far.
    fn earned_on(&self, programme: &str, date: NaiveDate) -> i64 {
        self.earned.get(&(programme.to_owned(), date)).copied().unwrap_or(0)
    }

    /// `points`, cut to what the cap leaves on the candidate's day; `None` when that is nothing.
    fn within_cap(&self, c: &Candidate, points: i32, cap: Option<i64>) -> Option<i32> {
        let left = room(cap, self.earned_on(&c.programme_id, c.local_date));
        let points = i32::try_from(i64::from(points).min(left)).ok()?;
        (points > 0).then_some(points)
    }

    /// Counts `award` as paid: its points on the day, its key taken, its tiers paid.
    fn record(&mut self, c: &Candidate, award: &Award) {
        let programme = &c.programme_id;
        let date = c.local_date;
        *self.earned.entry((programme.clone(), date)).or_default() += i64::from(award.points);
        if let Some(k) = &award.day_key {
            self.day_taken.insert((programme.clone(), date, k.clone()));
        }
        if let Some(k) = &award.award_key {
            self.period_taken.insert((programme.clone(), k.clone()));
        }
        if let Some(upto) = award.award_upto {
            self.tiers_paid.insert((c.rule_id, date), i64::from(upto));
        }
    }
}

/// The resident's entries in the `involved` programmes on the candidates' days.
fn day_rows(conn: &mut DbConn, user_id: UserId, involved: &[String], cands: &[Candidate]) -> QueryResult<Vec<DayRow>> {
    let mut dates: Vec<NaiveDate> = cands.iter().map(|c| c.local_date).collect();
    dates.sort();
    dates.dedup();
    let q = points_ledger::table
        .filter(points_ledger::user_id.eq(user_id))
        .filter(points_ledger::programme_id.eq_any(involved))
        .select(DayRow::as_select())
        .into_boxed();
    // A batch's days are mostly a run of consecutive days: one range is planned far faster than a
    // list of hundreds of dates. Scattered days are listed, so a range never reads much more.
    let q = match (dates.first(), dates.last()) {
        (Some(&first), Some(&last)) if (last - first).num_days() < 2 * dates.len() as i64 => {
            q.filter(points_ledger::local_date.between(first, last))
        }
        _ => q.filter(points_ledger::local_date.eq_any(&dates)),
    };
    Ok(q.load(conn)?
        .into_iter()
        .filter(|r| dates.binary_search(&r.local_date).is_ok())
        .collect())
}

/// The (programme, key) pairs of the candidates' period keys that are in the ledger already.
fn period_keys_taken(
    conn: &mut DbConn,
    user_id: UserId,
    involved: &[String],
    cands: &[Candidate],
) -> QueryResult<HashSet<(String, String)>> {
    let period_keys: Vec<&str> = cands
        .iter()
        .filter_map(|c| match &c.claim {
            Claim::Period(keys) => Some(keys.iter().map(String::as_str)),
            _ => None,
        })
        .flatten()
        .collect();
    if period_keys.is_empty() {
        return Ok(HashSet::new());
    }
    Ok(points_ledger::table
        .filter(points_ledger::user_id.eq(user_id))
        .filter(points_ledger::programme_id.eq_any(involved))
        .filter(points_ledger::award_key.eq_any(&period_keys))
        .select((points_ledger::programme_id, points_ledger::award_key.assume_not_null()))
        .load::<(String, String)>(conn)?
        .into_iter()
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, d).unwrap()
    }

    fn tiers(at: &[(i64, i32)]) -> Vec<Tier> {
        at.iter()
            .map(|&(min_steps, points)| Tier { min_steps, points })
            .collect()
    }

    fn candidate(rule: u128, claim: Claim, points: i32) -> Candidate {
        Candidate {
            rule_id: RuleId(uuid::Uuid::from_u128(rule)),
            programme_id: "osaka".into(),
            title: "t".into(),
            points,
            local_date: day(24),
            measurement_id: None,
            claim,
        }
    }

    #[test]
    fn the_cap_leaves_room_and_tiers_are_covered_while_any_is_left() {
        assert_eq!(room(None, 1_000), i64::MAX);
        assert_eq!(room(Some(10), 4), 6);
        assert_eq!(room(Some(10), 12), -2);
        let t = tiers(&[(2000, 3), (4000, 3), (6000, 3)]);
        let steps = |c: Vec<&Tier>| c.iter().map(|t| t.min_steps).collect::<Vec<_>>();
        assert_eq!(steps(cover(&t, i64::MIN, i64::MAX)), [2000, 4000, 6000]);
        assert_eq!(steps(cover(&t, 2000, i64::MAX)), [4000, 6000], "2000 paid already");
        // 4 left: the first tier takes 3, the second is started with 1 left, the third waits.
        assert_eq!(steps(cover(&t, i64::MIN, 4)), [2000, 4000]);
        assert!(cover(&t, i64::MIN, 0).is_empty());
    }

    #[test]
    fn each_claim_takes_its_first_free_key_once() {
        let mut paid = Paid::default();
        let keys = || Claim::Day(vec!["r:1".into(), "r:2".into()]);
        let first = paid.award(&candidate(1, keys(), 2), None).unwrap();
        assert_eq!(first.day_key.as_deref(), Some("r:1"));
        let second = paid.award(&candidate(1, keys(), 2), None).unwrap();
        assert_eq!(second.day_key.as_deref(), Some("r:2"));
        assert_eq!(paid.award(&candidate(1, keys(), 2), None), None, "both taken");
        let period = || Claim::Period(vec!["r:first".into()]);
        let once = paid.award(&candidate(2, period(), 5), None).unwrap();
        assert_eq!((once.award_key.as_deref(), once.points), (Some("r:first"), 5));
        assert_eq!(paid.award(&candidate(2, period(), 5), None), None);
        assert_eq!(paid.earned_on("osaka", day(24)), 9);
    }

    #[test]
    fn the_daily_cap_cuts_awards_and_tiers_pay_only_above_what_was_paid() {
        let mut paid = Paid::default();
        paid.count(DayRow {
            programme_id: "osaka".into(),
            local_date: day(24),
            delta: 6,
            rule_id: Some(RuleId(uuid::Uuid::from_u128(1))),
            day_key: Some(tier_key(RuleId(uuid::Uuid::from_u128(1)), 2000)),
            award_upto: Some(2000),
        });
        let steps = Claim::Tiers(tiers(&[(2000, 6), (4000, 3), (6000, 3)]));
        let award = paid.award(&candidate(1, steps, 12), Some(10)).unwrap();
        assert_eq!(
            award,
            Award {
                day_key: Some(tier_key(RuleId(uuid::Uuid::from_u128(1)), 4000)),
                award_key: None,
                award_upto: Some(6000),
                points: 4,
            },
            "4000 and 6000 are open; the cap of 10 leaves 4 of their 6"
        );
        let logged = Claim::Day(vec!["w:1".into()]);
        assert_eq!(
            paid.award(&candidate(2, logged, 1), Some(10)),
            None,
            "the day is capped"
        );
    }
}
