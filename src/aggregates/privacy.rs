//! Optional differential privacy for aggregates: bounded contributions, the Laplace mechanism
//! (from `opendp`), and the organisation's privacy budget.
//!
//! An aggregate request may carry an `epsilon`. The answer is then built as usual — consent in
//! the SQL, cells of fewer than `k_min` people suppressed before combination — and every published
//! figure is released with Laplace noise calibrated to what one person can change:
//!
//! * **Contributions are bounded.** A person contributes through rollup rows (one per month and
//!   age band). A row of more than [`CAP_PER_ROW`] measurements is scaled down to that many, its
//!   mean kept; every value is clamped to the field's plausible range `[lo, hi]` (ingest already
//!   refuses values outside it; the clamp makes the bound hold whatever the catalogue later says).
//!   Sums are taken of values centred on the middle of the range, so one value moves a sum by at
//!   most `(hi − lo) / 2`.
//! * **A person has at most `months + 1` rows** in a range of `months` whole months: a range is
//!   at most ten years, so it holds at most one change of 10-year age band, the only thing that
//!   splits a month into two rows.
//! * **Sensitivities** (L1, over all published groups at once): measurements `rows × cap`;
//!   centred sum `rows × cap × half`; centred sum of squares `rows × cap × half²`; bucket
//!   histogram `rows × cap`; people 1 per group a person can fall in (1; 2 across an age band
//!   change; the months, when grouped by month).
//! * **Epsilon is split evenly** between the quantities the statistics need (people and
//!   measurements always; the sum for a mean or stddev; the sum of squares for a stddev; the
//!   histogram for percentiles): sequential composition, so the answer is `epsilon`-DP as a whole.
//! * **Statistics are post-processing** of the noisy quantities (mean = middle + sum ÷ count,
//!   clamped to the range; variance from the three sums; percentiles from the noisy histogram
//!   with negative counts taken as zero), which costs no privacy.
//!
//! The k-anonymity suppression still decides on the exact number of people, because the rule
//! that no published cell describes fewer than `k_min` people is a legal one. Which cells are
//! suppressed is therefore not itself noised: the guarantee covers the published figures, given
//! that pattern.
//!
//! The budget is charged by a conditional update, before the answer is computed and in a
//! transaction of its own, so concurrent queries cannot spend more than the budget between them
//! (and an answer that fails after the charge is not refunded: privacy errs on the safe side).

use std::collections::{BTreeMap, HashMap};
use std::ops::RangeInclusive;

use diesel::prelude::*;
use diesel::sql_types::{Date, Double, Nullable, Text};
use opendp::domains::{AtomDomain, VectorDomain};
use opendp::measurements::make_laplace;
use opendp::measures::MaxDivergence;
use opendp::metrics::L1Distance;

use super::query::{self, Answer, Dim, Key, Request, Stat};
use super::rollup::{self, BUCKETS};
use super::stats;
use crate::db::schema::organizations;
use crate::db::{DbConn, Id, Ts};
use crate::error::FieldError;

/// The most measurements one rollup row (a person's month in one age band) contributes; rows
/// with more are scaled down to this many. 31 keeps one measurement a day whole.
pub const CAP_PER_ROW: i64 = 31;

/// The epsilons one request may spend.
pub const EPSILON: RangeInclusive<f64> = 0.01..=10.0;

/// Checks a requested epsilon.
pub fn validate_epsilon(epsilon: f64) -> Option<FieldError> {
    (!EPSILON.contains(&epsilon)).then(|| {
        FieldError::new(
            "epsilon",
            format!("must be between {} and {}", EPSILON.start(), EPSILON.end()),
        )
    })
}

