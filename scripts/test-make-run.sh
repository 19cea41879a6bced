#!/usr/bin/env bash
# Acceptance for `make run`: on its own ports, database and data directory it prints exactly
# the two lines; curl with them creates a user (201); Ctrl-C stops everything; a second run keeps
# the users of the first and takes new creates.
set -euo pipefail
set -m # background jobs get their own process group, and SIGINT, like a terminal's Ctrl-C
cd "$(dirname "$0")/.."

export PROFILE=${PROFILE:-dev}
export ROSTER_DATA_DIR
ROSTER_DATA_DIR=$(mktemp -d)
export KAFKA_PORT=${SMOKE_KAFKA_PORT:-19092}
export GATEWAY_PORT=${SMOKE_GATEWAY_PORT:-18080}
for port in "$GATEWAY_PORT" "$KAFKA_PORT"; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    echo "$(basename "$0"): port $port is taken by $(scripts/stack.sh listener "$port"); stop it, or set SMOKE_GATEWAY_PORT / SMOKE_KAFKA_PORT" >&2
    exit 1
  fi
done
# Free ports for the consumers' health endpoints too, beside a `make run` stack.
export ROSTER__PROJECTOR__HEALTH_PORT=0 ROSTER__ROLE_MAPPER__HEALTH_PORT=0 ROSTER__GATEWAY__METRICS_PORT=0
db=roster_make_run_$$
export ROSTER__DATABASE__URL=postgres://postgres@127.0.0.1:5432/$db
export ROSTER__TELEMETRY__FILTER=warn
out=$ROSTER_DATA_DIR/stdout
fail() { echo "test-make-run: FAIL: $*" >&2; [ -f "$ROSTER_DATA_DIR/stderr" ] && tail -n 40 "$ROSTER_DATA_DIR/stderr" >&2; exit 1; }
pid=

cleanup() {
  [ -n "$pid" ] && kill -INT -- -"$pid" 2>/dev/null || true
  [ -n "$pid" ] && wait "$pid" 2>/dev/null || true
  psql -q postgres://postgres@127.0.0.1:5432/postgres -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
  rm -rf "$ROSTER_DATA_DIR"
}
trap cleanup EXIT

start() {
  : >"$out"
  make --no-print-directory run >"$out" 2>>"$ROSTER_DATA_DIR/stderr" &
  pid=$!
  local deadline=$((SECONDS + 600))
  until [ "$(grep -c . "$out")" -ge 2 ]; do
    kill -0 "$pid" 2>/dev/null || fail "make run exited before printing the two lines"
    ((SECONDS < deadline)) || fail "make run printed no Tenant URL / Secret Token within 600 s"
    sleep 0.2
  done
  [ "$(wc -l <"$out")" -eq 2 ] || fail "stdout has more than the two lines: $(cat "$out")"
  url=$(sed -n 's/^Tenant URL: //p' "$out")
  token=$(sed -n 's/^Secret Token: //p' "$out")
  [[ $url == http://127.0.0.1:$GATEWAY_PORT/scim/v2/* ]] || fail "unexpected Tenant URL: $url"
  [ -n "$token" ] || fail "no Secret Token"
}

stop() { # Ctrl-C, then everything must be down
  kill -INT -- -"$pid"
  # make itself reports the interrupt with a non-zero status, as it does at a terminal; what
  # matters is that run.sh stopped every service it started.
  wait "$pid" || true
  pid=
  [ "$(tail -n 1 "$ROSTER_DATA_DIR/stderr")" = "run: stopped" ] || fail "make run did not stop cleanly"
  for port in "$GATEWAY_PORT" "$KAFKA_PORT"; do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then fail "port $port still open after Ctrl-C"; fi
  done
}

create() { # userName -> HTTP status
  curl -s -o /dev/null -w '%{http_code}' -X POST "$url/Users" \
    -H "Authorization: Bearer $token" -H 'Content-Type: application/scim+json' \
    -d "{\"schemas\":[\"urn:ietf:params:scim:schemas:core:2.0:User\"],\"userName\":\"$1\",\"active\":true}"
}

count() { # userName -> totalResults
  curl -s -H "Authorization: Bearer $token" "$url/Users?filter=userName+eq+%22$1%22" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["totalResults"])'
}

start
[ "$(create first@contoso.com)" = 201 ] || fail "create on the first run"
[ "$(count first@contoso.com)" = 1 ] || fail "first user not found"
stop

start
[ "$(count first@contoso.com)" = 1 ] || fail "the first run's user is gone after a restart"
[ "$(create second@contoso.com)" = 201 ] || fail "create on the second run"
[ "$(create FIRST@contoso.com)" = 409 ] || fail "duplicate after restart not detected"
stop
echo "2 passed, 0 failed: make-run"
