//! Aggregates under user-level differential privacy, the default mode.
//!
//! * **Each person is one unit.** A consenting member's shared data in a group (the whole period,
//!   or one month when grouped by month) is first reduced to their own mean, clamped to the
//!   field's published [`bounds`](crate::privacy::bounds); they are counted in one age band (the
//!   band of their latest data in the group: age bands only go up) and their own sex. So one
//!   person appears in at most one group per month grouped by, and in one group otherwise.
//! * **Quantities** over every key of the request's public domain (every age band the service
//!   defines × every sex × every month, as far as grouped by): people; the sum of the centred
//!   means (for `mean`, `stddev`); the sum of their centred squares (for `stddev`); the count of
//!   measurements, each person's capped at 31 a month (for `count`); a 40-bucket histogram of the
//!   means (for percentiles). Each gets an equal share of epsilon and Laplace noise of scale
//!   sensitivity ÷ share, the sensitivity being what one person can change (groups per person ×
//!   the most they add to one group).
//! * **Publishing** is decided on the noisy people count against a threshold above `k_min`
//!   ([`crate::privacy::noise::threshold`]); the statistics are post-processing of the noisy
//!   quantities, clamped to the bounds.
//!
//! The statistics are therefore of people, not measurements: `mean` is the mean of the members'
//! own means, which weighs everyone alike however often they measure.

use std::collections::HashMap;

use chrono::{Datelike, Months, NaiveDate};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Date, Double, Integer, Nullable, Text};

use super::answer::{AggregateGroup, AggregateKey};
use super::query::{self, Dialect, Dim, Key, Request, Stat};
use super::stats;
use crate::accounts::Sex;
use crate::db::types::{SqlTs, SqlUuid};
use crate::db::{DbConn, OrgId, Ts};
use crate::privacy::bounds::{self, Bounds};
use crate::privacy::noise::{self, NoiseError, Plan};

/// The most measurements one person adds to `count` per month of a group.
pub const CAP_PER_MONTH: i64 = 31;

/// Buckets of the bounds that person means are counted in for percentiles: coarse, because each
/// bucket carries its own noise (a percentile is off by up to one bucket, 1/40 of the bounds,
/// plus the noise).
pub const BUCKETS: i32 = 40;

/// The age bands (in tens of years) from the youngest to the oldest: birth dates go back to 1900.
const BANDS: std::ops::RangeInclusive<u32> = 0..=12;

/// Every age band the service defines, youngest first, then `unknown`.
pub fn age_bands() -> Vec<String> {
    BANDS
        .map(|b| super::rollup::age_band(Some(b * 10)))
        .chain([super::rollup::age_band(None)])
        .collect()
}

/// The public domain of a request's grouping: every key, in order (age band, sex, month).
pub fn domain(req: &Request) -> Vec<Key> {
    let dims = &req.group_by;
    let bands: Vec<Option<String>> = if dims.contains(&Dim::AgeBand) {
        age_bands().into_iter().map(Some).collect()
    } else {
        vec![None]
    };
    let sexes: Vec<Option<String>> = if dims.contains(&Dim::Sex) {
        Sex::ALL.iter().map(|s| Some(s.as_str().to_owned())).collect()
    } else {
        vec![None]
    };
    let months: Vec<Option<NaiveDate>> = if dims.contains(&Dim::Month) {
        std::iter::successors(Some(req.from), |m| m.checked_add_months(Months::new(1)))
            .take_while(|m| *m <= req.to)
            .map(Some)
            .collect()
    } else {
        vec![None]
    };
    let mut keys = Vec::with_capacity(bands.len() * sexes.len() * months.len());
    for b in &bands {
        for s in &sexes {
            for m in &months {
                keys.push(Key {
                    age_band: b.clone(),
                    sex: s.clone(),
                    month: *m,
                });
            }
        }
    }
    keys
}

/// Whole months from the request's first month to its last, inclusive.
fn months_in(req: &Request) -> u32 {
    let m = |d: NaiveDate| d.year() * 12 + i32::try_from(d.month0()).unwrap_or(0);
    u32::try_from(m(req.to) - m(req.from) + 1).unwrap_or(1)
}

