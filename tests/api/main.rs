//! Integration tests through HTTP, each on both backends with its own database.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

mod accounts;
mod cli;
mod errors;
mod measurements;
mod operations;
mod points;
mod points_properties;
mod schema;
mod tokens;
