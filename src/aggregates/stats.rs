//! Pure statistics over combined cells: mean, standard deviation, and percentiles read from
//! bucket counts.

use std::collections::BTreeMap;

use super::rollup::BUCKETS;

/// Sums of a set of values.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Sums {
    /// How many values.
    pub n: i64,
    /// Their sum.
    pub total: f64,
    /// Their sum of squares.
    pub total_sq: f64,
}

impl Sums {
    /// Adds another set.
    pub fn add(&mut self, o: &Sums) {
        self.n += o.n;
        self.total += o.total;
        self.total_sq += o.total_sq;
    }

    /// The mean; `None` for no values.
    pub fn mean(&self) -> Option<f64> {
        #[expect(clippy::cast_precision_loss, reason = "counts stay far below 2^52")]
        (self.n > 0).then(|| self.total / self.n as f64)
    }

    /// The sample standard deviation; `None` for fewer than two values.
    pub fn stddev(&self) -> Option<f64> {
        if self.n < 2 {
            return None;
        }
        #[expect(clippy::cast_precision_loss, reason = "counts stay far below 2^52")]
        let n = self.n as f64;
        let mean = self.total / n;
        // Rounding can make the difference slightly negative for equal values.
        let var = ((self.total_sq - n * mean * mean) / (n - 1.0)).max(0.0);
        Some(var.sqrt())
    }
}

/// The `q`-quantile (0–1) of values counted in buckets of `[lo, hi]`: the bucket holding the
/// value of rank `q·(n−1)` (0-based), interpolated linearly within it. The true quantile lies in
/// the same bucket, so the error is at most one bucket width, `(hi − lo) / BUCKETS`.
pub fn quantile(hist: &BTreeMap<i32, i64>, lo: f64, hi: f64, q: f64) -> Option<f64> {
    #[expect(clippy::cast_precision_loss, reason = "counts stay far below 2^52")]
    let weights = hist.iter().map(|(&b, &c)| (b, c as f64));
    quantile_weighted(weights, lo, hi, BUCKETS, q)
}

/// [`quantile`] over `buckets` weighted buckets of `[lo, hi]` (`(bucket, weight)` in bucket order,
/// weights positive): the weights of a noisy histogram need not be whole.
pub fn quantile_weighted(
    hist: impl Iterator<Item = (i32, f64)> + Clone,
    lo: f64,
    hi: f64,
    buckets: i32,
    q: f64,
) -> Option<f64> {
    let n: f64 = hist.clone().map(|(_, c)| c).sum();
    if n <= 0.0 {
        return None;
    }
    let width = (hi - lo) / f64::from(buckets);
    // With whole counts this is the rank of a value; with weights below one in all, the first
    // bucket's.
    let rank = q * (n - 1.0).max(0.0);
    let mut before = 0.0;
    let mut last = None;
    for (b, c) in hist {
        if rank < before + c {
            let within = ((rank - before) + 0.5) / c;
            return Some(lo + width * (f64::from(b) + within.clamp(0.0, 1.0)));
        }
        before += c;
        last = Some(b);
    }
    last.map(|b| lo + width * f64::from(b + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mean_and_sample_stddev_match_the_textbook() {
        let mut s = Sums::default();
        for v in [2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0] {
            s.add(&Sums {
                n: 1,
                total: v,
                total_sq: v * v,
            });
        }
        assert_eq!(s.mean(), Some(5.0));
        let sd = s.stddev().unwrap();
        assert!((sd - 2.138_089_935).abs() < 1e-6, "{sd}");
        assert_eq!(Sums::default().mean(), None);
        assert_eq!(
            Sums {
                n: 1,
                total: 3.0,
                total_sq: 9.0
            }
            .stddev(),
            None
        );
    }

    #[test]
    fn quantiles_fall_within_one_bucket_of_the_truth() {
        // 1,000 values spread over 0..100,000: the true p-quantiles are known.
        let (lo, hi) = (0.0, 100_000.0);
        let values: Vec<f64> = (0..1000).map(|i| f64::from(i) * 73.3 + 11.0).collect();
        let mut hist = BTreeMap::new();
        for v in &values {
            *hist.entry(super::super::rollup::bucket_of(lo, hi, *v)).or_insert(0) += 1;
        }
        let width = (hi - lo) / f64::from(BUCKETS);
        for q in [0.1, 0.5, 0.9] {
            let idx = (q * 999.0_f64).round() as usize;
            let truth = values[idx];
            let est = quantile(&hist, lo, hi, q).unwrap();
            assert!((est - truth).abs() <= width, "q={q}: {est} vs {truth}");
        }
        assert_eq!(quantile(&BTreeMap::new(), lo, hi, 0.5), None);
    }
}
