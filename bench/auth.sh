#!/usr/bin/env bash
# Authentication benchmark (issue 2): what login and an authenticated request cost, next to a
# baseline measured in the same run on the same server.
#
#   bash bench/auth.sh                 # SQLite, then PostgreSQL (skipped with a note if unreachable)
#   bash bench/auth.sh sqlite          # one backend only
#   bash bench/auth.sh postgres
#
# For each backend it builds the release binary if needed, starts `karada serve` on a free port
# of 127.0.0.1 with a fresh database, registers one account, then runs wrk against loopback:
#
#   healthz   GET /healthz             no auth, no database: the baseline
#   me        GET /v1/me               Bearer access token: JWT verify + session/user lookups
#   login     POST /v1/auth/login      argon2id verify + a new session (bench/login.lua),
#                                      at 1 and 4 connections
#
# and prints a table plus the me/healthz ratios. Besides wrk's figures the table has the server
# process's CPU time per request (from /proc; the PostgreSQL server's own CPU is not in it) and,
# for GET /v1/me on PostgreSQL, database transactions per request (from pg_stat_database); a
# second table splits the machine's CPU during each phase between karada, wrk and everything
# else (on a shared machine, "other" well above the PostgreSQL server's share means the phase
# was disturbed and its figures should not be trusted).
# The script exits non-zero if any measured phase saw a non-2xx/3xx answer or a socket error.
# The server is stopped and its database removed on exit, failed or not. Raw wrk output and the
# server log stay in $RESULTS_DIR (under target/, which git ignores).
#
# Knobs (environment): DURATION (10s), CONNECTIONS (32), THREADS (2), LOGIN_CONNECTIONS ("1 4"),
# WARMUP (2s), PGHOST (127.0.0.1), PGPORT (5432), PGUSER (postgres), SKIP_BUILD (unset),
# RESULTS_DIR (target/bench/auth-<UTC time>).
#
# The login throttles are raised to 100000 for the run (KARADA_LOGIN_BURST_PER_ACCOUNT and
# KARADA_LOGIN_BURST_PER_ADDRESS): every wrk request comes from one account and one address, and
# the benchmark measures the cost of a login, not the throttle.
#
# Needs: cargo, curl, python3, wrk (installed with apt-get if missing), psql for PostgreSQL.
# Only 127.0.0.1 is ever targeted.

set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-32}
THREADS=${THREADS:-2}
LOGIN_CONNECTIONS=${LOGIN_CONNECTIONS:-"1 4"}
WARMUP=${WARMUP:-2s}
export PGHOST=${PGHOST:-127.0.0.1}
export PGPORT=${PGPORT:-5432}
export PGUSER=${PGUSER:-postgres}
RESULTS_DIR=${RESULTS_DIR:-"$ROOT/target/bench/auth-$(date -u +%Y%m%dT%H%M%SZ)"}
BIN="$ROOT/target/release/karada"
LUA="$ROOT/bench/login.lua"

case "${1:-both}" in
    both) BACKENDS="sqlite postgres"; PG_OPTIONAL=1 ;;
    sqlite) BACKENDS="sqlite"; PG_OPTIONAL=0 ;;
    postgres) BACKENDS="postgres"; PG_OPTIONAL=0 ;;
    *) echo "usage: bash bench/auth.sh [both|sqlite|postgres]" >&2; exit 2 ;;
esac

# ---- state that cleanup undoes ----
SERVER_PID=""
PG_DB=""
WORK_DIR=$(mktemp -d "${TMPDIR:-/tmp}/karada-bench.XXXXXX")

