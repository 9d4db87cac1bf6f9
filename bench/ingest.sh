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
db="karada_bench_$$"
url="$PG/$db"
psql "$PG/postgres" -qc "CREATE DATABASE $db"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
base="http://127.0.0.1:$port"
log=$(mktemp)
DATABASE_URL="$url" KARADA_JWT_SECRET="bench-secret-bench-secret-bench-secret" KARADA_LOG=warn \
  KARADA_LOGIN_BURST_PER_ADDRESS=100000 KARADA_LOGIN_BURST_PER_ACCOUNT=100000 \
  target/release/karada serve --bind "127.0.0.1:$port" >"$log" 2>&1 &
server=$!
cleanup() {
  kill "$server" 2>/dev/null || true
  wait "$server" 2>/dev/null || true
  psql "$PG/postgres" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" || true
  rm -f "$log"
}
trap cleanup EXIT
for _ in $(seq 1 100); do curl -fsS "$base/readyz" >/dev/null 2>&1 && break; sleep 0.1; done

echo "## ingest ($(date -u +%FT%TZ), $(nproc) cores shared by server, PostgreSQL and driver)"
target/release/examples/ingest_load --mode ingest --base "$base" --database-url "$url" --rows "$ROWS"

if [ "$RESIDENTS" = 0 ]; then exit 0; fi
echo
echo "## reads over a demo population of $RESIDENTS residents x $DAYS days"
out=$(DATABASE_URL="$url" KARADA_LOG=warn target/release/karada demo-data --residents "$RESIDENTS" --days "$DAYS")
echo "$out"
run_id=$(sed -E 's/.*emails demo<N>\.([0-9a-f]+)@.*/\1/' <<<"$out")
psql "$url" -qc "VACUUM ANALYZE measurements"
psql "$url" -Atc "SELECT 'rows in measurements: ' || count(*) FROM measurements"
target/release/examples/ingest_load --mode read --base "$base" --demo-run "$run_id" \
  --demo-residents "$RESIDENTS" --seconds "${SECONDS_PER_READ_PHASE:-20}"
echo "server peak RSS: $(grep VmHWM /proc/$server/status | awk '{print $2, $3}')"