/// Charges `epsilon` to the organisation's budget, in the caller's transaction. False (and
/// nothing charged) when the budget cannot cover it or there is no such organisation.
pub fn charge(conn: &mut DbConn, org: Id, epsilon: f64) -> QueryResult<bool> {
    // Sums of decimal fractions are not exact in binary: a budget of 1 must admit ten queries of
    // 0.1, so allow a rounding slack and never store more than the budget.
    const SLACK: f64 = 1e-9;
    let spent = organizations::privacy_spent + epsilon;
    let n = diesel::update(organizations::table.find(org))
        .filter(spent.le(organizations::privacy_budget + SLACK))
        .set(
            organizations::privacy_spent.eq(diesel::dsl::sql::<Double>("CASE WHEN privacy_spent + ")
                .bind::<Double, _>(epsilon)
                .sql(" > privacy_budget THEN privacy_budget ELSE privacy_spent + ")
                .bind::<Double, _>(epsilon)
                .sql(" END")),
        )
        .execute(conn)?;
    Ok(n == 1)
}

/// A quantity released with noise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Quantity {
    /// Distinct people per group.
    People,
    /// Measurements (bounded) per group.
    Measurements,
    /// Sum of centred, clamped values.
    Sum,
    /// Sum of squared centred values.
    SumOfSquares,
    /// Bucket counts (all buckets of every group).
    Histogram,
}

impl Quantity {
    /// Its name in answers.
    pub fn name(self) -> &'static str {
        match self {
            Quantity::People => "people",
            Quantity::Measurements => "measurements",
            Quantity::Sum => "sum",
            Quantity::SumOfSquares => "sum_of_squares",
            Quantity::Histogram => "histogram",
        }
    }
}

/// How an answer is noised: the quantities, each one's sensitivity and Laplace scale.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// Epsilon of the whole answer.
    pub epsilon: f64,
    /// Middle of the field's plausible range.
    pub mid: f64,
    /// Half its width.
    pub half: f64,
    /// Lower end of the range.
    pub lo: f64,
    /// Upper end of the range.
    pub hi: f64,
    /// `(quantity, L1 sensitivity, Laplace scale)`, each quantity getting an equal share of epsilon.
    pub parts: Vec<(Quantity, f64, f64)>,
}

impl Plan {
    /// The plan for a request; `None` for a field without a plausible range (every numeric field
    /// of the catalogue has one).
    pub fn new(req: &Request, epsilon: f64) -> Option<Plan> {
        let (lo, hi) = rollup::range(req.field)?;
        let half = (hi - lo) / 2.0;
        let months = f64::from(months_between(req));
        let rows = months + 1.0;
        #[expect(clippy::cast_precision_loss, reason = "a small constant")]
        let cap = CAP_PER_ROW as f64;
        let dims = &req.group_by;
        let people = if dims.contains(&Dim::Month) {
            if dims.contains(&Dim::AgeBand) { rows } else { months }
        } else if dims.contains(&Dim::AgeBand) {
            2.0
        } else {
            1.0
        };
        let mut quantities = vec![(Quantity::People, people), (Quantity::Measurements, rows * cap)];
        if req.stats.iter().any(|s| matches!(s, Stat::Mean | Stat::Stddev)) {
            quantities.push((Quantity::Sum, rows * cap * half));
        }
        if req.stats.contains(&Stat::Stddev) {
            quantities.push((Quantity::SumOfSquares, rows * cap * half * half));
        }
        if req.stats.iter().any(|s| matches!(s, Stat::P10 | Stat::P50 | Stat::P90)) {
            quantities.push((Quantity::Histogram, rows * cap));
        }
        #[expect(clippy::cast_precision_loss, reason = "at most five quantities")]
        let share = epsilon / quantities.len() as f64;
        let parts = quantities.into_iter().map(|(q, d)| (q, d, d / share)).collect();
        Some(Plan {
            epsilon,
            mid: lo + half,
            half,
            lo,
            hi,
            parts,
        })
    }

    fn scale(&self, q: Quantity) -> Option<(f64, f64)> {
        self.parts.iter().find(|p| p.0 == q).map(|p| (p.1, p.2))
    }
}

/// Whole months from the request's first month to its last, inclusive.
fn months_between(req: &Request) -> u32 {
    use chrono::Datelike;
    let m = |d: chrono::NaiveDate| d.year() * 12 + i32::try_from(d.month0()).unwrap_or(0);
    u32::try_from(m(req.to) - m(req.from) + 1).unwrap_or(1)
}