log() { printf '[bench %s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

stop_server() {
    [ -n "$SERVER_PID" ] || return 0
    local pid=$SERVER_PID
    SERVER_PID=""
    if kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null || true
        # Graceful shutdown waits for in-flight requests; wrk has closed its connections by now.
        for _ in $(seq 1 100); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
}

drop_pg_db() {
    [ -n "$PG_DB" ] || return 0
    local db=$PG_DB
    PG_DB=""
    psql -d postgres -v ON_ERROR_STOP=1 -qc "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" >/dev/null ||
        log "WARNING: could not drop database $db"
}

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    stop_server
    drop_pg_db
    rm -rf "$WORK_DIR"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---- prerequisites ----
for tool in curl python3; do
    command -v "$tool" >/dev/null || { log "missing $tool"; exit 1; }
done
if ! command -v wrk >/dev/null; then
    log "installing wrk"
    apt-get install -y wrk >/dev/null 2>&1 || { apt-get update >/dev/null && apt-get install -y wrk >/dev/null; }
fi
if [ -z "${SKIP_BUILD:-}" ]; then
    log "cargo build --release (no-op when up to date)"
    cargo build --release --quiet --bin karada
fi
[ -x "$BIN" ] || { log "no binary at $BIN"; exit 1; }
mkdir -p "$RESULTS_DIR"
INDEX="$RESULTS_DIR/index.tsv"
: >"$INDEX"

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# Server CPU time (user + system) in clock ticks, from /proc.
server_ticks() {
    awk '{ print $14 + $15 }' "/proc/$SERVER_PID/stat"
}

# Whole machine, in clock ticks: "busy total steal" (steal: time the hypervisor gave elsewhere).
machine_ticks() {
    awk '/^cpu / { busy = $2 + $3 + $4 + $7 + $8 + $9; print busy, busy + $5 + $6 + $9, $9 }' /proc/stat
}

# CPU seconds (user + system) of this shell's finished children, i.e. wrk: `times` must run in
# this shell, not in a $(...) subshell, so it writes to a file.
children_seconds() {
    times >"$WORK_DIR/times"
    awk 'NR == 2 {
        split($1, u, /[ms]/); split($2, s, /[ms]/)
        printf "%.3f\n", u[1] * 60 + u[2] + s[1] * 60 + s[2]
    }' "$WORK_DIR/times"
}

start_server() { # backend database_url
    local backend=$1 url=$2
    PORT=$(free_port)
    BASE="http://127.0.0.1:$PORT"
    env DATABASE_URL="$url" \
        KARADA_JWT_SECRET="bench-secret-0123456789abcdef0123456789abcdef" \
        KARADA_LOGIN_BURST_PER_ACCOUNT=100000 \
        KARADA_LOGIN_BURST_PER_ADDRESS=100000 \
        KARADA_REGISTER_BURST_PER_ADDRESS=100000 \
        "$BIN" serve --bind "127.0.0.1:$PORT" >"$RESULTS_DIR/server-$backend.log" 2>&1 &
    SERVER_PID=$!
    for _ in $(seq 1 300); do
        if curl -fsS -o /dev/null "$BASE/readyz" 2>/dev/null; then
            log "$backend server ready on port $PORT (pid $SERVER_PID)"
            return 0
        fi
        if ! kill -0 "$SERVER_PID" 2>/dev/null; then
            log "server exited early; last log lines:"
            tail -n 20 "$RESULTS_DIR/server-$backend.log" >&2
            exit 1
        fi
        sleep 0.1
    done
    log "server not ready after 30 s"
    exit 1
}

json_field() { # file field
    python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$1" "$2"
}

