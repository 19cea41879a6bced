#!/usr/bin/env bash
# The fault harness (integration-tests/src/bin/chaos.rs): the real binaries against a durable
# broker and a database of their own, under load from 16 clients, while each service is killed
# alone and two together, the broker restarts and Postgres restarts; then every acknowledged
# write is checked. One run per word of CHAOS_RUNS: the instances of each service (1 or 2),
# with `:static` for static consumer-group membership (kafka.group_instance_id). Extra arguments
# go to every run (`--settle-ms 2500`, `--faults …`).
#
# Postgres is a cluster of the run's own (initdb into the work directory, on CHAOS_PG_PORT), so
# that the `postgres` fault restarts nothing anyone else uses. CHAOS_KEEP=1 keeps the logs and
# the cluster's data of a passing run.
set -euo pipefail
cd "$(dirname "$0")/.."

PROFILE=${PROFILE:-release}
TARGET=${CARGO_TARGET_DIR:-target}
case $PROFILE in dev) BIN=$TARGET/debug ;; *) BIN=$TARGET/$PROFILE ;; esac
KAFKA_PORT=${CHAOS_KAFKA_PORT:-19392}
GATEWAY_PORT=${CHAOS_GATEWAY_PORT:-18090}
RUNS=${CHAOS_RUNS:-1 2 1:static 2:static}
PG_PORT=${CHAOS_PG_PORT:-15442}

for port in "$KAFKA_PORT" "$GATEWAY_PORT" "$((GATEWAY_PORT + 1))" "$PG_PORT"; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    echo "chaos: port $port is taken by $(scripts/stack.sh listener "$port"); stop it, or set CHAOS_GATEWAY_PORT / CHAOS_KAFKA_PORT / CHAOS_PG_PORT" >&2
    exit 1
  fi
done

PG_BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
if [ ! -x "$PG_BIN/initdb" ]; then
  echo "chaos: initdb not found under /usr/lib/postgresql (apt-get install postgresql)" >&2
  exit 1
fi
scripts/stack.sh nisshi
echo "chaos: building ($PROFILE)" >&2
cargo build --profile "$PROFILE" --workspace --bins >&2

work=$(mktemp -d "${TMPDIR:-/tmp}/roster-chaos.XXXXXX")
chmod 755 "$work"
pgdata=$work/postgres
# Postgres refuses to run as root: as root, the cluster belongs to the postgres user.
as_pg=()
if [ "$(id -u)" = 0 ]; then as_pg=(runuser -u postgres --); fi
mkdir "$pgdata"
if [ "$(id -u)" = 0 ]; then chown postgres "$pgdata"; fi
stop_postgres() { "${as_pg[@]}" "$PG_BIN/pg_ctl" -D "$pgdata" -m immediate stop >/dev/null 2>&1 || true; }
trap stop_postgres EXIT
"${as_pg[@]}" "$PG_BIN/initdb" -D "$pgdata" -A trust -U postgres -E UTF8 --locale=C.UTF-8 --no-sync >/dev/null
"${as_pg[@]}" "$PG_BIN/pg_ctl" -D "$pgdata" -l "$pgdata/server.log" -w \
  -o "-p $PG_PORT -k $pgdata -c listen_addresses=127.0.0.1 -c max_connections=300" start >/dev/null
echo "chaos: Postgres of its own on 127.0.0.1:$PG_PORT ($pgdata)" >&2
restart="${as_pg[*]} $PG_BIN/pg_ctl -D $pgdata -m fast -w restart"
status=0
for run in $RUNS; do
  instances=${run%%:*}
  flags=()
  if [ -n "${CHAOS_KEEP:-}" ]; then flags+=(--keep); fi
  if [[ $run == *:static ]]; then flags+=(--static-membership); fi
  "$BIN/chaos" --bin-dir "$BIN" --work-dir "$work/run-${run/:/-}" \
    --kafka-port "$KAFKA_PORT" --gateway-port "$GATEWAY_PORT" --instances "$instances" \
    --postgres "postgres://postgres@127.0.0.1:$PG_PORT" --postgres-restart "$restart" \
    "${flags[@]}" "$@" || status=$?
  echo
  if [ "$status" != 0 ]; then break; fi
done
stop_postgres
if [ "$status" = 0 ] && [ -z "${CHAOS_KEEP:-}" ]; then
  rm -rf "$work"
else
  echo "chaos: the services' logs are in $work" >&2
fi
exit "$status"
