#!/usr/bin/env bash
# What `make run` costs while nothing happens: starts it (release build, durable broker) on its
# own ports, database and data directory, lets it settle, then reads the CPU time of every
# process of the stack from /proc over IDLE_SECONDS (30): the three services, the broker, and
# the Postgres backends serving the stack's database. Prints a Markdown table, in % of one core.
set -euo pipefail
cd "$(dirname "$0")/.."

SECONDS_MEASURED=${IDLE_SECONDS:-30}
SETTLE=${IDLE_SETTLE:-10}
export PROFILE=${PROFILE:-release}
export ROSTER_DATA_DIR
ROSTER_DATA_DIR=$(mktemp -d)
export KAFKA_PORT=${IDLE_KAFKA_PORT:-19097}
export GATEWAY_PORT=${IDLE_GATEWAY_PORT:-18087}
export ROSTER__PROJECTOR__HEALTH_PORT=0 ROSTER__ROLE_MAPPER__HEALTH_PORT=0
db=roster_idle_$$
export ROSTER__DATABASE__URL=postgres://postgres@127.0.0.1:5432/$db
export ROSTER__TELEMETRY__FILTER=warn
pid=

cleanup() {
  if [ -n "$pid" ]; then kill -TERM "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  psql -q postgres://postgres@127.0.0.1:5432/postgres -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
  rm -rf "$ROSTER_DATA_DIR"
}
trap cleanup EXIT

scripts/run.sh >"$ROSTER_DATA_DIR/stdout" 2>"$ROSTER_DATA_DIR/stderr" &
pid=$!
deadline=$((SECONDS + 900))
until [ "$(grep -c . "$ROSTER_DATA_DIR/stdout")" -ge 2 ]; do
  kill -0 "$pid" 2>/dev/null || { tail -n 30 "$ROSTER_DATA_DIR/stderr" >&2; exit 1; }
  ((SECONDS < deadline)) || { echo "idle-cpu: the stack did not start" >&2; exit 1; }
  sleep 0.5
done
sleep "$SETTLE"

# name pid, for every process measured
processes() {
  while read -r p name; do echo "$name $p"; done <"$ROSTER_DATA_DIR/services.pids"
  echo "nisshi $(cat "$ROSTER_DATA_DIR/broker/nisshi.pid")"
  psql -Atq postgres://postgres@127.0.0.1:5432/postgres \
    -c "SELECT 'postgres', pid FROM pg_stat_activity WHERE datname = '$db'" | tr '|' ' '
}
ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }

mapfile -t before < <(processes | while read -r name p; do echo "$name $p $(ticks "$p")"; done)
sleep "$SECONDS_MEASURED"
hz=$(getconf CLK_TCK)
declare -A used
total=0
for line in "${before[@]}"; do
  read -r name p start <<<"$line"
  now=$(ticks "$p")
  delta=$((now > start ? now - start : 0))
  used[$name]=$(( ${used[$name]:-0} + delta ))
  total=$((total + delta))
done
pct() { awk -v t="$1" -v hz="$hz" -v s="$SECONDS_MEASURED" 'BEGIN { printf "%.1f", 100 * t / hz / s }'; }
echo "| process | CPU, % of one core |"
echo "|---|---|"
for name in roster-gateway roster-projector roster-role-mapper nisshi postgres; do
  echo "| $name | $(pct "${used[$name]:-0}") |"
done
echo "| **all** | **$(pct "$total")** |"
echo "(make run idle for ${SECONDS_MEASURED} s after ${SETTLE} s, $(nproc) cores, $(date -u +%F))"
