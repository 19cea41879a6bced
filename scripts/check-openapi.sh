#!/usr/bin/env bash
# The admin API's OpenAPI document (docs/openapi.json) is generated from the handlers
# (`roster-gateway openapi`): it must not drift from them, and it must be valid OpenAPI 3.1
# (openapi-spec-validator from PyPI, in a virtualenv under the cache). `--write` regenerates it.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${ROSTER_CACHE:-$HOME/.cache/roster}/openapi-spec-validator-0.7.2
if [ ! -x "$VENV/bin/openapi-spec-validator" ]; then
  echo "openapi: installing openapi-spec-validator into $VENV" >&2
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet 'openapi-spec-validator==0.7.2' >&2
fi
generated=$(mktemp --suffix=.json)
trap 'rm -f "$generated"' EXIT
cargo run --quiet -p roster-gateway --bin roster-gateway -- openapi >"$generated"
"$VENV/bin/openapi-spec-validator" "$generated"
if [ "${1:-}" = "--write" ]; then
  cp "$generated" docs/openapi.json
  echo "docs/openapi.json regenerated"
elif ! diff -u docs/openapi.json "$generated"; then
  echo "docs/openapi.json drifted from the admin API's handlers: run scripts/check-openapi.sh --write" >&2
  exit 1
else
  echo "docs/openapi.json matches the handlers and is valid OpenAPI 3.1"
fi
