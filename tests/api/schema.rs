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

#[test]
fn sqlite_connections_enforce_foreign_keys_and_use_wal() {
    #[derive(QueryableByName)]
    struct Fk {
        #[diesel(sql_type = Integer)]
        foreign_keys: i32,
    }
    #[derive(QueryableByName)]
    struct Jm {
        #[diesel(sql_type = Text)]
        journal_mode: String,
    }
    #[derive(QueryableByName)]
    struct Bt {
        #[diesel(sql_type = Integer)]
        timeout: i32,
    }
    let db = TestDb::new(Backend::Sqlite);
    let DbConn::Sqlite(mut c) = db.conn() else {
        panic!("expected SQLite")
    };
    assert_eq!(
        sql_query("PRAGMA foreign_keys")
            .get_result::<Fk>(&mut c)
            .unwrap()
            .foreign_keys,
        1
    );
    assert_eq!(
        sql_query("PRAGMA journal_mode")
            .get_result::<Jm>(&mut c)
            .unwrap()
            .journal_mode,
        "wal"
    );
    assert!(
        sql_query("PRAGMA busy_timeout")
            .get_result::<Bt>(&mut c)
            .unwrap()
            .timeout
            >= 5000
    );
    // A row pointing at no account is refused.
    let r =
        sql_query("INSERT INTO sessions (id, user_id, created_at) VALUES (x'00', x'01', '2026-01-01 00:00:00+00:00')")
            .execute(&mut c);
    assert!(r.is_err());
}