/// How a request is released: the noise plan, the bounds, and the contribution limits.
#[derive(Debug, Clone, PartialEq)]
pub struct PrivatePlan {
    /// The quantities and their noise.
    pub noise: Plan,
    /// The field's bounds.
    pub bounds: Bounds,
    /// In how many groups one person can be.
    pub groups_per_person: u32,
    /// The most measurements one person adds to one group's `count`.
    pub cap: i64,
}

impl PrivatePlan {
    /// The plan for a request at `epsilon`; `None` for a field without published bounds (every
    /// numeric field of the catalogue has them).
    pub fn new(req: &Request, epsilon: f64) -> Option<PrivatePlan> {
        let bounds = bounds::of(req.kind.name, req.field.name)?;
        let months = months_in(req);
        let by_month = req.group_by.contains(&Dim::Month);
        let groups = if by_month { months } else { 1 };
        let cap = CAP_PER_MONTH * i64::from(if by_month { 1 } else { months });
        let g = f64::from(groups);
        let half = bounds.half();
        let stats = &req.stats;
        let mut quantities = vec![("people", g)];
        if stats.contains(&Stat::Count) {
            #[expect(clippy::cast_precision_loss, reason = "a small cap")]
            quantities.push(("measurements", g * cap as f64));
        }
        if stats.iter().any(|s| matches!(s, Stat::Mean | Stat::Stddev)) {
            quantities.push(("sum", g * half));
        }
        if stats.contains(&Stat::Stddev) {
            quantities.push(("sum_of_squares", g * half * half / 2.0));
        }
        if stats.iter().any(|s| matches!(s, Stat::P10 | Stat::P50 | Stat::P90)) {
            quantities.push(("histogram", g));
        }
        Some(PrivatePlan {
            noise: Plan::even(epsilon, &quantities),
            bounds,
            groups_per_person: groups,
            cap,
        })
    }

    /// The noisy people count a group of an answer of `keys` groups needs to be published.
    pub fn threshold(&self, k_min: u32, keys: usize) -> f64 {
        noise::threshold(k_min, self.noise.scale("people"), keys)
    }
}

/// The exact, bounded sums of one group, before noise.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GroupSums {
    /// People.
    pub people: f64,
    /// Measurements, each person's capped.
    pub measurements: f64,
    /// Sum of the clamped person means, centred on the bounds' middle.
    pub sum: f64,
    /// Sum of their squares, each less half the bounds' squared half-width (centred too).
    pub sum_of_squares: f64,
    /// People per bucket of their mean.
    pub hist: Vec<f64>,
}

#[derive(QueryableByName, Debug)]
struct PersonRow {
    #[diesel(sql_type = Integer)]
    part: i32,
    #[diesel(sql_type = Nullable<Date>)]
    month: Option<NaiveDate>,
    #[diesel(sql_type = Integer)]
    band_lo: i32,
    #[diesel(sql_type = Text)]
    sex: String,
    #[diesel(sql_type = BigInt)]
    people: i64,
    #[diesel(sql_type = Double)]
    n: f64,
    #[diesel(sql_type = Double)]
    s: f64,
    #[diesel(sql_type = Double)]
    s2: f64,
    #[diesel(sql_type = Nullable<Integer>)]
    bucket: Option<i32>,
}

/// The statement: placeholders `$1`–`$8` as in [`query::run`]'s, then `$9`–`$10` the bounds,
/// `$11` their middle, `$12` the count cap, `$13` the squared half-width ÷ 2.
fn statement(d: Dialect, by_month: bool, percentiles: bool) -> String {
    let month = if by_month { "u.month" } else { "CAST(NULL AS DATE)" };
    let month_group = if by_month { "u.month, " } else { "" };
    let x = "(CASE WHEN p.total / p.n < $9 THEN $9 WHEN p.total / p.n > $10 THEN $10 ELSE p.total / p.n END)";
    let mut sql = format!(
        "WITH units AS ({units}), \
         persons AS ( \
           SELECT {month} AS month, u.sex AS sex, max({band}) AS band_lo, \
                  CAST(sum(u.n) AS BIGINT) AS n, CAST(sum(u.total) AS DOUBLE PRECISION) AS total \
           FROM units u GROUP BY u.user_id, {month_group}u.sex), \
         vals AS {materialized}(SELECT p.month, p.band_lo, p.sex, p.n, {x} AS x FROM persons p WHERE p.n > 0) \
         SELECT 0 AS part, v.month, v.band_lo, v.sex, CAST(count(*) AS BIGINT) AS people, \
                CAST(sum(CASE WHEN v.n > $12 THEN $12 ELSE v.n END) AS DOUBLE PRECISION) AS n, \
                CAST(sum(v.x - $11) AS DOUBLE PRECISION) AS s, \
                CAST(sum((v.x - $11) * (v.x - $11) - $13) AS DOUBLE PRECISION) AS s2, \
                CAST(NULL AS INTEGER) AS bucket \
         FROM vals v GROUP BY v.month, v.band_lo, v.sex",
        units = query::units_sql(d),
        // Read twice with percentiles (their parts), once without: inlined then.
        materialized = if percentiles { "MATERIALIZED " } else { "" },
        band = d.band_lo("u.age_band"),
    );
    if percentiles {
        let bucket = d.floor(&format!("(v.x - $9) / ($10 - $9) * {BUCKETS}"));
        sql += &format!(
            " UNION ALL \
              SELECT 1, v.month, v.band_lo, v.sex, CAST(count(*) AS BIGINT), CAST(0 AS DOUBLE PRECISION), \
                     CAST(0 AS DOUBLE PRECISION), CAST(0 AS DOUBLE PRECISION), {bucket} \
              FROM vals v GROUP BY v.month, v.band_lo, v.sex, {bucket}"
        );
    }
    sql
}