/// Bounded sums of one group's publishable cells.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Bounded {
    /// Measurements, each row capped at [`CAP_PER_ROW`].
    pub n: f64,
    /// Sum of the centred, clamped values (weighted like `n`).
    pub sum: f64,
    /// Sum of their squares.
    pub sum_sq: f64,
    /// Weighted bucket counts.
    pub hist: BTreeMap<i32, f64>,
}

#[derive(QueryableByName, Debug)]
struct BoundedRow {
    #[diesel(sql_type = Nullable<Date>)]
    month: Option<chrono::NaiveDate>,
    #[diesel(sql_type = Nullable<Text>)]
    age_band: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    sex: Option<String>,
    #[diesel(sql_type = Double)]
    n: f64,
    #[diesel(sql_type = Double)]
    sum: f64,
    #[diesel(sql_type = Double)]
    sum_sq: f64,
}

#[derive(QueryableByName, Debug)]
struct BoundedBucketRow {
    #[diesel(sql_type = Nullable<Date>)]
    month: Option<chrono::NaiveDate>,
    #[diesel(sql_type = Nullable<Text>)]
    age_band: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    sex: Option<String>,
    #[diesel(sql_type = diesel::sql_types::Integer)]
    bucket: i32,
    #[diesel(sql_type = Double)]
    n: f64,
}

/// The weight of a rollup row `r`: 1, or `CAP_PER_ROW / n` for a row of more measurements.
fn weight(r: &str) -> String {
    format!("(CASE WHEN {r}.n > {CAP_PER_ROW} THEN {CAP_PER_ROW}.0 / {r}.n ELSE 1.0 END)")
}

/// `x` clamped to `[lo, hi]`, in SQL both backends read.
fn clamp(x: &str, lo: &str, hi: &str) -> String {
    format!("(CASE WHEN {x} < {lo} THEN {lo} WHEN {x} > {hi} THEN {hi} ELSE {x} END)")
}

/// The consenting-members condition on `{t}.user_id` for the monthly rollup statements below:
/// members with a consent in force to the organisation (`$5`) at `$6` covering the type (`$1`).
fn consent_filter(t: &str) -> String {
    format!(
        "{t}.user_id IN (SELECT c.user_id FROM consents c WHERE {} \
             AND EXISTS (SELECT 1 FROM consent_types ct WHERE ct.consent_id = c.id AND ct.measurement_type = $1))",
        crate::sharing::consents::in_force_sql("$5", "$6")
    )
}

/// Rollup rows of the type, field and months (`$1`–`$4`) of consenting members.
fn row_filter(t: &str) -> String {
    format!(
        "{t}.kind = $1 AND {t}.field = $2 AND {t}.month >= $3 AND {t}.month <= $4 AND {}",
        consent_filter(t)
    )
}

/// The publishable cells (at least `$7` people), as a CTE: the same cells [`query::run`] publishes.
fn publishable_cells() -> String {
    format!(
        "cells AS (SELECT r.month, r.age_band, r.sex FROM measurement_rollups r WHERE {} \
           GROUP BY r.month, r.age_band, r.sex HAVING count(*) >= $7)",
        row_filter("r")
    )
}

macro_rules! bind_common {
    ($q:expr, $req:expr, $org:expr, $now:expr) => {
        $q.bind::<Text, _>($req.kind.name)
            .bind::<Text, _>($req.field.name)
            .bind::<Date, _>($req.from)
            .bind::<Date, _>($req.to)
            .bind::<crate::db::types::SqlUuid, _>($org)
            .bind::<crate::db::types::SqlTs, _>($now)
    };
}

