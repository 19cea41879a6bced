#!/usr/bin/env bash
# CPU per request, by process, from /proc: what each process of the stack spent (user + system)
# between two snapshots, divided by the requests served in between. `scripts/bench.sh` takes a
# snapshot before and after each measured phase; by hand:
#
#   scripts/cpu-per-request.sh snapshot gateway=PID[,PID…] projector=PID … postgres=all >before
#   (run the load)
#   scripts/cpu-per-request.sh snapshot gateway=PID … postgres=all >after
#   scripts/cpu-per-request.sh report before after REQUESTS "label"
#
# Several pids for one name (instances of a service) are added up. `postgres=all` counts every process named postgres on the machine (the server's backends and
# its own processes) plus what its exited backends spent (the postmaster's children's times), so
# a backend that ends during the phase still counts. The other databases of the machine must be
# idle for this to be the stack's alone. Resolution is one clock tick (normally 10 ms): measure
# over thousands of requests.
set -euo pipefail

ticks_of() { # pid: utime + stime (+ the waited-for children's, with a second argument)
  local rest
  rest=$(cat "/proc/$1/stat" 2>/dev/null) || { echo 0; return; }
  rest=${rest##*) } # past the command name, which may hold spaces
  # shellcheck disable=SC2086
  set -- $rest "${2:-}"
  # $1 is field 3 (state); utime is field 14, stime 15, cutime 16, cstime 17.
  if [[ -n ${18} ]]; then echo $((${12} + ${13} + ${14} + ${15})); else echo $((${12} + ${13})); fi
}

postgres_ticks() {
  local total=0 postmaster pid
  postmaster=$(pgrep -o -x postgres || true)
  for pid in $(pgrep -x postgres); do
    if [[ $pid == "$postmaster" ]]; then
      total=$((total + $(ticks_of "$pid" children)))
    else
      total=$((total + $(ticks_of "$pid")))
    fi
  done
  echo "$total"
}

case ${1:-} in
  snapshot)
    shift
    for pair in "$@"; do
      name=${pair%%=*} pid=${pair#*=}
      if [[ $name == postgres && $pid == all ]]; then
        echo "$name $(postgres_ticks)"
      else
        total=0
        for one in ${pid//,/ }; do total=$((total + $(ticks_of "$one"))); done
        echo "$name $total"
      fi
    done
    ;;
  report)
    before=$2 after=$3 requests=$4 label=${5:-requests}
    hz=$(getconf CLK_TCK)
    awk -v hz="$hz" -v n="$requests" -v label="$label" '
      NR == FNR { start[$1] = $2; next }
      { names[++count] = $1; used[$1] = $2 - start[$1] }
      END {
        if (n <= 0) { print "| " label " | no requests |"; exit }
        header = "| CPU µs per request: " label; rule = "|---"; line = "| " n " requests"; total = 0
        for (i = 1; i <= count; i++) {
          us = used[names[i]] * 1e6 / hz / n; total += us
          header = header " | " names[i]; rule = rule "|---"; line = line sprintf(" | %.0f", us)
        }
        print header " | all |"; print rule "|---|"; printf "%s | **%.0f** |\n", line, total
      }' "$before" "$after"
    ;;
  *)
    echo "usage: $0 snapshot NAME=PID[,PID…]… [postgres=all] | report BEFORE AFTER REQUESTS [LABEL]" >&2
    exit 2
    ;;
esac