register() { # -> sets EMAIL, PASSWORD, TOKEN
    EMAIL="bench-$RANDOM-$$@example.com"
    PASSWORD="bench-password-$RANDOM$RANDOM"
    local code
    code=$(curl -sS -o "$WORK_DIR/register.json" -w '%{http_code}' -X POST "$BASE/v1/auth/register" \
        -H 'Content-Type: application/json' \
        --data "{\"email\":\"$EMAIL\",\"password\":\"$PASSWORD\",\"birth_date\":\"1980-01-01\",\"sex\":\"female\"}")
    [ "$code" = 201 ] || { log "register answered $code: $(cat "$WORK_DIR/register.json")"; exit 1; }
    TOKEN=$(json_field "$WORK_DIR/register.json" access_token)
    # Both measured requests must succeed before wrk hammers them.
    code=$(curl -sS -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $TOKEN" "$BASE/v1/me")
    [ "$code" = 200 ] || { log "GET /v1/me answered $code"; exit 1; }
    code=$(curl -sS -o /dev/null -w '%{http_code}' -X POST "$BASE/v1/auth/login" \
        -H 'Content-Type: application/json' --data "{\"email\":\"$EMAIL\",\"password\":\"$PASSWORD\"}")
    [ "$code" = 200 ] || { log "POST /v1/auth/login answered $code"; exit 1; }
}

# Transactions committed or rolled back in the benchmark database (PostgreSQL only): each
# statement outside an explicit transaction is one, so this counts round trips that did work.
# Backends publish these counters lazily (within 10 s of going idle), hence the settle below.
pg_xacts() {
    psql -d postgres -qtAc "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = '$PG_DB'"
}

run_wrk() { # backend phase connections duration record(0|1) wrk-args...
    local backend=$1 phase=$2 conns=$3 duration=$4 record=$5
    shift 5
    local threads=$((THREADS < conns ? THREADS : conns))
    local out="$RESULTS_DIR/wrk-$backend-$phase-c$conns.txt"
    [ "$record" = 1 ] || out="$WORK_DIR/warmup.txt"
    # Database transactions per request, for the authenticated GET on PostgreSQL only.
    local count_xacts=0 x_before="" xacts="-"
    [ "$record" = 1 ] && [ "$backend" = postgres ] && [ "$phase" = me ] && count_xacts=1
    if [ "$count_xacts" = 1 ]; then
        sleep 11
        x_before=$(pg_xacts)
    fi
    local before after m_before m_after
    children_seconds >"$WORK_DIR/wrk-cpu-before"
    m_before=$(machine_ticks)
    before=$(server_ticks)
    wrk --latency -t "$threads" -c "$conns" -d "$duration" "$@" >"$out"
    after=$(server_ticks)
    m_after=$(machine_ticks)
    children_seconds >"$WORK_DIR/wrk-cpu-after"
    local wrk_cpu
    wrk_cpu=$(awk '{ print $1 - prev } { prev = $1 }' "$WORK_DIR/wrk-cpu-before" "$WORK_DIR/wrk-cpu-after" | tail -n 1)
    if [ "$count_xacts" = 1 ]; then
        sleep 11
        xacts=$(($(pg_xacts) - x_before))
    fi
    if [ "$record" = 1 ]; then
        printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$backend" "$phase" "$conns" "$((after - before))" \
            "$wrk_cpu" "$m_before" "$m_after" "$xacts" "$out" >>"$INDEX"
        log "$backend $phase c=$conns: $(grep -E 'Requests/sec' "$out" | tr -s ' ')"
    fi
    sleep 1
}

bench_backend() { # backend
    local backend=$1 url
    case "$backend" in
        sqlite) url="sqlite://$WORK_DIR/bench.db" ;;
        postgres)
            PG_DB="karada_authbench_$$_$RANDOM"
            psql -d postgres -v ON_ERROR_STOP=1 -qc "CREATE DATABASE \"$PG_DB\"" >/dev/null
            url="postgres://$PGUSER@$PGHOST:$PGPORT/$PG_DB"
            ;;
    esac
    start_server "$backend" "$url"
    register
    local auth=(-H "Authorization: Bearer $TOKEN")

    run_wrk "$backend" warmup "$CONNECTIONS" "$WARMUP" 0 "$BASE/healthz"
    run_wrk "$backend" warmup "$CONNECTIONS" "$WARMUP" 0 "${auth[@]}" "$BASE/v1/me"
    run_wrk "$backend" healthz "$CONNECTIONS" "$DURATION" 1 "$BASE/healthz"
    run_wrk "$backend" me "$CONNECTIONS" "$DURATION" 1 "${auth[@]}" "$BASE/v1/me"
    for c in $LOGIN_CONNECTIONS; do
        KARADA_BENCH_EMAIL=$EMAIL KARADA_BENCH_PASSWORD=$PASSWORD \
            run_wrk "$backend" login "$c" "$DURATION" 1 -s "$LUA" "$BASE/v1/auth/login"
    done

    stop_server
    drop_pg_db
}

# ---- run ----
log "results in $RESULTS_DIR"
{
    echo "date (UTC): $(date -u '+%Y-%m-%d %H:%M:%S')"
    echo "commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD -- src Cargo.toml Cargo.lock 2>/dev/null || echo ' (src/Cargo modified in work tree)')"
    echo "cpu: $(nproc) x $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)"
    echo "load average at start: $(cut -d ' ' -f 1-3 /proc/loadavg)"
    echo "wrk: $(wrk -v 2>&1 | head -n 1 | cut -d ' ' -f 1-2), $THREADS threads max, $CONNECTIONS connections for healthz/me, login at: $LOGIN_CONNECTIONS; $DURATION per phase after a $WARMUP warm-up"
    echo "server: workers ${KARADA_WORKERS:-default (one per core)}, pool size ${KARADA_DB_POOL_SIZE:-default (16; SQLite at most 8)}; login throttles raised to 100000"
} | tee "$RESULTS_DIR/environment.txt"

for backend in $BACKENDS; do
    if [ "$backend" = postgres ] && ! psql -d postgres -qtAc 'SELECT 1' >/dev/null 2>&1; then
        if [ "$PG_OPTIONAL" = 1 ]; then
            log "PostgreSQL at $PGHOST:$PGPORT not reachable: skipped"
            continue
        fi
        log "PostgreSQL at $PGHOST:$PGPORT not reachable"
        exit 1
    fi
    bench_backend "$backend"
done

# ---- summary ----
python3 - "$INDEX" "$(getconf CLK_TCK)" <<'PY' | tee "$RESULTS_DIR/summary.txt"
import re
import sys