/// The bounded sums of every group, over the same publishable cells (and the same consent
/// condition) as [`query::run`]. Run in the same transaction, after it.
pub fn bounded(
    conn: &mut DbConn,
    org: Id,
    req: &Request,
    plan: &Plan,
    k_min: i64,
    now: Ts,
) -> QueryResult<HashMap<Key, Bounded>> {
    let dims = &req.group_by;
    let w = weight("r");
    // Per row: n·w measurements; the centred sum (total − mid·n)·w, clamped to ±half·n·w; the
    // centred sum of squares (total_sq − 2·mid·total + mid²·n)·w, clamped to [0, half²·n·w].
    // $8 is the middle, $9 half the width.
    let n = format!("(r.n * {w})");
    let sum = clamp(
        &format!("((r.total - $8 * r.n) * {w})"),
        &format!("(-$9 * {n})"),
        &format!("($9 * {n})"),
    );
    let sum_sq = clamp(
        &format!("((r.total_sq - 2.0 * $8 * r.total + $8 * $8 * r.n) * {w})"),
        "0.0",
        &format!("($9 * $9 * {n})"),
    );
    let sql = format!(
        "WITH {cells} SELECT {cols}, CAST(sum({n}) AS DOUBLE PRECISION) AS n, \
                CAST(sum({sum}) AS DOUBLE PRECISION) AS sum, CAST(sum({sum_sq}) AS DOUBLE PRECISION) AS sum_sq \
         FROM measurement_rollups r JOIN cells c ON c.month = r.month AND c.age_band = r.age_band AND c.sex = r.sex \
         WHERE {filter} GROUP BY 1, 2, 3",
        cells = publishable_cells(),
        cols = query::group_columns("r", dims),
        filter = row_filter("r"),
    );
    let rows: Vec<BoundedRow> = bind_common!(diesel::sql_query(sql), req, org, now)
        .bind::<diesel::sql_types::BigInt, _>(k_min)
        .bind::<Double, _>(plan.mid)
        .bind::<Double, _>(plan.half)
        .load(conn)?;
    let mut out: HashMap<Key, Bounded> = rows
        .into_iter()
        .map(|r| {
            (
                query::key_of(dims, r.month, r.age_band, r.sex),
                Bounded {
                    n: r.n,
                    sum: r.sum,
                    sum_sq: r.sum_sq,
                    hist: BTreeMap::new(),
                },
            )
        })
        .collect();
    if plan.scale(Quantity::Histogram).is_some() {
        let sql = format!(
            "WITH {cells} SELECT {cols}, b.bucket AS bucket, CAST(sum(b.n * {w}) AS DOUBLE PRECISION) AS n \
             FROM measurement_rollup_buckets b \
             JOIN measurement_rollups r ON r.user_id = b.user_id AND r.kind = b.kind AND r.field = b.field \
               AND r.month = b.month AND r.age_band = b.age_band \
             JOIN cells c ON c.month = b.month AND c.age_band = b.age_band AND c.sex = b.sex \
             WHERE {filter} GROUP BY 1, 2, 3, 4",
            cells = publishable_cells(),
            cols = query::group_columns("b", dims),
            filter = row_filter("b"),
        );
        let rows: Vec<BoundedBucketRow> = bind_common!(diesel::sql_query(sql), req, org, now)
            .bind::<diesel::sql_types::BigInt, _>(k_min)
            .load(conn)?;
        for r in rows {
            if let Some(g) = out.get_mut(&query::key_of(dims, r.month, r.age_band, r.sex)) {
                *g.hist.entry(r.bucket).or_default() += r.n;
            }
        }
    }
    Ok(out)
}

/// The figures of one published group, exact or noisy.
#[derive(Debug, Clone, PartialEq)]
pub struct Figures {
    /// Distinct people.
    pub people: i64,
    /// Measurements.
    pub measurements: i64,
    /// The requested statistics, `None` where undefined.
    pub stats: Vec<(Stat, Option<f64>)>,
}

/// The exact figures of a published group.
pub fn exact(req: &Request, g: &query::Group) -> Figures {
    Figures {
        people: g.people,
        measurements: g.sums.n,
        stats: req.stats.iter().map(|&s| (s, query::statistic(req, g, s))).collect(),
    }
}

/// Why noise could not be drawn (never the client's fault: a logged 500).
#[derive(Debug, thiserror::Error)]
#[error("differential privacy: {0}")]
pub struct NoiseError(String);

