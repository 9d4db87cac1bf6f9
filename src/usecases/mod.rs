//! Use cases: what a request asks the service to do, as one unit of work above the domains.
//!
//! A use case owns its transaction: it opens it, calls the domain modules in turn (each of which
//! owns its tables, rules and queries and knows nothing of the others' workflows), and commits.
//! HTTP handlers parse, authorise, make one call here and render the result; domains never call
//! back up into this layer.

pub mod erasure;
pub mod profile;
pub mod programme;
pub mod release;
pub mod sharing;
pub mod upload;
