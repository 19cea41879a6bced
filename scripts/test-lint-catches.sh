#!/usr/bin/env bash
# Proof that `make lint`'s contract and manifest checks catch what they are for: each case runs
# the real check (scripts/check-proto.sh, scripts/check-manifests.sh) on a copy with one defect
# and expects it to fail for that reason; the unmodified copies must pass. Fails if a check
# stops catching its defect (or starts refusing the good copy). Run by `make lint`.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failures=0
passed=0
say() { echo "test-lint-catches: $*" >&2; }

# expect pass|fail "what" "text the output must contain" command...
expect() {
  local want=$1 what=$2 needle=$3
  shift 3
  local status=0
  "$@" >"$tmp/out" 2>&1 || status=$?
  local got=pass
  [ "$status" -eq 0 ] || got=fail
  if [ "$got" != "$want" ]; then
    say "FAILED: $what: expected the check to $want, it did $got. Its output:"
    sed 's/^/    /' "$tmp/out" >&2
    failures=$((failures + 1))
  elif [ -n "$needle" ] && ! grep -qF -- "$needle" "$tmp/out"; then
    say "FAILED: $what: the check did $got, but not saying \"$needle\". Its output:"
    sed 's/^/    /' "$tmp/out" >&2
    failures=$((failures + 1))
  else
    say "ok: $what ($got)"
    passed=$((passed + 1))
  fi
}

# --- protobuf: a git repository holding a copy of proto-schemas/ ---------------------------
repo=$tmp/proto-repo
mkdir -p "$repo"
cp -r "$root/proto-schemas" "$repo/"
export GIT_AUTHOR_NAME=lint GIT_AUTHOR_EMAIL=lint@example.invalid
export GIT_COMMITTER_NAME=lint GIT_COMMITTER_EMAIL=lint@example.invalid
git -C "$repo" init -q
git -C "$repo" add -A
git -C "$repo" commit -q -m "schemas as in this checkout"
base=$(git -C "$repo" rev-parse HEAD)
proto=proto-schemas/roster/changes/v1/changes.proto
check_proto() { ROSTER_ROOT=$repo "$here/check-proto.sh"; }

expect pass "proto: the schemas of this checkout, one commit (no earlier version)" \
  "the previous commit (HEAD~1) is not in this clone" check_proto

# A field removed, not yet committed: compared with HEAD.
grep -q '^  string tenant_id = 3;$' "$repo/$proto"
sed -i '/^  string tenant_id = 3;$/d' "$repo/$proto"
expect fail "proto: a field removed (uncommitted)" 'Previously present field "3" with name "tenant_id"' check_proto

# The same change committed: compared with HEAD~1 on a clean tree.
git -C "$repo" commit -q -am "remove ChangeEvent.tenant_id"
expect fail "proto: a field removed (committed)" 'Previously present field "3" with name "tenant_id"' check_proto

# A field renumbered, committed.
git -C "$repo" reset -q --hard "$base"
grep -q '^  string request_id = 5;$' "$repo/$proto"
sed -i 's/^  string request_id = 5;$/  string request_id = 7;/' "$repo/$proto"
git -C "$repo" commit -q -am "renumber ChangeEvent.request_id"
expect fail "proto: a field renumbered (committed)" 'Previously present field "5" with name "request_id"' check_proto

# A later commit that does not touch the schemas does not hide the breaking one before it.
echo "unrelated" >"$repo/NOTES"
git -C "$repo" add NOTES
git -C "$repo" commit -q -m "an unrelated commit"
expect fail "proto: a breaking commit followed by an unrelated one" \
  'Previously present field "5" with name "request_id"' check_proto

# A field without a comment (lint COMMENTS).
git -C "$repo" reset -q --hard "$base"
sed -i 's/^  string actor_token_id = 6;$/&\n  string undocumented = 7;/' "$repo/$proto"
expect fail "proto: a new field without a comment" 'Field "undocumented" should have a non-empty comment' check_proto

# A compatible, documented addition passes.
sed -i 's/^  string undocumented = 7;$/  \/\/ A documented addition.\n  string documented = 7;/' "$repo/$proto"
git -C "$repo" commit -q -am "add a documented field"
expect pass "proto: a documented field added (compatible)" "buf breaking against the previous commit" check_proto

# --- manifests: copies of deploy/ with one defect each -----------------------------------------
fresh_deploy() { rm -rf "$tmp/deploy" && cp -r "$root/deploy" "$tmp/deploy"; }
check_manifests() { "$here/check-manifests.sh" "$tmp/deploy"; }
mutate() { # file sed-expression: the expression must change the file
  local before
  before=$(cksum <"$tmp/deploy/$1")
  sed -i "$2" "$tmp/deploy/$1"
  [ "$(cksum <"$tmp/deploy/$1")" != "$before" ] || { say "the mutation $2 no longer applies to $1"; exit 1; }
}

fresh_deploy
expect pass "manifests: deploy/ of this checkout" "objects valid" check_manifests

fresh_deploy
mutate base/migrate-job.yaml 's/readOnlyRootFilesystem: true/readOnlyRootFilesytem: true/'
expect fail "manifests: a misspelt field of a Job (Kubernetes schema)" \
  "'readOnlyRootFilesytem' was unexpected" check_manifests

fresh_deploy
mutate overlays/production/networkpolicies.yaml '0,/^  policyTypes:/s//  policyType:/'
expect fail "manifests: a misspelt field of a NetworkPolicy" "'policyType' was unexpected" check_manifests

fresh_deploy
mutate overlays/production/kafka-users.yaml '0,/patternType: literal/s//patternTyp: literal/'
expect fail "manifests: a misspelt field of a KafkaUser (vendored Strimzi schema)" \
  "'patternTyp' was unexpected" check_manifests

fresh_deploy
mutate overlays/production/kafka.yaml 's/type: scram-sha-512/type: scram-sha-256/'
expect fail "manifests: an unknown listener authentication of the Kafka (vendored Strimzi schema)" \
  "'scram-sha-256' is not one of" check_manifests

fresh_deploy
mutate components/cnpg-postgres/cluster.yaml 's/^  instances: 1$/  instance: 1/'
expect fail "manifests: a misspelt field of the CloudNativePG Cluster (vendored schema)" \
  "'instance' was unexpected" check_manifests

fresh_deploy
mutate overlays/production/kustomization.yaml 's/- path: kafka-client.yaml/- path: kafka-clients.yaml/'
expect fail "manifests: an overlay that does not build" "kustomize build of overlays/production failed" \
  check_manifests

if [ "$failures" -gt 0 ]; then
  say "$passed passed, $failures failed"
  exit 1
fi
echo "test-lint-catches: $passed passed, 0 failed"
