//! Health points: programmes, their rules, the append-only ledger and balances.
//!
//! Awards are made in the same transaction as the measurement write that earns them
//! ([`award_for`]). Each award has a key that is unique per resident and programme in the
//! database, so retries, re-uploads, replays and concurrent requests can never pay it twice; the
//! resident's balance row is locked while awarding, so per-programme daily caps hold under
//! concurrency too.
//!
//! - `programmes`: programmes, who may earn in them ([`Eligibility`]), and their store.
//! - [`rules`]: reward rules as operators define them, and their checks; `rule_store` keeps them.
//! - [`evaluation`]: what a measurement earns under the rules; [`timing`]: whether a rule may pay
//!   for a day, as the upload's time decides. Both pure.
//! - `award`: awarding uploads and the week's goals; `payout`: paying the candidates under their
//!   keys and the daily caps.
//! - `ledger`: entries, balances and standings as residents read them; `posting`: writing entries
//!   and moving balances; `bulk`: PostgreSQL's fast path for those writes.
//! - [`lotteries`] and [`events`]: spending points, and points for checking in.
//! - [`erasure`]: what an account's erasure deletes here.

mod award;
mod bulk;
pub mod erasure;
pub mod evaluation;
pub mod events;
mod ledger;
pub mod lotteries;
mod payout;
mod posting;
mod programmes;
mod rule_store;
pub mod rules;
pub mod timing;

pub use award::{Earner, award_for, award_week_goals};
pub use evaluation::{Candidate, Claim, Fact};
pub use ledger::{LedgerEntry, Standing, balance, ledger, standings};
pub use posting::spend;
pub use programmes::{
    Eligibility, Programme, age_today, create_programme, eligible_programme_ids, eligible_programmes, find_programme,
    programme_ids, programmes, update_programme, validate_programme,
};
pub use rule_store::{Replaced, active_rules, create_rule, find_rule, replace_rule, retire_rule};
pub use rules::{Rule, RuleKind};
