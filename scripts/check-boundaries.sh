#!/usr/bin/env bash
# The pure crates must stay pure: roster-scim and roster-events never depend on actix, diesel,
# rdkafka or tokio (DESIGN.md §1). Checked on the resolved dependency graph. Inside every crate,
# no two modules import each other (scripts/check-module-cycles.sh says how that is read).
set -euo pipefail
cd "$(dirname "$0")/.."
status=0
for crate in roster-scim roster-events; do
  bad=$(cargo tree -p "$crate" -e normal,build --prefix none --format '{p}' 2>/dev/null \
    | awk '{print $1}' | grep -E '^(actix-web|actix-http|diesel|rdkafka|rdkafka-sys|tokio|r2d2)$' | sort -u || true)
  if [ -n "$bad" ]; then
    echo "$crate must not depend on: $bad" >&2
    status=1
  fi
done
scripts/check-module-cycles.sh || status=1
[ $status = 0 ] && echo "crate boundaries hold"
exit $status
