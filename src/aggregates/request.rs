//! What an aggregate asks for and what it answers before any noise: the checked request (type,
//! field, period, grouping, statistics), the groups' keys and sums, and the statistics computed
//! from them. Both ways of answering (`query` and `private`) speak these types.

use std::collections::BTreeMap;

use chrono::NaiveDate;

use super::rollup;
use super::stats::{self, Sums};
use crate::measurements::catalogue::{FieldDef, TypeDef};

/// A dimension answers can be grouped by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Dim {
    /// 10-year age band on the measurement's day.
    AgeBand,
    /// Sex.
    Sex,
    /// Calendar month.
    Month,
}

/// A statistic answers can carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Stat {
    /// Number of measurements.
    Count,
    /// Mean value.
    Mean,
    /// Sample standard deviation.
    Stddev,
    /// 10th percentile.
    P10,
    /// Median.
    P50,
    /// 90th percentile.
    P90,
}

impl Stat {
    /// Its name in requests and answers.
    pub fn name(self) -> &'static str {
        match self {
            Stat::Count => "count",
            Stat::Mean => "mean",
            Stat::Stddev => "stddev",
            Stat::P10 => "p10",
            Stat::P50 => "p50",
            Stat::P90 => "p90",
        }
    }
}

/// A checked aggregate request.
#[derive(Debug, Clone)]
pub struct Request {
    /// Measurement type.
    pub kind: &'static TypeDef,
    /// Numeric field of it.
    pub field: &'static FieldDef,
    /// First month covered (its first day).
    pub from: NaiveDate,
    /// Last month covered (its first day).
    pub to: NaiveDate,
    /// Grouping (no repeats).
    pub group_by: Vec<Dim>,
    /// Statistics wanted (no repeats).
    pub stats: Vec<Stat>,
}

/// A group's key: the values of the grouped dimensions.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Key {
    /// Age band, when grouped by it.
    pub age_band: Option<String>,
    /// Sex, when grouped by it.
    pub sex: Option<String>,
    /// Month (first day), when grouped by it.
    pub month: Option<NaiveDate>,
}

/// One published group.
#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    /// Distinct people behind it.
    pub people: i64,
    /// Sums of the values (of publishable cells only).
    pub sums: Sums,
    /// Bucket counts (only when percentiles were asked for).
    pub hist: BTreeMap<i32, i64>,
}

/// The answer before statistics: each group published, or suppressed.
#[derive(Debug, Clone, Default)]
pub struct Answer {
    /// Every group with any data, in key order; `None` when no cell of it could be published.
    pub groups: Vec<(Key, Option<Group>)>,
}

/// A statistic of a published group, before any noise.
pub fn statistic(req: &Request, g: &Group, stat: Stat) -> Option<f64> {
    let (lo, hi) = rollup::range(req.field)?;
    #[expect(clippy::cast_precision_loss, reason = "counts stay far below 2^52")]
    match stat {
        Stat::Count => Some(g.sums.n as f64),
        Stat::Mean => g.sums.mean(),
        Stat::Stddev => g.sums.stddev(),
        Stat::P10 => stats::quantile(&g.hist, lo, hi, 0.1),
        Stat::P50 => stats::quantile(&g.hist, lo, hi, 0.5),
        Stat::P90 => stats::quantile(&g.hist, lo, hi, 0.9),
    }
}
