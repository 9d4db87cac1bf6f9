//! Column types that are native on both backends.
//!
//! PostgreSQL stores ids as `uuid` and instants as `timestamptz`; SQLite stores ids as 16-byte blobs
//! and instants as diesel's UTC text format (which sorts correctly). The generated `MultiBackend`
//! carries each marker type by delegating to the backend that runs the query.

use chrono::{DateTime, SubsecRound, Utc};
use diesel::backend::Backend;
use diesel::deserialize::{self, FromSql, FromSqlRow};
use diesel::expression::AsExpression;
use diesel::pg::Pg;
use diesel::serialize::{self, IsNull, Output, ToSql};
use diesel::sql_types::{HasSqlType, SqlType};
use diesel::sqlite::Sqlite;
use serde::{Deserialize, Serialize};

use super::MultiBackend;

/// SQL type of an id column: `uuid` on PostgreSQL, a 16-byte `BLOB` on SQLite.
#[derive(Debug, Clone, Copy, Default, SqlType, diesel::query_builder::QueryId)]
#[diesel(postgres_type(oid = 2950, array_oid = 2951))]
#[diesel(sqlite_type(name = "Binary"))]
pub struct SqlUuid;

/// SQL type of an instant: `timestamptz` on PostgreSQL, UTC text on SQLite.
#[derive(Debug, Clone, Copy, Default, SqlType, diesel::query_builder::QueryId)]
#[diesel(postgres_type(oid = 1184, array_oid = 1185))]
#[diesel(sqlite_type(name = "Text"))]
pub struct SqlTs;

/// A UUID column value not tied to an entity: the database mapping that every typed id of
/// [`super::ids`] delegates to. Code above `db` names its ids by entity (`UserId`, `OrgId`, …).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, AsExpression, FromSqlRow, Serialize, Deserialize,
)]
#[diesel(sql_type = SqlUuid)]
#[serde(transparent)]
pub struct Id(pub uuid::Uuid);

impl Id {
    /// A new time-ordered id.
    pub fn new() -> Self {
        Id(uuid::Uuid::now_v7())
    }
}

impl Default for Id {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Display for Id {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl From<uuid::Uuid> for Id {
    fn from(u: uuid::Uuid) -> Self {
        Id(u)
    }
}

impl From<Id> for uuid::Uuid {
    fn from(id: Id) -> Self {
        id.0
    }
}

/// An instant in UTC, truncated to microseconds so that it round-trips through PostgreSQL unchanged.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, AsExpression, FromSqlRow, Serialize, Deserialize,
)]
#[diesel(sql_type = SqlTs)]
#[serde(transparent)]
pub struct Ts(pub DateTime<Utc>);

impl Ts {
    /// The current instant, at microsecond precision.
    pub fn now() -> Self {
        Ts(Utc::now().trunc_subsecs(6))
    }

    /// This instant plus a duration.
    pub fn plus(self, d: chrono::Duration) -> Self {
        Ts((self.0 + d).trunc_subsecs(6))
    }
}

impl From<DateTime<Utc>> for Ts {
    fn from(t: DateTime<Utc>) -> Self {
        Ts(t.trunc_subsecs(6))
    }
}

/// The `MultiBackend` plumbing for a marker type and its newtype: the generated backend looks the
/// type up, and reading or writing a value defers to the impls for the backend that runs the query.
macro_rules! multi_backend_plumbing {
    ($marker:ident, $newtype:ident) => {
        impl HasSqlType<$marker> for MultiBackend {
            fn metadata(lookup: &mut Self::MetadataLookup) -> Self::TypeMetadata {
                MultiBackend::lookup_sql_type::<$marker>(lookup)
            }
        }
        impl FromSql<$marker, MultiBackend> for $newtype {
            fn from_sql(bytes: <MultiBackend as Backend>::RawValue<'_>) -> deserialize::Result<Self> {
                bytes.from_sql::<$newtype, $marker>()
            }
        }
        impl ToSql<$marker, MultiBackend> for $newtype {
            fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, MultiBackend>) -> serialize::Result {
                out.set_value(($marker, self));
                Ok(IsNull::No)
            }
        }
    };
}

/// Maps an enum stored as text (its `as_str` and `parse`) to a `Text` column on both backends, so
/// rows carry the enum and no code compares stored strings. The enum derives `AsExpression` and
/// `FromSqlRow` with `#[diesel(sql_type = Text)]`; a stored name it does not know is an error.
macro_rules! text_enum_column {
    ($ty:ty) => {
        const _: () = {
            use diesel::deserialize::{FromSql, Result as ReadResult};
            use diesel::pg::Pg;
            use diesel::serialize::{Output, Result as WriteResult, ToSql};
            use diesel::sql_types::Text;
            use diesel::sqlite::Sqlite;

            use $crate::db::MultiBackend;

            type Raw<'a> = <MultiBackend as diesel::backend::Backend>::RawValue<'a>;

            impl FromSql<Text, MultiBackend> for $ty {
                fn from_sql(bytes: Raw<'_>) -> ReadResult<Self> {
                    let s = <String as FromSql<Text, MultiBackend>>::from_sql(bytes)?;
                    <$ty>::parse(&s).ok_or_else(|| format!("unknown {} {s:?}", stringify!($ty)).into())
                }
            }
            impl ToSql<Text, MultiBackend> for $ty {
                fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, MultiBackend>) -> WriteResult {
                    <str as ToSql<Text, MultiBackend>>::to_sql(self.as_str(), out)
                }
            }
            impl ToSql<Text, Pg> for $ty {
                fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Pg>) -> WriteResult {
                    <str as ToSql<Text, Pg>>::to_sql(self.as_str(), out)
                }
            }
            impl ToSql<Text, Sqlite> for $ty {
                fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Sqlite>) -> WriteResult {
                    <str as ToSql<Text, Sqlite>>::to_sql(self.as_str(), out)
                }
            }
        };
    };
}
pub(crate) use text_enum_column;

