#!/usr/bin/env bash
# `make stop`: stop the `make run` of this checkout, and only it: the processes whose pids
# scripts/run.sh recorded in its data directory, then the broker it started there. Processes of
# other checkouts, tests and benches are never touched.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${ROSTER_DATA_DIR:-$PWD/.roster}

say() { echo "stop: $*" >&2; }
alive() { kill -0 "$1" 2>/dev/null; }
wait_gone() { # pid seconds
  local deadline=$((SECONDS + $2))
  while alive "$1" && ((SECONDS < deadline)); do sleep 0.1; done
  ! alive "$1"
}
# A recorded pid is ours only if the process still runs from this checkout (pids get reused).
ROOT=$(pwd -P)
ours() { [ "$(readlink "/proc/$1/cwd" 2>/dev/null)" = "$ROOT" ]; }

stopped=0
if [ -f "$DATA/run.pid" ]; then
  pid=$(cat "$DATA/run.pid")
  if alive "$pid" && ours "$pid"; then
    say "stopping make run (pid $pid)"
    kill -TERM "$pid"
    wait_gone "$pid" 30 || say "make run (pid $pid) did not stop within 30 s"
    stopped=1
  fi
fi
# Services left behind by a run.sh that was itself killed.
if [ -f "$DATA/services.pids" ]; then
  while read -r pid name; do
    if alive "$pid" && ours "$pid"; then
      say "stopping $name (pid $pid)"
      kill -TERM "$pid"
      wait_gone "$pid" 15 || { say "$name (pid $pid) ignored SIGTERM; killing it"; kill -KILL "$pid"; }
      stopped=1
    fi
  done <"$DATA/services.pids"
fi
if [ -f "$DATA/broker/nisshi.pid" ] && alive "$(cat "$DATA/broker/nisshi.pid")"; then stopped=1; fi
scripts/stack.sh broker-stop "$DATA/broker"
rm -f "$DATA/run.pid" "$DATA/services.pids"
[ "$stopped" = 1 ] || say "nothing of this checkout's make run was running"
