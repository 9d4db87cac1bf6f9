#!/usr/bin/env bash
# Health-points benchmark on PostgreSQL (issue 4): what rule evaluation costs the batch upload, and
# what GET /v1/points costs for a resident with 3 years of history. Figures go to BENCHMARKS.md.
#   bash bench/points.sh                                   # full run
#   RESIDENTS=16 BATCHES=1 DAILY=5 PAIRS=2 HISTORY_DAYS=100 SECONDS_PER_READ_PHASE=3 bash bench/points.sh  # quick
# Starts its own server and database on this machine and removes both afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."

RESIDENTS=${RESIDENTS:-128}  # fresh residents per upload phase
BATCHES=${BATCHES:-1}        # requests of 999 items (333 days) per resident and phase; days beyond
                             # the programme's award window (366 days) would earn nothing
DAILY=${DAILY:-30}           # daily-sync requests (1 day, 3 items) per resident and phase; 0 skips
PAIRS=${PAIRS:-3}            # (rules on, rules off) pairs of phases
HISTORY_DAYS=${HISTORY_DAYS:-1096}
PG=${KARADA_BENCH_PG:-postgres://postgres@127.0.0.1:5432}
target=${CARGO_TARGET_DIR:-target}

cargo build --release --quiet --bin karada --example points_load
db="karada_bench_pts_$$"
url="$PG/$db"
psql "$PG/postgres" -qc "CREATE DATABASE $db"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
base="http://127.0.0.1:$port"
log=$(mktemp)
DATABASE_URL="$url" KARADA_JWT_SECRET="bench-secret-bench-secret-bench-secret" KARADA_LOG=warn \
  KARADA_LOGIN_BURST_PER_ADDRESS=100000 KARADA_LOGIN_BURST_PER_ACCOUNT=100000 KARADA_REGISTER_BURST_PER_ADDRESS=100000 \
  "$target/release/karada" serve --bind "127.0.0.1:$port" >"$log" 2>&1 &
server=$!
cleanup() {
  kill "$server" 2>/dev/null || true
  wait "$server" 2>/dev/null || true
  psql "$PG/postgres" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" || true
  rm -f "$log"
}
trap cleanup EXIT
for _ in $(seq 1 100); do curl -fsS "$base/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
rss() { echo "server memory: $(awk '/^(VmRSS|VmHWM)/ {printf "%s %s %s  ", $1, $2, $3}' "/proc/$server/status")"; }

echo "## rule evaluation on the batch upload path ($(date -u +%FT%TZ), $(nproc) cores shared by server, PostgreSQL and driver)"
"$target/release/examples/points_load" --mode rules --base "$base" --database-url "$url" --server-pid "$server" \
  --residents "$RESIDENTS" --batches "$BATCHES" --pairs "$PAIRS"
rss
if [ "$DAILY" != 0 ]; then
  echo
  echo "## the same, one day (3 items) per request, as a phone's daily sync sends it"
  "$target/release/examples/points_load" --mode rules --base "$base" --database-url "$url" --server-pid "$server" \
    --residents "$RESIDENTS" --batches "$DAILY" --days-per-request 1 --pairs "$PAIRS"
  rss
fi
psql "$url" -Atc "SELECT 'rows: measurements ' || (SELECT count(*) FROM measurements) || ', points_ledger ' || (SELECT count(*) FROM points_ledger)"

echo
echo "## GET /v1/points: a resident with $HISTORY_DAYS days of history and one with none"
psql "$url" -qc "VACUUM ANALYZE points_ledger" -c "VACUUM ANALYZE points_balances"
"$target/release/examples/points_load" --mode balance --base "$base" --database-url "$url" --server-pid "$server" \
  --history-days "$HISTORY_DAYS" --seconds "${SECONDS_PER_READ_PHASE:-10}"
rss
if grep -q . "$log"; then echo "server log (warnings and errors):"; tail -n 20 "$log"; fi
