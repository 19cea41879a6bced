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
# shellcheck source=own-stack.sh
. scripts/own-stack.sh
own_stack idle "${IDLE_KAFKA_PORT:-19097}" "${IDLE_GATEWAY_PORT:-18087}" \
  "IDLE_GATEWAY_PORT / IDLE_KAFKA_PORT"
sleep "$SETTLE"

# name pid, for every process measured
processes() {
  while read -r p name; do echo "$name $p"; done <"$ROSTER_DATA_DIR/services.pids"
  echo "nisshi $(cat "$ROSTER_DATA_DIR/broker/nisshi.pid")"
  psql -Atq postgres://postgres@127.0.0.1:5432/postgres \
    -c "SELECT 'postgres', pid FROM pg_stat_activity WHERE datname = '$OWN_DB'" | tr '|' ' '
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