impl From<opendp::error::Error> for NoiseError {
    fn from(e: opendp::error::Error) -> Self {
        NoiseError(e.to_string())
    }
}

/// Noise is drawn exactly on a grid of `2^GRANULARITY` (about 10⁻⁹): far cheaper to sample than
/// opendp's default grid of the smallest subnormal float, and fine enough for any count or sum.
const GRANULARITY: i32 = -30;

/// Adds Laplace noise of (about) `scale` to each value, through opendp's vector Laplace
/// mechanism, and checks that the mechanism's own privacy map agrees that a change of
/// `sensitivity` costs no more than `epsilon`. Rounding to the sampling grid can move each of
/// the `n` outputs by up to one grid step, so the scale is widened by `n · 2^GRANULARITY /
/// sensitivity` (under 10⁻⁴ for a million values) to pay for it.
pub fn laplace(values: Vec<f64>, sensitivity: f64, scale: f64, epsilon: f64) -> Result<Vec<f64>, NoiseError> {
    #[expect(clippy::cast_precision_loss, reason = "vector lengths stay far below 2^52")]
    let rounding = values.len() as f64 * 2f64.powi(GRANULARITY);
    let m = make_laplace::<_, _, MaxDivergence>(
        VectorDomain::new(AtomDomain::<f64>::new_non_nan()).with_size(values.len()),
        L1Distance::<f64>::default(),
        scale * (sensitivity + rounding) / sensitivity,
        Some(GRANULARITY),
    )?;
    let cost = m.map(&sensitivity)?;
    // The map rounds conservatively (upwards); allow for that rounding only.
    if cost > epsilon * (1.0 + 1e-9) {
        return Err(NoiseError(format!(
            "the mechanism costs {cost}, more than its share {epsilon}"
        )));
    }
    Ok(m.invoke(&values)?)
}

/// Releases the published groups of an answer with noise, per the plan; suppressed groups stay
/// suppressed.
pub fn release(
    req: &Request,
    plan: &Plan,
    answer: &Answer,
    bounded: &HashMap<Key, Bounded>,
) -> Result<Vec<(Key, Option<Figures>)>, NoiseError> {
    let published: Vec<(&Key, &query::Group)> = answer
        .groups
        .iter()
        .filter_map(|(k, g)| g.as_ref().map(|g| (k, g)))
        .collect();
    let empty = Bounded::default();
    let of = |k: &Key| bounded.get(k).unwrap_or(&empty);
    let share = plan.epsilon / f64::from(u8::try_from(plan.parts.len()).unwrap_or(u8::MAX));
    let noisy = |q: Quantity, values: Vec<f64>| -> Result<Option<Vec<f64>>, NoiseError> {
        match plan.scale(q) {
            Some((sensitivity, scale)) => laplace(values, sensitivity, scale, share).map(Some),
            None => Ok(None),
        }
    };
    #[expect(clippy::cast_precision_loss, reason = "people per group stay far below 2^52")]
    let people = noisy(
        Quantity::People,
        published.iter().map(|(_, g)| g.people as f64).collect(),
    )?;
    let n = noisy(Quantity::Measurements, published.iter().map(|(k, _)| of(k).n).collect())?;
    let sum = noisy(Quantity::Sum, published.iter().map(|(k, _)| of(k).sum).collect())?;
    let sum_sq = noisy(
        Quantity::SumOfSquares,
        published.iter().map(|(k, _)| of(k).sum_sq).collect(),
    )?;
    let hist = noisy(
        Quantity::Histogram,
        published
            .iter()
            .flat_map(|(k, _)| {
                let h = &of(k).hist;
                (0..BUCKETS).map(move |b| h.get(&b).copied().unwrap_or(0.0))
            })
            .collect(),
    )?;
    let mut figures = HashMap::new();
    for (i, (key, _)) in published.iter().enumerate() {
        let at = |v: &Option<Vec<f64>>| v.as_ref().and_then(|v| v.get(i).copied());
        let noisy_n = at(&n).unwrap_or(0.0);
        let bins: Option<Vec<f64>> = hist.as_ref().map(|h| {
            let start = i * usize::try_from(BUCKETS).unwrap_or(0);
            h.iter()
                .skip(start)
                .take(usize::try_from(BUCKETS).unwrap_or(0))
                .copied()
                .collect()
        });
        let stats = req
            .stats
            .iter()
            .map(|&s| {
                let v = match s {
                    Stat::Count => Some(noisy_n.max(0.0).round()),
                    Stat::Mean => noisy_mean(plan, noisy_n, at(&sum)),
                    Stat::Stddev => noisy_stddev(plan, noisy_n, at(&sum), at(&sum_sq)),
                    Stat::P10 => bins.as_ref().and_then(|b| noisy_quantile(plan, b, 0.1)),
                    Stat::P50 => bins.as_ref().and_then(|b| noisy_quantile(plan, b, 0.5)),
                    Stat::P90 => bins.as_ref().and_then(|b| noisy_quantile(plan, b, 0.9)),
                };
                (s, v)
            })
            .collect();
        figures.insert(
            (*key).clone(),
            Figures {
                people: to_count(at(&people).unwrap_or(0.0)),
                measurements: to_count(noisy_n),
                stats,
            },
        );
    }
    Ok(answer
        .groups
        .iter()
        .map(|(k, _)| (k.clone(), figures.remove(k)))
        .collect())
}

