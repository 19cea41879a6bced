#!/usr/bin/env bash
# `make bench`: the write path under load, on this machine, with broker, Postgres, services and
# load generator (wrk) sharing its cores. Starts its own stack (release build, a fresh database
# and a fresh memory broker on their own ports), measures, stops it. Prints a Markdown summary.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${BENCH_DURATION:-20s}
export KAFKA_PORT=${BENCH_KAFKA_PORT:-19392}
GATEWAY_PORT=${BENCH_GATEWAY_PORT:-18480}
WORK=$(mktemp -d)
db=roster_bench
export ROSTER__DATABASE__URL=postgres://postgres@127.0.0.1:5432/$db
export ROSTER__KAFKA__BROKERS=127.0.0.1:$KAFKA_PORT
export ROSTER__GATEWAY__PORT=$GATEWAY_PORT
export ROSTER__TELEMETRY__FILTER=warn
BIN=${CARGO_TARGET_DIR:-target}/release
pids=()

cleanup() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  scripts/stack.sh broker-stop "$WORK/broker"
  rm -rf "$WORK"
}
trap cleanup EXIT

command -v wrk >/dev/null || { echo "bench: installing wrk" >&2; apt-get install -y wrk >&2 || { apt-get update >&2 && apt-get install -y wrk >&2; }; }
scripts/stack.sh postgres
cargo build --release --bins --quiet
psql -q postgres://postgres@127.0.0.1:5432/postgres -c "DROP DATABASE IF EXISTS $db WITH (FORCE)"
"$BIN"/roster migrate --create-database >/dev/null 2>&1
if (exec 3<>"/dev/tcp/127.0.0.1/$KAFKA_PORT") 2>/dev/null; then
  echo "bench: something already listens on $KAFKA_PORT; the bench needs a fresh broker" >&2
  exit 1
fi
scripts/stack.sh broker-memory "$WORK/broker"
"$BIN"/roster-projector >"$WORK/projector.log" 2>&1 & pids+=($!)
"$BIN"/roster-gateway >"$WORK/gateway.log" 2>&1 & pids+=($!)
until curl -fs "http://127.0.0.1:$GATEWAY_PORT/health/ready" >/dev/null; do sleep 0.2; done
"$BIN"/roster dev bootstrap --state-file "$WORK/token" >"$WORK/connection" 2>/dev/null
url=$(sed -n 's/^Tenant URL: //p' "$WORK/connection")
export TOKEN
TOKEN=$(sed -n 's/^Secret Token: //p' "$WORK/connection")

# Warm up connections, the topic's partitions and the projector's assignment.
wrk -t1 -c4 -d3s -s bench/create_users.lua "$url/Users" >/dev/null

summary() { # title, wrk output
  local reqs p50 p99 others
  reqs=$(awk '/Requests\/sec/ {print $2}' <<<"$2")
  p50=$(awk '$1 == "50%" {print $2}' <<<"$2")
  p99=$(awk '$1 == "99%" {print $2}' <<<"$2")
  others=$(awk -F': ' '/wrong answers/ {print $2}' <<<"$2")
  printf '| %s | %s | %s | %s | %s |\n' "$1" "$reqs" "$p50" "$p99" "$others"
}

single=$(wrk -t1 -c1 -d"$DURATION" --latency -s bench/create_users.lua "$url/Users")
concurrent=$(wrk -t2 -c32 -d"$DURATION" --latency -s bench/create_users.lua "$url/Users")

# Reads: Entra's matching query against the users just created. Postgres on these machines runs
# with autovacuum off, so the table is analyzed here as autovacuum would have done by now.
psql -q "$ROSTER__DATABASE__URL" -c "ANALYZE users"
export USERNAMES=$WORK/usernames
psql -tA "$ROSTER__DATABASE__URL" -c 'SELECT user_name FROM users ORDER BY random() LIMIT 10000' >"$USERNAMES"
users=$(psql -tA "$ROSTER__DATABASE__URL" -c 'SELECT count(*) FROM users')
filter=$(wrk -t2 -c32 -d"$DURATION" --latency -s bench/filter_users.lua "$url/Users")

echo
echo "| $(date -u +%F), $(nproc) cores, $DURATION each | requests/s | p50 | p99 | wrong answers |"
echo "|---|---|---|---|---|"
summary "POST /Users, 1 client" "$single"
summary "POST /Users, 32 clients" "$concurrent"
summary "GET /Users?filter=userName eq, 32 clients, $users users" "$filter"
