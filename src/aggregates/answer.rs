//! What an organisation receives: the answer to an aggregate or programme-statistics request, in
//! the shape that is released, stored (a differentially private release is answered again from
//! its stored copy) and sent.

use std::collections::BTreeMap;

use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::query::Key;
use crate::privacy::ReleaseInfo;

/// A group's key: the grouped dimensions only.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
pub struct AggregateKey {
    /// 10-year age band (`40-49`, or `unknown`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub age_band: Option<String>,
    /// Sex.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sex: Option<String>,
    /// Month, `YYYY-MM`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub month: Option<String>,
}

impl From<&Key> for AggregateKey {
    fn from(k: &Key) -> Self {
        AggregateKey {
            age_band: k.age_band.clone(),
            sex: k.sex.clone(),
            month: k.month.map(|m| format!("{:04}-{:02}", m.year(), m.month())),
        }
    }
}

/// One group: published (`people`, `stats`, and `measurements` where known) or `suppressed`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AggregateGroup {
    /// The group.
    pub key: AggregateKey,
    /// People behind the figures (in differential-privacy mode a noisy count).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub people: Option<i64>,
    /// Measurements behind them (in differential-privacy mode only when `count` is asked for,
    /// and then noisy).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub measurements: Option<i64>,
    /// The requested statistics (null where undefined, e.g. a stddev of one value).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stats: Option<BTreeMap<String, Option<f64>>>,
    /// Differential privacy: half the width of a 95% interval around `people`, `count` and
    /// `mean` (the noise alone; sampling is not counted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub margin_95: Option<BTreeMap<String, f64>>,
    /// Present and true when the group is withheld: no cell of it had `k_min` people (exact
    /// mode), or its noisy people count fell short of the threshold (differential privacy).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub suppressed: bool,
}

impl AggregateGroup {
    /// A withheld group.
    pub fn suppressed(key: AggregateKey) -> Self {
        AggregateGroup {
            key,
            people: None,
            measurements: None,
            stats: None,
            margin_95: None,
            suppressed: true,
        }
    }
}

/// An aggregate answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AggregateAnswer {
    /// The smallest number of people a published group may describe.
    pub k_min: u32,
    /// First day covered (the first of `from`'s month).
    pub from: NaiveDate,
    /// Last day covered (the last of `to`'s month).
    pub to: NaiveDate,
    /// Differential privacy: every key of the requested grouping's domain (every age band the
    /// service defines, every sex, every month of the period), published or suppressed. Exact
    /// mode: the groups with any consenting data, in key order.
    pub groups: Vec<AggregateGroup>,
    /// How the answer was released.
    pub privacy: ReleaseInfo,
}

/// A programme figure: its value, or `suppressed: true`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Figure {
    /// The value (null when suppressed).
    pub value: Option<f64>,
    /// Whether it is withheld (too few people behind it).
    pub suppressed: bool,
    /// Differential privacy: half the width of a 95% interval around the value (the noise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub margin_95: Option<f64>,
}

impl Figure {
    /// A published exact figure.
    pub fn exact(value: f64) -> Self {
        Figure {
            value: Some(value),
            suppressed: false,
            margin_95: None,
        }
    }

    /// A withheld figure.
    pub fn withheld() -> Self {
        Figure {
            value: None,
            suppressed: true,
            margin_95: None,
        }
    }
}

/// Programme statistics.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ProgramStatsAnswer {
    /// The smallest number of people a published figure may describe.
    pub k_min: u32,
    /// First day covered.
    pub from: NaiveDate,
    /// Last day covered.
    pub to: NaiveDate,
    /// Current members.
    pub members: Figure,
    /// Current members with a consent in force.
    pub consenting: Figure,
    /// Consenting members who measured a consented type in the period (from the first day their
    /// consent shares).
    pub active_residents: Figure,
    /// Mean daily steps of members consenting to `steps` (differential privacy: the mean of each
    /// person's own mean).
    pub mean_daily_steps: Figure,
    /// Points earned in the period by members whose consent includes points.
    pub points_earned: Figure,
    /// How the answer was released.
    pub privacy: ReleaseInfo,
}
