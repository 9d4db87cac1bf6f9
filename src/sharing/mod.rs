//! Organisations and sharing: organisations and their staff, enrollment codes, memberships,
//! consents with their receipts, and the access log.
//!
//! Membership alone shares nothing. What an organisation may see is decided by the resident's
//! consents, and every store query that reads a resident's data for an organisation carries the
//! consent check in its own SQL ([`consents::covering`]), so no caller can forget it.

pub mod access_log;
pub mod consents;
pub mod erasure;
pub mod individual;
pub mod memberships;
pub mod orgs;

pub use orgs::{OrgKind, Organization, StaffRole};
