//! Integration tests through HTTP, each on both backends with its own database.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

mod accounts;
mod aggregates;
mod cli;
mod erasure;
mod errors;
mod events;
mod export;
mod import;
mod insights;
mod lotteries;
mod measurements;
mod operations;
mod points;
mod points_kinds;
mod points_properties;
mod points_timezones;
mod schema;
mod sharing;
mod tokens;
