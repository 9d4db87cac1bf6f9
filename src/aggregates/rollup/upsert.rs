//! Writing rollup deltas: every touched row moved by its delta in one upsert per table, then, only
//! when values were removed, the rows that became empty deleted and the yearly month masks read
//! again from the monthly rows.
//!
//! On PostgreSQL the four upserts (and keeping the yearly bucket rows' copy of their year's month
//! mask in step) are one statement of data-modifying CTEs over `unnest` arrays: one round trip,
//! one text for any number of rows, so it is prepared once per connection. SQLite runs the same
//! steps one by one (in process, so round trips cost nothing).

use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::query_builder::{AstPass, QueryFragment, QueryId};
use diesel::sql_types::{Array, BigInt, Date, Double, Integer, Text, Uuid};

use super::{Cell, Deltas, Subject};
use crate::db::DbConn;

/// Moves the resident's rows by `d`, in the caller's transaction.
pub(super) fn apply(conn: &mut DbConn, who: &Subject, d: &Deltas) -> QueryResult<()> {
    match conn {
        DbConn::Pg(c) => {
            let emptied: Emptied = Statement::new(who, d).get_result(c)?;
            if emptied.any() {
                clean(conn, who, d)?;
            }
        }
        DbConn::Sqlite(_) => {
            sqlite(conn, who, d)?;
            if d.removes() {
                clean(conn, who, d)?;
            }
        }
    }
    Ok(())
}

/// How many rows of each table the statement left without values.
#[derive(QueryableByName, Debug)]
struct Emptied {
    #[diesel(sql_type = BigInt)]
    emptied: i64,
}

impl Emptied {
    fn any(&self) -> bool {
        self.emptied > 0
    }
}

/// The columns of a cell list.
#[derive(Default)]
struct Cells {
    kind: Vec<String>,
    field: Vec<String>,
    date: Vec<chrono::NaiveDate>,
    band: Vec<String>,
}

impl Cells {
    fn push(&mut self, (kind, field, date, band): &Cell) {
        self.kind.push((*kind).to_owned());
        self.field.push((*field).to_owned());
        self.date.push(*date);
        self.band.push(band.clone());
    }

    fn bind<'b>(&'b self, out: &mut AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_bind_param::<Array<Text>, _>(&self.kind)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Text>, _>(&self.field)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Date>, _>(&self.date)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Text>, _>(&self.band)
    }
}

/// The PostgreSQL statement, its arrays column by column.
struct Statement {
    user: uuid::Uuid,
    sex: String,
    months: Cells,
    month_moved: (Vec<i32>, Vec<f64>, Vec<f64>),
    month_buckets: Cells,
    month_bucket: (Vec<i32>, Vec<i32>),
    years: Cells,
    year_moved: (Vec<i32>, Vec<i32>, Vec<f64>, Vec<f64>),
    year_buckets: Cells,
    year_bucket: (Vec<i32>, Vec<i32>),
}

impl Statement {
    fn new(who: &Subject, d: &Deltas) -> Self {
        let mut s = Statement {
            user: who.user_id.0,
            sex: who.sex.clone(),
            months: Cells::default(),
            month_moved: Default::default(),
            month_buckets: Cells::default(),
            month_bucket: Default::default(),
            years: Cells::default(),
            year_moved: Default::default(),
            year_buckets: Cells::default(),
            year_bucket: Default::default(),
        };
        for (cell, m) in &d.months {
            s.months.push(cell);
            s.month_moved.0.push(m.n);
            s.month_moved.1.push(m.total);
            s.month_moved.2.push(m.total_sq);
        }
        for ((cell, bucket), n) in &d.month_buckets {
            s.month_buckets.push(cell);
            s.month_bucket.0.push(*bucket);
            s.month_bucket.1.push(*n);
        }
        for (cell, (m, bits)) in &d.years {
            s.years.push(cell);
            s.year_moved.0.push(*bits);
            s.year_moved.1.push(m.n);
            s.year_moved.2.push(m.total);
            s.year_moved.3.push(m.total_sq);
        }
        for ((cell, bucket), n) in &d.year_buckets {
            s.year_buckets.push(cell);
            s.year_bucket.0.push(*bucket);
            s.year_bucket.1.push(*n);
        }
        s
    }
}

