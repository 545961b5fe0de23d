#!/usr/bin/env bash
# The main job on the built-in lab, in the order the TKE guide follows: a
# fresh VPC-CNI cluster with no schedulable node yet (a super node only), the
# cluster side converted by site.yml, then a summary of what it did.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$repo"
bash tests/lab/setup-host.sh
mkdir -p build/collections/ansible_collections/tke
ln -sfn ../../../.. build/collections/ansible_collections/tke/flannel

start=$SECONDS
bash tests/lab/lab.sh down >/dev/null 2>&1 || true
LAB_REGISTERED_NODES="${LAB_REGISTERED_NODES:-0}" LAB_SUPER_NODE="${LAB_SUPER_NODE:-1}" \
  bash tests/lab/lab.sh up
echo "[demo] lab up in $((SECONDS - start))s"

rc=0
ansible-playbook playbooks/site.yml "$@" || rc=$?
echo
bash tests/lab/lab.sh status || true
echo "[demo] done in $((SECONDS - start))s (ansible-playbook exit code $rc)."
echo "[demo] The lab stays up: KUBECONFIG=$repo/tests/lab/.state/admin.kubeconfig;" \
  "run it again to see a quiet second run, or 'bash tests/lab/lab.sh down' to remove it."
exit "$rc"
