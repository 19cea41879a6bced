#!/usr/bin/env bash
# `make reset`: start the development stack from nothing. Drops the development database and
# deletes the broker's data (the change log) of this checkout, after saying so: the two must be
# reset together, or the projector refuses the log (Postgres would have applied events that the
# log no longer has). Asks first at a terminal; RESET=yes skips the question.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${ROSTER_DATA_DIR:-$PWD/.roster}
URL=${ROSTER__DATABASE__URL:-postgres://postgres@127.0.0.1:5432/roster}
db=${URL##*/}
db=${db%%\?*}
server=${URL%/*}/postgres

say() { echo "reset: $*" >&2; }
if [ -f "$DATA/run.pid" ] && kill -0 "$(cat "$DATA/run.pid")" 2>/dev/null; then
  say "make run is running (pid $(cat "$DATA/run.pid")); stop it first (Ctrl-C, or make stop)"
  exit 1
fi
case $db in
  '' | postgres | template0 | template1) say "refusing to drop the database '$db' ($URL)"; exit 1 ;;
esac
say "this drops the database '$db' at ${URL%/*} and deletes $DATA (the broker's log, the demo token)"
if [ "${RESET:-}" != yes ] && [ -t 0 ]; then
  read -r -p "reset: type yes to go on: " answer
  [ "$answer" = yes ] || { say "nothing changed"; exit 1; }
fi
scripts/stack.sh postgres
scripts/stack.sh broker-stop "$DATA/broker"
psql -q "$server" -c "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)"
rm -rf "$DATA"
say "done; make run starts from an empty database and an empty log"
