#!/usr/bin/env bash
# Package the lab's charts into a Helm repository directory (index.yaml and
# one .tgz per chart version), served by labd on loopback.
#   build-repo.sh HELM OUTDIR
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
helm="$1"
out="$2"
mkdir -p "$out"
for chart in "$here"/*/; do
  [[ -f "$chart/Chart.yaml" ]] || continue
  "$helm" package "$chart" --destination "$out" >/dev/null
done
"$helm" repo index "$out" --url "http://127.0.0.1:8879"