index, clk_tck = sys.argv[1], int(sys.argv[2])
UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3, "h": 3600e3}


def ms(text):
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m|h)", text)
    return float(m.group(1)) * UNITS[m.group(2)]


def parse(path):
    text = open(path).read()
    r = {}
    r["avg"] = ms(re.search(r"^\s+Latency\s+(\S+)", text, re.M).group(1))
    for p in ("50", "99"):
        r["p" + p] = ms(re.search(r"^\s+" + p + r"%\s+(\S+)", text, re.M).group(1))
    r["max"] = ms(re.search(r"^\s+Latency\s+\S+\s+\S+\s+(\S+)", text, re.M).group(1))
    r["requests"] = int(re.search(r"^\s+(\d+) requests in", text, re.M).group(1))
    r["rps"] = float(re.search(r"^Requests/sec:\s+([\d.]+)", text, re.M).group(1))
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    r["non2xx"] = int(m.group(1)) if m else 0
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    r["sockerr"] = sum(map(int, m.groups())) if m else 0
    return r


rows = []
for line in open(index):
    backend, phase, conns, ticks, wrk_cpu, m_before, m_after, xacts, path = line.rstrip("\n").split("\t")
    r = parse(path)
    r.update(backend=backend, phase=phase, conns=int(conns))
    # Where the machine's CPU went during the phase, in % of all cores.
    (b0, t0, st0), (b1, t1, st1) = map(int, m_before.split()), map(int, m_after.split())
    total = (t1 - t0) or 1
    r["cpu_busy"] = 100 * (b1 - b0) / total
    r["cpu_server"] = 100 * int(ticks) / total
    r["cpu_wrk"] = 100 * float(wrk_cpu) * clk_tck / total
    r["cpu_other"] = r["cpu_busy"] - r["cpu_server"] - r["cpu_wrk"]
    r["cpu_steal"] = 100 * (st1 - st0) / total
    r["xacts"] = f"{int(xacts) / r['requests']:.2f}" if xacts != "-" and r["requests"] else "-"
    # Server process CPU (all its threads; the database server's own CPU is not included).
    r["cpu_us"] = int(ticks) / clk_tck * 1e6 / r["requests"] if r["requests"] else float("nan")
    rows.append(r)

head = ("backend", "phase", "conns", "requests", "req/s", "mean ms", "p50 ms", "p99 ms", "max ms",
        "srv CPU us/req", "db xact/req", "non-2xx", "sock err")
fmt = "{:<9} {:<8} {:>5} {:>9} {:>9} {:>8} {:>8} {:>8} {:>8} {:>14} {:>11} {:>8} {:>8}"
print()
print(fmt.format(*head))
for r in rows:
    print(fmt.format(r["backend"], r["phase"], r["conns"], r["requests"], f"{r['rps']:.1f}",
                     f"{r['avg']:.2f}", f"{r['p50']:.2f}", f"{r['p99']:.2f}", f"{r['max']:.2f}",
                     f"{r['cpu_us']:.0f}", r["xacts"], r["non2xx"], r["sockerr"]))

print()
print("CPU during each phase, % of all cores (other = everything but karada and wrk: the PostgreSQL")
print("server when it is the backend, and anything else running on the machine; steal = hypervisor):")
fmt = "{:<9} {:<8} {:>5} {:>7} {:>7} {:>7} {:>7} {:>7}"
print(fmt.format("backend", "phase", "conns", "busy", "karada", "wrk", "other", "steal"))
for r in rows:
    print(fmt.format(r["backend"], r["phase"], r["conns"],
                     *(f"{r[k]:.0f}" for k in ("cpu_busy", "cpu_server", "cpu_wrk", "cpu_other", "cpu_steal"))))

print()
for backend in dict.fromkeys(r["backend"] for r in rows):
    by = {r["phase"]: r for r in rows if r["backend"] == backend}
    if "healthz" in by and "me" in by:
        h, m = by["healthz"], by["me"]
        print(f"{backend}: GET /v1/me vs GET /healthz: throughput {m['rps'] / h['rps']:.2f}x, "
              f"p50 {m['p50'] / h['p50']:.2f}x, p99 {m['p99'] / h['p99']:.2f}x, "
              f"server CPU per request {m['cpu_us'] / h['cpu_us']:.1f}x")

bad = [r for r in rows if r["non2xx"] or r["sockerr"]]
for r in bad:
    print(f"WARNING: {r['backend']} {r['phase']} c={r['conns']}: {r['non2xx']} non-2xx/3xx responses, "
          f"{r['sockerr']} socket errors")
sys.exit(1 if bad else 0)
PY
log "raw wrk output and server logs: $RESULTS_DIR"
