#!/usr/bin/env bash
# Ingest and read benchmark on PostgreSQL (issue 3). Figures go to BENCHMARKS.md.
#   bash bench/ingest.sh                      # full run: 256k rows per ingest phase, 100k residents for reads
#   ROWS=64000 RESIDENTS=2000 bash bench/ingest.sh   # a quick run
# Starts its own server and database on this machine and removes both afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."

ROWS=${ROWS:-256000}
RESIDENTS=${RESIDENTS:-100000}
DAYS=${DAYS:-70}
PG=${KARADA_BENCH_PG:-postgres://postgres@127.0.0.1:5432}

cargo build --release --quiet --bin karada --example ingest_load
# KARADA_BIN: another server binary (an earlier commit's) for a before/after in the same run.
bin=${KARADA_BIN:-target/release/karada}
# PostgreSQL's log, where the round trips of one upload are counted (skipped if unreadable).
pg_log=${KARADA_BENCH_PG_LOG:-/var/log/postgresql/postgresql-15-main.log}
db="karada_bench_$$"
url="$PG/$db"
psql "$PG/postgres" -qc "CREATE DATABASE $db"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
base="http://127.0.0.1:$port"
log=$(mktemp)
server=
start_server() {
  DATABASE_URL="$url" KARADA_JWT_SECRET="bench-secret-bench-secret-bench-secret" KARADA_LOG=warn \
    KARADA_LOGIN_BURST_PER_ADDRESS=100000 KARADA_LOGIN_BURST_PER_ACCOUNT=100000 KARADA_REGISTER_BURST_PER_ADDRESS=100000 \
    "$bin" serve --bind "127.0.0.1:$port" >"$log" 2>&1 &
  server=$!
  for _ in $(seq 1 100); do curl -fsS "$base/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
}
stop_server() {
  kill "$server" 2>/dev/null || true
  wait "$server" 2>/dev/null || true
}
cleanup() {
  stop_server
  psql "$PG/postgres" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" || true
  rm -f "$log"
}
trap cleanup EXIT

# Round trips of one heart-rate upload with a login session: every statement the server sends
# (BEGIN, COMMIT and any checkout check included), from PostgreSQL's statement log, after two
# uploads have prepared the statements.
if [ -r "$pg_log" ]; then
  psql "$PG/postgres" -qc "ALTER DATABASE $db SET log_statement = 'all'"
  start_server
  tok=$(curl -fsS -H 'content-type: application/json' \
    -d '{"email":"trips@example.invalid","password":"load test password","birth_date":"1975-05-05","sex":"other"}' \
    "$base/v1/auth/register" | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
  upload() {
    curl -fsS -o /dev/null -H "authorization: Bearer $tok" -H 'content-type: application/json' \
      -d "{\"type\":\"heart_rate\",\"effective_at\":\"$(date -u -d "-$1 minutes" +%FT%TZ)\",\"values\":{\"bpm\":7$1},\"client_ref\":\"trips-$1\"}" \
      "$base/v1/measurements"
  }
  upload 1; upload 2; sleep 0.5
  from=$(wc -l <"$pg_log")
  upload 3; sleep 0.5
  trips=$(tail -n +"$((from + 1))" "$pg_log" | grep -c "@$db LOG:  \(statement\|execute\)" || true)
  echo "## round trips of one heart-rate upload (login session, statements in PostgreSQL's log): $trips"
  tail -n +"$((from + 1))" "$pg_log" | grep "@$db LOG:  \(statement\|execute\)" | sed -E 's/^.*LOG:  //' | cut -c1-110
  stop_server
  psql "$PG/postgres" -qc "ALTER DATABASE $db RESET log_statement"
  echo
fi
start_server

echo "## ingest ($(date -u +%FT%TZ), $(nproc) cores shared by server, PostgreSQL and driver)"
target/release/examples/ingest_load --mode ingest --base "$base" --database-url "$url" --rows "$ROWS"

if [ "$RESIDENTS" = 0 ]; then exit 0; fi
echo
echo "## reads over a demo population of $RESIDENTS residents x $DAYS days"
out=$(DATABASE_URL="$url" KARADA_LOG=warn "$bin" demo-data --residents "$RESIDENTS" --days "$DAYS")
echo "$out"
run_id=$(sed -E 's/.*emails demo<N>\.([0-9a-f]+)@.*/\1/' <<<"$out")
psql "$url" -qc "VACUUM ANALYZE measurements"
psql "$url" -Atc "SELECT 'rows in measurements: ' || count(*) FROM measurements"
target/release/examples/ingest_load --mode read --base "$base" --demo-run "$run_id" \
  --demo-residents "$RESIDENTS" --seconds "${SECONDS_PER_READ_PHASE:-20}"
echo "server peak RSS: $(grep VmHWM /proc/$server/status | awk '{print $2, $3}')"