impl QueryId for Statement {
    type QueryId = Statement;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl QueryFragment<Pg> for Statement {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        // The yearly bucket rows carry their year's month mask (the aggregate's bucket reads group
        // by it): rows this statement upserts take the new mask from `y`, the others of the same
        // years are brought in step by `ym` (no row is written twice in one statement).
        out.push_sql(
            "WITH m AS (INSERT INTO measurement_rollups AS t \
               (user_id, kind, field, month, age_band, sex, n, total, total_sq) \
               SELECT ",
        );
        out.push_bind_param::<Uuid, _>(&self.user)?;
        out.push_sql(", d.kind, d.field, d.day, d.age_band, ");
        out.push_bind_param::<Text, _>(&self.sex)?;
        out.push_sql(", d.n, d.total, d.total_sq FROM unnest(");
        self.months.bind(&mut out)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Integer>, _>(&self.month_moved.0)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Double>, _>(&self.month_moved.1)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Double>, _>(&self.month_moved.2)?;
        out.push_sql(
            ") AS d(kind, field, day, age_band, n, total, total_sq) \
             ON CONFLICT (user_id, kind, field, month, age_band) DO UPDATE \
               SET n = t.n + excluded.n, total = t.total + excluded.total, total_sq = t.total_sq + excluded.total_sq \
             RETURNING t.n), \
             mb AS (INSERT INTO measurement_rollup_buckets AS t \
               (user_id, kind, field, month, age_band, sex, bucket, n) \
               SELECT ",
        );
        out.push_bind_param::<Uuid, _>(&self.user)?;
        out.push_sql(", d.kind, d.field, d.day, d.age_band, ");
        out.push_bind_param::<Text, _>(&self.sex)?;
        out.push_sql(", d.bucket, d.n FROM unnest(");
        self.month_buckets.bind(&mut out)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Integer>, _>(&self.month_bucket.0)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Integer>, _>(&self.month_bucket.1)?;
        out.push_sql(
            ") AS d(kind, field, day, age_band, bucket, n) \
             ON CONFLICT (user_id, kind, field, month, age_band, bucket) DO UPDATE SET n = t.n + excluded.n \
             RETURNING t.n), \
             y AS (INSERT INTO measurement_rollup_years AS t \
               (user_id, kind, field, year, age_band, sex, months, n, total, total_sq) \
               SELECT ",
        );
        out.push_bind_param::<Uuid, _>(&self.user)?;
        out.push_sql(", d.kind, d.field, d.day, d.age_band, ");
        out.push_bind_param::<Text, _>(&self.sex)?;
        out.push_sql(", d.months, d.n, d.total, d.total_sq FROM unnest(");
        self.years.bind(&mut out)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Integer>, _>(&self.year_moved.0)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Integer>, _>(&self.year_moved.1)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Double>, _>(&self.year_moved.2)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Double>, _>(&self.year_moved.3)?;
        out.push_sql(
            ") AS d(kind, field, day, age_band, months, n, total, total_sq) \
             ON CONFLICT (user_id, kind, field, year, age_band) DO UPDATE \
               SET months = t.months | excluded.months, n = t.n + excluded.n, total = t.total + excluded.total, \
                   total_sq = t.total_sq + excluded.total_sq \
             RETURNING t.kind, t.field, t.year, t.age_band, t.months, t.n), \
             dyb AS (SELECT * FROM unnest(",
        );
        self.year_buckets.bind(&mut out)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Integer>, _>(&self.year_bucket.0)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Integer>, _>(&self.year_bucket.1)?;
        out.push_sql(
            ") AS d(kind, field, day, age_band, bucket, n)), \
             yb AS (INSERT INTO measurement_rollup_year_buckets AS t \
               (user_id, kind, field, year, age_band, sex, months, bucket, n) \
               SELECT ",
        );
        out.push_bind_param::<Uuid, _>(&self.user)?;
        out.push_sql(", d.kind, d.field, d.day, d.age_band, ");
        out.push_bind_param::<Text, _>(&self.sex)?;
        out.push_sql(
            ", y.months, d.bucket, d.n FROM dyb d \
               JOIN y ON y.kind = d.kind AND y.field = d.field AND y.year = d.day AND y.age_band = d.age_band \
             ON CONFLICT (user_id, kind, field, year, age_band, bucket) DO UPDATE \
               SET n = t.n + excluded.n, months = excluded.months \
             RETURNING t.n), \
             ym AS (UPDATE measurement_rollup_year_buckets t SET months = y.months FROM y \
               WHERE t.user_id = ",
        );
        out.push_bind_param::<Uuid, _>(&self.user)?;
        out.push_sql(
            " AND t.kind = y.kind AND t.field = y.field AND t.year = y.year AND t.age_band = y.age_band \
                 AND t.months <> y.months \
                 AND NOT EXISTS (SELECT 1 FROM dyb d WHERE d.kind = t.kind AND d.field = t.field \
                                 AND d.day = t.year AND d.age_band = t.age_band AND d.bucket = t.bucket)) \
             SELECT CAST((SELECT count(*) FROM m WHERE n <= 0) + (SELECT count(*) FROM mb WHERE n <= 0) \
                       + (SELECT count(*) FROM y WHERE n <= 0) + (SELECT count(*) FROM yb WHERE n <= 0) \
                    AS BIGINT) AS emptied",
        );
        Ok(())
    }
}

