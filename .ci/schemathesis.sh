#!/usr/bin/env bash
# Runs schemathesis (pinned) against the release binary serving its own openapi.yaml.
# One worker: with two, hypothesis sometimes parses lambda sources on two threads at once and
# CPython 3.11 fails with "AST constructor recursion depth mismatch" (a runner error, not ours).
# Any 5xx, any response that does not match the document, or any undocumented status fails.
set -euo pipefail
cd "$(dirname "$0")/.."

ST_VERSION=4.32.5
VENV=target/ci-venv
if [ ! -x "$VENV/bin/st" ] || ! "$VENV/bin/st" --version 2>/dev/null | grep -q "$ST_VERSION"; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$ST_VERSION"
fi

cargo build --release --quiet
work=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
base="http://127.0.0.1:$port"
DATABASE_URL="sqlite://$work/karada.db" KARADA_JWT_SECRET="ci-secret-ci-secret-ci-secret-ci-secret" \
  KARADA_LOG=warn target/release/karada serve --bind "127.0.0.1:$port" >"$work/server.log" 2>&1 &
server=$!
cleanup() {
  kill "$server" 2>/dev/null || true
  wait "$server" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

for _ in $(seq 1 100); do
  curl -fsS "$base/readyz" >/dev/null 2>&1 && break
  sleep 0.1
done
curl -fsS "$base/readyz" >/dev/null || { echo "server did not start:"; cat "$work/server.log"; exit 1; }

# A resident for the authenticated operations.
token=$(curl -fsS -X POST "$base/v1/auth/register" -H 'content-type: application/json' \
  -d '{"email":"schemathesis@example.jp","password":"schemathesis password","birth_date":"1980-01-01","sex":"other"}' |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')

st() {
  "$VENV/bin/st" run "$base/openapi.yaml" \
    --checks not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance \
    --max-examples "${SCHEMATHESIS_MAX_EXAMPLES:-40}" \
    --seed "${SCHEMATHESIS_SEED:-20261124}" \
    --generation-database none \
    --workers 1 \
    --no-color \
    --suppress-health-check all \
    "$@"
}
# Logged in before the resident pass: that pass's login attempts use up the per-address
# login throttle, and a later login would get 429.
# An operator for the admin operations, so their validation is exercised too (as a resident they
# only answer 403).
echo "schemathesis operator password" | DATABASE_URL="sqlite://$work/karada.db" \
  target/release/karada admin create-user --email ops@example.jp --role admin
admin=$(curl -fsS -X POST "$base/v1/auth/login" -H 'content-type: application/json' \
  -d '{"email":"ops@example.jp","password":"schemathesis operator password"}' |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
st --header "Authorization: Bearer $token"

st --header "Authorization: Bearer $admin" --include-tag admin

# Graceful shutdown: SIGTERM lets in-flight requests finish and the process exits cleanly.
kill -TERM "$server"
if wait "$server"; then
  echo "server stopped cleanly on SIGTERM"
else
  echo "server did not exit cleanly on SIGTERM" >&2
  exit 1
fi
