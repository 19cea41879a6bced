#!/usr/bin/env bash
# `make bench`: the write path under load, on this machine, with broker, Postgres, services and
# load generator (wrk) sharing its cores. Starts its own stack (release build, a fresh database
# and a fresh memory broker on their own ports), measures, stops it. Prints a Markdown summary.
#
# BENCH_SCENARIOS picks what runs (space- or comma-separated; default all, in this order):
#   create  POST /Users with 1 and with 32 clients (wrk, BENCH_DURATION each), and the
#           notification lag (notification-lag) under the 32 clients
#   filter  GET /Users?filter=userName eq "…", 32 clients (wrk), in a directory of
#           BENCH_LOOKUP_USERS (100000) users seeded by seed-users
#   sync    Entra's initial cycle into a fresh directory (the initial-sync binary): lookups and
#           creates of BENCH_SYNC_USERS users (10000) and BENCH_SYNC_GROUPS groups (100), then
#           BENCH_SYNC_MEMBERSHIPS memberships (20000) added BENCH_SYNC_BATCH (100) per group
#           PATCH, BENCH_SYNC_CONCURRENCY (16) requests in flight. Fails the bench if any request
#           is answered other than Entra expects.
#   flood   fair share: 64 clients creating users in one directory (wrk, BENCH_DURATION) while
#           one client creates users in another tenant's directory; the bystander's latency is
#           what counts (target p99 ≤ 100 ms). Also counts the flood's 429s.
#   rebuild (not in the default list) `roster rebuild --verify` of everything the run wrote,
#           into a fresh database, timed: run it after `sync` (BENCH_SCENARIOS=sync,rebuild). Not
#           with `filter`, whose users are seeded past the log.
# BENCH_BROKER=durable runs the broker as `make run` does (Nisshi's SQLite storage) instead of
# its memory storage (the default, as the tests'); both serve fetches very differently from
# Kafka (docs/benchmarks.md, "what the development broker costs a create").
# BENCH_KEEP_LOGS=DIR keeps the services' and the broker's logs there.
# After each create and flood phase the bench prints the consumers' batches (count and mean
# size, from their /metrics).
# BENCH_STATEMENTS=1 adds, for each wrk phase, Postgres's statements ranked by their time in it
# (pg_stat_statements, which the server must preload: the bench says how when it does not).
# BENCH_INSTANCES=N (default 1) runs N of each service (gateways on consecutive ports, the
# projectors and role-mappers sharing their consumer groups), each gateway with its share of the
# cores (nproc / N HTTP workers, as a pod's CPU limit gives); wrk spreads its threads over the
# gateways (bench/spread.lua). The single-client phases and the initial sync use the first.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${BENCH_DURATION:-20s}
SCENARIOS=" ${BENCH_SCENARIOS:-create filter sync flood} "
SCENARIOS=${SCENARIOS//,/ }
want() { [[ $SCENARIOS == *" $1 "* ]]; }
if [[ $SCENARIOS == *" rebuild "* && $SCENARIOS == *" filter "* ]]; then
  echo "bench: rebuild cannot follow filter (its users are seeded past the change log)" >&2
  exit 2
fi
for scenario in $SCENARIOS; do
  case $scenario in
    create | filter | sync | flood | rebuild) ;;
    *) echo "bench: unknown scenario $scenario in BENCH_SCENARIOS (create, filter, sync, flood, rebuild)" >&2; exit 2 ;;
  esac