impl diesel::query_builder::Query for Statement {
    type SqlType = diesel::sql_types::Untyped;
}

impl RunQueryDsl<PgConnection> for Statement {}

/// SQLite: the same upserts, statement by statement.
fn sqlite(conn: &mut DbConn, who: &Subject, d: &Deltas) -> QueryResult<()> {
    use crate::db::schema::measurement_rollup_buckets as mb;
    use crate::db::schema::measurement_rollup_year_buckets as yb;
    use crate::db::schema::measurement_rollup_years as y;
    use crate::db::schema::measurement_rollups as m;
    use diesel::upsert::excluded;
    let DbConn::Sqlite(c) = conn else {
        return Ok(());
    };
    let user = who.user_id;
    for ((kind, field, month, band), v) in &d.months {
        diesel::insert_into(m::table)
            .values((
                m::user_id.eq(user),
                m::kind.eq(*kind),
                m::field.eq(*field),
                m::month.eq(*month),
                m::age_band.eq(band),
                m::sex.eq(&who.sex),
                m::n.eq(v.n),
                m::total.eq(v.total),
                m::total_sq.eq(v.total_sq),
            ))
            .on_conflict((m::user_id, m::kind, m::field, m::month, m::age_band))
            .do_update()
            .set((
                m::n.eq(m::n + excluded(m::n)),
                m::total.eq(m::total + excluded(m::total)),
                m::total_sq.eq(m::total_sq + excluded(m::total_sq)),
            ))
            .execute(c)?;
    }
    for (((kind, field, month, band), bucket), n) in &d.month_buckets {
        diesel::insert_into(mb::table)
            .values((
                mb::user_id.eq(user),
                mb::kind.eq(*kind),
                mb::field.eq(*field),
                mb::month.eq(*month),
                mb::age_band.eq(band),
                mb::sex.eq(&who.sex),
                mb::bucket.eq(*bucket),
                mb::n.eq(*n),
            ))
            .on_conflict((mb::user_id, mb::kind, mb::field, mb::month, mb::age_band, mb::bucket))
            .do_update()
            .set(mb::n.eq(mb::n + excluded(mb::n)))
            .execute(c)?;
    }
    for ((kind, field, year, band), (v, bits)) in &d.years {
        diesel::insert_into(y::table)
            .values((
                y::user_id.eq(user),
                y::kind.eq(*kind),
                y::field.eq(*field),
                y::year.eq(*year),
                y::age_band.eq(band),
                y::sex.eq(&who.sex),
                y::months.eq(*bits),
                y::n.eq(v.n),
                y::total.eq(v.total),
                y::total_sq.eq(v.total_sq),
            ))
            .on_conflict((y::user_id, y::kind, y::field, y::year, y::age_band))
            .do_update()
            .set((
                y::months.eq(diesel::dsl::sql::<Integer>("months | excluded.months")),
                y::n.eq(y::n + excluded(y::n)),
                y::total.eq(y::total + excluded(y::total)),
                y::total_sq.eq(y::total_sq + excluded(y::total_sq)),
            ))
            .execute(c)?;
    }
    for (((kind, field, year, band), bucket), n) in &d.year_buckets {
        diesel::insert_into(yb::table)
            .values((
                yb::user_id.eq(user),
                yb::kind.eq(*kind),
                yb::field.eq(*field),
                yb::year.eq(*year),
                yb::age_band.eq(band),
                yb::sex.eq(&who.sex),
                yb::months.eq(0),
                yb::bucket.eq(*bucket),
                yb::n.eq(*n),
            ))
            .on_conflict((yb::user_id, yb::kind, yb::field, yb::year, yb::age_band, yb::bucket))
            .do_update()
            .set(yb::n.eq(yb::n + excluded(yb::n)))
            .execute(c)?;
    }
    // The yearly bucket rows take their year's mask.
    for (kind, field, year, band) in d.years.keys() {
        let months: i32 = y::table
            .find((user, *kind, *field, *year, band))
            .select(y::months)
            .first(c)?;
        diesel::update(
            yb::table
                .filter(yb::user_id.eq(user))
                .filter(yb::kind.eq(*kind))
                .filter(yb::field.eq(*field))
                .filter(yb::year.eq(*year))
                .filter(yb::age_band.eq(band))
                .filter(yb::months.ne(months)),
        )
        .set(yb::months.eq(months))
        .execute(c)?;
    }
    Ok(())
}