/// The exact bounded sums of every group with data: one statement over the consenting members'
/// shared rollup rows. Groups without data are absent (their sums are zero).
pub fn sums(
    conn: &mut DbConn,
    org: OrgId,
    req: &Request,
    plan: &PrivatePlan,
    now: Ts,
) -> QueryResult<HashMap<Key, GroupSums>> {
    let dims = &req.group_by;
    let percentiles = plan.noise.part("histogram").is_some();
    let sql = crate::db::numbered(
        conn,
        &statement(Dialect::of(conn), dims.contains(&Dim::Month), percentiles),
    );
    let (first_year, last_year) = query::whole_years_or_none(req);
    let b = plan.bounds;
    // The planner cannot know how many people the rollup rows hold (it guesses a few hundred), so
    // it would sort them all for the grouping by person, and size the hash table for a few hundred
    // and spill it to disk; hashing them in memory is much faster (tens of thousands of people
    // take a few MB). Parallel workers would each build their own hash of the organisation's
    // consents, which costs more than the scan they share on a small machine.
    if let DbConn::Pg(c) = conn {
        diesel::connection::SimpleConnection::batch_execute(
            c,
            "SET LOCAL enable_sort = off; SET LOCAL work_mem = '64MB'; SET LOCAL max_parallel_workers_per_gather = 0",
        )?;
    }
    let rows: Vec<PersonRow> = diesel::sql_query(sql)
        .bind::<Text, _>(req.kind.name)
        .bind::<Text, _>(req.field.name)
        .bind::<Date, _>(first_year)
        .bind::<Date, _>(last_year)
        .bind::<Date, _>(req.from)
        .bind::<Date, _>(req.to)
        .bind::<SqlUuid, _>(org)
        .bind::<SqlTs, _>(now)
        .bind::<Double, _>(b.lower)
        .bind::<Double, _>(b.upper)
        .bind::<Double, _>(b.mid())
        .bind::<BigInt, _>(plan.cap)
        .bind::<Double, _>(b.half() * b.half() / 2.0)
        .load(conn)?;
    if let DbConn::Pg(c) = conn {
        diesel::connection::SimpleConnection::batch_execute(
            c,
            "RESET enable_sort; RESET work_mem; RESET max_parallel_workers_per_gather",
        )?;
    }
    let mut out: HashMap<Key, GroupSums> = HashMap::new();
    for r in rows {
        let key = Key {
            // The label of the band's lower end (-1: no birth date).
            age_band: dims
                .contains(&Dim::AgeBand)
                .then(|| super::rollup::age_band(u32::try_from(r.band_lo).ok())),
            sex: dims.contains(&Dim::Sex).then_some(r.sex),
            month: r.month.filter(|_| dims.contains(&Dim::Month)),
        };
        let g = out.entry(key).or_default();
        #[expect(clippy::cast_precision_loss, reason = "people per group stay far below 2^52")]
        let people = r.people as f64;
        match (r.part, r.bucket) {
            (1, Some(bucket)) => {
                if g.hist.is_empty() {
                    g.hist = vec![0.0; usize::try_from(BUCKETS).unwrap_or(0)];
                }
                // A mean at the upper bound falls on the last bucket's edge.
                let i = usize::try_from(bucket.clamp(0, BUCKETS - 1)).unwrap_or(0);
                if let Some(c) = g.hist.get_mut(i) {
                    *c += people;
                }
            }
            _ => {
                g.people += people;
                g.measurements += r.n;
                g.sum += r.s;
                g.sum_of_squares += r.s2;
            }
        }
    }
    Ok(out)
}

