#!/usr/bin/env bash
# Export memory benchmark on PostgreSQL (issue 6). Figures go to BENCHMARKS.md.
#   bash bench/export.sh                # 100,000 measurements
#   ROWS=20000 bash bench/export.sh     # a quick run
# Starts its own server and database on this machine and removes both afterwards. Needs root (or
# the server's owner) to reset the server's peak RSS between exports.
set -euo pipefail
cd "$(dirname "$0")/.."

ROWS=${ROWS:-100000}
PG=${KARADA_BENCH_PG:-postgres://postgres@127.0.0.1:5432}
TARGET=${CARGO_TARGET_DIR:-target}

cargo build --release --quiet --bin karada --example export_load
db="karada_export_bench_$$"
url="$PG/$db"
psql "$PG/postgres" -qc "CREATE DATABASE $db"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
base="http://127.0.0.1:$port"
log=$(mktemp)
DATABASE_URL="$url" KARADA_JWT_SECRET="bench-secret-bench-secret-bench-secret" KARADA_LOG=warn \
  "$TARGET/release/karada" serve --bind "127.0.0.1:$port" >"$log" 2>&1 &
server=$!
cleanup() {
  kill "$server" 2>/dev/null || true
  wait "$server" 2>/dev/null || true
  psql "$PG/postgres" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" || true
  rm -f "$log"
}
trap cleanup EXIT
for _ in $(seq 1 100); do curl -fsS "$base/readyz" >/dev/null 2>&1 && break; sleep 0.1; done

echo "## export ($(date -u +%FT%TZ), $(nproc) cores shared by server, PostgreSQL and driver)"
"$TARGET/release/examples/export_load" --base "$base" --database-url "$url" --server-pid "$server" --rows "$ROWS"