done
export KAFKA_PORT=${BENCH_KAFKA_PORT:-19392}
GATEWAY_PORT=${BENCH_GATEWAY_PORT:-18480}
WORK=$(mktemp -d)
db=roster_bench
export ROSTER__DATABASE__URL=postgres://postgres@127.0.0.1:5432/$db
export ROSTER__KAFKA__BROKERS=127.0.0.1:$KAFKA_PORT
export ROSTER__GATEWAY__PORT=$GATEWAY_PORT
# The consumers' health endpoints on free ports, beside a `make run` stack.
export ROSTER__PROJECTOR__HEALTH_PORT=0 ROSTER__ROLE_MAPPER__HEALTH_PORT=0 ROSTER__GATEWAY__METRICS_PORT=0
export ROSTER__TELEMETRY__FILTER=warn
BIN=${CARGO_TARGET_DIR:-target}/release
pids=()
keep_logs="" # set when a phase had answers other than it expects: the logs are then kept

cleanup() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  scripts/stack.sh broker-stop "$WORK/broker"
  if [[ -z ${BENCH_KEEP_LOGS:-} && -n $keep_logs ]]; then
    BENCH_KEEP_LOGS=$(mktemp -d "${TMPDIR:-/tmp}/roster-bench-logs.XXXXXX")
    echo "bench: some answers were not what the phase expects; the services' and the broker's logs are in $BENCH_KEEP_LOGS" >&2
  fi
  if [[ -n ${BENCH_KEEP_LOGS:-} ]]; then
    mkdir -p "$BENCH_KEEP_LOGS" && cp "$WORK"/*.log "$WORK/broker/nisshi.log" "$BENCH_KEEP_LOGS"/ 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

command -v wrk >/dev/null || { echo "bench: installing wrk" >&2; apt-get install -y wrk >&2 || { apt-get update >&2 && apt-get install -y wrk >&2; }; }
scripts/stack.sh postgres
# Every package's binaries: the services, the CLI and the initial-sync load generator.
cargo build --release --bins --workspace --quiet
psql -q postgres://postgres@127.0.0.1:5432/postgres -c "DROP DATABASE IF EXISTS $db WITH (FORCE)"
"$BIN"/roster migrate --create-database >/dev/null 2>&1
bench_sql() { psql -qAt "$ROSTER__DATABASE__URL" -c "$1"; }
if [[ ${BENCH_STATEMENTS:-} == 1 ]]; then
  if [[ $(bench_sql "SHOW shared_preload_libraries") != *pg_stat_statements* ]]; then
    echo "bench: BENCH_STATEMENTS needs pg_stat_statements preloaded: as the server's superuser," >&2
    echo "  ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'; then restart Postgres" >&2
    echo "  (pg_ctlcluster 15 main restart), and RESET it the same way afterwards" >&2
    exit 2
  fi
  bench_sql "CREATE EXTENSION IF NOT EXISTS pg_stat_statements"
fi
if (exec 3<>"/dev/tcp/127.0.0.1/$KAFKA_PORT") 2>/dev/null; then
  echo "bench: something already listens on $KAFKA_PORT; the bench needs a fresh broker" >&2
  exit 1
fi
if [[ ${BENCH_BROKER:-memory} == durable ]]; then
  mkdir -p "$WORK/broker" && scripts/stack.sh broker-durable "$WORK/broker"
else
  scripts/stack.sh broker-memory "$WORK/broker"
fi
INSTANCES=${BENCH_INSTANCES:-1}
if ((INSTANCES > 1)); then
  # N instances share this machine's cores as N pods with CPU limits would: in Kubernetes a
  # gateway's HTTP workers follow its cgroup quota (deploy/README.md, Capacity), so each gets
  # nproc / N of them here, and one lookup connection per worker, as one instance has by
  # default. With every gateway taking all the cores, two instances' lookups had p99 31–713 ms
  # against 10–11 ms (docs/benchmarks.md). The environment can still set either.
  per_instance=$(($(nproc) / INSTANCES > 0 ? $(nproc) / INSTANCES : 1))
  export ROSTER__GATEWAY__WORKERS=${ROSTER__GATEWAY__WORKERS:-$per_instance}
  export ROSTER__DATABASE__LOOKUP_POOL_SIZE=${ROSTER__DATABASE__LOOKUP_POOL_SIZE:-$ROSTER__GATEWAY__WORKERS}
  echo "bench: $INSTANCES instances, each gateway with $ROSTER__GATEWAY__WORKERS HTTP workers and $ROSTER__DATABASE__LOOKUP_POOL_SIZE lookup connections" >&2
fi
projector_pids="" role_mapper_pids="" gateway_pids="" gateway_ports=""
for ((i = 0; i < INSTANCES; i++)); do
  suffix=$([[ $i == 0 ]] || echo "-$((i + 1))")
  "$BIN"/roster-projector >"$WORK/projector$suffix.log" 2>&1 & pids+=($!)
  projector_pids+=${projector_pids:+,}$!
  "$BIN"/roster-role-mapper >"$WORK/role-mapper$suffix.log" 2>&1 & pids+=($!)
  role_mapper_pids+=${role_mapper_pids:+,}$!
  ROSTER__GATEWAY__PORT=$((GATEWAY_PORT + i)) "$BIN"/roster-gateway >"$WORK/gateway$suffix.log" 2>&1 & pids+=($!)
  gateway_pids+=${gateway_pids:+,}$!
  gateway_ports+=${gateway_ports:+,}$((GATEWAY_PORT + i))
done
if ((INSTANCES > 1)); then export GATEWAY_PORTS=$gateway_ports; fi
for port in ${gateway_ports//,/ }; do
  until curl -fs "http://127.0.0.1:$port/health/ready" >/dev/null; do sleep 0.2; done
done
"$BIN"/roster dev bootstrap --state-file "$WORK/token" >"$WORK/connection" 2>/dev/null
# The scenarios' tenants, directories and tokens come from the admin API, as an operator's do.
export ROSTER_API_URL=http://127.0.0.1:$GATEWAY_PORT
ROSTER_ADMIN_TOKEN=$("$BIN"/roster admin-token issue --subject bench 2>/dev/null)
export ROSTER_ADMIN_TOKEN
url=$(sed -n 's/^Tenant URL: //p' "$WORK/connection")
export TOKEN
TOKEN=$(sed -n 's/^Secret Token: //p' "$WORK/connection")

# Warm up connections, the topic's partitions and the projector's assignment.
wrk -t1 -c4 -d3s -s bench/create_users.lua "$url/Users" >/dev/null

# The consumers' batches over a wrk phase, from their /metrics (roster_batch_size_events): how
# many transactions each group made, and how many events each held on average.
consumer_batches() { # pids (comma-separated): "count sum", added over the instances
  local pid port
  for pid in ${1//,/ }; do
    port=$(ss -ltnpH | awk -v pid="pid=$pid," 'index($0, pid) {n = split($4, a, ":"); print a[n]; exit}')
    [[ -z $port ]] || curl -fs "http://127.0.0.1:$port/metrics" || true
  done | awk '/^roster_batch_size_events_count/ {c += $NF} /^roster_batch_size_events_sum/ {s += $NF}
    END {printf "%d %d\n", c, s}'
}
batches_snapshot() {
  echo "$(consumer_batches "$projector_pids") $(consumer_batches "$role_mapper_pids")" >"$WORK/batches-$1"
}
batches_report() { # label; nothing when the consumers had nothing to do (the lookups)
  local b a pc rc
  read -ra b <"$WORK/batches-before"
  read -ra a <"$WORK/batches-after"
  pc=$((a[0] - b[0])) rc=$((a[2] - b[2]))
  ((pc + rc > 0)) || return 0
  awk -v label="$1" -v pc="$pc" -v ps=$((a[1] - b[1])) -v rc="$rc" -v rs=$((a[3] - b[3])) 'BEGIN {
    printf "Batches, %s: the projector %d of %.1f events on average, the role-mapper %d of %.1f.\n\n",
      label, pc, pc ? ps / pc : 0, rc, rc ? rs / rc : 0 }'
}
# CPU per request of each process over a wrk phase (scripts/cpu-per-request.sh): a snapshot
# before, one after, and a table per phase in $WORK/cpu.
cpu_snapshot() {
  batches_snapshot "$1"
  scripts/cpu-per-request.sh snapshot gateway="$gateway_pids" projector="$projector_pids" \
    role-mapper="$role_mapper_pids" nisshi="$(cat "$WORK/broker/nisshi.pid")" postgres=all >"$WORK/cpu-$1"
  if [[ $1 == before && ${BENCH_STATEMENTS:-} == 1 ]]; then statements_reset; fi
}
requests_of() { awk '/requests in/ {print $1}' <<<"$1"; } # wrk output
cpu_report() { # label, requests served in the phase
  cpu_snapshot after
  scripts/cpu-per-request.sh report "$WORK/cpu-before" "$WORK/cpu-after" "$2" "$1" >>"$WORK/cpu"
  echo >>"$WORK/cpu"
  batches_report "$1" >>"$WORK/cpu"
  if [[ ${BENCH_STATEMENTS:-} == 1 ]]; then statements_report "$1" >>"$WORK/cpu"; fi
}
# With BENCH_STATEMENTS=1: the statements of this database since the phase began, by their time
# (wall time inside Postgres: on a busy machine it includes waiting for a core).
statements_reset() { bench_sql "SELECT pg_stat_statements_reset()" >/dev/null; }
statements_report() { # label
  echo "| Postgres statements: $1 | calls | ms | rows | µs per row | WAL bytes per row |"
  echo "|---|---|---|---|---|---|"
  bench_sql "SELECT format('| \`%s\` | %s | %s | %s | %s | %s |',
      replace(left(regexp_replace(query, '\s+', ' ', 'g'), 90), '|', '\|'), calls,
      round(total_exec_time), rows, round((1000 * total_exec_time / nullif(rows, 0))::numeric, 1),
      round(wal_bytes / nullif(rows, 0)))
    FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
    ORDER BY total_exec_time DESC LIMIT 10"
  echo
}
: >"$WORK/cpu"

summary() { # title, wrk output (kept with the logs, as wrk-<title>.log)
  local reqs p50 p99 others
  echo "$2" >"$WORK/wrk-${1//[^A-Za-z0-9]/_}.log"
  reqs=$(awk '/Requests\/sec/ {print $2}' <<<"$2")
  p50=$(awk '$1 == "50%" {print $2}' <<<"$2")
  p99=$(awk '$1 == "99%" {print $2}' <<<"$2")
  others=$(awk -F': ' '/wrong answers/ {print $2}' <<<"$2")
  # The flood's 429s are expected; any other status is not.
  if [[ ${others%% *} != 0 ]] && { [[ $1 != "flood: POST"* ]] ||
    grep -o '× [0-9]*' <<<"$others" | grep -qv '× 429$'; }; then
    keep_logs=1
  fi
  printf '| %s | %s | %s | %s | %s |\n' "$1" "$reqs" "$p50" "$p99" "$others"
}

if want create; then
  cpu_snapshot before
  single=$(wrk -t1 -c1 -d"$DURATION" --latency -s bench/create_users.lua "$url/Users")
  cpu_report "POST /Users, 1 client" "$(requests_of "$single")"
  # Notification lag under that load: from the gateway accepting a create to its
  # user.provisioned arriving at a Kafka consumer (notification-lag listens a little longer).
  seconds=${DURATION%s}
  "$BIN"/notification-lag --brokers "$ROSTER__KAFKA__BROKERS" --seconds $((seconds + 3)) \
    --label "notification lag (accepted → on a consumer), 32 clients of POST /Users" >"$WORK/lag" &
  lag_pid=$!
  sleep 1
  cpu_snapshot before
  concurrent=$(wrk -t2 -c32 -d"$DURATION" --latency -s bench/create_users.lua "$url/Users")
  cpu_report "POST /Users, 32 clients" "$(requests_of "$concurrent")"
  wait "$lag_pid" || echo "| notification lag | no notification arrived |" >"$WORK/lag"
  lag=$(cat "$WORK/lag")
fi

if want filter; then
  # Reads: Entra's matching query in a directory of BENCH_LOOKUP_USERS (100000) users, seeded
  # straight into Postgres by the projector's own row code (seed-users), beside the users the
  # create phase made in the first directory. Postgres on these machines runs with autovacuum
  # off, so the table is analyzed here as autovacuum would have done by now.
  lookup_users=${BENCH_LOOKUP_USERS:-100000}
  tenant=$("$BIN"/roster tenant create --name "Lookups" | jq -r .id)
  lookups=$("$BIN"/roster directory create --tenant "$tenant" --name "lookups" | jq -r .id)
  "$BIN"/roster token issue --directory "$lookups" >"$WORK/lookup-connection" 2>/dev/null
  "$BIN"/seed-users --directory "$lookups" --users "$lookup_users" >&2
  psql -q "$ROSTER__DATABASE__URL" -c "ANALYZE users"
  export USERNAMES=$WORK/usernames
  psql -tA "$ROSTER__DATABASE__URL" -c "SELECT user_name FROM users WHERE directory_id = '$lookups' ORDER BY random() LIMIT 10000" >"$USERNAMES"
  users=$(psql -tA "$ROSTER__DATABASE__URL" -c "SELECT count(*) FROM users WHERE directory_id = '$lookups'")
  cpu_snapshot before
  filter=$(TOKEN=$(sed -n 's/^Secret Token: //p' "$WORK/lookup-connection") \
    wrk -t2 -c32 -d"$DURATION" --latency -s bench/filter_users.lua \
    "$(sed -n 's/^Tenant URL: //p' "$WORK/lookup-connection")/Users")
  cpu_report "GET userName eq, 32 clients" "$(requests_of "$filter")"
fi

# Entra's initial cycle into a directory of its own, created now (the other scenarios' users
# stay in the table, as other tenants' would). The binary prints its own Markdown table.
sync_status=0
if want sync; then
  tenant=$("$BIN"/roster tenant create --name "Initial Sync" | jq -r .id)
  directory=$("$BIN"/roster directory create --tenant "$tenant" --name "initial-sync" | jq -r .id)
  "$BIN"/roster token issue --directory "$directory" >"$WORK/sync-connection" 2>/dev/null
  echo "bench: initial sync into directory $directory; load average before: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
  sync=$(TENANT_URL=$(sed -n 's/^Tenant URL: //p' "$WORK/sync-connection") \
    TOKEN=$(sed -n 's/^Secret Token: //p' "$WORK/sync-connection") \
    "$BIN"/initial-sync \
    --users "${BENCH_SYNC_USERS:-10000}" --groups "${BENCH_SYNC_GROUPS:-100}" \
    --memberships "${BENCH_SYNC_MEMBERSHIPS:-20000}" --batch "${BENCH_SYNC_BATCH:-100}" \
    --concurrency "${BENCH_SYNC_CONCURRENCY:-16}") || sync_status=$?
  echo "bench: load average after the initial sync: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
fi

rebuild_line=""
if want rebuild; then
  into=postgres://postgres@127.0.0.1:5432/roster_bench_rebuild
  psql -q postgres://postgres@127.0.0.1:5432/postgres -c "DROP DATABASE IF EXISTS roster_bench_rebuild WITH (FORCE)"
  users_now=$(psql -tA "$ROSTER__DATABASE__URL" -c "SELECT count(*) FROM users")
  started=$(date +%s.%N)
  "$BIN"/roster rebuild --into "$into" --verify --quiet >&2
  took=$(echo "$(date +%s.%N) - $started" | bc)
  events=$(psql -tA "$into" -c "SELECT coalesce(sum(next_offset), 0) FROM consumer_offsets")
  rebuild_line="| roster rebuild --verify: $users_now users, $events events | $(printf '%.1f' "$took") s, no differences |"
  psql -q postgres://postgres@127.0.0.1:5432/postgres -c "DROP DATABASE IF EXISTS roster_bench_rebuild WITH (FORCE)"
fi

if want flood; then
  # Two tenants: the flood's directory and the bystander's, both new.
  for who in flood bystander; do
    tenant=$("$BIN"/roster tenant create --name "Flood $who" | jq -r .id)
    directory=$("$BIN"/roster directory create --tenant "$tenant" --name "$who" | jq -r .id)
    "$BIN"/roster token issue --directory "$directory" >"$WORK/$who-connection" 2>/dev/null
  done
  seconds=${DURATION%s}
  cpu_snapshot before
  TOKEN=$(sed -n 's/^Secret Token: //p' "$WORK/flood-connection") \
    wrk -t2 -c64 -d"$DURATION" --latency -s bench/create_users.lua \
    "$(sed -n 's/^Tenant URL: //p' "$WORK/flood-connection")/Users" >"$WORK/flood" &
  flood_pid=$!
  sleep 2
  bystander=$(TOKEN=$(sed -n 's/^Secret Token: //p' "$WORK/bystander-connection") \
    wrk -t1 -c1 -d"$((seconds - 4))s" --latency -s bench/create_users.lua \
    "$(sed -n 's/^Tenant URL: //p' "$WORK/bystander-connection")/Users")
  wait "$flood_pid"
  flood=$(cat "$WORK/flood")
  # Per request of both (the flood's 429s, if any, are cheap requests).
  cpu_report "flood: POST /Users, 64 clients and the bystander" \
    "$(($(requests_of "$flood") + $(requests_of "$bystander")))"
fi

if want create || want filter || want flood; then
  echo
  echo "| $(date -u +%F), $(nproc) cores, $DURATION each | requests/s | p50 | p99 | wrong answers |"
  echo "|---|---|---|---|---|"
  if want create; then
    summary "POST /Users, 1 client" "$single"
    summary "POST /Users, 32 clients" "$concurrent"
  fi
  if want filter; then
    summary "GET /Users?filter=userName eq, 32 clients, a directory of $users users" "$filter"
  fi
  if want flood; then
    summary "flood: POST /Users, 64 clients, one directory (answers other than 201 include 429s)" "$flood"
    summary "flood: the bystander, POST /Users, 1 client, another tenant's directory" "$bystander"
  fi
fi
if want create || want filter || want flood; then
  echo
  cat "$WORK/cpu"
fi
# Peak resident memory of each service over the whole run (VmHWM; target for the gateway under
# the 32-client phases: ≤ 64 MiB), the largest of its instances.
echo "| peak RSS (VmHWM) over the run, $INSTANCES of each | gateway | projector | role-mapper |"
echo "|---|---|---|---|"
peak() {
  for pid in ${1//,/ }; do awk '/^VmHWM/ {print $2}' "/proc/$pid/status"; done |
    sort -n | tail -n 1 | awk '{printf "%.1f MiB", $1 / 1024}'
}
echo "| $(echo "$SCENARIOS" | xargs | tr ' ' ',') | $(peak "$gateway_pids") | $(peak "$projector_pids") | $(peak "$role_mapper_pids") |"
if want create; then
  echo
  echo "$lag"
fi
if want rebuild; then
  echo
  echo "| rebuild | time |"
  echo "|---|---|"
  echo "$rebuild_line"
fi
if want sync; then
  echo
  echo "${sync:-| initial sync | did not run to the end: see its messages above |}"
  if ((sync_status != 0)); then
    echo "bench: the initial sync failed (exit $sync_status)" >&2
    exit "$sync_status"
  fi
fi