multi_backend_plumbing!(SqlTs, Ts);
multi_backend_plumbing!(SqlUuid, Id);
multi_backend_plumbing!(SqlJson, Json);

impl FromSql<SqlTs, Pg> for Ts {
    fn from_sql(bytes: <Pg as Backend>::RawValue<'_>) -> deserialize::Result<Self> {
        <DateTime<Utc> as FromSql<diesel::sql_types::Timestamptz, Pg>>::from_sql(bytes).map(Into::into)
    }
}
impl ToSql<SqlTs, Pg> for Ts {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Pg>) -> serialize::Result {
        <DateTime<Utc> as ToSql<diesel::sql_types::Timestamptz, Pg>>::to_sql(&self.0, out)
    }
}
impl FromSql<SqlTs, Sqlite> for Ts {
    fn from_sql(bytes: <Sqlite as Backend>::RawValue<'_>) -> deserialize::Result<Self> {
        <DateTime<Utc> as FromSql<diesel::sql_types::TimestamptzSqlite, Sqlite>>::from_sql(bytes).map(Into::into)
    }
}
impl ToSql<SqlTs, Sqlite> for Ts {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Sqlite>) -> serialize::Result {
        <DateTime<Utc> as ToSql<diesel::sql_types::TimestamptzSqlite, Sqlite>>::to_sql(&self.0, out)
    }
}

// Uuid on SQLite: diesel has no Uuid type there, so the id travels as its 16 raw bytes.
impl FromSql<SqlUuid, Pg> for Id {
    fn from_sql(bytes: <Pg as Backend>::RawValue<'_>) -> deserialize::Result<Self> {
        <uuid::Uuid as FromSql<diesel::sql_types::Uuid, Pg>>::from_sql(bytes).map(Id)
    }
}
impl ToSql<SqlUuid, Pg> for Id {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Pg>) -> serialize::Result {
        <uuid::Uuid as ToSql<diesel::sql_types::Uuid, Pg>>::to_sql(&self.0, out)
    }
}
impl FromSql<SqlUuid, Sqlite> for Id {
    fn from_sql(bytes: <Sqlite as Backend>::RawValue<'_>) -> deserialize::Result<Self> {
        let raw = <Vec<u8> as FromSql<diesel::sql_types::Binary, Sqlite>>::from_sql(bytes)?;
        Ok(Id(uuid::Uuid::from_slice(&raw)?))
    }
}
impl ToSql<SqlUuid, Sqlite> for Id {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Sqlite>) -> serialize::Result {
        out.set_value(self.0.as_bytes().as_slice());
        Ok(IsNull::No)
    }
}

/// SQL type of a JSON document: `jsonb` on PostgreSQL, text on SQLite.
#[derive(Debug, Clone, Copy, Default, SqlType, diesel::query_builder::QueryId)]
#[diesel(postgres_type(oid = 3802, array_oid = 3807))]
#[diesel(sqlite_type(name = "Text"))]
pub struct SqlJson;

/// A JSON document column.
#[derive(Debug, Clone, PartialEq, AsExpression, FromSqlRow, Serialize, Deserialize)]
#[diesel(sql_type = SqlJson)]
#[serde(transparent)]
pub struct Json(pub serde_json::Value);

impl FromSql<SqlJson, Pg> for Json {
    fn from_sql(bytes: <Pg as Backend>::RawValue<'_>) -> deserialize::Result<Self> {
        <serde_json::Value as FromSql<diesel::sql_types::Jsonb, Pg>>::from_sql(bytes).map(Json)
    }
}
impl ToSql<SqlJson, Pg> for Json {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Pg>) -> serialize::Result {
        <serde_json::Value as ToSql<diesel::sql_types::Jsonb, Pg>>::to_sql(&self.0, out)
    }
}
impl FromSql<SqlJson, Sqlite> for Json {
    fn from_sql(bytes: <Sqlite as Backend>::RawValue<'_>) -> deserialize::Result<Self> {
        let text = <String as FromSql<diesel::sql_types::Text, Sqlite>>::from_sql(bytes)?;
        Ok(Json(serde_json::from_str(&text)?))
    }
}
impl ToSql<SqlJson, Sqlite> for Json {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Sqlite>) -> serialize::Result {
        out.set_value(serde_json::to_string(&self.0)?);
        Ok(IsNull::No)
    }
}
