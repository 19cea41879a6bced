#!/usr/bin/env bash
# Microsoft's SCIMReferenceCode Postman collection ("SCIM Tests", integration-tests/postman/) with
# newman (npm newman@6.2.2, installed once into ~/.cache/roster) against a `make run` stack on its
# own ports, database and data directory: a fresh directory and token, as
# scripts/test-scim2-tester.sh does. Prints every failed assertion and ends with
# "N passed, N failed"; fails when fewer than POSTMAN_MIN_PASSED (100) assertions pass.
set -euo pipefail
cd "$(dirname "$0")/.."

NEWMAN_VERSION=6.2.2
NEWMAN_DIR=${ROSTER_CACHE:-$HOME/.cache/roster}/newman-$NEWMAN_VERSION
NEWMAN=$NEWMAN_DIR/node_modules/.bin/newman
MIN_PASSED=${POSTMAN_MIN_PASSED:-100}
COLLECTION=integration-tests/postman/SCIMReferenceCode.postman_collection.json

command -v node >/dev/null || { echo "test-postman: node is needed (apt-get install nodejs npm)" >&2; exit 1; }
if [ ! -x "$NEWMAN" ]; then
  echo "test-postman: installing newman $NEWMAN_VERSION into $NEWMAN_DIR" >&2
  mkdir -p "$NEWMAN_DIR"
  npm install --prefix "$NEWMAN_DIR" --no-audit --no-fund --loglevel=error "newman@$NEWMAN_VERSION" >&2
fi

export PROFILE=${PROFILE:-dev}
# shellcheck source=own-stack.sh
. scripts/own-stack.sh
own_stack postman "${POSTMAN_KAFKA_PORT:-19094}" "${POSTMAN_GATEWAY_PORT:-18082}" \
  "POSTMAN_GATEWAY_PORT / POSTMAN_KAFKA_PORT"
url=$TENANT_URL
token=$TOKEN
api=${url#http://127.0.0.1:"$GATEWAY_PORT"/}
[ "$api" != "$url" ] || { echo "test-postman: unexpected Tenant URL $url" >&2; exit 1; }

# The "Get Token" folder asks the reference code's own /Token endpoint for a token (and would
# then overwrite {{token}} with what it answers); Roster's token is given instead.
collection=$ROSTER_DATA_DIR/collection.json
node -e '
  const fs = require("fs");
  const c = JSON.parse(fs.readFileSync(process.argv[1], "utf8"));
  c.item = c.item.filter((i) => i.name !== "Get Token");
  fs.writeFileSync(process.argv[2], JSON.stringify(c));
' "$COLLECTION" "$collection"

report=$ROSTER_DATA_DIR/newman.json
# newman exits non-zero when any assertion fails: the count below decides.
"$NEWMAN" run "$collection" \
  --env-var Protocol=http --env-var Server=127.0.0.1 --env-var "Port=:$GATEWAY_PORT" \
  --env-var "Api=$api" --env-var "token=$token" \
  --reporters json --reporter-json-export "$report" --color off >/dev/null 2>&1 || true
[ -s "$report" ] || { echo "test-postman: newman wrote no report" >&2; exit 1; }

node -e '
  const fs = require("fs");
  const run = JSON.parse(fs.readFileSync(process.argv[1], "utf8")).run;
  const min = Number(process.argv[2]);
  let passed = 0, failed = 0;
  for (const e of run.executions) {
    for (const a of e.assertions || []) {
      if (a.error) {
        failed++;
        const code = e.response ? e.response.code : "no response";
        console.log(`FAILED   ${e.item.name} (${code}): ${a.assertion}: ${a.error.message}`);
      } else {
        passed++;
      }
    }
  }
  for (const f of run.failures || []) {
    if (f.error && f.error.name !== "AssertionError") {
      console.log(`ERROR    ${f.source ? f.source.name : "?"}: ${f.error.name}: ${f.error.message}`);
    }
  }
  console.log(`${passed} passed, ${failed} failed`);
  if (passed < min) {
    console.log(`test-postman: ${passed} assertions passed, fewer than ${min}`);
    process.exit(1);
  }
' "$report" "$MIN_PASSED"