/// Releases every key of the domain: noise on each quantity, then the publish decision and the
/// statistics from the noisy quantities only.
pub fn release(
    req: &Request,
    plan: &PrivatePlan,
    sums: &HashMap<Key, GroupSums>,
    k_min: u32,
) -> Result<Vec<AggregateGroup>, NoiseError> {
    let keys = domain(req);
    let empty = GroupSums::default();
    let of = |k: &Key| sums.get(k).unwrap_or(&empty);
    let column = |f: fn(&GroupSums) -> f64| keys.iter().map(|k| f(of(k))).collect::<Vec<f64>>();
    let p = &plan.noise;
    let people = p.noisy("people", column(|g| g.people))?.unwrap_or_default();
    let measurements = p.noisy("measurements", column(|g| g.measurements))?;
    let sum = p.noisy("sum", column(|g| g.sum))?;
    let sum_sq = p.noisy("sum_of_squares", column(|g| g.sum_of_squares))?;
    let buckets = usize::try_from(BUCKETS).unwrap_or(0);
    let hist = p.noisy(
        "histogram",
        keys.iter()
            .flat_map(|k| (0..buckets).map(move |b| of(k).hist.get(b).copied().unwrap_or(0.0)))
            .collect(),
    )?;
    let threshold = plan.threshold(k_min, keys.len());
    let b = plan.bounds;
    let groups = keys
        .iter()
        .enumerate()
        .map(|(i, key)| {
            let view_key = AggregateKey::from(key);
            let n = people.get(i).copied().unwrap_or(0.0);
            if n < threshold {
                return AggregateGroup::suppressed(view_key);
            }
            let at = |v: &Option<Vec<f64>>| v.as_ref().and_then(|v| v.get(i).copied());
            let mean = at(&sum).map(|s| b.clamp(b.mid() + s / n));
            let stddev = at(&sum).zip(at(&sum_sq)).filter(|_| n >= 2.0).map(|(s, q)| {
                // Σd² = q + n·half²/2 for the centred means d; the sample variance from the sums.
                let squares = q + n * b.half() * b.half() / 2.0;
                let var = ((squares - s * s / n) / (n - 1.0)).max(0.0);
                var.sqrt().min(b.half())
            });
            let bins = hist.as_ref().map(|h| {
                h.iter()
                    .skip(i * buckets)
                    .take(buckets)
                    .enumerate()
                    .filter(|(_, c)| **c > 0.0)
                    .map(|(b, &c)| (i32::try_from(b).unwrap_or(0), c))
                    .collect::<Vec<_>>()
            });
            let quantile = |q: f64| {
                bins.as_ref()
                    .and_then(|h| stats::quantile_weighted(h.iter().copied(), b.lower, b.upper, BUCKETS, q))
            };
            let count = at(&measurements).map(noise::to_count);
            let stats = req
                .stats
                .iter()
                .map(|&s| {
                    #[expect(clippy::cast_precision_loss, reason = "counts stay far below 2^52")]
                    let v = match s {
                        Stat::Count => count.map(|c| c as f64),
                        Stat::Mean => mean,
                        Stat::Stddev => stddev,
                        Stat::P10 => quantile(0.1),
                        Stat::P50 => quantile(0.5),
                        Stat::P90 => quantile(0.9),
                    };
                    (s.name().to_owned(), v)
                })
                .collect();
            let mut margin = std::collections::BTreeMap::new();
            margin.insert("people".to_owned(), noise::margin_95(p.scale("people")));
            if count.is_some() {
                margin.insert("count".to_owned(), noise::margin_95(p.scale("measurements")));
            }
            if mean.is_some() {
                margin.insert("mean".to_owned(), noise::margin_95(p.scale("sum")) / n);
            }
            AggregateGroup {
                key: view_key,
                people: Some(noise::to_count(n)),
                measurements: count,
                stats: Some(stats),
                margin_95: Some(margin),
                suppressed: false,
            }
        })
        .collect();
    Ok(groups)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::measurements::catalogue;

    fn request(group_by: Vec<Dim>, stats: Vec<Stat>, months: u32) -> Request {
        let kind = catalogue::find("body_weight").unwrap();
        let field = kind.numeric_fields().find(|f| f.name == "kg").unwrap();
        let from = NaiveDate::from_ymd_opt(2026, 1, 1).unwrap();
        Request {
            kind,
            field,
            from,
            to: from.checked_add_months(Months::new(months - 1)).unwrap(),
            group_by,
            stats,
        }
    }

    #[test]
    fn the_domain_is_every_band_sex_and_month_whatever_the_data() {
        assert_eq!(age_bands().len(), 14);
        assert_eq!(age_bands().first().map(String::as_str), Some("0-9"));
        assert_eq!(age_bands().last().map(String::as_str), Some("unknown"));
        let keys = domain(&request(vec![Dim::AgeBand, Dim::Sex, Dim::Month], vec![Stat::Mean], 12));
        assert_eq!(keys.len(), 14 * 4 * 12);
        assert_eq!(domain(&request(vec![], vec![Stat::Mean], 12)), vec![Key::default()]);
        let months = domain(&request(vec![Dim::Month], vec![Stat::Mean], 3));
        let firsts: Vec<u32> = months.iter().filter_map(|k| k.month).map(|m| m.month()).collect();
        assert_eq!(firsts, [1, 2, 3]);
    }

    #[test]
    fn a_person_is_in_one_group_or_one_per_month_and_sensitivities_follow() {
        let half = bounds::of("body_weight", "kg").unwrap().half();
        let year = PrivatePlan::new(&request(vec![Dim::AgeBand, Dim::Sex], vec![Stat::Mean], 12), 0.5).unwrap();
        assert_eq!(year.groups_per_person, 1);
        assert_eq!(year.noise.part("people").unwrap().sensitivity, 1.0);
        assert_eq!(year.noise.part("sum").unwrap().sensitivity, half);
        assert!(year.noise.part("measurements").is_none(), "count was not asked for");
        // Two quantities share 0.5: the mean's sum has scale half / 0.25.
        assert!((year.noise.scale("sum") - half / 0.25).abs() < 1e-9);
        let monthly = PrivatePlan::new(&request(vec![Dim::Month], vec![Stat::Count, Stat::Stddev], 12), 0.5).unwrap();
        assert_eq!(monthly.groups_per_person, 12);
        assert_eq!(monthly.noise.part("people").unwrap().sensitivity, 12.0);
        assert_eq!(monthly.noise.part("measurements").unwrap().sensitivity, 12.0 * 31.0);
        assert_eq!(
            monthly.noise.part("sum_of_squares").unwrap().sensitivity,
            12.0 * half * half / 2.0
        );
        let yearly_count = PrivatePlan::new(&request(vec![], vec![Stat::Count], 12), 0.5).unwrap();
        assert_eq!(yearly_count.cap, 12 * 31, "a year's measurements, 31 a month");
    }

    #[test]
    fn empty_groups_are_suppressed_and_full_ones_published_near_their_truth() {
        let req = request(vec![Dim::Sex], vec![Stat::Mean], 1);
        let plan = PrivatePlan::new(&req, 2.0).unwrap();
        let mut sums = HashMap::new();
        // 1,000 women averaging 60 kg (centred on the bounds' middle, 90).
        sums.insert(
            Key {
                sex: Some("female".to_owned()),
                ..Key::default()
            },
            GroupSums {
                people: 1000.0,
                sum: 1000.0 * (60.0 - 90.0),
                ..GroupSums::default()
            },
        );
        let groups = release(&req, &plan, &sums, 10).unwrap();
        assert_eq!(groups.len(), 4, "every sex is listed");
        let female = &groups[0];
        assert_eq!(female.key.sex.as_deref(), Some("female"));
        assert!(!female.suppressed);
        let mean = female.stats.as_ref().unwrap()["mean"].unwrap();
        // Laplace of scale 60 / 1 on the sum, over ~1,000 people: far inside 2 kg.
        assert!((mean - 60.0).abs() < 2.0, "{mean}");
        assert!(groups[1..].iter().all(|g| g.suppressed), "no data, never published");
    }
}
