//! Aggregates: statistics over the consenting members of an organisation, from the per-resident
//! monthly [`rollup`], only ever of the data their consents share (the types covered, from each
//! consent's first day).
//!
//! Two ways to answer, chosen by the organisation's privacy policy (see `crate::privacy`):
//!
//! * [`private`] (the default): user-level differential privacy — each person one bounded unit,
//!   Laplace noise on every key of the grouping's public domain, groups published on their noisy
//!   people count.
//! * [`query`] (`exact` mode): k-anonymous answers built from atomic cells — calendar month ×
//!   10-year age band × sex. A cell with fewer than `k_min` distinct people is dropped before
//!   anything is combined, so every published figure is a combination of cells that each hold at
//!   least `k_min` people, and no difference of two answers can isolate a suppressed cell.
//!
//! Date ranges are widened to whole months in both: a partial month would be a cell of its own.

pub mod answer;
pub mod audit;
pub mod private;
pub mod program;
pub mod query;
pub mod request;
pub mod rollup;
pub mod stats;

use chrono::{Months, NaiveDate};

use crate::error::FieldError;

/// Longest period one aggregate or programme-statistics query may cover, in months.
pub const MAX_MONTHS: u32 = 120;

/// The whole calendar months a requested period covers: the first days of `from`'s and `to`'s
/// months. A partial month would be a cell of its own, so periods are always widened.
pub fn whole_months(from: NaiveDate, to: NaiveDate) -> Result<(NaiveDate, NaiveDate), FieldError> {
    if from > to {
        return Err(FieldError::new("to", "must not be before from"));
    }
    let (first, last) = (rollup::month_of(from), rollup::month_of(to));
    if first
        .checked_add_months(Months::new(MAX_MONTHS))
        .is_none_or(|limit| last >= limit)
    {
        return Err(FieldError::new(
            "to",
            format!("the period may cover at most {MAX_MONTHS} months"),
        ));
    }
    Ok((first, last))
}
