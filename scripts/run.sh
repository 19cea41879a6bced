#!/usr/bin/env bash
# `make run`: the whole stack in the foreground, ready for Entra.
# stdout carries exactly two lines, "Tenant URL: …" and "Secret Token: …"; logs go to stderr,
# with the console's address and an operator admin token to sign in with.
# Ctrl-C (or SIGTERM) stops everything this script started.
set -euo pipefail
cd "$(dirname "$0")/.."

PROFILE=${PROFILE:-release}
DATA=${ROSTER_DATA_DIR:-$PWD/.roster}
KAFKA_PORT=${KAFKA_PORT:-9092}
GATEWAY_PORT=${GATEWAY_PORT:-8080}
export KAFKA_PORT
export ROSTER__DATABASE__URL=${ROSTER__DATABASE__URL:-postgres://postgres@127.0.0.1:5432/roster}
export ROSTER__KAFKA__BROKERS=${ROSTER__KAFKA__BROKERS:-127.0.0.1:$KAFKA_PORT}
export ROSTER__GATEWAY__PORT=$GATEWAY_PORT
TARGET=${CARGO_TARGET_DIR:-target}
case $PROFILE in dev) BIN=$TARGET/debug ;; *) BIN=$TARGET/$PROFILE ;; esac

log() { echo "run: $*" >&2; }
pids=()
started_broker=0

# Refuse before anything starts (and before the traps, which would stop what another run owns).
if [ -f "$DATA/run.pid" ] && kill -0 "$(cat "$DATA/run.pid")" 2>/dev/null; then
  log "a make run of this checkout is already running (pid $(cat "$DATA/run.pid")); make stop stops it"
  exit 1
fi
if (exec 3<>"/dev/tcp/127.0.0.1/$GATEWAY_PORT") 2>/dev/null; then
  log "port $GATEWAY_PORT (the gateway's) is taken by $(scripts/stack.sh listener "$GATEWAY_PORT");"
  log "stop that process, or choose another port with GATEWAY_PORT=<port>"
  exit 1
fi

stop_all() {
  trap - INT TERM EXIT
  log "stopping"
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [ "$started_broker" = 1 ]; then scripts/stack.sh broker-stop "$DATA/broker"; fi
  rm -f "$DATA/run.pid" "$DATA/services.pids"
  log "stopped"
}
trap 'stop_all; exit 0' INT TERM
trap stop_all EXIT

# `make stop` stops exactly what this records: this script (which stops the rest) and the services.
mkdir -p "$DATA"
echo $$ >"$DATA/run.pid"
: >"$DATA/services.pids"

scripts/stack.sh postgres
log "building ($PROFILE)"
cargo build --profile "$PROFILE" --bins >&2
# The log must be durable and this checkout's own: broker-durable refuses a port that another
# broker holds (a test's memory broker would lose the log when it stops).
scripts/stack.sh broker-durable "$DATA/broker"
started_broker=1

"$BIN/roster" migrate --create-database >&2

# Each service logs to stderr, prefixed with its name.
start() { # name binary
  "$BIN/$2" > >(sed -u "s/^/[$1] /" >&2) 2>&1 &
  pids+=($!)
  echo "$! $2" >>"$DATA/services.pids"
}
start projector roster-projector
start role-mapper roster-role-mapper
start gateway roster-gateway

deadline=$((SECONDS + 60))
until curl -fs "http://127.0.0.1:$GATEWAY_PORT/health/ready" >/dev/null 2>&1; do
  if ((SECONDS >= deadline)); then log "the gateway did not become ready"; exit 1; fi
  for pid in "${pids[@]}"; do
    kill -0 "$pid" 2>/dev/null || { log "a service exited during start-up"; exit 1; }
  done
  sleep 0.2
done

"$BIN/roster" dev bootstrap --state-file "$DATA/demo-token" --admin-token-file "$DATA/admin-token"
log "ready; Ctrl-C stops everything"

# Stay in the foreground until a service exits or we are interrupted.
wait -n "${pids[@]}" || true
log "a service exited"
exit 1
