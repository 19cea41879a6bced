# Sourced (not run) by the scripts that test or measure a `make run` stack of their own
# (test-scim2-tester.sh, test-postman.sh, idle-cpu.sh): scripts/run.sh on the given ports, with a
# fresh database and data directory, so that it never meets a developer's `make run`.
#
#   own_stack NAME KAFKA_PORT GATEWAY_PORT HINT
#
# refuses a taken port (HINT names the variables that choose others), starts the stack with
# PROFILE as the caller set it, waits for its two lines and sets TENANT_URL and TOKEN; OWN_DB is
# its database and ROSTER_DATA_DIR its directory. On exit the stack is stopped, the database
# dropped and the directory removed.

own_stack() { # name kafka-port gateway-port hint
  local port deadline
  export KAFKA_PORT=$2 GATEWAY_PORT=$3
  for port in "$GATEWAY_PORT" "$KAFKA_PORT"; do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      echo "$(basename "$0"): port $port is taken by $(scripts/stack.sh listener "$port"); stop it, or set $4" >&2
      exit 1
    fi
  done
  export ROSTER_DATA_DIR
  ROSTER_DATA_DIR=$(mktemp -d)
  # Free ports for the consumers' health endpoints too, beside a `make run` stack.
  export ROSTER__PROJECTOR__HEALTH_PORT=0 ROSTER__ROLE_MAPPER__HEALTH_PORT=0 ROSTER__GATEWAY__METRICS_PORT=0
  OWN_DB=roster_$1_$$
  export ROSTER__DATABASE__URL=postgres://postgres@127.0.0.1:5432/$OWN_DB
  export ROSTER__TELEMETRY__FILTER=warn
  OWN_PID=
  trap own_stack_stop EXIT
  scripts/run.sh >"$ROSTER_DATA_DIR/stdout" 2>"$ROSTER_DATA_DIR/stderr" &
  OWN_PID=$!
  deadline=$((SECONDS + 900))
  until [ "$(grep -c . "$ROSTER_DATA_DIR/stdout")" -ge 2 ]; do
    kill -0 "$OWN_PID" 2>/dev/null || { tail -n 40 "$ROSTER_DATA_DIR/stderr" >&2; exit 1; }
    ((SECONDS < deadline)) || { echo "$(basename "$0"): the stack did not start" >&2; exit 1; }
    sleep 0.2
  done
  TENANT_URL=$(sed -n 's/^Tenant URL: //p' "$ROSTER_DATA_DIR/stdout")
  TOKEN=$(sed -n 's/^Secret Token: //p' "$ROSTER_DATA_DIR/stdout")
}

own_stack_stop() {
  if [ -n "${OWN_PID:-}" ]; then
    kill -TERM "$OWN_PID" 2>/dev/null || true
    wait "$OWN_PID" 2>/dev/null || true
  fi
  psql -q postgres://postgres@127.0.0.1:5432/postgres \
    -c "DROP DATABASE IF EXISTS $OWN_DB WITH (FORCE)" >/dev/null 2>&1 || true
  rm -rf "$ROSTER_DATA_DIR"
}
