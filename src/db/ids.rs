//! One id type per entity, so that a store function such as
//! `measurements::find(conn, user, id)` cannot be called with its arguments swapped, and a
//! membership id is never looked up as a consent.
//!
//! Every id is a UUID stored in an [`SqlUuid`] column; this module is the one place that maps
//! them to the database (by way of [`Id`]'s mapping), to JSON (a bare UUID string) and to text.
//! The SQL columns themselves are not typed per entity: a query that compares a column with the
//! wrong kind of id still compiles, so the types guard the signatures above the queries.
//!
//! Arguments swapped are a compile error:
//!
//! ```compile_fail,E0308
//! use karada::db::{DbConn, MeasurementId, UserId};
//! fn find(conn: &mut DbConn, user: UserId, id: MeasurementId) {
//!     karada::measurements::find(conn, id, user);
//! }
//! ```
//!
//! while the right order compiles:
//!
//! ```
//! use karada::db::{DbConn, MeasurementId, UserId};
//! fn find(conn: &mut DbConn, user: UserId, id: MeasurementId) {
//!     let _ = karada::measurements::find(conn, user, id);
//! }
//! ```

use diesel::backend::Backend;
use diesel::deserialize::{self, FromSql, FromSqlRow};
use diesel::expression::AsExpression;
use diesel::pg::Pg;
use diesel::serialize::{self, IsNull, Output, ToSql};
use diesel::sqlite::Sqlite;
use serde::{Deserialize, Serialize};

use super::MultiBackend;
use super::types::{Id, SqlUuid};

/// Declares id newtypes over a UUID with their database, JSON and text mappings.
macro_rules! entity_ids {
    ($($(#[$doc:meta])* $name:ident;)*) => {$(
        $(#[$doc])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, AsExpression, FromSqlRow, Serialize,
            Deserialize,
        )]
        #[diesel(sql_type = SqlUuid)]
        #[serde(transparent)]
        pub struct $name(pub uuid::Uuid);

        impl $name {
            /// A new time-ordered id (UUIDv7, so that indexes stay append-mostly).
            pub fn new() -> Self {
                Self(Id::new().0)
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }

        impl From<uuid::Uuid> for $name {
            fn from(u: uuid::Uuid) -> Self {
                Self(u)
            }
        }

        impl From<$name> for uuid::Uuid {
            fn from(id: $name) -> Self {
                id.0
            }
        }

        impl std::str::FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                s.parse().map(Self)
            }
        }

        impl FromSql<SqlUuid, Pg> for $name {
            fn from_sql(bytes: <Pg as Backend>::RawValue<'_>) -> deserialize::Result<Self> {
                <Id as FromSql<SqlUuid, Pg>>::from_sql(bytes).map(|id| Self(id.0))
            }
        }
        impl ToSql<SqlUuid, Pg> for $name {
            fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Pg>) -> serialize::Result {
                <uuid::Uuid as ToSql<diesel::sql_types::Uuid, Pg>>::to_sql(&self.0, out)
            }
        }
        impl FromSql<SqlUuid, Sqlite> for $name {
            fn from_sql(bytes: <Sqlite as Backend>::RawValue<'_>) -> deserialize::Result<Self> {
                <Id as FromSql<SqlUuid, Sqlite>>::from_sql(bytes).map(|id| Self(id.0))
            }
        }
        impl ToSql<SqlUuid, Sqlite> for $name {
            fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Sqlite>) -> serialize::Result {
                out.set_value(self.0.as_bytes().as_slice());
                Ok(IsNull::No)
            }
        }
        impl FromSql<SqlUuid, MultiBackend> for $name {
            fn from_sql(bytes: <MultiBackend as Backend>::RawValue<'_>) -> deserialize::Result<Self> {
                bytes.from_sql::<Self, SqlUuid>()
            }
        }
        impl ToSql<SqlUuid, MultiBackend> for $name {
            fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, MultiBackend>) -> serialize::Result {
                out.set_value((SqlUuid, self));
                Ok(IsNull::No)
            }
        }
    )*};
}

entity_ids! {
    /// A resident's, staff member's or operator's account.
    UserId;
    /// A stored measurement.
    MeasurementId;
    /// An employer or health insurance association.
    OrgId;
    /// A resident's consent to one organisation.
    ConsentId;
    /// A resident's membership of one organisation.
    MembershipId;
    /// An organisation's enrollment code (its row; the code itself is a secret).
    EnrollmentCodeId;
    /// A login session, ended by logout, a password change or refresh-token reuse.
    SessionId;
    /// One refresh token of a session; each use replaces it with the next.
    RefreshTokenId;
    /// A long-lived token of an app or device.
    AppTokenId;
    /// An app registered by an operator, which pairing codes may name.
    AppId;
    /// A one-time code that pairs an app or device with an account.
    PairingCodeId;
    /// A reward rule of a points programme.
    RuleId;
    /// One entry of the append-only points ledger.
    LedgerEntryId;
    /// A lottery residents spend points on.
    LotteryId;
    /// A resident's entry (of one or more tickets) in a lottery.
    LotteryEntryId;
    /// An event residents check in to for points.
    EventId;
    /// One released statistic under differential privacy.
    ReleaseId;
    /// One recorded change of an organisation's privacy policy.
    PolicyChangeId;
    /// One recorded aggregate query.
    AggregateQueryId;
    /// One recorded individual read of a resident's data by health staff.
    AccessId;
    /// The receipt a resident is given for a consent (its public reference).
    ReceiptId;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_is_a_bare_uuid_in_json_and_text() {
        let id = UserId(uuid::Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0001));
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(json, "\"01900000-0000-7000-8000-000000000001\"");
        assert_eq!(serde_json::from_str::<UserId>(&json).unwrap(), id);
        assert_eq!(id.to_string().parse::<UserId>().unwrap(), id);
        assert!("not-a-uuid".parse::<OrgId>().is_err());
    }

    #[test]
    fn new_ids_are_time_ordered() {
        let a = MeasurementId::new();
        let b = MeasurementId::new();
        assert!(a < b, "ids made by one process sort by creation");
        assert_eq!(a.0.get_version_num(), 7);
    }
}