/// Deletes the resident's rows that hold no values any more and reads the masks of the touched
/// years again from the monthly rows (a month whose last value went clears its bit).
fn clean(conn: &mut DbConn, who: &Subject, d: &Deltas) -> QueryResult<()> {
    use crate::db::schema::measurement_rollup_buckets as mb;
    use crate::db::schema::measurement_rollup_year_buckets as yb;
    use crate::db::schema::measurement_rollup_years as y;
    use crate::db::schema::measurement_rollups as m;
    let user = who.user_id;
    diesel::delete(m::table.filter(m::user_id.eq(user)).filter(m::n.le(0))).execute(conn)?;
    diesel::delete(mb::table.filter(mb::user_id.eq(user)).filter(mb::n.le(0))).execute(conn)?;
    for (kind, field, year, band) in d.years.keys() {
        let last = year.checked_add_months(chrono::Months::new(11)).unwrap_or(*year);
        let months: Vec<chrono::NaiveDate> = m::table
            .filter(m::user_id.eq(user))
            .filter(m::kind.eq(*kind))
            .filter(m::field.eq(*field))
            .filter(m::age_band.eq(band))
            .filter(m::month.ge(*year))
            .filter(m::month.le(last))
            .select(m::month)
            .load(conn)?;
        let mask = months.iter().fold(0, |mask, month| mask | super::month_bit(*month));
        diesel::update(y::table.find((user, *kind, *field, *year, band)))
            .set(y::months.eq(mask))
            .execute(conn)?;
        diesel::update(
            yb::table
                .filter(yb::user_id.eq(user))
                .filter(yb::kind.eq(*kind))
                .filter(yb::field.eq(*field))
                .filter(yb::year.eq(*year))
                .filter(yb::age_band.eq(band)),
        )
        .set(yb::months.eq(mask))
        .execute(conn)?;
    }
    diesel::delete(y::table.filter(y::user_id.eq(user)).filter(y::n.le(0))).execute(conn)?;
    diesel::delete(yb::table.filter(yb::user_id.eq(user)).filter(yb::n.le(0))).execute(conn)?;
    Ok(())
}
