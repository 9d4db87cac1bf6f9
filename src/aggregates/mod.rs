//! Aggregates: k-anonymous statistics over the consenting members of an organisation.
//!
//! Answers are built from atomic cells — calendar month × 10-year age band × sex — summed from the
//! per-resident monthly [`rollup`]. A cell with fewer than `k_min` distinct people is dropped
//! before anything is combined, so every published figure is a combination of cells that each
//! hold at least `k_min` people, and no difference of two answers can isolate a suppressed cell.
//! Date ranges are widened to whole months for the same reason: a partial month would be a cell
//! of its own.

pub mod audit;
pub mod program;
pub mod query;
pub mod rollup;
pub mod stats;
