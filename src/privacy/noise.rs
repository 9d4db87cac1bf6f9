//! The Laplace mechanism (from OpenDP) and how a release's epsilon is shared between the
//! quantities it publishes.
//!
//! A release publishes a few *quantities* — people per group, a centred sum per group, bucket
//! counts, … — each a vector over every key of the request's public domain. Each quantity gets an
//! equal share of the release's epsilon and Laplace noise of scale `sensitivity / share`, where
//! the sensitivity is the most one person can change the whole vector (L1). By sequential
//! composition the release is epsilon-differentially private as a whole; everything computed
//! from the noisy quantities afterwards (means, percentiles, the publish decision) is
//! post-processing and costs nothing more.

use std::collections::BTreeMap;

use opendp::domains::{AtomDomain, VectorDomain};
use opendp::measurements::make_laplace;
use opendp::measures::MaxDivergence;
use opendp::metrics::L1Distance;

/// Why noise could not be drawn (never the client's fault: a logged 500, and never an exact
/// answer instead).
#[derive(Debug, thiserror::Error)]
#[error("differential privacy: {0}")]
pub struct NoiseError(String);

impl From<opendp::error::Error> for NoiseError {
    fn from(e: opendp::error::Error) -> Self {
        NoiseError(e.to_string())
    }
}

/// Noise is drawn exactly on a grid of `2^GRANULARITY` (about 10⁻⁹): far cheaper to sample than
/// OpenDP's default grid of the smallest subnormal float, and fine enough for any count or sum.
const GRANULARITY: i32 = -30;

/// The chance that an answer publishes any group of fewer than `k_min` people (see [`threshold`]).
pub const PUBLISH_ERROR: f64 = 0.005;

/// Adds Laplace noise of (about) `scale` to each value, through OpenDP's vector Laplace
/// mechanism, and checks that the mechanism's own privacy map agrees that a change of
/// `sensitivity` costs no more than `epsilon`. Rounding to the sampling grid can move each of
/// the `n` outputs by up to one grid step, so the scale is widened by `n · 2^GRANULARITY /
/// sensitivity` (under 10⁻⁴ for a million values) to pay for it.
pub fn laplace(values: Vec<f64>, sensitivity: f64, scale: f64, epsilon: f64) -> Result<Vec<f64>, NoiseError> {
    if values.is_empty() {
        return Ok(values);
    }
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

/// One noised quantity of a release.
#[derive(Debug, Clone, PartialEq)]
pub struct Part {
    /// Its name in answers (`people`, `sum`, …).
    pub name: &'static str,
    /// The most one person can change the whole vector (L1).
    pub sensitivity: f64,
    /// Laplace scale: sensitivity ÷ share of epsilon.
    pub scale: f64,
}

/// How a release's epsilon is shared: an equal share per quantity.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// Epsilon of the whole release.
    pub epsilon: f64,
    /// The quantities.
    pub parts: Vec<Part>,
}

