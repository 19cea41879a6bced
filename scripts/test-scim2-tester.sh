#!/usr/bin/env bash
# scim2-tester (PyPI scim2-tester==0.5.2, through scim2-cli==0.6.0) against the running gateway:
# a `make run` stack on its own ports, database and data directory, whose directory holds a user
# with Entra's custom extension attributes. Every check must be SUCCESS.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${ROSTER_CACHE:-$HOME/.cache/roster}/scim2-tester-0.5.2
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c 'import scim2_tester' 2>/dev/null; then
  echo "scim2-tester: installing into $VENV" >&2
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet 'scim2-cli==0.6.0' 'scim2-tester==0.5.2' >&2
fi

export PROFILE=${PROFILE:-dev}
# shellcheck source=own-stack.sh
. scripts/own-stack.sh
own_stack scim2_tester "${SCIM2_KAFKA_PORT:-19093}" "${SCIM2_GATEWAY_PORT:-18081}" \
  "SCIM2_GATEWAY_PORT / SCIM2_KAFKA_PORT"
url=$TENANT_URL
token=$TOKEN
# The directory first receives a user with Entra's custom extension attributes (sent, as Entra
# does, without the extension's URN in `schemas`): strict clients must be able to validate the
# users Roster returns, so /Schemas and /ResourceTypes must declare it.
curl -fsS -o /dev/null -X POST "$url/Users" -H "Authorization: Bearer $token" \
  -H 'Content-Type: application/scim+json' -d '{
    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
    "userName": "custom-extension@contoso.com", "active": true,
    "name": {"givenName": "Custom", "familyName": "Extension"},
    "urn:ietf:params:scim:schemas:extension:CustomExt:2.0:User": {"costCenter": "4711", "badge": "B-17"}
  }' || { echo "scim2-tester: could not create the custom-extension user" >&2; exit 1; }
SCIM_TOKEN=$token "$VENV/bin/python" scripts/run-scim2-tester.py "$url"
