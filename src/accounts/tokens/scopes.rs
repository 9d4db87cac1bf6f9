//! What a token may do and how its data was captured: [`Scope`] and [`Modality`], with their stored
//! and written forms.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::FieldError;

/// What a credential allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
pub enum Scope {
    /// Manage the account, its tokens and its consents. Only a login session has it.
    #[serde(rename = "account")]
    Account,
    /// Read measurements.
    #[serde(rename = "measurements:read")]
    MeasurementsRead,
    /// Write measurements.
    #[serde(rename = "measurements:write")]
    MeasurementsWrite,
    /// Read points balances and ledgers.
    #[serde(rename = "points:read")]
    PointsRead,
}

impl Scope {
    /// Every scope a login session carries.
    pub const SESSION: [Scope; 4] = [
        Scope::Account,
        Scope::MeasurementsRead,
        Scope::MeasurementsWrite,
        Scope::PointsRead,
    ];

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Account => "account",
            Scope::MeasurementsRead => "measurements:read",
            Scope::MeasurementsWrite => "measurements:write",
            Scope::PointsRead => "points:read",
        }
    }

    /// Parses a wire name.
    pub fn parse(s: &str) -> Option<Self> {
        Scope::SESSION.into_iter().find(|sc| sc.as_str() == s)
    }

    /// Whether an app token may be granted this scope.
    pub fn grantable_to_apps(self) -> bool {
        self != Scope::Account
    }
}

/// Parses a space-separated stored scope list, ignoring names this version does not know.
pub fn parse_scopes(stored: &str) -> Vec<Scope> {
    stored.split_whitespace().filter_map(Scope::parse).collect()
}

/// The scopes an app may be given from a request's list of names, without repeats; each name that
/// is not one of them is an error at its index (`scopes[2]`), and an empty list is an error too.
pub fn app_scopes(requested: &[String], errors: &mut Vec<FieldError>) -> Vec<Scope> {
    let mut scopes = Vec::new();
    for (i, s) in requested.iter().enumerate() {
        match Scope::parse(s).filter(|s| s.grantable_to_apps()) {
            Some(scope) if !scopes.contains(&scope) => scopes.push(scope),
            Some(_) => {}
            None => errors.push(FieldError::new(
                format!("scopes[{i}]"),
                "must be one of measurements:write, measurements:read, points:read",
            )),
        }
    }
    if requested.is_empty() {
        errors.push(FieldError::new("scopes", "must name at least one scope"));
    }
    scopes
}

/// Formats scopes for storage.
pub fn format_scopes(scopes: &[Scope]) -> String {
    scopes.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(" ")
}

/// How the data sent with a credential was obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Modality {
    /// Measured by a device or kiosk.
    Sensed,
    /// Typed in by a person.
    SelfReported,
}

impl Modality {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Modality::Sensed => "sensed",
            Modality::SelfReported => "self_reported",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "sensed" => Some(Modality::Sensed),
            "self_reported" => Some(Modality::SelfReported),
            _ => None,
        }
    }

    /// Reads a stored name; an unknown one reads as the weaker `self_reported`, so that data of an
    /// unknown modality never earns what only sensed data may.
    pub fn from_stored(s: &str) -> Self {
        Modality::parse(s).unwrap_or(Modality::SelfReported)
    }
}
