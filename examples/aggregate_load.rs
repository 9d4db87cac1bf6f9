//! Aggregate benchmark for `BENCHMARKS.md` (run by `bench/aggregates.sh`, which creates and drops
//! the database). Not a test: it measures, it does not assert figures.
//!
//! Builds a population straight in PostgreSQL (`--residents`, default 100,000, half consenting to
//! one organisation) and adds `body_weight` measurements in steps (default 1, 2, 5 and 10 million
//! rows, all in one calendar year). After each step it brings the monthly and yearly rollups up to
//! date (with SQL that follows `aggregates::rollup`'s definitions) and times, in alternation,
//! `--runs` times each:
//! - **rollup**: the service's own aggregate (`aggregates::query::run`: one type, one year, age
//!   band × sex, count/mean/stddev), and the same with p10/p50/p90 added;
//! - **raw**: the same answer computed from the measurement rows (the approach without a rollup);
//! - **release**: the whole release an analyst's request makes (`usecases::release::aggregate`:
//!   policy, budget lock and charge, the answer, the stored release and the audit row) with the
//!   organisation in `exact` mode and in the default `differential_privacy` mode, count/mean/stddev
//!   by age band × sex. Each private release names a slightly different epsilon, so none is answered
//!   from an earlier stored release: every one is computed and noised.
//!
//! `--reuse` measures a database an earlier run kept (`KEEP_DB=1`) as it is, without loading
//! anything: the same data timed by another build.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::time::Instant;

use chrono::NaiveDate;
use diesel::prelude::*;
use karada::aggregates::query::{self, Dim, Request, Stat};
use karada::db::{DbConn, DbUrl, Id, OrgId, Ts, UserId};
use karada::measurements::catalogue;
use karada::privacy::Mode;
use karada::privacy::policy::{self, Policy};
use karada::usecases::release::{self, Asker};

fn arg(name: &str, default: &str) -> String {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
        .unwrap_or_else(|| default.to_owned())
}

fn exec(conn: &mut DbConn, sql: &str) {
    use diesel::connection::SimpleConnection;
    let DbConn::Pg(c) = conn else { panic!("PostgreSQL only") };
    c.batch_execute(sql).unwrap();
}

