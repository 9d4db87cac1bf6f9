//! Karada: a personal health record (PHR) backend.
//!
//! Layers, top to bottom: `http` (routes, extractors, problem+json), the domain modules
//! ([`accounts`], …) that own their rules and store functions, and [`db`].

pub mod accounts;
pub mod aggregates;
pub mod calendar;
pub mod config;
pub mod db;
pub mod demo;
pub mod error;
pub mod export;
pub mod http;
pub mod import;
pub mod insights;
pub mod measurements;
pub mod points;
pub mod privacy;
pub mod sharing;
pub mod telemetry;
pub mod usecases;
