//! Releasing a statistic to an organisation: the one way a figure about people leaves the service.
//!
//! Under the organisation's policy (`crate::privacy::policy`):
//!
//! * **Differential privacy.** In one transaction: take the organisation's budget lock for the
//!   year; if the same request was released this year, answer its stored release (no charge);
//!   else charge the release's epsilon (409 `privacy-budget-exhausted` when the year's budget cannot
//!   cover it — there is no exact fallback), compute the bounded sums, add the noise, store the
//!   release with its answer, and record the query in the organisation's audit. Concurrent
//!   releases of one organisation take turns on the lock, so none can spend what another spent,
//!   and a request repeated at the same moment gets the first one's stored answer.
//! * **Exact.** In one snapshot transaction: the k-anonymous answer, recorded as a release (for
//!   the residents' privacy ledger) and in the audit; `epsilon` is refused.

use chrono::NaiveDate;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::aggregates::answer::{AggregateAnswer, AggregateGroup, AggregateKey, ProgramStatsAnswer};
use crate::aggregates::audit::{self, AuditEntry};
use crate::aggregates::private::{self, PrivatePlan};
use crate::aggregates::program;
use crate::aggregates::query::{self, Request};
use crate::db::types::Json;
use crate::db::{self, AggregateQueryId, DbConn, OrgId, Ts, UserId};
use crate::error::{AppError, AppResult};
use crate::privacy::releases::{self, Population, Release, Statistic};
use crate::privacy::{self, Mechanism, Mode, ReleaseInfo, budget, policy};

/// Who asks, and under which `k_min`.
#[derive(Debug, Clone, Copy)]
pub struct Asker {
    /// The organisation.
    pub organization_id: OrgId,
    /// The staff member.
    pub actor: UserId,
    /// The service's `k_min`.
    pub k_min: u32,
}

/// An answer that can be released, stored and answered again.
trait Released: Serialize + DeserializeOwned {
    fn privacy_mut(&mut self) -> &mut ReleaseInfo;
    /// (published, suppressed) groups or figures, for the audit.
    fn tally(&self) -> (usize, usize);
}

impl Released for AggregateAnswer {
    fn privacy_mut(&mut self) -> &mut ReleaseInfo {
        &mut self.privacy
    }

    fn tally(&self) -> (usize, usize) {
        let suppressed = self.groups.iter().filter(|g| g.suppressed).count();
        (self.groups.len() - suppressed, suppressed)
    }
}

impl Released for ProgramStatsAnswer {
    fn privacy_mut(&mut self) -> &mut ReleaseInfo {
        &mut self.privacy
    }

    fn tally(&self) -> (usize, usize) {
        let figures = [
            &self.members,
            &self.consenting,
            &self.active_residents,
            &self.mean_daily_steps,
            &self.points_earned,
        ];
        let suppressed = figures.iter().filter(|f| f.suppressed).count();
        (figures.len() - suppressed, suppressed)
    }
}

/// What one release is about.
struct Subject {
    statistic: Statistic,
    population: Population,
    /// First day, first day of the last month.
    period: (NaiveDate, NaiveDate),
    /// The request in canonical form: what makes two requests the same release.
    canonical: serde_json::Value,
    /// The request as received, as the audit records it.
    received: serde_json::Value,
}

fn exhausted() -> AppError {
    AppError::StateConflict {
        refusal: crate::error::Refusal::PrivacyBudgetExhausted,
        detail: "this year's privacy budget of the organisation cannot cover this release".to_owned(),
    }
}

fn audit_row(
    c: &mut DbConn,
    who: Asker,
    subject: &Subject,
    epsilon: Option<f64>,
    tally: (usize, usize),
    now: Ts,
) -> AppResult<()> {
    audit::record(
        c,
        &AuditEntry {
            id: AggregateQueryId::new(),
            organization_id: who.organization_id,
            actor_id: Some(who.actor),
            query: subject.statistic.as_str().to_owned(),
            request: Json(subject.received.clone()),
            epsilon,
            groups: i32::try_from(tally.0).unwrap_or(i32::MAX),
            suppressed: i32::try_from(tally.1).unwrap_or(i32::MAX),
            created_at: now,
        },
    )?;
    Ok(())
}

/// The organisation's mode; 404 when there is no such organisation.
fn mode_of(c: &mut DbConn, org: OrgId) -> AppResult<Mode> {
    Ok(policy::find(c, org)?.ok_or(AppError::NotFound)?.mode)
}