impl Plan {
    /// Shares `epsilon` equally between the quantities, given each one's sensitivity.
    pub fn even(epsilon: f64, quantities: &[(&'static str, f64)]) -> Plan {
        let share = epsilon / f64::from(u32::try_from(quantities.len().max(1)).unwrap_or(u32::MAX));
        Plan {
            epsilon,
            parts: quantities
                .iter()
                .map(|&(name, sensitivity)| Part {
                    name,
                    sensitivity,
                    scale: sensitivity / share,
                })
                .collect(),
        }
    }

    /// The share of epsilon each quantity gets.
    pub fn share(&self) -> f64 {
        self.epsilon / f64::from(u32::try_from(self.parts.len().max(1)).unwrap_or(u32::MAX))
    }

    /// A quantity's part, if the plan has it.
    pub fn part(&self, name: &str) -> Option<&Part> {
        self.parts.iter().find(|p| p.name == name)
    }

    /// The Laplace scale of a quantity (0 when the plan lacks it).
    pub fn scale(&self, name: &str) -> f64 {
        self.part(name).map_or(0.0, |p| p.scale)
    }

    /// Releases one quantity: the values with noise of its planned scale. `None` when the plan
    /// does not have the quantity.
    pub fn noisy(&self, name: &str, values: Vec<f64>) -> Result<Option<Vec<f64>>, NoiseError> {
        match self.part(name) {
            Some(p) => laplace(values, p.sensitivity, p.scale, self.share()).map(Some),
            None => Ok(None),
        }
    }

    /// Every quantity's scale, by name (what answers report).
    pub fn scales(&self) -> BTreeMap<String, f64> {
        self.parts.iter().map(|p| (p.name.to_owned(), p.scale)).collect()
    }
}

/// The noisy people count a group needs to be published, in an answer of `keys` groups:
/// `k_min − 1 + b·ln(keys / (2·β))` for counts of Laplace scale `b`. A group of fewer than `k_min`
/// people clears it with probability at most `β / keys`, so that an answer publishes any such
/// group with probability at most `β` ([`PUBLISH_ERROR`]), and a group far below `k_min` almost
/// never. Deciding on the noisy count (never the true one) keeps the decision itself private.
pub fn threshold(k_min: u32, people_scale: f64, keys: usize) -> f64 {
    #[expect(clippy::cast_precision_loss, reason = "domains stay far below 2^52 keys")]
    let keys = keys.max(1) as f64;
    f64::from(k_min.saturating_sub(1)) + people_scale * (keys / (2.0 * PUBLISH_ERROR)).ln()
}

/// The half-width of a 95% interval of a Laplace variable of scale `b`: `b·ln 20`.
pub fn margin_95(scale: f64) -> f64 {
    scale * 20f64.ln()
}

/// A noisy count as a count: rounded, never negative.
pub fn to_count(x: f64) -> i64 {
    #[expect(clippy::cast_possible_truncation, reason = "rounded and bounded first")]
    let c = x.round().clamp(0.0, 1e15) as i64;
    c
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn epsilon_is_shared_equally_and_each_scale_is_sensitivity_over_its_share() {
        let p = Plan::even(0.5, &[("people", 1.0), ("sum", 60.0)]);
        assert!((p.share() - 0.25).abs() < 1e-12);
        assert!((p.scale("people") - 4.0).abs() < 1e-12);
        assert!((p.scale("sum") - 240.0).abs() < 1e-12);
        assert!(p.noisy("histogram", vec![1.0]).unwrap().is_none());
        assert_eq!(p.noisy("people", vec![3.0, 4.0]).unwrap().unwrap().len(), 2);
    }

    #[test]
    fn the_threshold_publishes_a_group_below_k_min_with_probability_under_the_error() {
        let b = 6.0;
        let t = threshold(10, b, 1);
        // P(k_min − 1 + Laplace(b) ≥ t) = ½·exp(−(t − (k_min − 1))/b).
        let p = 0.5 * (-(t - 9.0) / b).exp();
        assert!((p - PUBLISH_ERROR).abs() < 1e-12, "{p}");
        // Over an answer of 56 groups, each gets a 56th of the error.
        let t56 = threshold(10, b, 56);
        let p56 = 0.5 * (-(t56 - 9.0) / b).exp();
        assert!((p56 * 56.0 - PUBLISH_ERROR).abs() < 1e-12, "{p56}");
        // Empirically, over many draws of a group of 9 people.
        let draws = laplace(vec![9.0; 20_000], 1.0, b, 1.0 / b).unwrap();
        let published = draws.iter().filter(|&&x| x >= t).count();
        assert!(published < 20_000 / 100, "{published} of 20,000 published");
    }

    #[test]
    fn noisy_counts_are_rounded_and_never_negative() {
        assert_eq!(to_count(-3.2), 0);
        assert_eq!(to_count(7.6), 8);
        assert!((margin_95(1.0) - 2.995_732).abs() < 1e-6);
    }
}
