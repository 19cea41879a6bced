#!/usr/bin/env bash
# scim2-tester (PyPI scim2-tester==0.5.2, through scim2-cli==0.6.0) against the running gateway:
# a `make run` stack on its own ports, database and data directory, whose directory holds a user
# with Entra's custom extension attributes. Every check must be SUCCESS.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${ROSTER_CACHE:-$HOME/.cache/roster}/scim2-tester-0.5.2
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c 'import scim2_tester' 2>/dev/null; then
  echo "scim2-tester: installing into $VENV" >&2
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet 'scim2-cli==0.6.0' 'scim2-tester==0.5.2' >&2
fi

export PROFILE=${PROFILE:-dev}
export ROSTER_DATA_DIR
ROSTER_DATA_DIR=$(mktemp -d)
export KAFKA_PORT=${SCIM2_KAFKA_PORT:-19093}
export GATEWAY_PORT=${SCIM2_GATEWAY_PORT:-18081}
for port in "$GATEWAY_PORT" "$KAFKA_PORT"; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    echo "$(basename "$0"): port $port is taken by $(scripts/stack.sh listener "$port"); stop it, or set SCIM2_GATEWAY_PORT / SCIM2_KAFKA_PORT" >&2
    exit 1
  fi
done
# Free ports for the consumers' health endpoints too, beside a `make run` stack.
export ROSTER__PROJECTOR__HEALTH_PORT=0 ROSTER__ROLE_MAPPER__HEALTH_PORT=0
db=roster_scim2_tester_$$
export ROSTER__DATABASE__URL=postgres://postgres@127.0.0.1:5432/$db
export ROSTER__TELEMETRY__FILTER=warn
out=$ROSTER_DATA_DIR/stdout
pid=

cleanup() {
  if [ -n "$pid" ]; then kill -TERM "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  psql -q postgres://postgres@127.0.0.1:5432/postgres -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
  rm -rf "$ROSTER_DATA_DIR"
}
trap cleanup EXIT

scripts/run.sh >"$out" 2>"$ROSTER_DATA_DIR/stderr" &
pid=$!
deadline=$((SECONDS + 600))
until [ "$(grep -c . "$out")" -ge 2 ]; do
  kill -0 "$pid" 2>/dev/null || { tail -n 40 "$ROSTER_DATA_DIR/stderr" >&2; exit 1; }
  ((SECONDS < deadline)) || { echo "scim2-tester: the stack did not start" >&2; exit 1; }
  sleep 0.2
done
url=$(sed -n 's/^Tenant URL: //p' "$out")
token=$(sed -n 's/^Secret Token: //p' "$out")
# The directory first receives a user with Entra's custom extension attributes (sent, as Entra
# does, without the extension's URN in `schemas`): strict clients must be able to validate the
# users Roster returns, so /Schemas and /ResourceTypes must declare it.
curl -fsS -o /dev/null -X POST "$url/Users" -H "Authorization: Bearer $token" \
  -H 'Content-Type: application/scim+json' -d '{
    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
    "userName": "custom-extension@contoso.com", "active": true,
    "name": {"givenName": "Custom", "familyName": "Extension"},
    "urn:ietf:params:scim:schemas:extension:CustomExt:2.0:User": {"costCenter": "4711", "badge": "B-17"}
  }' || { echo "scim2-tester: could not create the custom-extension user" >&2; exit 1; }
SCIM_TOKEN=$token "$VENV/bin/python" scripts/run-scim2-tester.py "$url"