/// A differentially private release: see the module documentation.
fn release_private<A: Released>(
    conn: &mut DbConn,
    who: Asker,
    subject: &Subject,
    epsilon: f64,
    compute: impl FnOnce(&mut DbConn, Ts) -> AppResult<(A, Mechanism)>,
) -> AppResult<A> {
    db::transaction(conn, |c| {
        let org = who.organization_id;
        let now = Ts::now();
        let year = privacy::budget_year(now);
        budget::lock(c, org, year)?;
        let canonical = serde_json::json!({"request": subject.canonical, "epsilon": epsilon});
        let key = releases::reuse_key(subject.statistic, &canonical, who.k_min, year);
        if let Some(stored) = releases::find_reusable(c, org, &key)? {
            let mut answer: A =
                serde_json::from_value(stored.answer.map(|j| j.0).unwrap_or_default()).map_err(AppError::internal)?;
            let info = answer.privacy_mut();
            info.reused = true;
            info.budget_remaining = Some(budget::remaining(c, org, year)?);
            audit_row(c, who, subject, None, answer.tally(), now)?;
            return Ok(answer);
        }
        if !budget::charge(c, org, year, epsilon)? {
            return Err(exhausted());
        }
        let (mut answer, mechanism) = compute(c, now)?;
        let release = Release::new(
            org,
            who.actor,
            subject.statistic,
            &subject.population,
            subject.period,
            Mode::DifferentialPrivacy,
            Some(epsilon),
            now,
        );
        *answer.privacy_mut() = ReleaseInfo {
            mode: Mode::DifferentialPrivacy,
            epsilon: Some(epsilon),
            budget_remaining: Some(budget::remaining(c, org, year)?),
            release_id: release.id.0,
            released_at: now.0,
            reused: false,
            mechanism: Some(mechanism),
        };
        let stored = serde_json::to_value(&answer).map_err(AppError::internal)?;
        releases::record(c, &release.keep(key, stored))?;
        audit_row(c, who, subject, Some(epsilon), answer.tally(), now)?;
        Ok(answer)
    })
}

/// An exact (k-anonymous) release: see the module documentation.
fn release_exact<A: Released>(
    conn: &mut DbConn,
    who: Asker,
    subject: &Subject,
    compute: impl FnOnce(&mut DbConn, Ts) -> AppResult<A>,
) -> AppResult<A> {
    db::transaction(conn, |c| {
        // One snapshot for every statement of the answer, so its figures agree on the data.
        query::snapshot(c)?;
        let now = Ts::now();
        let mut answer = compute(c, now)?;
        let release = Release::new(
            who.organization_id,
            who.actor,
            subject.statistic,
            &subject.population,
            subject.period,
            Mode::Exact,
            None,
            now,
        );
        *answer.privacy_mut() = ReleaseInfo {
            mode: Mode::Exact,
            epsilon: None,
            budget_remaining: None,
            release_id: release.id.0,
            released_at: now.0,
            reused: false,
            mechanism: None,
        };
        releases::record(c, &release)?;
        audit_row(c, who, subject, None, answer.tally(), now)?;
        Ok(answer)
    })
}

/// The epsilon of a private release (the default when the request names none); 422 when the
/// organisation is in exact mode and the request names one.
fn epsilon_for(mode: Mode, epsilon: Option<f64>) -> AppResult<Option<f64>> {
    match (mode, epsilon) {
        (Mode::Exact, Some(_)) => Err(AppError::invalid(
            "epsilon",
            "this organisation's statistics are released exactly (k-anonymity); epsilon applies only under differential privacy",
        )),
        (Mode::Exact, None) => Ok(None),
        (Mode::DifferentialPrivacy, e) => {
            let e = e.unwrap_or(privacy::DEFAULT_EPSILON);
            if let Some(err) = privacy::validate_epsilon(e) {
                return Err(AppError::Validation(vec![err]));
            }
            Ok(Some(e))
        }
    }
}

/// The last day of a month given by its first.
fn last_day(month: NaiveDate) -> NaiveDate {
    month
        .checked_add_months(chrono::Months::new(1))
        .and_then(|d| d.pred_opt())
        .unwrap_or(month)
}

/// The request as the audit and the reuse key record it: every default filled in, lists in a
/// fixed order.
fn canonical_aggregate(req: &Request) -> serde_json::Value {
    let mut dims: Vec<&str> = req
        .group_by
        .iter()
        .map(|d| match d {
            query::Dim::AgeBand => "age_band",
            query::Dim::Sex => "sex",
            query::Dim::Month => "month",
        })
        .collect();
    dims.sort_unstable();
    let mut stats: Vec<&str> = req.stats.iter().map(|s| s.name()).collect();
    stats.sort_unstable();
    serde_json::json!({
        "type": req.kind.name,
        "field": req.field.name,
        "from": req.from,
        "to": last_day(req.to),
        "group_by": dims,
        "stats": stats,
    })
}

