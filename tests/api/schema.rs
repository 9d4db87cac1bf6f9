//! Migrations: up, down and up again on both backends, and both describe the same schema.

use std::collections::BTreeMap;

use diesel::prelude::*;
use diesel::sql_query;
use diesel::sql_types::{Integer, Text};

use karada::db::{self, DbConn};

use crate::common::{Backend, TestDb};

#[derive(QueryableByName, Debug)]
struct Column {
    #[diesel(sql_type = Text)]
    table_name: String,
    #[diesel(sql_type = Text)]
    column_name: String,
    #[diesel(sql_type = Integer)]
    not_null: i32,
}

/// table → column → NOT NULL, from the catalogue of either backend.
fn describe(conn: &mut DbConn) -> BTreeMap<String, BTreeMap<String, bool>> {
    let rows: Vec<Column> = match conn {
        DbConn::Pg(c) => sql_query(
            "SELECT table_name::text AS table_name, column_name::text AS column_name, \
             (CASE WHEN is_nullable = 'NO' THEN 1 ELSE 0 END) AS not_null \
             FROM information_schema.columns WHERE table_schema = 'public' \
             AND table_name <> '__diesel_schema_migrations'",
        )
        .load(c)
        .unwrap(),
        DbConn::Sqlite(c) => sql_query(
            "SELECT m.name AS table_name, p.name AS column_name, (p.\"notnull\" OR p.pk) AS not_null \
             FROM sqlite_master m JOIN pragma_table_info(m.name) p \
             WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' AND m.name <> '__diesel_schema_migrations'",
        )
        .load(c)
        .unwrap(),
    };
    let mut out: BTreeMap<String, BTreeMap<String, bool>> = BTreeMap::new();
    for r in rows {
        out.entry(r.table_name)
            .or_default()
            .insert(r.column_name, r.not_null != 0);
    }
    out
}

fn up_down_up(backend: Backend) {
    let db = TestDb::empty(backend);
    let mut conn = db.conn();
    let applied = db::run_migrations(&mut conn).unwrap();
    assert!(applied > 0);
    let first = describe(&mut conn);
    assert!(first.contains_key("users"));
    let reverted = db::revert_all_migrations(&mut conn).unwrap();
    assert_eq!(reverted, applied);
    assert!(describe(&mut conn).is_empty(), "down migrations must remove everything");
    assert_eq!(db::run_migrations(&mut conn).unwrap(), applied);
    assert_eq!(describe(&mut conn), first);
}

#[test]
fn migrations_run_up_down_and_up_again_on_sqlite() {
    up_down_up(Backend::Sqlite);
}

#[test]
fn migrations_run_up_down_and_up_again_on_postgres() {
    up_down_up(Backend::Postgres);
}

#[test]
fn both_backends_describe_the_same_schema() {
    let pg = TestDb::new(Backend::Postgres);
    let lite = TestDb::new(Backend::Sqlite);
    assert_eq!(describe(&mut pg.conn()), describe(&mut lite.conn()));
}

#[test]
fn unknown_database_url_schemes_are_refused() {
    assert!(db::DbUrl::parse("mysql://localhost/x").is_err());
    assert!(db::DbUrl::parse("karada.db").is_err());
    assert!(db::DbUrl::parse("sqlite://").is_err());
    assert_eq!(
        db::DbUrl::parse("postgresql://h/d").unwrap().backend(),
        db::Backend::Postgres
    );
    assert_eq!(
        db::DbUrl::parse("sqlite://./k.db").unwrap().backend(),
        db::Backend::Sqlite
    );
}
