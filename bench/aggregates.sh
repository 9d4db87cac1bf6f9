#!/usr/bin/env bash
# Aggregate benchmark on PostgreSQL (issue 5): p50 of a grouped aggregate (one type, one year,
# age band × sex) over 100,000 residents, half consenting, at 1, 2, 5 and 10 million measurements,
# from the monthly rollup and from raw rows. Figures go to BENCHMARKS.md.
#   bash bench/aggregates.sh                                  # full run (about 15 minutes)
#   RESIDENTS=10000 MILLIONS=1 RUNS=3 bash bench/aggregates.sh  # quick
# Creates its own database and drops it afterwards (KEEP_DB=1 keeps it, for EXPLAIN; its name is
# printed). REUSE_DB=<name> times a kept database again as it is (another build, the same data).
set -euo pipefail
cd "$(dirname "$0")/.."
RESIDENTS=${RESIDENTS:-100000}
MILLIONS=${MILLIONS:-1,2,5,10}
RUNS=${RUNS:-7}
PG=${KARADA_BENCH_PG:-postgres://postgres@127.0.0.1:5432}
target=${CARGO_TARGET_DIR:-target}
cargo build --release --quiet --example aggregate_load
reuse=()
if [ -n "${REUSE_DB:-}" ]; then
  db=$REUSE_DB
  reuse=(--reuse)
  KEEP_DB=1
else
  db="karada_bench_agg_$$"
  psql "$PG/postgres" -qc "CREATE DATABASE $db"
fi
if [ "${KEEP_DB:-0}" = 1 ]; then
  echo "database kept: $PG/$db"
else
  trap 'psql "$PG/postgres" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" || true' EXIT
fi
echo "## grouped aggregate ($(date -u +%FT%TZ), $(nproc) cores shared)"
"$target/release/examples/aggregate_load" --database-url "$PG/$db" --residents "$RESIDENTS" \
  --millions "$MILLIONS" --runs "$RUNS" "${reuse[@]}"