/// Releases an aggregate to the organisation's analyst; `received` is the request as it came, for
/// the organisation's audit.
pub fn aggregate(
    conn: &mut DbConn,
    who: Asker,
    req: Request,
    epsilon: Option<f64>,
    received: serde_json::Value,
) -> AppResult<AggregateAnswer> {
    let mode = mode_of(conn, who.organization_id)?;
    let epsilon = epsilon_for(mode, epsilon)?;
    let subject = Subject {
        statistic: Statistic::Aggregate,
        population: Population::Consenting {
            measurement_type: req.kind.name.to_owned(),
        },
        period: (req.from, req.to),
        canonical: canonical_aggregate(&req),
        received,
    };
    let frame = |groups, privacy| AggregateAnswer {
        k_min: who.k_min,
        from: req.from,
        to: last_day(req.to),
        groups,
        privacy,
    };
    let org = who.organization_id;
    match epsilon {
        Some(epsilon) => {
            let plan = PrivatePlan::new(&req, epsilon)
                .ok_or_else(|| AppError::invalid("field", "has no published contribution bounds"))?;
            release_private(conn, who, &subject, epsilon, |c, now| {
                let sums = private::sums(c, org, &req, &plan, now)?;
                let groups = private::release(&req, &plan, &sums, who.k_min).map_err(AppError::internal)?;
                let mechanism = Mechanism {
                    noise: "laplace".to_owned(),
                    bounds: Some(plan.bounds),
                    groups_per_person: plan.groups_per_person,
                    laplace_scale: plan.noise.scales(),
                    publish_threshold: plan.threshold(who.k_min, private::domain(&req).len()),
                };
                Ok((frame(groups, placeholder_info()), mechanism))
            })
        }
        None => release_exact(conn, who, &subject, |c, now| {
            let answer = query::run(c, org, &req, i64::from(who.k_min), now)?;
            let groups = answer
                .groups
                .iter()
                .map(|(k, g)| match g {
                    None => AggregateGroup::suppressed(AggregateKey::from(k)),
                    Some(g) => AggregateGroup {
                        key: AggregateKey::from(k),
                        people: Some(g.people),
                        measurements: Some(g.sums.n),
                        stats: Some(
                            req.stats
                                .iter()
                                .map(|&s| (s.name().to_owned(), query::statistic(&req, g, s)))
                                .collect(),
                        ),
                        margin_95: None,
                        suppressed: false,
                    },
                })
                .collect();
            Ok(frame(groups, placeholder_info()))
        }),
    }
}

/// Releases the programme statistics of the months from `from` to `to` (first days).
pub fn program_stats(
    conn: &mut DbConn,
    who: Asker,
    from: NaiveDate,
    to: NaiveDate,
    epsilon: Option<f64>,
) -> AppResult<ProgramStatsAnswer> {
    let mode = mode_of(conn, who.organization_id)?;
    let epsilon = epsilon_for(mode, epsilon)?;
    let subject = Subject {
        statistic: Statistic::ProgramStats,
        population: Population::Members,
        period: (from, to),
        canonical: serde_json::json!({"from": from, "to": last_day(to)}),
        received: serde_json::json!({"from": from, "to": last_day(to)}),
    };
    let frame = |f: program::Figures| ProgramStatsAnswer {
        k_min: who.k_min,
        from,
        to: last_day(to),
        members: f.members,
        consenting: f.consenting,
        active_residents: f.active_residents,
        mean_daily_steps: f.mean_daily_steps,
        points_earned: f.points_earned,
        privacy: placeholder_info(),
    };
    let org = who.organization_id;
    match epsilon {
        Some(epsilon) => {
            let days = (last_day(to) - from).num_days() + 1;
            let plan = program::plan(epsilon, days);
            release_private(conn, who, &subject, epsilon, |c, now| {
                let sums = program::sums(c, org, from, to, now)?;
                let figures = program::release(&sums, &plan, who.k_min).map_err(AppError::internal)?;
                let mechanism = Mechanism {
                    noise: "laplace".to_owned(),
                    bounds: None,
                    groups_per_person: 1,
                    laplace_scale: plan.scales(),
                    publish_threshold: privacy::noise::threshold(who.k_min, plan.scale("members"), program::GATES),
                };
                Ok((frame(figures), mechanism))
            })
        }
        None => release_exact(conn, who, &subject, |c, now| {
            Ok(frame(program::exact(c, org, from, to, i64::from(who.k_min), now)?))
        }),
    }
}

/// The release information before the release is recorded (replaced before anything is sent).
fn placeholder_info() -> ReleaseInfo {
    ReleaseInfo {
        mode: Mode::DifferentialPrivacy,
        epsilon: None,
        budget_remaining: None,
        release_id: uuid::Uuid::nil(),
        released_at: chrono::DateTime::<chrono::Utc>::MIN_UTC,
        reused: false,
        mechanism: None,
    }
}