fn p50(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// The grouped aggregate over raw rows: consent in the SQL, cells (month × band × sex) with at
/// least k people, combined per age band × sex.
const RAW: &str = "WITH consenting AS (SELECT c.user_id FROM consents c WHERE c.organization_id = $1 \
      AND c.revoked_at IS NULL AND (c.expires_at IS NULL OR c.expires_at > now()) \
      AND EXISTS (SELECT 1 FROM consent_types t WHERE t.consent_id = c.id AND t.measurement_type = 'body_weight')), \
  rows AS (SELECT m.user_id, date_trunc('month', m.local_date) AS month, \
      (extract(year FROM age(m.local_date, u.birth_date))::int / 10) AS band, u.sex, (m.fields->>'kg')::float8 AS v \
    FROM measurements m JOIN users u ON u.id = m.user_id \
    WHERE m.kind = 'body_weight' AND m.local_date >= '2025-01-01' AND m.local_date < '2026-01-01' \
      AND m.user_id IN (SELECT user_id FROM consenting)), \
  cells AS (SELECT month, band, sex FROM rows GROUP BY 1, 2, 3 HAVING count(DISTINCT user_id) >= 10) \
  SELECT r.band, r.sex, count(DISTINCT r.user_id), count(*), avg(r.v), stddev_samp(r.v) \
  FROM rows r JOIN cells c USING (month, band, sex) GROUP BY 1, 2";

fn main() {
    let url = arg("--database-url", "");
    let residents: i64 = arg("--residents", "100000").parse().unwrap();
    let steps: Vec<f64> = arg("--millions", "1,2,5,10")
        .split(',')
        .map(|s| s.parse().unwrap())
        .collect();
    let runs: usize = arg("--runs", "7").parse().unwrap();
    let mut conn = DbUrl::parse(&url).unwrap().connect().unwrap();
    karada::db::run_migrations(&mut conn).unwrap();
    let reuse = std::env::args().any(|a| a == "--reuse");
    let org = if reuse {
        let DbConn::Pg(c) = &mut conn else { unreachable!() };
        use karada::db::schema::organizations;
        organizations::table
            .filter(organizations::name.eq("Bench Insurer"))
            .select(organizations::id)
            .first::<OrgId>(c)
            .unwrap()
    } else {
        OrgId::new()
    };
    let t = Instant::now();
    if !reuse {
        exec(
            &mut conn,
            &format!(
                "INSERT INTO organizations (id, name, kind, privacy_budget, privacy_mode, created_at, updated_at)
               VALUES ('{org}', 'Bench Insurer', 'insurer', 1000, 'exact', now(), now());
             INSERT INTO users (id, email, password_hash, birth_date, sex, timezone, role, created_at, updated_at)
               SELECT gen_random_uuid(), 'r' || i || '@bench', 'x', DATE '1945-01-01' + (i * 7919 % 20000),
                      CASE WHEN i % 2 = 0 THEN 'female' ELSE 'male' END, 'Asia/Tokyo', 'resident', now(), now()
               FROM generate_series(1, {residents}) i;
             INSERT INTO memberships (id, user_id, organization_id, joined_at)
               SELECT gen_random_uuid(), id, '{org}', now() FROM users;
             INSERT INTO consents (id, receipt_id, user_id, organization_id, membership_id, include_points, access,
                                   purpose, created_at, data_from, include_notes)
               SELECT gen_random_uuid(), gen_random_uuid(), m.user_id, m.organization_id, m.id, false, 'aggregate',
                      'bench', now(), DATE '2000-01-01', false
               FROM memberships m WHERE hashtext(m.user_id::text) % 2 = 0;
             INSERT INTO consent_types SELECT id, 'body_weight' FROM consents;
             ANALYZE;"
            ),
        );
    }
    let users: Vec<uuid::Uuid> = {
        let DbConn::Pg(c) = &mut conn else { unreachable!() };
        karada::db::schema::users::table
            .select(karada::db::schema::users::id)
            .load::<Id>(c)
            .unwrap()
            .into_iter()
            .map(|i| i.0)
            .collect()
    };
    println!(
        "population: {} residents, about half consenting ({:.1} s)",
        users.len(),
        t.elapsed().as_secs_f64()
    );

    let kind = catalogue::find("body_weight").unwrap();
    let field = kind.field("kg").unwrap();
    let year = |m| NaiveDate::from_ymd_opt(2025, m, 1).unwrap();
    let base = Request {
        kind,
        field,
        from: year(1),
        to: year(12),
        group_by: vec![Dim::AgeBand, Dim::Sex],
        stats: vec![Stat::Count, Stat::Mean, Stat::Stddev],
    };
    let with_pct = Request {
        stats: vec![Stat::Count, Stat::Mean, Stat::Stddev, Stat::P10, Stat::P50, Stat::P90],
        ..base.clone()
    };
    let analyst = UserId(users[0]);
    let asker = Asker {
        organization_id: org,
        actor: analyst,
        k_min: 10,
    };
    let set_mode = |conn: &mut DbConn, mode: Mode| {
        let policy = Policy {
            mode,
            epsilon_per_year: 1000.0,
        };
        karada::db::transaction(conn, |c| {
            policy::set(c, org, analyst, policy, Some("benchmark".to_owned()))
        })
        .unwrap();
    };
    // Epsilons no earlier run used (a reused database keeps its stored releases).
    let mut epsilon_step = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_micros() * 1000);
    println!(
        "| rows covered | monthly rollup rows | yearly rollup rows | p50 rollup (ms) | p50 rollup + percentiles (ms) \
         | p50 raw rows (ms) | raw ÷ rollup | p50 exact release (ms) | p50 private release (ms) | private ÷ exact |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    let mut loaded = 0_i64;
    let steps = if reuse {
        let DbConn::Pg(c) = &mut conn else { unreachable!() };
        let n: i64 = karada::db::schema::measurements::table.count().get_result(c).unwrap();
        loaded = n;
        #[expect(clippy::cast_precision_loss, reason = "a row count")]
        let millions = n as f64 / 1e6;
        vec![millions]
    } else {
        steps
    };
    for millions in steps {
        let target = (millions * 1e6) as i64;
        let per_user = (target - loaded) / residents;
        // Each resident gets `per_user` more days in 2025 (day numbers continue from what exists).
        let first_day = loaded / residents;
        let t = Instant::now();
        if !reuse {
            exec(
                &mut conn,
                &format!(
                    "INSERT INTO measurements (id, user_id, kind, effective_at, local_date, daily_key, fields, source,
                                           client_ref, modality, note, created_at, updated_at)
                 SELECT gen_random_uuid(), u.id, 'body_weight', d + TIME '07:00', d, NULL,
                        jsonb_build_object('kg', round((45 + (hashtext(u.id::text) & 63) + random() * 3)::numeric, 1)),
                        'bench', NULL, 'sensed', NULL, now(), now()
                 FROM users u,
                      LATERAL (SELECT DATE '2025-01-01' + ((j * 3 + (hashtext(u.id::text) & 3)) % 365) AS d
                               FROM generate_series({first_day}, {first_day} + {per_user} - 1) j) days;
                 TRUNCATE measurement_rollups, measurement_rollup_buckets, measurement_rollup_years,
                          measurement_rollup_year_buckets;
                 INSERT INTO measurement_rollups
                   SELECT m.user_id, m.kind, 'kg', date_trunc('month', m.local_date)::date,
                          (a / 10 * 10) || '-' || (a / 10 * 10 + 9), u.sex,
                          count(*), sum((m.fields->>'kg')::float8), sum(((m.fields->>'kg')::float8) ^ 2)
                   FROM measurements m JOIN users u ON u.id = m.user_id,
                        LATERAL (SELECT extract(year FROM age(m.local_date, u.birth_date))::int AS a) age
                   GROUP BY 1, 2, 4, 5, 6;
                 INSERT INTO measurement_rollup_buckets
                   SELECT m.user_id, m.kind, 'kg', date_trunc('month', m.local_date)::date,
                          (a / 10 * 10) || '-' || (a / 10 * 10 + 9), u.sex,
                          least(199, greatest(0, floor(((m.fields->>'kg')::float8 - 20) / 280 * 200)))::int, count(*)
                   FROM measurements m JOIN users u ON u.id = m.user_id,
                        LATERAL (SELECT extract(year FROM age(m.local_date, u.birth_date))::int AS a) age
                   GROUP BY 1, 2, 4, 5, 6, 7;
                 INSERT INTO measurement_rollup_years
                   SELECT user_id, kind, field, date_trunc('year', month)::date, age_band, min(sex),
                          sum(1 << (extract(month FROM month)::int - 1)), sum(n), sum(total), sum(total_sq)
                   FROM measurement_rollups GROUP BY 1, 2, 3, 4, 5;
                 INSERT INTO measurement_rollup_year_buckets
                   SELECT b.user_id, b.kind, b.field, y.year, b.age_band, y.sex, y.months, b.bucket, sum(b.n)
                   FROM measurement_rollup_buckets b JOIN measurement_rollup_years y
                     ON y.user_id = b.user_id AND y.kind = b.kind AND y.field = b.field
                    AND y.year = date_trunc('year', b.month)::date AND y.age_band = b.age_band
                   GROUP BY 1, 2, 3, 4, 5, 6, 7, 8;"
                ),
            );
            for table in [
                "measurements",
                "measurement_rollups",
                "measurement_rollup_buckets",
                "measurement_rollup_years",
                "measurement_rollup_year_buckets",
            ] {
                exec(&mut conn, &format!("VACUUM ANALYZE {table}"));
            }
            loaded += per_user * residents;
        }
        let load_s = t.elapsed().as_secs_f64();
        let (rollup_rows, year_rows): (i64, i64) = {
            let DbConn::Pg(c) = &mut conn else { unreachable!() };
            (
                karada::db::schema::measurement_rollups::table
                    .count()
                    .get_result(c)
                    .unwrap(),
                karada::db::schema::measurement_rollup_years::table
                    .count()
                    .get_result(c)
                    .unwrap(),
            )
        };
        let (mut a, mut b, mut r) = (Vec::new(), Vec::new(), Vec::new());
        let (mut exact, mut private) = (Vec::new(), Vec::new());
        let mut groups = 0;
        for _ in 0..runs {
            set_mode(&mut conn, Mode::Exact);
            let t = Instant::now();
            release::aggregate(&mut conn, asker, base.clone(), None, serde_json::json!({})).unwrap();
            exact.push(t.elapsed().as_secs_f64() * 1e3);
            set_mode(&mut conn, Mode::DifferentialPrivacy);
            epsilon_step += 1;
            let epsilon = 0.5 + f64::from(epsilon_step) * 1e-10;
            let t = Instant::now();
            release::aggregate(&mut conn, asker, base.clone(), Some(epsilon), serde_json::json!({})).unwrap();
            private.push(t.elapsed().as_secs_f64() * 1e3);
            let t = Instant::now();
            let ans = karada::db::transaction(&mut conn, |c| {
                query::snapshot(c)?;
                query::run(c, org, &base, 10, Ts::now())
            })
            .unwrap();
            a.push(t.elapsed().as_secs_f64() * 1e3);
            groups = ans.groups.len();
            let t = Instant::now();
            karada::db::transaction(&mut conn, |c| {
                query::snapshot(c)?;
                query::run(c, org, &with_pct, 10, Ts::now())
            })
            .unwrap();
            b.push(t.elapsed().as_secs_f64() * 1e3);
            let t = Instant::now();
            let DbConn::Pg(c) = &mut conn else { unreachable!() };
            diesel::sql_query(RAW.replace("$1", &format!("'{org}'")))
                .execute(c)
                .unwrap();
            r.push(t.elapsed().as_secs_f64() * 1e3);
        }
        let (pa, pb, pr) = (p50(a), p50(b), p50(r));
        let (pe, pp) = (p50(exact), p50(private));
        println!(
            "| {loaded} | {rollup_rows} | {year_rows} | {pa:.0} | {pb:.0} | {pr:.0} | {:.1}× | {pe:.0} | {pp:.0} | \
             {:.2}× |   (load {load_s:.0} s, {groups} groups)",
            pr / pa,
            pp / pe
        );
    }
}
