#!/usr/bin/env bash
# The Kafka contracts (proto-schemas/): `buf lint` (STANDARD + COMMENTS, proto-schemas/buf.yaml)
# and `buf breaking` (FILE rules) against earlier committed versions of the schemas:
#   - the previous commit (HEAD~1): what the last commit, or a merge's whole branch, changed;
#   - the last commit that changed proto-schemas/, i.e. its parent (so the last schema change is
#     checked even when later commits did not touch the schemas);
#   - HEAD, when proto-schemas/ has uncommitted changes (a dirty tree).
# Each baseline is exported with `git archive` (works in worktrees and shallow clones); a
# baseline that does not exist (first commit, shallow clone, schemas not there yet) is skipped
# with a message saying so. Run from anywhere inside the repository (or ROSTER_ROOT=<dir>).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
ROOT=${ROSTER_ROOT:-$(git rev-parse --show-toplevel 2>/dev/null || pwd)}
SCHEMAS=proto-schemas
BUF=$("$here/stack.sh" buf)
say() { echo "check-proto: $*" >&2; }

cd "$ROOT"
"$BUF" lint "$SCHEMAS"
say "buf lint $SCHEMAS: ok (STANDARD, COMMENTS)"

if ! git rev-parse --verify -q HEAD >/dev/null 2>&1; then
  say "not a git checkout with commits: no earlier schemas to compare with, breaking check skipped"
  exit 0
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

declare -A seen=()
compared=0
against() { # commit description
  local commit
  if ! commit=$(git rev-parse --verify -q "$1^{commit}" 2>/dev/null); then
    say "$2 ($1) is not in this clone (first commit, or a shallow clone): not compared"
    return 0
  fi
  if ! git cat-file -e "$commit:$SCHEMAS" 2>/dev/null; then
    say "$2 ($(git rev-parse --short "$commit")) has no $SCHEMAS/: nothing to compare"
    return 0
  fi
  local tree
  tree=$(git rev-parse "$commit:$SCHEMAS")
  if [ -n "${seen[$tree]:-}" ]; then
    say "$2 ($(git rev-parse --short "$commit")) has the schemas of a baseline already compared"
    return 0
  fi
  seen[$tree]=1
  local dir=$tmp/$commit
  mkdir -p "$dir"
  git archive "$commit" "$SCHEMAS" | tar -x -C "$dir"
  if "$BUF" breaking "$SCHEMAS" --against "$dir/$SCHEMAS"; then
    say "buf breaking against $2 ($(git rev-parse --short "$commit")): ok"
    compared=$((compared + 1))
  else
    say "BREAKING CHANGE against $2 ($(git rev-parse --short "$commit")): never renumber, retype, rename"
    say "or remove a field, enum value or oneof case of a published contract; add new ones instead,"
    say "or publish a new package version (…/v2/) on a new topic (proto-schemas/README.md)."
    exit 1
  fi
}

against HEAD~1 "the previous commit"
last_change=$(git log -1 --format=%H -- "$SCHEMAS" 2>/dev/null || true)
if [ -n "$last_change" ]; then
  against "$last_change~1" "the commit before the last change of $SCHEMAS/"
fi
if [ -n "$(git status --porcelain -- "$SCHEMAS")" ]; then
  against HEAD "the last commit (uncommitted changes in $SCHEMAS/)"
fi
say "breaking check: $compared earlier version(s) of $SCHEMAS/ compared"
