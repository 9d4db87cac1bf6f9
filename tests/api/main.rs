//! Integration tests through HTTP, each on both backends with its own database.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

mod accounts;
mod aggregates;
mod apps;
mod cli;
mod denial_of_service;
mod erasure;
mod errors;
mod events;
mod export;
mod import;
mod insights;
mod lotteries;
mod measurements;
mod minting;
mod operations;
mod points;
mod points_kinds;
mod points_properties;
mod points_timezones;
mod privacy;
mod schema;
mod security;
mod sharing;
mod text_fuzz;
mod tokens;
