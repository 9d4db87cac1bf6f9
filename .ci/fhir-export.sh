#!/usr/bin/env bash
# Validates the release binary's FHIR export with an independent FHIR library (fhir.resources,
# pinned, from PyPI; its R4B models): see .ci/fhir_validate.py for what is set up and checked.
set -euo pipefail
cd "$(dirname "$0")/.."

FHIR_RESOURCES_VERSION=8.0.0
VENV=target/ci-fhir-venv
if ! "$VENV/bin/python" -c "import fhir.resources, sys; sys.exit(fhir.resources.__version__ != '$FHIR_RESOURCES_VERSION')" 2>/dev/null; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "fhir.resources==$FHIR_RESOURCES_VERSION"
fi

cargo build --release --quiet
work=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
base="http://127.0.0.1:$port"
echo "fhir validation operator password" | DATABASE_URL="sqlite://$work/karada.db" \
  target/release/karada admin create-user --email ops@example.jp --role admin >/dev/null
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

"$VENV/bin/python" .ci/fhir_validate.py "$base" ops@example.jp "fhir validation operator password"