/// A noisy count as a count: rounded, never negative.
fn to_count(x: f64) -> i64 {
    #[expect(clippy::cast_possible_truncation, reason = "rounded and bounded first")]
    let c = x.round().clamp(0.0, 1e15) as i64;
    c
}

/// Mean from the noisy count and centred sum, in the plausible range; `None` when the noisy
/// count is under one measurement.
fn noisy_mean(plan: &Plan, n: f64, sum: Option<f64>) -> Option<f64> {
    let sum = sum?;
    (n >= 1.0).then(|| (plan.mid + sum / n).clamp(plan.lo, plan.hi))
}

/// Sample standard deviation from the noisy count and centred sums, between 0 and half the
/// range (the largest any values in the range can have); `None` under two measurements.
fn noisy_stddev(plan: &Plan, n: f64, sum: Option<f64>, sum_sq: Option<f64>) -> Option<f64> {
    if n < 2.0 {
        return None;
    }
    let (s, q) = (sum?, sum_sq?);
    let var = ((q - s * s / n) / (n - 1.0)).max(0.0);
    Some(var.sqrt().min(plan.half))
}

/// A quantile of the noisy histogram, negative counts taken as zero.
fn noisy_quantile(plan: &Plan, bins: &[f64], q: f64) -> Option<f64> {
    let hist = bins
        .iter()
        .enumerate()
        .filter(|(_, c)| **c > 0.0)
        .map(|(b, &c)| (i32::try_from(b).unwrap_or(0), c));
    stats::quantile_weighted(hist, plan.lo, plan.hi, q)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::measurements::catalogue;

    fn request(group_by: Vec<Dim>, stats: Vec<Stat>, months: u32) -> Request {
        let kind = catalogue::find("body_weight").unwrap();
        let field = kind.numeric_fields().find(|f| f.name == "kg").unwrap();
        let from = chrono::NaiveDate::from_ymd_opt(2026, 1, 1).unwrap();
        Request {
            kind,
            field,
            from,
            to: from.checked_add_months(chrono::Months::new(months - 1)).unwrap(),
            group_by,
            stats,
        }
    }

    #[test]
    fn epsilon_is_split_evenly_between_the_quantities_the_statistics_need() {
        let p = Plan::new(&request(vec![], vec![Stat::Count], 1), 1.0).unwrap();
        let names: Vec<Quantity> = p.parts.iter().map(|x| x.0).collect();
        assert_eq!(names, [Quantity::People, Quantity::Measurements]);
        let p = Plan::new(&request(vec![], vec![Stat::Stddev, Stat::P50], 1), 1.0).unwrap();
        assert_eq!(p.parts.len(), 5);
        for (_, sensitivity, scale) in &p.parts {
            assert!((sensitivity / scale - 0.2).abs() < 1e-12, "each share is epsilon / 5");
        }
    }

    #[test]
    fn sensitivities_grow_with_the_months_a_person_can_contribute() {
        let (lo, hi) = rollup::range(request(vec![], vec![], 1).field).unwrap();
        let half = (hi - lo) / 2.0;
        let year = Plan::new(&request(vec![Dim::AgeBand, Dim::Sex], vec![Stat::Mean], 12), 1.0).unwrap();
        let cap = 31.0;
        assert_eq!(
            year.scale(Quantity::Measurements).unwrap().0,
            13.0 * cap,
            "12 months + 1 band change"
        );
        assert_eq!(year.scale(Quantity::Sum).unwrap().0, 13.0 * cap * half);
        assert_eq!(year.scale(Quantity::People).unwrap().0, 2.0, "one age band change");
        let monthly = Plan::new(&request(vec![Dim::Month], vec![Stat::Mean], 12), 1.0).unwrap();
        assert_eq!(monthly.scale(Quantity::People).unwrap().0, 12.0, "one group per month");
        let cells = Plan::new(&request(vec![Dim::Month, Dim::AgeBand], vec![Stat::Mean], 12), 1.0).unwrap();
        assert_eq!(cells.scale(Quantity::People).unwrap().0, 13.0);
        let whole = Plan::new(&request(vec![Dim::Sex], vec![Stat::Mean], 12), 1.0).unwrap();
        assert_eq!(whole.scale(Quantity::People).unwrap().0, 1.0);
    }

    #[test]
    fn epsilon_outside_its_range_is_refused() {
        assert!(validate_epsilon(0.0).is_some());
        assert!(validate_epsilon(-1.0).is_some());
        assert!(validate_epsilon(10.5).is_some());
        assert!(validate_epsilon(f64::NAN).is_some());
        assert!(validate_epsilon(0.01).is_none());
        assert!(validate_epsilon(10.0).is_none());
    }

    /// The noise really is Laplace of the planned scale: over many draws, the mean absolute
    /// deviation of Laplace(b) is b.
    #[test]
    fn the_mechanism_adds_laplace_noise_of_the_planned_scale() {
        let scale = 50.0;
        let draws = laplace(vec![1000.0; 8_000], 1.0, scale, 1.0 / scale).unwrap();
        let mad = draws.iter().map(|x| (x - 1000.0).abs()).sum::<f64>() / 8_000.0;
        assert!(
            (mad - scale).abs() < scale * 0.05,
            "mean absolute deviation {mad}, expected {scale}"
        );
        let mean = draws.iter().sum::<f64>() / 8_000.0;
        assert!((mean - 1000.0).abs() < scale * 0.05, "unbiased: {mean}");
    }

    #[test]
    fn a_scale_too_small_for_the_share_of_epsilon_is_refused() {
        assert!(
            laplace(vec![1.0], 10.0, 1.0, 1.0).is_err(),
            "sensitivity 10 at scale 1 costs 10"
        );
    }

    #[test]
    fn noisy_statistics_stay_in_the_plausible_range() {
        let p = Plan::new(&request(vec![], vec![Stat::Mean, Stat::Stddev], 1), 1.0).unwrap();
        assert_eq!(noisy_mean(&p, 10.0, Some(1e9)), Some(p.hi));
        assert_eq!(noisy_mean(&p, 10.0, Some(-1e9)), Some(p.lo));
        assert_eq!(noisy_mean(&p, 0.4, Some(1.0)), None, "under one measurement");
        assert_eq!(noisy_stddev(&p, 10.0, Some(0.0), Some(-5.0)), Some(0.0));
        assert_eq!(noisy_stddev(&p, 10.0, Some(0.0), Some(1e12)), Some(p.half));
        assert_eq!(noisy_stddev(&p, 1.5, Some(0.0), Some(1.0)), None);
        assert_eq!(to_count(-3.2), 0);
        assert_eq!(to_count(7.6), 8);
    }
}
